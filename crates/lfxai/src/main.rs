//! `lfxai --config configs/lfxai/<exp>.toml`: runs one LFXAI experiment and leaves CSVs,
//! figures, the ours-vs-paper table and a verdict line in `runs/lfxai/<exp>/<timestamp>-<id>/`.
//! Without `--config` the embedded MNIST feature-consistency smoke runs.

use clap::Parser;
use xai_core::runner::{Embedded, RunArgs};

const EMBEDDED_SMOKE: Embedded = Embedded {
    path: "configs/lfxai/mnist_consistency_features_smoke.toml",
    text: include_str!("../../../configs/lfxai/mnist_consistency_features_smoke.toml"),
};

#[derive(Parser, Debug)]
#[command(name = "lfxai", about = "LFXAI (Crabbé & van der Schaar 2022): label-free feature and example importance")]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    xai_core::runner::main::<lfxai::experiments::Config, _>("lfxai", EMBEDDED_SMOKE, &cli.run, lfxai::experiments::run)
}
