//! Spec §5.5: the MNIST ResNet conv VAE of the official `MNIST_recognition_resnet` /
//! `MNIST_generator_resnet`, Bernoulli likelihood on [0, 1] grey levels (spec §5.2).
//! Variables are named as the official `state_dict` (`encoder.block.3.weight`,
//! `decoder.block.6.net.5.weight`…), so that its weights load directly.
//!
//! Inputs and decoded images are flat `[N, 784]` rows, as CLUE and the BNN see them; the
//! nets reshape to `[N, 1, 28, 28]` inside.

use crate::clue::LatentDecoder;
use crate::vae::{bn, bn_config, copy_checked, gaussian_kl, Elbo, Posterior};
use crate::vae_train::TrainableVae;
use crate::{ClueError, Result};
use std::path::Path;
use tch::nn::{self, Module, ModuleT};
use tch::{Device, Kind, Tensor};

const SIDE: i64 = 28;
const PIXELS: i64 = SIDE * SIDE;
/// Channels × side² of the 4×4 bottleneck.
const FLAT: i64 = 128 * 4 * 4;
/// Inner width = 8 · channel multiple · 3, the official `width_mul`.
const WIDTH_MUL: i64 = 3;

fn bn2d(p: nn::Path, c: i64) -> nn::BatchNorm {
    nn::batch_norm2d(p, c, bn_config())
}

/// `nn.ConvTranspose2d` with PyTorch's initialisation: its weight is `[in, out, k, k]`, so
/// PyTorch's fan-in (dim 1 × receptive field) is `out·k²`, which also bounds the bias.
fn conv_transpose2d(p: nn::Path, in_ch: i64, out_ch: i64, k: i64, stride: i64, padding: i64) -> nn::ConvTranspose2D {
    let init = xai_core::nn::torch_default_init(out_ch * k * k);
    let cfg = nn::ConvTransposeConfig { stride, padding, ws_init: init, bs_init: init, ..Default::default() };
    nn::conv_transpose2d(p, in_ch, out_ch, k, cfg)
}

/// Full pre-activation bottleneck: `x + [BN, LReLU, 1×1 c→ci, BN, LReLU, 3×3 ci→ci, BN,
/// LReLU, 1×1 ci→c](x)`; indices as the official `nn.Sequential` `net`.
#[derive(Debug)]
struct ResBlock {
    bns: [nn::BatchNorm; 3],
    convs: [nn::Conv2D; 3],
}

impl ResBlock {
    fn new(p: nn::Path, c: i64, ci: i64) -> Self {
        let n = &p / "net";
        let conv = xai_core::nn::conv2d;
        Self {
            bns: [bn2d(&n / "0", c), bn2d(&n / "3", ci), bn2d(&n / "6", ci)],
            convs: [conv(&n / "2", c, ci, 1, 1, 0), conv(&n / "5", ci, ci, 3, 1, 1), conv(&n / "8", ci, c, 1, 1, 0)],
        }
    }
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = x.shallow_clone();
        for (b, c) in self.bns.iter().zip(&self.convs) {
            h = c.forward(&b.forward_t(&h, train).leaky_relu());
        }
        x + h
    }
}

/// Two ResBlocks at `c` channels (inner width `c / 4 · 3`) at `block` indices `i, i + 1`.
fn res_pair(p: &nn::Path, i: usize, c: i64) -> [ResBlock; 2] {
    let ci = c / 4 * WIDTH_MUL;
    [ResBlock::new(p / i.to_string(), c, ci), ResBlock::new(p / (i + 1).to_string(), c, ci)]
}

fn res_pair_t(pair: &[ResBlock; 2], x: &Tensor, train: bool) -> Tensor {
    pair[1].forward_t(&pair[0].forward_t(x, train), train)
}

/// 28² → 32 ch, 2 ResBlocks, ↓14² 64 ch, 2 ResBlocks, ↓7² 128 ch, 2 ResBlocks, ↓4² 128 ch,
/// LReLU, flatten, BN1d, Linear → 2d_z, residual [LReLU, BN1d, Linear 2d_z → 2d_z].
#[derive(Debug)]
struct Encoder {
    stem: nn::Conv2D,
    stages: [([ResBlock; 2], nn::Conv2D); 3],
    bn_flat: nn::BatchNorm,
    head: nn::Linear,
    skip_bn: nn::BatchNorm,
    skip_lin: nn::Linear,
}

