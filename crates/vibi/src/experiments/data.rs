//! Data for VIBI runs: the seeded synthetic-patches task (no files), MNIST and CIFAR-10
//! normalised as willisk does, subsets, held-out splits and the 90/10 train/valid split.

use super::Config;
use crate::blackbox::{self, BlackBox};
use crate::{Result, VibiError};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// A prepared dataset: normalised images (masked value 0 = the mean colour).
#[derive(Debug)]
pub struct Dataset {
    pub name: String,
    /// `[N, C, H, W]` f32, normalised.
    pub train_x: Tensor,
    /// `[N]` i64.
    pub train_y: Tensor,
    pub test_x: Tensor,
    pub test_y: Tensor,
    /// Index of the chunk holding the class evidence (synthetic data only), `[N]` i64.
    pub train_cells: Option<Tensor>,
    pub test_cells: Option<Tensor>,
    /// Per-channel mean and std used to normalise; `None` for synthetic data (already centred).
    pub norm: Option<(Vec<f64>, Vec<f64>)>,
    pub n_classes: i64,
}

impl Dataset {
    /// `[C, H, W]` of one input.
    pub fn input_shape(&self) -> [i64; 3] {
        let s = self.train_x.size();
        [s[1], s[2], s[3]]
    }

    /// Moves every tensor to `device`.
    pub fn to_device(self, device: Device) -> Self {
        let mv = |t: Tensor| t.to_device(device);
        Self {
            train_x: mv(self.train_x),
            train_y: mv(self.train_y),
            test_x: mv(self.test_x),
            test_y: mv(self.test_y),
            train_cells: self.train_cells.map(mv),
            test_cells: self.test_cells.map(mv),
            ..self
        }
    }

    /// Images back in [0, 1] for figures: un-normalised, or min–max scaled over the batch
    /// for synthetic data.
    pub fn to_unit(&self, x: &Tensor) -> Tensor {
        match &self.norm {
            Some((mean, std)) => {
                let c = x.size()[1];
                let m = Tensor::from_slice(mean).to_kind(Kind::Float).to_device(x.device()).view([1, c, 1, 1]);
                let s = Tensor::from_slice(std).to_kind(Kind::Float).to_device(x.device()).view([1, c, 1, 1]);
                (x * s + m).clamp(0.0, 1.0)
            }
            None => min_max(x),
        }
    }
}

/// Min–max scaling over the whole batch to [0, 1].
pub fn min_max(x: &Tensor) -> Tensor {
    let lo = x.min();
    let hi = x.max();
    (x - &lo) / (hi - &lo).clamp_min(1e-12)
}

/// willisk's MNIST normalisation (note 0.3080, not 0.3081).
pub const MNIST_NORM: (f64, f64) = (0.1307, 0.3080);
/// The authors' MNIST normalisation (masked pixels = grey 0.5).
pub const MNIST_NORM_AUTHORS: (f64, f64) = (0.5, 0.5);
/// CIFAR-10 per-channel mean and std (willisk).
pub const CIFAR_MEAN: [f64; 3] = [0.4914, 0.4822, 0.4465];
pub const CIFAR_STD: [f64; 3] = [0.2464, 0.2428, 0.2608];

