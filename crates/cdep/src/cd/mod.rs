//! Contextual decomposition (Murdoch et al. 2018; Singh et al. 2019), the explanation
//! CDEP penalises.
//!
//! An input `x` is split by a 0/1 blob mask `S` into a relevant part `β = S⊙x` and an
//! irrelevant part `γ = (1−S)⊙x`. Every layer maps `(β, γ) → (β', γ')` so that
//! `β' + γ' = layer(β + γ)` (completeness); at the logits `β` is the blob's own
//! contribution and `γ` everything else, interactions included. CD runs with the model's
//! current weights inside the autograd graph, so a penalty on `(β, γ)` trains the model.
//!
//! One file per layer family: [`affine`] (linear, conv, batch norm and the bias split),
//! [`activation`], [`pool`] (max/avg/adaptive pooling, flatten), [`lstm`]. [`Sequential`]
//! walks a list of [`Layer`]s for both the forward pass and CD, so the two always share
//! parameters.
//!
//! ```no_run
//! use cdep::cd::{CdOptions, Layer, Sequential};
//! use tch::{Device, Kind, Tensor};
//! # fn main() -> cdep::Result<()> {
//! let opts = (Kind::Float, Device::Cpu);
//! let model = Sequential::new(vec![
//!     Layer::conv2d(Tensor::randn([4, 3, 3, 3], opts), Some(Tensor::randn([4], opts)), 1, 1),
//!     Layer::Relu,
//!     Layer::max_pool2d(2),
//!     Layer::Flatten,
//!     Layer::linear(Tensor::randn([10, 4 * 4 * 4], opts), Some(Tensor::randn([10], opts))),
//! ]);
//! let x = Tensor::randn([2, 3, 8, 8], opts);
//! let blob = Tensor::zeros([8, 8], opts);
//! let _ = blob.narrow(0, 0, 2).narrow(1, 0, 2).fill_(1.0); // the top-left 2×2 pixels
//! let d = model.cd(&x, &blob, &CdOptions::default())?; // the paper's CD (official code)
//! // The symmetric split is complete everywhere: β + γ = logits.
//! let d = model.cd(&x, &blob, &CdOptions::symmetric())?;
//! let logits = model.forward(&x, false)?;
//! assert!(d.total().allclose(&logits, 1e-4, 1e-4, false));
//! # Ok(()) }
//! ```

pub mod activation;
pub mod affine;
pub mod lstm;
pub mod pool;
mod sequential;
mod stacked;

pub use lstm::{LstmCdOptions, LstmClassifier};
pub use sequential::{CustomFn, Layer, Sequential};

use crate::{CdepError, Result};
use tch::Tensor;

/// A decomposition of some activation into a relevant and an irrelevant part.
#[derive(Debug)]
pub struct Decomp {
    /// β: the contribution of the blob alone.
    pub rel: Tensor,
    /// γ: everything else, interactions included.
    pub irrel: Tensor,
}

impl Decomp {
    /// Wraps two tensors of the same shape.
    pub fn new(rel: Tensor, irrel: Tensor) -> Self {
        Self { rel, irrel }
    }

    /// Splits `x` by a blob `mask`: `β = S⊙x`, `γ = (1−S)⊙x`.
    ///
    /// Accepted mask shapes for an input `[B, C, H, W]`: `[H, W]` (one blob for every
    /// example, broadcast over channels), `[B, H, W]`, `[1|B, 1|C, H, W]`; for `[B, F]`:
    /// `[F]` or `[1|B, F]`. The mask is treated as a constant (no gradient flows into it).
    pub fn from_mask(x: &Tensor, mask: &Tensor) -> Result<Self> {
        let mask = fit_mask(x, mask)?.detach().to_kind(x.kind());
        let rel = x * &mask;
        let irrel = x - &rel;
        Ok(Self { rel, irrel })
    }

    /// `β + γ`, which equals the layer output by completeness.
    pub fn total(&self) -> Tensor {
        &self.rel + &self.irrel
    }

    /// Applies a bias-free linear map to both parts in one call on the stacked batch
    /// (one larger kernel instead of two; the parts never mix since `f` acts per row).
    pub(crate) fn map_linear(&self, f: impl Fn(&Tensor) -> Result<Tensor>) -> Result<Self> {
        let n = self.rel.size().first().copied().unwrap_or(0);
        let both = f(&Tensor::f_cat(&[&self.rel, &self.irrel], 0)?)?;
        Ok(Self { rel: both.narrow(0, 0, n), irrel: both.narrow(0, n, n) })
    }
}

