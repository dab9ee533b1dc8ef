//! Run folders: everything one experiment run leaves behind.
//!
//! ```text
//! runs/<crate>/<experiment>/<timestamp>-<id>/
//!   config.toml      resolved config (defaults and overrides applied)
//!   run.json         git revision, seed, device, libtorch, stage times, peak RSS, status
//!   metrics.csv      rows appended as training goes (other CSVs beside it)
//!   results.json     headline numbers
//!   figures/  checkpoints/
//! ```
//! Whole-file writes are atomic. `run.json` says `running` until [`RunDir::finish`];
//! a run that errors or panics is marked `failed`, so nothing half-done looks finished.

use crate::fsutil::{atomic_write, create_dir_all};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stage {
    name: String,
    seconds: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunInfo {
    crate_name: String,
    experiment: String,
    status: String,
    /// What failed (config, data, training, io, device, other), with `error` its cause chain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error_kind: Option<String>,
    error: Option<String>,
    started: String,
    finished: Option<String>,
    git_revision: String,
    seed: u64,
    device: String,
    libtorch: String,
    command_line: Vec<String>,
    wall_seconds: f64,
    stages: Vec<Stage>,
    peak_rss_mib: Option<f64>,
    /// How many times the run was resumed after an interruption.
    #[serde(default)]
    resumed: u32,
}

/// A live run folder. Drop without [`RunDir::finish`] marks the run failed.
pub struct RunDir {
    root: PathBuf,
    info: RunInfo,
    started: Instant,
    closed: bool,
}

impl RunDir {
    /// Creates `runs_root/<crate_name>/<experiment>/<timestamp>-<id>/` with its
    /// sub-folders, writes `config.toml` and an initial `run.json`.
    pub fn create(
        runs_root: &Path,
        crate_name: &str,
        experiment: &str,
        resolved_config: &str,
        seed: u64,
        device: tch::Device,
    ) -> Result<Self> {
        let stamp = chrono::Local::now();
        let id = unique_suffix();
        let root = runs_root.join(crate_name).join(experiment).join(format!("{}-{id}", stamp.format("%Y%m%d-%H%M%S")));
        create_dir_all(&root)?;
        create_dir_all(&root.join("figures"))?;
        create_dir_all(&root.join("checkpoints"))?;
        let info = RunInfo {
            crate_name: crate_name.into(),
            experiment: experiment.into(),
            status: "running".into(),
            error_kind: None,
            error: None,
            started: stamp.to_rfc3339(),
            finished: None,
            git_revision: git_revision(),
            seed,
            device: crate::device::describe(device),
            libtorch: crate::device::libtorch_version(),
            command_line: std::env::args().collect(),
            wall_seconds: 0.0,
            stages: vec![],
            peak_rss_mib: None,
            resumed: 0,
        };
        let run = Self { root, info, started: Instant::now(), closed: false };
        atomic_write(&run.root.join("config.toml"), resolved_config.as_bytes())?;
        run.write_info()?;
        log::info!("run folder: {}", run.root.display());
        Ok(run)
    }

    /// Re-opens an existing run folder to continue an interrupted run: its `run.json`
    /// keeps the stages so far, counts the resume and says `running` again; `config.toml`
    /// is replaced by `resolved_config` (the caller checks it is compatible).
    pub fn resume(root: &Path, resolved_config: &str, device: tch::Device) -> Result<Self> {
        let info_path = root.join("run.json");
        let text = std::fs::read_to_string(&info_path).map_err(|e| Error::io(&info_path, e))?;
        let mut info: RunInfo = serde_json::from_str(&text).map_err(|e| {
            Error::invalid("run folder", format!("{}: not a run.json of xai-rs: {e}", info_path.display()))
        })?;
        info.status = "running".into();
        info.error = None;
        info.error_kind = None;
        info.finished = None;
        info.resumed += 1;
        info.device = crate::device::describe(device);
        info.command_line = std::env::args().collect();
        info.git_revision = git_revision();
        let run = Self { root: root.to_path_buf(), info, started: Instant::now(), closed: false };
        create_dir_all(&run.figures_dir())?;
        create_dir_all(&run.checkpoints_dir())?;
        atomic_write(&root.join("config.toml"), resolved_config.as_bytes())?;
        run.write_info()?;
        log::info!("resuming run folder: {}", root.display());
        Ok(run)
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    pub fn figures_dir(&self) -> PathBuf {
        self.root.join("figures")
    }

    pub fn checkpoints_dir(&self) -> PathBuf {
        self.root.join("checkpoints")
    }

    /// A CSV log in the run folder (`metrics.csv` by convention); rows are flushed as
    /// they come so a long run can be watched and a killed one still has its history.
    pub fn csv_log(&self, file_name: &str) -> Result<CsvLog> {
        CsvLog::create(&self.root.join(file_name))
    }

    /// Like [`RunDir::csv_log`] but keeps existing rows (for resumed runs).
    pub fn csv_log_append(&self, file_name: &str) -> Result<CsvLog> {
        CsvLog::append(&self.root.join(file_name))
    }

    /// Writes `results.json` atomically.
    pub fn write_results<T: Serialize>(&self, results: &T) -> Result<()> {
        self.write_json("results.json", results)
    }

    /// Writes any JSON file in the run folder atomically.
    pub fn write_json<T: Serialize>(&self, file_name: &str, value: &T) -> Result<()> {
        let text = serde_json::to_string_pretty(value).map_err(|e| Error::Other(e.to_string()))?;
        atomic_write(&self.root.join(file_name), text.as_bytes())
    }

    /// Writes a whole CSV file from serialisable rows atomically.
    pub fn write_csv<T: Serialize>(&self, file_name: &str, rows: &[T]) -> Result<()> {
        write_csv_rows(&self.root.join(file_name), rows)
    }

    /// Runs one named stage, recording its wall time in `run.json`.
    pub fn stage<T>(&mut self, name: &str, body: impl FnOnce(&mut Self) -> Result<T>) -> Result<T> {
        log::info!("stage `{name}` started");
        let t = Instant::now();
        let out = body(self);
        let seconds = t.elapsed().as_secs_f64();
        self.info.stages.push(Stage { name: name.into(), seconds });
        log::info!("stage `{name}` took {seconds:.1}s");
        self.write_info()?;
        out
    }

    /// Marks the run finished; returns its folder.
    pub fn finish(mut self) -> Result<PathBuf> {
        self.close("finished", None)?;
        log::info!("run finished: {}", self.root.display());
        Ok(self.root.clone())
    }

    /// Marks the run failed with the error's message.
    pub fn fail(mut self, error: &dyn std::fmt::Display) -> Result<()> {
        self.close("failed", Some(error.to_string()))
    }

    /// Marks the run failed with what kind of failure it was and its whole cause chain.
    pub fn fail_with(&mut self, kind: &str, cause: &str) -> Result<()> {
        self.info.error_kind = Some(kind.into());
        self.close("failed", Some(cause.into()))
    }

    /// The run's status in `run.json` (`running`, `finished`, `failed`).
    pub fn status(&self) -> &str {
        &self.info.status
    }

    fn close(&mut self, status: &str, error: Option<String>) -> Result<()> {
        self.closed = true;
        self.info.status = status.into();
        self.info.error = error;
        self.info.finished = Some(chrono::Local::now().to_rfc3339());
        self.write_info()
    }

    fn write_info(&self) -> Result<()> {
        let mut info = self.info.clone();
        info.wall_seconds = self.started.elapsed().as_secs_f64();
        info.peak_rss_mib = peak_rss_bytes().map(|b| b as f64 / (1024.0 * 1024.0));
        let text = serde_json::to_string_pretty(&info).map_err(|e| Error::Other(e.to_string()))?;
        atomic_write(&self.root.join("run.json"), text.as_bytes())
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if !self.closed {
            let why = if std::thread::panicking() { "panicked" } else { "ended without finishing" };
            let _ = self.close("failed", Some(why.into()));
        }
    }
}

/// Appends serialisable rows to a CSV file, header first, flushing every row.
pub struct CsvLog {
    path: PathBuf,
    writer: csv::Writer<std::fs::File>,
}

impl CsvLog {
    /// A new log; an existing file of that name is replaced.
    pub fn create(path: &Path) -> Result<Self> {
        let file = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
        Ok(Self { path: path.to_path_buf(), writer: csv::Writer::from_writer(file) })
    }

    /// Appends to `path`, writing the header only when the file is new or empty.
    pub fn append(path: &Path) -> Result<Self> {
        let fresh = std::fs::metadata(path).map(|m| m.len() == 0).unwrap_or(true);
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| Error::io(path, e))?;
        let writer = csv::WriterBuilder::new().has_headers(fresh).from_writer(file);
        Ok(Self { path: path.to_path_buf(), writer })
    }

    pub fn log<T: Serialize>(&mut self, row: &T) -> Result<()> {
        self.writer.serialize(row).map_err(|e| Error::Other(format!("{}: {e}", self.path.display())))?;
        self.writer.flush().map_err(|e| Error::io(&self.path, e))
    }
}

/// Writes rows to a CSV file atomically.
pub fn write_csv_rows<T: Serialize>(path: &Path, rows: &[T]) -> Result<()> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Other(format!("{}: {e}", path.display())))?;
    atomic_write(path, &bytes)
}

