//! dSprites: 737,280 binary 64×64 sprites with six latents. The DeepMind `.npz` loader keeps
//! images as u8 (3 GB; never copied to f32 whole), and a procedural generator renders any
//! sprite by index for offline runs.

use super::{data_err, npy};
use crate::Result;
use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};

/// File name of the DeepMind release.
pub const FILE: &str = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz";
/// Sizes of the latents: color, shape, scale, orientation, posX, posY.
pub const LATENT_SIZES: [usize; 6] = [1, 3, 6, 40, 32, 32];
/// Number of sprites (product of [`LATENT_SIZES`]).
pub const LEN: usize = 737_280;

/// dSprites arrays.
#[derive(Debug)]
pub struct DSprites {
    /// `[N, 64, 64]` u8 in {0, 1}.
    pub imgs: Tensor,
    /// `[N, 6]` i64 class index per latent.
    pub latents_classes: Tensor,
    /// `[N, 6]` f64 latent values.
    pub latents_values: Tensor,
}

/// Path of the release under `root/dsprites/`.
pub fn path(root: &Path) -> PathBuf {
    root.join("dsprites").join(FILE)
}

/// Reads `imgs`, `latents_classes` and `latents_values` of a dSprites-format npz (the
/// pickled `metadata` member is never touched).
pub fn load_npz(path: &Path) -> Result<DSprites> {
    if !path.is_file() {
        return Err(data_err("dsprites", path, "file not found"));
    }
    let mut a = npy::read_npz(path, &["imgs", "latents_classes", "latents_values"])
        .map_err(|e| data_err("dsprites", path, e.to_string()))?;
    let latents_values = a.pop().unwrap_or_default().to_kind(Kind::Double);
    let latents_classes = a.pop().unwrap_or_default().to_kind(Kind::Int64);
    let imgs = a.pop().unwrap_or_default();
    let n = imgs.size().first().copied().unwrap_or(0);
    if imgs.kind() != Kind::Uint8
        || imgs.size()[1..] != [64, 64]
        || latents_classes.size() != [n, 6]
        || latents_values.size() != [n, 6]
    {
        return Err(data_err(
            "dsprites",
            path,
            format!(
                "unexpected arrays: imgs {:?} {:?}, latents {:?} / {:?}",
                imgs.kind(),
                imgs.size(),
                latents_classes.size(),
                latents_values.size()
            ),
        ));
    }
    Ok(DSprites { imgs, latents_classes, latents_values })
}

/// Loads the DeepMind release from `root/dsprites/`.
pub fn load(root: &Path) -> Result<DSprites> {
    load_npz(&path(root))
}

/// Writes arrays in the DeepMind layout (used for loader tests and offline copies).
pub fn write_npz(path: &Path, d: &DSprites) -> Result<()> {
    npy::write_npz(
        path,
        &[("imgs", &d.imgs), ("latents_classes", &d.latents_classes), ("latents_values", &d.latents_values)],
    )
}

/// A batch of images as f32 `[B,1,64,64]` in {0, 1}; only this batch is converted.
pub fn batch_f32(imgs: &Tensor, indices: &Tensor) -> Tensor {
    imgs.index_select(0, indices).unsqueeze(1).to_kind(Kind::Float)
}

/// Latent classes of sprite `index` in the release's order (posY varies fastest).
pub fn latent_classes(index: usize) -> [usize; 6] {
    let mut c = [0; 6];
    let mut rest = index;
    for k in (0..6).rev() {
        c[k] = rest % LATENT_SIZES[k];
        rest /= LATENT_SIZES[k];
    }
    c
}

/// Latent values as in the release: color 1, shape 1–3, scale 0.5–1 (6 steps),
/// orientation 0–2π (40 steps), positions 0–1 (32 steps).
pub fn latent_values(c: &[usize; 6]) -> [f64; 6] {
    let lin = |a: f64, b: f64, n: usize, i: usize| a + (b - a) * i as f64 / (n - 1) as f64;
    [
        1.0,
        (c[1] + 1) as f64,
        lin(0.5, 1.0, 6, c[2]),
        lin(0.0, 2.0 * PI, 40, c[3]),
        lin(0.0, 1.0, 32, c[4]),
        lin(0.0, 1.0, 32, c[5]),
    ]
}

/// Renders sprite `index` (0..[`LEN`]) as 64×64 bytes in {0, 1}: square, ellipse or heart,
/// scaled, rotated about its centre and placed on the 32×32 position grid.
pub fn render(index: usize) -> Vec<u8> {
    let c = latent_classes(index % LEN);
    let v = latent_values(&c);
    let (scale, theta) = (v[2], v[3]);
    // Centres span [12, 52] so the largest sprite stays mostly inside the frame.
    let (cx, cy) = (12.0 + 40.0 * v[4], 12.0 + 40.0 * v[5]);
    let r = 11.0 * scale;
    let (s, co) = theta.sin_cos();
    let mut img = vec![0u8; 64 * 64];
    for y in 0..64 {
        for x in 0..64 {
            let (dx, dy) = (x as f64 + 0.5 - cx, y as f64 + 0.5 - cy);
            // Rotate the pixel into the sprite's frame, normalised by its size.
            let (u, w) = ((co * dx + s * dy) / r, (-s * dx + co * dy) / r);
            let inside = match c[1] {
                0 => u.abs() <= 0.8 && w.abs() <= 0.8,
                1 => u * u + (w * w) / 0.36 <= 1.0,
                _ => {
                    let (hx, hy) = (u * 1.2, -w * 1.2 + 0.2);
                    (hx * hx + hy * hy - 1.0).powi(3) - hx * hx * hy.powi(3) <= 0.0
                }
            };
            img[y * 64 + x] = u8::from(inside);
        }
    }
    img
}

/// Renders the given sprites: images `[B,64,64]` u8, classes `[B,6]` i64, values `[B,6]` f64.
pub fn procedural(indices: &[usize]) -> DSprites {
    let mut imgs = Vec::with_capacity(indices.len() * 4096);
    let mut classes = Vec::with_capacity(indices.len() * 6);
    let mut values = Vec::with_capacity(indices.len() * 6);
    for &i in indices {
        imgs.extend(render(i));
        let c = latent_classes(i % LEN);
        classes.extend(c.iter().map(|&k| k as i64));
        values.extend(latent_values(&c));
    }
    let b = indices.len() as i64;
    DSprites {
        imgs: Tensor::from_slice(&imgs).view([b, 64, 64]),
        latents_classes: Tensor::from_slice(&classes).view([b, 6]),
        latents_values: Tensor::from_slice(&values).view([b, 6]),
    }
}

/// `n` distinct sprite indices drawn with `seed` (a small random subset of the full set).
pub fn sample_indices(n: usize, seed: u64) -> Vec<usize> {
    rand::seq::index::sample(&mut super::rng(seed), LEN, n.min(LEN)).into_vec()
}
