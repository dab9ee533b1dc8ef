//! A cell's checkpoints: `last.json` → `last-<step>.safetensors` (weights, optimiser state)
//! for resume, and `best.safetensors` (weights of the best validation epoch). Every file is
//! written atomically and the JSON pointer last, so a run killed at any moment resumes
//! from a complete checkpoint. Each carries the configuration fingerprint: loading one
//! made for another configuration is an error.

use crate::model::Vibi;
use crate::Result;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::Tensor;
use xai_core::checkpoint::{load_tensors, save_tensors};
use xai_core::fsutil::atomic_write;
use xai_core::Error;

/// What a checkpoint records besides tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    pub fingerprint: String,
    /// Global steps taken.
    pub step: u64,
    /// Epochs completed.
    pub epochs_done: usize,
    pub best_val_fid: f64,
    pub best_epoch: usize,
    /// Seconds spent in training steps so far (throughput across resumes).
    pub train_seconds: f64,
    /// Tensor file, relative to the checkpoint folder.
    pub file: String,
}

impl Meta {
    /// The state before the first step. "No best yet" is −1 rather than −∞, which JSON
    /// cannot hold (a checkpoint written before the first validation must stay readable).
    pub fn fresh(fingerprint: &str) -> Self {
        Self {
            fingerprint: fingerprint.into(),
            step: 0,
            epochs_done: 0,
            best_val_fid: -1.0,
            best_epoch: 0,
            train_seconds: 0.0,
            file: String::new(),
        }
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Ok(serde_json::from_str(&text)
        .map_err(|e| Error::Checkpoint { path: path.into(), message: format!("unreadable: {e}") })?)
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(|e| Error::Other(e.to_string()))?;
    Ok(atomic_write(path, text.as_bytes())?)
}

fn check_fingerprint(path: &Path, found: &str, expected: &str) -> Result<()> {
    if found != expected {
        return Err(Error::Checkpoint {
            path: path.into(),
            message: format!(
                "written for another configuration (fingerprint {found}, this config {expected}); \
                 resume with the config the run was made with, or start a new run"
            ),
        }
        .into());
    }
    Ok(())
}

/// Saves the full training state and points `last.json` at it.
pub fn save_last(dir: &Path, vibi: &Vibi, mut meta: Meta) -> Result<()> {
    let file = format!("last-{}.safetensors", meta.step);
    save_tensors(&vibi.full_state(), &dir.join(&file))?;
    let old: Option<Meta> = read_json(&dir.join("last.json")).ok();
    meta.file = file;
    write_json(&dir.join("last.json"), &meta)?;
    if let Some(old) = old.filter(|o| o.file != meta.file) {
        let _ = std::fs::remove_file(dir.join(old.file));
    }
    Ok(())
}

/// The resume state in `dir`, if any: its meta and tensors. A checkpoint of another
/// configuration is an error naming both fingerprints.
pub fn load_last(dir: &Path, fingerprint: &str) -> Result<Option<(Meta, BTreeMap<String, Tensor>)>> {
    let pointer = dir.join("last.json");
    if !pointer.is_file() {
        return Ok(None);
    }
    let meta: Meta = read_json(&pointer)?;
    check_fingerprint(&pointer, &meta.fingerprint, fingerprint)?;
    let tensors = load_tensors(&dir.join(&meta.file))?.into_iter().collect();
    Ok(Some((meta, tensors)))
}

#[derive(Debug, Serialize, Deserialize)]
struct BestMeta {
    fingerprint: String,
    epoch: usize,
    val_fid: f64,
}

fn best_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("best.safetensors"), dir.join("best.json"))
}

/// Saves the weights of a new best epoch.
pub fn save_best(dir: &Path, vibi: &Vibi, fingerprint: &str, epoch: usize, val_fid: f64) -> Result<()> {
    let (t, j) = best_paths(dir);
    save_tensors(&vibi.weights(), &t)?;
    write_json(&j, &BestMeta { fingerprint: fingerprint.into(), epoch, val_fid })
}

/// Loads the best weights into `vibi`; returns their epoch, or `None` when none were saved.
pub fn load_best(dir: &Path, vibi: &mut Vibi, fingerprint: &str) -> Result<Option<usize>> {
    let (t, j) = best_paths(dir);
    if !j.is_file() {
        return Ok(None);
    }
    let meta: BestMeta = read_json(&j)?;
    check_fingerprint(&j, &meta.fingerprint, fingerprint)?;
    let tensors: BTreeMap<String, Tensor> = load_tensors(&t)?.into_iter().collect();
    vibi.load_state(&tensors, false)?;
    Ok(Some(meta.epoch))
}

/// Writes a small JSON beside a black-box checkpoint.
pub fn write_meta<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    write_json(path, value)
}

/// Reads such a JSON.
pub fn read_meta<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    read_json(path)
}

/// Checks a fingerprint read from `path` against the expected one.
pub fn ensure_same_config(path: &Path, found: &str, expected: &str) -> Result<()> {
    check_fingerprint(path, found, expected)
}
