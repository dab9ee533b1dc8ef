//! Properties of label-free feature importance (spec §8, items 1–8).

use lfxai::consistency::{masked_count, perturb, representation_shift, similarity_rate, top_masks};
use lfxai::features::{
    anchors, auxiliary_scores, gauss_legendre, gradient_shap_for, gradient_shap_with_alphas, integrated_gradients,
    label_free_attribution,
};
use lfxai::{AnchorPairing, BaselineDraw, FeatureMethod};
use tch::{Device, Kind, Tensor};

/// libtorch's generator is global and the tests of one binary run in parallel: each test
/// holds this lock so its seeded draws are its own and every run sees the same values.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

const D: (Kind, Device) = (Kind::Double, Device::Cpu);

fn max_abs(t: &Tensor) -> f64 {
    t.abs().max().double_value(&[])
}

fn tanh_encoder(seed: i64) -> (Tensor, Tensor, Tensor) {
    tch::manual_seed(seed);
    (Tensor::randn([5, 7], D) * 0.5, Tensor::randn([3, 5], D) * 0.5, Tensor::randn([3], D) * 0.1)
}

#[test]
fn auxiliary_function_value_and_gradient() {
    let _rng = rng_lock();
    let (w1, w2, b) = tanh_encoder(0);
    let f = |x: &Tensor| x.matmul(&w1.tr()).tanh().matmul(&w2.tr()) + &b;
    let x = Tensor::randn([2, 7], D);
    let a = anchors(&f, &x);
    let g = auxiliary_scores(&f, &x, &a);
    let norms = f(&x).square().sum_dim_intlist(1, false, Kind::Double);
    assert!(max_abs(&(g - norms)) < 1e-12, "g_x(x) = ‖f(x)‖²");
    // Gradient at x̃ (≠ x) equals central differences of ⟨f(x), f(·)⟩; no gradient reaches the anchor.
    let xt = Tensor::randn([2, 7], D).set_requires_grad(true);
    let s = auxiliary_scores(&f, &xt, &a).sum(Kind::Double);
    let grad = Tensor::run_backward(&[s], &[&xt], false, false).remove(0);
    assert!(!a.requires_grad());
    let eps = 1e-6;
    for i in 0..7 {
        let e = Tensor::zeros([2, 7], D).index_fill(1, &Tensor::from_slice(&[i]), eps);
        let xd = xt.detach();
        let fd = (auxiliary_scores(&f, &(&xd + &e), &a) - auxiliary_scores(&f, &(&xd - &e), &a)) / (2.0 * eps);
        let col = grad.select(1, i);
        assert!(max_abs(&(&fd - &col)) <= 1e-3 * max_abs(&col).max(1e-9), "column {i}");
    }
}

#[test]
fn linear_encoder_closed_forms() {
    let _rng = rng_lock();
    tch::manual_seed(1);
    let (w, b) = (Tensor::randn([3, 6], D), Tensor::randn([3], D));
    let f = |x: &Tensor| x.matmul(&w.tr()) + &b;
    let x = Tensor::randn([4, 6], D);
    let base = Tensor::randn([6], D);
    let jt_f = f(&x).matmul(&w);
    let sal = label_free_attribution(&f, &x, &base, &FeatureMethod::Saliency).unwrap();
    assert!(max_abs(&(sal - jt_f.abs())) < 1e-9);
    let want = (&x - &base) * &jt_f;
    for steps in [1, 7, 50] {
        let ig = integrated_gradients(&f, &x, &base, steps).unwrap();
        assert!(max_abs(&(ig - &want)) < 1e-9, "IG {steps} steps");
    }
    let gs = FeatureMethod::GradientShap {
        n_samples: 3,
        stdev: 0.0,
        pairing: AnchorPairing::OwnExample,
        baselines: BaselineDraw::OwnExample,
    };
    let a = label_free_attribution(&f, &x, &base, &gs).unwrap();
    assert!(max_abs(&(a - &want)) < 1e-9, "GradientShap, any α");
}

