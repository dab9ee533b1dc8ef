//! The paper's experiments, run by `xai_core::runner`: [`run`] prepares the data of the
//! config's experiment once, trains one model per sweep cell (method, λ, seed), keeps
//! each finished cell in the run folder's `cells/` (so `--resume` continues a killed
//! sweep), and writes the sweep's CSVs, tables and figures. The runner writes the
//! ours-vs-paper table, `results.json` and the verdict.

pub mod cell;
pub mod common;
pub mod compas;
pub mod config;
pub mod image;
pub mod isic;
pub mod isic_features;
pub mod isic_report;
pub mod isic_synth;
pub mod report;
pub mod sst;

use self::cell::{CellOutcome, Finished};
use self::config::{Config, Experiment as ExpKind, Method};
use self::report::{RunRow, SummaryRow};
use crate::{CdepError, Result};
use anyhow::Context;
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use tch::Device;
use xai_core::run::CsvLog;
use xai_core::runner::{Cells, Embedded, Outcome, Session};

/// The config `cdep` runs without `--config`.
pub const EMBEDDED: Embedded = Embedded {
    path: "configs/cdep/colormnist_smoke.toml",
    text: include_str!("../../../../configs/cdep/colormnist_smoke.toml"),
};

/// Context every cell gets.
pub struct RunCtx<'a> {
    pub method: Method,
    pub lambda: f64,
    pub seed: u64,
    /// The sweep's first seed (figures use its models).
    pub first_seed: bool,
    pub metrics: &'a mut CsvLog,
    pub git_rev: &'a str,
    pub config_hash: &'a str,
    /// Where this cell's final weights go, when `run.save_weights` keeps them.
    pub checkpoint: Option<PathBuf>,
}

/// What a trained cell returns: the stored outcome and, for image experiments' first
/// seed, the heat maps.
pub struct CellRun {
    pub outcome: CellOutcome,
    pub heat: Option<tch::Tensor>,
}

/// One paper experiment.
pub trait Experiment {
    /// Trains and evaluates one (method, λ, seed).
    fn run_one(&mut self, ctx: &mut RunCtx<'_>) -> Result<CellRun>;
    /// Example and heat-map figures after the sweep.
    fn figures(&self, dir: &Path, cells: &[Finished], best: &[SummaryRow]) -> Result<()>;
    /// Headline numbers beside the paper's.
    fn paper_rows(&self, cells: &[Finished], best: &[SummaryRow], summary: &[SummaryRow])
        -> Vec<xai_core::report::Row>;
    /// `table_mnist.csv`, `table_sst.csv` or `table_isic.csv`.
    fn table_file(&self) -> &'static str;
    /// Tables of its own, written after the generic `table_file` (which they may replace).
    fn write_tables(&self, _run_dir: &Path, _rows: &[RunRow], _best: &[SummaryRow]) -> Result<()> {
        Ok(())
    }
    /// Facts about the prepared data (counts, splits, caches) for `results.json`.
    fn data_summary(&self) -> Option<serde_json::Value> {
        None
    }
}

/// One row of `metrics.csv` (per epoch of every cell).
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
    /// The `on_epoch` hook of a cell that only logs: each epoch's row appended to `metrics.csv`.
    pub fn logger<'a>(metrics: &'a mut CsvLog, method: Method, lambda: f64, seed: u64) -> crate::train::OnEpochFn<'a> {
        Box::new(move |log| {
            metrics.log(&EpochRow::from_log(method.name(), lambda, seed, log))?;
            Ok(())
        })
    }

    /// The row of one epoch of one cell; metrics an experiment does not compute stay empty.
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

