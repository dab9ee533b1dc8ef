//! E7 / E8 (spec §10): the explainer VAE's latent dimension or depth swept on a real table.
//! One BNN; per value a VAE retrained from the same seed, its validation ELBO and
//! reconstruction error, and CLUE at the headline λ_x on the same rejected test points
//! (E6's metrics: uncertainty drop, ‖Δx‖₁, fraction of rows with lower uncertainty, fraction
//! with a changed prediction). Every value is a cell, so `--resume` skips finished ones.

use super::real::{load_data, reject, subsample, sweep_row, train_bnn, vec_f64};
use super::report::{self, SweepRow};
use super::Config;
use crate::blocks::Blocks;
use crate::bnn::{BnnSamples, Head};
use crate::clue::Clue;
use crate::vae::{TabularVae, VaeSpec};
use crate::vae_train::fit;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::{Kind, Tensor};
use xai_core::figures::{line_panels, ChartExtras, LineChart, Series};
use xai_core::report::{Check, Row};
use xai_core::runner::{Outcome, Session};

/// One value of the sweep (`ablation.csv`); also the stored outcome of its cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AblationRow {
    pub kind: String,
    pub value: usize,
    pub vae_best_epoch: usize,
    pub vae_val_elbo: f64,
    pub vae_test_elbo: f64,
    pub vae_test_recon_l1: f64,
    pub lambda_x: f64,
    pub unc_before: f64,
    pub unc_after: f64,
    pub drop_fraction: f64,
    pub frac_lower: f64,
    pub prediction_change: f64,
    pub mean_l1: f64,
    pub valid_one_hot: bool,
    pub mean_steps: f64,
    pub seconds: f64,
}

/// The VAE sizes of one sweep value.
pub fn spec_for(kind: &str, base: VaeSpec, value: usize) -> VaeSpec {
    match kind {
        "latent_dim" => VaeSpec { latent_dim: value, ..base },
        _ => VaeSpec { depth: value, ..base },
    }
}

/// What every ablation shares: the table, the BNN, the rejected test points and the VAE's
/// train / hold-out split (one for every value, so that their ELBOs are comparable).
pub(super) struct Prepared {
    pub dataset: String,
    pub blocks: Blocks,
    pub test_x: Tensor,
    pub bnn: BnnSamples,
    pub head: Head,
    /// `(w_H, w_A, w_E)` of the objective.
    pub w: (f64, f64, f64),
    /// The rejected test rows.
    pub x0: Tensor,
    pub n_rejected: usize,
    pub xt: Tensor,
    pub xv: Tensor,
}

pub(super) fn prepare(session: &mut Session<'_, Config>) -> Result<Prepared> {
    let cfg = session.config.clone();
    let seed = cfg.run.seed();
    let dev = session.device;
    let data = load_data(&cfg, session.data_root)?;
    let classification = data.y_stats.is_none();
    let blocks = Blocks::new(&data.schema.blocks())?;
    let (train_x, train_y) = subsample(&data.train_x, &data.train_y, cfg.data.train_subset, seed);
    let (test_x, test_y) = subsample(&data.test_x, &data.test_y, cfg.data.test_subset, seed + 1);
    let (train_x, train_y, test_x, test_y) = (train_x.to(dev), train_y.to(dev), test_x.to(dev), test_y.to(dev));
    xai_core::device::seed_everything(seed);
    let head = if classification {
        let k = train_y.max().int64_value(&[]).max(test_y.max().int64_value(&[])) + 1;
        Head::Classification { classes: k.max(2) as usize }
    } else {
        Head::Gaussian { outputs: 1 }
    };
    let (bnn, logs) = train_bnn(session, &train_x, &train_y, head)?;
    session.run.write_csv("bnn_train_log.csv", &logs)?;
    let bnn_metrics = report::bnn_metrics(&bnn, &test_x, &test_y, data.y_stats)?;
    session.run.write_csv("bnn_metrics.csv", std::slice::from_ref(&bnn_metrics))?;
    let w = match cfg.clue.objective.as_str() {
        "aleatoric" => (0.0, 1.0, 0.0),
        "epistemic" => (0.0, 0.0, 1.0),
        _ => (1.0, 0.0, 0.0),
    };
    let u = vec_f64(&tch::no_grad(|| bnn.decompose(&test_x))?.weighted(w.0, w.1, w.2))?;
    let (rejected, tau) = reject(&u, cfg.select.reject_fraction, cfg.select.max_rows);
    let idx = Tensor::from_slice(&rejected.iter().map(|&i| i as i64).collect::<Vec<_>>()).to(dev);
    let x0 = test_x.index_select(0, &idx);
    log::info!("{} ablation: {} rejected test points (τ = {tau:.4})", cfg.ablation.kind, rejected.len());
    let n = train_x.size()[0];
    let n_val = (((n as f64) * cfg.data.valid_fraction).round() as i64).max(2);
    tch::manual_seed(seed as i64 + 100);
    let perm = Tensor::randperm(n, (Kind::Int64, dev));
    let xv = train_x.index_select(0, &perm.narrow(0, 0, n_val));
    let xt = train_x.index_select(0, &perm.narrow(0, n_val, n - n_val));
    Ok(Prepared { dataset: data.name, blocks, test_x, bnn, head, w, x0, n_rejected: rejected.len(), xt, xv })
}

