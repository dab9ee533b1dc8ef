//! Spec §3: the BNN's MLP (ReLU, plain Linear layers) with a classification or a
//! heteroscedastic-Gaussian head, and its posterior as S weight samples stacked per layer
//! (`[S, in, out]`, `[S, 1, out]`) so that one batched matmul per layer evaluates every
//! sample at once — no loop over samples.

use crate::uncertainty::{entropy_decomposition, gaussian_decomposition, Decomposition};
use crate::{ClueError, Result};
use std::path::Path;
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

/// The output head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head {
    /// K logits → softmax.
    Classification { classes: usize },
    /// 2·d outputs: μ = first half, σ = softplus(second half).
    Gaussian { outputs: usize },
}

impl Head {
    /// Width of the last layer.
    pub fn out_dim(&self) -> usize {
        match *self {
            Head::Classification { classes } => classes,
            Head::Gaussian { outputs } => 2 * outputs,
        }
    }
    fn code(&self) -> [i64; 2] {
        match *self {
            Head::Classification { classes } => [0, classes as i64],
            Head::Gaussian { outputs } => [1, outputs as i64],
        }
    }
}

/// MLP shape: `input_dim → width (×depth, ReLU) → head`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MlpSpec {
    pub input_dim: usize,
    pub width: usize,
    /// Hidden layers (≥ 1).
    pub depth: usize,
    pub head: Head,
}

impl MlpSpec {
    /// Errors name the bad field.
    pub fn validate(&self) -> Result<()> {
        let positive = [("input_dim", self.input_dim), ("width", self.width), ("depth", self.depth)];
        for (name, v) in positive {
            if v == 0 {
                return Err(ClueError::invalid(format!("bnn.{name}"), "must be ≥ 1"));
            }
        }
        match self.head {
            Head::Classification { classes } if classes < 2 => {
                Err(ClueError::invalid("bnn.classes", "a classifier needs at least 2 classes"))
            }
            Head::Gaussian { outputs: 0 } => Err(ClueError::invalid("bnn.outputs", "must be ≥ 1")),
            _ => Ok(()),
        }
    }

    /// `(in, out)` per Linear layer.
    pub fn layer_dims(&self) -> Vec<(usize, usize)> {
        let mut dims = vec![(self.input_dim, self.width)];
        dims.extend((1..self.depth).map(|_| (self.width, self.width)));
        dims.push((self.width, self.head.out_dim()));
        dims
    }

    fn code(&self) -> Vec<i64> {
        let h = self.head.code();
        vec![self.input_dim as i64, self.width as i64, self.depth as i64, h[0], h[1]]
    }
}

/// A single-weight MLP in a variable store (what SG-HMC moves). Layers are named
/// `block.{0,2,4,…}` as in the official `nn.Sequential`.
pub struct Mlp {
    pub spec: MlpSpec,
    pub vs: nn::VarStore,
    layers: Vec<nn::Linear>,
}

impl Mlp {
    /// PyTorch-default initialisation.
    pub fn new(spec: MlpSpec, device: Device) -> Result<Self> {
        spec.validate()?;
        let vs = nn::VarStore::new(device);
        let p = vs.root() / "block";
        let layers = spec
            .layer_dims()
            .iter()
            .enumerate()
            .map(|(i, &(a, b))| xai_core::nn::linear(&p / (2 * i).to_string(), a as i64, b as i64))
            .collect();
        Ok(Self { spec, vs, layers })
    }

    /// Raw outputs `[N, out]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let mut h = x.shallow_clone();
        for (i, l) in self.layers.iter().enumerate() {
            h = l.forward(&h);
            if i + 1 < self.layers.len() {
                h = h.relu();
            }
        }
        h
    }

    /// The parameters in layer order `[w0, b0, w1, b1, …]` (torch layout `[out, in]`), as
    /// aliases of the variables (in-place updates move the network).
    pub fn parameters(&self) -> Vec<Tensor> {
        self.layers.iter().flat_map(|l| [l.ws.shallow_clone(), l.bs.as_ref().expect("bias").shallow_clone()]).collect()
    }

    /// Deep copies of [`Mlp::parameters`] (one posterior sample).
    pub fn snapshot(&self) -> Vec<Tensor> {
        tch::no_grad(|| self.parameters().iter().map(|t| t.detach().copy()).collect())
    }
}

/// Which saved samples a prediction uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SampleUse {
    /// All S samples (default).
    #[default]
    All,
    /// The official code's behaviour: the last saved sample is silently dropped (S − 1).
    OfficialDropLast,
}

/// Posterior predictive on one batch.
#[derive(Debug)]
pub enum Prediction {
    /// `probs [S, N, K]`.
    Classification { probs: Tensor },
    /// `mu, sigma [S, N, d]`.
    Gaussian { mu: Tensor, sigma: Tensor },
}

