//! The SQLite storage on its own: persistence, sequence, feed walking.

use serde_json::json;

use gridline_core::protocol::OpKind;
use gridline_core::EntityKind;
use gridline_server::storage::{SqliteStorage, Storage};

use crate::common::*;

#[test]
fn data_and_sequence_survive_reopen_and_migrations_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let seq = {
        let s = SqliteStorage::open(dir.path()).unwrap();
        let st = gridline_server::AppState::new(std::sync::Arc::new(s), gridline_server::Config::for_tests());
        let admin = gridline_core::access::Principal { user_id: "server".into(), role: gridline_core::Role::Admin, scope: Default::default() };
        let req = gridline_core::protocol::PushRequest {
            protocol: 1,
            ops: vec![
                op(EntityKind::Area, "G1", OpKind::Create, json!({"parent_id": null, "kind": "grid", "code": "G1", "name": "网格"}), 0),
                op(EntityKind::Building, "B1", OpKind::Create, json!({"grid_id": "G1", "name": "1栋", "address": "路", "floors": null, "head_user_id": null}), 0),
            ],
            sent_at: 0,
            scope_epoch: None,
        };
        st.service.push(&admin, gridline_server::service::Origin::Server, &req).unwrap();
        st.service.storage().max_seq().unwrap()
    };
    assert_eq!(seq, 2);
    let s = SqliteStorage::open(dir.path()).unwrap();
    assert_eq!(s.max_seq().unwrap(), 2);
    let page = s.feed(0, 10, 100, &|_, _| true).unwrap();
    assert_eq!(page.rows.len(), 2);
    assert_eq!(page.rows[1].fields().expect("JSON")["grid_id"], "G1");
    assert!(!page.has_more);
}

#[test]
fn feed_respects_limit_scan_bound_and_visibility() {
    let w = World::new();
    let s = w.state.service.storage();
    let max = s.max_seq().unwrap();
    let only_households = |e: EntityKind, _: &gridline_core::access::ScopeKeys| e == EntityKind::Household;
    let p = s.feed(0, 2, 10_000, &only_households).unwrap();
    assert_eq!(p.rows.len(), 2);
    assert!(p.has_more);
    assert_eq!(p.last_examined, p.rows[1].seq);
    let p = s.feed(0, 100, 3, &only_households).unwrap();
    assert_eq!(p.last_examined, 3, "stops after max_scan examined rows");
    assert!(p.rows.is_empty() && p.has_more);
    let p = s.feed(0, 100, 10_000, &|_, _| false).unwrap();
    assert_eq!(p.last_examined, max);
    assert!(!p.has_more);
    // Sequences are dense per change and rows keep their version = seq.
    let all = s.feed(0, 1000, 10_000, &|_, _| true).unwrap();
    assert!(all.rows.windows(2).all(|w| w[0].seq < w[1].seq));
}

#[test]
fn demo_city_seeds_every_role_and_serves_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = gridline_server::AppState::open(dir.path(), gridline_server::Config::for_tests()).unwrap();
    let creds = gridline_server::demo::seed_if_empty(&state.service, 300).unwrap();
    assert_eq!(creds.len(), 6);
    let s = state.service.storage();
    let users = s.users().unwrap();
    for c in &creds {
        assert!(users.iter().any(|u| u.username == c.username && u.role == c.role), "{}", c.username);
    }
    let seq = s.max_seq().unwrap();
    let all = s.feed(0, usize::MAX, usize::MAX, &|_, _| true).unwrap();
    let count = |e: EntityKind| all.rows.iter().filter(|r| r.entity == e).count();
    assert_eq!(count(EntityKind::Household), 300);
    assert!(count(EntityKind::Resident) >= 300);
    assert!(count(EntityKind::Area) >= 20);
    assert!(count(EntityKind::Incident) > 0);
    let grids = all.rows.iter().filter(|r| r.entity == EntityKind::Area && r.fields().expect("JSON")["kind"] == "grid").count();
    assert!(grids >= 20);
    // Seeding again leaves the data alone.
    gridline_server::demo::seed_if_empty(&state.service, 300).unwrap();
    assert_eq!(s.max_seq().unwrap(), seq);
}

