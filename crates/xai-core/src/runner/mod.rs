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
//!   with `--strict` when a judged check fails;
//! - sweeps on a Slurm cluster ([`sweep`]): `--emit-slurm DIR` writes a job array with one
//!   task per sweep cell, `--cell N` runs one cell into a shared run folder, `--collect`
//!   builds the tables from the finished cells. The `[slurm]` table of a config is read
//!   here and taken out before the crate's config sees it.
//!
//! Over 400 lines: config loading (with `[slurm]`), the run's life cycle and the failure
//! kinds are one sequence every mode goes through; the Slurm modes live in [`sweep`].

mod cells;
pub mod sweep;
mod table;

pub use cells::{CellDone, Cells, MISSING_CELL, SKIPPED_CELL};
pub use sweep::{SlurmTable, SweepArgs};
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

    /// Slurm job arrays: `--emit-slurm DIR`, `--cell N`, `--collect RUN_FOLDER`.
    #[command(flatten)]
    pub sweep: SweepArgs,
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
    /// Where the cells live and how they are handled under `--emit-slurm`, `--cell`,
    /// `--collect`; `None` for a plain run (its own folder's `cells/`, every cell run).
    pub(crate) sweep: Option<sweep::SweepCtx>,
}

impl<C> Session<'_, C> {
    /// The run folder's finished sweep cells (under `--cell N`: the shared run folder's,
    /// handled as the runner's mode says; see [`Cells::get_or_run`]).
    pub fn cells(&self) -> crate::Result<Cells> {
        match &self.sweep {
            None => Cells::open(self.run.path()),
            Some(ctx) => ctx.cells(),
        }
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

/// A config loaded and checked, with everything a run derives from it before its folder
/// exists.
pub(crate) struct Prepared<C> {
    pub loaded: Loaded<C>,
    pub label: String,
    pub slurm: SlurmTable,
    pub device: Device,
    pub resolved: String,
    pub hash: String,
    pub data_root: PathBuf,
}

/// Config (with `[slurm]` taken out), validation, device, resolved TOML and its hash.
fn prepare<C: ExperimentConfig>(embedded: Embedded, args: &RunArgs) -> anyhow::Result<Prepared<C>> {
    let common = &args.common;
    crate::device::set_threads(common.threads);
    let (loaded, label, slurm) = load_config_and_slurm::<C>(embedded, args)?;
    let cfg = &loaded.value;
    cfg.run_table().validate().map_err(|e| anyhow::anyhow!("config {}: {e}", loaded.source))?;
    cfg.validate().map_err(|e| anyhow::anyhow!("config {}: {e:#}", loaded.source))?;
    let device = resolve_device(common.device, cfg.run_table().device)?;
    log::info!("device {}", crate::device::describe(device));
    let resolved = loaded.resolved_toml()?;
    let hash = config_hash(&resolved);
    let data_root = crate::data::data_root(common.data_dir.as_deref());
    Ok(Prepared { loaded, label, slurm, device, resolved, hash, data_root })
}

/// Loads the config, resolves the device, opens the run folder and runs `body` in it.
/// With `--emit-slurm`, `--cell` or `--collect` it does that instead ([`sweep`]).
pub fn run<C, F>(crate_name: &str, embedded: Embedded, args: &RunArgs, body: F) -> anyhow::Result<Finished>
where
    C: ExperimentConfig,
    F: FnOnce(&mut Session<'_, C>) -> anyhow::Result<Outcome>,
{
    args.sweep.check(args.resume.is_some())?;
    let prep = prepare::<C>(embedded, args)?;
    if let Some(dir) = &args.sweep.emit_slurm {
        return sweep::emit(crate_name, &prep, args, dir, body);
    }
    if let (Some(index), Some(folder)) = (args.sweep.cell, &args.resume) {
        return sweep::run_cell(crate_name, &prep, folder, index, body);
    }
    if let Some(folder) = &args.sweep.collect {
        return sweep::collect(crate_name, &prep, folder, body);
    }
    let common = &args.common;
    let Prepared { loaded, label, device, resolved, hash, data_root, .. } = &prep;
    let cfg = &loaded.value;
    let mut run = match &args.resume {
        Some(folder) => {
            let stored = load_stored::<C>(folder)?;
            cfg.check_resume(&stored).map_err(|e| {
                anyhow::anyhow!("cannot resume {} with this config: {e:#} (folder left as it was)", folder.display())
            })?;
            RunDir::resume(folder, resolved, *device)?
        }
        None => {
            let runs_root = runs_root(&common.runs_dir, cfg.run_table().out_dir.as_deref());
            RunDir::create(&runs_root, crate_name, label, resolved, cfg.run_table().seed(), *device)?
        }
    };
    let mut session = Session {
        config: cfg,
        resolved_toml: resolved,
        config_hash: hash,
        label,
        device: *device,
        data_root,
        run: &mut run,
        resumed: args.resume.is_some(),
        sweep: None,
    };
    let outcome = body(&mut session);
    finish_run::<C>(label, run, outcome, None)
}

/// Writes the outcome's files and closes the run folder: `finished`, or `failed` with the
/// error's kind and cause. `partial` (collect with missing cells) is appended to the
/// verdict line and recorded in `results.json`.
fn finish_run<C: ExperimentConfig>(
    label: &str,
    mut run: RunDir,
    outcome: anyhow::Result<Outcome>,
    partial: Option<&str>,
) -> anyhow::Result<Finished> {
    let outcome = match outcome.and_then(|o| write_outcome(label, &run, &o, partial).map(|v| (o, v))) {
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
    Ok(Finished { folder, passed: outcome.passed() && partial.is_none(), verdict, table })
}

/// The config a run folder was started with (`config.toml`, `[slurm]` taken out).
pub(crate) fn load_stored<C: DeserializeOwned>(folder: &Path) -> anyhow::Result<C> {
    let (stored, _) = load_with_slurm::<C>(&folder.join("config.toml"), &[])
        .map_err(|e| anyhow::anyhow!("reading the config of the run to resume: {e}"))?;
    Ok(stored.value)
}

/// `--config FILE`, the resumed folder's `config.toml`, or the embedded config; with the
/// `--set` overrides applied and the `[slurm]` table taken out. Returns the config and its
/// label.
pub fn load_config<C: DeserializeOwned>(embedded: Embedded, args: &RunArgs) -> anyhow::Result<(Loaded<C>, String)> {
    load_config_and_slurm(embedded, args).map(|(loaded, label, _)| (loaded, label))
}

/// [`load_config`] and the config's `[slurm]` table. Under `--cell` and `--collect` the
/// label is the run folder's even when `--config` names a file (the emitted job passes the
/// folder's own `config.toml`), so titles and verdicts equal a local run's.
pub fn load_config_and_slurm<C: DeserializeOwned>(
    embedded: Embedded,
    args: &RunArgs,
) -> anyhow::Result<(Loaded<C>, String, SlurmTable)> {
    let o = &args.common.overrides;
    let stem = |p: &Path| p.file_stem().map(|s| s.to_string_lossy().to_string());
    let folder = args.sweep.collect.as_ref().or(args.resume.as_ref());
    let folder_label = |folder: &Path| {
        // <runs>/<crate>/<label>/<timestamp-id>/: the label is the parent folder's name.
        folder
            .canonicalize()
            .ok()
            .and_then(|f| f.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().to_string()))
            .unwrap_or_else(|| embedded.label().into())
    };
    let sweep_mode = args.sweep.cell.is_some() || args.sweep.collect.is_some();
    Ok(match (&args.common.config, folder) {
        (Some(path), folder) => {
            let (loaded, slurm) = load_with_slurm(path, o)?;
            let label = match folder {
                Some(f) if sweep_mode => folder_label(f),
                _ => stem(path).unwrap_or_else(|| embedded.label().into()),
            };
            (loaded, label, slurm)
        }
        (None, Some(folder)) => {
            let (loaded, slurm) = load_with_slurm(&folder.join("config.toml"), o)
                .map_err(|e| anyhow::anyhow!("reading the config of the run to resume: {e}"))?;
            (loaded, folder_label(folder), slurm)
        }
        (None, None) => {
            let (loaded, slurm) = parse_with_slurm(embedded.text, &format!("<embedded {}>", embedded.path), o)?;
            (loaded, embedded.label().into(), slurm)
        }
    })
}

/// [`config::load`] with the `[slurm]` table taken out before the crate's config (whose
/// `deny_unknown_fields` would refuse it) is deserialised.
pub fn load_with_slurm<C: DeserializeOwned>(
    path: &Path,
    overrides: &[String],
) -> crate::Result<(Loaded<C>, SlurmTable)> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config { file: path.display().to_string(), message: format!("cannot read: {e}") })?;
    parse_with_slurm(&text, &path.display().to_string(), overrides)
}

