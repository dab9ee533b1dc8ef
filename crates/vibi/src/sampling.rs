//! Relaxed k-hot sampling (Concrete / Gumbel-softmax, "at most k-hot"), hard top-k and
//! random masks, and the temperature schedule with its warm-up.

use tch::{Kind, Tensor};

/// Standard Gumbel noise of `shape`: −log(−log u), with u kept away from 0 and 1 so
/// neither log can be infinite. (willisk does not clamp, so a draw of u = 0 would give
/// −∞ there; the clamp changes only u < 1e-10 or u > 1 − 1e-7.) The uniforms come from
/// `device`'s generator; willisk draws them on the CPU generator even in CUDA runs.
pub fn gumbel(shape: &[i64], device: tch::Device) -> Tensor {
    gumbel_from_uniform(&Tensor::rand(shape, (Kind::Float, device)).clamp(1e-10, 1.0 - 1e-7))
}

/// −log(−log u) of given uniforms, unclamped: replays saved noise (e.g. willisk's `torch.rand`
/// draws) exactly.
pub fn gumbel_from_uniform(u: &Tensor) -> Tensor {
    -(-u.log()).log()
}

/// Relaxed k-hot samples: logits `[B, F]` → `[B, M, F]`, the element-wise maximum of k
/// independent Gumbel-softmax draws at temperature `tau`. Values lie in (0, 1] and each
/// sample sums to between 1 and k (collisions make it less than k-hot).
pub fn relaxed_khot(logits: &Tensor, k: i64, tau: f64, samples: i64) -> Tensor {
    let s = logits.size();
    relaxed_khot_with_noise(logits, tau, &gumbel(&[s[0], samples, k, s[1]], logits.device()))
}

/// [`relaxed_khot`] with given Gumbel noise `g` `[B, M, k, F]`: `max_i softmax((logits + g_i) / τ)`.
/// willisk's sampler draws its noise as `[k·B, M, F]` with row `i·B + b`; such noise
/// reshaped to `[k, B, M, F]` is `g.permute([1, 2, 0, 3])` here.
pub fn relaxed_khot_with_noise(logits: &Tensor, tau: f64, g: &Tensor) -> Tensor {
    let s = logits.size();
    let (b, f) = (s[0], s[1]);
    let draws = ((logits.reshape([b, 1, 1, f]) + g) / tau).softmax(-1, Kind::Float);
    draws.amax([2], false)
}

/// Hard top-k mask `[B, F]` of 0/1 values: ones at the k largest logits of each row.
pub fn topk_mask(logits: &Tensor, k: i64) -> Tensor {
    let (_, idx) = logits.topk(k, -1, true, true);
    logits.zeros_like().to_kind(Kind::Float).scatter_value(1, &idx, 1.0)
}

/// k chunks drawn uniformly without replacement per row: the random-mask baseline.
pub fn random_mask(batch: i64, chunks: i64, k: i64, device: tch::Device) -> Tensor {
    let scores = Tensor::rand([batch, chunks], (Kind::Float, device));
    topk_mask(&scores, k)
}

/// Temperature of the relaxed samples as a function of the global step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Temperature {
    /// willisk: t = n − `warmup_steps`; warm-up (approximator only, unmasked input) while
    /// t < 1; then τ = `scale`/t for t > 1, τ = `scale` at t = 1.
    Inverse { warmup_steps: u64, scale: f64 },
    /// The authors' constant τ (0.5 MNIST, 0.7 IMDB), no warm-up.
    Constant { value: f64 },
}

/// What a training step does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Phase {
    /// Approximator trained on the unmasked input; the explainer is not run.
    Warmup,
    /// Relaxed k-hot training at this temperature.
    Train(f64),
}

impl Temperature {
    /// The phase at 0-based global step `n`.
    pub fn at(&self, n: u64) -> Phase {
        match *self {
            Temperature::Constant { value } => Phase::Train(value),
            Temperature::Inverse { warmup_steps, scale } => {
                let t = n as f64 - warmup_steps as f64;
                if t < 1.0 {
                    Phase::Warmup
                } else if t > 1.0 {
                    Phase::Train(scale / t)
                } else {
                    Phase::Train(scale)
                }
            }
        }
    }

    /// Rejects non-positive temperatures, naming the value.
    pub fn validate(&self) -> crate::Result<()> {
        let (what, v) = match *self {
            Temperature::Constant { value } => ("temperature.value", value),
            Temperature::Inverse { scale, .. } => ("temperature.scale", scale),
        };
        if v > 0.0 && v.is_finite() {
            Ok(())
        } else {
            Err(crate::VibiError::invalid(what, format!("{v}; must be a positive number")))
        }
    }
}