/// Peak resident set size of this process (Linux `VmHWM`); `None` elsewhere.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Minor page faults of this process so far (Linux `/proc/self/stat`, field 10); `None`
/// elsewhere. Benches read it around a step: steady-state training should fault no pages.
pub fn minor_page_faults() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may hold spaces; the fields after its ')' are fixed.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(7)?.parse().ok()
}

fn unique_suffix() -> String {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{:04x}", (nanos ^ std::process::id().rotate_left(16)) & 0xffff)
}

/// The checkout's revision (`abc123def456`, `-dirty` when tracked files changed), or
/// `unknown` outside a git checkout.
pub fn git_revision() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "--short=12", "HEAD"]) {
        Some(rev) => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
            if dirty {
                format!("{rev}-dirty")
            } else {
                rev
            }
        }
        None => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn touching_fresh_pages_counts_as_minor_faults() {
        let before = minor_page_faults().unwrap();
        // 64 MiB touched page by page: at least 16k faults unless pages were already mapped,
        // which a fresh mmap-sized allocation is not.
        let mut v = vec![0u8; 64 << 20];
        for i in (0..v.len()).step_by(4096) {
            v[i] = 1;
        }
        std::hint::black_box(&v);
        let after = minor_page_faults().unwrap();
        assert!(after - before >= 8_000, "{before} -> {after}");
    }

    #[test]
    fn run_folder_layout_and_status() {
        let tmp = tempfile::tempdir().unwrap();
        let mut run = RunDir::create(tmp.path(), "core", "unit", "a = 1\n", 7, tch::Device::Cpu).unwrap();
        let root = run.path().to_path_buf();
        assert!(root.starts_with(tmp.path().join("core/unit")));
        assert!(root.join("figures").is_dir() && root.join("checkpoints").is_dir());
        assert_eq!(std::fs::read_to_string(root.join("config.toml")).unwrap(), "a = 1\n");
        let info: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("run.json")).unwrap()).unwrap();
        assert_eq!(info["status"], "running");
        assert_eq!(info["seed"], 7);
        run.stage("s", |r| {
            let mut log = r.csv_log("metrics.csv")?;
            #[derive(Serialize)]
            struct Row {
                epoch: usize,
                loss: f64,
            }
            log.log(&Row { epoch: 1, loss: 0.5 })
        })
        .unwrap();
        run.write_results(&serde_json::json!({"acc": 0.9})).unwrap();
        run.finish().unwrap();
        let info: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("run.json")).unwrap()).unwrap();
        assert_eq!(info["status"], "finished");
        assert_eq!(info["stages"][0]["name"], "s");
        assert_eq!(std::fs::read_to_string(root.join("metrics.csv")).unwrap(), "epoch,loss\n1,0.5\n");
    }

    #[test]
    fn resumed_run_keeps_history_and_appends_logs() {
        #[derive(Serialize)]
        struct Row {
            step: u32,
        }
        let tmp = tempfile::tempdir().unwrap();
        let root = {
            let mut run = RunDir::create(tmp.path(), "core", "unit", "a = 1\n", 3, tch::Device::Cpu).unwrap();
            run.stage("first", |r| r.csv_log("steps.csv")?.log(&Row { step: 1 })).unwrap();
            run.path().to_path_buf()
        };
        let mut run = RunDir::resume(&root, "a = 2\n", tch::Device::Cpu).unwrap();
        run.stage("second", |r| r.csv_log_append("steps.csv")?.log(&Row { step: 2 })).unwrap();
        run.finish().unwrap();
        assert_eq!(std::fs::read_to_string(root.join("steps.csv")).unwrap(), "step\n1\n2\n");
        assert_eq!(std::fs::read_to_string(root.join("config.toml")).unwrap(), "a = 2\n");
        let info: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("run.json")).unwrap()).unwrap();
        assert_eq!(info["status"], "finished");
        assert_eq!(info["resumed"], 1);
        assert_eq!(info["seed"], 3);
        assert_eq!(info["stages"].as_array().unwrap().len(), 2);
        let e = RunDir::resume(&tmp.path().join("nope"), "", tch::Device::Cpu).err().unwrap().to_string();
        assert!(e.contains("nope/run.json"), "{e}");
    }

    #[test]
    fn dropped_run_is_marked_failed() {
        let tmp = tempfile::tempdir().unwrap();
        let root = {
            let run = RunDir::create(tmp.path(), "core", "unit", "", 1, tch::Device::Cpu).unwrap();
            run.path().to_path_buf()
        };
        let info: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(root.join("run.json")).unwrap()).unwrap();
        assert_eq!(info["status"], "failed");
    }

    #[test]
    fn unwritable_runs_folder_is_a_named_error() {
        let tmp = tempfile::tempdir().unwrap();
        let blocker = tmp.path().join("file");
        std::fs::write(&blocker, b"x").unwrap();
        let err = RunDir::create(&blocker, "core", "unit", "", 1, tch::Device::Cpu).err().unwrap().to_string();
        assert!(err.contains(&blocker.display().to_string()), "{err}");
    }
}
