//! E9 (spec §10, optional): where CLUE's search starts. One BNN and one VAE; CLUE at the
//! headline λ_x on the same rejected test points from the encoder mean μ_φ(x0) (the
//! default), from z0 = 0, from a prior draw z0 ~ N(0, I), from μ_φ(x0) + N(0, σ²), and
//! input-space CLUE (no VAE: x itself optimised from x0). Per start: ΔU (mean decrease of
//! the objective's uncertainty), ‖Δx‖₁, the distance the start point already has from x0,
//! rows lower, prediction change. Every start is a cell, so `--resume` skips finished ones.
//! (The spec's deterministic-NN CLUE is not run.)

use super::ablation::{prepare, Prepared};
use super::real::sweep_row;
use super::report::SweepRow;
use super::Config;
use crate::bnn::Head;
use crate::clue::{Clue, InputSpace, LatentDecoder};
use crate::params::ClueInit;
use crate::vae::TabularVae;
use crate::vae_train::fit;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::Kind;
use xai_core::figures::{bar_chart, Bar};
use xai_core::report::{Check, Row};
use xai_core::runner::{Cells, Outcome, Session};

/// One start of the sweep (`ablation.csv`); also the stored outcome of its cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitRow {
    pub init: String,
    pub lambda_x: f64,
    pub unc_before: f64,
    pub unc_after: f64,
    /// `unc_before − unc_after` (the spec's ΔH; Δσ_total for regression).
    pub delta_unc: f64,
    pub drop_fraction: f64,
    pub frac_lower: f64,
    pub prediction_change: f64,
    /// Mean ‖x_CLUE − x0‖₁.
    pub mean_l1: f64,
    /// Mean ‖x(z0) − x0‖₁: how far the start already is.
    pub start_l1: f64,
    pub valid_one_hot: bool,
    pub mean_steps: f64,
    pub seconds: f64,
}

fn init_of(name: &str, std: f64) -> ClueInit {
    match name {
        "zero" => ClueInit::Zero,
        "random" => ClueInit::Prior,
        "perturbed" => ClueInit::Perturbed { std },
        _ => ClueInit::EncoderMean,
    }
}

pub fn run(session: &mut Session<'_, Config>) -> Result<Outcome> {
    let cfg = session.config.clone();
    let seed = cfg.run.seed();
    let t0 = Instant::now();
    let Prepared { dataset, blocks, test_x: _, bnn, head, w, x0, n_rejected, xt, xv } = prepare(session)?;
    let lambda = cfg.clue.lambdas[0];
    xai_core::device::seed_everything(seed + 100);
    let mut vae = TabularVae::new(blocks.clone(), cfg.vae.spec(&cfg.data.dataset), session.device)?;
    let fit_ = fit(&mut vae, &xt, &xv, &cfg.vae.train_params())?;
    vae.save(&session.run.checkpoints_dir().join("vae.safetensors"))?;
    vae.freeze();
    let cells = session.cells()?;
    let (mut rows, mut failed, mut errors) = (vec![], 0usize, vec![]);
    for (i, name) in cfg.ablation.inits.iter().enumerate() {
        let cell = cells.get_or_run(&format!("init-{name}"), || -> Result<InitRow> {
            let t = Instant::now();
            // Each start draws its own noise, so a resumed run equals an uninterrupted one.
            xai_core::device::seed_everything(seed + 200 + i as u64);
            let params =
                crate::params::ClueParams { init: init_of(name, cfg.ablation.init_std), ..cfg.clue.params(lambda) };
            let dec: &dyn LatentDecoder = if name == "input_space" { &InputSpace } else { &vae };
            let out = Clue::new(params)?.explain(&bnn, dec, &x0)?;
            let steps = out.returned.iter().sum::<usize>() as f64 / out.returned.len().max(1) as f64;
            let s: SweepRow = sweep_row(name, lambda, &blocks, &bnn, w, &x0, &out.x_clue, head, steps, None)?;
            let start = (out.trajectory.x.get(0) - &x0).abs().sum_dim_intlist(1, false, Kind::Float);
            Ok(InitRow {
                init: name.clone(),
                lambda_x: lambda,
                unc_before: s.unc_before,
                unc_after: s.unc_after,
                delta_unc: s.unc_before - s.unc_after,
                drop_fraction: s.drop_fraction,
                frac_lower: s.frac_lower,
                prediction_change: s.prediction_change,
                mean_l1: s.mean_l1,
                start_l1: start.mean(Kind::Float).double_value(&[]),
                valid_one_hot: s.valid_one_hot,
                mean_steps: s.mean_steps,
                seconds: t.elapsed().as_secs_f64(),
            })
        });
        match cell {
            Ok((row, _)) => {
                log::info!(
                    "init {name}: ΔU {:.4} ({:.1}%), ‖Δx‖₁ {:.3} (start {:.3})",
                    row.delta_unc,
                    100.0 * row.drop_fraction,
                    row.mean_l1,
                    row.start_l1
                );
                rows.push(row);
            }
            Err(e) if Cells::is_skipped(&e) => failed += 1,
            Err(e) => {
                log::error!("init {name}: {e:#}");
                errors.push(format!("{name}: {e:#}"));
                failed += 1;
            }
        }
    }
    session.run.write_csv("ablation.csv", &rows)?;
    if !rows.is_empty() {
        figures(&session.run.figures_dir(), &dataset, &rows)?;
    }
    let unit = if matches!(head, Head::Classification { .. }) { "entropy" } else { "σ_total" };
    let mut out = outcome_rows(&cfg, &dataset, unit, &rows);
    out.push(
        Row::new(format!("{dataset}: VAE best val ELBO per row"), fit_.best_val_elbo, Check::Report)
            .note("one VAE for every start; Adam instead of RAdam"),
    );
    let results = serde_json::json!({
        "dataset": dataset,
        "kind": "init",
        "lambda_x": lambda,
        "init_std": cfg.ablation.init_std,
        "n_explained": n_rejected,
        "rows": rows,
        "cell_errors": errors,
        "seconds": t0.elapsed().as_secs_f64(),
        "deviations": [
            "VAE trained with Adam (RAdam not implemented)",
            "`random` = a prior draw z0 ~ N(0, I) and `perturbed` = encoder mean + N(0, init_std²) [ours: the spec names a random init without its law]",
            "the spec's deterministic-NN CLUE is not run",
        ],
    });
    let mut o = Outcome::new(format!("CLUE {dataset} (initialisation ablation, E9)"), out, results);
    o.failed_cells = failed;
    Ok(o)
}

