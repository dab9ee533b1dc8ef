//! E4, the computational evaluation framework (spec §8) on a table: a ground-truth VAEAC
//! over x⊕y and its under-VAE fitted to the real rows, artificial train/test data sampled
//! from them, a BNN, an explainer VAE and a label-free VAEAC fitted to the artificial train
//! rows; the test points the BNN is aleatorically / epistemically unsure about explained by
//! CLUE, U-FIDO and Sensitivity over their sweeps; the benefits measured with the ground
//! truth's conditional, the costs ‖Δx‖₁ and log p_gt(x); curves and knee tables. E5 is the
//! same run on MNIST (`dataset = "mnist"`): the pieces that differ are in `artificial_mnist`.
//! (Over 400 lines on purpose: one run's steps in order, read top to bottom, as `real.rs`.)

use super::artificial_mnist as art_mnist;
use super::artificial_report::{self as rep, BaselineRow, CurveRow, TestRow};
use super::mnist::{MNIST_MEAN, MNIST_STD};
use super::real::{load_data, subsample, train_bnn, train_vae, vec_f64};
use super::{report, Config};
use crate::artificial::{self as art, GroundTruth, Target};
use crate::baselines::sensitivity_step;
use crate::blocks::Blocks;
use crate::bnn::Head;
use crate::clue::{Clue, Standardized, UncertaintyModel};
use crate::ufido::{ufido, UfidoParams};
use crate::vae::TabularVae;
use crate::vaeac::Vaeac;
use anyhow::{bail, Context, Result};
use std::time::Instant;
use tch::{Device, Kind, Tensor};
use xai_core::runner::{Outcome, Session};

/// Seed of every ground-truth evaluation: the same draws for originals and counterfactuals
/// (common random numbers), so an unchanged input has exactly zero benefit and cost.
const GT_SEED: i64 = 7_919;

/// The ground truth: trained and saved, or loaded when resuming.
fn ground_truth(
    session: &Session<'_, Config>,
    blocks: &Blocks,
    target: Target,
    joint: &Tensor,
) -> Result<(GroundTruth, Vec<f64>, Vec<f64>)> {
    let cfg = session.config;
    let a = &cfg.artificial;
    let ds = cfg.data.dataset.as_str();
    let dir = session.run.checkpoints_dir();
    std::fs::create_dir_all(&dir).context("creating checkpoints/")?;
    let (gt_path, under_path) = (dir.join("gt_vaeac.safetensors"), dir.join("gt_under_vae.safetensors"));
    let mut vaeac =
        Vaeac::with_likelihood(art::joint_blocks(blocks, target)?, a.gt_spec(ds), a.gt_likelihood(ds), session.device)?;
    log::info!("ground truth: VAEAC over x⊕y with the {:?} likelihood", vaeac.likelihood());
    let spec = a.under_spec(ds);
    let mut under = TabularVae::new(Blocks::continuous(vaeac.spec.latent_dim)?, spec, session.device)?;
    let (mut gt_hist, mut under_hist) = (vec![], vec![]);
    if session.resumed && gt_path.is_file() && under_path.is_file() {
        vaeac.load(&gt_path)?;
        under.load(&under_path)?;
        log::info!("ground truth: models of the interrupted run kept");
    } else {
        gt_hist = vaeac.fit(joint, a.gt_epochs, a.gt_batch_size, a.gt_lr)?;
        vaeac.save(&gt_path)?;
        under_hist = art::fit_under_vae(&vaeac, &mut under, joint, a.under_epochs, a.under_batch_size, a.under_lr)?;
        under.save(&under_path)?;
    }
    vaeac.vs.freeze();
    under.freeze();
    Ok((GroundTruth::new(blocks.clone(), target, vaeac, under)?, gt_hist, under_hist))
}

