//! The experiment config (TOML). Every table denies unknown keys; [`Config::validate`]
//! rejects wrong values with the key's name.

use super::names::{
    CeScalingDef, ClassifierArchDef, ExplainerArchDef, KlKindDef, MethodDef, TargetsDef, TemperatureDef,
};
use super::Config;
use crate::loss::{CeScaling, KlKind, Targets};
use crate::model::Method;
use crate::nets::{ClassifierArch, ExplainerArch};
use crate::sampling::Temperature;
use crate::{Result, VibiError};
use serde::{Deserialize, Serialize};

/// Which data a run uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DatasetKind {
    Mnist,
    Cifar10,
    SyntheticPatches,
}

/// MNIST normalisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Normalization {
    /// (x − 0.1307) / 0.3080 (willisk).
    #[default]
    Willisk,
    /// (x − 0.5) / 0.5 (the authors).
    Authors,
}

/// Which input the figure strength sqrt(1 − JS) is computed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrengthInput {
    /// The normalised top-k input the approximator was trained on (fixed).
    #[default]
    Normalized,
    /// willisk's bug: min–max rescaled images fed to the approximator.
    ReferenceRescaled,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    pub dataset: DatasetKind,
    /// First N training images (0: all); synthetic: the number generated.
    #[serde(default)]
    pub train_subset: i64,
    /// First N test images (0: all); synthetic: the number generated.
    #[serde(default)]
    pub test_subset: i64,
    /// > 0: the test set is this many images held out of the training subset.
    #[serde(default)]
    pub holdout_test: i64,
    #[serde(default = "valid_fraction")]
    pub valid_fraction: f64,
    #[serde(default = "one")]
    pub split_seed: u64,
    #[serde(default)]
    pub normalization: Normalization,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackBoxConfig {
    #[serde(with = "ClassifierArchDef")]
    pub arch: ClassifierArch,
    pub epochs: usize,
    pub lr: f64,
    #[serde(default = "batch64")]
    pub batch_size: i64,
    #[serde(default)]
    pub augment: bool,
    /// A finished run folder whose black box this run reuses instead of training one
    /// (copied into this run's checkpoints). Its black-box fingerprint (data, recipe,
    /// seed) must equal this config's, so a β grid can share the black box of a
    /// paper-scale run without retraining it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reuse: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VibiConfig {
    #[serde(default, with = "MethodDef")]
    pub method: Method,
    #[serde(with = "ExplainerArchDef")]
    pub explainer: ExplainerArch,
    #[serde(default = "one_i")]
    pub xpl_channels: i64,
    /// Keep the ReLU that ends headless ResNet explainers (willisk; logits ≥ 0, top-k ties).
    #[serde(default = "yes")]
    pub explainer_final_relu: bool,
    #[serde(with = "ClassifierArchDef")]
    pub approximator: ClassifierArch,
    pub k: i64,
    pub beta: f64,
    #[serde(default = "four")]
    pub num_samples: i64,
    pub epochs: usize,
    /// Total step budget (0: none; the epochs decide).
    #[serde(default)]
    pub max_steps: u64,
    #[serde(default = "batch64")]
    pub batch_size: i64,
    pub lr: f64,
    #[serde(with = "TemperatureDef")]
    pub temperature: Temperature,
    #[serde(default, with = "CeScalingDef")]
    pub ce_scaling: CeScaling,
    #[serde(default, with = "KlKindDef")]
    pub kl: KlKind,
    #[serde(default, with = "TargetsDef")]
    pub targets: Targets,
    #[serde(default = "adam_betas")]
    pub adam_betas: [f64; 2],
    /// Initialise β > 0 runs from the finished β = 0 run of the same grid entry.
    #[serde(default)]
    pub jump_start: bool,
    /// Keep (and report, and draw) the weights of the best validation epoch.
    #[serde(default = "yes")]
    pub save_best: bool,
    /// Steps between mid-epoch checkpoints (0: only at epoch ends).
    #[serde(default = "checkpoint_every")]
    pub checkpoint_every: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalConfig {
    #[serde(default = "twelve")]
    pub multishot_samples: i64,
    #[serde(default = "yes")]
    pub random_baseline: bool,
    #[serde(default = "yes")]
    pub rationale: bool,
    #[serde(default = "yes")]
    pub saliency_baseline: bool,
    #[serde(default = "eval_batch")]
    pub batch_size: i64,
    #[serde(default)]
    pub strength_input: StrengthInput,
    /// Integer up-scaling of figure grids. Default 3: tiles wide enough for the per-tile
    /// captions (1 gives the reference's bare 258×258 MNIST grid, without captions).
    #[serde(default = "three_u")]
    pub figure_scale: u32,
    /// When > 0, after the test evaluation the approximator's BatchNorm running statistics
    /// are recomputed on this many training images under their top-k masks
    /// ([`crate::model::Vibi::recalibrate_approximator_bn`]) and the test top-k fidelity is
    /// reported again beside the reference-comparable one. 0 (default): not done.
    #[serde(default)]
    pub recalibrate_bn_images: i64,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            multishot_samples: 12,
            random_baseline: true,
            rationale: true,
            saliency_baseline: true,
            batch_size: 500,
            strength_input: StrengthInput::Normalized,
            figure_scale: 1,
            recalibrate_bn_images: 0,
        }
    }
}

