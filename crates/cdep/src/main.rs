//! `cdep --config configs/cdep/<exp>.toml`: runs one CDEP experiment sweep and leaves
//! CSVs, tables, figures and a verdict line in `runs/cdep/<exp>/<timestamp>-<id>/`.
//! Without `--config` the embedded ColorMNIST smoke config runs; `--resume FOLDER`
//! continues a killed sweep, keeping its finished (method, λ, seed) cells.

use cdep::experiments::{self, config::Config, EMBEDDED};
use clap::Parser;
use xai_core::runner::RunArgs;

#[derive(Parser, Debug)]
#[command(
    name = "cdep",
    about = "CDEP (Rieger et al. 2020): penalise explanations to align networks with prior knowledge",
    long_about = "CDEP (Rieger et al. 2020): penalise explanations to align networks with prior knowledge.\n\n\
                  Runs one experiment sweep (methods × λ × seeds) of a config in configs/cdep/ and writes \
                  runs.csv, summary.csv, best.csv, tables, figures, paper_comparison.md and a verdict line \
                  into runs/cdep/<config>/<timestamp>-<id>/. Without --config the embedded ColorMNIST \
                  smoke config runs."
)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    xai_core::runner::main::<Config, _>("cdep", EMBEDDED, &cli.run, experiments::run)
}
