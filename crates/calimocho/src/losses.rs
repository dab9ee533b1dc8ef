//! The three losses of the SENN (spec §2), on-device scalars (no host sync).
//!
//! `L = λ₀·L_y + λ₁·L_z + λ₂·R`, λ₀ = 1 − λ₁ − λ₂ ([`crate::params::Lambdas::label`]).

use crate::params::Lambdas;
use crate::senn::Senn;
use tch::{Kind, Tensor};

/// TensorFlow `log_loss`'s ε, added inside both logs.
pub const LOG_EPS: f64 = 1e-7;

/// L_y = mean −[y log(f+ε) + (1−y) log(1−f+ε)]; `f`, `y` are `[B]` floats.
pub fn label_loss(f: &Tensor, y: &Tensor) -> Tensor {
    label_loss_rows(f, y).mean(Kind::Float)
}

/// Per-row label loss `[B]`.
pub fn label_loss_rows(f: &Tensor, y: &Tensor) -> Tensor {
    let pos: Tensor = y * (f + LOG_EPS).log();
    let neg: Tensor = (1.0 - y) * (f.neg() + (1.0 + LOG_EPS)).log();
    (pos + neg).neg()
}

/// L_z = mean_B Σⱼ (ẑⱼ − wⱼ)².
pub fn explanation_loss(w: &Tensor, z: &Tensor) -> Tensor {
    explanation_loss_rows(w, z).mean(Kind::Float)
}

/// Per-row ‖ẑ − w‖² `[B]`.
pub fn explanation_loss_rows(w: &Tensor, z: &Tensor) -> Tensor {
    (z - w).square().sum_dim_intlist(1, false, Kind::Float)
}

/// Relevances, outputs and the robustness term R = Σ_B ‖∇ₓf(x) − w(x)‖² (summed, not
/// averaged; gradient of the sigmoid output w.r.t. every input incl. the bias column).
/// Double backprop: the result carries gradients to the parameters.
pub fn forward_with_robustness(senn: &Senn, x: &Tensor) -> (Tensor, Tensor, Tensor) {
    let xg = x.detach().set_requires_grad(true);
    let (w, f) = senn.forward(&xg);
    let g = Tensor::run_backward(&[f.sum(Kind::Float)], &[&xg], true, true).remove(0);
    let r = (g - &w).square().sum(Kind::Float);
    (w, f, r)
}

/// The loss terms of one minibatch.
pub struct Terms {
    pub total: Tensor,
    pub label: Tensor,
    pub explanation: Tensor,
    pub robustness: Option<Tensor>,
}

/// The weighted total on a minibatch. Terms with weight 0 are still returned (for logs)
/// but only enter the total when weighted; R is skipped entirely when λ₂ = 0.
pub fn total_loss(senn: &Senn, x: &Tensor, z: &Tensor, y: &Tensor, lambdas: Lambdas) -> Terms {
    let (w, f, r) = if lambdas.robustness > 0.0 {
        let (w, f, r) = forward_with_robustness(senn, x);
        (w, f, Some(r))
    } else {
        let (w, f) = senn.forward(x);
        (w, f, None)
    };
    let label = label_loss(&f, y);
    let explanation = explanation_loss(&w, z);
    let l0 = lambdas.label();
    let mut total = if l0 > 0.0 { &label * l0 } else { label.zeros_like() };
    if lambdas.explanation > 0.0 {
        total += &explanation * lambdas.explanation;
    }
    if let Some(r) = &r {
        total += r * lambdas.robustness;
    }
    Terms { total, label, explanation, robustness: r }
}

/// ∂L/∂w of `L = λ₀·L_y + λ₁·L_z` on a minibatch (λ₂ = 0), given relevances `w`, outputs
/// `f`, inputs `x`, targets `z` and labels `y`: the hand-written gradient the fast fit
/// path feeds to [`Senn::accumulate_gradients`] (TF `log_loss` ε included).
pub fn relevance_gradient(w: &Tensor, f: &Tensor, x: &Tensor, z: &Tensor, y: &Tensor, lambdas: Lambdas) -> Tensor {
    let b = w.size()[0] as f64;
    let l0 = lambdas.label();
    let mut dw = if l0 > 0.0 {
        // d/df of −[y log(f+ε) + (1−y) log(1−f+ε)], times σ' = f(1−f), times λ₀/B.
        let one_minus_f = f.neg() + 1.0;
        let df = (1.0 - y) / (&one_minus_f + LOG_EPS) - y / (f + LOG_EPS);
        let ds: Tensor = df * f * one_minus_f * (l0 / b);
        ds.unsqueeze(1) * x
    } else {
        w.zeros_like()
    };
    if lambdas.explanation > 0.0 {
        dw += (w - z) * (2.0 * lambdas.explanation / b);
    }
    dw
}
