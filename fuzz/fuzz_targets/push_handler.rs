//! The push handler: a request through the axum app in-process, against a temp storage.
#![no_main]

use std::sync::OnceLock;

use gridline_server::fuzzing::PushHarness;
use libfuzzer_sys::fuzz_target;

static HARNESS: OnceLock<PushHarness> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let h = HARNESS.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("gridline-fuzz-push-{}", std::process::id()));
        PushHarness::new(&dir)
    });
    h.push(data);
});
