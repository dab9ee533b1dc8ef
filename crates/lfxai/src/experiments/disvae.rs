//! `disvae` (paper §4.3) on MNIST resized to 32×32 or dSprites (64×64; the npz or procedural
//! sprites): β-VAE and β-TCVAE for several β, per-unit label-free GradientShap maps of the μ
//! head on the test images, and the streaming metrics (pooled Pearson, Spearman on a sample of
//! pixels, cosine, entropy, active units), one CSV row per model; box plots of every metric
//! against β and a saliency grid per model. Images may be u8 (dSprites): batches are converted
//! as they are used, so the full set never exists as f32.

use super::disvae_figures::{loss_label, metric_box_plots, saliency_grid};
use super::{data, dsprites, Config};
use crate::disentanglement::UnitMapStats;
use crate::features::per_unit_gradient_shap;
use crate::vae::{beta_tcvae_loss, beta_vae_loss, BurgessVae};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};
use xai_core::optim::{AdamConfig, Optimizer};
use xai_core::report::{Check, Row};
use xai_core::runner::{Outcome, Session};
use xai_core::train::{Decision, EarlyStopping};

/// One row of `disvae/metrics.csv`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetricRow {
    pub dataset: String,
    pub loss: String,
    pub beta: f64,
    pub run: u64,
    pub pearson: f64,
    /// On a uniform sample of at most `disentanglement::SPEARMAN_SAMPLE` (image, pixel)
    /// positions. Black pixels have exactly zero saliency in every unit (zero baseline), and
    /// that shared bottom tie pushes the pooled rank correlation towards 1 on MNIST.
    pub spearman: f64,
    pub cosine: f64,
    pub entropy: f64,
    pub active_neurons: f64,
}

/// Test images (rows) in each saliency grid.
const GRID_IMAGES: i64 = 6;

fn vae_loss(vae: &BurgessVae, x: &Tensor, loss: &str, beta: f64, train: bool) -> Tensor {
    let (recon, mu, logvar, z) = vae.forward_t(x, train);
    if loss == "beta_tcvae" {
        beta_tcvae_loss(&recon, x, &z, &mu, &logvar, (1.0, beta, 1.0))
    } else {
        beta_vae_loss(&recon, x, &mu, &logvar, beta)
    }
}

/// Held-out loss in batches of the training size: the β-TCVAE terms depend on the batch, and
/// a dSprites test set (73,728 images) is too large for one pass; per-batch losses are
/// averaged weighted by batch size.
fn heldout(vae: &BurgessVae, x: &Tensor, loss: &str, beta: f64, batch: i64) -> f64 {
    tch::no_grad(|| {
        let n = x.size()[0];
        let (mut total, mut count) = (0.0, 0.0);
        for s in (0..n).step_by(batch as usize) {
            let xb = x.narrow(0, s, batch.min(n - s)).to_kind(Kind::Float);
            let w = xb.size()[0] as f64;
            total += vae_loss(vae, &xb, loss, beta, false).to_kind(Kind::Double).double_value(&[]) * w;
            count += w;
        }
        total / count
    })
}

fn run_cell(
    session: &Session<'_, Config>,
    x: (&Tensor, &Tensor),
    loss: &str,
    beta: f64,
    seed: u64,
) -> anyhow::Result<MetricRow> {
    let cfg = session.config;
    let t = &cfg.train;
    let (train_x, test_x) = x;
    let img = train_x.size()[2];
    let bs = cfg.features.batch_size;
    let float = |t: &Tensor| t.to_kind(Kind::Float);
    tch::manual_seed(seed as i64);
    let mut vae = BurgessVae::new(session.device, img, 1, cfg.model.latent_dim)?;
    let mut opt = AdamConfig::lr(t.lr).weight_decay(t.weight_decay).build(&vae.vs)?;
    let mut rng = xai_core::data::rng(seed);
    let mut stopper = EarlyStopping::new(t.patience.max(1), 0.0);
    for epoch in 1..=t.epochs {
        for b in xai_core::train::batches(&[train_x], t.batch_size, t.shuffle, &mut rng)? {
            opt.backward_step(&vae_loss(&vae, &float(&b[0]), loss, beta, true));
        }
        let held = heldout(&vae, test_x, loss, beta, t.batch_size);
        let held = xai_core::train::ensure_finite(held, || format!("{loss} β={beta} held-out loss"))?;
        log::info!("{loss} β={beta} seed {seed} epoch {epoch}/{}: held-out {held:.3}", t.epochs);
        if stopper.update(epoch, held, &vae.vs) == Decision::Stop {
            break;
        }
    }
    stopper.restore_best(&mut vae.vs)?;
    let enc = |x: &Tensor| vae.encode(x).0;
    let zero = Tensor::zeros([1, 1, img, img], (Kind::Float, session.device));
    let mut stats = UnitMapStats::with_spearman_sample(
        cfg.model.latent_dim as usize,
        crate::disentanglement::SPEARMAN_SAMPLE,
        seed,
    );
    let n = test_x.size()[0];
    tch::manual_seed(seed as i64);
    for s in (0..n).step_by(bs as usize) {
        let xb = float(&test_x.narrow(0, s, bs.min(n - s)));
        let maps = per_unit_gradient_shap(&enc, &xb, &zero, cfg.features.gs_samples)?;
        stats.update(&maps)?;
        if s == 0 {
            let k = GRID_IMAGES.min(xb.size()[0]);
            let title = format!("{} β={beta} run {seed}: per-unit saliency", loss_label(loss));
            let file = format!("saliency_{loss}_beta{beta}_run{seed}.png");
            let dir = session.run.path().join("disvae");
            saliency_grid(&xb.narrow(0, 0, k), &maps.narrow(0, 0, k), &title, &dir.join(file))?;
        }
    }
    Ok(MetricRow {
        dataset: cfg.data.dataset.clone(),
        loss: loss.into(),
        beta,
        run: seed,
        pearson: stats.pearson(),
        spearman: stats.spearman(),
        cosine: stats.cosine(),
        entropy: stats.entropy(),
        active_neurons: stats.active_neurons(),
    })
}

