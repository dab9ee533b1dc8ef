//! # lfxai
//!
//! Label-free explainability for unsupervised models (J. Crabbé & M. van der Schaar,
//! *Label-Free Explainability for Unsupervised Models*, ICML 2022) on libtorch.
//!
//! ## Method (tensors in, tensors out; no files, no configs)
//!
//! | module | what |
//! |---|---|
//! | [`params`] | validated hyper-parameters: [`FeatureMethod`], [`AnchorPairing`], [`BaselineDraw`], [`LissaParams`], [`SimplexParams`] |
//! | [`features`] | label-free feature importance: Saliency, IG (Gauss–Legendre), GradientShap, Random around `⟨stopgrad f(x), f(x̃)⟩`; per-unit maps |
//! | [`examples`] | label-free example importance: influence functions (LiSSA, HVP by double backward), TracIn, SimplEx, deep k-NN |
//! | [`consistency`] | top-k masks, representation shift, similarity rates |
//! | [`nets`] | the MNIST conv autoencoder (PyTorch parameter names) and classifier, the ECG5000 LSTM autoencoder, pretext tasks |
//! | [`simclr`] | SimCLR on CIFAR-10: the CIFAR ResNet-18 and a tiny ResNet, NT-Xent, batched augmentations, the blur baseline |
//! | [`vae`] | the Burgess β-VAE / β-TCVAE (32×32, 64×64) and their losses |
//! | [`disentanglement`] | streaming disvae metrics over per-unit maps (Pearson, Spearman on a reservoir sample, cosine, entropy, active units) |
//!
//! ## Experiments (configs, run folders, reports, figures)
//!
//! | module | what |
//! |---|---|
//! | [`experiments`] | the TOML config and dispatch: `consistency_features`, `consistency_examples` (MNIST, ECG5000, CIFAR-10 with SimCLR), `roar_test`, `pretext`, `disvae` (MNIST, dSprites npz or procedural) |
//!
//! ## Example: explain your own encoder
//!
//! ```
//! use lfxai::{features::label_free_attribution, FeatureMethod};
//! use tch::{Device, Kind, Tensor};
//!
//! tch::manual_seed(0);
//! let w = Tensor::randn([3, 10], (Kind::Float, Device::Cpu));
//! let encoder = |x: &Tensor| x.matmul(&w.tr()).tanh(); // any differentiable Fn(&Tensor) -> Tensor
//! let x = Tensor::rand([8, 10], (Kind::Float, Device::Cpu));
//! let zero = Tensor::zeros([10], (Kind::Float, Device::Cpu));
//! for name in ["saliency", "integrated_gradients", "gradient_shap", "random"] {
//!     let method = FeatureMethod::from_name(name).unwrap();
//!     let attr = label_free_attribution(&encoder, &x, &zero, &method).unwrap();
//!     assert_eq!(attr.size(), [8, 10]);
//! }
//! ```

pub mod consistency;
pub mod disentanglement;
mod error;
pub mod examples;
pub mod experiments;
pub mod features;
pub mod nets;
pub mod params;
pub mod simclr;
pub mod vae;

pub use error::{LfxaiError, Result};
pub use params::{AnchorPairing, BaselineDraw, FeatureMethod, LissaParams, SimplexParams};
