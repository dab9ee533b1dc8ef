//! `consistency_features` (paper §4.1, feature panels): label-free attributions of every
//! test image, masking of the top-M pixels, representation shift `‖f(x) − f(x')‖²` per batch.

use super::report::{chart, mean_std_ci, SummaryRow};
use super::{data, train, Config};
use crate::consistency::{perturb, representation_shift, top_masks_along};
use crate::features::label_free_attribution;
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};
use xai_core::report::{Check, Row};
use xai_core::runner::{Outcome, Session};

/// One row of `consistency_features.csv`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShiftRow {
    pub dataset: String,
    pub seed: u64,
    pub method: String,
    pub pct_perturbed: f64,
    pub batch: usize,
    pub rep_shift: f64,
}

/// Shift rows of one seed: train, attribute, mask, measure.
fn run_seed(session: &Session<'_, Config>, seed: u64) -> anyhow::Result<Vec<ShiftRow>> {
    let cfg = session.config;
    let data = data::load_dataset(&cfg.data, true, session.data_root, session.device, seed)?;
    tch::manual_seed(seed as i64);
    let mut ae = cfg.build_model(session.device)?;
    train::train_autoencoder(
        &cfg.train,
        ae.as_mut(),
        cfg.model.pretext()?,
        (&data.train_x, &data.heldout_x),
        seed,
        session.run.path(),
    )?;
    let ae = ae.as_ref();
    let encoder = |x: &Tensor| ae.latent(x, false);
    let base = &data.baseline;
    let figure = session.run.figures_dir().join("masked_examples.png");
    let figure = (seed == cfg.run.seed()).then_some(figure.as_path());
    shift_rows(cfg, seed, &encoder, &data.test_x, &|_| Ok(base.shallow_clone()), data.channel_dim, figure)
}

/// Images shown per method in `masked_examples.png`.
const SHOWN: i64 = 6;

/// The first explicands as RGB with the positions `keep = 0` painted red.
fn painted(x: &Tensor, keep: &Tensor) -> Tensor {
    let rgb = x.to_kind(Kind::Float).expand([-1, 3, -1, -1], false);
    let masked = keep.to_kind(Kind::Float).amin(&[1i64][..], true).lt(0.5);
    let red = Tensor::from_slice(&[1.0f32, 0.0, 0.0]).to_device(x.device()).view([1, 3, 1, 1]).expand_as(&rgb);
    red.where_self(&masked.expand_as(&rgb), &rgb)
}

/// Shift rows of every configured method on explicands `x`, in batches of
/// `features.batch_size`; `baseline_of(batch)` is the attribution baseline and the value
/// masked positions take (shared `[1, …]` or per example `[B, …]`).
pub fn shift_rows(
    cfg: &Config,
    seed: u64,
    encoder: &dyn Fn(&Tensor) -> Tensor,
    x: &Tensor,
    baseline_of: &dyn Fn(&Tensor) -> anyhow::Result<Tensor>,
    channel_dim: i64,
    figure: Option<&std::path::Path>,
) -> anyhow::Result<Vec<ShiftRow>> {
    let n = x.size()[0];
    let bs = cfg.features.batch_size;
    let mut rows = vec![];
    // masked_examples.png: image inputs only, at the smallest non-zero percentage.
    let shown_pct = cfg.features.perturb_pct.iter().cloned().filter(|p| *p > 0.0).fold(f64::INFINITY, f64::min);
    let figure = figure.filter(|_| x.dim() == 4 && shown_pct.is_finite());
    let k = SHOWN.min(n).min(bs);
    let mut panels = vec![];
    let mut captions = vec![];
    if figure.is_some() {
        panels.push(x.narrow(0, 0, k).to_kind(Kind::Float).expand([-1, 3, -1, -1], false));
        captions.extend((0..k).map(|_| "input".to_string()));
    }
    for method in cfg.feature_methods()? {
        tch::manual_seed(seed as i64);
        for (batch, start) in (0..n).step_by(bs as usize).enumerate() {
            let xb = x.narrow(0, start, bs.min(n - start));
            let base = baseline_of(&xb)?;
            let attr = label_free_attribution(encoder, &xb, &base, &method)?;
            let mut push = |pct: f64, shift: f64| {
                rows.push(ShiftRow {
                    dataset: cfg.data.dataset.clone(),
                    seed,
                    method: method.name().into(),
                    pct_perturbed: pct,
                    batch,
                    rep_shift: shift,
                })
            };
            push(0.0, 0.0);
            if batch == 0 && figure.is_some() {
                let keep = top_masks_along(&attr.narrow(0, 0, k), shown_pct, channel_dim)?;
                panels.push(painted(&xb.narrow(0, 0, k), &keep));
                captions.extend((0..k).map(|_| method.name().replace("integrated_gradients", "IG")));
            }
            for &pct in &cfg.features.perturb_pct {
                let keep = top_masks_along(&attr, pct, channel_dim)?;
                let shift = representation_shift(encoder, &xb, &perturb(&xb, &keep, &base));
                push(pct, shift.mean(Kind::Double).double_value(&[]));
            }
        }
        log::info!("seed {seed}: {} done", method.name());
    }
    if let Some(path) = figure {
        std::fs::create_dir_all(path.parent().unwrap_or(std::path::Path::new(".")))?;
        let opts = xai_core::figures::GridOptions {
            columns: k as usize,
            scale: if x.size()[2] <= 28 { 3 } else { 2 },
            captions: Some(captions),
            title: Some(format!("top {shown_pct}% positions (red) per method")),
            ..Default::default()
        };
        xai_core::figures::save_grid(&Tensor::cat(&panels, 0), &opts, path)?;
    }
    Ok(rows)
}

