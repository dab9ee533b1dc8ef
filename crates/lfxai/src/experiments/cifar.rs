//! CIFAR-10 (paper §4.1, CIFAR panels): a SimCLR encoder trained from scratch (the reference
//! starts from ImageNet weights, which cannot be fetched here), then label-free feature
//! importance with each image's Gaussian blur as baseline and mask value, or SimplEx / DKNN
//! example importance (the contrastive loss is not per-example, so no IF / TracIn).

use super::examples::{rate_rows, RateRow};
use super::features::{shift_rows, ShiftRow};
use super::{Config, DataConfig};
use crate::examples::{dknn_scores, simplex_weights};
use crate::simclr::{gaussian_blur, two_views, Augment, SimClr, SimclrArch};
use anyhow::{bail, Context};
use rand::seq::SliceRandom;
use serde::Serialize;
use std::path::Path;
use tch::{Device, Kind, Tensor};
use xai_core::optim::{Optimizer, SgdConfig};
use xai_core::runner::Session;

/// Blur baseline of the reference: kernel 21, σ 5.
pub const BLUR: (i64, f64) = (21, 5.0);
/// Final learning rate of the cosine schedule.
const LR_MIN: f64 = 1e-3;

/// CIFAR-10 images `[N, 3, 32, 32]` f32 in [0, 1] with labels, on a device.
pub struct CifarData {
    pub train_x: Tensor,
    pub train_y: Tensor,
    pub test_x: Tensor,
    pub test_y: Tensor,
}

fn prefix(x: &Tensor, n: usize) -> Tensor {
    if n == 0 || n as i64 >= x.size()[0] {
        x.shallow_clone()
    } else {
        x.narrow(0, 0, n as i64)
    }
}

/// Loads `root/cifar10/*.bin` (xai-core's reader) and keeps the first `n_train` / `n_test`
/// images of each split; only the kept images are converted to f32.
pub fn load(cfg: &DataConfig, root: &Path, device: Device) -> anyhow::Result<CifarData> {
    let c = xai_core::data::cifar::load(root).with_context(|| {
        format!(
            "loading CIFAR-10 under {} (the binary version: data_batch_1..5.bin, test_batch.bin in cifar10/)",
            root.display()
        )
    })?;
    let f = |x: &Tensor, n| xai_core::data::cifar::to_float(&prefix(x, n)).to(device);
    Ok(CifarData {
        train_x: f(&c.train_images, cfg.n_train),
        train_y: prefix(&c.train_labels, cfg.n_train).to(device),
        test_x: f(&c.test_images, cfg.n_test),
        test_y: prefix(&c.test_labels, cfg.n_test).to(device),
    })
}

/// The backbone a `model.kind` names.
pub fn arch(kind: &str) -> anyhow::Result<SimclrArch> {
    Ok(match kind {
        "simclr_resnet18" => SimclrArch::ResNet18,
        "simclr_tiny" => SimclrArch::Tiny,
        other => bail!("model.kind: `{other}` is not a SimCLR backbone (simclr_resnet18, simclr_tiny)"),
    })
}

/// Learning rate at step `t` of `total`: cosine from `lr` to 1e-3; with `quirk` the
/// reference's LambdaLR value is multiplied by the base lr once more (0.36 → 6e-4 at lr 0.6).
pub fn learning_rate(lr: f64, t: usize, total: usize, quirk: bool) -> f64 {
    let c = 0.5 * (1.0 + (std::f64::consts::PI * t as f64 / total.max(1) as f64).cos());
    let v = LR_MIN + (lr - LR_MIN) * c;
    if quirk {
        v * lr
    } else {
        v
    }
}

#[derive(Serialize)]
struct LogRow {
    model: String,
    seed: u64,
    epoch: usize,
    step: usize,
    lr: f64,
    train_loss: f64,
}

