//! Method properties: the spec's §12 unit-testable properties (1–13) on small tensors
//! (no config, no run folder).

use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use vibi::chunks::ChunkGrid;
use vibi::loss::{entropy_rows, information, kl_to_uniform_rows, mean_ce, sampled_ce, soft_ce, CeScaling, KlKind};
use vibi::metrics::{js_bits, strength};
use vibi::nets::{classifier, explainer, ClassifierArch, ExplainerArch};
use vibi::sampling::{gumbel, relaxed_khot, topk_mask, Phase, Temperature};

const CPU: Device = Device::Cpu;

fn max_abs(t: &Tensor) -> f64 {
    t.abs().max().double_value(&[])
}

#[test]
fn explainer_param_counts_and_grids_match_the_spec() {
    // (arch, C, H, xpl_channels, params, output grid side)
    let cases = [
        (ExplainerArch::ResNet4x, 1, 28, 1, 2_876_871, 7),
        (ExplainerArch::ResNet2x, 1, 28, 1, 412_999, 28),
        (ExplainerArch::UNet, 1, 28, 1, 1_031_297, 28),
        (ExplainerArch::ResNet2x, 3, 32, 1, 922_951, 16),
        (ExplainerArch::ResNet2x, 3, 32, 3, 925_531, 16),
        (ExplainerArch::ResNet4x, 3, 32, 1, 3_738_951, 8),
        (ExplainerArch::ResNet4x, 3, 32, 3, 3_744_091, 8),
        (ExplainerArch::ResNet8x, 3, 32, 1, 5_601_863, 4),
        (ExplainerArch::ResNet8x, 3, 32, 3, 5_612_123, 4),
        (ExplainerArch::UNet, 3, 32, 1, 4_312_321, 32),
        (ExplainerArch::UNet, 3, 32, 3, 4_312_451, 32),
    ];
    for (arch, c, h, xc, params, side) in cases {
        let vs = VarStore::new(CPU);
        let net = explainer(vs.root(), arch, c, (h, h), xc).unwrap();
        assert_eq!(xai_core::nn::param_count(&vs), params, "{arch:?} C={c} C_xpl={xc}");
        let out = tch::no_grad(|| net.forward_t(&Tensor::zeros([2, c, h, h], (Kind::Float, CPU)), false));
        assert_eq!(out.size(), vec![2, xc, side, side], "{arch:?} C={c} C_xpl={xc}");
    }
}

#[test]
fn classifier_param_counts_match_the_spec() {
    for (arch, c, h, params) in [
        (ClassifierArch::Resnet18, 1, 28, 5_601_738),
        (ClassifierArch::Resnet18, 3, 32, 5_601_866),
        (ClassifierArch::Resnet34, 3, 32, 11_220_810),
    ] {
        let vs = VarStore::new(CPU);
        let net = classifier(vs.root(), arch, c, (h, h), 10).unwrap();
        assert_eq!(xai_core::nn::param_count(&vs), params, "{arch:?} C={c}");
        let out = tch::no_grad(|| net.forward_t(&Tensor::zeros([2, c, h, h], (Kind::Float, CPU)), false));
        assert_eq!(out.size(), vec![2, 10]);
    }
}

#[test]
fn headless_resnet_logits_are_non_negative() {
    tch::manual_seed(0);
    let vs = VarStore::new(CPU);
    let net = explainer(vs.root(), ExplainerArch::ResNet4x, 1, (28, 28), 1).unwrap();
    let out = tch::no_grad(|| net.forward_t(&Tensor::randn([4, 1, 28, 28], (Kind::Float, CPU)), true));
    assert!(out.min().double_value(&[]) >= 0.0, "the last resblock ends in ReLU");
}

