//! Shared test helpers: the data root with the real toy colors file, and runner arguments.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use xai_core::cli::CommonArgs;
use xai_core::device::DeviceChoice;
use xai_core::runner::{Embedded, RunArgs};

/// The folder holding `toy_colors/toy_colors.npz`: the workspace's data root (as every
/// crate's tests find it), else the read-only shared mirror. Panics with the fetch
/// command when neither has it: these tests do not pass silently without data.
pub fn toy_colors_root() -> PathBuf {
    let root = xai_core::data::data_root(None);
    if root.join("toy_colors/toy_colors.npz").is_file() {
        return root;
    }
    let mirror = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets");
    if mirror.join("toy_colors/toy_colors.npz").is_file() {
        return mirror;
    }
    panic!("toy colors missing: run `just fetch-data toy_colors` (or scripts/fetch-data --mirror ../shared/datasets toy_colors)");
}

pub const EMBEDDED: Embedded = Embedded { path: "configs/calimocho/test_smoke.toml", text: "" };

/// Runner arguments for `config` (a file) with `--set` overrides, runs under `runs`.
pub fn args(config: &Path, runs: &Path, data: &Path, sets: &[&str]) -> RunArgs {
    RunArgs {
        common: CommonArgs {
            config: Some(config.to_path_buf()),
            overrides: sets.iter().map(|s| s.to_string()).collect(),
            device: DeviceChoice::Cpu,
            threads: 0,
            runs_dir: runs.to_path_buf(),
            data_dir: Some(data.to_path_buf()),
        },
        resume: None,
        strict: false,
        sweep: Default::default(),
    }
}

/// Writes `text` as `dir/name` and returns the path.
pub fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

pub fn run(args: &RunArgs) -> anyhow::Result<xai_core::runner::Finished> {
    xai_core::runner::run::<calimocho::experiments::Config, _>("calimocho", EMBEDDED, args, calimocho::experiments::run)
}

/// A small synthetic active config: 2 arms × 2 folds, T = 6.
pub const ACTIVE_SYNTH: &str = r#"
[run]
experiment = "active"
seeds = [0]
[data]
synthetic = 1500
folds = 2
test_subset = 300
[model]
widths = [[101]]
arms = [{ lambdas = [0.0, 0.0] }, { lambdas = [0.1, 0.0], c = 1 }]
[active]
strategies = ["random"]
iterations = 6
steps_per_fit = 20
eval_every = 2
[checks]
max_zloss_ratio = 1.0
min_prec_gain = -1.0
orderings = false
"#;
