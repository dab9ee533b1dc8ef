//! Q2/Q3 (spec §4, §6): the active loop over strategies × architectures × arms × folds ×
//! seeds. Each (…, fold, seed) is one resumable cell; `metrics.csv` holds every
//! iteration of every cell, `summary.csv` the mean and standard error over folds × seeds.

use super::data::{self, known_draw, stratified_kfold, ToyData};
use super::{figures, report, widths_name, Arm, Config};
use crate::active::{run_fold, ActiveData, IterRecord, PixelLayout};
use crate::fit::Trainer;
use crate::params::{ActiveParams, Strategy};
use crate::user::SimulatedUser;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::Tensor;
use xai_core::runner::{Outcome, Session};

/// One iteration of one cell: a row of `metrics.csv` (spec §10 `curves.csv` columns plus
/// the sweep's coordinates).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CurveRow {
    pub strategy: String,
    pub widths: String,
    pub lambda1: f64,
    pub lambda2: f64,
    pub c: usize,
    pub seed: u64,
    pub fold: usize,
    pub iter: usize,
    pub query: i64,
    pub yloss_query_ref: f64,
    pub yloss_query: f64,
    pub zloss_query: f64,
    pub yloss_test: Option<f64>,
    pub zloss_test: Option<f64>,
    pub acc_test: Option<f64>,
    pub f1_test: Option<f64>,
    pub expl_prec_test: Option<f64>,
    pub expl_rec_test: Option<f64>,
    pub expl_f1_test: Option<f64>,
    /// Explanation precision@k against the *other* rule's pixels.
    pub expl_prec_other_test: Option<f64>,
    pub expl_f1_known: Option<f64>,
    pub mass_rule0_test: Option<f64>,
    pub mass_rule1_test: Option<f64>,
    pub n_known: usize,
    pub runtime_s: f64,
}

/// The coordinates of one cell.
#[derive(Debug, Clone)]
pub struct CellSpec {
    pub strategy: Strategy,
    pub widths: Vec<i64>,
    pub arm: Arm,
    pub fold: usize,
    pub seed: u64,
}

impl CellSpec {
    pub fn key(&self) -> String {
        format!(
            "active {} W={} L={},{} c={} fold={} seed={}",
            self.strategy,
            widths_name(&self.widths),
            self.arm.lambdas[0],
            self.arm.lambdas[1],
            self.arm.c,
            self.fold,
            self.seed
        )
    }
}

/// A fold's test, known and pool indices (from the fixed split seed).
pub struct FoldSets {
    pub test: Vec<i64>,
    pub known: Vec<i64>,
    pub pool: Vec<i64>,
}

/// The folds of `cfg` over `data`.
pub fn fold_sets(cfg: &Config, data: &ToyData) -> Vec<FoldSets> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.data.split_seed);
    let folds = stratified_kfold(&data.y_host, cfg.data.n_splits, &mut rng);
    let all: Vec<i64> = (0..data.len() as i64).collect();
    let n = if cfg.data.folds > 0 { cfg.data.folds } else { folds.len() };
    folds
        .iter()
        .take(n)
        .map(|test| {
            let non_test = data::difference(&all, test);
            let known = known_draw(&non_test, cfg.active.known_fraction, &mut rng);
            let pool = data::difference(&non_test, &known);
            let mut test = test.clone();
            if cfg.data.test_subset > 0 {
                test.truncate(cfg.data.test_subset);
            }
            FoldSets { test, known, pool }
        })
        .collect()
}

/// Runs one cell: a fresh net seeded by the cell's seed (identical init in every fold).
pub fn run_cell(
    cfg: &Config,
    cell: &CellSpec,
    tensors: (&Tensor, &Tensor, &Tensor),
    sets: &FoldSets,
    device: tch::Device,
    on_iter: impl FnMut(&IterRecord),
) -> crate::Result<(Vec<CurveRow>, Trainer)> {
    let (x, y, z) = tensors;
    let rng = xai_core::device::seed_everything(cell.seed);
    let mut trainer = Trainer::new(&cfg.model.senn_params(&cell.widths, &cell.arm), 101, device, rng)?;
    let mut user = SimulatedUser::new(z, cell.arm.c, Some(100))?;
    let params = ActiveParams {
        strategy: cell.strategy,
        n_corrected: cell.arm.c,
        iterations: cfg.active.iterations,
        steps_per_fit: cfg.active.steps_per_fit,
        eval_every: cfg.active.eval_every,
    };
    let data = ActiveData {
        x,
        y,
        z_star: z,
        known: sets.known.clone(),
        pool: sets.pool.clone(),
        test: sets.test.clone(),
        layout: Some(PixelLayout::toy_colors(cfg.data.rule)),
    };
    let records = run_fold(&mut trainer, &data, &mut user, &params, on_iter)?;
    let rows = records.iter().map(|r| curve_row(cell, cfg.data.rule, r)).collect();
    Ok((rows, trainer))
}