/// Checks for the ours-vs-paper table (absent: reported, not judged).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    pub min_bb_accuracy: Option<f64>,
    pub min_test_fidelity: Option<f64>,
    pub min_margin_over_random: Option<f64>,
    pub min_hit_rate: Option<f64>,
    pub min_rationale_fidelity: Option<f64>,
    /// Reference best valid fidelity of a single run (fraction).
    pub reference_valid_fidelity: Option<f64>,
    #[serde(default = "tolerance")]
    pub reference_tolerance: f64,
    /// The spec's measured value of the test top-k fidelity (PyTorch prototype), shown
    /// beside ours, not judged.
    pub spec_test_fidelity: Option<f64>,
    /// The spec's measured random-mask fidelity, shown beside ours.
    pub spec_random_fidelity: Option<f64>,
    /// The spec's measured hit rate (synthetic), shown beside ours.
    pub spec_hit_rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GridEntry {
    #[serde(with = "ExplainerArchDef")]
    pub explainer: ExplainerArch,
    pub k: i64,
    pub betas: Vec<f64>,
    #[serde(default = "one_i")]
    pub xpl_channels: i64,
    /// Reference best valid fidelity per β (fractions, same order), from spec §6.1.
    #[serde(default)]
    pub reference: Vec<f64>,
}

fn one() -> u64 {
    1
}
fn one_i() -> i64 {
    1
}
fn three_u() -> u32 {
    3
}
fn four() -> i64 {
    4
}
fn twelve() -> i64 {
    12
}
fn batch64() -> i64 {
    64
}
fn eval_batch() -> i64 {
    500
}
fn valid_fraction() -> f64 {
    0.1
}
fn adam_betas() -> [f64; 2] {
    [0.9, 0.999]
}
fn yes() -> bool {
    true
}
fn checkpoint_every() -> u64 {
    200
}
fn tolerance() -> f64 {
    0.04
}

fn positive(what: &str, v: f64) -> Result<()> {
    if v > 0.0 && v.is_finite() {
        Ok(())
    } else {
        Err(VibiError::invalid(what, format!("{v}; must be positive")))
    }
}

impl Config {
    /// Checks values that deserialisation cannot (ranges, consistency); errors name the key.
    /// Geometry (k ≤ F, chunk divides the image) is checked when the nets are built.
    pub fn validate(&self) -> Result<()> {
        let run = &self.run;
        if run.experiment.is_empty() || run.experiment.contains(['/', '\\']) {
            return Err(VibiError::invalid(
                "run.experiment",
                format!("`{}`; must be a non-empty name without slashes", run.experiment),
            ));
        }
        if run.seeds.len() != 1 {
            return Err(VibiError::invalid(
                "run.seeds",
                format!(
                    "{:?}; vibi runs one seed per run folder: give exactly one, e.g. seeds = [0], and one run per seed",
                    run.seeds
                ),
            ));
        }
        let d = &self.data;
        if !(0.0..1.0).contains(&d.valid_fraction) {
            return Err(VibiError::invalid("data.valid_fraction", format!("{}; must be in [0, 1)", d.valid_fraction)));
        }
        if d.train_subset < 0 || d.test_subset < 0 || d.holdout_test < 0 {
            return Err(VibiError::invalid("data", "train_subset, test_subset and holdout_test must be >= 0"));
        }
        if d.dataset == DatasetKind::SyntheticPatches && (d.train_subset == 0 || d.test_subset == 0) {
            return Err(VibiError::invalid(
                "data",
                "synthetic_patches needs train_subset and test_subset (images to generate) > 0",
            ));
        }
        positive("black_box.lr", self.black_box.lr)?;
        if self.black_box.epochs == 0 || self.black_box.batch_size <= 0 {
            return Err(VibiError::invalid("black_box", "epochs and batch_size must be positive"));
        }
        let v = &self.vibi;
        if v.epochs == 0 || v.batch_size <= 0 {
            return Err(VibiError::invalid(
                "vibi",
                format!("epochs ({}) and batch_size ({}) must be positive", v.epochs, v.batch_size),
            ));
        }
        if self.eval.batch_size <= 0
            || self.eval.multishot_samples < 0
            || self.eval.figure_scale == 0
            || self.eval.recalibrate_bn_images < 0
        {
            return Err(VibiError::invalid(
                "eval",
                "batch_size and figure_scale must be positive, multishot_samples and recalibrate_bn_images >= 0",
            ));
        }
        for (i, g) in self.grid.iter().enumerate() {
            if g.betas.is_empty() {
                return Err(VibiError::invalid(format!("grid[{i}].betas"), "empty; give at least one beta"));
            }
            if !g.reference.is_empty() && g.reference.len() != g.betas.len() {
                return Err(VibiError::invalid(
                    format!("grid[{i}].reference"),
                    format!("{} values for {} betas", g.reference.len(), g.betas.len()),
                ));
            }
            if let Some(b) = g.betas.iter().find(|b| !(**b >= 0.0 && b.is_finite())) {
                return Err(VibiError::invalid(
                    "beta",
                    format!("{b} in grid[{i}].betas; must be a finite number >= 0"),
                ));
            }
        }
        for cell in self.cells() {
            let s = self.settings(&cell);
            s.validate()?;
            if cell.k < 1 {
                return Err(VibiError::invalid("k", format!("{}; must be at least 1", cell.k)));
            }
        }
        Ok(())
    }
}
