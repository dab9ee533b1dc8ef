//! Many blobs at once, cheaply (symmetric bias split; the reference split takes the
//! per-blob rules on the stacked batch, see `cd_blobs`). By completeness `β + γ` equals the ordinary (eval)
//! activation `h` at every layer boundary, and `h` does not depend on the blob. So for
//! `n` blobs only `β` needs a pass per blob; `h` runs once per batch and `γ = h − β`
//! where a rule needs it (the bias split's `|i|`; max pooling's winners come from `h`).
//! Affine maps of `γ` become `A(h) − A(β)`. Same numbers as `n` separate decompositions
//! up to rounding, at roughly half the cost.

use super::affine::{batch_norm_affine, BatchNormParams};
use super::{fit_mask, BiasSplit, CdOptions, Decomp, Layer, Sequential};
use crate::{CdepError, Result};
use tch::Tensor;

/// Relevant parts of `n` blobs `[n·B, …]` (blob-major) and the shared total `[B, …]`.
struct Stack {
    rel: Tensor,
    total: Tensor,
    n: i64,
}

impl Sequential {
    /// Decomposes the logits of `x` `[B, …]` for each of `n` blobs `masks: [n, …]` (each
    /// blob shaped as [`Decomp::from_mask`] accepts for the whole batch, e.g. `[n, H, W]`).
    /// Returns `(β, γ)` of shape `[n·B, C]`, blob-major.
    pub fn cd_blobs(&self, x: &Tensor, masks: &Tensor, opts: &CdOptions) -> Result<Decomp> {
        let n = *masks
            .size()
            .first()
            .ok_or_else(|| CdepError::invalid("blob stack", "a scalar is not a stack of masks"))?;
        let reference = opts.bias_split == BiasSplit::Reference && n > 0;
        let mut rels = Vec::with_capacity(n as usize);
        let mut irrels = Vec::new();
        for i in 0..n {
            let m = fit_mask(x, &masks.get(i))?.detach().to_kind(x.kind());
            let rel = x * m;
            if reference {
                irrels.push(x - &rel);
            }
            rels.push(rel);
        }
        let rel = if n == 0 { x.narrow(0, 0, 0) } else { Tensor::f_cat(&rels, 0)? };
        if reference {
            // The reference split drops a bias where both parts are exactly zero, so
            // `β + γ` is not the forward activation there and `γ = h − β` would differ
            // from the per-blob decomposition: carry `γ` per blob instead (≈ 2× the cost
            // of the shared-total path below; the same numbers as `n` calls of `cd`).
            let irrel = Tensor::f_cat(&irrels, 0)?;
            return self.propagate(Decomp { rel, irrel }, x.detach(), n, opts, None);
        }
        let mut s = Stack { rel, total: x.shallow_clone(), n };
        let mut i = 0;
        while i < self.layers().len() {
            let layers = self.layers();
            let swap = opts.pool_before_relu
                && matches!(layers[i], Layer::Relu)
                && matches!(layers.get(i + 1), Some(Layer::MaxPool2d { .. }));
            if swap {
                s = step(&layers[i + 1], s, opts, i + 1)?;
                s = step(&layers[i], s, opts, i)?;
                i += 2;
            } else {
                s = step(&layers[i], s, opts, i)?;
                i += 1;
            }
        }
        let irrel = (s.total.unsqueeze(0) - per_blob(&s.rel, s.n)).view_as(&s.rel);
        Ok(Decomp { rel: s.rel, irrel })
    }
}

/// `rel` viewed as `[n, B, …]` (a view: blob-major rows are contiguous per blob).
fn per_blob(rel: &Tensor, n: i64) -> Tensor {
    let mut shape = vec![n, -1];
    shape.extend(&rel.size()[1..]);
    rel.view(shape.as_slice())
}

