//! The IDX format of MNIST: a big-endian header (magic `0x0000_08_NN`, where `0x08` is
//! unsigned bytes and `NN` the number of dimensions), the dimensions as u32, then the data.

use crate::{Error, Result};
use std::io::Read;
use std::path::Path;

/// A parsed IDX file of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idx {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Decompresses when the bytes start with the gzip magic, else returns them as they are.
/// A truncated or corrupt stream is an error naming `path` and the byte offset reached.
pub fn maybe_gunzip(path: &Path, bytes: Vec<u8>) -> Result<Vec<u8>> {
    if bytes.len() < 2 || bytes[0] != 0x1f || bytes[1] != 0x8b {
        return Ok(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len() * 4);
    // MultiGzDecoder: `gzip -c a b > c` streams are valid too.
    let mut dec = flate2::read::MultiGzDecoder::new(&bytes[..]);
    if let Err(e) = dec.read_to_end(&mut out) {
        return Err(Error::data(
            path,
            format!("corrupt or truncated gzip stream after {} decompressed bytes: {e}", out.len()),
        ));
    }
    Ok(out)
}

/// Parses IDX bytes, checking the magic, the dimension count `expect_ndim` and that the
/// length equals the product of the dimensions.
pub fn parse(path: &Path, bytes: &[u8], expect_ndim: usize) -> Result<Idx> {
    let err = |offset: usize, msg: String| Error::data(path, format!("at byte {offset}: {msg}"));
    if bytes.is_empty() {
        return Err(Error::data(path, "empty file"));
    }
    if bytes.len() < 4 {
        return Err(err(0, format!("file has {} bytes, too short for an IDX header", bytes.len())));
    }
    let magic = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let expected = 0x0800 | expect_ndim as u32;
    if magic != expected {
        return Err(err(
            0,
            format!("IDX magic {magic} (0x{magic:08x}), expected {expected} (ubyte, {expect_ndim} dims)"),
        ));
    }
    let header = 4 + 4 * expect_ndim;
    if bytes.len() < header {
        return Err(err(4, format!("header truncated: file has {} bytes, header needs {header}", bytes.len())));
    }
    let dims: Vec<usize> = (0..expect_ndim)
        .map(|i| {
            let o = 4 + 4 * i;
            u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]) as usize
        })
        .collect();
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| err(4, format!("dimensions {dims:?} overflow")))?;
    let have = bytes.len() - header;
    if have != n {
        return Err(err(header, format!("dimensions {dims:?} need {n} data bytes, file has {have}")));
    }
    Ok(Idx { dims, data: bytes[header..].to_vec() })
}

/// Encodes an IDX ubyte file (used to write small test files).
pub fn encode(dims: &[usize], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * dims.len() + data.len());
    out.extend_from_slice(&(0x0800u32 | dims.len() as u32).to_be_bytes());
    for &d in dims {
        out.extend_from_slice(&(d as u32).to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_errors() {
        let p = Path::new("x.idx");
        let bytes = encode(&[2, 3], &[1, 2, 3, 4, 5, 6]);
        let idx = parse(p, &bytes, 2).unwrap();
        assert_eq!(idx.dims, vec![2, 3]);
        assert_eq!(idx.data, vec![1, 2, 3, 4, 5, 6]);
        let e = parse(p, &bytes, 3).unwrap_err().to_string();
        assert!(e.contains("x.idx") && e.contains("magic") && e.contains("byte 0"), "{e}");
        let e = parse(p, &bytes[..bytes.len() - 1], 2).unwrap_err().to_string();
        assert!(e.contains("need 6 data bytes, file has 5"), "{e}");
        assert!(parse(p, &[], 1).unwrap_err().to_string().contains("empty file"));
    }
}
