use super::font::ensure_font;
use crate::fsutil::atomic_write_with;
use crate::{Error, Result};
use image::{Rgb, RgbImage};
use std::path::Path;
use tch::{Kind, Tensor};

/// Layout and decoration of an image grid.
#[derive(Debug, Clone)]
pub struct GridOptions {
    pub columns: usize,
    /// Integer up-scaling (nearest neighbour), so 28×28 digits are visible.
    pub scale: u32,
    pub padding: u32,
    /// One caption per image, drawn under it.
    pub captions: Option<Vec<String>>,
    /// One frame colour per image (e.g. green = correct, red = wrong).
    pub frames: Option<Vec<[u8; 3]>>,
    pub frame_width: u32,
    pub title: Option<String>,
}

impl Default for GridOptions {
    fn default() -> Self {
        Self { columns: 8, scale: 3, padding: 4, captions: None, frames: None, frame_width: 3, title: None }
    }
}

const CAPTION_HEIGHT: u32 = 16;
const TITLE_HEIGHT: u32 = 22;
/// Estimated width of one character of the 16-px title font.
const TITLE_CHAR_PX: u32 = 8;

/// Greedy word wrap of `text` into lines of at most `max_chars` characters (a longer word
/// gets a line of its own).
pub fn wrap_words(text: &str, max_chars: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let last = lines.last_mut().expect("starts with one line");
        if !last.is_empty() && last.chars().count() + 1 + word.chars().count() > max_chars {
            lines.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}

/// The title's lines: wrapped so that narrow grids (one 28-px digit a column) keep the whole
/// title on the canvas.
fn title_lines(title: &str, width: u32) -> Vec<String> {
    wrap_words(title, (width.saturating_sub(4) / TITLE_CHAR_PX).max(12) as usize)
}

/// Lays out `images` `[N, C, H, W]` (C = 1 or 3, values in [0, 1]) as an RGB grid.
pub fn image_grid(images: &Tensor, opts: &GridOptions) -> Result<RgbImage> {
    let size = images.size();
    if size.len() != 4 || !(size[1] == 1 || size[1] == 3) || size[0] == 0 {
        return Err(Error::invalid("image grid", format!("expected [N>0, 1|3, H, W], got {size:?}")));
    }
    let (n, h, w) = (size[0] as usize, size[2] as u32, size[3] as u32);
    for (what, len) in
        [("captions", opts.captions.as_ref().map(Vec::len)), ("frames", opts.frames.as_ref().map(Vec::len))]
    {
        if let Some(len) = len.filter(|&l| l != n) {
            return Err(Error::invalid("image grid", format!("{len} {what} for {n} images")));
        }
    }
    let cols = opts.columns.clamp(1, n);
    let rows = n.div_ceil(cols);
    let (cw, ch) = (w * opts.scale, h * opts.scale);
    let cap = if opts.captions.is_some() { CAPTION_HEIGHT } else { 0 };
    let cell_w = cw + 2 * opts.frame_width + opts.padding;
    let cell_h = ch + 2 * opts.frame_width + cap + opts.padding;
    let width = opts.padding + cols as u32 * cell_w;
    let title = opts.title.as_deref().map(|t| title_lines(t, width)).unwrap_or_default();
    let top = title.len() as u32 * TITLE_HEIGHT;
    let height = top + opts.padding + rows as u32 * cell_h;

    // One host copy of all pixels as RGB u8; the loops below only place bytes.
    let rgb = images.expand([-1, 3, -1, -1], false).to_kind(Kind::Float).clamp(0.0, 1.0) * 255.0;
    let bytes: Vec<u8> =
        Vec::try_from(rgb.round().to_kind(Kind::Uint8).permute([0, 2, 3, 1]).contiguous().flatten(0, -1))?;
    let mut canvas = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    for i in 0..n {
        let (gx, gy) = ((i % cols) as u32, (i / cols) as u32);
        let x0 = opts.padding + gx * cell_w;
        let y0 = top + opts.padding + gy * cell_h;
        if let Some(frames) = &opts.frames {
            let fw = opts.frame_width;
            for y in y0..y0 + ch + 2 * fw {
                for x in x0..x0 + cw + 2 * fw {
                    canvas.put_pixel(x, y, Rgb(frames[i]));
                }
            }
        }
        let img = &bytes[i * (h * w * 3) as usize..(i + 1) * (h * w * 3) as usize];
        for y in 0..ch {
            for x in 0..cw {
                let p = (((y / opts.scale) * w + x / opts.scale) * 3) as usize;
                canvas.put_pixel(
                    x0 + opts.frame_width + x,
                    y0 + opts.frame_width + y,
                    Rgb([img[p], img[p + 1], img[p + 2]]),
                );
            }
        }
    }
    if opts.captions.is_some() || opts.title.is_some() {
        draw_text(&mut canvas, opts, &title, cols, cell_w, cell_h, ch, top)?;
    }
    Ok(canvas)
}

#[allow(clippy::too_many_arguments)]
fn draw_text(
    canvas: &mut RgbImage,
    opts: &GridOptions,
    title: &[String],
    cols: usize,
    cell_w: u32,
    cell_h: u32,
    ch: u32,
    top: u32,
) -> Result<()> {
    use plotters::prelude::*;
    ensure_font();
    let (width, height) = canvas.dimensions();
    let err = |e: &dyn std::fmt::Display| Error::Other(format!("drawing grid text: {e}"));
    let root = BitMapBackend::with_buffer(canvas.as_mut(), (width, height)).into_drawing_area();
    let style = ("sans-serif", 16).into_font().color(&BLACK);
    for (i, line) in title.iter().enumerate() {
        let y = 3 + (i as u32 * TITLE_HEIGHT) as i32;
        root.draw(&Text::new(line.clone(), (opts.padding as i32, y), style.clone())).map_err(|e| err(&e))?;
    }
    if let Some(captions) = &opts.captions {
        let style = ("sans-serif", 12).into_font().color(&BLACK);
        for (i, c) in captions.iter().enumerate() {
            let (gx, gy) = ((i % cols) as u32, (i / cols) as u32);
            let x = opts.padding + gx * cell_w;
            let y = top + opts.padding + gy * cell_h + ch + 2 * opts.frame_width + 1;
            root.draw(&Text::new(c.clone(), (x as i32, y as i32), style.clone())).map_err(|e| err(&e))?;
        }
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

/// Builds a grid and writes it as a PNG atomically.
pub fn save_grid(images: &Tensor, opts: &GridOptions, path: &Path) -> Result<()> {
    let img = image_grid(images, opts)?;
    atomic_write_with(path, |tmp| {
        img.save_with_format(tmp, image::ImageFormat::Png).map_err(|e| Error::Other(format!("{}: {e}", path.display())))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_wrap_keeps_every_word_and_the_limit() {
        let text = "Top-k explanations: k = 4 of F = 49 chunks kept";
        let lines = wrap_words(text, 20);
        assert!(lines.len() > 1 && lines.iter().all(|l| l.chars().count() <= 20), "{lines:?}");
        assert_eq!(lines.join(" "), text);
        assert_eq!(wrap_words("averyveryverylongword x", 5), ["averyveryverylongword", "x"]);
    }

    #[test]
    fn a_title_wider_than_the_grid_wraps_onto_more_lines() {
        let imgs = Tensor::zeros([8, 1, 28, 28], (Kind::Float, tch::Device::Cpu));
        let with = |t: &str| {
            let opts = GridOptions { columns: 8, scale: 1, padding: 2, title: Some(t.into()), ..Default::default() };
            image_grid(&imgs, &opts).unwrap().dimensions()
        };
        let (w1, h1) = with("short");
        let (w2, h2) = with(&"a long title that cannot fit a narrow grid ".repeat(3));
        assert_eq!(w1, w2);
        assert!(h2 >= h1 + 2 * TITLE_HEIGHT, "{h1} vs {h2}");
    }

    #[test]
    fn grid_places_pixels_and_frames() {
        let imgs = Tensor::zeros([3, 1, 2, 2], (Kind::Float, tch::Device::Cpu));
        let _ = imgs.get(1).fill_(1.0);
        let opts = GridOptions {
            columns: 2,
            scale: 1,
            padding: 1,
            frames: Some(vec![[255, 0, 0], [0, 255, 0], [0, 0, 255]]),
            frame_width: 1,
            ..Default::default()
        };
        let g = image_grid(&imgs, &opts).unwrap();
        // cell = 2 + 2*1 + 1 = 5 wide; image 0 at (2,2), image 1 at (7,2), image 2 at (2,7).
        assert_eq!(g.dimensions(), (11, 11));
        assert_eq!(g.get_pixel(2, 2), &Rgb([0, 0, 0]));
        assert_eq!(g.get_pixel(7, 2), &Rgb([255, 255, 255]));
        assert_eq!(g.get_pixel(1, 1), &Rgb([255, 0, 0]));
        assert_eq!(g.get_pixel(1, 6), &Rgb([0, 0, 255]));
        assert_eq!(g.get_pixel(7, 7), &Rgb([255, 255, 255]), "no fourth image");
        let bad = GridOptions { captions: Some(vec!["a".into()]), ..Default::default() };
        assert!(image_grid(&imgs, &bad).unwrap_err().to_string().contains("1 captions for 3 images"));
    }

    #[test]
    fn captions_render_without_system_fonts() {
        let imgs = Tensor::ones([2, 3, 8, 8], (Kind::Float, tch::Device::Cpu));
        let opts =
            GridOptions { captions: Some(vec!["7".into(), "1".into()]), title: Some("t".into()), ..Default::default() };
        let g = image_grid(&imgs, &opts).unwrap();
        assert!(g.pixels().any(|p| p.0[0] < 128), "some text pixels are dark");
    }
}
