//! Fitting a [`Senn`] the reference's way (spec §2): an "epoch" is **one Adam step** on
//! one minibatch of ⌊√n⌋ rows drawn with replacement. Warm fits keep the weights and the
//! Adam state; cold fits restore the initial weights and start a fresh Adam.

use crate::losses::{explanation_loss, label_loss, relevance_gradient, total_loss, Terms};
use crate::params::{Lambdas, SennParams};
use crate::senn::logit_of;
use crate::senn::Senn;
use crate::{CalimochoError, Result};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};
use xai_core::optim::{Adam, AdamConfig, Optimizer};

/// Adam as the reference configures it: β = (0.9, 0.999), ε = 1e-8.
pub fn adam_config(lr: f64) -> AdamConfig {
    AdamConfig { lr, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0 }
}

/// Warm or cold start of a [`Trainer::fit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Keep the current weights and Adam moments.
    Warm,
    /// Restore the weights saved at construction and reset Adam.
    Cold,
}

/// Loss terms of the last step of a fit, read back once per fit.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FitStats {
    pub steps: usize,
    pub batch_size: usize,
    pub total: f64,
    pub label: f64,
    pub explanation: f64,
}

/// A SENN with its optimiser, loss weights and minibatch RNG.
pub struct Trainer {
    pub senn: Senn,
    adam: Adam,
    lr: f64,
    pub lambdas: Lambdas,
    batch_size: Option<usize>,
    rng: ChaCha8Rng,
    steps_taken: usize,
    /// Reused buffer of minibatch indices.
    idx: Vec<i64>,
    /// Use autograd even where the hand-written gradient applies (tests compare the two).
    pub autograd: bool,
}

/// ⌊√n⌋, at least 1.
pub fn default_batch_size(n: usize) -> usize {
    ((n as f64).sqrt().floor() as usize).max(1)
}

impl Trainer {
    /// A new net (weights from libtorch's RNG) and a fresh Adam; `rng` draws minibatches.
    pub fn new(params: &SennParams, n_concepts: i64, device: Device, rng: ChaCha8Rng) -> Result<Self> {
        let senn = Senn::new(params, n_concepts, device)?;
        let adam = adam_config(params.lr).build(senn.var_store())?;
        Ok(Self {
            senn,
            adam,
            lr: params.lr,
            lambdas: params.lambdas,
            batch_size: params.batch_size,
            rng,
            steps_taken: 0,
            idx: vec![],
            autograd: false,
        })
    }

    /// Adam steps taken since construction (over all fits).
    pub fn steps_taken(&self) -> usize {
        self.steps_taken
    }

    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// Restores the initial weights and starts a fresh Adam.
    pub fn reset(&mut self) -> Result<()> {
        self.senn.reset()?;
        self.adam = adam_config(self.lr).build(self.senn.var_store())?;
        Ok(())
    }

    /// The batch size a fit on `n` rows uses.
    pub fn batch_size_for(&self, n: usize) -> usize {
        self.batch_size.unwrap_or_else(|| default_batch_size(n))
    }

    /// `steps` Adam steps on minibatches of (`x` `[n, C]`, explanation targets `z`
    /// `[n, C]`, labels `y` `[n]` in {0,1}). One host sync at the end.
    pub fn fit(&mut self, x: &Tensor, z: &Tensor, y: &Tensor, steps: usize, start: Start) -> Result<FitStats> {
        let n = x.size().first().copied().unwrap_or(0);
        let c = self.senn.n_concepts();
        if n == 0 || x.size() != [n, c] || z.size() != [n, c] || y.size() != [n] {
            return Err(CalimochoError::invalid(
                "fit data",
                format!(
                    "x {:?}, z {:?}, y {:?}; expected [n, {c}], [n, {c}], [n] with n > 0",
                    x.size(),
                    z.size(),
                    y.size()
                ),
            ));
        }
        if start == Start::Cold {
            self.reset()?;
        }
        let device = self.senn.device();
        let (x, z, y) = (x.to_device(device), z.to_device(device), y.to_device(device).to_kind(Kind::Float));
        let bs = self.batch_size_for(n as usize);
        let mut last = None;
        let mut last_batch = None;
        for _ in 0..steps {
            self.idx.clear();
            let rng = &mut self.rng;
            self.idx.extend((0..bs).map(|_| rng.gen_range(0..n)));
            let idx = Tensor::from_slice(&self.idx).to_device(device);
            let (xb, zb, yb) = (x.index_select(0, &idx), z.index_select(0, &idx), y.index_select(0, &idx));
            if self.lambdas.robustness > 0.0 || self.autograd {
                // Autograd (double backprop for R).
                let terms = total_loss(&self.senn, &xb, &zb, &yb, self.lambdas);
                self.adam.backward_step(&terms.total);
                last = Some(terms);
            } else {
                // Hand-written backward: no graph, gradients written in place.
                let acts = self.senn.activations(&xb);
                let w = acts.last().expect("a layer").shallow_clone();
                let f = tch::no_grad(|| logit_of(&w, &xb).sigmoid());
                let dw = tch::no_grad(|| relevance_gradient(&w, &f, &xb, &zb, &yb, self.lambdas));
                self.senn.accumulate_gradients(&xb, &acts, dw);
                self.adam.step();
                last_batch = Some((w, f, zb, yb));
            }
            self.steps_taken += 1;
        }
        if let Some((w, f, zb, yb)) = last_batch {
            let (label, explanation) = (label_loss(&f, &yb), explanation_loss(&w, &zb));
            let l0 = self.lambdas.label();
            let total = &label * l0 + &explanation * self.lambdas.explanation;
            last = Some(Terms { total, label, explanation, robustness: None });
        }
        let mut stats = FitStats { steps, batch_size: bs, ..FitStats::default() };
        if let Some(t) = last {
            let v = Vec::<f64>::try_from(
                Tensor::stack(&[t.total.detach(), t.label.detach(), t.explanation.detach()], 0).to_kind(Kind::Double),
            )?;
            (stats.total, stats.label, stats.explanation) = (v[0], v[1], v[2]);
            if !v.iter().all(|v| v.is_finite()) {
                return Err(
                    xai_core::Error::NonFinite(format!("SENN loss after {} steps: {v:?}", self.steps_taken)).into()
                );
            }
        }
        Ok(stats)
    }
}