#[test]
fn hard_topk_mask_has_exactly_k_ones() {
    tch::manual_seed(1);
    let grid = ChunkGrid::new(28, 28, 4, 1).unwrap();
    let k = 4;
    let logits = Tensor::randn([16, grid.num_chunks()], (Kind::Float, CPU));
    let z = topk_mask(&logits, k);
    assert_eq!(z.sum_dim_intlist(1, false, Kind::Float), Tensor::full([16], k as f64, (Kind::Float, CPU)));
    assert!(z.eq(0.0).logical_or(&z.eq(1.0)).all().int64_value(&[]) == 1, "values in {{0,1}}");
    let up = grid.upsample(&z);
    assert_eq!(up.size(), vec![16, 1, 28, 28]);
    let ones = up.sum_dim_intlist(&[1i64, 2, 3][..], false, Kind::Float);
    assert_eq!(ones, Tensor::full([16], (k * 16) as f64, (Kind::Float, CPU)));
    // the selected logits are the k largest: min(selected) >= max(unselected)
    let sel_min = (&logits + (z.neg() + 1.0) * 1e9).amin(1, false);
    let unsel_max = (&logits - &z * 1e9).amax(1, false);
    assert!(sel_min.ge_tensor(&unsel_max).all().int64_value(&[]) == 1);
}

#[test]
fn relaxed_khot_sums_between_1_and_k() {
    tch::manual_seed(2);
    let (b, f, k, m) = (8, 49, 4, 3);
    let logits = Tensor::randn([b, f], (Kind::Float, CPU));
    let z = relaxed_khot(&logits, k, 0.5, m);
    assert_eq!(z.size(), vec![b, m, f]);
    assert!(z.gt(0.0).all().int64_value(&[]) == 1 && z.le(1.0).all().int64_value(&[]) == 1);
    let s = z.sum_dim_intlist(-1, false, Kind::Float);
    assert!(s.ge(1.0 - 1e-5).all().int64_value(&[]) == 1 && s.le(k as f64 + 1e-5).all().int64_value(&[]) == 1);
    // uniform logits, F = 784, k = 4, tau = 0.01: almost no collisions
    let u = Tensor::zeros([256, 784], (Kind::Float, CPU));
    let mean = relaxed_khot(&u, 4, 0.01, 1).sum_dim_intlist(-1, false, Kind::Float).mean(Kind::Float).double_value(&[]);
    assert!(mean >= 3.95, "mean sum {mean}");
    // one dominant logit: every draw picks it, so the k-hot collapses to one-hot
    let mut d = Tensor::zeros([64, 49], (Kind::Float, CPU));
    let _ = d.narrow(1, 0, 1).fill_(50.0);
    let mean = relaxed_khot(&d, 4, 0.5, 1).sum_dim_intlist(-1, false, Kind::Float).mean(Kind::Float).double_value(&[]);
    assert!((mean - 1.0).abs() < 1e-3, "mean sum {mean}");
    let _ = &mut d;
}

#[test]
fn gumbel_moments_and_argmax_frequencies() {
    tch::manual_seed(3);
    let g = gumbel(&[1_000_000], CPU).to_kind(Kind::Double);
    let mean = g.mean(Kind::Double).double_value(&[]);
    let var = g.var(true).double_value(&[]);
    assert!((mean - 0.577_215_66).abs() < 0.01 * 0.5772, "mean {mean}");
    let pi2_6 = std::f64::consts::PI.powi(2) / 6.0;
    assert!((var - pi2_6).abs() < 0.01 * pi2_6, "variance {var}");
    // argmax(l + g) ~ softmax(l): chi-squared over 5 categories, 200k draws
    let l = Tensor::from_slice(&[0.0f32, 1.0, -1.0, 0.5, 2.0]);
    let n = 200_000;
    let draws = (l.unsqueeze(0) + gumbel(&[n, 5], CPU)).argmax(1, false);
    let counts = Vec::<f64>::try_from(draws.bincount(None::<Tensor>, 5).to_kind(Kind::Double)).unwrap();
    let p = Vec::<f64>::try_from(l.softmax(0, Kind::Double)).unwrap();
    let chi2: f64 = counts.iter().zip(&p).map(|(c, p)| (c - n as f64 * p).powi(2) / (n as f64 * p)).sum();
    assert!(chi2 < 18.47, "chi2 {chi2} (4 dof, p = 0.001 critical value 18.47)");
}

#[test]
fn temperature_schedule_values() {
    let w = 200;
    let t = Temperature::Inverse { warmup_steps: w, scale: 10.0 };
    for n in [0, 100, w] {
        assert_eq!(t.at(n), Phase::Warmup, "step {n}");
    }
    for (n, tau) in [(w + 1, 10.0), (w + 2, 5.0), (w + 10, 1.0), (w + 100, 0.1)] {
        match t.at(n) {
            Phase::Train(x) => assert!((x - tau).abs() < 1e-12, "step {n}: {x}"),
            Phase::Warmup => panic!("step {n} in warm-up"),
        }
    }
    assert_eq!(Temperature::Constant { value: 0.5 }.at(0), Phase::Train(0.5));
    assert!(Temperature::Constant { value: 0.0 }.validate().unwrap_err().to_string().contains("temperature.value"));
}

