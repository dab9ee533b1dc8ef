//! One training loop for every method: prediction loss + λ·penalty per batch, early
//! stopping with best-weights restore (xai-core's `fit`), any optimiser of
//! `xai_core::optim`. Tensors and closures in, per-epoch logs out: no config, no files.

use crate::{CdepError, Result};
use rand_chacha::ChaCha8Rng;
use std::cell::{Cell, RefCell};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use xai_core::optim::Optimizer;
use xai_core::progress::BatchBar;
use xai_core::train::{batch_indices, fit, EpochRecord, FitOptions, Monitor};

/// How one run trains.
#[derive(Debug, Clone)]
pub struct LoopSpec {
    pub label: String,
    pub epochs: usize,
    pub patience: Option<usize>,
    /// No early stop before this epoch.
    pub min_epochs: usize,
    pub batch_size: i64,
    /// Penalty weight; 0 skips the penalty computation entirely.
    pub lambda: f64,
    /// Reference quirk: a penalty step, then a prediction step, per batch.
    pub double_step: bool,
    /// What early stopping and the best checkpoint go by.
    pub select: Select,
}

/// The validation quantity that picks the best epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
    /// Named metrics (val_acc, test_acc, blob share…): accuracies (`…acc`) in percent,
    /// shares and rates (`…_share`, `…_flip`, `…flip_rate`) as fractions. The epoch log
    /// shows both in percent with the unit in the name ([`shown_metrics`]).
    pub metrics: Vec<(String, f64)>,
}

/// A metric as the epoch log line shows it: one convention, percent with the unit named
/// (`val_acc%=13.5 test_share%=58.0`); other metrics (losses, AUC) unchanged.
pub fn shown_metric(name: &str, value: f64) -> (String, f64) {
    if name.ends_with("acc") {
        (format!("{name}%"), value)
    } else if name.ends_with("_share") || name.ends_with("_flip") || name.ends_with("flip_rate") {
        (format!("{name}%"), 100.0 * value)
    } else {
        (name.to_string(), value)
    }
}

/// [`shown_metric`] over a list.
pub fn shown_metrics(metrics: &[(String, f64)]) -> Vec<(String, f64)> {
    metrics.iter().map(|(n, v)| shown_metric(n, *v)).collect()
}

/// One epoch's log line (training loss split into its parts).
#[derive(Debug, Clone)]
pub struct EpochLog {
    /// The shared loop's record (its `val_loss` is the validation loss; `extra` holds the
    /// evaluation's metrics as [`EvalOut`] reports them, not as the log shows them).
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

/// Prediction loss on the examples `idx` (train-mode forward).
pub type PredLossFn<'a> = Box<dyn FnMut(&Tensor) -> Result<Tensor> + 'a>;
/// The penalty on the examples `idx`, handed to the sink in one or more chunks.
pub type PenaltyFn<'a> = Box<dyn FnMut(&Tensor, &mut dyn FnMut(Tensor) -> Result<()>) -> Result<()> + 'a>;
/// Prediction loss and penalty on the examples `idx` from one shared pass (see
/// [`crate::penalty::image_cdep_with_logits`]).
pub type JointFn<'a> = Box<dyn FnMut(&Tensor) -> Result<(Tensor, Tensor)> + 'a>;
/// Validation loss and named metrics after an epoch.
pub type EvaluateFn<'a> = Box<dyn FnMut() -> Result<EvalOut> + 'a>;
/// Sees each epoch's log (to append it to a CSV, snapshot weights…).
pub type OnEpochFn<'a> = Box<dyn FnMut(&EpochLog) -> Result<()> + 'a>;

/// What a method plugs into the loop.
pub struct Hooks<'a> {
    pub batching: Batching<'a>,
    pub pred_loss: PredLossFn<'a>,
    pub penalty: PenaltyFn<'a>,
    /// When set, used instead of `pred_loss` and `penalty` for steps with `λ > 0` (not
    /// with `double_step`): one pass and one backward for both. It must compute the same
    /// two quantities (equal up to float rounding).
    pub joint: Option<JointFn<'a>>,
    pub evaluate: EvaluateFn<'a>,
    pub on_epoch: OnEpochFn<'a>,
}

