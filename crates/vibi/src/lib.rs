//! # vibi
//!
//! VIBI — "Explaining a black-box using deep variational information bottleneck approach"
//! (Bang et al., AAAI 2021), re-implemented on libtorch after willisk/VIBI, with the
//! authors' variants as options. β = 0 is L2X (Chen et al. 2018), see [`model::Method`].
//!
//! An explainer scores F chunks of the input; k of them are kept (relaxed k-hot Gumbel
//! samples while training, hard top-k at evaluation); an approximator must predict the
//! black box's output from the kept chunks alone; a β·KL(p(z|x) ‖ uniform) term is the
//! information bottleneck.
//!
//! | module | job |
//! |---|---|
//! | [`chunks`] | k-of-F chunk geometry, mask up-sampling, masking in normalised space |
//! | [`sampling`] | Gumbel noise, relaxed k-hot samples, hard top-k and random masks, τ schedule |
//! | [`nets`] | explainers (ResNet_2x/4x/8x, U-Net, small CNN), approximators, black boxes |
//! | [`logs`] | steps and epochs CSV logs that survive a resume |
//! | [`checkpoint`] | resume checkpoints and best weights, tied to the config fingerprint |
//! | [`trainer`] | the training loop of one model: validation, best weights, checkpoints |
//! | [`figures`] | the three figure grids and the training curves |
//! | [`loss`] | CE with reference/mean/bits scaling, forward KL or the authors' k·KL(U‖p) |
//! | [`adam`] | Adam with a state that checkpoints can save and restore |
//! | [`model`] | the explainer + approximator pair, one training step, explanations |
//! | [`blackbox`] | the [`blackbox::BlackBox`] trait and training of the built-in ones |
//! | [`metrics`] | top-k, multi-shot, random-mask and rationale fidelity, JS strength, hit rate |
//! | [`baseline`] | saliency (from `xai-core`) pooled per chunk, under the same top-k fidelity |
//! | [`data`] | the synthetic-patches generator, MNIST and CIFAR-10 preparation, splits |
//! | [`config`] | the TOML experiment config and its validation |
//! | [`experiment`] | the binary's pipeline: run folder, black box, cells, summary, tables |
//!
//! Use with your own model:
//!
//! ```no_run
//! use vibi::model::{Settings, Vibi};
//! use vibi::nets::{classifier, explainer, ClassifierArch, ExplainerArch};
//! # fn demo(x: &tch::Tensor, bb_probs: &tch::Tensor) -> vibi::Result<()> {
//! let mut m = Vibi::new(
//!     tch::Device::Cpu,
//!     [1, 28, 28],
//!     Box::new(|p| explainer(p, ExplainerArch::ResNet4x, 1, (28, 28), 1)),
//!     Box::new(|p| classifier(p, ClassifierArch::Resnet18, 1, (28, 28), 10)),
//!     Settings::reference(4, 0.01), // `.l2x()` for L2X
//! )?;
//! m.train_step(x, bb_probs)?; // bb_probs: your black box's softmax on x
//! let top_k_mask = m.explain(x); // [B, 49] with 4 ones per row
//! # Ok(()) }
//! ```

pub mod adam;
pub mod baseline;
pub mod blackbox;
pub mod checkpoint;
pub mod chunks;
pub mod config;
pub mod data;
pub mod experiment;
pub mod figures;
pub mod logs;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod nets;
pub mod sampling;
pub mod trainer;

pub use xai_core::{Error, Result};
