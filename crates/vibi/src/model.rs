//! The VIBI model: explainer + approximator trained jointly, and the explanations it gives.

use crate::chunks::ChunkGrid;
use crate::loss::{information, mean_ce, sampled_ce, CeScaling, KlKind, Targets};
use crate::sampling::{gumbel, relaxed_khot_with_noise, topk_mask, Phase, Temperature};
use crate::{Result, VibiError};
use std::collections::BTreeMap;
use tch::nn::{self, ModuleT, VarStore};
use tch::{Device, Kind, Tensor};
use xai_core::optim::{Adam, AdamConfig, Optimizer};

/// VIBI proper, or L2X (Chen et al. 2018), which is VIBI with β = 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    #[default]
    Vibi,
    /// β is forced to 0; a non-zero β in the same config is an error.
    L2x,
}

/// Hyper-parameters of the objective and optimiser.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub method: Method,
    /// k: chunks kept.
    pub k: i64,
    /// β ≥ 0 on the information term (0 for L2X).
    pub beta: f64,
    /// M: relaxed samples per input while training.
    pub samples: i64,
    pub temperature: Temperature,
    pub ce_scaling: CeScaling,
    pub kl: KlKind,
    pub targets: Targets,
    pub lr: f64,
    pub adam_betas: (f64, f64),
}

impl Settings {
    /// willisk's defaults for `k` and `beta` (M = 4, τ = 10/t after 200 warm-up steps,
    /// reference CE scaling, forward KL, soft targets, Adam lr 0.05). With these settings
    /// and the official weights the step's arrays match willisk's code (`tests/method_golden.rs`);
    /// the one sampling difference is the clamp in [`crate::sampling::gumbel`].
    pub fn reference(k: i64, beta: f64) -> Self {
        Self {
            method: Method::Vibi,
            k,
            beta,
            samples: 4,
            temperature: Temperature::Inverse { warmup_steps: 200, scale: 10.0 },
            ce_scaling: CeScaling::Reference,
            kl: KlKind::Forward,
            targets: Targets::Soft,
            lr: 0.05,
            adam_betas: (0.9, 0.999),
        }
    }

    /// The same settings as L2X: β = 0.
    pub fn l2x(mut self) -> Self {
        self.method = Method::L2x;
        self.beta = 0.0;
        self
    }

    /// The β actually used (0 under L2X).
    pub fn effective_beta(&self) -> f64 {
        match self.method {
            Method::Vibi => self.beta,
            Method::L2x => 0.0,
        }
    }

    /// Checks every value, naming the wrong one.
    pub fn validate(&self) -> Result<()> {
        if !(self.beta >= 0.0 && self.beta.is_finite()) {
            return Err(VibiError::invalid("beta", format!("{}; must be a finite number >= 0", self.beta)));
        }
        if self.method == Method::L2x && self.beta != 0.0 {
            return Err(VibiError::invalid("beta", format!("{} with method = \"l2x\"; L2X is beta = 0", self.beta)));
        }
        if self.samples < 1 {
            return Err(VibiError::invalid("num_samples", format!("{}; must be at least 1", self.samples)));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(VibiError::invalid("lr", format!("{}; must be positive", self.lr)));
        }
        let (b1, b2) = self.adam_betas;
        if !((0.0..1.0).contains(&b1) && (0.0..1.0).contains(&b2)) {
            return Err(VibiError::invalid("adam_betas", format!("[{b1}, {b2}]; each must be in [0, 1)")));
        }
        self.temperature.validate()
    }
}

/// Numbers of one training step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepStats {
    /// 0-based global step that was taken.
    pub step: u64,
    pub warmup: bool,
    /// τ (NaN during warm-up, where no sample is drawn).
    pub temp: f64,
    pub loss: f64,
    /// The CE term H(p, q) as scaled in the loss.
    pub ce: f64,
    /// The information term before β.
    pub kl: f64,
    /// Argmax of the M-sample mean of logits vs argmax of the target.
    pub acc_sampled: f64,
}

