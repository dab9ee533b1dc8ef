//! Pieces every experiment runner shares: batched evaluation, RNG streams, memory.

use crate::Result;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::Tensor;

/// Mean cross-entropy and accuracy in percent (cdep's unit) of `logits_of` over
/// `(x, y)` in batches, without gradients (`xai_core::train::evaluate`). The percentage
/// is taken from the count of correct predictions, as `100 · correct / n`.
pub fn evaluate(
    logits_of: &dyn Fn(&Tensor) -> Result<Tensor>,
    x: &Tensor,
    y: &Tensor,
    batch: i64,
) -> Result<(f64, f64)> {
    let e = xai_core::train::evaluate(logits_of, x, y, batch)?;
    Ok((e.loss, percent(e.accuracy, x.size()[0])))
}

/// A fraction correct of `n` examples in percent, computed from the count (`round(f·n)`)
/// so the number is the same as `100 · correct / n`.
pub fn percent(fraction: f64, n: i64) -> f64 {
    if fraction.is_nan() || n == 0 {
        return fraction;
    }
    100.0 * (fraction * n as f64).round() / n as f64
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
pub fn run_row(experiment: &str, ctx: &super::RunCtx<'_>, trained: &crate::train::Trained) -> super::report::RunRow {
    super::report::RunRow {
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

/// Saves the weights a cell is evaluated with as
/// `checkpoints/<method>_lambda<λ>_seed<seed>.safetensors` (atomically), so a reported
/// number can be re-checked or the model reused; `run.save_weights` chooses which cells.
pub fn save_weights(ctx: &super::RunCtx<'_>, vs: &tch::nn::VarStore) -> Result<()> {
    if let Some(path) = &ctx.checkpoint {
        xai_core::checkpoint::save(vs, path)?;
    }
    Ok(())
}
