//! Pieces of the computational evaluation framework (spec §8) that do not need the
//! ground-truth VAEAC: the knee score of Tables 1–2 and the importance-sampling estimate
//! of log p(x) under a latent-variable model.

use crate::{ClueError, Result};
use tch::{Kind, Tensor};

/// Knee score per method (lower is better, in [0, 1]): with `c̃ = c/(√2·c_max)` and
/// `b̃ = (b_max − b)/(√2·b_max)`, maxima over all compared methods, the minimum over each
/// method's sweep of `√(c̃² + b̃²)`; every method scores `1/√2` when `b_max ≤ 0`.
/// `curves[m]` holds the `(cost, benefit)` points of method m.
pub fn knee_scores(curves: &[Vec<(f64, f64)>]) -> Result<Vec<f64>> {
    let all: Vec<usize> = (0..curves.len()).collect();
    knee_scores_normalised_by(curves, &all)
}

/// [`knee_scores`] with `c_max` and `b_max` taken over the methods `norm` only (the
/// third-party reproduction normalises by CLUE and U-FIDO alone, so a method that moves far
/// off the data, such as Sensitivity, does not shrink everyone else's costs). Scores of
/// methods outside `norm` may then exceed 1.
pub fn knee_scores_normalised_by(curves: &[Vec<(f64, f64)>], norm: &[usize]) -> Result<Vec<f64>> {
    if curves.iter().any(|c| c.is_empty()) {
        return Err(ClueError::invalid("knee curves", "a method has no sweep points"));
    }
    if norm.is_empty() || norm.iter().any(|&m| m >= curves.len()) {
        return Err(ClueError::invalid("knee normalisation", format!("methods {norm:?} of {}", curves.len())));
    }
    if curves.iter().flatten().any(|p| !(p.0.is_finite() && p.1.is_finite())) {
        return Err(ClueError::invalid("knee curves", "a cost or benefit is not finite"));
    }
    let pts = || norm.iter().flat_map(|&m| curves[m].iter());
    let c_max = pts().map(|p| p.0).fold(0.0f64, f64::max);
    let b_max = pts().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    let r2 = std::f64::consts::SQRT_2;
    if b_max <= 0.0 {
        return Ok(vec![1.0 / r2; curves.len()]);
    }
    Ok(curves
        .iter()
        .map(|c| {
            c.iter()
                .map(|&(cost, b)| {
                    let ct = if c_max > 0.0 { cost / (r2 * c_max) } else { 0.0 };
                    let bt = (b_max - b) / (r2 * b_max);
                    (ct * ct + bt * bt).sqrt()
                })
                .fold(f64::INFINITY, f64::min)
        })
        .collect())
}

/// `log p(x)` per row `[N]` by importance sampling with `k` draws from `q(z|x) = N(mu, sigma²)`
/// (`[N, d]`): `logsumexp_k[log p(x|z_k) + log N(z_k; 0, I) − log q(z_k|x)] − log k`.
/// `log_lik` maps z `[k, N, d]` to `log p(x|z)` `[k, N]`.
pub fn importance_log_px(log_lik: impl Fn(&Tensor) -> Tensor, mu: &Tensor, sigma: &Tensor, k: i64) -> Tensor {
    let eps = Tensor::randn([k, mu.size()[0], mu.size()[1]], (mu.kind(), mu.device()));
    let z = mu.unsqueeze(0) + sigma.unsqueeze(0) * &eps;
    let half_log_2pi = 0.5 * (2.0 * std::f64::consts::PI).ln();
    let log_prior = (-z.square() / 2.0 - half_log_2pi).sum_dim_intlist(-1, false, Kind::Float);
    let log_q = (-eps.square() / 2.0 - sigma.log().unsqueeze(0) - half_log_2pi).sum_dim_intlist(-1, false, Kind::Float);
    (log_lik(&z) + log_prior - log_q).logsumexp([0], false) - (k as f64).ln()
}
