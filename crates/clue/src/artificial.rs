//! Spec §8: the ground truth of the computational evaluation framework. A VAEAC over
//! x⊕y (the label appended as one more block) trained on real data, an under-VAE over its
//! recognition codes that makes it a sampler, and what the framework measures with it:
//! the ground-truth conditional p_gt(y | x), its uncertainty and label, the benefits of a
//! counterfactual and the importance-sampled log p_gt(x). MNIST's ground truth (spec §8.3)
//! is the same VAEAC with a Bernoulli likelihood over 784 pixels ⊕ 10 label dims.

use crate::blocks::Blocks;
use crate::uncertainty::{entropy_decomposition, gaussian_decomposition};
use crate::vae::TabularVae;
use crate::vaeac::{bernoulli_log_lik, gaussian_log_lik, Generated, Vaeac, VaeacLikelihood};
use crate::{ClueError, Result};
use tch::{Kind, Tensor};

/// The target appended to x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// K classes: one more K-way categorical block.
    Classes(usize),
    /// One standardised regression target: one more continuous dim (σ_y ≡ 1 under a
    /// fixed-variance VAEAC, as the official code; the learned σ_y under Wine's).
    Regression,
}

impl Target {
    pub fn width(self) -> usize {
        match self {
            Target::Classes(k) => k,
            Target::Regression => 1,
        }
    }
}

/// The joint layout: x's blocks followed by the target's block.
pub fn joint_blocks(x_blocks: &Blocks, target: Target) -> Result<Blocks> {
    if let Target::Classes(k) = target {
        if k < 2 {
            return Err(ClueError::invalid("target", "a classification target needs ≥ 2 classes"));
        }
    }
    let mut w = x_blocks.widths().to_vec();
    w.push(target.width());
    Blocks::new(&w)
}

/// x⊕y rows: `y` is `[N]` class ids (one-hot appended) or standardised values.
pub fn join(x: &Tensor, y: &Tensor, target: Target) -> Tensor {
    let yb = match target {
        Target::Classes(k) => y.to_kind(Kind::Int64).one_hot(k as i64).to_kind(x.kind()),
        Target::Regression => y.to_kind(x.kind()).view([-1, 1]),
    };
    Tensor::cat(&[x.shallow_clone(), yb], 1)
}

/// The ground-truth model: a VAEAC over x⊕y and the under-VAE over its latent codes.
pub struct GroundTruth {
    pub x_blocks: Blocks,
    pub target: Target,
    pub vaeac: Vaeac,
    /// A VAE over the VAEAC's recognition codes (all-continuous blocks of width d_z).
    pub under: TabularVae,
}

/// `p_gt(y | x)` from S codes of the VAEAC prior given x with y hidden.
#[derive(Debug)]
pub enum Conditional {
    /// `[S, N, K]` class probabilities.
    Classes(Tensor),
    /// `[S, N, 1]` means and standard deviations (σ_y ≡ 1 for a fixed-variance VAEAC).
    Regression { mu: Tensor, sigma: Tensor },
}

impl Conditional {
    /// Ground-truth uncertainty per row `[N]`: entropy of the mean probabilities, or σ_total
    /// of the spec §4 formula over the S (μ_y, σ_y).
    pub fn uncertainty(&self) -> Tensor {
        match self {
            Conditional::Classes(p) => entropy_decomposition(p).total,
            Conditional::Regression { mu, sigma } => gaussian_decomposition(mu, sigma).total,
        }
    }
    /// Ground-truth label per row `[N]`: argmax of p̄_gt(y|x) (as f32 class ids), or E_gt[y|x].
    pub fn label(&self) -> Tensor {
        match self {
            Conditional::Classes(p) => p.mean_dim(0, false, Kind::Float).argmax(1, false).to_kind(Kind::Float),
            Conditional::Regression { mu, .. } => mu.mean_dim(0, false, Kind::Float).select(1, 0),
        }
    }
}

