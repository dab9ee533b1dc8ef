//! "Ours vs paper" tables: each headline number beside the paper's, with the check that
//! decides whether the reproduction holds. Written as CSV and Markdown.

use crate::fsutil::atomic_write;
use crate::run::write_csv_rows;
use crate::Result;
use serde::Serialize;
use std::path::Path;

/// What counts as reproducing a number.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Check {
    /// |ours − paper| ≤ tolerance.
    Within { paper: f64, tolerance: f64 },
    /// ours ≥ threshold (a target the issue or spec sets).
    AtLeast(f64),
    /// ours ≤ threshold.
    AtMost(f64),
    /// Shown beside the paper's number, not judged (e.g. "as measured").
    Report,
}

/// One headline number.
#[derive(Debug, Clone)]
pub struct Row {
    pub metric: String,
    pub ours: f64,
    pub ours_std: Option<f64>,
    pub paper: Option<f64>,
    pub paper_std: Option<f64>,
    pub check: Check,
    pub note: String,
}

impl Row {
    pub fn new(metric: impl Into<String>, ours: f64, check: Check) -> Self {
        let paper = match check {
            Check::Within { paper, .. } => Some(paper),
            _ => None,
        };
        Self { metric: metric.into(), ours, ours_std: None, paper, paper_std: None, check, note: String::new() }
    }

    pub fn ours_std(mut self, std: f64) -> Self {
        self.ours_std = Some(std);
        self
    }

    /// The paper's value (and spread) shown beside ours, whatever the check.
    pub fn paper(mut self, value: f64, std: Option<f64>) -> Self {
        self.paper = Some(value);
        self.paper_std = std;
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = note.into();
        self
    }

    /// `Some(true|false)` for judged rows, `None` for report-only rows.
    pub fn passed(&self) -> Option<bool> {
        if !self.ours.is_finite() {
            return Some(false);
        }
        match self.check {
            Check::Within { paper, tolerance } => Some((self.ours - paper).abs() <= tolerance),
            Check::AtLeast(t) => Some(self.ours >= t),
            Check::AtMost(t) => Some(self.ours <= t),
            Check::Report => None,
        }
    }
}

#[derive(Serialize)]
struct CsvRow<'a> {
    metric: &'a str,
    ours: f64,
    ours_std: Option<f64>,
    paper: Option<f64>,
    paper_std: Option<f64>,
    check: String,
    status: &'static str,
    note: &'a str,
}

fn describe(check: Check) -> String {
    match check {
        Check::Within { tolerance, .. } => format!("within ±{tolerance}"),
        Check::AtLeast(t) => format!(">= {t}"),
        Check::AtMost(t) => format!("<= {t}"),
        Check::Report => "reported".into(),
    }
}

fn status(row: &Row) -> &'static str {
    match row.passed() {
        Some(true) => "pass",
        Some(false) => "FAIL",
        None => "-",
    }
}

fn fmt(v: Option<f64>, std: Option<f64>) -> String {
    match (v, std) {
        (Some(v), Some(s)) => format!("{} ± {}", num(v), num(s)),
        (Some(v), None) => num(v),
        (None, _) => "—".into(),
    }
}

/// Four decimals, or scientific notation where that would hide the value (1e-20 is not 0).
fn num(v: f64) -> String {
    if v != 0.0 && v.is_finite() && (v.abs() < 1e-3 || v.abs() >= 1e6) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

/// The table as Markdown.
pub fn markdown(title: &str, rows: &[Row]) -> String {
    let mut s =
        format!("## {title}\n\n| metric | ours | paper | check | status | note |\n|---|---:|---:|---|---|---|\n");
    for r in rows {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            r.metric,
            fmt(Some(r.ours), r.ours_std),
            fmt(r.paper, r.paper_std),
            describe(r.check),
            status(r),
            r.note
        ));
    }
    s
}

/// Writes `paper_comparison.csv` and `paper_comparison.md` into `dir`; returns the
/// Markdown so the binary can print it.
pub fn write(dir: &Path, title: &str, rows: &[Row]) -> Result<String> {
    let csv_rows: Vec<CsvRow> = rows
        .iter()
        .map(|r| CsvRow {
            metric: &r.metric,
            ours: r.ours,
            ours_std: r.ours_std,
            paper: r.paper,
            paper_std: r.paper_std,
            check: describe(r.check),
            status: status(r),
            note: &r.note,
        })
        .collect();
    write_csv_rows(&dir.join("paper_comparison.csv"), &csv_rows)?;
    let md = markdown(title, rows);
    atomic_write(&dir.join("paper_comparison.md"), md.as_bytes())?;
    Ok(md)
}

/// True when no judged row failed.
pub fn all_passed(rows: &[Row]) -> bool {
    rows.iter().all(|r| r.passed() != Some(false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_and_files() {
        let rows = vec![
            Row::new("acc", 0.30, Check::Within { paper: 0.31, tolerance: 0.02 }).paper(0.31, Some(0.023)),
            Row::new("vanilla", 0.01, Check::AtMost(0.05)),
            Row::new("fidelity", 0.7, Check::AtLeast(0.75)),
            Row::new("time", 3.0, Check::Report),
            Row::new("nan", f64::NAN, Check::Report),
        ];
        assert_eq!(
            rows.iter().map(Row::passed).collect::<Vec<_>>(),
            vec![Some(true), Some(true), Some(false), None, Some(false)]
        );
        assert!(!all_passed(&rows));
        let dir = tempfile::tempdir().unwrap();
        let md = write(dir.path(), "T", &rows).unwrap();
        assert!(md.contains("| acc | 0.3000 | 0.3100 ± 0.0230 | within ±0.02 | pass |"), "{md}");
        let csv = std::fs::read_to_string(dir.path().join("paper_comparison.csv")).unwrap();
        assert!(csv.starts_with("metric,ours,ours_std,paper,paper_std,check,status,note\n"), "{csv}");
        assert!(csv.contains("fidelity,0.7,,,,>= 0.75,FAIL,"), "{csv}");
        assert!(markdown("T", &[Row::new("share", 6.7e-20, Check::AtMost(0.5))]).contains("| 6.700e-20 |"));
    }
}
