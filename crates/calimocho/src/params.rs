//! Validated hyper-parameters of the method (no serde: configs live in `experiments`).
//!
//! Every struct has the paper's defaults and a `validate` that names the bad field.

use crate::{CalimochoError, Result};
use std::fmt;
use std::str::FromStr;

/// Loss weights: `L = λ₀·L_y + λ₁·L_z + λ₂·R` with `λ₀ = 1 − λ₁ − λ₂` (spec §2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lambdas {
    /// λ₁: weight of the explanation loss L_z.
    pub explanation: f64,
    /// λ₂: weight of the (summed) robustness term R.
    pub robustness: f64,
}

impl Lambdas {
    pub fn new(explanation: f64, robustness: f64) -> Self {
        Self { explanation, robustness }
    }

    /// Labels only (`-L 0 0`).
    pub fn labels_only() -> Self {
        Self::new(0.0, 0.0)
    }

    /// λ₀ = 1 − λ₁ − λ₂, the weight of the label loss.
    pub fn label(&self) -> f64 {
        1.0 - self.explanation - self.robustness
    }

    /// λ₁, λ₂ ≥ 0, finite, λ₁ + λ₂ ≤ 1.
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("lambda1 (explanation)", self.explanation), ("lambda2 (robustness)", self.robustness)] {
            if !v.is_finite() || v < 0.0 {
                return Err(CalimochoError::invalid(name, format!("{v} (expected a finite value >= 0)")));
            }
        }
        if self.explanation + self.robustness > 1.0 + 1e-12 {
            return Err(CalimochoError::invalid(
                "lambdas",
                format!(
                    "lambda1 + lambda2 = {} > 1 (the label weight 1 - lambda1 - lambda2 would be negative)",
                    self.explanation + self.robustness
                ),
            ));
        }
        Ok(())
    }
}

impl fmt::Display for Lambdas {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{},{}", self.explanation, self.robustness)
    }
}

/// The self-explaining net and its fit (spec §2).
#[derive(Debug, Clone, PartialEq)]
pub struct SennParams {
    /// Relevance-layer widths; the last must equal the number of concepts (101 on toy colors).
    pub widths: Vec<i64>,
    pub lambdas: Lambdas,
    /// Adam learning rate η (0.01 in every colors run).
    pub lr: f64,
    /// Minibatch size; `None` = ⌊√n⌋ of the rows given to each fit.
    pub batch_size: Option<usize>,
}

impl Default for SennParams {
    fn default() -> Self {
        Self { widths: vec![101], lambdas: Lambdas::new(0.1, 0.0), lr: 0.01, batch_size: None }
    }
}

impl SennParams {
    /// The defaults with relevance widths `widths`.
    pub fn with_widths(widths: &[i64]) -> Self {
        Self { widths: widths.to_vec(), ..Self::default() }
    }

    pub fn lambdas(mut self, explanation: f64, robustness: f64) -> Self {
        self.lambdas = Lambdas::new(explanation, robustness);
        self
    }

    /// Checks every field against a model of `n_concepts` concepts.
    pub fn validate(&self, n_concepts: i64) -> Result<()> {
        if n_concepts < 1 {
            return Err(CalimochoError::invalid("n_concepts", format!("{n_concepts} (expected >= 1)")));
        }
        match self.widths.last() {
            None => return Err(CalimochoError::invalid("widths", "needs at least one relevance layer")),
            Some(&last) if last != n_concepts => {
                return Err(CalimochoError::invalid(
                    "widths",
                    format!("the last relevance layer has width {last}, it must equal the concept count {n_concepts}"),
                ))
            }
            _ => {}
        }
        if let Some(w) = self.widths.iter().find(|&&w| w < 1) {
            return Err(CalimochoError::invalid("widths", format!("width {w} (expected >= 1)")));
        }
        self.lambdas.validate()?;
        if !self.lr.is_finite() || self.lr <= 0.0 {
            return Err(CalimochoError::invalid("lr", format!("{} (expected > 0)", self.lr)));
        }
        if self.batch_size == Some(0) {
            return Err(CalimochoError::invalid("batch_size", "0 (use None for floor(sqrt(n)))"));
        }
        Ok(())
    }
}

