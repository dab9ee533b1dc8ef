//! Training the built-in black boxes: Adam (PyTorch's maths, `xai_core::optim`) and
//! cross-entropy, with willisk's CIFAR-10 augmentation as an option.

use super::checkpoint;
use super::data::Dataset;
use super::Config;
use crate::blackbox::{accuracy, Classifier};
use crate::{Result, VibiError};
use rand::Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::Device;
use tch::{Kind, Tensor};
use xai_core::checkpoint::{load_tensors, save_tensors};
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

/// Where black-box training keeps its state after every epoch, so that an interrupted run
/// resumes at its last finished epoch (a ResNet-18 epoch on MNIST is about half an hour on
/// two CPU cores).
pub struct EpochCheckpoint<'a> {
    pub dir: &'a Path,
    /// The black-box configuration's fingerprint: a state of another configuration is an error.
    pub fingerprint: &'a str,
}

#[derive(Serialize, Deserialize)]
struct PartialMeta {
    fingerprint: String,
    epochs_done: usize,
    losses: Vec<f64>,
}

impl EpochCheckpoint<'_> {
    fn paths(&self) -> (PathBuf, PathBuf, PathBuf) {
        let d = self.dir;
        (
            d.join("black_box.partial.safetensors"),
            d.join("black_box.partial.adam.safetensors"),
            d.join("black_box.partial.json"),
        )
    }

    /// Weights and Adam state after `losses.len()` epochs; the JSON pointer is written last.
    fn save(&self, model: &Classifier, opt: &Adam, losses: &[f64]) -> Result<()> {
        let (w, o, j) = self.paths();
        xai_core::checkpoint::save(&model.vs, &w)?;
        save_tensors(&opt.state("adam"), &o)?;
        let meta =
            PartialMeta { fingerprint: self.fingerprint.into(), epochs_done: losses.len(), losses: losses.to_vec() };
        checkpoint::write_meta(&j, &meta)
    }

    /// Restores a saved state into `model` and `opt`; the losses of the epochs it covers.
    fn load(&self, model: &mut Classifier, opt: &mut Adam) -> Result<Vec<f64>> {
        let (w, o, j) = self.paths();
        if !j.is_file() {
            return Ok(vec![]);
        }
        let meta: PartialMeta = checkpoint::read_meta(&j)?;
        checkpoint::ensure_same_config(&j, &meta.fingerprint, self.fingerprint)?;
        xai_core::checkpoint::load(&mut model.vs, &w)?;
        opt.load_state("adam", &load_tensors(&o)?.into_iter().collect())?;
        log::info!("black box resumed after epoch {} of its training", meta.epochs_done);
        Ok(meta.losses)
    }

    fn remove(&self) {
        let (w, o, j) = self.paths();
        for p in [j, w, o] {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Trains `model` with Adam and cross-entropy on `(x, y)`; returns the per-epoch mean loss.
/// Each epoch draws its shuffle, augmentation and dropout from its own seed (`seed`, epoch),
/// so a run resumed from `resume` takes exactly the steps an uninterrupted one takes.
pub fn train(
    model: &mut Classifier,
    x: &Tensor,
    y: &Tensor,
    spec: &TrainSpec,
    seed: u64,
    resume: Option<&EpochCheckpoint>,
) -> Result<Vec<f64>> {
    if spec.batch_size <= 0 || spec.epochs == 0 {
        return Err(VibiError::invalid(
            "black_box",
            format!("batch_size {} and epochs {} must be positive", spec.batch_size, spec.epochs),
        ));
    }
    let mut opt = Adam::new(&model.vs, spec.lr)?;
    let mut losses = match resume {
        Some(c) => c.load(model, &mut opt)?,
        None => vec![],
    };
    let n = x.size()[0];
    let bar = EpochBar::new("black box", spec.epochs);
    for epoch in losses.len() + 1..=spec.epochs {
        let rng = &mut xai_core::device::seed_everything(seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64));
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
        if let Some(c) = resume {
            c.save(model, &opt, &losses)?;
        }
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
/// else copied from `black_box.reuse`'s run folder when set, else trained and saved.
pub fn load_or_train(cfg: &Config, ds: &Dataset, device: Device, ckpt_dir: &Path) -> Result<(Classifier, f64)> {
    let (wpath, jpath) = (ckpt_dir.join("black_box.safetensors"), ckpt_dir.join("black_box.json"));
    let fp = cfg.black_box_fingerprint();
    let mut model = Classifier::new(device, cfg.black_box.arch, ds.input_shape(), ds.n_classes)?;
    if jpath.is_file() {
        let meta: BlackBoxMeta = checkpoint::read_meta(&jpath)?;
        checkpoint::ensure_same_config(&jpath, &meta.fingerprint, &fp)?;
        xai_core::checkpoint::load(&mut model.vs, &wpath)?;
        log::info!("black box loaded from {} (test accuracy {:.4}, fraction)", wpath.display(), meta.test_accuracy);
        return Ok((model, meta.test_accuracy));
    }
    if let Some(source) = &cfg.black_box.reuse {
        copy_reused(source, &wpath, &jpath, &fp)?;
        return load_or_train(cfg, ds, device, ckpt_dir);
    }
    let b = &cfg.black_box;
    let pad_value = match &ds.norm {
        Some((m, s)) => m.iter().zip(s).map(|(m, s)| -m / s).collect(),
        None => vec![0.0; ds.input_shape()[0] as usize],
    };
    let spec = TrainSpec { epochs: b.epochs, lr: b.lr, batch_size: b.batch_size, augment: b.augment, pad_value };
    let t = Instant::now();
    let partial = EpochCheckpoint { dir: ckpt_dir, fingerprint: &fp };
    train(&mut model, &ds.train_x, &ds.train_y, &spec, cfg.run.seed(), Some(&partial))?;
    let secs = t.elapsed().as_secs_f64();
    let acc = accuracy(&model, &ds.test_x, &ds.test_y, 500);
    log::info!("black box {:?}: test accuracy {acc:.4} (fraction) after {secs:.1}s", b.arch);
    xai_core::checkpoint::save(&model.vs, &wpath)?;
    checkpoint::write_meta(&jpath, &BlackBoxMeta { fingerprint: fp.clone(), test_accuracy: acc, train_seconds: secs })?;
    partial.remove();
    Ok((model, acc))
}

/// Copies a finished black box of another run folder (`RUN/checkpoints/` or the
/// checkpoint folder itself) into this run's, after checking it was trained with this
/// config's recipe. The weights go first and the JSON, which marks the black box as
/// finished, last, each atomically.
fn copy_reused(source: &Path, wpath: &Path, jpath: &Path, fp: &str) -> Result<()> {
    let dir = [source.join("checkpoints"), source.to_path_buf()]
        .into_iter()
        .find(|d| d.join("black_box.json").is_file())
        .ok_or_else(|| {
            VibiError::invalid(
                "black_box.reuse",
                format!(
                    "{} holds no finished black box (neither checkpoints/black_box.json nor black_box.json)",
                    source.display()
                ),
            )
        })?;
    let (src_w, src_j) = (dir.join("black_box.safetensors"), dir.join("black_box.json"));
    let meta: BlackBoxMeta = checkpoint::read_meta(&src_j)?;
    checkpoint::ensure_same_config(&src_j, &meta.fingerprint, fp)?;
    for (from, to) in [(&src_w, wpath), (&src_j, jpath)] {
        xai_core::fsutil::atomic_write_with(to, |tmp| {
            std::fs::copy(from, tmp).map(drop).map_err(|e| xai_core::Error::io(from, e))
        })?;
    }
    log::info!("black box reused from {} (test accuracy {:.4}, fraction)", dir.display(), meta.test_accuracy);
    Ok(())
}
