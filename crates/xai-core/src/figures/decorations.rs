//! What makes a grid readable without the source: a legend for frame colours and a colour
//! bar for heat maps, drawn beside an [`image_grid`](super::image_grid).

use super::colormap::{apply_colormap, ColorMap};
use super::font::ensure_font;
use super::grid::{image_grid, GridOptions};
use crate::fsutil::atomic_write_with;
use crate::{Error, Result};
use image::{Rgb, RgbImage};
use std::path::Path;
use tch::{Kind, Tensor};

/// One legend entry: a colour swatch and what it means.
#[derive(Debug, Clone, PartialEq)]
pub struct LegendEntry {
    pub label: String,
    pub color: [u8; 3],
}

impl LegendEntry {
    pub fn new(label: impl Into<String>, color: [u8; 3]) -> Self {
        Self { label: label.into(), color }
    }
}

/// A vertical colour bar: the map, the values at its bottom and top, and what they are.
#[derive(Debug, Clone, PartialEq)]
pub struct ColorBar {
    pub map: ColorMap,
    pub min: f64,
    pub max: f64,
    pub label: String,
}

/// Extras drawn around a grid.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decorations {
    /// Drawn in a row under the grid.
    pub legend: Vec<LegendEntry>,
    /// Drawn to the right of the grid.
    pub colorbar: Option<ColorBar>,
    /// Lines of explanation under the legend (what rows and captions show).
    pub notes: Vec<String>,
}

const BAR_WIDTH: u32 = 18;
const BAR_AREA: u32 = 120;
const LINE_HEIGHT: u32 = 18;

/// The grid of `images` with `decorations` added.
pub fn decorated_grid(images: &Tensor, opts: &GridOptions, decorations: &Decorations) -> Result<RgbImage> {
    decorate(&image_grid(images, opts)?, decorations)
}

/// Builds a decorated grid and writes it as a PNG atomically.
pub fn save_decorated_grid(images: &Tensor, opts: &GridOptions, decorations: &Decorations, path: &Path) -> Result<()> {
    let img = decorated_grid(images, opts, decorations)?;
    atomic_write_with(path, |tmp| {
        img.save_with_format(tmp, image::ImageFormat::Png).map_err(|e| Error::Other(format!("{}: {e}", path.display())))
    })
}

/// Width of one legend entry: swatch, gap, label (estimated at 7 px a character), gap.
fn entry_width(e: &LegendEntry) -> u32 {
    18 + 7 * e.label.chars().count() as u32 + 14
}

/// Lays the legend out in rows no wider than `width` (at least one entry a row);
/// returns each entry's (x, row).
fn legend_layout(legend: &[LegendEntry], width: u32) -> Vec<(u32, u32)> {
    let mut out = Vec::with_capacity(legend.len());
    let (mut x, mut row) = (6u32, 0u32);
    for e in legend {
        if x > 6 && x + entry_width(e) > width {
            x = 6;
            row += 1;
        }
        out.push((x, row));
        x += entry_width(e);
    }
    out
}

/// Extends `grid` with legend rows, note lines and a colour bar. Text that is wider than
/// the grid widens the canvas rather than running off it.
pub fn decorate(grid: &RgbImage, d: &Decorations) -> Result<RgbImage> {
    if let Some(cb) = &d.colorbar {
        if !(cb.min.is_finite() && cb.max.is_finite() && cb.max > cb.min) {
            return Err(Error::invalid("colour bar", format!("range [{}, {}] is empty or not finite", cb.min, cb.max)));
        }
    }
    let (gw, gh) = grid.dimensions();
    let widest_entry = d.legend.iter().map(entry_width).max().unwrap_or(0) + 6;
    let widest_note = d.notes.iter().map(|n| 7 * n.chars().count() as u32 + 12).max().unwrap_or(0);
    let body_w = gw.max(widest_entry).max(widest_note.min(gw.max(900)));
    let layout = legend_layout(&d.legend, body_w);
    let legend_rows = layout.last().map(|&(_, r)| r + 1).unwrap_or(0);
    let legend_h = legend_rows * (LINE_HEIGHT + 4);
    let notes_h = d.notes.len() as u32 * LINE_HEIGHT;
    let right = if d.colorbar.is_some() { BAR_AREA } else { 0 };
    let (width, height) = (body_w + right, (gh + legend_h + notes_h).max(if right > 0 { 160 } else { 0 }));
    let mut canvas = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    image::imageops::replace(&mut canvas, grid, 0, 0);
    for (entry, &(x, row)) in d.legend.iter().zip(&layout) {
        let y = gh + 3 + row * (LINE_HEIGHT + 4);
        for yy in y..y + 12 {
            for xx in x..x + 12 {
                canvas.put_pixel(xx, yy, Rgb(entry.color));
            }
        }
    }
    let bar_h = height.saturating_sub(60).max(40).min(height.saturating_sub(31));
    let (bar_x, bar_y) = (body_w + 12, 30u32);
    if let Some(cb) = &d.colorbar {
        let (lo, hi) = cb.map.domain();
        // Top row is the map's high end.
        let ramp = Tensor::linspace(hi, lo, bar_h as i64, (Kind::Float, tch::Device::Cpu)).view([1, bar_h as i64, 1]);
        let rgb = apply_colormap(&ramp, cb.map)?;
        let bytes: Vec<f32> = Vec::try_from(rgb.permute([0, 2, 3, 1]).contiguous().flatten(0, -1))?;
        for j in 0..bar_h {
            let c = &bytes[(j * 3) as usize..(j * 3 + 3) as usize];
            let px = Rgb([(c[0] * 255.0).round() as u8, (c[1] * 255.0).round() as u8, (c[2] * 255.0).round() as u8]);
            for i in 0..BAR_WIDTH {
                canvas.put_pixel(bar_x + i, bar_y + j, px);
            }
        }
    }
    draw_text(&mut canvas, d, &layout, gh, legend_h, (bar_x, bar_y, bar_h))?;
    Ok(canvas)
}

