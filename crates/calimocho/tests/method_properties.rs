//! Method properties (spec §13) on small synthetic inputs.

use calimocho::active::select_by_confidence;
use calimocho::experiments::data::{stratified_kfold, stratified_split};
use calimocho::fit::{default_batch_size, Start, Trainer};
use calimocho::lime::{explanation_vector, Lime};
use calimocho::losses::{explanation_loss, forward_with_robustness, label_loss};
use calimocho::measures::{dis, explanation_prf, pixel_relevance, sim};
use calimocho::senn::{glorot_bound, logit_of};
use calimocho::user::{correction, SimulatedUser};
use calimocho::{Lambdas, LimeParams, Senn, SennParams, Strategy};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};
use xai_core::data::toy_colors as tc;

const CPU: Device = Device::Cpu;

fn toy(n: usize, seed: u64) -> (Tensor, Tensor, Tensor) {
    let (img, lab) = tc::generate(n, seed);
    let y = 1 - lab.to_kind(Kind::Int64);
    let x = tc::encode(&img).unwrap();
    let z = tc::ground_truth(&x, &y, 0);
    (x, y, z)
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

#[test]
fn encoding_labels_and_ground_truth() {
    let (img, lab) = tc::generate(2000, 3);
    let x = tc::encode(&img).unwrap();
    assert!(x.sum_dim_intlist(1, false, Kind::Float).eq(26.0).all().int64_value(&[]) == 1);
    assert!(x.select(1, 100).eq(1.0).all().int64_value(&[]) == 1);
    let blocks = x.narrow(1, 0, 100).view([2000, 25, 4]).sum_dim_intlist(2, false, Kind::Float);
    assert!(blocks.eq(1.0).all().int64_value(&[]) == 1, "one slot per pixel");
    let y: Tensor = 1 - lab.to_kind(Kind::Int64);
    assert!(tc::rule0(&img).unwrap().equal(&y.eq(1)) && tc::rule1(&img).unwrap().equal(&y.eq(1)));
    for (rule, norm) in [(0, 4.0), (1, 3.0)] {
        let z = tc::ground_truth(&x, &y, rule);
        assert!(z.square().sum_dim_intlist(1, false, Kind::Float).eq(norm).all().int64_value(&[]) == 1);
        assert!((&z * (x.ones_like() - &x)).abs().sum(Kind::Float).double_value(&[]) == 0.0, "support on active slots");
    }
}

#[test]
fn senn_glorot_init_and_output_identity() {
    tch::manual_seed(0);
    let senn = Senn::new(&SennParams::with_widths(&[101, 101]), 101, CPU).unwrap();
    let bound = glorot_bound(101, 101);
    assert!((bound - 0.1723).abs() < 1e-4);
    assert_eq!(senn.depth(), 2);
    for l in 0..2 {
        let (w, b) = senn.layer(l);
        assert_eq!(w.size(), [101, 101]);
        assert_eq!(b.abs().max().double_value(&[]), 0.0, "zero bias");
        let m = w.abs().max().double_value(&[]);
        assert!(m <= bound && m > 0.9 * bound, "layer {l}: max |w| {m}");
        let sd = w.std(true).double_value(&[]);
        assert!((sd - bound / 3f64.sqrt()).abs() < 0.01, "uniform spread: std {sd}");
    }
    let (x, _, _) = toy(64, 1);
    let (w, f) = senn.forward(&x);
    assert_eq!(w.size(), [64, 101]);
    assert!(w.abs().lt(1.0).all().int64_value(&[]) == 1);
    let logit = (&f / (f.ones_like() - &f)).log();
    let diff = (logit - logit_of(&w, &x)).abs().max().double_value(&[]);
    assert!(diff < 1e-4, "logit = Σ w x: {diff}");
}

#[test]
fn robustness_gradient_matches_finite_differences() {
    tch::manual_seed(1);
    let senn = Senn::new(&SennParams::with_widths(&[101]), 101, CPU).unwrap();
    let (x, _, _) = toy(2, 2);
    let x = x.to_kind(Kind::Float);
    let xg = x.detach().set_requires_grad(true);
    let f = senn.forward(&xg).1;
    let g = Tensor::run_backward(&[f.sum(Kind::Float)], &[&xg], false, false).remove(0);
    let eps = 1e-2;
    for j in [0i64, 7, 55, 100] {
        let xp = x.copy();
        let _ = xp.narrow(1, j, 1).g_add_scalar_(eps);
        let xm = x.copy();
        let _ = xm.narrow(1, j, 1).g_add_scalar_(-eps);
        let fd = (senn.proba(&xp) - senn.proba(&xm)) / (2.0 * eps);
        let err = (fd - g.select(1, j)).abs().max().double_value(&[]);
        assert!(err < 1e-3, "∂f/∂x_{j}: {err}");
    }
    let (w, _, r) = forward_with_robustness(&senn, &x);
    let manual = (g - &w.detach()).square().sum(Kind::Float).double_value(&[]);
    assert!((r.double_value(&[]) - manual).abs() < 1e-4 * manual.max(1.0));
    senn.var_store().variables().values_mut().for_each(|t| t.zero_grad());
    let _ = senn.var_store().variables()["params"].grad().zero_();
    r.backward();
    let gsum: f64 =
        senn.var_store().trainable_variables().iter().map(|t| t.grad().abs().sum(Kind::Float).double_value(&[])).sum();
    assert!(gsum.is_finite() && gsum > 0.0);
}

#[test]
fn lambdas_and_params_validation() {
    assert!((Lambdas::new(0.1, 0.0).label() - 0.9).abs() < 1e-12);
    assert_eq!(Lambdas::new(1.0, 0.0).label(), 0.0);
    assert!((Lambdas::new(0.9, 0.1).label()).abs() < 1e-12);
    let e = Lambdas::new(0.8, 0.3).validate().unwrap_err().to_string();
    assert!(e.contains("lambda1 + lambda2") && e.contains("1.1"), "{e}");
    assert!(Lambdas::new(-0.1, 0.0).validate().unwrap_err().to_string().contains("lambda1"));
    assert!(Lambdas::new(0.0, -1.0).validate().unwrap_err().to_string().contains("lambda2"));
    let e = SennParams::with_widths(&[101, 50]).validate(101).unwrap_err().to_string();
    assert!(e.contains("widths") && e.contains("50") && e.contains("101"), "{e}");
    let e = calimocho::ActiveParams { n_corrected: 102, ..Default::default() }.validate(101).unwrap_err().to_string();
    assert!(e.contains("n_corrected") && e.contains("102"), "{e}");
    assert!(SennParams::default().validate(101).is_ok());
    assert_eq!("least-confident".parse::<Strategy>().unwrap(), Strategy::LeastConfident);
    assert!("uncertain".parse::<Strategy>().is_err());
}

#[test]
fn corrections_pick_the_largest_errors_never_the_bias() {
    let (x, y, z) = toy(16, 4);
    let _ = (x, y);
    tch::manual_seed(5);
    let w_hat = Tensor::rand([16, 101], (Kind::Float, CPU)) * 1.8 - 0.9;
    for c in [1usize, 2, 4, 100] {
        let corr = correction(&w_hat, &z, c, Some(100)).unwrap();
        assert!(corr.ne(0.0).sum_dim_intlist(1, false, Kind::Int64).eq(c as i64).all().int64_value(&[]) == 1);
        assert!(corr.select(1, 100).eq(0.0).all().int64_value(&[]) == 1, "bias never corrected");
        assert!(corr.abs().eq(0.0).logical_or(&corr.abs().eq(1.0)).all().int64_value(&[]) == 1);
        // Signs: sign(ŵ − z*) on the chosen entries.
        let s = (&w_hat - &z).sign();
        assert!((&corr * &s).ge(0.0).all().int64_value(&[]) == 1);
        if c < 100 {
            // Chosen errors ≥ every unchosen (non-bias) error.
            let d = (&z - &w_hat).abs().narrow(1, 0, 100);
            let m = corr.narrow(1, 0, 100).ne(0.0);
            let min_chosen = d.where_self(&m, &d.full_like(f64::INFINITY)).amin(&[1i64][..], false);
            let max_other = d.where_self(&m.logical_not(), &d.full_like(-1.0)).amax(&[1i64][..], false);
            assert!(min_chosen.ge_tensor(&max_other).all().int64_value(&[]) == 1);
        }
    }
    assert!(correction(&w_hat, &z, 101, Some(100)).is_err());
    // The user stores once; targets are −corr, or z* with full feedback.
    let mut user = SimulatedUser::new(&z, 1, Some(100)).unwrap();
    let c1 = user.query(3, &w_hat.get(3)).unwrap();
    let _ = user.query(3, &w_hat.get(4)).unwrap();
    let _ = c1;
    let known = Tensor::from_slice(&[0i64, 3]);
    let t = user.targets(&known);
    assert_eq!(t.get(0).abs().sum(Kind::Float).double_value(&[]), 0.0, "uncorrected examples have a 0 target");
    assert_eq!(t.get(1).abs().sum(Kind::Float).double_value(&[]), 1.0);
    let full = SimulatedUser::new(&z, 0, Some(100)).unwrap();
    assert!(full.targets(&known).equal(&z.index_select(0, &known)));
}

#[test]
fn fit_counts_steps_and_cold_start_restores_weights_bitwise() {
    let (x, y, z) = toy(300, 6);
    assert_eq!(default_batch_size(5), 2);
    assert_eq!(default_batch_size(305), 17);
    assert_eq!(default_batch_size(32000), 178);
    tch::manual_seed(7);
    let mut tr = Trainer::new(&SennParams::default(), 101, CPU, rng(7)).unwrap();
    let init: Vec<(String, Tensor)> = tr.senn.initial_parameters().iter().map(|(n, t)| (n.clone(), t.copy())).collect();
    let s = tr.fit(&x, &z, &y, 30, Start::Cold).unwrap();
    assert_eq!((s.steps, s.batch_size, tr.steps_taken()), (30, 17, 30));
    tr.fit(&x, &z, &y, 5, Start::Warm).unwrap();
    assert_eq!(tr.steps_taken(), 35);
    let vars = tr.senn.var_store().variables();
    assert!(init.iter().any(|(n, t)| !t.equal(&vars[n])), "training moved the weights");
    tr.fit(&x, &z, &y, 0, Start::Cold).unwrap();
    let vars = tr.senn.var_store().variables();
    assert!(init.iter().all(|(n, t)| t.equal(&vars[n])), "cold start restores the initial weights");
}

#[test]
fn label_only_fit_ignores_explanation_targets_and_losses_vanish_at_truth() {
    let (x, y, z) = toy(100, 8);
    let params = SennParams::default().lambdas(0.0, 0.0);
    let run = |zt: &Tensor| {
        tch::manual_seed(9);
        let mut tr = Trainer::new(&params, 101, CPU, rng(9)).unwrap();
        tr.fit(&x, zt, &y, 20, Start::Cold).unwrap();
        tr.senn.var_store().variables()
    };
    let (a, b) = (run(&z), run(&z.zeros_like()));
    assert!(a.iter().all(|(n, t)| t.equal(&b[n])));
    assert_eq!(explanation_loss(&z, &z).double_value(&[]), 0.0);
    let yf = y.to_kind(Kind::Float);
    assert!(label_loss(&(&yf * 0.999998 + 1e-6), &yf).double_value(&[]) < 1e-4);
}

#[test]
fn strategies_pick_most_and_least_confident_from_the_pool() {
    let f = Tensor::from_slice(&[0.5f32, 0.99, 0.45, 0.01, 0.7]);
    let all = Tensor::ones([5], (Kind::Bool, CPU));
    assert_eq!(select_by_confidence(Strategy::Margin, &f, &all).unwrap(), 1, "ties → lowest position");
    assert_eq!(select_by_confidence(Strategy::LeastConfident, &f, &all).unwrap(), 0);
    let pool = Tensor::from_slice(&[false, false, true, true, true]);
    assert_eq!(select_by_confidence(Strategy::Margin, &f, &pool).unwrap(), 3);
    assert_eq!(select_by_confidence(Strategy::LeastConfident, &f, &pool).unwrap(), 2);
    assert!(select_by_confidence(Strategy::Random, &f, &pool).is_err());
}

#[test]
fn lime_selects_the_pixels_the_black_box_uses() {
    let freq = vec![vec![0.25; 4]; 25];
    let params = LimeParams { samples: 400, features: 2, repeats: 3, ..LimeParams::default() };
    let lime = Lime::new(params, freq).unwrap();
    let instance: Vec<i64> = (0..25).map(|p| p % 4).collect();
    let mut r = rng(1);
    let s = lime.sample(&instance, &mut r);
    assert!(s.get(0).equal(&Tensor::from_slice(&instance)), "sample 0 is the instance");
    let (b, w) = lime.binary_and_weights(&s, &instance);
    assert!(b.get(0).eq(1.0).all().int64_value(&[]) == 1);
    assert!(w.gt(0.0).logical_and(&w.le(1.0)).all().int64_value(&[]) == 1);
    let (a, bb) = (6i64, 17i64);
    let inst = Tensor::from_slice(&instance).unsqueeze(0);
    let black_box = move |codes: &Tensor| {
        let keep = codes.eq_tensor(&inst).to_kind(Kind::Float);
        (keep.select(1, a) * 0.6 - keep.select(1, bb) * 0.3 + 0.3).to_kind(Kind::Float)
    };
    for e in lime.explain(&instance, &black_box, CPU, &mut r).unwrap() {
        let mut f = e.features.clone();
        f.sort();
        assert_eq!(f, vec![6, 17]);
        let v = explanation_vector(&e, &instance, 4, 101);
        assert_eq!(v[4 * 6 + 2], 1.0);
        assert_eq!(v[4 * 17 + 1], -1.0);
        assert_eq!(v[100], 1.0);
    }
}

#[test]
fn sim_dis_and_explanation_precision_by_hand() {
    let mut zl = vec![0.0; 101];
    zl[0] = 3.0;
    zl[10] = 2.0;
    zl[100] = 3.0;
    let mut w = vec![0.0; 101];
    w[10] = 0.9;
    w[50] = 0.8;
    w[100] = 0.7;
    // k = 3: top(z_lime) = {0, 100, 10}, top(w) = {10, 50, 100} → 2.
    assert_eq!(sim(&zl, &w), 2);
    let same = Tensor::from_slice(&[1.0f64, 0.0, 1.0]).view([1, 3]).repeat([3, 1]);
    assert_eq!(dis(&same), 0.0);
    // F = 2, pairwise disjoint supports → √(2F) = 2.
    let e = Tensor::from_slice(&[
        1.0f64, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0,
    ])
    .view([3, 6]);
    assert!((dis(&e) - 2.0).abs() < 1e-9);
    let (x, y, _) = toy(50, 11);
    for (rule, other) in [(0usize, 1usize), (1, 0)] {
        let z = tc::ground_truth(&x, &y, rule);
        let rel = pixel_relevance(&z, &x, 25, 4);
        let own = Vec::<f64>::try_from(explanation_prf(&rel, &tc::rule_pixel_mask(rule))).unwrap();
        assert_eq!(own, vec![1.0, 1.0, 1.0]);
        let cross = Vec::<f64>::try_from(explanation_prf(&rel, &tc::rule_pixel_mask(other))).unwrap();
        assert_eq!(cross, vec![0.0, 0.0, 0.0]);
    }
}

#[test]
fn folds_are_stratified_and_cover_everything() {
    let y: Vec<i64> = (0..1003).map(|i| (i % 3 == 0) as i64).collect();
    let folds = stratified_kfold(&y, 5, &mut rng(0));
    let mut all: Vec<i64> = folds.concat();
    all.sort();
    assert_eq!(all, (0..1003).collect::<Vec<_>>());
    let pos: Vec<usize> = folds.iter().map(|f| f.iter().filter(|&&i| y[i as usize] == 1).count()).collect();
    assert!(pos.iter().max().unwrap() - pos.iter().min().unwrap() <= 1, "{pos:?}");
    let sizes: Vec<usize> = folds.iter().map(|f| f.len()).collect();
    assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
    let (train, test) = stratified_split(&y, 0.2, &mut rng(1));
    assert_eq!(train.len() + test.len(), 1003);
    assert!((test.len() as f64 - 200.6).abs() <= 1.0);
}

#[test]
fn hand_written_gradient_equals_autograd() {
    let (x, y, z) = toy(200, 12);
    for (widths, l1) in [(vec![101i64], 0.0), (vec![101], 0.1), (vec![60, 101], 0.5), (vec![101, 101, 101], 1.0)] {
        let params = SennParams::with_widths(&widths).lambdas(l1, 0.0);
        let run = |autograd: bool| {
            tch::manual_seed(3);
            let mut tr = Trainer::new(&params, 101, CPU, rng(3)).unwrap();
            tr.autograd = autograd;
            let s = tr.fit(&x, &z, &y, 25, Start::Cold).unwrap();
            (s, tr.senn.var_store().variables()["params"].copy())
        };
        let ((sa, pa), (sb, pb)) = (run(true), run(false));
        let diff = (&pa - &pb).abs().max().double_value(&[]);
        assert!(diff < 1e-4, "{widths:?} λ1={l1}: parameters differ by {diff}");
        assert!((sa.total - sb.total).abs() < 1e-4 * sa.total.abs().max(1.0), "{sa:?} vs {sb:?}");
    }
}
