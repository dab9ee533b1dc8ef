//! # cdep
//!
//! CDEP — *Contextual Decomposition Explanation Penalization* (Rieger, Singh, Murdoch &
//! Yu, ICML 2020): train a network so that features a person marks as irrelevant (a
//! colour, a corner patch, a word) do not matter to its predictions, by penalising
//! their contextual-decomposition (CD) score during training.
//!
//! ## The method (tensors in, tensors out; no configs, no files)
//!
//! | module | job |
//! |---|---|
//! | [`cd`] | CD rules per layer family, [`cd::Sequential`] models, the LSTM classifier |
//! | [`penalty`] | the image, text and ISIC penalties on `(β, γ)` |
//! | [`baselines`] | RRR (input-gradient) and Expected-Gradients penalties |
//! | [`blobs`] | blob stacks per batch: fixed, or single pixels drawn from a position distribution |
//! | [`train`] | one loop: prediction loss + λ·penalty, early stopping, best weights |
//! | [`metrics`] | ROC-AUC and threshold-maximised F1 (ISIC) |
//! | [`nets`] | the paper's networks (MNIST CNNs, MLPs, LSTM, [`nets::vgg`]) with PyTorch's initialisation |
//!
//! ## The paper's experiments (configs, run folders, tables, figures)
//!
//! | module | job |
//! |---|---|
//! | [`experiments`] | `run(session)`: the sweep of one config through `xai_core::runner`, resumable cell by cell |
//! | [`experiments::config`] | the TOML config and its mapping onto the method's options |
//! | `experiments::{image, sst, compas, isic, isic_synth}` | one file per paper experiment |
//! | [`experiments::report`] | runs/summary/best CSVs, paper tables, charts |
//!
//! ## On your own model
//!
//! ```
//! use cdep::cd::{CdOptions, Layer, Sequential};
//! use cdep::penalty;
//! use tch::{Device, Kind, Tensor};
//! # fn main() -> cdep::Result<()> {
//! let opts = (Kind::Float, Device::Cpu);
//! let model = Sequential::new(vec![
//!     Layer::Flatten,
//!     Layer::linear(Tensor::randn([10, 3 * 8 * 8], opts), Some(Tensor::zeros([10], opts))),
//! ]);
//! let x = Tensor::randn([4, 3, 8, 8], opts);
//! let blobs = Tensor::zeros([1, 8, 8], opts); // one blob: the top-left 2×2 pixels
//! let _ = blobs.narrow(1, 0, 2).narrow(2, 0, 2).fill_(1.0);
//! let pen = penalty::image_cdep(&model, &x, &blobs, &CdOptions::default())?;
//! // loss = cross_entropy + λ · pen; back-propagate as usual.
//! # Ok(()) }
//! ```
//! `examples/quickstart.rs` trains a small model this way. A network without active
//! dropout can take the prediction loss's logits from the CD pass itself
//! ([`penalty::image_cdep_with_logits`]): one forward and one backward per step instead
//! of two, as the experiments do.

pub mod baselines;
pub mod blobs;
pub mod cd;
mod error;
pub mod experiments;
pub mod metrics;
pub mod nets;
pub mod penalty;
pub mod train;

pub use error::{CdepError, Result};
