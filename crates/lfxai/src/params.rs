//! Validated hyper-parameters of the label-free explainers (paper / reference defaults).
//! `validate()` names the bad field. No serde here: `experiments::config` maps TOML onto these.

use crate::{LfxaiError, Result};

/// How GradientShap pairs its expanded rows with the anchors `f(x_b)` (spec P1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AnchorPairing {
    /// Every path point of example `b` is paired with `f(x_b)` (correct, default).
    #[default]
    OwnExample,
    /// The reference's bug: rows are expanded example-major (`b·n_s + s`, as Captum's
    /// NoiseTunnel does) but anchors are tiled, so row `r` is paired with `f(x_{r mod B})`.
    Tiled,
}

/// Where GradientShap takes each sample's baseline from (spec P2). Only per-example
/// baselines (the CIFAR blur) tell the two apart; with one shared baseline they agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BaselineDraw {
    /// Every sample of example `b` starts from `b`'s own baseline (Captum's intent, default).
    #[default]
    OwnExample,
    /// Every sample draws its baseline uniformly from the whole batch's baselines (with
    /// libtorch's generator), as the reference's CIFAR experiment passes the batch's blurred
    /// images as GradientShap's baseline distribution.
    Batch,
}

/// A label-free feature-importance method: the wrapped attribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FeatureMethod {
    /// `|∂g_x/∂x̃ (x)|` (Captum's `abs = true`).
    Saliency,
    /// Integrated Gradients with the Gauss–Legendre rule on `steps` nodes (Captum default).
    IntegratedGradients { steps: usize },
    /// GradientShap: `n_samples` random α (and baselines) per example, input noise `stdev`.
    GradientShap { n_samples: usize, stdev: f64, pairing: AnchorPairing, baselines: BaselineDraw },
    /// Control: i.i.d. N(0, 1) scores.
    Random,
}

impl FeatureMethod {
    /// Names accepted by [`FeatureMethod::from_name`].
    pub const NAMES: [&'static str; 4] = ["gradient_shap", "integrated_gradients", "saliency", "random"];

    /// The method with the paper's defaults (IG 50 steps, GradientShap 5 samples, noise 0).
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "saliency" => FeatureMethod::Saliency,
            "integrated_gradients" | "ig" => FeatureMethod::IntegratedGradients { steps: 50 },
            "gradient_shap" | "gradshap" => FeatureMethod::GradientShap {
                n_samples: 5,
                stdev: 0.0,
                pairing: AnchorPairing::OwnExample,
                baselines: BaselineDraw::OwnExample,
            },
            "random" => FeatureMethod::Random,
            other => {
                return Err(LfxaiError::invalid(
                    "feature attribution method",
                    format!("`{other}` is not one of {:?}", Self::NAMES),
                ))
            }
        })
    }

    /// The canonical name (tables, CSVs).
    pub fn name(&self) -> &'static str {
        match self {
            FeatureMethod::Saliency => "saliency",
            FeatureMethod::IntegratedGradients { .. } => "integrated_gradients",
            FeatureMethod::GradientShap { .. } => "gradient_shap",
            FeatureMethod::Random => "random",
        }
    }

    pub fn validate(&self) -> Result<()> {
        match *self {
            FeatureMethod::IntegratedGradients { steps } if steps == 0 || steps > 1000 => {
                Err(LfxaiError::invalid("integrated_gradients.steps", format!("{steps}; must be in 1..=1000")))
            }
            FeatureMethod::GradientShap { n_samples: 0, .. } => {
                Err(LfxaiError::invalid("gradient_shap.n_samples", "0; must be at least 1"))
            }
            FeatureMethod::GradientShap { stdev, .. } if !(stdev >= 0.0 && stdev.is_finite()) => {
                Err(LfxaiError::invalid("gradient_shap.stdev", format!("{stdev}; must be finite and >= 0")))
            }
            _ => Ok(()),
        }
    }
}

/// LiSSA (truncated Neumann series) for influence functions; reference defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LissaParams {
    /// Recursion depth T (100 in the paper).
    pub depth: usize,
    /// δ (1e-3).
    pub damp: f64,
    /// σ (1000).
    pub scale: f64,
    /// Divisor N of the final estimate: the number of candidate training examples.
    pub n_train: usize,
}

impl Default for LissaParams {
    fn default() -> Self {
        Self { depth: 100, damp: 1e-3, scale: 1000.0, n_train: 1000 }
    }
}

impl LissaParams {
    pub fn validate(&self) -> Result<()> {
        if !(self.damp >= 0.0 && self.damp < 1.0) {
            return Err(LfxaiError::invalid("lissa.damp", format!("{}; must be in [0, 1)", self.damp)));
        }
        if !(self.scale > 0.0 && self.scale.is_finite()) {
            return Err(LfxaiError::invalid("lissa.scale", format!("{}; must be positive", self.scale)));
        }
        if self.n_train == 0 {
            return Err(LfxaiError::invalid("lissa.n_train", "0; the candidate subset is empty"));
        }
        Ok(())
    }
}

/// SimplEx fitting as the reference does it: Adam on softmax logits from zeros.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SimplexParams {
    pub steps: usize,
    pub lr: f64,
}

impl Default for SimplexParams {
    fn default() -> Self {
        Self { steps: 1000, lr: 1e-3 }
    }
}

impl SimplexParams {
    pub fn validate(&self) -> Result<()> {
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(LfxaiError::invalid("simplex.lr", format!("{}; must be positive", self.lr)));
        }
        Ok(())
    }
}

/// Checks a perturbation / selection percentage.
pub fn check_percentage(what: &str, pct: f64) -> Result<()> {
    if (0.0..=100.0).contains(&pct) {
        Ok(())
    } else {
        Err(LfxaiError::invalid(what, format!("{pct}%; must be in 0–100")))
    }
}
