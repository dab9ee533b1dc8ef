//! `.npy` / `.npz` reading that picks only the named arrays and copies bytes straight into
//! the tensor's memory (dSprites' `imgs` is 3 GB as u8; a second copy would double that).
//! tch's `read_npz` reads every member (dSprites' pickled `metadata` makes it fail) and
//! holds the bytes twice, hence this reader.

use crate::{Error, Result};
use std::io::Read;
use std::path::Path;
use tch::{Kind, Tensor};

const MAGIC: &[u8] = b"\x93NUMPY";

/// A parsed `.npy` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub kind: Kind,
    pub shape: Vec<i64>,
    /// Column-major data (numpy's `fortran_order`): stored as the reversed shape.
    pub fortran_order: bool,
    /// Bytes before the data: magic, version, length and the header text.
    pub data_offset: usize,
}

impl Header {
    /// The shape the bytes are laid out in (row-major).
    fn storage_shape(&self) -> Vec<i64> {
        if self.fortran_order {
            self.shape.iter().rev().copied().collect()
        } else {
            self.shape.clone()
        }
    }

    /// The array with its logical shape: a Fortran-ordered array becomes a transposed
    /// view of its storage (no copy; `.contiguous()` when row-major memory is needed).
    fn view(&self, storage: Tensor) -> Tensor {
        if self.fortran_order {
            let dims: Vec<i64> = (0..self.shape.len() as i64).rev().collect();
            storage.permute(dims.as_slice())
        } else {
            storage
        }
    }
}

fn kind_of(descr: &str) -> Option<Kind> {
    Some(match descr.trim_start_matches(['<', '|', '=']) {
        "u1" | "B" => Kind::Uint8,
        "i1" | "b" => Kind::Int8,
        "b1" | "?" => Kind::Bool,
        "i2" => Kind::Int16,
        "i4" => Kind::Int,
        "i8" => Kind::Int64,
        "f2" => Kind::Half,
        "f4" => Kind::Float,
        "f8" => Kind::Double,
        _ => return None,
    })
}

/// Parses the header at the start of `bytes` (at least the first 10 bytes + header text).
/// `what` names the file (and member) in errors.
pub fn parse_header(what: &Path, bytes: &[u8]) -> Result<Header> {
    let err = |off: usize, m: String| Error::data(what, format!("at byte {off}: {m}"));
    if bytes.is_empty() {
        return Err(Error::data(what, "empty .npy data"));
    }
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(err(0, "not a .npy array (bad magic)".into()));
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(err(6, format!("unsupported .npy version {v}"))),
    };
    let end = start
        .checked_add(len)
        .filter(|&e| e <= bytes.len())
        .ok_or_else(|| err(start, format!("header of {len} bytes is truncated")))?;
    let text = std::str::from_utf8(&bytes[start..end]).map_err(|_| err(start, "header is not text".into()))?;
    let field = |key: &str| -> Option<&str> {
        let i = text.find(&format!("'{key}'"))?;
        let rest = text[i + key.len() + 2..].trim_start().strip_prefix(':')?.trim_start();
        Some(rest)
    };
    let descr = field("descr")
        .and_then(|r| r.strip_prefix('\''))
        .and_then(|r| r.split('\'').next())
        .ok_or_else(|| err(start, "no 'descr' in header".into()))?;
    if descr.starts_with('>') {
        return Err(err(start, format!("big-endian dtype {descr} is not supported")));
    }
    let kind = kind_of(descr)
        .ok_or_else(|| err(start, format!("unsupported dtype {descr} (object arrays need Python's pickle)")))?;
    let fortran = field("fortran_order").ok_or_else(|| err(start, "no 'fortran_order' in header".into()))?;
    let fortran_order = match fortran {
        f if f.starts_with("True") => true,
        f if f.starts_with("False") => false,
        _ => return Err(err(start, "'fortran_order' is neither True nor False".into())),
    };
    let shape_txt = field("shape")
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.split(')').next())
        .ok_or_else(|| err(start, "no 'shape' in header".into()))?;
    let shape = shape_txt
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse::<i64>().ok().filter(|&d| d >= 0))
        .collect::<Option<Vec<i64>>>()
        .ok_or_else(|| err(start, format!("bad shape ({shape_txt})")))?;
    Ok(Header { kind, shape, fortran_order, data_offset: end })
}

fn numel(what: &Path, shape: &[i64]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d as usize))
        .filter(|&n| n < (1usize << 40))
        .ok_or_else(|| Error::data(what, format!("shape {shape:?} is too large")))
}

