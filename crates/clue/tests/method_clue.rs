//! Spec §16.10–12: CLUE with λ_x → ∞ stays at the original / reconstruction, with λ_x = 0
//! lowers uncertainty, the early-stopping index rule; the user-facing closure model.

use clue::blocks::Blocks;
use clue::bnn::{BnnSamples, Head, Mlp, MlpSpec};
use clue::clue::{Clue, EarlyStop, InputSpace, LatentDecoder, ProbsFn};
use clue::params::ClueParams;
use clue::vae::{TabularVae, VaeSpec};
use clue::Result;
use tch::{Device, Kind, Tensor};

/// libtorch's generator is global and the tests of one binary run in parallel: each test
/// holds this lock so its seeded draws are its own (otherwise the weights a test gets depend
/// on which other test drew first, and results vary from run to run).
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

fn random_bnn(spec: MlpSpec, s: usize, seed: i64) -> BnnSamples {
    tch::manual_seed(seed);
    let snaps: Vec<Vec<Tensor>> = (0..s)
        .map(|_| Mlp::new(spec, Device::Cpu).unwrap().snapshot().into_iter().map(|t| t * 3.0).collect())
        .collect();
    BnnSamples::from_snapshots(spec, &snaps).unwrap()
}

fn lsat_rows(n: i64) -> Tensor {
    let root = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets"));
    xai_core::data::tabular::lsat::load(&root).expect("LSAT in datasets/").test_x.narrow(0, 0, n)
}

fn reg_spec() -> MlpSpec {
    MlpSpec { input_dim: 12, width: 32, depth: 2, head: Head::Gaussian { outputs: 1 } }
}

#[test]
fn early_stop_index_rule() {
    let _rng = rng_lock();
    // Row 0 converges: |c[t−3] − c[t]| < 0.01·c0 first at t = 6 → returned index 4.
    // Row 1 keeps dropping by 1 per step: never converges → the last iterate.
    // Row 2 is flat from the start but cannot stop before t > min_steps (t = 4 → index 2).
    let seq = [
        [10.0, 100.0, 5.0],
        [8.0, 99.0, 5.0],
        [6.0, 98.0, 5.0],
        [5.0, 97.0, 5.0],
        [4.5, 96.0, 5.0],
        [4.1, 95.0, 5.0],
        [4.95, 94.0, 5.0],
        [4.9, 93.0, 5.0],
    ];
    let mut es = EarlyStop::new(3, 3, 3);
    for c in &seq {
        es.observe(c);
    }
    // Row 0: t=4: |c1 − c4| = 3.5; t=5: |6 − 4.1| = 1.9; t=6: |5 − 4.95| = 0.05 < 0.1 → stop 6.
    assert_eq!(es.stop_steps(), &[Some(6), None, Some(4)]);
    assert_eq!(es.returned_indices(8), vec![4, 8, 2]);
    // The absolute threshold 1e-3 applies when c0 ≤ 0.
    let mut es = EarlyStop::new(1, 3, 3);
    for c in [-1.0, -2.0, -2.5, -2.6, -2.6005, -2.6006] {
        es.observe(&[c]);
    }
    assert_eq!(es.stop_steps(), &[None]);
    es.observe(&[-2.6007]);
    assert_eq!(es.stop_steps(), &[Some(6)]);
}

#[test]
fn huge_lambda_stays_at_the_reconstruction() {
    let _rng = rng_lock();
    // Tiny models: one thread avoids OpenMP barrier stalls on a busy machine.
    tch::set_num_threads(1);
    tch::manual_seed(0);
    let x0 = lsat_rows(24);
    let mut vae = TabularVae::new(
        Blocks::new(&[1, 1, 8, 2]).unwrap(),
        VaeSpec { width: 32, depth: 2, latent_dim: 4 },
        Device::Cpu,
    )
    .unwrap();
    vae.freeze();
    let bnn = random_bnn(reg_spec(), 8, 1);
    let p = ClueParams { lambda_x: 1e6 * 12.0, lr: 0.01, max_steps: 30, ..Default::default() };
    let out = Clue::new(p).unwrap().explain(&bnn, &vae, &x0).unwrap();
    let recon = tch::no_grad(|| vae.regenerate(&vae.encode_mean(&x0)));
    let d_recon = (&recon - &x0).abs().sum_dim_intlist(1, false, Kind::Float);
    let slack = (&out.l1 - &d_recon - 1e-3).max().double_value(&[]);
    assert!(slack <= 0.0, "‖x_CLUE − x0‖₁ exceeds ‖recon − x0‖₁ + 1e-3 by {slack}");
}

