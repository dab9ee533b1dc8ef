//! Spec §16.1–2: the uncertainty identities, on random and hand-made predictives.

use clue::uncertainty::{entropy_decomposition, gaussian_decomposition};
use tch::{Kind, Tensor};

fn max_abs(t: &Tensor) -> f64 {
    t.abs().max().double_value(&[])
}

#[test]
fn entropy_identities() {
    tch::manual_seed(0);
    let probs = Tensor::randn([12, 50, 5], (Kind::Float, tch::Device::Cpu)).g_mul_scalar(3.0).softmax(2, Kind::Float);
    let d = entropy_decomposition(&probs);
    assert!(max_abs(&(&d.total - &d.aleatoric - &d.epistemic)) < 1e-6);
    assert!(d.epistemic.min().double_value(&[]) >= -1e-6, "E ≥ 0 (Jensen)");
    // Identical samples: E ≈ 0.
    let same = probs.get(0).unsqueeze(0).repeat([7, 1, 1]);
    assert!(max_abs(&entropy_decomposition(&same).epistemic) < 1e-6);
    // Two samples with disjoint one-hot predictions: A ≈ 0, E ≈ log 2.
    let disjoint = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0]).reshape([2, 1, 2]);
    let d = entropy_decomposition(&disjoint);
    assert!(d.aleatoric.double_value(&[0]).abs() < 1e-6);
    assert!((d.epistemic.double_value(&[0]) - 2f64.ln()).abs() < 1e-6);
}

#[test]
fn gaussian_identities() {
    tch::manual_seed(1);
    let opts = (Kind::Float, tch::Device::Cpu);
    let mu = Tensor::randn([9, 40, 2], opts);
    let sigma = Tensor::rand([9, 40, 2], opts) + 0.1;
    let d = gaussian_decomposition(&mu, &sigma);
    let lhs = d.total.square();
    let rhs = d.aleatoric.square() + d.epistemic.square();
    assert!(max_abs(&(lhs - rhs)) < 1e-5, "σ_total² = σ_A² + σ_E²");
    // Equal μ over samples ⇒ σ_E = 0 (and single sample ⇒ σ_E = 0).
    let mu_same = mu.get(0).unsqueeze(0).repeat([9, 1, 1]);
    assert!(max_abs(&gaussian_decomposition(&mu_same, &sigma).epistemic) < 1e-3);
    let one = gaussian_decomposition(&mu.narrow(0, 0, 1), &sigma.narrow(0, 0, 1));
    assert!(max_abs(&one.epistemic) < 1e-6);
    assert!(max_abs(&(&one.total - &one.aleatoric)) < 1e-6);
}
