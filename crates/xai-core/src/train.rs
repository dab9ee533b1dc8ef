//! Training helpers that methods compose or skip: shuffled mini-batches, an epoch loop
//! with evaluation, early stopping with best-weights restore, finite-loss checks.

use crate::checkpoint::{restore, snapshot};
use crate::progress::EpochBar;
use crate::{Error, Result};
use rand::seq::SliceRandom;
use rand::Rng;
use tch::nn::VarStore;
use tch::{Device, Tensor};

/// Index batches over `n` examples: a random permutation per call when shuffled.
/// Indices live on `device`, so gathering a batch never leaves the device.
pub fn batch_indices(n: i64, batch_size: i64, shuffle: bool, rng: &mut impl Rng, device: Device) -> Vec<Tensor> {
    assert!(batch_size > 0, "batch_size must be positive");
    let mut order: Vec<i64> = (0..n).collect();
    if shuffle {
        order.shuffle(rng);
    }
    let all = Tensor::from_slice(&order).to(device);
    (0..n).step_by(batch_size as usize).map(|start| all.narrow(0, start, batch_size.min(n - start))).collect()
}

/// Mini-batches of several aligned tensors (inputs, labels, masks…) along dimension 0.
pub fn batches(
    tensors: &[&Tensor],
    batch_size: i64,
    shuffle: bool,
    rng: &mut impl Rng,
) -> Result<impl Iterator<Item = Vec<Tensor>>> {
    let first = tensors.first().ok_or_else(|| Error::invalid("batches", "no tensors given"))?;
    let n = first.size().first().copied().unwrap_or(0);
    if let Some(bad) = tensors.iter().find(|t| t.size().first().copied() != Some(n)) {
        return Err(Error::invalid(
            "batches",
            format!("tensors disagree on the number of examples: {n} vs {:?}", bad.size()),
        ));
    }
    if batch_size <= 0 {
        return Err(Error::invalid("batch_size", format!("{batch_size}; must be positive")));
    }
    let owned: Vec<Tensor> = tensors.iter().map(|t| t.shallow_clone()).collect();
    let idx = batch_indices(n, batch_size, shuffle, rng, first.device());
    Ok(idx.into_iter().map(move |i| owned.iter().map(|t| t.index_select(0, &i)).collect()))
}

/// Fails with a message naming `what` when `value` is NaN or infinite. Called on losses
/// so a diverged run stops with an explanation instead of training on garbage.
pub fn ensure_finite(value: f64, what: impl FnOnce() -> String) -> Result<f64> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(Error::NonFinite(format!("{} is {value}; lower the learning rate or check the inputs", what())))
    }
}

/// What early stopping decided after an epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Improved,
    NoImprovement,
    Stop,
}

/// Early stopping on a validation loss (lower is better) with best-weights snapshots.
pub struct EarlyStopping {
    patience: usize,
    min_delta: f64,
    best: f64,
    best_epoch: usize,
    bad_epochs: usize,
    best_weights: Option<Vec<(String, Tensor)>>,
}

impl EarlyStopping {
    /// `patience`: epochs without an improvement of more than `min_delta` before stopping.
    pub fn new(patience: usize, min_delta: f64) -> Self {
        Self { patience, min_delta, best: f64::INFINITY, best_epoch: 0, bad_epochs: 0, best_weights: None }
    }

    /// Records epoch `epoch`'s validation loss, snapshotting `vs` when it is the best so far.
    pub fn update(&mut self, epoch: usize, val_loss: f64, vs: &VarStore) -> Decision {
        if val_loss < self.best - self.min_delta {
            self.best = val_loss;
            self.best_epoch = epoch;
            self.bad_epochs = 0;
            self.best_weights = Some(snapshot(vs));
            Decision::Improved
        } else {
            self.bad_epochs += 1;
            if self.bad_epochs >= self.patience {
                Decision::Stop
            } else {
                Decision::NoImprovement
            }
        }
    }

    pub fn best(&self) -> f64 {
        self.best
    }

    pub fn best_epoch(&self) -> usize {
        self.best_epoch
    }

