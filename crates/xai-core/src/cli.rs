//! Command-line pieces every xai-rs binary shares.

use crate::device::DeviceChoice;
use std::path::PathBuf;

/// Flags common to every experiment binary; `#[command(flatten)]` them into a `Parser`.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonArgs {
    /// Experiment config (TOML). Without it the binary's embedded smoke config runs.
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Override a config value, e.g. `--set train.epochs=3` (repeatable; values are TOML,
    /// bare words are strings).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub overrides: Vec<String>,

    /// Where tensors live: `auto` picks CUDA when a GPU is usable.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,

    /// libtorch intra-op threads (0: libtorch's default).
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub threads: usize,

    /// Folder that holds run folders (`<runs>/<crate>/<experiment>/<timestamp>-<id>/`).
    #[arg(long, default_value = "runs", value_name = "DIR")]
    pub runs_dir: PathBuf,

    /// Dataset folder (else $XAI_DATA_DIR, else the workspace's `datasets/`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Logging to stderr at `info` unless RUST_LOG says otherwise, routed through the shared
/// progress bars so log lines never tear a bar.
pub fn init_logging() {
    let logger = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_secs()
        .build();
    let level = logger.filter();
    if indicatif_log_bridge::LogWrapper::new(crate::progress::multi().clone(), logger).try_init().is_ok() {
        log::set_max_level(level);
    }
}

/// Runs a binary's body, printing the error chain and exiting with status 1 on failure,
/// so users see `error: ...` and its causes instead of a debug dump.
pub fn main_with(body: impl FnOnce() -> anyhow::Result<()>) -> std::process::ExitCode {
    crate::device::tune_allocator();
    init_logging();
    match body() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", crate::runner::chain(&e));
            std::process::ExitCode::FAILURE
        }
    }
}
