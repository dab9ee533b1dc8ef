//! What E2 (MNIST) and E3 (MNIST-479) share before CLUE runs: the digit data as flat
//! [0, 1] rows, and the explainer VAE chosen by `[vae] arch`, fitted (or reloaded on
//! resume) with best-validation-ELBO selection.

use super::Config;
use crate::blocks::Blocks;
use crate::clue::LatentDecoder;
use crate::mnist_vae::ResnetVae;
use crate::vae::{Elbo, Likelihood, TabularVae};
use crate::vae_train::{fit, mean_elbo, TrainableVae, VaeFit};
use anyhow::{Context, Result};
use tch::nn::VarStore;
use tch::{Kind, Tensor};
use xai_core::runner::Session;

/// Digits as the BNN's and the VAE's rows.
#[derive(Debug)]
pub struct DigitData {
    /// `mnist` or `mnist479` (names rows and files).
    pub name: &'static str,
    /// `[N, 784]` f32 in [0, 1].
    pub train_x: Tensor,
    /// `[N]` i64 class indices.
    pub train_y: Tensor,
    pub test_x: Tensor,
    pub test_y: Tensor,
    pub classes: i64,
    /// The digit each class index stands for (captions).
    pub digit_of_class: Vec<i64>,
    /// Facts about the data for `results.json` (e.g. rows removed as holes).
    pub facts: serde_json::Value,
}

/// The explainer VAE of an MNIST run.
#[derive(Debug)]
pub enum DigitVae {
    /// Residual MLP VAE with a Bernoulli likelihood (the smoke recipe).
    Mlp(Box<TabularVae>),
    /// The spec §5.5 ResNet conv VAE. (Both boxed: their layer structs are large.)
    Resnet(Box<ResnetVae>),
}

impl DigitVae {
    /// An untrained VAE of `[vae] arch`.
    pub fn new(cfg: &Config, device: tch::Device) -> Result<Self> {
        let spec = cfg.vae.spec(&cfg.data.dataset);
        Ok(match cfg.vae.arch.as_str() {
            "resnet" => DigitVae::Resnet(Box::new(ResnetVae::new(spec.latent_dim, device)?)),
            _ => DigitVae::Mlp(Box::new(
                TabularVae::new(Blocks::continuous(784)?, spec, device)?.with_likelihood(Likelihood::Bernoulli),
            )),
        })
    }
    fn inner(&self) -> &dyn TrainableVae {
        match self {
            DigitVae::Mlp(v) => v.as_ref(),
            DigitVae::Resnet(v) => v.as_ref(),
        }
    }
    fn decoder(&self) -> &dyn LatentDecoder {
        match self {
            DigitVae::Mlp(v) => v.as_ref(),
            DigitVae::Resnet(v) => v.as_ref(),
        }
    }
    pub fn save(&self, path: &std::path::Path) -> crate::Result<()> {
        match self {
            DigitVae::Mlp(v) => v.save(path),
            DigitVae::Resnet(v) => v.save(path),
        }
    }
    pub fn load(&mut self, path: &std::path::Path) -> crate::Result<()> {
        match self {
            DigitVae::Mlp(v) => v.load(path),
            DigitVae::Resnet(v) => v.load(path),
        }
    }
    pub fn freeze(&mut self) {
        self.var_store_mut().freeze();
    }
    /// What the run records about the architecture.
    pub fn describe(&self) -> String {
        match self {
            DigitVae::Mlp(v) => {
                format!("MLP VAE (width {}, depth {}, d_z {})", v.spec.width, v.spec.depth, v.spec.latent_dim)
            }
            DigitVae::Resnet(v) => format!("ResNet conv VAE (spec §5.5, d_z {})", v.latent_dim),
        }
    }
}

impl TrainableVae for DigitVae {
    fn var_store(&self) -> &VarStore {
        self.inner().var_store()
    }
    fn var_store_mut(&mut self) -> &mut VarStore {
        match self {
            DigitVae::Mlp(v) => &mut v.vs,
            DigitVae::Resnet(v) => &mut v.vs,
        }
    }
    fn check_rows(&self, x: &Tensor) -> crate::Result<()> {
        self.inner().check_rows(x)
    }
    fn elbo_t(&self, x: &Tensor, train: bool, sample: bool) -> Elbo {
        self.inner().elbo_t(x, train, sample)
    }
    fn loss(&self, x: &Tensor) -> Tensor {
        self.inner().loss(x)
    }
}

impl LatentDecoder for DigitVae {
    fn encode_mean(&self, x: &Tensor) -> crate::Result<Tensor> {
        self.decoder().encode_mean(x)
    }
    fn regenerate(&self, z: &Tensor) -> crate::Result<Tensor> {
        self.decoder().regenerate(z)
    }
}

/// A fitted (or reloaded) digit VAE and its hold-out ELBO.
#[derive(Debug)]
pub struct TrainedVae {
    pub vae: DigitVae,
    /// Mean per-image ELBO on the hold-out (z = μ), of the restored best epoch.
    pub val_elbo: f64,
    /// `None` when the weights were reloaded on resume.
    pub fit: Option<VaeFit>,
}

/// Fits the VAE on a seeded `valid_fraction` hold-out split of `train_x` (or, on resume,
/// reloads it and rescores the same hold-out) and freezes it.
pub fn train_digit_vae(session: &mut Session<'_, Config>, train_x: &Tensor) -> Result<TrainedVae> {
    let cfg = session.config;
    let mut vae = DigitVae::new(cfg, session.device)?;
    let ck = session.run.checkpoints_dir();
    std::fs::create_dir_all(&ck).context("creating checkpoints/")?;
    let path = ck.join("vae.safetensors");
    let n = train_x.size()[0];
    let n_val = ((n as f64) * cfg.data.valid_fraction).round().max(2.0) as i64;
    if n - n_val < 2 {
        anyhow::bail!("data.train_subset: {n} training digits leave fewer than 2 for the VAE after the hold-out");
    }
    let perm = Tensor::randperm(n, (Kind::Int64, train_x.device()));
    let xv = train_x.index_select(0, &perm.narrow(0, 0, n_val));
    let xt = train_x.index_select(0, &perm.narrow(0, n_val, n - n_val));
    if session.resumed && path.is_file() {
        vae.load(&path)?;
        vae.freeze();
        log::info!("VAE: weights of the interrupted run kept ({})", path.display());
        return Ok(TrainedVae { val_elbo: mean_elbo(&vae, &xv), vae, fit: None });
    }
    let f = fit(&mut vae, &xt, &xv, &cfg.vae.train_params())?;
    vae.save(&path)?;
    vae.freeze();
    Ok(TrainedVae { val_elbo: f.best_val_elbo, vae, fit: Some(f) })
}

/// Mean Euclidean distance from each row of `x` to its nearest row of `train`, in chunks of
/// 256 rows so that the distance matrix stays small: epistemic uncertainty should pick
/// digits far from the training data (E3's holes).
pub fn mean_nearest_distance(x: &Tensor, train: &Tensor) -> f64 {
    let n = x.size()[0];
    let total = tch::no_grad(|| {
        (0..n)
            .step_by(256)
            .map(|s| {
                let d = Tensor::cdist(&x.narrow(0, s, 256.min(n - s)), train, 2.0, None::<i64>);
                d.min_dim(1, false).0.sum(Kind::Double).double_value(&[])
            })
            .sum::<f64>()
    });
    total / n.max(1) as f64
}
