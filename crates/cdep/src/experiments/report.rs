//! What a sweep leaves behind (spec §7): `runs.csv` (one row per method × λ × seed),
//! `summary.csv` (mean ± std per method × λ), `best.csv` (best λ per method, chosen on
//! validation), the paper-style table, `timing.csv`, and the accuracy-vs-λ chart.

use super::cell::{float, opt_float};
use super::config::Method;
use crate::{CdepError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use xai_core::figures::{line_chart, LineChart, Series};

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

/// Test accuracy against λ (log x), one line with a ±std band per penalised method;
/// λ = 0 methods (vanilla, excluded) are drawn flat across the λ range.
pub fn results_chart(summary: &[SummaryRow], title: &str, path: &Path) -> Result<()> {
    let lams: Vec<f64> = summary.iter().map(|s| s.lambda).filter(|l| *l > 0.0).collect();
    let (lo, hi) = if lams.is_empty() {
        (0.1, 10.0)
    } else {
        (lams.iter().cloned().fold(f64::INFINITY, f64::min), lams.iter().cloned().fold(0.0, f64::max))
    };
    let (lo, hi) = if lo == hi { (lo / 2.0, hi * 2.0) } else { (lo, hi) };
    let mut series = vec![];
    let mut methods: Vec<&str> = summary.iter().map(|s| s.method.as_str()).collect();
    methods.dedup();
    for m in methods {
        let pts: Vec<&SummaryRow> = summary.iter().filter(|s| s.method == m).collect();
        let (x, y, sd): (Vec<f64>, Vec<f64>, Vec<f64>) = if pts.iter().all(|p| p.lambda == 0.0) {
            let p = pts[0];
            (vec![lo, hi], vec![p.test_acc_mean; 2], vec![p.test_acc_std; 2])
        } else {
            let p: Vec<&&SummaryRow> = pts.iter().filter(|p| p.lambda > 0.0).collect();
            (
                p.iter().map(|p| p.lambda).collect(),
                p.iter().map(|p| p.test_acc_mean).collect(),
                p.iter().map(|p| p.test_acc_std).collect(),
            )
        };
        let band = (y.iter().zip(&sd).map(|(a, b)| a - b).collect(), y.iter().zip(&sd).map(|(a, b)| a + b).collect());
        series.push(Series { name: m.to_string(), x, y, band: Some(band) });
    }
    let chart = LineChart {
        title: title.into(),
        x_label: "λ".into(),
        y_label: "test accuracy (%)".into(),
        log_x: true,
        log_y: false,
        series,
    };
    line_chart(&chart, path).map_err(CdepError::from)
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