#[test]
fn gauss_legendre_rule_and_ig_completeness() {
    let _rng = rng_lock();
    for m in [1, 2, 5, 50] {
        let (a, s) = gauss_legendre(m);
        assert!((s.iter().sum::<f64>() - 1.0).abs() < 1e-13);
        for k in 0..m {
            assert!(a[k] > 0.0 && a[k] < 1.0);
            assert!((a[k] + a[m - 1 - k] - 1.0).abs() < 1e-13 && (s[k] - s[m - 1 - k]).abs() < 1e-13);
        }
        // Exact for polynomials of degree ≤ 2m − 1: ∫₀¹ α^p = 1/(p+1).
        for p in 0..(2 * m) {
            let q: f64 = a.iter().zip(&s).map(|(x, w)| w * x.powi(p as i32)).sum();
            assert!((q - 1.0 / (p as f64 + 1.0)).abs() < 1e-12, "m {m} degree {p}");
        }
    }
    let (w1, w2, b) = tanh_encoder(2);
    let f = |x: &Tensor| x.matmul(&w1.tr()).tanh().matmul(&w2.tr()) + &b;
    let x = Tensor::randn([3, 7], D) * 2.0;
    let base = Tensor::zeros([7], D);
    let (h, h0) = (f(&x), f(&base.unsqueeze(0)));
    let target =
        h.square().sum_dim_intlist(1, false, Kind::Double) - (&h * &h0).sum_dim_intlist(1, false, Kind::Double);
    let err = |steps| {
        let ig = integrated_gradients(&f, &x, &base, steps).unwrap();
        max_abs(&(ig.sum_dim_intlist(1, false, Kind::Double) - &target))
    };
    let (e5, e50) = (err(5), err(50));
    assert!(e50 <= 1e-4 * max_abs(&target), "completeness error {e50}");
    assert!(e50 < e5, "error shrinks with steps: {e5} → {e50}");
}

#[test]
fn invariant_under_orthogonal_latent_maps_and_linear_in_units() {
    let _rng = rng_lock();
    let (w1, w2, b) = tanh_encoder(3);
    let f = |x: &Tensor| x.matmul(&w1.tr()).tanh().matmul(&w2.tr()) + &b;
    let (q, _) = Tensor::linalg_qr(&Tensor::randn([3, 3], D), "reduced");
    let qf = |x: &Tensor| f(x).matmul(&q.tr());
    let x = Tensor::randn([4, 7], D);
    let base = Tensor::zeros([7], D);
    for method in [FeatureMethod::Saliency, FeatureMethod::IntegratedGradients { steps: 20 }] {
        let (a, b2) = (
            label_free_attribution(&f, &x, &base, &method).unwrap(),
            label_free_attribution(&qf, &x, &base, &method).unwrap(),
        );
        assert!(max_abs(&(a - b2)) < 1e-10, "{}", method.name());
    }
    let gs = FeatureMethod::GradientShap {
        n_samples: 4,
        stdev: 0.0,
        pairing: AnchorPairing::OwnExample,
        baselines: BaselineDraw::OwnExample,
    };
    tch::manual_seed(9);
    let a = label_free_attribution(&f, &x, &base, &gs).unwrap();
    tch::manual_seed(9);
    let b2 = label_free_attribution(&qf, &x, &base, &gs).unwrap();
    assert!(max_abs(&(a - b2)) < 1e-10, "GradientShap with the same seed");
    // Linearity: label-free IG of f = Σ_j label-free IG of the one-unit encoders f_j.
    let ig = integrated_gradients(&f, &x, &base, 30).unwrap();
    let mut sum = ig.zeros_like();
    for j in 0..3 {
        let fj = |t: &Tensor| f(t).narrow(1, j, 1);
        sum += integrated_gradients(&fj, &x, &base, 30).unwrap();
    }
    assert!(max_abs(&(ig - sum)) < 1e-10);
}

