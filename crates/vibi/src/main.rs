//! `vibi --config configs/vibi/<exp>.toml`: runs one VIBI experiment and leaves a run
//! folder with CSV logs, checkpoints, figures, a summary and the ours-vs-reference table
//! in `runs/vibi/<exp>/<timestamp>-<id>/`. Without `--config` the embedded synthetic
//! smoke config runs; `--resume FOLDER` continues an interrupted run from its checkpoints.

use clap::Parser;
use vibi::experiments::{Config, EMBEDDED};
use xai_core::runner::RunArgs;

#[derive(Parser)]
#[command(
    name = "vibi",
    about = "VIBI (Bang et al. 2021) / L2X: train an information-bottleneck explainer of a black-box classifier and measure its fidelity"
)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    xai_core::runner::main::<Config, _>("vibi", EMBEDDED, &cli.run, vibi::experiments::run)
}
