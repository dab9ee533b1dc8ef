//! Properties of label-free example importance (spec §8, items 9–15).

use lfxai::examples::{
    dknn_scores, hessian_vector_products, influence_ihvps, influence_ihvps_shared, lissa, per_example_gradients,
    simplex_weights, tracin_scores,
};
use lfxai::nets::{count, named_trainable, Autoencoder, LstmAutoencoder, MnistAutoencoder};
use lfxai::{LissaParams, SimplexParams};
use tch::{Device, Kind, Tensor};

const D: (Kind, Device) = (Kind::Double, Device::Cpu);

/// libtorch's generator is global and the tests of one binary run in parallel: each test
/// holds this lock so its seeded draws are its own and every run sees the same values
/// (with interleaved draws the finite-difference check could land on a ReLU kink).
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

fn max_abs(t: &Tensor) -> f64 {
    t.abs().max().double_value(&[])
}

#[test]
fn simplex_weights_are_a_simplex_and_batch_independent() {
    let _rng = rng_lock();
    tch::manual_seed(0);
    let (h, corpus) = (Tensor::randn([60, 4], D), Tensor::randn([30, 4], D));
    let p = SimplexParams::default();
    let w = simplex_weights(&h, &corpus, &p).unwrap();
    assert!(w.min().double_value(&[]) >= 0.0);
    assert!(max_abs(&(w.sum_dim_intlist(1, false, Kind::Double) - 1.0)) < 1e-6);
    // The reference fits 50 rows at a time; rows are independent.
    let parts = Tensor::cat(
        &[
            simplex_weights(&h.narrow(0, 0, 50), &corpus, &p).unwrap(),
            simplex_weights(&h.narrow(0, 50, 10), &corpus, &p).unwrap(),
        ],
        0,
    );
    assert!(max_abs(&(&w - parts)) < 1e-6);
    // Adam step bound: every |logit| ≤ 3.2, so w_max / w_min ≤ e^6.4.
    let ratio = (w.amax(&[1i64][..], false) / w.amin(&[1i64][..], false)).max().double_value(&[]);
    assert!(ratio <= 6.4f64.exp() + 1e-6, "{ratio}");
    // Fitted longer, a test latent equal to a corpus member picks it out.
    let long = SimplexParams { steps: 5000, lr: 0.1 };
    let w = simplex_weights(&corpus.narrow(0, 7, 1), &corpus, &long).unwrap();
    assert_eq!(w.argmax(1, false).int64_value(&[0]), 7);
    let resid = |w: &Tensor| (w.matmul(&corpus) - corpus.narrow(0, 7, 1)).square().sum(Kind::Double).double_value(&[]);
    let short = simplex_weights(&corpus.narrow(0, 7, 1), &corpus, &SimplexParams { steps: 100, lr: 0.1 }).unwrap();
    assert!(resid(&w) < resid(&short));
}

#[test]
fn dknn_matches_brute_force_and_scales() {
    let _rng = rng_lock();
    tch::manual_seed(1);
    let (h, corpus) = (Tensor::randn([5, 3], D), Tensor::randn([40, 3], D));
    let s = dknn_scores(&h, &corpus).unwrap();
    for t in 0..5 {
        let mut d: Vec<(f64, i64)> =
            (0..40).map(|n| ((h.get(t) - corpus.get(n)).square().sum(Kind::Double).double_value(&[]), n)).collect();
        d.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap());
        let top: Vec<i64> = Vec::try_from(s.get(t).argsort(0, true).narrow(0, 0, 5)).unwrap();
        assert_eq!(top, d.iter().take(5).map(|x| x.1).collect::<Vec<_>>());
    }
    let scaled = dknn_scores(&(&h * 3.0), &(&corpus * 3.0)).unwrap();
    assert!(max_abs(&(&scaled * 9.0 - &s)) < 1e-9 * max_abs(&s));
    let (q, _) = Tensor::linalg_qr(&Tensor::randn([3, 3], D), "reduced");
    let rotated = dknn_scores(&h.matmul(&q), &corpus.matmul(&q)).unwrap();
    assert!(max_abs(&(rotated - &s)) < 1e-9 * max_abs(&s));
}

