//! Sweeps on a Slurm cluster: one job-array task per sweep cell, then one merge.
//!
//! ```text
//! <bin> --config X.toml --emit-slurm DIR    creates the shared run folder, counts the sweep's
//!                                           cells (a dry pass), writes DIR/job.sh, DIR/collect.sh
//! sbatch DIR/job.sh                         task N: <bin> --config RUN/config.toml --resume RUN --cell N
//! sbatch DIR/collect.sh                     <bin> --collect RUN: tables, figures, report
//! ```
//!
//! The shared run folder is an ordinary run folder plus `sweep.json` (the cells, numbered
//! in the order the experiment asks for them) and `tasks/<crate>/cell-NNNN/<stamp>/`, one
//! private run folder per array task. A task writes its cell's result where a local run
//! would (`RUN/cells/`) and everything else the experiment writes (logs, `metrics.csv`,
//! checkpoints, figures made inside the cell) into its own folder, so tasks never write the
//! same file. `--collect` links or concatenates those into the shared folder, then runs the
//! experiment once more with every cell loaded from `cells/` and none computed: the tables
//! are made by the same code from the same cell results as a local run's.
//!
//! How the experiment is steered without knowing any of this: [`super::Cells`] modes.
//! Experiments that do heavy work outside their cells (loading data, building a shared
//! model) repeat it in the counting pass, in every task and in the merge; the cells are
//! what is shared out.
//!
//! Over 400 lines on purpose: emit, cell and collect share one folder layout (`sweep.json`,
//! `tasks/`), one config check and the scripts' text; split apart, each would re-derive them.

use super::cells::{Mode, Plan, Target};
use super::{chain, failure_kind, finish_run, load_stored, CellDone, Cells, ExperimentConfig, Finished};
use super::{Outcome, Prepared, RunArgs, Session, SKIPPED_CELL};
use crate::fsutil::{atomic_write, create_dir_all};
use crate::run::RunDir;
use crate::Error;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The sweep's cells as `--emit-slurm` enumerated them, in the shared run folder.
pub const SWEEP_FILE: &str = "sweep.json";

/// Flags of the Slurm workflow; part of [`RunArgs`].
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SweepArgs {
    /// Prepare the sweep for a Slurm cluster: create its run folder, write DIR/job.sh (a
    /// job array, one task per sweep cell; resources from the config's `[slurm]` table) and
    /// DIR/collect.sh. Submit with `sbatch DIR/job.sh`, then run DIR/collect.sh.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["resume", "cell", "collect"])]
    pub emit_slurm: Option<PathBuf>,

    /// Run only cell N (0-based, numbered as --emit-slurm listed them in sweep.json) of the
    /// run folder given by --resume; a finished cell is kept, an interrupted one resumes.
    #[arg(long, value_name = "N", requires = "resume", conflicts_with = "collect")]
    pub cell: Option<usize>,

    /// Build the tables, figures and report of RUN_FOLDER's sweep from its finished cells,
    /// computing none. Missing or failed cells are listed; the run is then marked failed
    /// (error kind `incomplete`) and its tables are titled PARTIAL.
    #[arg(long, value_name = "RUN_FOLDER", conflicts_with = "resume")]
    pub collect: Option<PathBuf>,
}

impl SweepArgs {
    /// The flag combinations clap refuses, for callers that build [`RunArgs`] in code.
    pub fn check(&self, resume: bool) -> anyhow::Result<()> {
        let modes = [self.emit_slurm.is_some(), self.cell.is_some(), self.collect.is_some()];
        anyhow::ensure!(
            modes.iter().filter(|m| **m).count() <= 1,
            "--emit-slurm, --cell and --collect exclude each other"
        );
        anyhow::ensure!(
            self.cell.is_none() || resume,
            "--cell N needs --resume RUN_FOLDER (the folder --emit-slurm made)"
        );
        anyhow::ensure!(
            !(resume && (self.emit_slurm.is_some() || self.collect.is_some())),
            "--resume does not go with --emit-slurm or --collect"
        );
        Ok(())
    }
}