/// Mean shift per (method, pct) over all batches and seeds.
pub fn summarise(rows: &[ShiftRow]) -> Vec<SummaryRow> {
    let mut keys: Vec<(String, f64)> = vec![];
    for r in rows {
        if !keys.iter().any(|(m, p)| *m == r.method && *p == r.pct_perturbed) {
            keys.push((r.method.clone(), r.pct_perturbed));
        }
    }
    keys.into_iter()
        .map(|(method, pct)| {
            let v: Vec<f64> =
                rows.iter().filter(|r| r.method == method && r.pct_perturbed == pct).map(|r| r.rep_shift).collect();
            let (mean, std, n, ci95) = mean_std_ci(&v);
            SummaryRow { method, pct, mean, std, n, ci95 }
        })
        .collect()
}

fn mean_of(summary: &[SummaryRow], method: &str, pct: f64) -> Option<f64> {
    summary.iter().find(|r| r.method == method && r.pct == pct).map(|r| r.mean)
}

/// The ours-vs-paper rows: label-free IG / GradientShap beat Random at 5–20 %, all equal at 100 %.
pub fn checks(summary: &[SummaryRow]) -> Vec<Row> {
    let mut out = vec![];
    for method in ["integrated_gradients", "gradient_shap", "saliency"] {
        for pct in [5.0, 10.0, 20.0] {
            if let (Some(m), Some(r)) = (mean_of(summary, method, pct), mean_of(summary, "random", pct)) {
                let ratio = m / r.max(1e-12);
                let check = if method == "saliency" { Check::Report } else { Check::AtLeast(1.0) };
                out.push(
                    Row::new(format!("shift {method} / random at {pct}%"), ratio, check)
                        .note("paper: every label-free method above Random for p < 100%"),
                );
            }
        }
    }
    let at100: Vec<f64> = summary.iter().filter(|r| r.pct == 100.0).map(|r| r.mean).collect();
    if at100.len() > 1 {
        let spread = at100.iter().cloned().fold(f64::MIN, f64::max) - at100.iter().cloned().fold(f64::MAX, f64::min);
        out.push(
            Row::new("spread of the shifts at 100% (all masked)", spread, Check::AtMost(1e-6))
                .note("paper: curves meet at 100%"),
        );
    }
    if let (Some(ig), Some(sal)) = (mean_of(summary, "integrated_gradients", 10.0), mean_of(summary, "saliency", 10.0))
    {
        out.push(
            Row::new("shift IG / saliency at 10%", ig / sal.max(1e-12), Check::Report)
                .note("paper: IG best, saliency weakest"),
        );
    }
    out
}

pub fn run(session: &mut Session<'_, Config>) -> anyhow::Result<Outcome> {
    let cfg = session.config;
    let started = std::time::Instant::now();
    let cells = session.cells()?;
    let mut rows: Vec<ShiftRow> = vec![];
    let mut skipped = 0;
    for &seed in &cfg.run.seeds {
        let r = super::sweep::cell(&cells, &format!("features seed {seed}"), &mut skipped, || {
            if cfg.data.dataset == "cifar10" {
                super::cifar::feature_rows(session, seed)
            } else {
                run_seed(session, seed)
            }
        })?;
        rows.extend(r.unwrap_or_default());
    }
    session.run.write_csv("consistency_features.csv", &rows)?;
    let summary = summarise(&rows);
    session.run.write_csv("summary.csv", &summary)?;
    let fig = session.run.figures_dir();
    std::fs::create_dir_all(&fig)?;
    if !summary.is_empty() {
        chart(
            &format!("Label-free feature importance ({})", cfg.data.dataset),
            "% features perturbed",
            "representation shift",
            &summary,
            &fig.join("consistency_features.png"),
        )?;
    }
    let seconds = started.elapsed().as_secs_f64();
    session.run.write_json("timing.json", &serde_json::json!({ "seconds": seconds }))?;
    let results = serde_json::json!({ "summary": summary.iter().map(|r| serde_json::json!({
        "method": r.method, "pct": r.pct, "mean": r.mean, "ci95": r.ci95 })).collect::<Vec<_>>(), "seconds": seconds });
    let mut outcome = Outcome::new(
        format!("LFXAI consistency_features ({}) — ours vs paper", session.label),
        checks(&summary),
        results,
    );
    outcome.failed_cells = skipped;
    Ok(outcome)
}