#[test]
fn approximator_on_all_ones_mask_equals_approximator_on_x() {
    tch::manual_seed(4);
    let vs = VarStore::new(CPU);
    let a = classifier(vs.root(), ClassifierArch::SmallCnnMaxpool, 1, (28, 28), 10).unwrap();
    let grid = ChunkGrid::new(28, 28, 4, 1).unwrap();
    let x = Tensor::randn([5, 1, 28, 28], (Kind::Float, CPU));
    let ones = Tensor::ones([5, 49], (Kind::Float, CPU));
    let zeros = Tensor::zeros([5, 49], (Kind::Float, CPU));
    tch::no_grad(|| {
        assert!(a.forward_t(&grid.mask(&x, &ones), false).equal(&a.forward_t(&x, false)), "bitwise equal");
        assert!(a.forward_t(&grid.mask(&x, &zeros), false).equal(&a.forward_t(&x.zeros_like(), false)));
    });
}

#[test]
fn kl_to_uniform_properties() {
    tch::manual_seed(5);
    let f = 49;
    let c = Tensor::full([3, f], 2.5, (Kind::Float, CPU));
    assert!(max_abs(&kl_to_uniform_rows(&c)) < 1e-5);
    let l = Tensor::randn([64, f], (Kind::Float, CPU)) * 4.0;
    let kl = kl_to_uniform_rows(&l);
    assert!(kl.ge(-1e-6).all().int64_value(&[]) == 1 && kl.le((f as f64).ln() + 1e-5).all().int64_value(&[]) == 1);
    assert!(max_abs(&(&kl - ((f as f64).ln() - entropy_rows(&l)))) < 1e-4, "KL = log F - H(p)");
    // one-hot p (huge logit): KL = log F, finite
    let mut one = Tensor::zeros([1, f], (Kind::Float, CPU));
    let _ = one.narrow(1, 3, 1).fill_(1e4);
    let v = kl_to_uniform_rows(&one).double_value(&[0]);
    assert!((v - (f as f64).ln()).abs() < 1e-4, "{v}");
    let _ = &mut one;
    // the authors' k·KL(U‖p) is 0 at uniform and positive elsewhere
    assert!(information(&c, KlKind::ReverseK, 4).double_value(&[]).abs() < 1e-5);
    assert!(information(&l, KlKind::ReverseK, 4).double_value(&[]) > 0.0);
}

#[test]
fn reference_ce_is_m_over_c_times_mean_ce() {
    tch::manual_seed(6);
    let (b, m, c) = (7, 4, 10);
    let logits = Tensor::randn([b, m, c], (Kind::Float, CPU));
    let y = Tensor::randn([b, c], (Kind::Float, CPU)).softmax(-1, Kind::Float);
    let mean = sampled_ce(&logits, &y, CeScaling::Mean).double_value(&[]);
    let manual = soft_ce(&logits, &y.unsqueeze(1)).mean(Kind::Float).double_value(&[]);
    assert!((mean - manual).abs() < 1e-6);
    // willisk: −y·log_softmax summed over the sample axis, averaged over (B, C)
    let willisk = (-(y.unsqueeze(1) * logits.log_softmax(-1, Kind::Float)).sum_dim_intlist(1, false, Kind::Float))
        .mean(Kind::Float)
        .double_value(&[]);
    let reference = sampled_ce(&logits, &y, CeScaling::Reference).double_value(&[]);
    assert!((reference - willisk).abs() < 1e-5 && (reference - mean * m as f64 / c as f64).abs() < 1e-5);
    let bits = sampled_ce(&logits, &y, CeScaling::Bits).double_value(&[]);
    assert!((bits - mean / std::f64::consts::LN_2).abs() < 1e-5);
    let plain = Tensor::randn([b, c], (Kind::Float, CPU));
    let warm = mean_ce(&plain, &y).double_value(&[]);
    let expect = (-(&y * plain.log_softmax(-1, Kind::Float)).sum_dim_intlist(-1, false, Kind::Float))
        .mean(Kind::Float)
        .double_value(&[]);
    assert!((warm - expect).abs() < 1e-6);
}

