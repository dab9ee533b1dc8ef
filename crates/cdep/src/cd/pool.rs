//! Pooling and reshaping. Max pooling picks each window's winner on the *sum* `β+γ` and
//! reads both parts there; the linear ones (average pooling, flatten) apply to each part.

use super::Decomp;
use crate::Result;
use tch::Tensor;

/// Max pooling: argmax of `β+γ` per window, then `β` and `γ` gathered at those
/// indices (gather is differentiable, the indices are constants).
pub fn max_pool2d(d: &Decomp, kernel: [i64; 2], stride: [i64; 2], padding: [i64; 2]) -> Result<Decomp> {
    let (_, idx) = d.total().f_max_pool2d_with_indices(kernel, stride, padding, [1, 1], false)?;
    let flat_idx = idx.flatten(2, -1);
    let pick = |t: &Tensor| -> Result<Tensor> { Ok(t.flatten(2, -1).f_gather(2, &flat_idx, false)?.view_as(&idx)) };
    Ok(Decomp { rel: pick(&d.rel)?, irrel: pick(&d.irrel)? })
}

/// Reads `t` `[n·B, C, H, W]` (`n` stacks of a batch `B`, blob-major) at the max-pool
/// winners `idx` `[B, C, oh, ow]` (flat per-plane indices of one batch), the same winners
/// for every stack; the result is `[n·B, C, oh, ow]`.
pub fn gather_winners(t: &Tensor, idx: &Tensor, n: i64) -> Result<Tensor> {
    let s = t.size();
    let flat = t.view([n, s[0] / n.max(1), s[1], s[2] * s[3]]);
    let fi = idx.flatten(2, -1).unsqueeze(0);
    let mut shape = flat.size();
    shape[3] = fi.size()[3];
    let picked = flat.f_gather(3, &fi.expand(shape.as_slice(), false), false)?;
    let mut out = vec![s[0]];
    out.extend(&idx.size()[1..]);
    Ok(picked.reshape(out.as_slice()))
}

/// Average pooling (`count_include_pad = true`, as PyTorch's default).
pub fn avg_pool2d(d: &Decomp, kernel: [i64; 2], stride: [i64; 2], padding: [i64; 2]) -> Result<Decomp> {
    d.map_linear(|x| Ok(x.f_avg_pool2d(kernel, stride, padding, false, true, None::<i64>)?))
}

/// Adaptive average pooling to `output` (H, W).
pub fn adaptive_avg_pool2d(d: &Decomp, output: [i64; 2]) -> Result<Decomp> {
    d.map_linear(|x| Ok(x.f_adaptive_avg_pool2d(output)?))
}

/// Flattens every dimension after the batch.
pub fn flatten(d: &Decomp) -> Decomp {
    Decomp { rel: d.rel.flatten(1, -1), irrel: d.irrel.flatten(1, -1) }
}
