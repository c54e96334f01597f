//! zstd for request and response bodies, shared by the client's transport and the server.
//!
//! Each thread keeps one compression and one decompression context and reuses them, instead of
//! allocating and setting up a context and its match tables for every body.
//! Level 1: a push of household field edits came out smaller than at level 3 (39.5 bytes an
//! edit, request and response, against 46.0), and a first pull of 100,000 households took less
//! time (README, benchmarks).

use std::cell::RefCell;
use std::io::{self, Read};

use zstd::bulk::{Compressor, Decompressor};

/// The compression level of every body this project sends.
pub const LEVEL: i32 = 1;

/// Why a body could not be decompressed.
#[derive(Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// It decompresses (or says it decompresses) to more than the limit.
    TooLarge,
    /// It is not a valid zstd stream.
    Corrupt,
}

thread_local! {
    static COMPRESSOR: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static DECOMPRESSOR: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

/// Compresses `data` as one zstd frame that records its size.
pub fn compress(data: &[u8]) -> io::Result<Vec<u8>> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = Some(Compressor::new(LEVEL)?);
        }
        c.as_mut().expect("made above").compress(data)
    })
}

/// Decompresses a body of at most `limit` bytes. Frames that record their size (every frame
/// [`compress`] makes) are decompressed in one call into a buffer of that size; others are read
/// as a stream and stopped past the limit.
pub fn decompress(raw: &[u8], limit: usize) -> Result<Vec<u8>, DecodeError> {
    let Some(size) = Decompressor::upper_bound(raw) else {
        return read_bounded(zstd::stream::read::Decoder::new(raw).map_err(|_| DecodeError::Corrupt)?, limit);
    };
    if size > limit {
        return Err(DecodeError::TooLarge);
    }
    DECOMPRESSOR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = Some(Decompressor::new().map_err(|_| DecodeError::Corrupt)?);
        }
        // Into exactly the recorded size: a frame that makes more than it recorded is refused
        // like any corrupt one.
        let mut out = Vec::with_capacity(size);
        d.as_mut().expect("made above").decompress_to_buffer(raw, &mut out).map_err(|_| DecodeError::Corrupt)?;
        Ok(out)
    })
}

/// Reads a decompressing reader (any coding) to its end, refusing more than `limit` bytes.
pub fn read_bounded(reader: impl Read, limit: usize) -> Result<Vec<u8>, DecodeError> {
    let mut out = Vec::new();
    reader.take(limit as u64 + 1).read_to_end(&mut out).map_err(|_| DecodeError::Corrupt)?;
    if out.len() > limit {
        return Err(DecodeError::TooLarge);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(n: usize) -> Vec<u8> {
        let unit = br#"{"op":"households","name":"x"}"#;
        (0..n).map(|i| unit[i % unit.len()]).collect()
    }

    #[test]
    fn a_body_comes_back_as_it_went_many_times_on_one_thread() {
        for n in [0, 1, 1000, 300_000, 10] {
            let b = body(n);
            let z = compress(&b).unwrap();
            assert_eq!(decompress(&z, n).unwrap(), b);
        }
    }

    #[test]
    fn a_body_over_the_limit_is_too_large_whether_or_not_it_records_its_size() {
        let b = body(10_000);
        assert_eq!(decompress(&compress(&b).unwrap(), 9_999), Err(DecodeError::TooLarge));
        // A streamed frame records no size: it is read up to the limit and stopped there.
        let mut enc = zstd::stream::write::Encoder::new(Vec::new(), LEVEL).unwrap();
        std::io::Write::write_all(&mut enc, &b).unwrap();
        let streamed = enc.finish().unwrap();
        assert_eq!(Decompressor::upper_bound(&streamed), None);
        assert_eq!(decompress(&streamed, 9_999), Err(DecodeError::TooLarge));
        assert_eq!(decompress(&streamed, 10_000).unwrap(), b);
    }

    #[test]
    fn garbage_and_a_cut_off_frame_are_corrupt() {
        assert_eq!(decompress(b"not zstd at all", 100), Err(DecodeError::Corrupt));
        let z = compress(&body(5_000)).unwrap();
        assert_eq!(decompress(&z[..z.len() - 3], 5_000), Err(DecodeError::Corrupt));
    }
}
