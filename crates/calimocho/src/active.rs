//! Explanatory active learning (spec §4): cold fit on the known set, then T queries, each
//! selected by a [`Strategy`], labelled, explained and partially corrected by the
//! [`SimulatedUser`], followed by a warm fit of E Adam steps on the whole known set.

use crate::fit::{Start, Trainer};
use crate::losses::{explanation_loss, explanation_loss_rows, label_loss, label_loss_rows};
use crate::measures::{
    accuracy, explanation_prf_k, explanation_prf_sorted, pixel_relevance, precision_recall_f1, rule_mass,
};
use crate::params::{ActiveParams, Strategy};
use crate::user::SimulatedUser;
use crate::{CalimochoError, Result};
use rand::Rng;
use std::time::Instant;
use tch::{Kind, Tensor};

/// The pixel structure of one-hot encoded images, for the explanation measures.
pub struct PixelLayout {
    pub pixels: i64,
    pub slots: i64,
    /// `[pixels]` masks of each rule's pixels; the first is the taught rule.
    pub rules: Vec<Tensor>,
}

impl PixelLayout {
    /// Toy colors: 25 pixels × 4 colour slots; rule `taught` first, then the other.
    pub fn toy_colors(taught: usize) -> Self {
        use xai_core::data::toy_colors::rule_pixel_mask;
        Self { pixels: 25, slots: 4, rules: vec![rule_pixel_mask(taught), rule_pixel_mask(1 - taught.min(1))] }
    }
}

/// Everything one fold runs on. Indices are rows of `x`, `y`, `z_star`.
pub struct ActiveData<'a> {
    /// `[N, C]` concepts (float).
    pub x: &'a Tensor,
    /// `[N]` labels 0/1.
    pub y: &'a Tensor,
    /// `[N, C]` ground-truth explanations.
    pub z_star: &'a Tensor,
    /// Initial known examples (duplicates allowed: used in the cold fit, then collapsed).
    pub known: Vec<i64>,
    /// Pool of unlabelled examples.
    pub pool: Vec<i64>,
    /// Test examples.
    pub test: Vec<i64>,
    /// Enables the explanation measures.
    pub layout: Option<PixelLayout>,
}

/// Explanation measures of the test set: per rule of the layout (taught rule first).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ExplMeasures {
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    pub f1: Vec<f64>,
    pub mass: Vec<f64>,
    /// Explanation F1 of the taught rule on the known set.
    pub f1_known: f64,
}

/// Test-set measures of one evaluation.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TestMeasures {
    pub yloss: f64,
    pub zloss: f64,
    pub acc: f64,
    pub f1: f64,
    pub expl: Option<ExplMeasures>,
}

/// One iteration of the loop.
#[derive(Debug, Clone, PartialEq)]
pub struct IterRecord {
    pub iter: usize,
    pub query: i64,
    /// The reference's bug-compatible query loss: f(x_i) against *all* test labels.
    pub yloss_query_ref: f64,
    pub yloss_query: f64,
    pub zloss_query: f64,
    /// `None` on iterations skipped by `eval_every`.
    pub test: Option<TestMeasures>,
    pub n_known: usize,
    /// Selection + correction + fit.
    pub runtime_s: f64,
}

/// Position in `scores` (`[M]`) of the example a confidence strategy picks among the
/// positions where `in_pool` is true: `margin` = argmin of min(f, 1−f) (most confident,
/// the reference's behaviour), `least-confident` = argmax. Ties → lowest position.
pub fn select_by_confidence(strategy: Strategy, f: &Tensor, in_pool: &Tensor) -> Result<i64> {
    let conf = f.minimum(&(1.0 - f));
    let pos = match strategy {
        Strategy::Margin => conf.masked_fill(&in_pool.logical_not(), f64::INFINITY).argmin(0, false),
        Strategy::LeastConfident => conf.masked_fill(&in_pool.logical_not(), f64::NEG_INFINITY).argmax(0, false),
        Strategy::Random => return Err(CalimochoError::invalid("strategy", "random does not rank by confidence")),
    };
    Ok(pos.int64_value(&[]))
}