/// Query selection of the active loop (spec §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Uniform choice from the pool.
    Random,
    /// The reference's `margin`: argmin over the pool of min(f, 1−f), i.e. the **most
    /// confident** example (spec pitfall 12.1). Kept under the reference's name.
    Margin,
    /// True uncertainty sampling: argmax of min(f, 1−f).
    LeastConfident,
}

impl Strategy {
    pub const ALL: [Strategy; 3] = [Strategy::Random, Strategy::Margin, Strategy::LeastConfident];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Random => "random",
            Strategy::Margin => "margin",
            Strategy::LeastConfident => "least-confident",
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = CalimochoError;
    fn from_str(s: &str) -> Result<Self> {
        Strategy::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            CalimochoError::invalid("strategy", format!("`{s}` (expected random, margin or least-confident)"))
        })
    }
}

/// The active loop and the simulated user (spec §3–4).
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveParams {
    pub strategy: Strategy,
    /// c: corrected explanation entries per query; 0 = full feedback (ẑ = z*).
    pub n_corrected: usize,
    /// T: queries per fold.
    pub iterations: usize,
    /// E: Adam steps per (warm) fit after each query.
    pub steps_per_fit: usize,
    /// Evaluate the test measures every this many iterations (the last always).
    pub eval_every: usize,
}

impl Default for ActiveParams {
    fn default() -> Self {
        Self { strategy: Strategy::Margin, n_corrected: 1, iterations: 300, steps_per_fit: 100, eval_every: 1 }
    }
}

impl ActiveParams {
    /// `n_concepts` includes the bias entry, which is never corrected: c ≤ n_concepts − 1.
    pub fn validate(&self, n_concepts: i64) -> Result<()> {
        if self.n_corrected as i64 > n_concepts - 1 {
            return Err(CalimochoError::invalid(
                "n_corrected",
                format!(
                    "c = {} corrected entries per query, but only {} of the {n_concepts} entries can be corrected (the bias never is)",
                    self.n_corrected,
                    n_concepts - 1
                ),
            ));
        }
        if self.eval_every == 0 {
            return Err(CalimochoError::invalid("eval_every", "0 (expected >= 1)"));
        }
        Ok(())
    }
}

/// LIME-tabular on categorical pixels (spec §5).
#[derive(Debug, Clone, PartialEq)]
pub struct LimeParams {
    /// s: neighbourhood samples per call (row 0 is the instance).
    pub samples: usize,
    /// F: features selected by forward selection.
    pub features: usize,
    pub kernel_width: f64,
    /// r: LIME calls per instance.
    pub repeats: usize,
    /// Ridge α of the final weighted model.
    pub ridge_alpha: f64,
}

impl Default for LimeParams {
    fn default() -> Self {
        Self { samples: 100, features: 4, kernel_width: 10.0, repeats: 5, ridge_alpha: 1.0 }
    }
}

impl LimeParams {
    pub fn validate(&self, n_features: usize) -> Result<()> {
        if self.samples < 2 {
            return Err(CalimochoError::invalid("lime samples", format!("{} (expected >= 2)", self.samples)));
        }
        if self.features == 0 || self.features > n_features {
            return Err(CalimochoError::invalid(
                "lime features",
                format!("{} (expected 1..={n_features})", self.features),
            ));
        }
        if self.repeats == 0 {
            return Err(CalimochoError::invalid("lime repeats", "0 (expected >= 1)"));
        }
        if self.kernel_width.is_nan() || self.kernel_width <= 0.0 || self.ridge_alpha.is_nan() || self.ridge_alpha < 0.0
        {
            return Err(CalimochoError::invalid(
                "lime kernel_width/ridge_alpha",
                format!("{} / {} (expected > 0 / >= 0)", self.kernel_width, self.ridge_alpha),
            ));
        }
        Ok(())
    }
}
