//! # cdep
//!
//! CDEP — *Contextual Decomposition Explanation Penalization* (Rieger, Singh, Murdoch &
//! Yu, ICML 2020): train a network so that features a person marks as irrelevant (a
//! colour, a corner patch, a word) do not matter to its predictions, by penalising
//! their contextual-decomposition (CD) score during training.
//!
//! | module | job |
//! |---|---|
//! | [`cd`] | CD rules per layer family, [`cd::Sequential`] models, the LSTM classifier |
//! | [`penalty`] | the image, text and ISIC penalties on `(β, γ)` |
//! | [`baselines`] | RRR (input-gradient) and Expected-Gradients penalties |
//! | [`models`] | the paper's networks, built with PyTorch's initialisation |
//! | [`config`] | the experiment config (TOML) |
//! | [`train`] | one loop: prediction loss + λ·penalty, early stopping, best weights |
//! | [`experiments`] | data preparation and runs of every paper experiment |
//! | [`metrics`] | ROC-AUC and threshold-maximised F1 (ISIC) |
//! | [`vgg`] | VGG16 with torchvision's variable names (ISIC) |
//! | [`report`] | runs/summary/best CSVs, paper tables, figures |

pub mod baselines;
pub mod cd;
pub mod config;
mod error;
pub mod experiments;
pub mod metrics;
pub mod models;
pub mod penalty;
pub mod report;
pub mod train;
pub mod vgg;

pub use error::{CdepError, Result};
