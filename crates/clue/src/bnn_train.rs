//! Spec §3 training schedule: mini-batch SG-HMC over an [`Mlp`], burn-in epochs that adapt
//! the preconditioner, and a FIFO of saved weight samples. Loss per step = N_train · mean
//! batch NLL (cross-entropy, or heteroscedastic Gaussian with σ clamped at 1e-3).

use crate::bnn::{BnnSamples, Head, Mlp, MlpSpec};
use crate::sghmc::{ClipBuffer, ClipParams, Sghmc, SghmcParams};
use crate::{ClueError, Result};
use std::collections::VecDeque;
use tch::{Device, Kind, Tensor};

/// The schedule of one SG-HMC run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BnnTrainParams {
    pub epochs: usize,
    pub batch_size: usize,
    /// Epoch e adapts iff `e mod re_burn < burn_in`.
    pub burn_in: usize,
    pub re_burn: usize,
    pub sample_every: usize,
    pub n_saves: usize,
    pub sghmc: SghmcParams,
    /// `None`: no clipping.
    pub clip: Option<ClipParams>,
}

impl BnnTrainParams {
    /// Paper values for tabular data (spec §3), classification or regression clipping.
    pub fn tabular(classification: bool) -> Self {
        Self {
            epochs: 2200,
            batch_size: 512,
            burn_in: 120,
            re_burn: 10_000_000,
            sample_every: 20,
            n_saves: 100,
            sghmc: SghmcParams::default(),
            clip: Some(if classification {
                ClipParams { buffer: 1000, std_mul: 30.0 }
            } else {
                ClipParams { buffer: 100, std_mul: 20.0 }
            }),
        }
    }

    pub fn validate(&self) -> Result<()> {
        for (name, v) in [
            ("bnn.epochs", self.epochs),
            ("bnn.batch_size", self.batch_size),
            ("bnn.re_burn", self.re_burn),
            ("bnn.sample_every", self.sample_every),
            ("bnn.n_saves", self.n_saves),
        ] {
            if v == 0 {
                return Err(ClueError::invalid(name, "must be ≥ 1"));
            }
        }
        if self.burn_in >= self.epochs {
            return Err(ClueError::invalid(
                "bnn.burn_in",
                format!("{} burn-in epochs leave no sampling epoch of {}", self.burn_in, self.epochs),
            ));
        }
        self.sghmc.validate()
    }

    fn is_burn_in(&self, epoch: usize) -> bool {
        epoch % self.re_burn < self.burn_in
    }
}

/// One epoch's log line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EpochLog {
    pub epoch: usize,
    /// Mean per-row NLL over the epoch's batches.
    pub nll: f64,
    pub burn_in: bool,
    pub saved_samples: usize,
    pub clip_threshold: f64,
}

/// Per-row NLL `[N]` of raw outputs under the head (training form: σ ≥ 1e-3).
pub fn nll(head: Head, out: &Tensor, y: &Tensor) -> Tensor {
    match head {
        Head::Classification { .. } => {
            let lp = out.log_softmax(1, Kind::Float);
            -lp.gather(1, &y.to_kind(Kind::Int64).unsqueeze(1), false).squeeze_dim(1)
        }
        Head::Gaussian { outputs } => {
            let d = outputs as i64;
            let mu = out.narrow(1, 0, d);
            let sigma = out.narrow(1, d, d).softplus().clamp_min(1e-3);
            let y = y.to_kind(Kind::Float).reshape([out.size()[0], d]);
            let per =
                (y - mu).square() / (sigma.square() * 2.0) + sigma.log() + 0.5 * (2.0 * std::f64::consts::PI).ln();
            per.sum_dim_intlist(1, false, Kind::Float)
        }
    }
}

/// A resumable SG-HMC run: network, sampler, clipping buffer, saved-sample FIFO.
pub struct BnnTrainer {
    pub params: BnnTrainParams,
    pub mlp: Mlp,
    pub sampler: Sghmc,
    pub clip: Option<ClipBuffer>,
    pub saved: VecDeque<Vec<Tensor>>,
    /// Next epoch to run.
    pub epoch: usize,
}

impl BnnTrainer {
    pub fn new(spec: MlpSpec, params: BnnTrainParams, device: Device) -> Result<Self> {
        params.validate()?;
        let mlp = Mlp::new(spec, device)?;
        let sampler = Sghmc::new(params.sghmc, &mlp.parameters())?;
        Ok(Self { params, clip: params.clip.map(ClipBuffer::new), mlp, sampler, saved: VecDeque::new(), epoch: 0 })
    }

