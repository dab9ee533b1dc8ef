//! Spec §6: CLUE. Minimises, over the latent code z of a generative model, the predictive
//! uncertainty of the decoded input plus `λ_x/D · ‖x(z) − x0‖₁`, with Adam on a whole batch
//! of rows at once. Early stopping is per-row bookkeeping (every row keeps being optimised);
//! the full trajectories are kept.
//!
//! ```no_run
//! use clue::{bnn::BnnSamples, clue::Clue, params::ClueParams, vae::TabularVae};
//! # fn demo(bnn: &BnnSamples, vae: &TabularVae, x0: &tch::Tensor) -> clue::Result<()> {
//! let params = ClueParams { lambda_x: 1.5, max_steps: 50, ..Default::default() };
//! let out = Clue::new(params)?.explain(bnn, vae, x0)?;
//! println!("σ before {:?} → after {:?}", out.before.total, out.after.total);
//! # Ok(()) }
//! ```

use crate::bnn::BnnSamples;
use crate::params::{ClueInit, ClueParams};
use crate::uncertainty::{entropy_decomposition, Decomposition};
use crate::vae::TabularVae;
use crate::{ClueError, Result};
use tch::{Kind, Tensor};

/// Anything that gives an uncertainty decomposition and a predictive mean for a batch.
pub trait UncertaintyModel {
    fn decompose(&self, x: &Tensor) -> Result<Decomposition>;
    /// Sample-mean class probabilities `[N, K]` or sample-mean μ `[N, d]`.
    fn predictive_mean(&self, x: &Tensor) -> Result<Tensor>;
    /// Both of the above; a model whose forward pass is the expensive part overrides this
    /// to run it once.
    fn decompose_with_mean(&self, x: &Tensor) -> Result<(Decomposition, Tensor)> {
        Ok((self.decompose(x)?, self.predictive_mean(x)?))
    }
}

impl UncertaintyModel for BnnSamples {
    fn decompose(&self, x: &Tensor) -> Result<Decomposition> {
        BnnSamples::decompose(self, x)
    }
    fn predictive_mean(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.predict(x)?.mean())
    }
    fn decompose_with_mean(&self, x: &Tensor) -> Result<(Decomposition, Tensor)> {
        let p = self.predict(x)?;
        Ok((p.decompose(), p.mean()))
    }
}

/// Any function returning class probabilities `[S, N, K]` (or `[N, K]`, one sample) as a
/// model for CLUE.
pub struct ProbsFn<F>(pub F);

impl<F: Fn(&Tensor) -> Tensor> ProbsFn<F> {
    fn probs(&self, x: &Tensor) -> Result<Tensor> {
        let p = (self.0)(x);
        match p.dim() {
            2 => Ok(p.unsqueeze(0)),
            3 => Ok(p),
            d => {
                Err(ClueError::invalid("probability function", format!("returned a {d}-d tensor, expected [S, N, K]")))
            }
        }
    }
}

impl<F: Fn(&Tensor) -> Tensor> UncertaintyModel for ProbsFn<F> {
    fn decompose(&self, x: &Tensor) -> Result<Decomposition> {
        Ok(entropy_decomposition(&self.probs(x)?))
    }
    fn predictive_mean(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.probs(x)?.mean_dim(0, false, Kind::Float))
    }
}

/// A model that sees `(x − mean) / std` (MNIST's BNN: 0.1307 / 0.3081) while CLUE works on x.
pub struct Standardized<'a, M: ?Sized> {
    pub model: &'a M,
    pub mean: f64,
    pub std: f64,
}

impl<M: UncertaintyModel + ?Sized> UncertaintyModel for Standardized<'_, M> {
    fn decompose(&self, x: &Tensor) -> Result<Decomposition> {
        self.model.decompose(&((x - self.mean) / self.std))
    }
    fn predictive_mean(&self, x: &Tensor) -> Result<Tensor> {
        self.model.predictive_mean(&((x - self.mean) / self.std))
    }
}

/// A latent space CLUE searches in.
pub trait LatentDecoder {
    /// Initial code `[N, d_z]` of inputs `[N, D]` (encoder mean).
    fn encode_mean(&self, x: &Tensor) -> Result<Tensor>;
    /// Decoded input `[N, D]`, differentiable in z.
    fn regenerate(&self, z: &Tensor) -> Result<Tensor>;
}

