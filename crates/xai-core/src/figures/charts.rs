use super::font::ensure_font;
use crate::fsutil::atomic_write_with;
use crate::{Error, Result};
use plotters::prelude::*;
use std::path::Path;

/// One line of a [`LineChart`], with an optional band (e.g. mean ± std over seeds).
#[derive(Debug, Clone, Default)]
pub struct Series {
    pub name: String,
    pub x: Vec<f64>,
    pub y: Vec<f64>,
    /// Lower and upper edge of the band at each x.
    pub band: Option<(Vec<f64>, Vec<f64>)>,
}

/// A line chart; log axes plot log₁₀ of the values and label ticks as powers of ten.
#[derive(Debug, Clone, Default)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    pub series: Vec<Series>,
}

/// One bar of a bar chart, with an optional error bar (± `err`).
#[derive(Debug, Clone)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub err: Option<f64>,
}

const SIZE: (u32, u32) = (800, 500);

fn draw_err(path: &Path) -> impl Fn(&dyn std::fmt::Display) -> Error + '_ {
    move |e| Error::Other(format!("{}: drawing chart: {e}", path.display()))
}

fn transform(v: f64, log: bool) -> Option<f64> {
    if !v.is_finite() {
        return None;
    }
    match log {
        true if v > 0.0 => Some(v.log10()),
        true => None,
        false => Some(v),
    }
}

fn range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    if !lo.is_finite() {
        return None;
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5 };
    Some((lo - pad, hi + pad))
}

/// Tick label; on a log axis `v` is log₁₀ of the value and the value itself is shown.
fn tick(v: f64, log: bool) -> String {
    let v = if log { 10f64.powf(v) } else { v };
    if v.abs() >= 1e4 || (v != 0.0 && v.abs() < 1e-2) {
        format!("{v:.1e}")
    } else {
        format!("{v:.3}").trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Draws a line chart to a PNG atomically. Points that a log axis cannot show
/// (non-positive) are left out.
pub fn line_chart(chart: &LineChart, path: &Path) -> Result<()> {
    ensure_font();
    let err = draw_err(path);
    let pts: Vec<Vec<(f64, f64)>> = chart
        .series
        .iter()
        .map(|s| {
            s.x.iter()
                .zip(&s.y)
                .filter_map(|(&x, &y)| Some((transform(x, chart.log_x)?, transform(y, chart.log_y)?)))
                .collect()
        })
        .collect();
    let bands: Vec<Option<Vec<(f64, f64, f64)>>> = chart
        .series
        .iter()
        .map(|s| {
            s.band.as_ref().map(|(lo, hi)| {
                s.x.iter()
                    .zip(lo.iter().zip(hi))
                    .filter_map(|(&x, (&l, &h))| {
                        Some((transform(x, chart.log_x)?, transform(l, chart.log_y)?, transform(h, chart.log_y)?))
                    })
                    .collect()
            })
        })
        .collect();
    let xr = range(pts.iter().flatten().map(|p| p.0))
        .ok_or_else(|| Error::invalid("line chart", format!("`{}` has no plottable points", chart.title)))?;
    let yr = range(pts.iter().flatten().map(|p| p.1).chain(bands.iter().flatten().flatten().flat_map(|b| [b.1, b.2])))
        .expect("non-empty when x range exists");

    atomic_write_with(path, |tmp| {
        let root = BitMapBackend::new(tmp, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut ctx = ChartBuilder::on(&root)
            .caption(&chart.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)
            .map_err(|e| err(&e))?;
        ctx.configure_mesh()
            .x_desc(&chart.x_label)
            .y_desc(&chart.y_label)
            .x_label_formatter(&|v| tick(*v, chart.log_x))
            .y_label_formatter(&|v| tick(*v, chart.log_y))
            .draw()
            .map_err(|e| err(&e))?;
        for (i, (s, p)) in chart.series.iter().zip(&pts).enumerate() {
            let colour = Palette99::pick(i).to_rgba();
            if let Some(Some(band)) = bands.get(i) {
                let poly: Vec<(f64, f64)> =
                    band.iter().map(|b| (b.0, b.2)).chain(band.iter().rev().map(|b| (b.0, b.1))).collect();
                ctx.draw_series(std::iter::once(Polygon::new(poly, colour.mix(0.2).filled()))).map_err(|e| err(&e))?;
            }
            ctx.draw_series(LineSeries::new(p.iter().copied(), colour.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(s.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
            ctx.draw_series(p.iter().map(|&(x, y)| Circle::new((x, y), 3, colour.filled()))).map_err(|e| err(&e))?;
        }
        ctx.configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))
    })
}

/// Draws a bar chart with optional error bars to a PNG atomically.
pub fn bar_chart(title: &str, y_label: &str, bars: &[Bar], path: &Path) -> Result<()> {
    ensure_font();
    let err = draw_err(path);
    if bars.is_empty() {
        return Err(Error::invalid("bar chart", format!("`{title}` has no bars")));
    }
    let top = bars.iter().map(|b| b.value + b.err.unwrap_or(0.0)).fold(f64::NEG_INFINITY, f64::max);
    let bottom = bars.iter().map(|b| b.value - b.err.unwrap_or(0.0)).fold(0.0, f64::min);
    let pad = 0.08 * (top - bottom).max(1e-9);
    let n = bars.len();
    atomic_write_with(path, |tmp| {
        let root = BitMapBackend::new(tmp, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut ctx = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), (bottom - if bottom < 0.0 { pad } else { 0.0 })..(top + pad))
            .map_err(|e| err(&e))?;
        ctx.configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < n {
                    bars[i as usize].label.clone()
                } else {
                    String::new()
                }
            })
            .y_desc(y_label)
            .draw()
            .map_err(|e| err(&e))?;
        ctx.draw_series(bars.iter().enumerate().map(|(i, b)| {
            let x = i as f64;
            Rectangle::new([(x - 0.35, 0.0), (x + 0.35, b.value)], Palette99::pick(i).filled())
        }))
        .map_err(|e| err(&e))?;
        ctx.draw_series(bars.iter().enumerate().filter_map(|(i, b)| {
            b.err
                .map(|e| ErrorBar::new_vertical(i as f64, b.value - e, b.value, b.value + e, BLACK.stroke_width(2), 10))
        }))
        .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_write_pngs() {
        let dir = tempfile::tempdir().unwrap();
        let chart = LineChart {
            title: "acc vs lambda".into(),
            x_label: "lambda".into(),
            y_label: "acc".into(),
            log_x: true,
            series: vec![Series {
                name: "cdep".into(),
                x: vec![0.0, 1.0, 10.0, 100.0],
                y: vec![0.1, 0.2, 0.3, 0.25],
                band: Some((vec![0.05, 0.15, 0.25, 0.2], vec![0.15, 0.25, 0.35, 0.3])),
            }],
            ..Default::default()
        };
        let p = dir.path().join("line.png");
        line_chart(&chart, &p).unwrap();
        assert_eq!(image::open(&p).unwrap().width(), SIZE.0);
        let p = dir.path().join("bar.png");
        bar_chart("t", "s/epoch", &[Bar { label: "a".into(), value: 1.0, err: Some(0.1) }], &p).unwrap();
        assert!(p.is_file());
        assert!(bar_chart("t", "y", &[], &p).is_err());
    }
}