/// Trains SimCLR on `train_x` (SGD with Nesterov momentum 0.9, cosine schedule, batches of
/// `train.batch_size` images = twice as many views, last partial batch dropped), or reloads
/// the final weights a run folder already holds. `train.max_steps` > 0 stops early (smoke).
pub fn train_simclr(session: &Session<'_, Config>, train_x: &Tensor, seed: u64) -> anyhow::Result<SimClr> {
    let cfg = session.config;
    let t = &cfg.train;
    tch::manual_seed(seed as i64);
    let model = SimClr::new(session.device, arch(&cfg.model.kind)?);
    let dir = session.run.path().join("checkpoints");
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!("simclr_seed{seed}.safetensors"));
    if path.is_file() {
        log::info!("seed {seed}: reusing the SimCLR weights in {}", path.display());
        let named = xai_core::checkpoint::load_tensors(&path)?;
        crate::nets::load_named(&model.vs, named, model.encoder.out_dim, &[])?;
        return Ok(model);
    }
    let n = train_x.size()[0];
    let per_epoch = (n / t.batch_size) as usize;
    if per_epoch == 0 {
        bail!("train.batch_size {} exceeds the {n} training images (the last partial batch is dropped)", t.batch_size);
    }
    let mut total = per_epoch * t.epochs;
    if t.max_steps > 0 {
        total = total.min(t.max_steps);
    }
    let sgd = SgdConfig { lr: t.lr, momentum: 0.9, dampening: 0.0, weight_decay: t.weight_decay, nesterov: true };
    let mut opt = sgd.build(&model.vs)?;
    let mut rng = xai_core::data::rng(seed);
    let mut log = xai_core::run::CsvLog::append(&session.run.path().join("train_log.csv"))?;
    let aug = Augment::default();
    let mut step = 0;
    'epochs: for epoch in 0..t.epochs {
        let started = std::time::Instant::now();
        let (mut sum, mut count) = (0.0, 0.0);
        for idx in xai_core::train::batch_indices(n, t.batch_size, true, &mut rng, session.device) {
            if idx.size()[0] < t.batch_size {
                continue;
            }
            if step >= total {
                break 'epochs;
            }
            let lr = learning_rate(t.lr, step, total, cfg.compat.simclr_lr_quirk);
            opt.set_learning_rate(lr);
            let views = two_views(&train_x.index_select(0, &idx), &aug)?;
            let loss = model.loss(&views, cfg.model.temperature, true)?;
            opt.backward_step(&loss);
            let v = xai_core::train::ensure_finite(loss.double_value(&[]), || format!("NT-Xent at step {step}"))?;
            log.log(&LogRow { model: cfg.model.kind.clone(), seed, epoch, step, lr, train_loss: v })?;
            sum += v;
            count += 1.0;
            step += 1;
        }
        log::info!(
            "SimCLR epoch {}/{}: NT-Xent {:.4} ({:.1} s)",
            epoch + 1,
            t.epochs,
            sum / f64::max(count, 1.0),
            started.elapsed().as_secs_f64()
        );
    }
    xai_core::checkpoint::save_tensors(&crate::nets::sorted_state(&model.vs), &path)?;
    Ok(model)
}

/// Shift rows of one seed: train SimCLR, attribute the test images with each image's blur
/// as baseline, mask, measure. Eval mode unless `compat.explain_mode = "train"` (the
/// reference never calls `eval()`: BatchNorm then normalises with the statistics of each
/// path batch, so an image's attribution depends on its batch companions).
pub fn feature_rows(session: &Session<'_, Config>, seed: u64) -> anyhow::Result<Vec<ShiftRow>> {
    let cfg = session.config;
    let data = load(&cfg.data, session.data_root, session.device)?;
    let model = train_simclr(session, &data.train_x, seed)?;
    let train_mode = cfg.compat.train_mode()?;
    let encoder = |x: &Tensor| model.features(x, train_mode);
    let blur = |x: &Tensor| Ok(gaussian_blur(x, BLUR.0, BLUR.1)?);
    let figure = session.run.figures_dir().join("masked_examples.png");
    let figure = (seed == cfg.run.seed()).then_some(figure.as_path());
    shift_rows(cfg, seed, &encoder, &data.test_x, &blur, 1, figure)
}

fn encode(model: &SimClr, x: &Tensor, batch: i64, train_mode: bool) -> Tensor {
    tch::no_grad(|| {
        let n = x.size()[0];
        let parts: Vec<Tensor> = (0..n)
            .step_by(batch as usize)
            .map(|s| model.features(&x.narrow(0, s, batch.min(n - s)), train_mode))
            .collect();
        Tensor::cat(&parts, 0)
    })
}

fn random_subset(n: i64, k: usize, rng: &mut impl rand::Rng, device: Device) -> anyhow::Result<Tensor> {
    if k as i64 > n {
        bail!("examples: a subset of {k} from {n} images");
    }
    let mut all: Vec<i64> = (0..n).collect();
    all.shuffle(rng);
    Ok(Tensor::from_slice(&all[..k]).to(device))
}

/// Similarity-rate rows of one seed: SimplEx and DKNN on random candidate / test subsets
/// (candidates from the training split, or from the test split as the reference does).
pub fn example_rows(session: &Session<'_, Config>, seed: u64) -> anyhow::Result<Vec<RateRow>> {
    let cfg = session.config;
    let e = &cfg.examples;
    let data = load(&cfg.data, session.data_root, session.device)?;
    let model = train_simclr(session, &data.train_x, seed)?;
    let mut rng = xai_core::data::rng(seed.wrapping_add(1));
    let (pool_x, pool_y) = if cfg.compat.cifar_examples_from_test_split {
        (&data.test_x, &data.test_y)
    } else {
        (&data.train_x, &data.train_y)
    };
    let tr = random_subset(pool_x.size()[0], e.n_subtrain, &mut rng, session.device)?;
    let te = random_subset(data.test_x.size()[0], e.n_subtest, &mut rng, session.device)?;
    let bs = cfg.features.batch_size;
    let train_mode = cfg.compat.train_mode()?;
    let h_tr = encode(&model, &pool_x.index_select(0, &tr), bs, train_mode);
    let h_te = encode(&model, &data.test_x.index_select(0, &te), bs, train_mode);
    let mut scores = vec![];
    for name in &e.explainers {
        let s = match name.as_str() {
            "dknn" => dknn_scores(&h_te, &h_tr)?,
            "simplex" => simplex_weights(&h_te, &h_tr, &e.simplex())?,
            other => bail!("examples.explainers: `{other}` is not available on CIFAR-10 (simplex, dknn)"),
        };
        scores.push((name.clone(), s.to_kind(Kind::Float)));
    }
    rate_rows(cfg, seed, &scores, &data.test_y.index_select(0, &te), &pool_y.index_select(0, &tr))
}