pub fn run(session: &mut Session<'_, Config>) -> Result<Outcome> {
    if session.config.ablation.kind == "init" {
        return super::ablation_init::run(session);
    }
    let cfg = session.config.clone();
    let kind = cfg.ablation.kind.clone();
    let seed = cfg.run.seed();
    let dev = session.device;
    let t0 = Instant::now();
    let Prepared { dataset, blocks, test_x, bnn, head, w, x0, n_rejected, xt, xv } = prepare(session)?;
    log::info!("{kind} values {:?}", cfg.ablation.values);
    let lambda = cfg.clue.lambdas[0];
    let base = cfg.vae.spec(&cfg.data.dataset);
    let cells = session.cells()?;
    let mut rows = vec![];
    for &value in &cfg.ablation.values {
        let (row, _) = cells.get_or_run(&format!("{kind}-{value}"), || -> Result<AblationRow> {
            let t = Instant::now();
            xai_core::device::seed_everything(seed + 100);
            let mut vae = TabularVae::new(blocks.clone(), spec_for(&kind, base, value), dev)?;
            let f = fit(&mut vae, &xt, &xv, &cfg.vae.train_params())?;
            vae.freeze();
            let gen = report::gen_metrics(&vae, &test_x, Some(&f))?;
            let out = Clue::new(cfg.clue.params(lambda))?.explain(&bnn, &vae, &x0)?;
            let steps = out.returned.iter().sum::<usize>() as f64 / out.returned.len().max(1) as f64;
            let s: SweepRow = sweep_row("clue", lambda, &blocks, &bnn, w, &x0, &out.x_clue, head, steps, None)?;
            Ok(AblationRow {
                kind: kind.clone(),
                value,
                vae_best_epoch: f.best_epoch,
                vae_val_elbo: f.best_val_elbo,
                vae_test_elbo: gen.test_elbo,
                vae_test_recon_l1: gen.test_recon_l1,
                lambda_x: lambda,
                unc_before: s.unc_before,
                unc_after: s.unc_after,
                drop_fraction: s.drop_fraction,
                frac_lower: s.frac_lower,
                prediction_change: s.prediction_change,
                mean_l1: s.mean_l1,
                valid_one_hot: s.valid_one_hot,
                mean_steps: s.mean_steps,
                seconds: t.elapsed().as_secs_f64(),
            })
        })?;
        log::info!(
            "{kind} = {value}: val ELBO {:.3}, recon L1 {:.3}, drop {:.3}, ‖Δx‖₁ {:.3}",
            row.vae_val_elbo,
            row.vae_test_recon_l1,
            row.drop_fraction,
            row.mean_l1
        );
        rows.push(row);
    }
    session.run.write_csv("ablation.csv", &rows)?;
    figure(&session.run.figures_dir(), &dataset, &kind, &rows)?;
    outcome(&cfg, &dataset, &kind, &rows, n_rejected, t0.elapsed().as_secs_f64())
}

/// `figures/ablation_<kind>.png`: one panel per metric against the swept value.
fn figure(dir: &std::path::Path, dataset: &str, kind: &str, rows: &[AblationRow]) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let x: Vec<f64> = rows.iter().map(|r| r.value as f64).collect();
    let panel = |title: &str, y: fn(&AblationRow) -> f64| {
        let chart = LineChart {
            title: title.into(),
            x_label: kind.replace('_', " "),
            y_label: title.into(),
            series: vec![Series { name: dataset.into(), x: x.clone(), y: rows.iter().map(y).collect(), band: None }],
            ..Default::default()
        };
        (chart, ChartExtras { x_ticks: Some(x.clone()), references: vec![] })
    };
    let panels = [
        panel("VAE validation ELBO", |r| r.vae_val_elbo),
        panel("VAE test ‖recon − x‖₁", |r| r.vae_test_recon_l1),
        panel("CLUE relative uncertainty drop", |r| r.drop_fraction),
        panel("CLUE mean ‖Δx‖₁", |r| r.mean_l1),
    ];
    Ok(line_panels(
        &format!("{dataset}: VAE {} ablation", kind.replace('_', " ")),
        &panels,
        2,
        &dir.join(format!("ablation_{kind}.png")),
    )?)
}

fn outcome(cfg: &Config, dataset: &str, kind: &str, rows: &[AblationRow], n: usize, seconds: f64) -> Result<Outcome> {
    let mut out = vec![];
    for r in rows {
        out.push(
            Row::new(
                format!("{dataset} {kind} = {}: CLUE relative uncertainty drop", r.value),
                r.drop_fraction,
                Check::Report,
            )
            .note(format!(
                "VAE val ELBO {:.3}, recon L1 {:.3}; ‖Δx‖₁ {:.3}; {:.0}% rows lower; {:.3} prediction change",
                r.vae_val_elbo,
                r.vae_test_recon_l1,
                r.mean_l1,
                100.0 * r.frac_lower,
                r.prediction_change
            )),
        );
    }
    let finite = rows.iter().all(|r| {
        [r.vae_val_elbo, r.vae_test_recon_l1, r.drop_fraction, r.mean_l1].iter().all(|v| v.is_finite())
            && r.valid_one_hot
    });
    out.push(Row::new(
        format!("{dataset}: every {kind} value gave finite metrics and valid one-hot CLUEs"),
        f64::from(u8::from(finite)),
        Check::AtLeast(1.0),
    ));
    let best = rows.iter().map(|r| r.drop_fraction).fold(f64::NEG_INFINITY, f64::max);
    out.push(Row::new(
        format!("{dataset}: best CLUE drop over the {kind} grid"),
        best,
        Check::AtLeast(cfg.checks.min_drop),
    ));
    let results = serde_json::json!({
        "dataset": dataset,
        "kind": kind,
        "lambda_x": cfg.clue.lambdas[0],
        "n_explained": n,
        "rows": rows,
        "seconds": seconds,
        "deviations": ["VAEs trained with Adam (RAdam not implemented)", "the depth grid {1,2,3,4} is ours: the paper's was not retrieved"],
    });
    Ok(Outcome::new(format!("CLUE {dataset} ({} ablation, E7/E8)", kind.replace('_', " ")), out, results))
}
