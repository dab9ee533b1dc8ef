//! `datasets info` and `datasets show`: a summary per dataset and a PNG grid of samples.

use crate::{Error, Result};
use std::fmt::Write as _;
use std::path::Path;
use tch::{Kind, Tensor};

/// Class counts of an integer label tensor, as "k: n" pairs.
pub fn class_counts(labels: &Tensor) -> Vec<(i64, i64)> {
    let labels = labels.to_kind(Kind::Int64).flatten(0, -1);
    if labels.numel() == 0 {
        return Vec::new();
    }
    let min = labels.min().int64_value(&[]);
    let counts = (labels - min).bincount(None::<Tensor>, 0);
    let v: Vec<i64> = Vec::<i64>::try_from(&counts).unwrap_or_default();
    v.into_iter().enumerate().filter(|(_, c)| *c > 0).map(|(k, c)| (k as i64 + min, c)).collect()
}

fn describe(out: &mut String, name: &str, x: &Tensor) {
    let _ = writeln!(out, "  {name}: shape {:?}, {:?}", x.size(), x.kind());
}

fn describe_labels(out: &mut String, name: &str, y: &Tensor) {
    let counts: Vec<String> = class_counts(y).iter().map(|(k, c)| format!("{k}: {c}")).collect();
    let _ = writeln!(out, "  {name}: {} labels; classes {{{}}}", y.size()[0], counts.join(", "));
}

/// A text summary (shapes, class counts) of dataset `name` under `root`.
pub fn info(root: &Path, name: &str) -> Result<String> {
    let mut out = format!("{name} ({})\n", root.join(name).display());
    match name {
        "mnist" => {
            let m = super::mnist::load(root)?;
            describe(&mut out, "train_images", &m.train_images);
            describe_labels(&mut out, "train_labels", &m.train_labels);
            describe(&mut out, "test_images", &m.test_images);
            describe_labels(&mut out, "test_labels", &m.test_labels);
        }
        other => return Err(Error::invalid("dataset", format!("`info` does not know how to load `{other}`"))),
    }
    Ok(out)
}

/// Image samples `[N,C,H,W]` in [0,1] of an image dataset, or `None` for other data.
fn samples(root: &Path, name: &str, n: usize) -> Result<Option<Tensor>> {
    let n = n.max(1) as i64;
    Ok(match name {
        "mnist" => {
            let (x, _) = super::mnist::load_split(root, false)?;
            Some(x.narrow(0, 0, n.min(x.size()[0])))
        }
        _ => None,
    })
}

/// Writes a PNG grid of `images` (`[N,C,H,W]` f32 in [0,1], C = 1 or 3), `cols` wide,
/// with a 1-pixel gap, scaled up so small images (5×5 toy colors) stay visible.
pub fn write_grid(images: &Tensor, cols: usize, path: &Path) -> Result<()> {
    let s = images.size();
    if s.len() != 4 || !(s[1] == 1 || s[1] == 3) || s[0] == 0 {
        return Err(Error::invalid("image grid", format!("expected [N,1|3,H,W] with N > 0, got {s:?}")));
    }
    let (n, c, h, w) = (s[0] as usize, s[1] as usize, s[2] as usize, s[3] as usize);
    let scale = (64 / h.max(w)).clamp(1, 8);
    let cols = cols.clamp(1, n);
    let rows = n.div_ceil(cols);
    let (ch, cw) = (h * scale + 1, w * scale + 1);
    // One conversion to u8 HWC for all images, then plain byte copies into the canvas.
    let u8s = (images.to_kind(Kind::Float).clamp(0.0, 1.0) * 255.0).round().to_kind(Kind::Uint8);
    let imgs = if c == 1 { u8s.expand([-1, 3, -1, -1], false) } else { u8s };
    let bytes: Vec<u8> = Vec::<u8>::try_from(&imgs.permute([0, 2, 3, 1]).contiguous().flatten(0, -1))?;
    let mut canvas = image::RgbImage::from_pixel((cols * cw + 1) as u32, (rows * ch + 1) as u32, image::Rgb([128, 128, 128]));
    for (i, img) in bytes.chunks_exact(h * w * 3).enumerate() {
        let (oy, ox) = ((i / cols) * ch + 1, (i % cols) * cw + 1);
        for y in 0..h * scale {
            for x in 0..w * scale {
                let p = ((y / scale) * w + x / scale) * 3;
                canvas.put_pixel((ox + x) as u32, (oy + y) as u32, image::Rgb([img[p], img[p + 1], img[p + 2]]));
            }
        }
    }
    crate::fsutil::atomic_write_with(path, |tmp| {
        canvas.save_with_format(tmp, image::ImageFormat::Png).map_err(|e| Error::data(tmp, e.to_string()))
    })
}

/// `datasets show`: a PNG grid for image data (returns a line naming it), or the first
/// rows of a table.
pub fn show(root: &Path, name: &str, n: usize, out: &Path) -> Result<String> {
    if let Some(x) = samples(root, name, n)? {
        let cols = (x.size()[0] as f64).sqrt().ceil() as usize;
        write_grid(&x, cols, out)?;
        return Ok(format!("wrote {} samples of {name} to {}\n", x.size()[0], out.display()));
    }
    Err(Error::invalid("dataset", format!("`show` does not know how to display `{name}`")))
}