impl Prediction {
    /// Spec §4 decomposition.
    pub fn decompose(&self) -> Decomposition {
        match self {
            Prediction::Classification { probs } => entropy_decomposition(probs),
            Prediction::Gaussian { mu, sigma } => gaussian_decomposition(mu, sigma),
        }
    }
    /// Sample-mean probabilities `[N, K]` or sample-mean μ `[N, d]`.
    pub fn mean(&self) -> Tensor {
        match self {
            Prediction::Classification { probs } => probs.mean_dim(0, false, Kind::Float),
            Prediction::Gaussian { mu, .. } => mu.mean_dim(0, false, Kind::Float),
        }
    }
}

/// S weight samples of one [`MlpSpec`], stacked per layer: `weights[l]` is `[S, in, out]`,
/// `biases[l]` is `[S, 1, out]`.
#[derive(Debug)]
pub struct BnnSamples {
    pub spec: MlpSpec,
    weights: Vec<Tensor>,
    biases: Vec<Tensor>,
}

impl BnnSamples {
    /// Stacks snapshots (each `[w0, b0, w1, b1, …]` in torch layout `[out, in]`).
    pub fn from_snapshots(spec: MlpSpec, samples: &[Vec<Tensor>]) -> Result<Self> {
        spec.validate()?;
        if samples.is_empty() {
            return Err(ClueError::invalid("bnn samples", "no weight samples"));
        }
        let dims = spec.layer_dims();
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for (l, &(a, b)) in dims.iter().enumerate() {
            let mut ws = Vec::new();
            let mut bs = Vec::new();
            for (s, snap) in samples.iter().enumerate() {
                if snap.len() != 2 * dims.len() {
                    return Err(ClueError::invalid(
                        "bnn samples",
                        format!("sample {s} has {} tensors, the architecture {} layers", snap.len(), dims.len()),
                    ));
                }
                let (w, bias) = (&snap[2 * l], &snap[2 * l + 1]);
                if w.size() != [b as i64, a as i64] || bias.size() != [b as i64] {
                    return Err(ClueError::invalid(
                        "bnn samples",
                        format!(
                            "sample {s} layer {l}: weight {:?} / bias {:?}, expected [{b}, {a}] / [{b}]",
                            w.size(),
                            bias.size()
                        ),
                    ));
                }
                ws.push(w.detach().tr());
                bs.push(bias.detach().unsqueeze(0));
            }
            weights.push(Tensor::stack(&ws, 0).to_kind(Kind::Float).contiguous());
            biases.push(Tensor::stack(&bs, 0).to_kind(Kind::Float).contiguous());
        }
        Ok(Self { spec, weights, biases })
    }

    pub fn n_samples(&self) -> usize {
        self.weights[0].size()[0] as usize
    }

    pub fn device(&self) -> Device {
        self.weights[0].device()
    }

    /// The same samples on `device`.
    pub fn to_device(&self, device: Device) -> Self {
        Self {
            spec: self.spec,
            weights: self.weights.iter().map(|w| w.to(device)).collect(),
            biases: self.biases.iter().map(|b| b.to(device)).collect(),
        }
    }

    /// The samples a [`SampleUse`] selects (S − 1 for the official behaviour; S = 1 stays 1).
    pub fn select(&self, use_: SampleUse) -> Self {
        let s = self.n_samples() as i64;
        let keep = match use_ {
            SampleUse::All => s,
            SampleUse::OfficialDropLast => (s - 1).max(1),
        };
        Self {
            spec: self.spec,
            weights: self.weights.iter().map(|w| w.narrow(0, 0, keep)).collect(),
            biases: self.biases.iter().map(|b| b.narrow(0, 0, keep)).collect(),
        }
    }

    fn check_input(&self, x: &Tensor) -> Result<()> {
        let size = x.size();
        if size.len() != 2 || size[1] as usize != self.spec.input_dim {
            return Err(ClueError::bad_input(
                "bnn input",
                format!("expected [N, {}], got {size:?}", self.spec.input_dim),
            ));
        }
        Ok(())
    }

    /// Raw outputs of every sample `[S, N, out]` (one batched matmul per layer, bias fused).
    pub fn forward_raw(&self, x: &Tensor) -> Result<Tensor> {
        self.check_input(x)?;
        let size = x.size();
        let mut h = x.unsqueeze(0).expand([self.weights[0].size()[0], size[0], size[1]], false);
        let n = self.weights.len();
        // The activations `[S, N, W]` are the memory traffic of CLUE's hot loop: the bias is
        // fused into the batched matmul and ReLU runs in place (its backward needs only the
        // output), which saves two passes over them per layer.
        for (l, (w, b)) in self.weights.iter().zip(&self.biases).enumerate() {
            h = b.baddbmm(&h, w, 1.0, 1.0);
            if l + 1 < n {
                let _ = h.relu_();
            }
        }
        Ok(h)
    }

