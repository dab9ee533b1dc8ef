//! Spec §5.3: VAEAC (arbitrary-conditioning VAE, Ivanov et al. 2019, as the official code
//! implements it) over the tabular block layout: recognition net q(z|x), prior net
//! p_ψ(z | x_obs, mask), generator; per-feature "top masker"; inpainting. The generator
//! scores rows with the gauss_cat likelihood, for all-continuous tables (Wine's ground
//! truth) a Gaussian with a learned variance, or for MNIST independent Bernoullis on every
//! output (pixels and, in the ground truth, the 10 label dims).

use crate::blocks::Blocks;
use crate::vae::{Net, Posterior, VaeSpec};
use crate::vae_train::{VaeEpoch, VaeFit, VaeTrainParams};
use crate::{ClueError, Result};
use tch::nn;
use tch::{Device, Kind, Tensor};

/// Lower bound of the learned σ (spec §5.2, §14: 1e-2 for Wine's ground truth).
pub const MIN_SIGMA: f64 = 1e-2;

/// How the generator's output scores a row (spec §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VaeacLikelihood {
    /// D raw values: continuous `−(x − out)²`, categorical `−CE` (fixed variance, no ½).
    #[default]
    GaussCat,
    /// 2D values, μ = first half, σ = softplus(second half) clamped ≥ [`MIN_SIGMA`]; the
    /// full Gaussian log density `−½((x − μ)/σ)² − log σ − ½ log 2π`. All-continuous blocks only.
    LearnedGaussian,
    /// D logits, every dim (grey pixels and one-hot label dims alike) scored by
    /// `−BCE-with-logits` (spec §5.5: the label as 10 independent Bernoullis); decoded
    /// continuous dims are `sigmoid(logits)`, categorical blocks read their logits.
    Bernoulli,
}

impl VaeacLikelihood {
    fn code(self) -> i64 {
        match self {
            VaeacLikelihood::GaussCat => 0,
            VaeacLikelihood::LearnedGaussian => 1,
            VaeacLikelihood::Bernoulli => 2,
        }
    }
    fn from_code(c: i64) -> Option<Self> {
        [VaeacLikelihood::GaussCat, VaeacLikelihood::LearnedGaussian, VaeacLikelihood::Bernoulli]
            .into_iter()
            .find(|l| l.code() == c)
    }
}

/// A tabular VAEAC. Masks are `[N, D]` with 1 = unobserved.
pub struct Vaeac {
    pub blocks: Blocks,
    pub spec: VaeSpec,
    pub vs: nn::VarStore,
    likelihood: VaeacLikelihood,
    recognition: Net,
    prior: Net,
    generator: Net,
}

/// What the generator says about codes `[…, d_z]`: the location `[…, D]` (continuous values
/// or means, categorical logits) and, with a learned variance, σ `[…, D]`.
#[derive(Debug)]
pub struct Generated {
    pub mean: Tensor,
    pub sigma: Option<Tensor>,
}

/// Splits a learned-variance output `[…, 2D]` into μ and σ = softplus clamped ≥ [`MIN_SIGMA`].
pub fn learned_gaussian_params(out: &Tensor) -> (Tensor, Tensor) {
    let last = out.dim() as i64 - 1;
    let d = out.size()[last as usize] / 2;
    (out.narrow(last, 0, d), out.narrow(last, d, d).softplus().clamp_min(MIN_SIGMA))
}

/// `Σ_d [x_d log σ(l_d) + (1 − x_d) log(1 − σ(l_d))]` over the last dim: `[…]`
/// (x in [0, 1], not necessarily binary).
pub fn bernoulli_log_lik(x: &Tensor, logits: &Tensor) -> Tensor {
    -logits.binary_cross_entropy_with_logits::<Tensor>(x, None, None, tch::Reduction::None).sum_dim_intlist(
        -1,
        false,
        Kind::Float,
    )
}

/// `Σ_d log N(x_d; μ_d, σ_d²)` over the last dim, constants included: `[…]`.
pub fn gaussian_log_lik(x: &Tensor, mu: &Tensor, sigma: &Tensor) -> Tensor {
    let z = (x - mu) / sigma;
    (z.square() * -0.5 - sigma.log() - 0.5 * (2.0 * std::f64::consts::PI).ln()).sum_dim_intlist(-1, false, Kind::Float)
}

fn posterior(out: &Tensor, k: i64) -> Posterior {
    Posterior { mu: out.narrow(1, 0, k), sigma: out.narrow(1, k, k).softplus().clamp_min(1e-3) }
}

/// `KL(N(mu_q, σ_q²) ‖ N(mu_p, σ_p²))` summed over the last dim: `[N]`.
pub fn gaussian_kl_between(q: &Posterior, p: &Posterior) -> Tensor {
    ((&p.sigma / &q.sigma).log() + (q.sigma.square() + (&q.mu - &p.mu).square()) / (p.sigma.square() * 2.0) - 0.5)
        .sum_dim_intlist(-1, false, Kind::Float)
}

