//! What the pipeline tests share: the embedded smoke configs, one runner call with `--set`
//! overrides, and the lock that keeps libtorch's global generator to one run at a time.
// Each test binary compiles this module and uses a subset of it.
#![allow(dead_code)]

use clap::Parser;
use std::path::{Path, PathBuf};
use xai_core::runner::{Embedded, Finished, RunArgs};

macro_rules! smoke {
    ($name:ident, $file:literal) => {
        pub const $name: Embedded = Embedded {
            path: concat!("configs/lfxai/", $file),
            text: include_str!(concat!("../../../../configs/lfxai/", $file)),
        };
    };
}

smoke!(FEATURES, "mnist_consistency_features_smoke.toml");
smoke!(ECG_FEATURES, "ecg5000_consistency_features_smoke.toml");
smoke!(ROAR, "mnist_roar_test_smoke.toml");
smoke!(PRETEXT, "mnist_pretext_smoke.toml");
smoke!(DISVAE, "mnist_disvae_smoke.toml");
smoke!(EXAMPLES, "mnist_consistency_examples_smoke.toml");
smoke!(CIFAR_FEATURES, "cifar10_consistency_features_smoke.toml");
smoke!(CIFAR_EXAMPLES, "cifar10_consistency_examples_smoke.toml");
smoke!(DSPRITES, "dsprites_disvae_smoke.toml");

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

/// libtorch's generator is global: runs in parallel test threads would interleave draws.
static TORCH_RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// `--set a=b` for every pair.
pub fn sets(pairs: &[&str]) -> Vec<String> {
    pairs.iter().flat_map(|p| ["--set".to_string(), p.to_string()]).collect()
}

/// Runs `embedded` on one thread with run folders under `runs`, the data under `data`
/// (`None`: the workspace's data root) and further command-line arguments `extra`.
pub fn run_with(embedded: Embedded, data: Option<&Path>, runs: &Path, extra: &[String]) -> anyhow::Result<Finished> {
    let _guard = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let mut argv: Vec<String> = vec!["lfxai".into(), "--runs-dir".into(), runs.display().to_string()];
    argv.extend(["--threads".into(), "1".into()]);
    if let Some(d) = data {
        argv.extend(["--data-dir".into(), d.display().to_string()]);
    }
    argv.extend(extra.iter().cloned());
    let cli = Cli::parse_from(argv);
    xai_core::runner::run::<lfxai::experiments::Config, _>("lfxai", embedded, &cli.run, lfxai::experiments::run)
}

/// [`run_with`] on the workspace's data with plain arguments.
pub fn run(embedded: Embedded, runs: &Path, extra: &[&str]) -> anyhow::Result<Finished> {
    run_with(embedded, None, runs, &extra.iter().map(|s| s.to_string()).collect::<Vec<_>>())
}

/// [`run_with`] on `data` with `--set` overrides only.
pub fn run_on(embedded: Embedded, data: &Path, runs: &Path, overrides: &[&str]) -> anyhow::Result<Finished> {
    run_with(embedded, Some(data), runs, &sets(overrides))
}

/// The error of a run that must fail, with its causes.
pub fn error_of(embedded: Embedded, extra: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let e = run(embedded, dir.path(), extra).unwrap_err();
    format!("{e:#}")
}

/// Whether MNIST is in the workspace's data root; says so when the test is skipped.
pub fn mnist_present() -> bool {
    let root = xai_core::data::data_root(None);
    let ok = root.join("mnist").is_dir();
    if !ok {
        println!("NOTICE: no MNIST under {}; pipeline test skipped", root.display());
    }
    ok
}

/// Width and height from a PNG's IHDR chunk.
pub fn png_size(path: &Path) -> (u32, u32) {
    let b = std::fs::read(path).unwrap();
    assert_eq!(&b[1..4], b"PNG", "{}", path.display());
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    (be(16), be(20))
}

/// `folder/file` as text, naming the file when it is missing.
pub fn read(folder: &Path, file: &str) -> String {
    let p: PathBuf = folder.join(file);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}
