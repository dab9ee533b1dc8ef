//! SimCLR blocks for CIFAR-10 (spec §2, §8 items 15 and 17): parameter counts, NT-Xent
//! properties and a hand-computed value, batched augmentations, the blur baseline.

use lfxai::experiments::cifar::learning_rate;
use lfxai::nets::count;
use lfxai::simclr::{augment, gaussian_blur, nt_xent, two_views, Augment, SimClr, SimclrArch};
use tch::{Device, Kind, Tensor};

static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

fn params(m: &SimClr, prefix: &str) -> i64 {
    count(&lfxai::nets::named_trainable(&m.vs, prefix).into_iter().map(|(_, t)| t).collect::<Vec<_>>())
}

#[test]
fn parameter_counts_and_feature_sizes() {
    let _g = rng_lock();
    let r18 = SimClr::new(Device::Cpu, SimclrArch::ResNet18);
    // torchvision resnet18 (11,689,512) − fc (513,000) − 7×7 stem (9,408) + 3×3 stem (1,728).
    assert_eq!(params(&r18, "encoder"), 11_168_832);
    assert_eq!(params(&r18, "projector"), 512 * 2048 + 2048 + 2048 * 128 + 128);
    let tiny = SimClr::new(Device::Cpu, SimclrArch::Tiny);
    assert_eq!(params(&tiny, "encoder"), 77_392);
    assert_eq!(params(&tiny, "projector"), 49_536);
    let x = Tensor::rand([2, 3, 32, 32], (Kind::Float, Device::Cpu));
    assert_eq!(r18.features(&x, false).size(), [2, 512]);
    assert_eq!(tiny.features(&x, false).size(), [2, 64]);
    assert_eq!(tiny.projections(&x, true).size(), [2, 128]);
    // PyTorch names, so torchvision-style state dicts line up.
    let names: Vec<String> = r18.vs.variables().into_keys().collect();
    for n in ["encoder.conv1.weight", "encoder.layer2.0.downsample.0.weight", "encoder.layer4.1.bn2.running_var"] {
        assert!(names.iter().any(|k| k == n), "{n} missing");
    }
}

#[test]
fn nt_xent_equals_a_hand_computed_value() {
    // Pairs (e1, e1) and (e2, e2): each row sees its partner at cosine 1 and the other pair at
    // cosine 0, clamped to 1e-7; τ = 0.5 → loss = −2 + ln(e² + 2·e^{2e-7}).
    let z = Tensor::from_slice(&[1.0f64, 0.0, 2.0, 0.0, 0.0, 1.0, 0.0, 3.0]).view([4, 2]);
    let got = nt_xent(&z, 0.5).unwrap().double_value(&[]);
    let want = -2.0 + (2f64.exp() + 2.0 * (2e-7f64).exp()).ln();
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
}

#[test]
fn nt_xent_symmetries_and_alignment() {
    let _g = rng_lock();
    tch::manual_seed(3);
    let z = Tensor::randn([8, 16], (Kind::Double, Device::Cpu));
    let base = nt_xent(&z, 0.5).unwrap().double_value(&[]);
    // Swapping the two views of every pair, or permuting the pairs, leaves the loss unchanged.
    let swap = Tensor::from_slice(&[1i64, 0, 3, 2, 5, 4, 7, 6]);
    let perm = Tensor::from_slice(&[4i64, 5, 0, 1, 6, 7, 2, 3]);
    for idx in [swap, perm] {
        let v = nt_xent(&z.index_select(0, &idx), 0.5).unwrap().double_value(&[]);
        assert!((v - base).abs() < 1e-12, "{v} vs {base}");
    }
    // Identical partners (distinct pairs) beat random projections.
    let pairs = Tensor::randn([4, 16], (Kind::Double, Device::Cpu)).repeat_interleave_self_int(2, 0, None);
    let aligned = nt_xent(&pairs, 0.5).unwrap().double_value(&[]);
    assert!(aligned < base, "aligned {aligned} vs random {base}");
    // Partner index: a row's loss falls when only its partner moves closer.
    let moved = z.copy();
    moved.get(1).copy_(&z.get(0));
    assert!(nt_xent(&moved, 0.5).unwrap().double_value(&[]) < base);
    assert!(nt_xent(&Tensor::zeros([3, 4], (Kind::Double, Device::Cpu)), 0.5).is_err(), "odd row count");
    assert!(nt_xent(&z, 0.0).is_err(), "temperature 0");
}

