//! Properties of the shared attribution methods.

use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};
use xai_core::attribution::*;

fn opts() -> (Kind, Device) {
    (Kind::Float, Device::Cpu)
}

fn close(a: &Tensor, b: &Tensor, tol: f64) -> bool {
    (a - b).abs().max().double_value(&[]) <= tol
}

/// f(x) = x·w + b with 2 outputs, so targets matter.
fn linear_model() -> (Tensor, Tensor, impl Fn(&Tensor) -> Tensor) {
    let w = Tensor::from_slice(&[0.5f32, -2.0, 1.5, 3.0, 0.25, -1.0]).view([3, 2]);
    let b = Tensor::from_slice(&[0.1f32, -0.3]);
    let (w2, b2) = (w.shallow_clone(), b.shallow_clone());
    (w, b, move |x: &Tensor| x.matmul(&w2) + &b2)
}

#[test]
fn integrated_gradients_is_complete_on_a_nonlinear_net() {
    tch::manual_seed(1);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = nn::seq()
        .add(xai_core::nn::linear(vs.root() / "a", 6, 16))
        .add_fn(|x| x.tanh())
        .add(xai_core::nn::linear(vs.root() / "b", 16, 16))
        .add_fn(|x| x.softplus())
        .add(xai_core::nn::linear(vs.root() / "c", 16, 3));
    let f = |x: &Tensor| net.forward(x);
    let x = Tensor::randn([5, 6], opts()) * 2.0;
    let baseline = Tensor::randn([1, 6], opts()) * 0.1;
    let target = Target::PerExample(Tensor::from_slice(&[0i64, 1, 2, 0, 1]));
    let ig = IntegratedGradients::new(200).with_baseline(baseline.shallow_clone());
    let attr = ig.attribute(&f, &x, &target).unwrap();
    assert_eq!(attr.size(), x.size());
    let fx = select_target(&f(&x), &target).unwrap();
    let fb = select_target(&f(&baseline.expand_as(&x)), &target).unwrap();
    let expected = (fx - fb).detach();
    let got = attr.sum_dim_intlist(1, false, Kind::Float);
    let rel = ((&got - &expected).abs() / expected.abs().clamp_min(1e-6)).max().double_value(&[]);
    assert!(rel < 1e-3, "completeness violated: sum {got:?} vs f(x)-f(b) {expected:?} (rel {rel})");
    // A crude 3-step path must be visibly less complete: the test can tell the rules apart.
    let crude = IntegratedGradients { steps: 2, ..IntegratedGradients::new(2) }.with_baseline(baseline);
    let got2 = crude.attribute(&f, &x, &target).unwrap().sum_dim_intlist(1, false, Kind::Float);
    assert!(!close(&got2, &expected, 1e-3));
}

#[test]
fn each_method_equals_its_closed_form_on_a_linear_model() {
    let (w, _b, f) = linear_model();
    let x = Tensor::from_slice(&[1.0f32, 2.0, -1.0, 0.5, 0.0, 3.0]).view([2, 3]);
    let t = Target::Index(1);
    let w1 = w.select(1, 1).unsqueeze(0); // [1, 3]

    let sal = Saliency { abs: false }.attribute(&f, &x, &t).unwrap();
    assert!(close(&sal, &w1.expand_as(&x), 1e-6));
    let sal_abs = Saliency::default().attribute(&f, &x, &t).unwrap();
    assert!(close(&sal_abs, &w1.abs().expand_as(&x), 1e-6));

    let ixg = InputXGradient.attribute(&f, &x, &t).unwrap();
    assert!(close(&ixg, &(&x * &w1), 1e-6));

    let base = Tensor::from_slice(&[0.5f32, -0.5, 1.0]).view([1, 3]);
    let ig = IntegratedGradients::new(7).with_baseline(base.shallow_clone()).attribute(&f, &x, &t).unwrap();
    assert!(close(&ig, &((&x - &base) * &w1), 1e-5));
    let ig0 =
        IntegratedGradients { rule: Rule::Midpoint, ..IntegratedGradients::new(3) }.attribute(&f, &x, &t).unwrap();
    assert!(close(&ig0, &(&x * &w1), 1e-5));

    // With one reference and no noise the path average is exact for a linear model.
    let gs = GradientShap { baselines: base.shallow_clone(), n_samples: 5, noise_stdev: 0.0 };
    assert!(close(&gs.attribute(&f, &x, &t).unwrap(), &((&x - &base) * &w1), 1e-5));
    let eg = ExpectedGradients { references: base.shallow_clone(), n_samples: 3 };
    assert!(close(&eg.attribute(&f, &x, &t).unwrap(), &((&x - &base) * &w1), 1e-5));

    // Many references: EG → (x − E[r]) ⊙ w.
    tch::manual_seed(3);
    let refs = Tensor::randn([4, 3], opts());
    let eg = ExpectedGradients { references: refs.shallow_clone(), n_samples: 20000 };
    let mean = refs.mean_dim(0, true, Kind::Float);
    assert!(close(&eg.attribute(&f, &x, &t).unwrap(), &((&x - mean) * &w1), 0.1));
}

