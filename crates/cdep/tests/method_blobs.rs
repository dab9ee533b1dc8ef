//! ColorMNIST blob sampling: single-pixel one-hot masks drawn ∝ the probability map, never
//! from a pixel with probability 0; a bad map is an error.

use cdep::blobs::{cdf_of, sample_cdf, Blobs};
use rand::SeedableRng;
use tch::{Device, Kind, Tensor};

#[test]
fn pixel_blobs_follow_the_probability_map() {
    let probs = Tensor::zeros([4, 4], (Kind::Float, Device::Cpu));
    let _ = probs.get(1).get(2).fill_(3.0);
    let _ = probs.get(3).get(0).fill_(1.0);
    let cdf = cdf_of(&probs).unwrap();
    assert_eq!(sample_cdf(&cdf, 0.0), 6);
    assert_eq!(sample_cdf(&cdf, 0.74), 6);
    assert_eq!(sample_cdf(&cdf, 0.76), 12);
    let blobs = Blobs::Pixels { cdf, h: 4, w: 4, n: 2000 };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let m = blobs.draw(&mut rng, Device::Cpu);
    assert_eq!(m.size(), [2000, 4, 4]);
    let per_blob = m.sum_dim_intlist(&[1i64, 2][..], false, Kind::Float);
    assert!(per_blob.eq(1.0).all().int64_value(&[]) == 1, "one pixel per blob");
    let counts = m.sum_dim_intlist(0, false, Kind::Float);
    assert_eq!(counts.sum(Kind::Float).double_value(&[]), 2000.0);
    let hits = counts.double_value(&[1, 2]) + counts.double_value(&[3, 0]);
    assert_eq!(hits, 2000.0, "only pixels with probability > 0 are drawn");
    let share = counts.double_value(&[1, 2]) / 2000.0;
    assert!((share - 0.75).abs() < 0.05, "drawn ∝ probability: {share}");
    assert!(cdf_of(&Tensor::zeros([4, 4], (Kind::Float, Device::Cpu))).is_err());
    assert!(cdf_of(&(Tensor::ones([2, 2], (Kind::Float, Device::Cpu)) * -1.0)).is_err());
}