#[test]
fn js_divergence_properties() {
    tch::manual_seed(7);
    let p = Tensor::randn([32, 10], (Kind::Float, CPU)).softmax(-1, Kind::Float);
    let q = Tensor::randn([32, 10], (Kind::Float, CPU)).softmax(-1, Kind::Float);
    assert!(max_abs(&js_bits(&p, &p)) < 1e-6);
    assert!(max_abs(&(js_bits(&p, &q) - js_bits(&q, &p))) < 1e-6, "symmetric");
    let e = Tensor::eye(10, (Kind::Float, CPU));
    let js = js_bits(&e.narrow(0, 0, 1), &e.narrow(0, 1, 1)).double_value(&[0]);
    assert!((js - 1.0).abs() < 1e-6, "disjoint one-hots: 1 bit, got {js}");
    let s = strength(&p, &q);
    assert!(
        s.ge(0.0).all().int64_value(&[]) == 1
            && s.le(1.0).all().int64_value(&[]) == 1
            && s.isnan().any().int64_value(&[]) == 0
    );
}

#[test]
fn upsampling_is_repeat_interleave_and_chunks_round_trip() {
    tch::manual_seed(8);
    for (h, s, c) in [(28, 4, 1), (32, 2, 3), (32, 8, 1)] {
        let grid = ChunkGrid::new(h, h, s, c).unwrap();
        let z = Tensor::randn([3, grid.num_chunks()], (Kind::Float, CPU));
        let cells = z.view([3, c, h / s, h / s]);
        let expect = cells.repeat_interleave_self_int(s, 2, None).repeat_interleave_self_int(s, 3, None);
        assert!(grid.upsample(&z).equal(&expect));
        for j in [0, grid.num_chunks() / 2, grid.num_chunks() - 1] {
            let (ch, rows, cols) = grid.block(j);
            assert_eq!(rows.end - rows.start, s);
            for (y, x) in [(rows.start, cols.start), (rows.end - 1, cols.end - 1)] {
                assert_eq!(grid.chunk_of_pixel(ch.unwrap_or(0), y, x), j);
            }
        }
        // pooling a chunk-constant map gives the chunk values back
        let pooled = grid.pool(&grid.upsample(&z).expand([3, 3, h, h], false).contiguous());
        let back = if c == 1 { pooled } else { grid.pool(&grid.upsample(&z)) };
        assert!(max_abs(&(back - &z)) < 1e-5);
    }
}

#[test]
fn authors_nets_have_the_spec_grids() {
    for (arch, side) in [(ExplainerArch::Cnn4, 7), (ExplainerArch::Cnn2, 14), (ExplainerArch::Cnn, 28)] {
        let vs = VarStore::new(CPU);
        let net = explainer(vs.root(), arch, 1, (28, 28), 1).unwrap();
        let out = tch::no_grad(|| net.forward_t(&Tensor::zeros([2, 1, 28, 28], (Kind::Float, CPU)), false));
        assert_eq!(out.size(), vec![2, 1, side, side], "{arch:?}");
    }
    for arch in [ClassifierArch::LenetAuthors, ClassifierArch::AuthorsCnn] {
        let vs = VarStore::new(CPU);
        let net = classifier(vs.root(), arch, 1, (28, 28), 10).unwrap();
        let out = tch::no_grad(|| net.forward_t(&Tensor::zeros([2, 1, 28, 28], (Kind::Float, CPU)), false));
        assert_eq!(out.size(), vec![2, 10], "{arch:?}");
    }
    assert!(explainer(VarStore::new(CPU).root(), ExplainerArch::Cnn4, 3, (32, 32), 1).is_err());
}

