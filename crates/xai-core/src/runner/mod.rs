//! The one experiment runner every method binary uses.
//!
//! A binary's `main` is a few lines: it names its crate and embedded smoke config and
//! hands [`main`] a body that runs the experiment inside a [`Session`]. The runner owns
//! everything around it, the same for every crate:
//!
//! - config: `--config FILE` or the embedded smoke config, `--set key=value` overrides,
//!   the crate's validation, the resolved TOML and its [`config_hash`];
//! - one device rule: `--device` wins unless it is `auto`, then `[run] device`, then auto;
//! - the run folder: created, or reopened with `--resume FOLDER` (then the folder's own
//!   `config.toml` is used unless `--config` is given);
//! - the end of a run: `results.json`, `paper_comparison.{md,csv}`, `verdict.txt`, the
//!   table and the verdict line on stdout;
//! - failures: any error after the run folder exists is recorded in `run.json` with its
//!   kind (config, data, training, io, other) and whole cause chain; exit status 1, or 2
//!   with `--strict` when a judged check fails.

mod cells;
mod table;

pub use cells::Cells;
pub use table::{ExperimentName, RunTable, SaveWeights};

use crate::cli::CommonArgs;
use crate::config::{self, Loaded};
use crate::device::DeviceChoice;
use crate::report::{self, Row};
use crate::run::RunDir;
use crate::Error;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tch::Device;

/// Flags of every experiment binary: `#[command(flatten)]` them into its `Parser`.
#[derive(Debug, Clone, clap::Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Continue the interrupted run in this folder: finished sweep cells are kept, the
    /// interrupted cell resumes from its checkpoint where the crate keeps one. Without
    /// --config the folder's own config.toml is used.
    #[arg(long, value_name = "RUN_FOLDER")]
    pub resume: Option<PathBuf>,

    /// Exit with status 2 when a judged check of the ours-vs-paper table fails (for CI).
    #[arg(long)]
    pub strict: bool,
}

/// A config compiled into the binary, run when no `--config` is given.
#[derive(Debug, Clone, Copy)]
pub struct Embedded {
    /// The file it was read from, e.g. `configs/cdep/colormnist_smoke.toml`.
    pub path: &'static str,
    pub text: &'static str,
}

impl Embedded {
    /// The config's label: its file stem.
    pub fn label(&self) -> &'static str {
        let name = self.path.rsplit('/').next().unwrap_or(self.path);
        name.strip_suffix(".toml").unwrap_or(name)
    }
}

/// What a method crate's config offers the runner.
pub trait ExperimentConfig: Serialize + DeserializeOwned {
    type Experiment: ExperimentName;
    /// The `[run]` table.
    fn run_table(&self) -> &RunTable<Self::Experiment>;
    /// Checks values that deserialisation cannot (ranges, consistency); errors name the key.
    fn validate(&self) -> anyhow::Result<()>;

    /// Before `--resume` reopens a folder: whether this config may continue the run that
    /// `stored` (the folder's `config.toml`) started. Refuse changes that would mix results
    /// of two experiments in one folder; the folder is left untouched then.
    fn check_resume(&self, _stored: &Self) -> anyhow::Result<()> {
        Ok(())
    }

    /// The failure kind (config, data, training, io, device) of an error of the crate's
    /// own type, which the runner cannot see through (`#[error(transparent)]` wrappers hide
    /// the xai-core error inside); `None` falls back to [`failure_kind`].
    fn failure_kind(_error: &anyhow::Error) -> Option<&'static str> {
        None
    }
}

/// What the experiment body gets.
pub struct Session<'a, C> {
    pub config: &'a C,
    /// The resolved config as written to `config.toml`.
    pub resolved_toml: &'a str,
    pub config_hash: &'a str,
    /// The config's label (file stem): the run folder's experiment name.
    pub label: &'a str,
    pub device: Device,
    pub data_root: &'a Path,
    pub run: &'a mut RunDir,
    /// Whether this continues an interrupted run (finished cells are in [`Session::cells`]).
    pub resumed: bool,
}

impl<C> Session<'_, C> {
    /// The run folder's finished sweep cells.
    pub fn cells(&self) -> crate::Result<Cells> {
        Cells::open(self.run.path())
    }
}

/// What a finished experiment reports; the runner writes and prints it.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Title of the ours-vs-paper table.
    pub title: String,
    pub rows: Vec<Row>,
    /// Headline numbers and whatever else belongs in `results.json`.
    pub results: serde_json::Value,
    /// Cells of the sweep that failed (listed in the crate's own files); any makes the
    /// verdict FAIL.
    pub failed_cells: usize,
}

impl Outcome {
    pub fn new(title: impl Into<String>, rows: Vec<Row>, results: serde_json::Value) -> Self {
        Self { title: title.into(), rows, results, failed_cells: 0 }
    }

