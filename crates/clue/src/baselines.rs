//! Spec §7 gradient baselines: one-step Sensitivity counterfactuals and Local-Sensitivity
//! attributions of the uncertainty (input-space CLUE is [`crate::clue::InputSpace`]).

use crate::clue::UncertaintyModel;
use crate::Result;
use tch::{Kind, Tensor};

/// Weights of the uncertainty being explained: (total, aleatoric, epistemic).
pub type UncertaintyWeights = (f64, f64, f64);

/// `∂U/∂x` at `x0 [N, D]` (rows independent: the gradient of Σ_rows U).
pub fn uncertainty_gradient(model: &dyn UncertaintyModel, x0: &Tensor, w: UncertaintyWeights) -> Result<Tensor> {
    let x = x0.detach().copy().set_requires_grad(true);
    let u = model.decompose(&x)?.weighted(w.0, w.1, w.2).sum(Kind::Float);
    let mut g = Tensor::run_backward(&[u], &[&x], false, false);
    Ok(g.pop().expect("one input").detach())
}

/// One raw gradient step `x0 − η·∇_x U(x0)` (no clipping or projection).
pub fn sensitivity_step(model: &dyn UncertaintyModel, x0: &Tensor, eta: f64, w: UncertaintyWeights) -> Result<Tensor> {
    if eta == 0.0 {
        return Ok(x0.detach().copy());
    }
    Ok(x0.detach() - uncertainty_gradient(model, x0, w)? * eta)
}

/// Per-feature `|∂U/∂x_j|` at each row `[N, D]` (Local-Sensitivity attribution).
pub fn local_sensitivity(model: &dyn UncertaintyModel, x0: &Tensor, w: UncertaintyWeights) -> Result<Tensor> {
    Ok(uncertainty_gradient(model, x0, w)?.abs())
}
