//! One training loop for every method: prediction loss + λ·penalty per batch, early
//! stopping on validation loss with best-weights restore (xai-core's `fit`).

use crate::config::{OptimizerKind, TrainCfg};
use crate::Result;
use rand_chacha::ChaCha8Rng;
use std::cell::Cell;
use tch::nn::{self, OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};
use xai_core::train::{batch_indices, fit, EpochRecord, FitOptions, Monitor};

/// Builds the configured optimiser over every trainable variable of `vs`.
pub fn optimizer(vs: &VarStore, cfg: &TrainCfg) -> Result<nn::Optimizer> {
    Ok(match cfg.optimizer {
        // torch.optim.Adam's weight decay is coupled L2, as the reference uses (not AdamW).
        OptimizerKind::Adam => nn::Adam { wd: cfg.weight_decay, ..Default::default() }.build(vs, cfg.lr)?,
        OptimizerKind::Sgd => {
            nn::Sgd { momentum: cfg.momentum, wd: cfg.weight_decay, ..Default::default() }.build(vs, cfg.lr)?
        }
    })
}

/// How one run trains.
#[derive(Debug, Clone)]
pub struct LoopSpec {
    pub label: String,
    pub epochs: usize,
    pub patience: Option<usize>,
    pub batch_size: i64,
    /// Penalty weight; 0 skips the penalty computation entirely.
    pub lambda: f64,
    /// Reference quirk: a penalty step, then a prediction step, per batch.
    pub double_step: bool,
    /// What early stopping and the best checkpoint go by.
    pub select: Select,
}

/// The validation quantity that picks the best epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Select {
    /// Lowest validation loss (the paper's protocol).
    #[default]
    ValLoss,
    /// Highest validation accuracy (metric `val_acc`).
    ValAcc,
}

/// What the evaluation reports after each epoch.
#[derive(Debug, Clone, Default)]
pub struct EvalOut {
    pub val_loss: f64,
    /// Named metrics (val_acc, test_acc, blob share…).
    pub metrics: Vec<(String, f64)>,
}

/// One epoch's log line (training loss split into its parts).
#[derive(Debug, Clone)]
pub struct EpochLog {
    /// The shared loop's record (its `val_loss` is the validation loss).
    pub record: EpochRecord,
    /// The validation loss itself.
    pub val_loss: f64,
    pub pred_loss: f64,
    pub penalty: f64,
}

impl EpochLog {
    /// A named metric of this epoch's evaluation (`val_acc`, `test_acc`…).
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.record.extra.iter().find(|(n, _)| n == name).map(|(_, v)| *v)
    }
}

/// Makes one epoch's batches (index tensors) from the run's RNG.
pub type BatchFn<'a> = Box<dyn FnMut(&mut ChaCha8Rng) -> Vec<Tensor> + 'a>;

