//! Config tables of E4 / E5 (`[artificial]`, spec §8 and §13) and of E7 / E8 / E9 (`[ablation]`).

use crate::vae::VaeSpec;
use crate::vaeac::VaeacLikelihood;
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// `[ablation]` (E7 / E8 / E9).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AblationConfig {
    /// `latent_dim` (E7), `depth` (E8) or `init` (E9).
    pub kind: String,
    /// The swept sizes of E7 / E8.
    pub values: Vec<usize>,
    /// E9's initialisations of CLUE's search: `encoder_mean`, `zero`, `random` (z0 ~ N(0, I)),
    /// `perturbed` (encoder mean + N(0, init_std²)) and `input_space` (no VAE, x0 itself).
    pub inits: Vec<String>,
    /// σ of the `perturbed` initialisation (the spec's restart noise, 0.15).
    pub init_std: f64,
}

/// The names `[ablation] inits` accepts.
pub const INITS: [&str; 5] = ["encoder_mean", "zero", "random", "perturbed", "input_space"];

impl Default for AblationConfig {
    fn default() -> Self {
        Self {
            kind: "latent_dim".into(),
            values: vec![2, 3, 4, 5, 6, 8, 12, 16],
            inits: INITS.iter().map(|s| s.to_string()).collect(),
            init_std: 0.15,
        }
    }
}

impl AblationConfig {
    pub(super) fn validate(&self) -> Result<()> {
        match self.kind.as_str() {
            "latent_dim" | "depth" => {
                if self.values.is_empty() || self.values.contains(&0) {
                    bail!("ablation.values: needs at least one value, each ≥ 1, got {:?}", self.values);
                }
            }
            "init" => {
                if self.inits.is_empty() {
                    bail!("ablation.inits: empty; use some of {INITS:?}");
                }
                if let Some(bad) = self.inits.iter().find(|i| !INITS.contains(&i.as_str())) {
                    bail!("ablation.inits: `{bad}` is not one of {INITS:?}");
                }
                if !(self.init_std.is_finite() && self.init_std >= 0.0) {
                    bail!("ablation.init_std: must be finite and ≥ 0, got {}", self.init_std);
                }
            }
            other => bail!("ablation.kind: `{other}` is not latent_dim, depth or init"),
        }
        Ok(())
    }
}

/// A geometric grid of `n` values from `min` to `max` (the spec's "logspace").
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Grid {
    pub fn values(&self) -> Vec<f64> {
        if self.n == 1 {
            return vec![self.min];
        }
        let (a, b) = (self.min.ln(), self.max.ln());
        (0..self.n).map(|i| (a + (b - a) * i as f64 / (self.n - 1) as f64).exp()).collect()
    }
    pub(super) fn validate(&self, name: &str) -> Result<()> {
        if !(self.min > 0.0 && self.max >= self.min && self.max.is_finite()) || self.n == 0 {
            bail!("{name}: needs 0 < min ≤ max < ∞ and n ≥ 1, got {self:?}");
        }
        Ok(())
    }
}

/// `[artificial]`: the ground truth, the artificial data and the sweeps of E4 (spec §8).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArtificialConfig {
    /// Ground-truth VAEAC over x⊕y (spec §5.6: 350 / 3; d_z 0 = the dataset's paper value).
    pub gt_width: usize,
    pub gt_depth: usize,
    pub gt_latent_dim: usize,
    pub gt_epochs: usize,
    pub gt_lr: f64,
    pub gt_batch_size: usize,
    /// Under-VAE over the VAEAC's codes (150 / 2; r 0 = the paper's r: LSAT 3, COMPAS 4, Wine 4, Credit 6).
    pub under_width: usize,
    pub under_depth: usize,
    pub under_latent_dim: usize,
    pub under_epochs: usize,
    pub under_lr: f64,
    pub under_batch_size: usize,
    /// Artificial rows (0 = the real split's size).
    pub n_train: usize,
    pub n_test: usize,
    /// S codes of the ground-truth conditional p_gt(y|x) (500 tabular).
    pub gt_target_samples: usize,
    /// K importance samples of log p_gt(x) (1000 tabular).
    pub is_samples: usize,
    /// Selection thresholds on the BNN's A and E (COMPAS 0.15 / 0.02, MNIST 0.17 / 0.13);
    /// absent = the `select_quantile` of the artificial test set, which is also the
    /// fallback (logged) when fewer than `min_rows` points reach a given threshold.
    pub tau_aleatoric: Option<f64>,
    pub tau_epistemic: Option<f64>,
    pub select_quantile: f64,
    /// When fewer points pass even the quantile, the `min_rows` most uncertain are taken (logged).
    pub min_rows: usize,
    /// Explain at most this many of the most uncertain selected points (0 = all).
    pub max_rows: usize,
    /// Which objectives to run: `aleatoric`, `epistemic`.
    pub uncertainty_types: Vec<String>,
    pub clue_lambdas: Grid,
    pub ufido_l1: Grid,
    pub sensitivity_steps: Grid,
    /// `raw` (spec §7): Sensitivity's step is scored as it is, fractional one-hot entries
    /// included, which the argmax-scored log p_gt cannot see. `project`: each categorical
    /// block is snapped to the one-hot of its argmax after the step, so every
    /// counterfactual is a valid row and its cost is visible.
    pub sensitivity_categorical: String,
    pub max_steps_aleatoric: usize,
    pub max_steps_epistemic: usize,
    pub ufido_iterations: usize,
    pub ufido_mask_samples: usize,
    pub ufido_mask_samples_late: usize,
}

