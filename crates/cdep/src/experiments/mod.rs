//! Paper experiments: each prepares its data once, trains one model per
//! (method, λ, seed), and the driver here writes the sweep's CSVs, tables, figures, the
//! ours-vs-paper table and a one-line verdict into the run folder.

pub mod common;
pub mod compas;
pub mod image;
pub mod isic;
pub mod isic_features;
pub mod isic_report;
pub mod isic_synth;
pub mod sst;

use crate::config::{Config, Experiment as ExpKind, Method};
use crate::report::{self, RunRow, SummaryRow};
use crate::{CdepError, Result};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};
use xai_core::run::{CsvLog, RunDir};

/// A finished run and what its figures need.
pub struct Outcome {
    pub row: RunRow,
    /// Per-position CD share maps `[n, H, W]` of a few test inputs (first seed only).
    pub heat: Option<Tensor>,
}

/// Context every run gets.
pub struct RunCtx<'a> {
    pub method: Method,
    pub lambda: f64,
    pub seed: u64,
    /// The sweep's first seed (figures use its models).
    pub first_seed: bool,
    pub metrics: &'a mut CsvLog,
    pub git_rev: &'a str,
    pub config_hash: &'a str,
    /// The run folder's `checkpoints/`, where each run's final weights go.
    pub checkpoints: &'a Path,
    /// Which runs save their weights there.
    pub save: crate::config::SaveWeights,
}