impl GroundTruth {
    /// Checks that the VAEAC covers x⊕y and the under-VAE covers the VAEAC's latent space.
    pub fn new(x_blocks: Blocks, target: Target, vaeac: Vaeac, under: TabularVae) -> Result<Self> {
        if vaeac.blocks != joint_blocks(&x_blocks, target)? {
            return Err(ClueError::invalid(
                "ground truth",
                format!("VAEAC blocks {:?} are not x's blocks plus the target", vaeac.blocks.widths()),
            ));
        }
        if under.flat_dim() != vaeac.spec.latent_dim || under.blocks.widths().iter().any(|&w| w != 1) {
            return Err(ClueError::invalid(
                "ground truth",
                format!("the under-VAE must model the {}-d VAEAC codes as continuous dims", vaeac.spec.latent_dim),
            ));
        }
        Ok(Self { x_blocks, target, vaeac, under })
    }

    fn x_dim(&self) -> i64 {
        self.x_blocks.flat_dim() as i64
    }

    fn check_x(&self, x: &Tensor) -> Result<()> {
        if x.dim() != 2 || x.size()[1] != self.x_dim() {
            return Err(ClueError::bad_input("x", format!("expected [N, {}], got {:?}", self.x_dim(), x.size())));
        }
        Ok(())
    }

    /// x with zeros for y, and the mask hiding exactly y.
    fn y_hidden(&self, x: &Tensor) -> (Tensor, Tensor) {
        let n = x.size()[0];
        let w = self.target.width() as i64;
        let opts = (x.kind(), x.device());
        let joint = Tensor::cat(&[x.shallow_clone(), Tensor::zeros([n, w], opts)], 1);
        let mask = Tensor::cat(&[Tensor::zeros([n, self.x_dim()], opts), Tensor::ones([n, w], opts)], 1);
        (joint, mask)
    }

    /// `p_gt(y | x)` from `s` codes `z_s ~ p_ψ(z | x, y hidden)`.
    pub fn conditional(&self, x: &Tensor, s: i64) -> Result<Conditional> {
        self.check_x(x)?;
        if s < 1 {
            return Err(ClueError::invalid("ground-truth samples", "need ≥ 1"));
        }
        Ok(tch::no_grad(|| {
            let (joint, mask) = self.y_hidden(&x.detach());
            let p = self.vaeac.prior_posterior(&joint, &mask);
            let z = p.mu.unsqueeze(0)
                + p.sigma.unsqueeze(0)
                    * Tensor::randn([s, p.mu.size()[0], p.mu.size()[1]], (p.mu.kind(), p.mu.device()));
            let (w, g) = (self.target.width() as i64, self.vaeac.generate(&z));
            let y_raw = g.mean.narrow(2, self.x_dim(), w);
            match self.target {
                Target::Classes(_) => Conditional::Classes(y_raw.softmax(2, Kind::Float)),
                Target::Regression => {
                    let sigma = g.sigma.map_or_else(|| y_raw.ones_like(), |s| s.narrow(2, self.x_dim(), w));
                    Conditional::Regression { mu: y_raw, sigma }
                }
            }
        }))
    }

    /// Artificial inputs: `u ~ N(0, I_r)` → z = under-decoder mean → [`GroundTruth::sample_x`];
    /// labels by [`GroundTruth::sample_y`]. Returns `(x [n, D], y [n])` (y: i64 class ids or
    /// f32 values).
    pub fn sample(&self, n: i64) -> Result<(Tensor, Tensor)> {
        if n < 1 {
            return Err(ClueError::invalid("artificial sample size", "need ≥ 1 row"));
        }
        let dev = self.vaeac.vs.device();
        let x = tch::no_grad(|| {
            let r = self.under.spec.latent_dim as i64;
            let u = Tensor::randn([n, r], (Kind::Float, dev));
            self.sample_x(&self.under.decode_raw_t(&u, false))
        })?;
        Ok((x.shallow_clone(), self.sample_y(&x)?))
    }