    /// Posterior predictive of every sample.
    pub fn predict(&self, x: &Tensor) -> Result<Prediction> {
        let out = self.forward_raw(x)?;
        Ok(match self.spec.head {
            Head::Classification { .. } => Prediction::Classification { probs: out.softmax(2, Kind::Float) },
            Head::Gaussian { outputs } => {
                let d = outputs as i64;
                Prediction::Gaussian { mu: out.narrow(2, 0, d), sigma: out.narrow(2, d, d).softplus() }
            }
        })
    }

    /// Spec §4 decomposition of the predictive at `x`.
    pub fn decompose(&self, x: &Tensor) -> Result<Decomposition> {
        Ok(self.predict(x)?.decompose())
    }

    /// Named tensors: `spec` (i64 `[input_dim, width, depth, head, head_dim]`) and
    /// `layer{l}.weight [S, in, out]`, `layer{l}.bias [S, 1, out]`.
    pub fn to_named(&self) -> Vec<(String, Tensor)> {
        let mut named = vec![("spec".to_string(), Tensor::from_slice(&self.spec.code()))];
        for (l, (w, b)) in self.weights.iter().zip(&self.biases).enumerate() {
            named.push((format!("layer{l}.weight"), w.shallow_clone()));
            named.push((format!("layer{l}.bias"), b.shallow_clone()));
        }
        named
    }

    /// Saves the samples as safetensors (atomic).
    pub fn save(&self, path: &Path) -> Result<()> {
        Ok(xai_core::checkpoint::save_tensors(&self.to_named(), path)?)
    }

    /// Loads samples saved by [`BnnSamples::save`]; errors when the file holds another
    /// architecture than `spec`.
    pub fn load(path: &Path, spec: MlpSpec, device: Device) -> Result<Self> {
        let named: std::collections::HashMap<String, Tensor> =
            xai_core::checkpoint::load_tensors(path)?.into_iter().collect();
        let stored =
            named.get("spec").ok_or_else(|| ClueError::checkpoint(path, "no `spec` entry: not BNN samples"))?;
        let stored: Vec<i64> = stored.try_into().map_err(|e| ClueError::checkpoint(path, format!("spec: {e}")))?;
        if stored != spec.code() {
            return Err(ClueError::checkpoint(
                path,
                format!(
                    "holds a BNN of another architecture ([input, width, depth, head, head_dim] = {stored:?}, \
                     expected {:?})",
                    spec.code()
                ),
            ));
        }
        let dims = spec.layer_dims();
        let mut weights = Vec::new();
        let mut biases = Vec::new();
        for (l, &(a, b)) in dims.iter().enumerate() {
            let get = |k: String| named.get(&k).ok_or_else(|| ClueError::checkpoint(path, format!("missing {k}")));
            let w = get(format!("layer{l}.weight"))?;
            let bias = get(format!("layer{l}.bias"))?;
            let s = w.size()[0];
            if w.size() != [s, a as i64, b as i64] || bias.size() != [s, 1, b as i64] {
                return Err(ClueError::checkpoint(
                    path,
                    format!("layer {l}: shapes {:?} / {:?}", w.size(), bias.size()),
                ));
            }
            weights.push(w.to(device));
            biases.push(bias.to(device));
        }
        Ok(Self { spec, weights, biases })
    }

    /// Loads the official layout `sample{s}.block.{0,2,4,…}.{weight,bias}` (the golden fixture).
    pub fn load_official(path: &Path, spec: MlpSpec, device: Device) -> Result<Self> {
        let named: std::collections::HashMap<String, Tensor> =
            xai_core::checkpoint::load_tensors(path)?.into_iter().collect();
        let n_layers = spec.layer_dims().len();
        let mut samples = Vec::new();
        for s in 0.. {
            if !named.contains_key(&format!("sample{s}.block.0.weight")) {
                break;
            }
            let mut snap = Vec::new();
            for l in 0..n_layers {
                for kind in ["weight", "bias"] {
                    let k = format!("sample{s}.block.{}.{kind}", 2 * l);
                    snap.push(
                        named.get(&k).ok_or_else(|| ClueError::checkpoint(path, format!("missing {k}")))?.to(device),
                    );
                }
            }
            samples.push(snap);
        }
        Self::from_snapshots(spec, &samples).map_err(|e| ClueError::checkpoint(path, e.to_string()))
    }
}
