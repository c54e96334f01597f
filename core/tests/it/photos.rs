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
