//! Three roles work offline, sync in a seeded random order, and converge.

use std::sync::Mutex;

use gridline_core::protocol::{PullRequest, PullResponse, PushRequest, PushResponse};
use gridline_core::sync::{SyncOptions, Transport, TransportError};
use gridline_core::{BuildingPatch, EntityKind, EventKind, HouseholdPatch, NewEvent, NewHousehold, NewIncident};
use gridline_e2e::*;

#[test]
fn three_roles_offline_then_sync_in_random_order_converge() {
    let seed = seed(0x5eed_0001);
    let city = start_city();
    let gw = city.device("gw1");
    let bh = city.device("bh1");
    let sup = city.device("sup");
    for d in [&gw, &bh, &sup] {
        d.sync().expect("bootstrap");
    }
    let b1a = city.b("B1A");
    let b1b = city.b("B1B");
    let b2 = city.b("B2");
    let h_b1a = city.households[&b1a].clone();
    let h_b1b = city.households[&b1b].clone();
    let h_b2 = city.households[&b2].clone();

    // --- offline work ---
    // Grid worker (G1): creates a household, edits one, deletes one, reports an incident and
    // resolves another on the spot.
    let gw_new = gw
        .store
        .create_household(NewHousehold {
            building_id: b1b.clone(),
            room: "501".into(),
            head_name: "郭晓燕".into(),
            member_count: 2,
            ..Default::default()
        })
        .expect("gw create");
    gw.store
        .update_household(&h_b1b[0], HouseholdPatch { member_count: Some(5), notes: Some("新生儿一名".into()), ..Default::default() })
        .expect("gw update");
    gw.store.delete_household(&h_b1b[2]).expect("gw delete");
    let inc1 = gw
        .store
        .report_incident(NewIncident {
            category: "environment".into(),
            building_id: Some(b1b.clone()),
            description: "楼道堆放杂物".into(),
            ..Default::default()
        })
        .expect("gw report");
    let inc2 = gw
        .store
        .report_incident(NewIncident {
            category: "dispute".into(),
            household_id: Some(h_b1a[0].clone()),
            description: "邻里噪音纠纷".into(),
            ..Default::default()
        })
        .expect("gw report 2");
    gw.store
        .add_incident_event(&inc2.id, NewEvent { kind: EventKind::Resolved, note: "现场调解完毕".into(), department_id: None, deadline_at: None })
        .expect("gw resolve");

    // Building head (B1A): edits a household of their building, adds one, reports an incident.
    bh.store
        .update_household(&h_b1a[1], HouseholdPatch { notes: Some("楼长已走访".into()), ..Default::default() })
        .expect("bh update");
    let inc3 = bh
        .store
        .report_incident(NewIncident {
            category: "safety_hazard".into(),
            building_id: Some(b1a.clone()),
            description: "电动车楼道充电".into(),
            ..Default::default()
        })
        .expect("bh report");
    bh.store
        .add_incident_event(&inc3.id, NewEvent { kind: EventKind::Note, note: "已提醒住户".into(), department_id: None, deadline_at: None })
        .expect("bh note");

    // Supervisor (C1): edits a building, a household in G2, deletes one in G2, reports and
    // dispatches an incident.
    sup.store.update_building(&b2, BuildingPatch { floors: Some(9), ..Default::default() }).expect("sup building");
    sup.store
        .update_household(&h_b2[0], HouseholdPatch { care_tags: Some(vec!["elderly_alone".into()]), ..Default::default() })
        .expect("sup update");
    sup.store.delete_household(&h_b2[1]).expect("sup delete");
    let inc4 = sup
        .store
        .report_incident(NewIncident {
            category: "environment".into(),
            building_id: Some(b2.clone()),
            description: "垃圾满溢".into(),
            ..Default::default()
        })
        .expect("sup report");
    sup.store
        .add_incident_event(&inc4.id, NewEvent { kind: EventKind::Dispatched, note: "请处理".into(), department_id: Some(DEPT.into()), deadline_at: None })
        .expect("sup dispatch");

    // --- sync in a seeded random order, then all again ---
    let mut order = vec![&gw, &bh, &sup];
    Rng(seed).shuffle(&mut order);
    let names: Vec<_> = order.iter().map(|d| d.user.clone()).collect();
    let ctx = format!("seed={seed:#x} (GRIDLINE_E2E_SEED) order={names:?}");
    for d in &order {
        let r = d.sync().unwrap_or_else(|e| panic!("{ctx}: first sync of {}: {e}", d.user));
        assert_eq!(r.rejected, 0, "{ctx}: {} rejected {:?}", d.user, d.store.rejected_ops());
    }
    for d in &order {
        d.sync().unwrap_or_else(|e| panic!("{ctx}: second sync of {}: {e}", d.user));
        assert_eq!(d.pending(), 0, "{ctx}: {} outbox not empty", d.user);
    }

    // --- every device equals a fresh device of the same user ---
    for d in &order {
        let oracle = city.fresh_dump(&d.user);
        assert_dumps_eq(&format!("{ctx}: {}", d.user), &d.dump(), &oracle);
    }

    // --- and the values are the ones written ---
    let sup_dump = sup.dump();
    let hh = &sup_dump[&EntityKind::Household];
    assert_eq!(field(find(hh, &h_b1b[0]).expect("edited"), "member_count"), 5, "{ctx}");
    assert_eq!(field(find(hh, &h_b1b[0]).unwrap(), "notes"), "新生儿一名", "{ctx}");
    assert!(find(hh, &h_b1b[2]).is_none(), "{ctx}: gw delete replicated");
    assert!(find(hh, &h_b2[1]).is_none(), "{ctx}: sup delete replicated");
    assert_eq!(field(find(hh, &gw_new.id).expect("gw create replicated"), "head_name"), "郭晓燕");
    assert_eq!(field(find(hh, &h_b2[0]).unwrap(), "care_tags"), &serde_json::json!(["elderly_alone"]));
    let b = &sup_dump[&EntityKind::Building];
    assert_eq!(field(find(b, &b2).unwrap(), "floors"), 9);
    let inc = &sup_dump[&EntityKind::Incident];
    for id in [&inc1.id, &inc2.id, &inc3.id, &inc4.id] {
        assert!(find(inc, id).is_some(), "{ctx}: incident {id} on supervisor device");
    }
    assert_eq!(field(find(inc, &inc2.id).unwrap(), "status"), "resolved");
    assert_eq!(field(find(inc, &inc4.id).unwrap(), "status"), "dispatched");
    // The building head sees the grid worker's edit in their building but nothing of G2.
    let bh_hh = bh.rows(EntityKind::Household);
    assert!(bh_hh.iter().all(|r| field(r, "building_id") == b1a.as_str()), "{ctx}: bh sees only B1A");
    assert_eq!(field(find(&bh_hh, &h_b1a[1]).unwrap(), "notes"), "楼长已走访");
    // The grid worker sees the building head's new household and nothing of G2.
    let gw_hh = gw.rows(EntityKind::Household);
    assert_eq!(field(find(&gw_hh, &h_b1a[1]).unwrap(), "notes"), "楼长已走访", "{ctx}");
    let gw_ev = gw.rows(EntityKind::IncidentEvent);
    assert!(gw_ev.iter().any(|r| field(r, "incident_id") == inc3.id.as_str() && field(r, "note") == "已提醒住户"), "{ctx}: bh note reached gw");
    assert!(gw_hh.iter().all(|r| field(r, "grid_id") == G1), "{ctx}: gw sees only G1");
}