/// [`config::parse`] with the `[slurm]` table taken out (after the overrides, so
/// `--set slurm.time=8:00:00` works) and returned.
pub fn parse_with_slurm<C: DeserializeOwned>(
    text: &str,
    source: &str,
    overrides: &[String],
) -> crate::Result<(Loaded<C>, SlurmTable)> {
    let Ok(mut table) = text.parse::<toml::Table>() else {
        // Not TOML: config::parse reports the syntax error the usual way.
        return config::parse(text, source, overrides).map(|l| (l, SlurmTable::default()));
    };
    let err = |message: String| Error::Config { file: source.to_string(), message };
    for spec in overrides {
        config::apply_override(&mut table, spec).map_err(err)?;
    }
    let slurm = match table.remove("slurm") {
        None => SlurmTable::default(),
        Some(value) => {
            let slurm: SlurmTable = serde_path_to_error::deserialize(value).map_err(|e| {
                let path = e.path().to_string();
                err(format!("slurm.{path}: {}", e.into_inner().to_string().trim_end()))
            })?;
            slurm.validate().map_err(err)?;
            slurm
        }
    };
    let rest = toml::to_string(&table).map_err(|e| err(format!("cannot serialise: {e}")))?;
    Ok((config::parse(&rest, source, &[])?, slurm))
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
fn write_outcome(
    label: &str,
    run: &RunDir,
    outcome: &Outcome,
    partial: Option<&str>,
) -> anyhow::Result<(String, String)> {
    let title = match partial {
        Some(p) => format!("PARTIAL ({p}) — {}", outcome.title),
        None => outcome.title.clone(),
    };
    let table = report::write(run.path(), &title, &outcome.rows)?;
    let mut line = verdict_line(label, outcome);
    if let Some(p) = partial {
        line = line.replacen(": PASS", ": FAIL", 1);
        line.push_str(&format!(" — PARTIAL: {p}"));
    }
    crate::fsutil::atomic_write(&run.path().join("verdict.txt"), format!("{line}\n").as_bytes())?;
    let mut results = outcome.results.clone();
    if !results.is_object() {
        results = serde_json::json!({ "results": results });
    }
    results["passed"] = (outcome.passed() && partial.is_none()).into();
    if let Some(p) = partial {
        results["partial"] = p.into();
    }
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
mod sweep_tests;
#[cfg(test)]
mod tests;
