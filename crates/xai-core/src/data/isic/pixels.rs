//! ISIC pixels: images decoded, resized to `size × size` (bilinear, no aspect
//! preservation, as the reference's 299×299 copies), scaled to [0, 1] and ImageNet
//! normalised; patch maps thresholded, resized (nearest) and dilated. Files of a batch
//! are decoded on all cores; everything after decoding is one tensor op per batch.

use super::{err, Entry};
use crate::{Error, Result};
use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};
use std::path::Path;
use tch::{Kind, Tensor};

/// ImageNet channel means (RGB), as torchvision's VGG16 expects.
pub const IMAGENET_MEAN: [f32; 3] = [0.485, 0.456, 0.406];
/// ImageNet channel standard deviations.
pub const IMAGENET_STD: [f32; 3] = [0.229, 0.224, 0.225];
/// Side of the authors' images and patch maps; also the paper's input size.
pub const REFERENCE_SIZE: u32 = 299;
/// A map pixel is patch where its channel 0 exceeds this (the reference's rule).
pub const DEFAULT_THRESHOLD: u8 = 100;
/// Side of the square the reference dilates maps with before CD (at 299 px).
pub const DEFAULT_DILATION: i64 = 20;

/// `f(0), …, f(n−1)` on all cores, results in order; the first error (by index) wins.
fn par_map<T: Send>(n: usize, f: impl Fn(usize) -> Result<T> + Sync) -> Result<Vec<T>> {
    let threads = std::thread::available_parallelism().map(|t| t.get()).unwrap_or(1).min(n.max(1));
    if threads <= 1 {
        return (0..n).map(f).collect();
    }
    let chunk = n.div_ceil(threads);
    std::thread::scope(|s| {
        let f = &f;
        let handles: Vec<_> = (0..threads)
            .map(|t| s.spawn(move || (t * chunk..((t + 1) * chunk).min(n)).map(f).collect::<Result<Vec<T>>>()))
            .collect();
        let mut out = Vec::with_capacity(n);
        for h in handles {
            out.extend(h.join().map_err(|_| Error::Other("an image decoding thread panicked".into()))??);
        }
        Ok(out)
    })
}

/// Decodes any supported file, judging the format by its content (an ISIC export may
/// hold PNGs named `.jpg`).
fn decode(path: &Path) -> Result<DynamicImage> {
    let reader = image::io::Reader::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => err(path, "file not found"),
        _ => Error::io(path, e),
    })?;
    let reader = reader.with_guessed_format().map_err(|e| Error::io(path, e))?;
    reader.decode().map_err(|e| {
        Error::data(path, format!("cannot decode image: {e}"))
            .with_hint("replace it with a readable JPEG or PNG, or remove it from the isic folder")
    })
}

fn resized(img: RgbImage, size: u32) -> RgbImage {
    if img.dimensions() == (size, size) {
        img
    } else {
        image::imageops::resize(&img, size, size, FilterType::Triangle)
    }
}

/// Images `[N, 3, size, size]` f32: `/255`, then `(x − mean) / std` per channel.
pub fn load_images(paths: &[&Path], size: u32) -> Result<Tensor> {
    let decoded = par_map(paths.len(), |i| Ok(resized(decode(paths[i])?.to_rgb8(), size).into_raw()))?;
    let n = paths.len() as i64;
    let s = i64::from(size);
    let bytes = decoded.concat();
    let x = Tensor::from_slice(&bytes).view([n, s, s, 3]).permute([0, 3, 1, 2]).to_kind(Kind::Float) / 255.0;
    let mean = Tensor::from_slice(&IMAGENET_MEAN).view([1, 3, 1, 1]);
    let std = Tensor::from_slice(&IMAGENET_STD).view([1, 3, 1, 1]);
    Ok((x - mean) / std)
}

/// Undoes [`load_images`]' normalisation: RGB in [0, 1], for figures.
pub fn denormalize(x: &Tensor) -> Tensor {
    let dev = x.device();
    let mean = Tensor::from_slice(&IMAGENET_MEAN).view([1, 3, 1, 1]).to_device(dev);
    let std = Tensor::from_slice(&IMAGENET_STD).view([1, 3, 1, 1]).to_device(dev);
    (x * std + mean).clamp(0.0, 1.0)
}

/// One map as a `[size, size]` 0/1 f32 mask. It must have its image's pixel size or the
/// authors' 299×299 (their maps belong to 299×299 copies of the images).
fn load_mask(e: &Entry, size: u32, threshold: u8) -> Result<Tensor> {
    let Some(path) = e.mask.as_deref() else {
        return Err(Error::invalid("isic mask", format!("{} has no patch map", e.image.display())));
    };
    let map = decode(path)?.to_rgb8();
    let (w, h) = map.dimensions();
    let (iw, ih) = image::image_dimensions(&e.image)
        .map_err(|x| Error::data(&e.image, format!("cannot read the image size: {x}")).with_hint(super::hint()))?;
    if (w, h) != (iw, ih) && (w, h) != (REFERENCE_SIZE, REFERENCE_SIZE) {
        return Err(Error::data(
            path,
            format!(
                "patch map is {w}×{h} but its image {} is {iw}×{ih}; a map must have its image's size or \
                 {REFERENCE_SIZE}×{REFERENCE_SIZE} (the authors' maps)",
                e.image.display()
            ),
        )
        .with_hint("supply the map at the image's size, or resize both to 299×299"));
    }
    let channel0 = Tensor::from_slice(&map.into_raw()).view([i64::from(h), i64::from(w), 3]).select(2, 0);
    let m = channel0.gt(i64::from(threshold)).to_kind(Kind::Float);
    let s = i64::from(size);
    Ok(if (w, h) == (size, size) {
        m
    } else {
        m.view([1, 1, i64::from(h), i64::from(w)]).upsample_nearest2d([s, s], None, None).view([s, s])
    })
}

/// Patch masks `[N, size, size]` f32 in {0, 1} of entries that have a map (undilated).
pub fn load_masks(entries: &[&Entry], size: u32, threshold: u8) -> Result<Tensor> {
    let masks = par_map(entries.len(), |i| load_mask(entries[i], size, threshold))?;
    if masks.is_empty() {
        return Ok(Tensor::zeros([0, i64::from(size), i64::from(size)], (Kind::Float, tch::Device::Cpu)));
    }
    Ok(Tensor::stack(&masks, 0))
}

/// The dilation square for images of side `size`: `side_at_299` scaled by `size / 299`,
/// at least 1 (no dilation) unless `side_at_299` is 0.
pub fn dilation_side(side_at_299: i64, size: i64) -> i64 {
    if side_at_299 <= 0 {
        return 0;
    }
    ((side_at_299 as f64 * size as f64 / f64::from(REFERENCE_SIZE)).round() as i64).max(1)
}

/// Binary dilation of `[N, H, W]` masks with a `side × side` square, as a stride-1 max
/// pool. An even square cannot be centred: each mask pixel grows `side/2` pixels
/// down/right and `side/2 − 1` up/left. Zero padding is neutral for 0/1 masks.
pub fn dilate(masks: &Tensor, side: i64) -> Tensor {
    if side <= 1 || masks.numel() == 0 {
        return masks.shallow_clone();
    }
    let (before, after) = (side / 2, side - 1 - side / 2);
    let padded = masks.unsqueeze(1).constant_pad_nd([before, after, before, after]);
    padded.max_pool2d([side, side], [1, 1], [0, 0], [1, 1], false).squeeze_dim(1)
}