fn quadratic() -> (Tensor, Tensor, Tensor) {
    tch::manual_seed(2);
    let m = Tensor::randn([6, 6], D);
    let a = m.matmul(&m.tr()) / 6.0 + Tensor::eye(6, D) * 0.1; // PSD, ‖A‖ ≪ σ
    let c = Tensor::randn([6], D);
    let theta = Tensor::randn([6], D).set_requires_grad(true);
    (a, c, theta)
}

#[test]
fn hvp_of_a_quadratic_is_exact() {
    let _rng = rng_lock();
    let (a, c, theta) = quadratic();
    let loss = |_: &Tensor| 0.5 * theta.dot(&a.mv(&theta)) + c.dot(&theta);
    let vs = Tensor::randn([3, 6], D);
    let hv = hessian_vector_products(&loss, &[theta.shallow_clone()], &Tensor::zeros([1], D), &vs).unwrap();
    assert!(max_abs(&(hv - vs.matmul(&a))) < 1e-12);
}

#[test]
fn lissa_converges_to_the_damped_inverse() {
    let _rng = rng_lock();
    let (a, _c, _) = quadratic();
    let g = Tensor::randn([6], D);
    let p = LissaParams { depth: 3_000, damp: 1e-3, scale: 10.0, n_train: 7 };
    let v = lissa(&g, |_, v| Ok(a.mv(v)), &p).unwrap();
    let want = (&a + Tensor::eye(6, D) * (p.damp * p.scale)).inverse().mv(&g) / 7.0;
    assert!(max_abs(&(&v - &want)) <= 1e-3 * max_abs(&want), "{:?}", (v, want));
    let v0 = lissa(&g, |_, v| Ok(a.mv(v)), &LissaParams { depth: 0, ..p }).unwrap();
    assert!(max_abs(&(v0 - &g / (p.scale * 7.0))) < 1e-15);
    // The shared-batch variant equals the per-example one when the Hessian does not depend on the batch.
    let theta = Tensor::zeros([6], D).set_requires_grad(true);
    let loss = |_: &Tensor| 0.5 * theta.dot(&a.mv(&theta));
    let grads = Tensor::randn([3, 6], D);
    let p = LissaParams { depth: 20, damp: 1e-3, scale: 10.0, n_train: 3 };
    let dummy = Tensor::zeros([1], D);
    let per = influence_ihvps(&loss, &[theta.shallow_clone()], &grads, |_, _| dummy.shallow_clone(), &p).unwrap();
    let shared =
        influence_ihvps_shared(&loss, &[theta.shallow_clone()], &grads, |_| dummy.shallow_clone(), &p).unwrap();
    assert!(max_abs(&(per - shared)) < 1e-12);
}

fn tiny_ae() -> (MnistAutoencoder, Tensor) {
    tch::manual_seed(3);
    let mut ae = MnistAutoencoder::new(Device::Cpu, 4).unwrap();
    ae.set_kind(Kind::Double);
    (ae, Tensor::rand([4, 1, 28, 28], D))
}

#[test]
fn mnist_hvp_matches_finite_differences() {
    let _rng = rng_lock();
    let (ae, x) = tiny_ae();
    let params = ae.encoder_params();
    let loss = |b: &Tensor| ae.mse(b, b, false);
    let v = Tensor::randn([count(&params)], D);
    let hv = hessian_vector_products(&loss, &params, &x, &v.unsqueeze(0)).unwrap().squeeze_dim(0);
    let eps = 1e-5;
    let batch_grad = |sign: f64| {
        let mut offset = 0;
        tch::no_grad(|| {
            for p in &params {
                let n = p.numel() as i64;
                let _ = p.shallow_clone().g_add_(&(v.narrow(0, offset, n).view(p.size().as_slice()) * (sign * eps)));
                offset += n;
            }
        });
        let g = lfxai::examples::flat_gradient(&loss(&x), &params, false).unwrap();
        let mut offset = 0;
        tch::no_grad(|| {
            for p in &params {
                let n = p.numel() as i64;
                let _ = p.shallow_clone().g_sub_(&(v.narrow(0, offset, n).view(p.size().as_slice()) * (sign * eps)));
                offset += n;
            }
        });
        g
    };
    let fd = (batch_grad(1.0) - batch_grad(-1.0)) / (2.0 * eps);
    let rel = max_abs(&(&fd - &hv)) / max_abs(&hv);
    assert!(rel < 1e-2, "relative deviation {rel}");
}

