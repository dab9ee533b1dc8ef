//! E5's MNIST side of the §8 framework, where it differs from the tables of E4: the real
//! digits the ground truth is fitted to, and the two explainer models that score pixels with
//! a Bernoulli likelihood (spec §5.2) instead of gauss_cat. Everything else is E4's runner.

use super::digits::{train_digit_vae, DigitVae, TrainedVae};
use super::real::subsample;
use super::Config;
use crate::blocks::Blocks;
use crate::vae::TabularVae;
use crate::vae_train::VaeFit;
use crate::vaeac::{Vaeac, VaeacLikelihood};
use anyhow::{bail, Result};
use tch::Tensor;
use xai_core::runner::Session;

/// The real split sizes the spec's artificial MNIST copies (§8.3: 50 000 + 5 000).
pub(super) const SPLIT_SIZES: (usize, usize) = (50_000, 5_000);

/// `[train_subset]` real MNIST train digits as `[N, 784]` grey levels in [0, 1] and their labels.
pub(super) fn real_digits(cfg: &Config, root: &std::path::Path, seed: u64) -> Result<(Tensor, Tensor)> {
    let m = xai_core::data::mnist::load(root)?;
    Ok(subsample(&m.train_images.flatten(1, -1), &m.train_labels, cfg.data.train_subset, seed))
}

/// The explainer VAE: E2's MLP Bernoulli VAE (`[vae] arch = "mlp"`), fitted on the artificial
/// digits with best-validation-ELBO selection, or reloaded on resume.
pub(super) fn explainer_vae(
    session: &mut Session<'_, Config>,
    train_x: &Tensor,
) -> Result<(TabularVae, Option<VaeFit>)> {
    let TrainedVae { vae, fit, .. } = train_digit_vae(session, train_x)?;
    match vae {
        DigitVae::Mlp(v) => Ok((*v, fit)),
        DigitVae::Resnet(_) => bail!("vae.arch: the artificial MNIST framework uses the MLP VAE"),
    }
}

/// U-FIDO's label-free inpainter: a Bernoulli VAEAC over the 784 pixels (sigmoid grey levels
/// fill the dropped pixels), fitted and kept for resume as E1 / E4's gauss_cat one.
pub(super) fn inpainter(session: &Session<'_, Config>, train_x: &Tensor) -> Result<Vaeac> {
    super::real::fit_or_load_inpainter(session, &Blocks::continuous(784)?, "mnist", VaeacLikelihood::Bernoulli, train_x)
}
