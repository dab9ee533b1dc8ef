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

/// A horizontal reference line across a chart (e.g. the vanilla model beside a λ sweep),
/// with an optional band (± spread).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reference {
    pub name: String,
    pub y: f64,
    pub band: Option<f64>,
}

/// What a [`LineChart`] may add without changing its fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChartExtras {
    /// Ticks exactly at these x values, evenly spaced and labelled with the values (a
    /// swept grid such as λ ∈ {0, 10, 100, 1000}); every point's x must be one of them.
    pub x_ticks: Option<Vec<f64>>,
    /// Horizontal reference lines, drawn dashed and named in the legend.
    pub references: Vec<Reference>,
}

/// Draws a line chart to a PNG atomically. Points that a log axis cannot show
/// (non-positive) are left out.
pub fn line_chart(chart: &LineChart, path: &Path) -> Result<()> {
    line_chart_with(chart, &ChartExtras::default(), path)
}

/// [`line_chart`] with ticks at given x values and reference lines.
pub fn line_chart_with(chart: &LineChart, extras: &ChartExtras, path: &Path) -> Result<()> {
    ensure_font();
    let err = draw_err(path);
    let prepared = prepare(chart, extras)?;
    atomic_write_with(path, |tmp| {
        let root = BitMapBackend::new(tmp, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        draw(&root, chart, extras, &prepared).map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))
    })
}

