//! Right for the Right Reasons: penalise input gradients on the annotated positions.

use super::{channel_sum, fit_weights, input_leaf, Model};
use crate::Result;
use tch::{Kind, Reduction, Tensor};
use xai_core::attribution::input_gradient;

/// Which input gradient RRR penalises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RrrVariant {
    /// CDEP repository (`score_funcs.gradient_sum`): gradient of the batch-mean
    /// prediction loss, summed over channels, then `Σ (S ⊙ g)²`.
    #[default]
    Repo,
    /// Ross et al.: gradient of `Σ_k log p_k(x)`, `Σ (S ⊙ g)²` per channel.
    Ross,
}

/// The RRR penalty for inputs `x` with labels `y` (int64 `[B]`) and per-position
/// weights `weights` (`Σ_i S_i²` over the blobs: `[H, W]` or `[F]`). Differentiable in
/// the model's parameters.
pub fn penalty(model: Model<'_>, x: &Tensor, y: &Tensor, weights: &Tensor, variant: RrrVariant) -> Result<Tensor> {
    let w = fit_weights(x, weights)?;
    let x = input_leaf(x);
    let logits = model(&x)?;
    let logp = logits.f_log_softmax(-1, Kind::Float)?;
    match variant {
        RrrVariant::Repo => {
            let loss = logp.f_nll_loss(y, None::<Tensor>, Reduction::Mean, -100)?;
            let g = channel_sum(&input_gradient(&loss, &x)?);
            Ok((w * g.square()).sum(Kind::Float))
        }
        RrrVariant::Ross => {
            let g = input_gradient(&logp.sum(Kind::Float), &x)?;
            let w = if g.dim() == 4 { w.unsqueeze(0) } else { w };
            Ok((w * g.square()).sum(Kind::Float))
        }
    }
}