    /// Copies the best weights seen back into `vs` (no-op before the first update).
    pub fn restore_best(&self, vs: &mut VarStore) -> Result<()> {
        match &self.best_weights {
            Some(w) => restore(vs, w),
            None => Ok(()),
        }
    }
}

/// Mean cross-entropy and accuracy of a classifier over a data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    pub loss: f64,
    /// Fraction correct, in [0, 1].
    pub accuracy: f64,
}

/// Evaluates `logits_of` (the model in whatever mode the caller set, `[B, C]` logits)
/// on `(x, y)` in batches of `batch`, without gradients. Sums stay on the device: one
/// host sync at the end. An empty set gives NaN for both.
pub fn evaluate<E>(
    logits_of: impl Fn(&Tensor) -> std::result::Result<Tensor, E>,
    x: &Tensor,
    y: &Tensor,
    batch: i64,
) -> std::result::Result<Evaluation, E> {
    let n = x.size()[0];
    if n == 0 {
        return Ok(Evaluation { loss: f64::NAN, accuracy: f64::NAN });
    }
    tch::no_grad(|| {
        let dev = y.device();
        let mut loss = Tensor::zeros([], (tch::Kind::Float, dev));
        let mut correct = Tensor::zeros([], (tch::Kind::Int64, dev));
        let mut start = 0;
        while start < n {
            let m = batch.max(1).min(n - start);
            let (xb, yb) = (x.narrow(0, start, m), y.narrow(0, start, m));
            let logits = logits_of(&xb)?;
            loss += logits.log_softmax(-1, tch::Kind::Float).nll_loss(&yb) * m as f64;
            correct += logits.argmax(-1, false).eq_tensor(&yb).sum(tch::Kind::Int64);
            start += m;
        }
        Ok(Evaluation { loss: loss.double_value(&[]) / n as f64, accuracy: correct.double_value(&[]) / n as f64 })
    })
}

/// Per-epoch numbers a training loop reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    pub seconds: f64,
    /// Extra named metrics from the evaluation (accuracy…).
    #[serde(skip)]
    pub extra: Vec<(String, f64)>,
}

/// The validation number that early stopping and best-weights selection follow.
#[derive(Debug, Clone, PartialEq)]
pub struct Monitor {
    /// `val_loss`, or the name of an extra metric returned by the evaluation.
    pub metric: String,
    pub higher_is_better: bool,
}

impl Default for Monitor {
    fn default() -> Self {
        Self { metric: "val_loss".into(), higher_is_better: false }
    }
}

impl Monitor {
    /// Follow an extra metric where larger is better (e.g. `val_acc`).
    pub fn maximize(metric: &str) -> Self {
        Self { metric: metric.into(), higher_is_better: true }
    }

    /// The monitored value as a loss (lower is better).
    fn as_loss(&self, val_loss: f64, extra: &[(String, f64)]) -> Result<f64> {
        let v = if self.metric == "val_loss" {
            val_loss
        } else {
            extra.iter().find(|(k, _)| *k == self.metric).map(|(_, v)| *v).ok_or_else(|| {
                Error::invalid("monitor", format!("the evaluation returned no metric `{}`", self.metric))
            })?
        };
        Ok(if self.higher_is_better { -v } else { v })
    }
}

/// Settings of [`fit`].
#[derive(Debug, Clone)]
pub struct FitOptions {
    pub label: String,
    pub epochs: usize,
    /// `Some(p)`: stop after `p` epochs without improvement of the monitored value and
    /// restore the best weights. `None`: run all epochs and keep the last weights.
    pub patience: Option<usize>,
    /// No early stop before this epoch (the best epoch is still tracked from the first): a
    /// penalty can hold a model on a chance-level plateau for several epochs before it learns,
    /// and patience counted from the start would end those runs on the plateau.
    pub min_epochs: usize,
    pub monitor: Monitor,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self { label: "train".into(), epochs: 1, patience: None, min_epochs: 0, monitor: Monitor::default() }
    }
}