/// Where the data is and what it runs on.
pub struct Setup {
    pub device: Device,
    pub data_root: PathBuf,
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

/// A [`CdepError`] for `anyhow`, with the shared core's or libtorch's error itself in the
/// chain, so the runner can tell what kind of failure it was.
pub fn into_anyhow(e: CdepError) -> anyhow::Error {
    match e {
        CdepError::Core(core) => core.into(),
        CdepError::Torch(t) => t.into(),
        other => other.into(),
    }
}

/// Runs `body` as a named stage of the run folder (its time goes to `run.json`) and
/// hands back its own result, typed.
fn stage<T>(session: &mut Session<'_, Config>, name: &str, body: impl FnOnce() -> Result<T>) -> Result<T> {
    let mut out = None;
    session.run.stage(name, |_| {
        out = Some(body());
        Ok(())
    })?;
    out.unwrap_or_else(|| Err(CdepError::invalid("stage", format!("`{name}` did not run"))))
}

#[derive(Serialize)]
struct Failure {
    method: String,
    lambda: f64,
    seed: u64,
    error: String,
}

/// The body `xai_core::runner` runs: the whole sweep of the session's config.
pub fn run(session: &mut Session<'_, Config>) -> anyhow::Result<Outcome> {
    let cfg = session.config;
    let setup = Setup { device: session.device, data_root: session.data_root.to_path_buf() };
    let mut exp = stage(session, "data", || build(cfg, &setup)).map_err(into_anyhow)?;
    let cells = session.cells()?;
    let metrics_path = session.run.path().join("metrics.csv");
    let keys: Vec<(Method, f64, u64)> = sweep_cells(cfg)?;
    let hash = session.config_hash.to_string();
    let mut metrics = if session.resumed {
        let finished = kept_cells(&cells, &keys, &hash).map_err(into_anyhow)?;
        log::info!("resuming: {} of {} cells finished earlier", finished.len(), keys.len());
        cell::prune_metrics(&metrics_path, &finished).map_err(into_anyhow)?;
        CsvLog::append(&metrics_path)?
    } else {
        CsvLog::create(&metrics_path)?
    };
    let git_rev = xai_core::run::git_revision();
    let checkpoints = session.run.checkpoints_dir();
    let seed0 = cfg.run.seed();
    let mut finished = vec![];
    let mut failures = vec![];
    let mut first_error = None;
    stage(session, "train", || {
        for &(method, lambda, seed) in &keys {
            let key = cell::key(method.name(), lambda, seed);
            let mut ctx = RunCtx {
                method,
                lambda,
                seed,
                first_seed: seed == seed0,
                metrics: &mut metrics,
                git_rev: &git_rev,
                config_hash: &hash,
                checkpoint: cfg
                    .run
                    .keeps_weights_of(seed)
                    .then(|| checkpoints.join(format!("{}_lambda{}_seed{}.safetensors", method.name(), lambda, seed))),
            };
            let done = cells.get_or_run(&key, || -> Result<CellOutcome> {
                let r = exp.run_one(&mut ctx)?;
                if let Some(h) = &r.heat {
                    cell::save_heat(&cells, &key, h)?;
                }
                Ok(r.outcome)
            });
            match done.and_then(|(outcome, _)| Ok(Finished { heat: cell::load_heat(&cells, &key)?, outcome })) {
                Ok(f) => {
                    log::info!(
                        "{key}: test acc {:.2}%{}",
                        f.outcome.row.test_acc,
                        f.outcome.row.test_share.map(|s| format!(", blob share {s:.4}")).unwrap_or_default()
                    );
                    finished.push(f);
                }
                Err(e) => {
                    log::error!("{key} failed: {e}");
                    failures.push(Failure { method: method.name().into(), lambda, seed, error: e.to_string() });
                    first_error.get_or_insert(e);
                }
            }
        }
        Ok(())
    })
    .map_err(into_anyhow)?;
    if !failures.is_empty() {
        session.run.write_csv("failures.csv", &failures)?;
    }
    if finished.is_empty() {
        let n = failures.len();
        let e = first_error.map(into_anyhow).unwrap_or_else(|| anyhow::anyhow!("the sweep has no cells"));
        return Err(e.context(format!("the sweep produced no finished run ({n} failed; see failures.csv)")));
    }
    let run_dir = session.run.path().to_path_buf();
    let label = session.label.to_string();
    let outcome =
        stage(session, "report", || report_sweep(cfg, exp.as_ref(), &run_dir, &label, &finished, failures.len()))
            .map_err(into_anyhow)
            .context("writing the sweep's tables and figures")?;
    Ok(outcome)
}

/// The keys of the cells an earlier attempt finished under the same config (hash);
/// cells stored under another config are deleted, so they run again.
fn kept_cells(cells: &Cells, keys: &[(Method, f64, u64)], hash: &str) -> Result<HashSet<String>> {
    let mut kept = HashSet::new();
    for (m, l, s) in keys {
        let key = cell::key(m.name(), *l, *s);
        let Some(done) = cells.load::<CellOutcome>(&key)? else { continue };
        if done.row.config_hash == hash {
            kept.insert(key);
        } else {
            log::warn!(
                "cell `{key}` was run with config {}, this run's is {hash}: running it again",
                done.row.config_hash
            );
            for path in [cells.dir().join(format!("{}.json", Cells::file_stem(&key))), cell::heat_path(cells, &key)] {
                if path.is_file() {
                    std::fs::remove_file(&path).map_err(|e| xai_core::Error::io(&path, e))?;
                }
            }
        }
    }
    Ok(kept)
}

/// The sweep's cells in order: methods, then λ, then seeds.
pub fn sweep_cells(cfg: &Config) -> Result<Vec<(Method, f64, u64)>> {
    let mut out = vec![];
    for &method in &cfg.sweep.methods {
        for lambda in cfg.lambdas.for_method(method)? {
            out.extend(cfg.run.seeds.iter().map(|&seed| (method, lambda, seed)));
        }
    }
    Ok(out)
}

/// `runs.csv`, `summary.csv`, `best.csv`, `timing.csv`, the paper-style tables and the
/// figures; returns what the runner reports.
fn report_sweep(
    cfg: &Config,
    exp: &dyn Experiment,
    dir: &Path,
    label: &str,
    cells: &[Finished],
    n_failed: usize,
) -> Result<Outcome> {
    let rows: Vec<RunRow> = cells.iter().map(|c| c.outcome.row.clone()).collect();
    xai_core::run::write_csv_rows(&dir.join("runs.csv"), &rows)?;
    let summary = report::summarize(&rows);
    xai_core::run::write_csv_rows(&dir.join("summary.csv"), &summary)?;
    let best = report::best_per_method(&summary);
    xai_core::run::write_csv_rows(&dir.join("best.csv"), &best)?;
    xai_core::run::write_csv_rows(&dir.join("timing.csv"), &report::timing(&rows))?;
    let name = cfg.run.experiment.name();
    report::write_paper_table(dir, exp.table_file(), name, &best, &cfg.sweep.methods)?;
    exp.write_tables(dir, &rows, &best)?;
    let figures = dir.join("figures");
    let title = format!("{label}: test accuracy vs λ");
    report::results_chart(&summary, &title, &figures.join(format!("{name}_results.png")))?;
    exp.figures(&figures, cells, &best)?;
    let mut paper_rows = exp.paper_rows(cells, &best, &summary);
    if n_failed > 0 {
        for r in paper_rows.iter_mut() {
            r.note = format!("{} ({n_failed} runs failed, see failures.csv)", r.note);
        }
    }
    let mut results = serde_json::json!({ "best": best });
    if let Some(data) = exp.data_summary() {
        results["data"] = data;
    }
    let mut outcome = Outcome::new(format!("CDEP {label} — ours vs paper"), paper_rows, results);
    outcome.failed_cells = n_failed;
    Ok(outcome)
}
