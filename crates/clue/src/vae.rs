//! Spec §5.1–5.2: the tabular VAE over mixed continuous / one-hot blocks (gauss_cat
//! likelihood), with pre-activation residual blocks and BatchNorm, named as the official
//! `VAE_gauss_cat` module so that its `state_dict` loads directly. Also serves as the
//! small MLP VAE of the smoke configs (width 64, depth 2).

use crate::blocks::Blocks;
use crate::{ClueError, Result};
use std::path::Path;
use tch::nn::{self, Module, ModuleT};
use tch::{Device, Kind, Tensor};

/// Sizes of a tabular VAE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VaeSpec {
    pub width: usize,
    /// Residual levels: `depth − 1` pre-activation blocks in encoder and decoder (≥ 1).
    pub depth: usize,
    pub latent_dim: usize,
}

impl VaeSpec {
    pub fn validate(&self) -> Result<()> {
        for (name, v) in [("width", self.width), ("depth", self.depth), ("latent_dim", self.latent_dim)] {
            if v == 0 {
                return Err(ClueError::invalid(format!("vae.{name}"), "must be ≥ 1"));
            }
        }
        Ok(())
    }
}

/// PyTorch's BatchNorm defaults (weight 1, bias 0); tch starts the weight at U(0, 1).
pub(crate) fn bn_config() -> nn::BatchNormConfig {
    nn::BatchNormConfig {
        ws_init: nn::Init::Const(1.0),
        bs_init: nn::Init::Const(0.0),
        eps: 1e-5,
        momentum: 0.1,
        ..Default::default()
    }
}

pub(crate) fn bn(p: nn::Path, dim: usize) -> nn::BatchNorm {
    nn::batch_norm1d(p, dim as i64, bn_config())
}

/// `out = h + Linear(BN(LeakyReLU(h)))`.
#[derive(Debug)]
struct PreAct {
    bn: nn::BatchNorm,
    lin: nn::Linear,
}

impl PreAct {
    fn new(p: nn::Path, w: usize) -> Self {
        let inner = &p / "inner_net";
        Self { bn: bn(&inner / "1", w), lin: xai_core::nn::linear(&inner / "2", w as i64, w as i64) }
    }
    fn forward_t(&self, h: &Tensor, train: bool) -> Tensor {
        h + self.lin.forward(&self.bn.forward_t(&h.leaky_relu(), train))
    }
}

#[derive(Debug)]
pub(crate) struct Net {
    first: nn::Linear,
    blocks: Vec<PreAct>,
    bn: nn::BatchNorm,
    last: nn::Linear,
    /// Encoder: blocks, LReLU, BN, Linear. Decoder: LReLU, BN, blocks, Linear.
    norm_first: bool,
}

impl Net {
    pub(crate) fn new(p: nn::Path, d_in: usize, d_out: usize, spec: &VaeSpec, decoder: bool) -> Self {
        let b = &p / "block";
        let w = spec.width;
        let first = xai_core::nn::linear(&b / "0", d_in as i64, w as i64);
        let (bn_idx, block0) = if decoder { (2, 3) } else { (spec.depth + 1, 1) };
        let blocks = (0..spec.depth - 1).map(|i| PreAct::new(&b / (block0 + i).to_string(), w)).collect();
        let bn = bn(&b / bn_idx.to_string(), w);
        let last = xai_core::nn::linear(&b / (spec.depth + 2).to_string(), w as i64, d_out as i64);
        Self { first, blocks, bn, last, norm_first: decoder }
    }
    pub(crate) fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = self.first.forward(x);
        if self.norm_first {
            h = self.bn.forward_t(&h.leaky_relu(), train);
        }
        for b in &self.blocks {
            h = b.forward_t(&h, train);
        }
        if !self.norm_first {
            h = self.bn.forward_t(&h.leaky_relu(), train);
        }
        self.last.forward(&h)
    }
}

/// Gaussian posterior `q(z|x) = N(mu, diag sigma²)`.
#[derive(Debug)]
pub struct Posterior {
    pub mu: Tensor,
    pub sigma: Tensor,
}

