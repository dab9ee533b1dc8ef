//! One report of every paper number.
//!
//! Reads the run folders every xai-rs binary writes (`runs/<crate>/<experiment>/<timestamp>-<id>/`
//! with `run.json`, `paper_comparison.csv`, `results.json`, `figures/`), takes the latest run of
//! each experiment, and writes `REPORT.md` and a self-contained `report.html`:
//!
//! - a summary: per paper, how many experiments pass, fail, did not finish or never ran, and
//!   how many judged numbers reproduce (smoke and paper-scale configs apart);
//! - per crate, a table of its experiments (status, run folder, start, wall time, device, git
//!   revision), then per experiment each headline number beside the paper's, with its ± and
//!   pass / FAIL / reported, and the run's figures.
//!
//! A run is a pass only when its `run.json` says `finished`: failed, running and incomplete
//! runs are shown as such, and when the latest run of an experiment did not finish the numbers
//! of its last finished run are shown but not counted. Configs under `configs/<crate>/` with no
//! run folder are listed as not-run.
//!
//! | module | what |
//! |---|---|
//! | `model` | runs, experiments, papers, statuses and the counting rules |
//! | `scan` | reading run folders, configs and crate descriptions |
//! | `markdown`, `html` | the two renderings |
//! | `format` | number, duration and path formatting shared by both |
//!
//! ```
//! # fn main() -> anyhow::Result<()> {
//! let runs = std::env::temp_dir().join(format!("xai-report-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&runs)?;
//! let report = xai_report::collect(&xai_report::Options::new(&runs))?;
//! let out = xai_report::default_out_dir(&runs);
//! xai_report::write(&report, &out)?;
//! assert!(out.join("REPORT.md").is_file() && out.join("report.html").is_file());
//! # std::fs::remove_dir_all(&runs)?;
//! # Ok(()) }
//! ```

pub mod format;
mod html;
mod markdown;
pub mod model;
pub mod scan;

use anyhow::{Context, Result};
use model::{Experiment, Report, Tally};
use std::path::{Path, PathBuf};

/// What to read.
#[derive(Debug, Clone)]
pub struct Options {
    pub runs_dir: PathBuf,
    /// A repository with `configs/` and `crates/`; `None` reads run folders only.
    pub repo: Option<PathBuf>,
    /// Only run folders named at or after this `YYYYMMDD-HHMMSS`.
    pub since: Option<String>,
    /// The smoke-all command log (see [`scan::read_commands`]).
    pub commands: Option<PathBuf>,
    pub max_figures: usize,
    pub scale: Scale,
}

/// Which configs the report lists. An experiment with a run folder in the report's window is
/// always listed, whatever its scale: a run that happened is never hidden.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scale {
    All,
    /// Smoke configs only (what `just smoke-all` runs): not-run paper-scale configs are left out.
    Smoke,
    /// Paper-scale configs only (what `just reproduce-all` runs).
    Paper,
}

impl Scale {
    fn keeps(self, e: &Experiment) -> bool {
        !e.runs.is_empty()
            || match self {
                Scale::All => true,
                Scale::Smoke => e.is_smoke(),
                Scale::Paper => !e.is_smoke(),
            }
    }
}

impl Options {
    pub fn new(runs_dir: impl Into<PathBuf>) -> Self {
        Self { runs_dir: runs_dir.into(), repo: None, since: None, commands: None, max_figures: 12, scale: Scale::All }
    }
}

/// Reads everything the report shows.
pub fn collect(options: &Options) -> Result<Report> {
    if let Some(since) = &options.since {
        anyhow::ensure!(
            scan::is_run_folder_name(&format!("{since}-x")),
            "--since {since:?}: expected YYYYMMDD-HHMMSS, as run folders are named"
        );
    }
    let repo_dir = |name: &str| options.repo.as_ref().map(|r| r.join(name)).filter(|d| d.is_dir());
    let sources = scan::Sources {
        runs_dir: options.runs_dir.clone(),
        configs_dir: repo_dir("configs"),
        crates_dir: repo_dir("crates"),
        since: options.since.clone(),
        max_figures: options.max_figures,
    };
    let mut papers = scan::papers(&sources)?;
    papers.iter_mut().for_each(|p| p.experiments.retain(|e| options.scale.keeps(e)));
    papers.retain(|p| !p.experiments.is_empty());
    let commands = match &options.commands {
        Some(path) => scan::read_commands(path)?,
        None => vec![],
    };
    mark_ended(&mut papers, &commands);
    Ok(Report {
        generated: chrono::Local::now().format("%Y-%m-%d %H:%M:%S %:z").to_string(),
        runs_dir: options.runs_dir.clone(),
        since: options.since.clone(),
        papers,
        commands,
    })
}

