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
//! The method (tensors in, tensors out; no config, no files):
//!
//! | module | job |
//! |---|---|
//! | [`model`] | the explainer + approximator pair, its [`model::Settings`], one training step, explanations |
//! | [`chunks`] | k-of-F chunk geometry, mask up-sampling, masking in normalised space |
//! | [`sampling`] | Gumbel noise, relaxed k-hot samples, hard top-k and random masks, τ schedule |
//! | [`loss`] | CE with reference/mean/bits scaling, forward KL or the authors' k·KL(U‖p) |
//! | [`metrics`] | top-k, multi-shot, random-mask and rationale fidelity, JS strength, hit rate |
//! | [`baseline`] | saliency (from `xai-core`) pooled per chunk, under the same top-k fidelity |
//! | [`blackbox`] | the [`blackbox::BlackBox`] trait, closures as black boxes, the built-in classifiers |
//! | [`nets`] | explainers (ResNet_2x/4x/8x, U-Net, small CNN), approximators, black boxes; [`nets::pytorch`] loads willisk's state dicts |
//! | [`error`] | [`VibiError`] and [`Result`] |
//!
//! [`model::Settings::reference`] is willisk's objective; `tests/method_golden.rs` matches
//! the official code's arrays (explainer and approximator logits, relaxed samples from saved
//! Gumbel noise, masks, loss terms, fidelities, BatchNorm statistics). Defaults that differ
//! from the reference — clamped Gumbel uniforms drawn on the model's device, figures from the
//! best checkpoint, strength from the normalised input, 0·log 0 = 0 — are listed with their
//! reasons in the crate README ("Against the official code").
//!
//! The paper's experiments (the `vibi` binary, run through `xai_core::runner`):
//!
//! | module | job |
//! |---|---|
//! | [`experiments`] | the TOML [`experiments::Config`] (`[run]` is the shared table) and `run(session)` |
//! | [`experiments::config`] / [`experiments::grid`] | config tables, validation, the grid of cells and its mapping onto [`model::Settings`] |
//! | [`experiments::names`] | the TOML/JSON names of the method's enums (serde remote definitions) |
//! | [`experiments::pipeline`] | data → black box → one VIBI model per cell → summary and ours-vs-paper rows |
//! | [`experiments::cell`] | one cell: build, jump-start, train, test metrics, figures |
//! | [`experiments::trainer`] | the training loop of one model: validation, best weights, checkpoints |
//! | [`experiments::checkpoint`] | resume checkpoints and best weights, tied to the config fingerprint |
//! | [`experiments::logs`] | `metrics.csv` (per step, with wall time) and `epochs.csv` logs that survive a resume |
//! | [`experiments::figures`] | the three figure grids and the training curves |
//! | [`experiments::data`] | the synthetic-patches generator, MNIST and CIFAR-10 preparation, splits |
//! | [`experiments::blackbox_training`] | training the built-in black boxes |
//! | [`experiments::report`] | `summary.csv` rows and the ours-vs-paper table |
//!
//! Use with your own model (any `Fn(&Tensor) -> Tensor` giving logits is a black box;
//! `examples/quickstart.rs` trains one end to end):
//!
//! ```
//! use tch::{Device, Kind, Tensor};
//! use vibi::blackbox::{BlackBox, FnBlackBox};
//! use vibi::model::{Settings, Vibi};
//! use vibi::nets::{classifier, explainer, ClassifierArch, ExplainerArch};
//! # fn main() -> vibi::Result<()> {
//! let x = Tensor::randn([8, 1, 28, 28], (Kind::Float, Device::Cpu));
//! let black_box = FnBlackBox(|x: &Tensor| x.mean_dim(&[2i64, 3][..], false, Kind::Float).repeat([1, 10]));
//! let mut m = Vibi::new(
//!     Device::Cpu,
//!     [1, 28, 28],
//!     Box::new(|p| explainer(p, ExplainerArch::SmallCnn, 1, (28, 28), 1)),
//!     Box::new(|p| classifier(p, ClassifierArch::SmallCnn, 1, (28, 28), 10)),
//!     Settings::reference(4, 0.01), // `.l2x()` for L2X
//! )?;
//! m.train_step(&x, &black_box.probabilities(&x))?;
//! let top_k_mask = m.explain(&x); // [8, 49] with 4 ones per row
//! assert_eq!(top_k_mask.sum(Kind::Float).double_value(&[]), 8.0 * 4.0);
//! # Ok(()) }
//! ```

pub mod baseline;
pub mod blackbox;
pub mod chunks;
pub mod error;
pub mod experiments;
pub mod loss;
pub mod metrics;
pub mod model;
pub mod nets;
pub mod sampling;

pub use error::{Result, VibiError};