/// The synthetic-patches task (spec §8): 28×28 images of N(0, 0.3²) noise; 10 fixed
/// random ±1 4×4 class templates; each image has its class template in one random cell
/// of the 7×7 grid and 3 fresh random ±1 distractor patches in 3 other cells. The same
/// seed gives the same data on every machine (libtorch's CPU generator).
pub fn synthetic_patches(n_train: i64, n_test: i64, seed: u64) -> Result<Dataset> {
    if n_train <= 0 || n_test <= 0 {
        return Err(VibiError::invalid(
            "synthetic data",
            format!("{n_train} train / {n_test} test images; both must be positive"),
        ));
    }
    tch::manual_seed(seed as i64);
    let n = n_train + n_test;
    let opts = (Kind::Float, Device::Cpu);
    let sign = |shape: &[i64]| Tensor::rand(shape, opts).ge(0.5).to_kind(Kind::Float) * 2.0 - 1.0;
    let templates = sign(&[10, 16]);
    let y = Tensor::randint(10, [n], (Kind::Int64, Device::Cpu));
    // Four distinct cells per image: the first holds the class evidence.
    let cells = Tensor::rand([n, 49], opts).argsort(1, false).narrow(1, 0, 4);
    let patches = Tensor::cat(&[templates.index_select(0, &y).unsqueeze(1), sign(&[n, 3, 16])], 1);
    let canvas = Tensor::zeros([n, 49, 16], opts).scatter(1, &cells.unsqueeze(2).expand([n, 4, 16], false), &patches);
    let signal = canvas.reshape([n, 7, 7, 4, 4]).permute([0, 1, 3, 2, 4]).reshape([n, 1, 28, 28]);
    let x = Tensor::randn([n, 1, 28, 28], opts) * 0.3 + signal;
    let true_cell = cells.select(1, 0).contiguous();
    Ok(Dataset {
        name: "synthetic_patches".into(),
        train_x: x.narrow(0, 0, n_train),
        train_y: y.narrow(0, 0, n_train),
        test_x: x.narrow(0, n_train, n_test),
        test_y: y.narrow(0, n_train, n_test),
        train_cells: Some(true_cell.narrow(0, 0, n_train)),
        test_cells: Some(true_cell.narrow(0, n_train, n_test)),
        norm: None,
        n_classes: 10,
    })
}

/// How the official splits are cut down.
#[derive(Debug, Clone, Copy)]
pub struct Subsets {
    /// First N training images (0: all; more than the dataset has is an error).
    pub train: i64,
    /// First N test images (0: all; more than the dataset has is an error).
    pub test: i64,
    /// When > 0, the test set is instead this many images held out (seeded) from the
    /// training subset — the smoke recipe on 5,000 training digits.
    pub holdout_test: i64,
    pub seed: u64,
}

fn first(x: &Tensor, n: i64) -> Tensor {
    if n > 0 && n < x.size()[0] {
        x.narrow(0, 0, n)
    } else {
        x.shallow_clone()
    }
}

fn normalise(x: &Tensor, mean: &[f64], std: &[f64]) -> Tensor {
    let c = mean.len() as i64;
    let m = Tensor::from_slice(mean).to_kind(Kind::Float).view([1, c, 1, 1]);
    let s = Tensor::from_slice(std).to_kind(Kind::Float).view([1, c, 1, 1]);
    (x - m) / s
}

fn assemble(
    name: &str,
    train: (Tensor, Tensor),
    test: (Tensor, Tensor),
    sub: &Subsets,
    mean: Vec<f64>,
    std: Vec<f64>,
) -> Result<Dataset> {
    for (key, want, have, which) in [
        ("data.train_subset", sub.train, train.0.size()[0], "training"),
        ("data.test_subset", sub.test, test.0.size()[0], "test"),
    ] {
        if want > have {
            // Recording a subset larger than the dataset would make config.toml claim
            // more images than were used.
            return Err(VibiError::invalid(
                key,
                format!("{want} but {name} has only {have} {which} images; use at most {have}, or 0 for all"),
            ));
        }
    }
    let (tx, ty) = (first(&train.0, sub.train), first(&train.1, sub.train));
    let ((tx, ty), (sx, sy)) = if sub.holdout_test > 0 {
        let n = tx.size()[0];
        if sub.holdout_test >= n {
            return Err(VibiError::invalid(
                "data.holdout_test",
                format!("{} but only {n} training images", sub.holdout_test),
            ));
        }
        let (keep, held) = split_indices(n, sub.holdout_test as f64 / n as f64, sub.seed);
        ((tx.index_select(0, &keep), ty.index_select(0, &keep)), (tx.index_select(0, &held), ty.index_select(0, &held)))
    } else {
        ((tx, ty), (first(&test.0, sub.test), first(&test.1, sub.test)))
    };
    Ok(Dataset {
        name: name.into(),
        train_x: normalise(&tx, &mean, &std),
        train_y: ty,
        test_x: normalise(&sx, &mean, &std),
        test_y: sy,
        train_cells: None,
        test_cells: None,
        norm: Some((mean, std)),
        n_classes: 10,
    })
}

/// MNIST from `root/mnist/` (IDX files), normalised with `norm` = (mean, std).
pub fn mnist(root: &Path, sub: &Subsets, norm: (f64, f64)) -> Result<Dataset> {
    let m = xai_core::data::mnist::load(root)?;
    assemble("mnist", (m.train_images, m.train_labels), (m.test_images, m.test_labels), sub, vec![norm.0], vec![norm.1])
}

