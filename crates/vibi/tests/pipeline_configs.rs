//! Pipeline configs: every shipped config deserialises and validates, bad config values
//! and keys are named, checkpoints refuse another configuration.

use tch::Device;
use vibi::experiments::checkpoint;
use vibi::experiments::Config;
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

fn config_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/vibi")
}

fn synthetic(overrides: &[&str]) -> Config {
    let text = std::fs::read_to_string(config_dir().join("smoke_synthetic.toml")).unwrap();
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    xai_core::config::parse(&text, "t", &o).unwrap().value
}

#[test]
fn negative_beta_in_a_config_is_named() {
    let e = synthetic(&["vibi.beta=-1"]).validate().unwrap_err().to_string();
    assert!(e.contains("beta") && e.contains("-1"), "{e}");
}

#[test]
fn more_than_one_seed_is_a_clear_error() {
    let e = synthetic(&["run.seeds=[0, 1]"]).validate().unwrap_err().to_string();
    assert!(e.contains("run.seeds") && e.contains("one seed per run folder"), "{e}");
    synthetic(&["run.seeds=[7]"]).validate().unwrap();
}

#[test]
fn checkpoint_from_another_configuration_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let v = small_vibi(4, Settings::reference(4, 0.01)).unwrap();
    let meta = checkpoint::Meta {
        fingerprint: "aaaa".into(),
        step: 3,
        epochs_done: 0,
        best_val_fid: 0.5,
        best_epoch: 0,
        train_seconds: 1.0,
        file: String::new(),
    };
    checkpoint::save_last(dir.path(), &v, meta).unwrap();
    let e = checkpoint::load_last(dir.path(), "bbbb").err().unwrap().to_string();
    assert!(e.contains("another configuration") && e.contains("aaaa") && e.contains("bbbb"), "{e}");
    let (m, tensors) = checkpoint::load_last(dir.path(), "aaaa").unwrap().unwrap();
    assert_eq!(m.step, 3);
    // a checkpoint taken before the first validation (no best yet) reads back, and
    // replacing it removes the previous tensor file
    checkpoint::save_last(dir.path(), &v, checkpoint::Meta { step: 4, ..checkpoint::Meta::fresh("aaaa") }).unwrap();
    checkpoint::save_last(dir.path(), &v, checkpoint::Meta { step: 5, ..checkpoint::Meta::fresh("aaaa") }).unwrap();
    assert_eq!(checkpoint::load_last(dir.path(), "aaaa").unwrap().unwrap().0.step, 5);
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
