//! # xai-core
//!
//! The shared foundation of the xai-rs workspace. Each module has one job:
//!
//! | module | job |
//! |---|---|
//! | [`device`] | `auto|cpu|cuda` selection, seeding every RNG from one seed, thread count |
//! | [`config`] | TOML into typed structs with `--set a.b=value` overrides and clear errors |
//! | [`run`] | run folders: resolved config, metrics CSV, results JSON, `run.json`, atomic writes |
//! | [`runner`] | the experiment runner every method binary uses: config, device, run folder, resume, verdict, failures |
//! | [`optim`] | Adam and SGD with PyTorch's maths and a state checkpoints can carry |
//! | [`progress`] | indicatif bars on a terminal, one plain line per epoch elsewhere |
//! | [`figures`] | PNG image grids and heat-map overlays; line and bar charts |
//! | [`checkpoint`] | safetensors save/load of variable stores, atomic, shape-checked |
//! | [`train`] | shuffled mini-batches, epoch loop, early stopping with best-weights restore |
//! | [`attribution`] | saliency, input×gradient, IG, GradientShap, Expected Gradients behind one call |
//! | [`nn`] | layers initialised as PyTorch does, and small shared models |
//! | [`report`] | "ours vs paper" tables with tolerances |
//! | [`data`] | dataset registry, loaders for the original formats, generators |
//!
//! Every attribution method sits behind one `attribute` call; here Integrated Gradients of a
//! linear score, whose attributions must sum to f(x) − f(0) (completeness):
//!
//! ```
//! use tch::{Kind, Tensor};
//! use xai_core::attribution::{Attribution, IntegratedGradients, Target};
//! # fn main() -> xai_core::Result<()> {
//! let w = Tensor::from_slice(&[1.0f32, -2.0, 0.5]);
//! let model = |x: &Tensor| x.matmul(&w); // [B, 3] → [B] scores
//! let x = Tensor::from_slice(&[2.0f32, 1.0, 4.0]).view([1, 3]);
//! let attr = IntegratedGradients::new(32).attribute(&model, &x, &Target::Scalar)?;
//! let total = attr.sum(Kind::Float).double_value(&[]);
//! assert!((total - (2.0 - 2.0 + 2.0)).abs() < 1e-4);
//! # Ok(()) }
//! ```

pub mod attribution;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod data;
pub mod device;
mod error;
pub mod figures;
pub mod fsutil;
pub mod nn;
pub mod optim;
pub mod progress;
pub mod report;
pub mod run;
pub mod runner;
pub mod train;

pub use error::{Error, Result};
