//! `vibi`: runs one VIBI experiment from a TOML config and leaves a run folder with CSV
//! logs, checkpoints, figures, a summary and the ours-vs-reference table.

use anyhow::Context;
use clap::Parser;
use std::path::PathBuf;
use vibi::config::Config;
use vibi::experiment::{run, Invocation};
use xai_core::cli::{main_with, CommonArgs};
use xai_core::{config, data, device};

const EMBEDDED: &str = include_str!("../../../configs/vibi/smoke_synthetic.toml");

#[derive(Parser)]
#[command(
    about = "VIBI (Bang et al. 2021) / L2X: train an information-bottleneck explainer of a black-box classifier and measure its fidelity"
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,

    /// Continue the run in this folder (its checkpoints, logs and black box). Without
    /// --config the folder's own config.toml is used; --set may extend epochs/max_steps.
    #[arg(long, value_name = "RUN_FOLDER")]
    resume: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    main_with(|| {
        let cli = Cli::parse();
        let o = &cli.common.overrides;
        let cfg: config::Loaded<Config> = match (&cli.common.config, &cli.resume) {
            (Some(path), _) => config::load(path, o)?,
            (None, Some(folder)) => {
                config::load(&folder.join("config.toml"), o).context("reading the config of the run to resume")?
            }
            (None, None) => config::parse(EMBEDDED, "<embedded configs/vibi/smoke_synthetic.toml>", o)?,
        };
        device::set_threads(cli.common.threads);
        let dev = cli.common.device.resolve()?;
        log::info!("device: {}", device::describe(dev));
        let outcome = run(Invocation {
            config: cfg,
            device: dev,
            runs_dir: cli.common.runs_dir.clone(),
            data_dir: data::data_root(cli.common.data_dir.as_deref()),
            resume: cli.resume.clone(),
        })?;
        println!("{}", outcome.table);
        println!("run folder: {}", outcome.folder.display());
        println!("{}", outcome.verdict);
        Ok(())
    })
}