/// Trains with `pred_loss(idx)` plus `lambda ×` the penalty that `penalty(idx, sink)`
/// hands to `sink` in one or more chunks (each chunk is back-propagated at once,
/// bounding memory). The optimiser steps once per batch on the combined gradient.
pub fn train(
    spec: &LoopSpec,
    vs: &mut VarStore,
    opt: &mut dyn Optimizer,
    rng: &mut ChaCha8Rng,
    hooks: Hooks<'_>,
) -> Result<Trained> {
    let Hooks { mut batching, mut pred_loss, mut penalty, mut joint, mut evaluate, mut on_epoch } = hooks;
    let lambda = crate::penalty::check_lambda(spec.lambda)?;
    let device = vs.device();
    let parts = Cell::new((0.0f64, 0.0f64));
    let train_secs = Cell::new(0.0f64);
    let last_val_loss = Cell::new(f64::NAN);
    let last_metrics = RefCell::new(Vec::new());
    let monitor = match spec.select {
        Select::ValLoss => Monitor::default(),
        Select::ValAcc => Monitor::maximize(&shown_metric("val_acc", 0.0).0),
    };
    let opts = FitOptions {
        label: spec.label.clone(),
        epochs: spec.epochs,
        patience: spec.patience,
        min_epochs: spec.min_epochs,
        monitor,
    };
    let mut logs = vec![];
    // The first error of our own closures, kept typed; `fit` only sees its message.
    let failure: RefCell<Option<CdepError>> = RefCell::new(None);
    let keep = |e: CdepError| {
        let msg = e.to_string();
        failure.borrow_mut().get_or_insert(e);
        xai_core::Error::Other(msg)
    };
    let history = fit(
        &opts,
        vs,
        |_epoch| {
            let t = std::time::Instant::now();
            let batches = match &mut batching {
                Batching::Shuffled(n) => batch_indices(*n, spec.batch_size, true, rng, device),
                Batching::Custom(f) => f(rng),
            };
            let losses = Losses { pred: &mut pred_loss, penalty: &mut penalty, joint: joint.as_mut() };
            let r = train_epoch(spec, lambda, &mut *opt, &batches, device, losses);
            train_secs.set(train_secs.get() + t.elapsed().as_secs_f64());
            let (l, p) = r.map_err(keep)?;
            parts.set((l, p));
            Ok(l + lambda * p)
        },
        || {
            let e = evaluate().map_err(keep)?;
            last_val_loss.set(e.val_loss);
            let shown = shown_metrics(&e.metrics);
            *last_metrics.borrow_mut() = e.metrics;
            Ok((e.val_loss, shown))
        },
        |rec| {
            let (pred, pen) = parts.get();
            let mut record = rec.clone();
            record.extra = last_metrics.borrow().clone();
            let log = EpochLog { record, val_loss: last_val_loss.get(), pred_loss: pred, penalty: pen };
            on_epoch(&log).map_err(keep)?;
            logs.push(log);
            Ok(())
        },
    );
    if let Some(e) = failure.into_inner() {
        return Err(e);
    }
    let history = history?;
    let n = history.len().max(1) as f64;
    Ok(Trained { epochs: logs, sec_per_epoch: train_secs.get() / n })
}

/// The loss hooks of one epoch.
struct Losses<'h, 'a> {
    pred: &'h mut PredLossFn<'a>,
    penalty: &'h mut PenaltyFn<'a>,
    joint: Option<&'h mut JointFn<'a>>,
}

/// One pass over the training set; returns the mean prediction loss and penalty.
fn train_epoch(
    spec: &LoopSpec,
    lambda: f64,
    opt: &mut dyn Optimizer,
    batches: &[Tensor],
    device: Device,
    losses: Losses<'_, '_>,
) -> Result<(f64, f64)> {
    let Losses { pred: pred_loss, penalty, mut joint } = losses;
    let zero = || Tensor::zeros([], (Kind::Float, device));
    let (mut loss_sum, mut pen_sum) = (zero(), zero());
    let n_batches = batches.len().max(1) as f64;
    // Per-batch progress (rate, ETA) without a host sync: a paper-scale CDEP epoch takes minutes.
    let bar = BatchBar::new(&spec.label, batches.len());
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
        let fused = if spec.double_step || lambda == 0.0 { None } else { joint.as_deref_mut() };
        if let Some(joint) = fused {
            let (loss, pen) = joint(idx)?;
            (&loss + &pen * lambda).f_backward()?;
            opt.step();
            loss_sum += loss.detach();
            pen_batch += pen.detach();
        } else if lambda > 0.0 && spec.double_step {
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
        bar.inc();
    }
    bar.finish();
    // One host sync per epoch.
    Ok((loss_sum.double_value(&[]) / n_batches, pen_sum.double_value(&[]) / n_batches))
}