impl LatentDecoder for TabularVae {
    fn encode_mean(&self, x: &Tensor) -> Result<Tensor> {
        match self.likelihood {
            crate::vae::Likelihood::GaussCat => self.blocks.validate_rows(x)?,
            crate::vae::Likelihood::Bernoulli => {
                if x.dim() != 2 || x.size()[1] as usize != self.blocks.flat_dim() {
                    return Err(ClueError::bad_input(
                        "x0",
                        format!("expected [N, {}], got {:?}", self.blocks.flat_dim(), x.size()),
                    ));
                }
            }
        }
        Ok(TabularVae::encode_mean(self, x))
    }
    fn regenerate(&self, z: &Tensor) -> Result<Tensor> {
        Ok(TabularVae::regenerate(self, z))
    }
}

/// No generative model: z = x (spec §7 input-space CLUE).
pub struct InputSpace;

impl LatentDecoder for InputSpace {
    fn encode_mean(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.detach().copy())
    }
    fn regenerate(&self, z: &Tensor) -> Result<Tensor> {
        Ok(z.shallow_clone())
    }
}

/// Per-row early-stopping bookkeeping: row i stops at the first `t > min_steps` with
/// `|c[t−n] − c[t]| < max(0.01·c[0], 1e-3)`; its CLUE is the iterate of step `t − n + 1`.
#[derive(Debug, Clone)]
pub struct EarlyStop {
    min_steps: usize,
    n: usize,
    history: Vec<Vec<f64>>,
    stop: Vec<Option<usize>>,
}

impl EarlyStop {
    pub fn new(rows: usize, min_steps: usize, n: usize) -> Self {
        Self { min_steps, n, history: Vec::new(), stop: vec![None; rows] }
    }

    /// Records the costs of step `history.len()` (before that step's update).
    pub fn observe(&mut self, costs: &[f64]) {
        let t = self.history.len();
        self.history.push(costs.to_vec());
        if t <= self.min_steps || t < self.n {
            return;
        }
        let (c0, back) = (&self.history[0], &self.history[t - self.n]);
        for (i, stop) in self.stop.iter_mut().enumerate() {
            if stop.is_none() {
                let delta = (back[i] - costs[i]).abs();
                if delta < 0.01 * c0[i] || delta < 1e-3 {
                    *stop = Some(t);
                }
            }
        }
    }

    /// The step at which each row converged (the official `it_mask`; `None` = never).
    pub fn stop_steps(&self) -> &[Option<usize>] {
        &self.stop
    }

    /// Index of the returned iterate per row: `t − n + 1` for converged rows, else
    /// `last` (the final iterate).
    pub fn returned_indices(&self, last: usize) -> Vec<usize> {
        self.stop.iter().map(|s| s.map_or(last, |t| t + 1 - self.n)).collect()
    }
}

/// Per-step records `[T, N]` (values before the update of step t) and iterates.
#[derive(Debug)]
pub struct Trajectory {
    pub cost: Tensor,
    /// Weighted uncertainty term.
    pub uncertainty: Tensor,
    pub total: Tensor,
    pub aleatoric: Tensor,
    pub epistemic: Tensor,
    /// Weighted distance `(λ_x/D)·‖x − x0‖₁`.
    pub distance: Tensor,
    /// `[T+1, N, D]`: `x[t]` decoded from the z used at step t; `x[T]` from the final z.
    pub x: Tensor,
    /// `[T+1, N, d_z]`: `z[0] = z0`, `z[t]` after t Adam steps.
    pub z: Tensor,
}

/// CLUE's result for a batch.
#[derive(Debug)]
pub struct ClueOutput {
    /// `[N, D]` counterfactuals.
    pub x_clue: Tensor,
    /// `[N, d_z]` the codes that decode to them.
    pub z_clue: Tensor,
    /// Official `it_mask`: the step at which each row converged.
    pub stop_steps: Vec<Option<usize>>,
    /// Index into the trajectory of each row's returned iterate.
    pub returned: Vec<usize>,
    pub before: Decomposition,
    pub after: Decomposition,
    pub prediction_before: Tensor,
    pub prediction_after: Tensor,
    /// `[N]` ‖x_clue − x0‖₁.
    pub l1: Tensor,
    pub trajectory: Trajectory,
}

/// The CLUE optimiser.
#[derive(Debug, Clone)]
pub struct Clue {
    pub params: ClueParams,
}

fn gather_rows(traj: &Tensor, idx: &[usize]) -> Tensor {
    // traj [T+1, N, …] → [N, …] with row i from step idx[i].
    let rows: Vec<Tensor> = idx.iter().enumerate().map(|(i, &t)| traj.get(t as i64).get(i as i64)).collect();
    Tensor::stack(&rows, 0)
}