/// The relevant part after an affine map: `β' = r + w_r·b` with `i = A(h) − r` formed by
/// broadcasting (no per-blob copy of the total); `γ'` is never materialised.
fn affine_step(s: &Stack, r: Tensor, a_total: Tensor, bias: Option<&Tensor>, opts: &CdOptions) -> Stack {
    match bias {
        Some(bias) => {
            let r5 = per_blob(&r, s.n);
            let i5 = a_total.unsqueeze(0) - &r5;
            let wr = match opts.bias_split {
                BiasSplit::Symmetric { eps } => {
                    let ar = r5.abs() + eps;
                    let denom = &ar + (i5.abs() + eps);
                    ar / denom
                }
                BiasSplit::Reference => {
                    let ar = r5.abs();
                    let denom = &ar + i5.abs() + 1e-19;
                    ar / denom
                }
            };
            let rel = (r5 + wr * bias).view_as(&r);
            Stack { rel, total: a_total + bias, n: s.n }
        }
        None => Stack { rel: r, total: a_total, n: s.n },
    }
}

fn step(layer: &Layer, s: Stack, opts: &CdOptions, index: usize) -> Result<Stack> {
    Ok(match layer {
        Layer::Linear { weight, bias } => {
            let wt = weight.tr();
            let (r, t) = (s.rel.f_matmul(&wt)?, s.total.f_matmul(&wt)?);
            affine_step(&s, r, t, bias.as_ref(), opts)
        }
        Layer::Conv2d { weight, bias, stride, padding } => {
            let conv = |x: &Tensor| x.f_conv2d(weight, None::<Tensor>, *stride, *padding, [1, 1], 1);
            let (r, t) = (conv(&s.rel)?, conv(&s.total)?);
            let b = bias.as_ref().map(|b| b.view([1, -1, 1, 1]));
            affine_step(&s, r, t, b.as_ref(), opts)
        }
        Layer::BatchNorm { weight, bias, running_mean, running_var, eps } => {
            let p =
                BatchNormParams { weight: weight.as_ref(), bias: bias.as_ref(), running_mean, running_var, eps: *eps };
            let (a, c) = batch_norm_affine(&p, s.rel.dim());
            let (r, t) = (s.rel.f_mul(&a)?, s.total.f_mul(&a)?);
            affine_step(&s, r, t, Some(&c), opts)
        }
        Layer::Relu => Stack { rel: s.rel.relu(), total: s.total.relu(), n: s.n },
        Layer::MaxPool2d { kernel, stride, padding } => {
            let (total, idx) = s.total.f_max_pool2d_with_indices(*kernel, *stride, *padding, [1, 1], false)?;
            // The winners come from the shared total; an expanded (stride-0) index reads
            // them for every blob without copying.
            let flat_idx = idx.flatten(2, -1).unsqueeze(0);
            let rel5 = per_blob(&s.rel, s.n).flatten(3, -1);
            let mut ishape = rel5.size();
            ishape[3] = flat_idx.size()[3];
            let picked = rel5.f_gather(3, &flat_idx.expand(ishape.as_slice(), false), false)?;
            let mut out = vec![s.rel.size()[0]];
            out.extend(&idx.size()[1..]);
            Stack { rel: picked.reshape(out.as_slice()), total, n: s.n }
        }
        Layer::AvgPool2d { kernel, stride, padding } => {
            let f = |x: &Tensor| x.f_avg_pool2d(*kernel, *stride, *padding, false, true, None::<i64>);
            Stack { rel: f(&s.rel)?, total: f(&s.total)?, n: s.n }
        }
        Layer::AdaptiveAvgPool2d { output } => {
            Stack { rel: s.rel.f_adaptive_avg_pool2d(*output)?, total: s.total.f_adaptive_avg_pool2d(*output)?, n: s.n }
        }
        Layer::Flatten => Stack { rel: s.rel.flatten(1, -1), total: s.total.flatten(1, -1), n: s.n },
        Layer::Dropout { .. } => s,
        Layer::Custom { name, .. } => return Err(CdepError::NoCdRule { index, name: name.clone() }),
    })
}
