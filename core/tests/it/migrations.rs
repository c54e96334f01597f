//! Migrations: a version-1 database upgraded to the latest equals a fresh one; reopening a
//! file store keeps data, the enrolled user and the outbox.

use std::sync::Arc;

use gridline_core::{db, EntityKind, HouseholdPatch, ManualClock, Store};

use crate::support::*;

#[test]
fn a_v1_database_upgraded_to_latest_equals_a_fresh_one() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("old.db");
    {
        let conn = db::open_writer(&old, 1).unwrap();
        assert_eq!(db::schema_version(&conn).unwrap(), 1);
        // Version 1 has the register but no search index yet.
        let names: Vec<String> = db::schema_dump(&conn).unwrap().into_iter().map(|(_, n, _)| n).collect();
        assert!(names.contains(&"households".to_owned()));
        assert!(!names.iter().any(|n| n.ends_with("_fts")));
    }
    let upgraded = db::open_writer(&old, db::latest_version()).unwrap();
    let fresh = db::open_writer(&dir.path().join("fresh.db"), db::latest_version()).unwrap();
    assert_eq!(db::schema_version(&upgraded).unwrap(), db::latest_version());
    assert_eq!(db::schema_version(&fresh).unwrap(), db::latest_version());
    assert_eq!(db::latest_version() as usize, db::MIGRATIONS.len());
    let (a, b) = (db::schema_dump(&upgraded).unwrap(), db::schema_dump(&fresh).unwrap());
    assert!(a.len() > 20, "{}", a.len());
    assert_eq!(a, b);
    let names: Vec<&str> = a.iter().map(|(_, n, _)| n.as_str()).collect();
    for kind in EntityKind::ALL {
        assert!(names.contains(&kind.table()), "{}", kind.table());
    }
    for t in ["outbox", "rejected_ops", "meta", "household_fts", "resident_fts"] {
        assert!(names.contains(&t), "{t}");
    }
}

#[test]
fn migrating_in_memory_step_by_step_matches_and_is_idempotent() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    assert_eq!(db::schema_version(&conn).unwrap(), 0);
    db::migrate(&conn, 1).unwrap();
    assert_eq!(db::schema_version(&conn).unwrap(), 1);
    db::migrate(&conn, db::latest_version()).unwrap();
    // Running it again does nothing.
    db::migrate(&conn, db::latest_version()).unwrap();
    assert_eq!(db::schema_version(&conn).unwrap(), db::latest_version());
    let fresh = db::open_memory(db::latest_version()).unwrap();
    assert_eq!(db::schema_dump(&conn).unwrap(), db::schema_dump(&fresh).unwrap());
}

#[test]
fn a_store_opened_on_a_v1_file_upgrades_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gridline.db");
    {
        let conn = db::open_writer(&path, 1).unwrap();
        conn.execute(
            "INSERT INTO areas (id, version, parent_id, kind, code, name) VALUES ('g', 3, NULL, 'grid', 'G', '老网格')",
            [],
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.read(db::schema_version).unwrap(), db::latest_version());
    let a = store.area("g").unwrap();
    assert_eq!((a.name.as_str(), a.version), ("老网格", 3));
}

