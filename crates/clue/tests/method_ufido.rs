//! Spec §5.3 VAEAC (per-feature masks, inpainting) on real LSAT rows and §16.13 U-FIDO:
//! L1w → ∞ keeps x0, L1w = 0 replaces the feature whose replacement lowers uncertainty.

use clue::blocks::Blocks;
use clue::clue::ProbsFn;
use clue::ufido::{ufido, UfidoParams};
use clue::vae::VaeSpec;
use clue::vaeac::Vaeac;
use tch::{Device, Kind, Tensor};

#[test]
fn vaeac_masks_per_feature_and_inpaints_valid_rows() {
    tch::set_num_threads(1);
    tch::manual_seed(0);
    let root = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets"));
    let data = xai_core::data::tabular::lsat::load(&root).expect("LSAT in datasets/");
    let blocks = Blocks::new(&data.schema.blocks()).unwrap();
    let mut vaeac = Vaeac::new(blocks, VaeSpec { width: 32, depth: 2, latent_dim: 4 }, Device::Cpu).unwrap();
    let mask = vaeac.top_mask(200, Device::Cpu);
    // The race block (dims 2..10) and the sex block (10..12) are masked as a whole.
    let race = mask.narrow(1, 2, 8);
    assert_eq!((race.max_dim(1, false).0 - race.min_dim(1, false).0).abs().max().double_value(&[]), 0.0);
    let frac = mask.mean(Kind::Float).double_value(&[]);
    assert!((0.3..0.7).contains(&frac), "mean masked fraction {frac} (E[r] = 0.5)");
    let x = data.train_x.narrow(0, 0, 1500);
    let hist = vaeac.fit(&x, 4, 128, 1e-3).unwrap();
    assert!(hist.last().unwrap() < &hist[0], "{hist:?}");
    let xt = data.test_x.narrow(0, 0, 50);
    let m = vaeac.top_mask(50, Device::Cpu);
    let filled = vaeac.inpaint(&xt, &m, false).unwrap();
    vaeac.blocks.validate_rows(&filled).unwrap();
    let observed_change = ((&filled - &xt) * (-&m + 1.0)).abs().max().double_value(&[]);
    assert_eq!(observed_change, 0.0, "observed entries kept");
}

#[test]
fn ufido_limits() {
    tch::manual_seed(1);
    // One-sample classifier, most uncertain at x_0 = 1; the filler puts 3 everywhere.
    let model = ProbsFn(|x: &Tensor| {
        let l = (x.select(1, 0) - 1.0) * 5.0;
        Tensor::stack(&[l.shallow_clone(), l.zeros_like()], 1).softmax(1, Kind::Float).unsqueeze(0)
    });
    let fill = |x: &Tensor, mask: &Tensor| -> clue::Result<Tensor> { Ok(x * (1.0 - mask) + mask * 3.0) };
    let x0 = Tensor::from_slice(&[1.0f32, 0.2, -0.4, 1.0, 0.0, 0.5]).reshape([2, 3]);
    let base = UfidoParams {
        weights: (1.0, 0.0, 0.0),
        iterations: 15,
        mask_samples: 8,
        mask_samples_late: 8,
        ..Default::default()
    };
    // L1w → ∞: nothing is replaced, x0 comes back unchanged.
    let out = ufido(&model, &fill, &x0, &UfidoParams { l1_weight: 1e6, ..base }).unwrap();
    assert_eq!(out.replaced.sum(Kind::Float).double_value(&[]), 0.0);
    assert_eq!((&out.x - &x0).abs().max().double_value(&[]), 0.0);
    // L1w = 0: feature 0 (the one that decides the uncertainty) is replaced in every row.
    let out = ufido(&model, &fill, &x0, &UfidoParams { l1_weight: 0.0, ..base }).unwrap();
    assert_eq!(out.replaced.select(1, 0).sum(Kind::Float).double_value(&[]), 2.0, "{:?}", out.keep_prob);
    assert!(ufido(&model, &fill, &x0, &UfidoParams { temperature: 0.0, ..base }).is_err());
}