/// The tensors of one relaxed (training) forward pass.
#[derive(Debug)]
pub struct Relaxed {
    /// Chunk logits `[B, F]` (explainer in train mode).
    pub logits_z: Tensor,
    /// Relaxed k-hot samples `[B, M, F]`.
    pub z: Tensor,
    /// Approximator logits on the masked inputs `[B, M, C]`.
    pub logits: Tensor,
}

/// Explainer, approximator, their optimisers and the global step counter.
pub struct Vibi {
    pub explainer_vs: VarStore,
    pub approximator_vs: VarStore,
    explainer: Box<dyn ModuleT>,
    approximator: Box<dyn ModuleT>,
    pub grid: ChunkGrid,
    pub settings: Settings,
    // Two optimisers with the same hyper-parameters equal one over both nets (Adam is
    // per-parameter) and make "the explainer is not updated during warm-up" explicit.
    opt_explainer: Adam,
    opt_approximator: Adam,
    step: u64,
}

/// Builds a network under the given variable-store path.
pub type Builder<'a> = Box<dyn FnOnce(nn::Path) -> Result<Box<dyn ModuleT>> + 'a>;

impl Vibi {
    /// Builds both nets on `device` for inputs `[C, H, W]`. The chunk grid is read off the
    /// explainer's output shape; k larger than F is an error naming both.
    pub fn new(
        device: Device,
        input: [i64; 3],
        explainer: Builder<'_>,
        approximator: Builder<'_>,
        settings: Settings,
    ) -> Result<Self> {
        settings.validate()?;
        let explainer_vs = VarStore::new(device);
        let approximator_vs = VarStore::new(device);
        let explainer = explainer(explainer_vs.root())?;
        let approximator = approximator(approximator_vs.root())?;
        let [c, h, w] = input;
        let probe = tch::no_grad(|| explainer.forward_t(&Tensor::zeros([2, c, h, w], (Kind::Float, device)), false));
        let grid = ChunkGrid::from_output(h, w, &probe.size())?;
        grid.check_k(settings.k)?;
        let (b1, b2) = settings.adam_betas;
        let adam = AdamConfig::lr(settings.lr).betas(b1, b2);
        let opt_explainer = adam.build(&explainer_vs)?;
        let opt_approximator = adam.build(&approximator_vs)?;
        Ok(Self {
            explainer_vs,
            approximator_vs,
            explainer,
            approximator,
            grid,
            settings,
            opt_explainer,
            opt_approximator,
            step: 0,
        })
    }

    /// The global step counter (steps taken so far).
    pub fn step(&self) -> u64 {
        self.step
    }

    /// The phase the next step will be in.
    pub fn phase(&self) -> Phase {
        self.settings.temperature.at(self.step)
    }

    /// Chunk logits `[B, F]` in training or eval mode (with gradient when `train`).
    pub fn chunk_logits_t(&self, x: &Tensor, train: bool) -> Tensor {
        self.explainer.forward_t(x, train).flatten(1, -1)
    }

    /// Approximator logits for (masked) inputs.
    pub fn approximate_t(&self, t: &Tensor, train: bool) -> Tensor {
        self.approximator.forward_t(t, train)
    }