/// `[slurm]`: resources of each array task. Read by the runner and taken out of the config
/// before the crate's own tables are deserialised, so no crate config knows it; not part
/// of the resolved `config.toml` either, so it never changes the config hash.
///
/// ```toml
/// [slurm]
/// partition = "gpu"     # optional: the cluster's default partition
/// account = "proj42"    # optional
/// time = "04:00:00"     # per task
/// gpus = 1              # default: 1 when the device is cuda, else 0
/// cpus = 4              # per task; also the task's libtorch threads
/// mem = "16G"
/// max_parallel = 8      # optional: at most this many tasks at once (`--array=0-N%8`)
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlurmTable {
    #[serde(default)]
    pub partition: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default = "default_time")]
    pub time: String,
    #[serde(default)]
    pub gpus: Option<u32>,
    #[serde(default = "default_cpus")]
    pub cpus: u32,
    #[serde(default = "default_mem")]
    pub mem: String,
    #[serde(default)]
    pub max_parallel: Option<u32>,
}

fn default_time() -> String {
    "04:00:00".into()
}

fn default_cpus() -> u32 {
    4
}

fn default_mem() -> String {
    "16G".into()
}

impl Default for SlurmTable {
    fn default() -> Self {
        Self {
            partition: None,
            account: None,
            time: default_time(),
            gpus: None,
            cpus: default_cpus(),
            mem: default_mem(),
            max_parallel: None,
        }
    }
}

impl SlurmTable {
    /// Values go verbatim into `#SBATCH` lines: one word each, no shell or line syntax.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let word = |key: &str, v: &str| {
            let ok = !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || "_-.:,+=/@".contains(c));
            if ok {
                Ok(())
            } else {
                Err(format!("slurm.{key}: `{v}` is not a single Slurm word (letters, digits, _-.:,+=/@)"))
            }
        };
        if let Some(p) = &self.partition {
            word("partition", p)?;
        }
        if let Some(a) = &self.account {
            word("account", a)?;
        }
        word("time", &self.time)?;
        word("mem", &self.mem)?;
        if self.cpus == 0 {
            return Err("slurm.cpus: needs at least 1".into());
        }
        if self.max_parallel == Some(0) {
            return Err("slurm.max_parallel: needs at least 1".into());
        }
        Ok(())
    }

    /// GPUs per task: the table's, else one when the run's device is CUDA.
    pub fn gpus_for(&self, device: tch::Device) -> u32 {
        self.gpus.unwrap_or(u32::from(device.is_cuda()))
    }
}

/// One enumerated cell: its number (the array index), key and file stem under `cells/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CellEntry {
    pub index: usize,
    pub key: String,
    pub stem: String,
}

/// `sweep.json` of a shared run folder.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepFile {
    pub crate_name: String,
    pub label: String,
    /// Hash of the resolved config the cells belong to; tasks and collect must match it.
    pub config_hash: String,
    pub cells: Vec<CellEntry>,
    pub job_script: PathBuf,
}

impl SweepFile {
    pub fn read(folder: &Path) -> crate::Result<Option<Self>> {
        let path = folder.join(SWEEP_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text).map(Some).map_err(|e| Error::data(&path, format!("not a sweep.json: {e}")))
    }
}

/// The cells of a session under a Slurm mode: where they live and the shared plan.
pub(crate) struct SweepCtx {
    cells_root: PathBuf,
    plan: Arc<Plan>,
}

impl SweepCtx {
    pub fn cells(&self) -> crate::Result<Cells> {
        Cells::with_plan(&self.cells_root, Some(self.plan.clone()))
    }
}