impl Encoder {
    fn new(p: nn::Path, latent_dim: i64) -> Self {
        let b = &p / "block";
        let conv = xai_core::nn::conv2d;
        let two = 2 * latent_dim;
        let skip = &b / "14" / "inner_net";
        Self {
            stem: conv(&b / "0", 1, 32, 1, 1, 0),
            stages: [
                (res_pair(&b, 1, 32), conv(&b / "3", 32, 64, 4, 2, 1)),
                (res_pair(&b, 4, 64), conv(&b / "6", 64, 128, 4, 2, 1)),
                (res_pair(&b, 7, 128), conv(&b / "9", 128, 128, 3, 2, 1)),
            ],
            bn_flat: bn(&b / "12", FLAT as usize),
            head: xai_core::nn::linear(&b / "13", FLAT, two),
            skip_bn: bn(&skip / "1", two as usize),
            skip_lin: xai_core::nn::linear(&skip / "2", two, two),
        }
    }
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = self.stem.forward(&x.view([-1, 1, SIDE, SIDE]));
        for (pair, down) in &self.stages {
            h = down.forward(&res_pair_t(pair, &h, train));
        }
        let h = self.head.forward(&self.bn_flat.forward_t(&h.leaky_relu().flatten(1, -1), train));
        &h + self.skip_lin.forward(&self.skip_bn.forward_t(&h.leaky_relu(), train))
    }
}

/// Residual [Linear d_z → d_z, LReLU, BN1d] on z, Linear → 2048, LReLU, BN1d, 128×4×4,
/// ↑7² 128 ch, 2 ResBlocks, ↑14² 64 ch, 2 ResBlocks, ↑28² 32 ch, 2 ResBlocks, 1×1 → 1 logit.
#[derive(Debug)]
struct Decoder {
    skip_lin: nn::Linear,
    skip_bn: nn::BatchNorm,
    lin: nn::Linear,
    bn_flat: nn::BatchNorm,
    stages: [(nn::ConvTranspose2D, [ResBlock; 2]); 3],
    out: nn::Conv2D,
}

impl Decoder {
    fn new(p: nn::Path, latent_dim: i64) -> Self {
        let b = &p / "block";
        let skip = &b / "0" / "inner_net";
        Self {
            skip_lin: xai_core::nn::linear(&skip / "0", latent_dim, latent_dim),
            skip_bn: bn(&skip / "2", latent_dim as usize),
            lin: xai_core::nn::linear(&b / "1", latent_dim, FLAT),
            bn_flat: bn(&b / "3", FLAT as usize),
            stages: [
                (conv_transpose2d(&b / "5", 128, 128, 3, 2, 1), res_pair(&b, 6, 128)),
                (conv_transpose2d(&b / "8", 128, 64, 4, 2, 1), res_pair(&b, 9, 64)),
                (conv_transpose2d(&b / "11", 64, 32, 4, 2, 1), res_pair(&b, 12, 32)),
            ],
            out: xai_core::nn::conv2d(&b / "14", 32, 1, 1, 1, 0),
        }
    }
    /// Pixel logits `[N, 1, 28, 28]`.
    fn forward_t(&self, z: &Tensor, train: bool) -> Tensor {
        let z = z + self.skip_bn.forward_t(&self.skip_lin.forward(z).leaky_relu(), train);
        let mut h = self.bn_flat.forward_t(&self.lin.forward(&z).leaky_relu(), train).view([-1, 128, 4, 4]);
        for (up, pair) in &self.stages {
            h = res_pair_t(pair, &up.forward(&h), train);
        }
        self.out.forward(&h)
    }
}

/// The MNIST ResNet VAE: `q(z|x)` from the conv encoder, Bernoulli pixel logits from the
/// deconv decoder.
pub struct ResnetVae {
    pub latent_dim: usize,
    pub vs: nn::VarStore,
    encoder: Encoder,
    decoder: Decoder,
}

impl std::fmt::Debug for ResnetVae {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResnetVae").field("latent_dim", &self.latent_dim).finish()
    }
}

impl ResnetVae {
    /// A freshly initialised VAE (PyTorch-default Linear / Conv / ConvTranspose init, BN
    /// weight 1 / bias 0).
    pub fn new(latent_dim: usize, device: Device) -> Result<Self> {
        if latent_dim == 0 {
            return Err(ClueError::invalid("vae.latent_dim", "must be ≥ 1"));
        }
        let vs = nn::VarStore::new(device);
        let encoder = Encoder::new(vs.root() / "encoder", latent_dim as i64);
        let decoder = Decoder::new(vs.root() / "decoder", latent_dim as i64);
        Ok(Self { latent_dim, vs, encoder, decoder })
    }

