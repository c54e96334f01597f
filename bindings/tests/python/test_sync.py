"""Login and sync through the generated Python module against a real gridline-server process
(the demo city on an ephemeral port): data made on one device arrives on the server and on a
second device, with progress reports, cancellation and typed network and login errors."""

import json

import pytest

from conftest import GRID_WORKER, SUPERVISOR, g, id_number


class Recorder(g.SyncListener):
    """Collects progress reports (a foreign implementation of the Rust trait)."""

    def __init__(self):
        self.reports = []

    def on_progress(self, progress):
        self.reports.append(progress)


def enrolled(tmp_path, server, name, login):
    s = g.GridlineStore.open(str(tmp_path / f"{name}.sqlite"))
    who = s.enroll(server.url, login[0], login[1], f"pytest-{name}")
    assert s.principal() == who
    return s


def test_data_made_offline_reaches_the_server_and_another_device(tmp_path, server):
    worker = enrolled(tmp_path, server, "worker", GRID_WORKER)
    assert worker.principal().role == g.Role.GRID_WORKER
    first = worker.sync(server.url)
    assert first.pulled > 0 and first.pushed == 0
    [grid] = worker.my_grids()
    assert len(worker.households_in_grid(grid.id)) == 10  # the demo city's households in this grid

    # Offline work: a building, a household, a resident, an incident.
    b = worker.create_building(g.NewBuilding(grid_id=grid.id, name="同步测试楼", address="白沙大道99号", floors=9))
    h = worker.create_household(
        g.NewHousehold(building_id=b.id, room="901", head_name="欧阳同步", phone="13900139000", member_count=2)
    )
    r = worker.create_resident(g.NewResident(household_id=h.id, name="欧阳小同", id_number=id_number("44070320100101001")))
    i = worker.report_incident(g.NewIncident(category="public_facility", household_id=h.id, description="路灯不亮"))
    pending = worker.pending_count()
    assert pending == 4

    rec = Recorder()
    report = worker.sync(server.url, rec, None)
    assert (report.pushed, report.rejected) == (pending, 0)
    assert worker.pending_count() == 0 and worker.sync_status().last_success_at is not None
    pushes = [p for p in rec.reports if p.phase == g.SyncPhase.PUSH]
    assert pushes[0].done == 0 and pushes[0].total == pending and pushes[-1].done == pending
    assert any(p.phase == g.SyncPhase.PULL for p in rec.reports)
    assert worker.household(h.id).version > 0  # the server's version came back with the pull

    # A supervisor of the community, on another device, pulls what the worker sent.
    sup = enrolled(tmp_path, server, "supervisor", SUPERVISOR)
    sup.sync(server.url)
    assert sup.household(h.id).head_name == "欧阳同步"
    assert sup.resident(r.id).birth_date == "2010-01-01"
    assert {x.id for x in sup.search("欧阳同步", 5)} == {h.id}
    assert sup.incident(i.id).status == g.IncidentStatus.REPORTED

    # The supervisor dispatches it; the worker sees the new status after the next sync.
    allowed = sup.allowed_incident_events(i.id)
    assert g.EventKind.DISPATCHED in allowed
    sup.add_incident_event(i.id, g.NewEvent(kind=g.EventKind.DISPATCHED, note="请尽快处置", department_id="urban_mgmt"))
    assert sup.sync(server.url).pushed == 1
    worker.sync(server.url)
    assert worker.incident(i.id).status == g.IncidentStatus.DISPATCHED
    assert worker.incident(i.id).department_id == "urban_mgmt"
    assert [e.kind for e in worker.incident_timeline(i.id)] == [g.EventKind.REPORTED, g.EventKind.DISPATCHED]


def test_cancelled_sync_keeps_the_outbox(tmp_path, server):
    worker = enrolled(tmp_path, server, "worker2", GRID_WORKER)
    worker.sync(server.url)
    [grid] = worker.my_grids()
    worker.start_patrol(grid.id, "取消测试")
    token = g.SyncCancelToken()
    token.cancel()
    assert token.is_cancelled()
    with pytest.raises(g.ApiError.Cancelled):
        worker.sync(server.url, None, token)
    assert worker.pending_count() == 1
    assert worker.sync_status().last_error is not None
    assert worker.sync(server.url).pushed == 1