/// One paper experiment.
pub trait Experiment {
    /// Trains and evaluates one (method, λ, seed).
    fn run_one(&mut self, ctx: &mut RunCtx<'_>) -> Result<Outcome>;
    /// Example and heat-map figures after the sweep.
    fn figures(&self, dir: &Path, outcomes: &[Outcome], best: &[SummaryRow]) -> Result<()>;
    /// Headline numbers beside the paper's.
    fn paper_rows(&self, best: &[SummaryRow], summary: &[SummaryRow]) -> Vec<xai_core::report::Row>;
    /// `table_mnist.csv`, `table_sst.csv` or `table_isic.csv`.
    fn table_file(&self) -> &'static str;
    /// Tables of its own, written after the generic `table_file` (which they may replace).
    fn write_tables(&self, _run_dir: &Path, _best: &[SummaryRow]) -> Result<()> {
        Ok(())
    }
    /// Facts about the prepared data (counts, splits, caches) for `results.json`.
    fn data_summary(&self) -> Option<serde_json::Value> {
        None
    }
}

/// One row of `metrics.csv` (per epoch of every run).
#[derive(Debug, Serialize)]
pub struct EpochRow {
    pub method: String,
    pub lambda: f64,
    pub seed: u64,
    pub epoch: usize,
    pub pred_loss: f64,
    pub penalty: f64,
    pub val_loss: f64,
    pub val_acc: Option<f64>,
    pub test_acc: Option<f64>,
    pub test_share: Option<f64>,
    pub test_blob_flip: Option<f64>,
    pub seconds: f64,
}

impl EpochRow {
    /// The row of one epoch of one (method, λ, seed) run; metrics an experiment does not
    /// compute stay empty.
    pub fn from_log(method: &str, lambda: f64, seed: u64, log: &crate::train::EpochLog) -> Self {
        Self {
            method: method.into(),
            lambda,
            seed,
            epoch: log.record.epoch,
            pred_loss: log.pred_loss,
            penalty: log.penalty,
            val_loss: log.val_loss,
            val_acc: log.metric("val_acc"),
            test_acc: log.metric("test_acc"),
            test_share: log.metric("test_share"),
            test_blob_flip: log.metric("test_blob_flip"),
            seconds: log.record.seconds,
        }
    }
}

/// Short hash of the resolved config.
pub fn config_hash(resolved: &str) -> String {
    let d = Sha256::digest(resolved.as_bytes());
    d.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Where the run happens and with what.
pub struct Setup {
    pub device: Device,
    pub data_root: PathBuf,
    pub runs_root: PathBuf,
    /// Label of the config (file stem) used as the run folder's experiment name.
    pub label: String,
}

/// Builds the experiment a config asks for.
pub fn build(cfg: &Config, setup: &Setup) -> Result<Box<dyn Experiment>> {
    Ok(match cfg.run.experiment {
        ExpKind::Colormnist | ExpKind::Decoymnist => Box::new(image::ImageExperiment::prepare(cfg, setup)?),
        ExpKind::SstDecoy | ExpKind::SstArticle | ExpKind::SstGender => {
            Box::new(sst::SstExperiment::prepare(cfg, setup)?)
        }
        ExpKind::Isic => Box::new(isic::Isic::prepare(cfg, setup)?),
        ExpKind::IsicSynth => Box::new(isic_synth::IsicSynth::prepare(cfg, setup)?),
        ExpKind::Compas => Box::new(compas::Compas::prepare(cfg, setup)?),
    })
}

#[derive(Serialize)]
struct Failure {
    method: String,
    lambda: f64,
    seed: u64,
    error: String,
}

/// Runs the whole sweep of `cfg` in a new run folder; returns the folder and whether
/// every judged check passed.
pub fn run_sweep(cfg: &Config, resolved_toml: &str, setup: &Setup) -> anyhow::Result<(PathBuf, bool)> {
    cfg.validate()?;
    let seed0 = cfg.run.seeds[0];
    let mut run = RunDir::create(&setup.runs_root, "cdep", &setup.label, resolved_toml, seed0, setup.device)?;
    let hash = config_hash(resolved_toml);
    let git_rev = git_rev();
    let mut exp = run.stage("data", |_| build(cfg, setup).map_err(|e| xai_core::Error::Other(e.to_string())))?;
    let mut metrics = run.csv_log("metrics.csv")?;
    let mut outcomes = vec![];
    let mut failures = vec![];
    let checkpoints = run.checkpoints_dir();
    run.stage("train", |_| {
        for &method in &cfg.run.methods {
            let lambdas = cfg.lambdas.for_method(method).map_err(|e| xai_core::Error::Other(e.to_string()))?;
            for &lambda in &lambdas {
                for &seed in &cfg.run.seeds {
                    let mut ctx = RunCtx {
                        method,
                        lambda,
                        seed,
                        first_seed: seed == seed0,
                        metrics: &mut metrics,
                        git_rev: &git_rev,
                        config_hash: &hash,
                        checkpoints: &checkpoints,
                        save: cfg.run.save_weights,
                    };
                    match exp.run_one(&mut ctx) {
                        Ok(o) => {
                            log::info!(
                                "{} λ={lambda} seed={seed}: test acc {:.2}%{}",
                                method.name(),
                                o.row.test_acc,
                                o.row.test_share.map(|s| format!(", blob share {s:.4}")).unwrap_or_default()
                            );
                            outcomes.push(o);
                        }
                        Err(e) => {
                            log::error!("{} λ={lambda} seed={seed} failed: {e}", method.name());
                            failures.push(Failure { method: method.name().into(), lambda, seed, error: e.to_string() });
                        }
                    }
                }
            }
        }
        Ok(())
    })?;
    if !failures.is_empty() {
        run.write_csv("failures.csv", &failures)?;
    }
    if outcomes.is_empty() {
        let first = failures.first().map(|f| f.error.clone()).unwrap_or_default();
        let err =
            anyhow::anyhow!("the sweep produced no finished run ({} failed; first error: {first})", failures.len());
        run.fail(&err)?;
        return Err(err);
    }
    let rows: Vec<RunRow> = outcomes.iter().map(|o| o.row.clone()).collect();
    let passed = run.stage("report", |run| {
        let to_core = |e: CdepError| xai_core::Error::Other(e.to_string());
        run.write_csv("runs.csv", &rows)?;
        let summary = report::summarize(&rows);
        run.write_csv("summary.csv", &summary)?;
        let best = report::best_per_method(&summary);
        run.write_csv("best.csv", &best)?;
        run.write_csv("timing.csv", &report::timing(&rows))?;
        report::write_paper_table(run.path(), exp.table_file(), cfg.run.experiment.name(), &best, &cfg.run.methods)
            .map_err(to_core)?;
        exp.write_tables(run.path(), &best).map_err(to_core)?;
        let title = format!("{}: test accuracy vs λ", setup.label);
        report::results_chart(
            &summary,
            &title,
            &run.figures_dir().join(format!("{}_results.png", cfg.run.experiment.name())),
        )
        .map_err(to_core)?;
        exp.figures(&run.figures_dir(), &outcomes, &best).map_err(to_core)?;
        let mut rows = exp.paper_rows(&best, &summary);
        if !failures.is_empty() {
            for r in rows.iter_mut() {
                r.note = format!("{} ({} runs failed, see failures.csv)", r.note, failures.len());
            }
        }
        let md = xai_core::report::write(run.path(), &format!("CDEP {} — ours vs paper", setup.label), &rows)?;
        println!("{md}");
        let ok = xai_core::report::all_passed(&rows) && failures.is_empty();
        let judged: Vec<String> = rows
            .iter()
            .filter(|r| r.passed().is_some())
            .map(|r| {
                format!("{} {} ({})", r.metric, short(r.ours), if r.passed() == Some(true) { "ok" } else { "FAIL" })
            })
            .collect();
        let line = format!(
            "verdict {}: {} — {}",
            setup.label,
            if ok { "PASS" } else { "FAIL" },
            if judged.is_empty() { "no judged checks".to_string() } else { judged.join("; ") }
        );
        println!("{line}");
        xai_core::fsutil::atomic_write(&run.path().join("verdict.txt"), format!("{line}\n").as_bytes())?;
        let mut results = serde_json::json!({ "best": best, "passed": ok, "verdict": line });
        if let Some(data) = exp.data_summary() {
            results["data"] = data;
        }
        run.write_results(&results)?;
        Ok(ok)
    })?;
    let dir = run.finish()?;
    Ok((dir, passed))
}

/// A number for the verdict line: 3 decimals, or 2 significant digits when tiny.
fn short(v: f64) -> String {
    if v != 0.0 && v.abs() < 0.01 {
        format!("{v:.2e}")
    } else {
        format!("{v:.3}")
    }
}

fn git_rev() -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}
