//! E2 (spec §10–11) and the digit pipeline E3 shares: an SG-HMC BNN on normalised pixels,
//! the explainer VAE of `[vae] arch` (MLP or §5.5 ResNet, Bernoulli on [0, 1] pixels),
//! CLUEs for the test digits the BNN is most uncertain about under `[clue] objective` over
//! the λ_x grid, one-step Sensitivity, `clues.csv` and the original | CLUE | Δ grid.

use super::digit_report::{clue_grid, clue_rows};
use super::digits::{mean_nearest_distance, train_digit_vae, DigitData, TrainedVae};
use super::real::{subsample, summary, train_bnn, vec_f64};
use super::report::{spearman, SweepRow};
use super::Config;
use crate::baselines::sensitivity_step;
use crate::bnn::{Head, SampleUse};
use crate::clue::{Clue, Standardized, UncertaintyModel};
use anyhow::Result;
use std::time::Instant;
use tch::{Kind, Tensor};
use xai_core::report::{Check, Row};
use xai_core::runner::{Outcome, Session};

pub(super) const MNIST_MEAN: f64 = 0.1307;
pub(super) const MNIST_STD: f64 = 0.3081;

/// `(w_H, w_A, w_E)` of an objective name.
fn weights(objective: &str) -> (f64, f64, f64) {
    match objective {
        "aleatoric" => (0.0, 1.0, 0.0),
        "epistemic" => (0.0, 0.0, 1.0),
        _ => (1.0, 0.0, 0.0),
    }
}

fn sweep_point(
    (method, hyper): (&str, f64),
    model: &dyn UncertaintyModel,
    w: (f64, f64, f64),
    x0: &Tensor,
    x: &Tensor,
    steps: f64,
) -> Result<SweepRow> {
    let u0 = vec_f64(&tch::no_grad(|| model.decompose(x0))?.weighted(w.0, w.1, w.2))?;
    let u1 = vec_f64(&tch::no_grad(|| model.decompose(x))?.weighted(w.0, w.1, w.2))?;
    let (mb, ma, lower) = summary(&u0, &u1);
    let p0 = tch::no_grad(|| model.predictive_mean(x0))?.argmax(1, false);
    let p1 = tch::no_grad(|| model.predictive_mean(x))?.argmax(1, false);
    let changed = p0.ne_tensor(&p1).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
    let l1 = (x - x0).abs().sum_dim_intlist(1, false, Kind::Float).mean(Kind::Float).double_value(&[]);
    let in_range = x.min().double_value(&[]) >= 0.0 && x.max().double_value(&[]) <= 1.0;
    Ok(SweepRow {
        method: method.into(),
        hyper,
        n: u0.len(),
        unc_before: mb,
        unc_after: ma,
        drop_fraction: if mb > 0.0 { (mb - ma) / mb } else { 0.0 },
        frac_lower: lower,
        prediction_change: changed,
        mean_l1: l1,
        valid_one_hot: in_range,
        mean_steps: steps,
        frac_below_threshold: None,
    })
}

/// One test digit of `test_uncertainty.csv` (spec §12).
#[derive(serde::Serialize)]
struct TestDigit {
    test_row: usize,
    label: i64,
    prediction: i64,
    total: f64,
    aleatoric: f64,
    epistemic: f64,
    /// Among the digits CLUE explains.
    selected: bool,
}

fn test_uncertainty(model: &dyn UncertaintyModel, data: &DigitData, selected: &[i64]) -> Result<Vec<TestDigit>> {
    let (d, mean) = tch::no_grad(|| model.decompose_with_mean(&data.test_x))?;
    let [t, a, e] = [&d.total, &d.aleatoric, &d.epistemic].map(vec_f64);
    let (t, a, e) = (t?, a?, e?);
    let pred = vec_f64(&mean.argmax(1, false))?;
    let label = vec_f64(&data.test_y)?;
    let digit = |c: f64| data.digit_of_class.get(c as usize).copied().unwrap_or(c as i64);
    let mut chosen = vec![false; t.len()];
    for &i in selected {
        chosen[i as usize] = true;
    }
    Ok((0..t.len())
        .map(|i| TestDigit {
            test_row: i,
            label: digit(label[i]),
            prediction: digit(pred[i]),
            total: t[i],
            aleatoric: a[i],
            epistemic: e[i],
            selected: chosen[i],
        })
        .collect())
}

/// E2: all ten digits.
pub fn run(session: &mut Session<'_, Config>) -> Result<Outcome> {
    let m = xai_core::data::mnist::load(session.data_root)?;
    let data = DigitData {
        name: "mnist",
        train_x: m.train_images.flatten(1, -1),
        train_y: m.train_labels,
        test_x: m.test_images.flatten(1, -1),
        test_y: m.test_labels,
        classes: 10,
        digit_of_class: (0..10).collect(),
        facts: serde_json::json!({}),
    };
    run_digits(session, data)
}

