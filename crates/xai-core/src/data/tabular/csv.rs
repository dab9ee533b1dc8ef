//! Reading CSV tables with errors that name the file, line and column.

use super::super::data_err;
use crate::Result;
use std::path::{Path, PathBuf};

/// A CSV file held as strings, with the line number of every row.
#[derive(Debug, Clone)]
pub struct RawTable {
    pub path: PathBuf,
    pub dataset: String,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub lines: Vec<u64>,
}

/// Reads `path` (one header row) with `delimiter`; ragged rows are errors.
pub fn read(dataset: &str, path: &Path, delimiter: u8) -> Result<RawTable> {
    let bytes = super::super::read_file(dataset, path)?;
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(data_err(dataset, path, "empty file"));
    }
    let mut r = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(true).from_reader(&bytes[..]);
    let headers: Vec<String> = r
        .headers()
        .map_err(|e| data_err(dataset, path, format!("line 1: {e}")))?
        .iter()
        .map(|h| h.trim().to_string())
        .collect();
    let mut rows = Vec::new();
    let mut lines = Vec::new();
    for rec in r.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            data_err(dataset, path, format!("line {line}: {e}"))
        })?;
        lines.push(rec.position().map(|p| p.line()).unwrap_or(0));
        rows.push(rec.iter().map(str::to_string).collect());
    }
    if rows.is_empty() {
        return Err(data_err(dataset, path, "no data rows after the header"));
    }
    Ok(RawTable { path: path.into(), dataset: dataset.into(), headers, rows, lines })
}

impl RawTable {
    /// Index of a column, or an error listing what the header has.
    pub fn col(&self, name: &str) -> Result<usize> {
        self.headers.iter().position(|h| h == name).ok_or_else(|| {
            data_err(
                &self.dataset,
                &self.path,
                format!("missing column `{name}` (header: {})", self.headers.join(", ")),
            )
        })
    }

    /// Cell `(row, col)` parsed as a float (`5e+05` included); errors name line and column.
    pub fn float(&self, row: usize, col: usize) -> Result<f64> {
        let s = self.rows[row][col].trim();
        s.parse::<f64>().map_err(|_| {
            data_err(
                &self.dataset,
                &self.path,
                format!("line {}, column `{}`: `{s}` is not a number", self.lines[row], self.headers[col]),
            )
        })
    }

    /// A whole column as floats.
    pub fn floats(&self, name: &str) -> Result<Vec<f64>> {
        let c = self.col(name)?;
        (0..self.rows.len()).map(|r| self.float(r, c)).collect()
    }

    /// A whole column as strings.
    pub fn strings(&self, name: &str) -> Result<Vec<&str>> {
        let c = self.col(name)?;
        Ok(self.rows.iter().map(|r| r[c].as_str()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_line_a_text_editor_shows() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.csv");
        std::fs::write(&p, "a,b\n1,2\n3,4\n5\n").unwrap();
        let e = read("t", &p, b',').unwrap_err().to_string();
        assert!(e.contains("line 4:"), "{e}");
        std::fs::write(&p, "a,b\n1,2\n3,4\n").unwrap();
        assert_eq!(read("t", &p, b',').unwrap().lines, vec![2, 3]);
    }
}