    /// No judged row failed and every cell finished.
    pub fn passed(&self) -> bool {
        report::all_passed(&self.rows) && self.failed_cells == 0
    }
}

/// How a run ended, for [`main`]'s exit status and for tests.
#[derive(Debug, Clone)]
pub struct Finished {
    pub folder: PathBuf,
    pub passed: bool,
    pub verdict: String,
    pub table: String,
}

/// The exit status when a judged check fails under `--strict`.
pub const STRICT_FAILURE: u8 = 2;

/// A binary's whole `main`: parses nothing itself (the caller's clap `Parser` flattens
/// [`RunArgs`]), sets up logging, runs [`run`], prints errors with their causes.
/// Exit status: 0, 1 on error, [`STRICT_FAILURE`] when `--strict` and a check failed.
pub fn main<C, F>(crate_name: &str, embedded: Embedded, args: &RunArgs, body: F) -> ExitCode
where
    C: ExperimentConfig,
    F: FnOnce(&mut Session<'_, C>) -> anyhow::Result<Outcome>,
{
    crate::device::tune_allocator();
    crate::cli::init_logging();
    match run(crate_name, embedded, args, body) {
        Ok(done) if args.strict && !done.passed => {
            eprintln!("error: a judged check failed (see {})", done.folder.join("paper_comparison.md").display());
            ExitCode::from(STRICT_FAILURE)
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            ExitCode::FAILURE
        }
    }
}

/// Loads the config, resolves the device, opens the run folder and runs `body` in it.
pub fn run<C, F>(crate_name: &str, embedded: Embedded, args: &RunArgs, body: F) -> anyhow::Result<Finished>
where
    C: ExperimentConfig,
    F: FnOnce(&mut Session<'_, C>) -> anyhow::Result<Outcome>,
{
    let common = &args.common;
    crate::device::set_threads(common.threads);
    let (loaded, label) = load_config::<C>(embedded, args)?;
    let cfg = &loaded.value;
    cfg.run_table().validate().map_err(|e| anyhow::anyhow!("config {}: {e}", loaded.source))?;
    cfg.validate().map_err(|e| anyhow::anyhow!("config {}: {e:#}", loaded.source))?;
    let device = resolve_device(common.device, cfg.run_table().device)?;
    log::info!("device {}", crate::device::describe(device));
    let resolved = loaded.resolved_toml()?;
    let hash = config_hash(&resolved);
    let data_root = crate::data::data_root(common.data_dir.as_deref());
    let mut run = match &args.resume {
        Some(folder) => {
            let stored: Loaded<C> = config::load(&folder.join("config.toml"), &[])
                .map_err(|e| anyhow::anyhow!("reading the config of the run to resume: {e}"))?;
            cfg.check_resume(&stored.value).map_err(|e| {
                anyhow::anyhow!("cannot resume {} with this config: {e:#} (folder left as it was)", folder.display())
            })?;
            RunDir::resume(folder, &resolved, device)?
        }
        None => {
            let runs_root = runs_root(&common.runs_dir, cfg.run_table().out_dir.as_deref());
            RunDir::create(&runs_root, crate_name, &label, &resolved, cfg.run_table().seed(), device)?
        }
    };
    let mut session = Session {
        config: cfg,
        resolved_toml: &resolved,
        config_hash: &hash,
        label: &label,
        device,
        data_root: &data_root,
        run: &mut run,
        resumed: args.resume.is_some(),
    };
    let outcome = match body(&mut session).and_then(|o| write_outcome(&label, &run, &o).map(|v| (o, v))) {
        Ok(done) => done,
        Err(e) => {
            let kind = C::failure_kind(&e).unwrap_or_else(|| failure_kind(&e));
            let _ = run.fail_with(kind, &chain(&e));
            return Err(e.context(format!("run folder {} (marked failed)", run.path().display())));
        }
    };
    let (outcome, (verdict, table)) = outcome;
    let folder = run.finish()?;
    println!("{table}");
    println!("run folder: {}", folder.display());
    println!("{verdict}");
    Ok(Finished { folder, passed: outcome.passed(), verdict, table })
}

/// `--config FILE`, the resumed folder's `config.toml`, or the embedded config; with the
/// `--set` overrides applied. Returns the config and its label.
pub fn load_config<C: DeserializeOwned>(embedded: Embedded, args: &RunArgs) -> anyhow::Result<(Loaded<C>, String)> {
    let o = &args.common.overrides;
    let stem = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().to_string());
    Ok(match (&args.common.config, &args.resume) {
        (Some(path), _) => (config::load(path, o)?, stem(path).unwrap_or_else(|| embedded.label().into())),
        (None, Some(folder)) => {
            let loaded = config::load(&folder.join("config.toml"), o)
                .map_err(|e| anyhow::anyhow!("reading the config of the run to resume: {e}"))?;
            // <runs>/<crate>/<label>/<timestamp-id>/: the label is the parent folder's name.
            let label = folder
                .canonicalize()
                .ok()
                .and_then(|f| f.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().to_string()))
                .unwrap_or_else(|| embedded.label().into());
            (loaded, label)
        }
        (None, None) => {
            (config::parse(embedded.text, &format!("<embedded {}>", embedded.path), o)?, embedded.label().into())
        }
    })
}

