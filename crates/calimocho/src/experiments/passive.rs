//! Offline learning (spec §5): one cold fit per (W, arm, fold, seed) on the training split
//! with full explanations, measured on test and train *before* every `checkpoint_every`-th
//! step (the final model is never reported, as in the reference). Experiment `lime`
//! also runs LIME at every checkpoint (Q1).

use super::data::{self, stratified_split, ToyData};
use super::lime_vs_senn::compare;
use super::{figures, report, widths_name, Arm, Config, Experiment};
use crate::fit::{Start, Trainer};
use crate::lime::{category_frequencies, Lime};
use crate::losses::{explanation_loss, label_loss};
use crate::measures::precision_recall_f1;
use crate::senn::Senn;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::{Kind, Tensor};
use xai_core::runner::{ExperimentName, Outcome, Session};

/// One checkpoint on one split: a row of `metrics.csv`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PassiveRow {
    pub widths: String,
    pub lambda1: f64,
    pub lambda2: f64,
    pub seed: u64,
    pub fold: usize,
    pub step: usize,
    pub split: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub yloss: f64,
    pub zloss: f64,
}

/// One (checkpoint, r, s): a row of `lime.csv`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LimeRow {
    pub widths: String,
    pub lambda1: f64,
    pub lambda2: f64,
    pub seed: u64,
    pub fold: usize,
    pub step: usize,
    pub repeats: usize,
    pub samples: usize,
    pub k: f64,
    pub sim: f64,
    pub dis: f64,
    pub dis_max: f64,
    pub t_senn: f64,
    pub t_lime: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct CellOut {
    rows: Vec<PassiveRow>,
    lime: Vec<LimeRow>,
}

/// Precision, recall, F1, L_y, L_z of `senn` on rows `idx`, one host sync.
pub fn measure(senn: &Senn, x: &Tensor, y: &Tensor, z: &Tensor, idx: &Tensor) -> crate::Result<[f64; 5]> {
    tch::no_grad(|| {
        let (xs, ys, zs) =
            (x.index_select(0, idx), y.index_select(0, idx).to_kind(Kind::Float), z.index_select(0, idx));
        let (w, f) = senn.forward(&xs);
        let prf = precision_recall_f1(&f, &ys);
        let all = Tensor::cat(&[prf, label_loss(&f, &ys).reshape([1]), explanation_loss(&w, &zs).reshape([1])], 0);
        let v = Vec::<f64>::try_from(all.to_kind(Kind::Double))?;
        Ok([v[0], v[1], v[2], v[3], v[4]])
    })
}

struct Fold {
    train: Tensor,
    test: Tensor,
    instances: Vec<i64>,
    explainers: Vec<Lime>,
}

fn folds(cfg: &Config, data: &ToyData, device: tch::Device) -> crate::Result<Vec<Fold>> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.data.split_seed);
    let n = if cfg.data.folds > 0 { cfg.data.folds } else { cfg.data.n_splits };
    let mut out = vec![];
    for _ in 0..n {
        let (train, mut test) = stratified_split(&data.y_host, cfg.passive.test_fraction, &mut rng);
        if cfg.data.test_subset > 0 {
            test.truncate(cfg.data.test_subset);
        }
        let instances: Vec<i64> = (0..cfg.lime.n_instances).map(|_| test[rng.gen_range(0..test.len())]).collect();
        let mut explainers = vec![];
        if cfg.run.experiment == Experiment::Lime {
            let freq = category_frequencies(&data.codes.index_select(0, &Tensor::from_slice(&train)), 4)?;
            for &r in &cfg.lime.repeats {
                for &s in &cfg.lime.samples {
                    explainers.push(Lime::new(cfg.lime_params(r, s), freq.clone())?);
                }
            }
        }
        let t = |v: &[i64]| Tensor::from_slice(v).to_device(device);
        out.push(Fold { train: t(&train), test: t(&test), instances, explainers });
    }
    Ok(out)
}

