//! Expected Gradients as a training penalty: attributions of the true class's softmax
//! probability along paths from references drawn from the current batch.

use super::{channel_sum, fit_weights, input_leaf, Model};
use crate::{CdepError, Result};
use rand::Rng;
use tch::{Kind, Tensor};
use xai_core::attribution::input_gradient;

/// Which EG penalty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EgVariant {
    /// CDEP repository (`score_funcs.eg_scores_2d`): per sample, `k` references,
    /// attribution `Σ_k |∂p_y(z)/∂z| ⊙ |x − x'|` (summed, not averaged, over references
    /// and channels), penalty `Σ S ⊙ attr`. The reference loops over samples; here the
    /// samples' paths are stacked in chunks (same numbers, far fewer kernel calls).
    #[default]
    Repo,
    /// Erion et al.'s signed attribution `mean_k (x − x') ⊙ ∂p_y(z)/∂z` summed over
    /// channels, penalty `Σ |S ⊙ attr|` (`k = 1`: one path point per sample).
    Batched,
}

/// Path points for every sample: `k` references per sample from `refs` (uniformly,
/// with replacement), `α ~ U(0, 1)`. Rows are sample-major (`k` rows per sample).
fn path_points(x: &Tensor, refs: &Tensor, k: i64, rng: &mut impl Rng) -> (Tensor, Tensor) {
    let (b, n_ref) = (x.size()[0], refs.size()[0]);
    let idx: Vec<i64> = (0..b * k).map(|_| rng.gen_range(0..n_ref)).collect();
    let alpha: Vec<f32> = (0..b * k).map(|_| rng.gen::<f32>()).collect();
    let dev = x.device();
    let r = refs.index_select(0, &Tensor::from_slice(&idx).to_device(dev));
    let mut ashape = vec![b * k];
    ashape.extend(std::iter::repeat(1).take(x.dim() - 1));
    let a = Tensor::from_slice(&alpha).to_device(dev).to_kind(x.kind()).view(ashape.as_slice());
    let xs = x.repeat_interleave_self_int(k, 0, None::<i64>);
    let delta = &xs - &r;
    (r + a * &delta, delta)
}

/// Per-point gradients of the true-class probability, `[B·k, …]`, differentiable.
fn prob_grads(model: Model<'_>, z: &Tensor, y: &Tensor) -> Result<Tensor> {
    let z = input_leaf(z);
    let p = model(&z)?.f_softmax(-1, Kind::Float)?;
    let py = p.f_gather(1, &y.unsqueeze(1), false)?.sum(Kind::Float);
    Ok(input_gradient(&py, &z)?)
}

fn check(x: &Tensor, y: &Tensor, refs: &Tensor, k: i64) -> Result<()> {
    let b = x.size()[0];
    if y.size() != [b] {
        return Err(CdepError::invalid("labels", format!("{:?} for a batch of {b}", y.size())));
    }
    if k < 1 || refs.size().first().copied().unwrap_or(0) == 0 || refs.size()[1..] != x.size()[1..] {
        return Err(CdepError::invalid(
            "expected gradients",
            format!("need k ≥ 1 (got {k}) and references [K>0, …] matching {:?} (got {:?})", x.size(), refs.size()),
        ));
    }
    Ok(())
}

/// EG attributions (same shape as `x`, not summed over channels) of the true-class
/// probability: signed `mean_k (x−x') ⊙ g` (`Batched`) or `Σ_k |x−x'| ⊙ |g|` (`Repo`).
/// Not differentiable in the parameters (for analysis and tests).
pub fn attributions(
    model: Model<'_>,
    x: &Tensor,
    y: &Tensor,
    refs: &Tensor,
    k: i64,
    variant: EgVariant,
    rng: &mut impl Rng,
) -> Result<Tensor> {
    check(x, y, refs, k)?;
    let (z, delta) = path_points(&x.detach(), &refs.detach(), k, rng);
    let g = prob_grads(model, &z, &y.repeat_interleave_self_int(k, 0, None::<i64>))?.detach();
    let mut shape = vec![x.size()[0], k];
    shape.extend(&x.size()[1..]);
    let per = match variant {
        EgVariant::Batched => (delta * g).view(shape.as_slice()).mean_dim(1, false, x.kind()),
        EgVariant::Repo => (delta.abs() * g.abs()).view(shape.as_slice()).sum_dim_intlist(1, false, x.kind()),
    };
    Ok(per)
}

/// The EG penalty, handed to `sink` in chunks of at most `chunk_samples` samples so a
/// caller can run backward per chunk and bound memory; the chunks sum to the penalty.
/// `weights` = `Σ_i S_i` over the blobs (`[H, W]` or `[F]`); references are drawn from
/// the batch `x` itself, as the reference code does.
#[allow(clippy::too_many_arguments)]
pub fn penalty_chunks(
    model: Model<'_>,
    x: &Tensor,
    y: &Tensor,
    weights: &Tensor,
    k: i64,
    variant: EgVariant,
    chunk_samples: i64,
    rng: &mut impl Rng,
    sink: &mut dyn FnMut(Tensor) -> Result<()>,
) -> Result<()> {
    check(x, y, x, k)?;
    let w = fit_weights(x, weights)?;
    let b = x.size()[0];
    let (z_all, delta_all) = path_points(&x.detach(), &x.detach(), k, rng);
    let y_all = y.repeat_interleave_self_int(k, 0, None::<i64>);
    let step = chunk_samples.max(1);
    let mut start = 0;
    while start < b {
        let n = step.min(b - start);
        let (z, delta, yy) = (
            z_all.narrow(0, start * k, n * k),
            delta_all.narrow(0, start * k, n * k),
            y_all.narrow(0, start * k, n * k),
        );
        let g = prob_grads(model, &z, &yy)?;
        let pen = match variant {
            EgVariant::Repo => (channel_sum(&(delta.abs() * g.abs())) * &w).sum(Kind::Float),
            EgVariant::Batched => {
                let mut shape = vec![n, k];
                shape.extend(&x.size()[1..]);
                let attr = channel_sum(&(delta * g).view(shape.as_slice()).mean_dim(1, false, x.kind()));
                (attr * &w).abs().sum(Kind::Float)
            }
        };
        sink(pen)?;
        start += n;
    }
    Ok(())
}