fn curve_row(cell: &CellSpec, rule: usize, r: &IterRecord) -> CurveRow {
    let t = r.test.as_ref();
    let e = t.and_then(|t| t.expl.as_ref());
    // Layout rules are [taught, other]; masses are reported per rule index.
    let mass = |rule_idx: usize| e.map(|e| e.mass[if rule_idx == rule { 0 } else { 1 }]);
    CurveRow {
        strategy: cell.strategy.to_string(),
        widths: widths_name(&cell.widths),
        lambda1: cell.arm.lambdas[0],
        lambda2: cell.arm.lambdas[1],
        c: cell.arm.c,
        seed: cell.seed,
        fold: cell.fold,
        iter: r.iter,
        query: r.query,
        yloss_query_ref: r.yloss_query_ref,
        yloss_query: r.yloss_query,
        zloss_query: r.zloss_query,
        yloss_test: t.map(|t| t.yloss),
        zloss_test: t.map(|t| t.zloss),
        acc_test: t.map(|t| t.acc),
        f1_test: t.map(|t| t.f1),
        expl_prec_test: e.map(|e| e.precision[0]),
        expl_rec_test: e.map(|e| e.recall[0]),
        expl_f1_test: e.map(|e| e.f1[0]),
        expl_prec_other_test: e.map(|e| e.precision[1]),
        expl_f1_known: e.map(|e| e.f1_known),
        mass_rule0_test: mass(0),
        mass_rule1_test: mass(1),
        n_known: r.n_known,
        runtime_s: r.runtime_s,
    }
}

/// Every cell of the config, in run order.
pub fn cells(cfg: &Config, n_folds: usize) -> Vec<CellSpec> {
    let mut out = vec![];
    for s in &cfg.active.strategies {
        let strategy: Strategy = s.parse().expect("validated");
        for widths in &cfg.model.widths {
            for arm in &cfg.model.arms {
                for fold in 0..n_folds {
                    for &seed in &cfg.run.seeds {
                        out.push(CellSpec { strategy, widths: widths.clone(), arm: *arm, fold, seed });
                    }
                }
            }
        }
    }
    out
}

#[derive(Serialize)]
struct Failure {
    cell: String,
    error: String,
}

/// The `active` experiment.
pub fn run(session: &mut Session<'_, Config>) -> anyhow::Result<Outcome> {
    let cfg = session.config;
    let started = Instant::now();
    let data = data::load(&cfg.data, session.data_root)?;
    let (x, y, z) = data.to_device(session.device);
    let sets = fold_sets(cfg, &data);
    let cells_store = session.cells()?;
    let specs = cells(cfg, sets.len());
    let bar = xai_core::progress::counter("iterations", (specs.len() * cfg.active.iterations) as u64);
    let ckpt_dir = session.run.checkpoints_dir();
    let (mut rows, mut failures) = (vec![], vec![]);
    for cell in &specs {
        let key = cell.key();
        let result = cells_store.get_or_run(&key, || -> anyhow::Result<Vec<CurveRow>> {
            let t0 = Instant::now();
            let (rows, trainer) = run_cell(cfg, cell, (&x, &y, &z), &sets[cell.fold], session.device, |_| bar.inc(1))?;
            if cell.fold == 0 && cell.seed == cfg.run.seed() {
                let dir = session.run.figures_dir().join("explanations");
                if let Err(e) =
                    figures::explanations(&trainer.senn, &data, &sets[0].test[..3.min(sets[0].test.len())], &key, &dir)
                {
                    log::warn!("explanation images: {e}");
                }
            }
            if cfg.run.keeps_weights_of(cell.seed) {
                xai_core::fsutil::create_dir_all(&ckpt_dir)?;
                let path = ckpt_dir.join(format!("{}.safetensors", xai_core::runner::Cells::file_stem(&key)));
                xai_core::checkpoint::save(trainer.senn.var_store(), &path)?;
            }
            let last = rows.last();
            log::info!(
                "{key}: {:.1}s, test L_z {:.3}, L_y {:.3}, F1 {:.3}, prec@k {:.3}",
                t0.elapsed().as_secs_f64(),
                last.and_then(|r| r.zloss_test).unwrap_or(f64::NAN),
                last.and_then(|r| r.yloss_test).unwrap_or(f64::NAN),
                last.and_then(|r| r.f1_test).unwrap_or(f64::NAN),
                last.and_then(|r| r.expl_prec_test).unwrap_or(f64::NAN),
            );
            Ok(rows)
        });
        match result {
            Ok((r, kept)) => {
                if kept {
                    bar.inc(cfg.active.iterations as u64);
                }
                rows.extend(r)
            }
            Err(e) => {
                log::error!("{key} failed: {e:#}");
                failures.push(Failure { cell: key, error: format!("{e:#}") });
            }
        }
    }
    bar.finish_and_clear();
    if rows.is_empty() {
        anyhow::bail!(
            "no cell finished ({} failed; first error: {})",
            failures.len(),
            failures.first().map(|f| f.error.as_str()).unwrap_or("-")
        );
    }
    session.run.write_csv("metrics.csv", &rows)?;
    if !failures.is_empty() {
        session.run.write_csv("failures.csv", &failures)?;
    }
    let summary = report::summarise_active(&rows);
    session.run.write_csv("summary.csv", &summary)?;
    if let Err(e) = figures::active_curves(&summary, &session.run.figures_dir()) {
        log::warn!("figures: {e}");
    }
    let rows_out = report::active_rows(cfg, &summary);
    let results = serde_json::json!({
        "experiment": "active",
        "cells": specs.len(),
        "folds": sets.len(),
        "n_examples": data.len(),
        "test_per_fold": sets.first().map(|s| s.test.len()),
        "wall_s": started.elapsed().as_secs_f64(),
        "final": report::finals_json(&summary),
    });
    let mut outcome = Outcome::new(format!("CALIMOCHO active ({}) — ours vs spec", session.label), rows_out, results);
    outcome.failed_cells = failures.len();
    Ok(outcome)
}
