//! E1 (with E6's λ grid) on a real table: SG-HMC BNN and tabular VAE on the train split,
//! the ~20% most uncertain test points rejected, CLUEs for them at every λ_x of the grid,
//! input-space CLUE, one-step Sensitivity and U-FIDO as baselines; Δ tables, trajectories,
//! curves. (Over 400 lines on purpose: one run's steps in order, read top to bottom.)

use super::report::{self, SweepRow};
use super::Config;
use crate::baselines::sensitivity_step;
use crate::blocks::Blocks;
use crate::bnn::{BnnSamples, Head, SampleUse};
use crate::bnn_train::{BnnTrainer, EpochLog};
use crate::clue::{Clue, ClueOutput, InputSpace, UncertaintyModel};
use crate::vae::TabularVae;
use crate::vae_train::{fit_resumable, FitCheckpoint, VaeFit};
use crate::vaeac::VaeacLikelihood;
use anyhow::{Context, Result};
use serde::Serialize;
use std::time::Instant;
use tch::{Device, Kind, Tensor};
use xai_core::data::tabular::{self, Column, TabularData};
use xai_core::runner::{Outcome, Session};

/// The table of `[data] dataset`.
pub fn load_data(cfg: &Config, root: &std::path::Path) -> Result<TabularData> {
    let seed = cfg.data.split_seed;
    Ok(match cfg.data.dataset.as_str() {
        "lsat" => tabular::lsat::load(root)?,
        "compas" => tabular::compas::load_clue(root, seed)?,
        "wine" => tabular::wine::load(root, tabular::wine::WineOptions { seed, ..Default::default() })?,
        "credit" => tabular::credit::load(root, seed)?,
        other => anyhow::bail!("unknown dataset {other}"),
    })
}

pub(super) fn subsample(x: &Tensor, y: &Tensor, n: usize, seed: u64) -> (Tensor, Tensor) {
    let total = x.size()[0];
    if n == 0 || n as i64 >= total {
        return (x.shallow_clone(), y.shallow_clone());
    }
    tch::manual_seed(seed as i64);
    let idx = Tensor::randperm(total, (Kind::Int64, Device::Cpu)).narrow(0, 0, n as i64);
    (x.index_select(0, &idx), y.index_select(0, &idx))
}

#[derive(Serialize)]
struct UncRow {
    row: usize,
    total: f64,
    aleatoric: f64,
    epistemic: f64,
    prediction: f64,
    rejected: bool,
}

#[derive(Serialize)]
struct ClueRow {
    method: String,
    lambda: f64,
    row: usize,
    test_row: usize,
    unc_before: f64,
    unc_after: f64,
    pred_before: f64,
    pred_after: f64,
    l1: f64,
    steps: usize,
    stop: String,
}

#[derive(Serialize)]
struct DeltaRow {
    row: usize,
    feature: String,
    before: String,
    after: String,
    changed: bool,
}

#[derive(Serialize)]
struct TrajRow {
    row: usize,
    step: usize,
    cost: f64,
    total: f64,
    aleatoric: f64,
    epistemic: f64,
    dist: f64,
}

pub(super) fn vec_f64(t: &Tensor) -> Result<Vec<f64>> {
    Ok(Vec::<f64>::try_from(t.detach().to(Device::Cpu).to_kind(Kind::Double).flatten(0, -1))?)
}

/// Prediction scalar per row: predicted class (classification) or μ in original units.
pub(super) fn predictions(mean: &Tensor, head: Head, y_stats: Option<(f64, f64)>) -> Result<Vec<f64>> {
    match head {
        Head::Classification { .. } => vec_f64(&mean.argmax(1, false)),
        Head::Gaussian { .. } => {
            let (m, s) = y_stats.unwrap_or((0.0, 1.0));
            Ok(vec_f64(&mean.select(1, 0))?.into_iter().map(|v| v * s + m).collect())
        }
    }
}

