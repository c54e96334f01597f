//! Idempotent pushes, a server that crashes mid-sync (DESIGN.md sync rule 3), a first pull
//! cut off halfway.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use gridline_core::protocol::{PullRequest, PullResponse, PushRequest, PushResponse};
use gridline_core::record::Row;
use gridline_core::sync::{SyncOptions, Transport, TransportError};
use gridline_core::{EntityKind, EventKind, HouseholdPatch, NewEvent, NewHousehold, NewIncident};
use gridline_e2e::*;

/// Offline work of a grid worker in G1: `n` new households, edits of the seeded ones, one
/// incident resolved on the spot. Returns the new household ids and the incident id.
fn work(d: &Device, city: &City, tag: &str, n: usize) -> (Vec<String>, String) {
    let b = city.b("B1A");
    let ids = (0..n)
        .map(|i| {
            d.store
                .create_household(NewHousehold {
                    building_id: b.clone(),
                    room: format!("{tag}{i:02}"),
                    head_name: format!("测试户主{tag}{i}"),
                    member_count: 1 + i as u32 % 5,
                    ..Default::default()
                })
                .expect("create")
                .id
        })
        .collect();
    for h in &city.households[&b] {
        d.store.update_household(h, HouseholdPatch { notes: Some(format!("{tag}走访")), ..Default::default() }).expect("update");
    }
    let inc = d
        .store
        .report_incident(NewIncident { category: "environment".into(), building_id: Some(b.clone()), description: format!("{tag}楼道杂物"), ..Default::default() })
        .expect("report");
    d.store
        .add_incident_event(&inc.id, NewEvent { kind: EventKind::Resolved, note: "已清理".into(), department_id: None, deadline_at: None })
        .expect("resolve");
    (ids, inc.id)
}

fn small_batches() -> SyncOptions {
    SyncOptions { batch_ops: 4, ..opts() }
}

/// Everything `work` wrote is on the server exactly once.
fn assert_applied_once(city: &City, tag: &str, ids: &[String], incident: &str) {
    let server = city.fresh_dump("admin");
    let hh = &server[&EntityKind::Household];
    for id in ids {
        assert!(find(hh, id).is_some(), "{tag}: household {id} on the server");
    }
    let tagged = hh.iter().filter(|r| field(r, "head_name").as_str().is_some_and(|s| s.starts_with(&format!("测试户主{tag}")))).count();
    assert_eq!(tagged, ids.len(), "{tag}: no duplicate households");
    for h in &city.households[&city.b("B1A")] {
        assert_eq!(field(find(hh, h).expect("seeded"), "notes"), format!("{tag}走访").as_str());
    }
    let events: Vec<_> = server[&EntityKind::IncidentEvent].iter().filter(|r| field(r, "incident_id") == incident).cloned().collect();
    let resolved = events.iter().filter(|r| field(r, "kind") == "resolved").count();
    assert_eq!(resolved, 1, "{tag}: the resolve event appended once: {events:#?}");
    assert_eq!(field(find(&server[&EntityKind::Incident], incident).expect("incident"), "status"), "resolved");
}

#[test]
fn same_batch_twice_and_lost_responses_apply_every_op_once() {
    let city = start_city();
    // Control: the same shape of work over a clean transport gives the expected seq growth.
    let control = city.device("gw1");
    control.sync().expect("bootstrap");
    let (ids, inc) = work(&control, &city, "C", 6);
    let ops = control.pending();
    let before = city.max_seq();
    control.sync_via(&control.transport, &small_batches()).expect("control sync");
    let per_run = city.max_seq() - before;
    assert_applied_once(&city, "C", &ids, &inc);

    // Every push sent twice.
    let d = city.device("gw1");
    d.sync().expect("bootstrap");
    let (ids, inc) = work(&d, &city, "D", 6);
    assert_eq!(d.pending(), ops);
    let before = city.max_seq();
    let r = d.sync_via(&DoublePush(&d.transport), &small_batches()).expect("double sync");
    assert_eq!(r.pushed, ops, "every op acknowledged once on the device");
    assert_eq!(city.max_seq() - before, per_run, "the resent batches changed nothing");
    assert_eq!(d.pending(), 0);
    assert!(d.store.rejected_ops().expect("rejected").is_empty());
    assert_applied_once(&city, "D", &ids, &inc);

    // Every batch's first answer lost after the server applied it.
    let l = city.device("gw1");
    l.sync().expect("bootstrap");
    let (ids, inc) = work(&l, &city, "L", 6);
    let batches = ops.div_ceil(4) as usize;
    let lossy = LoseResponses { inner: &l.transport, lose: 1, lost: AtomicUsize::new(0) };
    let before = city.max_seq();
    let err = l.sync_via(&lossy, &SyncOptions { max_attempts: 1, ..small_batches() });
    assert!(err.is_err(), "one attempt only: the lost answer is an error");
    assert_eq!(l.pending(), ops, "a lost answer keeps every op in the outbox");
    let lossy = LoseResponses { inner: &l.transport, lose: batches, lost: AtomicUsize::new(0) };
    let r = l.sync_via(&lossy, &small_batches()).expect("sync with lost responses");
    assert_eq!(r.retries, batches as u64, "one retry per lost answer: {r:?}");
    assert_eq!(r.pushed, ops);
    assert_eq!(l.pending(), 0);
    assert_eq!(city.max_seq() - before, per_run, "each op applied once despite the resends");
    assert_applied_once(&city, "L", &ids, &inc);
    l.sync().expect("resync");
    assert_eq!(l.dump(), city.fresh_dump("gw1"), "device equals the server's view");
}

