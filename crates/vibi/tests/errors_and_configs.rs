//! Bad input gives errors that name the wrong value; every shipped config deserialises
//! and validates.

use tch::{Device, Kind, Tensor};
use vibi::chunks::ChunkGrid;
use vibi::config::Config;
use vibi::model::{Settings, Vibi};
use vibi::nets::{classifier, explainer, ClassifierArch, ExplainerArch};

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
    let text = std::fs::read_to_string(config_dir().join("smoke_synthetic.toml")).unwrap();
    let cfg: Config = xai_core::config::parse(&text, "t", &["vibi.beta=-1".into()]).unwrap().value;
    let e = cfg.validate().unwrap_err().to_string();
    assert!(e.contains("beta") && e.contains("-1"), "{e}");
    let e = small_vibi(4, Settings::reference(4, 0.5).l2x()).map(|_| ()).err();
    assert!(e.is_none(), "l2x() sets beta to 0");
    let bad_l2x = Settings { method: vibi::model::Method::L2x, ..Settings::reference(4, 0.5) };
    assert!(bad_l2x.validate().unwrap_err().to_string().contains("l2x"));
}

#[test]
fn checkpoint_from_another_configuration_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let v = small_vibi(4, Settings::reference(4, 0.01)).unwrap();
    let meta = vibi::checkpoint::Meta {
        fingerprint: "aaaa".into(),
        step: 3,
        epochs_done: 0,
        best_val_fid: 0.5,
        best_epoch: 0,
        train_seconds: 1.0,
        file: String::new(),
    };
    vibi::checkpoint::save_last(dir.path(), &v, meta).unwrap();
    let e = vibi::checkpoint::load_last(dir.path(), "bbbb").err().unwrap().to_string();
    assert!(e.contains("another configuration") && e.contains("aaaa") && e.contains("bbbb"), "{e}");
    let (m, tensors) = vibi::checkpoint::load_last(dir.path(), "aaaa").unwrap().unwrap();
    assert_eq!(m.step, 3);
    // a checkpoint taken before the first validation (no best yet) reads back, and
    // replacing it removes the previous tensor file
    vibi::checkpoint::save_last(
        dir.path(),
        &v,
        vibi::checkpoint::Meta { step: 4, ..vibi::checkpoint::Meta::fresh("aaaa") },
    )
    .unwrap();
    vibi::checkpoint::save_last(
        dir.path(),
        &v,
        vibi::checkpoint::Meta { step: 5, ..vibi::checkpoint::Meta::fresh("aaaa") },
    )
    .unwrap();
    assert_eq!(vibi::checkpoint::load_last(dir.path(), "aaaa").unwrap().unwrap().0.step, 5);
    let files: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(files.iter().filter(|f| f.ends_with(".safetensors")).count() == 1, "{files:?}");
    // the same tensors in a model of another shape: the mismatching tensor is named
    let mut other = Vibi::new(
        Device::Cpu,
        [1, 28, 28],
        Box::new(|p| explainer(p, ExplainerArch::SmallCnn, 1, (28, 28), 1)),
        Box::new(|p| classifier(p, ClassifierArch::SmallCnn, 1, (28, 28), 10)),
        Settings::reference(4, 0.01),
    )
    .unwrap();
    let e = other.load_state(&tensors, true).unwrap_err().to_string();
    assert!(e.contains("approximator.fc.weight") && e.contains("shape"), "{e}");
}

#[test]
fn wrong_input_shape_is_named() {
    let grid = ChunkGrid::new(28, 28, 4, 1).unwrap();
    let e = grid.check_input(&Tensor::zeros([2, 1, 32, 32], (Kind::Float, Device::Cpu))).unwrap_err().to_string();
    assert!(e.contains("[2, 1, 32, 32]"), "{e}");
}

fn config_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/vibi")
}

#[test]
fn every_config_file_deserialises_and_validates() {
    let mut n = 0;
    for entry in std::fs::read_dir(config_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let cfg: Config = xai_core::config::load(&path, &[]).unwrap_or_else(|e| panic!("{e}")).value;
        cfg.validate().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!cfg.cells().is_empty());
        n += 1;
    }
    assert!(n >= 4, "expected the smoke and paper configs, found {n}");
    let demo = std::fs::read_to_string(config_dir().join("DEMO")).unwrap();
    for line in demo.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')) {
        assert!(config_dir().join(line.trim()).is_file(), "DEMO lists missing {line}");
    }
}

#[test]
fn unknown_config_key_is_named() {
    let text = std::fs::read_to_string(config_dir().join("smoke_synthetic.toml")).unwrap();
    let e = xai_core::config::parse::<Config>(&text, "x.toml", &["vibi.bta=0.1".into()]).unwrap_err().to_string();
    assert!(e.contains("bta"), "{e}");
}