fn draw_text(
    canvas: &mut RgbImage,
    d: &Decorations,
    layout: &[(u32, u32)],
    gh: u32,
    legend_h: u32,
    (bar_x, bar_y, bar_h): (u32, u32, u32),
) -> Result<()> {
    use plotters::prelude::*;
    ensure_font();
    let (width, height) = canvas.dimensions();
    let err = |e: &dyn std::fmt::Display| Error::Other(format!("drawing grid decorations: {e}"));
    let root = BitMapBackend::with_buffer(canvas.as_mut(), (width, height)).into_drawing_area();
    let style = ("sans-serif", 12).into_font().color(&BLACK);
    for (entry, &(x, row)) in d.legend.iter().zip(layout) {
        let y = gh + 2 + row * (LINE_HEIGHT + 4);
        root.draw(&Text::new(entry.label.clone(), (x as i32 + 16, y as i32), style.clone())).map_err(|e| err(&e))?;
    }
    let notes_top = gh + legend_h + 2;
    for (i, note) in d.notes.iter().enumerate() {
        let y = (notes_top + i as u32 * LINE_HEIGHT) as i32;
        root.draw(&Text::new(note.clone(), (6, y), style.clone())).map_err(|e| err(&e))?;
    }
    if let Some(cb) = &d.colorbar {
        let tx = (bar_x + BAR_WIDTH + 4) as i32;
        let mid = (cb.min + cb.max) / 2.0;
        for (v, y) in [(cb.max, bar_y), (mid, bar_y + bar_h / 2), (cb.min, bar_y + bar_h)] {
            root.draw(&Text::new(number(v), (tx, y as i32 - 6), style.clone())).map_err(|e| err(&e))?;
        }
        root.draw(&Text::new(cb.label.clone(), (bar_x as i32 - 4, 8), style.clone())).map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))
}

fn number(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-2 || v.abs() >= 1e4) {
        format!("{v:.1e}")
    } else {
        format!("{v:.2}").trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_colorbar_and_notes_are_drawn() {
        let imgs = Tensor::full([4, 1, 8, 8], 0.5, (Kind::Float, tch::Device::Cpu));
        let opts = GridOptions { columns: 4, title: Some("title".into()), ..Default::default() };
        let plain = image_grid(&imgs, &opts).unwrap();
        let d = Decorations {
            legend: vec![LegendEntry::new("correct", [0, 160, 0]), LegendEntry::new("wrong", [200, 0, 0])],
            colorbar: Some(ColorBar { map: ColorMap::Viridis, min: 0.0, max: 1.0, label: "CD share".into() }),
            notes: vec!["rows: input, vanilla, CDEP".into()],
        };
        let img = decorate(&plain, &d).unwrap();
        let (w, h) = img.dimensions();
        let body = w - BAR_AREA;
        assert!(body >= plain.width(), "the canvas holds the grid and its notes");
        assert!(h >= plain.height() + LINE_HEIGHT * 2);
        assert_eq!(img.get_pixel(8, plain.height() + 5), &Rgb([0, 160, 0]), "first swatch");
        // Colour bar: viridis' yellow at the top, purple at the bottom.
        let top = img.get_pixel(body + 12 + 2, 31);
        let bottom = img.get_pixel(body + 12 + 2, 30 + (h - 60).max(40).min(h - 31) - 1);
        assert!(top.0[1] > 200 && top.0[2] < 100, "top of the bar is yellow: {top:?}");
        assert!(bottom.0[0] < 100 && bottom.0[2] > 60, "bottom of the bar is purple: {bottom:?}");
        // A legend wider than a narrow grid wraps onto more rows instead of running off.
        let narrow =
            image_grid(&imgs.narrow(0, 0, 1), &GridOptions { columns: 1, scale: 1, ..Default::default() }).unwrap();
        let many = Decorations {
            legend: (0..6).map(|i| LegendEntry::new(format!("a long legend label {i}"), [0, 0, 200])).collect(),
            ..Default::default()
        };
        let wrapped = decorate(&narrow, &many).unwrap();
        assert!(wrapped.height() >= narrow.height() + 6 * LINE_HEIGHT, "one entry a row: {:?}", wrapped.dimensions());
        let e = decorate(
            &plain,
            &Decorations {
                colorbar: Some(ColorBar { min: 1.0, max: 1.0, ..d.colorbar.clone().unwrap() }),
                ..Default::default()
            },
        );
        assert!(e.unwrap_err().to_string().contains("colour bar"));
    }
}