/// Ours-vs-paper rows: ΔU and ‖Δx‖₁ per start, and the judged checks.
fn outcome_rows(cfg: &Config, dataset: &str, unit: &str, rows: &[InitRow]) -> Vec<Row> {
    let mut out: Vec<Row> = rows
        .iter()
        .map(|r| {
            Row::new(format!("{dataset} init = {}: CLUE Δ{unit} (mean decrease)", r.init), r.delta_unc, Check::Report)
                .note(format!(
                    "{:.1}% drop; ‖Δx‖₁ {:.3} (start {:.3}); {:.0}% rows lower; {:.3} prediction change; {:.1} steps",
                    100.0 * r.drop_fraction,
                    r.mean_l1,
                    r.start_l1,
                    100.0 * r.frac_lower,
                    r.prediction_change,
                    r.mean_steps
                ))
        })
        .collect();
    let finite = rows.iter().all(|r| [r.delta_unc, r.mean_l1, r.start_l1].iter().all(|v| v.is_finite()));
    out.push(Row::new(
        format!("{dataset}: every start gave finite metrics"),
        f64::from(u8::from(finite && !rows.is_empty())),
        Check::AtLeast(1.0),
    ));
    let latent_valid = rows.iter().filter(|r| r.init != "input_space").all(|r| r.valid_one_hot);
    out.push(
        Row::new(
            format!("{dataset}: latent-space CLUEs are valid one-hot rows (every start)"),
            f64::from(u8::from(latent_valid)),
            Check::AtLeast(1.0),
        )
        .note("input-space CLUE is exempt: it moves one-hot entries freely"),
    );
    let get = |name: &str| rows.iter().find(|r| r.init == name);
    if let Some(m) = get("encoder_mean") {
        out.push(
            Row::new(
                format!("{dataset}: relative {unit} drop from the encoder mean"),
                m.drop_fraction,
                Check::AtLeast(cfg.checks.min_drop),
            )
            .note(format!("λ_x = {}", m.lambda_x)),
        );
        for other in ["zero", "random"] {
            if let Some(o) = get(other) {
                out.push(
                    Row::new(
                        format!("{dataset}: ‖Δx‖₁ from the encoder mean ÷ from `{other}`"),
                        m.mean_l1 / o.mean_l1.max(1e-12),
                        Check::Report,
                    )
                    .note("below 1: starting at x0's code keeps CLUEs closer to x0"),
                );
            }
        }
    }
    out
}

/// `ablation_init.png` (ΔU per start) and `ablation_init_l1.png` (‖Δx‖₁ per start).
fn figures(dir: &std::path::Path, dataset: &str, rows: &[InitRow]) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let bars = |v: fn(&InitRow) -> f64| -> Vec<Bar> {
        rows.iter().map(|r| Bar { label: r.init.replace('_', " "), value: v(r), err: None }).collect()
    };
    let lambda = rows[0].lambda_x;
    bar_chart(
        &format!("{dataset}: CLUE uncertainty decrease by start (λ_x = {lambda})"),
        "mean decrease of the objective's uncertainty",
        &bars(|r| r.delta_unc),
        &dir.join("ablation_init.png"),
    )?;
    bar_chart(
        &format!("{dataset}: CLUE ‖Δx‖₁ by start (λ_x = {lambda})"),
        "mean ‖x_CLUE − x0‖₁",
        &bars(|r| r.mean_l1),
        &dir.join("ablation_init_l1.png"),
    )?;
    Ok(())
}
