//! What a sweep leaves behind (spec §7): `runs.csv` (one row per method × λ × seed),
//! `summary.csv` (mean ± std per method × λ), `best.csv` (best λ per method, chosen on
//! validation), the paper-style table, `timing.csv`, and the accuracy-vs-λ chart.

use super::cell::{float, opt_float};
use super::config::Method;
use crate::{CdepError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{Device, Kind, Tensor};
use xai_core::figures::{
    apply_colormap, line_chart, line_chart_with, save_decorated_grid, ChartExtras, ColorBar, ColorMap, Decorations,
    GridOptions, LineChart, Reference, Series,
};

/// One finished run. Columns after `test_acc` that do not apply to an experiment stay
/// empty.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RunRow {
    pub experiment: String,
    pub method: String,
    #[serde(with = "float")]
    pub lambda: f64,
    pub seed: u64,
    pub epochs_run: usize,
    #[serde(with = "float")]
    pub train_acc: f64,
    #[serde(with = "float")]
    pub val_loss: f64,
    #[serde(with = "float")]
    pub val_acc: f64,
    #[serde(with = "float")]
    pub test_acc: f64,
    /// Mean CD share of the spurious blob on test data (image experiments).
    #[serde(with = "opt_float")]
    pub test_share: Option<f64>,
    /// Share of test predictions that change without the blob's relevant CD part.
    #[serde(with = "opt_float")]
    pub test_blob_flip: Option<f64>,
    /// Test accuracy of the best epoch by *test* accuracy (the old notebooks' protocol).
    #[serde(with = "opt_float")]
    pub test_acc_max_epoch: Option<f64>,
    /// Test accuracy of the last epoch's weights (what the reference DecoyMNIST script
    /// reports), beside `test_acc` from the best-validation weights.
    #[serde(with = "opt_float")]
    pub test_acc_last_epoch: Option<f64>,
    #[serde(with = "opt_float")]
    pub auc_all: Option<f64>,
    #[serde(with = "opt_float")]
    pub f1_all: Option<f64>,
    #[serde(with = "opt_float")]
    pub auc_nopatch: Option<f64>,
    #[serde(with = "opt_float")]
    pub f1_nopatch: Option<f64>,
    #[serde(with = "opt_float")]
    pub flip_rate: Option<f64>,
    /// COMPAS: false-positive rates (race columns zeroed at evaluation).
    #[serde(with = "opt_float")]
    pub fpr_black: Option<f64>,
    #[serde(with = "opt_float")]
    pub fpr_white: Option<f64>,
    #[serde(with = "float")]
    pub penalty_last_epoch: f64,
    #[serde(with = "float")]
    pub sec_per_epoch: f64,
    #[serde(with = "float")]
    pub peak_mem_mb: f64,
    pub git_rev: String,
    pub config_hash: String,
    /// What initialised the embeddings (SST), empty elsewhere.
    pub embeddings: String,
}

/// Mean and sample standard deviation (0 for one value).
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = v.iter().sum::<f64>() / n;
    let s = if v.len() > 1 { (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
    (m, s)
}

/// Runs of one (method, λ).
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    pub method: String,
    pub lambda: f64,
    pub n_seeds: usize,
    pub test_acc_mean: f64,
    pub test_acc_std: f64,
    pub val_acc_mean: f64,
    pub val_loss_mean: f64,
    pub test_share_mean: Option<f64>,
    pub test_blob_flip_mean: Option<f64>,
    pub test_acc_max_epoch_mean: Option<f64>,
    pub test_acc_last_epoch_mean: Option<f64>,
    pub test_acc_last_epoch_std: Option<f64>,
    pub auc_nopatch_mean: Option<f64>,
    pub flip_rate_mean: Option<f64>,
    pub fpr_black_mean: Option<f64>,
    pub fpr_white_mean: Option<f64>,
    pub sec_per_epoch_mean: f64,
    pub peak_mem_mb_max: f64,
}

fn opt_mean(rows: &[&RunRow], f: impl Fn(&RunRow) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = rows.iter().filter_map(|r| f(r)).collect();
    (!v.is_empty()).then(|| mean_std(&v).0)
}

fn opt_std(rows: &[&RunRow], f: impl Fn(&RunRow) -> Option<f64>) -> Option<f64> {
    let v: Vec<f64> = rows.iter().filter_map(|r| f(r)).collect();
    (!v.is_empty()).then(|| mean_std(&v).1)
}

