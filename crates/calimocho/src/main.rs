//! `calimocho --config configs/calimocho/<exp>.toml`: runs one CALIMOCHO sweep (active,
//! passive or LIME) and leaves CSVs, figures, the ours-vs-spec table and a verdict line in
//! `runs/calimocho/<exp>/<timestamp>-<id>/`. Without `--config` the embedded smoke runs.

use clap::Parser;
use xai_core::runner::{Embedded, RunArgs};

const EMBEDDED_SMOKE: Embedded =
    Embedded { path: "configs/calimocho/smoke.toml", text: include_str!("../../../configs/calimocho/smoke.toml") };

#[derive(Parser, Debug)]
#[command(
    name = "calimocho",
    about = "CALIMOCHO (Teso 2019): explanatory active learning with self-explaining nets and simulated corrections"
)]
struct Cli {
    #[command(flatten)]
    run: RunArgs,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    xai_core::runner::main::<calimocho::experiments::Config, _>(
        "calimocho",
        EMBEDDED_SMOKE,
        &cli.run,
        calimocho::experiments::run,
    )
}
