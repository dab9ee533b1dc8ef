use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Builds one report of every paper number from the run folders under RUNS_DIR: the latest
/// run of each experiment beside the paper's values, as REPORT.md and a self-contained
/// report.html.
#[derive(Parser)]
#[command(name = "xai-report", version)]
struct Cli {
    /// The runs folder (`runs/`): <crate>/<experiment>/<timestamp>-<id>/ below it.
    runs_dir: PathBuf,
    /// Where to write the report (default RUNS_DIR/report/<timestamp>/).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The repository whose configs/ (experiments without a run are listed as not-run) and
    /// crates/ (paper titles) are read.
    #[arg(long, value_name = "DIR", default_value = ".")]
    repo: PathBuf,
    /// Only run folders named at or after this timestamp (YYYYMMDD-HHMMSS), e.g. the start of
    /// a smoke-all, so older runs do not stand in for this round's.
    #[arg(long, value_name = "YYYYMMDD-HHMMSS")]
    since: Option<String>,
    /// A tab-separated log of the commands that made the runs (crate, config, exit_status,
    /// seconds), as scripts/smoke-all writes it.
    #[arg(long, value_name = "FILE")]
    commands: Option<PathBuf>,
    /// Figures shown per run (the first ones of figures/ by name).
    #[arg(long, default_value_t = 12)]
    max_figures: usize,
    /// Which configs to list: all, smoke (`*smoke*`) or paper (the others). Experiments with a
    /// run folder are listed whatever their scale.
    #[arg(long, value_enum, default_value_t = xai_report::Scale::All)]
    scale: xai_report::Scale,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let options = xai_report::Options {
        runs_dir: cli.runs_dir,
        repo: Some(cli.repo),
        since: cli.since,
        commands: cli.commands,
        max_figures: cli.max_figures,
        scale: cli.scale,
    };
    let result = xai_report::collect(&options).and_then(|report| {
        let out = cli.out.unwrap_or_else(|| xai_report::default_out_dir(&options.runs_dir));
        xai_report::write(&report, &out)?;
        Ok((report, out))
    });
    match result {
        Ok((report, out)) => {
            println!("{}", xai_report::headline(&report.tally()).replace("**", ""));
            println!("report: {}", out.join("REPORT.md").display());
            println!("report: {}", out.join("report.html").display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