impl Clue {
    pub fn new(params: ClueParams) -> Result<Self> {
        params.validate()?;
        Ok(Self { params })
    }

    /// CLUEs of `x0 [N, D]` starting from the configured initialisation.
    pub fn explain(&self, model: &dyn UncertaintyModel, dec: &dyn LatentDecoder, x0: &Tensor) -> Result<ClueOutput> {
        let z0 = dec.encode_mean(x0)?;
        let z0 = match self.params.init {
            ClueInit::EncoderMean => z0,
            ClueInit::Zero => z0.zeros_like(),
            ClueInit::Prior => z0.randn_like(),
            ClueInit::Perturbed { std } => &z0 + z0.randn_like() * std,
        };
        self.explain_from(model, dec, x0, &z0)
    }

    /// [`Clue::explain`] on chunks of at most `batch` rows (0 = one chunk), joined: rows are
    /// independent (the loss is their sum, Adam is elementwise), so the result is the
    /// whole batch's while memory is bounded by the chunk (the spec caps batches at 1 024).
    pub fn explain_in_batches(
        &self,
        model: &dyn UncertaintyModel,
        dec: &dyn LatentDecoder,
        x0: &Tensor,
        batch: usize,
    ) -> Result<ClueOutput> {
        let n = x0.size().first().copied().unwrap_or(0);
        if batch == 0 || n <= batch as i64 {
            return self.explain(model, dec, x0);
        }
        let parts: Vec<ClueOutput> = (0..n)
            .step_by(batch)
            .map(|s| self.explain(model, dec, &x0.narrow(0, s, (batch as i64).min(n - s))))
            .collect::<Result<_>>()?;
        let cat =
            |dim: i64, f: &dyn Fn(&ClueOutput) -> &Tensor| Tensor::cat(&parts.iter().map(f).collect::<Vec<_>>(), dim);
        let dec_cat = |f: &dyn Fn(&ClueOutput) -> &Decomposition| Decomposition {
            total: Tensor::cat(&parts.iter().map(|p| &f(p).total).collect::<Vec<_>>(), 0),
            aleatoric: Tensor::cat(&parts.iter().map(|p| &f(p).aleatoric).collect::<Vec<_>>(), 0),
            epistemic: Tensor::cat(&parts.iter().map(|p| &f(p).epistemic).collect::<Vec<_>>(), 0),
        };
        Ok(ClueOutput {
            x_clue: cat(0, &|p| &p.x_clue),
            z_clue: cat(0, &|p| &p.z_clue),
            stop_steps: parts.iter().flat_map(|p| p.stop_steps.iter().copied()).collect(),
            returned: parts.iter().flat_map(|p| p.returned.iter().copied()).collect(),
            before: dec_cat(&|p| &p.before),
            after: dec_cat(&|p| &p.after),
            prediction_before: cat(0, &|p| &p.prediction_before),
            prediction_after: cat(0, &|p| &p.prediction_after),
            l1: cat(0, &|p| &p.l1),
            trajectory: Trajectory {
                cost: cat(1, &|p| &p.trajectory.cost),
                uncertainty: cat(1, &|p| &p.trajectory.uncertainty),
                total: cat(1, &|p| &p.trajectory.total),
                aleatoric: cat(1, &|p| &p.trajectory.aleatoric),
                epistemic: cat(1, &|p| &p.trajectory.epistemic),
                distance: cat(1, &|p| &p.trajectory.distance),
                x: cat(1, &|p| &p.trajectory.x),
                z: cat(1, &|p| &p.trajectory.z),
            },
        })
    }

    /// `n` diverse CLUEs per row by restarts from `z0 + N(0, init_std²)` (spec §6; seeded by tch's RNG).
    pub fn explain_restarts(
        &self,
        model: &dyn UncertaintyModel,
        dec: &dyn LatentDecoder,
        x0: &Tensor,
        n: usize,
        init_std: f64,
    ) -> Result<Vec<ClueOutput>> {
        let z0 = dec.encode_mean(x0)?;
        (0..n).map(|_| self.explain_from(model, dec, x0, &(&z0 + z0.randn_like() * init_std))).collect()
    }

