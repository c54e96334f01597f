//! The writer connection with group commit: batches that arrive while another is being applied
//! share its transaction, so concurrent devices share one commit (and its `fsync`) instead of
//! queueing one each.
//!
//! Each caller applies its work inside a savepoint of the open transaction, on its own thread
//! and in turn (the writer is one connection behind a mutex, as before). When it is done and
//! another caller is already waiting for the writer, it leaves the transaction open for that
//! caller and waits for the group's commit; the last of the group commits. A caller returns
//! only once its work is committed and on disk, so an acknowledged batch survives power loss;
//! a commit that fails fails every batch of its group, and each device sends its batch again.
//!
//! The commit and the sync to disk are two steps. The writer connection runs with
//! `synchronous=NORMAL`: its `COMMIT` writes the transaction to the WAL without waiting for the
//! disk (SQLite still syncs the WAL before each checkpoint and the database after it, so the
//! file stays consistent). The committing caller then lets go of the writer, so the next group
//! is applied while it syncs the WAL itself ([`SyncWal`]); one sync covers every group written
//! before it began, so callers that find one under way wait for it or the next. Until its group
//! is synced nobody is answered: not its callers, and not a reader whose snapshot could contain
//! it ([`GroupWriter::wait_synced`]), so nothing a device is told can be lost by a power cut.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Condvar, Mutex, MutexGuard};

use rusqlite::Connection;

// A panic while holding the writer leaves SQLite consistent: its work is rolled back to its
// savepoint and the group is finished by the guard (see `Member`).
use super::sqlite::lock;
use super::{StoreError, StoreResult};

/// Most batches one commit carries: a bound on how long the first of a group waits.
const MAX_GROUP: usize = 8;

/// Commit failures remembered for the groups' waiting members.
const FAILURES_KEPT: usize = 64;

struct Writer {
    conn: Connection,
    /// Callers whose work the open transaction holds (0: no transaction open).
    members: usize,
    /// The open group's number; groups are finished in order.
    group: u64,
}

/// Syncs the writer's committed transactions to disk (the database's WAL file).
pub(super) type SyncWal = Box<dyn Fn() -> std::io::Result<()> + Send + Sync>;

/// How the groups ended, for the members waiting on them.
#[derive(Default)]
struct Finished {
    /// Every group numbered below this one has ended: committed and synced to disk, or failed.
    below: u64,
    /// Recent groups whose commit failed, with why.
    failed: VecDeque<(u64, String)>,
    /// Why a sync to disk failed. After that nothing is acknowledged or read any more: what
    /// the disk holds is unknown (a failed `fsync` may have dropped the pages it could not
    /// write, and a later one would not report them), so the server must be restarted, and
    /// SQLite recovers from what is on disk.
    broken: Option<String>,
}

impl Finished {
    /// An error once a sync has failed (see `broken`).
    fn usable(&self) -> StoreResult<()> {
        match &self.broken {
            Some(why) => Err(StoreError::Backend(why.clone())),
            None => Ok(()),
        }
    }
}

/// The writer connection and its group commit.
pub(super) struct GroupWriter {
    writer: Mutex<Writer>,
    /// Callers waiting for the writer (a finishing caller leaves the transaction open for them).
    waiting: AtomicUsize,
    /// Groups numbered below this one have begun their `COMMIT`: readers may see them.
    committing: AtomicU64,
    /// Groups numbered below this one have finished their `COMMIT` (written to the WAL, or
    /// failed): the next sync covers them.
    written: AtomicU64,
    /// Held during a sync, so that each sync starts after the previous one ended.
    syncing: Mutex<()>,
    sync_wal: SyncWal,
    /// Commits are not synced (a bulk load, whose durability is its caller's affair).
    unsynced: AtomicBool,
    finished: Mutex<Finished>,
    ended: Condvar,
    /// Told after each commit (the checkpointer); None once closed.
    committed: Option<SyncSender<()>>,
}

/// One caller's turn at the writer. Dropped without [`Member::finish`] (a panic), it still ends
/// the group's turn: its own work is already rolled back (its savepoint's guard), and the
/// others' is committed.
struct Member<'a> {
    gw: &'a GroupWriter,
    w: MutexGuard<'a, Writer>,
    finished: bool,
}

