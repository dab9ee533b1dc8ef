//! The experiments' data: MNIST (prefixes of the splits) and ECG5000 (the reference's splits
//! for the feature and example experiments), baselines, and the class-balanced subsets.

use super::DataConfig;
use anyhow::{bail, Context};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// Images `[N, 1, 28, 28]` in [0, 1] and labels `[N]` of both splits, on `device`.
pub struct Images {
    pub train_x: Tensor,
    pub train_y: Tensor,
    pub test_x: Tensor,
    pub test_y: Tensor,
}

fn prefix(x: &Tensor, n: usize) -> Tensor {
    let total = x.size()[0];
    if n == 0 || n as i64 >= total {
        x.shallow_clone()
    } else {
        x.narrow(0, 0, n as i64)
    }
}

/// Loads `root/mnist` and keeps the first `n_train` / `n_test` images of each split.
pub fn load(cfg: &DataConfig, root: &Path, device: Device) -> anyhow::Result<Images> {
    let m = xai_core::data::mnist::load(root).with_context(|| format!("loading MNIST under {}", root.display()))?;
    check_images("MNIST train", &m.train_images, &m.train_labels)?;
    check_images("MNIST test", &m.test_images, &m.test_labels)?;
    Ok(Images {
        train_x: prefix(&m.train_images, cfg.n_train).to(device),
        train_y: prefix(&m.train_labels, cfg.n_train).to(device),
        test_x: prefix(&m.test_images, cfg.n_test).to(device),
        test_y: prefix(&m.test_labels, cfg.n_test).to(device),
    })
}

/// `[N, 1, 28, 28]` images with `[N]` labels.
pub fn check_images(what: &str, x: &Tensor, y: &Tensor) -> anyhow::Result<()> {
    let s = x.size();
    if s.len() != 4 || s[1..] != [1, 28, 28] || s[0] == 0 {
        bail!("{what}: images have shape {s:?}, expected [N > 0, 1, 28, 28]");
    }
    if y.size() != [s[0]] {
        bail!("{what}: {:?} labels for {} images", y.size(), s[0]);
    }
    Ok(())
}

/// The reference's balanced subset: for n = 0..count, the ⌊n/C⌋-th occurrence of class
/// n mod C (indices into `labels`; C = 10 digits, or 2 for ECG's alternating labels).
pub fn balanced_indices(labels: &Tensor, count: usize, n_classes: usize) -> anyhow::Result<Tensor> {
    let y: Vec<i64> = Vec::try_from(labels.to_device(Device::Cpu).to_kind(Kind::Int64))?;
    let mut by_class: Vec<Vec<i64>> = vec![vec![]; n_classes];
    for (i, &c) in y.iter().enumerate() {
        if (0..n_classes as i64).contains(&c) {
            by_class[c as usize].push(i as i64);
        }
    }
    let mut out = Vec::with_capacity(count);
    for n in 0..count {
        let (class, occ) = (n % n_classes, n / n_classes);
        match by_class[class].get(occ) {
            Some(&i) => out.push(i),
            None => bail!("balanced subset of {count}: class {class} has only {} examples", by_class[class].len()),
        }
    }
    Ok(Tensor::from_slice(&out).to(labels.device()))
}

/// One experiment's data on its device.
pub struct Dataset {
    pub train_x: Tensor,
    pub train_y: Tensor,
    /// Early-stopping set (MNIST: the test set, as the reference; ECG features: 20 % validation).
    pub heldout_x: Tensor,
    pub test_x: Tensor,
    pub test_y: Tensor,
    /// `[1, …]`: the attribution baseline and the value masked inputs take.
    pub baseline: Tensor,
    /// Dimension of the channels in an input batch (1 for images, 2 for `[B, T, 1]` series).
    pub channel_dim: i64,
    pub n_classes: usize,
}

fn take(x: &Tensor, idx: &[i64]) -> Tensor {
    x.index_select(0, &Tensor::from_slice(idx).to(x.device()))
}

