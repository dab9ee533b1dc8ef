//! Training the built-in black boxes: Adam (PyTorch's maths, `xai_core::optim`) and
//! cross-entropy, with willisk's CIFAR-10 augmentation as an option.

use super::checkpoint;
use super::data::Dataset;
use super::Config;
use crate::blackbox::{accuracy, Classifier};
use crate::{Result, VibiError};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use tch::Device;
use tch::{Kind, Tensor};
use xai_core::optim::{Adam, Optimizer};
use xai_core::progress::EpochBar;
use xai_core::train::{batch_indices, ensure_finite};

/// Black-box training settings.
#[derive(Debug, Clone)]
pub struct TrainSpec {
    pub epochs: usize,
    pub lr: f64,
    pub batch_size: i64,
    /// Random crop (pad 4) + horizontal flip, as willisk trains the CIFAR-10 black box.
    pub augment: bool,
    /// Value of the crop padding in normalised space (black in pixel space).
    pub pad_value: Vec<f64>,
}

/// Trains `model` with Adam and cross-entropy on `(x, y)`; returns the per-epoch mean loss.
pub fn train(model: &Classifier, x: &Tensor, y: &Tensor, spec: &TrainSpec, rng: &mut impl Rng) -> Result<Vec<f64>> {
    if spec.batch_size <= 0 || spec.epochs == 0 {
        return Err(VibiError::invalid(
            "black_box",
            format!("batch_size {} and epochs {} must be positive", spec.batch_size, spec.epochs),
        ));
    }
    let mut opt = Adam::new(&model.vs, spec.lr)?;
    let n = x.size()[0];
    let bar = EpochBar::new("black box", spec.epochs);
    let mut losses = Vec::new();
    for epoch in 1..=spec.epochs {
        let mut total = Tensor::zeros([], (Kind::Float, x.device()));
        let idx = batch_indices(n, spec.batch_size, true, rng, x.device());
        let steps = idx.len();
        let t_epoch = Instant::now();
        for i in idx {
            let xb = x.index_select(0, &i);
            let xb = if spec.augment { augment(&xb, &spec.pad_value, rng) } else { xb };
            let loss = model.net.forward_t(&xb, true).cross_entropy_for_logits(&y.index_select(0, &i));
            opt.backward_step(&loss);
            total += loss.detach();
        }
        let mean =
            ensure_finite(total.double_value(&[]) / steps as f64, || format!("black-box loss at epoch {epoch}"))?;
        // The loss read above is the epoch's only host sync, so the clock covers its steps.
        let secs = t_epoch.elapsed().as_secs_f64();
        bar.done(epoch, &[("loss", mean), ("epoch_s", secs), ("ms_per_step", 1e3 * secs / steps as f64)]);
        losses.push(mean);
    }
    bar.finish();
    Ok(losses)
}

/// Random crop after padding 4 pixels with `pad_value`, then a random horizontal flip.
fn augment(x: &Tensor, pad_value: &[f64], rng: &mut impl Rng) -> Tensor {
    let s = x.size();
    let (b, c, h, w) = (s[0], s[1], s[2], s[3]);
    let fill = Tensor::from_slice(pad_value).to_kind(Kind::Float).to_device(x.device()).view([1, c, 1, 1]);
    let padded = fill.expand([b, c, h + 8, w + 8], false).copy();
    padded.narrow(2, 4, h).narrow(3, 4, w).copy_(x);
    // One narrow per image (not per pixel) picks its crop.
    let crops: Vec<Tensor> = (0..b)
        .map(|i| {
            let (dy, dx) = (rng.gen_range(0..=8), rng.gen_range(0..=8));
            let img = padded.get(i).narrow(1, dy, h).narrow(2, dx, w);
            if rng.gen_bool(0.5) {
                img.flip([2])
            } else {
                img
            }
        })
        .collect();
    Tensor::stack(&crops, 0)
}

#[derive(Serialize, Deserialize)]
struct BlackBoxMeta {
    fingerprint: String,
    test_accuracy: f64,
    train_seconds: f64,
}

/// The black box of this run folder: loaded when its checkpoint exists (same config),
/// else trained and saved.
pub fn load_or_train(cfg: &Config, ds: &Dataset, device: Device, ckpt_dir: &Path) -> Result<(Classifier, f64)> {
    let (wpath, jpath) = (ckpt_dir.join("black_box.safetensors"), ckpt_dir.join("black_box.json"));
    let fp = cfg.black_box_fingerprint();
    let mut rng = xai_core::device::seed_everything(cfg.run.seed());
    let mut model = Classifier::new(device, cfg.black_box.arch, ds.input_shape(), ds.n_classes)?;
    if jpath.is_file() {
        let meta: BlackBoxMeta = checkpoint::read_meta(&jpath)?;
        checkpoint::ensure_same_config(&jpath, &meta.fingerprint, &fp)?;
        xai_core::checkpoint::load(&mut model.vs, &wpath)?;
        log::info!("black box loaded from {} (test accuracy {:.4}, fraction)", wpath.display(), meta.test_accuracy);
        return Ok((model, meta.test_accuracy));
    }
    let b = &cfg.black_box;
    let pad_value = match &ds.norm {
        Some((m, s)) => m.iter().zip(s).map(|(m, s)| -m / s).collect(),
        None => vec![0.0; ds.input_shape()[0] as usize],
    };
    let spec = TrainSpec { epochs: b.epochs, lr: b.lr, batch_size: b.batch_size, augment: b.augment, pad_value };
    let t = Instant::now();
    train(&model, &ds.train_x, &ds.train_y, &spec, &mut rng)?;
    let secs = t.elapsed().as_secs_f64();
    let acc = accuracy(&model, &ds.test_x, &ds.test_y, 500);
    log::info!("black box {:?}: test accuracy {acc:.4} (fraction) after {secs:.1}s", b.arch);
    xai_core::checkpoint::save(&model.vs, &wpath)?;
    checkpoint::write_meta(&jpath, &BlackBoxMeta { fingerprint: fp, test_accuracy: acc, train_seconds: secs })?;
    Ok((model, acc))
}
