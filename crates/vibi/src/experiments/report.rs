//! What a run reports: one `summary.csv` row per cell and the ours-vs-paper rows (the
//! runner writes them as `paper_comparison.*` with the verdict).

use super::Config;
use serde::{Deserialize, Serialize};
use xai_core::report::{Check, Row};

/// One line of `summary.csv` (and `final.json` of a cell).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SummaryRow {
    pub run_id: String,
    pub dataset: String,
    pub explainer: String,
    pub xpl_channels: i64,
    pub chunk: i64,
    #[serde(rename = "F")]
    pub f: i64,
    pub k: i64,
    pub beta: f64,
    pub epochs: usize,
    pub steps: u64,
    pub bb_test_acc: f64,
    pub best_val_fid: f64,
    pub best_epoch: usize,
    pub val_hit_rate: Option<f64>,
    pub test_fid_topk: f64,
    pub test_fid_topk_ci95: f64,
    pub test_fid_multishot: Option<f64>,
    pub test_fid_random: Option<f64>,
    pub test_rationale_fid: Option<f64>,
    pub test_mean_1mjs: f64,
    pub test_hit_rate: Option<f64>,
    pub test_saliency_fid: Option<f64>,
    /// Test top-k fidelity after `[eval] recalibrate_bn_images` (absent when not asked).
    pub test_fid_topk_recalibrated_bn: Option<f64>,
    pub reference_value: Option<f64>,
    pub delta: Option<f64>,
    pub train_images_per_s: Option<f64>,
    pub wall_s: f64,
}

/// The ours-vs-paper rows of a run's cells: judged where `[expect]` gives a threshold.
pub fn report_rows(cfg: &Config, rows: &[SummaryRow]) -> Vec<Row> {
    let x = &cfg.expect;
    let judged = |t: Option<f64>| t.map(Check::AtLeast).unwrap_or(Check::Report);
    let mut out = Vec::new();
    if let Some(r) = rows.first() {
        out.push(
            Row::new("black-box test accuracy", r.bb_test_acc, judged(x.min_bb_accuracy))
                .note("spec: ≈0.99 MNIST resnet18, ≈0.90 CIFAR resnet34"),
        );
    }
    for r in rows {
        let id = if rows.len() > 1 { format!("{} ", r.run_id) } else { String::new() };
        out.push(match r.reference_value {
            Some(p) => Row::new(
                format!("{id}best valid top-k fidelity"),
                r.best_val_fid,
                Check::Within { paper: p, tolerance: x.reference_tolerance },
            )
            .note(format!("epoch {}; reference willisk logs.pdf", r.best_epoch)),
            None => Row::new(format!("{id}best valid top-k fidelity"), r.best_val_fid, Check::Report)
                .note(format!("epoch {}", r.best_epoch)),
        });
        // The paper column carries the spec's own measurements where the config gives them.
        let spec = |row: Row, v: Option<f64>| match v {
            Some(p) => row.paper(p, None),
            None => row,
        };
        let row = Row::new(format!("{id}test top-k fidelity"), r.test_fid_topk, judged(x.min_test_fidelity))
            .ours_std(r.test_fid_topk_ci95);
        out.push(
            spec(row, x.spec_test_fidelity).note("± is the 95% binomial CI; paper column: spec §8 PyTorch prototype"),
        );
        if let Some(v) = r.test_fid_topk_recalibrated_bn {
            out.push(
                Row::new(format!("{id}test top-k fidelity, BatchNorm statistics recomputed"), v, Check::Report)
                    .note("approximator's running statistics on training images under their top-k masks"),
            );
        }
        if let Some(rand) = r.test_fid_random {
            out.push(
                spec(Row::new(format!("{id}test random-mask fidelity"), rand, Check::Report), x.spec_random_fidelity)
                    .note("same approximator, k random chunks"),
            );
            if let Some(m) = x.min_margin_over_random {
                out.push(Row::new(
                    format!("{id}top-k minus random-mask fidelity"),
                    r.test_fid_topk - rand,
                    Check::AtLeast(m),
                ));
            }
        }
        if let Some(h) = r.test_hit_rate {
            out.push(
                spec(
                    Row::new(format!("{id}test hit rate (true patch in top-k)"), h, judged(x.min_hit_rate)),
                    x.spec_hit_rate,
                )
                .note(format!("random: k/F = {:.3}", r.k as f64 / r.f as f64)),
            );
        }
        if let Some(m) = r.test_fid_multishot {
            out.push(Row::new(format!("{id}test multi-shot fidelity"), m, Check::Report));
        }
        if let Some(v) = r.test_rationale_fid {
            out.push(Row::new(format!("{id}test rationale fidelity"), v, judged(x.min_rationale_fidelity)));
        }
        if let Some(s) = r.test_saliency_fid {
            out.push(
                Row::new(format!("{id}saliency top-k fidelity (baseline)"), s, Check::Report)
                    .note("black-box |gradient| pooled per chunk, same approximator"),
            );
        }
    }
    out
}
