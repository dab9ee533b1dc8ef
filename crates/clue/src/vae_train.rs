//! Spec §5.6 model fitting for the VAEs (tabular / MLP and the MNIST ResNet): Adam (RAdam
//! is not in tch; logged as a deviation by the experiments), mini-batches,
//! best-validation-ELBO weights restored.

use crate::vae::{Elbo, Likelihood, TabularVae};
use crate::{ClueError, Result};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
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
        // BatchNorm needs two rows per batch in training mode.
        if self.epochs == 0 || self.batch_size < 2 {
            return Err(ClueError::invalid("vae.epochs / vae.batch_size", "epochs must be ≥ 1 and batch_size ≥ 2"));
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

/// What [`fit`] needs of a VAE, so that one loop trains every architecture.
pub trait TrainableVae {
    fn var_store(&self) -> &VarStore;
    fn var_store_mut(&mut self) -> &mut VarStore;
    /// Errors on rows the model cannot score (width, one-hot blocks).
    fn check_rows(&self, x: &Tensor) -> Result<()>;
    /// Per-row ELBO terms, one reparameterised sample (`sample = false`: z = μ).
    fn elbo_t(&self, x: &Tensor, train: bool, sample: bool) -> Elbo;
    /// The training loss of a batch (`−mean(ELBO)` over the likelihood's normaliser).
    fn loss(&self, x: &Tensor) -> Tensor;
}

impl TrainableVae for TabularVae {
    fn var_store(&self) -> &VarStore {
        &self.vs
    }
    fn var_store_mut(&mut self) -> &mut VarStore {
        &mut self.vs
    }
    fn check_rows(&self, x: &Tensor) -> Result<()> {
        match self.likelihood {
            Likelihood::GaussCat => self.blocks.validate_rows(x),
            Likelihood::Bernoulli => {
                if x.dim() != 2 || x.size()[1] as usize != self.flat_dim() {
                    return Err(ClueError::bad_input(
                        "rows",
                        format!("expected [N, {}], got {:?}", self.flat_dim(), x.size()),
                    ));
                }
                Ok(())
            }
        }
    }
    fn elbo_t(&self, x: &Tensor, train: bool, sample: bool) -> Elbo {
        TabularVae::elbo_t(self, x, train, sample)
    }
    fn loss(&self, x: &Tensor) -> Tensor {
        TabularVae::loss(self, x)
    }
}

/// Mean per-row ELBO with z = μ, eval mode, no gradient.
pub fn mean_elbo<V: TrainableVae + ?Sized>(vae: &V, x: &Tensor) -> f64 {
    tch::no_grad(|| vae.elbo_t(x, false, false).value().mean(Kind::Float).double_value(&[]))
}

/// One epoch of `opt` over shuffled mini-batches of `n` rows; `batch_loss` gets a batch's row
/// indices. A last batch of a single row is left out (BatchNorm needs two rows in training
/// mode). The row-weighted mean loss is read from the device once per epoch, not once per
/// batch, and a non-finite one is an error naming `what` and the epoch.
pub(crate) fn adam_epoch(
    opt: &mut impl Optimizer,
    n: i64,
    batch_size: usize,
    device: Device,
    (what, epoch): (&str, usize),
    mut batch_loss: impl FnMut(&Tensor) -> Tensor,
) -> Result<f64> {
    let perm = Tensor::randperm(n, (Kind::Int64, device));
    let mut total = Tensor::zeros([], (Kind::Float, device));
    let (mut rows, mut start) = (0i64, 0i64);
    while start + 1 < n {
        let len = (batch_size as i64).min(n - start);
        let loss = batch_loss(&perm.narrow(0, start, len));
        opt.zero_grad();
        loss.backward();
        opt.step();
        total += loss.detach() * len as f64;
        rows += len;
        start += len;
    }
    let mean = total.double_value(&[]) / rows.max(1) as f64;
    if !mean.is_finite() {
        return Err(ClueError::NonFinite { what: what.into(), at: format!("epoch {epoch}") });
    }
    Ok(mean)
}

/// The bar of a generative-model fit: thousands of sub-second epochs, so off a terminal it
/// logs a line every 30 s rather than every epoch.
pub(crate) fn epoch_bar(label: &str, epochs: usize) -> xai_core::progress::EpochBar {
    xai_core::progress::EpochBar::new(label, epochs).log_every(std::time::Duration::from_secs(30))
}

/// The closing line of an early-stopped fit.
pub(crate) fn log_fit(label: &str, f: &VaeFit) {
    log::info!(
        "{label}: best validation objective {:.4} at epoch {} of {} run",
        f.best_val_elbo,
        f.best_epoch + 1,
        f.history.len()
    );
}

/// Fits `vae` on `x_train`, selects the epoch with the best ELBO on `x_val` and restores it.
pub fn fit<V: TrainableVae + ?Sized>(
    vae: &mut V,
    x_train: &Tensor,
    x_val: &Tensor,
    p: &VaeTrainParams,
) -> Result<VaeFit> {
    p.validate()?;
    vae.check_rows(x_train)?;
    vae.check_rows(x_val)?;
    let mut opt = AdamConfig::lr(p.lr).build(vae.var_store())?;
    let n = x_train.size()[0];
    let mut best = (0usize, f64::NEG_INFINITY, xai_core::checkpoint::snapshot(vae.var_store()));
    let mut history = Vec::new();
    let bar = epoch_bar("VAE", p.epochs);
    for epoch in 0..p.epochs {
        let train_loss = adam_epoch(&mut opt, n, p.batch_size, x_train.device(), ("VAE loss", epoch), |idx| {
            vae.loss(&x_train.index_select(0, idx))
        })?;
        let val = mean_elbo(vae, x_val);
        history.push(VaeEpoch { epoch, train_loss, val_elbo: val });
        bar.done(epoch + 1, &[("loss", train_loss), ("val_elbo", val), ("best", best.1.max(val))]);
        if val > best.1 {
            best = (epoch, val, xai_core::checkpoint::snapshot(vae.var_store()));
        } else if p.patience > 0 && epoch - best.0 >= p.patience {
            break;
        }
    }
    bar.finish();
    xai_core::checkpoint::restore(vae.var_store_mut(), &best.2)?;
    let f = VaeFit { best_epoch: best.0, best_val_elbo: best.1, history };
    log_fit("VAE", &f);
    Ok(f)
}
