//! `clue --config configs/clue/<exp>.toml`: trains the BNN (SG-HMC) and the VAE, explains
//! the rejected test points with CLUE over a λ_x grid, and leaves CSVs, figures, the
//! ours-vs-paper table and a verdict line in `runs/clue/<exp>/<timestamp>-<id>/`.
//! Without `--config` the embedded LSAT smoke config runs.

use clap::Parser;
use xai_core::runner::{Embedded, RunArgs};

const EMBEDDED_SMOKE: Embedded =
    Embedded { path: "configs/clue/lsat_smoke.toml", text: include_str!("../../../configs/clue/lsat_smoke.toml") };

#[derive(Parser, Debug)]
#[command(name = "clue", about = "CLUE (Antorán et al. 2021): counterfactual explanations of BNN uncertainty")]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    xai_core::runner::main::<clue::experiments::Config, _>("clue", EMBEDDED_SMOKE, &cli.run, clue::experiments::run)
}
