//! Pieces every experiment runner shares: batched evaluation, RNG streams, memory.

use crate::config::TrainCfg;
use crate::train::LoopSpec;
use crate::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

/// Mean cross-entropy and accuracy (%) of `logits_of` over `(x, y)` in batches, without
/// gradients.
pub fn evaluate(
    logits_of: &dyn Fn(&Tensor) -> Result<Tensor>,
    x: &Tensor,
    y: &Tensor,
    batch: i64,
) -> Result<(f64, f64)> {
    let n = x.size()[0];
    if n == 0 {
        return Ok((f64::NAN, f64::NAN));
    }
    tch::no_grad(|| {
        let dev = y.device();
        let mut loss = Tensor::zeros([], (Kind::Float, dev));
        let mut correct = Tensor::zeros([], (Kind::Int64, dev));
        let mut start = 0;
        while start < n {
            let m = batch.min(n - start);
            let (xb, yb) = (x.narrow(0, start, m), y.narrow(0, start, m));
            let logits = logits_of(&xb)?;
            loss += logits.log_softmax(-1, Kind::Float).nll_loss(&yb) * m as f64;
            correct += logits.argmax(-1, false).eq_tensor(&yb).sum(Kind::Int64);
            start += m;
        }
        Ok((loss.double_value(&[]) / n as f64, 100.0 * correct.double_value(&[]) / n as f64))
    })
}

/// An independent RNG stream for one purpose (`stream`) of one seed, so shuffling,
/// blob sampling and EG references do not disturb each other.
pub fn stream_rng(seed: u64, stream: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(stream);
    r
}

/// Resets the kernel's peak-RSS counter so the next run's peak is its own (Linux).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak RSS in MiB since the last reset.
pub fn peak_mem_mb() -> f64 {
    xai_core::run::peak_rss_bytes().map(|b| b as f64 / (1024.0 * 1024.0)).unwrap_or(f64::NAN)
}

/// The loop settings of one run.
pub fn loop_spec(label: String, train: &TrainCfg, lambda: f64, double_step: bool) -> LoopSpec {
    LoopSpec {
        label,
        epochs: train.epochs,
        patience: train.patience,
        batch_size: train.batch_size,
        lambda,
        double_step,
        select: train.select,
    }
}

/// A seeded random subset of `0..n` of size `k` (all of it, permuted, when `k ≥ n`).
pub fn subset(n: i64, k: Option<usize>, seed: u64) -> Tensor {
    use rand::seq::SliceRandom;
    let mut idx: Vec<i64> = (0..n).collect();
    idx.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    idx.truncate(k.unwrap_or(n as usize).min(n as usize));
    Tensor::from_slice(&idx)
}

/// Snapshot of the current weights (deep copies), for the last-epoch quirk.
pub fn copy_vars(vars: &std::collections::HashMap<String, Tensor>) -> Vec<(String, Tensor)> {
    tch::no_grad(|| vars.iter().map(|(n, t)| (n.clone(), t.detach().copy())).collect())
}

/// A `runs.csv` row with the fields every experiment fills the same way (identity of the
/// run, epochs, penalty, cost, provenance); runners add their metrics with struct update.
pub fn run_row(experiment: &str, ctx: &super::RunCtx<'_>, trained: &crate::train::Trained) -> crate::report::RunRow {
    crate::report::RunRow {
        experiment: experiment.into(),
        method: ctx.method.name().into(),
        lambda: ctx.lambda,
        seed: ctx.seed,
        epochs_run: trained.epochs.len(),
        penalty_last_epoch: trained.epochs.last().map(|e| e.penalty).unwrap_or(f64::NAN),
        sec_per_epoch: trained.sec_per_epoch,
        peak_mem_mb: peak_mem_mb(),
        git_rev: ctx.git_rev.into(),
        config_hash: ctx.config_hash.into(),
        ..Default::default()
    }
}

/// Saves the weights a run is evaluated with as
/// `checkpoints/<method>_lambda<λ>_seed<seed>.safetensors` (atomically), so a reported
/// number can be re-checked or the model reused; `run.save_weights` chooses which runs.
pub fn save_weights(ctx: &super::RunCtx<'_>, vs: &tch::nn::VarStore) -> Result<()> {
    use crate::config::SaveWeights;
    match ctx.save {
        SaveWeights::None => return Ok(()),
        SaveWeights::FirstSeed if !ctx.first_seed => return Ok(()),
        _ => {}
    }
    let file = format!("{}_lambda{}_seed{}.safetensors", ctx.method.name(), ctx.lambda, ctx.seed);
    xai_core::checkpoint::save(vs, &ctx.checkpoints.join(file))?;
    Ok(())
}
