//! Summaries over folds × seeds: mean and standard error per arm, iteration or step,
//! and measure (`summary.csv`), and lookups the report and figures share.

use super::active::CurveRow;
use super::passive::{LimeRow, PassiveRow};
use serde::Serialize;
use std::collections::BTreeMap;

/// Mean and standard error (std/√n, population std as numpy's default) of `v`.
pub fn mean_se(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = v.iter().sum::<f64>() / n;
    let var = v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / n;
    (m, var.sqrt() / n.sqrt())
}

/// One (arm, iteration, measure) of `summary.csv`.
#[derive(Debug, Clone, Serialize)]
pub struct SummaryRow {
    pub group: String,
    pub arm: String,
    pub strategy: String,
    pub widths: String,
    pub lambda1: f64,
    pub lambda2: f64,
    pub c: usize,
    /// Iteration (active) or step (passive).
    pub x: usize,
    pub split: String,
    pub measure: String,
    pub mean: f64,
    pub stderr: f64,
    pub n: usize,
}

type Getter<R> = (&'static str, fn(&R) -> Option<f64>);
/// (group, arm, strategy, widths, split, x, c, measure) of a summary row.
type GroupKey<'a> = (String, String, String, String, String, usize, String, &'a str);
/// An arm of a group: (name, λ₁, λ₂, c).
pub type ArmInfo = (String, f64, f64, usize);
/// What a row says about its arm: (group, arm, strategy, widths, λ₁, λ₂, c, x, split).
type RowKey = (String, String, String, String, f64, f64, usize, usize, String);

const ACTIVE_MEASURES: [Getter<CurveRow>; 12] = [
    ("zloss_test", |r| r.zloss_test),
    ("yloss_test", |r| r.yloss_test),
    ("f1_test", |r| r.f1_test),
    ("acc_test", |r| r.acc_test),
    ("expl_prec_test", |r| r.expl_prec_test),
    ("expl_f1_test", |r| r.expl_f1_test),
    ("expl_prec_other_test", |r| r.expl_prec_other_test),
    ("mass_rule0_test", |r| r.mass_rule0_test),
    ("mass_rule1_test", |r| r.mass_rule1_test),
    ("zloss_query", |r| Some(r.zloss_query)),
    ("yloss_query_ref", |r| Some(r.yloss_query_ref)),
    ("runtime_s", |r| Some(r.runtime_s)),
];

fn summarise<R>(rows: &[R], measures: &[Getter<R>], key: impl Fn(&R) -> RowKey) -> Vec<SummaryRow> {
    let mut groups: BTreeMap<GroupKey, (f64, f64, usize, Vec<f64>)> = BTreeMap::new();
    for r in rows {
        let (group, arm, strategy, widths, l1, l2, c, x, split) = key(r);
        for (name, get) in measures {
            if let Some(v) = get(r) {
                groups
                    .entry((
                        group.clone(),
                        arm.clone(),
                        strategy.clone(),
                        widths.clone(),
                        split.clone(),
                        x,
                        format!("{c}"),
                        name,
                    ))
                    .or_insert((l1, l2, c, vec![]))
                    .3
                    .push(v);
            }
        }
    }
    groups
        .into_iter()
        .map(|((group, arm, strategy, widths, split, x, _, measure), (l1, l2, c, v))| {
            let (mean, stderr) = mean_se(&v);
            SummaryRow {
                group,
                arm,
                strategy,
                widths,
                lambda1: l1,
                lambda2: l2,
                c,
                x,
                split,
                measure: measure.into(),
                mean,
                stderr,
                n: v.len(),
            }
        })
        .collect()
}

/// Mean ± stderr over folds × seeds of every active measure, per arm and iteration.
pub fn summarise_active(rows: &[CurveRow]) -> Vec<SummaryRow> {
    summarise(rows, &ACTIVE_MEASURES, |r| {
        (
            format!("{} W={}", r.strategy, r.widths),
            format!("L={},{} c={}", r.lambda1, r.lambda2, r.c),
            r.strategy.clone(),
            r.widths.clone(),
            r.lambda1,
            r.lambda2,
            r.c,
            r.iter,
            "test".into(),
        )
    })
}

/// Mean ± stderr of the passive measures per arm, step and split.
pub fn summarise_passive(rows: &[PassiveRow]) -> Vec<SummaryRow> {
    let m: [Getter<PassiveRow>; 5] = [
        ("f1", |r| Some(r.f1)),
        ("precision", |r| Some(r.precision)),
        ("recall", |r| Some(r.recall)),
        ("yloss", |r| Some(r.yloss)),
        ("zloss", |r| Some(r.zloss)),
    ];
    summarise(rows, &m, |r| {
        let arm = format!("L={},{}", r.lambda1, r.lambda2);
        (
            format!("W={}", r.widths),
            arm,
            String::new(),
            r.widths.clone(),
            r.lambda1,
            r.lambda2,
            0,
            r.step,
            r.split.clone(),
        )
    })
}

/// Mean ± stderr of Sim, Dis, t_SENN, t_LIME per (W, r, s, step).
pub fn summarise_lime(rows: &[LimeRow]) -> Vec<SummaryRow> {
    let m: [Getter<LimeRow>; 6] = [
        ("sim", |r| Some(r.sim)),
        ("dis", |r| Some(r.dis)),
        ("dis_fraction", |r| Some(r.dis / r.dis_max)),
        ("k", |r| Some(r.k)),
        ("t_senn", |r| Some(r.t_senn)),
        ("t_lime", |r| Some(r.t_lime)),
    ];
    summarise(rows, &m, |r| {
        (
            format!("W={}", r.widths),
            format!("r={} s={}", r.repeats, r.samples),
            String::new(),
            r.widths.clone(),
            r.lambda1,
            r.lambda2,
            0,
            r.step,
            "test".into(),
        )
    })
}

/// The summary value of (group, arm, measure) at the largest x, or at `x`.
pub fn value(
    summary: &[SummaryRow],
    group: &str,
    arm: &str,
    measure: &str,
    x: Option<usize>,
    split: &str,
) -> Option<(f64, f64, usize)> {
    let mut hits =
        summary.iter().filter(|s| s.group == group && s.arm == arm && s.measure == measure && s.split == split);
    let pick = match x {
        Some(x) => hits.rfind(|s| s.x == x),
        None => hits.max_by_key(|s| s.x),
    };
    pick.map(|s| (s.mean, s.stderr, s.x))
}

pub fn groups_arms(summary: &[SummaryRow]) -> Vec<(String, Vec<ArmInfo>)> {
    let mut g: BTreeMap<String, Vec<ArmInfo>> = BTreeMap::new();
    for s in summary {
        let e = g.entry(s.group.clone()).or_default();
        if !e.iter().any(|a| a.0 == s.arm) {
            e.push((s.arm.clone(), s.lambda1, s.lambda2, s.c));
        }
    }
    g.into_iter().collect()
}
