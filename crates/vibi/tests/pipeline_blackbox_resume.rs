//! Black-box training resumed from its per-epoch checkpoint takes exactly the steps an
//! uninterrupted run takes (weights and Adam state restored, each epoch seeded by itself).

use tch::{Device, Kind, Tensor};
use vibi::blackbox::Classifier;
use vibi::experiments::blackbox_training::{train, EpochCheckpoint, TrainSpec};
use vibi::nets::ClassifierArch;

fn data() -> (Tensor, Tensor) {
    tch::manual_seed(11);
    let x = Tensor::randn([48, 1, 28, 28], (Kind::Float, Device::Cpu));
    let y = Tensor::randint(10, [48], (Kind::Int64, Device::Cpu));
    (x, y)
}

fn fresh_model() -> Classifier {
    tch::manual_seed(5);
    Classifier::new(Device::Cpu, ClassifierArch::LenetAuthors, [1, 28, 28], 10).unwrap()
}

fn spec(epochs: usize) -> TrainSpec {
    TrainSpec { epochs, lr: 1e-3, batch_size: 16, augment: false, pad_value: vec![0.0] }
}

fn weights(m: &Classifier) -> Vec<(String, Tensor)> {
    let mut v = m.vs.variables().into_iter().collect::<Vec<_>>();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

#[test]
fn an_interrupted_black_box_resumes_where_it_stopped() {
    let (x, y) = data();
    let mut whole = fresh_model();
    let losses = train(&mut whole, &x, &y, &spec(3), 7, None).unwrap();

    let tmp = tempfile::tempdir().unwrap();
    let ckpt = EpochCheckpoint { dir: tmp.path(), fingerprint: "fp" };
    // "Killed" after epoch 2: a run configured for 2 epochs leaves its epoch-2 state behind.
    let mut first = fresh_model();
    train(&mut first, &x, &y, &spec(2), 7, Some(&ckpt)).unwrap();
    assert!(tmp.path().join("black_box.partial.json").is_file());
    // A new process: other initial weights, restored from the checkpoint, one more epoch.
    tch::manual_seed(99);
    let mut resumed = Classifier::new(Device::Cpu, ClassifierArch::LenetAuthors, [1, 28, 28], 10).unwrap();
    let resumed_losses = train(&mut resumed, &x, &y, &spec(3), 7, Some(&ckpt)).unwrap();

    assert_eq!(resumed_losses.len(), 3);
    for (a, b) in losses.iter().zip(&resumed_losses) {
        assert!((a - b).abs() < 1e-6, "losses {losses:?} vs {resumed_losses:?}");
    }
    for ((na, a), (nb, b)) in weights(&whole).iter().zip(weights(&resumed)) {
        assert_eq!(na, &nb);
        let d = (a - &b).abs().max().double_value(&[]);
        assert!(d < 1e-5, "{na} differs by {d}");
    }

    // A checkpoint of another configuration is refused, not silently used.
    let other = EpochCheckpoint { dir: tmp.path(), fingerprint: "other" };
    let e = train(&mut fresh_model(), &x, &y, &spec(3), 7, Some(&other)).unwrap_err().to_string();
    assert!(e.contains("another configuration"), "{e}");
}
