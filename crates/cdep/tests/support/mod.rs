//! Runs a config text through `xai_core::runner` the way the `cdep` binary does, in a
//! temporary runs folder, on the CPU.

#![allow(dead_code)]

use cdep::experiments::{self, config::Config, EMBEDDED};
use std::path::{Path, PathBuf};
use xai_core::cli::CommonArgs;
use xai_core::device::DeviceChoice;
use xai_core::runner::{Finished, RunArgs};

/// The runner's arguments for `config` (a file) under `runs`, data from `data` (default:
/// the workspace's data folder).
pub fn args(config: Option<PathBuf>, runs: &Path, data: Option<&Path>) -> RunArgs {
    RunArgs {
        common: CommonArgs {
            config,
            overrides: vec![],
            device: DeviceChoice::Cpu,
            threads: 0,
            runs_dir: runs.to_path_buf(),
            data_dir: data.map(Path::to_path_buf),
        },
        resume: None,
        strict: false,
        sweep: Default::default(),
    }
}

/// Writes `text` to `<runs>/<label>.toml` and runs it; the run folder is
/// `<runs>/cdep/<label>/<timestamp>-<id>/`.
pub fn run_text(text: &str, label: &str, runs: &Path, data: Option<&Path>) -> anyhow::Result<Finished> {
    std::fs::create_dir_all(runs).unwrap();
    let path = runs.join(format!("{label}.toml"));
    std::fs::write(&path, text).unwrap();
    run_args(&args(Some(path), runs, data))
}

pub fn run_args(args: &RunArgs) -> anyhow::Result<Finished> {
    xai_core::runner::run::<Config, _>("cdep", EMBEDDED, args, experiments::run)
}

/// A CSV file as rows of fields (no quoted commas in cdep's CSVs).
pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(|l| l.split(',').map(str::to_string).collect()).collect()
}

pub fn run_json(folder: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(folder.join("run.json")).unwrap()).unwrap()
}
