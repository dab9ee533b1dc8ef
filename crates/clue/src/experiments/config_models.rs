//! Config tables of the models (`[bnn]`, `[vae]`) and their mapping onto the method's
//! params structs.

use crate::bnn::{Head, MlpSpec};
use crate::bnn_train::BnnTrainParams;
use crate::sghmc::{ClipParams, PriorParams, SghmcParams};
use crate::vae::VaeSpec;
use crate::vae_train::VaeTrainParams;
use serde::{Deserialize, Serialize};

/// `[bnn]`: architecture and SG-HMC schedule (spec §3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BnnConfig {
    pub width: usize,
    pub depth: usize,
    pub lr: f64,
    pub friction: f64,
    pub prior_sigma0: f64,
    pub alpha0: f64,
    pub beta0: f64,
    pub batch_size: usize,
    pub epochs: usize,
    pub burn_in: usize,
    pub sample_every: usize,
    pub n_saves: usize,
    pub momentum_every: u64,
    pub prior_every: u64,
    /// 0 = the task default (30 classification, 20 regression).
    pub clip_std_mul: f64,
    /// 0 = the task default (1000 classification, 100 regression).
    pub clip_buffer: usize,
    /// Epochs between resumable checkpoints of the sampler (0 = none).
    pub checkpoint_every: usize,
}

impl Default for BnnConfig {
    fn default() -> Self {
        Self {
            width: 200,
            depth: 2,
            lr: 1e-2,
            friction: 0.05,
            prior_sigma0: 0.1,
            alpha0: 10.0,
            beta0: 10.0,
            batch_size: 512,
            epochs: 2200,
            burn_in: 120,
            sample_every: 20,
            n_saves: 100,
            momentum_every: 10,
            prior_every: 50,
            clip_std_mul: 0.0,
            clip_buffer: 0,
            checkpoint_every: 100,
        }
    }
}

impl BnnConfig {
    pub fn spec(&self, input_dim: usize, head: Head) -> MlpSpec {
        MlpSpec { input_dim, width: self.width, depth: self.depth, head }
    }
    pub fn train_params(&self, classification: bool) -> BnnTrainParams {
        let base = BnnTrainParams::tabular(classification);
        let clip = base.clip.map(|c| ClipParams {
            buffer: if self.clip_buffer > 0 { self.clip_buffer } else { c.buffer },
            std_mul: if self.clip_std_mul > 0.0 { self.clip_std_mul } else { c.std_mul },
        });
        BnnTrainParams {
            epochs: self.epochs,
            batch_size: self.batch_size,
            burn_in: self.burn_in,
            re_burn: 10_000_000,
            sample_every: self.sample_every,
            n_saves: self.n_saves,
            sghmc: SghmcParams {
                lr: self.lr,
                friction: self.friction,
                eps0: 1e-6,
                momentum_every: self.momentum_every,
                prior: Some(PriorParams {
                    sigma0: self.prior_sigma0,
                    alpha0: self.alpha0,
                    beta0: self.beta0,
                    resample_every: self.prior_every,
                }),
            },
            clip,
        }
    }
}

/// `[vae]` (spec §5.6; Adam instead of RAdam, logged).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VaeConfig {
    /// `mlp` (the residual MLP VAE: tabular data, MNIST smoke) or `resnet` (the MNIST conv
    /// VAE of spec §5.5; MNIST experiments only, `width` / `depth` unused).
    pub arch: String,
    pub width: usize,
    pub depth: usize,
    /// 0 = the dataset's paper value (LSAT 4, COMPAS 4, Wine 6, Credit 8, MNIST 20).
    pub latent_dim: usize,
    pub lr: f64,
    pub batch_size: usize,
    pub epochs: usize,
    pub patience: usize,
    /// Epochs between saves of the fit's state in `checkpoints/vae_fit.safetensors`
    /// (0 = never), from which `--resume` continues an interrupted fit (tabular E1/E4).
    pub checkpoint_every: usize,
}

impl Default for VaeConfig {
    fn default() -> Self {
        Self {
            arch: "mlp".into(),
            width: 300,
            depth: 3,
            latent_dim: 0,
            lr: 1e-4,
            batch_size: 128,
            epochs: 2500,
            patience: 200,
            checkpoint_every: 100,
        }
    }
}

impl VaeConfig {
    pub fn spec(&self, dataset: &str) -> VaeSpec {
        let paper = match dataset {
            "wine" => 6,
            "credit" => 8,
            "mnist" | "mnist479" => 20,
            _ => 4,
        };
        VaeSpec {
            width: self.width,
            depth: self.depth,
            latent_dim: if self.latent_dim > 0 { self.latent_dim } else { paper },
        }
    }
    pub fn train_params(&self) -> VaeTrainParams {
        VaeTrainParams { epochs: self.epochs, batch_size: self.batch_size, lr: self.lr, patience: self.patience }
    }
}
