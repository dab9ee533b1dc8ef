//! Input-gradient baselines CDEP is compared with: Right for the Right Reasons (RRR,
//! Ross et al. 2017) and Expected Gradients (Erion et al. 2019). Both need the gradient
//! of a gradient, so every input gradient here is taken with `create_graph`
//! (`xai_core::attribution::input_gradient`).
//!
//! The blob masks enter through a per-position weight map: penalties summed over
//! blobs `S_i` equal one penalty with `Σ_i S_i²` (RRR) or `Σ_i S_i` (EG) as weights.

pub mod eg;
pub mod rrr;

use crate::{CdepError, Result};
use tch::Tensor;

/// A differentiable model: inputs → logits.
pub type Model<'a> = &'a dyn Fn(&Tensor) -> Result<Tensor>;

/// An input that autograd can differentiate with respect to.
pub(crate) fn input_leaf(x: &Tensor) -> Tensor {
    x.detach().set_requires_grad(true)
}

/// Sums image gradients over channels (`[B, C, H, W] → [B, H, W]`); other shapes pass.
pub(crate) fn channel_sum(g: &Tensor) -> Tensor {
    if g.dim() == 4 {
        g.sum_dim_intlist(1, false, g.kind())
    } else {
        g.shallow_clone()
    }
}

/// Checks that a weight map fits the per-position shape of `x` (`[H, W]` for images,
/// `[F]` for vectors) and puts it on `x`'s device.
pub(crate) fn fit_weights(x: &Tensor, weights: &Tensor) -> Result<Tensor> {
    let xs = x.size();
    let want: Vec<i64> = if xs.len() == 4 { xs[2..].to_vec() } else { xs[1..].to_vec() };
    if weights.size() != want {
        return Err(CdepError::MaskShape {
            mask: weights.size(),
            input: xs,
            hint: format!("baseline weight maps are per position: {want:?}"),
        });
    }
    Ok(weights.detach().to_device(x.device()).to_kind(x.kind()))
}
