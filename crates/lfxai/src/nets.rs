//! The paper's MNIST conv autoencoder (`EncoderMnist`/`DecoderMnist` of the reference),
//! with the reference's PyTorch parameter names (`encoder.encoder_cnn.0.weight`, …) so
//! that its state dicts load directly. Encoder 43,428 and decoder 43,697 parameters at d = 4.

use crate::{LfxaiError, Result};
use std::collections::HashMap;
use tch::nn;
use tch::{Device, Kind, Tensor};
use xai_core::nn::{conv2d, linear, torch_default_init};

/// `EncoderMnist(d)`: three convs (BN after the second), two linears.
#[derive(Debug)]
pub struct MnistEncoder {
    c0: nn::Conv2D,
    c2: nn::Conv2D,
    bn3: nn::BatchNorm,
    c5: nn::Conv2D,
    l0: nn::Linear,
    l2: nn::Linear,
}

impl MnistEncoder {
    pub fn new(p: &nn::Path, latent_dim: i64) -> Self {
        let cnn = p / "encoder_cnn";
        let lin = p / "encoder_lin";
        Self {
            c0: conv2d(&cnn / "0", 1, 8, 3, 2, 1),
            c2: conv2d(&cnn / "2", 8, 16, 3, 2, 1),
            bn3: nn::batch_norm2d(&cnn / "3", 16, Default::default()),
            c5: conv2d(&cnn / "5", 16, 32, 3, 2, 0),
            l0: linear(&lin / "0", 288, 128),
            l2: linear(&lin / "2", 128, latent_dim),
        }
    }

    /// `[B, 1, 28, 28] → [B, d]`; `train` switches BatchNorm to batch statistics.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = x.apply(&self.c0).relu().apply(&self.c2).apply_t(&self.bn3, train).relu();
        h.apply(&self.c5).relu().flatten(1, -1).apply(&self.l0).relu().apply(&self.l2)
    }
}

fn conv_t(p: nn::Path, cin: i64, cout: i64, padding: i64, output_padding: i64) -> nn::ConvTranspose2D {
    // PyTorch computes ConvTranspose fan-in from weight dim 1 (= out channels).
    let init = torch_default_init(cout * 9);
    nn::conv_transpose2d(
        p,
        cin,
        cout,
        3,
        nn::ConvTransposeConfig {
            stride: 2,
            padding,
            output_padding,
            ws_init: init,
            bs_init: init,
            ..Default::default()
        },
    )
}

/// `DecoderMnist(d)`: two linears, three transposed convs (BN after the first two), sigmoid.
#[derive(Debug)]
pub struct MnistDecoder {
    l0: nn::Linear,
    l2: nn::Linear,
    t0: nn::ConvTranspose2D,
    bn1: nn::BatchNorm,
    t3: nn::ConvTranspose2D,
    bn4: nn::BatchNorm,
    t6: nn::ConvTranspose2D,
}

impl MnistDecoder {
    pub fn new(p: &nn::Path, latent_dim: i64) -> Self {
        let lin = p / "decoder_lin";
        let conv = p / "decoder_conv";
        Self {
            l0: linear(&lin / "0", latent_dim, 128),
            l2: linear(&lin / "2", 128, 288),
            t0: conv_t(&conv / "0", 32, 16, 0, 0),
            bn1: nn::batch_norm2d(&conv / "1", 16, Default::default()),
            t3: conv_t(&conv / "3", 16, 8, 1, 1),
            bn4: nn::batch_norm2d(&conv / "4", 8, Default::default()),
            t6: conv_t(&conv / "6", 8, 1, 1, 1),
        }
    }

    pub fn forward_t(&self, h: &Tensor, train: bool) -> Tensor {
        let z = h.apply(&self.l0).relu().apply(&self.l2).relu().view([-1, 32, 3, 3]);
        let z = z.apply(&self.t0).apply_t(&self.bn1, train).relu();
        z.apply(&self.t3).apply_t(&self.bn4, train).relu().apply(&self.t6).sigmoid()
    }
}

