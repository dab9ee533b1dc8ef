//! CDEP's explanation penalties on a decomposition `(β, γ)` of the logits. Each pair is
//! normalised by a 2-way softmax, `softmax([β, γ])₀ = σ(β − γ)`, the share of the
//! blob; written with `sigmoid`/`softplus` so nothing overflows for large logits.

use crate::cd::Decomp;
use crate::{CdepError, Result};
use tch::Tensor;

/// The blob's share `σ(β − γ)` for every entry.
pub fn share(d: &Decomp) -> Tensor {
    (&d.rel - &d.irrel).sigmoid()
}

/// Image penalty (ColorMNIST, DecoyMNIST, COMPAS): the blob's share averaged over
/// samples and every class logit. 0.5 when `β = γ`, → 1 when `β ≫ γ`, 0 for an empty
/// batch.
pub fn image(d: &Decomp) -> Tensor {
    if d.rel.numel() == 0 {
        return Tensor::zeros([], (d.rel.kind(), d.rel.device()));
    }
    // In the input's dtype: f64 end to end when the model and data are f64.
    share(d).mean(d.rel.kind())
}

/// The image penalty summed over `n_blobs` blobs that were decomposed as one stacked
/// batch (rows blob-major: `[blob 0 × B, blob 1 × B, …]`). With equal batch sizes per
/// blob the sum of per-blob means is `n_blobs ×` the overall mean.
pub fn image_blobs(d: &Decomp, n_blobs: i64) -> Tensor {
    image(d) * n_blobs as f64
}

/// Text penalty (SST): for samples containing a flagged word (`flagged`, `[B]` 0/1), the
/// cross-entropy that pushes the true-class logit pair onto the irrelevant part,
/// `−log softmax([β_y, γ_y])₁ = softplus(β_y − γ_y)`, averaged over those samples.
/// Unflagged samples do not change it; with none flagged it is 0.
pub fn text(d: &Decomp, labels: &Tensor, flagged: &Tensor) -> Result<Tensor> {
    let b = d.rel.size()[0];
    if labels.size() != [b] || flagged.size() != [b] {
        return Err(CdepError::invalid(
            "text penalty",
            format!("labels {:?} and flags {:?} must both be [{b}]", labels.size(), flagged.size()),
        ));
    }
    let idx = labels.unsqueeze(1);
    let rel = d.rel.f_gather(1, &idx, false)?.squeeze_dim(1);
    let irrel = d.irrel.f_gather(1, &idx, false)?.squeeze_dim(1);
    let w = flagged.detach().to_kind(rel.kind());
    let kind = rel.kind();
    let total = ((rel - irrel).softplus() * &w).sum(kind);
    Ok(total / w.sum(kind).clamp_min(1.0))
}

/// ISIC penalty: over benign images with a patch (the rows of `d`), the blob's share for
/// each of the two classes averaged over images, then over classes. 0 for an empty batch.
pub fn isic(d: &Decomp) -> Tensor {
    image(d)
}

/// Checks a penalty weight: finite and not negative.
pub fn check_lambda(lambda: f64) -> Result<f64> {
    if !lambda.is_finite() || lambda < 0.0 {
        return Err(CdepError::invalid(
            "lambda",
            format!("{lambda}; the penalty weight must be finite and ≥ 0 (use method \"excluded\" for the ISIC baseline the reference encodes as λ = −1)"),
        ));
    }
    Ok(lambda)
}

/// CDEP's image penalty for a batch `x` and `n` blobs `masks: [n, …]` (per-position
/// shapes as [`Decomp::from_mask`] takes for one example, e.g. `[n, H, W]` or `[n, F]`),
/// summed over blobs. All blobs go through CD as one stacked batch (see
/// [`crate::cd::Sequential::cd_blobs`]: it shares the blob-independent total with the
/// symmetric split and carries each blob's pair with the reference one).
pub fn image_cdep(
    model: &crate::cd::Sequential,
    x: &Tensor,
    masks: &Tensor,
    opts: &crate::cd::CdOptions,
) -> Result<Tensor> {
    let nb = blob_count(x, masks)?;
    let d = model.cd_blobs(x, &masks.to_device(x.device()), opts)?;
    Ok(image_blobs(&d, nb))
}

/// [`image_cdep`] and the eval-mode logits of `x` from the same pass (see
/// [`crate::cd::Sequential::cd_blobs_with_logits`]): the prediction loss of a network
/// without active dropout can use them and skip its own forward and backward pass.
pub fn image_cdep_with_logits(
    model: &crate::cd::Sequential,
    x: &Tensor,
    masks: &Tensor,
    opts: &crate::cd::CdOptions,
) -> Result<(Tensor, Tensor)> {
    let nb = blob_count(x, masks)?;
    let (d, logits) = model.cd_blobs_with_logits(x, &masks.to_device(x.device()), opts)?;
    Ok((image_blobs(&d, nb), logits))
}

/// The number of blobs in `masks`, after checking the stack fits `x`'s positions.
fn blob_count(x: &Tensor, masks: &Tensor) -> Result<i64> {
    let ms = masks.size();
    let per_example = &x.size()[1..];
    let pos = if x.dim() == 4 { &per_example[1..] } else { per_example };
    if ms.len() < 2 || ms[1..] != *pos {
        return Err(CdepError::MaskShape {
            mask: ms.clone(),
            input: x.size(),
            hint: format!(
                "blob stacks are [n_blobs, {}]",
                pos.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
            ),
        });
    }
    Ok(ms[0])
}