    /// One x per VAEAC code `z [N, d_z]` (no gradient): a fixed-variance generator's
    /// continuous dims get `N(0, 1)` noise and its categorical blocks are drawn by Gumbel-max;
    /// a learned-variance generator's dims are drawn from `N(μ, σ²)` (the official `sig` option);
    /// a Bernoulli generator's x is `sigmoid(logits)`, grey levels, not binarised (spec §8.3 MNIST).
    pub fn sample_x(&self, z: &Tensor) -> Result<Tensor> {
        let k = self.vaeac.spec.latent_dim as i64;
        if z.dim() != 2 || z.size()[1] != k {
            return Err(ClueError::bad_input("codes", format!("expected [N, {k}], got {:?}", z.size())));
        }
        let bernoulli = self.vaeac.likelihood() == VaeacLikelihood::Bernoulli;
        Ok(tch::no_grad(|| match self.vaeac.generate(z) {
            Generated { mean, sigma: None } if bernoulli => mean.narrow(1, 0, self.x_dim()).sigmoid(),
            Generated { mean, sigma: None } => sample_blocks(&self.x_blocks, &mean.narrow(1, 0, self.x_dim())),
            Generated { mean, sigma: Some(sigma) } => {
                let mu = mean.narrow(1, 0, self.x_dim());
                &mu + sigma.narrow(1, 0, self.x_dim()) * mu.randn_like()
            }
        }))
    }

    /// One label per row of x `[N, D]`, drawn from the ground-truth conditional `p_gt(y | x)`
    /// with one prior code per row, so that the ground-truth uncertainty is exactly the noise
    /// the labels carry: a class by its probabilities, or `μ_y + σ_y·ε` (σ_y ≡ 1 for a
    /// fixed-variance VAEAC). The spec leaves the regression draw open ("[ours]"); LSAT's
    /// path, drawn this way, is kept for Wine so that both regression datasets measure
    /// aleatoric benefits against the same kind of label noise. A Bernoulli (MNIST) ground
    /// truth labels by the argmax of that one code's softmax(y logits), as spec §8.3 says.
    pub fn sample_y(&self, x: &Tensor) -> Result<Tensor> {
        let bernoulli = self.vaeac.likelihood() == VaeacLikelihood::Bernoulli;
        Ok(match self.conditional(x, 1)? {
            Conditional::Classes(p) if bernoulli => p.squeeze_dim(0).argmax(1, false),
            Conditional::Classes(p) => p.squeeze_dim(0).multinomial(1, true).squeeze_dim(1),
            Conditional::Regression { mu, sigma } => {
                let (m, s) = (mu.squeeze_dim(0).select(1, 0), sigma.squeeze_dim(0).select(1, 0));
                &m + s * m.randn_like()
            }
        })
    }

