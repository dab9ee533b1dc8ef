//! Spec §5.6 model fitting for the tabular VAE: Adam (RAdam is not in tch; logged as a
//! deviation by the experiments), mini-batches, best-validation-ELBO weights restored.

use crate::vae::TabularVae;
use crate::{ClueError, Result};
use tch::{Kind, Tensor};
use xai_core::optim::{AdamConfig, Optimizer};

/// Fitting schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VaeTrainParams {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    /// Stop after this many epochs without a better validation ELBO (0 = never).
    pub patience: usize,
}

impl VaeTrainParams {
    pub fn validate(&self) -> Result<()> {
        if self.epochs == 0 || self.batch_size == 0 {
            return Err(ClueError::invalid("vae.epochs / vae.batch_size", "must be ≥ 1"));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(ClueError::invalid("vae.lr", format!("must be > 0, got {}", self.lr)));
        }
        Ok(())
    }
}

/// One epoch's record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VaeEpoch {
    pub epoch: usize,
    pub train_loss: f64,
    /// Mean per-row ELBO on the validation rows with z = posterior mean (eval-mode BN).
    pub val_elbo: f64,
}

/// What a fit produced.
#[derive(Debug, Clone)]
pub struct VaeFit {
    pub best_epoch: usize,
    pub best_val_elbo: f64,
    pub history: Vec<VaeEpoch>,
}

/// Mean per-row ELBO with z = μ, eval mode, no gradient.
pub fn mean_elbo(vae: &TabularVae, x: &Tensor) -> f64 {
    tch::no_grad(|| vae.elbo_t(x, false, false).value().mean(Kind::Float).double_value(&[]))
}

/// Fits `vae` on `x_train`, selects the epoch with the best ELBO on `x_val` and restores it.
pub fn fit(vae: &mut TabularVae, x_train: &Tensor, x_val: &Tensor, p: &VaeTrainParams) -> Result<VaeFit> {
    p.validate()?;
    if vae.likelihood == crate::vae::Likelihood::GaussCat {
        vae.blocks.validate_rows(x_train)?;
        vae.blocks.validate_rows(x_val)?;
    }
    let mut opt = AdamConfig::lr(p.lr).build(&vae.vs)?;
    let n = x_train.size()[0];
    let bs = p.batch_size as i64;
    let mut best = (0usize, f64::NEG_INFINITY, xai_core::checkpoint::snapshot(&vae.vs));
    let mut history = Vec::new();
    for epoch in 0..p.epochs {
        let perm = Tensor::randperm(n, (Kind::Int64, x_train.device()));
        let (mut sum, mut rows) = (0.0, 0i64);
        let mut start = 0;
        while start < n {
            // BatchNorm needs ≥ 2 rows in training mode: fold a last single row away.
            let len = bs.min(n - start);
            if len < 2 {
                break;
            }
            let xb = x_train.index_select(0, &perm.narrow(0, start, len));
            let loss = vae.loss(&xb);
            let v = loss.double_value(&[]);
            if !v.is_finite() {
                return Err(ClueError::NonFinite { what: "VAE loss".into(), at: format!("epoch {epoch}") });
            }
            opt.zero_grad();
            loss.backward();
            opt.step();
            sum += v * len as f64;
            rows += len;
            start += len;
        }
        let val = mean_elbo(vae, x_val);
        history.push(VaeEpoch { epoch, train_loss: sum / rows.max(1) as f64, val_elbo: val });
        if val > best.1 {
            best = (epoch, val, xai_core::checkpoint::snapshot(&vae.vs));
        } else if p.patience > 0 && epoch - best.0 >= p.patience {
            break;
        }
    }
    xai_core::checkpoint::restore(&mut vae.vs, &best.2)?;
    Ok(VaeFit { best_epoch: best.0, best_val_elbo: best.1, history })
}
