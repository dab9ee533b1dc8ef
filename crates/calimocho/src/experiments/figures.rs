//! PNG figures (spec §10): learning curves with ± stderr bands over folds, LIME vs SENN
//! bars, and explanation images (pixels with relevance circles).

use super::report::SummaryRow;
use plotters::prelude::*;
use std::collections::BTreeMap;
use std::path::Path;
use xai_core::figures::{bar_chart, line_chart, Bar, LineChart, Series};

fn curves(summary: &[SummaryRow], measure: &str, split: &str) -> Vec<Series> {
    let mut by: BTreeMap<String, Series> = BTreeMap::new();
    for s in summary.iter().filter(|s| s.measure == measure && s.split == split) {
        let e = by.entry(format!("{} {}", s.group, s.arm)).or_insert_with(|| Series {
            name: format!("{} {}", s.group, s.arm),
            band: Some((vec![], vec![])),
            ..Series::default()
        });
        e.x.push(s.x as f64);
        e.y.push(s.mean);
        if let Some((lo, hi)) = e.band.as_mut() {
            lo.push(s.mean - s.stderr);
            hi.push(s.mean + s.stderr);
        }
    }
    by.into_values().collect()
}

fn draw(
    summary: &[SummaryRow],
    dir: &Path,
    fig: &str,
    x_label: &str,
    measures: &[&str],
    split: &str,
) -> xai_core::Result<()> {
    xai_core::fsutil::create_dir_all(dir)?;
    for m in measures {
        let series = curves(summary, m, split);
        if series.is_empty() {
            continue;
        }
        let chart = LineChart {
            title: format!("{fig}: {m} (mean ± stderr over folds)"),
            x_label: x_label.into(),
            y_label: (*m).into(),
            series,
            ..LineChart::default()
        };
        line_chart(&chart, &dir.join(format!("{fig}__{m}.png")))?;
    }
    Ok(())
}

/// q2/q3-style curves of every arm: test L_z, L_y, F1, prec@k, m₀ and the query losses.
pub fn active_curves(summary: &[SummaryRow], dir: &Path) -> xai_core::Result<()> {
    let m =
        ["zloss_test", "yloss_test", "f1_test", "expl_prec_test", "mass_rule0_test", "zloss_query", "yloss_query_ref"];
    draw(summary, dir, "active", "iteration", &m, "test")
}

/// Passive curves: test F1, L_y, L_z against the step.
pub fn passive_curves(summary: &[SummaryRow], dir: &Path) -> xai_core::Result<()> {
    draw(summary, dir, "passive", "step", &["f1", "yloss", "zloss"], "test")
}

/// q1: Sim, Dis, t_LIME/t_SENN per (W, r, s) over trained checkpoints.
pub fn lime_bars(summary: &[SummaryRow], dir: &Path) -> xai_core::Result<()> {
    if summary.is_empty() {
        return Ok(());
    }
    // q1 curves: Sim, Dis, t_SENN, t_LIME against the checkpoint step, one line per (W, r, s).
    draw(summary, dir, "q1", "step", &["sim", "dis", "t_senn", "t_lime"], "test")?;
    let mean_of = |g: &str, a: &str, m: &str| {
        let v: Vec<f64> = summary
            .iter()
            .filter(|s| s.group == g && s.arm == a && s.measure == m && s.x > 0)
            .map(|s| s.mean)
            .collect();
        v.iter().sum::<f64>() / v.len().max(1) as f64
    };
    let mut keys: Vec<(String, String)> = summary.iter().map(|s| (s.group.clone(), s.arm.clone())).collect();
    keys.dedup();
    keys.sort();
    keys.dedup();
    for (m, label) in [("sim", "Sim"), ("dis", "Dis"), ("ratio", "t_LIME / t_SENN")] {
        let bars: Vec<Bar> = keys
            .iter()
            .map(|(g, a)| {
                let value =
                    if m == "ratio" { mean_of(g, a, "t_lime") / mean_of(g, a, "t_senn") } else { mean_of(g, a, m) };
                Bar { label: format!("{g} {a}"), value, err: None }
            })
            .collect();
        bar_chart(&format!("q1: {label} after training"), label, &bars, &dir.join(format!("q1__{m}.png")))?;
    }
    Ok(())
}