/// How a layer's bias is divided between the two parts.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum BiasSplit {
    /// `w_r = (|r|+ε)/(|r|+|i|+2ε)` (ACD form): where `r = i = 0` each part gets half the
    /// bias, so completeness holds everywhere. ε = 1e-20 is f32-safe ([`BiasSplit::SYMMETRIC`]).
    Symmetric { eps: f64 },
    /// The official CDEP code's form (`src/cd.py` `propagate_conv_linear`),
    /// `w_r = |r|/(|r|+|i|+1e-19)`: where `r = i = 0` exactly the bias goes to neither part,
    /// so `β + γ` differs from the layer output there (e.g. on a zero background). The default:
    /// it is the paper's CD as published.
    #[default]
    Reference,
}

impl BiasSplit {
    /// The symmetric split with ε = 1e-20.
    pub const SYMMETRIC: BiasSplit = BiasSplit::Symmetric { eps: 1e-20 };
}

/// Options of the image/MLP decomposition.
///
/// The default, [`CdOptions::reference`], is the paper's CD as the official code computes
/// it (conv → max-pool → ReLU, the reference bias split); it matches the official numbers
/// to float rounding (`tests/method_golden.rs`). [`CdOptions::symmetric`] keeps the same
/// order with a bias split that is complete everywhere, and [`CdOptions::forward_order`]
/// decomposes the layers in the network's own order.
///
/// **Max-pool winners.** [`Sequential`] picks each window's winner from the *forward*
/// activation (the ordinary eval pass at that point of the decomposition order), in both
/// [`Sequential::cd`] and [`Sequential::cd_blobs`], so ties (≈ 44 % of the first pooling
/// windows on ColorMNIST's constant background tie exactly) are broken the same way in
/// both, by libtorch's kernel (the first maximal index in the window), independent of
/// the blob. The official code picks from `β + γ`, which equals the forward activation up
/// to rounding except where its split dropped a bias; where it is exactly tied, rounding
/// decides there, so on tied inputs the two may pick different (equal-valued in the sum)
/// winners. Without ties the rules agree. [`pool::max_pool2d`] alone (a single layer,
/// no forward pass at hand) picks from `β + γ`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CdOptions {
    pub bias_split: BiasSplit,
    /// Decompose `ReLU → MaxPool2d` as `MaxPool2d → ReLU` (what the reference applies to
    /// its MNIST nets). Both orders are complete; they give different splits. The forward
    /// pass is unaffected.
    pub pool_before_relu: bool,
}

impl Default for CdOptions {
    fn default() -> Self {
        Self::reference()
    }
}

impl CdOptions {
    /// The paper's CD (official code): max-pool before ReLU, [`BiasSplit::Reference`].
    pub const fn reference() -> Self {
        Self { bias_split: BiasSplit::Reference, pool_before_relu: true }
    }

    /// Max-pool before ReLU with [`BiasSplit::SYMMETRIC`]: complete everywhere (`β + γ`
    /// equals the logits even on zero backgrounds); the experiments' configs default to it.
    pub const fn symmetric() -> Self {
        Self { bias_split: BiasSplit::SYMMETRIC, pool_before_relu: true }
    }

    /// The layers decomposed in the network's own order (ReLU before max-pool), symmetric split.
    pub const fn forward_order() -> Self {
        Self { bias_split: BiasSplit::SYMMETRIC, pool_before_relu: false }
    }
}

/// Brings a blob mask into a shape that broadcasts onto `x`, or says why it cannot.
pub fn fit_mask(x: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let xs = x.size();
    let ms = mask.size();
    let err = |hint: &str| CdepError::MaskShape { mask: ms.clone(), input: xs.clone(), hint: hint.into() };
    let shaped = match (xs.len(), ms.len()) {
        (4, 2) => mask.view([1, 1, ms[0], ms[1]]),
        (4, 3) => mask.unsqueeze(1),
        (4, 4) => mask.shallow_clone(),
        (2, 1) => mask.view([1, ms[0]]),
        (2, 2) => mask.shallow_clone(),
        (4, _) => return Err(err("expected [H, W], [B, H, W] or [B, C, H, W]")),
        (2, _) => return Err(err("expected [F] or [B, F]")),
        _ => return Err(err("inputs must be [B, F] or [B, C, H, W]")),
    };
    let ss = shaped.size();
    let fits = ss.iter().zip(&xs).all(|(m, x)| *m == *x || *m == 1);
    if !fits {
        return Err(err("every mask dimension must equal the input's or be 1"));
    }
    if shaped.device() != x.device() {
        return Ok(shaped.to_device(x.device()));
    }
    Ok(shaped)
}