    /// Eval-mode chunk logits without gradient.
    pub fn chunk_logits(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| self.chunk_logits_t(x, false))
    }

    /// Hard explanation: the 0/1 top-k chunk mask `[B, F]`.
    pub fn explain(&self, x: &Tensor) -> Tensor {
        topk_mask(&self.chunk_logits(x), self.settings.k)
    }

    /// p(z|x) = softmax over chunks, `[B, F]`.
    pub fn distribution(&self, x: &Tensor) -> Tensor {
        self.chunk_logits(x).softmax(-1, Kind::Float)
    }

    /// Eval-mode approximator logits for `x ⊙ up(z)`, masks `z [B, F]`.
    pub fn predict_masked(&self, x: &Tensor, z: &Tensor) -> Tensor {
        tch::no_grad(|| self.approximate_t(&self.grid.mask(x, z), false))
    }

    /// Recomputes the approximator's BatchNorm running statistics on the inputs the top-k
    /// metric feeds it: `x` (normalised images, e.g. training images) masked by their own
    /// top-k explanations, in batches of `batch_size`, averaged over batches with equal
    /// weight (a cumulative average, like PyTorch's `momentum=None`) instead of the training
    /// run's exponential average over relaxed samples. `bn_momentum` is the momentum the
    /// approximator's BatchNorm layers were built with (0.1, PyTorch's default, for every net
    /// in [`crate::nets`]): each batch's statistics are read back from one update that starts
    /// at zero. Returns how many running-statistics tensors were recomputed.
    pub fn recalibrate_approximator_bn(&mut self, x: &Tensor, batch_size: i64, bn_momentum: f64) -> Result<usize> {
        if batch_size < 2 || x.size()[0] < batch_size {
            return Err(VibiError::invalid(
                "recalibrate_approximator_bn",
                format!(
                    "needs batch_size >= 2 and at least one full batch; got {batch_size} for {} images",
                    x.size()[0]
                ),
            ));
        }
        if !(bn_momentum > 0.0 && bn_momentum <= 1.0) {
            return Err(VibiError::invalid(
                "recalibrate_approximator_bn",
                format!("bn_momentum {bn_momentum} is not in (0, 1]"),
            ));
        }
        let stats: Vec<Tensor> = self
            .approximator_vs
            .variables()
            .into_iter()
            .filter(|(name, _)| name.ends_with("running_mean") || name.ends_with("running_var"))
            .map(|(_, t)| t)
            .collect();
        let mut sums: Vec<Tensor> = stats.iter().map(|t| t.zeros_like()).collect();
        let mut batches = 0i64;
        tch::no_grad(|| {
            for xb in x.split(batch_size, 0).iter().filter(|b| b.size()[0] == batch_size) {
                let t = self.grid.mask(xb, &self.explain(xb));
                for s in &stats {
                    let _ = s.shallow_clone().zero_();
                }
                let _ = self.approximator.forward_t(&t, true);
                for (sum, s) in sums.iter_mut().zip(&stats) {
                    *sum += s;
                }
                batches += 1;
            }
            for (s, sum) in stats.iter().zip(&sums) {
                s.shallow_clone().copy_(&(sum / (bn_momentum * batches as f64)));
            }
        });
        Ok(stats.len())
    }

    /// The training forward pass (train mode, with gradient) under given Gumbel noise
    /// `[B, M, k, F]` (see [`crate::sampling::relaxed_khot_with_noise`]): what
    /// [`Vibi::train_step`] computes after warm-up, exposed so saved noise can be replayed.
    pub fn relaxed_forward(&self, x: &Tensor, tau: f64, noise: &Tensor) -> Relaxed {
        let b = x.size()[0];
        let m = noise.size()[1];
        let logits_z = self.chunk_logits_t(x, true);
        let z = relaxed_khot_with_noise(&logits_z, tau, noise);
        let logits = self.approximate_t(&self.grid.mask_samples(x, &z), true).reshape([b, m, -1]);
        Relaxed { logits_z, z, logits }
    }

    /// One Adam step on a batch: `x` normalised inputs `[B, C, H, W]`, `bb_probs` the black
    /// box's probabilities `[B, n_classes]`.
    pub fn train_step(&mut self, x: &Tensor, bb_probs: &Tensor) -> Result<StepStats> {
        let phase = self.phase();
        let targets = self.settings.targets.apply(bb_probs);
        let target_class = targets.argmax(-1, false);
        let (loss, ce, kl, pred, temp) = match phase {
            Phase::Warmup => {
                let logits = self.approximate_t(x, true);
                let ce = mean_ce(&logits, &targets);
                let kl = ce.zeros_like();
                (ce.shallow_clone(), ce, kl, logits.argmax(-1, false), f64::NAN)
            }
            Phase::Train(tau) => {
                let s = &self.settings;
                let noise = gumbel(&[x.size()[0], s.samples, s.k, self.grid.num_chunks()], x.device());
                let Relaxed { logits_z, logits, .. } = self.relaxed_forward(x, tau, &noise);
                let ce = sampled_ce(&logits, &targets, s.ce_scaling);
                let kl = information(&logits_z, s.kl, s.k);
                let loss = &ce + &kl * s.effective_beta();
                (loss, ce, kl, logits.mean_dim(1, false, Kind::Float).argmax(-1, false), tau)
            }
        };
        self.opt_explainer.zero_grad();
        self.opt_approximator.zero_grad();
        loss.backward();
        self.opt_approximator.step();
        if phase != Phase::Warmup {
            self.opt_explainer.step();
        }
        let acc = pred.eq_tensor(&target_class).to_kind(Kind::Float).mean(Kind::Float);
        // One host read per step for all logged numbers.
        let host = Vec::<f64>::try_from(
            Tensor::stack(&[loss.detach(), ce.detach(), kl.detach(), acc], 0)
                .to_kind(Kind::Double)
                .to_device(Device::Cpu),
        )?;
        let stats = StepStats {
            step: self.step,
            warmup: phase == Phase::Warmup,
            temp,
            loss: host[0],
            ce: host[1],
            kl: host[2],
            acc_sampled: host[3],
        };
        xai_core::train::ensure_finite(stats.loss, || format!("VIBI loss at step {}", self.step))?;
        self.step += 1;
        Ok(stats)
    }

    /// Weights of both nets (incl. BN running statistics) as `explainer.*` / `approximator.*`.
    pub fn weights(&self) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = Vec::new();
        for (prefix, vs) in [("explainer", &self.explainer_vs), ("approximator", &self.approximator_vs)] {
            let mut vars: Vec<_> = vs.variables().into_iter().collect();
            vars.sort_by(|a, b| a.0.cmp(&b.0));
            out.extend(vars.into_iter().map(|(n, t)| (format!("{prefix}.{n}"), t)));
        }
        out
    }

    /// Weights, optimiser moments and step counts: everything a resumed run needs
    /// besides the global step (kept in the checkpoint's JSON).
    pub fn full_state(&self) -> Vec<(String, Tensor)> {
        let mut out = self.weights();
        out.extend(self.opt_explainer.state("adam_explainer"));
        out.extend(self.opt_approximator.state("adam_approximator"));
        out
    }

    /// Loads [`Vibi::weights`] (and, with `with_optimizer`, the optimiser state) from named
    /// tensors; a missing tensor or a shape mismatch is an error naming it, and nothing is
    /// changed unless everything fits.
    pub fn load_state(&mut self, tensors: &BTreeMap<String, Tensor>, with_optimizer: bool) -> Result<()> {
        let mut pending = Vec::new();
        for (prefix, vs) in [("explainer", &self.explainer_vs), ("approximator", &self.approximator_vs)] {
            for (name, var) in vs.variables() {
                let key = format!("{prefix}.{name}");
                let src = tensors.get(&key).ok_or_else(|| {
                    VibiError::invalid("checkpoint", format!("{key} missing (a checkpoint of another model?)"))
                })?;
                if src.size() != var.size() {
                    return Err(VibiError::invalid(
                        "checkpoint",
                        format!(
                            "{key}: shape {:?} in checkpoint, {:?} in model (another configuration?)",
                            src.size(),
                            var.size()
                        ),
                    ));
                }
                pending.push((var, src.shallow_clone()));
            }
        }
        if with_optimizer {
            self.opt_explainer.load_state("adam_explainer", tensors)?;
            self.opt_approximator.load_state("adam_approximator", tensors)?;
        }
        tch::no_grad(|| {
            for (mut var, src) in pending {
                var.copy_(&src.to_device(var.device()));
            }
        });
        Ok(())
    }

    /// Sets the global step counter (resume, jump-start).
    pub fn set_step(&mut self, step: u64) {
        self.step = step;
    }

    /// Trainable parameters of the explainer and the approximator.
    pub fn param_counts(&self) -> (i64, i64) {
        (xai_core::nn::param_count(&self.explainer_vs), xai_core::nn::param_count(&self.approximator_vs))
    }
}
