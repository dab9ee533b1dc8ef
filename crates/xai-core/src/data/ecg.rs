//! ECG5000 in its three published text forms: UCR 2018 `.tsv` and timeseriesclassification.com
//! `.txt` (label first, whitespace-separated) and `.arff` (label last, comma-separated).

use super::{data_err, read_file};
use crate::Result;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// One split: `x` `[N, T]` f32 as stored (already z-normalised per series), `y` `[N]` i64
/// class ids as stored (1–5; class 1 = normal).
#[derive(Debug)]
pub struct Series {
    pub x: Tensor,
    pub y: Tensor,
}

/// Both ECG5000 files.
#[derive(Debug)]
pub struct Ecg5000 {
    pub train: Series,
    pub test: Series,
}

/// Parses rows of numbers; `label_first` says where the class sits. Every row must have the
/// same length; errors name the line.
fn parse_rows<'a>(
    path: &Path,
    lines: impl Iterator<Item = (usize, &'a str)>,
    sep: &dyn Fn(&'a str) -> Vec<&'a str>,
    label_first: bool,
) -> Result<Series> {
    let mut xs: Vec<f32> = Vec::new();
    let mut ys: Vec<i64> = Vec::new();
    let mut width = None;
    for (lineno, line) in lines {
        let fields = sep(line);
        if fields.is_empty() {
            continue;
        }
        if fields.len() < 2 {
            return Err(data_err(
                "ecg5000",
                path,
                format!("line {lineno}: {} field(s), expected a label and values", fields.len()),
            ));
        }
        if *width.get_or_insert(fields.len()) != fields.len() {
            return Err(data_err(
                "ecg5000",
                path,
                format!("line {lineno}: {} fields, earlier lines have {}", fields.len(), width.unwrap_or(0)),
            ));
        }
        let num = |i: usize| -> Result<f64> {
            fields[i].trim().parse::<f64>().map_err(|_| {
                data_err("ecg5000", path, format!("line {lineno}, field {}: `{}` is not a number", i + 1, fields[i]))
            })
        };
        let (li, range) = if label_first { (0, 1..fields.len()) } else { (fields.len() - 1, 0..fields.len() - 1) };
        let label = num(li)?;
        if label.fract() != 0.0 || !(0.0..1000.0).contains(&label) {
            return Err(data_err("ecg5000", path, format!("line {lineno}: label `{}` is not a class id", fields[li])));
        }
        ys.push(label as i64);
        for i in range {
            xs.push(num(i)? as f32);
        }
    }
    let Some(w) = width else {
        return Err(data_err("ecg5000", path, "empty file (no data rows)"));
    };
    let n = ys.len() as i64;
    Ok(Series { x: Tensor::from_slice(&xs).view([n, (w - 1) as i64]), y: Tensor::from_slice(&ys) })
}

/// Parses the `.tsv` / `.txt` form (label first, any whitespace between fields).
pub fn parse_text(path: &Path, text: &str) -> Result<Series> {
    parse_rows(path, text.lines().enumerate().map(|(i, l)| (i + 1, l)), &|l| l.split_whitespace().collect(), true)
}

/// Parses the `.arff` form: header lines up to `@data`, then comma-separated rows with the
/// class last. `%` comments and blank lines are skipped.
pub fn parse_arff(path: &Path, text: &str) -> Result<Series> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let mut found = false;
    for (_, l) in lines.by_ref() {
        if l.trim().to_ascii_lowercase().starts_with("@data") {
            found = true;
            break;
        }
    }
    if !found {
        return Err(data_err("ecg5000", path, "no @data line (not an ARFF file?)"));
    }
    let rows = lines.filter(|(_, l)| !l.trim_start().starts_with('%'));
    parse_rows(path, rows, &|l| if l.trim().is_empty() { Vec::new() } else { l.split(',').collect() }, false)
}

/// Reads one file, choosing the parser by extension.
pub fn read(path: &Path) -> Result<Series> {
    let bytes = read_file("ecg5000", path)?;
    let text = String::from_utf8_lossy(&bytes);
    match path.extension().and_then(|e| e.to_str()) {
        Some("arff") => parse_arff(path, &text),
        _ => parse_text(path, &text),
    }
}

fn locate(dir: &Path, split: &str) -> PathBuf {
    ["tsv", "txt", "arff"]
        .iter()
        .map(|ext| dir.join(format!("ECG5000_{split}.{ext}")))
        .find(|p| p.is_file())
        .unwrap_or_else(|| dir.join(format!("ECG5000_{split}.tsv")))
}

/// Loads `root/ecg5000/ECG5000_{TRAIN,TEST}.{tsv,txt,arff}` (first form found).
pub fn load(root: &Path) -> Result<Ecg5000> {
    let dir = root.join("ecg5000");
    Ok(Ecg5000 { train: read(&locate(&dir, "TRAIN"))?, test: read(&locate(&dir, "TEST"))? })
}

impl Series {
    /// Labels as used by Label-Free XAI's example experiments: 0 = normal (class 1),
    /// 1 = any abnormal class.
    pub fn binary_labels(&self) -> Tensor {
        self.y.ne(1).to_kind(Kind::Int64)
    }
}
