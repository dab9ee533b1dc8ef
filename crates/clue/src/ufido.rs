//! Spec §7 U-FIDO: per input element a keep-probability p, optimised with Adam (lr 0.05,
//! StepLR period 5 × 0.8) through a concrete (relaxed Bernoulli, T = 0.1) straight-through
//! mask; dropped elements are filled in by an inpainting model without gradient.

use crate::clue::UncertaintyModel;
use crate::{ClueError, Result};
use tch::{Kind, Tensor};

/// U-FIDO hyper-parameters (official values by default).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UfidoParams {
    /// Weights of (total, aleatoric, epistemic) uncertainty.
    pub weights: (f64, f64, f64),
    /// L1w; the per-element penalty is L1w / D.
    pub l1_weight: f64,
    pub iterations: usize,
    /// Monte-Carlo masks per iteration for the first `early_iterations`, then `mask_samples_late`.
    pub mask_samples: usize,
    pub mask_samples_late: usize,
    pub early_iterations: usize,
    pub lr: f64,
    pub step_period: usize,
    pub gamma: f64,
    pub temperature: f64,
}

impl Default for UfidoParams {
    fn default() -> Self {
        Self {
            weights: (0.0, 1.0, 0.0),
            l1_weight: 1.0,
            iterations: 30,
            mask_samples: 20,
            mask_samples_late: 10,
            early_iterations: 11,
            lr: 0.05,
            step_period: 5,
            gamma: 0.8,
            temperature: 0.1,
        }
    }
}

/// What U-FIDO returns.
#[derive(Debug)]
pub struct UfidoOutput {
    /// `[N, D]` final keep-probabilities.
    pub keep_prob: Tensor,
    /// `[N, D]` 1 = replaced (round(p) = 0).
    pub replaced: Tensor,
    /// `[N, D]` the counterfactual: inpainted where replaced, x0 elsewhere.
    pub x: Tensor,
}

/// Runs U-FIDO on `x0 [N, D]`; `inpaint(x_kept, replaced_mask)` fills the replaced entries.
pub fn ufido(
    model: &dyn UncertaintyModel,
    inpaint: &dyn Fn(&Tensor, &Tensor) -> Result<Tensor>,
    x0: &Tensor,
    p: &UfidoParams,
) -> Result<UfidoOutput> {
    if !(p.l1_weight >= 0.0 && p.temperature > 0.0 && p.lr > 0.0) || p.iterations == 0 {
        return Err(ClueError::invalid("ufido", "needs l1_weight ≥ 0, temperature > 0, lr > 0, iterations ≥ 1"));
    }
    let d = x0.size()[1] as f64;
    let x0 = x0.detach();
    let mut prob = x0.full_like(0.5).set_requires_grad(true);
    let (mut m, mut v) = (prob.zeros_like(), prob.zeros_like());
    let eps = 1e-10;
    for it in 0..p.iterations {
        let lr = p.lr * p.gamma.powi((it / p.step_period.max(1)) as i32);
        let samples = if it < p.early_iterations { p.mask_samples } else { p.mask_samples_late };
        let mut terms = Vec::with_capacity(samples.max(1));
        for _ in 0..samples.max(1) {
            let u = prob.rand_like();
            let logit = (&prob + eps).log() - (-&prob + (1.0 + eps)).log();
            let soft = ((logit + (&u + eps).log() - (-&u + (1.0 + eps)).log()) / p.temperature).sigmoid();
            let keep = (soft.round() - &soft).detach() + &soft;
            let replaced = -&keep + 1.0;
            let filled = inpaint(&(&x0 * keep.detach()), &replaced.detach())?.detach();
            let x = &filled * &replaced + &x0 * &keep;
            let u_ = model.decompose(&x)?.weighted(p.weights.0, p.weights.1, p.weights.2);
            let cost = u_ + replaced.sum_dim_intlist(1, false, Kind::Float) * (p.l1_weight / d);
            terms.push(cost.sum(Kind::Float) / samples as f64);
        }
        prob.zero_grad();
        Tensor::stack(&terms, 0).sum(Kind::Float).backward();
        // log(p + ε) at p ∈ {0, 1} times a huge L1 weight overflows float32: keep the
        // gradient finite (Adam normalises its scale anyway).
        let g = prob.grad().nan_to_num(0.0, None, None).clamp(-1e15, 1e15);
        tch::no_grad(|| {
            let t = (it + 1) as i32;
            let _ = m.lerp_(&g, 0.1);
            let _ = v.g_mul_scalar_(0.999);
            let _ = v.addcmul_(&(&g * 0.001), &g);
            let denom = v.sqrt() / (1.0 - 0.999f64.powi(t)).sqrt() + 1e-8;
            let mut pr = prob.shallow_clone();
            let _ = pr.addcdiv_(&(&m * (-lr / (1.0 - 0.9f64.powi(t)))), &denom);
            let _ = pr.clamp_(0.0, 1.0);
        });
    }
    let keep_prob = prob.detach();
    let keep = keep_prob.round();
    let replaced = -&keep + 1.0;
    let filled = inpaint(&(&x0 * &keep), &replaced)?;
    let x = &filled * &replaced + &x0 * &keep;
    Ok(UfidoOutput { keep_prob, replaced, x })
}
