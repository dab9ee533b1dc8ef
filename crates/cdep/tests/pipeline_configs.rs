//! Every shipped config parses into the typed schema and passes validation; bad values
//! are named errors.

use cdep::experiments::config::Config;
use std::path::PathBuf;

fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/cdep")
}

#[test]
fn every_config_file_parses_and_validates() {
    let mut n = 0;
    for entry in std::fs::read_dir(config_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let loaded = xai_core::config::load::<Config>(&path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        loaded.value.validate().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        n += 1;
    }
    assert!(n >= 10, "expected the paper-scale and smoke configs, found {n}");
}

#[test]
fn demo_list_names_existing_smoke_configs() {
    let list = std::fs::read_to_string(config_dir().join("DEMO")).unwrap();
    let names: Vec<&str> = list.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    assert!(names.contains(&"colormnist_smoke.toml"));
    for n in names {
        assert!(config_dir().join(n).is_file(), "{n} listed in DEMO but missing");
    }
}

#[test]
fn bad_values_are_named() {
    let text = std::fs::read_to_string(config_dir().join("colormnist_smoke.toml")).unwrap();
    let neg = xai_core::config::parse::<Config>(&text, "x.toml", &["lambdas.cdep=[-1.0]".into()]).unwrap();
    let e = neg.value.validate().unwrap_err().to_string();
    assert!(e.contains("lambda") && e.contains("-1"), "{e}");
    let e = xai_core::config::parse::<Config>(&text, "x.toml", &["cdep.n_blobz=3".into()]).unwrap_err().to_string();
    assert!(e.contains("n_blobz"), "{e}");
    let e = xai_core::config::parse::<Config>(&text, "x.toml", &["sweep.methods=[\"magic\"]".into()])
        .unwrap_err()
        .to_string();
    assert!(e.contains("sweep.methods") && e.contains("magic"), "{e}");
    let e =
        xai_core::config::parse::<Config>(&text, "x.toml", &["run.methods=[\"cdep\"]".into()]).unwrap_err().to_string();
    assert!(e.contains("methods"), "the shared [run] table has no methods: {e}");
    let missing =
        xai_core::config::parse::<Config>(&text, "x.toml", &["sweep.methods=[\"vanilla\", \"rrr\"]".into()]).unwrap();
    let e = missing.value.validate().unwrap_err().to_string();
    assert!(e.contains("lambdas.rrr"), "{e}");
}

fn smoke_with(overrides: &[&str]) -> Config {
    let text = std::fs::read_to_string(config_dir().join("colormnist_smoke.toml")).unwrap();
    let o: Vec<String> = overrides.iter().map(|s| s.to_string()).collect();
    xai_core::config::parse::<Config>(&text, "x.toml", &o).unwrap().value
}

#[test]
fn sizes_are_checked_up_front_and_name_the_key() {
    for (set, key) in [
        ("data.train_subset=0", "data.train_subset"),
        ("data.test_subset=0", "data.test_subset"),
        ("data.train_subset=10000", "data.train_subset"),
        ("data.test_subset=5000", "data.test_subset"),
        ("data.valid_fraction=1.0", "data.valid_fraction"),
        ("data.valid_fraction=0.0", "data.valid_fraction"),
    ] {
        let e = smoke_with(&[set]).validate().unwrap_err().to_string();
        assert!(e.contains(key), "{set}: {e}");
    }
    // A fraction that leaves no validation example of a 3-image pool.
    let e = smoke_with(&["data.train_subset=3", "data.valid_fraction=0.1"]).validate().unwrap_err().to_string();
    assert!(e.contains("data.valid_fraction") && e.contains("at least one"), "{e}");
    let e = smoke_with(&["data.source=\"mnist_train\"", "data.train_subset=70000"]).validate().unwrap_err().to_string();
    assert!(e.contains("data.train_subset") && e.contains("60000"), "{e}");
    smoke_with(&["data.train_subset=20", "data.test_subset=10"]).validate().unwrap();
}

#[test]
fn own_errors_are_config_failures_and_mixing_resumes_are_refused() {
    use xai_core::runner::ExperimentConfig;
    let e: anyhow::Error = cdep::CdepError::invalid("data.train_subset", "0").into();
    assert_eq!(<Config as ExperimentConfig>::failure_kind(&e), Some("config"));
    let e: anyhow::Error = cdep::CdepError::MaskShape { mask: vec![3], input: vec![1, 2], hint: "x".into() }.into();
    assert_eq!(<Config as ExperimentConfig>::failure_kind(&e.context("in a cell")), Some("config"));
    assert_eq!(<Config as ExperimentConfig>::failure_kind(&anyhow::anyhow!("other")), None);

    let stored = smoke_with(&[]);
    smoke_with(&["run.device=\"cpu\"", "run.seeds=[0, 1]"]).check_resume(&stored).unwrap();
    let e = smoke_with(&["train.epochs=7"]).check_resume(&stored).unwrap_err().to_string();
    assert!(e.contains("train.epochs"), "{e}");
    let e = smoke_with(&["run.experiment=\"decoymnist\""]).check_resume(&stored).unwrap_err().to_string();
    assert!(e.contains("run.experiment") && e.contains("colormnist"), "{e}");
}
