"""The offline store through the generated Python module: register, incidents, patrols,
search, typed errors, and a Rust panic that comes back as an error."""

import pytest

from conftest import g, id_number

CITY, DISTRICT, GRID, OTHER_GRID = "JM", "JM-PJ", "JM-PJ-G01", "JM-PJ-G02"


def area(id, parent, kind, name):
    return g.Area(id=id, version=0, parent_id=parent, kind=kind, code=id, name=name)


@pytest.fixture
def worker(store):
    """A store with a small area tree and a grid worker of GRID acting on it, as after a sync."""
    store.seed_reference(
        g.ReferenceData(
            areas=[
                area(CITY, None, "city", "江门市"),
                area(DISTRICT, CITY, "district", "蓬江区"),
                area(GRID, DISTRICT, "grid", "白沙第一网格"),
                area(OTHER_GRID, DISTRICT, "grid", "白沙第二网格"),
            ],
            departments=[g.Department(id="urban_mgmt", version=0, code="urban_mgmt", name="城市管理和综合执法局")],
        )
    )
    store.set_principal(g.Principal(user_id="u-worker", role=g.Role.GRID_WORKER, scope=g.Scope(area_ids=[GRID])))
    return store


def add_household(s, head="欧阳明辉", room="502", phone="13800138000"):
    b = s.create_building(g.NewBuilding(grid_id=GRID, name="翠苑小区3栋", address="蓬江区白沙大道18号", floors=6))
    return b, s.create_household(
        g.NewHousehold(building_id=b.id, room=room, head_name=head, phone=phone, member_count=3, care_tags=["elderly_alone"])
    )


def test_register_incident_and_chinese_search(worker):
    assert [a.id for a in worker.my_grids()] == [GRID]
    b, h = add_household(worker)
    assert b.grid_id == GRID and b.floors == 6 and b.head_user_id is None
    assert h.grid_id == GRID and h.care_tags == ["elderly_alone"] and h.version == 0
    r = worker.create_resident(
        g.NewResident(household_id=h.id, name="欧阳晓燕", id_number=id_number("44070319850312002"), relation="配偶")
    )
    assert r.birth_date == "1985-03-12"
    assert [x.name for x in worker.residents_of(h.id)] == ["欧阳晓燕"]

    # Batch create: all or nothing.
    ids = worker.create_households(
        [g.NewHousehold(building_id=b.id, room=str(600 + i), head_name=f"陈{i}号", member_count=1) for i in range(3)]
    )
    assert len(ids) == 3 and len(worker.households_in_building(b.id)) == 4

    i = worker.report_incident(
        g.NewIncident(category="safety_hazard", household_id=h.id, description="楼道堆放杂物，存在消防隐患")
    )
    assert i.status == g.IncidentStatus.REPORTED and i.grid_id == GRID and i.building_id == b.id
    assert [e.kind for e in worker.incident_timeline(i.id)] == [g.EventKind.REPORTED]
    assert worker.incidents(g.IncidentFilter(statuses=[g.IncidentStatus.REPORTED]))[0].id == i.id
    assert worker.incidents(g.IncidentFilter(statuses=[g.IncidentStatus.CLOSED])) == []
    assert g.incident_status_label(i.status) == "待派遣"

    hits = worker.search("欧阳", 10)
    assert {(x.kind, x.id) for x in hits} == {(g.HitKind.HOUSEHOLD, h.id), (g.HitKind.RESIDENT, r.id)}
    assert worker.search("白沙大道", 10)[0].household_id in [h.id, *ids]
    phone_hits = worker.search("8001", 10)
    assert phone_hits[0].id == h.id and phone_hits[0].matched == g.MatchField.PHONE
    assert worker.search("不存在的名字", 10) == []

    # Every write above is one op waiting in the outbox.
    status = worker.sync_status()
    assert worker.pending_count() == status.pending_ops == 1 + 1 + 1 + 3 + 1
    assert status.last_success_at is None and worker.rejected_changes() == []