#[test]
fn spawned_server_answers_over_tcp_and_stops() {
    use std::io::{Read, Write};
    let dir = tempfile::tempdir().unwrap();
    let server = gridline_server::spawn_test_server(dir.path()).unwrap();
    let get = |addr| -> std::io::Result<String> {
        let mut s = std::net::TcpStream::connect(addr)?;
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    };
    let addr = server.addr();
    let resp = get(addr).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200") && resp.ends_with("ok"), "{resp}");
    server.stop();
    assert!(get(addr).is_err(), "stopped");
    // Restart on the same data dir and address.
    let again = gridline_server::spawn_test_server_on(dir.path(), addr, gridline_server::Config::for_tests()).unwrap();
    assert!(get(again.addr()).unwrap().ends_with("ok"));
}

#[test]
fn an_op_undone_after_writing_leaves_nothing_and_the_batch_is_repeated_with_savepoints() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStorage::open(dir.path()).unwrap();
    let building = |name: &str| {
        json!({"grid_id": "G1", "name": name, "address": "路", "floors": null, "head_user_id": null})
            .as_object()
            .cloned()
            .unwrap()
    };
    let mut attempts = 0;
    s.batch(&mut |tx| {
        attempts += 1;
        for (id, keep) in [("B1", true), ("B2", false), ("B3", true)] {
            tx.begin_op()?;
            tx.create(EntityKind::Building, id, &building(id), "server")?;
            // B2 is refused after it was written (as a constraint failure halfway would be).
            tx.end_op(keep)?;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(attempts, 2, "the first attempt has no savepoints and must be repeated");
    let page = s.feed(0, 10, 100, &|_, _| true).unwrap();
    let ids: Vec<&str> = page.rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["B1", "B3"]);
    assert_eq!(s.max_seq().unwrap(), 2, "the undone op gives its sequence number back: no gap in the feed");
}

#[test]
fn console_sessions_are_kept_by_hash_outlive_a_reopen_and_expire() {
    use gridline_server::storage::ConsoleSession;
    let dir = tempfile::tempdir().unwrap();
    let s = |hash: &str, expires_at: i64| ConsoleSession {
        token_hash: hash.into(),
        username: "sup".into(),
        csrf: "c".repeat(64),
        device_id: "dev".into(),
        expires_at,
    };
    {
        let st = SqliteStorage::open(dir.path()).unwrap();
        st.put_session(&s("a", 1_000), 0).unwrap();
        st.put_session(&s("b", 500), 0).unwrap();
        assert_eq!(st.session("a", 999).unwrap(), Some(s("a", 1_000)));
        assert_eq!(st.session("a", 1_000).unwrap(), None, "expired at its expiry");
        assert_eq!(st.session("nope", 0).unwrap(), None);
        st.touch_session("a", 5_000).unwrap();
    }
    let st = SqliteStorage::open(dir.path()).unwrap();
    assert_eq!(st.session("a", 4_000).unwrap(), Some(s("a", 5_000)), "kept across a reopen, with its new expiry");
    // A new login forgets sessions that have expired.
    st.put_session(&s("c", 9_000), 600).unwrap();
    let count = |t: &str| st.table_digests().unwrap()[t].rows;
    assert_eq!(count("console_sessions"), 2, "b (expired at 500) is gone");
    st.end_session("a").unwrap();
    assert_eq!(st.session("a", 4_000).unwrap(), None);
    assert_eq!(count("console_sessions"), 1);
}

#[test]
fn the_wal_is_folded_into_the_database_beside_the_writer_and_gone_once_the_storage_closes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join(gridline_server::storage::sqlite::DB_FILE);
    let wal = dir.path().join(format!("{}-wal", gridline_server::storage::sqlite::DB_FILE));
    let s = SqliteStorage::open(dir.path()).unwrap();
    let st = gridline_server::AppState::new(std::sync::Arc::new(s), gridline_server::Config::for_tests());
    let admin = gridline_core::access::Principal { user_id: "server".into(), role: gridline_core::Role::Admin, scope: Default::default() };
    let push = |ops| {
        let req = gridline_core::protocol::PushRequest { protocol: 1, ops, sent_at: 0, scope_epoch: None };
        st.service.push(&admin, gridline_server::service::Origin::Server, &req).unwrap();
    };
    push(vec![
        op(EntityKind::Area, "G1", OpKind::Create, json!({"parent_id": null, "kind": "grid", "code": "G1", "name": "网格"}), 0),
        op(EntityKind::Building, "B1", OpKind::Create, json!({"grid_id": "G1", "name": "1栋", "address": "路", "floors": null, "head_user_id": null}), 0),
    ]);
    let size = |p: &std::path::Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let before = size(&db);
    // Far below the writer's own checkpoint threshold: only the checkpointer moves these pages.
    push((0..2000).map(|i| op(EntityKind::Household, &format!("H{i}"), OpKind::Create, household("B1", "G1", &format!("{i}"), "13800138000"), 0)).collect());
    assert!(size(&wal) > 0, "the batch went to the WAL");
    // The checkpointer runs on its own thread: wait for it (a generous bound, not a measure).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while size(&db) < before + 200_000 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(size(&db) >= before + 200_000, "the database file took the batch's pages: {} -> {}", before, size(&db));
    // Closing joins the checkpointer; the writer's connection closes last and removes the WAL.
    drop(st);
    assert!(!wal.exists(), "the WAL is gone once the storage is closed");
    let s = SqliteStorage::open(dir.path()).unwrap();
    assert_eq!(s.max_seq().unwrap(), 2002);
}