/// The shared epoch loop: `train_epoch(epoch)` returns the mean training loss,
/// `evaluate()` the validation loss plus extra metrics; early stopping follows
/// `opts.monitor`. Every loss is checked for being
/// finite, progress is shown, and `on_epoch` sees each record (to append to a CSV).
pub fn fit(
    opts: &FitOptions,
    vs: &mut VarStore,
    mut train_epoch: impl FnMut(usize) -> Result<f64>,
    mut evaluate: impl FnMut() -> Result<(f64, Vec<(String, f64)>)>,
    mut on_epoch: impl FnMut(&EpochRecord) -> Result<()>,
) -> Result<Vec<EpochRecord>> {
    let bar = EpochBar::new(&opts.label, opts.epochs);
    let mut stopper = opts.patience.map(|p| EarlyStopping::new(p, 0.0));
    let mut history = Vec::with_capacity(opts.epochs);
    for epoch in 1..=opts.epochs {
        let t = std::time::Instant::now();
        let train_loss =
            ensure_finite(train_epoch(epoch)?, || format!("{} training loss at epoch {epoch}", opts.label))?;
        let (val_loss, extra) = evaluate()?;
        let val_loss = ensure_finite(val_loss, || format!("{} validation loss at epoch {epoch}", opts.label))?;
        let record = EpochRecord { epoch, train_loss, val_loss, seconds: t.elapsed().as_secs_f64(), extra };
        let mut shown: Vec<(&str, f64)> = vec![("train_loss", train_loss), ("val_loss", val_loss)];
        shown.extend(record.extra.iter().map(|(k, v)| (k.as_str(), *v)));
        bar.done(epoch, &shown);
        on_epoch(&record)?;
        history.push(record);
        if let Some(s) = stopper.as_mut() {
            let monitored = ensure_finite(opts.monitor.as_loss(val_loss, &history[history.len() - 1].extra)?, || {
                format!("{} monitored `{}` at epoch {epoch}", opts.label, opts.monitor.metric)
            })?;
            if s.update(epoch, monitored, vs) == Decision::Stop && epoch >= opts.min_epochs {
                log::info!("{}: early stop at epoch {epoch}, best epoch {}", opts.label, s.best_epoch());
                break;
            }
        }
    }
    bar.finish();
    if let Some(s) = &stopper {
        s.restore_best(vs)?;
    }
    Ok(history)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn batches_cover_every_example_once() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let x = Tensor::arange(10, (tch::Kind::Int64, Device::Cpu));
        let y = &x * 2;
        let mut seen = vec![];
        for b in batches(&[&x, &y], 4, true, &mut rng).unwrap() {
            assert!(b[1].equal(&(&b[0] * 2)), "inputs and labels stay aligned");
            seen.extend(Vec::<i64>::try_from(&b[0]).unwrap());
        }
        let mut sorted = seen.clone();
        sorted.sort();
        assert_eq!(sorted, (0..10).collect::<Vec<_>>());
        assert_ne!(seen, (0..10).collect::<Vec<_>>(), "shuffled");
        let bad = Tensor::zeros([3], (tch::Kind::Float, Device::Cpu));
        assert!(batches(&[&x, &bad], 4, false, &mut rng).is_err());
    }

    #[test]
    fn early_stopping_restores_best_weights() {
        let mut vs = VarStore::new(Device::Cpu);
        let w = vs.root().zeros("w", &[2]);
        let mut es = EarlyStopping::new(2, 0.0);
        let losses = [1.0, 0.5, 0.7, 0.8, 0.9];
        let mut stopped_at = 0;
        for (i, l) in losses.iter().enumerate() {
            let _ = tch::no_grad(|| w.shallow_clone().fill_(i as f64));
            if es.update(i + 1, *l, &vs) == Decision::Stop {
                stopped_at = i + 1;
                break;
            }
        }
        assert_eq!(stopped_at, 4);
        assert_eq!(es.best_epoch(), 2);
        es.restore_best(&mut vs).unwrap();
        assert_eq!(Vec::<f32>::try_from(&w).unwrap(), vec![1.0, 1.0]);
    }

    #[test]
    fn fit_follows_the_monitored_metric() {
        let mut vs = VarStore::new(Device::Cpu);
        let w = vs.root().zeros("w", &[1]);
        // Validation loss keeps falling but accuracy peaks at epoch 2: maximising accuracy
        // must stop early and restore epoch 2's weights.
        let acc = [0.5, 0.9, 0.8, 0.7, 0.6];
        let epoch = std::cell::Cell::new(0usize);
        let opts =
            FitOptions { epochs: 5, patience: Some(2), monitor: Monitor::maximize("val_acc"), ..Default::default() };
        let history = fit(
            &opts,
            &mut vs,
            |e| {
                epoch.set(e);
                let _ = tch::no_grad(|| w.shallow_clone().fill_(e as f64));
                Ok(1.0)
            },
            || Ok((1.0 / epoch.get() as f64, vec![("val_acc".into(), acc[epoch.get() - 1])])),
            |_| Ok(()),
        )
        .unwrap();
        assert_eq!(history.len(), 4);
        assert_eq!(Vec::<f32>::try_from(&w).unwrap(), vec![2.0]);
        let missing = FitOptions { patience: Some(1), monitor: Monitor::maximize("auc"), ..Default::default() };
        let e = fit(&missing, &mut vs, |_| Ok(1.0), || Ok((1.0, vec![])), |_| Ok(())).unwrap_err().to_string();
        assert!(e.contains("no metric `auc`"), "{e}");
    }

    #[test]
    fn min_epochs_lets_a_run_leave_a_plateau_before_patience_counts() {
        // Chance for four epochs, then learning: patience 2 alone stops on the plateau at epoch
        // 3 with epoch 1's weights; min_epochs 6 reaches the peak at epoch 6 and restores it.
        let acc = [0.5, 0.5, 0.5, 0.5, 0.7, 0.8, 0.75, 0.7, 0.7, 0.7];
        let run = |min_epochs: usize| {
            let mut vs = VarStore::new(Device::Cpu);
            let w = vs.root().zeros("w", &[1]);
            let epoch = std::cell::Cell::new(0usize);
            let opts = FitOptions {
                epochs: 10,
                patience: Some(2),
                min_epochs,
                monitor: Monitor::maximize("val_acc"),
                ..Default::default()
            };
            let history = fit(
                &opts,
                &mut vs,
                |e| {
                    epoch.set(e);
                    let _ = tch::no_grad(|| w.shallow_clone().fill_(e as f64));
                    Ok(1.0)
                },
                || Ok((1.0, vec![("val_acc".into(), acc[epoch.get() - 1])])),
                |_| Ok(()),
            )
            .unwrap();
            (history.len(), Vec::<f32>::try_from(&w).unwrap()[0])
        };
        assert_eq!(run(0), (3, 1.0));
        assert_eq!(run(6), (8, 6.0));
    }

    #[test]
    fn evaluate_matches_whole_batch_cross_entropy() {
        let x = Tensor::randn([10, 3], (tch::Kind::Float, Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 1, 2, 0, 1, 2, 0, 1, 2, 0]);
        let f = |t: &Tensor| Ok::<_, Error>(t * 2.0);
        let e = evaluate(f, &x, &y, 3).unwrap();
        let logits = &x * 2.0;
        let want = logits.log_softmax(-1, tch::Kind::Float).nll_loss(&y).double_value(&[]);
        let acc = logits.argmax(-1, false).eq_tensor(&y).to_kind(tch::Kind::Float).mean(tch::Kind::Float);
        assert!((e.loss - want).abs() < 1e-6, "{} vs {want}", e.loss);
        assert!((e.accuracy - acc.double_value(&[])).abs() < 1e-6);
        let empty = evaluate(f, &x.narrow(0, 0, 0), &y.narrow(0, 0, 0), 3).unwrap();
        assert!(empty.loss.is_nan() && empty.accuracy.is_nan());
    }

    #[test]
    fn non_finite_loss_is_an_error() {
        let e = ensure_finite(f64::NAN, || "loss at step 3".into()).unwrap_err().to_string();
        assert!(e.contains("loss at step 3") && e.contains("NaN"), "{e}");
        assert_eq!(ensure_finite(1.5, || unreachable!()).unwrap(), 1.5);
    }
}
