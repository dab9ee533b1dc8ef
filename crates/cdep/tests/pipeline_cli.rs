//! The binary reports bad input as one `error:` line and a non-zero exit, never a panic.

use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_cdep")).args(args).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
}

#[test]
fn bad_configs_are_named_errors() {
    let cfg = concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/cdep/colormnist_smoke.toml");
    let (ok, err) = run(&["--config", cfg, "--set", "lambdas.cdep=[-5.0]", "--runs-dir", "/tmp/cdep-cli-test"]);
    assert!(!ok && err.contains("error:") && err.contains("lambda") && !err.contains("panicked"), "{err}");
    let (ok, err) = run(&["--config", "/no/such/cdep.toml"]);
    assert!(!ok && err.contains("/no/such/cdep.toml"), "{err}");
    let (ok, err) = run(&["--config", cfg, "--set", "model.kind=resnet"]);
    assert!(!ok && err.contains("model.kind") && err.contains("resnet"), "{err}");
}

#[test]
fn strict_exits_with_status_2_when_a_judged_check_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("strict_tiny.toml");
    std::fs::write(
        &cfg,
        r#"
[run]
experiment = "colormnist"
[sweep]
methods = ["vanilla", "cdep"]
[data]
source = "mnist_t10k"
train_subset = 300
test_subset = 100
[model]
kind = "color_cnn"
hidden = 20
[train]
optimizer = "adam"
lr = 1e-3
batch_size = 64
epochs = 1
[lambdas]
cdep = [1000.0]
[cdep]
n_blobs = 1
[checks]
min_gain_pts = 1000.0
"#,
    )
    .unwrap();
    let runs = tmp.path().join("runs");
    let out = Command::new(env!("CARGO_BIN_EXE_cdep"))
        .args(["--config", cfg.to_str().unwrap(), "--device", "cpu", "--strict", "--runs-dir", runs.to_str().unwrap()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("verdict strict_tiny: FAIL"), "{stdout}");
}