/// Groups runs by (method, λ) in method order, λ ascending.
pub fn summarize(rows: &[RunRow]) -> Vec<SummaryRow> {
    let mut groups: BTreeMap<(String, u64), Vec<&RunRow>> = BTreeMap::new();
    for r in rows {
        groups.entry((r.method.clone(), r.lambda.to_bits())).or_default().push(r);
    }
    let mut out: Vec<SummaryRow> = groups
        .into_values()
        .map(|g| {
            let acc: Vec<f64> = g.iter().map(|r| r.test_acc).collect();
            let (m, s) = mean_std(&acc);
            SummaryRow {
                method: g[0].method.clone(),
                lambda: g[0].lambda,
                n_seeds: g.len(),
                test_acc_mean: m,
                test_acc_std: s,
                val_acc_mean: mean_std(&g.iter().map(|r| r.val_acc).collect::<Vec<_>>()).0,
                val_loss_mean: mean_std(&g.iter().map(|r| r.val_loss).collect::<Vec<_>>()).0,
                test_share_mean: opt_mean(&g, |r| r.test_share),
                test_blob_flip_mean: opt_mean(&g, |r| r.test_blob_flip),
                test_acc_max_epoch_mean: opt_mean(&g, |r| r.test_acc_max_epoch),
                test_acc_last_epoch_mean: opt_mean(&g, |r| r.test_acc_last_epoch),
                test_acc_last_epoch_std: opt_std(&g, |r| r.test_acc_last_epoch),
                auc_nopatch_mean: opt_mean(&g, |r| r.auc_nopatch),
                flip_rate_mean: opt_mean(&g, |r| r.flip_rate),
                fpr_black_mean: opt_mean(&g, |r| r.fpr_black),
                fpr_white_mean: opt_mean(&g, |r| r.fpr_white),
                sec_per_epoch_mean: mean_std(&g.iter().map(|r| r.sec_per_epoch).collect::<Vec<_>>()).0,
                peak_mem_mb_max: g.iter().map(|r| r.peak_mem_mb).fold(0.0, f64::max),
            }
        })
        .collect();
    out.sort_by(|a, b| method_rank(&a.method).cmp(&method_rank(&b.method)).then(a.lambda.total_cmp(&b.lambda)));
    out
}

fn method_rank(name: &str) -> usize {
    ["vanilla", "excluded", "cdep", "rrr", "eg"].iter().position(|m| *m == name).unwrap_or(9)
}

/// Per method, the λ with the best mean validation accuracy (ties: lower validation
/// loss). Test numbers are never used to choose.
pub fn best_per_method(summary: &[SummaryRow]) -> Vec<SummaryRow> {
    let mut best: BTreeMap<usize, SummaryRow> = BTreeMap::new();
    for s in summary {
        let better = match best.get(&method_rank(&s.method)) {
            None => true,
            Some(b) => {
                s.val_acc_mean > b.val_acc_mean
                    || (s.val_acc_mean == b.val_acc_mean && s.val_loss_mean < b.val_loss_mean)
            }
        };
        if better {
            best.insert(method_rank(&s.method), s.clone());
        }
    }
    best.into_values().collect()
}

/// `mean ± std` as the tables show it.
pub fn pm(m: f64, s: f64) -> String {
    format!("{m:.1} ± {s:.1}")
}

/// The paper-style one-row table: best-λ test accuracy per method.
pub fn write_paper_table(
    dir: &Path,
    file: &str,
    experiment: &str,
    best: &[SummaryRow],
    methods: &[Method],
) -> Result<()> {
    let mut header = vec!["experiment".to_string()];
    let mut row = vec![experiment.to_string()];
    for m in methods {
        header.push(m.title().to_string());
        row.push(
            best.iter()
                .find(|b| b.method == m.name())
                .map(|b| pm(b.test_acc_mean, b.test_acc_std))
                .unwrap_or_else(|| "–".into()),
        );
    }
    let text =
        format!("{}\n{}\n", header.join(","), row.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(","));
    xai_core::fsutil::atomic_write(&dir.join(file), text.as_bytes())?;
    Ok(())
}

