//! Gradient attributions for any differentiable `Fn(&Tensor) -> Tensor`, batched, all
//! behind one call shape (as in Captum):
//!
//! ```no_run
//! use xai_core::attribution::{Attribution, IntegratedGradients, Target};
//! # fn demo(model: &dyn Fn(&tch::Tensor) -> tch::Tensor, x: &tch::Tensor) -> xai_core::Result<()> {
//! let ig = IntegratedGradients::new(200);
//! let attr = ig.attribute(model, x, &Target::Index(3))?; // same shape as x
//! # Ok(()) }
//! ```
//!
//! `f` maps a batch `[B, …]` to `[B]` scores or `[B, C]` outputs; [`Target`] picks the
//! score for the latter. Attributions have the shape of the input.

mod gradient;
mod integrated_gradients;
mod path_sampling;
mod saliency;

pub use gradient::{gradient, input_gradient, select_target, Target};
pub use integrated_gradients::{gauss_legendre, IntegratedGradients, Rule};
pub use path_sampling::{ExpectedGradients, GradientShap, PathSampleOptions, SampleLayout};
pub use saliency::{InputXGradient, Saliency};

use crate::Result;
use tch::Tensor;

/// A differentiable model or score function.
pub type Forward<'a> = &'a dyn Fn(&Tensor) -> Tensor;

/// Every attribution method: same inputs, an attribution the shape of `x`.
pub trait Attribution {
    /// Short name for tables and figure captions.
    fn name(&self) -> &'static str;

    fn attribute(&self, f: Forward<'_>, x: &Tensor, target: &Target) -> Result<Tensor>;
}
