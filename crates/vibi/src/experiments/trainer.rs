//! Training one VIBI model ("cell") with per-epoch validation, best-weights saving and
//! checkpoints that let a killed run continue exactly where its last checkpoint was.

use super::checkpoint::{self, Meta};
use super::data::{steps_per_epoch, Split};
use super::logs::{EpochRow, StepRow, EPOCHS_LOG, STEPS_LOG};
use crate::blackbox::BlackBox;
use crate::metrics::{evaluate, EvalOptions, EvalReport};
use crate::model::Vibi;
use crate::sampling::{Phase, Temperature};
use crate::Result;
use rand::SeedableRng;
use std::path::{Path, PathBuf};
use std::time::Instant;
use xai_core::progress::{BatchBar, EpochBar};
use xai_core::run::CsvLog;
use xai_core::train::batch_indices;

/// How long and how to train.
#[derive(Debug, Clone)]
pub struct Schedule {
    pub epochs: usize,
    /// Total step budget (0: none).
    pub max_steps: u64,
    pub batch_size: i64,
    pub checkpoint_every: u64,
    pub save_best: bool,
    pub seed: u64,
    pub fingerprint: String,
}

/// What training left.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Trained {
    pub steps: u64,
    pub epochs_done: usize,
    pub best_val_fid: f64,
    pub best_epoch: usize,
    pub train_seconds: f64,
    /// Training images per second over the steps taken by this invocation.
    pub images_per_s: Option<f64>,
    /// Global step this invocation started from (0 unless resumed).
    pub resumed_from: u64,
}

/// τ used for multi-shot evaluation: the current training temperature.
pub fn eval_tau(vibi: &Vibi) -> f64 {
    match (vibi.phase(), vibi.settings.temperature) {
        (Phase::Train(t), _) => t,
        (Phase::Warmup, Temperature::Inverse { scale, .. }) => scale,
        (Phase::Warmup, Temperature::Constant { value }) => value,
    }
}

fn report_row(epoch: usize, step: u64, r: &EvalReport, wall_s: f64) -> EpochRow {
    EpochRow {
        epoch,
        step,
        val_fid_topk: r.fid_topk,
        val_fid_multishot: r.fid_multishot,
        val_fid_random: r.fid_random,
        val_rationale_fid: r.rationale_fid,
        val_mean_1mjs: r.mean_1mjs,
        val_hit_rate: r.hit_rate,
        wall_s,
    }
}

