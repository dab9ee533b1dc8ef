//! Method errors: bad arguments to the method's modules give errors that name the wrong
//! value (no config, no run folder).

use tch::{Device, Kind, Tensor};
use vibi::chunks::ChunkGrid;
use vibi::model::{Settings, Vibi};
use vibi::nets::{classifier, explainer, ClassifierArch, ExplainerArch};
use vibi::VibiError;

fn small_vibi(k: i64, settings: Settings) -> vibi::Result<Vibi> {
    Vibi::new(
        Device::Cpu,
        [1, 28, 28],
        Box::new(|p| explainer(p, ExplainerArch::SmallCnn, 1, (28, 28), 1)),
        Box::new(|p| classifier(p, ClassifierArch::SmallCnnMaxpool, 1, (28, 28), 10)),
        Settings { k, ..settings },
    )
}

#[test]
fn k_larger_than_the_number_of_chunks_is_named() {
    let e = small_vibi(50, Settings::reference(50, 0.01)).err().unwrap().to_string();
    assert!(e.contains("k = 50") && e.contains("F = 49"), "{e}");
    let e = ChunkGrid::new(28, 28, 4, 1).unwrap().check_k(0).unwrap_err().to_string();
    assert!(e.contains("k = 0"), "{e}");
}

#[test]
fn chunk_size_that_does_not_divide_the_image_is_named() {
    let e = ChunkGrid::new(28, 28, 5, 1).unwrap_err().to_string();
    assert!(e.contains("5 does not divide the image size 28x28"), "{e}");
    let e = explainer(tch::nn::VarStore::new(Device::Cpu).root(), ExplainerArch::SmallCnn, 1, (30, 30), 1)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("30x30"), "{e}");
    let e = explainer(tch::nn::VarStore::new(Device::Cpu).root(), ExplainerArch::ResNet4x, 1, (30, 30), 1)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("1x30x30"), "{e}");
}

#[test]
fn negative_beta_is_named() {
    let e = small_vibi(4, Settings::reference(4, -0.1)).err().unwrap().to_string();
    assert!(e.contains("beta") && e.contains("-0.1"), "{e}");
    let e = small_vibi(4, Settings::reference(4, 0.5).l2x()).map(|_| ()).err();
    assert!(e.is_none(), "l2x() sets beta to 0");
    let bad_l2x = Settings { method: vibi::model::Method::L2x, ..Settings::reference(4, 0.5) };
    assert!(bad_l2x.validate().unwrap_err().to_string().contains("l2x"));
}

#[test]
fn wrong_input_shape_is_named() {
    let grid = ChunkGrid::new(28, 28, 4, 1).unwrap();
    let e = grid.check_input(&Tensor::zeros([2, 1, 32, 32], (Kind::Float, Device::Cpu))).unwrap_err().to_string();
    assert!(e.contains("[2, 1, 32, 32]"), "{e}");
}

#[test]
fn errors_are_the_crates_own_type() {
    let e = small_vibi(50, Settings::reference(50, 0.01)).err().unwrap();
    assert!(matches!(e, VibiError::Invalid { .. }), "{e:?}");
    let bad = Settings { lr: f64::NAN, ..Settings::reference(4, 0.01) };
    let e = bad.validate().unwrap_err().to_string();
    assert!(e.contains("lr"), "{e}");
}