/// A run whose `run.json` still says `running` although the command that started it has
/// ended (killed by a timeout, say) is not running: it is incomplete, and says why.
fn mark_ended(papers: &mut [model::Paper], commands: &[model::Command]) {
    for e in papers.iter_mut().flat_map(|p| p.experiments.iter_mut()) {
        let ended = commands
            .iter()
            .rev()
            .find(|c| c.crate_name == e.crate_name && Path::new(&c.config).file_stem().is_some_and(|s| *s == *e.name));
        if let (Some(c), Some(run)) = (ended, e.runs.last_mut()) {
            if run.state == model::RunState::Running {
                run.state = model::RunState::Incomplete(format!(
                    "its command ({}) ended with exit status {} before the run recorded an end",
                    c.config,
                    exit_label(c.exit_status)
                ));
            }
        }
    }
}

/// Writes `REPORT.md` and `report.html` into `out_dir` (created if needed).
pub fn write(report: &Report, out_dir: &Path) -> Result<()> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    write_atomically(&out_dir.join("REPORT.md"), &markdown::render(report, out_dir))?;
    write_atomically(&out_dir.join("report.html"), &html::render(report))
}

/// Temp file, then rename: a report interrupted while writing never looks finished.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// `RUNS_DIR/report/<YYYYMMDD-HHMMSS>/`: beside the crates' run folders, skipped when scanning.
pub fn default_out_dir(runs_dir: &Path) -> PathBuf {
    runs_dir.join(scan::REPORT_DIR_NAME).join(chrono::Local::now().format("%Y%m%d-%H%M%S").to_string())
}

/// The summary's first sentence.
pub fn headline(t: &Tally) -> String {
    let pass = t.smoke_numbers.0 + t.paper_numbers.0;
    let judged = t.smoke_numbers.1 + t.paper_numbers.1;
    format!(
        "**{pass} of {judged} judged numbers reproduce** (smoke configs {}, paper-scale configs {}). \
         Experiments: {} PASS, {} FAIL, {} failed / running / incomplete, {} reported only, {} not-run, of {}.",
        frac(t.smoke_numbers),
        frac(t.paper_numbers),
        t.pass,
        t.fail,
        t.unfinished,
        t.reported_only,
        t.not_run,
        t.experiments
    )
}

fn frac((pass, judged): (usize, usize)) -> String {
    format!("{pass} / {judged}")
}

/// Where the report came from: when, which folder, which revisions.
pub fn provenance(report: &Report) -> String {
    let mut s = format!("Generated {} from `{}`", report.generated, report.runs_dir.display());
    if let Some(since) = &report.since {
        s.push_str(&format!(", run folders from {since} on"));
    }
    let revs = report.revisions();
    if !revs.is_empty() {
        s.push_str(&format!(
            "; git revision{} of the latest runs: {}",
            if revs.len() == 1 { "" } else { "s" },
            revs.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    s.push('.');
    s
}

/// The experiment table's "judged numbers" cell.
pub fn numbers_cell(e: &Experiment) -> String {
    match (e.latest(), e.shown()) {
        (None, _) | (_, None) => "—".into(),
        (Some(latest), Some(shown)) => {
            let (p, j) = shown.judged();
            let cell = if j == 0 { "none judged".to_string() } else { format!("{p} / {j} pass") };
            if std::ptr::eq(latest, shown) {
                cell
            } else {
                format!("({cell} in an older run)")
            }
        }
    }
}

/// `2026-11-28 01:54:43` from run.json's RFC 3339 `started`.
pub fn started_short(started: Option<&str>) -> String {
    match started {
        Some(s) if s.len() >= 19 => s[..19].replace('T', " "),
        Some(s) => s.to_string(),
        None => "—".into(),
    }
}

/// The exit status `smoke-all` records for a config it did not run because its data is
/// absent (Automake's "skipped" convention): not a failure, and the experiment stays not-run.
pub const SKIPPED: i32 = 77;

/// `0`, `1`, `124 (timed out)` as GNU timeout reports a kill, or `77 (skipped: no data)`.
pub fn exit_label(status: i32) -> String {
    match status {
        124 => "124 (timed out)".into(),
        SKIPPED => "77 (skipped: no data)".into(),
        s => s.to_string(),
    }
}