impl Default for ArtificialConfig {
    fn default() -> Self {
        Self {
            gt_width: 350,
            gt_depth: 3,
            gt_latent_dim: 0,
            gt_epochs: 2000,
            gt_lr: 1e-4,
            gt_batch_size: 128,
            under_width: 150,
            under_depth: 2,
            under_latent_dim: 0,
            under_epochs: 2000,
            under_lr: 1e-4,
            under_batch_size: 128,
            n_train: 0,
            n_test: 0,
            gt_target_samples: 500,
            is_samples: 1000,
            tau_aleatoric: None,
            tau_epistemic: None,
            select_quantile: 0.8,
            min_rows: 10,
            max_rows: 0,
            uncertainty_types: vec!["aleatoric".into(), "epistemic".into()],
            clue_lambdas: Grid { min: 1e-4, max: 30.0, n: 30 },
            ufido_l1: Grid { min: 1e-5, max: 100.0, n: 30 },
            sensitivity_steps: Grid { min: 1e-3, max: 200.0, n: 20 },
            sensitivity_categorical: "raw".into(),
            max_steps_aleatoric: 55,
            max_steps_epistemic: 65,
            ufido_iterations: 30,
            ufido_mask_samples: 20,
            ufido_mask_samples_late: 10,
        }
    }
}

impl ArtificialConfig {
    /// The ground-truth VAEAC's sizes (spec §5.6 d_z: LSAT 4, COMPAS 4, Wine 6, Credit 8,
    /// MNIST 20).
    pub fn gt_spec(&self, dataset: &str) -> VaeSpec {
        let paper = match dataset {
            "wine" => 6,
            "credit" => 8,
            "mnist" => 20,
            _ => 4,
        };
        VaeSpec {
            width: self.gt_width,
            depth: self.gt_depth,
            latent_dim: if self.gt_latent_dim > 0 { self.gt_latent_dim } else { paper },
        }
    }
    /// The ground-truth VAEAC's likelihood (spec §5.2): Wine's learns its variance, the
    /// MNIST's is Bernoulli on all 794 outputs (spec §5.5), the others are gauss_cat (fixed variance).
    pub fn gt_likelihood(&self, dataset: &str) -> VaeacLikelihood {
        match dataset {
            "wine" => VaeacLikelihood::LearnedGaussian,
            "mnist" => VaeacLikelihood::Bernoulli,
            _ => VaeacLikelihood::GaussCat,
        }
    }
    /// The under-VAE's sizes (spec §5.4 r: LSAT 3, COMPAS 4, Wine 4, Credit 6; §5.6 MNIST 8).
    pub fn under_spec(&self, dataset: &str) -> VaeSpec {
        let paper = match dataset {
            "lsat" => 3,
            "credit" => 6,
            "mnist" => 8,
            _ => 4,
        };
        VaeSpec {
            width: self.under_width,
            depth: self.under_depth,
            latent_dim: if self.under_latent_dim > 0 { self.under_latent_dim } else { paper },
        }
    }

    pub(super) fn validate(&self, dataset: &str) -> Result<()> {
        self.gt_spec(dataset).validate()?;
        self.under_spec(dataset).validate()?;
        for (name, v) in [
            ("artificial.gt_epochs", self.gt_epochs),
            ("artificial.under_epochs", self.under_epochs),
            ("artificial.gt_target_samples", self.gt_target_samples),
            ("artificial.is_samples", self.is_samples),
            ("artificial.max_steps_aleatoric", self.max_steps_aleatoric),
            ("artificial.max_steps_epistemic", self.max_steps_epistemic),
            ("artificial.ufido_iterations", self.ufido_iterations),
            ("artificial.ufido_mask_samples", self.ufido_mask_samples),
            ("artificial.ufido_mask_samples_late", self.ufido_mask_samples_late),
            ("artificial.min_rows", self.min_rows),
        ] {
            if v == 0 {
                bail!("{name}: must be ≥ 1");
            }
        }
        for (name, v) in
            [("artificial.gt_batch_size", self.gt_batch_size), ("artificial.under_batch_size", self.under_batch_size)]
        {
            if v < 2 {
                bail!("{name}: must be ≥ 2 (BatchNorm)");
            }
        }
        for (name, v) in [("artificial.gt_lr", self.gt_lr), ("artificial.under_lr", self.under_lr)] {
            if !(v > 0.0 && v.is_finite()) {
                bail!("{name}: must be > 0, got {v}");
            }
        }
        if !(self.select_quantile > 0.0 && self.select_quantile < 1.0) {
            bail!("artificial.select_quantile: must be in (0, 1), got {}", self.select_quantile);
        }
        for (name, t) in
            [("artificial.tau_aleatoric", self.tau_aleatoric), ("artificial.tau_epistemic", self.tau_epistemic)]
        {
            if let Some(t) = t {
                if !t.is_finite() {
                    bail!("{name}: must be finite, got {t}");
                }
            }
        }
        if self.uncertainty_types.is_empty() {
            bail!("artificial.uncertainty_types: empty; use aleatoric and/or epistemic");
        }
        if let Some(u) = self.uncertainty_types.iter().find(|u| !["aleatoric", "epistemic"].contains(&u.as_str())) {
            bail!("artificial.uncertainty_types: `{u}` is not aleatoric or epistemic");
        }
        self.clue_lambdas.validate("artificial.clue_lambdas")?;
        self.ufido_l1.validate("artificial.ufido_l1")?;
        self.sensitivity_steps.validate("artificial.sensitivity_steps")?;
        self.project_sensitivity()?;
        Ok(())
    }

    /// Whether Sensitivity's categorical blocks are snapped to one-hots (`project`).
    pub fn project_sensitivity(&self) -> Result<bool> {
        match self.sensitivity_categorical.as_str() {
            "raw" => Ok(false),
            "project" => Ok(true),
            other => bail!("artificial.sensitivity_categorical: `{other}` is not `raw` or `project`"),
        }
    }
}
