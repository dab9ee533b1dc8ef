//! The run of a config: data → black box (trained once per run folder) → one VIBI model
//! per cell (each resumable from its checkpoints) → `summary.csv` and the ours-vs-paper
//! rows that the runner writes with the verdict.

use super::blackbox_training;
use super::cell::{build_vibi, run_cell};
use super::checkpoint;
use super::config::{DatasetKind, Normalization};
use super::data::{self, prepare, Dataset, Subsets};
use super::report::{report_rows, SummaryRow};
use super::Config;
use crate::{Result, VibiError};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::Device;
use xai_core::run::RunDir;
use xai_core::runner::{Outcome, Session};

/// The config's dataset from `data_dir` (or generated, for the synthetic one).
pub fn load_data(cfg: &Config, data_dir: &Path) -> Result<Dataset> {
    let d = &cfg.data;
    let sub = Subsets { train: d.train_subset, test: d.test_subset, holdout_test: d.holdout_test, seed: d.split_seed };
    match d.dataset {
        DatasetKind::SyntheticPatches => data::synthetic_patches(d.train_subset, d.test_subset, cfg.run.seed()),
        DatasetKind::Mnist => {
            let norm = match d.normalization {
                Normalization::Willisk => data::MNIST_NORM,
                Normalization::Authors => data::MNIST_NORM_AUTHORS,
            };
            data::mnist(data_dir, &sub, norm)
        }
        DatasetKind::Cifar10 => data::cifar10(data_dir, &sub),
    }
}

/// What a run folder's models were made with, checked when a run is resumed (only the
/// training length may change). `config_toml` is the config accepted last: a refused
/// resume puts it back, since the runner has already replaced `config.toml`.
#[derive(Debug, Serialize, Deserialize)]
struct Fingerprints {
    black_box: String,
    cells: Vec<String>,
    config_toml: String,
}

/// On a resume, refuses a config that would change the black box or a cell's model; then
/// records this config's fingerprints.
fn check_folder(cfg: &Config, resolved: &str, root: &Path, resumed: bool) -> Result<()> {
    let path = root.join("fingerprints.json");
    let now = Fingerprints {
        black_box: cfg.black_box_fingerprint(),
        cells: cfg.cells().iter().map(|c| cfg.cell_fingerprint(c)).collect(),
        config_toml: resolved.into(),
    };
    if resumed && path.is_file() {
        let stored: Fingerprints = checkpoint::read_meta(&path)?;
        let refused = if stored.black_box != now.black_box {
            Some("another [data]/[black_box]/seed configuration")
        } else if stored.cells != now.cells {
            Some("another [vibi]/[[grid]] configuration (only epochs, max_steps, checkpoint_every may change)")
        } else {
            None
        };
        if let Some(why) = refused {
            xai_core::fsutil::atomic_write(&root.join("config.toml"), stored.config_toml.as_bytes())?;
            return Err(VibiError::invalid("resume", format!("{} was made with {why}", root.display())));
        }
    }
    checkpoint::write_meta(&path, &now)
}

/// [`RunDir::stage`] for a body with the crate's error: the stage's time is recorded
/// whether or not it fails, and the error comes back unchanged.
fn stage<T>(run: &mut RunDir, name: &str, body: impl FnOnce() -> Result<T>) -> Result<T> {
    let mut failed = None;
    let out = run.stage(name, |_| match body() {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            failed = Some(e);
            Ok(None)
        }
    })?;
    match (out, failed) {
        (Some(v), _) => Ok(v),
        (None, Some(e)) => Err(e),
        (None, None) => Err(VibiError::invalid(name, "stage ended without a result")),
    }
}

/// Runs the whole experiment of `session`'s config in its run folder.
pub fn run(session: &mut Session<'_, Config>) -> Result<Outcome> {
    let cfg = session.config;
    let device = session.device;
    let ds = load_data(cfg, session.data_root)?.to_device(device);
    // Geometry errors (k > F, a chunk that does not divide the image) surface before any
    // black box is trained.
    for cell in cfg.cells() {
        build_vibi(cfg, &cell, &ds, Device::Cpu)
            .map_err(|e| VibiError::invalid(cell.run_id(cfg.data.dataset), e.to_string()))?;
    }
    let root = session.run.path().to_path_buf();
    check_folder(cfg, session.resolved_toml, &root, session.resumed)?;
    let ckpt = root.join("checkpoints");
    xai_core::fsutil::create_dir_all(&ckpt)?;
    let (bb, bb_acc) = stage(session.run, "black_box", || blackbox_training::load_or_train(cfg, &ds, device, &ckpt))?;
    let prepared = prepare(cfg, ds, &bb, bb_acc)?;
    let mut rows: Vec<SummaryRow> = Vec::new();
    for cell in &cfg.cells() {
        let id = cell.run_id(cfg.data.dataset);
        let dir = if cfg.grid.is_empty() { root.clone() } else { root.join(&id) };
        let done = dir.join("final.json");
        if !cfg.grid.is_empty() && done.is_file() && session.resumed {
            let v: serde_json::Value = checkpoint::read_meta(&done)?;
            if let Ok(row) = serde_json::from_value::<SummaryRow>(v["summary"].clone()) {
                log::info!("{id}: finished in an earlier attempt");
                rows.push(row);
                continue;
            }
        }
        let row =
            stage(session.run, &format!("vibi {id}"), || run_cell(cfg, cell, &prepared, &bb, &root, &dir, device))?;
        rows.push(row);
        xai_core::run::write_csv_rows(&root.join("summary.csv"), &rows)?;
    }
    xai_core::run::write_csv_rows(&root.join("summary.csv"), &rows)?;
    let experiment = &cfg.run.experiment;
    Ok(Outcome::new(
        format!("VIBI {experiment}: ours vs reference"),
        report_rows(cfg, &rows),
        serde_json::json!({ "experiment": experiment, "runs": rows }),
    ))
}
