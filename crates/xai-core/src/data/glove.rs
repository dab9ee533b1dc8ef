//! GloVe word vectors (Pennington et al. 2014) in their text format: one word per line
//! followed by its `dim` numbers, e.g. `datasets/glove/glove.6B.300d.txt`.

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

/// The file of the 6B release for a dimension (50, 100, 200 or 300).
pub fn path_6b(root: &Path, dim: usize) -> PathBuf {
    root.join("glove").join(format!("glove.6B.{dim}d.txt"))
}

/// Reads the vectors of `vocab` (lower-cased lookup, as the 6B release is lower-case)
/// from `path`, checking every used line has `dim` numbers.
pub fn read(path: &Path, dim: usize, vocab: &[String]) -> Result<GloveVectors> {
    let hint = "run `scripts/fetch-data glove --trust-unverified` (822 MB), or use random embeddings";
    let file = std::fs::File::open(path).map_err(|e| Error::data(path, format!("cannot open: {e}")).with_hint(hint))?;
    let mut index: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, w) in vocab.iter().enumerate() {
        index.entry(w.to_lowercase()).or_default().push(i);
    }
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
}
