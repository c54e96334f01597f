//! Crash safety of the server: the process dies (abort, no unwinding) in the middle of a push
//! transaction; after a restart on the same data dir the batch is there entirely or not at
//! all, and the device's retry completes it exactly once.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;

use gridline_core::protocol::OpStatus;
use gridline_core::sync::SyncOptions;
use gridline_e2e::sim::world::World;
use gridline_e2e::*;

use super::sim::helper_dir;

/// Results the server stored for one device: op id → status.
fn stored(world: &World, device_id: &str) -> BTreeMap<String, OpStatus> {
    gridline_server::storage::stored_results(&world.db())
        .expect("stored results")
        .into_iter()
        .filter(|(d, _, _)| d == device_id)
        .map(|(_, op_id, r)| (op_id, r.status))
        .collect()
}

fn households(world: &World) -> i64 {
    world.db().query_row("SELECT count(*) FROM households", [], |r| r.get(0)).expect("count")
}

fn integrity(world: &World) -> String {
    world.db().query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity")
}

/// How the server dies at its fault point.
#[derive(Clone, Copy)]
enum Death {
    /// The process aborts itself.
    Abort,
    /// The process hangs inside the transaction and the test kills it with SIGKILL.
    Sigkill,
}

/// Waits for the server child to hang at its fault point, then kills it with SIGKILL.
fn sigkill_at_fault_point(world: &mut World) -> std::process::ExitStatus {
    let t0 = std::time::Instant::now();
    while !world.server_log().contains("fault point reached") {
        assert!(t0.elapsed() < std::time::Duration::from_secs(60), "the server never reached its fault point");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let status = world.kill_child().expect("killed");
    assert_eq!(status.signal(), Some(9), "{status:?}");
    status
}

/// One scenario: `ops` ops pushed in batches of `batch`; the server dies when the
/// `abort_after`-th op of the run is applied. Batches before the one it dies in are complete.
fn die_mid_push(ops: usize, batch: usize, abort_after: u64, death: Death) {
    let mut world = World::start(Some(helper_dir()));
    let d = world.city.device("gw1");
    d.sync().expect("bootstrap");
    let ids = queue_households(&d, &world.city, ops);
    let (seq0, hh0) = (world.max_seq(), households(&world));
    let done_batches = (abort_after as usize - 1) / batch;
    let survived = done_batches * batch;

    world.kill_child();
    world.spawn_child_with(Some(abort_after), matches!(death, Death::Sigkill));
    let o = SyncOptions { batch_ops: batch, max_attempts: 1, ..opts() };
    let err = std::thread::scope(|s| {
        let sync = s.spawn(|| d.sync_via(&d.transport, &o));
        let status = match death {
            Death::Abort => world.child.as_mut().expect("child").wait().expect("wait"),
            Death::Sigkill => sigkill_at_fault_point(&mut world),
        };
        assert!(!status.success(), "the server process died: {status:?}");
        sync.join().expect("sync thread").expect_err("the server dies mid-push")
    });
    assert!(matches!(err, gridline_core::Error::Transport(_)), "{err:?}");

    // After the crash: whole batches only.
    assert_eq!(integrity(&world), "ok");
    let after = stored(&world, &d.device_id());
    let want: Vec<&String> = ids[..survived].iter().collect();
    let got: Vec<&String> = ids.iter().filter(|id| after.contains_key(*id)).collect();
    assert_eq!(got, want, "exactly the batches before the crash are stored (abort after {abort_after}, batch {batch})");
    assert_eq!(households(&world) - hh0, survived as i64, "no half batch of rows");
    assert_eq!(world.max_seq() - seq0, survived as i64, "one change per applied op, none of the broken batch");
    assert_eq!(d.pending(), (ops - survived) as u64, "the device keeps every unanswered op");

    // Restarted without the fault: the retry completes the rest exactly once.
    world.restart(None);
    let r = d.sync_via(&d.transport, &SyncOptions { batch_ops: batch, ..opts() }).expect("retry");
    assert_eq!(r.pushed, (ops - survived) as u64);
    assert_eq!(d.pending(), 0);
    let after = stored(&world, &d.device_id());
    for id in &ids {
        assert_eq!(after.get(id), Some(&OpStatus::Applied), "op {id} applied once");
    }
    assert_eq!(households(&world) - hh0, ops as i64);
    assert_eq!(world.max_seq() - seq0, ops as i64, "nothing applied twice");
    assert!(d.store.rejected_ops().expect("rejected").is_empty());
    assert_eq!(d.dump(), world.city.fresh_dump("gw1"), "the device equals the server's view");
}

#[test]
fn server_sigkilled_in_the_first_batch_applies_nothing_then_the_retry_applies_all_once() {
    die_mid_push(8, 50, 5, Death::Sigkill);
}

#[test]
fn server_sigkilled_in_a_later_batch_keeps_whole_earlier_batches_only() {
    die_mid_push(12, 4, 7, Death::Sigkill);
}

#[test]
fn server_abort_in_a_later_batch_keeps_whole_earlier_batches_only() {
    die_mid_push(12, 4, 7, Death::Abort);
}

#[test]
fn server_abort_on_the_last_op_of_a_batch_applies_nothing_of_it() {
    die_mid_push(8, 4, 8, Death::Abort);
}

/// Devices pushing at once share commits (group commit): the server is SIGKILLed while a group
/// is open. Each device's batches are on the server whole or not at all, the rows and the
/// sequence agree with what is stored, and after a restart every op is applied exactly once.
#[test]
fn concurrent_pushes_sharing_commits_survive_a_sigkill_batch_by_batch() {
    const DEVICES: usize = 4;
    const OPS: usize = 30;
    const BATCH: usize = 5;
    let mut world = World::start(Some(helper_dir()));
    let devices: Vec<Device> = (0..DEVICES).map(|_| world.city.device("gw1")).collect();
    let mut ids = Vec::new();
    for d in &devices {
        d.sync().expect("bootstrap");
        ids.push(queue_households(d, &world.city, OPS));
    }
    let (seq0, hh0) = (world.max_seq(), households(&world));

    world.kill_child();
    world.spawn_child_with(Some((DEVICES * OPS / 2) as u64), true);
    let o = SyncOptions { batch_ops: BATCH, max_attempts: 1, ..opts() };
    std::thread::scope(|s| {
        let syncs: Vec<_> = devices.iter().map(|d| s.spawn(|| d.sync_via(&d.transport, &o))).collect();
        sigkill_at_fault_point(&mut world);
        for h in syncs {
            // A device may have finished before the kill; the others fail on the transport.
            if let Err(e) = h.join().expect("sync thread") {
                assert!(matches!(e, gridline_core::Error::Transport(_)), "{e:?}");
            }
        }
    });

    assert_eq!(integrity(&world), "ok");
    let mut stored_total = 0;
    for (d, ids) in devices.iter().zip(&ids) {
        let after = stored(&world, &d.device_id());
        for batch in ids.chunks(BATCH) {
            let n = batch.iter().filter(|id| after.contains_key(*id)).count();
            assert!(n == 0 || n == BATCH, "a batch is stored whole or not at all: {n} of {BATCH}");
        }
        let stored_here = ids.iter().filter(|id| after.contains_key(*id)).count();
        // A committed batch whose answer was lost is still pending on the device.
        assert!(d.pending() as usize >= OPS - stored_here, "the device keeps every op the server does not hold");
        stored_total += stored_here;
    }
    assert!(stored_total < DEVICES * OPS, "the kill came before the end");
    assert_eq!(households(&world) - hh0, stored_total as i64, "rows of stored batches only");
    assert_eq!(world.max_seq() - seq0, stored_total as i64, "one change per stored op");

    world.restart(None);
    for d in &devices {
        d.sync_via(&d.transport, &SyncOptions { batch_ops: BATCH, ..opts() }).expect("retry");
        assert_eq!(d.pending(), 0);
    }
    for (d, ids) in devices.iter().zip(&ids) {
        let after = stored(&world, &d.device_id());
        for id in ids {
            assert_eq!(after.get(id), Some(&OpStatus::Applied), "op {id} applied once");
        }
    }
    assert_eq!(households(&world) - hh0, (DEVICES * OPS) as i64);
    assert_eq!(world.max_seq() - seq0, (DEVICES * OPS) as i64, "nothing applied twice");
}