/// Several charts side by side in one PNG (one panel per quantity, each with its own
/// named y axis), `columns` panels a row, under one `title`.
pub fn line_panels(title: &str, panels: &[(LineChart, ChartExtras)], columns: usize, path: &Path) -> Result<()> {
    ensure_font();
    let err = draw_err(path);
    if panels.is_empty() {
        return Err(Error::invalid("chart panels", format!("`{title}` has no panels")));
    }
    let prepared: Vec<Prepared> = panels.iter().map(|(c, x)| prepare(c, x)).collect::<Result<_>>()?;
    let cols = columns.clamp(1, panels.len());
    let rows = panels.len().div_ceil(cols);
    let size = (560 * cols as u32, 40 + 380 * rows as u32);
    atomic_write_with(path, |tmp| {
        let root = BitMapBackend::new(tmp, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let root = root.titled(title, ("sans-serif", 22)).map_err(|e| err(&e))?;
        for (area, ((chart, extras), p)) in root.split_evenly((rows, cols)).iter().zip(panels.iter().zip(&prepared)) {
            draw(area, chart, extras, p).map_err(|e| err(&e))?;
        }
        root.present().map_err(|e| err(&e))
    })
}

type Band = Vec<(f64, f64, f64)>;

struct Prepared {
    pts: Vec<Vec<(f64, f64)>>,
    bands: Vec<Option<Band>>,
    xr: (f64, f64),
    yr: (f64, f64),
}

/// Transforms every point (log axes, categorical ticks) and finds the axis ranges.
fn prepare(chart: &LineChart, extras: &ChartExtras) -> Result<Prepared> {
    let ticks = extras.x_ticks.as_deref();
    let x_of = |x: f64| -> Option<f64> {
        match ticks {
            Some(t) => t.iter().position(|&v| (v - x).abs() <= 1e-9 * v.abs().max(1.0)).map(|i| i as f64),
            None => transform(x, chart.log_x),
        }
    };
    if let Some(t) = ticks {
        if t.is_empty() {
            return Err(Error::invalid("line chart", format!("`{}`: x_ticks is empty", chart.title)));
        }
        if let Some(x) = chart.series.iter().flat_map(|s| s.x.iter()).find(|&&x| x_of(x).is_none()) {
            return Err(Error::invalid(
                "line chart",
                format!("`{}`: x = {x} is not one of the ticks {t:?}", chart.title),
            ));
        }
    }
    let pts: Vec<Vec<(f64, f64)>> = chart
        .series
        .iter()
        .map(|s| s.x.iter().zip(&s.y).filter_map(|(&x, &y)| Some((x_of(x)?, transform(y, chart.log_y)?))).collect())
        .collect();
    let bands: Vec<Option<Band>> = chart
        .series
        .iter()
        .map(|s| {
            s.band.as_ref().map(|(lo, hi)| {
                s.x.iter()
                    .zip(lo.iter().zip(hi))
                    .filter_map(|(&x, (&l, &h))| {
                        Some((x_of(x)?, transform(l, chart.log_y)?, transform(h, chart.log_y)?))
                    })
                    .collect()
            })
        })
        .collect();
    let xr = match ticks {
        Some(t) => (-0.3, t.len() as f64 - 0.7),
        None => range(pts.iter().flatten().map(|p| p.0))
            .ok_or_else(|| Error::invalid("line chart", format!("`{}` has no plottable points", chart.title)))?,
    };
    let ref_ys = extras.references.iter().flat_map(|r| {
        let b = r.band.unwrap_or(0.0);
        [r.y - b, r.y + b].into_iter().filter_map(|v| transform(v, chart.log_y))
    });
    let yr = range(
        pts.iter()
            .flatten()
            .map(|p| p.1)
            .chain(bands.iter().flatten().flatten().flat_map(|b| [b.1, b.2]))
            .chain(ref_ys),
    )
    .ok_or_else(|| Error::invalid("line chart", format!("`{}` has no plottable points", chart.title)))?;
    Ok(Prepared { pts, bands, xr, yr })
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    chart: &LineChart,
    extras: &ChartExtras,
    p: &Prepared,
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let (xr, yr) = (p.xr, p.yr);
    let mut ctx = ChartBuilder::on(root)
        .caption(&chart.title, ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(xr.0..xr.1, yr.0..yr.1)?;
    let ticks = extras.x_ticks.clone();
    let x_fmt = move |v: &f64| match &ticks {
        Some(t) => {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < t.len() {
                tick(t[i as usize], false)
            } else {
                String::new()
            }
        }
        None => tick(*v, chart.log_x),
    };
    let mut mesh = ctx.configure_mesh();
    if let Some(t) = &extras.x_ticks {
        mesh.x_labels(t.len() * 4).disable_x_mesh();
    }
    mesh.x_desc(&chart.x_label)
        .y_desc(&chart.y_label)
        .x_label_formatter(&x_fmt)
        .y_label_formatter(&|v| tick(*v, chart.log_y))
        .draw()?;
    for (i, r) in extras.references.iter().enumerate() {
        let colour = RGBColor(90, 90, 90).mix(1.0 - 0.2 * (i % 3) as f64);
        let y = match transform(r.y, chart.log_y) {
            Some(y) => y,
            None => continue,
        };
        if let Some(b) = r.band {
            if let (Some(lo), Some(hi)) = (transform(r.y - b, chart.log_y), transform(r.y + b, chart.log_y)) {
                ctx.draw_series(std::iter::once(Rectangle::new([(xr.0, lo), (xr.1, hi)], colour.mix(0.12).filled())))?;
            }
        }
        ctx.draw_series(DashedLineSeries::new([(xr.0, y), (xr.1, y)], 8, 5, colour.stroke_width(2)))?
            .label(r.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
    }
    for (i, (s, pts)) in chart.series.iter().zip(&p.pts).enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        if let Some(Some(band)) = p.bands.get(i) {
            let poly: Vec<(f64, f64)> =
                band.iter().map(|b| (b.0, b.2)).chain(band.iter().rev().map(|b| (b.0, b.1))).collect();
            ctx.draw_series(std::iter::once(Polygon::new(poly, colour.mix(0.2).filled())))?;
        }
        ctx.draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(2)))?
            .label(s.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2)));
        ctx.draw_series(pts.iter().map(|&(x, y)| Circle::new((x, y), 3, colour.filled())))?;
    }
    let entries = chart.series.len() + extras.references.len();
    ctx.configure_series_labels()
        .position(legend_position(p, entries))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// The legend's place: the candidate box (corners first, then edge middles) that covers
