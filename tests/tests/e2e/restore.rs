//! A server restored from a backup: devices that synced past the backup come back to exactly
//! what the server holds, and their unsynced edits still reach it.

use gridline_core::{EntityKind, HouseholdPatch, NewHousehold};
use gridline_e2e::*;
use gridline_server::storage::sqlite_backup::{backup, restore, Restored};

#[test]
fn devices_that_synced_past_a_restored_backup_converge_on_what_the_server_holds() {
    let mut city = start_city();
    let gw = city.device("gw1");
    let sup = city.device("sup");
    // A grid worker of another grid: nothing in their scope changes after the restore.
    let gw2 = city.device("gw2");
    for d in [&gw, &sup, &gw2] {
        d.sync().expect("bootstrap");
    }
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("backup.sqlite");
    backup(city.dir.path(), &file).expect("backup");

    // After the backup: a household made and synced (the server will lose it), seen by the
    // supervisor too; then an offline edit of a household the backup holds, not yet pushed.
    let b1a = city.b("B1A");
    let late = gw
        .store
        .create_household(NewHousehold { building_id: b1a.clone(), room: "808".into(), head_name: "周晓梅".into(), member_count: 1, ..Default::default() })
        .expect("create");
    gw.sync().expect("sync late household");
    sup.sync().expect("sup sees it");
    assert!(find(&sup.rows(EntityKind::Household), &late.id).is_some());
    let kept = city.households[&b1a][0].clone();
    gw.store.update_household(&kept, HouseholdPatch { notes: Some("恢复后补交的走访记录".into()), ..Default::default() }).expect("edit");
    assert_eq!(gw.pending(), 1);

    city.stop();
    let Restored::Done(info) = restore(city.dir.path(), &file, 1).expect("restore") else { panic!("server stopped") };
    city.restart();
    assert_eq!(city.max_seq(), info.seq);

    // Each device's next sync pushes what it had pending, then starts over from the server;
    // gw2 first, while the server has no change at all past the backup's.
    let redone = gw2.sync().expect("gw2 after restore");
    assert!(redone.pulled > 0, "gw2 started over");
    gw.sync().expect("gw after restore");
    sup.sync().expect("sup after restore");
    assert_eq!(gw.pending(), 0);
    for d in [&gw, &sup, &gw2] {
        assert_dumps_eq(&d.user, &d.dump(), &city.fresh_dump(&d.user));
        assert!(find(&d.rows(EntityKind::Household), &late.id).is_none(), "{}: the lost household is gone", d.user);
    }
    let edited = find(&sup.rows(EntityKind::Household), &kept).cloned().expect("kept household");
    assert_eq!(field(&edited, "notes"), "恢复后补交的走访记录", "the offline edit reached the server");
    // And from then on they stay in step: no second start-over, also for a device whose scope
    // has had no change since the restore (its cursor is the server's sequence, past the gap).
    for d in [&gw, &sup, &gw2] {
        assert_eq!(d.sync().expect("sync again").pulled, 0, "{}", d.user);
    }
}
