//! Protocol decoding: push, pull and enroll bodies, plain and compressed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    gridline_server::fuzzing::protocol_decode(data);
});
