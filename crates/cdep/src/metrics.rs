//! Binary-classification metrics of the ISIC experiments: ROC-AUC and the reference's
//! F1 maximised over thresholds.

/// ROC-AUC of `scores` (higher = positive) for 0/1 `labels`: the probability that a random
/// positive outranks a random negative, ties counting ½ (Mann–Whitney with mid-ranks).
/// NaN when a class is missing.
pub fn auc(scores: &[f64], labels: &[i64]) -> f64 {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut ranks = vec![0.0; scores.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let mid = (i + j) as f64 / 2.0 + 1.0;
        for k in i..=j {
            ranks[idx[k]] = mid;
        }
        i = j + 1;
    }
    let pos = labels.iter().filter(|&&l| l == 1).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return f64::NAN;
    }
    let rank_sum: f64 = ranks.iter().zip(labels).filter(|(_, &l)| l == 1).map(|(r, _)| r).sum();
    (rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg)
}

/// F1 of the positive class at threshold `t` (predict positive when `score ≥ t`).
pub fn f1_at(scores: &[f64], labels: &[i64], t: f64) -> f64 {
    let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
    for (&s, &l) in scores.iter().zip(labels) {
        match (s >= t, l == 1) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fn_ += 1.0,
            _ => {}
        }
    }
    if tp == 0.0 {
        0.0
    } else {
        2.0 * tp / (2.0 * tp + fp + fn_)
    }
}

/// The reference's F1: the maximum over thresholds 0.1, 0.2, …, 1.0, counting only
/// thresholds at which both classes are predicted. NaN when none qualifies.
pub fn f1_max(scores: &[f64], labels: &[i64]) -> f64 {
    (1..=10)
        .map(|k| k as f64 / 10.0)
        .filter(|&t| scores.iter().any(|&s| s >= t) && scores.iter().any(|&s| s < t))
        .map(|t| f1_at(scores, labels, t))
        .fold(f64::NAN, f64::max)
}
