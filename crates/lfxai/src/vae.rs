//! The Burgess et al. VAE of the disvae experiment (β-VAE / β-TCVAE), 32×32 or 64×64 inputs,
//! and its losses. Parameters: 32²/d3 232,038 + 231,745; 64²/d6 249,996 + 248,929.

use crate::{LfxaiError, Result};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};
use xai_core::nn::{conv2d, linear, torch_default_init};

fn conv_t(p: nn::Path, cin: i64, cout: i64) -> nn::ConvTranspose2D {
    let init = torch_default_init(cout * 16);
    let cfg = nn::ConvTransposeConfig { stride: 2, padding: 1, ws_init: init, bs_init: init, ..Default::default() };
    nn::conv_transpose2d(p, cin, cout, 4, cfg)
}

/// `VAE(img_size, latent_dim)` with the Burgess encoder and decoder (32 channels, k4 s2 p1).
pub struct BurgessVae {
    pub vs: nn::VarStore,
    convs: Vec<nn::Conv2D>,
    enc_lin: Vec<nn::Linear>,
    dec_lin: Vec<nn::Linear>,
    deconvs: Vec<nn::ConvTranspose2D>,
    pub latent_dim: i64,
}

impl std::fmt::Debug for BurgessVae {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BurgessVae(d = {}, {} convs)", self.latent_dim, self.convs.len())
    }
}

impl BurgessVae {
    /// `img_size` 32 or 64, `channels` 1 (MNIST, dSprites) or 3.
    pub fn new(device: Device, img_size: i64, channels: i64, latent_dim: i64) -> Result<Self> {
        if img_size != 32 && img_size != 64 {
            return Err(LfxaiError::invalid("vae img_size", format!("{img_size}; must be 32 or 64")));
        }
        if latent_dim < 1 {
            return Err(LfxaiError::invalid("vae latent_dim", format!("{latent_dim}; must be at least 1")));
        }
        let vs = nn::VarStore::new(device);
        let (e, d) = (vs.root() / "encoder", vs.root() / "decoder");
        let n_conv = if img_size == 64 { 4 } else { 3 };
        let convs = (0..n_conv)
            .map(|i| conv2d(&e / format!("conv{i}"), if i == 0 { channels } else { 32 }, 32, 4, 2, 1))
            .collect();
        let enc_lin = vec![
            linear(&e / "lin1", 512, 256),
            linear(&e / "lin2", 256, 256),
            linear(&e / "mu_logvar_gen", 256, 2 * latent_dim),
        ];
        let dec_lin =
            vec![linear(&d / "lin1", latent_dim, 256), linear(&d / "lin2", 256, 256), linear(&d / "lin3", 256, 512)];
        let deconvs = (0..n_conv)
            .map(|i| conv_t(&d / format!("convT{i}"), 32, if i + 1 == n_conv { channels } else { 32 }))
            .collect();
        Ok(Self { vs, convs, enc_lin, dec_lin, deconvs, latent_dim })
    }

    /// `(μ, log σ²)`, each `[B, d]`; the last layer's output is interleaved `[μ_1, logσ²_1, μ_2, …]`.
    pub fn encode(&self, x: &Tensor) -> (Tensor, Tensor) {
        let mut h = x.shallow_clone();
        for c in &self.convs {
            h = c.forward(&h).relu();
        }
        let h = h.flatten(1, -1);
        let h = self.enc_lin[1].forward(&self.enc_lin[0].forward(&h).relu()).relu();
        let out = self.enc_lin[2].forward(&h).view([-1, self.latent_dim, 2]);
        (out.select(2, 0), out.select(2, 1))
    }

    pub fn decode(&self, z: &Tensor) -> Tensor {
        let mut h = z.shallow_clone();
        for l in &self.dec_lin {
            h = l.forward(&h).relu();
        }
        let mut h = h.view([-1, 32, 4, 4]);
        let n = self.deconvs.len();
        for (i, c) in self.deconvs.iter().enumerate() {
            h = c.forward(&h);
            h = if i + 1 == n { h.sigmoid() } else { h.relu() };
        }
        h
    }