#[test]
fn upgrading_to_the_row_id_only_search_index_indexes_the_register_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gridline.db");
    {
        // A version-3 store with households and a resident (written as a sync would leave them).
        let conn = db::open_writer(&path, 3).unwrap();
        conn.execute_batch(
            "INSERT INTO buildings (id, version, grid_id, name, address) VALUES ('b', 1, 'g', '1号楼', '江海区白沙大道1号');
             INSERT INTO households (id, version, building_id, grid_id, room, address, head_name, phone)
                 VALUES ('h1', 2, 'b', 'g', '502', '江海区白沙大道1号502', '王芳', '13812345678'),
                        ('h2', 3, 'b', 'g', '301', '江海区白沙大道1号301', '李明华', NULL);
             INSERT INTO residents (id, version, household_id, building_id, grid_id, name, phone)
                 VALUES ('r1', 4, 'h1', 'b', 'g', '陈小红', '13900001111');",
        )
        .unwrap();
    }
    let store = Store::open(&path).unwrap();
    assert_eq!(store.read(db::schema_version).unwrap(), db::latest_version());
    let found = |q: &str| -> Vec<String> { store.search(q, 10).unwrap().into_iter().map(|h| h.id).collect() };
    assert_eq!(found("王芳"), ["h1"]);
    assert_eq!(found("明华"), ["h2"]);
    assert_eq!(found("号301"), ["h2"]);
    assert_eq!(found("5678"), ["h1"]);
    assert_eq!(found("小红"), ["r1"]);
    assert_eq!(found("1111"), ["r1"]);
    assert!(found("王红").is_empty());
    // The index has one entry per household and resident, no more.
    let count = |t: &str| store.read(|c| Ok(c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get::<_, i64>(0))?)).unwrap();
    assert_eq!((count("household_fts"), count("resident_fts")), (2, 1));
}

#[test]
fn reopening_a_file_store_keeps_rows_user_outbox_and_search() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gridline.db");
    let clock = ManualClock::new(T0);
    let (h, dump, pending) = {
        let store = Store::open_with_clock(&path, Arc::new(clock.clone())).unwrap();
        assert_eq!(store.path(), Some(path.as_path()));
        let fx = store_with(clock.clone(), store);
        let h = fx.household(&fx.b1, "502", "王芳", Some("13812345678"));
        fx.resident(&h.id, "王芳", Some(&id_number("44070319850612002")), None);
        fx.store.update_household(&h.id, HouseholdPatch { notes: Some("复开测试".into()), ..Default::default() }).unwrap();
        // The reader connection sees what the writer committed.
        assert_eq!(fx.store.household(&h.id).unwrap().notes, "复开测试");
        (h.id, fx.snapshot(), fx.pending())
    };
    let store = Store::open_with_clock(&path, Arc::new(clock)).unwrap();
    assert_eq!(snapshot(&store), dump);
    assert_eq!(store.read(gridline_core::outbox::pending).unwrap(), pending);
    assert_eq!(store.principal(), Some(worker1()));
    assert_eq!(store.household(&h).unwrap().notes, "复开测试");
    assert_eq!(store.search("王芳", 10).unwrap().len(), 2);
    // Work continues with fresh device_seq numbers.
    store.update_household(&h, HouseholdPatch { notes: Some("再改".into()), ..Default::default() }).unwrap();
    let after = store.read(gridline_core::outbox::pending).unwrap();
    assert!(after.last().unwrap().device_seq > pending.last().unwrap().device_seq);
    let mode: String = store.read(|c| Ok(c.pragma_query_value(None, "journal_mode", |r| r.get(0))?)).unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_file_store_uses_wal_with_full_sync_and_folds_the_wal_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let conn = db::open_writer(&dir.path().join("p.db"), db::latest_version()).unwrap();
    let get = |p: &str| conn.query_row(&format!("PRAGMA {p}"), [], |r| r.get::<_, rusqlite::types::Value>(0)).unwrap();
    assert_eq!(get("journal_mode"), rusqlite::types::Value::Text("wal".into()));
    assert_eq!(get("synchronous"), rusqlite::types::Value::Integer(2), "FULL");
    assert_eq!(get("wal_autocheckpoint"), rusqlite::types::Value::Integer(db::WAL_AUTOCHECKPOINT_PAGES));
    drop(conn);
    let store = Store::open(dir.path().join("s.db")).unwrap();
    store.write(|tx| Ok(tx.execute_batch("CREATE TABLE scratch (x); INSERT INTO scratch VALUES (1), (2);")?)).unwrap();
    let size = || std::fs::metadata(dir.path().join("s.db")).unwrap().len();
    let before = size();
    store.checkpoint().unwrap();
    // The migrations and the write lived in the WAL only; now they are in the database file.
    assert!(size() > before, "checkpoint wrote the WAL's pages into the database ({before} → {})", size());
}