/// The MNIST autoencoder: variables under `encoder.` and `decoder.` in one store.
pub struct MnistAutoencoder {
    pub vs: nn::VarStore,
    pub encoder: MnistEncoder,
    pub decoder: MnistDecoder,
    pub latent_dim: i64,
}

impl std::fmt::Debug for MnistAutoencoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MnistAutoencoder(d = {})", self.latent_dim)
    }
}

impl MnistAutoencoder {
    pub fn new(device: Device, latent_dim: i64) -> Result<Self> {
        if latent_dim < 1 {
            return Err(LfxaiError::invalid("model.latent_dim", format!("{latent_dim}; must be at least 1")));
        }
        let vs = nn::VarStore::new(device);
        let root = vs.root();
        let encoder = MnistEncoder::new(&(&root / "encoder"), latent_dim);
        let decoder = MnistDecoder::new(&(&root / "decoder"), latent_dim);
        Ok(Self { vs, encoder, decoder, latent_dim })
    }

    pub fn encode(&self, x: &Tensor, train: bool) -> Tensor {
        self.encoder.forward_t(x, train)
    }

    pub fn reconstruct(&self, x: &Tensor, train: bool) -> Tensor {
        self.decoder.forward_t(&self.encoder.forward_t(x, train), train)
    }

    /// Mean squared reconstruction error of `target` from `input` (the pretext-perturbed input).
    pub fn mse(&self, input: &Tensor, target: &Tensor, train: bool) -> Tensor {
        self.reconstruct(input, train).mse_loss(target, tch::Reduction::Mean)
    }

    /// Trainable variables whose name starts with `prefix.`, sorted by name (θ_r for `encoder`).
    pub fn params_of(&self, prefix: &str) -> Vec<Tensor> {
        named_trainable(&self.vs, prefix).into_iter().map(|(_, t)| t).collect()
    }

    /// θ_r: the encoder's trainable parameters in sorted-name order.
    pub fn encoder_params(&self) -> Vec<Tensor> {
        self.params_of("encoder")
    }

    /// Loads a state dict (PyTorch names; `num_batches_tracked` entries are ignored).
    /// Every variable must be present with its shape; a latent size that does not match is
    /// named as such. Nothing is copied unless everything matches.
    pub fn load_state(&mut self, named: Vec<(String, Tensor)>) -> Result<()> {
        load_named(&self.vs, named, self.latent_dim, &["encoder_lin.2", "decoder_lin.0"])
    }

    /// Loads a safetensors state dict from `path` (see [`MnistAutoencoder::load_state`]).
    pub fn load_file(&mut self, path: &std::path::Path) -> Result<()> {
        let named = xai_core::checkpoint::load_tensors(path)?;
        self.load_state(named)
    }

    /// All variables (weights and BN statistics), for checkpoints.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        sorted_state(&self.vs)
    }

    /// Converts every variable to `kind` (e.g. f64 for finite-difference tests).
    pub fn set_kind(&mut self, kind: Kind) {
        self.vs.set_kind(kind);
    }
}