/// Decoder x = A z with the exact encoder z = A⁻¹ x (recon(x0) = x0).
struct LinearToy {
    a: Tensor,
    a_inv: Tensor,
}

impl LatentDecoder for LinearToy {
    fn encode_mean(&self, x: &Tensor) -> Result<Tensor> {
        Ok(x.matmul(&self.a_inv.tr()))
    }
    fn regenerate(&self, z: &Tensor) -> Result<Tensor> {
        Ok(z.matmul(&self.a.tr()))
    }
}

#[test]
fn huge_lambda_with_exact_linear_vae_stays_at_x0() {
    tch::manual_seed(2);
    let d = 12;
    let a = Tensor::eye(d, (Kind::Float, Device::Cpu)) + Tensor::randn([d, d], (Kind::Float, Device::Cpu)) * 0.1;
    let toy = LinearToy { a_inv: a.inverse(), a };
    let x0 = lsat_rows(16);
    let bnn = random_bnn(reg_spec(), 8, 3);
    let lr = 0.01;
    let p = ClueParams { lambda_x: 1e6 * d as f64, lr, max_steps: 30, ..Default::default() };
    let out = Clue::new(p).unwrap().explain(&bnn, &toy, &x0).unwrap();
    let recon = toy.regenerate(&toy.encode_mean(&x0).unwrap()).unwrap();
    let dev = (&out.x_clue - &recon).abs().mean(Kind::Float).double_value(&[]);
    assert!(dev <= 2.0 * lr, "mean |x_CLUE − recon| = {dev}");
}

#[test]
fn zero_lambda_lowers_uncertainty() {
    let _rng = rng_lock();
    let x0 = lsat_rows(64);
    let bnn = random_bnn(reg_spec(), 10, 4);
    let p = ClueParams { lambda_x: 0.0, lr: 0.05, max_steps: 30, ..Default::default() };
    let out = Clue::new(p).unwrap().explain(&bnn, &InputSpace, &x0).unwrap();
    let (b, a) = (&out.before.total, &out.after.total);
    let mean_b = b.mean(Kind::Float).double_value(&[]);
    let mean_a = a.mean(Kind::Float).double_value(&[]);
    let frac = a.lt_tensor(b).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
    println!("σ_total {mean_b:.3} → {mean_a:.3}; {:.0}% of rows lower", 100.0 * frac);
    assert!(mean_a <= mean_b);
    assert!(frac >= 0.9, "{frac}");
}

#[test]
fn closure_model_and_restarts() {
    let _rng = rng_lock();
    // A user's own 2-member ensemble of linear classifiers as a probability function.
    tch::manual_seed(5);
    let w = Tensor::randn([2, 12, 3], (Kind::Float, Device::Cpu));
    let model = ProbsFn(move |x: &Tensor| x.unsqueeze(0).matmul(&w).softmax(2, Kind::Float));
    let x0 = lsat_rows(8);
    let clue = Clue::new(ClueParams { lambda_x: 0.5, max_steps: 20, ..Default::default() }).unwrap();
    let out = clue.explain(&model, &InputSpace, &x0).unwrap();
    assert_eq!(out.x_clue.size(), vec![8, 12]);
    assert_eq!(out.trajectory.cost.size(), vec![20, 8]);
    assert!(
        out.after.total.mean(Kind::Float).double_value(&[]) <= out.before.total.mean(Kind::Float).double_value(&[])
    );
    let many = clue.explain_restarts(&model, &InputSpace, &x0, 3, 0.15).unwrap();
    assert_eq!(many.len(), 3);
    let spread = (&many[0].z_clue - &many[1].z_clue).abs().max().double_value(&[]);
    assert!(spread > 0.0, "restarts differ");
}

