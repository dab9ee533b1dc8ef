//! Spec §5.5 / §16.16: the MNIST ResNet VAE's shapes, its parameter count worked out by
//! hand from the layer list, PyTorch's initialisation, that fitting lowers the loss, that
//! CLUE's gradients pass through its decoder to z, and the save/load round trip.

use clue::clue::{Clue, LatentDecoder, ProbsFn};
use clue::mnist_vae::ResnetVae;
use clue::params::ClueParams;
use clue::vae_train::{fit, mean_elbo, TrainableVae, VaeTrainParams};
use tch::{Device, Kind, Tensor};

/// Parameters of ResBlock(c, ci): BN2d(c) 2c; 1×1 c→ci c·ci + ci; BN2d(ci) 2ci;
/// 3×3 ci→ci 9ci² + ci; BN2d(ci) 2ci; 1×1 ci→c ci·c + c  =  3c + 2c·ci + 6ci + 9ci².
const fn res_block(c: i64, ci: i64) -> i64 {
    3 * c + 2 * c * ci + 6 * ci + 9 * ci * ci
}

/// Spec §5.5 layer by layer for d_z = 20 (2d_z = 40).
fn expected_params() -> i64 {
    let (r32, r64, r128) = (res_block(32, 24), res_block(64, 48), res_block(128, 96));
    assert_eq!((r32, r64, r128), (6_960, 27_360, 108_480));
    let encoder = (32 + 32)              // Conv1×1 1→32
        + 2 * r32
        + (32 * 64 * 16 + 64)           // Conv4×4 32→64
        + 2 * r64
        + (64 * 128 * 16 + 128)         // Conv4×4 64→128
        + 2 * r128
        + (128 * 128 * 9 + 128)         // Conv3×3 128→128
        + 2 * 2048                      // BN1d(2048)
        + (2048 * 40 + 40)              // Linear 2048→40
        + 2 * 40 + (40 * 40 + 40); //      residual BN1d(40), Linear 40→40
    assert_eq!(encoder, 685_056);
    let decoder = (20 * 20 + 20) + 2 * 20 // residual Linear 20→20, BN1d(20)
        + (20 * 2048 + 2048)            // Linear 20→2048
        + 2 * 2048                      // BN1d(2048)
        + (128 * 128 * 9 + 128)         // ConvT3×3 128→128
        + 2 * r128
        + (128 * 64 * 16 + 64)          // ConvT4×4 128→64
        + 2 * r64
        + (64 * 32 * 16 + 32)           // ConvT4×4 64→32
        + 2 * r32
        + (32 + 1); //                     Conv1×1 32→1
    assert_eq!(decoder, 644_717);
    encoder + decoder
}

fn digits(n: i64) -> Tensor {
    let root = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets"));
    let (x, _) = xai_core::data::mnist::load_split(&root, false).expect("MNIST in datasets/");
    x.narrow(0, 0, n).flatten(1, -1)
}

#[test]
fn shapes_and_parameter_count_follow_the_spec() {
    tch::set_num_threads(1);
    tch::manual_seed(0);
    let vae = ResnetVae::new(20, Device::Cpu).unwrap();
    assert_eq!(xai_core::nn::param_count(&vae.vs), expected_params());
    assert_eq!(expected_params(), 1_329_773);
    let x = Tensor::rand([3, 784], (Kind::Float, Device::Cpu));
    let q = tch::no_grad(|| vae.encode_t(&x, false));
    assert_eq!(q.mu.size(), [3, 20]);
    assert!(q.sigma.min().double_value(&[]) >= 1e-3);
    let logits = tch::no_grad(|| vae.decode_logits_t(&q.mu, false));
    assert_eq!(logits.size(), [3, 784], "28×28 logits, flattened");
    let img = vae.regenerate(&q.mu).unwrap();
    assert!(img.min().double_value(&[]) >= 0.0 && img.max().double_value(&[]) <= 1.0);
    // Official names, so that a `state_dict` loads.
    let names = vae.vs.variables();
    for n in ["encoder.block.0.weight", "encoder.block.14.inner_net.2.weight", "decoder.block.6.net.5.weight"] {
        assert!(names.contains_key(n), "{n} missing");
    }
    // Bad input is an error, not a panic.
    let err = vae.encode_mean(&Tensor::rand([2, 28, 28], (Kind::Float, Device::Cpu))).unwrap_err().to_string();
    assert!(err.contains("[N, 784]"), "{err}");
    assert!(vae.regenerate(&Tensor::zeros([2, 7], (Kind::Float, Device::Cpu))).is_err());
    assert!(ResnetVae::new(0, Device::Cpu).is_err());
}

