//! # calimocho
//!
//! CALIMOCHO (S. Teso, *Toward Faithful Explanatory Active Learning with Self-explainable
//! Neural Nets*, IAL@ECML-PKDD 2019) on libtorch: a self-explaining net (SENN) whose
//! relevances w(x) are its explanation, trained from labels *and* partial explanation
//! corrections of a simulated user inside an active-learning loop, compared with LIME.
//!
//! ## Method (tensors in, tensors out; no files, no configs)
//!
//! | module | what |
//! |---|---|
//! | [`params`] | validated hyper-parameters: [`SennParams`], [`Lambdas`], [`ActiveParams`], [`Strategy`], [`LimeParams`] |
//! | [`senn`] | the self-explaining net: relevance layers of any depth, Glorot-uniform weights, zero biases, f = σ(Σ w·x) |
//! | [`losses`] | label log-loss L_y, explanation loss L_z, robustness R (double backprop), λ₀ = 1 − λ₁ − λ₂ |
//! | [`fit`] | [`Trainer`]: one Adam step per "epoch" on a ⌊√n⌋ minibatch drawn with replacement; warm and cold starts |
//! | [`user`] | the simulated user: c corrected entries per query, stored once |
//! | [`active`] | the explanatory active loop, strategies random / margin (most confident, as the reference) / least-confident |
//! | [`lime`] | LIME-tabular on categorical pixels, batched |
//! | [`measures`] | accuracy, F1, explanation precision/recall/F1@k, rule mass, Sim, Dis |
//!
//! ## Experiments (configs, run folders, reports, figures)
//!
//! | module | what |
//! |---|---|
//! | [`experiments`] | the TOML config, toy colors data and splits, dispatch |
//! | [`experiments::data`] | toy colors (file or generator) encoded once; seeded stratified folds and splits |
//! | [`experiments::active`] | Q2/Q3: active learning from partial corrections over strategies × widths × arms × folds |
//! | [`experiments::passive`] | offline learning with full explanations, checkpoints before steps 0/250/500/750 |
//! | [`experiments::lime_vs_senn`] | Q1: LIME's stability and agreement with the SENN's own relevances |
//! | [`experiments::summary`] | mean ± stderr over folds × seeds per arm and iteration (`summary.csv`) |
//! | [`experiments::report`] | ours-vs-spec rows and checks (spec §7 numbers beside ours) |
//! | [`experiments::figures`] | learning curves with bands over folds, LIME bars, explanation images |
//!
//! ## Example: the library on your own binary concept data
//!
//! ```
//! use calimocho::{fit::Start, SennParams, Trainer};
//! use tch::{Device, Kind, Tensor};
//!
//! xai_core::device::seed_everything(0);
//! // 64 rows of 5 binary concepts + a bias column; y = concept 0; the truth says so.
//! let x = Tensor::randint(2, [64, 6], (Kind::Float, Device::Cpu)).index_fill(1, &Tensor::from_slice(&[5i64]), 1.0);
//! let y = x.select(1, 0);
//! let z = Tensor::zeros([64, 6], (Kind::Float, Device::Cpu)).index_fill(1, &Tensor::from_slice(&[0i64]), 1.0);
//! let params = SennParams::with_widths(&[6]).lambdas(0.5, 0.0);
//! let rng = xai_core::device::seed_everything(0);
//! let mut trainer = Trainer::new(&params, 6, Device::Cpu, rng).unwrap();
//! let stats = trainer.fit(&x, &z, &y, 200, Start::Cold).unwrap();
//! assert!(stats.label < 0.7);
//! let w = trainer.senn.explain(&x); // [64, 6] relevances in (−1, 1)
//! assert_eq!(w.size(), [64, 6]);
//! ```

pub mod active;
mod error;
pub mod experiments;
pub mod fit;
pub mod lime;
pub mod losses;
pub mod measures;
pub mod params;
pub mod senn;
pub mod user;

pub use error::{CalimochoError, Result};
pub use fit::Trainer;
pub use params::{ActiveParams, Lambdas, LimeParams, SennParams, Strategy};
pub use senn::Senn;