/// Trains `vibi` in folder `dir` (`metrics.csv`, `epochs.csv`, `checkpoints/`), resuming
/// from `dir/checkpoints` when it holds a checkpoint of the same configuration.
pub fn train(
    vibi: &mut Vibi,
    bb: &dyn BlackBox,
    train: &Split,
    valid: &Split,
    sched: &Schedule,
    eval: &EvalOptions,
    dir: &Path,
) -> Result<Trained> {
    let ckpt_dir: PathBuf = dir.join("checkpoints");
    xai_core::fsutil::create_dir_all(&ckpt_dir)?;
    let (steps_path, epochs_path) = (dir.join(STEPS_LOG), dir.join(EPOCHS_LOG));
    let n = train.x.size()[0];
    let spe = steps_per_epoch(n, sched.batch_size) as u64;
    let mut total = sched.epochs as u64 * spe;
    if sched.max_steps > 0 {
        total = total.min(sched.max_steps);
    }
    let mut meta = Meta::fresh(&sched.fingerprint);
    match checkpoint::load_last(&ckpt_dir, &sched.fingerprint)? {
        Some((m, tensors)) => {
            vibi.load_state(&tensors, true)?;
            vibi.set_step(m.step);
            super::logs::retain_rows::<StepRow>(&steps_path, |r| r.step < m.step)?;
            super::logs::retain_rows::<EpochRow>(&epochs_path, |r| r.step <= m.step)?;
            log::info!(
                "resuming {} at step {} (epoch {}), best valid fidelity so far {:.4} (fraction)",
                dir.display(),
                m.step,
                m.epochs_done,
                m.best_val_fid
            );
            meta = m;
        }
        None => {
            let _ = std::fs::remove_file(&steps_path);
            let _ = std::fs::remove_file(&epochs_path);
            let r = evaluate(
                vibi,
                bb,
                &valid.x,
                &valid.bb_probs,
                valid.cells.as_ref(),
                &EvalOptions { multishot_samples: 0, ..eval.clone() },
            );
            log::info!("initial valid top-k fidelity {:.4} (fraction of images)", r.fid_topk);
            CsvLog::append(&epochs_path)?.log(&report_row(0, 0, &r, 0.0))?;
        }
    }
    let resumed_from = meta.step;
    let mut steps_log = CsvLog::append(&steps_path)?;
    let mut epochs_log = CsvLog::append(&epochs_path)?;
    let bar = EpochBar::new("vibi", (total.div_ceil(spe)) as usize);
    let mut session_seconds = 0.0;
    let mut epoch = meta.epochs_done;
    while meta.step < total {
        // Batches of epoch e depend only on (seed, e): a resumed epoch sees the same order.
        let mut rng =
            rand_chacha::ChaCha8Rng::seed_from_u64(sched.seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64));
        let batches = batch_indices(n, sched.batch_size, true, &mut rng, train.x.device());
        let start = meta.step - epoch as u64 * spe;
        // A paper-scale epoch is hundreds of multi-second steps: show the batches too.
        let batch_bar = BatchBar::new("vibi batch", batches.len().saturating_sub(start as usize));
        for idx in batches.iter().skip(start as usize) {
            if meta.step >= total {
                break;
            }
            // Per-step seeding makes the Gumbel noise a function of the step alone.
            tch::manual_seed((sched.seed.wrapping_mul(7_919).wrapping_add(meta.step)) as i64);
            let t0 = Instant::now();
            let s = vibi.train_step(&train.x.index_select(0, idx), &train.bb_probs.index_select(0, idx))?;
            let dt = t0.elapsed().as_secs_f64();
            meta.train_seconds += dt;
            session_seconds += dt;
            meta.step = vibi.step();
            steps_log.log(&StepRow {
                step: s.step,
                epoch: epoch + 1,
                phase: if s.warmup { "warmup" } else { "train" }.into(),
                temp: s.temp,
                loss: s.loss,
                ce: s.ce,
                kl: s.kl,
                acc_sampled: s.acc_sampled,
                seconds: dt,
            })?;
            batch_bar.inc();
            batch_bar.message(format!("loss={:.4}", s.loss));
            if sched.checkpoint_every > 0 && meta.step % sched.checkpoint_every == 0 && meta.step % spe != 0 {
                checkpoint::save_last(&ckpt_dir, vibi, meta.clone())?;
            }
        }
        batch_bar.finish();
        let epoch_complete = meta.step == (epoch as u64 + 1) * spe;
        let r = evaluate(
            vibi,
            bb,
            &valid.x,
            &valid.bb_probs,
            valid.cells.as_ref(),
            &EvalOptions { multishot_tau: eval_tau(vibi), ..eval.clone() },
        );
        let shown_epoch = epoch + 1;
        epochs_log.log(&report_row(shown_epoch, meta.step, &r, meta.train_seconds))?;
        // Fractions in [0, 1] everywhere in the logs (the `_frac` suffix names the unit).
        let mut shown = vec![("val_fid_topk_frac", r.fid_topk)];
        if let Some(h) = r.hit_rate {
            shown.push(("val_hit_rate_frac", h));
        }
        bar.done(shown_epoch, &shown);
        if r.fid_topk > meta.best_val_fid {
            meta.best_val_fid = r.fid_topk;
            meta.best_epoch = shown_epoch;
            if sched.save_best {
                checkpoint::save_best(&ckpt_dir, vibi, &sched.fingerprint, shown_epoch, r.fid_topk)?;
            }
        }
        if epoch_complete {
            epoch += 1;
            meta.epochs_done = epoch;
        }
        checkpoint::save_last(&ckpt_dir, vibi, meta.clone())?;
        if !epoch_complete {
            break;
        }
    }
    bar.finish();
    let taken = meta.step - resumed_from;
    Ok(Trained {
        steps: meta.step,
        epochs_done: meta.epochs_done,
        best_val_fid: meta.best_val_fid,
        best_epoch: meta.best_epoch,
        train_seconds: meta.train_seconds,
        images_per_s: (taken > 0 && session_seconds > 0.0)
            .then(|| (taken as i64 * sched.batch_size) as f64 / session_seconds),
        resumed_from,
    })
}
