//! Spec §3: scale-adapted SG-HMC (Springenberg et al. 2016, as the official `H_SA_SGHMC`):
//! per-tensor Gamma-resampled Gaussian prior, the gradient-norm clipping buffer, burn-in
//! adaptation of the preconditioner, momentum resampling. The sampler works on plain
//! tensors and caller-supplied gradients, so it can move a network or a toy target.

use crate::{ClueError, Result};
use std::collections::VecDeque;
use tch::{Kind, Tensor};

/// Per-tensor prior `θ ~ N(0, 1/λ)`, λ Gibbs-resampled from `Gamma(α0 + n/2, β0 + ‖θ‖²/2)`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PriorParams {
    /// Initial prior std (λ0 = 1/σ0²).
    pub sigma0: f64,
    pub alpha0: f64,
    pub beta0: f64,
    /// Resample λ every this many iterations.
    pub resample_every: u64,
}

impl Default for PriorParams {
    fn default() -> Self {
        Self { sigma0: 0.1, alpha0: 10.0, beta0: 10.0, resample_every: 50 }
    }
}

/// Gradient-norm clipping buffer sizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipParams {
    /// FIFO capacity (1000 classification, 100 regression).
    pub buffer: usize,
    /// m in `mean + m·std` (30 classification, 20 regression).
    pub std_mul: f64,
}

/// Sampler hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SghmcParams {
    /// Step η.
    pub lr: f64,
    /// Friction C.
    pub friction: f64,
    /// ε0.
    pub eps0: f64,
    /// Resample momentum every this many iterations (0 = never).
    pub momentum_every: u64,
    /// `None`: no prior (λ = 0).
    pub prior: Option<PriorParams>,
}

impl Default for SghmcParams {
    fn default() -> Self {
        Self { lr: 1e-2, friction: 0.05, eps0: 1e-6, momentum_every: 10, prior: Some(PriorParams::default()) }
    }
}

impl SghmcParams {
    pub fn validate(&self) -> Result<()> {
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(ClueError::invalid("bnn.lr", format!("must be > 0, got {}", self.lr)));
        }
        if !(self.friction > 0.0 && self.friction <= 1.0) {
            return Err(ClueError::invalid("bnn.friction", format!("must be in (0, 1], got {}", self.friction)));
        }
        if let Some(p) = self.prior {
            if !(p.sigma0 > 0.0 && p.alpha0 > 0.0 && p.beta0 > 0.0) {
                return Err(ClueError::invalid("bnn.prior", "sigma0, alpha0 and beta0 must be > 0"));
            }
            if p.resample_every == 0 {
                return Err(ClueError::invalid("bnn.prior_every", "must be ≥ 1"));
            }
        }
        Ok(())
    }
}

/// The official clipping rule: a FIFO of recent pre-clip total norms. When the buffer is
/// longer than its cap, the threshold becomes `mean + m·std` (population std) and the
/// oldest entry is dropped; the threshold then persists until recomputed (1e20 before).
/// A norm ≥ the threshold is clipped and not recorded.
#[derive(Debug, Clone)]
pub struct ClipBuffer {
    pub params: ClipParams,
    buf: VecDeque<f64>,
    threshold: f64,
}

impl ClipBuffer {
    pub fn new(params: ClipParams) -> Self {
        Self { params, buf: VecDeque::new(), threshold: 1e20 }
    }

    pub fn threshold(&self) -> f64 {
        self.threshold
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Takes the pre-clip total norm of this iteration; returns the factor to scale the
    /// gradients by (`threshold / (norm + 1e-6)` when that is < 1, as `clip_grad_norm_`).
    pub fn observe(&mut self, norm: f64) -> f64 {
        if self.buf.len() > self.params.buffer {
            let n = self.buf.len() as f64;
            let mean = self.buf.iter().sum::<f64>() / n;
            let var = self.buf.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
            self.threshold = mean + self.params.std_mul * var.sqrt();
            self.buf.pop_front();
        }
        let coef = self.threshold / (norm + 1e-6);
        if norm < self.threshold {
            self.buf.push_back(norm);
        }
        coef.min(1.0)
    }
}

/// `n` draws of the Gibbs precision of tensor `theta`: `Gamma(α0 + n_θ/2, rate β0 + ‖θ‖²/2)`.
pub fn gibbs_precision_draws(theta: &Tensor, alpha0: f64, beta0: f64, n: i64) -> Tensor {
    let shape = alpha0 + theta.numel() as f64 / 2.0;
    let rate = beta0 + theta.detach().to_kind(Kind::Double).square().sum(Kind::Double).double_value(&[]) / 2.0;
    Tensor::full([n], shape, (Kind::Double, tch::Device::Cpu)).internal_standard_gamma() / rate
}

/// Sampler state per parameter tensor.
#[derive(Debug)]
pub struct Sghmc {
    pub params: SghmcParams,
    tau: Vec<Tensor>,
    g: Vec<Tensor>,
    v_hat: Vec<Tensor>,
    momentum: Vec<Tensor>,
    /// Prior precision λ per tensor.
    lambda: Vec<f64>,
    it: u64,
}

impl Sghmc {
    /// State for tensors shaped like `theta`: τ = ḡ = V̂ = 1, v = 0, λ = 1/σ0².
    pub fn new(params: SghmcParams, theta: &[Tensor]) -> Result<Self> {
        params.validate()?;
        let ones = || theta.iter().map(|t| t.ones_like().detach()).collect::<Vec<_>>();
        let lambda0 = params.prior.map_or(0.0, |p| 1.0 / (p.sigma0 * p.sigma0));
        Ok(Self {
            params,
            tau: ones(),
            g: ones(),
            v_hat: ones(),
            momentum: theta.iter().map(|t| t.zeros_like().detach()).collect(),
            lambda: vec![lambda0; theta.len()],
            it: 0,
        })
    }