#[test]
fn server_crash_mid_sync_then_restart_finishes_without_loss_or_duplicates() {
    let mut city = start_city();
    let d = city.device("gw1");
    d.sync().expect("bootstrap");
    let (ids, inc) = work(&d, &city, "K", 16);
    let ops = d.pending();
    assert!(ops >= 12, "enough ops for several batches");
    let before = city.max_seq();

    // The server dies right after answering the second batch.
    let server = Mutex::new(city.server.take());
    let t = AfterPush {
        inner: &d.transport,
        pushes: AtomicUsize::new(0),
        hook: Mutex::new(Box::new(|n| {
            if n == 2 {
                if let Some(s) = server.lock().expect("lock").take() {
                    s.stop();
                }
            }
        })),
    };
    let err = d.sync_via(&t, &small_batches()).expect_err("the server is gone");
    assert!(matches!(err, gridline_core::Error::Transport(_)), "{err:?}");
    assert_eq!(d.pending(), ops - 8, "two batches acknowledged, the rest still queued");
    let status = d.store.sync_status().expect("status");
    assert!(status.last_error.is_some(), "the failure is visible: {status:?}");

    // A sync while it is down fails the same way and loses nothing.
    assert!(d.sync().is_err());
    assert_eq!(d.pending(), ops - 8);

    city.restart();
    let r = d.sync_via(&d.transport as &dyn Transport, &small_batches()).expect("sync after restart");
    assert_eq!(r.pushed, ops - 8);
    assert_eq!(d.pending(), 0);
    assert!(d.store.sync_status().expect("status").last_error.is_none());
    assert_applied_once(&city, "K", &ids, &inc);
    assert_eq!(d.dump(), city.fresh_dump("gw1"), "device equals the server's view");
    // Compare seq growth with a control run of the same shape on the restarted server.
    let grown = city.max_seq() - before;
    let c = city.device("gw1");
    c.sync().expect("bootstrap");
    work(&c, &city, "Q", 16);
    let b2 = city.max_seq();
    c.sync().expect("control");
    assert_eq!(grown, city.max_seq() - b2, "nothing applied twice across the crash");
}

/// Loses the network for good once a pulled page has brought households.
struct CutAfterHouseholds<'a> {
    inner: &'a dyn Transport,
    cut: AtomicBool,
}

impl Transport for CutAfterHouseholds<'_> {
    fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        self.inner.push(req)
    }
    fn pull(&self, req: &PullRequest) -> Result<PullResponse, TransportError> {
        if self.cut.load(Ordering::SeqCst) {
            return Err(TransportError::Network("signal lost".into()));
        }
        let page = self.inner.pull(req)?;
        if page.changes.iter().any(|c| c.entity == EntityKind::Household) {
            self.cut.store(true, Ordering::SeqCst);
        }
        Ok(page)
    }
}

/// Every household row on the device is found by its head's name and by its phone's last four
/// digits.
fn assert_searchable(d: &Device, rows: &[Row]) {
    for r in rows {
        let name = field(r, "head_name").as_str().expect("name");
        let phone = field(r, "phone").as_str().expect("phone");
        for q in [name, &phone[phone.len() - 4..]] {
            let hits = d.store.search(q, 50).expect("search");
            assert!(hits.iter().any(|h| h.id == r.id), "household {} not found by one of its fields", r.id);
        }
    }
}

