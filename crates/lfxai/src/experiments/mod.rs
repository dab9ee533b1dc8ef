//! The paper's experiments: the TOML config, dispatch to one module per experiment, and
//! the training and data they share. Only this module knows about run folders, CSVs and figures.

pub mod cifar;
pub mod data;
pub mod disvae;
pub mod dsprites;
pub mod examples;
pub mod features;
pub mod pretext;
pub mod report;
pub mod roar;
pub mod train;

use crate::nets::Pretext;
use crate::params::{check_percentage, AnchorPairing, FeatureMethod, LissaParams, SimplexParams};
use anyhow::bail;
use serde::{Deserialize, Serialize};
use xai_core::runner::{ExperimentConfig, ExperimentName, Outcome, RunTable, Session};

/// Which experiment a config runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Experiment {
    /// Paper §4.1, feature importance: representation shift under top-k masking.
    ConsistencyFeatures,
    /// Paper §4.1, example importance: similarity rates of the top / bottom training examples.
    ConsistencyExamples,
    /// Paper App. C: remove the most important pixels, re-train, test loss.
    RoarTest,
    /// Paper §4.2: feature / example importance across pretext tasks.
    Pretext,
    /// Paper §4.3: per-unit saliency of β-VAE / β-TCVAE latents.
    Disvae,
}

impl ExperimentName for Experiment {
    fn name(&self) -> &str {
        match self {
            Experiment::ConsistencyFeatures => "consistency_features",
            Experiment::ConsistencyExamples => "consistency_examples",
            Experiment::RoarTest => "roar_test",
            Experiment::Pretext => "pretext",
            Experiment::Disvae => "disvae",
        }
    }
}

/// A whole config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub run: RunTable<Experiment>,
    #[serde(default)]
    pub data: DataConfig,
    #[serde(default)]
    pub model: ModelConfig,
    #[serde(default)]
    pub train: TrainConfig,
    #[serde(default)]
    pub features: FeaturesConfig,
    #[serde(default)]
    pub examples: ExamplesConfig,
    #[serde(default)]
    pub compat: CompatConfig,
    #[serde(default)]
    pub disvae: DisvaeConfig,
}

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
    /// `eval` (default) or `train` (the reference's mode for example importance, P3).
    pub explain_mode: String,
    /// The reference's LambdaLR quirk: the cosine value is multiplied by the base lr again.
    pub simclr_lr_quirk: bool,
    /// CIFAR-10 candidate examples drawn from the test split, as the reference does (P7).
    pub cifar_examples_from_test_split: bool,
}

impl Default for CompatConfig {
    fn default() -> Self {
        Self {
            gradshap_anchor: "self".into(),
            explain_mode: "eval".into(),
            simclr_lr_quirk: false,
            cifar_examples_from_test_split: false,
        }
    }
}

impl CompatConfig {
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

impl Config {
    /// The feature methods with the config's hyper-parameters.
    pub fn feature_methods(&self) -> anyhow::Result<Vec<FeatureMethod>> {
        let f = &self.features;
        let pairing = self.compat.pairing()?;
        self.features
            .methods
            .iter()
            .map(|name| {
                let m = match FeatureMethod::from_name(name)? {
                    FeatureMethod::IntegratedGradients { .. } => {
                        FeatureMethod::IntegratedGradients { steps: f.ig_steps }
                    }
                    FeatureMethod::GradientShap { .. } => {
                        FeatureMethod::GradientShap { n_samples: f.gs_samples, stdev: f.gs_stdev, pairing }
                    }
                    other => other,
                };
                m.validate()?;
                Ok(m)
            })
            .collect()
    }
}

impl ExperimentConfig for Config {
    type Experiment = Experiment;

    fn run_table(&self) -> &RunTable<Experiment> {
        &self.run
    }