    /// `log p_gt(x)` per row `[N]` by importance sampling with `k` draws (spec §8.7):
    /// the proposal is the under-encoder applied to the VAEAC prior mean given x (y hidden);
    /// `p(x | u)` scores x's dims under generator(under-decoder(u)) with the likelihood the
    /// VAEAC was trained with: the gauss_cat pseudo-likelihood, or the learned-variance
    /// Gaussian density (a fixed σ = 1 there would score the ground truth by a model it is not),
    /// or Bernoulli on a binarised copy of x (MNIST, spec §8.7): the copy is drawn once per
    /// call, `bernoulli(clamp(x, 0, 1))` from the global generator before the importance
    /// draws, so under a fixed seed an unchanged x gets the same copy; the clamp keeps
    /// Sensitivity's steps past [0, 1] scorable.
    pub fn log_px(&self, x: &Tensor, k: i64) -> Result<Tensor> {
        self.check_x(x)?;
        if k < 1 {
            return Err(ClueError::invalid("importance samples", "need ≥ 1"));
        }
        Ok(tch::no_grad(|| {
            let x = x.detach();
            let (joint, mask) = self.y_hidden(&x);
            let bernoulli = self.vaeac.likelihood() == VaeacLikelihood::Bernoulli;
            let scored = if bernoulli { x.clamp(0.0, 1.0).bernoulli() } else { x.shallow_clone() };
            let z = self.vaeac.prior_posterior(&joint, &mask).mu;
            let q = self.under.encode_t(&z, false);
            let n = x.size()[0];
            let log_lik = |u: &Tensor| {
                let kk = u.size()[0];
                let zs = self.under.decode_raw_t(&u.reshape([kk * n, -1]), false);
                let g = self.vaeac.generate(&zs);
                let mu = g.mean.narrow(1, 0, self.x_dim());
                let xs = scored.unsqueeze(0).expand([kk, n, self.x_dim()], false).reshape([kk * n, -1]);
                match g.sigma {
                    None if bernoulli => bernoulli_log_lik(&xs, &mu),
                    None => self.x_blocks.gauss_cat_log_lik(&xs, &mu),
                    Some(s) => gaussian_log_lik(&xs, &mu, &s.narrow(1, 0, self.x_dim())),
                }
                .view([kk, n])
            };
            // Chunks of draws keep the [K·N, W] activations small for large K.
            let chunk = (200_000 / n.max(1)).clamp(1, k);
            let mut parts = vec![];
            let mut done = 0;
            while done < k {
                let c = chunk.min(k - done);
                // logsumexp over a chunk, weighted back by its size, combines exactly.
                parts.push(crate::evaluation::importance_log_px(log_lik, &q.mu, &q.sigma, c) + (c as f64).ln());
                done += c;
            }
            Tensor::stack(&parts, 0).logsumexp([0], false) - (k as f64).ln()
        }))
    }
}

/// One draw per row of a decoder's raw output: continuous dims + N(0, 1), categorical
/// blocks one-hot by Gumbel-max.
pub fn sample_blocks(blocks: &Blocks, raw: &Tensor) -> Tensor {
    let parts: Vec<Tensor> = blocks
        .spans()
        .map(|(o, w)| {
            let b = raw.narrow(1, o as i64, w as i64);
            if w == 1 {
                &b + b.randn_like()
            } else {
                let u = b.rand_like();
                let gumbel = -(-(u + 1e-10).log() + 1e-10).log();
                (b + gumbel).argmax(1, false).one_hot(w as i64).to_kind(raw.kind())
            }
        })
        .collect();
    Tensor::cat(&parts, 1)
}

/// Fits the under-VAE on codes of the VAEAC's recognition net, a fresh draw
/// `z ~ q(z | x⊕y)` per batch (spec §5.4); Adam, no model selection. Returns the mean
/// training loss per epoch.
pub fn fit_under_vae(
    vaeac: &Vaeac,
    under: &mut TabularVae,
    joint: &Tensor,
    epochs: usize,
    batch_size: usize,
    lr: f64,
) -> Result<Vec<f64>> {
    use xai_core::optim::AdamConfig;
    if epochs == 0 || batch_size < 2 || !(lr > 0.0 && lr.is_finite()) {
        return Err(ClueError::invalid("under-VAE fit", "needs epochs ≥ 1, batch_size ≥ 2 and lr > 0"));
    }
    if under.flat_dim() != vaeac.spec.latent_dim {
        return Err(ClueError::invalid("under-VAE", "its width must equal the VAEAC's latent dim"));
    }
    let mut opt = AdamConfig::lr(lr).build(&under.vs)?;
    let n = joint.size()[0];
    let bar = crate::vae_train::epoch_bar("under-VAE", epochs);
    let losses = (0..epochs)
        .map(|epoch| {
            let loss = crate::vae_train::adam_epoch(
                &mut opt,
                n,
                batch_size,
                joint.device(),
                ("under-VAE loss", epoch),
                |idx| {
                    let z = tch::no_grad(|| {
                        let q = vaeac.recognition_t(&joint.index_select(0, idx), false);
                        &q.mu + &q.sigma * q.mu.randn_like()
                    });
                    under.loss(&z)
                },
            )?;
            bar.done(epoch + 1, &[("loss", loss)]);
            Ok(loss)
        })
        .collect();
    bar.finish();
    losses
}

