//! Spec §16.6–8: straight-through one-hot blocks, the gauss_cat log-likelihood, the
//! Gaussian KL; the tabular VAE's fitting on real LSAT rows, save/load and bad input.

use clue::blocks::Blocks;
use clue::vae::{gaussian_kl, TabularVae, VaeSpec};
use clue::vae_train::{fit, mean_elbo, VaeTrainParams};
use tch::{Device, Kind, Tensor};

const COMPAS: [usize; 7] = [3, 6, 2, 2, 2, 1, 1];

#[test]
fn block_offsets_cover_d() {
    let b = Blocks::new(&COMPAS).unwrap();
    assert_eq!(b.flat_dim(), 17);
    let spans: Vec<(usize, usize)> = b.spans().collect();
    assert_eq!(spans[0], (0, 3));
    assert_eq!(spans.last().unwrap().0 + spans.last().unwrap().1, 17);
    for w in spans.windows(2) {
        assert_eq!(w[0].0 + w[0].1, w[1].0, "contiguous");
    }
    assert!(Blocks::new(&[]).is_err());
    assert!(Blocks::new(&[2, 0]).is_err());
}

#[test]
fn straight_through_is_one_hot_with_softmax_gradient() {
    tch::manual_seed(0);
    let b = Blocks::new(&COMPAS).unwrap();
    let raw = Tensor::randn([20, 17], (Kind::Float, Device::Cpu)).set_requires_grad(true);
    let y = b.straight_through(&raw);
    for (o, w) in b.spans() {
        let blk = y.detach().narrow(1, o as i64, w as i64);
        if w > 1 {
            let sums = blk.sum_dim_intlist(1, false, Kind::Float);
            assert_eq!((sums - 1.0).abs().max().double_value(&[]), 0.0);
            assert_eq!(blk.eq(0.0).logical_or(&blk.eq(1.0)).all().int64_value(&[]), 1);
        } else {
            let r = raw.detach().narrow(1, o as i64, 1);
            assert_eq!((blk - r).abs().max().double_value(&[]), 0.0, "continuous dims raw");
        }
    }
    // Backward = softmax Jacobian product per block, identity on continuous dims.
    let w = Tensor::randn([20, 17], (Kind::Float, Device::Cpu));
    let g = Tensor::run_backward(&[(&y * &w).sum(Kind::Float)], &[&raw], false, false).pop().unwrap();
    let raw2 = raw.detach().set_requires_grad(true);
    let g2 = Tensor::run_backward(&[(b.soft(&raw2) * &w).sum(Kind::Float)], &[&raw2], false, false).pop().unwrap();
    assert!((g - g2).abs().max().double_value(&[]) < 1e-6);
}

#[test]
fn gauss_cat_log_lik_zero_at_exact_outputs() {
    let b = Blocks::new(&[1, 1, 8, 2]).unwrap();
    let x = Tensor::from_slice(&[0.3f32, -1.2, 0., 0., 0., 1., 0., 0., 0., 0., 0., 1.]).reshape([1, 12]);
    // Continuous dims exact, categorical logits near-deterministic (scaled one-hot).
    let cont = Tensor::from_slice(&[1f32, 1., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0.]);
    let out = &x * &cont + &x * (1.0 - &cont) * 100.0;
    let ll = b.gauss_cat_log_lik(&x, &out).double_value(&[0]);
    assert!(ll.abs() < 1e-6, "{ll}");
    // A wrong continuous value costs its square (no ½).
    let worse = &out + Tensor::from_slice(&[0.5f32, 0., 0., 0., 0., 0., 0., 0., 0., 0., 0., 0.]);
    assert!((b.gauss_cat_log_lik(&x, &worse).double_value(&[0]) + 0.25).abs() < 1e-6);
}

#[test]
fn gaussian_kl_matches_monte_carlo() {
    tch::manual_seed(1);
    let mu = Tensor::from_slice(&[0.5f64, -1.0, 0.2]).unsqueeze(0);
    let sigma = Tensor::from_slice(&[0.7f64, 1.3, 0.4]).unsqueeze(0);
    let kl = gaussian_kl(&mu, &sigma).double_value(&[0]);
    let z = &mu + &sigma * Tensor::randn([100_000, 3], (Kind::Double, Device::Cpu));
    let logq = (-((&z - &mu) / &sigma).square() / 2.0 - sigma.log()).sum_dim_intlist(1, false, Kind::Double);
    let logp = (-z.square() / 2.0).sum_dim_intlist(1, false, Kind::Double);
    let mc = (logq - logp).mean(Kind::Double).double_value(&[]);
    assert!((mc / kl - 1.0).abs() < 0.02, "MC {mc} vs closed form {kl}");
}

