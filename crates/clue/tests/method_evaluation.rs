//! Spec §16.9 and §16.15: the knee score and the importance-sampled log p(x); the
//! one-step Sensitivity baseline (§16.13).

use clue::baselines::{local_sensitivity, sensitivity_step};
use clue::bnn::{BnnSamples, Head, Mlp, MlpSpec};
use clue::evaluation::{importance_log_px, knee_scores};
use tch::{Device, Kind, Tensor};

#[test]
fn knee_score_edges() {
    let r = 1.0 / std::f64::consts::SQRT_2;
    // A curve through (0, b_max) scores 0; a method with no benefit scores 1/√2.
    let s = knee_scores(&[vec![(0.0, 2.0), (3.0, 2.0)], vec![(0.0, 0.0), (1.0, 0.0)]]).unwrap();
    assert!(s[0].abs() < 1e-12 && (s[1] - r).abs() < 1e-12, "{s:?}");
    // No benefit anywhere: everyone 1/√2.
    assert_eq!(knee_scores(&[vec![(1.0, -1.0)], vec![(2.0, 0.0)]]).unwrap(), vec![r, r]);
    // A middle point: c̃ = 1/(2√2), b̃ = 1/(2√2) → 0.5.
    let s = knee_scores(&[vec![(1.0, 1.0)], vec![(2.0, 2.0)]]).unwrap();
    assert!((s[0] - 0.5).abs() < 1e-12);
    assert!(knee_scores(&[vec![]]).is_err());
}

#[test]
fn importance_sampling_matches_linear_gaussian_marginal() {
    // z ~ N(0, 1), x | z ~ N(a z, s²) ⇒ x ~ N(0, a² + s²).
    tch::manual_seed(0);
    let (a, s) = (2.0f64, 0.5f64);
    let x = Tensor::from_slice(&[-1.5f32, 0.0, 0.7, 2.5]);
    let post_var = 1.0 / (1.0 + a * a / (s * s));
    let mu = (&x * (post_var * a / (s * s))).unsqueeze(1);
    // A deliberately too-wide proposal (×1.5) so that the weights are not constant.
    let sigma = Tensor::full([4, 1], 1.5 * post_var.sqrt(), (Kind::Float, Device::Cpu));
    let xs = x.shallow_clone();
    let ll = move |z: &Tensor| {
        let m = z.squeeze_dim(-1) * a;
        -(xs.unsqueeze(0) - m).square() / (2.0 * s * s) - s.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
    };
    let est = importance_log_px(ll, &mu, &sigma, 1000);
    let var = a * a + s * s;
    let exact = -x.square() / (2.0 * var) - 0.5 * (2.0 * std::f64::consts::PI * var).ln();
    let d = (est - exact).abs().max().double_value(&[]);
    assert!(d < 0.05, "IS error {d} nats");
}

#[test]
fn sensitivity_zero_step_is_identity_and_steps_lower_uncertainty() {
    tch::manual_seed(1);
    let spec = MlpSpec { input_dim: 5, width: 16, depth: 2, head: Head::Classification { classes: 3 } };
    let snaps: Vec<Vec<Tensor>> = (0..6).map(|_| Mlp::new(spec, Device::Cpu).unwrap().snapshot()).collect();
    let bnn = BnnSamples::from_snapshots(spec, &snaps).unwrap();
    let x0 = Tensor::randn([30, 5], (Kind::Float, Device::Cpu));
    let w = (1.0, 0.0, 0.0);
    assert_eq!((sensitivity_step(&bnn, &x0, 0.0, w).unwrap() - &x0).abs().max().double_value(&[]), 0.0);
    let x1 = sensitivity_step(&bnn, &x0, 0.05, w).unwrap();
    let h0 = bnn.decompose(&x0).unwrap().total.mean(Kind::Float).double_value(&[]);
    let h1 = bnn.decompose(&x1).unwrap().total.mean(Kind::Float).double_value(&[]);
    assert!(h1 < h0, "{h0} → {h1}");
    let attr = local_sensitivity(&bnn, &x0, w).unwrap();
    assert_eq!(attr.size(), vec![30, 5]);
    assert!(attr.min().double_value(&[]) >= 0.0);
}
