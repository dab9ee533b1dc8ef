//! The paper's experiments: the TOML config and dispatch. Only this module knows about
//! run folders, CSVs and figures; it maps config tables onto the method's params structs.

pub mod ablation;
pub mod ablation_init;
pub mod artificial;
mod artificial_mnist;
pub mod artificial_report;
mod config_artificial;
mod config_models;
pub mod digit_report;
pub mod digits;
pub mod mnist;
pub mod mnist479;
pub mod real;
pub mod report;

use crate::bnn::Head;
use crate::params::ClueParams;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use xai_core::runner::{ExperimentConfig, ExperimentName, Outcome, RunTable, Session};

pub use config_artificial::{AblationConfig, ArtificialConfig, Grid, INITS};
pub use config_models::{BnnConfig, VaeConfig};

/// Which experiment a config runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Experiment {
    /// E1 (+ E6's λ grid): BNN + VAE on a real table, CLUEs for the rejected test points.
    Real,
    /// E2: MNIST BNN + VAE (MLP or ResNet, Bernoulli), CLUE grids for the most uncertain digits.
    Mnist,
    /// E3: modified MNIST-479 (digits 4, 7, 9 with writing-style holes cut out of train),
    /// CLUEs for the most epistemically uncertain test digits.
    Mnist479,
    /// E4 / E5: the computational evaluation framework (§8) on artificial data from a
    /// ground-truth VAEAC fitted to a real table (E4) or to MNIST (E5, `dataset = "mnist"`);
    /// CLUE vs U-FIDO vs Sensitivity.
    Artificial,
    /// E7 / E8: the explainer VAE's latent dimension or depth swept, CLUE at the headline λ_x;
    /// E9 (`kind = "init"`): CLUE's initialisation swept, input-space CLUE beside.
    Ablation,
}

impl ExperimentName for Experiment {
    fn name(&self) -> &str {
        match self {
            Experiment::Real => "real",
            Experiment::Mnist => "mnist",
            Experiment::Mnist479 => "mnist479",
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
    /// Rows optimised together (spec §6: ≤ 1 024; 0 = all at once). Rows are independent,
    /// so this bounds memory without changing results. Used by E2 / E3.
    pub batch_size: usize,
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
            batch_size: 1024,
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
    /// E2 / E3: the BNN's test error must not exceed this (1 = not judged); catches an
    /// SG-HMC run that diverged, whose uncertainties CLUE would otherwise "explain".
    pub max_bnn_error: f64,
}

impl Default for ChecksConfig {
    fn default() -> Self {
        Self {
            min_drop: 0.10,
            min_spearman: 0.8,
            max_clue_logp_gap: 5.0,
            min_sensitivity_logp_drop: 20.0,
            knee_below_sensitivity: vec!["aleatoric".into()],
            max_bnn_error: 1.0,
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
            if !["lsat", "compas", "wine", "credit", "mnist"].contains(&self.data.dataset.as_str()) {
                bail!(
                    "data.dataset: the artificial framework runs on lsat, compas, wine, credit or mnist, not `{}`",
                    self.data.dataset
                );
            }
            self.artificial.validate(&self.data.dataset)?;
        }
        if self.run.experiment == Experiment::Ablation {
            if !["lsat", "compas", "wine", "credit"].contains(&self.data.dataset.as_str()) {
                bail!("data.dataset: the ablations run on lsat, compas, wine or credit, not `{}`", self.data.dataset);
            }
            self.ablation.validate()?;
        }
        let digits = match self.run.experiment {
            Experiment::Mnist => Some("mnist"),
            Experiment::Mnist479 => Some("mnist479"),
            _ => None,
        };
        // E5 is the artificial framework on MNIST: its own experiment, not a digit pipeline.
        let artificial_mnist = self.run.experiment == Experiment::Artificial && self.data.dataset == "mnist";
        let dataset_digits = ["mnist", "mnist479"].contains(&self.data.dataset.as_str()) && !artificial_mnist;
        if digits.is_some_and(|d| d != self.data.dataset) || (digits.is_none() && dataset_digits) {
            bail!("data.dataset: experiment `{}` cannot run on `{}`", self.run.experiment.name(), self.data.dataset);
        }
        if !["lsat", "compas", "wine", "credit", "mnist", "mnist479"].contains(&self.data.dataset.as_str()) {
            bail!("data.dataset: `{}` is not one of lsat, compas, wine, credit, mnist, mnist479", self.data.dataset);
        }
        match self.vae.arch.as_str() {
            "mlp" => {}
            "resnet" if digits.is_some() => {}
            "resnet" => bail!("vae.arch: `resnet` is the MNIST conv VAE; `{}` needs `mlp`", self.data.dataset),
            other => bail!("vae.arch: `{other}` is not mlp or resnet"),
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
        if !(self.checks.max_bnn_error > 0.0 && self.checks.max_bnn_error <= 1.0) {
            bail!("checks.max_bnn_error: must be in (0, 1], got {}", self.checks.max_bnn_error);
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
        Experiment::Mnist479 => mnist479::run(session),
        Experiment::Artificial => artificial::run(session),
        Experiment::Ablation => ablation::run(session),
    }
}
