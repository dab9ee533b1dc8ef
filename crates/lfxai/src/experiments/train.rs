//! The common trainer of the reference (Adam lr 1e-3, weight decay 1e-5, early stopping on
//! the held-out loss with best weights restored) for any [`Autoencoder`], with TracIn
//! checkpoints, `train_log.csv`, and resume: a run folder that already holds the final
//! weights of a seed loads them instead of training again.

use super::TrainConfig;
use crate::nets::{Autoencoder, Pretext};
use serde::Serialize;
use std::path::{Path, PathBuf};
use tch::{Kind, Tensor};
use xai_core::optim::{AdamConfig, Optimizer};
use xai_core::train::{Decision, EarlyStopping};

/// What training left behind.
pub struct Trained {
    pub checkpoints: Vec<PathBuf>,
    pub seconds: f64,
    pub resumed: bool,
}

#[derive(Serialize)]
struct LogRow<'a> {
    model: &'a str,
    seed: u64,
    epoch: usize,
    train_loss: f64,
    heldout_loss: f64,
}

fn checkpoint_path(dir: &Path, tag: &str, epoch0: usize) -> PathBuf {
    dir.join(format!("tracin_{tag}_epoch{epoch0:03}.safetensors"))
}

/// Mean held-out loss over batches (inputs perturbed by the pretext, as the reference does).
pub fn heldout_loss(ae: &dyn Autoencoder, pretext: Pretext, x: &Tensor, batch: i64) -> f64 {
    tch::no_grad(|| {
        let n = x.size()[0];
        let mut total = 0.0;
        let mut count = 0.0;
        for start in (0..n).step_by(batch as usize) {
            let xb = x.narrow(0, start, batch.min(n - start));
            total += ae.loss(&pretext.apply(&xb), &xb, false).to_kind(Kind::Double).double_value(&[]);
            count += 1.0;
        }
        total / count
    })
}

/// Trains `ae` (or, in a run folder that holds its final weights, reloads them); files are
/// named after `seed{seed}`.
pub fn train_autoencoder(
    cfg: &TrainConfig,
    ae: &mut dyn Autoencoder,
    pretext: Pretext,
    data: (&Tensor, &Tensor),
    seed: u64,
    run_dir: &Path,
) -> anyhow::Result<Trained> {
    train_tagged(cfg, ae, pretext, data, seed, &format!("seed{seed}"), run_dir)
}

/// [`train_autoencoder`] with the checkpoint files named after `tag` (several models per seed).
pub fn train_tagged(
    cfg: &TrainConfig,
    ae: &mut dyn Autoencoder,
    pretext: Pretext,
    (train_x, heldout_x): (&Tensor, &Tensor),
    seed: u64,
    tag: &str,
    run_dir: &Path,
) -> anyhow::Result<Trained> {
    let ckpt_dir = run_dir.join("checkpoints");
    std::fs::create_dir_all(&ckpt_dir)?;
    let final_path = ckpt_dir.join(format!("model_{tag}.safetensors"));
    let started = std::time::Instant::now();
    let listed = |dir: &Path| -> Vec<PathBuf> {
        (0..cfg.epochs)
            .filter(|e| cfg.checkpoint_every > 0 && e % cfg.checkpoint_every == 0)
            .map(|e| checkpoint_path(dir, tag, e))
            .filter(|p| p.is_file())
            .collect()
    };
    if final_path.is_file() {
        log::info!("{tag}: reusing the trained weights in {}", final_path.display());
        ae.load_checkpoint(&final_path)?;
        return Ok(Trained { checkpoints: listed(&ckpt_dir), seconds: 0.0, resumed: true });
    }
    let mut opt = AdamConfig::lr(cfg.lr).weight_decay(cfg.weight_decay).build(ae.var_store())?;
    let mut rng = xai_core::data::rng(seed);
    let mut log = xai_core::run::CsvLog::append(&run_dir.join("train_log.csv"))?;
    let mut stopper = EarlyStopping::new(cfg.patience.max(1), 0.0);
    for e0 in 0..cfg.epochs {
        let t = std::time::Instant::now();
        let mut total = 0.0;
        let mut count = 0.0;
        for b in xai_core::train::batches(&[train_x], cfg.batch_size, cfg.shuffle, &mut rng)? {
            let xb = &b[0];
            let loss = ae.loss(&pretext.apply(xb), xb, true);
            opt.backward_step(&loss);
            total += loss.to_kind(Kind::Double).double_value(&[]);
            count += 1.0;
        }
        let train_loss = xai_core::train::ensure_finite(total / count, || format!("training loss at epoch {e0}"))?;
        let held = heldout_loss(ae, pretext, heldout_x, cfg.batch_size);
        let held = xai_core::train::ensure_finite(held, || format!("held-out loss at epoch {e0}"))?;
        log.log(&LogRow { model: tag, seed, epoch: e0, train_loss, heldout_loss: held })?;
        log::info!(
            "{tag} epoch {}/{}: train {train_loss:.5} held-out {held:.5} ({:.1} s)",
            e0 + 1,
            cfg.epochs,
            t.elapsed().as_secs_f64()
        );
        if cfg.checkpoint_every > 0 && e0 % cfg.checkpoint_every == 0 {
            xai_core::checkpoint::save_tensors(&ae.variables(), &checkpoint_path(&ckpt_dir, tag, e0))?;
        }
        if stopper.update(e0 + 1, held, ae.var_store()) == Decision::Stop {
            log::info!("{tag}: early stop after epoch {e0}");
            break;
        }
    }
    stopper.restore_best(ae.var_store_mut())?;
    xai_core::checkpoint::save_tensors(&ae.variables(), &final_path)?;
    Ok(Trained { checkpoints: listed(&ckpt_dir), seconds: started.elapsed().as_secs_f64(), resumed: false })
}
