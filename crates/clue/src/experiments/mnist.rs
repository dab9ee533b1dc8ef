//! E2 in its smoke form (spec §10–11): an SG-HMC BNN on normalised MNIST pixels, an MLP VAE
//! with a Bernoulli likelihood on [0, 1] pixels, CLUEs for the most uncertain test digits
//! over a λ_x grid, the original | CLUE | Δ grid figure and one-step Sensitivity.

use super::real::{subsample, summary, train_bnn, vec_f64};
use super::report::{spearman, SweepRow};
use super::Config;
use crate::baselines::sensitivity_step;
use crate::blocks::Blocks;
use crate::bnn::{Head, SampleUse};
use crate::clue::{Clue, Standardized, UncertaintyModel};
use crate::vae::{Likelihood, TabularVae};
use crate::vae_train::fit;
use anyhow::Result;
use std::time::Instant;
use tch::{Kind, Tensor};
use xai_core::figures::{save_grid, GridOptions};
use xai_core::report::{Check, Row};
use xai_core::runner::{Outcome, Session};

const MNIST_MEAN: f64 = 0.1307;
const MNIST_STD: f64 = 0.3081;

fn sweep_point(
    method: &str,
    hyper: f64,
    model: &dyn UncertaintyModel,
    x0: &Tensor,
    x: &Tensor,
    steps: f64,
) -> Result<SweepRow> {
    let h0 = vec_f64(&tch::no_grad(|| model.decompose(x0))?.total)?;
    let h1 = vec_f64(&tch::no_grad(|| model.decompose(x))?.total)?;
    let (mb, ma, lower) = summary(&h0, &h1);
    let p0 = tch::no_grad(|| model.predictive_mean(x0))?.argmax(1, false);
    let p1 = tch::no_grad(|| model.predictive_mean(x))?.argmax(1, false);
    let changed = p0.ne_tensor(&p1).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
    let l1 = (x - x0).abs().sum_dim_intlist(1, false, Kind::Float).mean(Kind::Float).double_value(&[]);
    let in_range = x.min().double_value(&[]) >= 0.0 && x.max().double_value(&[]) <= 1.0;
    Ok(SweepRow {
        method: method.into(),
        hyper,
        n: h0.len(),
        unc_before: mb,
        unc_after: ma,
        drop_fraction: if mb > 0.0 { (mb - ma) / mb } else { 0.0 },
        frac_lower: lower,
        prediction_change: changed,
        mean_l1: l1,
        valid_one_hot: in_range,
        mean_steps: steps,
    })
}

