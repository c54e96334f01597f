//! Logging in again on a device: the same user after a token ran out, a scope changed while
//! logged out, another user on a shared phone.

use std::sync::atomic::AtomicUsize;
use std::sync::mpsc;
use std::time::Duration;

use gridline_core::sync::{HttpTransport, SyncOptions};
use gridline_core::{EntityKind, HouseholdPatch, Role, Scope};
use gridline_e2e::*;

/// Logs `user` in again on `d`'s store; returns a transport with the new token.
fn log_in_again(city: &City, d: &Device, user: &str) -> HttpTransport {
    let token = d.store.enroll(&HttpTransport::new(&city.url()).expect("transport"), user, PASSWORD, "phone").expect("log in again");
    HttpTransport::new(&city.url()).expect("transport").with_token(&token)
}

#[test]
fn a_batch_whose_answer_was_lost_before_a_login_again_is_applied_once() {
    let city = start_city();
    let a = city.device("gw1");
    a.sync().expect("bootstrap");
    let h = city.households[&city.b("B1A")][0].clone();
    a.store.update_household(&h, HouseholdPatch { notes: Some("独居，每周探访".into()), ..Default::default() }).expect("edit");
    queue_households(&a, &city, 1);
    // The server applies the batch; its answer never arrives, and the sync gives up.
    let lose = LoseResponses { inner: &a.transport, lose: 1, lost: AtomicUsize::new(0) };
    assert!(a.sync_via(&lose, &SyncOptions { max_attempts: 1, ..opts() }).is_err());
    assert_eq!(a.pending(), 2, "no answer: the ops stay");
    let applied = city.max_seq();
    // The user logs in again (the token ran out, the app was signed out): the same device.
    let before = a.device_id();
    let t = log_in_again(&city, &a, "gw1");
    assert_eq!(a.device_id(), before, "the server kept the device's id");
    let r = a.sync_via(&t, &opts()).expect("sync after the login");
    assert_eq!((r.pushed, r.rejected), (2, 0), "{r:?}");
    assert_eq!(city.max_seq(), applied, "sent again, nothing was applied again");
    assert_eq!(a.pending(), 0);
    assert_eq!(a.dump(), city.fresh_dump("gw1"));
}

#[test]
fn a_scope_changed_while_logged_out_is_found_after_logging_in_again() {
    let city = start_city();
    let svc = &city.server().state().service;
    let gw = city.device("gw2");
    gw.sync().expect("bootstrap");
    let h = city.households[&city.b("B2")][0].clone();
    gw.store.update_household(&h, HouseholdPatch { notes: Some("调岗前的走访记录".into()), ..Default::default() }).expect("edit");
    // Moved to G3 while the app was signed out; the user logs in again, then syncs.
    svc.set_scope("gw2", Role::GridWorker, &Scope { area_ids: vec![G3.into()], ..Scope::default() }).expect("move");
    let t = log_in_again(&city, &gw, "gw2");
    let r = gw.sync_via(&t, &opts()).expect("sync");
    assert!(r.scope_changed, "{r:?}");
    assert_eq!((r.pushed, r.rejected), (1, 0), "the edit made under the old scope is still theirs to push: {r:?}");
    let server = city.fresh_dump("admin");
    assert_eq!(field(find(&server[&EntityKind::Household], &h).expect("row"), "notes"), "调岗前的走访记录");
    assert!(gw.rows(EntityKind::Household).iter().all(|r| field(r, "grid_id") == G3), "the old grid purged");
    assert_eq!(gw.dump(), city.fresh_dump("gw2"));
}

#[test]
fn another_users_login_starts_the_device_over_once_nothing_is_left_to_sync() {
    let city = start_city();
    let d = city.device("gw1");
    d.sync().expect("bootstrap");
    let h = city.households[&city.b("B1A")][0].clone();
    d.store.update_household(&h, HouseholdPatch { notes: Some("交班前".into()), ..Default::default() }).expect("edit");
    // Not while the grid worker has something unsynced: refused, nothing changed.
    let e = d.store.enroll(&HttpTransport::new(&city.url()).expect("transport"), "bh1", PASSWORD, "phone").unwrap_err();
    assert!(matches!(&e, gridline_core::Error::Invalid { field, .. } if field == "username"), "{e:?}");
    assert_eq!(d.store.principal().expect("principal").role, Role::GridWorker);
    d.sync().expect("the grid worker's last sync");
    // The building head takes the phone over: the grid worker's rows go, theirs come.
    let t = log_in_again(&city, &d, "bh1");
    assert!(d.rows(EntityKind::Household).is_empty(), "nothing of the grid worker's is left");
    d.sync_via(&t, &opts()).expect("the building head's first sync");
    assert_eq!(d.dump(), city.fresh_dump("bh1"));
}

#[test]
fn another_users_login_waits_for_a_sync_under_way_then_starts_the_device_over() {
    let city = start_city();
    let d = city.device("gw1");
    d.sync().expect("bootstrap");
    let h = city.households[&city.b("B1A")][1].clone();
    let (there_tx, there) = mpsc::channel();
    let (go, go_rx) = mpsc::channel();
    // The first pull says it is there, then waits to be let go on.
    let mut there_tx = Some(there_tx);
    let held = BeforePull::new(&d.transport, move || {
        if let Some(there) = there_tx.take() {
            there.send(()).unwrap();
            go_rx.recv().unwrap();
        }
        Ok(())
    });
    // A change for the grid worker's next pull, so that pull has a page to write.
    let other = city.device("gw1");
    other.sync().expect("other bootstrap");
    other.store.update_household(&h, HouseholdPatch { notes: Some("另一台手机的记录".into()), ..Default::default() }).expect("edit");
    other.sync().expect("other sync");
    std::thread::scope(|s| {
        let sync = s.spawn(|| d.sync_via(&held, &opts()));
        there.recv().expect("the grid worker's pull is under way");
        // The building head logs in on this phone meanwhile.
        let (done_tx, done) = mpsc::channel();
        let (city, d) = (&city, &d);
        let login = s.spawn(move || {
            let t = log_in_again(city, d, "bh1");
            done_tx.send(()).unwrap();
            t
        });
        // The login must not finish while the sync is under way (given time to, if it would).
        let went_ahead = done.recv_timeout(Duration::from_secs(2)).is_ok();
        go.send(()).unwrap();
        sync.join().unwrap().expect("the grid worker's sync ends");
        let t = login.join().unwrap();
        assert!(!went_ahead, "the login went ahead of the sync under way");
        d.sync_via(&t, &opts()).expect("the building head's first sync");
    });
    assert_eq!(d.store.principal().expect("principal").role, Role::BuildingHead);
    assert_eq!(d.dump(), city.fresh_dump("bh1"), "nothing of the grid worker's pull is left");
}
