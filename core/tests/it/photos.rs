//! Photos kept on the device by hash: accepted types, signatures and sizes; stored once.

use gridline_core::attachments::sha256_hex;

use crate::support::*;

#[test]
fn a_photo_is_kept_once_by_its_hash_and_waits_for_upload() {
    let fx = fx();
    let ops_before = fx.pending().len();
    let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &[7u8; 100]].concat();
    let sha = fx.store.add_photo("image/png", &png).unwrap();
    assert_eq!(sha, sha256_hex(&png));
    assert_eq!(fx.store.add_photo("image/png", &png).unwrap(), sha);
    assert_eq!(fx.store.pending_photos().unwrap(), vec![sha.clone()]);
    let p = fx.store.photo(&sha).unwrap().expect("kept");
    assert_eq!((p.mime.as_str(), p.data == png, p.uploaded), ("image/png", true, false));
    assert!(fx.store.photo(&"0".repeat(64)).unwrap().is_none());
    // Keeping a photo is not a synced mutation.
    assert_eq!(fx.pending().len(), ops_before);
}

#[test]
fn bad_photos_are_refused_by_field() {
    let fx = fx();
    let jpeg = [0xff, 0xd8, 0xff, 0xe0, 1, 2, 3];
    let webp = [b"RIFF\x10\0\0\0WEBP".as_slice(), b"VP8 "].concat();
    assert!(fx.store.add_photo("image/webp", &webp).is_ok());
    assert_invalid(fx.store.add_photo("image/gif", &jpeg), "mime", "");
    assert_invalid(fx.store.add_photo("image/png", &jpeg), "data", "");
    assert_invalid(fx.store.add_photo("image/jpeg", &[]), "data", "");
    let huge = [jpeg.as_slice(), &vec![0u8; 10 << 20]].concat();
    assert_invalid(fx.store.add_photo("image/jpeg", &huge), "data", "");
    assert_eq!(fx.store.pending_photos().unwrap().len(), 1, "only the good one kept");
}

#[test]
fn a_photo_removed_before_it_is_used_is_forgotten_but_one_in_use_is_kept() {
    let fx = fx();
    let png = |n: u8| [b"\x89PNG\r\n\x1a\n".as_slice(), &[n; 64]].concat();
    let (wrong, right) = (fx.store.add_photo("image/png", &png(1)).unwrap(), fx.store.add_photo("image/png", &png(2)).unwrap());
    // The worker removed the first photo from the report before saving it.
    assert!(fx.store.discard_photo(&wrong).unwrap());
    assert!(fx.store.photo(&wrong).unwrap().is_none());
    assert!(!fx.store.discard_photo(&wrong).unwrap(), "already gone");
    // The second went into a report: it stays, and is still waiting for upload.
    let report = gridline_core::NewIncident { photos: vec![right.clone()], ..crate::incidents::new_incident(GRID1, "safety_hazard") };
    let incident = fx.store.report_incident(report).unwrap();
    assert!(!fx.store.discard_photo(&right).unwrap());
    assert_eq!(fx.store.pending_photos().unwrap(), vec![right.clone()]);
    assert_eq!(fx.store.incident(&incident.id).unwrap().photos, vec![right]);
    assert_invalid(fx.store.discard_photo("not-a-hash"), "sha256", "");
}
