//! Reading run folders, configs and crate descriptions into the report's model.

use crate::model::{Command, Experiment, Number, NumberStatus, Paper, Run, RunState};
use anyhow::{Context, Result};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The folder the report writes into by default (`<runs>/report/`): never a crate's runs.
pub const REPORT_DIR_NAME: &str = "report";

/// `<timestamp>-<id>` as `RunDir::create` names run folders: `YYYYMMDD-HHMMSS-…`.
pub fn is_run_folder_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() > 16
        && b[..8].iter().all(u8::is_ascii_digit)
        && b[8] == b'-'
        && b[9..15].iter().all(u8::is_ascii_digit)
        && b[15] == b'-'
}

/// `YYYYMMDD-HHMMSS`, the part of a run folder's name that orders runs in time.
pub fn timestamp_of(name: &str) -> &str {
    name.get(..15).unwrap_or(name)
}

#[derive(Deserialize)]
struct RunJson {
    status: Option<String>,
    error_kind: Option<String>,
    error: Option<String>,
    started: Option<String>,
    git_revision: Option<String>,
    device: Option<String>,
    wall_seconds: Option<f64>,
}

#[derive(Deserialize)]
struct CsvRow {
    metric: String,
    ours: Option<f64>,
    ours_std: Option<f64>,
    paper: Option<f64>,
    paper_std: Option<f64>,
    check: String,
    status: String,
    #[serde(default)]
    note: String,
}

/// Reads one run folder. Missing or unreadable files make the run incomplete, never an error:
/// a report of many runs should not stop at one broken folder.
pub fn read_run(folder: &Path, max_figures: usize) -> Run {
    let name = folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut run = Run {
        folder: folder.to_path_buf(),
        name,
        state: RunState::Incomplete("no run.json".into()),
        started: None,
        git_revision: None,
        device: None,
        wall_seconds: None,
        title: None,
        verdict: None,
        results_passed: None,
        numbers: vec![],
        figures: vec![],
        figures_total: 0,
    };
    let (figures, total) = figures(&folder.join("figures"), max_figures);
    run.figures = figures;
    run.figures_total = total;
    let info_path = folder.join("run.json");
    let info: RunJson = match std::fs::read_to_string(&info_path) {
        Err(_) => return run,
        Ok(text) => match serde_json::from_str(&text) {
            Ok(info) => info,
            Err(e) => {
                run.state = RunState::Incomplete(format!("run.json unreadable: {e}"));
                return run;
            }
        },
    };
    run.started = info.started;
    run.git_revision = info.git_revision;
    run.device = info.device;
    run.wall_seconds = info.wall_seconds;
    run.state = match info.status.as_deref() {
        Some("finished") => RunState::Finished,
        Some("failed") => RunState::Failed { kind: info.error_kind, error: info.error },
        Some("running") => RunState::Running,
        other => RunState::Incomplete(format!("run.json status {other:?}")),
    };
    run.title = std::fs::read_to_string(folder.join("paper_comparison.md"))
        .ok()
        .and_then(|md| md.lines().next().map(|l| l.trim_start_matches('#').trim().to_string()))
        .filter(|t| !t.is_empty());
    if let Ok(text) = std::fs::read_to_string(folder.join("results.json")) {
        if let Ok(results) = serde_json::from_str::<serde_json::Value>(&text) {
            run.results_passed = results.get("passed").and_then(|v| v.as_bool());
            run.verdict = results.get("verdict").and_then(|v| v.as_str()).map(str::to_string);
        }
    }
    if run.verdict.is_none() {
        run.verdict = std::fs::read_to_string(folder.join("verdict.txt")).ok().map(|v| v.trim().to_string());
    }
    let csv_path = folder.join("paper_comparison.csv");
    match read_numbers(&csv_path) {
        Ok(numbers) => run.numbers = numbers,
        Err(e) if run.finished() => {
            run.state = RunState::Incomplete(format!("finished, but {e:#}"));
        }
        // A failed or running run rarely has the table; its absence says nothing new.
        Err(_) => {}
    }
    run
}

/// The rows of a `paper_comparison.csv`.
pub fn read_numbers(path: &Path) -> Result<Vec<Number>> {
    let mut reader = csv::Reader::from_path(path).with_context(|| format!("no readable {}", path.display()))?;
    let mut numbers = vec![];
    for row in reader.deserialize::<CsvRow>() {
        let row = row.with_context(|| format!("{}: bad row", path.display()))?;
        numbers.push(Number {
            metric: row.metric,
            ours: row.ours,
            ours_std: row.ours_std,
            paper: row.paper,
            paper_std: row.paper_std,
            check: row.check,
            status: NumberStatus::parse(&row.status),
            note: row.note,
        });
    }
    Ok(numbers)
}

/// PNGs directly in `dir` (sorted, at most `cap`) and the count of all PNGs below it.
fn figures(dir: &Path, cap: usize) -> (Vec<PathBuf>, usize) {
    let mut top: Vec<PathBuf> = list(dir).into_iter().filter(|p| is_png(p)).collect();
    top.sort();
    let total = count_pngs(dir);
    top.truncate(cap);
    (top, total)
}

fn count_pngs(dir: &Path) -> usize {
    list(dir).iter().map(|p| if p.is_dir() { count_pngs(p) } else { usize::from(is_png(p)) }).sum()
}