/// All variables of a store sorted by name.
pub fn sorted_state(vs: &nn::VarStore) -> Vec<(String, Tensor)> {
    let mut v: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Copies a state dict into `vs` after checking every name and shape; `latent_keys` name the
/// layers whose shape depends on the latent size (a mismatch there is reported as such).
pub fn load_named(
    vs: &nn::VarStore,
    named: Vec<(String, Tensor)>,
    latent_dim: i64,
    latent_keys: &[&str],
) -> Result<()> {
    {
        let file: HashMap<String, Tensor> =
            named.into_iter().filter(|(n, _)| !n.ends_with("num_batches_tracked")).collect();
        let mut vars = sorted_state(vs);
        for (name, var) in &vars {
            let src = file
                .get(name)
                .ok_or_else(|| LfxaiError::invalid("checkpoint", format!("{name} is missing from the state dict")))?;
            if src.size() != var.size() {
                let what = if latent_keys.iter().any(|k| name.contains(k)) {
                    "checkpoint latent dimension"
                } else {
                    "checkpoint"
                };
                return Err(LfxaiError::invalid(
                    what,
                    format!(
                        "{name}: shape {:?} in file, {:?} in model (latent_dim {})",
                        src.size(),
                        var.size(),
                        latent_dim
                    ),
                ));
            }
        }
        if let Some(extra) = file.keys().find(|k| !vars.iter().any(|(n, _)| n == *k)) {
            return Err(LfxaiError::invalid("checkpoint", format!("{extra} is not a variable of this model")));
        }
        tch::no_grad(|| {
            for (name, var) in vars.iter_mut() {
                var.f_copy_(&file[name].to_kind(var.kind()))?;
            }
            Ok::<_, tch::TchError>(())
        })?;
        Ok(())
    }
}

/// Trainable variables whose name starts with `prefix.`, sorted by name.
pub fn named_trainable(vs: &nn::VarStore, prefix: &str) -> Vec<(String, Tensor)> {
    let trainable = vs.trainable_variables();
    let dotted = format!("{prefix}.");
    let mut vars: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .filter(|(n, t)| n.starts_with(&dotted) && trainable.iter().any(|u| u.data_ptr() == t.data_ptr()))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// Number of scalars in a parameter list.
pub fn count(params: &[Tensor]) -> i64 {
    params.iter().map(|t| t.numel() as i64).sum()
}

/// The pretext task of an autoencoder: how inputs are perturbed before encoding (training
/// and held-out loss only; explanations use clean inputs unless the reference mode asks).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pretext {
    /// Plain reconstruction.
    Identity,
    /// `x + σ·ε`, ε ~ N(0, I), no clipping.
    Denoising { noise_std: f64 },
    /// `m ⊙ x`, `m_i ~ Bernoulli(1 − p)`.
    Inpainting { mask_prob: f64 },
}

impl Pretext {
    pub fn apply(&self, x: &Tensor) -> Tensor {
        match *self {
            Pretext::Identity => x.shallow_clone(),
            Pretext::Denoising { noise_std } => x + x.randn_like() * noise_std,
            Pretext::Inpainting { mask_prob } => x * x.rand_like().ge(mask_prob).to_kind(x.kind()),
        }
    }
}

/// What the experiments need of an unsupervised model: encode, its own reconstruction loss,
/// θ_r (encoder parameters), and checkpoints.
pub trait Autoencoder {
    fn var_store(&self) -> &nn::VarStore;
    fn var_store_mut(&mut self) -> &mut nn::VarStore;
    fn latent(&self, x: &Tensor, train: bool) -> Tensor;
    /// The model's loss of reconstructing `target` from `input` (MSE for images, L1 for series).
    fn loss(&self, input: &Tensor, target: &Tensor, train: bool) -> Tensor;
    fn theta_r(&self) -> Vec<Tensor>;
    fn load_checkpoint(&mut self, path: &std::path::Path) -> Result<()>;
    fn variables(&self) -> Vec<(String, Tensor)> {
        sorted_state(self.var_store())
    }
}

impl Autoencoder for MnistAutoencoder {
    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }
    fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }
    fn latent(&self, x: &Tensor, train: bool) -> Tensor {
        self.encode(x, train)
    }
    fn loss(&self, input: &Tensor, target: &Tensor, train: bool) -> Tensor {
        self.mse(input, target, train)
    }
    fn theta_r(&self) -> Vec<Tensor> {
        self.encoder_params()
    }
    fn load_checkpoint(&mut self, path: &std::path::Path) -> Result<()> {
        self.load_file(path)
    }
}

/// The ECG5000 `RecurrentAutoencoder`: encoder LSTM(1→2e) → LSTM(2e→e), latent = final hidden
/// state; decoder repeats the latent over the sequence, LSTM(e→e) → LSTM(e→2e) → Linear(2e→1).
/// At e = 64: 116,736 + 132,737 parameters. Input `[B, T, 1]`, batch-first.
pub struct LstmAutoencoder {
    pub vs: nn::VarStore,
    enc1: nn::LSTM,
    enc2: nn::LSTM,
    dec1: nn::LSTM,
    dec2: nn::LSTM,
    out: nn::Linear,
    pub latent_dim: i64,
}