/// The `passive` and `lime` experiments.
pub fn run(session: &mut Session<'_, Config>) -> anyhow::Result<Outcome> {
    let cfg = session.config;
    let started = Instant::now();
    let data = data::load(&cfg.data, session.data_root)?;
    let device = session.device;
    let (x, y, z) = data.to_device(device);
    let folds = folds(cfg, &data, device)?;
    let cells = session.cells()?;
    let n_cells = cfg.model.widths.len() * cfg.model.arms.len() * folds.len() * cfg.run.seeds.len();
    let bar = xai_core::progress::counter("cells", n_cells as u64);
    let ckpt_dir = session.run.checkpoints_dir();
    let (mut rows, mut lime_rows, mut failed) = (vec![], vec![], 0);
    for widths in &cfg.model.widths {
        for arm in &cfg.model.arms {
            for (fi, fold) in folds.iter().enumerate() {
                for &seed in &cfg.run.seeds {
                    let key = format!(
                        "{} W={} {} fold={fi} seed={seed}",
                        cfg.run.experiment.name(),
                        widths_name(widths),
                        arm.name()
                    );
                    let res = cells.get_or_run(&key, || -> anyhow::Result<CellOut> {
                        let (out, trainer) =
                            run_cell(cfg, widths, arm, fi, fold, seed, (&x, &y, &z), &data.codes, device)?;
                        if cfg.run.keeps_weights_of(seed) {
                            xai_core::fsutil::create_dir_all(&ckpt_dir)?;
                            let path =
                                ckpt_dir.join(format!("{}.safetensors", xai_core::runner::Cells::file_stem(&key)));
                            xai_core::checkpoint::save(trainer.senn.var_store(), &path)?;
                        }
                        Ok(out)
                    });
                    bar.inc(1);
                    match res {
                        Ok((out, _)) => {
                            rows.extend(out.rows);
                            lime_rows.extend(out.lime);
                        }
                        Err(e) => {
                            log::error!("{key} failed: {e:#}");
                            failed += 1;
                        }
                    }
                }
            }
        }
    }
    bar.finish_and_clear();
    anyhow::ensure!(!rows.is_empty(), "no cell finished ({failed} failed; see the log)");
    session.run.write_csv("metrics.csv", &rows)?;
    let summary = report::summarise_passive(&rows);
    session.run.write_csv("summary.csv", &summary)?;
    let lime_summary = report::summarise_lime(&lime_rows);
    if !lime_rows.is_empty() {
        session.run.write_csv("lime.csv", &lime_rows)?;
        session.run.write_csv("lime_summary.csv", &lime_summary)?;
    }
    let fig_dir = session.run.figures_dir();
    if let Err(e) =
        figures::passive_curves(&summary, &fig_dir).and_then(|_| figures::lime_bars(&lime_summary, &fig_dir))
    {
        log::warn!("figures: {e}");
    }
    let mut table = report::passive_rows(cfg, &summary);
    table.extend(report::lime_rows(cfg, &lime_summary));
    let results = serde_json::json!({
        "experiment": cfg.run.experiment.name(),
        "cells": n_cells,
        "folds": folds.len(),
        "n_examples": data.len(),
        "wall_s": started.elapsed().as_secs_f64(),
        "final": report::finals_json(&summary),
        "lime": report::finals_json(&lime_summary),
    });
    let mut outcome = Outcome::new(
        format!("CALIMOCHO {} ({}) — ours vs spec", cfg.run.experiment.name(), session.label),
        table,
        results,
    );
    outcome.failed_cells = failed;
    Ok(outcome)
}

#[allow(clippy::too_many_arguments)]
fn run_cell(
    cfg: &Config,
    widths: &[i64],
    arm: &Arm,
    fi: usize,
    fold: &Fold,
    seed: u64,
    (x, y, z): (&Tensor, &Tensor, &Tensor),
    codes: &Tensor,
    device: tch::Device,
) -> anyhow::Result<(CellOut, Trainer)> {
    let rng = xai_core::device::seed_everything(seed);
    let mut trainer = Trainer::new(&cfg.model.senn_params(widths, arm), 101, device, rng)?;
    let mut lime_rng = ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1000).wrapping_add(fi as u64 + 1));
    let (xt, yt, zt) = (x.index_select(0, &fold.train), y.index_select(0, &fold.train), z.index_select(0, &fold.train));
    let mut out = CellOut { rows: vec![], lime: vec![] };
    let w_name = widths_name(widths);
    let every = cfg.passive.checkpoint_every;
    let mut step = 0;
    loop {
        let last = step >= cfg.passive.steps;
        if last && !(cfg.passive.measure_final && step > 0) {
            break;
        }
        checkpoint(fold, &trainer.senn, (x, y, z, codes), (&w_name, arm, seed, fi, step), &mut lime_rng, &mut out)?;
        if last {
            break;
        }
        let n = every.min(cfg.passive.steps - step);
        trainer.fit(&xt, &zt, &yt, n, if step == 0 { Start::Cold } else { Start::Warm })?;
        step += n;
    }
    Ok((out, trainer))
}

/// Measures test and train (and LIME) at one checkpoint.
fn checkpoint(
    fold: &Fold,
    senn: &Senn,
    (x, y, z, codes): (&Tensor, &Tensor, &Tensor, &Tensor),
    (w_name, arm, seed, fi, step): (&str, &Arm, u64, usize, usize),
    lime_rng: &mut ChaCha8Rng,
    out: &mut CellOut,
) -> anyhow::Result<()> {
    for (split, idx) in [("test", &fold.test), ("train", &fold.train)] {
        let m = measure(senn, x, y, z, idx)?;
        out.rows.push(PassiveRow {
            widths: w_name.into(),
            lambda1: arm.lambdas[0],
            lambda2: arm.lambdas[1],
            seed,
            fold: fi,
            step,
            split: split.into(),
            precision: m[0],
            recall: m[1],
            f1: m[2],
            yloss: m[3],
            zloss: m[4],
        });
    }
    if !fold.explainers.is_empty() {
        for p in compare(senn, &fold.explainers, &fold.instances, codes, x, lime_rng)? {
            out.lime.push(LimeRow {
                widths: w_name.into(),
                lambda1: arm.lambdas[0],
                lambda2: arm.lambdas[1],
                seed,
                fold: fi,
                step,
                repeats: p.repeats,
                samples: p.samples,
                k: p.k,
                sim: p.sim,
                dis: p.dis,
                dis_max: p.dis_max,
                t_senn: p.t_senn,
                t_lime: p.t_lime,
            });
        }
    }
    Ok(())
}