def test_updates_patrols_visits_and_lists(worker):
    b, h = add_household(worker)
    h2 = worker.update_household(h.id, g.HouseholdPatch(member_count=4, phone=""))
    assert h2.member_count == 4 and h2.phone is None and h2.room == "502"
    assert worker.update_building(b.id, g.BuildingPatch(floors=7)).floors == 7

    p = worker.start_patrol(GRID, "晚间巡查")
    p = worker.add_patrol_points(
        p.id, [g.GpsPoint(lat=22.5800, lng=113.0800, at=1_000), g.GpsPoint(lat=22.5809, lng=113.0800, at=61_000)]
    )
    assert 90 < p.distance_m < 110 and p.ended_at is None
    assert worker.end_patrol(p.id).ended_at is not None
    assert [x.id for x in worker.patrols(None)] == [p.id]
    assert len(worker.patrol_track(p.id)) == 2

    v = worker.record_visit(
        g.NewVisit(
            household_id=h.id,
            purpose="关爱探访",
            raise_incident=g.NewIncident(category="resident_request", description="老人需要上门助餐服务"),
        )
    )
    assert v.incident_id is not None and worker.incident(v.incident_id).household_id == h.id
    assert [x.id for x in worker.visits_of(h.id)] == [v.id]

    assert {c.code for c in g.care_tags()} >= {"elderly_alone", "low_income"}
    assert [s.code for s in g.severities()][0] == "low"
    assert any(c.id == "safety_hazard" for c in worker.categories())
    assert [d.code for d in worker.departments()] == ["urban_mgmt"]
    assert [a.id for a in worker.areas(DISTRICT)] == [GRID, OTHER_GRID]

    worker.delete_household(h.id)
    with pytest.raises(g.ApiError.NotFound) as e:
        worker.household(h.id)
    assert e.value.entity == g.EntityKind.HOUSEHOLD


def test_bad_input_raises_typed_errors_with_readable_reasons(worker):
    b, h = add_household(worker)
    before = worker.pending_count()

    with pytest.raises(g.ApiError.Validation) as e:
        worker.create_household(g.NewHousehold(building_id=b.id, room="503", head_name="李四", phone="12345", member_count=2))
    assert e.value.field == "phone"
    assert "手机号码" in e.value.reason

    with pytest.raises(g.ApiError.Validation) as e:
        worker.create_resident(g.NewResident(household_id=h.id, name="王五", id_number="440703198503120021"))
    assert (e.value.field, e.value.reason) == ("id_number", "校验码不正确")

    with pytest.raises(g.ApiError.Validation) as e:
        worker.create_households(
            [
                g.NewHousehold(building_id=b.id, room="701", head_name="赵一", member_count=1),
                g.NewHousehold(building_id=b.id, room="702", head_name=" ", member_count=1),
            ]
        )
    assert e.value.field == "[1].head_name"

    with pytest.raises(g.ApiError.Validation) as e:
        worker.create_building(g.NewBuilding(grid_id="no-such-grid", name="x", address="y"))
    assert (e.value.field, e.value.reason) == ("grid_id", "网格不存在")

    with pytest.raises(g.ApiError.PermissionDenied) as e:
        worker.create_building(g.NewBuilding(grid_id=OTHER_GRID, name="外网格楼", address="某路1号"))
    assert e.value.code == "out_of_scope" and "管辖范围" in e.value.reason

    with pytest.raises(g.ApiError.NotFound) as e:
        worker.incident("no-such-incident")
    assert e.value.entity == g.EntityKind.INCIDENT

    # A grid worker may not dispatch: refused by the state machine with the reason in Chinese.
    i = worker.report_incident(g.NewIncident(category="environment", grid_id=GRID, description="垃圾清运不及时"))
    with pytest.raises(g.ApiError.PermissionDenied) as e:
        worker.add_incident_event(i.id, g.NewEvent(kind=g.EventKind.DISPATCHED, department_id="urban_mgmt"))
    assert "无权" in e.value.reason

    # Nothing was written by any refused call (the incident report above is the one new op).
    assert worker.pending_count() == before + 1


def test_not_enrolled_is_an_auth_error(store):
    with pytest.raises(g.ApiError.Auth) as e:
        store.start_patrol("JM-PJ-G01", "")
    assert "登录" in e.value.reason
    with pytest.raises(g.ApiError.Auth):
        store.sync("http://127.0.0.1:9")


def test_a_rust_panic_surfaces_as_a_typed_error_and_the_store_survives(worker):
    b, _ = add_household(worker)
    with pytest.raises(g.ApiError.Internal) as e:
        worker.diagnostic_panic()
    assert "diagnostic panic" in e.value.reason
    # The store is still usable: reads and writes after the panic work.
    assert worker.building(b.id).id == b.id
    worker.create_household(g.NewHousehold(building_id=b.id, room="801", head_name="孙八", member_count=1))
    assert len(worker.households_in_building(b.id)) == 2