    fn validate(&self) -> anyhow::Result<()> {
        match (self.data.dataset.as_str(), self.model.kind.as_str()) {
            ("mnist" | "dsprites", "burgess_vae") if self.run.experiment == Experiment::Disvae => {
                if !["auto", "npz", "procedural"].contains(&self.data.source.as_str()) {
                    bail!("data.source: `{}` is not auto, npz or procedural", self.data.source);
                }
            }
            (_, _) if self.run.experiment == Experiment::Disvae => {
                bail!("model.kind / data.dataset: the disvae experiment needs `burgess_vae` on mnist or dsprites")
            }
            (_, "burgess_vae") => bail!("model.kind: `burgess_vae` runs the disvae experiment only"),
            ("mnist", "mnist_ae") | ("ecg5000", "lstm_ae") => {}
            ("cifar10", "simclr_resnet18" | "simclr_tiny") => {
                if !matches!(self.run.experiment, Experiment::ConsistencyFeatures | Experiment::ConsistencyExamples) {
                    bail!("run.experiment: CIFAR-10 runs consistency_features and consistency_examples only");
                }
                if let Some(x) = self.examples.explainers.iter().find(|x| *x != "simplex" && *x != "dknn") {
                    if self.run.experiment == Experiment::ConsistencyExamples {
                        bail!("examples.explainers: `{x}` needs a per-example loss; CIFAR-10 (contrastive) has simplex and dknn");
                    }
                }
                if !(self.model.temperature > 0.0 && self.model.temperature.is_finite()) {
                    bail!("model.temperature: {}; must be positive", self.model.temperature);
                }
            }
            ("mnist" | "ecg5000" | "cifar10", kind) => bail!(
                "model.kind: `{kind}` does not fit data.dataset `{}` (mnist → mnist_ae, ecg5000 → lstm_ae, cifar10 → simclr_resnet18 / simclr_tiny)",
                self.data.dataset
            ),
            (other, _) => bail!(
                "data.dataset: `{other}` is not wired in this build of lfxai (mnist, ecg5000, cifar10; dsprites is future work)"
            ),
        }
        if self.model.latent_dim < 1 {
            bail!("model.latent_dim: {}; must be at least 1", self.model.latent_dim);
        }
        self.model.pretext()?;
        let t = &self.train;
        if t.epochs == 0 || t.batch_size < 1 || t.lr.is_nan() || t.lr <= 0.0 || t.weight_decay < 0.0 {
            bail!("train: epochs, batch_size and lr must be positive and weight_decay >= 0");
        }
        self.compat.train_mode()?;
        let methods = self.feature_methods()?;
        if methods.is_empty() {
            bail!("features.methods: empty");
        }
        if self.features.batch_size < 1 {
            bail!("features.batch_size: must be positive");
        }
        for &p in self.features.perturb_pct.iter() {
            check_percentage("features.perturb_pct", p)?;
        }
        let e = &self.examples;
        for name in &e.explainers {
            if !EXPLAINERS.contains(&name.as_str()) {
                bail!("examples.explainers: `{name}` is not one of {EXPLAINERS:?}");
            }
        }
        if self.run.experiment == Experiment::ConsistencyExamples {
            if e.n_subtrain == 0 || e.n_subtest == 0 {
                bail!("examples.n_subtrain / n_subtest: the candidate and test subsets must not be empty");
            }
            if e.explainers.is_empty() {
                bail!("examples.explainers: empty");
            }
            e.lissa().validate()?;
            e.simplex().validate()?;
            if e.if_batch < 1 {
                bail!("examples.if_batch: must be positive");
            }
            if e.explainers.iter().any(|x| x == "tracin") && t.checkpoint_every == 0 && self.data.dataset != "cifar10" {
                bail!("train.checkpoint_every: TracIn needs checkpoints (set it >= 1)");
            }
        }
        for loss in &self.disvae.losses {
            if loss != "beta_vae" && loss != "beta_tcvae" {
                bail!("disvae.losses: `{loss}` is not beta_vae or beta_tcvae");
            }
        }
        if self.disvae.betas.iter().any(|b| !(b.is_finite() && *b >= 0.0)) {
            bail!("disvae.betas: every β must be finite and >= 0");
        }
        for &p in e.pct_selected.iter() {
            check_percentage("examples.pct_selected", p)?;
        }
        Ok(())
    }
}

impl Config {
    /// A freshly initialised model of `[model]` (seed libtorch first).
    pub fn build_model(&self, device: tch::Device) -> anyhow::Result<Box<dyn crate::nets::Autoencoder>> {
        Ok(match self.model.kind.as_str() {
            "mnist_ae" => Box::new(crate::nets::MnistAutoencoder::new(device, self.model.latent_dim)?),
            "lstm_ae" => Box::new(crate::nets::LstmAutoencoder::new(device, self.model.latent_dim)?),
            other => bail!("model.kind: `{other}` is not available"),
        })
    }
}

/// Runs the experiment the config names.
pub fn run(session: &mut Session<'_, Config>) -> anyhow::Result<Outcome> {
    match session.config.run.experiment {
        Experiment::ConsistencyFeatures => features::run(session),
        Experiment::ConsistencyExamples => examples::run(session),
        Experiment::RoarTest => roar::run(session),
        Experiment::Pretext => {
            if session.config.data.dataset != "mnist" {
                bail!("the pretext experiment runs on mnist only");
            }
            pretext::run(session)
        }
        Experiment::Disvae => disvae::run(session),
    }
}
