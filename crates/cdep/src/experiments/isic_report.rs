//! What the ISIC experiment reports beyond the shared sweep files: `table_isic.csv`
//! (AUC and F1 on the no-patch and the whole test split per method, beside the paper's),
//! the ours-vs-paper rows, and `isic_examples.png`.

use super::report::{mean_std, RunRow, SummaryRow};
use crate::Result;
use serde::Serialize;
use std::path::Path;
use tch::Tensor;
use xai_core::data::isic::{pixels, Entry, Index};
use xai_core::figures::{save_grid, GridOptions};
use xai_core::report::{Check, Row};

/// Spec §4.4 [repo] (analyze_isic.ipynb, 5 seeds): AUC / F1 on the no-patch test subset,
/// then on the whole test split.
const PAPER: [(&str, &str, Option<[f64; 4]>); 4] = [
    ("vanilla", "Vanilla", Some([0.87, 0.56, 0.93, 0.56])),
    ("excluded", "Excluded", Some([0.88, 0.59, 0.93, 0.58])),
    ("rrr", "RRR", None),
    ("cdep", "CDEP", Some([0.89, 0.61, 0.94, 0.60])),
];
const METRICS: [&str; 4] = ["AUC no-patch test", "F1 no-patch test", "AUC whole test", "F1 whole test"];

fn values(r: &RunRow) -> [Option<f64>; 4] {
    [r.auc_nopatch, r.f1_nopatch, r.auc_all, r.f1_all]
}

/// Mean and std over seeds of the four metrics of `(method, λ)` (NaN runs, e.g. a test
/// subset with one class, left out), and the number of runs.
fn stats(rows: &[RunRow], method: &str, lambda: f64) -> ([(f64, f64); 4], usize) {
    let group: Vec<&RunRow> = rows.iter().filter(|r| r.method == method && r.lambda == lambda).collect();
    let stat = |k: usize| {
        let v: Vec<f64> = group.iter().filter_map(|r| values(r)[k]).filter(|v| v.is_finite()).collect();
        mean_std(&v)
    };
    ([stat(0), stat(1), stat(2), stat(3)], group.len())
}

/// The ours-vs-paper rows: per method (at its best λ) the four numbers beside the
/// paper's, and the paper's claim that CDEP raises the no-patch AUC over vanilla.
pub fn paper_rows(rows: &[RunRow], best: &[SummaryRow]) -> Vec<Row> {
    let mut out = vec![];
    let mut auc = std::collections::HashMap::new();
    for (method, title, paper) in PAPER {
        let (Some(b), Some(paper)) = (best.iter().find(|b| b.method == method), paper) else { continue };
        let (s, _) = stats(rows, method, b.lambda);
        if s[0].0.is_finite() {
            auc.insert(method, s[0].0);
        }
        // A metric undefined in every seed (a test subset with one class, or no threshold
        // that splits the predictions) is left out rather than reported as NaN.
        for k in (0..4).filter(|&k| s[k].0.is_finite()) {
            out.push(
                Row::new(format!("{title} {} (λ={})", METRICS[k], b.lambda), s[k].0, Check::Report)
                    .ours_std(s[k].1)
                    .paper(paper[k], None)
                    .note("spec §4.4 [repo], 5 seeds; depends on the ISIC snapshot"),
            );
        }
    }
    if let (Some(v), Some(c)) = (auc.get("vanilla"), auc.get("cdep")) {
        out.push(
            Row::new("CDEP − Vanilla AUC no-patch test", c - v, Check::AtLeast(0.0))
                .paper(0.02, None)
                .note("the paper's claim: penalising the patches helps on images without them"),
        );
    }
    out
}

#[derive(Serialize)]
struct TableRow {
    method: &'static str,
    lambda: Option<f64>,
    n_seeds: usize,
    auc_nopatch: String,
    f1_nopatch: String,
    auc_all: String,
    f1_all: String,
    paper_auc_nopatch: Option<f64>,
    paper_f1_nopatch: Option<f64>,
    paper_auc_all: Option<f64>,
    paper_f1_all: Option<f64>,
}

