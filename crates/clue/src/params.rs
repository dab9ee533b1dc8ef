//! Validated hyper-parameters of CLUE (spec §6), with the paper's / official defaults.

use crate::{ClueError, Result};

/// How z is initialised.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum ClueInit {
    /// Encoder mean μ_φ(x0) (default).
    #[default]
    EncoderMean,
    /// z0 = 0 (ablation).
    Zero,
    /// z0 ~ N(0, I), a draw from the prior (ablation; seeded by tch's RNG).
    Prior,
    /// z0 = μ_φ(x0) + N(0, std²) (the spec's restart initialisation; ablation).
    Perturbed { std: f64 },
}

/// Spec §6 objective and optimiser.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClueParams {
    /// w_H: weight of the total uncertainty (entropy or σ_total).
    pub uncertainty_weight: f64,
    /// w_A.
    pub aleatoric_weight: f64,
    /// w_E.
    pub epistemic_weight: f64,
    /// λ_x; the distance weight is λ_x / D.
    pub lambda_x: f64,
    /// λ_z · ‖z − z0‖² (0 in the paper).
    pub latent_l2_weight: f64,
    /// λ_p · (−log N(z; 0, I)) as a penalty (0 in the paper; see spec §14.4).
    pub prior_weight: f64,
    /// Adam learning rate on z.
    pub lr: f64,
    pub min_steps: usize,
    pub max_steps: usize,
    /// n of the early-stop rule `|c[t−n] − c[t]| < max(0.01·c[0], 1e-3)`.
    pub n_early_stop: usize,
    pub init: ClueInit,
}

impl Default for ClueParams {
    fn default() -> Self {
        Self {
            uncertainty_weight: 1.0,
            aleatoric_weight: 0.0,
            epistemic_weight: 0.0,
            lambda_x: 1.0,
            latent_l2_weight: 0.0,
            prior_weight: 0.0,
            lr: 0.1,
            min_steps: 3,
            max_steps: 50,
            n_early_stop: 3,
            init: ClueInit::EncoderMean,
        }
    }
}

impl ClueParams {
    /// Errors name the bad field.
    pub fn validate(&self) -> Result<()> {
        let finite_nonneg = [
            ("clue.uncertainty_weight", self.uncertainty_weight),
            ("clue.aleatoric_weight", self.aleatoric_weight),
            ("clue.epistemic_weight", self.epistemic_weight),
            ("clue.lambda_x", self.lambda_x),
            ("clue.latent_l2_weight", self.latent_l2_weight),
            ("clue.prior_weight", self.prior_weight),
        ];
        for (name, v) in finite_nonneg {
            if !v.is_finite() || v < 0.0 {
                return Err(ClueError::invalid(name, format!("must be finite and ≥ 0, got {v}")));
            }
        }
        if let ClueInit::Perturbed { std } = self.init {
            if !(std.is_finite() && std >= 0.0) {
                return Err(ClueError::invalid("clue.init_std", format!("must be finite and ≥ 0, got {std}")));
            }
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(ClueError::invalid("clue.lr", format!("must be > 0, got {}", self.lr)));
        }
        if self.max_steps == 0 {
            return Err(ClueError::invalid("clue.max_steps", "must be ≥ 1"));
        }
        if self.n_early_stop == 0 || self.n_early_stop > self.min_steps + 1 {
            return Err(ClueError::invalid(
                "clue.n_early_stop",
                format!("must be in 1..=min_steps+1 = {}, got {}", self.min_steps + 1, self.n_early_stop),
            ));
        }
        Ok(())
    }
}