impl Vaeac {
    /// A gauss_cat VAEAC (PyTorch-default Linear init, BN weight 1 / bias 0).
    pub fn new(blocks: Blocks, spec: VaeSpec, device: Device) -> Result<Self> {
        Self::with_likelihood(blocks, spec, VaeacLikelihood::GaussCat, device)
    }

    /// A VAEAC scoring rows with `likelihood`; the learned-variance Gaussian doubles the
    /// generator's output and refuses categorical blocks.
    pub fn with_likelihood(blocks: Blocks, spec: VaeSpec, likelihood: VaeacLikelihood, device: Device) -> Result<Self> {
        spec.validate()?;
        if likelihood == VaeacLikelihood::LearnedGaussian && blocks.widths().iter().any(|&w| w > 1) {
            return Err(ClueError::invalid(
                "vaeac likelihood",
                format!(
                    "the learned-variance Gaussian needs all-continuous blocks, got {:?} (categorical blocks use gauss_cat)",
                    blocks.widths()
                ),
            ));
        }
        let vs = nn::VarStore::new(device);
        let d = blocks.flat_dim();
        let k = spec.latent_dim;
        let out = match likelihood {
            VaeacLikelihood::GaussCat | VaeacLikelihood::Bernoulli => d,
            VaeacLikelihood::LearnedGaussian => 2 * d,
        };
        let recognition = Net::new(vs.root() / "recognition", d, 2 * k, &spec, false);
        let prior = Net::new(vs.root() / "prior", 2 * d, 2 * k, &spec, false);
        let generator = Net::new(vs.root() / "generator", k, out, &spec, false);
        Ok(Self { blocks, spec, vs, likelihood, recognition, prior, generator })
    }

    /// The likelihood the generator's output is read with (fixed at construction).
    pub fn likelihood(&self) -> VaeacLikelihood {
        self.likelihood
    }

    /// Log-likelihood per row `[N]` of `x` under a raw generator output `out`.
    pub fn log_lik(&self, x: &Tensor, out: &Tensor) -> Tensor {
        match self.likelihood {
            VaeacLikelihood::GaussCat => self.blocks.gauss_cat_log_lik(x, out),
            VaeacLikelihood::LearnedGaussian => {
                let (mu, sigma) = learned_gaussian_params(out);
                gaussian_log_lik(x, &mu, &sigma)
            }
            VaeacLikelihood::Bernoulli => bernoulli_log_lik(x, out),
        }
    }

    fn split(&self, out: Tensor) -> Generated {
        match self.likelihood {
            VaeacLikelihood::GaussCat | VaeacLikelihood::Bernoulli => Generated { mean: out, sigma: None },
            VaeacLikelihood::LearnedGaussian => {
                let (mean, sigma) = learned_gaussian_params(&out);
                Generated { mean, sigma: Some(sigma) }
            }
        }
    }

    /// "Top masker" per feature: per row r ~ U(0, 1), each feature unobserved with
    /// probability r, the bit expanded over the feature's one-hot block. `[N, D]`.
    pub fn top_mask(&self, n: i64, device: Device) -> Tensor {
        let f = self.blocks.n_features() as i64;
        let r = Tensor::rand([n, 1], (Kind::Float, device));
        let per_feature = Tensor::rand([n, f], (Kind::Float, device)).lt_tensor(&r).to_kind(Kind::Float);
        let reps: Vec<i64> = self.blocks.widths().iter().map(|&w| w as i64).collect();
        per_feature.repeat_interleave_self_tensor(&Tensor::from_slice(&reps).to(device), 1, None)
    }

    fn prior_t(&self, x: &Tensor, mask: &Tensor, train: bool) -> Posterior {
        let observed = x * (1.0 - mask);
        posterior(
            &self.prior.forward_t(&Tensor::cat(&[observed, mask.shallow_clone()], 1), train),
            self.spec.latent_dim as i64,
        )
    }

    /// Per-row objective (to maximise): `log p(x | z∼q) − KL(q ‖ p_ψ) + R`, the
    /// reconstruction over all entries (observed included, as the official code).
    pub fn objective_t(&self, x: &Tensor, mask: &Tensor, train: bool) -> Tensor {
        self.objective(x, mask, train, true)
    }

