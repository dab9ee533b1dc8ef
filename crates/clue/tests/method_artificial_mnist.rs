//! Spec §5.2 / §5.5 / §8 on MNIST: the Bernoulli VAEAC's log-likelihood against a
//! hand-computed BCE and its checkpoint tag, and the MNIST ground truth (784 pixels ⊕ 10
//! label dims) on real test digits: grey-level samples in [0, 1] with labels in 0..10,
//! conditional probabilities that sum to 1, and a log p_gt that prefers the digit its
//! generator was pushed to emit. Draws from the global RNG are checked by bounds only.

use clue::artificial::{joint_blocks, Conditional, GroundTruth, Target};
use clue::blocks::Blocks;
use clue::vae::{TabularVae, VaeSpec};
use clue::vaeac::{Vaeac, VaeacLikelihood};
use tch::{Device, Kind, Tensor};

fn digits(n: i64) -> (Tensor, Tensor) {
    let root = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets"));
    let (x, y) = xai_core::data::mnist::load_split(&root, false).expect("MNIST in datasets/");
    (x.narrow(0, 0, n).flatten(1, -1).to_kind(Kind::Float), y.narrow(0, 0, n))
}

const SPEC: VaeSpec = VaeSpec { width: 32, depth: 2, latent_dim: 4 };

fn mnist_ground_truth() -> GroundTruth {
    let x_blocks = Blocks::continuous(784).unwrap();
    let target = Target::Classes(10);
    let vaeac =
        Vaeac::with_likelihood(joint_blocks(&x_blocks, target).unwrap(), SPEC, VaeacLikelihood::Bernoulli, Device::Cpu)
            .unwrap();
    let under =
        TabularVae::new(Blocks::continuous(SPEC.latent_dim).unwrap(), VaeSpec { latent_dim: 3, ..SPEC }, Device::Cpu)
            .unwrap();
    GroundTruth::new(x_blocks, target, vaeac, under).unwrap()
}

/// Zeroes the generator's last layer and sets its bias: every code then emits `logits`.
fn pin_generator_output(gt: &GroundTruth, logits: &Tensor) {
    tch::no_grad(|| {
        for (name, mut v) in gt.vaeac.vs.variables() {
            if name == "generator.block.4.weight" {
                let _ = v.zero_();
            }
            if name == "generator.block.4.bias" {
                v.copy_(logits);
            }
        }
    });
}

#[test]
fn bernoulli_log_lik_is_the_hand_bce_and_the_checkpoint_says_so() {
    tch::manual_seed(0);
    let blocks = Blocks::new(&[1, 1, 1, 2]).unwrap();
    let vaeac = Vaeac::with_likelihood(blocks.clone(), SPEC, VaeacLikelihood::Bernoulli, Device::Cpu).unwrap();
    // Grey levels and a one-hot label block, each dim its own Bernoulli.
    let x = [0.2f64, 1.0, 0.0, 0.0, 1.0];
    let out = [0.5f64, -1.0, 2.0, 0.3, -0.7];
    let sig = |l: f64| 1.0 / (1.0 + (-l).exp());
    let hand: f64 = x.iter().zip(&out).map(|(&x, &l)| x * sig(l).ln() + (1.0 - x) * (1.0 - sig(l)).ln()).sum();
    let xt = Tensor::from_slice(&x).to_kind(Kind::Float).view([1, 5]);
    let ot = Tensor::from_slice(&out).to_kind(Kind::Float).view([1, 5]);
    let got = vaeac.log_lik(&xt, &ot).double_value(&[0]);
    assert!((got - hand).abs() < 1e-5, "{got} vs {hand}");
    // Not the gauss_cat pseudo-likelihood of the same numbers.
    let gc = blocks.gauss_cat_log_lik(&xt, &ot).double_value(&[0]);
    assert!((gc - hand).abs() > 0.1);
    // The generator emits D logits (not 2D) and the file records the variant.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.safetensors");
    vaeac.save(&path).unwrap();
    let file: std::collections::HashMap<String, Tensor> =
        xai_core::checkpoint::load_tensors(&path).unwrap().into_iter().collect();
    assert_eq!(file["likelihood"].int64_value(&[0]), 2);
    assert_eq!(file["generator.block.4.bias"].size(), vec![5]);
    let mut gauss_cat = Vaeac::new(blocks.clone(), SPEC, Device::Cpu).unwrap();
    let err = gauss_cat.load(&path).unwrap_err().to_string();
    assert!(err.contains("Bernoulli"), "{err}");
    let mut same = Vaeac::with_likelihood(blocks, SPEC, VaeacLikelihood::Bernoulli, Device::Cpu).unwrap();
    same.load(&path).unwrap();
}

