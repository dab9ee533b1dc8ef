//! `roar_test` (paper App. C): label-free attributions of the *training* images, the top r %
//! pixels of every training image removed (→ 0), a fresh autoencoder re-trained from the same
//! initial weights on the masked set, reconstruction loss on the clean test set.

use super::report::{chart, SummaryRow};
use super::{data, train, Config};
use crate::consistency::{perturb, top_masks_along};
use crate::features::label_free_attribution;
use serde::{Deserialize, Serialize};
use tch::Tensor;
use xai_core::report::{Check, Row};
use xai_core::runner::{Outcome, Session};

/// One row of `roar.csv`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoarRow {
    pub seed: u64,
    pub method: String,
    pub pct_removed: f64,
    pub test_loss: f64,
}

fn run_seed(session: &Session<'_, Config>, seed: u64) -> anyhow::Result<Vec<RoarRow>> {
    let cfg = session.config;
    let data = data::load_dataset(&cfg.data, true, session.data_root, session.device, seed)?;
    let pretext = cfg.model.pretext()?;
    let fresh = || -> anyhow::Result<Box<dyn crate::nets::Autoencoder>> {
        // Reseeding before every model gives the same initial weights and the same draws.
        tch::manual_seed(seed as i64);
        cfg.build_model(session.device)
    };
    let mut ae = fresh()?;
    let (train_x, test_x) = (&data.train_x, &data.test_x);
    train::train_tagged(
        &cfg.train,
        ae.as_mut(),
        pretext,
        (train_x, test_x),
        seed,
        &format!("seed{seed}_initial"),
        session.run.path(),
    )?;
    let base_loss = train::heldout_loss(ae.as_ref(), crate::nets::Pretext::Identity, test_x, cfg.train.batch_size);
    let mut rows = vec![];
    let n = train_x.size()[0];
    let bs = cfg.features.batch_size;
    for method in cfg.feature_methods()? {
        rows.push(RoarRow { seed, method: method.name().into(), pct_removed: 0.0, test_loss: base_loss });
        tch::manual_seed(seed as i64);
        let model = ae.as_ref();
        let encoder = |x: &Tensor| model.latent(x, false);
        let attr = Tensor::cat(
            &(0..n)
                .step_by(bs as usize)
                .map(|s| {
                    label_free_attribution(&encoder, &train_x.narrow(0, s, bs.min(n - s)), &data.baseline, &method)
                })
                .collect::<crate::Result<Vec<_>>>()?,
            0,
        );
        for &pct in cfg.features.perturb_pct.iter().filter(|p| **p > 0.0) {
            let keep = top_masks_along(&attr, pct, data.channel_dim)?;
            let masked = perturb(train_x, &keep, &data.baseline);
            let mut retrained = fresh()?;
            let tag = format!("seed{seed}_{}_{pct}", method.name());
            train::train_tagged(
                &cfg.train,
                retrained.as_mut(),
                pretext,
                (&masked, test_x),
                seed,
                &tag,
                session.run.path(),
            )?;
            let loss =
                train::heldout_loss(retrained.as_ref(), crate::nets::Pretext::Identity, test_x, cfg.train.batch_size);
            log::info!("seed {seed}: {} {pct}% removed → test loss {loss:.5}", method.name());
            rows.push(RoarRow { seed, method: method.name().into(), pct_removed: pct, test_loss: loss });
        }
    }
    Ok(rows)
}

fn loss_at(rows: &[RoarRow], method: &str, pct: f64) -> Option<f64> {
    let v: Vec<f64> = rows.iter().filter(|r| r.method == method && r.pct_removed == pct).map(|r| r.test_loss).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

pub fn run(session: &mut Session<'_, Config>) -> anyhow::Result<Outcome> {
    let cfg = session.config;
    let started = std::time::Instant::now();
    let cells = session.cells()?;
    let mut rows: Vec<RoarRow> = vec![];
    let mut skipped = 0;
    for &seed in &cfg.run.seeds {
        let r = super::sweep::cell(&cells, &format!("roar seed {seed}"), &mut skipped, || run_seed(session, seed))?;
        rows.extend(r.unwrap_or_default());
    }
    session.run.write_csv("roar.csv", &rows)?;
    let mut summary = vec![];
    let mut pcts: Vec<f64> = vec![0.0];
    pcts.extend(cfg.features.perturb_pct.iter().filter(|p| **p > 0.0));
    for m in cfg.feature_methods()? {
        for &p in &pcts {
            if let Some(l) = loss_at(&rows, m.name(), p) {
                summary.push(SummaryRow { method: m.name().into(), pct: p, mean: l, std: 0.0, n: 1, ci95: 0.0 });
            }
        }
    }
    let fig = session.run.figures_dir();
    std::fs::create_dir_all(&fig)?;
    if !summary.is_empty() {
        chart(
            "ROAR: re-trained on masked training images",
            "% pixels removed",
            "test reconstruction loss",
            &summary,
            &fig.join("roar.png"),
        )?;
    }
    let mut out = vec![];
    let mid = if pcts.contains(&50.0) { 50.0 } else { pcts[pcts.len() / 2] };
    if let Some(rand) = loss_at(&rows, "random", mid) {
        for m in ["integrated_gradients", "gradient_shap"] {
            if let Some(l) = loss_at(&rows, m, mid) {
                out.push(
                    Row::new(format!("test loss {m} − random at {mid}%"), l - rand, Check::Report)
                        .note("paper: grows faster than Random (usually; not judged at smoke scale)"),
                );
            }
        }
    }
    let full: Vec<f64> = rows.iter().filter(|r| r.pct_removed == 100.0).map(|r| r.test_loss).collect();
    if full.len() > 1 {
        let spread = full.iter().cloned().fold(f64::MIN, f64::max) - full.iter().cloned().fold(f64::MAX, f64::min);
        out.push(
            Row::new("spread of the test losses at 100%", spread, Check::AtMost(1e-6))
                .note("identical masked sets, same initial weights"),
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    session.run.write_json("timing.json", &serde_json::json!({ "seconds": seconds }))?;
    let results = serde_json::json!({ "roar": rows, "seconds": seconds });
    let mut outcome = Outcome::new(format!("LFXAI roar_test ({}) — ours vs paper", session.label), out, results);
    outcome.failed_cells = skipped;
    Ok(outcome)
}
