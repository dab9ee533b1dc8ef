//! Feature- and example-importance consistency measures (paper §4.1): masking the most
//! important input positions and the representation shift; similarity rates of the most /
//! least important training examples.

use crate::features::{anchors, Encoder};
use crate::params::check_percentage;
use crate::{LfxaiError, Result};
use tch::{Kind, Tensor};

/// Number of masked positions for `pct` % of `d` positions: `⌊pct·d/100⌋`.
pub fn masked_count(pct: f64, d: i64) -> Result<i64> {
    check_percentage("perturbation percentage", pct)?;
    Ok(((pct * d as f64) / 100.0 + 1e-9).floor() as i64)
}

/// Keep-masks `[B, 1, …spatial]` (1 = kept, 0 = masked) hiding the `⌊pct·D/100⌋` positions
/// with the largest `Σ_channels |attr|`; `attr` is `[B, C, …spatial]`, the mask is shared
/// across channels (spec P13).
pub fn top_masks(attr: &Tensor, pct: f64) -> Result<Tensor> {
    top_masks_along(attr, pct, 1)
}

/// [`top_masks`] with the channels on dimension `channel_dim` (2 for `[B, T, C]` series).
pub fn top_masks_along(attr: &Tensor, pct: f64, channel_dim: i64) -> Result<Tensor> {
    if attr.dim() < 2 || channel_dim < 1 || channel_dim >= attr.dim() as i64 {
        return Err(LfxaiError::invalid(
            "attributions",
            format!(
                "shape {:?} with channels on dimension {channel_dim}; need [B, …] with that dimension",
                attr.size()
            ),
        ));
    }
    let score = attr.abs().sum_dim_intlist(channel_dim, true, Kind::Float);
    let shape = score.size();
    let flat = score.flatten(1, -1);
    let d = flat.size()[1];
    let m = masked_count(pct, d)?;
    let mut keep = flat.ones_like();
    if m > 0 {
        let order = flat.argsort_stable(true, 1, true);
        let top = order.narrow(1, 0, m);
        keep = keep.scatter_value(1, &top, 0.0);
    }
    Ok(keep.view(shape.as_slice()))
}

/// `x' = m ⊙ x + (1 − m) ⊙ x̄` with the masks of [`top_masks`] (broadcast over channels).
pub fn perturb(x: &Tensor, keep: &Tensor, replacement: &Tensor) -> Tensor {
    let keep = keep.to_kind(x.kind());
    x * &keep + replacement.to_kind(x.kind()) * (1.0 - &keep)
}

/// Squared representation shift `‖f(x) − f(x')‖²` per example, `[B]`.
pub fn representation_shift(encoder: Encoder<'_>, x: &Tensor, x_perturbed: &Tensor) -> Tensor {
    let (h, hp) = (anchors(encoder, x), anchors(encoder, x_perturbed));
    (h - hp).square().sum_dim_intlist(1, false, Kind::Float)
}

/// Similarity rates of the `k` most (`most = true`) or least important training examples:
/// `mean_x (1/k) Σ_{n ∈ top-k(x)} 1[y_n = y(x)]`. `scores` `[T, N]`.
pub fn similarity_rate(
    scores: &Tensor,
    test_labels: &Tensor,
    train_labels: &Tensor,
    k: i64,
    most: bool,
) -> Result<f64> {
    let (t, n) = (scores.size()[0], scores.size()[1]);
    if test_labels.size() != [t] || train_labels.size() != [n] {
        return Err(LfxaiError::invalid(
            "similarity rate labels",
            format!("{:?} / {:?} do not fit scores {:?}", test_labels.size(), train_labels.size(), scores.size()),
        ));
    }
    if n == 0 {
        return Err(LfxaiError::invalid("candidate subset", "is empty"));
    }
    if !(1..=n).contains(&k) {
        return Err(LfxaiError::invalid("similarity rate k", format!("{k}; must be in 1..={n}")));
    }
    // NaN scores (0/0) sort as smallest; +∞ (duplicates in DKNN) as largest.
    let s = scores.to_kind(Kind::Double).nan_to_num(f64::MIN, None, None);
    let idx = s.argsort_stable(true, 1, most).narrow(1, 0, k);
    let picked = train_labels.index_select(0, &idx.flatten(0, -1)).view([t, k]);
    let same = picked.eq_tensor(&test_labels.unsqueeze(1)).to_kind(Kind::Double);
    Ok(same.mean(Kind::Double).double_value(&[]))
}

/// `k = max(1, ⌊frac·N/100⌋)` for a selection percentage.
pub fn selected_count(pct: f64, n: i64) -> Result<i64> {
    check_percentage("selection percentage", pct)?;
    Ok((((pct * n as f64) / 100.0 + 1e-9).floor() as i64).clamp(1, n.max(1)))
}