/// How the decoder's raw output scores x (spec §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Likelihood {
    /// Continuous `−(x − out)²`, categorical `−CE`; loss normalised by the feature count F.
    #[default]
    GaussCat,
    /// Bernoulli with logits on grey levels in [0, 1] (MNIST); decoded x = sigmoid(out);
    /// loss normalised by D.
    Bernoulli,
}

impl Likelihood {
    fn code(self) -> i64 {
        match self {
            Likelihood::GaussCat => 0,
            Likelihood::Bernoulli => 1,
        }
    }
}

/// The tabular VAE: encoder `q(z|x)`, decoder emitting D raw values laid out by `blocks`.
/// With [`Likelihood::Bernoulli`] and all-continuous blocks it is the MLP VAE of the MNIST
/// smoke configs.
pub struct TabularVae {
    pub blocks: Blocks,
    pub spec: VaeSpec,
    pub likelihood: Likelihood,
    pub vs: nn::VarStore,
    encoder: Net,
    decoder: Net,
}

impl std::fmt::Debug for TabularVae {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TabularVae").field("blocks", &self.blocks).field("spec", &self.spec).finish()
    }
}

/// Per-row ELBO terms.
#[derive(Debug)]
pub struct Elbo {
    /// `[N]` gauss_cat log-likelihood of x under the decoded z.
    pub log_lik: Tensor,
    /// `[N]` KL(q(z|x) ‖ N(0, I)).
    pub kl: Tensor,
}

impl Elbo {
    /// `[N]` log_lik − KL.
    pub fn value(&self) -> Tensor {
        &self.log_lik - &self.kl
    }
}

/// Closed-form `KL(N(mu, sigma²) ‖ N(0, 1))` summed over the last dim: `[N]`.
pub fn gaussian_kl(mu: &Tensor, sigma: &Tensor) -> Tensor {
    ((sigma.square() + mu.square() - 1.0) * 0.5 - sigma.log()).sum_dim_intlist(-1, false, Kind::Float)
}

impl TabularVae {
    /// A freshly initialised VAE (PyTorch-default Linear init, BN weight 1 / bias 0).
    pub fn new(blocks: Blocks, spec: VaeSpec, device: Device) -> Result<Self> {
        spec.validate()?;
        let vs = nn::VarStore::new(device);
        let d = blocks.flat_dim();
        let encoder = Net::new(vs.root() / "encoder", d, 2 * spec.latent_dim, &spec, false);
        let decoder = Net::new(vs.root() / "decoder", spec.latent_dim, d, &spec, true);
        Ok(Self { blocks, spec, likelihood: Likelihood::GaussCat, vs, encoder, decoder })
    }

    /// The same model scoring x with `likelihood`.
    pub fn with_likelihood(mut self, likelihood: Likelihood) -> Self {
        self.likelihood = likelihood;
        self
    }

    pub fn flat_dim(&self) -> usize {
        self.blocks.flat_dim()
    }

    /// `q(z|x)`; σ = softplus clamped at 1e-3.
    pub fn encode_t(&self, x: &Tensor, train: bool) -> Posterior {
        let out = self.encoder.forward_t(x, train);
        let k = self.spec.latent_dim as i64;
        Posterior { mu: out.narrow(1, 0, k), sigma: out.narrow(1, k, k).softplus().clamp_min(1e-3) }
    }

    /// Raw decoder output `[N, D]` (continuous values and categorical logits).
    pub fn decode_raw_t(&self, z: &Tensor, train: bool) -> Tensor {
        self.decoder.forward_t(z, train)
    }

    /// Decoded input for CLUE (eval mode): straight-through one-hot categorical blocks.
    pub fn regenerate(&self, z: &Tensor) -> Tensor {
        let raw = self.decode_raw_t(z, false);
        match self.likelihood {
            Likelihood::GaussCat => self.blocks.straight_through(&raw),
            Likelihood::Bernoulli => raw.sigmoid(),
        }
    }