/// Records, for every pull, the cursor asked for and whether the syncing thread itself asked.
struct Ahead<'a> {
    inner: &'a dyn Transport,
    caller: std::thread::ThreadId,
    pulls: Mutex<Vec<(i64, bool)>>,
}

impl Transport for Ahead<'_> {
    fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        self.inner.push(req)
    }
    fn pull(&self, req: &PullRequest) -> Result<PullResponse, TransportError> {
        let by_caller = std::thread::current().id() == self.caller;
        self.pulls.lock().expect("lock").push((req.cursor, by_caller));
        self.inner.pull(req)
    }
}

#[test]
fn the_next_page_is_fetched_while_one_is_applied_and_the_device_still_converges() {
    let city = start_city();
    let d = city.device("sup");
    let t = Ahead { inner: &d.transport, caller: std::thread::current().id(), pulls: Mutex::new(Vec::new()) };
    let small_pages = SyncOptions { page_size: 7, ..opts() };
    d.sync_via(&t, &small_pages).expect("sync in small pages");
    let pulls = t.pulls.into_inner().expect("lock");
    assert!(pulls.len() > 3, "several pages: {pulls:?}");
    // Requests go forward one page at a time; after the first, each page was fetched by a
    // second thread (while the page before it was being applied).
    assert!(pulls.windows(2).all(|w| w[1].0 > w[0].0), "{pulls:?}");
    assert!(pulls[0].1 && pulls[1..].iter().all(|(_, by_caller)| !by_caller), "{pulls:?}");
    assert_dumps_eq("sup", &d.dump(), &city.fresh_dump("sup"));
    assert_eq!(d.schema(), fresh_store_schema(), "the indexes a first pull dropped are back");
}