/// Feature values of one flat row in original units (category names for one-hot blocks).
fn describe(data: &TabularData, x: &Tensor) -> Result<Vec<(String, String)>> {
    let v = vec_f64(x)?;
    let mean = vec_f64(&data.x_mean)?;
    let std = vec_f64(&data.x_std)?;
    let mut out = vec![];
    let mut o = 0;
    for c in &data.schema.columns {
        match c {
            Column::Continuous { name } => out.push((name.clone(), format!("{:.4}", v[o] * std[o] + mean[o]))),
            Column::Categorical { name, categories } => {
                let w = categories.len();
                let k = (0..w).max_by(|&a, &b| v[o + a].total_cmp(&v[o + b])).unwrap_or(0);
                out.push((name.clone(), categories[k].clone()));
            }
        }
        o += c.width();
    }
    Ok(out)
}

pub(super) fn train_bnn(
    session: &mut Session<'_, Config>,
    x: &Tensor,
    y: &Tensor,
    head: Head,
) -> Result<(BnnSamples, Vec<EpochLog>)> {
    let cfg = session.config;
    let classification = matches!(head, Head::Classification { .. });
    let spec = cfg.bnn.spec(x.size()[1] as usize, head);
    let ck_dir = session.run.checkpoints_dir();
    std::fs::create_dir_all(&ck_dir).context("creating checkpoints/")?;
    let samples_path = ck_dir.join("bnn_samples.safetensors");
    if session.resumed && samples_path.is_file() {
        log::info!("BNN: samples of the interrupted run kept ({})", samples_path.display());
        return Ok((BnnSamples::load(&samples_path, spec, session.device)?, vec![]));
    }
    let state_path = ck_dir.join("bnn_trainer.safetensors");
    let mut tr = BnnTrainer::new(spec, cfg.bnn.train_params(classification), session.device)?;
    if session.resumed && state_path.is_file() {
        let named = xai_core::checkpoint::load_tensors(&state_path)?.into_iter().collect();
        tr.restore(&named)?;
        log::info!("BNN: resumed SG-HMC at epoch {}", tr.epoch);
    }
    let mut logs = vec![];
    let every = cfg.bnn.checkpoint_every;
    let samples = tr.train(x, y, |t, l| {
        if l.epoch % 25 == 0 || l.epoch + 1 == t.params.epochs {
            log::info!("BNN epoch {} nll {:.4} samples {} burn-in {}", l.epoch, l.nll, l.saved_samples, l.burn_in);
        }
        logs.push(l.clone());
        if every > 0 && (l.epoch + 1) % every == 0 {
            xai_core::checkpoint::save_tensors(&t.checkpoint(), &state_path)?;
        }
        Ok(())
    })?;
    samples.save(&samples_path)?;
    Ok((samples, logs))
}

pub(super) fn train_vae(
    session: &mut Session<'_, Config>,
    data_x: &Tensor,
    blocks: &Blocks,
) -> Result<(TabularVae, Option<VaeFit>)> {
    let cfg = session.config;
    let mut vae = TabularVae::new(blocks.clone(), cfg.vae.spec(&cfg.data.dataset), session.device)?;
    let ck_dir = session.run.checkpoints_dir();
    let path = ck_dir.join("vae.safetensors");
    let fit_path = ck_dir.join("vae_fit.safetensors");
    if session.resumed && path.is_file() {
        vae.load(&path)?;
        vae.freeze();
        return Ok((vae, crate::vae_train::saved_fit(&fit_path)?));
    }
    std::fs::create_dir_all(&ck_dir).context("creating checkpoints/")?;
    // The validation rows are part of an interrupted fit's state: kept beside it.
    let split_path = ck_dir.join("vae_split.safetensors");
    let perm = match xai_core::checkpoint::load_tensors(&split_path) {
        Ok(t) if session.resumed => t.into_iter().find(|(n, _)| n == "perm").map(|(_, t)| t),
        _ => None,
    };
    let perm = match perm {
        Some(p) if p.size() == [data_x.size()[0]] => p.to_device(data_x.device()),
        _ => {
            let p = Tensor::randperm(data_x.size()[0], (Kind::Int64, data_x.device()));
            xai_core::checkpoint::save_tensors(&[("perm", p.shallow_clone())], &split_path)?;
            p
        }
    };
    let (xt, xv) = split_valid_by(data_x, cfg.data.valid_fraction, &perm);
    let ck = FitCheckpoint { path: fit_path, every: cfg.vae.checkpoint_every, resume: session.resumed };
    let f = fit_resumable(&mut vae, &xt, &xv, &cfg.vae.train_params(), Some(&ck))?;
    vae.save(&path)?;
    vae.freeze();
    Ok((vae, Some(f)))
}