/// How an epoch's mini-batches are formed (index tensors into the training set).
pub enum Batching<'a> {
    /// A fresh random permutation of `0..n` per epoch, cut into `batch_size` pieces.
    Shuffled(i64),
    /// Any other scheme (e.g. length buckets for text).
    Custom(BatchFn<'a>),
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct Trained {
    pub epochs: Vec<EpochLog>,
    /// Mean seconds of the training part of an epoch (no evaluation).
    pub sec_per_epoch: f64,
}

/// Trains with `pred_loss(idx)` (train-mode forward on the examples `idx`) plus
/// `lambda ×` the penalty that `penalty(idx, sink)` hands to `sink` in one or more
/// chunks (each chunk is back-propagated at once, bounding memory). The optimiser
/// steps once per batch on the combined gradient.
#[allow(clippy::too_many_arguments)]
pub fn train(
    spec: &LoopSpec,
    vs: &mut VarStore,
    opt: &mut nn::Optimizer,
    mut batching: Batching<'_>,
    rng: &mut ChaCha8Rng,
    mut pred_loss: impl FnMut(&Tensor) -> Result<Tensor>,
    mut penalty: impl FnMut(&Tensor, &mut dyn FnMut(Tensor) -> Result<()>) -> Result<()>,
    mut evaluate: impl FnMut() -> Result<EvalOut>,
    mut on_epoch: impl FnMut(&EpochLog) -> Result<()>,
) -> Result<Trained> {
    let lambda = crate::penalty::check_lambda(spec.lambda)?;
    let device = vs.device();
    let parts = Cell::new((0.0f64, 0.0f64));
    let train_secs = Cell::new(0.0f64);
    let last_val_loss = Cell::new(f64::NAN);
    let monitor = match spec.select {
        Select::ValLoss => Monitor::default(),
        Select::ValAcc => Monitor::maximize("val_acc"),
    };
    let opts = FitOptions { label: spec.label.clone(), epochs: spec.epochs, patience: spec.patience, monitor };
    let mut logs = vec![];
    let mut cd_error: Option<crate::CdepError> = None;
    let history = fit(
        &opts,
        vs,
        |_epoch| {
            let t = std::time::Instant::now();
            let batches = match &mut batching {
                Batching::Shuffled(n) => batch_indices(*n, spec.batch_size, true, rng, device),
                Batching::Custom(f) => f(rng),
            };
            let r = train_epoch(spec, lambda, opt, &batches, device, &mut pred_loss, &mut penalty);
            train_secs.set(train_secs.get() + t.elapsed().as_secs_f64());
            match r {
                Ok((l, p)) => {
                    parts.set((l, p));
                    Ok(l + lambda * p)
                }
                Err(e) => {
                    let msg = e.to_string();
                    cd_error = Some(e);
                    Err(xai_core::Error::Other(msg))
                }
            }
        },
        || match evaluate() {
            Ok(e) => {
                last_val_loss.set(e.val_loss);
                Ok((e.val_loss, e.metrics))
            }
            Err(e) => Err(xai_core::Error::Other(e.to_string())),
        },
        |rec| {
            let (pred, pen) = parts.get();
            let log = EpochLog { record: rec.clone(), val_loss: last_val_loss.get(), pred_loss: pred, penalty: pen };
            on_epoch(&log).map_err(|e| xai_core::Error::Other(e.to_string()))?;
            logs.push(log);
            Ok(())
        },
    );
    if let Some(e) = cd_error {
        return Err(e);
    }
    let history = history?;
    let n = history.len().max(1) as f64;
    Ok(Trained { epochs: logs, sec_per_epoch: train_secs.get() / n })
}

/// One pass over the training set; returns the mean prediction loss and penalty.
#[allow(clippy::too_many_arguments)]
fn train_epoch(
    spec: &LoopSpec,
    lambda: f64,
    opt: &mut nn::Optimizer,
    batches: &[Tensor],
    device: Device,
    pred_loss: &mut impl FnMut(&Tensor) -> Result<Tensor>,
    penalty: &mut impl FnMut(&Tensor, &mut dyn FnMut(Tensor) -> Result<()>) -> Result<()>,
) -> Result<(f64, f64)> {
    let zero = || Tensor::zeros([], (Kind::Float, device));
    let (mut loss_sum, mut pen_sum) = (zero(), zero());
    let n_batches = batches.len().max(1) as f64;
    for idx in batches {
        opt.zero_grad();
        let mut pen_batch = zero();
        let mut backprop_penalty = |pen_batch: &mut Tensor| -> Result<()> {
            penalty(idx, &mut |p: Tensor| {
                (&p * lambda).f_backward()?;
                *pen_batch += p.detach();
                Ok(())
            })
        };
        if lambda > 0.0 && spec.double_step {
            backprop_penalty(&mut pen_batch)?;
            opt.step();
            opt.zero_grad();
            let loss = pred_loss(idx)?;
            loss.f_backward()?;
            opt.step();
            loss_sum += loss.detach();
        } else {
            let loss = pred_loss(idx)?;
            loss.f_backward()?;
            if lambda > 0.0 {
                backprop_penalty(&mut pen_batch)?;
            }
            opt.step();
            loss_sum += loss.detach();
        }
        pen_sum += pen_batch;
    }
    // One host sync per epoch.
    Ok((loss_sum.double_value(&[]) / n_batches, pen_sum.double_value(&[]) / n_batches))
}