def test_login_and_network_errors_are_typed(tmp_path, server):
    s = g.GridlineStore.open(str(tmp_path / "x.sqlite"))
    with pytest.raises(g.ApiError.Auth) as e:
        s.enroll(server.url, GRID_WORKER[0], "wrong password", "pytest")
    assert e.value.reason == "用户名或密码错误"  # the server's Chinese message, for the screen
    assert s.principal() is None
    with pytest.raises(g.ApiError.Network) as e:
        s.enroll("http://127.0.0.1:9", GRID_WORKER[0], GRID_WORKER[1], "pytest")
    assert e.value.reason


def test_a_change_the_server_refuses_lands_in_the_rejected_list(tmp_path, server):
    # The supervisor works on two phones; both start from the same reported incident.
    first = enrolled(tmp_path, server, "sup-a", SUPERVISOR)
    second = enrolled(tmp_path, server, "sup-b", SUPERVISOR)
    first.sync(server.url)
    second.sync(server.url)
    reported = first.incidents(g.IncidentFilter(statuses=[g.IncidentStatus.REPORTED], grid_id=None, category=None,
                                                building_id=None, overdue_only=False, limit=1))
    [inc] = reported
    dept = first.departments()[0]
    # Offline, one phone closes it as a duplicate and the other dispatches it.
    first.add_incident_event(inc.id, g.NewEvent(kind=g.EventKind.CLOSED, note="重复上报", department_id=None,
                                                deadline_at=None))
    second.add_incident_event(inc.id, g.NewEvent(kind=g.EventKind.DISPATCHED, note="请处理", department_id=dept.id,
                                                 deadline_at=None))
    assert first.sync(server.url).pushed == 1
    report = second.sync(server.url)
    # The later arrival meets a closed incident: refused by the state machine, kept for the user.
    assert report.rejected == 1 and report.pushed == 0
    [rejected] = second.rejected_changes()
    assert (rejected.entity, rejected.entity_id, rejected.kind) == (g.EntityKind.INCIDENT, inc.id, g.OpKind.EVENT)
    assert rejected.code == "transition_refused" and rejected.reason
    assert json.loads(rejected.fields_json)["kind"] == "dispatched"
    assert second.sync_status().rejected_ops == 1
    # The phone comes back to the server's view of the incident.
    assert second.incident(inc.id).status == g.IncidentStatus.CLOSED

    assert second.dismiss_rejected(rejected.op_id) is True
    assert second.rejected_changes() == [] and second.dismiss_rejected(rejected.op_id) is False


def test_a_photo_reaches_the_supervisors_phone_through_its_incident(tmp_path, server):
    worker = enrolled(tmp_path, server, "photo-worker", GRID_WORKER)
    worker.sync(server.url)
    photo = b"\xff\xd8\xff\xe0" + bytes(range(256)) * 40
    sha = worker.add_photo("image/jpeg", photo)
    [grid] = worker.my_grids()
    i = worker.report_incident(g.NewIncident(category="public_facility", grid_id=grid.id, description="井盖破损", photos=[sha]))
    report = worker.sync(server.url)
    assert report.photos_uploaded == 1 and worker.pending_photos() == []

    sup = enrolled(tmp_path, server, "photo-supervisor", SUPERVISOR)
    sup.sync(server.url)
    assert sup.incident(i.id).photos == [sha]
    assert sup.photo(sha) is None
    assert sup.fetch_incident_photo(server.url, i.id, sha) == photo
    assert sup.photo(sha) == photo and sup.pending_photos() == []  # kept, never sent back up
    with pytest.raises(g.ApiError.Validation) as e:
        sup.fetch_incident_photo(server.url, i.id, "0" * 64)
    assert e.value.field == "sha256"