/// Artificial train and test rows: sampled once, kept on resume.
fn artificial_data(
    session: &Session<'_, Config>,
    gt: &GroundTruth,
    n_train: usize,
    n_test: usize,
) -> Result<[Tensor; 4]> {
    let path = session.run.checkpoints_dir().join("artificial_data.safetensors");
    if session.resumed && path.is_file() {
        let named: std::collections::HashMap<String, Tensor> =
            xai_core::checkpoint::load_tensors(&path)?.into_iter().collect();
        let get = |k: &str| {
            named.get(k).map(|t| t.to(session.device)).with_context(|| format!("{}: no `{k}`", path.display()))
        };
        return Ok([get("train_x")?, get("train_y")?, get("test_x")?, get("test_y")?]);
    }
    let (x, y) = gt.sample((n_train + n_test) as i64)?;
    let (nt, ne) = (n_train as i64, n_test as i64);
    let out = [x.narrow(0, 0, nt), y.narrow(0, 0, nt), x.narrow(0, nt, ne), y.narrow(0, nt, ne)];
    let named: Vec<(&str, Tensor)> =
        ["train_x", "train_y", "test_x", "test_y"].into_iter().zip(out.iter().map(|t| t.shallow_clone())).collect();
    xai_core::checkpoint::save_tensors(&named, &path)?;
    Ok(out)
}

/// What the ground truth says about a batch: uncertainty, label and log p (seeded alike).
struct GtView {
    unc: Vec<f64>,
    label: Vec<f64>,
    logp: Vec<f64>,
}

fn gt_view(gt: &GroundTruth, x: &Tensor, s: i64, k: i64) -> Result<GtView> {
    tch::manual_seed(GT_SEED);
    let c = gt.conditional(x, s)?;
    tch::manual_seed(GT_SEED + 1);
    let logp = gt.log_px(x, k)?;
    Ok(GtView { unc: vec_f64(&c.uncertainty())?, label: vec_f64(&c.label())?, logp: vec_f64(&logp)? })
}

/// The BNN's prediction per row: class id or standardised mean.
fn bnn_prediction(bnn: &dyn UncertaintyModel, x: &Tensor, classification: bool) -> Result<Vec<f64>> {
    let m = tch::no_grad(|| bnn.predictive_mean(x))?;
    if classification {
        vec_f64(&m.argmax(1, false))
    } else {
        vec_f64(&m.select(1, 0))
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// Test rows of one objective: `u ≥ τ`, most uncertain first; at least `min_rows`, at most `max_rows`.
fn select(u: &[f64], tau: f64, min_rows: usize, max_rows: usize) -> (Vec<usize>, bool) {
    let mut order: Vec<usize> = (0..u.len()).collect();
    order.sort_by(|&a, &b| u[b].total_cmp(&u[a]));
    let passing = order.iter().take_while(|&&i| u[i] >= tau).count();
    let relaxed = passing < min_rows.min(u.len());
    let mut n = if relaxed { min_rows.min(u.len()) } else { passing };
    if max_rows > 0 {
        n = n.min(max_rows);
    }
    let mut rows = order[..n].to_vec();
    rows.sort_unstable();
    (rows, relaxed)
}

fn quantile(u: &[f64], q: f64) -> f64 {
    let mut s = u.to_vec();
    s.sort_by(f64::total_cmp);
    s[((q * s.len() as f64).floor() as usize).min(s.len() - 1)]
}

/// Everything one sweep cell needs.
struct Bench<'a> {
    gt: &'a GroundTruth,
    bnn: &'a dyn UncertaintyModel,
    classification: bool,
    x0: &'a Tensor,
    base: &'a GtView,
    pred0: &'a [f64],
    bnn_u0: &'a [f64],
    weights: (f64, f64, f64),
    aleatoric: bool,
    s: i64,
    k: i64,
}

impl Bench<'_> {
    fn measure(&self, dataset: &str, method: &str, hyper: f64, x: &Tensor, steps: f64) -> Result<CurveRow> {
        let v = gt_view(self.gt, x, self.s, self.k)?;
        let pred = bnn_prediction(self.bnn, x, self.classification)?;
        let benefit = if self.aleatoric {
            art::aleatoric_benefit(&self.base.unc, &v.unc)?
        } else {
            art::epistemic_benefit(self.pred0, &self.base.label, &pred, &v.label, self.classification)?
        };
        let u1 =
            vec_f64(&tch::no_grad(|| self.bnn.decompose(x))?.weighted(self.weights.0, self.weights.1, self.weights.2))?;
        let dx = vec_f64(&(x - self.x0).abs().sum_dim_intlist(1, false, Kind::Float))?;
        let row = CurveRow {
            dataset: dataset.into(),
            unc_type: if self.aleatoric { "aleatoric" } else { "epistemic" }.into(),
            method: method.into(),
            hyper,
            mean_dx: mean(&dx),
            mean_dx_categorical: mean(&vec_f64(&art::categorical_l1(&self.gt.x_blocks, self.x0, x))?),
            valid_fraction: mean(&vec_f64(&art::valid_rows(&self.gt.x_blocks, x).to_kind(Kind::Float))?),
            mean_benefit: benefit,
            mean_logpx: mean(&v.logp),
            logpx_cost: art::log_px_cost(&self.base.logp, &v.logp)?,
            gt_unc_after: mean(&v.unc),
            err_after: art::error_vs_ground_truth(&pred, &v.label, self.classification)?,
            bnn_unc_before: mean(self.bnn_u0),
            bnn_unc_after: mean(&u1),
            mean_steps: steps,
            n: dx.len(),
        };
        log::info!(
            "{} {method} {hyper:.3e}: benefit {:.4}, ‖Δx‖₁ {:.3}, log p cost {:.2}, BNN uncertainty {:.4} → {:.4}",
            row.unc_type,
            row.mean_benefit,
            row.mean_dx,
            row.logpx_cost,
            row.bnn_unc_before,
            row.bnn_unc_after
        );
        Ok(row)
    }
}

