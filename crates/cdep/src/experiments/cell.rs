//! One sweep cell (method, λ, seed) as the run folder keeps it, so that `--resume` skips
//! finished cells: its `runs.csv` row and what the figures and checks need, stored as
//! `cells/<key>.json` (heat maps beside it as `<key>.heat.safetensors`).
//!
//! JSON has no NaN or ∞, and the tables of a resumed sweep must equal an uninterrupted
//! one's bit for bit: floats are written as numbers (shortest round-trip form, parsed
//! back exactly with serde_json's `float_roundtrip`) or, when not finite, as the strings
//! `NaN`, `inf`, `-inf`, which is also what the CSV writer prints for them.

use super::report::RunRow;
use crate::train::Trained;
use crate::Result;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use tch::Tensor;
use xai_core::runner::Cells;

/// What a finished cell leaves for the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellOutcome {
    pub row: RunRow,
    /// Test accuracy after each epoch (empty where an experiment does not track it).
    pub epoch_test_acc: Vec<Num>,
    /// The training penalty of the first epoch (the last is `row.penalty_last_epoch`).
    pub penalty_first_epoch: Num,
}

impl CellOutcome {
    /// The outcome of a trained cell with its `runs.csv` row.
    pub fn new(row: RunRow, trained: &Trained) -> Self {
        Self {
            row,
            epoch_test_acc: trained.epochs.iter().filter_map(|e| e.metric("test_acc")).map(Num).collect(),
            penalty_first_epoch: Num(trained.epochs.first().map(|e| e.penalty).unwrap_or(f64::NAN)),
        }
    }
}

/// A finished cell with its heat maps (image experiments, first seed).
pub struct Finished {
    pub outcome: CellOutcome,
    /// Per-position CD share maps `[n, H, W]` of a few test inputs.
    pub heat: Option<Tensor>,
}

/// The key of a cell in `cells/` and in the logs.
pub fn key(method: &str, lambda: f64, seed: u64) -> String {
    format!("{method} λ={lambda} seed={seed}")
}

/// Where a cell's heat maps are kept.
pub fn heat_path(cells: &Cells, key: &str) -> PathBuf {
    cells.dir().join(format!("{}.heat.safetensors", Cells::file_stem(key)))
}

pub fn save_heat(cells: &Cells, key: &str, heat: &Tensor) -> Result<()> {
    xai_core::checkpoint::save_tensors(&[("heat", heat.shallow_clone())], &heat_path(cells, key))?;
    Ok(())
}

pub fn load_heat(cells: &Cells, key: &str) -> Result<Option<Tensor>> {
    let path = heat_path(cells, key);
    if !path.is_file() {
        return Ok(None);
    }
    Ok(xai_core::checkpoint::load_tensors(&path)?.into_iter().find(|(n, _)| n == "heat").map(|(_, t)| t))
}

/// Drops from `metrics.csv` the rows of cells that did not finish (an interrupted
/// attempt's partial epochs), so the rerun's rows are not there twice. Rows start with
/// `method,lambda,seed`.
pub fn prune_metrics(path: &Path, finished: &HashSet<String>) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else { return Ok(()) };
    let mut lines = text.lines();
    let Some(header) = lines.next() else { return Ok(()) };
    let mut kept = vec![header];
    let (mut dropped, mut total) = (0usize, 0usize);
    for line in lines {
        total += 1;
        let f: Vec<&str> = line.splitn(4, ',').collect();
        let cell =
            match (f.first(), f.get(1).and_then(|l| l.parse::<f64>().ok()), f.get(2).and_then(|s| s.parse().ok())) {
                (Some(m), Some(l), Some(s)) => Some(key(m, l, s)),
                _ => None,
            };
        if cell.is_some_and(|k| finished.contains(&k)) {
            kept.push(line);
        } else {
            dropped += 1;
        }
    }
    if dropped > 0 {
        log::info!("metrics.csv: dropped {dropped} of {total} rows of unfinished cells");
        let mut out = kept.join("\n");
        out.push('\n');
        xai_core::fsutil::atomic_write(path, out.as_bytes())?;
    }
    Ok(())
}

/// A float that survives JSON exactly, NaN and ±∞ included.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Num(pub f64);

fn non_finite(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "inf"
    } else {
        "-inf"
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumRepr {
    Number(f64),
    Text(String),
}

impl NumRepr {
    fn value<E: serde::de::Error>(self) -> std::result::Result<f64, E> {
        match self {
            NumRepr::Number(v) => Ok(v),
            NumRepr::Text(s) => match s.as_str() {
                "NaN" => Ok(f64::NAN),
                "inf" => Ok(f64::INFINITY),
                "-inf" => Ok(f64::NEG_INFINITY),
                other => Err(E::custom(format!("`{other}` is not a number"))),
            },
        }
    }
}

impl Serialize for Num {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        if self.0.is_finite() {
            s.serialize_f64(self.0)
        } else {
            s.serialize_str(non_finite(self.0))
        }
    }
}

impl<'de> Deserialize<'de> for Num {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        NumRepr::deserialize(d)?.value().map(Num)
    }
}

/// `#[serde(with = "float")]` for `f64` fields.
pub mod float {
    use super::Num;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        Num(*v).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(Num::deserialize(d)?.0)
    }
}

/// `#[serde(with = "opt_float")]` for `Option<f64>` fields.
pub mod opt_float {
    use super::Num;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_some(&Num(*v)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(Option::<Num>::deserialize(d)?.map(|n| n.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_survive_json_bit_for_bit() {
        let row = RunRow {
            method: "cdep".into(),
            lambda: 1000.0,
            train_acc: f64::NAN,
            val_loss: 0.1 + 0.2,
            test_acc: 1.0 / 3.0,
            test_share: Some(f64::NAN),
            test_blob_flip: Some(f64::NEG_INFINITY),
            flip_rate: Some(6.71e-20),
            auc_all: None,
            ..Default::default()
        };
        let back: RunRow = serde_json::from_str(&serde_json::to_string(&row).unwrap()).unwrap();
        let csv = |r: &RunRow| {
            let mut w = ::csv::Writer::from_writer(vec![]);
            w.serialize(r).unwrap();
            String::from_utf8(w.into_inner().unwrap()).unwrap()
        };
        assert_eq!(csv(&back), csv(&row));
        assert_eq!(back.val_loss.to_bits(), row.val_loss.to_bits());
        assert!(back.train_acc.is_nan() && back.test_share.is_some_and(f64::is_nan) && back.auc_all.is_none());
        assert!(csv(&row).contains(",NaN,") && csv(&row).contains(",-inf,"), "{}", csv(&row));
    }

    #[test]
    fn unfinished_cells_leave_metrics_csv() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("metrics.csv");
        let text = "method,lambda,seed,epoch,x\nvanilla,0.0,0,1,a\nvanilla,0.0,0,2,b\ncdep,1000.0,0,1,c\n";
        std::fs::write(&path, text).unwrap();
        let finished: HashSet<String> = [key("vanilla", 0.0, 0)].into_iter().collect();
        prune_metrics(&path, &finished).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "method,lambda,seed,epoch,x\nvanilla,0.0,0,1,a\nvanilla,0.0,0,2,b\n"
        );
    }
}
