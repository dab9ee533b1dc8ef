//! ColorMNIST (cdep.md §4.1): digit d is tinted with color d in training and with color
//! 9−d at validation/test time, so color is a spurious feature that flips at test time.

use crate::{Error, Result};
use rand::seq::SliceRandom;
use tch::{Kind, Tensor};

/// HSL → RGB, all in [0, 1].
fn hsl_to_rgb(h: f64, s: f64, l: f64) -> [f64; 3] {
    let c = (1.0 - (2.0 * l - 1.0).abs()) * s;
    let hp = h * 6.0;
    let x = c * (1.0 - (hp % 2.0 - 1.0).abs());
    let (r, g, b) = match hp as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = l - c / 2.0;
    [r + m, g + m, b + m]
}

/// The 10 colors: HSL interpolated from red (0, 1, 0.5) to web purple #800080
/// (5/6, 1, 128/255 / 2), color k at fraction k/9.
pub fn palette() -> [[f64; 3]; 10] {
    let (l0, l1) = (0.5, 128.0 / 255.0 / 2.0 * 1.0);
    std::array::from_fn(|k| {
        let t = k as f64 / 9.0;
        hsl_to_rgb(t * 5.0 / 6.0, 1.0, l0 + t * (l1 - l0))
    })
}

/// Tints raw gray images (`[N,1,28,28]`, 0–255 scale, not divided) with the color of each
/// label (`reversed`: color 9 − label) → `[N,3,28,28]` f32.
pub fn colorize(gray255: &Tensor, labels: &Tensor, reversed: bool) -> Tensor {
    let pal: Vec<f32> = palette().iter().flatten().map(|&v| v as f32).collect();
    let pal = Tensor::from_slice(&pal).view([10, 3]).to_device(gray255.device());
    let idx = if reversed { 9 - labels.to_kind(Kind::Int64) } else { labels.to_kind(Kind::Int64) };
    let colors = pal.index_select(0, &idx).view([-1, 3, 1, 1]);
    gray255.to_kind(Kind::Float) * colors
}

/// Options of [`build`].
#[derive(Debug, Clone, Copy)]
pub struct ColorMnistOptions {
    /// Seed of the train/validation permutation.
    pub seed: u64,
    /// Held-out share of the training images (0.1 → 54,000 / 6,000).
    pub val_fraction: f64,
    /// `true` (reference HEAD): validation uses the test colors 9−d; `false` (2019 code):
    /// validation keeps the training colors.
    pub val_reversed: bool,
}

impl Default for ColorMnistOptions {
    fn default() -> Self {
        ColorMnistOptions { seed: 0, val_fraction: 0.1, val_reversed: true }
    }
}

/// ColorMNIST, standardised per channel with the training split's statistics.
#[derive(Debug)]
pub struct ColorMnist {
    pub train_x: Tensor,
    pub train_y: Tensor,
    pub val_x: Tensor,
    pub val_y: Tensor,
    pub test_x: Tensor,
    pub test_y: Tensor,
    /// Per-channel mean and std `[3]` of the (unstandardised) training images.
    pub mean: Tensor,
    pub std: Tensor,
    /// `[28,28]` sampling probabilities of blob pixels: share of training images in which
    /// the pixel is non-zero, normalised to sum 1.
    pub blob_probs: Tensor,
}

/// A seeded split of `0..n` into (first `n − n_val`, last `n_val`) index tensors.
pub(crate) fn split_indices(n: usize, val_fraction: f64, seed: u64) -> (Tensor, Tensor) {
    let mut idx: Vec<i64> = (0..n as i64).collect();
    idx.shuffle(&mut super::rng(seed));
    let n_val = (n as f64 * val_fraction).round() as usize;
    let all = Tensor::from_slice(&idx);
    (all.narrow(0, 0, (n - n_val) as i64), all.narrow(0, (n - n_val) as i64, n_val as i64))
}

/// Builds ColorMNIST from MNIST tensors (`[N,1,28,28]` in \[0, 1\] as [`super::mnist`] gives,
/// labels `[N]`). Pass subsets for small runs.
pub fn build(
    train_images: &Tensor,
    train_labels: &Tensor,
    test_images: &Tensor,
    test_labels: &Tensor,
    opts: ColorMnistOptions,
) -> Result<ColorMnist> {
    if train_images.size().len() != 4 || train_images.size()[1] != 1 {
        return Err(Error::invalid(
            "ColorMNIST input",
            format!("expected [N,1,H,W] gray images, got {:?}", train_images.size()),
        ));
    }
    let raw = |x: &Tensor| (x.to_kind(Kind::Float) * 255.0).round();
    let (tr, va) = split_indices(train_images.size()[0] as usize, opts.val_fraction, opts.seed);
    let (gtr, ytr) = (raw(&train_images.index_select(0, &tr)), train_labels.index_select(0, &tr));
    let (gva, yva) = (raw(&train_images.index_select(0, &va)), train_labels.index_select(0, &va));
    let xtr = colorize(&gtr, &ytr, false);
    let xva = colorize(&gva, &yva, opts.val_reversed);
    let xte = colorize(&raw(test_images), test_labels, true);
    let mean = xtr.mean_dim(&[0i64, 2, 3][..], false, Kind::Float);
    let std = xtr.std_dim(&[0i64, 2, 3][..], true, false);
    let norm = |x: Tensor| (x - mean.view([1, 3, 1, 1])) / std.view([1, 3, 1, 1]);
    let nonzero = gtr.ne(0.0).to_kind(Kind::Float).mean_dim(0, false, Kind::Float).view([28, 28]);
    let blob_probs = &nonzero / nonzero.sum(Kind::Float);
    Ok(ColorMnist {
        train_x: norm(xtr),
        train_y: ytr,
        val_x: norm(xva),
        val_y: yva,
        test_x: norm(xte),
        test_y: test_labels.shallow_clone(),
        mean,
        std,
        blob_probs,
    })
}
