//! Label-free example importance (paper §3.2): loss-based (influence functions by LiSSA,
//! TracIn) restricted to the encoder parameters θ_r, and representation-based (SimplEx,
//! deep k-NN). Tensors in, tensors out: scores are `[T, N]` (test row, training column).

use crate::params::{LissaParams, SimplexParams};
use crate::{LfxaiError, Result};
use tch::{Kind, Tensor};

/// A mean loss over a batch `[B, …] → []` of the full unsupervised model.
pub type BatchLoss<'a> = &'a dyn Fn(&Tensor) -> Tensor;

fn flat(grads: &[Tensor]) -> Tensor {
    Tensor::cat(&grads.iter().map(|g| g.flatten(0, -1)).collect::<Vec<_>>(), 0)
}

/// `∇_θ loss` flattened (in `params` order).
pub fn flat_gradient(loss: &Tensor, params: &[Tensor], create_graph: bool) -> Result<Tensor> {
    if params.is_empty() {
        return Err(LfxaiError::invalid("parameters", "no parameters to differentiate"));
    }
    let grads = Tensor::f_run_backward(&[loss], params, create_graph, create_graph)?;
    Ok(flat(&grads))
}

/// Per-example gradients `[N, P]` of `loss` w.r.t. `params`, one backward pass per row.
pub fn per_example_gradients(loss: BatchLoss<'_>, params: &[Tensor], x: &Tensor) -> Result<Tensor> {
    let n = x.size()[0];
    if n == 0 {
        return Err(LfxaiError::invalid("examples", "empty batch"));
    }
    let rows = (0..n).map(|i| flat_gradient(&loss(&x.narrow(0, i, 1)), params, false)).collect::<Result<Vec<_>>>()?;
    Ok(Tensor::stack(&rows, 0))
}

/// Hessian-vector products `H_S v_k` of the batch loss for every row of `vs` `[K, P]`, by
/// double back-propagation: one first-order graph, K second backward passes.
pub fn hessian_vector_products(loss: BatchLoss<'_>, params: &[Tensor], batch: &Tensor, vs: &Tensor) -> Result<Tensor> {
    let g = flat_gradient(&loss(batch), params, true)?;
    let k = vs.size()[0];
    let mut out = Vec::with_capacity(k as usize);
    for i in 0..k {
        let dot = (&g * vs.get(i).detach()).sum(g.kind());
        let hv = Tensor::f_run_backward(&[dot], params, i + 1 < k, false)?;
        out.push(flat(&hv));
    }
    Ok(Tensor::stack(&out, 0))
}

/// One LiSSA update `v ← g + (1 − δ) v − H v / σ`.
fn lissa_step(g: &Tensor, v: &Tensor, hv: &Tensor, p: &LissaParams) -> Tensor {
    g + v * (1.0 - p.damp) - hv / p.scale
}

/// The reference estimator of `H⁻¹ g / N` for one gradient `g` `[P]`: `hvp(t, v)` returns
/// `H_{S_t} v` for the batch drawn at step `t`; the result is `v_T / (σ N)`.
pub fn lissa(g: &Tensor, mut hvp: impl FnMut(usize, &Tensor) -> Result<Tensor>, p: &LissaParams) -> Result<Tensor> {
    p.validate()?;
    let g = g.detach();
    let mut v = g.copy();
    for t in 0..p.depth {
        let hv = hvp(t, &v)?;
        v = lissa_step(&g, &v, &hv, p).detach();
    }
    Ok(v / (p.scale * p.n_train as f64))
}