#[test]
fn a_first_pull_cut_off_halfway_leaves_what_it_brought_searchable() {
    // A first pull indexes the register once at its end; one that never reaches its end must
    // still leave every row it stored searchable, and the next sync goes on from its cursor.
    let city = start_city();
    let d = city.device("gw1");
    let small = SyncOptions { page_size: 3, ..opts() };
    let t = CutAfterHouseholds { inner: &d.transport, cut: AtomicBool::new(false) };
    d.sync_via(&t, &small).expect_err("the network is gone");
    let part = d.rows(EntityKind::Household);
    assert!(!part.is_empty() && part.len() < 6, "part of G1's six households arrived: {}", part.len());
    assert_searchable(&d, &part);
    assert_eq!(d.schema(), fresh_store_schema(), "the register's indexes are back");

    let r = d.sync_via(&d.transport, &small).expect("the rest");
    assert!(r.pulled > 0);
    let all = d.rows(EntityKind::Household);
    assert_eq!(all.len(), 6);
    assert_searchable(&d, &all);
    assert_eq!(d.schema(), fresh_store_schema());
    assert_eq!(d.dump(), city.fresh_dump("gw1"), "device equals the server's view");
}

/// Answers the first push without its last two ops' results (as if cut off); records the
/// `device_seq`s of every push.
struct PartialAnswer<'a> {
    inner: &'a dyn Transport,
    cut: AtomicBool,
    sent: Mutex<Vec<Vec<i64>>>,
}

impl Transport for PartialAnswer<'_> {
    fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        self.sent.lock().expect("lock").push(req.ops.iter().map(|o| o.device_seq).collect());
        let mut resp = self.inner.push(req)?;
        if !self.cut.swap(true, Ordering::SeqCst) {
            let keep = resp.results.len().saturating_sub(2);
            resp.results.truncate(keep);
        }
        Ok(resp)
    }
    fn pull(&self, req: &PullRequest) -> Result<PullResponse, TransportError> {
        self.inner.pull(req)
    }
}

#[test]
fn ops_left_without_a_result_go_again_before_the_ops_after_them() {
    let city = start_city();
    let d = city.device("gw1");
    d.sync().expect("bootstrap");
    let (ids, inc) = work(&d, &city, "P", 6);
    let ops = d.pending();
    let t = PartialAnswer { inner: &d.transport, cut: AtomicBool::new(false), sent: Mutex::new(Vec::new()) };
    let r = d.sync_via(&t, &small_batches()).expect("sync");
    assert_eq!(d.pending(), 0, "every op answered in the end");
    assert_eq!(r.pushed, ops);
    let sent = t.sent.into_inner().expect("lock");
    // The first batch's last two ops had no result: the next request starts with them.
    assert_eq!(sent[1][..2], sent[0][2..], "{sent:?}");
    let flat: Vec<i64> = sent[1..].concat();
    assert!(flat.windows(2).all(|w| w[1] == w[0] + 1), "then everything after them, in order: {sent:?}");
    assert_applied_once(&city, "P", &ids, &inc);
}

/// Fails one pull request, the `fail_at`-th (from 0), as a dropped connection.
struct DropOnePull<'a> {
    inner: &'a dyn Transport,
    pulls: AtomicUsize,
    fail_at: usize,
}

impl Transport for DropOnePull<'_> {
    fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        self.inner.push(req)
    }
    fn pull(&self, req: &PullRequest) -> Result<PullResponse, TransportError> {
        if self.pulls.fetch_add(1, Ordering::SeqCst) == self.fail_at {
            return Err(TransportError::Network("connection reset".into()));
        }
        self.inner.pull(req)
    }
}

#[test]
fn a_failed_prefetch_is_the_pages_first_attempt() {
    // The second pull of a sync is the prefetch of the second page, made beside the first.
    let city = start_city();
    let d = city.device("gw1");
    let pages = SyncOptions { page_size: 3, ..opts() };
    let t = DropOnePull { inner: &d.transport, pulls: AtomicUsize::new(0), fail_at: 1 };
    let err = d.sync_via(&t, &SyncOptions { max_attempts: 1, ..pages.clone() });
    assert!(err.is_err(), "one attempt per request, and the prefetch was it: {err:?}");
    let t = DropOnePull { inner: &d.transport, pulls: AtomicUsize::new(0), fail_at: 1 };
    let r = d.sync_via(&t, &pages).expect("sync");
    assert_eq!(r.retries, 1, "{r:?}");
    assert_eq!(d.dump(), city.fresh_dump("gw1"), "device equals the server's view");
}