fn is_png(p: &Path) -> bool {
    p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"))
}

/// Entries of a folder; an absent folder has none.
fn list(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect()).unwrap_or_default()
}

fn sub_dirs(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut dirs: Vec<(String, PathBuf)> = list(dir)
        .into_iter()
        .filter(|p| p.is_dir())
        .filter_map(|p| p.file_name().map(|n| (n.to_string_lossy().into_owned(), p.clone())))
        .collect();
    dirs.sort();
    dirs
}

/// Run folders of one experiment, oldest first; with `since`, only those named at or after it.
fn read_runs(dir: &Path, since: Option<&str>, max_figures: usize) -> Vec<Run> {
    let mut runs: Vec<Run> = sub_dirs(dir)
        .into_iter()
        .filter(|(name, _)| is_run_folder_name(name))
        .filter(|(name, _)| since.map_or(true, |s| timestamp_of(name) >= s))
        .map(|(_, path)| read_run(&path, max_figures))
        .collect();
    // Folder names order by second; two runs in one second are ordered by run.json's start.
    runs.sort_by(|a, b| {
        (timestamp_of(&a.name), a.started.as_deref(), &a.name).cmp(&(
            timestamp_of(&b.name),
            b.started.as_deref(),
            &b.name,
        ))
    });
    runs
}

/// What to read and how.
#[derive(Debug, Clone)]
pub struct Sources {
    pub runs_dir: PathBuf,
    /// `configs/<crate>/*.toml`; absent: no not-run experiments are listed.
    pub configs_dir: Option<PathBuf>,
    /// `crates/<crate>/Cargo.toml` descriptions name the papers.
    pub crates_dir: Option<PathBuf>,
    pub since: Option<String>,
    pub max_figures: usize,
}

/// Every crate with run folders or configs, each with its experiments.
pub fn papers(src: &Sources) -> Result<Vec<Paper>> {
    anyhow::ensure!(src.runs_dir.is_dir(), "runs directory {} does not exist", src.runs_dir.display());
    // crate -> experiment -> config path
    let mut found: BTreeMap<String, BTreeMap<String, Option<PathBuf>>> = BTreeMap::new();
    for (crate_name, dir) in sub_dirs(&src.runs_dir) {
        if crate_name == REPORT_DIR_NAME || crate_name.starts_with('.') {
            continue;
        }
        let experiments: Vec<String> = sub_dirs(&dir)
            .into_iter()
            .filter(|(_, p)| sub_dirs(p).iter().any(|(n, _)| is_run_folder_name(n)))
            .map(|(n, _)| n)
            .collect();
        if !experiments.is_empty() {
            let entry = found.entry(crate_name).or_default();
            experiments.into_iter().for_each(|e| {
                entry.entry(e).or_insert(None);
            });
        }
    }
    if let Some(configs) = &src.configs_dir {
        for (crate_name, dir) in sub_dirs(configs) {
            for path in list(&dir) {
                if path.extension().is_some_and(|e| e == "toml") {
                    if let Some(stem) = path.file_stem() {
                        let entry = found.entry(crate_name.clone()).or_default();
                        // Shown as the repository-relative path a reader types, not the scan path.
                        let shown = Path::new("configs").join(&crate_name).join(path.file_name().unwrap_or_default());
                        entry.insert(stem.to_string_lossy().into_owned(), Some(shown));
                    }
                }
            }
        }
    }
    Ok(found
        .into_iter()
        .map(|(crate_name, experiments)| Paper {
            description: src.crates_dir.as_deref().and_then(|d| description(d, &crate_name)),
            experiments: experiments
                .into_iter()
                .map(|(name, config)| Experiment {
                    runs: read_runs(&src.runs_dir.join(&crate_name).join(&name), src.since.as_deref(), src.max_figures),
                    crate_name: crate_name.clone(),
                    name,
                    config,
                })
                .collect(),
            crate_name,
        })
        .collect())
}

/// `package.description` of `crates/<name>/Cargo.toml`, or of `crates/xai-<name>/` (the
/// core's runs are filed under `core`).
fn description(crates_dir: &Path, crate_name: &str) -> Option<String> {
    [crate_name.to_string(), format!("xai-{crate_name}")].iter().find_map(|dir| {
        let text = std::fs::read_to_string(crates_dir.join(dir).join("Cargo.toml")).ok()?;
        let manifest: toml::Value = toml::from_str(&text).ok()?;
        manifest.get("package")?.get("description")?.as_str().map(str::to_string)
    })
}

/// The smoke-all log: tab-separated `crate config exit_status seconds`, with a header.
pub fn read_commands(path: &Path) -> Result<Vec<Command>> {
    #[derive(Deserialize)]
    struct Line {
        #[serde(rename = "crate")]
        crate_name: String,
        config: String,
        exit_status: i32,
        seconds: f64,
    }
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b'\t')
        .from_path(path)
        .with_context(|| format!("reading the command log {}", path.display()))?;
    reader
        .deserialize::<Line>()
        .map(|l| {
            let l = l.with_context(|| format!("{}: bad line", path.display()))?;
            Ok(Command { crate_name: l.crate_name, config: l.config, exit_status: l.exit_status, seconds: l.seconds })
        })
        .collect()
}