#[test]
fn gradient_shap_noise_averages_out_on_a_linear_model() {
    let (w, _b, f) = linear_model();
    tch::manual_seed(0);
    let x = Tensor::from_slice(&[1.0f32, 2.0, -1.0]).view([1, 3]);
    let base = Tensor::zeros([1, 3], opts());
    let gs = GradientShap { baselines: base, n_samples: 20000, noise_stdev: 0.5 };
    let attr = gs.attribute(&f, &x, &Target::Index(0)).unwrap();
    assert!(close(&attr, &(&x * w.select(1, 0).unsqueeze(0)), 0.05));
}

#[test]
fn targets_are_checked() {
    let (_w, _b, f) = linear_model();
    let x = Tensor::ones([2, 3], opts());
    let e = Saliency::default().attribute(&f, &x, &Target::Index(5)).unwrap_err().to_string();
    assert!(e.contains("class 5 is out of range"), "{e}");
    let e = Saliency::default().attribute(&f, &x, &Target::Scalar).unwrap_err().to_string();
    assert!(e.contains("Target::Index"), "{e}");
    let per = Target::PerExample(Tensor::from_slice(&[0i64, 1]));
    let a = Saliency { abs: false }.attribute(&f, &x, &per).unwrap();
    assert!(!close(&a.get(0), &a.get(1), 1e-6), "rows explain different classes");
}

#[test]
fn same_seed_gives_identical_tensors() {
    let run = |seed| {
        let _rng = xai_core::device::seed_everything(seed);
        let vs = nn::VarStore::new(Device::Cpu);
        let net = xai_core::nn::mlp(vs.root(), &[4, 8, 2]);
        let x = Tensor::randn([3, 4], opts());
        let f = |x: &Tensor| net.forward(x);
        let gs = GradientShap { baselines: Tensor::randn([5, 4], opts()), n_samples: 4, noise_stdev: 0.1 };
        gs.attribute(&f, &x, &Target::Index(1)).unwrap()
    };
    assert!(run(42).equal(&run(42)));
    assert!(!run(42).equal(&run(43)));
}

#[test]
fn rrr_style_gradients_are_differentiable() {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let net = xai_core::nn::mlp(vs.root(), &[3, 16, 2]);
    let f = |x: &Tensor| net.forward(x).log_softmax(-1, Kind::Float);
    let x = Tensor::randn([4, 3], opts());
    let (g, _) = gradient(&f, &x, &Target::Index(0), true).unwrap();
    let penalty = g.square().sum(Kind::Float);
    assert!(penalty.double_value(&[]) > 0.0);
    penalty.backward();
    let grads: f64 = vs.trainable_variables().iter().map(|v| v.grad().abs().sum(Kind::Float).double_value(&[])).sum();
    assert!(grads > 0.0, "double backprop reaches the weights");
}

/// GradientShap of `f(x) = Σ x²` by hand: `mean_s (x − r_s) ⊙ 2(r_s + α_s (x − r_s))`.
fn quadratic_gradient_shap(x: &Tensor, refs: &[Tensor], alphas: &[f64]) -> Tensor {
    let mut total = x.zeros_like();
    for (r, a) in refs.iter().zip(alphas) {
        let p = r + (x - r) * *a;
        total += (x - r) * p * 2.0;
    }
    total / refs.len() as f64
}

