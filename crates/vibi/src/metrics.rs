//! Fidelity metrics: how well the explanation alone lets the approximator (top-k,
//! multi-shot, random-mask baseline) or the black box itself (rationale fidelity) recover
//! the black box's decision; the Jensen–Shannon strength; the synthetic hit rate.

use crate::blackbox::BlackBox;
use crate::chunks::ChunkGrid;
use crate::model::Vibi;
use crate::sampling::{random_mask, relaxed_khot, topk_mask};
use tch::{Device, Kind, Tensor};

/// Jensen–Shannon divergence in bits between rows of probabilities `[B, C]` → `[B]`, in
/// [0, 1]; 0·log 0 counts as 0, so one-hot rows give no NaN.
pub fn js_bits(p: &Tensor, q: &Tensor) -> Tensor {
    let m = (p + q) * 0.5;
    let kl = |a: &Tensor| (a.xlogy(a) - a.xlogy(&m)).sum_dim_intlist(-1, false, Kind::Float);
    ((kl(p) + kl(q)) * (0.5 / std::f64::consts::LN_2)).clamp(0.0, 1.0)
}

/// Figure strength s = sqrt(1 − JS) ∈ [0, 1] (willisk's code; its README says 1 − JS).
pub fn strength(p: &Tensor, q: &Tensor) -> Tensor {
    (js_bits(p, q).neg() + 1.0).clamp(0.0, 1.0).sqrt()
}

/// Evaluation settings.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Relaxed samples averaged (as log-probabilities) for multi-shot fidelity; 0 skips it.
    pub multishot_samples: i64,
    /// τ of the multi-shot samples.
    pub multishot_tau: f64,
    pub random_baseline: bool,
    pub rationale: bool,
    pub batch_size: i64,
}

/// Metrics over one split. Fractions in [0, 1]; `None` where not computed.
#[derive(Debug, Clone, Default)]
pub struct EvalReport {
    pub n: i64,
    pub fid_topk: f64,
    pub fid_multishot: Option<f64>,
    pub fid_random: Option<f64>,
    pub rationale_fid: Option<f64>,
    /// Mean of 1 − JS(p_bb, q_approx(top-k)).
    pub mean_1mjs: f64,
    /// Fraction of inputs whose top-k contains their true chunk (synthetic data).
    pub hit_rate: Option<f64>,
}

/// Fidelity of a mask-producing explainer (`masks(x) → [B, F]` 0/1) through VIBI's
/// approximator: the top-k fidelity of any explainer (saliency, L2X, VIBI) on equal terms.
pub fn masked_fidelity(
    vibi: &Vibi,
    x: &Tensor,
    bb_probs: &Tensor,
    batch: i64,
    masks: impl Fn(&Tensor) -> crate::Result<Tensor>,
) -> crate::Result<f64> {
    let mut hits = Tensor::zeros([], (Kind::Float, x.device()));
    for (xb, pb) in x.split(batch, 0).iter().zip(bb_probs.split(batch, 0).iter()) {
        let z = masks(xb)?;
        let pred = vibi.predict_masked(xb, &z).argmax(-1, false);
        hits += pred.eq_tensor(&pb.argmax(-1, false)).to_kind(Kind::Float).sum(Kind::Float);
    }
    Ok(hits.double_value(&[]) / x.size()[0] as f64)
}

/// All metrics on `(x, bb_probs)`; `true_chunks [N]` (int64) adds the hit rate.
pub fn evaluate(
    vibi: &Vibi,
    bb: &dyn BlackBox,
    x: &Tensor,
    bb_probs: &Tensor,
    true_chunks: Option<&Tensor>,
    opts: &EvalOptions,
) -> EvalReport {
    let grid: ChunkGrid = vibi.grid;
    let k = vibi.settings.k;
    let dev = x.device();
    let zero = || Tensor::zeros([], (Kind::Float, dev));
    let (mut topk, mut multi, mut random, mut rationale, mut one_m_js, mut hit) =
        (zero(), zero(), zero(), zero(), zero(), zero());
    let n = x.size()[0];
    let count = |pred: &Tensor, target: &Tensor| pred.eq_tensor(target).to_kind(Kind::Float).sum(Kind::Float);
    tch::no_grad(|| {
        for (i, (xb, pb)) in
            x.split(opts.batch_size, 0).iter().zip(bb_probs.split(opts.batch_size, 0).iter()).enumerate()
        {
            let b = xb.size()[0];
            let target = pb.argmax(-1, false);
            let logits_z = vibi.chunk_logits(xb);
            let z = topk_mask(&logits_z, k);
            let t = grid.mask(xb, &z);
            let q = vibi.approximate_t(&t, false);
            topk += count(&q.argmax(-1, false), &target);
            one_m_js += (js_bits(pb, &q.softmax(-1, Kind::Float)).neg() + 1.0).sum(Kind::Float);
            if opts.multishot_samples > 0 {
                let zs = relaxed_khot(&logits_z, k, opts.multishot_tau, opts.multishot_samples);
                let qs =
                    vibi.approximate_t(&grid.mask_samples(xb, &zs), false).reshape([b, opts.multishot_samples, -1]);
                let avg = qs.log_softmax(-1, Kind::Float).mean_dim(1, false, Kind::Float);
                multi += count(&avg.argmax(-1, false), &target);
            }
            if opts.random_baseline {
                let zr = random_mask(b, grid.num_chunks(), k, dev);
                random += count(&vibi.predict_masked(xb, &zr).argmax(-1, false), &target);
            }
            if opts.rationale {
                rationale += count(&bb.probabilities(&t).argmax(-1, false), &target);
            }
            if let Some(cells) = true_chunks {
                let c = cells.narrow(0, i as i64 * opts.batch_size, b).unsqueeze(1);
                hit += z.gather(1, &c, false).sum(Kind::Float);
            }
        }
    });
    let frac = |t: &Tensor| t.to_device(Device::Cpu).double_value(&[]) / n as f64;
    EvalReport {
        n,
        fid_topk: frac(&topk),
        fid_multishot: (opts.multishot_samples > 0).then(|| frac(&multi)),
        fid_random: opts.random_baseline.then(|| frac(&random)),
        rationale_fid: opts.rationale.then(|| frac(&rationale)),
        mean_1mjs: frac(&one_m_js),
        hit_rate: true_chunks.map(|_| frac(&hit)),
    }
}

/// The paper's ±: 1.96·sqrt(p(1 − p)/n), the binomial 95 % interval half-width.
pub fn ci95(p: f64, n: i64) -> f64 {
    1.96 * (p * (1.0 - p) / n.max(1) as f64).sqrt()
}