#[test]
fn bad_rows_are_clear_errors() {
    let b = Blocks::new(&[1, 1, 8, 2]).unwrap();
    let err = b.validate_rows(&Tensor::zeros([2, 11], (Kind::Float, Device::Cpu))).unwrap_err().to_string();
    assert!(err.contains("expected [N, 12]"), "{err}");
    let mut row = vec![0f32; 12];
    row[2] = 1.0;
    row[10] = 2.0; // sex block holds a value outside its categories
    let err = b.validate_rows(&Tensor::from_slice(&row).reshape([1, 12])).unwrap_err().to_string();
    assert!(err.contains("feature 3") && err.contains("not a one-hot"), "{err}");
}

#[test]
fn vae_fits_lsat_and_round_trips() {
    // Tiny models: one thread avoids OpenMP barrier stalls on a busy machine.
    tch::set_num_threads(1);
    tch::manual_seed(0);
    let root = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets"));
    let data = xai_core::data::tabular::lsat::load(&root).expect("LSAT in datasets/");
    let blocks = Blocks::new(&data.schema.blocks()).unwrap();
    let spec = VaeSpec { width: 32, depth: 2, latent_dim: 3 };
    let mut vae = TabularVae::new(blocks, spec, Device::Cpu).unwrap();
    let (xt, xv) = (data.train_x.narrow(0, 0, 1500), data.train_x.narrow(0, 1500, 300));
    let before = mean_elbo(&vae, &xv);
    let f = fit(&mut vae, &xt, &xv, &VaeTrainParams { epochs: 6, batch_size: 128, lr: 1e-3, patience: 0 }).unwrap();
    assert!(f.best_val_elbo > before, "ELBO {before} → {}", f.best_val_elbo);
    assert!((mean_elbo(&vae, &xv) - f.best_val_elbo).abs() < 1e-9, "best weights restored");
    // Regenerated rows are valid one-hot rows of the schema.
    let x = tch::no_grad(|| vae.regenerate(&vae.encode_mean(&data.test_x.narrow(0, 0, 50))));
    vae.blocks.validate_rows(&x).unwrap();
    // Save / load round trip (BN statistics included); another architecture is refused.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("vae.safetensors");
    vae.save(&p).unwrap();
    let mut back = TabularVae::new(vae.blocks.clone(), spec, Device::Cpu).unwrap();
    back.load(&p).unwrap();
    assert_eq!(mean_elbo(&back, &xv), mean_elbo(&vae, &xv));
    let mut other = TabularVae::new(vae.blocks.clone(), VaeSpec { width: 64, ..spec }, Device::Cpu).unwrap();
    let err = other.load(&p).unwrap_err().to_string();
    assert!(err.contains("another architecture"), "{err}");
}

#[test]
fn bernoulli_vae_decodes_into_unit_interval() {
    use clue::vae::Likelihood;
    tch::manual_seed(4);
    let spec = VaeSpec { width: 16, depth: 2, latent_dim: 3 };
    let vae = TabularVae::new(Blocks::continuous(20).unwrap(), spec, Device::Cpu)
        .unwrap()
        .with_likelihood(Likelihood::Bernoulli);
    let x = Tensor::rand([10, 20], (Kind::Float, Device::Cpu));
    let loss = vae.loss(&x).double_value(&[]);
    assert!(loss.is_finite() && loss > 0.0);
    let out = tch::no_grad(|| vae.regenerate(&(Tensor::randn([10, 3], (Kind::Float, Device::Cpu)) * 5.0)));
    assert!(out.min().double_value(&[]) >= 0.0 && out.max().double_value(&[]) <= 1.0);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("v.safetensors");
    vae.save(&p).unwrap();
    let mut gauss = TabularVae::new(Blocks::continuous(20).unwrap(), spec, Device::Cpu).unwrap();
    assert!(gauss.load(&p).unwrap_err().to_string().contains("likelihood"));
}