/// Per row `[N]` (bool): every categorical block of x is an exact one-hot. Sensitivity's
/// raw gradient steps leave the simplex, which the gauss_cat pseudo-likelihood (scoring a
/// block by its argmax) does not see, so the framework reports it beside log p.
pub fn valid_rows(blocks: &Blocks, x: &Tensor) -> Tensor {
    let mut ok = Tensor::ones([x.size()[0]], (Kind::Bool, x.device()));
    for (o, w) in blocks.spans().filter(|&(_, w)| w > 1) {
        let b = x.narrow(1, o as i64, w as i64);
        let binary = b.eq(0.0).logical_or(&b.eq(1.0)).all_dim(1, false);
        ok = ok.logical_and(&binary).logical_and(&b.sum_dim_intlist(1, false, Kind::Float).eq(1.0));
    }
    ok
}

/// Per row `[N]`: the L1 change on the categorical dims only.
pub fn categorical_l1(blocks: &Blocks, x0: &Tensor, x: &Tensor) -> Tensor {
    let parts: Vec<Tensor> = blocks
        .spans()
        .filter(|&(_, w)| w > 1)
        .map(|(o, w)| {
            (x.narrow(1, o as i64, w as i64) - x0.narrow(1, o as i64, w as i64)).abs().sum_dim_intlist(
                1,
                false,
                Kind::Float,
            )
        })
        .collect();
    if parts.is_empty() {
        return Tensor::zeros([x.size()[0]], (Kind::Float, x.device()));
    }
    Tensor::stack(&parts, 0).sum_dim_intlist(0, false, Kind::Float)
}

/// Mean ground-truth uncertainty drop (the aleatoric benefit): `mean(u0) − mean(u1)`.
pub fn aleatoric_benefit(u_before: &[f64], u_after: &[f64]) -> Result<f64> {
    same_len(u_before.len(), u_after.len())?;
    Ok(mean(u_before) - mean(u_after))
}

/// The BNN's error against the ground-truth label: classification, the fraction of rows whose
/// predicted class differs from it; regression, the RMS of `prediction − label`.
pub fn error_vs_ground_truth(prediction: &[f64], gt_label: &[f64], classification: bool) -> Result<f64> {
    same_len(prediction.len(), gt_label.len())?;
    let n = prediction.len().max(1) as f64;
    Ok(if classification {
        prediction.iter().zip(gt_label).filter(|(p, g)| p != g).count() as f64 / n
    } else {
        (prediction.iter().zip(gt_label).map(|(p, g)| (p - g).powi(2)).sum::<f64>() / n).sqrt()
    })
}

/// The epistemic benefit: error before minus error after (spec §8.7).
pub fn epistemic_benefit(
    pred_before: &[f64],
    gt_before: &[f64],
    pred_after: &[f64],
    gt_after: &[f64],
    classification: bool,
) -> Result<f64> {
    Ok(error_vs_ground_truth(pred_before, gt_before, classification)?
        - error_vs_ground_truth(pred_after, gt_after, classification)?)
}

/// Table-2 cost: how far the counterfactuals' mean log p_gt fell below the originals',
/// `max(0, mean log p(x0) − mean log p(x_cf))`.
pub fn log_px_cost(logp_before: &[f64], logp_after: &[f64]) -> Result<f64> {
    same_len(logp_before.len(), logp_after.len())?;
    Ok((mean(logp_before) - mean(logp_after)).max(0.0))
}

fn same_len(a: usize, b: usize) -> Result<()> {
    if a != b || a == 0 {
        return Err(ClueError::bad_input(
            "benefit",
            format!("needs two non-empty lists of equal length, got {a} and {b}"),
        ));
    }
    Ok(())
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}
