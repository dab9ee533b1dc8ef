//! The config tables below `[run]` (`[data]`, `[model]`, `[train]`, `[features]`,
//! `[examples]`, `[compat]`, `[disvae]`), their paper defaults and their mapping onto the
//! method's params structs.

use crate::nets::Pretext;
use crate::params::{AnchorPairing, BaselineDraw, FeatureMethod, LissaParams, SimplexParams};
use anyhow::bail;
use serde::{Deserialize, Serialize};

/// `[disvae]`: the β × loss grid (runs = `run.seeds`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DisvaeConfig {
    pub betas: Vec<f64>,
    /// `beta_vae` and/or `beta_tcvae`.
    pub losses: Vec<String>,
}

impl Default for DisvaeConfig {
    fn default() -> Self {
        Self { betas: vec![1.0, 5.0, 10.0], losses: vec!["beta_vae".into(), "beta_tcvae".into()] }
    }
}

/// `[data]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// `mnist`, `ecg5000` or `cifar10` (disvae: `mnist` or `dsprites`).
    pub dataset: String,
    /// First n training images (0 = all 60000).
    pub n_train: usize,
    /// First n test images (0 = all 10000): the held-out set and the explicands.
    pub n_test: usize,
    /// dSprites: `auto` (the DeepMind npz when present, else procedural), `npz`, `procedural`.
    pub source: String,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self { dataset: "mnist".into(), n_train: 0, n_test: 0, source: "auto".into() }
    }
}

/// `[model]`: the MNIST conv autoencoder and its pretext task.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    pub kind: String,
    pub latent_dim: i64,
    /// `identity`, `denoising` or `inpainting`.
    pub pretext: String,
    pub noise_std: f64,
    pub mask_prob: f64,
    /// NT-Xent temperature of the SimCLR models.
    pub temperature: f64,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            kind: "mnist_ae".into(),
            latent_dim: 4,
            pretext: "denoising".into(),
            noise_std: 0.3,
            mask_prob: 0.2,
            temperature: 0.5,
        }
    }
}

impl ModelConfig {
    pub fn pretext(&self) -> anyhow::Result<Pretext> {
        Ok(match self.pretext.as_str() {
            "identity" | "reconstruction" => Pretext::Identity,
            "denoising" => Pretext::Denoising { noise_std: self.noise_std },
            "inpainting" => Pretext::Inpainting { mask_prob: self.mask_prob },
            other => bail!("model.pretext: `{other}` is not one of identity, denoising, inpainting"),
        })
    }
}

/// `[train]`: the common trainer (Adam, early stopping on the held-out loss).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: i64,
    pub lr: f64,
    pub weight_decay: f64,
    pub patience: usize,
    pub shuffle: bool,
    /// TracIn checkpoints after every epoch `e` (0-based) with `e mod k = 0`; 0 = none.
    pub checkpoint_every: usize,
    /// SimCLR: stop after this many optimiser steps (0 = all epochs); the cosine schedule
    /// spans the steps actually taken.
    pub max_steps: usize,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            epochs: 100,
            batch_size: 200,
            lr: 1e-3,
            weight_decay: 1e-5,
            patience: 10,
            shuffle: false,
            checkpoint_every: 10,
            max_steps: 0,
        }
    }
}

/// `[features]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeaturesConfig {
    pub methods: Vec<String>,
    pub ig_steps: usize,
    pub gs_samples: usize,
    pub gs_stdev: f64,
    /// Explicands per attribution batch (IG runs ig_steps × this many path points at once).
    pub batch_size: i64,
    pub perturb_pct: Vec<f64>,
}

impl Default for FeaturesConfig {
    fn default() -> Self {
        Self {
            methods: FeatureMethod::NAMES.iter().map(|s| s.to_string()).collect(),
            ig_steps: 50,
            gs_samples: 5,
            gs_stdev: 0.0,
            batch_size: 200,
            perturb_pct: vec![5.0, 10.0, 20.0, 50.0, 80.0, 100.0],
        }
    }
}

