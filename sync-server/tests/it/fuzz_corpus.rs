//! The fuzz targets' harnesses on the stable toolchain: every committed seed of `fuzz/corpus/`,
//! then a bounded, seeded mutation of them (cargo-fuzz itself needs nightly; see
//! docs/hostile-input.md). A failing input is printed with the seed that made it.

use std::path::{Path, PathBuf};

use gridline_server::fuzzing::{protocol_decode, PushHarness};

/// Mutated inputs per target and run.
const DECODE_MUTATIONS: usize = 3000;
const PUSH_MUTATIONS: usize = 500;
/// Fixed, so a failure replays; printed on failure.
const SEED: u64 = 0x6772_6964_6c69_6e65;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .map(|p| {
            let data = std::fs::read(&p).expect("read seed");
            (p, data)
        })
        .collect();
    out.sort();
    assert!(out.len() >= 10, "{}: the seed corpus is missing", dir.display());
    out
}

/// xorshift64*: a tiny deterministic generator (no dependency, same sequence everywhere).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Tokens that tend to break JSON decoders and the rules behind them.
const TOKENS: &[&[u8]] = &[
    b"\"", b"{", b"}", b"[", b"]", b",", b":", b"null", b"-", b"1e400", b"18446744073709551616", b"-9223372036854775808",
    b"\\u0000", b"\\ud800", b"\xff", b"\"spaceship\"", b"\"event\"", b"\"delete\"", b"\"status\"", b"'; DROP TABLE users; --",
    b"\"op_id\"", b"\"fields\"", b"\"protocol\":2", b"13800138000",
];

/// One mutation of `data` (sometimes spliced with `other`).
fn mutate(rng: &mut Rng, data: &[u8], other: &[u8]) -> Vec<u8> {
    let mut d = data.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(d.len() + 1);
        match rng.below(6) {
            0 if !d.is_empty() => {
                let i = rng.below(d.len());
                d[i] ^= 1 << rng.below(8);
            }
            1 => d.insert(at, rng.next() as u8),
            2 if !d.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(d.len());
                d.drain(at.min(end)..end);
            }
            3 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                d.splice(at..at, t.iter().copied());
            }
            4 if !other.is_empty() => {
                let from = rng.below(other.len());
                let end = (from + 1 + rng.below(64)).min(other.len());
                d.splice(at..at, other[from..end].iter().copied());
            }
            _ => d.truncate(at),
        }
    }
    d
}

fn run_all(target: &str, n: usize, mut f: impl FnMut(&[u8])) {
    let seeds = corpus(target);
    for (path, data) in &seeds {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(data)));
        assert!(r.is_ok(), "{target}: seed {} broke an invariant", path.display());
    }
    let mut rng = Rng(SEED);
    for i in 0..n {
        let a = &seeds[rng.below(seeds.len())].1;
        let b = &seeds[rng.below(seeds.len())].1;
        let input = mutate(&mut rng, a, b);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&input)));
        assert!(r.is_ok(), "{target}: mutation {i} of seed {SEED:#x} broke an invariant; input (hex): {}", hex(&input));
    }
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn protocol_decode_corpus_and_mutations() {
    run_all("protocol_decode", DECODE_MUTATIONS, protocol_decode);
}

#[test]
fn push_handler_corpus_and_mutations() {
    let dir = tempfile::tempdir().expect("temp dir");
    let h = PushHarness::new(dir.path());
    run_all("push_handler", PUSH_MUTATIONS, |d| h.push(d));
}

#[test]
fn the_harness_notices_a_broken_invariant() {
    // A refusal that echoed a phone number would be reported: the check is live.
    let r = std::panic::catch_unwind(|| {
        let e = gridline_server::AppError::bad_json("value 13800138000 is wrong");
        assert!(e.message.contains("13800138000"));
        gridline_server::fuzzing::check_refusal(&e, b"13800138000");
    });
    assert!(r.is_err());
}
