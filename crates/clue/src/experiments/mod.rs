//! The paper's experiments: the TOML config and dispatch. Only this module knows about
//! run folders, CSVs and figures; it maps config tables onto the method's params structs.

pub mod ablation;
pub mod artificial;
pub mod artificial_report;
mod config_artificial;
pub mod mnist;
pub mod real;
pub mod report;

use crate::bnn::{Head, MlpSpec};
use crate::bnn_train::BnnTrainParams;
use crate::params::ClueParams;
use crate::sghmc::{ClipParams, PriorParams, SghmcParams};
use crate::vae::VaeSpec;
use crate::vae_train::VaeTrainParams;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use xai_core::runner::{ExperimentConfig, ExperimentName, Outcome, RunTable, Session};

pub use config_artificial::{AblationConfig, ArtificialConfig, Grid};

/// Which experiment a config runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Experiment {
    /// E1 (+ E6's λ grid): BNN + VAE on a real table, CLUEs for the rejected test points.
    Real,
    /// E2 (smoke form): MNIST BNN + MLP VAE (Bernoulli), CLUE grids for the most uncertain digits.
    Mnist,
    /// E4: the computational evaluation framework (§8) on artificial data from a
    /// ground-truth VAEAC fitted to a real table; CLUE vs U-FIDO vs Sensitivity.
    Artificial,
    /// E7 / E8: the explainer VAE's latent dimension or depth swept, CLUE at the headline λ_x.
    Ablation,
}

impl ExperimentName for Experiment {
    fn name(&self) -> &str {
        match self {
            Experiment::Real => "real",
            Experiment::Mnist => "mnist",
            Experiment::Artificial => "artificial",
            Experiment::Ablation => "ablation",
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
    pub bnn: BnnConfig,
    #[serde(default)]
    pub vae: VaeConfig,
    #[serde(default)]
    pub clue: ClueConfig,
    #[serde(default)]
    pub select: SelectConfig,
    #[serde(default)]
    pub checks: ChecksConfig,
    #[serde(default)]
    pub compute: ComputeConfig,
    #[serde(default)]
    pub artificial: ArtificialConfig,
    #[serde(default)]
    pub ablation: AblationConfig,
}

/// `[compute]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ComputeConfig {
    /// libtorch intra-op threads for this run (0 = keep `--threads` / libtorch's default).
    /// The smoke configs use 1: the models are tiny, and on a busy 2-core machine
    /// libtorch's OpenMP barriers stall every op (measured: COMPAS smoke 22 s with 1
    /// thread, > 9 min with 2 under a load average of 13).
    pub threads: usize,
}

/// `[data]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    /// `lsat`, `compas`, `wine` or `credit`.
    pub dataset: String,
    /// Keep this many train / test rows after a seeded shuffle (0 = all).
    pub train_subset: usize,
    pub test_subset: usize,
    /// Hold-out share of train for VAE model selection.
    pub valid_fraction: f64,
    /// Seed of the COMPAS / Wine / Credit splits (the spec's 42).
    pub split_seed: u64,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self { dataset: "lsat".into(), train_subset: 0, test_subset: 0, valid_fraction: 0.1, split_seed: 42 }
    }
}

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
    pub width: usize,
    pub depth: usize,
    /// 0 = the dataset's paper value (LSAT 4, COMPAS 4, Wine 6, Credit 8).
    pub latent_dim: usize,
    pub lr: f64,
    pub batch_size: usize,
    pub epochs: usize,
    pub patience: usize,
}

impl Default for VaeConfig {
    fn default() -> Self {
        Self { width: 300, depth: 3, latent_dim: 0, lr: 1e-4, batch_size: 128, epochs: 2500, patience: 200 }
    }
}

impl VaeConfig {
    pub fn spec(&self, dataset: &str) -> VaeSpec {
        let paper = match dataset {
            "wine" => 6,
            "credit" => 8,
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

/// `[clue]` (spec §6).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClueConfig {
    /// `total`, `aleatoric` or `epistemic`.
    pub objective: String,
    /// The λ_x grid (distance weight λ_x / D); the first value is the headline one.
    pub lambdas: Vec<f64>,
    pub lr: f64,
    pub min_steps: usize,
    pub max_steps: usize,
    pub early_stop_n: usize,
    /// `all` (default) or `official_drop_last` (the official S − 1 behaviour).
    pub sample_use: String,
    /// Also run input-space CLUE and one-step Sensitivity at each λ / step.
    pub baselines: bool,
    /// Sensitivity step sizes η.
    pub sensitivity_steps: Vec<f64>,
    /// U-FIDO L1 weights (empty = no U-FIDO); its label-free VAEAC uses the `[vae]` sizes.
    pub ufido_l1: Vec<f64>,
    /// U-FIDO iterations (official 30).
    pub ufido_iterations: usize,
}

impl Default for ClueConfig {
    fn default() -> Self {
        Self {
            objective: "total".into(),
            lambdas: vec![0.1, 0.3, 1.0, 3.0, 10.0, 30.0],
            lr: 0.1,
            min_steps: 3,
            max_steps: 50,
            early_stop_n: 3,
            sample_use: "all".into(),
            baselines: true,
            sensitivity_steps: vec![0.01, 0.1, 1.0],
            ufido_l1: vec![],
            ufido_iterations: 30,
        }
    }
}

impl ClueConfig {
    pub fn params(&self, lambda_x: f64) -> ClueParams {
        let (h, a, e) = match self.objective.as_str() {
            "aleatoric" => (0.0, 1.0, 0.0),
            "epistemic" => (0.0, 0.0, 1.0),
            _ => (1.0, 0.0, 0.0),
        };
        ClueParams {
            uncertainty_weight: h,
            aleatoric_weight: a,
            epistemic_weight: e,
            lambda_x,
            lr: self.lr,
            min_steps: self.min_steps,
            max_steps: self.max_steps,
            n_early_stop: self.early_stop_n,
            ..Default::default()
        }
    }
}

/// `[select]`: which test points are "rejected" and explained.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SelectConfig {
    /// Reject total uncertainty ≥ the (1 − f) quantile of the test set (paper ≈ 20%).
    pub reject_fraction: f64,
    /// Explain at most this many of the most uncertain rejected points (0 = all).
    pub max_rows: usize,
}

impl Default for SelectConfig {
    fn default() -> Self {
        Self { reject_fraction: 0.2, max_rows: 0 }
    }
}

/// `[checks]`: thresholds of the verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChecksConfig {
    /// Relative drop of mean uncertainty at the smallest λ.
    pub min_drop: f64,
    /// Spearman ρ between mean ‖Δx‖₁ and 1/λ over the grid.
    pub min_spearman: f64,
    /// E4: CLUE's mean log p_gt may fall at most this many nats below the originals' at any λ.
    pub max_clue_logp_gap: f64,
    /// E4: Sensitivity's mean log p_gt at its largest step must fall at least this far below.
    pub min_sensitivity_logp_drop: f64,
    /// E4: objectives on which CLUE's Table-2 knee must not exceed Sensitivity's.
    pub knee_below_sensitivity: Vec<String>,
}