    /// CLUEs of `x0 [N, D]` from a given `z0 [N, d_z]`.
    // Out-of-place on purpose: `+=` on tensors is an in-place op, which autograd may reject.
    #[allow(clippy::assign_op_pattern)]
    pub fn explain_from(
        &self,
        model: &dyn UncertaintyModel,
        dec: &dyn LatentDecoder,
        x0: &Tensor,
        z0: &Tensor,
    ) -> Result<ClueOutput> {
        let p = &self.params;
        let (n, d) = match x0.size()[..] {
            [n, d] => (n, d),
            ref s => return Err(ClueError::bad_input("x0", format!("expected [N, D], got {s:?}"))),
        };
        if z0.dim() != 2 || z0.size()[0] != n {
            return Err(ClueError::bad_input("z0", format!("expected [{n}, d_z], got {:?}", z0.size())));
        }
        let x0 = x0.detach();
        let dist_w = p.lambda_x / d as f64;
        let mut z = z0.detach().copy().set_requires_grad(true);
        let (mut m, mut v) = (z.zeros_like(), z.zeros_like());
        let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
        let mut stop = EarlyStop::new(n as usize, p.min_steps, p.n_early_stop);
        let mut rec: [Vec<Tensor>; 6] = Default::default();
        let (mut xs, mut zs) = (Vec::new(), vec![z.detach().copy()]);
        for t in 0..p.max_steps {
            let x = dec.regenerate(&z)?;
            let dec_u = model.decompose(&x)?;
            let u = dec_u.weighted(p.uncertainty_weight, p.aleatoric_weight, p.epistemic_weight);
            let dist = (&x - &x0).abs().sum_dim_intlist(1, false, Kind::Float) * dist_w;
            let mut cost = &u + &dist;
            if p.latent_l2_weight != 0.0 {
                cost = cost + (&z - z0).square().sum_dim_intlist(1, false, Kind::Float) * p.latent_l2_weight;
            }
            if p.prior_weight != 0.0 {
                cost = cost + z.square().sum_dim_intlist(1, false, Kind::Float) * (0.5 * p.prior_weight);
            }
            let c: Vec<f64> = cost.detach().to_kind(Kind::Double).try_into()?;
            if c.iter().any(|v| !v.is_finite()) {
                return Err(ClueError::NonFinite { what: "CLUE cost".into(), at: format!("step {t}") });
            }
            stop.observe(&c);
            for (r, tns) in rec.iter_mut().zip([&cost, &u, &dec_u.total, &dec_u.aleatoric, &dec_u.epistemic, &dist]) {
                r.push(tns.detach().copy());
            }
            xs.push(x.detach().copy());
            z.zero_grad();
            cost.sum(Kind::Float).backward();
            let g = z.grad();
            tch::no_grad(|| {
                let step = (t + 1) as i32;
                let _ = m.lerp_(&g, 1.0 - b1);
                let _ = v.g_mul_scalar_(b2);
                let _ = v.addcmul_(&(&g * (1.0 - b2)), &g);
                let step_size = p.lr / (1.0 - b1.powi(step));
                let denom = v.sqrt() / (1.0 - b2.powi(step)).sqrt() + eps;
                let _ = z.addcdiv_(&(&m * -step_size), &denom);
            });
            zs.push(z.detach().copy());
        }
        let z_final = z.detach();
        xs.push(tch::no_grad(|| dec.regenerate(&z_final))?.detach());
        let [cost, unc, total, alea, epi, dist] = rec.map(|r| Tensor::stack(&r, 0));
        let x_traj = Tensor::stack(&xs, 0);
        let z_traj = Tensor::stack(&zs, 0);
        let returned = stop.returned_indices(p.max_steps);
        let x_clue = gather_rows(&x_traj, &returned);
        let z_clue = gather_rows(&z_traj, &returned);
        let (before, after, prediction_before, prediction_after) = tch::no_grad(|| -> Result<_> {
            let (b, pb) = model.decompose_with_mean(&x0)?;
            let (a, pa) = model.decompose_with_mean(&x_clue)?;
            Ok((b.detach(), a.detach(), pb.detach(), pa.detach()))
        })?;
        let l1 = (&x_clue - &x0).abs().sum_dim_intlist(1, false, Kind::Float);
        Ok(ClueOutput {
            x_clue,
            z_clue,
            stop_steps: stop.stop_steps().to_vec(),
            returned,
            before,
            after,
            prediction_before,
            prediction_after,
            l1,
            trajectory: Trajectory {
                cost,
                uncertainty: unc,
                total,
                aleatoric: alea,
                epistemic: epi,
                distance: dist,
                x: x_traj,
                z: z_traj,
            },
        })
    }
}
