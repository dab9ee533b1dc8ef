//! # CLUE — Counterfactual Latent Uncertainty Explanations
//!
//! Antorán, Bhatt, Adel, Weller, Hernández-Lobato, "Getting a CLUE: A Method for Explaining
//! Uncertainty Estimates", ICLR 2021. A BNN trained by scale-adapted SG-HMC says how
//! uncertain it is about an input; CLUE searches the latent space of a generative model
//! for a nearby, on-manifold input about which the BNN is confident, and shows the change.
//!
//! | module | layer | what |
//! |---|---|---|
//! | [`bnn`] | method | MLP with classification / heteroscedastic-Gaussian heads; S weight samples stacked for one batched forward pass; safetensors save/load |
//! | [`sghmc`] | method | scale-adapted SG-HMC: Gamma-resampled per-tensor prior, clipping buffer, burn-in adaptation, momentum resampling |
//! | [`bnn_train`] | method | the SG-HMC schedule, the saved-sample FIFO, resumable state |
//! | [`uncertainty`] | method | entropy and standard-deviation decompositions (spec §4) |
//! | [`blocks`] | method | mixed continuous / one-hot layout, gauss_cat log-likelihood, straight-through decoding |
//! | [`vae`], [`vae_train`] | method | tabular VAE (pre-activation residual blocks, BatchNorm; gauss_cat or Bernoulli likelihood), fitting with best-ELBO selection |
//! | [`mnist_vae`] | method | the MNIST ResNet conv VAE (spec §5.5; Bernoulli pixel logits), trainable by [`vae_train::fit`] and searchable by CLUE |
//! | [`vaeac`] | method | tabular VAEAC (recognition, prior and generator nets, per-feature top masker, inpainting) |
//! | [`ufido`] | method | U-FIDO: concrete straight-through keep-masks filled by an inpainter |
//! | [`clue`] | method | the CLUE optimiser (batched Adam on z, per-row early stopping, trajectories, restarts) |
//! | [`baselines`] | method | one-step Sensitivity, Local-Sensitivity attribution (input-space CLUE: [`clue::InputSpace`]) |
//! | [`params`] | method | validated CLUE hyper-parameters |
//! | [`artificial`] | method | the ground truth of the evaluation framework (§8): VAEAC over x⊕y, under-VAE sampler, p_gt(y|x), benefits, log p_gt(x) |
//! | [`evaluation`] | method | knee score and importance-sampled log p(x) of the evaluation framework (§8) |
//! | [`experiments`] | experiments | TOML config, E1 real-data runs with the λ_x sweep, E2 MNIST and E3 MNIST-479 (MLP or ResNet VAE), E4 artificial-data framework, E7/E8 VAE ablations, E9 CLUE-start ablation, reports and figures |
//!
//! ## Usage on your own model
//!
//! Anything that returns class probabilities of S posterior samples can be explained:
//!
//! ```
//! use clue::{blocks::Blocks, clue::{Clue, ProbsFn}, params::ClueParams, vae::{TabularVae, VaeSpec}};
//! use tch::{Device, Kind, Tensor};
//! # fn main() -> clue::Result<()> {
//! // Three continuous features; an untrained VAE stands in for one fitted to your data.
//! let spec = VaeSpec { width: 16, depth: 2, latent_dim: 2 };
//! let vae = TabularVae::new(Blocks::new(&[1, 1, 1])?, spec, Device::Cpu)?;
//! // An ensemble of S = 4 linear classifiers: class probabilities [S, N, K].
//! let w = Tensor::randn([4, 3, 2], (Kind::Float, Device::Cpu));
//! let model = ProbsFn(move |x: &Tensor| x.unsqueeze(0).matmul(&w).softmax(2, Kind::Float));
//! let x0 = Tensor::randn([5, 3], (Kind::Float, Device::Cpu));
//! let out = Clue::new(ClueParams { lambda_x: 1.0, ..Default::default() })?.explain(&model, &vae, &x0)?;
//! assert_eq!(out.x_clue.size(), [5, 3]);
//! # Ok(()) }
//! ```

pub mod artificial;
pub mod baselines;
pub mod blocks;
pub mod bnn;
pub mod bnn_train;
pub mod clue;
mod error;
pub mod evaluation;
pub mod experiments;
pub mod mnist_vae;
pub mod params;
pub mod sghmc;
pub mod ufido;
pub mod uncertainty;
pub mod vae;
pub mod vae_train;
pub mod vaeac;

pub use error::{ClueError, Result};