#[test]
fn bad_params_are_errors() {
    let _rng = rng_lock();
    let bad = ClueParams { n_early_stop: 9, ..Default::default() };
    assert!(Clue::new(bad).unwrap_err().to_string().contains("clue.n_early_stop"));
    let bad = ClueParams { lambda_x: f64::NAN, ..Default::default() };
    assert!(Clue::new(bad).unwrap_err().to_string().contains("clue.lambda_x"));
    let clue = Clue::new(ClueParams::default()).unwrap();
    let bnn = random_bnn(reg_spec(), 2, 0);
    let vae = TabularVae::new(
        Blocks::new(&[1, 1, 8, 2]).unwrap(),
        VaeSpec { width: 8, depth: 1, latent_dim: 2 },
        Device::Cpu,
    )
    .unwrap();
    let err = clue.explain(&bnn, &vae, &Tensor::zeros([3, 10], (Kind::Float, Device::Cpu))).unwrap_err().to_string();
    assert!(err.contains("expected [N, 12]"), "{err}");
}

#[test]
fn initialisations_start_where_they_say() {
    use clue::params::ClueInit;
    let _rng = rng_lock();
    tch::set_num_threads(1);
    let bnn = random_bnn(reg_spec(), 4, 21);
    tch::manual_seed(22);
    let vae = TabularVae::new(
        Blocks::new(&[1, 1, 8, 2]).unwrap(),
        VaeSpec { width: 16, depth: 2, latent_dim: 3 },
        Device::Cpu,
    )
    .unwrap();
    let x0 = lsat_rows(400);
    let mu = LatentDecoder::encode_mean(&vae, &x0).unwrap();
    let start = |init: ClueInit| -> Tensor {
        let p = ClueParams { init, max_steps: 1, ..Default::default() };
        Clue::new(p).unwrap().explain(&bnn, &vae, &x0).unwrap().trajectory.z.get(0)
    };
    assert_eq!((start(ClueInit::EncoderMean) - &mu).abs().max().double_value(&[]), 0.0);
    assert_eq!(start(ClueInit::Zero).abs().max().double_value(&[]), 0.0);
    assert_eq!((start(ClueInit::Perturbed { std: 0.0 }) - &mu).abs().max().double_value(&[]), 0.0);
    // Noise of the stated size: the spread of z0 − μ over 400 × 3 draws.
    let noise = start(ClueInit::Perturbed { std: 0.15 }) - &mu;
    let sd = noise.std(true).double_value(&[]);
    assert!((sd - 0.15).abs() < 0.015 && noise.mean(Kind::Float).double_value(&[]).abs() < 0.02, "sd {sd}");
    // A prior draw ignores x0: standard normal, uncorrelated with μ.
    let prior = start(ClueInit::Prior);
    let (m, s) = (prior.mean(Kind::Float).double_value(&[]), prior.std(true).double_value(&[]));
    assert!(m.abs() < 0.1 && (s - 1.0).abs() < 0.08, "prior draw mean {m} sd {s}");
    let bad = ClueParams { init: ClueInit::Perturbed { std: -1.0 }, ..Default::default() };
    assert!(Clue::new(bad).unwrap_err().to_string().contains("clue.init_std"));
}

#[test]
fn batches_of_rows_give_the_whole_batchs_clues() {
    let _rng = rng_lock();
    tch::set_num_threads(1);
    let bnn = random_bnn(reg_spec(), 4, 31);
    tch::manual_seed(32);
    let spec = VaeSpec { width: 16, depth: 2, latent_dim: 3 };
    let vae = TabularVae::new(Blocks::new(&[1, 1, 8, 2]).unwrap(), spec, Device::Cpu).unwrap();
    let x0 = lsat_rows(23);
    let clue = Clue::new(ClueParams { lambda_x: 0.5, max_steps: 12, ..Default::default() }).unwrap();
    let whole = clue.explain(&bnn, &vae, &x0).unwrap();
    let parts = clue.explain_in_batches(&bnn, &vae, &x0, 5).unwrap();
    let close = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]) < 1e-5;
    assert!(close(&whole.x_clue, &parts.x_clue) && close(&whole.z_clue, &parts.z_clue));
    assert!(close(&whole.after.total, &parts.after.total) && close(&whole.l1, &parts.l1));
    assert!(close(&whole.trajectory.cost, &parts.trajectory.cost));
    assert_eq!(parts.trajectory.x.size(), [13, 23, 12]);
    assert_eq!(whole.returned, parts.returned);
    assert_eq!(whole.stop_steps, parts.stop_steps);
}