/// `timing.csv`: seconds per epoch and peak memory per method, with the ratio to vanilla.
#[derive(Debug, Clone, Serialize)]
pub struct TimingRow {
    pub method: String,
    pub sec_per_epoch: f64,
    pub ratio_to_vanilla: Option<f64>,
    pub peak_mem_mb: f64,
}

pub fn timing(rows: &[RunRow]) -> Vec<TimingRow> {
    let mut by: BTreeMap<usize, (String, Vec<f64>, f64)> = BTreeMap::new();
    for r in rows {
        let e = by.entry(method_rank(&r.method)).or_insert_with(|| (r.method.clone(), vec![], 0.0));
        e.1.push(r.sec_per_epoch);
        e.2 = e.2.max(r.peak_mem_mb);
    }
    let vanilla = by.get(&0).map(|v| mean_std(&v.1).0);
    by.into_values()
        .map(|(method, secs, mem)| {
            let s = mean_std(&secs).0;
            TimingRow { method, sec_per_epoch: s, ratio_to_vanilla: vanilla.map(|v| s / v), peak_mem_mb: mem }
        })
        .collect()
}

/// Test accuracy against λ: one line with a ±std band per penalised method, ticks exactly
/// at the swept λ values (evenly spaced, labelled with the values); λ = 0 methods
/// (vanilla, excluded) are dashed reference lines with a mean ± std band, not lines
/// across λ.
pub fn results_chart(summary: &[SummaryRow], title: &str, path: &Path) -> Result<()> {
    let (chart, extras) = results_chart_parts(summary, title);
    line_chart_with(&chart, &extras, path).map_err(CdepError::from)
}

/// The chart and its extras (ticks, references) that [`results_chart`] draws.
pub fn results_chart_parts(summary: &[SummaryRow], title: &str) -> (LineChart, ChartExtras) {
    let mut lams: Vec<f64> = summary.iter().map(|s| s.lambda).filter(|l| *l > 0.0).collect();
    lams.sort_by(f64::total_cmp);
    lams.dedup();
    let mut series = vec![];
    let mut references = vec![];
    let mut methods: Vec<&str> = summary.iter().map(|s| s.method.as_str()).collect();
    methods.dedup();
    for m in methods {
        let pts: Vec<&SummaryRow> = summary.iter().filter(|s| s.method == m).collect();
        if pts.iter().all(|p| p.lambda == 0.0) {
            let p = pts[0];
            references.push(Reference {
                name: format!("{m} (mean ± std)"),
                y: p.test_acc_mean,
                band: Some(p.test_acc_std),
            });
            continue;
        }
        let p: Vec<&&SummaryRow> = pts.iter().filter(|p| p.lambda > 0.0).collect();
        let x: Vec<f64> = p.iter().map(|p| p.lambda).collect();
        let y: Vec<f64> = p.iter().map(|p| p.test_acc_mean).collect();
        let sd: Vec<f64> = p.iter().map(|p| p.test_acc_std).collect();
        let band = (y.iter().zip(&sd).map(|(a, b)| a - b).collect(), y.iter().zip(&sd).map(|(a, b)| a + b).collect());
        series.push(Series { name: m.to_string(), x, y, band: Some(band) });
    }
    let chart = LineChart {
        title: title.into(),
        x_label: "λ (swept values)".into(),
        y_label: "test accuracy (%)".into(),
        log_x: false,
        log_y: false,
        series,
    };
    let x_ticks = if lams.is_empty() { Some(vec![1.0]) } else { Some(lams) };
    (chart, ChartExtras { x_ticks, references })
}

/// Per-epoch test accuracy of several runs of one setting (one curve per seed; early
/// stopping can make them differ in length).
#[derive(Debug, Clone, Default)]
pub struct EpochCurves {
    pub label: String,
    pub per_seed: Vec<Vec<f64>>,
}