pub fn run(session: &mut Session<'_, Config>) -> Result<Outcome> {
    let cfg = session.config.clone();
    let seed = cfg.run.seed();
    let dev = session.device;
    let t0 = Instant::now();
    let mut stages: Vec<(String, f64)> = vec![];
    let m = xai_core::data::mnist::load(session.data_root)?;
    let flat = |t: &Tensor| t.flatten(1, -1);
    let (train_x, train_y) = subsample(&flat(&m.train_images), &m.train_labels, cfg.data.train_subset, seed);
    let (test_x, test_y) = subsample(&flat(&m.test_images), &m.test_labels, cfg.data.test_subset, seed + 1);
    let (train_x, train_y, test_x, test_y) = (train_x.to(dev), train_y.to(dev), test_x.to(dev), test_y.to(dev));
    stages.push(("data".into(), t0.elapsed().as_secs_f64()));

    xai_core::device::seed_everything(seed);
    let t = Instant::now();
    let norm = |x: &Tensor| (x - MNIST_MEAN) / MNIST_STD;
    // Resumable: SG-HMC state every `bnn.checkpoint_every` epochs, the samples at the end.
    let (samples, logs) = train_bnn(session, &norm(&train_x), &train_y, Head::Classification { classes: 10 })?;
    session.run.write_csv("bnn_train_log.csv", &logs)?;
    let ck = session.run.checkpoints_dir();
    let use_ = if cfg.clue.sample_use == "official_drop_last" { SampleUse::OfficialDropLast } else { SampleUse::All };
    let bnn = samples.select(use_);
    let model = Standardized { model: &bnn, mean: MNIST_MEAN, std: MNIST_STD };
    let test_err = tch::no_grad(|| model.predictive_mean(&test_x))?
        .argmax(1, false)
        .ne_tensor(&test_y)
        .to_kind(Kind::Float)
        .mean(Kind::Float)
        .double_value(&[]);
    stages.push(("bnn".into(), t.elapsed().as_secs_f64()));

    xai_core::device::seed_everything(seed + 100);
    let t = Instant::now();
    let mut vae =
        TabularVae::new(Blocks::continuous(784)?, cfg.vae.spec("mnist"), dev)?.with_likelihood(Likelihood::Bernoulli);
    let n = train_x.size()[0];
    let n_val = ((n as f64) * cfg.data.valid_fraction).round().max(2.0) as i64;
    let fit_ =
        fit(&mut vae, &train_x.narrow(0, n_val, n - n_val), &train_x.narrow(0, 0, n_val), &cfg.vae.train_params())?;
    vae.save(&ck.join("vae.safetensors"))?;
    vae.freeze();
    stages.push(("vae".into(), t.elapsed().as_secs_f64()));

    // The most uncertain test digits.
    let h = tch::no_grad(|| model.decompose(&test_x))?.total;
    let k = if cfg.select.max_rows > 0 {
        cfg.select.max_rows
    } else {
        (cfg.select.reject_fraction * h.size()[0] as f64).ceil() as usize
    };
    let idx = h.argsort(0, true).narrow(0, 0, (k as i64).min(h.size()[0]));
    let x0 = test_x.index_select(0, &idx);
    let t = Instant::now();
    let mut sweep = vec![];
    let mut first = None;
    for &lambda in &cfg.clue.lambdas {
        let out = Clue::new(cfg.clue.params(lambda))?.explain(&model, &vae, &x0)?;
        let steps = out.returned.iter().sum::<usize>() as f64 / out.returned.len().max(1) as f64;
        sweep.push(sweep_point("clue", lambda, &model, &x0, &out.x_clue, steps)?);
        if first.is_none() {
            first = Some(out);
        }
    }
    if cfg.clue.baselines {
        for &eta in &cfg.clue.sensitivity_steps {
            let xs = sensitivity_step(&model, &x0, eta, (1.0, 0.0, 0.0))?;
            sweep.push(sweep_point("sensitivity", eta, &model, &x0, &xs, 1.0)?);
        }
    }
    stages.push(("clue".into(), t.elapsed().as_secs_f64()));
    session.run.write_csv("lambda_sweep.csv", &sweep)?;

    // original | CLUE | Δ (grey 0.5 = no change) for up to 16 digits at the headline λ.
    let out = first.expect("non-empty λ grid");
    let cols = x0.size()[0].min(16);
    let img = |t: &Tensor| t.narrow(0, 0, cols).view([cols, 1, 28, 28]).to_device(tch::Device::Cpu);
    let delta = ((&out.x_clue - &x0) / 2.0 + 0.5).clamp(0.0, 1.0);
    let grid = Tensor::cat(&[img(&x0), img(&out.x_clue), img(&delta)], 0);
    let hb = vec_f64(&out.before.total)?;
    let ha = vec_f64(&out.after.total)?;
    let mut captions: Vec<String> = (0..cols as usize).map(|i| format!("H {:.2}", hb[i])).collect();
    captions.extend((0..cols as usize).map(|i| format!("→ {:.2}", ha[i])));
    captions.extend((0..cols as usize).map(|_| "Δ".to_string()));
    let opts = GridOptions {
        columns: cols as usize,
        scale: 2,
        captions: Some(captions),
        title: Some(format!("CLUE λ_x = {}: original / CLUE / Δ", cfg.clue.lambdas[0])),
        ..Default::default()
    };
    let figs = session.run.figures_dir();
    std::fs::create_dir_all(&figs)?;
    save_grid(&grid, &opts, &figs.join("clue_grid.png"))?;
    super::report::uncertainty_histogram(
        &figs.join("uncertainty_hist.png"),
        &format!("mnist: predictive entropy before and after CLUE (λ_x = {})", cfg.clue.lambdas[0]),
        "predictive entropy H (nats)",
        &[
            ("all test digits".into(), vec_f64(&h)?),
            (format!("{} explained digits, before", hb.len()), hb.clone()),
            ("the same digits after CLUE".into(), ha.clone()),
        ],
        20,
    )?;

    let clue_rows: Vec<&SweepRow> = sweep.iter().filter(|r| r.method == "clue").collect();
    let smallest = clue_rows.iter().min_by(|a, b| a.hyper.total_cmp(&b.hyper)).expect("non-empty");
    let inv: Vec<f64> = clue_rows.iter().map(|r| 1.0 / r.hyper.max(1e-12)).collect();
    let l1: Vec<f64> = clue_rows.iter().map(|r| r.mean_l1).collect();
    let rho = if clue_rows.len() >= 2 { spearman(&l1, &inv) } else { f64::NAN };
    let in_range = clue_rows.iter().filter(|r| r.valid_one_hot).count() as f64 / clue_rows.len() as f64;
    stages.push(("total".into(), t0.elapsed().as_secs_f64()));
    for (s, v) in &stages {
        log::info!("stage {s}: {v:.1} s");
    }
    let rows = vec![
        Row::new(
            format!("mnist: relative entropy drop at smallest λ_x = {}", smallest.hyper),
            smallest.drop_fraction,
            Check::AtLeast(cfg.checks.min_drop),
        )
        .note(format!(
            "{:.3} → {:.3} nats over {} most uncertain test digits",
            smallest.unc_before, smallest.unc_after, smallest.n
        )),
        Row::new("mnist: CLUE images in [0, 1] (fraction of λ)", in_range, Check::AtLeast(1.0)),
        Row::new("mnist: Spearman ρ(‖Δx‖₁, 1/λ_x)", rho, Check::Report),
        Row::new("mnist: BNN test error", test_err, Check::Report)
            .paper(0.0215, None)
            .note(format!("{} samples; paper 2.0–2.3% with the 1200×2 BNN", bnn.n_samples())),
        Row::new("mnist: VAE best val ELBO per image", fit_.best_val_elbo, Check::Report).note("MLP VAE (smoke), Adam"),
    ];
    let results = serde_json::json!({
        "dataset": "mnist",
        "bnn_test_error": test_err,
        "n_samples": bnn.n_samples(),
        "vae_best_epoch": fit_.best_epoch,
        "vae_val_elbo": fit_.best_val_elbo,
        "sweep": sweep,
        "spearman_l1_inv_lambda": rho,
        "stage_seconds": stages.iter().map(|(k, v)| (k.clone(), *v)).collect::<std::collections::BTreeMap<_, _>>(),
        "deviations": ["MLP VAE with residual blocks instead of the resnet VAE (smoke recipe)", "VAE fitted with Adam, not RAdam"],
    });
    Ok(Outcome::new(format!("CLUE mnist ({})", cfg.run.experiment.name_str()), rows, results))
}
