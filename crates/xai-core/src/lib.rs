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