    /// Encoder mean in eval mode, without gradient.
    pub fn encode_mean(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| self.encode_t(x, false).mu)
    }

    /// ELBO terms of a batch with one reparameterised sample (`sample = false`: z = μ).
    pub fn elbo_t(&self, x: &Tensor, train: bool, sample: bool) -> Elbo {
        let q = self.encode_t(x, train);
        let z = if sample { &q.mu + &q.sigma * q.mu.randn_like() } else { q.mu.shallow_clone() };
        let out = self.decode_raw_t(&z, train);
        let log_lik = match self.likelihood {
            Likelihood::GaussCat => self.blocks.gauss_cat_log_lik(x, &out),
            Likelihood::Bernoulli => -out
                .binary_cross_entropy_with_logits::<Tensor>(x, None, None, tch::Reduction::None)
                .sum_dim_intlist(1, false, Kind::Float),
        };
        Elbo { log_lik, kl: gaussian_kl(&q.mu, &q.sigma) }
    }

    /// Training loss: `−mean(ELBO) / F`.
    pub fn loss(&self, x: &Tensor) -> Tensor {
        let norm = match self.likelihood {
            Likelihood::GaussCat => self.blocks.n_features(),
            Likelihood::Bernoulli => self.blocks.flat_dim(),
        };
        -self.elbo_t(x, true, true).value().mean(Kind::Float) / norm as f64
    }

    /// Stops gradients into the weights (CLUE only differentiates with respect to z).
    pub fn freeze(&mut self) {
        self.vs.freeze();
    }

    fn spec_tensor(&self) -> Tensor {
        let s = self.spec;
        Tensor::from_slice(&[s.width as i64, s.depth as i64, s.latent_dim as i64])
    }

    /// Saves weights, BN statistics, `spec` and `blocks` as safetensors.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named.push(("spec".into(), self.spec_tensor()));
        let widths: Vec<i64> = self.blocks.widths().iter().map(|&w| w as i64).collect();
        named.push(("blocks".into(), Tensor::from_slice(&widths)));
        named.push(("likelihood".into(), Tensor::from_slice(&[self.likelihood.code()])));
        Ok(xai_core::checkpoint::save_tensors(&named, path)?)
    }

    /// Loads a file written by [`TabularVae::save`] or an official `VAE_gauss_cat`
    /// `state_dict` (its `num_batches_tracked` entries are ignored). Errors, leaving the
    /// model unchanged, when a name is missing or a shape, the spec or the blocks differ.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let file: std::collections::HashMap<String, Tensor> =
            xai_core::checkpoint::load_tensors(path)?.into_iter().collect();
        if let Some(spec) = file.get("spec") {
            if spec.size() != [3]
                || spec.to_kind(Kind::Int64).ne_tensor(&self.spec_tensor()).any().int64_value(&[]) != 0
            {
                return Err(ClueError::checkpoint(
                    path,
                    format!("a VAE of another architecture (spec {spec:?} in file, {:?} here)", self.spec),
                ));
            }
        }
        if let Some(b) = file.get("blocks") {
            let widths: Vec<i64> = b.try_into().map_err(|e| ClueError::checkpoint(path, format!("blocks: {e}")))?;
            let ours: Vec<i64> = self.blocks.widths().iter().map(|&w| w as i64).collect();
            if widths != ours {
                return Err(ClueError::checkpoint(path, format!("blocks {widths:?} in file, {ours:?} here")));
            }
        }
        if let Some(l) = file.get("likelihood") {
            if l.int64_value(&[0]) != self.likelihood.code() {
                return Err(ClueError::checkpoint(path, format!("another likelihood than {:?}", self.likelihood)));
            }
        }
        copy_checked(&mut self.vs, &file, path, &["spec", "blocks", "likelihood"])
    }
}

/// Copies every variable of `vs` (weights and BN statistics) from `file`, after checking
/// that each is present with its shape and that `file` holds nothing else than them, the
/// `meta` entries and PyTorch's `num_batches_tracked`; on error `vs` is unchanged.
pub(crate) fn copy_checked(
    vs: &mut nn::VarStore,
    file: &std::collections::HashMap<String, Tensor>,
    path: &Path,
    meta: &[&str],
) -> Result<()> {
    let allowed = |k: &str| meta.contains(&k) || k.ends_with("num_batches_tracked");
    xai_core::checkpoint::copy_checked(vs, file, path, allowed).map_err(|e| match e {
        xai_core::Error::Checkpoint { message, .. } => ClueError::checkpoint(path, message),
        other => other.into(),
    })
}