/// Loads the configured dataset for `experiment` (ECG splits are drawn with `seed`).
pub fn load_dataset(
    cfg: &DataConfig,
    features: bool,
    root: &Path,
    device: Device,
    seed: u64,
) -> anyhow::Result<Dataset> {
    match cfg.dataset.as_str() {
        "mnist" => {
            let m = load(cfg, root, device)?;
            Ok(Dataset {
                baseline: Tensor::zeros([1, 1, 28, 28], (Kind::Float, device)),
                heldout_x: m.test_x.shallow_clone(),
                train_x: m.train_x,
                train_y: m.train_y,
                test_x: m.test_x,
                test_y: m.test_y,
                channel_dim: 1,
                n_classes: 10,
            })
        }
        "ecg5000" => load_ecg(cfg, features, root, device, seed),
        other => bail!("data.dataset: `{other}` is not available (mnist, ecg5000)"),
    }
}

fn load_ecg(cfg: &DataConfig, features: bool, root: &Path, device: Device, seed: u64) -> anyhow::Result<Dataset> {
    use rand::seq::SliceRandom;
    let e = xai_core::data::ecg::load(root).with_context(|| format!("loading ECG5000 under {}", root.display()))?;
    let x = Tensor::cat(&[&e.train.x, &e.test.x], 0).to_kind(Kind::Float);
    let y = Tensor::cat(&[&e.train.y, &e.test.y], 0).to_kind(Kind::Int64);
    if x.dim() != 2 || x.size()[1] < 2 {
        bail!("ECG5000: series have shape {:?}, expected [N, T]", x.size());
    }
    let x = x.unsqueeze(2);
    let labels: Vec<i64> = Vec::try_from(&y)?;
    let mut rng = xai_core::data::rng(seed);
    let limit = |v: Vec<i64>, n: usize| if n == 0 || n >= v.len() { v } else { v[..n].to_vec() };
    let binary = y.ne(1).to_kind(Kind::Int64);
    if features {
        // Normal beats (class 1) for training, 80/20 train/validation; abnormal beats are the explicands.
        let mut normal: Vec<i64> = (0..labels.len() as i64).filter(|&i| labels[i as usize] == 1).collect();
        let abnormal: Vec<i64> = (0..labels.len() as i64).filter(|&i| labels[i as usize] != 1).collect();
        normal.shuffle(&mut rng);
        let normal = limit(normal, cfg.n_train);
        let n_fit = (normal.len() as f64 * 0.8).round() as usize;
        let (fit, val) = normal.split_at(n_fit);
        let abnormal = limit(abnormal, cfg.n_test);
        if fit.is_empty() || val.is_empty() || abnormal.is_empty() {
            bail!("ECG5000: {} normal / {} abnormal beats selected; need some of both", normal.len(), abnormal.len());
        }
        let train_x = take(&x, fit);
        let baseline = train_x.mean_dim(0, true, Kind::Float);
        Ok(Dataset {
            baseline: baseline.to(device),
            train_y: take(&binary, fit).to(device),
            train_x: train_x.to(device),
            heldout_x: take(&x, val).to(device),
            test_x: take(&x, &abnormal).to(device),
            test_y: take(&binary, &abnormal).to(device),
            channel_dim: 2,
            n_classes: 2,
        })
    } else {
        // All beats, binary labels, random 4000/1000 split.
        let mut all: Vec<i64> = (0..labels.len() as i64).collect();
        all.shuffle(&mut rng);
        let n_fit = (all.len() * 4) / 5;
        let (fit, test) = all.split_at(n_fit);
        let (fit, test) = (limit(fit.to_vec(), cfg.n_train), limit(test.to_vec(), cfg.n_test));
        let train_x = take(&x, &fit);
        Ok(Dataset {
            baseline: train_x.mean_dim(0, true, Kind::Float).to(device),
            train_y: take(&binary, &fit).to(device),
            train_x: train_x.to(device),
            heldout_x: take(&x, &test).to(device),
            test_x: take(&x, &test).to(device),
            test_y: take(&binary, &test).to(device),
            channel_dim: 2,
            n_classes: 2,
        })
    }
}