/// Runs one fold: returns one record per iteration (T, or fewer when the pool empties).
/// `on_iter` sees each record as it is made (progress bars, logs).
pub fn run_fold(
    trainer: &mut Trainer,
    data: &ActiveData<'_>,
    user: &mut SimulatedUser,
    params: &ActiveParams,
    mut on_iter: impl FnMut(&IterRecord),
) -> Result<Vec<IterRecord>> {
    params.validate(trainer.senn.n_concepts())?;
    if data.known.is_empty() || data.test.is_empty() {
        return Err(CalimochoError::invalid("fold", "needs at least one known and one test example"));
    }
    let device = trainer.senn.device();
    let x = data.x.to_device(device).to_kind(Kind::Float);
    let y = data.y.to_device(device).to_kind(Kind::Float);
    let z_star = data.z_star.to_device(device).to_kind(Kind::Float);
    let idx = |v: &[i64]| Tensor::from_slice(v).to_device(device);
    let test = idx(&data.test);
    let (x_test, y_test, z_test) = (x.index_select(0, &test), y.index_select(0, &test), z_star.index_select(0, &test));
    // Candidates for selection: the pool, positions tracked on host and device.
    let cand: Vec<i64> = data.pool.clone();
    let x_cand = x.index_select(0, &idx(&cand));
    let in_pool = Tensor::ones([cand.len() as i64], (Kind::Bool, device));
    let mut pool_pos: Vec<usize> = (0..cand.len()).collect();

    // k = |G_R| per rule, read once.
    let ks: Vec<i64> = data
        .layout
        .as_ref()
        .map(|l| l.rules.iter().map(|g| g.to_kind(Kind::Int64).sum(Kind::Int64).int64_value(&[])).collect())
        .unwrap_or_default();
    user.clear();
    let k0 = idx(&data.known);
    let z0 = z_star.index_select(0, &k0);
    trainer.fit(&x.index_select(0, &k0), &z0, &y.index_select(0, &k0), params.steps_per_fit, Start::Cold)?;
    let mut known: Vec<i64> = data.known.clone();
    known.sort_unstable();
    known.dedup();

    let mut records = Vec::with_capacity(params.iterations);
    for t in 0..params.iterations {
        if pool_pos.is_empty() {
            break;
        }
        let started = Instant::now();
        let pos = match params.strategy {
            Strategy::Random => pool_pos[trainer.rng().gen_range(0..pool_pos.len())] as i64,
            s => select_by_confidence(s, &trainer.senn.proba(&x_cand), &in_pool)?,
        };
        let at = pool_pos
            .binary_search(&(pos as usize))
            .map_err(|_| CalimochoError::invalid("selection", "picked outside the pool"))?;
        pool_pos.remove(at);
        let _ = in_pool.get(pos).fill_(0);
        let i = cand[pos as usize];
        if let Err(at) = known.binary_search(&i) {
            known.insert(at, i);
        }
        let xi = x.get(i).unsqueeze(0);
        if user.n_corrected() > 0 {
            let w_hat = trainer.senn.explain(&xi); // before retraining (pitfall 12.14)
            let _ = user.query(i, &w_hat)?;
        }
        let kt = idx(&known);
        let targets = user.targets(&kt);
        trainer.fit(&x.index_select(0, &kt), &targets, &y.index_select(0, &kt), params.steps_per_fit, Start::Warm)?;
        let runtime_s = started.elapsed().as_secs_f64();

        let evaluate = t % params.eval_every == 0 || t + 1 == params.iterations || pool_pos.is_empty();
        let (q, test_m) = tch::no_grad(|| {
            let (wi, fi) = trainer.senn.forward(&xi);
            let yi = y.get(i).unsqueeze(0);
            let mut scalars = vec![
                label_loss(&fi.expand([y_test.size()[0]], false), &y_test),
                label_loss_rows(&fi, &yi).squeeze(),
                explanation_loss_rows(&wi, &z_star.get(i).unsqueeze(0)).squeeze(),
            ];
            if evaluate {
                let (w, f) = trainer.senn.forward(&x_test);
                scalars.push(label_loss(&f, &y_test));
                scalars.push(explanation_loss(&w, &z_test));
                scalars.push(accuracy(&f, &y_test));
                scalars.push(precision_recall_f1(&f, &y_test).get(2));
                if let Some(layout) = &data.layout {
                    let rel = pixel_relevance(&w, &x_test, layout.pixels, layout.slots);
                    let order = rel.sort_stable(true, 1, true).1;
                    for (g, &k) in layout.rules.iter().zip(&ks) {
                        scalars.push(explanation_prf_sorted(&rel, &order, g, k));
                        scalars.push(rule_mass(&rel, g));
                    }
                    let xk = x.index_select(0, &kt);
                    let rel_k = pixel_relevance(&trainer.senn.relevance(&xk), &xk, layout.pixels, layout.slots);
                    scalars.push(explanation_prf_k(&rel_k, &layout.rules[0], ks[0]).get(2));
                }
            }
            let flat: Vec<Tensor> = scalars.iter().map(|s| s.reshape([-1])).collect();
            let v = Vec::<f64>::try_from(Tensor::cat(&flat, 0).to_kind(Kind::Double)).map_err(CalimochoError::from)?;
            let test_m = evaluate.then(|| {
                let mut m = TestMeasures { yloss: v[3], zloss: v[4], acc: v[5], f1: v[6], expl: None };
                if let Some(layout) = &data.layout {
                    let mut e = ExplMeasures::default();
                    for r in 0..layout.rules.len() {
                        let o = 7 + 4 * r;
                        e.precision.push(v[o]);
                        e.recall.push(v[o + 1]);
                        e.f1.push(v[o + 2]);
                        e.mass.push(v[o + 3]);
                    }
                    e.f1_known = v[7 + 4 * layout.rules.len()];
                    m.expl = Some(e);
                }
                m
            });
            Ok::<_, CalimochoError>(((v[0], v[1], v[2]), test_m))
        })?;
        if let Some(m) = &test_m {
            if !(m.yloss.is_finite() && m.zloss.is_finite()) {
                return Err(xai_core::Error::NonFinite(format!("test losses at iteration {t}")).into());
            }
        }
        let rec = IterRecord {
            iter: t,
            query: i,
            yloss_query_ref: q.0,
            yloss_query: q.1,
            zloss_query: q.2,
            test: test_m,
            n_known: known.len(),
            runtime_s,
        };
        on_iter(&rec);
        records.push(rec);
    }
    Ok(records)
}