#[test]
fn augmentations_are_batched_seeded_and_in_range() {
    let _g = rng_lock();
    tch::manual_seed(0);
    let x = Tensor::rand([6, 3, 32, 32], (Kind::Float, Device::Cpu));
    let a = Augment::default();
    let draw = |seed| {
        tch::manual_seed(seed);
        two_views(&x, &a).unwrap()
    };
    let v = draw(5);
    assert_eq!(v.size(), [12, 3, 32, 32]);
    assert!(v.min().double_value(&[]) >= 0.0 && v.max().double_value(&[]) <= 1.0);
    assert!(v.equal(&draw(5)), "same seed, same views");
    assert!(!v.equal(&draw(6)));
    assert!(!v.get(0).equal(&v.get(1)), "the two views of an image differ");
    // With every random transform switched off the view is the image itself.
    let none = Augment { crop_scale: (1.0, 1.0), crop_ratio: (1.0, 1.0), flip_p: 0.0, jitter_p: 0.0, gray_p: 0.0, ..a };
    let same = augment(&x, &none).unwrap();
    assert!((&same - &x).abs().max().double_value(&[]) < 1e-5);
    // Flip only: the image mirrored.
    let flip = Augment { flip_p: 1.0, ..none };
    let f = augment(&x, &flip).unwrap();
    assert!((&f - x.flip([3])).abs().max().double_value(&[]) < 1e-5);
    // Grayscale only: three equal channels.
    let g = augment(&x, &Augment { gray_p: 1.0, ..none }).unwrap();
    assert!((g.select(1, 0) - g.select(1, 2)).abs().max().double_value(&[]) < 1e-7);
    assert!(augment(&Tensor::zeros([2, 1, 8, 8], (Kind::Float, Device::Cpu)), &a).is_err());
}

#[test]
fn blur_baseline_and_schedule() {
    let _g = rng_lock();
    let c = Tensor::full([2, 3, 32, 32], 0.3, (Kind::Double, Device::Cpu));
    let b = gaussian_blur(&c, 21, 5.0).unwrap();
    assert!((&b - &c).abs().max().double_value(&[]) < 1e-12, "a constant image is its own blur");
    tch::manual_seed(1);
    let x = Tensor::rand([2, 3, 32, 32], (Kind::Double, Device::Cpu));
    let bx = gaussian_blur(&x, 21, 5.0).unwrap();
    assert_eq!(bx.size(), x.size());
    let var = |t: &Tensor| t.var(true).double_value(&[]);
    assert!(var(&bx) < 0.2 * var(&x), "blur removes most of the pixel noise");
    // A centred impulse spreads to the separable Gaussian: symmetric, peak at the centre.
    let mut imp = Tensor::zeros([1, 1, 33, 33], (Kind::Double, Device::Cpu));
    let _ = imp.get(0).get(0).get(16).get(16).fill_(1.0);
    let k = gaussian_blur(&imp, 21, 5.0).unwrap().squeeze();
    assert!((k.sum(Kind::Double).double_value(&[]) - 1.0).abs() < 1e-12);
    assert!((&k - k.tr()).abs().max().double_value(&[]) < 1e-15);
    let _ = imp.zero_();
    assert!(gaussian_blur(&x, 20, 5.0).is_err() && gaussian_blur(&x, 21, 0.0).is_err());
    assert!((learning_rate(0.6, 0, 100, false) - 0.6).abs() < 1e-12);
    assert!((learning_rate(0.6, 100, 100, false) - 1e-3).abs() < 1e-12);
    assert!((learning_rate(0.6, 0, 100, true) - 0.36).abs() < 1e-12, "the reference's quirk starts at 0.36");
}
