//! Summary statistics, CSV rows and figures shared by the experiments.

use serde::Serialize;
use std::path::Path;
use xai_core::figures::{line_chart, LineChart, Series};

/// Mean, sample standard deviation, count and 95% normal-approximation half-width.
pub fn mean_std_ci(values: &[f64]) -> (f64, f64, usize, f64) {
    let n = values.len();
    if n == 0 {
        return (f64::NAN, f64::NAN, 0, f64::NAN);
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = if n > 1 { values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64 } else { 0.0 };
    let std = var.sqrt();
    (mean, std, n, 1.96 * std / (n as f64).sqrt())
}

/// One row of `summary.csv`.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    pub method: String,
    pub pct: f64,
    pub mean: f64,
    pub std: f64,
    pub n: usize,
    pub ci95: f64,
}

/// A line per name over x, with a band of ± ci95 when given.
pub fn chart(title: &str, x_label: &str, y_label: &str, rows: &[SummaryRow], path: &Path) -> anyhow::Result<()> {
    let mut names: Vec<&str> = rows.iter().map(|r| r.method.as_str()).collect();
    names.dedup();
    let series = names
        .iter()
        .map(|name| {
            let pts: Vec<&SummaryRow> = rows.iter().filter(|r| r.method == *name).collect();
            let lo = pts.iter().map(|r| r.mean - r.ci95).collect();
            let hi = pts.iter().map(|r| r.mean + r.ci95).collect();
            Series {
                name: name.to_string(),
                x: pts.iter().map(|r| r.pct).collect(),
                y: pts.iter().map(|r| r.mean).collect(),
                band: Some((lo, hi)),
            }
        })
        .collect();
    let chart = LineChart {
        title: title.into(),
        x_label: x_label.into(),
        y_label: y_label.into(),
        series,
        ..Default::default()
    };
    line_chart(&chart, path)?;
    Ok(())
}