/// The device rule of every binary: `--device` wins unless it is `auto`, then the
/// config's `[run] device`, then auto (CUDA when usable).
pub fn resolve_device(cli: DeviceChoice, config: Option<DeviceChoice>) -> crate::Result<Device> {
    let choice = if cli != DeviceChoice::Auto { cli } else { config.unwrap_or(DeviceChoice::Auto) };
    choice.resolve()
}

/// `--runs-dir` when given (not its default `runs`), else `[run] out_dir`, else `runs`.
pub fn runs_root(cli: &Path, config: Option<&Path>) -> PathBuf {
    match config {
        Some(dir) if cli == Path::new("runs") => dir.to_path_buf(),
        _ => cli.to_path_buf(),
    }
}

/// Short hash of a resolved config (12 hex digits): ties checkpoints and cells to it.
pub fn config_hash(resolved: &str) -> String {
    Sha256::digest(resolved.as_bytes()).iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Writes `paper_comparison.*`, `results.json` and `verdict.txt`; returns the verdict line
/// and the Markdown table.
fn write_outcome(label: &str, run: &RunDir, outcome: &Outcome) -> anyhow::Result<(String, String)> {
    let table = report::write(run.path(), &outcome.title, &outcome.rows)?;
    let line = verdict_line(label, outcome);
    crate::fsutil::atomic_write(&run.path().join("verdict.txt"), format!("{line}\n").as_bytes())?;
    let mut results = outcome.results.clone();
    if !results.is_object() {
        results = serde_json::json!({ "results": results });
    }
    results["passed"] = outcome.passed().into();
    results["verdict"] = line.clone().into();
    if outcome.failed_cells > 0 {
        results["failed_cells"] = outcome.failed_cells.into();
    }
    run.write_results(&results)?;
    Ok((line, table))
}

/// `verdict LABEL: PASS|FAIL — metric value (ok|FAIL); …`
pub fn verdict_line(label: &str, outcome: &Outcome) -> String {
    let judged: Vec<String> = outcome
        .rows
        .iter()
        .filter(|r| r.passed().is_some())
        .map(|r| format!("{} {} ({})", r.metric, short(r.ours), if r.passed() == Some(true) { "ok" } else { "FAIL" }))
        .collect();
    let mut detail = if judged.is_empty() { "no judged checks".to_string() } else { judged.join("; ") };
    if outcome.failed_cells > 0 {
        detail.push_str(&format!("; {} sweep cells failed", outcome.failed_cells));
    }
    format!("verdict {label}: {} — {detail}", if outcome.passed() { "PASS" } else { "FAIL" })
}

/// A number for the verdict line: 3 decimals, or 2 significant digits when tiny.
fn short(v: f64) -> String {
    if v != 0.0 && v.abs() < 0.01 {
        format!("{v:.2e}")
    } else {
        format!("{v:.3}")
    }
}

/// The error and its causes on one line.
pub fn chain(e: &anyhow::Error) -> String {
    let mut parts: Vec<String> = vec![];
    for cause in e.chain() {
        let s = cause.to_string();
        // thiserror's transparent wrappers repeat their source's message.
        if !parts.last().is_some_and(|last| last.ends_with(&s)) {
            parts.push(s);
        }
    }
    parts.join(": caused by: ")
}

/// The failure kind of an xai-core error (`None` for [`Error::Other`], which says nothing);
/// crates whose error types wrap xai-core's call it from [`ExperimentConfig::failure_kind`].
pub fn core_failure_kind(e: &Error) -> Option<&'static str> {
    match e {
        Error::Config { .. } | Error::Invalid { .. } => Some("config"),
        Error::Data { .. } => Some("data"),
        Error::NonFinite(_) | Error::Torch(_) => Some("training"),
        Error::Io { .. } | Error::Checkpoint { .. } => Some("io"),
        Error::Device(_) => Some("device"),
        Error::Other(_) => None,
    }
}

/// What kind of failure an error is, for `run.json`: the first cause that says.
pub fn failure_kind(e: &anyhow::Error) -> &'static str {
    for cause in e.chain() {
        if let Some(kind) = cause.downcast_ref::<Error>().and_then(core_failure_kind) {
            return kind;
        }
        if cause.downcast_ref::<std::io::Error>().is_some() {
            return "io";
        }
        if cause.downcast_ref::<tch::TchError>().is_some() {
            return "training";
        }
    }
    "other"
}

#[cfg(test)]
mod tests;