/// Runs `body` in `run` with the cells of `cells_root` handled as `mode` says; returns
/// the body's result and the plan (its ledger says what the cells saw).
fn run_body<C, F>(
    prep: &Prepared<C>,
    run: &mut RunDir,
    resumed: bool,
    cells_root: &Path,
    mode: Mode,
    body: F,
) -> (std::thread::Result<anyhow::Result<Outcome>>, Arc<Plan>)
where
    C: ExperimentConfig,
    F: FnOnce(&mut Session<'_, C>) -> anyhow::Result<Outcome>,
{
    let plan = Plan::new(mode);
    let mut session = Session {
        config: &prep.loaded.value,
        resolved_toml: &prep.resolved,
        config_hash: &prep.hash,
        label: &prep.label,
        device: prep.device,
        data_root: &prep.data_root,
        run,
        resumed,
        sweep: Some(SweepCtx { cells_root: cells_root.to_path_buf(), plan: plan.clone() }),
    };
    // Only `--cell N` unwinds on purpose (CellDone); the session is dropped right after,
    // and any other panic is resumed by the caller, so no broken state is observed.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| body(&mut session)));
    (result, plan)
}

/// `--emit-slurm DIR`.
pub(crate) fn emit<C, F>(
    crate_name: &str,
    prep: &Prepared<C>,
    args: &RunArgs,
    dir: &Path,
    body: F,
) -> anyhow::Result<Finished>
where
    C: ExperimentConfig,
    F: FnOnce(&mut Session<'_, C>) -> anyhow::Result<Outcome>,
{
    let cfg = &prep.loaded.value;
    let runs_root = super::runs_root(&args.common.runs_dir, cfg.run_table().out_dir.as_deref());
    let mut shared =
        RunDir::create(&runs_root, crate_name, &prep.label, &prep.resolved, cfg.run_table().seed(), prep.device)?;
    match emit_into(crate_name, prep, args, dir, &shared, body) {
        Ok(done) => {
            shared.finish()?;
            // Not `finished`: nothing ran yet. `--collect` sets the final status.
            set_status(&done.folder, "emitted")?;
            Ok(done)
        }
        Err(e) => {
            let _ = shared.fail_with(failure_kind(&e), &chain(&e));
            Err(e.context(format!("run folder {} (marked failed)", shared.path().display())))
        }
    }
}

fn emit_into<C, F>(
    crate_name: &str,
    prep: &Prepared<C>,
    args: &RunArgs,
    dir: &Path,
    shared: &RunDir,
    body: F,
) -> anyhow::Result<Finished>
where
    C: ExperimentConfig,
    F: FnOnce(&mut Session<'_, C>) -> anyhow::Result<Outcome>,
{
    let folder = absolute(shared.path())?;
    let cells = count_cells(crate_name, prep, &folder, body)?;
    let dir = absolute(dir)?;
    create_dir_all(&dir)?;
    let logs = folder.join("slurm-logs");
    create_dir_all(&logs)?;
    let job = dir.join("job.sh");
    let script = Script { crate_name, prep, args, folder: &folder, logs: &logs, dir: &dir };
    atomic_write(&job, script.job(cells.len())?.as_bytes())?;
    atomic_write(&dir.join("collect.sh"), script.collect()?.as_bytes())?;
    make_executable(&job)?;
    make_executable(&dir.join("collect.sh"))?;
    let sweep = SweepFile {
        crate_name: crate_name.into(),
        label: prep.label.clone(),
        config_hash: prep.hash.clone(),
        cells,
        job_script: job.clone(),
    };
    let text = serde_json::to_string_pretty(&sweep).map_err(|e| Error::Other(e.to_string()))?;
    atomic_write(&folder.join(SWEEP_FILE), text.as_bytes())?;
    let n = sweep.cells.len();
    let verdict = format!(
        "emitted {n} cells of {}: submit with `sbatch {}`, then `sbatch --dependency=afterany:<job id> {}`",
        prep.label,
        job.display(),
        dir.join("collect.sh").display()
    );
    println!("run folder: {}", folder.display());
    println!("{verdict}");
    Ok(Finished { folder, passed: true, verdict, table: String::new() })
}

/// The dry pass: runs the experiment in a scratch folder with every cell skipped and
/// records the keys it asks for, in order.
fn count_cells<C, F>(crate_name: &str, prep: &Prepared<C>, folder: &Path, body: F) -> anyhow::Result<Vec<CellEntry>>
where
    C: ExperimentConfig,
    F: FnOnce(&mut Session<'_, C>) -> anyhow::Result<Outcome>,
{
    let scratch = folder.join(".count");
    let seed = prep.loaded.value.run_table().seed();
    let mut run = RunDir::create(&scratch, crate_name, &prep.label, &prep.resolved, seed, prep.device)?;
    log::info!("counting the sweep's cells (a dry pass: every cell is skipped)");
    let (result, plan) = run_body(prep, &mut run, false, &scratch, Mode::Count, body);
    let _ = run.fail_with("other", "counting pass");
    drop(run);
    let _ = std::fs::remove_dir_all(&scratch);
    let result = result.unwrap_or_else(|p| std::panic::resume_unwind(p));
    let keys = std::mem::take(&mut plan.ledger().requested);
    let stopped_at_first =
        keys.len() == 1 && result.as_ref().err().is_some_and(|e| e.root_cause().to_string().starts_with(SKIPPED_CELL));
    if keys.is_empty() {
        let why = result.err().map(|e| format!(" (it ended with: {})", chain(&e))).unwrap_or_default();
        anyhow::bail!(
            "this experiment asks for no sweep cells (`Cells::get_or_run`), so it has nothing to share out{why}"
        );
    }
    if stopped_at_first {
        anyhow::bail!(
            "the experiment stopped at its first skipped cell `{}`: it propagates a cell's error instead of \
             going on with the next cell, so its cells cannot be counted (a sweep of one cell needs no job array; \
             otherwise the crate should go on past errors that `Cells::is_skipped` recognises)",
            keys[0]
        );
    }
    let mut stems = std::collections::HashMap::new();
    let mut cells = vec![];
    for (index, key) in keys.into_iter().enumerate() {
        let stem = Cells::file_stem(&key);
        if let Some(other) = stems.insert(stem.clone(), key.clone()) {
            anyhow::bail!("cells `{other}` and `{key}` share the file cells/{stem}.json: the sweep's keys must differ");
        }
        cells.push(CellEntry { index, key, stem });
    }
    log::info!("{} cells", cells.len());
    Ok(cells)
}

/// `--cell N --resume RUN_FOLDER`.
pub(crate) fn run_cell<C, F>(
    crate_name: &str,
    prep: &Prepared<C>,
    folder: &Path,
    index: usize,
    body: F,
) -> anyhow::Result<Finished>
where
    C: ExperimentConfig,
    F: FnOnce(&mut Session<'_, C>) -> anyhow::Result<Outcome>,
{
    let sweep = SweepFile::read(folder)?.ok_or_else(|| {
        anyhow::anyhow!("{} has no {SWEEP_FILE}: --cell needs a run folder made by --emit-slurm", folder.display())
    })?;
    check_same_config(prep, folder, &sweep)?;
    let entry = sweep.cells.get(index).ok_or_else(|| {
        anyhow::anyhow!("--cell {index}: the sweep has {} cells (0..{})", sweep.cells.len(), sweep.cells.len())
    })?;
    let label = format!("cell-{index:04}");
    let tasks = folder.join("tasks");
    let (mut run, resumed) = match latest_task_folder(&tasks.join(crate_name).join(&label)) {
        Some(task) => (RunDir::resume(&task, &prep.resolved, prep.device)?, true),
        None => {
            let seed = prep.loaded.value.run_table().seed();
            (RunDir::create(&tasks, crate_name, &label, &prep.resolved, seed, prep.device)?, false)
        }
    };
    log::info!("array task: cell #{index} `{}` of {}", entry.key, folder.display());
    let mode = Mode::Only { index, expected: Some(entry.key.clone()) };
    let (result, plan) = run_body(prep, &mut run, resumed, folder, mode, body);
    let body_error = match result {
        Err(payload) if payload.is::<CellDone>() => None,
        Err(payload) => std::panic::resume_unwind(payload),
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(e),
    };
    let target = plan.ledger().target.clone();
    let asked = plan.ledger().requested.len();
    let cause = body_error.as_ref().map(|e| format!(": {}", chain(e))).unwrap_or_default();
    let error = match target {
        Some(Target::Done { kept }) => {
            let what = if kept { "already finished, kept" } else { "finished" };
            run.write_results(&serde_json::json!({ "cell": index, "key": entry.key, "kept": kept }))?;
            let task = run.finish()?;
            let verdict = format!("cell #{index} `{}`: {what} (task folder {})", entry.key, task.display());
            println!("{verdict}");
            return Ok(Finished { folder: folder.to_path_buf(), passed: true, verdict, table: String::new() });
        }
        Some(Target::Failed(why)) => anyhow::anyhow!("cell #{index} `{}` failed: {why}", entry.key),
        Some(Target::Mismatch { found }) => anyhow::anyhow!(
            "cell #{index} is `{found}` now but `{}` in {SWEEP_FILE}: the sweep changed since --emit-slurm",
            entry.key
        ),
        None if asked <= index && body_error.is_some() => anyhow::anyhow!(
            "the experiment ended after {asked} of its cells, before cell #{index}{cause} (one that propagates a \
             skipped cell's error cannot run under --cell; see Cells::is_skipped)"
        ),
        None => anyhow::anyhow!("the experiment asked for {asked} cells, never for cell #{index}{cause}"),
    };
    let kind = body_error.as_ref().map(|e| C::failure_kind(e).unwrap_or_else(|| failure_kind(e))).unwrap_or("other");
    let _ = run.fail_with(kind, &chain(&error));
    Err(error.context(format!("task folder {} (marked failed)", run.path().display())))
}

/// `--collect RUN_FOLDER`.
pub(crate) fn collect<C, F>(crate_name: &str, prep: &Prepared<C>, folder: &Path, body: F) -> anyhow::Result<Finished>
where
    C: ExperimentConfig,
    F: FnOnce(&mut Session<'_, C>) -> anyhow::Result<Outcome>,
{
    let sweep = SweepFile::read(folder)?;
    if let Some(sweep) = &sweep {
        check_same_config(prep, folder, sweep)?;
    } else {
        let stored = load_stored::<C>(folder)?;
        prep.loaded.value.check_resume(&stored)?;
    }
    merge_task_outputs(folder, crate_name)?;
    let mut run = RunDir::resume(folder, &prep.resolved, prep.device)?;
    let (result, plan) = run_body(prep, &mut run, true, folder, Mode::Collect, body);
    let result = result.unwrap_or_else(|p| std::panic::resume_unwind(p));
    let (requested, seen_missing) = {
        let ledger = plan.ledger();
        (ledger.requested.clone(), ledger.missing.clone())
    };
    let cells = Cells::open(folder)?;
    let expected: Vec<String> = match &sweep {
        Some(s) => s.cells.iter().map(|c| c.key.clone()).collect(),
        None => requested.clone(),
    };
    let mut missing: Vec<Missing> = vec![];
    for (index, key) in expected.iter().enumerate() {
        let stored = cells.dir().join(format!("{}.json", Cells::file_stem(key)));
        if !stored.is_file() || seen_missing.contains(key) {
            missing.push(Missing::of(folder, crate_name, index, key));
        }
    }
    // A crate that stops at its first missing cell asks for fewer; those are not a change.
    let changed = result.is_ok() && sweep.is_some() && requested != expected;
    let summary = (!missing.is_empty()).then(|| {
        let list: Vec<String> = missing.iter().map(Missing::describe).collect();
        format!("{} of {} cells missing: {}", missing.len(), expected.len(), list.join("; "))
    });
    if let Some(s) = &summary {
        log::error!("collect: {s}");
        run.write_csv("missing_cells.csv", &missing)?;
    } else if folder.join("missing_cells.csv").is_file() {
        std::fs::remove_file(folder.join("missing_cells.csv")).map_err(|e| Error::io(folder, e))?;
    }
    let result = match result {
        Ok(_) if changed => Err(anyhow::anyhow!(
            "the experiment asked for other cells than {SWEEP_FILE} lists ({} vs {}): the sweep changed since \
             --emit-slurm",
            requested.len(),
            expected.len()
        )),
        other => other,
    };
    let Some(summary) = summary else { return finish_run::<C>(&prep.label, run, result, None) };
    let partial = format!("{} of {} cells missing", missing.len(), expected.len());
    match result {
        Ok(mut outcome) => {
            // The tables of the finished cells are worth a look, but titled PARTIAL, with
            // a FAIL verdict, and the run is marked failed: it never passes for complete.
            if outcome.results.is_object() {
                outcome.results["missing_cells"] = missing.iter().map(|m| m.key.clone()).collect::<Vec<_>>().into();
            }
            outcome.failed_cells = outcome.failed_cells.max(missing.len());
            let written = super::write_outcome(&prep.label, &run, &outcome, Some(&partial));
            let _ = run.fail_with("incomplete", &summary);
            let (verdict, table) = written?;
            println!("{table}");
            println!("run folder: {}", folder.display());
            println!("{verdict}");
            anyhow::bail!("collect {}: {summary} (partial tables written, run marked failed)", folder.display())
        }
        Err(e) => {
            let e = e.context(format!("incomplete sweep: {summary}"));
            let _ = run.fail_with("incomplete", &chain(&e));
            Err(e.context(format!("run folder {} (marked failed)", folder.display())))
        }
    }
}

/// A cell `--collect` found no result for, and what its array task left.
#[derive(Debug, Clone, Serialize)]
struct Missing {
    index: usize,
    key: String,
    /// `not run`, or the task's run.json status (`failed`, `running`: killed, or still on).
    status: String,
    error: String,
}

impl Missing {
    fn of(folder: &Path, crate_name: &str, index: usize, key: &str) -> Self {
        let task = latest_task_folder(&folder.join("tasks").join(crate_name).join(format!("cell-{index:04}")));
        let info: Option<serde_json::Value> = task
            .and_then(|t| std::fs::read_to_string(t.join("run.json")).ok())
            .and_then(|t| serde_json::from_str(&t).ok());
        let (status, error) = match info {
            None => ("not run".to_string(), String::new()),
            Some(i) => (
                i["status"].as_str().unwrap_or("unknown").to_string(),
                i["error"].as_str().unwrap_or_default().to_string(),
            ),
        };
        Self { index, key: key.into(), status, error }
    }

    fn describe(&self) -> String {
        if self.error.is_empty() {
            format!("#{} `{}` ({})", self.index, self.key, self.status)
        } else {
            format!("#{} `{}` ({}: {})", self.index, self.key, self.status, self.error)
        }
    }
}

/// Refuses a config other than the one the array was emitted with: its cells would be
/// another sweep's.
fn check_same_config<C>(prep: &Prepared<C>, folder: &Path, sweep: &SweepFile) -> anyhow::Result<()> {
    anyhow::ensure!(
        prep.hash == sweep.config_hash,
        "the config (hash {}) differs from the one {} was emitted with ({}); run without --config/--set to use \
         the folder's own",
        prep.hash,
        folder.display(),
        sweep.config_hash
    );
    Ok(())
}

/// The newest `<stamp>-<id>` run folder under `dir` (one per array task unless it was
/// created twice concurrently).
fn latest_task_folder(dir: &Path) -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("run.json").is_file())
        .collect();
    found.sort();
    found.pop()
}

/// Array-task folders, in cell order.
fn task_folders(folder: &Path, crate_name: &str) -> Vec<PathBuf> {
    let root = folder.join("tasks").join(crate_name);
    let Ok(entries) = std::fs::read_dir(&root) else { return vec![] };
    let mut cells: Vec<(usize, PathBuf)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            let index = name.strip_prefix("cell-")?.parse().ok()?;
            Some((index, latest_task_folder(&e.path())?))
        })
        .collect();
    cells.sort();
    cells.into_iter().map(|(_, p)| p).collect()
}

/// Brings what the array tasks wrote besides their cells into the shared folder, as a
/// local run would have it: `metrics.csv` rows concatenated in cell order (rebuilt on every
/// collect, so it stays idempotent), and `figures/`, `checkpoints/` files linked (copied
/// across file systems) where the shared folder has none of that name.
fn merge_task_outputs(folder: &Path, crate_name: &str) -> crate::Result<()> {
    let tasks = task_folders(folder, crate_name);
    let (mut header, mut rows) = (None::<String>, String::new());
    for task in &tasks {
        let Ok(text) = std::fs::read_to_string(task.join("metrics.csv")) else { continue };
        let mut lines = text.lines();
        let Some(head) = lines.next() else { continue };
        match &header {
            None => header = Some(head.to_string()),
            Some(h) if h != head => {
                log::warn!("{}: another metrics.csv header, its rows are left out", task.display());
                continue;
            }
            Some(_) => {}
        }
        for line in lines.filter(|l| !l.is_empty()) {
            rows.push_str(line);
            rows.push('\n');
        }
    }
    if let Some(h) = header {
        atomic_write(&folder.join("metrics.csv"), format!("{h}\n{rows}").as_bytes())?;
    }
    for task in &tasks {
        for sub in ["figures", "checkpoints"] {
            link_tree(&task.join(sub), &folder.join(sub))?;
        }
    }
    Ok(())
}

fn link_tree(from: &Path, to: &Path) -> crate::Result<()> {
    let Ok(entries) = std::fs::read_dir(from) else { return Ok(()) };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(from, e))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            link_tree(&src, &dst)?;
        } else if !dst.exists() {
            create_dir_all(to)?;
            if std::fs::hard_link(&src, &dst).is_err() {
                std::fs::copy(&src, &dst).map_err(|e| Error::io(&dst, e))?;
            }
        }
    }
    Ok(())
}

