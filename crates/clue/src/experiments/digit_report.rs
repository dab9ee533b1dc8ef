//! Per-digit outputs of E2 / E3: `clues.csv` and the original | CLUE | Δ grid (spec §6
//! display, §12), Δ on a diverging colour map.

use super::digits::DigitData;
use super::real::vec_f64;
use crate::clue::ClueOutput;
use anyhow::Result;
use serde::Serialize;
use std::path::Path;
use tch::{Kind, Tensor};
use xai_core::figures::{apply_colormap, save_decorated_grid, ColorBar, ColorMap, Decorations, GridOptions};

/// One explained digit at the headline λ_x (`clues.csv`).
#[derive(Debug, Clone, Serialize)]
pub struct DigitClueRow {
    /// Position among the explained digits.
    pub row: usize,
    /// Index into the (subsampled) test set.
    pub test_row: i64,
    /// True digit.
    pub label: i64,
    pub pred_before: i64,
    pub pred_after: i64,
    pub total_before: f64,
    pub total_after: f64,
    pub aleatoric_before: f64,
    pub aleatoric_after: f64,
    pub epistemic_before: f64,
    pub epistemic_after: f64,
    /// ‖x_CLUE − x0‖₁ over the 784 pixels.
    pub l1: f64,
    /// Trajectory index of the returned iterate.
    pub steps: usize,
}

/// Rows of `clues.csv` for the digits `test_idx` explained by `out`.
pub fn clue_rows(data: &DigitData, test_idx: &[i64], out: &ClueOutput) -> Result<Vec<DigitClueRow>> {
    let digit = |c: i64| data.digit_of_class.get(c as usize).copied().unwrap_or(c);
    let idx = Tensor::from_slice(test_idx).to_device(data.test_y.device());
    let labels = vec_f64(&data.test_y.index_select(0, &idx))?;
    let pb = vec_f64(&out.prediction_before.argmax(1, false))?;
    let pa = vec_f64(&out.prediction_after.argmax(1, false))?;
    let cols = [
        &out.before.total,
        &out.after.total,
        &out.before.aleatoric,
        &out.after.aleatoric,
        &out.before.epistemic,
        &out.after.epistemic,
        &out.l1,
    ]
    .map(vec_f64);
    let [tb, ta, ab, aa, eb, ea, l1] = cols;
    let (tb, ta, ab, aa, eb, ea, l1) = (tb?, ta?, ab?, aa?, eb?, ea?, l1?);
    Ok((0..test_idx.len())
        .map(|i| DigitClueRow {
            row: i,
            test_row: test_idx[i],
            label: digit(labels[i] as i64),
            pred_before: digit(pb[i] as i64),
            pred_after: digit(pa[i] as i64),
            total_before: tb[i],
            total_after: ta[i],
            aleatoric_before: ab[i],
            aleatoric_after: aa[i],
            epistemic_before: eb[i],
            epistemic_after: ea[i],
            l1: l1[i],
            steps: out.returned[i],
        })
        .collect())
}

/// The uncertainty a row's caption shows (`total`, `aleatoric` or `epistemic`).
fn measure(r: &DigitClueRow, objective: &str) -> (f64, f64) {
    match objective {
        "aleatoric" => (r.aleatoric_before, r.aleatoric_after),
        "epistemic" => (r.epistemic_before, r.epistemic_after),
        _ => (r.total_before, r.total_after),
    }
}

/// Up to 16 columns: originals, CLUEs (grey) and Δ = CLUE − original (blue − / red +).
pub fn clue_grid(
    path: &Path,
    rows: &[DigitClueRow],
    x0: &Tensor,
    x_clue: &Tensor,
    objective: &str,
    title: &str,
) -> Result<()> {
    let cols = x0.size()[0].min(16).min(rows.len() as i64);
    if cols == 0 {
        anyhow::bail!("CLUE grid: no explained digits");
    }
    let cpu = |t: &Tensor| t.narrow(0, 0, cols).detach().to_device(tch::Device::Cpu).to_kind(Kind::Float);
    let grey = |t: &Tensor| cpu(t).view([cols, 1, 28, 28]).expand([cols, 3, 28, 28], false);
    let delta = apply_colormap(&(cpu(x_clue) - cpu(x0)).view([cols, 28, 28]), ColorMap::BlueWhiteRed)?;
    let grid = Tensor::cat(&[grey(x0), grey(x_clue), delta], 0);
    let shown = &rows[..cols as usize];
    let mut captions: Vec<String> =
        shown.iter().map(|r| format!("{}/{} {:.2}", r.label, r.pred_before, measure(r, objective).0)).collect();
    captions.extend(shown.iter().map(|r| format!("{} {:.2}", r.pred_after, measure(r, objective).1)));
    captions.extend(shown.iter().map(|r| format!("L1 {:.0}", r.l1)));
    let opts = GridOptions {
        columns: cols as usize,
        scale: 3,
        captions: Some(captions),
        title: Some(title.into()),
        ..Default::default()
    };
    let deco = Decorations {
        colorbar: Some(ColorBar { map: ColorMap::BlueWhiteRed, min: -1.0, max: 1.0, label: "Δ pixel".into() }),
        notes: vec![
            format!("row 1: original, caption true/predicted digit and {objective} uncertainty (nats)"),
            format!("row 2: CLUE, caption predicted digit and {objective} uncertainty after"),
            "row 3: CLUE − original (red: ink added, blue: ink removed), caption ‖Δx‖₁".into(),
        ],
        ..Default::default()
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    Ok(save_decorated_grid(&grid, &opts, &deco, path)?)
}
