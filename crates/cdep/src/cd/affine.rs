//! Affine layers: Linear, Conv2d and BatchNorm (eval). The bias-free map goes to each
//! part; the bias is divided in proportion to the parts' magnitudes.

use super::{BiasSplit, Decomp};
use crate::Result;
use tch::Tensor;

/// Splits `bias` (broadcastable to `r`) between the parts `r` and `i` of a bias-free
/// affine output: `β' = r + w_r·b`, `γ' = i + w_i·b`.
pub fn split_bias(r: Tensor, i: Tensor, bias: &Tensor, split: BiasSplit) -> Decomp {
    let (ar, ai) = (r.abs(), i.abs());
    let (wr, wi) = match split {
        BiasSplit::Symmetric { eps } => {
            let pr = &ar + eps;
            let pi = &ai + eps;
            let sum = &pr + &pi;
            (pr / &sum, pi / sum)
        }
        BiasSplit::Reference => {
            let sum = &ar + &ai + 1e-19;
            (ar / &sum, ai / sum)
        }
    };
    Decomp { rel: r + wr * bias, irrel: i + wi * bias }
}

/// `y = x Wᵀ + b` with `W: [out, in]`.
pub fn linear(d: &Decomp, weight: &Tensor, bias: Option<&Tensor>, split: BiasSplit) -> Result<Decomp> {
    let wt = weight.tr();
    let parts = d.map_linear(|x| Ok(x.f_matmul(&wt)?))?;
    Ok(match bias {
        Some(b) => split_bias(parts.rel, parts.irrel, b, split),
        None => parts,
    })
}

/// 2-d convolution with `weight: [out, in, kh, kw]`, any stride and padding.
pub fn conv2d(
    d: &Decomp,
    weight: &Tensor,
    bias: Option<&Tensor>,
    stride: [i64; 2],
    padding: [i64; 2],
    split: BiasSplit,
) -> Result<Decomp> {
    let parts = d.map_linear(|x| Ok(x.f_conv2d(weight, None::<Tensor>, stride, padding, [1, 1], 1)?))?;
    Ok(match bias {
        Some(b) => split_bias(parts.rel, parts.irrel, &b.view([1, -1, 1, 1]), split),
        None => parts,
    })
}

/// Parameters of an eval-mode batch norm over dimension 1.
#[derive(Debug)]
pub struct BatchNormParams<'a> {
    pub weight: Option<&'a Tensor>,
    pub bias: Option<&'a Tensor>,
    pub running_mean: &'a Tensor,
    pub running_var: &'a Tensor,
    pub eps: f64,
}

/// The per-channel scale `a` and shift `c` of `BN(x) = a·x + c`, shaped for an input of
/// `dims` dimensions.
pub fn batch_norm_affine(p: &BatchNormParams<'_>, dims: usize) -> (Tensor, Tensor) {
    let mut shape = vec![1i64, -1];
    shape.extend(std::iter::repeat(1).take(dims.saturating_sub(2)));
    let inv_std = (p.running_var + p.eps).rsqrt();
    let a = match p.weight {
        Some(w) => w * inv_std,
        None => inv_std,
    };
    let c = match p.bias {
        Some(b) => b - &a * p.running_mean,
        None => -(&a * p.running_mean),
    };
    (a.view(shape.as_slice()), c.view(shape.as_slice()))
}

/// BatchNorm in eval semantics: the scale goes to each part, the shift `c` is split
/// like a bias.
pub fn batch_norm(d: &Decomp, p: &BatchNormParams<'_>, split: BiasSplit) -> Result<Decomp> {
    let (a, c) = batch_norm_affine(p, d.rel.dim());
    let r = d.rel.f_mul(&a)?;
    let i = d.irrel.f_mul(&a)?;
    Ok(split_bias(r, i, &c, split))
}