#[test]
fn gradient_shap_given_alphas_follow_the_layout() {
    let f = |t: &Tensor| t.square().sum_dim_intlist(1, false, Kind::Double);
    let d = (Kind::Double, Device::Cpu);
    let x = Tensor::from_slice(&[1.0f64, -2.0, 0.5, 3.0, 0.0, -1.0]).view([2, 3]);
    let base = Tensor::from_slice(&[0.2f64, 0.1, -0.3]).view([1, 3]);
    let alphas = [0.1, 0.7, 0.4, 0.9]; // 2 samples × 2 examples
    let gs = GradientShap { baselines: base.shallow_clone(), n_samples: 2, noise_stdev: 0.0 };
    let r = base.squeeze_dim(0);
    for (layout, per_example) in [
        (SampleLayout::SampleMajor, [[0.1, 0.4], [0.7, 0.9]]), // row s·B + b
        (SampleLayout::ExampleMajor, [[0.1, 0.7], [0.4, 0.9]]), // row b·n_s + s
    ] {
        let opts = PathSampleOptions { layout, alphas: Some(alphas.to_vec()), per_example_baselines: false };
        let attr = gs.attribute_with(&f, &x, &Target::Scalar, &opts).unwrap();
        for b in 0..2 {
            let want =
                quadratic_gradient_shap(&x.get(b), &[r.shallow_clone(), r.shallow_clone()], &per_example[b as usize]);
            assert!(close(&attr.get(b), &want, 1e-12), "{layout:?}, example {b}: {:?} vs {want:?}", attr.get(b));
        }
        assert_eq!(attr.kind(), d.0);
    }
}

#[test]
fn gradient_shap_example_major_rows_reach_the_model_in_order() {
    // A model that scales row r by its own factor: only the announced layout pairs rows with
    // the right factor, so the attribution of example b uses factor b in every sample.
    let x = Tensor::from_slice(&[1.0f64, 2.0, 3.0]).view([3, 1]);
    let n_s = 4;
    let factors = Tensor::from_slice(&[1.0f64, 10.0, 100.0]).repeat_interleave_self_int(n_s, 0, None);
    let f = |t: &Tensor| t.squeeze_dim(1) * &factors;
    let gs = GradientShap {
        baselines: Tensor::zeros([1, 1], (Kind::Double, Device::Cpu)),
        n_samples: n_s,
        noise_stdev: 0.0,
    };
    let opts = PathSampleOptions { layout: SampleLayout::ExampleMajor, ..Default::default() };
    let attr = gs.attribute_with(&f, &x, &Target::Scalar, &opts).unwrap();
    let want = Tensor::from_slice(&[1.0f64, 20.0, 300.0]).view([3, 1]);
    assert!(close(&attr, &want, 1e-12), "{attr:?}");
}

#[test]
fn gradient_shap_per_example_baselines_and_default_draws() {
    let (w, _b, f) = linear_model();
    let x = Tensor::from_slice(&[1.0f32, 2.0, -1.0, 0.5, 0.0, 2.0]).view([2, 3]);
    let bases = Tensor::from_slice(&[0.5f32, -1.0, 0.0, 2.0, 1.0, -1.0]).view([2, 3]);
    let gs = GradientShap { baselines: bases.shallow_clone(), n_samples: 3, noise_stdev: 0.0 };
    let opts = PathSampleOptions { per_example_baselines: true, ..Default::default() };
    let attr = gs.attribute_with(&f, &x, &Target::Index(1), &opts).unwrap();
    // Linear model: exact with each example's own baseline (a drawn one would mix them).
    assert!(close(&attr, &((&x - &bases) * w.select(1, 1).unsqueeze(0)), 1e-5), "{attr:?}");
    // The default options draw exactly what `attribute` draws.
    let run = |with: bool| {
        tch::manual_seed(7);
        if with {
            gs.attribute_with(&f, &x, &Target::Index(0), &PathSampleOptions::default()).unwrap()
        } else {
            gs.attribute(&f, &x, &Target::Index(0)).unwrap()
        }
    };
    assert!(run(true).equal(&run(false)));
}

#[test]
fn gradient_shap_options_are_checked() {
    let (_w, _b, f) = linear_model();
    let x = Tensor::ones([2, 3], opts());
    let gs = GradientShap { baselines: Tensor::zeros([3, 3], opts()), n_samples: 2, noise_stdev: 0.0 };
    let bad_alphas = PathSampleOptions { alphas: Some(vec![0.5; 3]), ..Default::default() };
    let e = gs.attribute_with(&f, &x, &Target::Index(0), &bad_alphas).unwrap_err().to_string();
    assert!(e.contains("3 given for 2 examples × 2 samples"), "{e}");
    let per_example = PathSampleOptions { per_example_baselines: true, ..Default::default() };
    let e = gs.attribute_with(&f, &x, &Target::Index(0), &per_example).unwrap_err().to_string();
    assert!(e.contains("3 baselines for a batch of 2"), "{e}");
    let noisy = GradientShap { baselines: Tensor::zeros([1, 3], opts()), n_samples: 2, noise_stdev: f64::NAN };
    let e = noisy.attribute(&f, &x, &Target::Index(0)).unwrap_err().to_string();
    assert!(e.contains("noise_stdev"), "{e}");
}