/// Rewrites `status` in a closed run folder's `run.json`.
fn set_status(folder: &Path, status: &str) -> crate::Result<()> {
    edit_run_json(folder, |info| info["status"] = status.into())
}

fn edit_run_json(folder: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> crate::Result<()> {
    let path = folder.join("run.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    let mut info: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| Error::data(&path, format!("not JSON: {e}")))?;
    edit(&mut info);
    let text = serde_json::to_string_pretty(&info).map_err(|e| Error::Other(e.to_string()))?;
    atomic_write(&path, text.as_bytes())
}

fn absolute(path: &Path) -> crate::Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::io(path, e))
}

fn make_executable(path: &Path) -> crate::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).map_err(|e| Error::io(path, e))
}

/// A shell word: single-quoted unless it is plainly safe.
fn quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-./:=@+,".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// The two scripts `--emit-slurm` writes.
struct Script<'a, C> {
    crate_name: &'a str,
    prep: &'a Prepared<C>,
    args: &'a RunArgs,
    folder: &'a Path,
    logs: &'a Path,
    /// Where the scripts go (`--emit-slurm DIR`).
    dir: &'a Path,
}

impl<C> Script<'_, C> {
    /// `#SBATCH` lines cannot quote: paths in them must be one word.
    fn sbatch_path(p: &Path) -> anyhow::Result<String> {
        let s = p.display().to_string();
        anyhow::ensure!(!s.chars().any(char::is_whitespace), "Slurm cannot take a path with spaces: {s}");
        Ok(s)
    }

    fn header(&self, name: &str, output: &str) -> anyhow::Result<String> {
        let s = &self.prep.slurm;
        let mut h = format!("#!/bin/bash\n#SBATCH --job-name={}-{name}\n", self.crate_name);
        h.push_str(&format!("#SBATCH --output={output}\n"));
        h.push_str(&format!("#SBATCH --chdir={}\n", Self::sbatch_path(&absolute(Path::new("."))?)?));
        if let Some(p) = &s.partition {
            h.push_str(&format!("#SBATCH --partition={p}\n"));
        }
        if let Some(a) = &s.account {
            h.push_str(&format!("#SBATCH --account={a}\n"));
        }
        h.push_str(&format!(
            "#SBATCH --time={}\n#SBATCH --cpus-per-task={}\n#SBATCH --mem={}\n",
            s.time, s.cpus, s.mem
        ));
        let gpus = s.gpus_for(self.prep.device);
        if gpus > 0 {
            h.push_str(&format!("#SBATCH --gres=gpu:{gpus}\n"));
        }
        Ok(h)
    }

    /// The binary and the flags every task and the merge share.
    fn command(&self) -> anyhow::Result<String> {
        let exe = std::env::current_exe().map_err(|e| anyhow::anyhow!("locating this binary: {e}"))?;
        let mut cmd = vec![quote(&exe.display().to_string())];
        let common = &self.args.common;
        if common.device != crate::device::DeviceChoice::Auto {
            let name = clap::ValueEnum::to_possible_value(&common.device).map(|v| v.get_name().to_string());
            cmd.push(format!("--device {}", name.unwrap_or_default()));
        }
        if common.threads > 0 {
            cmd.push(format!("--threads {}", common.threads));
        } else {
            // The task's own CPUs, not the node's: libtorch would otherwise start a thread per core.
            cmd.push(format!("--threads \"${{SLURM_CPUS_PER_TASK:-{}}}\"", self.prep.slurm.cpus));
        }
        cmd.push(format!("--data-dir {}", quote(&absolute(&self.prep.data_root)?.display().to_string())));
        Ok(cmd.join(" "))
    }

    fn job(&self, n_cells: usize) -> anyhow::Result<String> {
        let output = format!("{}/cell-%a.log", Self::sbatch_path(self.logs)?);
        let mut s = self.header(&self.prep.label, &output)?;
        let throttle = self.prep.slurm.max_parallel.map(|m| format!("%{m}")).unwrap_or_default();
        s.push_str(&format!("#SBATCH --array=0-{}{throttle}\n", n_cells.saturating_sub(1)));
        let run = quote(&self.folder.display().to_string());
        s.push_str(&format!(
            "# {n_cells} cells of {label}, listed in {run}/{SWEEP_FILE}; each task writes {run}/cells/<cell>.json.\n\
             # Submit: sbatch {job}   then, when all tasks ended: sbatch {collect}\n\
             set -euo pipefail\nRUN={run}\n\
             exec {cmd} --config \"$RUN/config.toml\" --resume \"$RUN\" --cell \"$SLURM_ARRAY_TASK_ID\"\n",
            label = self.prep.label,
            job = quote(&self.dir.join("job.sh").display().to_string()),
            collect = quote(&self.dir.join("collect.sh").display().to_string()),
            cmd = self.command()?,
        ));
        Ok(s)
    }

    fn collect(&self) -> anyhow::Result<String> {
        let output = format!("{}/collect-%j.log", Self::sbatch_path(self.logs)?);
        let mut s = self.header(&format!("{}-collect", self.prep.label), &output)?;
        let run = quote(&self.folder.display().to_string());
        s.push_str(&format!(
            "# Builds the tables, figures and report from the finished cells; lists missing ones.\n\
             # Submit after the array: sbatch --dependency=afterany:<array job id> collect.sh (or run it here).\n\
             set -euo pipefail\nRUN={run}\nexec {} --collect \"$RUN\"\n",
            self.command()?
        ));
        Ok(s)
    }
}