impl Member<'_> {
    /// Commits the open transaction to the WAL and returns its group, to be synced and told
    /// ([`GroupWriter::settle`]); a failed commit is noted for the group's members.
    fn commit(&mut self) -> u64 {
        let group = self.w.group;
        self.gw.committing.store(group + 1, Ordering::SeqCst);
        let outcome = self.w.conn.execute_batch("COMMIT").map_err(|e| {
            // The transaction is still open after a failed COMMIT: end it.
            let _ = self.w.conn.execute_batch("ROLLBACK");
            StoreError::from(e)
        });
        self.w.members = 0;
        self.w.group += 1;
        self.finished = true;
        if let Err(e) = outcome {
            self.gw.note_failed(group, &e.to_string());
        }
        self.gw.written.store(group + 1, Ordering::SeqCst);
        group
    }

    /// Ends this caller's turn (letting go of the writer): commits, or leaves the transaction
    /// open for a caller already waiting. The group to settle or to wait for, and which.
    fn finish(mut self) -> Turn {
        self.finished = true;
        if self.w.members > 0 && self.gw.waiting.load(Ordering::SeqCst) > 0 && self.w.members < MAX_GROUP {
            return Turn::Joined(self.w.group);
        }
        if self.w.members == 0 {
            return Turn::Empty;
        }
        Turn::Committed(self.commit())
    }
}

/// How a caller's turn at the writer ended.
enum Turn {
    /// Nothing was open to commit.
    Empty,
    /// It committed this group, which it must now settle.
    Committed(u64),
    /// It left this group open for the next caller, and waits for it to end.
    Joined(u64),
}

impl Drop for Member<'_> {
    fn drop(&mut self) {
        if !self.finished && self.w.members > 0 {
            // A panic in a caller's turn: still the group's last, so it commits and syncs (the
            // writer held meanwhile; a sync never waits for the writer).
            let group = self.commit();
            self.gw.sync_through(group);
        }
    }
}

impl GroupWriter {
    /// A group writer over `conn` (in WAL mode, `synchronous=NORMAL`), whose commits
    /// `sync_wal` makes durable.
    pub(super) fn new(conn: Connection, sync_wal: SyncWal, committed: SyncSender<()>) -> GroupWriter {
        GroupWriter {
            writer: Mutex::new(Writer { conn, members: 0, group: 0 }),
            waiting: AtomicUsize::new(0),
            committing: AtomicU64::new(0),
            written: AtomicU64::new(0),
            syncing: Mutex::new(()),
            sync_wal,
            unsynced: AtomicBool::new(false),
            finished: Mutex::new(Finished::default()),
            ended: Condvar::new(),
            committed: Some(committed),
        }
    }

    /// Stops telling of commits (the checkpointer then ends).
    pub(super) fn close(&mut self) {
        self.committed = None;
    }