impl Default for ChecksConfig {
    fn default() -> Self {
        Self {
            min_drop: 0.10,
            min_spearman: 0.8,
            max_clue_logp_gap: 5.0,
            min_sensitivity_logp_drop: 20.0,
            knee_below_sensitivity: vec!["aleatoric".into()],
        }
    }
}

impl ExperimentConfig for Config {
    type Experiment = Experiment;

    fn run_table(&self) -> &RunTable<Experiment> {
        &self.run
    }

    fn validate(&self) -> Result<()> {
        if self.run.experiment == Experiment::Artificial {
            if !["lsat", "compas", "wine", "credit"].contains(&self.data.dataset.as_str()) {
                bail!(
                    "data.dataset: the artificial framework runs on lsat, compas, wine or credit, not `{}`",
                    self.data.dataset
                );
            }
            self.artificial.validate(&self.data.dataset)?;
        }
        if self.run.experiment == Experiment::Ablation {
            if !["lsat", "compas", "wine", "credit"].contains(&self.data.dataset.as_str()) {
                bail!("data.dataset: the ablations run on lsat, compas, wine or credit, not `{}`", self.data.dataset);
            }
            if !["latent_dim", "depth"].contains(&self.ablation.kind.as_str()) {
                bail!("ablation.kind: `{}` is not latent_dim or depth", self.ablation.kind);
            }
            if self.ablation.values.is_empty() || self.ablation.values.contains(&0) {
                bail!("ablation.values: needs at least one value, each ≥ 1, got {:?}", self.ablation.values);
            }
        }
        let mnist = self.run.experiment == Experiment::Mnist;
        if mnist != (self.data.dataset == "mnist") {
            bail!("data.dataset: experiment `{}` cannot run on `{}`", self.run.experiment.name(), self.data.dataset);
        }
        if !["lsat", "compas", "wine", "credit", "mnist"].contains(&self.data.dataset.as_str()) {
            bail!("data.dataset: `{}` is not one of lsat, compas, wine, credit, mnist", self.data.dataset);
        }
        if !(0.0..0.9).contains(&self.data.valid_fraction) {
            bail!("data.valid_fraction: must be in [0, 0.9), got {}", self.data.valid_fraction);
        }
        if self.clue.lambdas.is_empty() {
            bail!("clue.lambdas: the λ grid is empty");
        }
        if let Some(l) = self.clue.lambdas.iter().find(|l| !(l.is_finite() && **l >= 0.0)) {
            bail!("clue.lambdas: {l} is not a finite λ ≥ 0");
        }
        if !["total", "aleatoric", "epistemic"].contains(&self.clue.objective.as_str()) {
            bail!("clue.objective: `{}` is not total, aleatoric or epistemic", self.clue.objective);
        }
        if !["all", "official_drop_last"].contains(&self.clue.sample_use.as_str()) {
            bail!("clue.sample_use: `{}` is not all or official_drop_last", self.clue.sample_use);
        }
        if !(self.select.reject_fraction > 0.0 && self.select.reject_fraction <= 1.0) {
            bail!("select.reject_fraction: must be in (0, 1], got {}", self.select.reject_fraction);
        }
        self.clue.params(self.clue.lambdas[0]).validate()?;
        self.bnn.train_params(true).validate()?;
        self.vae.train_params().validate()?;
        self.vae.spec(&self.data.dataset).validate()?;
        self.bnn.spec(1, Head::Classification { classes: 2 }).validate()?;
        Ok(())
    }
}

/// The binary's body.
pub fn run(session: &mut Session<'_, Config>) -> Result<Outcome> {
    if session.config.compute.threads > 0 {
        tch::set_num_threads(session.config.compute.threads as i32);
        log::info!("compute.threads: {} libtorch thread(s)", session.config.compute.threads);
    }
    match session.config.run.experiment {
        Experiment::Real => real::run(session),
        Experiment::Mnist => mnist::run(session),
        Experiment::Artificial => artificial::run(session),
        Experiment::Ablation => ablation::run(session),
    }
}