#[test]
fn tracin_is_a_gradient_dot_product() {
    let _rng = rng_lock();
    let (ae, x) = tiny_ae();
    let params = ae.encoder_params();
    let loss = |b: &Tensor| ae.mse(b, b, false);
    let g = per_example_gradients(&loss, &params, &x).unwrap();
    let one = tracin_scores(&[(g.shallow_clone(), g.shallow_clone())]).unwrap();
    for i in 0..4 {
        for j in 0..4 {
            let dot = g.get(i).dot(&g.get(j)).double_value(&[]);
            assert!((one.double_value(&[i, j]) - dot).abs() < 1e-12);
        }
    }
    assert!(max_abs(&(&one - one.tr())) < 1e-15);
    assert!(one.diagonal(0, 0, 1).min().double_value(&[]) >= 0.0);
    let two = tracin_scores(&[(g.shallow_clone(), g.shallow_clone()), (g.shallow_clone(), g.shallow_clone())]).unwrap();
    assert!(max_abs(&(two - &one * 2.0)) < 1e-12);
}

#[test]
fn parameter_counts_and_encoder_only_gradients() {
    let _rng = rng_lock();
    let ae = MnistAutoencoder::new(Device::Cpu, 4).unwrap();
    let enc = named_trainable(&ae.vs, "encoder");
    let dec = named_trainable(&ae.vs, "decoder");
    assert_eq!(enc.iter().map(|(_, t)| t.numel() as i64).sum::<i64>(), 43_428);
    assert_eq!(dec.iter().map(|(_, t)| t.numel() as i64).sum::<i64>(), 43_697);
    assert!(enc.iter().all(|(n, _)| n.starts_with("encoder.")));
    assert_eq!(count(&ae.encoder_params()), 43_428);
    let lstm = LstmAutoencoder::new(Device::Cpu, 64).unwrap();
    assert_eq!(count(&lstm.theta_r()), 116_736);
    assert_eq!(named_trainable(&lstm.vs, "decoder").iter().map(|(_, t)| t.numel() as i64).sum::<i64>(), 132_737);
    let small = LstmAutoencoder::new(Device::Cpu, 4).unwrap();
    let s = Tensor::randn([3, 140, 1], (Kind::Float, Device::Cpu));
    assert_eq!(small.latent(&s, false).size(), [3, 4]);
    assert_eq!(small.decode(&small.encode(&s), 140).size(), [3, 140, 1]);
    let x = Tensor::rand([2, 1, 28, 28], (Kind::Float, Device::Cpu));
    assert_eq!(ae.encode(&x, false).size(), [2, 4]);
    assert_eq!(ae.reconstruct(&x, false).size(), [2, 1, 28, 28]);
}

#[test]
fn bad_inputs_are_clear_errors() {
    let _rng = rng_lock();
    let corpus = Tensor::zeros([0, 4], D);
    let h = Tensor::zeros([2, 4], D);
    let e = dknn_scores(&h, &corpus).unwrap_err().to_string();
    assert!(e.contains("candidate subset"), "{e}");
    let e = simplex_weights(&h, &corpus, &SimplexParams::default()).unwrap_err().to_string();
    assert!(e.contains("candidate subset"), "{e}");
    let e = dknn_scores(&Tensor::zeros([2, 3], D), &Tensor::zeros([5, 4], D)).unwrap_err().to_string();
    assert!(e.contains("does not match"), "{e}");
    let e = LissaParams { n_train: 0, ..Default::default() }.validate().unwrap_err().to_string();
    assert!(e.contains("empty"), "{e}");
    // A checkpoint of another latent size.
    let small = MnistAutoencoder::new(Device::Cpu, 4).unwrap();
    let mut big = MnistAutoencoder::new(Device::Cpu, 8).unwrap();
    let e = big.load_state(small.state()).unwrap_err().to_string();
    assert!(e.contains("latent dimension"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let e = big.load_file(&dir.path().join("none.safetensors")).unwrap_err().to_string();
    assert!(e.contains("no such file"), "{e}");
}