/// `table_isic.csv`: rows Vanilla, Excluded, RRR, CDEP (best λ each; "–" when not run,
/// "n/a" when undefined in every seed).
pub fn write_table(path: &Path, rows: &[RunRow], best: &[SummaryRow]) -> Result<()> {
    let table: Vec<TableRow> = PAPER
        .iter()
        .map(|&(method, title, paper)| {
            let b = best.iter().find(|b| b.method == method);
            let (s, n) = b.map(|b| stats(rows, method, b.lambda)).unwrap_or(([(f64::NAN, f64::NAN); 4], 0));
            let cell = |k: usize| match (n, s[k].0.is_finite()) {
                (0, _) => "–".to_string(),
                (_, false) => "n/a".to_string(),
                _ => format!("{:.3} ± {:.3}", s[k].0, s[k].1),
            };
            let p = |k: usize| paper.map(|v| v[k]);
            TableRow {
                method: title,
                lambda: b.map(|b| b.lambda),
                n_seeds: n,
                auc_nopatch: cell(0),
                f1_nopatch: cell(1),
                auc_all: cell(2),
                f1_all: cell(3),
                paper_auc_nopatch: p(0),
                paper_f1_nopatch: p(1),
                paper_auc_all: p(2),
                paper_f1_all: p(3),
            }
        })
        .collect();
    xai_core::run::write_csv_rows(path, &table)?;
    Ok(())
}

/// A few patch and no-patch images for `isic_examples.png`.
pub struct Examples {
    images: Tensor,
    captions: Vec<String>,
    columns: usize,
}

impl Examples {
    /// Up to 8 benign patch images (with their dilated CD mask tinted below them) and as
    /// many images without a patch, benign and malignant alternating; `None` when either
    /// kind is missing.
    pub fn load(index: &Index, size: u32, threshold: u8, dilation: i64) -> Result<Option<Self>> {
        let patch: Vec<&Entry> = index.entries.iter().filter(|e| e.has_patch()).collect();
        let benign: Vec<&Entry> = index.entries.iter().filter(|e| !e.malignant && !e.has_patch()).collect();
        let malignant: Vec<&Entry> = index.entries.iter().filter(|e| e.malignant).collect();
        let mut clean = vec![];
        for i in 0..benign.len().max(malignant.len()) {
            clean.extend(benign.get(i).into_iter().chain(malignant.get(i)).copied());
        }
        let k = 8.min(patch.len()).min(clean.len());
        if k == 0 {
            log::info!("isic: no isic_examples.png (needs images with and without a patch)");
            return Ok(None);
        }
        let (patch, clean) = (&patch[..k], &clean[..k]);
        let load = |es: &[&Entry]| {
            let paths: Vec<&Path> = es.iter().map(|e| e.image.as_path()).collect();
            pixels::load_images(&paths, size).map(|x| pixels::denormalize(&x))
        };
        let with = load(patch)?;
        let m = pixels::dilate(&pixels::load_masks(patch, size, threshold)?, dilation).unsqueeze(1);
        let magenta = Tensor::from_slice(&[1.0f32, 0.0, 1.0]).view([1, 3, 1, 1]);
        let tinted = &with * (1.0 - &m * 0.5) + &m * 0.5 * magenta;
        let mut captions: Vec<String> = vec!["patch".into(); k];
        captions.extend(vec!["CD mask".to_string(); k]);
        captions.extend(clean.iter().map(|e| if e.malignant { "malignant" } else { "benign" }.to_string()));
        Ok(Some(Self { images: Tensor::cat(&[with, tinted, load(clean)?], 0), captions, columns: k }))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let size = self.images.size()[3];
        let opts = GridOptions {
            columns: self.columns,
            scale: (96 / size).max(1) as u32,
            captions: Some(self.captions.clone()),
            title: Some("ISIC: patch / CD mask / no patch".into()),
            ..Default::default()
        };
        save_grid(&self.images, &opts, path)?;
        Ok(())
    }
}
