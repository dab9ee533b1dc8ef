//! Per-step and per-epoch CSV logs that survive a resume: rows are appended and flushed as
//! they come, and on resume rows written after the checkpoint are dropped first.
//! The per-step log is the run folder's `metrics.csv` (the name every crate uses); the
//! per-epoch validation log `epochs.csv` is a detail file beside it.

use crate::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;
use xai_core::Error;

/// The per-step log of a cell folder.
pub const STEPS_LOG: &str = "metrics.csv";
/// The per-epoch validation log of a cell folder.
pub const EPOCHS_LOG: &str = "epochs.csv";

/// One training step (`metrics.csv`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepRow {
    pub step: u64,
    pub epoch: usize,
    pub phase: String,
    pub temp: f64,
    pub loss: f64,
    pub ce: f64,
    pub kl: f64,
    pub acc_sampled: f64,
    /// Wall time of the step in seconds (host clock around `train_step`, which already
    /// ends in one host read of the logged numbers; no extra device sync).
    #[serde(default)]
    pub seconds: f64,
}

/// One validation pass (`epochs.csv`); epoch 0 is before training.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochRow {
    pub epoch: usize,
    pub step: u64,
    pub val_fid_topk: f64,
    pub val_fid_multishot: Option<f64>,
    pub val_fid_random: Option<f64>,
    pub val_rationale_fid: Option<f64>,
    pub val_mean_1mjs: f64,
    pub val_hit_rate: Option<f64>,
    pub wall_s: f64,
}

/// Reads every row of a CSV log (missing file: none).
pub fn read_rows<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Vec<T>> {
    if !path.is_file() {
        return Ok(vec![]);
    }
    let mut r = csv::Reader::from_path(path).map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    let rows: std::result::Result<Vec<T>, Error> =
        r.deserialize().map(|row| row.map_err(|e| Error::Other(format!("{}: {e}", path.display())))).collect();
    Ok(rows?)
}

/// Keeps only the rows that `keep` accepts (atomic rewrite).
pub fn retain_rows<T>(path: &Path, keep: impl Fn(&T) -> bool) -> Result<()>
where
    T: Serialize + for<'de> Deserialize<'de>,
{
    if !path.is_file() {
        return Ok(());
    }
    let rows: Vec<T> = read_rows(path)?;
    let kept: Vec<T> = rows.into_iter().filter(|r| keep(r)).collect();
    Ok(xai_core::run::write_csv_rows(path, &kept)?)
}