    /// [`Vaeac::objective_t`]; `sample = false` decodes z = μ_q (the validation score).
    fn objective(&self, x: &Tensor, mask: &Tensor, train: bool, sample: bool) -> Tensor {
        let k = self.spec.latent_dim as i64;
        let q = posterior(&self.recognition.forward_t(x, train), k);
        let p = self.prior_t(x, mask, train);
        let z = if sample { &q.mu + &q.sigma * q.mu.randn_like() } else { q.mu.shallow_clone() };
        let out = self.generator.forward_t(&z, train);
        let rec = self.log_lik(x, &out);
        let reg = -p.mu.square().sum_dim_intlist(1, false, Kind::Float) / (2.0 * 1e8)
            + (p.sigma.log() - &p.sigma).sum_dim_intlist(1, false, Kind::Float) * 1e-4;
        rec - gaussian_kl_between(&q, &p) + reg
    }

    /// Training loss with fresh top masks: `−mean(objective) / F`.
    pub fn loss(&self, x: &Tensor) -> Tensor {
        let mask = self.top_mask(x.size()[0], x.device());
        -self.objective_t(x, &mask, true).mean(Kind::Float) / self.blocks.n_features() as f64
    }

    /// Inpainting (eval mode, no gradient): z = prior mean given the observed part,
    /// generator output (the mean, with a learned variance; sigmoid probabilities of the
    /// continuous dims, with a Bernoulli likelihood) with hard one-hot categorical blocks
    /// (`probs`: softmax instead); observed entries are kept.
    pub fn inpaint(&self, x: &Tensor, mask: &Tensor, probs: bool) -> Result<Tensor> {
        if x.size() != mask.size() || x.dim() != 2 || x.size()[1] as usize != self.blocks.flat_dim() {
            return Err(ClueError::bad_input("inpaint", format!("x {:?} / mask {:?}", x.size(), mask.size())));
        }
        Ok(tch::no_grad(|| {
            let p = self.prior_t(x, mask, false);
            let out = self.split(self.generator.forward_t(&p.mu, false)).mean;
            let filled = if probs { self.blocks.soft(&out) } else { self.blocks.hard(&out) };
            let filled =
                if self.likelihood == VaeacLikelihood::Bernoulli { self.sigmoid_continuous(&filled) } else { filled };
            x * (1.0 - mask) + filled * mask
        }))
    }
}

impl Vaeac {
    /// `sigmoid` on the continuous (width-1) dims of `t [N, D]`, categorical blocks as they
    /// are (one masked blend: 784 narrow/cat pairs per call would dominate inpainting).
    fn sigmoid_continuous(&self, t: &Tensor) -> Tensor {
        let flags: Vec<f32> = self
            .blocks
            .widths()
            .iter()
            .flat_map(|&w| std::iter::repeat(if w == 1 { 1.0 } else { 0.0 }).take(w))
            .collect();
        let cont = Tensor::from_slice(&flags).to_device(t.device()).to_kind(t.kind());
        t.sigmoid() * &cont + t * (1.0 - &cont)
    }

    /// `q(z | x)` of the recognition net.
    pub fn recognition_t(&self, x: &Tensor, train: bool) -> Posterior {
        posterior(&self.recognition.forward_t(x, train), self.spec.latent_dim as i64)
    }

    /// `p_ψ(z | x_obs, mask)` in eval mode (the conditional the ground truth answers with).
    pub fn prior_posterior(&self, x: &Tensor, mask: &Tensor) -> Posterior {
        self.prior_t(x, mask, false)
    }

    /// The generator's answer (eval mode) for codes `[…, d_z]`: location and, with a learned
    /// variance, σ, each `[…, D]`. Leading dims are flattened first because eval-mode
    /// BatchNorm1d takes only `[N, C]`.
    pub fn generate(&self, z: &Tensor) -> Generated {
        let size = z.size();
        let k = *size.last().unwrap_or(&0);
        let out = self.generator.forward_t(&z.reshape([-1, k]), false);
        let mut shape = size[..size.len().saturating_sub(1)].to_vec();
        shape.push(-1);
        self.split(out.reshape(shape))
    }

    /// The location part of [`Vaeac::generate`] (`[…, D]`): raw values and logits, or the means.
    pub fn generate_raw(&self, z: &Tensor) -> Tensor {
        self.generate(z).mean
    }

    /// Saves weights, BN statistics and the likelihood as safetensors.
    pub fn save(&self, path: &std::path::Path) -> Result<()> {
        let mut named: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named.push(("likelihood".into(), Tensor::from_slice(&[self.likelihood.code()])));
        Ok(xai_core::checkpoint::save_tensors(&named, path)?)
    }

