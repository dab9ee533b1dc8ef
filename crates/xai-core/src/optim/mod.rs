//! Optimisers with PyTorch's update rules whose state is plain named tensors, so that a
//! checkpoint can carry moments and step counts and a resumed run continues exactly.
//! (tch's own optimisers keep their state inside libtorch with no way to save it.)
//!
//! Updates run in place on buffers allocated once, so a step allocates nothing.

mod adam;
mod sgd;

pub use adam::{Adam, AdamConfig};
pub use sgd::{Sgd, SgdConfig};

use crate::{Error, Result};
use std::collections::BTreeMap;
use tch::nn::VarStore;
use tch::Tensor;

/// What a training loop needs from an optimiser.
pub trait Optimizer {
    /// Clears the gradients of every optimised variable.
    fn zero_grad(&mut self);
    /// One update of every variable that has a gradient.
    fn step(&mut self);
    /// `zero_grad`, `loss.backward()`, `step`.
    fn backward_step(&mut self, loss: &Tensor) {
        self.zero_grad();
        loss.backward();
        self.step();
    }
    fn learning_rate(&self) -> f64;
    fn set_learning_rate(&mut self, lr: f64);
    /// The state as named tensors under `prefix`, for a checkpoint.
    fn state(&self, prefix: &str) -> Vec<(String, Tensor)>;
    /// Restores a [`Optimizer::state`]; every entry must be present with the right shape.
    fn load_state(&mut self, prefix: &str, tensors: &BTreeMap<String, Tensor>) -> Result<()>;
}

/// The trainable variables of `vs`, sorted by name so that state files are stable.
pub(crate) fn trainable(vs: &VarStore) -> Vec<(String, Tensor)> {
    let trainable = vs.trainable_variables();
    let mut vars: Vec<(String, Tensor)> =
        vs.variables().into_iter().filter(|(_, t)| trainable.iter().any(|u| u.data_ptr() == t.data_ptr())).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// Fetches `key` from a checkpoint's tensors, checking its shape against `like`.
pub(crate) fn state_entry(tensors: &BTreeMap<String, Tensor>, key: &str, like: Option<&Tensor>) -> Result<Tensor> {
    let t =
        tensors.get(key).ok_or_else(|| Error::invalid("optimiser state", format!("{key} missing from checkpoint")))?;
    if let Some(like) = like {
        if t.size() != like.size() {
            return Err(Error::invalid(
                "optimiser state",
                format!("{key}: shape {:?} in checkpoint, {:?} in model", t.size(), like.size()),
            ));
        }
    }
    Ok(t.shallow_clone())
}

pub(crate) fn check_hyper(what: &str, value: f64, ok: bool, expected: &str) -> Result<()> {
    if ok && value.is_finite() {
        Ok(())
    } else {
        Err(Error::invalid(what, format!("{value} (expected {expected})")))
    }
}

#[cfg(test)]
mod tests;
