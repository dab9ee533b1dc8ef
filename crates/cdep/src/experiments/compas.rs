//! COMPAS (spec §4.5, reference repo only): an MLP predicting two-year recidivism, with
//! CDEP penalising the race columns' contribution. Race columns are zeroed at evaluation,
//! as in the reference notebook. Rows come from xai-core's COMPAS reader and ProPublica
//! filter (6,172 rows); the 17 CDEP features are built here.

use super::cell::{CellOutcome, Finished};
use super::common::{evaluate, reset_peak_rss, run_row, save_weights};
use super::config::{CompasBlob, Config, Method};
use super::report::{RunRow, SummaryRow};
use super::{CellRun, EpochRow, Experiment, RunCtx, Setup};
use crate::cd::Sequential;
use crate::train::{Batching, EvalOut, Hooks};
use crate::{nets, penalty, train, CdepError, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::path::Path;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use xai_core::data::tabular::{compas, csv};
use xai_core::report::{Check, Row};

/// Race categories (one-hot columns 0–5).
pub const RACES: [&str; 6] = ["African-American", "Asian", "Caucasian", "Hispanic", "Native American", "Other"];
/// Age categories in pandas' `get_dummies` order (sorted), as the notebook's columns.
const AGES: [&str; 3] = ["25 - 45", "Greater than 45", "Less than 25"];
/// The notebook's charge keywords (`black_book`), in feature order theft, driving,
/// possession, violence, no charge. A feature counts the listed words that occur in
/// `c_charge_desc` (case-sensitive substrings, as pandas' `str.contains`).
pub const KEYWORDS: [&[&str]; 5] = [
    &["Theft", "Burglary"],
    &["Drivers", "Driving", "License", "DUI", "Veh"],
    &["Possession", "Poss", "Cocaine", "Cannabis"],
    &["Battery", "Assault", "Violence", "Abuse"],
    &["no charge"],
];
/// The same lists as the notebook wrote them (`reference_quirks.compas_keyword_lists`):
/// Python joins `'Possession'  'Poss'` into one string, and 'Drivers' appears twice.
pub const KEYWORDS_REFERENCE: [&[&str]; 5] = [
    &["Theft", "Burglary"],
    &["Drivers", "Driving", "License", "Drivers", "DUI", "Veh"],
    &["PossessionPoss", "Cocaine", "Cannabis"],
    &["Battery", "Assault", "Violence", "Abuse"],
    &["no charge"],
];
/// Number of features.
pub const D: i64 = 17;

/// The 17 CDEP features `[N, 17]` (unstandardised) and `two_year_recid` `[N]`.
pub fn features(root: &Path, keywords: &[&[&str]; 5]) -> Result<(Tensor, Tensor)> {
    let t = csv::read("compas", &compas::path(root), b',')?;
    let rows = compas::filtered_rows(&t)?;
    let (race, degree, age, sex, desc) =
        (t.col("race")?, t.col("c_charge_degree")?, t.col("age_cat")?, t.col("sex")?, t.col("c_charge_desc")?);
    let priors = t.col("priors_count")?;
    let target = t.col("two_year_recid")?;
    let mut x = Vec::with_capacity(rows.len() * D as usize);
    let mut y = Vec::with_capacity(rows.len());
    for &r in &rows {
        let cell = |c: usize| t.rows[r][c].trim();
        x.extend(RACES.iter().map(|k| f32::from(cell(race) == *k)));
        // `get_dummies(drop_first=True)` keeps `crimefactor_M` and `sex_Male`.
        x.push(f32::from(cell(degree) == "M"));
        x.extend(AGES.iter().map(|k| f32::from(cell(age) == *k)));
        x.push(f32::from(cell(sex) == "Male"));
        x.push(t.float(r, priors)? as f32);
        let d = cell(desc);
        x.extend(keywords.iter().map(|ks| ks.iter().filter(|k| d.contains(*k)).count() as f32));
        y.push(t.float(r, target)? as i64);
    }
    Ok((Tensor::from_slice(&x).view([rows.len() as i64, D]), Tensor::from_slice(&y)))
}

/// Prepared COMPAS splits (standardised priors, race columns zeroed at evaluation).
pub struct Compas {
    cfg: Config,
    device: Device,
    x: [Tensor; 3],
    y: [Tensor; 3],
    /// Race of each test row (index into [`RACES`]).
    test_race: Vec<i64>,
    blob: Tensor,
}

impl Compas {
    pub fn prepare(cfg: &Config, setup: &Setup) -> Result<Self> {
        let keywords = if cfg.reference_quirks.compas_keyword_lists { &KEYWORDS_REFERENCE } else { &KEYWORDS };
        let (x, y) = features(&setup.data_root, keywords)?;
        let race = x.narrow(1, 0, 6).argmax(1, false);
        let n = x.size()[0];
        let mut idx: Vec<i64> = (0..n).collect();
        idx.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(cfg.data.seed));
        let n_val = (n as f64 * cfg.data.valid_fraction).round() as i64;
        let n_train = n - 2 * n_val;
        let all = Tensor::from_slice(&idx);
        let parts = [all.narrow(0, 0, n_train), all.narrow(0, n_train, n_val), all.narrow(0, n_train + n_val, n_val)];
        // Standardise priors_count with training statistics; other columns are 0/1.
        let priors = x.index_select(0, &parts[0]).select(1, 11);
        let (mean, std) = (priors.mean(Kind::Float), priors.std(true).clamp_min(1e-6));
        let x = x.copy();
        x.select(1, 11).copy_(&((x.select(1, 11) - mean) / std));
        let dev = setup.device;
        let race_blob = Tensor::cat(
            &[Tensor::ones([6], (Kind::Float, Device::Cpu)), Tensor::zeros([11], (Kind::Float, Device::Cpu))],
            0,
        );
        let blob = match cfg.compas.blob {
            CompasBlob::Race => race_blob,
            CompasBlob::Nonrace => 1.0 - race_blob,
        };
        log::info!("compas: {n_train} train / {n_val} val / {n_val} test rows, {D} features");
        Ok(Self {
            device: dev,
            test_race: Vec::<i64>::try_from(race.index_select(0, &parts[2]))?,
            x: parts.each_ref().map(|p| x.index_select(0, p).to_device(dev)),
            y: parts.each_ref().map(|p| y.index_select(0, p).to_device(dev)),
            blob: blob.unsqueeze(0).to_device(dev),
            cfg: cfg.clone(),
        })
    }

    /// Inputs with the race columns zeroed (evaluation protocol).
    fn race_blind(x: &Tensor) -> Tensor {
        let keep = Tensor::cat(
            &[Tensor::zeros([6], (Kind::Float, x.device())), Tensor::ones([11], (Kind::Float, x.device()))],
            0,
        );
        x * keep
    }

    fn class_weights(&self) -> Tensor {
        let r = self.y[0].to_kind(Kind::Float).mean(Kind::Float);
        let w = Tensor::stack(&[(-&r + 1.0).reciprocal(), r.reciprocal()], 0);
        &w / w.sum(Kind::Float)
    }

    /// False-positive rate among test rows of one race.
    fn fpr(&self, pred: &[i64], y: &[i64], race: usize) -> f64 {
        let (mut fp, mut neg) = (0.0, 0.0);
        for ((p, t), r) in pred.iter().zip(y).zip(&self.test_race) {
            if *r as usize == race && *t == 0 {
                neg += 1.0;
                fp += f64::from(*p == 1);
            }
        }
        if neg == 0.0 {
            f64::NAN
        } else {
            fp / neg
        }
    }
}

