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