/// `[examples]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ExamplesConfig {
    /// `influence`, `tracin`, `simplex`, `dknn`.
    pub explainers: Vec<String>,
    pub n_subtrain: usize,
    pub n_subtest: usize,
    pub if_depth: usize,
    pub if_damp: f64,
    pub if_scale: f64,
    /// HVP batch size (drawn with replacement from the whole training set).
    pub if_batch: i64,
    pub if_shared_batches: bool,
    pub simplex_steps: usize,
    pub simplex_lr: f64,
    pub pct_selected: Vec<f64>,
}

impl Default for ExamplesConfig {
    fn default() -> Self {
        Self {
            explainers: EXPLAINERS.iter().map(|s| s.to_string()).collect(),
            n_subtrain: 1000,
            n_subtest: 1000,
            if_depth: 100,
            if_damp: 1e-3,
            if_scale: 1000.0,
            if_batch: 200,
            if_shared_batches: false,
            simplex_steps: 1000,
            simplex_lr: 1e-3,
            pct_selected: vec![5.0, 10.0, 20.0, 50.0, 70.0, 100.0],
        }
    }
}

/// The example explainers an experiment can run.
pub const EXPLAINERS: [&str; 4] = ["influence", "tracin", "simplex", "dknn"];

impl ExamplesConfig {
    pub fn lissa(&self) -> LissaParams {
        LissaParams { depth: self.if_depth, damp: self.if_damp, scale: self.if_scale, n_train: self.n_subtrain }
    }

    pub fn simplex(&self) -> SimplexParams {
        SimplexParams { steps: self.simplex_steps, lr: self.simplex_lr }
    }
}

/// `[compat]`: the reference's behaviour where it differs from the corrected default.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CompatConfig {
    /// `self` (default) or `tiled` (the reference's GradientShap pairing, P1).
    pub gradshap_anchor: String,
    /// GradientShap draws every sample's baseline from the whole batch's baselines (the
    /// reference's CIFAR blur draw, P2) instead of the example's own.
    pub gradshap_batch_baselines: bool,
    /// `eval` (default) or `train`: the reference explains with BatchNorm in training mode
    /// (MNIST example importance; every CIFAR explanation), P3.
    pub explain_mode: String,
    /// The reference's LambdaLR quirk: the cosine value is multiplied by the base lr again.
    pub simclr_lr_quirk: bool,
    /// CIFAR-10 candidate examples drawn from the test split, as the reference does (P7).
    pub cifar_examples_from_test_split: bool,
    /// `pretext`: the DKNN latents encode 0–255 pixels, as the reference does, although every
    /// model was trained on [0, 1] (P8). Feature maps are unaffected.
    pub pretext_dknn_raw_pixels: bool,
    /// `pretext`: the classifier is trained on the cross-entropy of its softmax outputs
    /// treated as logits, the reference's double softmax (P9).
    pub classifier_double_softmax: bool,
}

impl Default for CompatConfig {
    fn default() -> Self {
        Self {
            gradshap_anchor: "self".into(),
            gradshap_batch_baselines: false,
            explain_mode: "eval".into(),
            simclr_lr_quirk: false,
            cifar_examples_from_test_split: false,
            pretext_dknn_raw_pixels: false,
            classifier_double_softmax: false,
        }
    }
}

impl CompatConfig {
    pub fn baseline_draw(&self) -> BaselineDraw {
        if self.gradshap_batch_baselines {
            BaselineDraw::Batch
        } else {
            BaselineDraw::OwnExample
        }
    }

    pub fn pairing(&self) -> anyhow::Result<AnchorPairing> {
        Ok(match self.gradshap_anchor.as_str() {
            "self" => AnchorPairing::OwnExample,
            "tiled" => AnchorPairing::Tiled,
            other => bail!("compat.gradshap_anchor: `{other}` is not `self` or `tiled`"),
        })
    }

    pub fn train_mode(&self) -> anyhow::Result<bool> {
        Ok(match self.explain_mode.as_str() {
            "eval" => false,
            "train" => true,
            other => bail!("compat.explain_mode: `{other}` is not `eval` or `train`"),
        })
    }
}