/// Counts the pushes that have reached the transport, and the first and last `device_seq` of each.
struct Overlap<'a> {
    inner: &'a dyn Transport,
    pushes: Mutex<Vec<(i64, i64)>>,
    started: std::sync::Condvar,
}

impl Overlap<'_> {
    /// Waits (at most 10 s) until `n` pushes have started; whether they did.
    fn started(&self, n: usize) -> bool {
        let pushes = self.pushes.lock().expect("lock");
        let (pushes, _) = self
            .started
            .wait_timeout_while(pushes, std::time::Duration::from_secs(10), |p| p.len() < n)
            .expect("lock");
        pushes.len() >= n
    }
}

impl Transport for Overlap<'_> {
    fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        let range = (req.ops.first().map_or(0, |o| o.device_seq), req.ops.last().map_or(0, |o| o.device_seq));
        self.pushes.lock().expect("lock").push(range);
        self.started.notify_all();
        self.inner.push(req)
    }
    fn pull(&self, req: &PullRequest) -> Result<PullResponse, TransportError> {
        self.inner.pull(req)
    }
}

#[test]
fn the_next_batch_is_on_its_way_while_the_last_ones_results_are_recorded() {
    let city = start_city();
    let d = city.device("gw1");
    d.sync().expect("bootstrap");
    queue_households(&d, &city, 22);
    let t = Overlap { inner: &d.transport, pushes: Mutex::new(Vec::new()), started: std::sync::Condvar::new() };
    let batches = 22usize.div_ceil(4);
    // Each time a batch's results have been recorded (progress moves on), the batch after it
    // must already have been handed to the transport: it went out before the recording began.
    let recorded = Mutex::new(Vec::new());
    let progress = |p: gridline_core::sync::Progress| {
        if p.phase == gridline_core::sync::SyncPhase::Push && p.done > 0 {
            let batch = p.done.div_ceil(4) as usize;
            let next_on_its_way = batch == batches || t.started(batch + 1);
            recorded.lock().expect("lock").push((p.done, next_on_its_way));
        }
    };
    let opts = SyncOptions { batch_ops: 4, ..opts() };
    let r = d.store.sync(&t, &opts, &progress, &gridline_core::sync::CancelToken::new()).expect("sync");
    assert_eq!(r.pushed, 22);
    let recorded = recorded.into_inner().expect("lock");
    assert_eq!(recorded.iter().map(|(done, _)| *done).collect::<Vec<_>>(), vec![4, 8, 12, 16, 20, 22], "{recorded:?}");
    assert!(recorded.iter().all(|(_, on_its_way)| *on_its_way), "recorded before the next batch went out: {recorded:?}");
    // One request at a time still means the batches went out whole and in order.
    let pushes = t.pushes.into_inner().expect("lock");
    assert_eq!(pushes.len(), batches, "{pushes:?}");
    assert!(pushes.windows(2).all(|w| w[1].0 == w[0].1 + 1), "{pushes:?}");
    assert_eq!(d.pending(), 0);
    assert_dumps_eq("gw1", &d.dump(), &city.fresh_dump("gw1"));
}