/// Test accuracy against epoch, mean ± std over the seeds that reached each epoch: shows
/// when a network adopts a shortcut (DecoyMNIST vanilla falls from ≈98 % after epoch 1).
pub fn epoch_chart(curves: &[EpochCurves], title: &str, path: &Path) -> Result<()> {
    let series = curves
        .iter()
        .filter(|c| c.per_seed.iter().any(|s| !s.is_empty()))
        .map(|c| {
            let longest = c.per_seed.iter().map(Vec::len).max().unwrap_or(0);
            let stats: Vec<(f64, f64)> = (0..longest)
                .map(|e| mean_std(&c.per_seed.iter().filter_map(|s| s.get(e).copied()).collect::<Vec<_>>()))
                .collect();
            Series {
                name: c.label.clone(),
                x: (1..=longest).map(|e| e as f64).collect(),
                y: stats.iter().map(|s| s.0).collect(),
                band: Some((stats.iter().map(|s| s.0 - s.1).collect(), stats.iter().map(|s| s.0 + s.1).collect())),
            }
        })
        .collect();
    let chart = LineChart {
        title: title.into(),
        x_label: "epoch".into(),
        y_label: "test accuracy (%)".into(),
        log_x: false,
        log_y: false,
        series,
    };
    line_chart(&chart, path).map_err(CdepError::from)
}

/// One row of the CD heat-map figure: per-pixel relevant shares `[n, H, W]` of one trained
/// model (each pixel its own blob; `β_c / (|β_c| + |γ_c|)` of the predicted class `c`).
#[derive(Debug)]
pub struct HeatRow {
    pub label: String,
    pub share: Tensor,
}

/// The CD heat-map figure (spec §7 `cd_heatmap_<exp>.png`): the test inputs in the first
/// row, then one row per trained model with each pixel's relevant share of the predicted
/// logit, `β_c / (|β_c| + |γ_c|)` for the pixel as its own blob (red: the pixel's own
/// contribution pushes the prediction up, blue: down). Each row is scaled by its own
/// largest magnitude, which a note beside it gives: a one-pixel blob's share is small
/// and differs by orders of magnitude between a vanilla and a CDEP network, so one
/// shared scale would show one of them flat. The penalty's own measure, the
/// class-averaged `softmax([β, γ])₀`, is dominated by the logits themselves (it is
/// `σ(2β_c − logit_c)`, nearly the same for every pixel), so it is not what is drawn.
/// Returns the grid's images and options and the decorations (colour bar, one note per row).
pub fn heatmap_parts(inputs: &Tensor, rows: &[HeatRow], title: &str) -> Result<(Tensor, GridOptions, Decorations)> {
    let n = inputs.size()[0];
    let mut grid = vec![inputs.to_device(Device::Cpu).to_kind(Kind::Float)];
    if grid[0].size()[1] == 1 {
        grid[0] = grid[0].repeat([1, 3, 1, 1]);
    }
    let mut captions: Vec<String> = (0..n).map(|_| "input".to_string()).collect();
    let mut notes = vec!["row 1: the test inputs (rescaled for display)".to_string()];
    for (k, r) in rows.iter().enumerate() {
        let v = r.share.to_device(Device::Cpu).to_kind(Kind::Float);
        let scale = v.abs().max().double_value(&[]);
        let scale = if scale.is_finite() && scale > 0.0 { scale } else { 1.0 };
        grid.push(apply_colormap(&(&v / scale), ColorMap::BlueWhiteRed)?);
        captions.extend((0..v.size()[0]).map(|_| r.label.clone()));
        let mean = v.mean(Kind::Float).double_value(&[]);
        notes.push(format!(
            "row {}: {} — per-pixel relevant share of the predicted logit, scaled by its max |share| = {scale:.2e} (mean {mean:+.2e})",
            k + 2,
            r.label
        ));
    }
    notes.push(
        "share = β_c / (|β_c| + |γ_c|): CD of each pixel as its own blob, c = predicted class; red up, blue down"
            .into(),
    );
    let opts = GridOptions {
        columns: n as usize,
        scale: 4,
        captions: Some(captions),
        title: Some(title.to_string()),
        ..Default::default()
    };
    let decorations = Decorations {
        legend: vec![],
        colorbar: Some(ColorBar { map: ColorMap::BlueWhiteRed, min: -1.0, max: 1.0, label: "share / row max".into() }),
        notes,
    };
    Ok((Tensor::cat(&grid, 0), opts, decorations))
}

/// Draws [`heatmap_parts`] to `path`.
pub fn heatmap_figure(inputs: &Tensor, rows: &[HeatRow], title: &str, path: &Path) -> Result<()> {
    let (images, opts, decorations) = heatmap_parts(inputs, rows, title)?;
    save_decorated_grid(&images, &opts, &decorations, path).map_err(CdepError::from)
}