    /// `q(z|x)` of flat images `[N, 784]`; σ = softplus clamped at 1e-3.
    pub fn encode_t(&self, x: &Tensor, train: bool) -> Posterior {
        let out = self.encoder.forward_t(x, train);
        let k = self.latent_dim as i64;
        Posterior { mu: out.narrow(1, 0, k), sigma: out.narrow(1, k, k).softplus().clamp_min(1e-3) }
    }

    /// Pixel logits `[N, 784]`.
    pub fn decode_logits_t(&self, z: &Tensor, train: bool) -> Tensor {
        self.decoder.forward_t(z, train).flatten(1, -1)
    }

    /// Errors unless `x` is `[N, 784]`.
    pub fn check_images(&self, x: &Tensor) -> Result<()> {
        if x.dim() != 2 || x.size()[1] != PIXELS {
            return Err(ClueError::bad_input("images", format!("expected flat [N, {PIXELS}], got {:?}", x.size())));
        }
        Ok(())
    }

    /// Stops gradients into the weights (CLUE only differentiates with respect to z).
    pub fn freeze(&mut self) {
        self.vs.freeze();
    }

    fn meta(&self) -> Vec<(String, Tensor)> {
        vec![
            ("arch".into(), Tensor::from_slice(&[ARCH_CODE])),
            ("spec".into(), Tensor::from_slice(&[self.latent_dim as i64])),
        ]
    }

    /// Saves weights, BN statistics and the latent size as safetensors.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named.extend(self.meta());
        Ok(xai_core::checkpoint::save_tensors(&named, path)?)
    }

    /// Loads a file written by [`ResnetVae::save`] or an official `state_dict` with its
    /// `model.` prefix removed. Errors, leaving the model unchanged, on another latent size
    /// or architecture.
    pub fn load(&mut self, path: &Path) -> Result<()> {
        let file: std::collections::HashMap<String, Tensor> =
            xai_core::checkpoint::load_tensors(path)?.into_iter().collect();
        for (key, ours) in self.meta() {
            if let Some(t) = file.get(&key) {
                if t.size() != ours.size() || t.to_kind(Kind::Int64).ne_tensor(&ours).any().int64_value(&[]) != 0 {
                    return Err(ClueError::checkpoint(
                        path,
                        format!("a VAE of another architecture ({key} {t:?} in file, {ours:?} here)"),
                    ));
                }
            }
        }
        copy_checked(&mut self.vs, &file, path, &["arch", "spec"])
    }
}

/// Tells a ResNet VAE file from a tabular one (whose `spec` has three entries).
const ARCH_CODE: i64 = 2;

impl TrainableVae for ResnetVae {
    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }
    fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }
    fn check_rows(&self, x: &Tensor) -> Result<()> {
        self.check_images(x)
    }
    fn elbo_t(&self, x: &Tensor, train: bool, sample: bool) -> Elbo {
        let q = self.encode_t(x, train);
        let z = if sample { &q.mu + &q.sigma * q.mu.randn_like() } else { q.mu.shallow_clone() };
        let logits = self.decode_logits_t(&z, train);
        let log_lik = -logits
            .binary_cross_entropy_with_logits::<Tensor>(x, None, None, tch::Reduction::None)
            .sum_dim_intlist(1, false, Kind::Float);
        Elbo { log_lik, kl: gaussian_kl(&q.mu, &q.sigma) }
    }
    /// `−mean(ELBO) / 784`, the official `vlb_scale`.
    fn loss(&self, x: &Tensor) -> Tensor {
        -self.elbo_t(x, true, true).value().mean(Kind::Float) / PIXELS as f64
    }
}

impl LatentDecoder for ResnetVae {
    fn encode_mean(&self, x: &Tensor) -> Result<Tensor> {
        self.check_images(x)?;
        Ok(tch::no_grad(|| self.encode_t(x, false).mu))
    }
    /// sigmoid(logits) in eval mode, differentiable in z.
    fn regenerate(&self, z: &Tensor) -> Result<Tensor> {
        if z.dim() != 2 || z.size()[1] != self.latent_dim as i64 {
            return Err(ClueError::bad_input("z", format!("expected [N, {}], got {:?}", self.latent_dim, z.size())));
        }
        Ok(self.decode_logits_t(z, false).sigmoid())
    }
}
