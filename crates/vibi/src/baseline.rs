//! Saliency as a baseline explainer: |∂ max-logit / ∂x| of the black box averaged per
//! chunk (the authors' avg-pool), its k largest chunks kept, scored with the same top-k
//! fidelity as VIBI.

use crate::blackbox::BlackBox;
use crate::chunks::ChunkGrid;
use crate::sampling::topk_mask;
use crate::Result;
use tch::Tensor;
use xai_core::attribution::{Attribution, Saliency, Target};

/// Top-k chunk masks `[B, F]` from saliency of the black box's predicted class.
pub fn saliency_masks(bb: &dyn BlackBox, grid: &ChunkGrid, x: &Tensor, k: i64) -> Result<Tensor> {
    grid.check_k(k)?;
    let pred = bb.probabilities(x).argmax(-1, false);
    let f = |t: &Tensor| bb.logits(t);
    let attr = Saliency::default().attribute(&f, x, &Target::PerExample(pred))?;
    Ok(topk_mask(&grid.pool(&attr), k))
}