/// CIFAR-10 from `root/cifar10/` (binary version), normalised per channel as willisk does.
pub fn cifar10(root: &Path, sub: &Subsets) -> Result<Dataset> {
    let c = xai_core::data::cifar::load(root)?;
    let f = xai_core::data::cifar::to_float;
    assemble(
        "cifar10",
        (f(&c.train_images), c.train_labels),
        (f(&c.test_images), c.test_labels),
        sub,
        CIFAR_MEAN.to_vec(),
        CIFAR_STD.to_vec(),
    )
}

/// Seeded random split of `0..n` into (train, valid) index tensors with
/// round(n·valid_fraction) validation items, as willisk's `random_split` sizes them.
pub fn split_indices(n: i64, valid_fraction: f64, seed: u64) -> (Tensor, Tensor) {
    let n_valid = ((n as f64) * valid_fraction).round() as i64;
    let mut order: Vec<i64> = (0..n).collect();
    order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(seed));
    let (valid, train) = order.split_at(n_valid as usize);
    (Tensor::from_slice(train), Tensor::from_slice(valid))
}

/// Steps per epoch with the last partial batch kept.
pub fn steps_per_epoch(n: i64, batch: i64) -> i64 {
    (n + batch - 1) / batch
}

/// A labelled split: normalised inputs, black-box probabilities, optional true chunks.
pub struct Split {
    pub x: Tensor,
    pub bb_probs: Tensor,
    pub cells: Option<Tensor>,
}

/// Splits and black-box outputs shared by every cell.
pub struct Prepared {
    pub ds: Dataset,
    pub train: Split,
    pub valid: Split,
    pub test: Split,
    pub test_y: Tensor,
    /// Indices of the test images the figures show.
    pub inspect: Tensor,
    pub bb_test_acc: f64,
}

/// willisk's inspect batch: the first full test batch of 64 with the most black-box errors.
fn inspect_batch(pred: &Tensor, y: &Tensor) -> Tensor {
    let n = y.size()[0];
    let full = n / 64;
    if full == 0 {
        return Tensor::arange(n, (Kind::Int64, y.device()));
    }
    let errors = pred.ne_tensor(y).narrow(0, 0, full * 64).view([full, 64]).sum_dim_intlist(1, false, Kind::Int64);
    let best = errors.argmax(0, false).int64_value(&[]);
    Tensor::arange_start(best * 64, best * 64 + 64, (Kind::Int64, y.device()))
}

/// Splits the training images into VIBI's train/valid and labels every split with the
/// black box's probabilities.
pub fn prepare(cfg: &Config, ds: Dataset, bb: &dyn BlackBox, bb_test_acc: f64) -> Result<Prepared> {
    let probs = blackbox::soft_labels(bb, &ds.train_x, 500);
    let (tr, va) = split_indices(ds.train_x.size()[0], cfg.data.valid_fraction, cfg.data.split_seed);
    let dev = ds.train_x.device();
    let (tr, va) = (tr.to_device(dev), va.to_device(dev));
    if va.size()[0] == 0 {
        return Err(VibiError::invalid(
            "data.valid_fraction",
            format!("{} leaves no validation images", cfg.data.valid_fraction),
        ));
    }
    let pick = |idx: &Tensor| Split {
        x: ds.train_x.index_select(0, idx),
        bb_probs: probs.index_select(0, idx),
        cells: ds.train_cells.as_ref().map(|c| c.index_select(0, idx)),
    };
    let (train, valid) = (pick(&tr), pick(&va));
    let test_probs = blackbox::soft_labels(bb, &ds.test_x, 500);
    let inspect = inspect_batch(&test_probs.argmax(-1, false), &ds.test_y);
    let test = Split {
        x: ds.test_x.shallow_clone(),
        bb_probs: test_probs,
        cells: ds.test_cells.as_ref().map(|c| c.shallow_clone()),
    };
    let test_y = ds.test_y.shallow_clone();
    log::info!("VIBI split: {} train / {} valid; {} test", train.x.size()[0], valid.x.size()[0], test.x.size()[0]);
    Ok(Prepared { ds, train, valid, test, test_y, inspect, bb_test_acc })
}
