//! `cdep --config configs/cdep/<exp>.toml`: runs one CDEP experiment sweep and leaves
//! CSVs, tables, figures and a verdict line in `runs/cdep/<exp>/<timestamp>-<id>/`.
//! Without `--config` the embedded ColorMNIST smoke config runs.

use anyhow::Context;
use cdep::config::Config;
use cdep::experiments::{run_sweep, Setup};
use clap::Parser;
use xai_core::cli::{main_with, CommonArgs};
use xai_core::device::{set_threads, DeviceChoice};

const SMOKE: &str = include_str!("../../../configs/cdep/colormnist_smoke.toml");

#[derive(Parser, Debug)]
#[command(
    name = "cdep",
    about = "CDEP (Rieger et al. 2020): penalise explanations to align networks with prior knowledge"
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
    /// Exit with status 2 when a judged check fails (for CI).
    #[arg(long)]
    strict: bool,
}

fn main() -> std::process::ExitCode {
    main_with(|| {
        let cli = Cli::parse();
        set_threads(cli.common.threads);
        let (loaded, label) = match &cli.common.config {
            Some(path) => {
                let l = xai_core::config::load::<Config>(path, &cli.common.overrides)?;
                let stem = path.file_stem().map(|s| s.to_string_lossy().to_string()).unwrap_or_else(|| "cdep".into());
                (l, stem)
            }
            None => (
                xai_core::config::parse::<Config>(SMOKE, "<embedded colormnist_smoke.toml>", &cli.common.overrides)?,
                "colormnist_smoke".into(),
            ),
        };
        let cfg = &loaded.value;
        cfg.validate().with_context(|| format!("config {}", loaded.source))?;
        let choice = if cli.common.device != DeviceChoice::Auto {
            cli.common.device
        } else {
            cfg.run.device.unwrap_or(DeviceChoice::Auto)
        };
        let device = choice.resolve()?;
        let runs_root = match (&cfg.run.out_dir, cli.common.runs_dir.as_os_str() == "runs") {
            (Some(dir), true) => dir.into(),
            _ => cli.common.runs_dir.clone(),
        };
        let setup =
            Setup { device, data_root: xai_core::data::data_root(cli.common.data_dir.as_deref()), runs_root, label };
        log::info!("device {}", xai_core::device::describe(device));
        let (dir, passed) = run_sweep(cfg, &loaded.resolved_toml()?, &setup)?;
        println!("run folder: {}", dir.display());
        if cli.strict && !passed {
            anyhow::bail!("a judged check failed (see {}/paper_comparison.md)", dir.display());
        }
        Ok(())
    })
}