impl Experiment for Compas {
    fn run_one(&mut self, ctx: &mut RunCtx<'_>) -> Result<CellRun> {
        let cfg = &self.cfg;
        if matches!(ctx.method, Method::Rrr | Method::Eg | Method::Excluded) {
            return Err(CdepError::invalid(
                "sweep.methods",
                format!("{} is not defined for COMPAS (vanilla and cdep are)", ctx.method.name()),
            ));
        }
        reset_peak_rss();
        let mut rng = xai_core::device::seed_everything(ctx.seed);
        let mut vs = VarStore::new(self.device);
        let h = cfg.model.hidden.unwrap_or(5);
        let model: Sequential = nets::mlp(&vs.root(), &[D, h, h, 2], 0.1);
        let mut opt = cfg.train.optimizer(&vs)?;
        let (method, lambda, seed) = (ctx.method, ctx.lambda, ctx.seed);
        let spec = cfg.train.loop_spec(format!("{} λ={lambda} s{seed}", method.name()), lambda, false);
        let weights = if cfg.train.class_weights { Some(self.class_weights()) } else { None };
        let ce = |logits: &Tensor, y: &Tensor| {
            logits.log_softmax(-1, Kind::Float).nll_loss_nd(y, weights.as_ref(), tch::Reduction::Mean, -100)
        };
        let (tx, ty) = (&self.x[0], &self.y[0]);
        let cd = cfg.cd.options();
        let pred_loss = |idx: &Tensor| -> Result<Tensor> {
            Ok(ce(&model.forward(&tx.index_select(0, idx), true)?, &ty.index_select(0, idx)))
        };
        let penalty_fn = |idx: &Tensor, sink: &mut dyn FnMut(Tensor) -> Result<()>| -> Result<()> {
            sink(penalty::image_cdep(&model, &tx.index_select(0, idx), &self.blob, &cd)?)
        };
        let blind = |x: &Tensor| model.forward(&Self::race_blind(x), false);
        let evaluate_all = || -> Result<EvalOut> {
            let (vl, va) = tch::no_grad(|| -> Result<(f64, f64)> {
                let logits = blind(&self.x[1])?;
                let acc = logits.argmax(-1, false).eq_tensor(&self.y[1]).to_kind(Kind::Float).mean(Kind::Float);
                Ok((ce(&logits, &self.y[1]).double_value(&[]), 100.0 * acc.double_value(&[])))
            })?;
            Ok(EvalOut { val_loss: vl, metrics: vec![("val_acc".into(), va)] })
        };
        let metrics_log = &mut *ctx.metrics;
        let trained = train::train(
            &spec,
            &mut vs,
            opt.as_mut(),
            &mut rng,
            Hooks {
                batching: Batching::Shuffled(tx.size()[0]),
                pred_loss: Box::new(pred_loss),
                penalty: Box::new(penalty_fn),
                joint: None,
                evaluate: Box::new(evaluate_all),
                on_epoch: EpochRow::logger(metrics_log, method, lambda, seed),
            },
        )?;
        let batch = cfg.train.eval_batch_size;
        let (val_loss, val_acc) = evaluate(&blind, &self.x[1], &self.y[1], batch)?;
        let (_, test_acc) = evaluate(&blind, &self.x[2], &self.y[2], batch)?;
        let (_, train_acc) = evaluate(&blind, &self.x[0], &self.y[0], batch)?;
        let pred = tch::no_grad(|| blind(&self.x[2]))?.argmax(-1, false).to_device(Device::Cpu);
        let (pred, y) = (Vec::<i64>::try_from(pred)?, Vec::<i64>::try_from(self.y[2].to_device(Device::Cpu))?);
        let share = tch::no_grad(|| penalty::image_cdep(&model, &self.x[2], &self.blob, &cd))?.double_value(&[]);
        save_weights(ctx, &vs)?;
        let row = RunRow {
            train_acc,
            val_loss,
            val_acc,
            test_acc,
            test_share: Some(share),
            fpr_black: Some(self.fpr(&pred, &y, 0)),
            fpr_white: Some(self.fpr(&pred, &y, 2)),
            ..run_row("compas", ctx, &trained)
        };
        Ok(CellRun { outcome: CellOutcome::new(row, &trained), heat: None })
    }