#[test]
fn inpainted_pixels_are_probabilities() {
    tch::manual_seed(1);
    let vaeac = Vaeac::with_likelihood(Blocks::continuous(784).unwrap(), SPEC, VaeacLikelihood::Bernoulli, Device::Cpu)
        .unwrap();
    let (x, _) = digits(8);
    let mask = Tensor::ones_like(&x);
    let filled = vaeac.inpaint(&x, &mask, false).unwrap();
    assert!(filled.min().double_value(&[]) > 0.0 && filled.max().double_value(&[]) < 1.0);
    // Grey levels, not 0/1: sigmoid of raw logits of an untrained generator.
    assert!(filled.ne(0.0).logical_and(&filled.ne(1.0)).all().int64_value(&[]) == 1);
}

#[test]
fn artificial_digits_are_grey_levels_with_labels_in_range() {
    tch::manual_seed(2);
    let gt = mnist_ground_truth();
    let (x, y) = gt.sample(64).unwrap();
    assert_eq!(x.size(), vec![64, 784]);
    assert!(x.min().double_value(&[]) >= 0.0 && x.max().double_value(&[]) <= 1.0);
    // sigmoid(logits), not N(0, 1) noise or a binarisation: strictly inside (0, 1).
    assert!(x.gt(0.0).logical_and(&x.lt(1.0)).all().int64_value(&[]) == 1);
    assert_eq!(y.kind(), Kind::Int64);
    assert!(y.min().int64_value(&[]) >= 0 && y.max().int64_value(&[]) < 10);
    // Labels are the argmax of one prior code's softmax(y logits): with every code giving the
    // same logits (generator weights zeroed) every label is that argmax.
    let mut b = vec![0f32; 794];
    b[784 + 7] = 1.0;
    b[784 + 3] = 0.5;
    pin_generator_output(&gt, &Tensor::from_slice(&b));
    let (_, y) = gt.sample(32).unwrap();
    assert!(y.eq(7).all().int64_value(&[]) == 1, "{y:?}");
}

#[test]
fn conditional_probabilities_sum_to_one() {
    tch::manual_seed(3);
    let gt = mnist_ground_truth();
    let (x, _) = digits(20);
    match gt.conditional(&x, 7).unwrap() {
        Conditional::Classes(p) => {
            assert_eq!(p.size(), vec![7, 20, 10]);
            let s = p.sum_dim_intlist(2, false, Kind::Float);
            assert!((s - 1.0).abs().max().double_value(&[]) < 1e-5);
            assert!(p.min().double_value(&[]) >= 0.0);
        }
        other => panic!("expected class probabilities, got {other:?}"),
    }
    let label = gt.conditional(&x, 7).unwrap().label();
    assert!(label.min().double_value(&[]) >= 0.0 && label.max().double_value(&[]) <= 9.0);
}

#[test]
fn log_px_prefers_the_digit_the_generator_emits() {
    tch::manual_seed(4);
    let gt = mnist_ground_truth();
    let (x, _) = digits(3);
    let target = x.get(0);
    // Whatever the code, the generator emits ±8 logits of the (binarised) first test digit.
    let pixels = (target.gt(0.5).to_kind(Kind::Float) * 2.0 - 1.0) * 8.0;
    pin_generator_output(&gt, &Tensor::cat(&[pixels, Tensor::zeros([10], (Kind::Float, Device::Cpu))], 0));
    let noise = Tensor::rand([1, 784], (Kind::Float, Device::Cpu));
    let batch = Tensor::cat(&[x.narrow(0, 0, 1), x.narrow(0, 1, 1), noise], 0);
    let lp: Vec<f64> = Vec::try_from(gt.log_px(&batch, 20).unwrap().to_kind(Kind::Double)).unwrap();
    assert!(lp.iter().all(|v| v.is_finite()), "{lp:?}");
    // The emitted digit costs only its grey-level binarisation noise; another digit and
    // uniform noise disagree on many pixels at 8 nats each.
    assert!(lp[0] > lp[1] + 100.0, "{lp:?}");
    assert!(lp[0] > lp[2] + 100.0, "{lp:?}");
    // Generated x is sigmoid(logits): the digit itself, up to sigmoid(±8).
    let z = Tensor::randn([2, SPEC.latent_dim as i64], (Kind::Float, Device::Cpu));
    let xs = gt.sample_x(&z).unwrap();
    let want = target.gt(0.5).to_kind(Kind::Float);
    assert!((xs - want.unsqueeze(0)).abs().max().double_value(&[]) < 1e-3);
}
