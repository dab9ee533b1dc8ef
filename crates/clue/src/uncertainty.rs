//! Spec §4: the uncertainty decompositions of a posterior predictive, as the official
//! `decompose_entropy_cat` / `decompose_std_gauss` compute them (same op order, so float32
//! results agree with the reference to round-off).

use tch::{Kind, Tensor};

/// ε inside the entropy logs.
pub const ENTROPY_EPS: f64 = 1e-10;

/// Per-row total / aleatoric / epistemic uncertainty, each `[N]`.
///
/// Classification: entropies in nats (`total = aleatoric + epistemic`). Regression:
/// standard deviations (`total² = aleatoric² + epistemic²`).
#[derive(Debug)]
pub struct Decomposition {
    pub total: Tensor,
    pub aleatoric: Tensor,
    pub epistemic: Tensor,
}

impl Decomposition {
    /// `w_total·total + w_aleatoric·aleatoric + w_epistemic·epistemic` (a zero weight skips its term).
    // Out-of-place on purpose: `+=` on tensors is an in-place op, which autograd may reject.
    #[allow(clippy::assign_op_pattern)]
    pub fn weighted(&self, w_total: f64, w_aleatoric: f64, w_epistemic: f64) -> Tensor {
        let mut out = Tensor::zeros_like(&self.total);
        for (w, t) in [(w_total, &self.total), (w_aleatoric, &self.aleatoric), (w_epistemic, &self.epistemic)] {
            if w != 0.0 {
                out = out + t * w;
            }
        }
        out
    }

    /// Detached copies (for bookkeeping).
    pub fn detach(&self) -> Decomposition {
        Decomposition {
            total: self.total.detach().copy(),
            aleatoric: self.aleatoric.detach().copy(),
            epistemic: self.epistemic.detach().copy(),
        }
    }
}

/// Entropy decomposition of class probabilities `probs [S, N, K]`.
pub fn entropy_decomposition(probs: &Tensor) -> Decomposition {
    let mean = probs.mean_dim(0, false, Kind::Float);
    let total = -(&mean * (&mean + ENTROPY_EPS).log()).sum_dim_intlist(1, false, Kind::Float);
    let per_sample = -(probs * (probs + ENTROPY_EPS).log()).sum_dim_intlist(2, false, Kind::Float);
    let aleatoric = per_sample.mean_dim(0, false, Kind::Float);
    let epistemic = &total - &aleatoric;
    Decomposition { total, aleatoric, epistemic }
}

/// Standard-deviation decomposition of per-sample Gaussians `mu, sigma [S, N, d]`:
/// variances averaged over samples, summed over output dims, then square roots. The
/// epistemic variance is clamped at 0 against round-off before its square root.
pub fn gaussian_decomposition(mu: &Tensor, sigma: &Tensor) -> Decomposition {
    let aleatoric_var = sigma.square().mean_dim(0, false, Kind::Float);
    let epistemic_var = mu.square().mean_dim(0, false, Kind::Float) - mu.mean_dim(0, false, Kind::Float).square();
    let total_var = &aleatoric_var + &epistemic_var;
    let sum = |t: &Tensor| t.sum_dim_intlist(1, false, Kind::Float);
    Decomposition {
        total: sum(&total_var).sqrt(),
        aleatoric: sum(&aleatoric_var).sqrt(),
        epistemic: sum(&epistemic_var).clamp_min(0.0).sqrt(),
    }
}

/// Deterministic-network variant (spec §4, optional): softmax entropy of `probs [N, K]` as
/// total = aleatoric, epistemic = 0.
pub fn deterministic_entropy(probs: &Tensor) -> Decomposition {
    let h = -(probs * (probs + ENTROPY_EPS).log()).sum_dim_intlist(1, false, Kind::Float);
    Decomposition { aleatoric: h.shallow_clone(), epistemic: h.zeros_like(), total: h }
}