#[test]
fn a_backup_taken_while_pushes_go_on_is_a_whole_snapshot_owner_readable_and_never_overwrites() {
    use gridline_server::storage::sqlite::DB_FILE;
    use gridline_server::storage::sqlite_backup::backup;
    use std::os::unix::fs::PermissionsExt;

    let w = World::new();
    let out = tempfile::tempdir().unwrap();
    let to = out.path().join("gridline-backup.sqlite");
    // A stale part of an interrupted backup is replaced, not mistaken for one.
    std::fs::write(out.path().join("gridline-backup.sqlite.partial"), b"half a file").unwrap();

    // Pushes keep committing while the backup is written.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let info = std::thread::scope(|s| {
        let pusher = s.spawn(|| {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) || n < 5 {
                let ops = (0..20).map(|i| op(EntityKind::Household, &format!("HB{n}-{i}"), OpKind::Create,
                    household("B1", "G1", &format!("{n}{i:02}"), "13800138000"), 0)).collect();
                w.server_push(ops);
                n += 1;
            }
            n
        });
        std::thread::sleep(std::time::Duration::from_millis(20));
        let info = backup(w._dir.path(), &to).expect("backup");
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        assert!(pusher.join().unwrap() >= 5);
        info
    });
    assert!(!out.path().join("gridline-backup.sqlite.partial").exists());
    assert_eq!(std::fs::metadata(&to).unwrap().permissions().mode() & 0o777, 0o600, "personal data: owner only");
    assert_eq!(info.bytes, std::fs::metadata(&to).unwrap().len());
    assert_eq!(info.users, 5);

    // A snapshot: the sequence counter, the change feed and the change log agree, and every
    // household created by a push in it has its change logged.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&to, restored.path().join(DB_FILE)).unwrap();
    let c = rusqlite::Connection::open(restored.path().join(DB_FILE)).unwrap();
    let q = |sql: &str| -> i64 { c.query_row(sql, [], |r| r.get(0)).unwrap() };
    assert_eq!(q("SELECT value FROM seq_counter"), info.seq);
    assert_eq!(q("SELECT max(seq) FROM row_meta"), info.seq);
    assert_eq!(q("SELECT max(seq) FROM change_log"), info.seq);
    assert_eq!(q("SELECT count(*) FROM households WHERE id LIKE 'HB%'"), q("SELECT count(*) FROM change_log WHERE entity_id LIKE 'HB%'"));
    assert_eq!(q("SELECT count(*) FROM households WHERE id LIKE 'HB%'") % 20, 0, "whole batches only");
    drop(c);
    // It opens as a server's storage.
    let s = SqliteStorage::open(restored.path()).expect("open the backup");
    assert_eq!(s.max_seq().unwrap(), info.seq);
    assert!(info.seq <= w.state.service.storage().max_seq().unwrap());

    // A file that exists is never written over.
    let before = std::fs::read(&to).unwrap();
    assert!(matches!(backup(w._dir.path(), &to), Err(gridline_server::StoreError::AlreadyExists)));
    assert_eq!(std::fs::read(&to).unwrap(), before);
}