    fn figures(&self, _dir: &Path, _cells: &[Finished], _best: &[SummaryRow]) -> Result<()> {
        Ok(())
    }

    fn paper_rows(&self, _cells: &[Finished], best: &[SummaryRow], _summary: &[SummaryRow]) -> Vec<Row> {
        let mut rows = vec![];
        for (m, acc, fb, fw) in [("vanilla", 67.8, 0.47, 0.22), ("cdep", 68.8, 0.39, 0.20)] {
            if let Some(b) = best.iter().find(|b| b.method == m) {
                let note = "reference repo notebook (5 seeds), not the paper";
                rows.push(
                    Row::new(format!("{m} test acc % (λ={})", b.lambda), b.test_acc_mean, Check::Report)
                        .ours_std(b.test_acc_std)
                        .paper(acc, None)
                        .note(note),
                );
                if let Some(v) = b.fpr_black_mean {
                    rows.push(
                        Row::new(format!("{m} FPR African-American"), v, Check::Report).paper(fb, None).note(note),
                    );
                }
                if let Some(v) = b.fpr_white_mean {
                    rows.push(Row::new(format!("{m} FPR Caucasian"), v, Check::Report).paper(fw, None).note(note));
                }
            }
        }
        rows
    }

    fn table_file(&self) -> &'static str {
        "table_compas.csv"
    }
}
