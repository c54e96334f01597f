//! Photos travel apart from the ops (DESIGN.md sync rule 9): an incident that references a photo
//! syncs at once; the photo follows in chunks, resumes after a broken connection from where the
//! server's copy ends, and arrives byte for byte.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use gridline_core::protocol::{AttachmentStatus, PullRequest, PullResponse, PushRequest, PushResponse};
use gridline_core::sync::{Transport, TransportError, UPLOAD_CHUNK};
use gridline_core::sync::SyncOptions;
use gridline_core::sync::HttpTransport;
use gridline_core::{EntityKind, NewIncident};
use gridline_e2e::*;

/// Passes everything through, but the network dies after `chunks_ok` chunk uploads.
struct FlakyUploads<'a> {
    inner: &'a dyn Transport,
    chunks_ok: usize,
    sent: AtomicUsize,
    offsets: Mutex<Vec<u64>>,
}

impl Transport for FlakyUploads<'_> {
    fn push(&self, req: &PushRequest) -> Result<PushResponse, TransportError> {
        self.inner.push(req)
    }
    fn pull(&self, req: &PullRequest) -> Result<PullResponse, TransportError> {
        self.inner.pull(req)
    }
    fn attachment_status(&self, sha256: &str) -> Result<AttachmentStatus, TransportError> {
        self.inner.attachment_status(sha256)
    }
    fn upload_attachment(&self, sha256: &str, mime: &str, offset: u64, total: u64, chunk: &[u8]) -> Result<AttachmentStatus, TransportError> {
        if self.sent.fetch_add(1, Ordering::SeqCst) >= self.chunks_ok {
            return Err(TransportError::Network("connection reset".into()));
        }
        self.offsets.lock().unwrap().push(offset);
        self.inner.upload_attachment(sha256, mime, offset, total, chunk)
    }
}

fn jpeg(len: usize) -> Vec<u8> {
    let mut v = vec![0xff, 0xd8, 0xff, 0xe1];
    v.extend((0..len - 4).map(|i| (i % 251) as u8));
    v
}