pub fn run(session: &mut Session<'_, Config>) -> Result<Outcome> {
    let cfg = session.config.clone();
    let a = &cfg.artificial;
    let ds = cfg.data.dataset.clone();
    let seed = cfg.run.seed();
    let dev = session.device;
    let project_sensitivity = a.project_sensitivity()?;
    let t0 = Instant::now();
    let mut stages: Vec<(String, f64)> = vec![];
    let mut stage = |name: &str, t: Instant| stages.push((name.into(), t.elapsed().as_secs_f64()));

    // 1. The ground truth on the real train rows (MNIST: digits ⊕ one-hot labels).
    let mnist = ds == "mnist";
    let (blocks, target, real_x, real_y, real_sizes) = if mnist {
        let (x, y) = art_mnist::real_digits(&cfg, session.data_root, seed)?;
        (Blocks::continuous(784)?, Target::Classes(10), x, y, art_mnist::SPLIT_SIZES)
    } else {
        let data = load_data(&cfg, session.data_root)?;
        let blocks = Blocks::new(&data.schema.blocks())?;
        let (x, y) = subsample(&data.train_x, &data.train_y, cfg.data.train_subset, seed);
        let target = if data.y_stats.is_none() {
            Target::Classes(
                (data.train_y.max().int64_value(&[]).max(data.test_y.max().int64_value(&[])) + 1).max(2) as usize
            )
        } else {
            Target::Regression
        };
        (blocks, target, x, y, (data.train_x.size()[0] as usize, data.test_x.size()[0] as usize))
    };
    let classification = matches!(target, Target::Classes(_));
    let joint = art::join(&real_x, &real_y, target).to(dev);
    xai_core::device::seed_everything(seed);
    let t = Instant::now();
    let (gt, gt_hist, under_hist) = ground_truth(session, &blocks, target, &joint)?;
    stage("ground_truth", t);
    let n_train = if a.n_train > 0 { a.n_train } else { real_sizes.0 };
    let n_test = if a.n_test > 0 { a.n_test } else { real_sizes.1 };
    xai_core::device::seed_everything(seed + 10);
    let [train_x, train_y, test_x, test_y] = artificial_data(session, &gt, n_train, n_test)?;
    log::info!("{ds}: {n_train} artificial train rows, {n_test} test rows, blocks {:?}", blocks.widths());

    // 2. Models on the artificial train rows only.
    xai_core::device::seed_everything(seed + 20);
    let head = match target {
        Target::Classes(k) => Head::Classification { classes: k },
        Target::Regression => Head::Gaussian { outputs: 1 },
    };
    // MNIST's BNN sees normalised pixels (E2's recipe); tables are standardised already.
    let (shift, scale) = if mnist { (MNIST_MEAN, MNIST_STD) } else { (0.0, 1.0) };
    let t = Instant::now();
    let (samples, bnn_logs) = train_bnn(session, &((&train_x - shift) / scale), &train_y, head)?;
    session.run.write_csv("bnn_train_log.csv", &bnn_logs)?;
    stage("bnn", t);
    let bnn_metrics = report::bnn_metrics(&samples, &((&test_x - shift) / scale), &test_y, None)?;
    // Every method below sees x in [0, 1] and this wrapper normalises it (exact for tables).
    let bnn = Standardized { model: &samples, mean: shift, std: scale };
    session.run.write_csv("bnn_metrics.csv", std::slice::from_ref(&bnn_metrics))?;
    xai_core::device::seed_everything(seed + 30);
    let t = Instant::now();
    let (vae, vae_fit) =
        if mnist { art_mnist::explainer_vae(session, &train_x)? } else { train_vae(session, &train_x, &blocks)? };
    let gen = report::gen_metrics(&vae, &test_x, vae_fit.as_ref())?;
    xai_core::device::seed_everything(seed + 40);
    let inpainter = if mnist {
        art_mnist::inpainter(session, &train_x)?
    } else {
        super::real::fit_or_load_inpainter(session, &blocks, &ds, crate::vaeac::VaeacLikelihood::GaussCat, &train_x)?
    };
    stage("explainer_models", t);
    session.run.write_csv("gen_metrics.csv", std::slice::from_ref(&gen))?;
    if !gt_hist.is_empty() {
        session.run.write_csv("gt_train_log.csv", &rep::training_rows(&gt, &gt_hist, &under_hist))?;
    }

    // 3. The test set through the BNN and the ground truth.
    let t = Instant::now();
    let (s, k) = (a.gt_target_samples as i64, a.is_samples as i64);
    let dec = tch::no_grad(|| bnn.decompose(&test_x))?;
    let (bnn_a, bnn_e) = (vec_f64(&dec.aleatoric)?, vec_f64(&dec.epistemic)?);
    let test_gt = gt_view(&gt, &test_x, s, k)?;
    let test_pred = bnn_prediction(&bnn, &test_x, classification)?;
    let err_vs_gt = art::error_vs_ground_truth(&test_pred, &test_gt.label, classification)?;
    stage("ground_truth_test", t);

    // 4. Per objective: select, explain with every method over its sweep, measure.
    let cells = session.cells()?;
    let mut curves: Vec<CurveRow> = vec![];
    let mut baselines: Vec<BaselineRow> = vec![];
    let mut selected_flags: Vec<[bool; 2]> = vec![[false; 2]; bnn_a.len()];
    let t = Instant::now();
    for unc in &a.uncertainty_types {
        let aleatoric = unc == "aleatoric";
        let u = if aleatoric { &bnn_a } else { &bnn_e };
        let tau_cfg = if aleatoric { a.tau_aleatoric } else { a.tau_epistemic };
        let q_tau = quantile(u, a.select_quantile);
        let (mut tau, mut relaxed) = (tau_cfg.unwrap_or(q_tau), false);
        let (mut rows, mut short) = select(u, tau, a.min_rows, a.max_rows);
        if short && tau_cfg.is_some() {
            log::warn!(
                "{unc}: fewer than {} test points reach τ = {tau:.4}; falling back to the {} quantile τ = {q_tau:.4}",
                a.min_rows,
                a.select_quantile
            );
            (tau, relaxed) = (q_tau, true);
            (rows, short) = select(u, tau, a.min_rows, a.max_rows);
        }
        if rows.is_empty() {
            bail!("artificial: no test point to explain for {unc} (τ = {tau}); lower artificial.tau_{unc}");
        }
        if short {
            relaxed = true;
            log::warn!(
                "{unc}: fewer than {} test points reach τ = {tau:.4}; the {} most uncertain are explained",
                a.min_rows,
                rows.len()
            );
        }
        for &r in &rows {
            selected_flags[r][usize::from(!aleatoric)] = true;
        }
        let idx = Tensor::from_slice(&rows.iter().map(|&i| i as i64).collect::<Vec<_>>()).to(dev);
        let x0 = test_x.index_select(0, &idx);
        let weights = if aleatoric { (0.0, 1.0, 0.0) } else { (0.0, 0.0, 1.0) };
        let base = gt_view(&gt, &x0, s, k)?;
        let pred0 = bnn_prediction(&bnn, &x0, classification)?;
        let bnn_u0 = vec_f64(&tch::no_grad(|| bnn.decompose(&x0))?.weighted(weights.0, weights.1, weights.2))?;
        baselines.push(BaselineRow {
            dataset: ds.clone(),
            unc_type: unc.clone(),
            tau,
            tau_relaxed: relaxed,
            n: rows.len(),
            bnn_unc: mean(&bnn_u0),
            gt_unc: mean(&base.unc),
            err: art::error_vs_ground_truth(&pred0, &base.label, classification)?,
            logpx_mean: mean(&base.logp),
            logpx_std: {
                let m = mean(&base.logp);
                (base.logp.iter().map(|v| (v - m).powi(2)).sum::<f64>() / base.logp.len() as f64).sqrt()
            },
        });
        let bench = Bench {
            gt: &gt,
            bnn: &bnn,
            classification,
            x0: &x0,
            base: &base,
            pred0: &pred0,
            bnn_u0: &bnn_u0,
            weights,
            aleatoric,
            s,
            k,
        };
        let max_steps = if aleatoric { a.max_steps_aleatoric } else { a.max_steps_epistemic };
        for (i, &lambda) in a.clue_lambdas.values().iter().enumerate() {
            let (row, _) = cells.get_or_run(&format!("{unc}-clue-{i:02}"), || -> Result<CurveRow> {
                xai_core::device::seed_everything(seed + 1000 + i as u64);
                let mut p = cfg.clue.params(lambda);
                (p.uncertainty_weight, p.aleatoric_weight, p.epistemic_weight) = weights;
                p.max_steps = max_steps;
                let out = Clue::new(p)?.explain(&bnn, &vae, &x0)?;
                let steps = out.returned.iter().sum::<usize>() as f64 / out.returned.len().max(1) as f64;
                bench.measure(&ds, "clue", lambda, &out.x_clue, steps)
            })?;
            curves.push(row);
        }
        let fill = |x: &Tensor, m: &Tensor| inpainter.inpaint(x, m, false);
        for (i, &l1) in a.ufido_l1.values().iter().enumerate() {
            let (row, _) = cells.get_or_run(&format!("{unc}-ufido-{i:02}"), || -> Result<CurveRow> {
                xai_core::device::seed_everything(seed + 2000 + i as u64);
                let p = UfidoParams {
                    weights,
                    l1_weight: l1,
                    iterations: a.ufido_iterations,
                    mask_samples: a.ufido_mask_samples,
                    mask_samples_late: a.ufido_mask_samples_late,
                    ..Default::default()
                };
                let out = ufido(&bnn, &fill, &x0, &p)?;
                bench.measure(&ds, "ufido", l1, &out.x, p.iterations as f64)
            })?;
            curves.push(row);
        }
        for (i, &eta) in a.sensitivity_steps.values().iter().enumerate() {
            let (row, _) = cells.get_or_run(&format!("{unc}-sensitivity-{i:02}"), || -> Result<CurveRow> {
                let x = sensitivity_step(&bnn, &x0, eta, weights)?;
                let x = if project_sensitivity { blocks.hard(&x) } else { x };
                bench.measure(&ds, "sensitivity", eta, &x, 1.0)
            })?;
            curves.push(row);
        }
    }
    stage("explain", t);

    // 5. Files, figures, tables and the verdict.
    let test_rows: Vec<TestRow> = (0..bnn_a.len())
        .map(|i| TestRow {
            row: i,
            bnn_aleatoric: bnn_a[i],
            bnn_epistemic: bnn_e[i],
            gt_uncertainty: test_gt.unc[i],
            gt_label: test_gt.label[i],
            bnn_prediction: test_pred[i],
            gt_logpx: test_gt.logp[i],
            selected_aleatoric: selected_flags[i][0],
            selected_epistemic: selected_flags[i][1],
        })
        .collect();
    session.run.write_csv("test_uncertainty.csv", &test_rows)?;
    session.run.write_csv("curves.csv", &curves)?;
    session.run.write_csv("baselines.csv", &baselines)?;
    let (t1, t2) = rep::knee_tables(&curves)?;
    session.run.write_csv("knee_table1.csv", &t1)?;
    session.run.write_csv("knee_table2.csv", &t2)?;
    rep::curve_figures(&session.run.figures_dir(), &ds, classification, &curves, &baselines)?;
    stages.push(("total".into(), t0.elapsed().as_secs_f64()));
    for (name, v) in &stages {
        log::info!("stage {name}: {v:.1} s");
    }
    let context = rep::Context {
        dataset: &ds,
        classification,
        bnn: &bnn_metrics,
        err_vs_gt,
        gt_test_unc: mean(&test_gt.unc),
        gt_test_logp: mean(&test_gt.logp),
        stages: &stages,
        n_train,
        n_test,
        device: if dev == Device::Cpu { "cpu" } else { "cuda" },
    };
    rep::outcome(&cfg, &context, &curves, &baselines, &t1, &t2)
}