    /// Reconstruction, μ, log σ² and the sample z (z = μ at evaluation).
    pub fn forward_t(&self, x: &Tensor, train: bool) -> (Tensor, Tensor, Tensor, Tensor) {
        let (mu, logvar) = self.encode(x);
        let z = if train { &mu + (&logvar * 0.5).exp() * mu.randn_like() } else { mu.shallow_clone() };
        (self.decode(&z), mu, logvar, z)
    }
}

/// Bernoulli reconstruction term: `BCE_sum / B`.
pub fn reconstruction_loss(recon: &Tensor, x: &Tensor) -> Tensor {
    recon.binary_cross_entropy::<Tensor>(x, None, tch::Reduction::Sum) / x.size()[0] as f64
}

/// `Σ_j mean_b ½(−1 − logσ² + μ² + σ²)`.
pub fn kl_normal(mu: &Tensor, logvar: &Tensor) -> Tensor {
    let terms: Tensor = (mu.square() + logvar.exp() - logvar - 1.0) * 0.5;
    terms.mean_dim(0, false, mu.kind()).sum(mu.kind())
}

/// β-VAE loss.
pub fn beta_vae_loss(recon: &Tensor, x: &Tensor, mu: &Tensor, logvar: &Tensor, beta: f64) -> Tensor {
    reconstruction_loss(recon, x) + kl_normal(mu, logvar) * beta
}

fn log_density_gaussian(z: &Tensor, mu: &Tensor, logvar: &Tensor) -> Tensor {
    let norm = -0.5 * (2.0 * std::f64::consts::PI).ln();
    (z - mu).square() * (-logvar).exp() * -0.5 - logvar * 0.5 + norm
}

/// The β-TCVAE decomposition (minibatch weighted sampling without the `log(NB)` constants):
/// `(MI, TC, DWKL)`, each a scalar mean over the batch.
pub fn tcvae_terms(z: &Tensor, mu: &Tensor, logvar: &Tensor) -> (Tensor, Tensor, Tensor) {
    let kind = z.kind();
    let log_qz_x = log_density_gaussian(z, mu, logvar).sum_dim_intlist(1, false, kind);
    let log_pz = log_density_gaussian(z, &z.zeros_like(), &z.zeros_like()).sum_dim_intlist(1, false, kind);
    let mat = log_density_gaussian(&z.unsqueeze(1), &mu.unsqueeze(0), &logvar.unsqueeze(0)); // [B, B, d]
    let log_qz = mat.sum_dim_intlist(2, false, kind).logsumexp(&[1i64][..], false);
    let log_prod = mat.logsumexp(&[1i64][..], false).sum_dim_intlist(1, false, kind);
    let mi = (&log_qz_x - &log_qz).mean(kind);
    let tc = (&log_qz - &log_prod).mean(kind);
    let dwkl = (log_prod - log_pz).mean(kind);
    (mi, tc, dwkl)
}

/// β-TCVAE loss `rec + α·MI + β·TC + γ·DWKL`.
#[allow(clippy::too_many_arguments)]
pub fn beta_tcvae_loss(
    recon: &Tensor,
    x: &Tensor,
    z: &Tensor,
    mu: &Tensor,
    logvar: &Tensor,
    (alpha, beta, gamma): (f64, f64, f64),
) -> Tensor {
    let (mi, tc, dwkl) = tcvae_terms(z, mu, logvar);
    reconstruction_loss(recon, x) + mi * alpha + tc * beta + dwkl * gamma
}

/// `log q(z|x) − log p(z)` averaged over the batch (what MI + TC + DWKL telescopes to).
pub fn log_ratio_mean(z: &Tensor, mu: &Tensor, logvar: &Tensor) -> Tensor {
    let kind = z.kind();
    let a = log_density_gaussian(z, mu, logvar).sum_dim_intlist(1, false, kind);
    let b = log_density_gaussian(z, &z.zeros_like(), &z.zeros_like()).sum_dim_intlist(1, false, kind);
    (a - b).mean(Kind::Double)
}