    fn turn(&self) -> Member<'_> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let w = lock(&self.writer);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        Member { gw: self, w, finished: false }
    }

    /// Runs `f` on the writer inside the transaction of the current group and returns once that
    /// transaction is committed and synced. `f` makes its own savepoint (see [`in_savepoint`]):
    /// what it leaves written when it returns, even with an error, is committed with the group.
    pub(super) fn member<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        self.check_broken()?;
        let mut m = self.turn();
        if m.w.members == 0 {
            m.w.conn.execute_batch("BEGIN")?;
        }
        m.w.members += 1;
        let out = f(&mut m.w.conn);
        match m.finish() {
            Turn::Empty => out,
            // A group that failed to commit or to sync: nothing of it is acknowledged.
            Turn::Committed(group) => {
                let settled = self.settle(group);
                out.and_then(|v| settled.map(|()| v))
            }
            Turn::Joined(group) => {
                let v = out?;
                self.wait_for(group)?;
                Ok(v)
            }
        }
    }

    /// Notes that `group` failed, for its members.
    fn note_failed(&self, group: u64, why: &str) {
        let mut f = lock(&self.finished);
        f.failed.push_back((group, why.to_owned()));
        if f.failed.len() > FAILURES_KEPT {
            f.failed.pop_front();
        }
    }

    /// Syncs `group` (committed by this caller) to disk and tells its members; its outcome.
    fn settle(&self, group: u64) -> StoreResult<()> {
        self.sync_through(group);
        self.wait_for(group)
    }

    /// Makes every group up to `group` durable: returns at once if a sync that began after its
    /// commit has ended, else syncs the WAL itself (once the sync under way, if any, has
    /// ended), covering every group whose commit has finished by then. Then the members of
    /// those groups and the readers waiting on them are told.
    fn sync_through(&self, group: u64) {
        let _one_at_a_time = lock(&self.syncing);
        if lock(&self.finished).below > group {
            return;
        }
        let through = self.written.load(Ordering::SeqCst);
        let synced = if self.unsynced.load(Ordering::SeqCst) { Ok(()) } else { (self.sync_wal)() };
        {
            let mut f = lock(&self.finished);
            if let Err(e) = synced {
                tracing::error!(error = %e, "syncing the WAL failed: no write or read is answered any more; restart the server");
                f.broken.get_or_insert_with(|| format!("sync to disk failed ({e}); the server must be restarted"));
            }
            f.below = f.below.max(through);
        }
        self.ended.notify_all();
        if let Some(c) = &self.committed {
            let _ = c.try_send(());
        }
    }

    /// Waits until `group` has ended; its commit's error if it failed (or the sync's).
    fn wait_for(&self, group: u64) -> StoreResult<()> {
        let f = self.ended_below(group + 1);
        f.usable()?;
        match f.failed.iter().find(|(g, _)| *g == group) {
            Some((_, why)) => Err(StoreError::Backend(format!("commit failed: {why}"))),
            None => Ok(()),
        }
    }

    /// Waits until every commit a reader may have seen so far is synced (or failed): a reader
    /// calls it before what it read leaves the server. At once when nothing is being synced.
    pub(super) fn wait_synced(&self) -> StoreResult<()> {
        self.ended_below(self.committing.load(Ordering::SeqCst)).usable()
    }

    /// Waits until every group numbered below `group` has ended.
    fn ended_below(&self, group: u64) -> MutexGuard<'_, Finished> {
        let mut f = lock(&self.finished);
        while f.below < group {
            f = self.ended.wait(f).unwrap_or_else(|p| p.into_inner());
        }
        f
    }

    /// An error once a sync has failed (see [`Finished::broken`]).
    pub(super) fn check_broken(&self) -> StoreResult<()> {
        lock(&self.finished).usable()
    }

    /// Stops (true) or resumes (false) syncing commits to disk: for a bulk load run with
    /// `synchronous=OFF`, which promises nothing until it ends. Resuming syncs what the load
    /// wrote.
    pub(super) fn set_unsynced(&self, on: bool) -> StoreResult<()> {
        self.unsynced.store(on, Ordering::SeqCst);
        if !on {
            let _one_at_a_time = lock(&self.syncing);
            (self.sync_wal)().map_err(|e| StoreError::Backend(format!("sync to disk failed: {e}")))?;
        }
        Ok(())
    }

    /// The writer outside any transaction (for settings that cannot change inside one): an
    /// open group is committed and synced first.
    pub(super) fn exclusive<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        self.check_broken()?;
        let mut m = self.turn();
        if m.w.members > 0 {
            let group = m.commit();
            // Holding the writer: a sync never waits for it.
            self.settle(group)?;
        }
        let out = f(&m.w.conn);
        m.finished = true;
        out
    }

    /// Groups committed so far (or failed): one per commit.
    #[cfg(test)]
    pub(super) fn groups(&self) -> u64 {
        lock(&self.finished).below
    }

    /// Callers waiting for the writer.
    #[cfg(test)]
    pub(super) fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }
}

/// Runs `f` in a savepoint of `conn`: released when `f` succeeds, rolled back when it fails or
/// panics (so a failed caller leaves nothing in its group's transaction).
pub(super) fn in_savepoint<T>(conn: &mut Connection, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
    let sp = conn.savepoint()?;
    let v = f(&sp)?;
    sp.commit()?;
    Ok(v)
}

/// A sync to disk that tests hold back and let go.
#[cfg(test)]
pub(crate) mod gate {
    use super::*;
    use std::sync::mpsc::channel;
    use std::sync::Arc;

    /// A sync that says when it starts and then waits to be let go (once let go, the later ones
    /// pass), counting its calls; it fails while `fail` is set.
    pub(crate) struct Gate {
        pub(crate) started: std::sync::mpsc::Receiver<()>,
        pub(crate) release: std::sync::mpsc::Sender<()>,
        pub(crate) calls: Arc<AtomicUsize>,
        pub(crate) fail: Arc<AtomicBool>,
    }

    pub(crate) fn gated() -> (SyncWal, Gate) {
        let (started_tx, started) = channel();
        let (release, release_rx) = channel::<()>();
        let calls = Arc::new(AtomicUsize::new(0));
        let fail = Arc::new(AtomicBool::new(false));
        let (c, f) = (calls.clone(), fail.clone());
        let (started_tx, release_rx) = (Mutex::new(started_tx), Mutex::new(release_rx));
        let sync: SyncWal = Box::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
            let _ = lock(&started_tx).send(());
            // A closed channel (let go for good) passes at once.
            let _ = lock(&release_rx).recv();
            if f.load(Ordering::SeqCst) {
                return Err(std::io::Error::other("disk gone"));
            }
            Ok(())
        });
        (sync, Gate { started, release, calls, fail })
    }
}