#[test]
fn a_photo_follows_its_incident_and_resumes_after_a_broken_upload() {
    let city = start_city();
    let gw = city.device("gw1");
    gw.sync().expect("bootstrap");
    let photo = jpeg(2 * UPLOAD_CHUNK + 1000);
    let sha = gw.store.add_photo("image/jpeg", &photo).expect("photo kept");
    assert_eq!(gw.store.add_photo("image/jpeg", &photo).expect("again"), sha, "stored once by hash");
    let inc = gw
        .store
        .report_incident(NewIncident {
            category: "safety_hazard".into(),
            building_id: Some(city.b("B1A")),
            description: "电动车楼道充电".into(),
            photos: vec![sha.clone()],
            ..Default::default()
        })
        .expect("report");

    // First attempt: the op goes through, the upload breaks after one chunk.
    let flaky = FlakyUploads { inner: &gw.transport, chunks_ok: 1, sent: AtomicUsize::new(0), offsets: Mutex::new(Vec::new()) };
    let impatient = SyncOptions { max_attempts: 2, base_backoff: std::time::Duration::from_millis(1), ..opts() };
    assert!(gw.sync_via(&flaky, &impatient).is_err(), "the broken upload fails this sync");
    assert_eq!(gw.pending(), 0, "the incident did not wait for its photo");
    assert_eq!(gw.store.pending_photos().expect("pending"), vec![sha.clone()]);
    let sup = city.device("sup");
    sup.sync().expect("supervisor pulls");
    assert_eq!(sup.store.incident(&inc.id).expect("incident").photos, vec![sha.clone()]);
    assert_eq!(gw.transport.attachment_status(&sha).expect("status").received, UPLOAD_CHUNK as u64, "one chunk on the server");

    // Next sync resumes where the server's copy ends.
    let resumed = FlakyUploads { inner: &gw.transport, chunks_ok: usize::MAX, sent: AtomicUsize::new(0), offsets: Mutex::new(Vec::new()) };
    let r = gw.sync_via(&resumed, &opts()).expect("resumed sync");
    assert_eq!(r.photos_uploaded, 1);
    assert_eq!(*resumed.offsets.lock().unwrap(), vec![UPLOAD_CHUNK as u64, 2 * UPLOAD_CHUNK as u64], "no byte sent twice");
    assert!(gw.store.pending_photos().expect("pending").is_empty());
    assert!(gw.store.photo(&sha).expect("photo").expect("kept").uploaded);
    let on_server = city.server().state().service.attachment(&sha).expect("on the server");
    assert_eq!((on_server.mime.as_str(), on_server.data == photo), ("image/jpeg", true));

    // The supervisor's phone fetches it through the incident and keeps it; it never goes back up.
    assert!(sup.store.photo(&sha).expect("photo").is_none());
    let got = sup.store.fetch_photo(&sup.transport, EntityKind::Incident, &inc.id, &sha).expect("fetched");
    assert_eq!((got.mime.as_str(), got.data == photo, got.uploaded), ("image/jpeg", true, true));
    assert!(sup.store.pending_photos().expect("pending").is_empty());
    assert_eq!(sup.sync().expect("sync").photos_uploaded, 0);
    // Kept on the phone: a second look needs no network.
    let offline = HttpTransport::new("http://127.0.0.1:9").expect("transport");
    assert_eq!(sup.store.fetch_photo(&offline, EntityKind::Incident, &inc.id, &sha).expect("local").data, photo);
    // A record that does not refer to the photo is no way to it, on the phone or on the server.
    let other = sup.store.report_incident(NewIncident { category: "environment".into(), building_id: Some(city.b("B1A")), description: "垃圾堆放".into(), ..Default::default() }).expect("report");
    let err = sup.store.fetch_photo(&sup.transport, EntityKind::Incident, &other.id, &sha).unwrap_err();
    assert!(matches!(&err, gridline_core::Error::Invalid { field, .. } if field == "sha256"), "{err:?}");
    // The other grid's worker has no such incident, and the server will not hand the photo over.
    let gw2 = city.device("gw2");
    gw2.sync().expect("bootstrap");
    let err = gw2.store.fetch_photo(&gw2.transport, EntityKind::Incident, &inc.id, &sha).unwrap_err();
    assert!(matches!(err, gridline_core::Error::NotFound { .. }), "{err:?}");
    match gw2.transport.download_attachment(&sha, EntityKind::Incident, &inc.id) {
        Err(TransportError::Refused { status: 403, body }) => assert_eq!(body.code, "forbidden"),
        other => panic!("expected 403, got {other:?}"),
    }
}

/// Answers every download with the given bytes.
struct Serves(Vec<u8>);

impl Transport for Serves {
    fn push(&self, _: &PushRequest) -> Result<PushResponse, TransportError> {
        Err(TransportError::Network("offline".into()))
    }
    fn pull(&self, _: &PullRequest) -> Result<PullResponse, TransportError> {
        Err(TransportError::Network("offline".into()))
    }
    fn download_attachment(&self, _: &str, _: EntityKind, _: &str) -> Result<(String, Vec<u8>), TransportError> {
        Ok(("image/jpeg".into(), self.0.clone()))
    }
}

#[test]
fn a_fetched_photo_that_does_not_match_its_hash_is_not_kept() {
    let city = start_city();
    let gw = city.device("gw1");
    gw.sync().expect("bootstrap");
    let photo = jpeg(5_000);
    let sha = gridline_core::attachments::sha256_hex(&photo);
    let inc = gw
        .store
        .report_incident(NewIncident { category: "environment".into(), building_id: Some(city.b("B1A")), description: "垃圾堆放".into(), photos: vec![sha.clone()], ..Default::default() })
        .expect("report");
    let mut tampered = photo.clone();
    tampered[100] ^= 1;
    let err = gw.store.fetch_photo(&Serves(tampered), EntityKind::Incident, &inc.id, &sha).unwrap_err();
    assert!(matches!(err, gridline_core::Error::Transport(_)), "{err:?}");
    assert!(gw.store.photo(&sha).expect("photo").is_none(), "nothing kept");
    let ok = gw.store.fetch_photo(&Serves(photo.clone()), EntityKind::Incident, &inc.id, &sha).expect("the right bytes");
    assert!(ok.uploaded && gw.store.photo(&sha).expect("photo").is_some_and(|p| p.data == photo));
}