impl std::fmt::Debug for LstmAutoencoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LstmAutoencoder(e = {})", self.latent_dim)
    }
}

impl LstmAutoencoder {
    pub fn new(device: Device, latent_dim: i64) -> Result<Self> {
        if latent_dim < 1 {
            return Err(LfxaiError::invalid("model.latent_dim", format!("{latent_dim}; must be at least 1")));
        }
        let vs = nn::VarStore::new(device);
        let cfg = nn::RNNConfig { batch_first: true, ..Default::default() };
        let (e, r) = (latent_dim, vs.root());
        let enc = &r / "encoder";
        let dec = &r / "decoder";
        Ok(Self {
            enc1: nn::lstm(&enc / "rnn1", 1, 2 * e, cfg),
            enc2: nn::lstm(&enc / "rnn2", 2 * e, e, cfg),
            dec1: nn::lstm(&dec / "rnn1", e, e, cfg),
            dec2: nn::lstm(&dec / "rnn2", e, 2 * e, cfg),
            out: linear(&dec / "output_layer", 2 * e, 1),
            vs,
            latent_dim,
        })
    }

    /// `[B, T, 1] → [B, e]`.
    pub fn encode(&self, x: &Tensor) -> Tensor {
        use tch::nn::RNN;
        let (h1, _) = self.enc1.seq(x);
        let (_, state) = self.enc2.seq(&h1);
        state.h().squeeze_dim(0)
    }

    /// `[B, e] → [B, T, 1]`.
    pub fn decode(&self, z: &Tensor, steps: i64) -> Tensor {
        use tch::nn::RNN;
        let rep = z.unsqueeze(1).repeat([1, steps, 1]);
        let (h1, _) = self.dec1.seq(&rep);
        let (h2, _) = self.dec2.seq(&h1);
        h2.apply(&self.out)
    }
}

impl Autoencoder for LstmAutoencoder {
    fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }
    fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }
    fn latent(&self, x: &Tensor, _train: bool) -> Tensor {
        self.encode(x)
    }
    fn loss(&self, input: &Tensor, target: &Tensor, _train: bool) -> Tensor {
        let recon = self.decode(&self.encode(input), input.size()[1]);
        (recon - target).abs().mean(target.kind())
    }
    fn theta_r(&self) -> Vec<Tensor> {
        named_trainable(&self.vs, "encoder").into_iter().map(|(_, t)| t).collect()
    }
    fn load_checkpoint(&mut self, path: &std::path::Path) -> Result<()> {
        let named = xai_core::checkpoint::load_tensors(path)?;
        load_named(&self.vs, named, self.latent_dim, &["encoder.rnn2", "decoder.rnn1"])
    }
}

/// The classification "pretext": the MNIST encoder + Linear(d → 10), trained with
/// cross-entropy on plain logits (the reference's double softmax is not reproduced).
pub struct MnistClassifier {
    pub vs: nn::VarStore,
    pub encoder: MnistEncoder,
    head: nn::Linear,
}

impl MnistClassifier {
    pub fn new(device: Device, latent_dim: i64) -> Result<Self> {
        if latent_dim < 1 {
            return Err(LfxaiError::invalid("model.latent_dim", format!("{latent_dim}; must be at least 1")));
        }
        let vs = nn::VarStore::new(device);
        let encoder = MnistEncoder::new(&(vs.root() / "encoder"), latent_dim);
        let head = linear(vs.root() / "lin_output", latent_dim, 10);
        Ok(Self { vs, encoder, head })
    }

    pub fn logits(&self, x: &Tensor, train: bool) -> Tensor {
        self.encoder.forward_t(x, train).apply(&self.head)
    }
}