#[test]
fn initialisation_is_pytorchs() {
    tch::manual_seed(1);
    let vae = ResnetVae::new(20, Device::Cpu).unwrap();
    let v = vae.vs.variables();
    // (name, PyTorch's bound 1/√fan_in). ConvTranspose weights are [in, out, k, k]:
    // PyTorch's fan-in is out·k², not in·k² (tch's default would give √(6/fan_in)).
    let cases = [
        ("encoder.block.3.weight", 1.0 / (32.0f64 * 16.0).sqrt()),
        ("decoder.block.5.weight", 1.0 / (128.0f64 * 9.0).sqrt()),
        ("decoder.block.8.weight", 1.0 / (64.0f64 * 16.0).sqrt()),
        ("decoder.block.8.bias", 1.0 / (64.0f64 * 16.0).sqrt()),
        ("decoder.block.1.weight", 1.0 / 20.0f64.sqrt()),
    ];
    for (name, bound) in cases {
        let max = v[name].abs().max().double_value(&[]);
        assert!(max <= bound + 1e-7, "{name}: max {max} > PyTorch bound {bound}");
        assert!(max > 0.8 * bound, "{name}: max {max} far below {bound}");
    }
    let mut bn_weights = 0;
    for (name, t) in &v {
        if name.contains(".net.0.weight") || name.ends_with("block.12.weight") {
            assert_eq!(t.ne(1.0).sum(Kind::Int64).int64_value(&[]), 0, "{name}: BN weight starts at 1");
            bn_weights += 1;
        }
    }
    // 12 ResBlocks' first BN and the encoder's BN1d(2048).
    assert_eq!(bn_weights, 13);
}

#[test]
fn fitting_lowers_the_loss_on_a_tiny_batch() {
    tch::set_num_threads(1);
    tch::manual_seed(2);
    let mut vae = ResnetVae::new(4, Device::Cpu).unwrap();
    let x = digits(24);
    let before = mean_elbo(&vae, &x);
    let loss0 = tch::no_grad(|| vae.loss(&x)).double_value(&[]);
    let p = VaeTrainParams { epochs: 6, batch_size: 8, lr: 1e-3, patience: 0 };
    let f = fit(&mut vae, &x, &x, &p).unwrap();
    let losses: Vec<f64> = f.history.iter().map(|h| h.train_loss).collect();
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    assert!(losses[losses.len() - 1] < losses[0], "train loss did not fall: {losses:?}");
    assert!(f.best_val_elbo > before, "ELBO {before} → {}", f.best_val_elbo);
    assert!(loss0 > 0.0 && loss0.is_finite());
    assert!(fit(&mut vae, &x.view([24, 1, 28, 28]), &x, &p).is_err(), "non-flat images refused");
}

#[test]
fn clue_gradients_reach_z_through_the_decoder() {
    tch::set_num_threads(1);
    tch::manual_seed(3);
    let vae = ResnetVae::new(6, Device::Cpu).unwrap();
    let z = Tensor::randn([4, 6], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let x = vae.regenerate(&z).unwrap();
    let g = Tensor::run_backward(&[x.sum(Kind::Float)], &[&z], false, false).pop().unwrap();
    assert!(g.isfinite().all().int64_value(&[]) == 1 && g.abs().sum(Kind::Float).double_value(&[]) > 0.0);
    // A two-sample classifier on pixel mass: CLUE moves z (the decoder is the only path).
    let w = Tensor::randn([2, 784, 3], (Kind::Float, Device::Cpu)) * 0.05;
    let model = ProbsFn(move |x: &Tensor| x.unsqueeze(0).matmul(&w).softmax(2, Kind::Float));
    let x0 = digits(4);
    let params = ClueParams { lambda_x: 0.0, max_steps: 6, ..Default::default() };
    let out = Clue::new(params).unwrap().explain(&model, &vae, &x0).unwrap();
    let moved = (out.trajectory.z.get(6) - out.trajectory.z.get(0)).abs().max().double_value(&[]);
    assert!(moved > 1e-3, "z did not move: {moved}");
    assert_eq!(out.x_clue.size(), [4, 784]);
}

#[test]
fn save_load_round_trip_keeps_batchnorm_statistics() {
    tch::set_num_threads(1);
    tch::manual_seed(5);
    let mut vae = ResnetVae::new(3, Device::Cpu).unwrap();
    let x = digits(8);
    // One training-mode pass moves the BN running statistics away from their start.
    let _ = vae.loss(&x);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("vae.safetensors");
    vae.save(&p).unwrap();
    let mut back = ResnetVae::new(3, Device::Cpu).unwrap();
    back.load(&p).unwrap();
    assert_eq!(mean_elbo(&back, &x), mean_elbo(&vae, &x));
    assert_eq!(xai_core::nn::param_count(&back.vs), xai_core::nn::param_count(&vae.vs));
    let mut other = ResnetVae::new(5, Device::Cpu).unwrap();
    let err = other.load(&p).unwrap_err().to_string();
    assert!(err.contains("another architecture"), "{err}");
    vae.freeze();
    assert!(vae.var_store().trainable_variables().iter().all(|t| !t.requires_grad()));
}