/// Inverse-HVP estimates `[N, P]` for the training gradients `train_grads` `[N, P]`.
/// `batch(n, t)` is the HVP batch of example `n` at step `t` (the reference draws an
/// independent sequence per example).
pub fn influence_ihvps(
    loss: BatchLoss<'_>,
    params: &[Tensor],
    train_grads: &Tensor,
    mut batch: impl FnMut(usize, usize) -> Tensor,
    p: &LissaParams,
) -> Result<Tensor> {
    let n = train_grads.size()[0];
    let rows = (0..n as usize)
        .map(|i| {
            lissa(
                &train_grads.get(i as i64),
                |t, v| Ok(hessian_vector_products(loss, params, &batch(i, t), &v.unsqueeze(0))?.squeeze_dim(0)),
                p,
            )
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Tensor::stack(&rows, 0))
}

/// As [`influence_ihvps`] with one batch per step shared by every example (same
/// expectation, one first-order graph per step for all N vectors).
pub fn influence_ihvps_shared(
    loss: BatchLoss<'_>,
    params: &[Tensor],
    train_grads: &Tensor,
    mut batch: impl FnMut(usize) -> Tensor,
    p: &LissaParams,
) -> Result<Tensor> {
    p.validate()?;
    let g = train_grads.detach();
    let mut v = g.copy();
    for t in 0..p.depth {
        let hv = hessian_vector_products(loss, params, &batch(t), &v)?;
        v = lissa_step(&g, &v, &hv, p).detach();
    }
    Ok(v / (p.scale * p.n_train as f64))
}

/// Influence scores `c_n(x) = ⟨∇L(x), ihvp_n⟩`, `[T, N]`.
pub fn influence_scores(test_grads: &Tensor, ihvps: &Tensor) -> Tensor {
    test_grads.matmul(&ihvps.transpose(0, 1))
}

/// TracIn `Σ_c ⟨∇L(x; θ_c), ∇L(x_n; θ_c)⟩`, `[T, N]`, from per-checkpoint gradient pairs
/// (test `[T, P]`, train `[N, P]`).
pub fn tracin_scores(per_checkpoint: &[(Tensor, Tensor)]) -> Result<Tensor> {
    let mut it = per_checkpoint.iter();
    let (t0, n0) = it.next().ok_or_else(|| LfxaiError::invalid("tracin checkpoints", "none given"))?;
    let mut total = t0.matmul(&n0.transpose(0, 1));
    for (t, n) in it {
        total += t.matmul(&n.transpose(0, 1));
    }
    Ok(total)
}

fn check_latents(test: &Tensor, train: &Tensor) -> Result<()> {
    if train.dim() != 2 || train.size()[0] == 0 {
        return Err(LfxaiError::invalid("candidate subset", format!("latents {:?}; need [N > 0, d]", train.size())));
    }
    if test.dim() != 2 || test.size()[1] != train.size()[1] {
        return Err(LfxaiError::invalid(
            "test latents",
            format!("shape {:?} does not match the training latents {:?}", test.size(), train.size()),
        ));
    }
    Ok(())
}

/// Deep k-NN scores `1 / ‖h − h_n‖²` for every pair (computed in f64; a zero distance gives +∞).
pub fn dknn_scores(test_latents: &Tensor, train_latents: &Tensor) -> Result<Tensor> {
    check_latents(test_latents, train_latents)?;
    let (a, b) = (test_latents.to_kind(Kind::Double), train_latents.to_kind(Kind::Double));
    let d2 = (a.unsqueeze(1) - b.unsqueeze(0)).square().sum_dim_intlist(2, false, Kind::Double);
    Ok(d2.reciprocal().to_kind(test_latents.kind()))
}

/// SimplEx weights `[T, N]` fitted as the reference does: logits from zeros, `w = softmax(z)`,
/// loss `Σ_b ‖w_b H − h_b‖²`, Adam (β 0.9/0.999, ε 1e-8, PyTorch's update) for `steps` steps.
/// Rows are independent, so all test rows are fitted at once.
pub fn simplex_weights(test_latents: &Tensor, train_latents: &Tensor, p: &SimplexParams) -> Result<Tensor> {
    p.validate()?;
    check_latents(test_latents, train_latents)?;
    let (h, corpus) = (test_latents.detach(), train_latents.detach());
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8);
    let mut z = Tensor::zeros([h.size()[0], corpus.size()[0]], (h.kind(), h.device()));
    let mut m = z.zeros_like();
    let mut v = z.zeros_like();
    for step in 1..=p.steps {
        let zg = z.detach().set_requires_grad(true);
        let w = zg.softmax(-1, h.kind());
        let loss = (w.matmul(&corpus) - &h).square().sum(h.kind());
        let g = Tensor::f_run_backward(&[loss], &[&zg], false, false)?.remove(0);
        tch::no_grad(|| {
            m = m.lerp(&g, 1.0 - b1);
            v = &v * b2 + &g * &g * (1.0 - b2);
            let bc1 = 1.0 - b1.powi(step as i32);
            let bc2 = 1.0 - b2.powi(step as i32);
            let denom = v.sqrt() / bc2.sqrt() + eps;
            z = &z - (&m / denom) * (p.lr / bc1);
        });
    }
    Ok(z.softmax(-1, h.kind()).detach())
}
