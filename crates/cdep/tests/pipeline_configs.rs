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
