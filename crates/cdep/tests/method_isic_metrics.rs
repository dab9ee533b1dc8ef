//! Spec §9 property 21: head CD on precomputed features' `(β, γ)` equals CD through the
//! whole network; the F1 rule skips single-class thresholds; AUC equals a brute-force
//! pair count.

use cdep::cd::{CdOptions, Decomp, Layer, Sequential};
use cdep::metrics::{auc, f1_at, f1_max};
use cdep::nets;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

#[test]
fn head_cd_on_precomputed_parts_equals_whole_network_cd() {
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let extractor = nets::synth_extractor(&(vs.root() / "ext")).unwrap();
    let head = nets::mlp(&(vs.root() / "head"), &[512, 64, 2], 0.5);
    let mut layers = extractor.layers().to_vec();
    layers.extend(head.layers().iter().cloned());
    let whole = Sequential::new(layers);
    let x = Tensor::rand([4, 3, 28, 28], (Kind::Float, Device::Cpu));
    let m = Tensor::zeros([28, 28], (Kind::Float, Device::Cpu));
    let _ = m.narrow(0, 5, 9).narrow(1, 10, 9).fill_(1.0);
    for pool_before_relu in [false, true] {
        let opts = CdOptions { pool_before_relu, ..CdOptions::symmetric() };
        let feats = extractor.cd(&x, &m, &opts).unwrap();
        let via_features = head.cd_decomp(Decomp::new(feats.rel, feats.irrel), &opts).unwrap();
        let direct = whole.cd(&x, &m, &opts).unwrap();
        let err = (via_features.rel - direct.rel).abs().max().double_value(&[]);
        assert!(err < 1e-5, "head CD on precomputed parts differs by {err}");
    }
    assert!(matches!(head.layers()[2], Layer::Dropout { .. }));
}

#[test]
fn auc_equals_brute_force_pair_count() {
    let scores = [0.1, 0.4, 0.35, 0.8, 0.4, 0.9, 0.05];
    let labels = [0i64, 0, 1, 1, 1, 0, 0];
    let (mut wins, mut pairs) = (0.0, 0.0);
    for (i, &si) in scores.iter().enumerate() {
        for (j, &sj) in scores.iter().enumerate() {
            if labels[i] == 1 && labels[j] == 0 {
                pairs += 1.0;
                wins += if si > sj {
                    1.0
                } else if si == sj {
                    0.5
                } else {
                    0.0
                };
            }
        }
    }
    assert!((auc(&scores, &labels) - wins / pairs).abs() < 1e-12);
    assert!(auc(&[0.3, 0.4], &[1, 1]).is_nan(), "one class: undefined");
}

#[test]
fn f1_max_skips_thresholds_with_a_single_predicted_class() {
    // Every score ≥ 0.1 predicts all positive at t = 0.1 (F1 = 2/3 here): skipped.
    let scores = [0.15, 0.55, 0.65, 0.95];
    let labels = [0i64, 0, 1, 1];
    assert!(f1_at(&scores, &labels, 0.1) > 0.6);
    let best = f1_max(&scores, &labels);
    assert!((best - 1.0).abs() < 1e-12, "t = 0.6 separates perfectly: {best}");
    let only_low = [0.15, 0.25];
    assert!(f1_max(&only_low, &[0, 1]).is_finite(), "t = 0.2 splits them");
    assert!(f1_max(&[0.05, 0.05], &[0, 1]).is_nan(), "no qualifying threshold");
}