pub fn run(session: &mut Session<'_, Config>) -> anyhow::Result<Outcome> {
    let cfg = session.config;
    let started = std::time::Instant::now();
    let seed0 = cfg.run.seed();
    let (train_x, test_x, source) = if cfg.data.dataset == "dsprites" {
        let d = dsprites::load(&cfg.data, session.data_root, session.device, seed0)?;
        (d.train_x, d.test_x, d.source.name())
    } else {
        let data = data::load_dataset(&cfg.data, true, session.data_root, session.device, seed0)?;
        let resize = |x: &Tensor| x.upsample_bilinear2d([32, 32], false, None, None);
        (resize(&data.train_x), resize(&data.test_x), "idx")
    };
    let cells = session.cells()?;
    let mut rows: Vec<MetricRow> = vec![];
    let mut skipped = 0;
    for loss in &cfg.disvae.losses {
        for &beta in &cfg.disvae.betas {
            for &seed in &cfg.run.seeds {
                let key = format!("disvae {loss} beta {beta} seed {seed}");
                let data = (&train_x, &test_x);
                let r = super::sweep::cell(&cells, &key, &mut skipped, || run_cell(session, data, loss, beta, seed))?;
                rows.extend(r);
            }
        }
    }
    let dir = session.run.path().join("disvae");
    std::fs::create_dir_all(&dir)?;
    xai_core::run::write_csv_rows(&dir.join("metrics.csv"), &rows)?;
    let d = cfg.model.latent_dim as f64;
    let tol = 1e-9;
    let corr = |v: f64| (-1.0 - tol..=1.0 + tol).contains(&v);
    let in_range = rows.iter().all(|r| {
        corr(r.pearson)
            && corr(r.spearman)
            && corr(r.cosine)
            && (-tol..=d.ln() + tol).contains(&r.entropy)
            && (1.0 - tol..=d + tol).contains(&r.active_neurons)
    });
    let mut out = vec![Row::new(
        "every metric in range (Pearson, Spearman, cosine ∈ [−1, 1], entropy ∈ [0, ln d], active ∈ [1, d])",
        in_range as i32 as f64,
        Check::AtLeast(1.0),
    )];
    for loss in &cfg.disvae.losses {
        for &beta in &cfg.disvae.betas {
            let v: Vec<f64> = rows.iter().filter(|r| &r.loss == loss && r.beta == beta).map(|r| r.pearson).collect();
            let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
            out.push(
                Row::new(format!("{} β={beta}: mean inter-unit Pearson", loss_label(loss)), mean, Check::Report)
                    .note("paper: does not drop as β grows (null result)"),
            );
        }
    }
    if !rows.is_empty() {
        metric_box_plots(&rows, &cfg.data.dataset, &cfg.disvae.betas, &cfg.disvae.losses, &dir)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    session.run.write_json("timing.json", &serde_json::json!({ "seconds": seconds }))?;
    out.push(
        Row::new(format!("{} images from {source}", cfg.data.dataset), train_x.size()[0] as f64, Check::Report)
            .note("training images; dSprites: the DeepMind npz or procedural sprites"),
    );
    let results = serde_json::json!({ "metrics": rows, "seconds": seconds, "data_source": source });
    let mut outcome = Outcome::new(format!("LFXAI disvae ({}) — ours vs paper", session.label), out, results);
    outcome.failed_cells = skipped;
    Ok(outcome)
}
