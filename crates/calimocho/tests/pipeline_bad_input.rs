//! Bad configs and bad files give clear errors: no panic, and nothing half-written
//! presented as complete.

mod common;

use common::*;
use tch::{Kind, Tensor};
use xai_core::runner::chain;

fn config_error(sets: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), "active_synth.toml", ACTIVE_SYNTH);
    let runs = tmp.path().join("runs");
    let e = chain(&run(&args(&cfg, &runs, tmp.path(), sets)).unwrap_err());
    assert!(!runs.exists(), "no run folder for a config error: {e}");
    e
}

#[test]
fn bad_hyper_parameters_are_named() {
    let e = config_error(&["model.arms=[{ lambdas = [0.8, 0.3] }]"]);
    assert!(e.contains("lambda1 + lambda2") && e.contains("active_synth.toml"), "{e}");
    let e = config_error(&["model.arms=[{ lambdas = [-0.1, 0.0] }]"]);
    assert!(e.contains("lambda1"), "{e}");
    let e = config_error(&["model.arms=[{ lambdas = [0.1, 0.0], c = 102 }]"]);
    assert!(e.contains("n_corrected") && e.contains("102"), "{e}");
    let e = config_error(&["model.widths=[[101, 60]]"]);
    assert!(e.contains("widths") && e.contains("60"), "{e}");
    let e = config_error(&["active.strategies=[\"entropy\"]"]);
    assert!(e.contains("entropy"), "{e}");
    let e = config_error(&["data.rule=2"]);
    assert!(e.contains("data.rule"), "{e}");
    let e = config_error(&["model.depth=3"]);
    assert!(e.contains("depth"), "{e}");
}

fn data_error(arrays: Vec<(&str, Tensor)>) -> (String, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    std::fs::create_dir_all(data.join("toy_colors")).unwrap();
    if !arrays.is_empty() {
        Tensor::write_npz(&arrays, data.join("toy_colors/toy_colors.npz")).unwrap();
    }
    let cfg = write_config(tmp.path(), "active_synth.toml", ACTIVE_SYNTH);
    let runs = tmp.path().join("runs");
    let e = chain(&run(&args(&cfg, &runs, &data, &["data.synthetic=0"])).unwrap_err());
    // The run folder exists but is marked failed, with no results presented as complete.
    let folder = std::fs::read_dir(runs.join("calimocho/active_synth")).unwrap().next().unwrap().unwrap().path();
    let info: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("run.json")).unwrap()).unwrap();
    assert_eq!(info["status"], "failed", "{info}");
    assert!(!folder.join("results.json").exists() && !folder.join("verdict.txt").exists());
    (e, folder)
}

fn images(n: i64) -> Tensor {
    // Every pixel red: a valid palette colour.
    Tensor::from_slice(&[255u8, 0, 0]).repeat([n, 25])
}

#[test]
fn missing_or_malformed_toy_colors_files() {
    let (e, _) = data_error(vec![]);
    assert!(e.contains("toy_colors.npz") && e.contains("fetch-data toy_colors"), "{e}");
    let labels = Tensor::zeros([10], (Kind::Uint8, tch::Device::Cpu));
    let bad_shape = images(10).narrow(1, 0, 74);
    let (e, _) = data_error(vec![
        ("arr_0", bad_shape),
        ("arr_1", images(10)),
        ("arr_2", labels.copy()),
        ("arr_3", labels.copy()),
    ]);
    assert!(e.contains("arr_0") && e.contains("75"), "{e}");
    let off = images(10);
    let _ = off.get(3).get(7).fill_(77);
    let (e, _) = data_error(vec![("arr_0", off), ("arr_1", images(10)), ("arr_2", labels.copy()), ("arr_3", labels)]);
    assert!(e.contains("palette"), "{e}");
}