#[test]
fn gradient_shap_pairs_each_example_with_its_own_anchor() {
    let _rng = rng_lock();
    let (w1, w2, b) = tanh_encoder(4);
    let f = |x: &Tensor| x.matmul(&w1.tr()).tanh().matmul(&w2.tr()) + &b;
    let x = Tensor::randn([3, 7], D);
    let base = Tensor::zeros([7], D);
    let alphas: Vec<f64> = (0..15).map(|i| (i as f64 * 0.37 + 0.1) % 1.0).collect();
    let batch = gradient_shap_with_alphas(&f, &x, &base, &alphas, 5, AnchorPairing::OwnExample, None).unwrap();
    let tiled = gradient_shap_with_alphas(&f, &x, &base, &alphas, 5, AnchorPairing::Tiled, None).unwrap();
    let mut worst_tiled: f64 = 0.0;
    for i in 0..3 {
        let alone = gradient_shap_with_alphas(
            &f,
            &x.narrow(0, i, 1),
            &base,
            &alphas[5 * i as usize..5 * (i as usize + 1)],
            5,
            AnchorPairing::OwnExample,
            None,
        )
        .unwrap();
        assert!(max_abs(&(batch.narrow(0, i, 1) - &alone)) < 1e-12, "example {i}");
        worst_tiled = worst_tiled.max(max_abs(&(tiled.narrow(0, i, 1) - &alone)));
    }
    assert!(worst_tiled > 1e-3, "the reference's tiled pairing (P1) differs");
}

#[test]
fn masks_shift_and_random_control() {
    let _rng = rng_lock();
    tch::manual_seed(5);
    let attr = Tensor::randn([4, 3, 5, 5], (Kind::Float, Device::Cpu));
    for pct in [0.0, 5.0, 10.0, 50.0, 100.0] {
        let keep = top_masks(&attr, pct).unwrap();
        assert_eq!(keep.size(), [4, 1, 5, 5]);
        let m = masked_count(pct, 25).unwrap();
        let zeros = (keep.eq(0.0)).sum_dim_intlist(&[1i64, 2, 3][..], false, Kind::Int64);
        assert_eq!(Vec::<i64>::try_from(&zeros).unwrap(), vec![m; 4], "{pct}%");
    }
    // The masked positions are the largest Σ_c |attr|.
    let keep = top_masks(&attr, 20.0).unwrap();
    let score = attr.abs().sum_dim_intlist(1, true, Kind::Float);
    let lowest_masked = score.where_self(&keep.eq(0.0), &score.full_like(f64::INFINITY)).amin(&[1i64, 2, 3][..], false);
    let highest_kept =
        score.where_self(&keep.eq(1.0), &score.full_like(f64::NEG_INFINITY)).amax(&[1i64, 2, 3][..], false);
    assert!(bool::try_from(lowest_masked.ge_tensor(&highest_kept).all()).unwrap());
    let f = |x: &Tensor| x.flatten(1, -1).narrow(1, 0, 4) * 2.0;
    let x = Tensor::rand([4, 3, 5, 5], (Kind::Float, Device::Cpu));
    let rep = Tensor::zeros([1, 3, 5, 5], (Kind::Float, Device::Cpu));
    let s0 = representation_shift(&f, &x, &perturb(&x, &top_masks(&attr, 0.0).unwrap(), &rep));
    assert_eq!(max_abs(&s0), 0.0);
    let s100a = representation_shift(&f, &x, &perturb(&x, &top_masks(&attr, 100.0).unwrap(), &rep));
    let s100b = representation_shift(&f, &x, &perturb(&x, &top_masks(&attr.randn_like(), 100.0).unwrap(), &rep));
    assert!(s100a.equal(&s100b), "everything masked: all methods agree");
    let zero = Tensor::zeros([3, 5, 5], (Kind::Float, Device::Cpu));
    tch::manual_seed(11);
    let r1 = label_free_attribution(&f, &x, &zero, &FeatureMethod::Random).unwrap();
    tch::manual_seed(11);
    let r2 = label_free_attribution(&f, &x, &zero, &FeatureMethod::Random).unwrap();
    assert!(r1.equal(&r2), "random ranking reproducible from the seed");
}

#[test]
fn similarity_rates_on_a_hand_example() {
    let _rng = rng_lock();
    let train = Tensor::from_slice(&[0i64, 0, 1, 1]);
    let test = Tensor::from_slice(&[0i64, 1]);
    // Importance = same-label indicator (+ small tie-breaker).
    let scores = Tensor::from_slice(&[1.0f32, 0.9, 0.1, 0.0, 0.0, 0.1, 1.0, 0.9]).view([2, 4]);
    assert_eq!(similarity_rate(&scores, &test, &train, 1, true).unwrap(), 1.0);
    assert_eq!(similarity_rate(&scores, &test, &train, 2, true).unwrap(), 1.0);
    assert_eq!(similarity_rate(&scores, &test, &train, 2, false).unwrap(), 0.0);
    assert_eq!(similarity_rate(&scores, &test, &train, 4, true).unwrap(), 0.5);
    assert_eq!(similarity_rate(&scores, &test, &train, 4, false).unwrap(), 0.5);
}