#[cfg(test)]
mod tests {
    use super::gate::gated;
    use super::*;
    use std::sync::mpsc::{channel, sync_channel};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn writer(dir: &std::path::Path) -> Arc<GroupWriter> {
        writer_syncing(dir, Box::new(|| Ok(())))
    }

    fn writer_syncing(dir: &std::path::Path, sync: SyncWal) -> Arc<GroupWriter> {
        let conn = Connection::open(dir.join("w.sqlite")).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; CREATE TABLE t (who TEXT NOT NULL)").unwrap();
        let (tx, rx) = sync_channel(1);
        std::mem::forget(rx);
        Arc::new(GroupWriter::new(conn, sync, tx))
    }


    fn rows(dir: &std::path::Path) -> Vec<String> {
        let c = Connection::open(dir.join("w.sqlite")).unwrap();
        let mut s = c.prepare("SELECT who FROM t ORDER BY who").unwrap();
        s.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
    }

    fn insert(c: &Connection, who: &str) -> StoreResult<()> {
        c.execute("INSERT INTO t (who) VALUES (?1)", [who])?;
        Ok(())
    }

    /// Holds the writer until `n` other callers wait for it (a bound, not a measure).
    fn hold_until_waiting(gw: &GroupWriter, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while gw.waiting() < n {
            assert!(Instant::now() < deadline, "callers never queued");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Starts a caller that holds the writer until `n` others wait, then writes `who`; returns
    /// once it holds the writer, with where its outcome will arrive.
    fn first(gw: &Arc<GroupWriter>, dir: &std::path::Path, n: usize, who: &'static str) -> std::sync::mpsc::Receiver<(StoreResult<()>, Vec<String>)> {
        let (held_tx, held) = channel();
        let (out_tx, out) = channel();
        let (gw, dir) = (gw.clone(), dir.to_owned());
        std::thread::spawn(move || {
            let r = gw.member(|c| {
                in_savepoint(c, |c| {
                    held_tx.send(()).unwrap();
                    hold_until_waiting(&gw, n);
                    insert(c, who)
                })
            });
            // What another connection sees once the call has returned.
            out_tx.send((r, rows(&dir))).unwrap();
        });
        held.recv().unwrap();
        out
    }

    const HUNG: Duration = Duration::from_secs(30);

    #[test]
    fn batches_waiting_for_the_writer_share_one_commit_and_each_returns_committed() {
        let dir = tempfile::tempdir().unwrap();
        let gw = writer(dir.path());
        let a = first(&gw, dir.path(), 3, "a");
        let others: Vec<_> = ["b", "c", "d"]
            .into_iter()
            .map(|who| {
                let (gw, dir) = (gw.clone(), dir.path().to_owned());
                std::thread::spawn(move || (gw.member(|c| in_savepoint(c, |c| insert(c, who))), rows(&dir), who))
            })
            .collect();
        let (r, seen) = a.recv_timeout(HUNG).expect("the first caller hung");
        r.unwrap();
        assert!(seen.contains(&"a".to_owned()), "returned before its write was committed: {seen:?}");
        for h in others {
            let (r, seen, who) = h.join().unwrap();
            r.unwrap();
            assert!(seen.contains(&who.to_owned()), "{who} returned before its write was committed: {seen:?}");
        }
        assert_eq!(rows(dir.path()), ["a", "b", "c", "d"]);
        assert_eq!(gw.groups(), 1, "four batches, one commit");
    }

    #[test]
    fn a_failed_or_panicking_caller_leaves_nothing_and_its_group_is_still_committed() {
        let dir = tempfile::tempdir().unwrap();
        let gw = writer(dir.path());
        // Each time the first caller leaves the transaction open for the second, whose call
        // fails (an error, then a panic) as the last of the group.
        for (first_who, who) in [("a", "fails"), ("b", "panics")] {
            let a = first(&gw, dir.path(), 1, first_who);
            let gw2 = gw.clone();
            let outcome = std::thread::spawn(move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    gw2.member(|c| {
                        in_savepoint(c, |c| {
                            insert(c, who)?;
                            match who {
                                "fails" => Err::<(), _>(StoreError::Backend("refused".into())),
                                _ => panic!("a bug mid-batch"),
                            }
                        })
                    })
                }))
            });
            let (r, seen) = a.recv_timeout(HUNG).expect("the first caller hung: its group was never committed");
            r.unwrap();
            assert!(seen.contains(&first_who.to_owned()), "{seen:?}");
            match (who, outcome.join().unwrap()) {
                ("fails", Ok(Err(_))) | ("panics", Err(_)) => {}
                (w, other) => panic!("{w}: {:?}", other.map(|r| r.is_ok())),
            }
        }
        assert_eq!(rows(dir.path()), ["a", "b"], "the failed callers left nothing");
        assert_eq!(gw.groups(), 2);
    }

    /// A caller is answered only after its commit is synced, and the writer is not held during
    /// the sync: the next caller's work is applied meanwhile, and its own commit (finished after
    /// that sync began) waits for a sync of its own. A reader that may have seen a commit waits
    /// for its sync too.
    #[test]
    fn a_commit_is_answered_once_synced_while_the_next_group_is_applied_beside_the_sync() {
        let dir = tempfile::tempdir().unwrap();
        let (sync, gate) = gated();
        let gw = writer_syncing(dir.path(), sync);
        let (done_a, a) = channel();
        let gw_a = gw.clone();
        std::thread::spawn(move || done_a.send(gw_a.member(|c| in_savepoint(c, |c| insert(c, "a")))).unwrap());
        gate.started.recv_timeout(HUNG).expect("a's commit was never synced");
        assert_eq!(rows(dir.path()), ["a"], "committed to the WAL before the sync");
        assert!(a.recv_timeout(Duration::from_millis(300)).is_err(), "a was answered before its commit was synced");

        // The writer is free during the sync: b's work runs now.
        let (running_b, b_runs) = channel();
        let (done_b, b) = channel();
        let gw_b = gw.clone();
        std::thread::spawn(move || {
            let r = gw_b.member(|c| {
                in_savepoint(c, |c| {
                    running_b.send(()).unwrap();
                    insert(c, "b")
                })
            });
            done_b.send(r).unwrap();
        });
        b_runs.recv_timeout(HUNG).expect("b's work waited for a's sync");
        // A reader now may see a's commit (and b's, once written): it waits for their syncs.
        let (read_tx, read) = channel();
        let gw_r = gw.clone();
        std::thread::spawn(move || {
            read_tx.send(gw_r.wait_synced()).unwrap();
        });
        assert!(read.recv_timeout(Duration::from_millis(300)).is_err(), "a reader went on before the sync");
        assert!(b.recv_timeout(Duration::from_millis(300)).is_err(), "b was answered before any sync covered it");

        drop(gate.release); // every sync passes from now on
        a.recv_timeout(HUNG).expect("a hung").unwrap();
        b.recv_timeout(HUNG).expect("b hung").unwrap();
        read.recv_timeout(HUNG).expect("the reader hung").unwrap();
        assert_eq!(rows(dir.path()), ["a", "b"]);
        assert_eq!(gw.groups(), 2, "two commits");
        assert_eq!(gate.calls.load(Ordering::SeqCst), 2, "b's commit ended after a's sync began: a sync of its own");
    }

    /// A sync that fails refuses the batches of the commits it covered, and from then on the
    /// writer and the readers refuse everything (what the disk holds is unknown) until the
    /// server is restarted.
    #[test]
    fn after_a_failed_sync_nothing_is_acknowledged_or_read_until_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let (sync, gate) = gated();
        let gw = writer_syncing(dir.path(), sync);
        drop(gate.release);
        gw.member(|c| in_savepoint(c, |c| insert(c, "a"))).unwrap();
        gw.wait_synced().unwrap();
        gate.fail.store(true, Ordering::SeqCst);
        let err = gw.member(|c| in_savepoint(c, |c| insert(c, "b"))).unwrap_err();
        assert!(err.to_string().contains("sync to disk failed"), "{err}");
        gate.fail.store(false, Ordering::SeqCst);
        let (ran_tx, ran) = channel();
        let err = gw.member(|c| in_savepoint(c, |_| { ran_tx.send(()).unwrap(); Ok(()) })).unwrap_err();
        assert!(err.to_string().contains("must be restarted"), "{err}");
        assert!(ran.try_recv().is_err(), "a write ran after the failed sync");
        assert!(gw.wait_synced().is_err(), "a read was answered after the failed sync");
        assert!(gw.exclusive(|_| Ok(())).is_err());
        assert_eq!(gate.calls.load(Ordering::SeqCst), 2);
    }
}