#[test]
fn approximator_equal_to_black_box_with_k_equal_f_has_fidelity_one() {
    use vibi::blackbox::FnBlackBox;
    use vibi::metrics::{evaluate, EvalOptions};
    use vibi::model::{Settings, Vibi};
    tch::manual_seed(9);
    let settings = Settings { temperature: Temperature::Constant { value: 0.5 }, ..Settings::reference(49, 0.01) };
    let vibi = Vibi::new(
        CPU,
        [1, 28, 28],
        Box::new(|p| explainer(p, ExplainerArch::SmallCnn, 1, (28, 28), 1)),
        Box::new(|p| classifier(p, ClassifierArch::SmallCnnMaxpool, 1, (28, 28), 10)),
        settings,
    )
    .unwrap();
    let bb = FnBlackBox(|x: &Tensor| vibi.approximate_t(x, false));
    let x = Tensor::randn([40, 1, 28, 28], (Kind::Float, CPU));
    let probs = vibi::blackbox::soft_labels(&bb, &x, 16);
    let opts = EvalOptions {
        multishot_samples: 0,
        multishot_tau: 0.5,
        random_baseline: true,
        rationale: true,
        batch_size: 16,
    };
    let r = evaluate(&vibi, &bb, &x, &probs, None, &opts);
    assert_eq!(r.fid_topk, 1.0);
    assert_eq!(r.rationale_fid, Some(1.0));
    assert_eq!(r.fid_random, Some(1.0), "k = F: the random mask keeps everything too");
    assert!((r.mean_1mjs - 1.0).abs() < 1e-5);
}

#[test]
fn l2x_is_vibi_with_beta_zero() {
    use vibi::model::{Method, Settings};
    let s = Settings::reference(4, 0.1).l2x();
    assert_eq!((s.method, s.beta, s.effective_beta()), (Method::L2x, 0.0, 0.0));
    assert!(s.validate().is_ok());
}

#[test]
fn final_relu_can_be_dropped() {
    tch::manual_seed(10);
    let vs = VarStore::new(CPU);
    let net = vibi::nets::explainer_with(vs.root(), ExplainerArch::ResNet4x, 1, (28, 28), 1, false).unwrap();
    assert_eq!(xai_core::nn::param_count(&vs), 2_876_871, "same weights, no ReLU");
    let out = tch::no_grad(|| net.forward_t(&Tensor::randn([4, 1, 28, 28], (Kind::Float, CPU)), true));
    assert!(out.min().double_value(&[]) < 0.0, "logits can be negative without the final ReLU");
}

#[test]
fn in_place_relu_leaves_outputs_and_gradients_unchanged() {
    use tch::nn::ModuleT;
    use vibi::nets::blocks::ResNet;
    let x0 = Tensor::randn([4, 1, 28, 28], (Kind::Float, Device::Cpu));
    let w = Tensor::randn([4, 1, 14, 14], (Kind::Float, Device::Cpu)); // one stride-2 block: 14×14
                                                                       // Headless (final ReLU, skip convs at the width changes) as the explainers. Both runs
                                                                       // copy one set of weights: re-seeding the global RNG per run would race other tests'
                                                                       // draws on parallel test threads.
    let reference = tch::nn::VarStore::new(Device::Cpu);
    let _ = ResNet::new(reference.root(), 1, &[8, 8, 16, 16], 1, true);
    let run = |inplace: bool| {
        let mut vs = tch::nn::VarStore::new(Device::Cpu);
        let net = ResNet::new(vs.root(), 1, &[8, 8, 16, 16], 1, true);
        vs.copy(&reference).unwrap();
        let net = if inplace { net } else { net.out_of_place() };
        let x = x0.copy().set_requires_grad(true);
        let out = net.forward_t(&x, true);
        (&out * &w).sum(Kind::Float).backward();
        let mut grads: Vec<(String, Tensor)> =
            vs.variables().into_iter().filter(|(_, v)| v.requires_grad()).map(|(n, v)| (n, v.grad())).collect();
        grads.sort_by(|a, b| a.0.cmp(&b.0));
        grads.push(("input".into(), x.grad()));
        (out.detach(), grads)
    };
    let (out_a, grads_a) = run(true);
    let (out_b, grads_b) = run(false);
    assert_eq!(max_abs(&(&out_a - &out_b)), 0.0, "forward");
    assert_eq!(grads_a.len(), grads_b.len());
    for ((n, a), (_, b)) in grads_a.iter().zip(&grads_b) {
        let d = max_abs(&(a - b));
        assert!(d <= 1e-6 * max_abs(b).max(1.0), "{n}: gradient differs by {d}");
    }
}
