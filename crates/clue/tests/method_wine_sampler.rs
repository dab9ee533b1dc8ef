//! Spec §8.3 (the official `sig` option): Wine's artificial data are drawn from the
//! learned-variance ground truth's N(μ, σ²), x and the regression target alike. One test in
//! its own binary: it seeds libtorch's global generator and draws from it throughout, which a
//! test running in parallel would disturb.

use clue::artificial::{fit_under_vae, join, joint_blocks, Conditional, GroundTruth, Target};
use clue::blocks::Blocks;
use clue::vae::{TabularVae, VaeSpec};
use clue::vaeac::{Vaeac, VaeacLikelihood};
use tch::{Device, Kind, Tensor};

#[test]
fn wine_samples_follow_the_learned_gaussian() {
    tch::set_num_threads(1);
    tch::manual_seed(0);
    let root = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets"));
    let data = xai_core::data::tabular::wine::load(&root, Default::default()).expect("Wine in datasets/");
    let x_blocks = Blocks::continuous(11).unwrap();
    let joint = join(&data.train_x, &data.train_y, Target::Regression);
    let spec = VaeSpec { width: 32, depth: 2, latent_dim: 6 };
    let mut vaeac = Vaeac::with_likelihood(
        joint_blocks(&x_blocks, Target::Regression).unwrap(),
        spec,
        VaeacLikelihood::LearnedGaussian,
        Device::Cpu,
    )
    .unwrap();
    vaeac.fit(&joint, 25, 64, 3e-3).unwrap();
    vaeac.vs.freeze();
    let mut under =
        TabularVae::new(Blocks::continuous(6).unwrap(), VaeSpec { width: 16, depth: 2, latent_dim: 4 }, Device::Cpu)
            .unwrap();
    fit_under_vae(&vaeac, &mut under, &joint, 5, 128, 3e-3).unwrap();
    under.freeze();
    let gt = GroundTruth::new(x_blocks, Target::Regression, vaeac, under).unwrap();

    // x for fixed codes: per dim, the mean and variance of many draws are the generator's μ, σ².
    let n = 20_000;
    let codes = tch::no_grad(|| gt.vaeac.recognition_t(&joint.narrow(0, 0, 3), false).mu);
    for c in 0..3 {
        let z = codes.narrow(0, c, 1).expand([n, 6], false).contiguous();
        let xs = gt.sample_x(&z).unwrap();
        assert_eq!(xs.size(), vec![n, 11]);
        let g = gt.vaeac.generate(&codes.narrow(0, c, 1));
        let (mu, var) =
            (g.mean.narrow(1, 0, 11).squeeze_dim(0), g.sigma.unwrap().narrow(1, 0, 11).square().squeeze_dim(0));
        let var_hat = xs.var_dim(0, true, false);
        let rel = ((&var_hat - &var).abs() / &var).max().double_value(&[]);
        assert!(rel < 0.06, "code {c}: draw variances {var_hat:?} vs σ² {var:?}");
        let z_mean = ((xs.mean_dim(0, false, Kind::Float) - &mu).abs() / var.sqrt()).max().double_value(&[]);
        assert!(z_mean < 0.05, "code {c}: draw means off by {z_mean} σ");
        // The check can tell N(μ, σ²) from N(μ, 1): some σ² are far from 1.
        assert!((var - 1.0).abs().max().double_value(&[]) > 0.3, "code {c}: σ² all near 1");
    }

    // y for a fixed x: the draws' variance is the conditional's σ_total² = mean σ_y² + var μ_y
    // over prior codes (spec §4), not 1 + var μ_y.
    let x0 = data.test_x.narrow(0, 0, 1);
    let c = gt.conditional(&x0, n).unwrap();
    let expected = c.uncertainty().double_value(&[0]).powi(2);
    let Conditional::Regression { mu, sigma } = &c else { panic!("Wine's conditional is a regression") };
    let var_mu = mu.var(true).double_value(&[]);
    let mean_s2 = sigma.square().mean(Kind::Float).double_value(&[]);
    assert!((mean_s2 - 1.0).abs() > 0.15, "σ_y² {mean_s2} too close to 1 for the check to bite");
    let ys = gt.sample_y(&x0.expand([n, 11], false).contiguous()).unwrap();
    assert_eq!(ys.size(), vec![n]);
    let var_y = ys.var(true).double_value(&[]);
    assert!(
        (var_y / expected - 1.0).abs() < 0.06,
        "var y {var_y} vs σ_total² {expected} (σ_y² {mean_s2}, var μ {var_mu})"
    );

    // End to end: rows of the right shape, finite, spread like the standardised data.
    let (xs, ys) = gt.sample(3000).unwrap();
    assert_eq!((xs.size(), ys.size()), (vec![3000, 11], vec![3000]));
    assert!(xs.isfinite().all().int64_value(&[]) == 1 && ys.isfinite().all().int64_value(&[]) == 1);
    let sd = xs.std_dim(0, true, false);
    assert!(sd.min().double_value(&[]) > 0.2 && sd.max().double_value(&[]) < 3.0, "{sd:?}");
    // Bad codes are errors.
    assert!(gt.sample_x(&Tensor::zeros([4, 5], (Kind::Float, Device::Cpu))).is_err());
}