/// Reads one array from `reader` (positioned at the start of a `.npy` stream of `limit`
/// bytes) into a new CPU tensor, reading the data bytes directly into the tensor's storage.
pub fn read_array(what: &Path, mut reader: impl Read, limit: u64) -> Result<Tensor> {
    let mut head = vec![0u8; 12];
    read_exact(what, &mut reader, &mut head[..10], 0)?;
    let extra = if head[6] >= 2 { 2 } else { 0 };
    read_exact(what, &mut reader, &mut head[10..10 + extra], 10)?;
    head.truncate(10 + extra);
    let len = if extra == 2 {
        u32::from_le_bytes([head[8], head[9], head[10], head[11]]) as usize
    } else {
        u16::from_le_bytes([head[8], head[9]]) as usize
    };
    if &head[..6] != MAGIC {
        return Err(Error::data(what, "at byte 0: not a .npy array (bad magic)"));
    }
    if len > 1 << 20 {
        return Err(Error::data(what, format!("at byte {}: header length {len} is implausible", head.len())));
    }
    let start = head.len();
    head.resize(start + len, 0);
    read_exact(what, &mut reader, &mut head[start..], start)?;
    let h = parse_header(what, &head)?;
    let n = numel(what, &h.shape)?;
    let nbytes = n * h.kind.elt_size_in_bytes();
    // Refuse sizes the stream cannot hold before allocating (fuzzed headers claim terabytes).
    if (h.data_offset + nbytes) as u64 > limit {
        return Err(Error::data(
            what,
            format!(
                "at byte {}: shape {:?} needs {nbytes} data bytes, the array holds {}",
                h.data_offset,
                h.shape,
                limit.saturating_sub(h.data_offset as u64)
            ),
        ));
    }
    let t = Tensor::f_empty(h.storage_shape().as_slice(), (h.kind, tch::Device::Cpu))?;
    if nbytes > 0 {
        // SAFETY: `t` is a freshly allocated, contiguous CPU tensor of exactly `nbytes`
        // bytes that nothing else references; we fill it before anyone reads it.
        let buf = unsafe { std::slice::from_raw_parts_mut(t.data_ptr() as *mut u8, nbytes) };
        read_exact(what, &mut reader, buf, h.data_offset)?;
    }
    Ok(h.view(t))
}

/// Reads a `.npy` file (either memory order; see [`read_array`]).
pub fn read_npy(path: &Path) -> Result<Tensor> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let limit = f.metadata().map_err(|e| Error::io(path, e))?.len();
    read_array(path, std::io::BufReader::new(f), limit)
}

fn read_exact(what: &Path, r: &mut impl Read, buf: &mut [u8], offset: usize) -> Result<()> {
    r.read_exact(buf)
        .map_err(|e| Error::data(what, format!("truncated at byte {offset} (needed {} more bytes): {e}", buf.len())))
}

/// Reads `.npy` bytes already in memory (used by tests and fuzzing).
pub fn read_npy_bytes(what: &Path, bytes: &[u8]) -> Result<Tensor> {
    let h = parse_header(what, bytes)?;
    let n = numel(what, &h.shape)?;
    let nbytes = n * h.kind.elt_size_in_bytes();
    if bytes.len() - h.data_offset != nbytes {
        return Err(Error::data(
            what,
            format!(
                "at byte {}: shape {:?} needs {nbytes} data bytes, found {}",
                h.data_offset,
                h.shape,
                bytes.len() - h.data_offset
            ),
        ));
    }
    Ok(h.view(Tensor::f_from_data_size(&bytes[h.data_offset..], &h.storage_shape(), h.kind)?))
}

/// Reads the named members (without `.npy`) of an `.npz` file, in the order asked.
/// Stored and deflated members both work; members not asked for are never read.
pub fn read_npz(path: &Path, names: &[&str]) -> Result<Vec<Tensor>> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut zip = zip::ZipArchive::new(std::io::BufReader::new(f))
        .map_err(|e| Error::data(path, format!("not a valid .npz (zip) file: {e}")))?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let member = format!("{name}.npy");
        let what = path.join(&member);
        let have: Vec<String> = zip.file_names().map(|s| s.to_string()).collect();
        let entry = zip
            .by_name(&member)
            .map_err(|_| Error::data(path, format!("no member `{member}` (members: {})", have.join(", "))))?;
        let limit = entry.size();
        out.push(read_array(&what, std::io::BufReader::new(entry), limit)?);
    }
    Ok(out)
}

/// Writes named arrays as an uncompressed `.npz` (numpy reads it), atomically.
pub fn write_npz(path: &Path, arrays: &[(&str, &Tensor)]) -> Result<()> {
    crate::fsutil::atomic_write_with(path, |tmp| Ok(Tensor::write_npz(arrays, tmp)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npz_round_trip_selective() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.npz");
        let a = Tensor::arange(12, (Kind::Uint8, tch::Device::Cpu)).view([3, 4]);
        let b = Tensor::from_slice(&[1.5f64, -2.0]);
        write_npz(&p, &[("a", &a), ("b", &b)]).unwrap();
        let got = read_npz(&p, &["b", "a"]).unwrap();
        assert!(got[0].equal(&b) && got[1].equal(&a));
        let e = read_npz(&p, &["c"]).unwrap_err().to_string();
        assert!(e.contains("no member `c.npy`"), "{e}");
    }

    /// numpy's `np.asfortranarray(np.arange(6, dtype='<f4').reshape(2, 3))` saved with
    /// `np.save`: the bytes run down the columns.
    #[test]
    fn fortran_order_gives_the_logical_array() {
        let header = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }";
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&[1, 0]);
        let pad = 64 - (10 + header.len() + 1) % 64;
        let text = format!("{header}{}\n", " ".repeat(pad));
        bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
        bytes.extend_from_slice(text.as_bytes());
        for v in [0f32, 3., 1., 4., 2., 5.] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        let want = Tensor::arange(6, (Kind::Float, tch::Device::Cpu)).view([2, 3]);
        let from_bytes = read_npy_bytes(Path::new("f.npy"), &bytes).unwrap();
        assert!(from_bytes.equal(&want), "{from_bytes}");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.npy");
        std::fs::write(&p, &bytes).unwrap();
        assert!(read_npy(&p).unwrap().equal(&want));
    }

    #[test]
    fn header_errors_name_offset() {
        let e = parse_header(Path::new("f.npy"), b"\x93NUMPY\x01\x00\x05\x00{'de").unwrap_err().to_string();
        assert!(e.contains("f.npy") && e.contains("byte 10"), "{e}");
    }
}
