//! Measures (spec §4, §5, §13.7): predictive accuracy/F1, explanation precision/recall/F1
//! at k against a set of ground-truth pixels, the rule mass, LIME's Sim and Dis.
//!
//! Batched measures return on-device scalars so that a caller can stack them and read them
//! back with one host sync.

use tch::{Kind, Tensor};

/// Accuracy of `f > 0.5` against labels `y` (`[B]`, 0/1).
pub fn accuracy(f: &Tensor, y: &Tensor) -> Tensor {
    f.gt(0.5).to_kind(Kind::Float).eq_tensor(&y.to_kind(Kind::Float)).to_kind(Kind::Float).mean(Kind::Float)
}

/// Binary precision, recall and F1 of class 1 as a `[3]` tensor (0 where undefined, as
/// sklearn with `zero_division=0`).
pub fn precision_recall_f1(f: &Tensor, y: &Tensor) -> Tensor {
    let pred = f.gt(0.5).to_kind(Kind::Float);
    let y = y.to_kind(Kind::Float);
    let tp = (&pred * &y).sum(Kind::Float);
    let npred = pred.sum(Kind::Float);
    let npos = y.sum(Kind::Float);
    let p = &tp / npred.clamp_min(1.0);
    let r = &tp / npos.clamp_min(1.0);
    let f1 = (&tp * 2.0) / (npred + npos).clamp_min(1.0);
    Tensor::stack(&[p, r, f1], 0)
}

/// Relevance of each "pixel" of one-hot encoded data: |Σ_slot w·x| over blocks of `slots`
/// columns (only the active slot of a one-hot block is non-zero in x). `[B, P]`.
pub fn pixel_relevance(w: &Tensor, x: &Tensor, pixels: i64, slots: i64) -> Tensor {
    let b = w.size()[0];
    let cols = pixels * slots;
    (w.narrow(1, 0, cols) * x.narrow(1, 0, cols)).view([b, pixels, slots]).sum_dim_intlist(2, false, Kind::Float).abs()
}

/// The ≤ k most relevant pixels per row (ties → lower index; relevance-0 pixels never
/// selected) as a `[B, P]` float mask.
pub fn top_k_pixels(relevance: &Tensor, k: i64) -> Tensor {
    let (_, idx) = relevance.sort_stable(true, 1, true);
    let top = idx.narrow(1, 0, k.min(relevance.size()[1]));
    let sel = relevance.zeros_like().scatter_value(1, &top, 1.0);
    sel * relevance.gt(0.0).to_kind(Kind::Float)
}

/// Mean over rows of explanation precision, recall and F1 at k = |G| against the pixel mask
/// `truth` (`[P]` bool/float): `[3]`.
pub fn explanation_prf(relevance: &Tensor, truth: &Tensor) -> Tensor {
    let g = truth.to_kind(Kind::Float).to_device(relevance.device()).unsqueeze(0);
    let k = g.sum(Kind::Float).double_value(&[]).round() as i64;
    explanation_prf_k(relevance, &g, k)
}

/// As [`explanation_prf`] with k given (no host sync).
pub fn explanation_prf_k(relevance: &Tensor, truth: &Tensor, k: i64) -> Tensor {
    let order = relevance.sort_stable(true, 1, true).1;
    explanation_prf_sorted(relevance, &order, truth, k)
}

/// As [`explanation_prf_k`] with the rows' stable descending `order` computed once.
pub fn explanation_prf_sorted(relevance: &Tensor, order: &Tensor, truth: &Tensor, k: i64) -> Tensor {
    let g = truth.to_kind(Kind::Float).to_device(relevance.device()).reshape([1, -1]);
    let top = order.narrow(1, 0, k.min(relevance.size()[1]));
    let sel = relevance.zeros_like().scatter_value(1, &top, 1.0) * relevance.gt(0.0).to_kind(Kind::Float);
    let hits = (&sel * &g).sum_dim_intlist(1, false, Kind::Float);
    let n_sel = sel.sum_dim_intlist(1, false, Kind::Float);
    let p = &hits / n_sel.clamp_min(1.0);
    let r = &hits / g.sum(Kind::Float).clamp_min(1.0);
    let f1 = (&p * &r * 2.0) / (&p + &r).clamp_min(1e-12);
    Tensor::stack(&[p.mean(Kind::Float), r.mean(Kind::Float), f1.mean(Kind::Float)], 0)
}

/// Rule mass m_R = mean over rows of Σ_{p∈G}|r_p| / Σ_p|r_p| (0 for an all-zero row).
pub fn rule_mass(relevance: &Tensor, truth: &Tensor) -> Tensor {
    let g = truth.to_kind(Kind::Float).to_device(relevance.device()).reshape([1, -1]);
    let inside = (relevance * &g).sum_dim_intlist(1, false, Kind::Float);
    let all = relevance.sum_dim_intlist(1, false, Kind::Float);
    (inside / all.clamp_min(1e-12)).mean(Kind::Float)
}

/// Indices of the k largest *signed* values (stable: ties keep the lower index first).
fn top_k_signed(v: &[f64], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[b].partial_cmp(&v[a]).unwrap_or(std::cmp::Ordering::Equal));
    idx.truncate(k);
    idx
}

/// Sim = |top_k(z_lime) ∩ top_k(w)| with k = non-zeros of `z_lime` (a count).
pub fn sim(z_lime: &[f64], w: &[f64]) -> usize {
    let k = z_lime.iter().filter(|v| **v != 0.0).count();
    let a = top_k_signed(z_lime, k);
    let b = top_k_signed(w, k);
    a.iter().filter(|i| b.contains(i)).count()
}

/// Dis = (1/(r(r−1))) Σ_{a≠b} ‖e_a − e_b‖₂ over the rows of `e` `[r, C]`; 0 for r = 1.
pub fn dis(e: &Tensor) -> f64 {
    let r = e.size()[0];
    if r < 2 {
        return 0.0;
    }
    let e = e.to_kind(Kind::Double);
    let d = Tensor::cdist(&e.unsqueeze(0), &e.unsqueeze(0), 2.0, Some(2)).squeeze_dim(0);
    d.sum(Kind::Double).double_value(&[]) / (r * (r - 1)) as f64
}