#[test]
fn bad_inputs_are_clear_errors() {
    let _rng = rng_lock();
    let e = FeatureMethod::from_name("shapley_magic").unwrap_err().to_string();
    assert!(e.contains("shapley_magic") && e.contains("integrated_gradients"), "{e}");
    let attr = Tensor::ones([2, 1, 4, 4], (Kind::Float, Device::Cpu));
    for pct in [-1.0, 100.5, f64::NAN] {
        let e = top_masks(&attr, pct).unwrap_err().to_string();
        assert!(e.contains("0–100"), "{e}");
    }
    let f = |x: &Tensor| x.flatten(1, -1);
    let x = Tensor::ones([2, 1, 4, 4], (Kind::Float, Device::Cpu));
    let bad = Tensor::zeros([3, 3], (Kind::Float, Device::Cpu));
    let e = integrated_gradients(&f, &x, &bad, 10).unwrap_err().to_string();
    assert!(e.contains("baseline"), "{e}");
    let e = integrated_gradients(&f, &x, &x, 0).unwrap_err().to_string();
    assert!(e.contains("steps"), "{e}");
    let scores = Tensor::zeros([2, 0], (Kind::Float, Device::Cpu));
    let e = similarity_rate(
        &scores,
        &Tensor::from_slice(&[0i64, 1]),
        &Tensor::zeros([0], (Kind::Int64, Device::Cpu)),
        1,
        true,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("empty"), "{e}");
}

#[test]
fn gradient_shap_batch_baselines_draw_from_the_whole_batch() {
    let _rng = rng_lock();
    tch::manual_seed(11);
    // Linear encoder: the auxiliary gradient is Wᵀ f(x) everywhere, so GradientShap with
    // baselines x̄_s is exactly (x − mean_s x̄_s) ⊙ Wᵀ f(x), whatever the α.
    let w = Tensor::randn([3, 6], D);
    let f = |x: &Tensor| x.matmul(&w.tr());
    let x = Tensor::randn([4, 6], D);
    let base = Tensor::randn([4, 6], D) * 3.0; // one distinct baseline per example (a blur)
    let jt_f = f(&x).matmul(&w);
    let ns = 4000;
    let alphas = vec![0.5; 4 * ns];
    let method = |baselines| FeatureMethod::GradientShap {
        n_samples: ns,
        stdev: 0.0,
        pairing: AnchorPairing::OwnExample,
        baselines,
    };
    let own = gradient_shap_for(&f, &x, &base, &alphas, &method(BaselineDraw::OwnExample)).unwrap();
    assert!(max_abs(&(&own - (&x - &base) * &jt_f)) < 1e-9, "own baseline: the example's");
    let batch = gradient_shap_for(&f, &x, &base, &alphas, &method(BaselineDraw::Batch)).unwrap();
    // Uniform draws over the batch: the mean baseline tends to the batch mean (4000 draws).
    let pooled = (&x - base.mean_dim(0, true, Kind::Double)) * &jt_f;
    let scale = max_abs(&pooled);
    assert!(max_abs(&(&batch - &pooled)) < 0.1 * scale, "batch draw ≈ the batch's mean baseline");
    assert!(max_abs(&(&batch - &own)) > 0.3 * scale, "and not the example's own");
    // With one shared baseline the two draws agree exactly.
    let shared = Tensor::randn([1, 6], D);
    let a = gradient_shap_for(&f, &x, &shared, &alphas, &method(BaselineDraw::OwnExample)).unwrap();
    let b = gradient_shap_for(&f, &x, &shared, &alphas, &method(BaselineDraw::Batch)).unwrap();
    assert!(max_abs(&(a - b)) < 1e-9);
    let e = gradient_shap_for(&f, &x, &base, &alphas, &FeatureMethod::Saliency).unwrap_err().to_string();
    assert!(e.contains("not GradientShap"), "{e}");
}