/// The digit pipeline on `data` (full train / test sets; subsampled here by `[data]`).
pub fn run_digits(session: &mut Session<'_, Config>, data: DigitData) -> Result<Outcome> {
    let cfg = session.config.clone();
    let seed = cfg.run.seed();
    let dev = session.device;
    let name = data.name;
    let t0 = Instant::now();
    let mut stages: Vec<(String, f64)> = vec![];
    let (train_x, train_y) = subsample(&data.train_x, &data.train_y, cfg.data.train_subset, seed);
    let (test_x, test_y) = subsample(&data.test_x, &data.test_y, cfg.data.test_subset, seed + 1);
    let (train_x, train_y) = (train_x.to(dev), train_y.to(dev));
    let data = DigitData { test_x: test_x.to(dev), test_y: test_y.to(dev), ..data };
    stages.push(("data".into(), t0.elapsed().as_secs_f64()));

    xai_core::device::seed_everything(seed);
    let t = Instant::now();
    let norm = |x: &Tensor| (x - MNIST_MEAN) / MNIST_STD;
    // Resumable: SG-HMC state every `bnn.checkpoint_every` epochs, the samples at the end.
    let (samples, logs) =
        train_bnn(session, &norm(&train_x), &train_y, Head::Classification { classes: data.classes as usize })?;
    session.run.write_csv("bnn_train_log.csv", &logs)?;
    let use_ = if cfg.clue.sample_use == "official_drop_last" { SampleUse::OfficialDropLast } else { SampleUse::All };
    let bnn = samples.select(use_);
    let model = Standardized { model: &bnn, mean: MNIST_MEAN, std: MNIST_STD };
    let test_err = tch::no_grad(|| model.predictive_mean(&data.test_x))?
        .argmax(1, false)
        .ne_tensor(&data.test_y)
        .to_kind(Kind::Float)
        .mean(Kind::Float)
        .double_value(&[]);
    stages.push(("bnn".into(), t.elapsed().as_secs_f64()));

    xai_core::device::seed_everything(seed + 100);
    let t = Instant::now();
    let TrainedVae { vae, val_elbo, fit: fit_ } = train_digit_vae(session, &train_x)?;
    stages.push(("vae".into(), t.elapsed().as_secs_f64()));

    // The test digits with the highest uncertainty of the objective.
    let objective = cfg.clue.objective.as_str();
    let w = weights(objective);
    let u_test = tch::no_grad(|| model.decompose(&data.test_x))?.weighted(w.0, w.1, w.2);
    let n_test = u_test.size()[0];
    let k = if cfg.select.max_rows > 0 {
        cfg.select.max_rows as i64
    } else {
        (cfg.select.reject_fraction * n_test as f64).ceil() as i64
    };
    let idx = u_test.argsort(0, true).narrow(0, 0, k.clamp(1, n_test));
    let test_idx: Vec<i64> = Vec::try_from(idx.to_device(tch::Device::Cpu))?;
    session.run.write_csv("test_uncertainty.csv", &test_uncertainty(&model, &data, &test_idx)?)?;
    let x0 = data.test_x.index_select(0, &idx);
    let t = Instant::now();
    let dist_selected = mean_nearest_distance(&x0, &train_x);
    let dist_all = mean_nearest_distance(&data.test_x, &train_x);
    stages.push(("nearest_train_distance".into(), t.elapsed().as_secs_f64()));
    let t = Instant::now();
    let mut sweep = vec![];
    let mut headline = None;
    for &lambda in &cfg.clue.lambdas {
        let out = Clue::new(cfg.clue.params(lambda))?.explain_in_batches(&model, &vae, &x0, cfg.clue.batch_size)?;
        let steps = out.returned.iter().sum::<usize>() as f64 / out.returned.len().max(1) as f64;
        sweep.push(sweep_point(("clue", lambda), &model, w, &x0, &out.x_clue, steps)?);
        if headline.is_none() {
            headline = Some(out);
        }
    }
    if cfg.clue.baselines {
        for &eta in &cfg.clue.sensitivity_steps {
            let xs = sensitivity_step(&model, &x0, eta, w)?;
            sweep.push(sweep_point(("sensitivity", eta), &model, w, &x0, &xs, 1.0)?);
        }
    }
    stages.push(("clue".into(), t.elapsed().as_secs_f64()));
    session.run.write_csv("lambda_sweep.csv", &sweep)?;

    let out = headline.ok_or_else(|| anyhow::anyhow!("clue.lambdas: the λ grid is empty"))?;
    let rows = clue_rows(&data, &test_idx, &out)?;
    session.run.write_csv("clues.csv", &rows)?;
    let figs = session.run.figures_dir();
    let lambda0 = cfg.clue.lambdas[0];
    clue_grid(
        &figs.join("clue_grid.png"),
        &rows,
        &x0,
        &out.x_clue,
        objective,
        &format!("{name}: CLUE (λ_x = {lambda0}, {objective} objective): original / CLUE / Δ"),
    )?;
    let before: Vec<f64> = vec_f64(&out.before.weighted(w.0, w.1, w.2))?;
    let after: Vec<f64> = vec_f64(&out.after.weighted(w.0, w.1, w.2))?;
    super::report::uncertainty_histogram(
        &figs.join("uncertainty_hist.png"),
        &format!("{name}: {objective} uncertainty before and after CLUE (λ_x = {lambda0})"),
        &format!("{objective} uncertainty (nats)"),
        &[
            ("all test digits".into(), vec_f64(&u_test)?),
            (format!("{} explained digits, before", before.len()), before.clone()),
            ("the same digits after CLUE".into(), after.clone()),
        ],
        20,
    )?;

    let clue_sweep: Vec<&SweepRow> = sweep.iter().filter(|r| r.method == "clue").collect();
    let smallest = clue_sweep.iter().min_by(|a, b| a.hyper.total_cmp(&b.hyper)).expect("non-empty λ grid");
    let inv: Vec<f64> = clue_sweep.iter().map(|r| 1.0 / r.hyper.max(1e-12)).collect();
    let l1: Vec<f64> = clue_sweep.iter().map(|r| r.mean_l1).collect();
    let rho = if clue_sweep.len() >= 2 { spearman(&l1, &inv) } else { f64::NAN };
    let in_range = clue_sweep.iter().filter(|r| r.valid_one_hot).count() as f64 / clue_sweep.len() as f64;
    stages.push(("total".into(), t0.elapsed().as_secs_f64()));
    for (s, v) in &stages {
        log::info!("stage {s}: {v:.1} s");
    }
    let arch = vae.describe();
    let mut table = vec![
        Row::new(
            format!("{name}: relative {objective} uncertainty drop at smallest λ_x = {}", smallest.hyper),
            smallest.drop_fraction,
            Check::AtLeast(cfg.checks.min_drop),
        )
        .note(format!(
            "{:.4} → {:.4} nats, mean over the {} most {objective}-uncertain test digits; {:.0}% of them lower",
            smallest.unc_before,
            smallest.unc_after,
            smallest.n,
            100.0 * smallest.frac_lower
        )),
        Row::new(format!("{name}: CLUE images in [0, 1] (fraction of λ)"), in_range, Check::AtLeast(1.0)),
        Row::new(format!("{name}: Spearman ρ(‖Δx‖₁, 1/λ_x)"), rho, Check::Report),
        Row::new(
            format!("{name}: explained digits' L2 distance to the nearest train digit ÷ all test digits'"),
            dist_selected / dist_all,
            Check::Report,
        )
        .note(format!("{dist_selected:.3} vs {dist_all:.3}; above 1: the selected digits lie off the training data")),
    ];
    if let Some(h) = data.facts.get("holes_removed").and_then(|v| v.as_i64()) {
        table.push(
            Row::new(format!("{name}: train digits deleted as holes (spec §9)"), h as f64, Check::Report)
                .note(format!("of {} 4/7/9 train digits, before any subsample", data.facts["train_479_before_holes"])),
        );
    }
    let judged = if cfg.checks.max_bnn_error < 1.0 { Check::AtMost(cfg.checks.max_bnn_error) } else { Check::Report };
    let mut err_row = Row::new(format!("{name}: BNN test error"), test_err, judged);
    err_row = if name == "mnist" {
        err_row.paper(0.0215, None).note(format!("{} samples; paper 2.0–2.3% with the 1200×2 BNN", bnn.n_samples()))
    } else {
        err_row.note(format!("{} samples; no paper value for this split", bnn.n_samples()))
    };
    table.push(err_row);
    table.push(Row::new(format!("{name}: VAE best val ELBO per image"), val_elbo, Check::Report).note(format!(
        "{arch}, Adam{}",
        if fit_.is_none() { "; reloaded on resume and rescored, not refitted" } else { "" }
    )));
    let mut deviations = vec!["VAE fitted with Adam, not RAdam (spec §5.6)".to_string()];
    if cfg.vae.arch == "mlp" {
        deviations.push("MLP VAE with residual blocks instead of the ResNet VAE (smoke recipe, spec §11)".into());
    }
    deviations.push("VAE model selection on a train hold-out (official: test split)".into());
    let results = serde_json::json!({
        "dataset": name,
        "objective": objective,
        "data": data.facts,
        "n_train": train_x.size()[0],
        "n_test": n_test,
        "bnn_test_error": test_err,
        "n_samples": bnn.n_samples(),
        "vae": arch,
        "vae_best_epoch": fit_.as_ref().map(|f| f.best_epoch),
        "vae_val_elbo": val_elbo,
        "sweep": sweep,
        "headline_mean_before": before.iter().sum::<f64>() / before.len().max(1) as f64,
        "headline_mean_after": after.iter().sum::<f64>() / after.len().max(1) as f64,
        "smallest_lambda_drop": smallest.drop_fraction,
        "spearman_l1_inv_lambda": rho,
        "nearest_train_distance": { "explained": dist_selected, "all_test": dist_all },
        "stage_seconds": stages.iter().map(|(k, v)| (k.clone(), *v)).collect::<std::collections::BTreeMap<_, _>>(),
        "deviations": deviations,
    });
    Ok(Outcome::new(format!("CLUE {name} ({})", cfg.run.experiment.name_str()), table, results))
}
