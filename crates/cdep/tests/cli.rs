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
