//! The writer connection with group commit: batches that arrive while another is being applied
//! share its transaction, so concurrent devices share one commit (and its `fsync`) instead of
//! queueing one each.
//!
//! Each caller applies its work inside a savepoint of the open transaction, on its own thread
//! and in turn (the writer is one connection behind a mutex, as before). When it is done and
//! another caller is already waiting for the writer, it leaves the transaction open for that
//! caller and waits for the group's commit; the last of the group commits. A caller returns
//! only once its work is committed, so an acknowledged batch is on disk as before; a commit
//! that fails fails every batch of its group, and each device sends its batch again.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// How the groups ended, for the members waiting on them.
#[derive(Default)]
struct Finished {
    /// Every group numbered below this one has ended (committed or failed).
    below: u64,
    /// Recent groups whose commit failed, with why.
    failed: VecDeque<(u64, String)>,
}

/// The writer connection and its group commit.
pub(super) struct GroupWriter {
    writer: Mutex<Writer>,
    /// Callers waiting for the writer (a finishing caller leaves the transaction open for them).
    waiting: AtomicUsize,
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
    /// Commits the open transaction and tells its waiting members.
    fn commit(&mut self) -> StoreResult<()> {
        let group = self.w.group;
        let outcome = self.w.conn.execute_batch("COMMIT").map_err(|e| {
            // The transaction is still open after a failed COMMIT: end it.
            let _ = self.w.conn.execute_batch("ROLLBACK");
            StoreError::from(e)
        });
        self.w.members = 0;
        self.w.group += 1;
        self.finished = true;
        {
            let mut f = lock(&self.gw.finished);
            f.below = group + 1;
            if let Err(e) = &outcome {
                f.failed.push_back((group, e.to_string()));
                if f.failed.len() > FAILURES_KEPT {
                    f.failed.pop_front();
                }
            }
        }
        self.gw.ended.notify_all();
        if let Some(c) = &self.gw.committed {
            let _ = c.try_send(());
        }
        outcome
    }

    /// Ends this caller's turn: commits, or leaves the transaction open for a caller already
    /// waiting. Returns the group to wait for in the second case.
    fn finish(mut self) -> Result<(), (u64, StoreResult<()>)> {
        self.finished = true;
        if self.w.members > 0 && self.gw.waiting.load(Ordering::SeqCst) > 0 && self.w.members < MAX_GROUP {
            return Err((self.w.group, Ok(())));
        }
        if self.w.members == 0 {
            return Ok(());
        }
        let group = self.w.group;
        match self.commit() {
            Ok(()) => Ok(()),
            Err(e) => Err((group, Err(e))),
        }
    }
}

impl Drop for Member<'_> {
    fn drop(&mut self) {
        if !self.finished && self.w.members > 0 {
            let _ = self.commit();
        }
    }
}

impl GroupWriter {
    pub(super) fn new(conn: Connection, committed: SyncSender<()>) -> GroupWriter {
        GroupWriter {
            writer: Mutex::new(Writer { conn, members: 0, group: 0 }),
            waiting: AtomicUsize::new(0),
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
    /// transaction is committed. `f` makes its own savepoint (see [`in_savepoint`]): what it
    /// leaves written when it returns, even with an error, is committed with the group.
    pub(super) fn member<T>(&self, f: impl FnOnce(&mut Connection) -> StoreResult<T>) -> StoreResult<T> {
        let mut m = self.turn();
        if m.w.members == 0 {
            m.w.conn.execute_batch("BEGIN")?;
        }
        m.w.members += 1;
        let out = f(&mut m.w.conn);
        match m.finish() {
            Ok(()) => out,
            // This caller's group failed to commit: nothing of it is stored.
            Err((_, Err(e))) => out.and(Err(e)),
            Err((group, Ok(()))) => {
                let v = out?;
                self.wait_for(group)?;
                Ok(v)
            }
        }
    }

    /// Waits until `group` has ended; its commit's error if it failed.
    fn wait_for(&self, group: u64) -> StoreResult<()> {
        let mut f = lock(&self.finished);
        while f.below <= group {
            f = self.ended.wait(f).unwrap_or_else(|p| p.into_inner());
        }
        match f.failed.iter().find(|(g, _)| *g == group) {
            Some((_, why)) => Err(StoreError::Backend(format!("commit failed: {why}"))),
            None => Ok(()),
        }
    }

    /// The writer outside any transaction (for settings that cannot change inside one): an
    /// open group is committed first.
    pub(super) fn exclusive<T>(&self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        let mut m = self.turn();
        if m.w.members > 0 {
            m.commit()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{channel, sync_channel};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    fn writer(dir: &std::path::Path) -> Arc<GroupWriter> {
        let conn = Connection::open(dir.join("w.sqlite")).unwrap();
        conn.execute_batch("PRAGMA journal_mode=WAL; CREATE TABLE t (who TEXT NOT NULL)").unwrap();
        let (tx, rx) = sync_channel(1);
        std::mem::forget(rx);
        Arc::new(GroupWriter::new(conn, tx))
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
}