    /// Runs one epoch over `(x, y)`; errors on a non-finite loss.
    pub fn run_epoch(&mut self, x: &Tensor, y: &Tensor) -> Result<EpochLog> {
        let n = x.size()[0];
        if n == 0 {
            return Err(ClueError::bad_input("bnn training data", "no rows"));
        }
        let e = self.epoch;
        let burn = self.params.is_burn_in(e);
        let perm = Tensor::randperm(n, (Kind::Int64, x.device()));
        let bs = self.params.batch_size as i64;
        let params = self.mlp.parameters();
        let (mut total, mut rows) = (0.0, 0i64);
        let mut start = 0;
        while start < n {
            let len = bs.min(n - start);
            let idx = perm.narrow(0, start, len);
            let (xb, yb) = (x.index_select(0, &idx), y.index_select(0, &idx));
            for p in &params {
                let mut g = p.grad();
                if g.defined() {
                    let _ = g.zero_();
                }
            }
            let per_row = nll(self.mlp.spec.head, &self.mlp.forward(&xb), &yb);
            let mean = per_row.mean(Kind::Float);
            let v = mean.double_value(&[]);
            if !v.is_finite() {
                return Err(ClueError::NonFinite {
                    what: "BNN loss".into(),
                    at: format!("epoch {e}, batch at row {start}"),
                });
            }
            (mean * n as f64).backward();
            let grads: Vec<Tensor> = params.iter().map(|p| p.grad()).collect();
            if let Some(clip) = &mut self.clip {
                // One host sync for the whole gradient norm, not one per tensor.
                let per_tensor: Vec<Tensor> = grads.iter().map(|g| g.square().sum(Kind::Double)).collect();
                let sq = Tensor::stack(&per_tensor, 0).sum(Kind::Double).double_value(&[]);
                let scale = clip.observe(sq.sqrt());
                if scale < 1.0 {
                    tch::no_grad(|| {
                        for g in &grads {
                            let _ = g.shallow_clone().g_mul_scalar_(scale);
                        }
                    });
                }
            }
            self.sampler.step(&params, &grads, burn)?;
            total += v * len as f64;
            rows += len;
            start += len;
        }
        if e % self.params.re_burn >= self.params.burn_in && e % self.params.sample_every == 0 {
            self.saved.push_back(self.mlp.snapshot());
            if self.saved.len() > self.params.n_saves {
                self.saved.pop_front();
            }
        }
        self.epoch += 1;
        Ok(EpochLog {
            epoch: e,
            nll: total / rows as f64,
            burn_in: burn,
            saved_samples: self.saved.len(),
            clip_threshold: self.clip.as_ref().map_or(f64::INFINITY, |c| c.threshold()),
        })
    }

    /// Runs the remaining epochs, calling `on_epoch` after each (logging, checkpoints).
    pub fn train(
        &mut self,
        x: &Tensor,
        y: &Tensor,
        mut on_epoch: impl FnMut(&Self, &EpochLog) -> Result<()>,
    ) -> Result<BnnSamples> {
        while self.epoch < self.params.epochs {
            let log = self.run_epoch(x, y)?;
            on_epoch(self, &log)?;
        }
        self.samples()
    }

    /// The saved samples, stacked.
    pub fn samples(&self) -> Result<BnnSamples> {
        let snaps: Vec<Vec<Tensor>> =
            self.saved.iter().map(|s| s.iter().map(Tensor::shallow_clone).collect()).collect();
        BnnSamples::from_snapshots(self.mlp.spec, &snaps)
    }

    /// Everything needed to resume: weights, sampler state, saved samples, epoch.
    pub fn checkpoint(&self) -> Vec<(String, Tensor)> {
        let mut named: Vec<(String, Tensor)> =
            self.mlp.parameters().into_iter().enumerate().map(|(i, t)| (format!("theta.{i}"), t)).collect();
        named.extend(self.sampler.state("sampler."));
        for (s, snap) in self.saved.iter().enumerate() {
            named.extend(snap.iter().enumerate().map(|(i, t)| (format!("saved.{s}.{i}"), t.shallow_clone())));
        }
        named.push(("epoch".into(), Tensor::from_slice(&[self.epoch as i64, self.saved.len() as i64])));
        named
    }

    /// Restores [`BnnTrainer::checkpoint`] (the clipping buffer restarts empty).
    pub fn restore(&mut self, named: &std::collections::HashMap<String, Tensor>) -> Result<()> {
        let get = |k: &str| named.get(k).ok_or_else(|| ClueError::invalid("bnn checkpoint", format!("missing {k}")));
        let params = self.mlp.parameters();
        for (i, p) in params.iter().enumerate() {
            let t = get(&format!("theta.{i}"))?;
            if t.size() != p.size() {
                return Err(ClueError::invalid(
                    "bnn checkpoint",
                    format!("theta.{i}: shape {:?}, model {:?} (another architecture?)", t.size(), p.size()),
                ));
            }
        }
        self.sampler.load_state("sampler.", named)?;
        let counters: Vec<i64> = get("epoch")?.shallow_clone().try_into()?;
        let mut saved = VecDeque::new();
        for s in 0..counters[1] {
            let snap = (0..params.len())
                .map(|i| get(&format!("saved.{s}.{i}")).map(|t| t.to(params[i].device())))
                .collect::<Result<Vec<_>>>()?;
            saved.push_back(snap);
        }
        tch::no_grad(|| {
            for (i, p) in params.iter().enumerate() {
                p.shallow_clone().copy_(&named[&format!("theta.{i}")]);
            }
        });
        self.saved = saved;
        self.epoch = counters[0] as usize;
        Ok(())
    }
}