/// Holds every request for a while (and while paused) and counts how many are in flight at once.
struct Slow<'a> {
    inner: &'a dyn Transport,
    in_flight: std::sync::atomic::AtomicUsize,
    most: std::sync::atomic::AtomicUsize,
    pushed_ops: std::sync::atomic::AtomicUsize,
    paused: Mutex<bool>,
    resumed: std::sync::Condvar,
}

impl Slow<'_> {
    fn hold<T>(&self, f: impl FnOnce() -> T) -> T {
        use std::sync::atomic::Ordering::SeqCst;
        let now = self.in_flight.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
        std::thread::sleep(std::time::Duration::from_millis(30));
        drop(self.resumed.wait_while(self.paused.lock().expect("lock"), |p| *p).expect("lock"));
        let out = f();
        self.in_flight.fetch_sub(1, SeqCst);
        out
    }
    fn pause(&self, paused: bool) {
        *self.paused.lock().expect("lock") = paused;
        self.resumed.notify_all();
    }
}

impl Transport for Slow<'_> {
    fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        self.pushed_ops.fetch_add(req.ops.len(), std::sync::atomic::Ordering::SeqCst);
        self.hold(|| self.inner.push(req))
    }
    fn pull(&self, req: &PullRequest) -> Result<PullResponse, TransportError> {
        self.hold(|| self.inner.pull(req))
    }
}

#[test]
fn two_syncs_of_one_store_take_turns_and_a_waiting_one_can_be_cancelled() {
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    let city = start_city();
    let d = city.device("gw1");
    d.sync().expect("bootstrap");
    queue_households(&d, &city, 9);
    let t = Slow {
        inner: &d.transport,
        in_flight: AtomicUsize::new(0),
        most: AtomicUsize::new(0),
        pushed_ops: AtomicUsize::new(0),
        paused: Mutex::new(false),
        resumed: std::sync::Condvar::new(),
    };
    let opts = SyncOptions { batch_ops: 2, page_size: 50, ..opts() };
    let reports = std::thread::scope(|s| {
        let first = s.spawn(|| d.sync_via(&t, &opts));
        let second = s.spawn(|| d.sync_via(&t, &opts));
        [first.join().expect("first"), second.join().expect("second")]
    });
    let [a, b2] = reports.map(|r| r.expect("sync"));
    assert_eq!(t.most.load(SeqCst), 1, "one request at a time: the second sync waited for the first");
    assert_eq!(t.pushed_ops.load(SeqCst), 9, "each op sent once");
    assert_eq!(a.pushed + b2.pushed, 9);
    assert_eq!(d.pending(), 0);
    assert_dumps_eq("gw1", &d.dump(), &city.fresh_dump("gw1"));

    // A sync waiting for another returns as soon as it is cancelled; the running one goes on.
    queue_households(&d, &city, 1);
    let cancel = gridline_core::sync::CancelToken::new();
    t.pause(true);
    std::thread::scope(|s| {
        let running = s.spawn(|| d.sync_via(&t, &opts));
        while t.in_flight.load(SeqCst) == 0 {
            std::thread::yield_now();
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let (store, t, opts, cancel) = (&d.store, &t, &opts, &cancel);
        s.spawn(move || tx.send(store.sync(t, opts, &|_| {}, cancel)));
        std::thread::sleep(std::time::Duration::from_millis(100));
        cancel.cancel();
        let waited = rx.recv_timeout(std::time::Duration::from_secs(5));
        t.pause(false);
        assert!(matches!(waited, Ok(Err(gridline_core::Error::Cancelled))), "{waited:?}");
        running.join().expect("running").expect("the running sync finishes");
    });
    assert_eq!(d.pending(), 0);
}
