//! Grouped box plots (a metric against a categorical x such as β, one box per group such as
//! the loss) drawn with plotters. xai-core's charts have lines and bars only, and a mean ± std
//! bar hides what a handful of runs look like: here every run is also drawn as a point, so a
//! cell with one run shows as a single point on a flat box rather than as a fake spread.

use plotters::prelude::*;
use std::path::Path;

/// One box: the values of one (x category, group) cell.
#[derive(Debug, Clone)]
pub struct BoxCell {
    pub x: usize,
    pub group: usize,
    pub values: Vec<f64>,
}

/// A box plot over categories `x_labels` with one box per group of `groups` in each category.
#[derive(Debug, Clone)]
pub struct BoxPlot {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub x_labels: Vec<String>,
    pub groups: Vec<String>,
    pub cells: Vec<BoxCell>,
}

/// Linear-interpolated quantile (numpy's default) of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Quartiles and Tukey whiskers (the extreme values within 1.5 IQR of the box):
/// `(whisker_lo, q1, median, q3, whisker_hi)`; `None` when no value is finite.
pub fn box_stats(values: &[f64]) -> Option<[f64; 5]> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let (q1, med, q3) = (quantile(&v, 0.25), quantile(&v, 0.5), quantile(&v, 0.75));
    let reach = 1.5 * (q3 - q1);
    let lo = v.iter().copied().find(|&x| x >= q1 - reach).unwrap_or(q1);
    let hi = v.iter().rev().copied().find(|&x| x <= q3 + reach).unwrap_or(q3);
    Some([lo, q1, med, q3, hi])
}

const COLOURS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(255, 127, 14), RGBColor(44, 160, 44), RGBColor(214, 39, 40)];

/// Draws `plot` to a PNG atomically.
pub fn box_plot(plot: &BoxPlot, path: &Path) -> anyhow::Result<()> {
    let finite: Vec<f64> = plot.cells.iter().flat_map(|c| c.values.iter().copied()).filter(|v| v.is_finite()).collect();
    if finite.is_empty() || plot.x_labels.is_empty() || plot.groups.is_empty() {
        anyhow::bail!("box plot `{}`: no finite values to draw", plot.title);
    }
    let (lo, hi) = finite.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
    let pad = if hi > lo { 0.08 * (hi - lo) } else { 0.05 * lo.abs().max(1e-3) };
    let (y0, y1) = (lo - pad, hi + pad);
    let n_x = plot.x_labels.len();
    let n_g = plot.groups.len();
    // Boxes of one category side by side inside a slot 0.8 wide around its index.
    let width = 0.8 / n_g as f64;
    let centre = |c: &BoxCell| c.x as f64 - 0.4 + width * (c.group as f64 + 0.5);
    let err = |e: &dyn std::fmt::Display| xai_core::Error::Other(format!("{}: drawing box plot: {e}", path.display()));
    xai_core::figures::ensure_font();
    xai_core::fsutil::atomic_write_with(path, |tmp| {
        let root = BitMapBackend::new(tmp, (800, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut ctx = ChartBuilder::on(&root)
            .caption(&plot.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..(n_x as f64 - 0.5), y0..y1)
            .map_err(|e| err(&e))?;
        let labels = plot.x_labels.clone();
        ctx.configure_mesh()
            .disable_x_mesh()
            .x_labels(n_x * 4)
            .x_label_formatter(&|v| {
                let i = v.round();
                if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < labels.len() {
                    labels[i as usize].clone()
                } else {
                    String::new()
                }
            })
            .x_desc(&plot.x_label)
            .y_desc(&plot.y_label)
            .draw()
            .map_err(|e| err(&e))?;
        for (g, name) in plot.groups.iter().enumerate() {
            let colour = COLOURS[g % COLOURS.len()];
            let cells: Vec<&BoxCell> = plot.cells.iter().filter(|c| c.group == g).collect();
            let half = width * 0.4;
            let mut shapes: Vec<PathElement<(f64, f64)>> = vec![];
            let mut boxes = vec![];
            for c in &cells {
                let Some([wl, q1, med, q3, wh]) = box_stats(&c.values) else { continue };
                let x = centre(c);
                boxes.push(Rectangle::new([(x - half, q1), (x + half, q3)], colour.mix(0.25).filled()));
                boxes.push(Rectangle::new([(x - half, q1), (x + half, q3)], colour.stroke_width(2)));
                shapes.push(PathElement::new(vec![(x - half, med), (x + half, med)], colour.stroke_width(3)));
                shapes.push(PathElement::new(vec![(x, q3), (x, wh)], colour.stroke_width(1)));
                shapes.push(PathElement::new(vec![(x, q1), (x, wl)], colour.stroke_width(1)));
                for w in [wl, wh] {
                    shapes
                        .push(PathElement::new(vec![(x - half / 2.0, w), (x + half / 2.0, w)], colour.stroke_width(1)));
                }
            }
            ctx.draw_series(boxes).map_err(|e| err(&e))?;
            ctx.draw_series(shapes)
                .map_err(|e| err(&e))?
                .label(name.clone())
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], colour.filled()));
            // Every run as a point, spread across the box so repeated values stay visible.
            let points = cells.iter().flat_map(|c| {
                let x = centre(c);
                let n = c.values.len().max(1) as f64;
                c.values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(move |(i, &v)| {
                    let dx = if n > 1.0 { (i as f64 / (n - 1.0) - 0.5) * half } else { 0.0 };
                    Circle::new((x + dx, v), 4, BLACK.filled())
                })
            });
            ctx.draw_series(points).map_err(|e| err(&e))?;
        }
        ctx.configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_and_whiskers() {
        // numpy: percentile([1, 2, 3, 4, 100], [25, 50, 75]) = 2, 3, 4; 100 lies past 4 + 1.5·2.
        assert_eq!(box_stats(&[4.0, 1.0, 100.0, 3.0, 2.0]), Some([1.0, 2.0, 3.0, 4.0, 4.0]));
        assert_eq!(box_stats(&[0.5]), Some([0.5; 5]), "one run: a flat box at its value");
        assert_eq!(box_stats(&[f64::NAN]), None);
    }

    #[test]
    fn draws_a_png_and_refuses_an_empty_plot() {
        let dir = tempfile::tempdir().unwrap();
        let mut plot = BoxPlot {
            title: "t".into(),
            x_label: "β".into(),
            y_label: "Pearson".into(),
            x_labels: vec!["1".into(), "10".into()],
            groups: vec!["a".into(), "b".into()],
            cells: vec![
                BoxCell { x: 0, group: 0, values: vec![0.1, 0.2, 0.3] },
                BoxCell { x: 1, group: 1, values: vec![0.4] },
            ],
        };
        let p = dir.path().join("box.png");
        box_plot(&plot, &p).unwrap();
        assert!(p.is_file());
        plot.cells.clear();
        assert!(box_plot(&plot, &p).unwrap_err().to_string().contains("no finite values"));
    }
}