    /// Loads a file written by [`Vaeac::save`] for the same blocks and spec. A file of the
    /// other likelihood is refused by name before any shape is compared (the doubled
    /// generator output would only show as a shape mismatch); a file without the entry,
    /// written before the learned variance existed, is a gauss_cat VAEAC. On error the
    /// model is unchanged.
    pub fn load(&mut self, path: &std::path::Path) -> Result<()> {
        let file: std::collections::HashMap<String, Tensor> =
            xai_core::checkpoint::load_tensors(path)?.into_iter().collect();
        let in_file = match file.get("likelihood") {
            None => VaeacLikelihood::GaussCat,
            Some(t) => {
                let code = if t.numel() == 1 { t.int64_value(&[0]) } else { -1 };
                VaeacLikelihood::from_code(code)
                    .ok_or_else(|| ClueError::checkpoint(path, format!("unknown VAEAC likelihood {t:?}")))?
            }
        };
        if in_file != self.likelihood {
            return Err(ClueError::checkpoint(
                path,
                format!("a {in_file:?} VAEAC in the file, {:?} here (the likelihoods differ: fixed variance, learned variance or Bernoulli)", self.likelihood),
            ));
        }
        crate::vae::copy_checked(&mut self.vs, &file, path, &["likelihood"])
    }

    /// Mean per-row objective in eval mode with z = μ_q (no sampling), no gradient: the
    /// score [`Vaeac::fit_validated`] selects epochs by.
    pub fn validation_score(&self, x: &Tensor, mask: &Tensor) -> f64 {
        tch::no_grad(|| self.objective(x, mask, false, false).mean(Kind::Float).double_value(&[]))
    }

    /// Fits with Adam on fresh top masks each batch, scores every epoch on `x_val` (eval mode,
    /// z = μ_q, one set of top masks drawn up front — the first draw from the global RNG — so
    /// that epochs are compared on the same masks), keeps the best epoch's weights and stops after `p.patience` epochs without a
    /// better score (0 = never), as the VAE's [`crate::vae_train::fit`] does. Without it a
    /// paper-scale epoch budget (2,500 on LSAT) would train the inpainter long past its best.
    pub fn fit_validated(&mut self, x_train: &Tensor, x_val: &Tensor, p: &VaeTrainParams) -> Result<VaeFit> {
        use xai_core::optim::AdamConfig;
        p.validate()?;
        self.blocks.validate_rows(x_train)?;
        self.blocks.validate_rows(x_val)?;
        let mut opt = AdamConfig::lr(p.lr).build(&self.vs)?;
        let n = x_train.size()[0];
        let val_mask = self.top_mask(x_val.size()[0], x_val.device());
        let mut best = (0usize, f64::NEG_INFINITY, xai_core::checkpoint::snapshot(&self.vs));
        let mut history = Vec::new();
        let bar = crate::vae_train::epoch_bar("VAEAC", p.epochs);
        for epoch in 0..p.epochs {
            let train_loss = crate::vae_train::adam_epoch(
                &mut opt,
                n,
                p.batch_size,
                x_train.device(),
                ("VAEAC loss", epoch),
                |idx| self.loss(&x_train.index_select(0, idx)),
            )?;
            let val = self.validation_score(x_val, &val_mask);
            if !val.is_finite() {
                return Err(ClueError::NonFinite {
                    what: "VAEAC validation objective".into(),
                    at: format!("epoch {epoch}"),
                });
            }
            history.push(VaeEpoch { epoch, train_loss, val_elbo: val });
            bar.done(epoch + 1, &[("loss", train_loss), ("val", val), ("best", best.1.max(val))]);
            if val > best.1 {
                best = (epoch, val, xai_core::checkpoint::snapshot(&self.vs));
            } else if p.patience > 0 && epoch - best.0 >= p.patience {
                break;
            }
        }
        bar.finish();
        xai_core::checkpoint::restore(&mut self.vs, &best.2)?;
        let f = VaeFit { best_epoch: best.0, best_val_elbo: best.1, history };
        crate::vae_train::log_fit("VAEAC", &f);
        Ok(f)
    }

    /// Fits with Adam on fresh top masks each batch (no early stopping); returns the mean
    /// training loss per epoch.
    pub fn fit(&mut self, x: &Tensor, epochs: usize, batch_size: usize, lr: f64) -> Result<Vec<f64>> {
        use xai_core::optim::AdamConfig;
        self.blocks.validate_rows(x)?;
        if epochs == 0 || batch_size < 2 {
            return Err(ClueError::invalid("vaeac fit", "needs epochs ≥ 1 and batch_size ≥ 2"));
        }
        let mut opt = AdamConfig::lr(lr).build(&self.vs)?;
        let n = x.size()[0];
        let bar = crate::vae_train::epoch_bar("VAEAC", epochs);
        let losses = (0..epochs)
            .map(|epoch| {
                let loss =
                    crate::vae_train::adam_epoch(&mut opt, n, batch_size, x.device(), ("VAEAC loss", epoch), |idx| {
                        self.loss(&x.index_select(0, idx))
                    })?;
                bar.done(epoch + 1, &[("loss", loss)]);
                Ok(loss)
            })
            .collect();
        bar.finish();
        losses
    }
}