#[tokio::test]
async fn a_restored_backup_sends_every_device_back_to_a_full_pull_and_serves_what_it_holds() {
    use gridline_server::storage::sqlite_backup::{backup, restore, Restored, RESTORE_GAP};

    let w = World::new();
    let gw = w.enroll("gw").await;
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("b.sqlite");
    let taken = backup(w._dir.path(), &file).unwrap();
    // After the backup: a household the server will lose, which the device pulls.
    let r = w.push(&gw, &[op(EntityKind::Household, "H-LATE", OpKind::Create, household("B1", "G1", "909", "13800138000"), 0)]).await;
    assert_eq!(r.results[0].status, gridline_core::protocol::OpStatus::Applied);
    let mut cursor = 0;
    loop {
        let p = w.pull(&gw, cursor, 1000, None).await;
        cursor = p.next_cursor;
        if !p.has_more {
            break;
        }
    }
    assert!(cursor > taken.seq);

    // Refused while the server has the database open; nothing changes.
    let before = w.fingerprint();
    assert_eq!(restore(w._dir.path(), &file, 1).unwrap(), Restored::ServerRunning);
    assert_eq!(w.fingerprint(), before);
    assert!(!w._dir.path().join("gridline.sqlite.restoring").exists());

    let dir = w.stopped();
    let Restored::Done(info) = restore(dir.path(), &file, 1234).unwrap() else { panic!("server stopped") };
    assert_eq!((info.backup_seq, info.seq), (taken.seq, taken.seq + RESTORE_GAP));
    let aside = info.replaced.expect("the old database is kept");
    assert!(aside.ends_with("gridline.sqlite.before-restore-1234") && aside.is_file());
    let w = World::reopened(dir);

    // The device's cursor is past what the server holds now: it is told to start over, and a
    // full pull gives exactly the backup's data, with a cursor from the new sequence on.
    let p = w.pull(&gw, cursor, 1000, None).await;
    assert!(p.rebootstrap && p.changes.is_empty());
    let mut rows = Vec::new();
    let mut c = 0;
    loop {
        let p = w.pull(&gw, c, 1000, None).await;
        assert!(!p.rebootstrap);
        rows.extend(p.changes);
        c = p.next_cursor;
        if !p.has_more {
            break;
        }
    }
    let households = ids(&rows, EntityKind::Household);
    assert!(households.contains(&"H1".to_owned()) && !households.contains(&"H-LATE".to_owned()), "{households:?}");
    assert!(c >= info.seq);
    // New changes are numbered after the gap, and a device that caught up stays caught up.
    let r = w.push(&gw, &[op(EntityKind::Household, "H-NEW", OpKind::Create, household("B1", "G1", "910", "13800138001"), 0)]).await;
    assert_eq!(r.results[0].version, Some(info.seq + 1));
    let p = w.pull(&gw, c, 1000, None).await;
    assert!(!p.rebootstrap);
    assert_eq!(ids(&p.changes, EntityKind::Household), ["H-NEW"]);
}