/// A 5×5 toy colors image (`slots` `[25]`, violet/blue/green/red) with a circle per pixel
/// coloured by its relevance (`rel` `[25]`, red positive, blue negative; |r| < 0.01 hidden).
pub fn explanation_image(slots: &[i64], rel: &[f64], title: &str, path: &Path) -> xai_core::Result<()> {
    let err = |e: &dyn std::fmt::Display| xai_core::Error::Other(format!("{}: {e}", path.display()));
    xai_core::figures::ensure_font();
    xai_core::fsutil::atomic_write_with(path, |tmp| {
        let root = BitMapBackend::new(tmp, (260, 330)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let _ = root.draw(&Text::new(title.to_string(), (5, 5), ("sans-serif", 14).into_font()));
        let pal = xai_core::data::toy_colors::PALETTE;
        for p in 0..25usize {
            let (r, c) = ((p / 5) as i32, (p % 5) as i32);
            let (x0, y0) = (10 + c * 48, 30 + r * 48);
            let [cr, cg, cb] = pal[slots[p].clamp(0, 3) as usize];
            root.draw(&Rectangle::new([(x0, y0), (x0 + 46, y0 + 46)], RGBColor(cr, cg, cb).filled()))
                .map_err(|e| err(&e))?;
            let v = rel[p];
            if v.abs() >= 0.01 {
                let a = v.abs().min(1.0);
                let col = if v > 0.0 {
                    RGBColor(255, (255.0 * (1.0 - a)) as u8, (255.0 * (1.0 - a)) as u8)
                } else {
                    RGBColor((255.0 * (1.0 - a)) as u8, (255.0 * (1.0 - a)) as u8, 255)
                };
                root.draw(&Circle::new((x0 + 23, y0 + 23), 14, col.filled())).map_err(|e| err(&e))?;
                root.draw(&Circle::new((x0 + 23, y0 + 23), 14, BLACK.stroke_width(1))).map_err(|e| err(&e))?;
            }
        }
        // What the circles mean, so the image reads without the source.
        let note = ("sans-serif", 11).into_font();
        for (i, line) in [
            "circle: relevance of the pixel's colour to the",
            "prediction; red +, blue −, paler = smaller |r|;",
            "no circle: |r| < 0.01",
        ]
        .iter()
        .enumerate()
        {
            root.draw(&Text::new(line.to_string(), (10, 276 + 16 * i as i32), note.clone())).map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))?;
        Ok(())
    })
}

/// Explanation images of test examples `rows` for a trained net: `<dir>/<cell>_<row>.png`,
/// each pixel's circle coloured by its signed relevance w[4p + slot(p)].
pub fn explanations(
    senn: &crate::Senn,
    data: &super::data::ToyData,
    rows: &[i64],
    cell: &str,
    dir: &Path,
) -> xai_core::Result<()> {
    xai_core::fsutil::create_dir_all(dir)?;
    let idx = tch::Tensor::from_slice(rows);
    let x = data.x.index_select(0, &idx).to_device(senn.device());
    let w = senn.explain(&x);
    let signed =
        (w.narrow(1, 0, 100) * x.narrow(1, 0, 100)).view([-1, 25, 4]).sum_dim_intlist(2, false, tch::Kind::Float);
    let stem = xai_core::runner::Cells::file_stem(cell);
    for (j, &r) in rows.iter().enumerate() {
        let slots = Vec::<i64>::try_from(data.codes.get(r))?;
        let rel = Vec::<f64>::try_from(signed.get(j as i64).to_kind(tch::Kind::Double).to_device(tch::Device::Cpu))?;
        let title = format!("y={} #{r}", data.y_host[r as usize]);
        explanation_image(&slots, &rel, &title, &dir.join(format!("{stem}_{r}.png")))?;
    }
    Ok(())
}