/// the fewest curve samples, so it hides as little data as it can. The box size is an
/// estimate: a third of the plot wide, 22 px per entry on a ≈ 400 px tall plot.
fn legend_position(p: &Prepared, entries: usize) -> SeriesLabelPosition {
    use SeriesLabelPosition::*;
    let (w, h) = (0.34, ((entries as f64 * 22.0 + 16.0) / 400.0).min(0.9));
    let norm = |(x, y): (f64, f64)| {
        ((x - p.xr.0) / (p.xr.1 - p.xr.0).max(1e-300), (y - p.yr.0) / (p.yr.1 - p.yr.0).max(1e-300))
    };
    // Points, 16 samples along every segment between them, and the band edges.
    let mut samples: Vec<(f64, f64)> = vec![];
    for pts in &p.pts {
        samples.extend(pts.iter().map(|&q| norm(q)));
        for seg in pts.windows(2) {
            let (a, b) = (norm(seg[0]), norm(seg[1]));
            samples.extend((1..16).map(|k| {
                let t = k as f64 / 16.0;
                (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1))
            }));
        }
    }
    for band in p.bands.iter().flatten() {
        samples.extend(band.iter().flat_map(|&(x, lo, hi)| [norm((x, lo)), norm((x, hi))]));
    }
    let (mid_x, mid_y) = ((0.5 - w / 2.0, 0.5 + w / 2.0), (0.5 - h / 2.0, 0.5 + h / 2.0));
    let candidates = [
        (UpperRight, (1.0 - w, 1.0), (1.0 - h, 1.0)),
        (UpperLeft, (0.0, w), (1.0 - h, 1.0)),
        (LowerRight, (1.0 - w, 1.0), (0.0, h)),
        (LowerLeft, (0.0, w), (0.0, h)),
        (MiddleRight, (1.0 - w, 1.0), mid_y),
        (MiddleLeft, (0.0, w), mid_y),
        (UpperMiddle, mid_x, (1.0 - h, 1.0)),
        (LowerMiddle, mid_x, (0.0, h)),
    ];
    let covered = |(x0, x1): (f64, f64), (y0, y1): (f64, f64)| {
        samples.iter().filter(|&&(x, y)| x >= x0 && x <= x1 && y >= y0 && y <= y1).count()
    };
    // `min_by_key` keeps the first of equal counts: the upper right wins ties.
    let (best, _, _) = candidates.into_iter().min_by_key(|&(_, xs, ys)| covered(xs, ys)).expect("candidates");
    best
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

    fn prepared(series: Vec<Series>) -> Prepared {
        prepare(&LineChart { series, ..Default::default() }, &ChartExtras::default()).unwrap()
    }

    #[test]
    fn the_legend_goes_where_the_curves_are_not() {
        let line = |name: &str, y: Vec<f64>| Series { name: name.into(), x: vec![0.0, 50.0, 100.0], y, band: None };
        // Rising curves fill the upper right and the lower left.
        let rising = prepared(vec![line("a", vec![0.0, 5.0, 10.0]), line("b", vec![0.0, 6.0, 10.0])]);
        assert!(matches!(legend_position(&rising, 2), SeriesLabelPosition::UpperLeft));
        // Curves that meet at the right edge (similarity rates) leave the upper left free too,
        // never the middle right where they meet.
        let meeting = prepared(vec![line("most", vec![1.0, 0.8, 0.5]), line("least", vec![0.1, 0.2, 0.5])]);
        assert!(!matches!(legend_position(&meeting, 2), SeriesLabelPosition::MiddleRight));
        // Falling curves leave the upper right free, the first candidate.
        let falling = prepared(vec![line("a", vec![10.0, 5.0, 0.0])]);
        assert!(matches!(legend_position(&falling, 1), SeriesLabelPosition::UpperRight));
    }

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

    #[test]
    fn swept_ticks_references_and_panels() {
        let dir = tempfile::tempdir().unwrap();
        let chart = LineChart {
            title: "acc vs λ".into(),
            x_label: "λ".into(),
            y_label: "test accuracy (%)".into(),
            series: vec![Series {
                name: "cdep".into(),
                x: vec![500.0, 1000.0, 2000.0],
                y: vec![20.0, 30.0, 25.0],
                band: None,
            }],
            ..Default::default()
        };
        let extras = ChartExtras {
            x_ticks: Some(vec![500.0, 1000.0, 2000.0]),
            references: vec![Reference { name: "vanilla".into(), y: 0.2, band: Some(0.1) }],
        };
        let p = prepare(&chart, &extras).unwrap();
        assert_eq!(p.pts[0], vec![(0.0, 20.0), (1.0, 30.0), (2.0, 25.0)], "points sit on the tick indices");
        assert!(p.yr.0 < 0.1, "the reference band is inside the y range: {:?}", p.yr);
        let path = dir.path().join("sweep.png");
        line_chart_with(&chart, &extras, &path).unwrap();
        assert!(path.is_file());
        let off = ChartExtras { x_ticks: Some(vec![1.0]), ..Default::default() };
        let e = line_chart_with(&chart, &off, &path).unwrap_err().to_string();
        assert!(e.contains("x = 500 is not one of the ticks"), "{e}");
        let path = dir.path().join("panels.png");
        line_panels("training", &[(chart.clone(), ChartExtras::default()), (chart, extras)], 2, &path).unwrap();
        assert_eq!(image::open(&path).unwrap().width(), 1120);
        assert!(line_panels("none", &[], 2, &path).is_err());
    }
}