    /// Iterations done.
    pub fn iterations(&self) -> u64 {
        self.it
    }

    /// Current prior precisions.
    pub fn lambdas(&self) -> &[f64] {
        &self.lambda
    }

    /// One iteration on `theta` (updated in place) with already clipped gradients `grads`.
    pub fn step(&mut self, theta: &[Tensor], grads: &[Tensor], burn_in: bool) -> Result<()> {
        if theta.len() != self.tau.len() || grads.len() != theta.len() {
            return Err(ClueError::invalid("sghmc", "tensor count differs from the sampler state"));
        }
        let p = self.params;
        let (lr, c, eps0) = (p.lr, p.friction, p.eps0);
        let resample_momentum = p.momentum_every > 0 && self.it % p.momentum_every == 0;
        if let Some(prior) = p.prior {
            if self.it % prior.resample_every == 0 {
                for (l, t) in self.lambda.iter_mut().zip(theta) {
                    *l = gibbs_precision_draws(t, prior.alpha0, prior.beta0, 1).double_value(&[0]);
                }
            }
        }
        tch::no_grad(|| {
            for i in 0..theta.len() {
                let mut th = theta[i].shallow_clone();
                let g_hat =
                    if self.lambda[i] != 0.0 { &grads[i] + &th * self.lambda[i] } else { grads[i].shallow_clone() };
                if burn_in {
                    let tau = &self.tau[i];
                    let new_tau = tau - tau * self.g[i].square() / (&self.v_hat[i] + eps0) + 1.0;
                    self.tau[i] = new_tau;
                    let r = (&self.tau[i] + eps0).reciprocal();
                    self.g[i] = (1.0 - &r) * &self.g[i] + &r * &g_hat;
                    self.v_hat[i] = (1.0 - &r) * &self.v_hat[i] + &r * g_hat.square();
                }
                let minv = (self.v_hat[i].sqrt() + eps0).reciprocal();
                if resample_momentum {
                    self.momentum[i] = th.randn_like() * (&minv * (lr * lr)).sqrt();
                }
                let noise_var = (&minv * (2.0 * lr * lr * c) - lr.powi(4)).clamp_min(1e-16);
                let noise = th.randn_like() * noise_var.sqrt();
                let v = &self.momentum[i];
                self.momentum[i] = v - &minv * &g_hat * (lr * lr) - v * c + noise;
                let _ = th.g_add_(&self.momentum[i]);
            }
        });
        self.it += 1;
        Ok(())
    }

    /// State tensors for a checkpoint (`{prefix}{kind}.{i}` and the counters).
    pub fn state(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out = Vec::new();
        for (kind, ts) in [("tau", &self.tau), ("g", &self.g), ("v_hat", &self.v_hat), ("momentum", &self.momentum)] {
            for (i, t) in ts.iter().enumerate() {
                out.push((format!("{prefix}{kind}.{i}"), t.shallow_clone()));
            }
        }
        out.push((format!("{prefix}lambda"), Tensor::from_slice(&self.lambda)));
        out.push((format!("{prefix}it"), Tensor::from_slice(&[self.it as i64])));
        out
    }

    /// Restores [`Sghmc::state`].
    pub fn load_state(&mut self, prefix: &str, named: &std::collections::HashMap<String, Tensor>) -> Result<()> {
        let get = |k: String| {
            named
                .get(&k)
                .ok_or_else(|| ClueError::invalid("sghmc state", format!("missing {k}")))
                .map(|t| t.shallow_clone())
        };
        let n = self.tau.len();
        for i in 0..n {
            for (kind, ts) in [
                ("tau", &mut self.tau),
                ("g", &mut self.g),
                ("v_hat", &mut self.v_hat),
                ("momentum", &mut self.momentum),
            ] {
                let t = get(format!("{prefix}{kind}.{i}"))?;
                if t.size() != ts[i].size() {
                    return Err(ClueError::invalid("sghmc state", format!("{kind}.{i}: shape {:?}", t.size())));
                }
                ts[i] = t.to(ts[i].device());
            }
        }
        let lambda: Vec<f64> = get(format!("{prefix}lambda"))?.try_into()?;
        if lambda.len() != n {
            return Err(ClueError::invalid("sghmc state", "lambda count"));
        }
        self.lambda = lambda;
        self.it = get(format!("{prefix}it"))?.int64_value(&[0]) as u64;
        Ok(())
    }
}