/// U-FIDO's label-free VAEAC inpainter (scoring rows with `likelihood`), fitted on `train_x`
/// (a random validation split picks its epoch) and kept as
/// `checkpoints/ufido_vaeac.safetensors`; a resumed run that has that file loads it instead
/// (a paper-scale fit is hundreds of epochs). Returned frozen.
pub(super) fn fit_or_load_inpainter(
    session: &Session<'_, Config>,
    blocks: &Blocks,
    dataset: &str,
    likelihood: crate::vaeac::VaeacLikelihood,
    train_x: &Tensor,
) -> Result<crate::vaeac::Vaeac> {
    let cfg = session.config;
    let mut vaeac =
        crate::vaeac::Vaeac::with_likelihood(blocks.clone(), cfg.vae.spec(dataset), likelihood, session.device)?;
    let ck_dir = session.run.checkpoints_dir();
    let path = ck_dir.join("ufido_vaeac.safetensors");
    if session.resumed && path.is_file() {
        log::info!("U-FIDO: VAEAC inpainter of the interrupted run kept ({})", path.display());
        vaeac.load(&path)?;
    } else {
        let (xt, xv) = split_valid(train_x, cfg.data.valid_fraction);
        log::info!("U-FIDO: fitting its VAEAC inpainter ({likelihood:?})");
        vaeac.fit_validated(&xt, &xv, &cfg.vae.train_params())?;
        std::fs::create_dir_all(&ck_dir).context("creating checkpoints/")?;
        vaeac.save(&path)?;
    }
    vaeac.vs.freeze();
    Ok(vaeac)
}

/// A random (train, validation) split of `data_x`'s rows, at least two validation rows.
pub(super) fn split_valid(data_x: &Tensor, valid_fraction: f64) -> (Tensor, Tensor) {
    split_valid_by(data_x, valid_fraction, &Tensor::randperm(data_x.size()[0], (Kind::Int64, data_x.device())))
}

/// [`split_valid`] with the row permutation given: its first rows are the validation rows.
pub(super) fn split_valid_by(data_x: &Tensor, valid_fraction: f64, perm: &Tensor) -> (Tensor, Tensor) {
    let n = data_x.size()[0];
    let n_val = (((n as f64) * valid_fraction).round() as i64).max(2);
    (data_x.index_select(0, &perm.narrow(0, n_val, n - n_val)), data_x.index_select(0, &perm.narrow(0, 0, n_val)))
}

/// Test rows with uncertainty ≥ the (1 − fraction) quantile, at most `max_rows` of the most
/// uncertain (0 = all), in row order; and the threshold.
pub(super) fn reject(u: &[f64], fraction: f64, max_rows: usize) -> (Vec<usize>, f64) {
    let mut sorted = u.to_vec();
    sorted.sort_by(f64::total_cmp);
    let q_idx = (((1.0 - fraction) * sorted.len() as f64).floor() as usize).min(sorted.len().saturating_sub(1));
    let tau = sorted.get(q_idx).copied().unwrap_or(f64::INFINITY);
    let mut rejected: Vec<usize> = (0..u.len()).filter(|&i| u[i] >= tau).collect();
    rejected.sort_by(|&a, &b| u[b].total_cmp(&u[a]));
    if max_rows > 0 {
        rejected.truncate(max_rows);
    }
    rejected.sort_unstable();
    (rejected, tau)
}

