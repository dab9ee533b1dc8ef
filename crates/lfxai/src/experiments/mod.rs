//! The paper's experiments: the TOML config, dispatch to one module per experiment, and
//! the training and data they share. Only this module knows about run folders, CSVs and figures.

pub mod box_plot;
pub mod cifar;
mod config;
pub mod data;
pub mod disvae;
mod disvae_figures;
pub mod dsprites;
pub mod examples;
pub mod features;
pub mod pretext;
mod pretext_figures;
pub mod report;
pub mod roar;
pub mod sweep;
pub mod train;

pub use config::{
    CompatConfig, DataConfig, DisvaeConfig, ExamplesConfig, FeaturesConfig, ModelConfig, TrainConfig, EXPLAINERS,
};

use crate::params::{check_percentage, FeatureMethod};
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
                    FeatureMethod::GradientShap { .. } => FeatureMethod::GradientShap {
                        n_samples: f.gs_samples,
                        stdev: f.gs_stdev,
                        pairing,
                        baselines: self.compat.baseline_draw(),
                    },
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