/// Mean before, mean after, and fraction of rows where `after < before`.
pub(super) fn summary(before: &[f64], after: &[f64]) -> (f64, f64, f64) {
    let n = before.len().max(1) as f64;
    let mb = before.iter().sum::<f64>() / n;
    let ma = after.iter().sum::<f64>() / n;
    let lower = before.iter().zip(after).filter(|(b, a)| a < b).count() as f64 / n;
    (mb, ma, lower)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn sweep_row(
    method: &str,
    hyper: f64,
    blocks: &Blocks,
    model: &BnnSamples,
    w: (f64, f64, f64),
    x0: &Tensor,
    x: &Tensor,
    head: Head,
    steps: f64,
    threshold: Option<f64>,
) -> Result<SweepRow> {
    let d0 = model.decompose(x0)?.weighted(w.0, w.1, w.2);
    let u1 = vec_f64(&model.decompose(x)?.weighted(w.0, w.1, w.2))?;
    let (mb, ma, lower) = summary(&vec_f64(&d0)?, &u1);
    let below = threshold.map(|t| u1.iter().filter(|&&u| u < t).count() as f64 / u1.len().max(1) as f64);
    let p0 = predictions(&model.predictive_mean(x0)?, head, None)?;
    let p1 = predictions(&model.predictive_mean(x)?, head, None)?;
    let changed = match head {
        Head::Classification { .. } => {
            p0.iter().zip(&p1).filter(|(a, b)| a != b).count() as f64 / p0.len().max(1) as f64
        }
        Head::Gaussian { .. } => p0.iter().zip(&p1).map(|(a, b)| (a - b).abs()).sum::<f64>() / p0.len().max(1) as f64,
    };
    let l1 = vec_f64(&(x - x0).abs().sum_dim_intlist(1, false, Kind::Float))?;
    let row = SweepRow {
        method: method.into(),
        hyper,
        n: l1.len(),
        unc_before: mb,
        unc_after: ma,
        drop_fraction: if mb > 0.0 { (mb - ma) / mb } else { 0.0 },
        frac_lower: lower,
        prediction_change: changed,
        mean_l1: l1.iter().sum::<f64>() / l1.len().max(1) as f64,
        valid_one_hot: blocks.validate_rows(x).is_ok(),
        mean_steps: steps,
        frac_below_threshold: below,
    };
    log::info!(
        "{method} {hyper:.3e}: {} rows, uncertainty {:.4} → {:.4} (lower for {:.1} %), ‖Δx‖₁ {:.3}",
        row.n,
        row.unc_before,
        row.unc_after,
        100.0 * row.frac_lower,
        row.mean_l1
    );
    Ok(row)
}

pub fn run(session: &mut Session<'_, Config>) -> Result<Outcome> {
    let cfg = session.config.clone();
    let seed = cfg.run.seed();
    let mut stages: Vec<(String, f64)> = vec![];
    let t0 = Instant::now();
    let data = load_data(&cfg, session.data_root)?;
    let classification = data.y_stats.is_none();
    let blocks = Blocks::new(&data.schema.blocks())?;
    let (train_x, train_y) = subsample(&data.train_x, &data.train_y, cfg.data.train_subset, seed);
    let (test_x, test_y) = subsample(&data.test_x, &data.test_y, cfg.data.test_subset, seed + 1);
    let dev = session.device;
    let (train_x, train_y, test_x, test_y) = (train_x.to(dev), train_y.to(dev), test_x.to(dev), test_y.to(dev));
    stages.push(("data".into(), t0.elapsed().as_secs_f64()));
    log::info!("{}: train {:?}, test {:?}, blocks {:?}", data.name, train_x.size(), test_x.size(), blocks.widths());

    xai_core::device::seed_everything(seed);
    let head = if classification {
        let k = train_y.max().int64_value(&[]).max(test_y.max().int64_value(&[])) + 1;
        Head::Classification { classes: k.max(2) as usize }
    } else {
        Head::Gaussian { outputs: 1 }
    };
    let t = Instant::now();
    let (bnn_all, bnn_logs) = train_bnn(session, &train_x, &train_y, head)?;
    session.run.write_csv("bnn_train_log.csv", &bnn_logs)?;
    stages.push(("bnn".into(), t.elapsed().as_secs_f64()));
    let use_ = if cfg.clue.sample_use == "official_drop_last" { SampleUse::OfficialDropLast } else { SampleUse::All };
    let bnn = bnn_all.select(use_);
    let bnn_metrics = report::bnn_metrics(&bnn, &test_x, &test_y, data.y_stats)?;
    session.run.write_csv("bnn_metrics.csv", std::slice::from_ref(&bnn_metrics))?;

    xai_core::device::seed_everything(seed + 100);
    let t = Instant::now();
    let (vae, vae_fit) = train_vae(session, &train_x, &blocks)?;
    stages.push(("vae".into(), t.elapsed().as_secs_f64()));
    let gen = report::gen_metrics(&vae, &test_x, vae_fit.as_ref())?;
    session.run.write_csv("gen_metrics.csv", std::slice::from_ref(&gen))?;
    if let Some(f) = &vae_fit {
        session.run.write_csv("vae_train_log.csv", &f.history)?;
    }

    // Rejection: total uncertainty ≥ the (1 − f) quantile of the test set.
    let w = match cfg.clue.objective.as_str() {
        "aleatoric" => (0.0, 1.0, 0.0),
        "epistemic" => (0.0, 0.0, 1.0),
        _ => (1.0, 0.0, 0.0),
    };
    let dec = tch::no_grad(|| bnn.decompose(&test_x))?;
    let u = vec_f64(&dec.weighted(w.0, w.1, w.2))?;
    let (rejected, tau) = reject(&u, cfg.select.reject_fraction, cfg.select.max_rows);
    let preds = predictions(&tch::no_grad(|| bnn.predictive_mean(&test_x))?, head, data.y_stats)?;
    let (tot, alea, epi) = (vec_f64(&dec.total)?, vec_f64(&dec.aleatoric)?, vec_f64(&dec.epistemic)?);
    let unc_rows: Vec<UncRow> = (0..u.len())
        .map(|i| UncRow {
            row: i,
            total: tot[i],
            aleatoric: alea[i],
            epistemic: epi[i],
            prediction: preds[i],
            rejected: u[i] >= tau,
        })
        .collect();
    session.run.write_csv("test_uncertainty.csv", &unc_rows)?;
    let idx = Tensor::from_slice(&rejected.iter().map(|&i| i as i64).collect::<Vec<_>>()).to(dev);
    let x0 = test_x.index_select(0, &idx);
    log::info!(
        "rejected {} test points (τ = {tau:.4}); explaining {}",
        unc_rows.iter().filter(|r| r.rejected).count(),
        rejected.len()
    );

    // The λ grid.
    let t = Instant::now();
    let mut sweep = vec![];
    let mut clue_rows = vec![];
    let mut headline: Option<ClueOutput> = None;
    for (li, &lambda) in cfg.clue.lambdas.iter().enumerate() {
        let clue = Clue::new(cfg.clue.params(lambda))?;
        let out = clue.explain(&bnn, &vae, &x0)?;
        let steps = out.returned.iter().sum::<usize>() as f64 / out.returned.len().max(1) as f64;
        sweep.push(sweep_row("clue", lambda, &blocks, &bnn, w, &x0, &out.x_clue, head, steps, Some(tau))?);
        push_rows(&mut clue_rows, "clue", lambda, &rejected, &out, head, data.y_stats, w)?;
        if cfg.clue.baselines {
            let inp = clue.explain(&bnn, &InputSpace, &x0)?;
            let steps = inp.returned.iter().sum::<usize>() as f64 / inp.returned.len().max(1) as f64;
            sweep.push(sweep_row(
                "input_space_clue",
                lambda,
                &blocks,
                &bnn,
                w,
                &x0,
                &inp.x_clue,
                head,
                steps,
                Some(tau),
            )?);
        }
        if li == 0 {
            headline = Some(out);
        }
    }
    if !cfg.clue.ufido_l1.is_empty() {
        xai_core::device::seed_everything(seed + 200);
        let vaeac = fit_or_load_inpainter(session, &blocks, &cfg.data.dataset, VaeacLikelihood::GaussCat, &train_x)?;
        // U-FIDO's concrete noise comes from the global generator: drawn from the same state
        // whether the inpainter was just fitted or loaded by a resumed run.
        xai_core::device::seed_everything(seed + 201);
        let fill = |x: &Tensor, m: &Tensor| vaeac.inpaint(x, m, false);
        for &l1 in &cfg.clue.ufido_l1 {
            let p = crate::ufido::UfidoParams {
                weights: w,
                l1_weight: l1,
                iterations: cfg.clue.ufido_iterations,
                ..Default::default()
            };
            let out = crate::ufido::ufido(&bnn, &fill, &x0, &p)?;
            sweep.push(sweep_row("ufido", l1, &blocks, &bnn, w, &x0, &out.x, head, p.iterations as f64, Some(tau))?);
        }
    }
    if cfg.clue.baselines {
        for &eta in &cfg.clue.sensitivity_steps {
            let xs = sensitivity_step(&bnn, &x0, eta, w)?;
            sweep.push(sweep_row("sensitivity", eta, &blocks, &bnn, w, &x0, &xs, head, 1.0, Some(tau))?);
        }
    }
    stages.push(("clue".into(), t.elapsed().as_secs_f64()));
    session.run.write_csv("lambda_sweep.csv", &sweep)?;
    session.run.write_csv("clues.csv", &clue_rows)?;

    // Δ table and trajectories of the headline λ.
    let out = headline.expect("non-empty λ grid");
    let mut deltas = vec![];
    for (r, &test_row) in rejected.iter().enumerate() {
        let before = describe(&data, &x0.get(r as i64))?;
        let after = describe(&data, &out.x_clue.get(r as i64))?;
        for ((name, b), (_, a)) in before.into_iter().zip(after) {
            deltas.push(DeltaRow { row: test_row, feature: name, changed: a != b, before: b, after: a });
        }
    }
    session.run.write_csv("clue_deltas.csv", &deltas)?;
    let tr = &out.trajectory;
    let (c, to, al, ep, di) = (
        vec_f64(&tr.cost)?,
        vec_f64(&tr.total)?,
        vec_f64(&tr.aleatoric)?,
        vec_f64(&tr.epistemic)?,
        vec_f64(&tr.distance)?,
    );
    let n = rejected.len();
    let traj: Vec<TrajRow> = (0..c.len())
        .map(|k| TrajRow {
            row: rejected[k % n],
            step: k / n,
            cost: c[k],
            total: to[k],
            aleatoric: al[k],
            epistemic: ep[k],
            dist: di[k],
        })
        .collect();
    session.run.write_csv("trajectories.csv", &traj)?;
    let unit = match (head, cfg.clue.objective.as_str()) {
        (Head::Classification { .. }, "total") => "predictive entropy H (nats)",
        (Head::Classification { .. }, "aleatoric") => "aleatoric entropy (nats)",
        (Head::Classification { .. }, _) => "epistemic entropy (nats)",
        (_, "total") => "σ_total (standardised target)",
        (_, "aleatoric") => "σ_aleatoric (standardised target)",
        _ => "σ_epistemic (standardised target)",
    };
    report::uncertainty_histogram(
        &session.run.figures_dir().join("uncertainty_hist.png"),
        &format!("{}: uncertainty before and after CLUE (λ_x = {})", data.name, cfg.clue.lambdas[0]),
        unit,
        &[
            ("all test points".into(), u.clone()),
            (format!("{} explained points, before", rejected.len()), vec_f64(&out.before.weighted(w.0, w.1, w.2))?),
            ("the same points after CLUE".into(), vec_f64(&out.after.weighted(w.0, w.1, w.2))?),
        ],
        20,
    )?;
    report::sweep_figure(&session.run.figures_dir(), &data.name, &sweep)?;

    let total_s = t0.elapsed().as_secs_f64();
    stages.push(("total".into(), total_s));
    for (s, v) in &stages {
        log::info!("stage {s}: {v:.1} s");
    }
    report::outcome(&cfg, &data.name, head, &bnn_metrics, &gen, &sweep, &stages, bnn.n_samples(), rejected.len())
}

#[allow(clippy::too_many_arguments)]
fn push_rows(
    rows: &mut Vec<ClueRow>,
    method: &str,
    lambda: f64,
    test_rows: &[usize],
    out: &ClueOutput,
    head: Head,
    y_stats: Option<(f64, f64)>,
    w: (f64, f64, f64),
) -> Result<()> {
    let ub = vec_f64(&out.before.weighted(w.0, w.1, w.2))?;
    let ua = vec_f64(&out.after.weighted(w.0, w.1, w.2))?;
    let pb = predictions(&out.prediction_before, head, y_stats)?;
    let pa = predictions(&out.prediction_after, head, y_stats)?;
    let l1 = vec_f64(&out.l1)?;
    for (r, &test_row) in test_rows.iter().enumerate() {
        rows.push(ClueRow {
            method: method.into(),
            lambda,
            row: r,
            test_row,
            unc_before: ub[r],
            unc_after: ua[r],
            pred_before: pb[r],
            pred_after: pa[r],
            l1: l1[r],
            steps: out.returned[r],
            stop: out.stop_steps[r].map_or("never".into(), |s| format!("stopped at {s}")),
        });
    }
    Ok(())
}
