//! Sweep cells that survive an interruption, and that a Slurm job array shares out.
//!
//! A sweep (methods × λ × seeds, or grid points) stores each finished cell's outcome as
//! `cells/<key>.json` in its run folder. A resumed run ([`super::RunArgs::resume`]) finds
//! them and skips those cells, so a killed paper-scale sweep loses at most the cell it
//! was in; a crate with per-cell checkpoints resumes even that one. Because every cell
//! seeds its own RNGs, the tables of a resumed sweep equal an uninterrupted one's.
//!
//! Cells are numbered by the order of [`Cells::get_or_run`] calls, which a sweep makes in
//! a fixed order (its config's lists). That number is what `--cell N` names: the runner
//! hands the experiment a [`Cells`] in one of four modes, so no crate knows about Slurm:
//!
//! | mode | `get_or_run` of the Nth key |
//! |---|---|
//! | all (a plain run) | stored, or computed and stored |
//! | count (`--emit-slurm`) | records the key, returns a *skipped* error without running it |
//! | only N (`--cell N`) | cell N as in a plain run, then unwinds out of the experiment ([`CellDone`]); any other cell: *skipped* error |
//! | collect (`--collect`) | stored, or a *missing* error; nothing is computed |
//!
//! A crate that records a failed cell and goes on (cdep, calimocho) needs nothing more;
//! one that propagates a cell's error with `?` stops at the first skipped cell, which
//! the runner detects and reports (see [`super::sweep`]).

use crate::fsutil::{atomic_write, create_dir_all};
use crate::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Start of the message of a cell that this process does not run (count and only-N modes).
pub const SKIPPED_CELL: &str = "sweep cell skipped";
/// Start of the message of a cell that `--collect` found no result for.
pub const MISSING_CELL: &str = "sweep cell missing";

/// How the runner wants a sweep's cells handled (see the module table); a plain run
/// has no plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mode {
    Count,
    /// Run cell `index` only; `expected` is its key as `--emit-slurm` enumerated it.
    Only {
        index: usize,
        expected: Option<String>,
    },
    Collect,
}

/// What happened to the one cell of an only-N run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Target {
    /// Finished; `kept` when an earlier attempt had already stored it.
    Done { kept: bool },
    /// Its computation returned this error (the crate may log it, wrap it or drop it).
    Failed(String),
    /// The Nth key is not the one enumerated at emit time: the sweep changed.
    Mismatch { found: String },
}

/// What the cells of one experiment run saw, for the runner to judge afterwards.
#[derive(Debug, Default)]
pub(crate) struct Ledger {
    /// Every key asked for, in call order: the sweep's cell numbering.
    pub requested: Vec<String>,
    pub target: Option<Target>,
    /// Collect mode: keys without a stored result.
    pub missing: Vec<String>,
}

/// A mode and its ledger, shared by every [`Cells`] a session hands out, so numbering
/// continues across `session.cells()` calls.
#[derive(Debug)]
pub(crate) struct Plan {
    pub mode: Mode,
    pub ledger: Mutex<Ledger>,
}

impl Plan {
    pub fn new(mode: Mode) -> Arc<Self> {
        Arc::new(Self { mode, ledger: Mutex::new(Ledger::default()) })
    }

    pub fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        // A panic while the lock is held cannot leave the ledger half-written (pushes only).
        self.ledger.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The unwind payload that ends an only-N run as soon as its cell is stored, so the
/// experiment writes no tables from one cell into the shared folder and wastes no time
/// on the other cells. Raised with `resume_unwind` (no panic message) and caught by the
/// runner; nothing else should catch it.
#[derive(Debug)]
pub struct CellDone;

/// The `cells/` folder of one run.
pub struct Cells {
    dir: PathBuf,
    plan: Option<Arc<Plan>>,
}

impl Cells {
    /// Opens (creating) `run_folder/cells/`.
    pub fn open(run_folder: &Path) -> Result<Self> {
        let dir = run_folder.join("cells");
        create_dir_all(&dir)?;
        Ok(Self { dir, plan: None })
    }

    /// Opens `run_folder/cells/` handled as `plan` says.
    pub(crate) fn with_plan(run_folder: &Path, plan: Option<Arc<Plan>>) -> Result<Self> {
        Ok(Self { plan, ..Self::open(run_folder)? })
    }

    /// Whether `error` (any error type, through any wrapper that keeps the message) is a
    /// cell this process was told not to run, or one `--collect` found no result for;
    /// a crate that propagates cell errors can test it to go on with the next cell.
    pub fn is_skipped(error: &dyn std::fmt::Display) -> bool {
        let text = error.to_string();
        text.starts_with(SKIPPED_CELL) || text.starts_with(MISSING_CELL)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// File-name-safe form of a cell key (`cdep λ=1000 seed=0` → `cdep_λ_1000_seed_0`).
    pub fn file_stem(key: &str) -> String {
        let mut s: String =
            key.chars().map(|c| if c.is_alphanumeric() || c == '.' || c == '-' { c } else { '_' }).collect();
        while s.contains("__") {
            s = s.replace("__", "_");
        }
        s.trim_matches('_').to_string()
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{}.json", Self::file_stem(key)))
    }

    /// The stored outcome of a finished cell, if any.
    pub fn load<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let path = self.path(key);
        if !path.is_file() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let value = serde_json::from_str(&text).map_err(|e| {
            Error::data(&path, format!("not a finished cell of this crate ({e}); delete it to rerun the cell"))
        })?;
        Ok(Some(value))
    }

    /// Marks a cell finished with its outcome (atomic).
    pub fn store<T: Serialize>(&self, key: &str, outcome: &T) -> Result<()> {
        let text = serde_json::to_string_pretty(outcome).map_err(|e| Error::Other(e.to_string()))?;
        atomic_write(&self.path(key), text.as_bytes())
    }

    /// The outcome of cell `key`: stored, or computed by `run` and stored. `bool`: whether
    /// it was stored before. Under `--emit-slurm`, `--cell N` or `--collect` the runner's
    /// mode applies (module docs): other cells return a [`SKIPPED_CELL`] error, missing
    /// ones a [`MISSING_CELL`] error, and `--cell N` unwinds with [`CellDone`] once its
    /// cell is stored.
    pub fn get_or_run<T: Serialize + DeserializeOwned, E: From<Error> + std::fmt::Display>(
        &self,
        key: &str,
        run: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<(T, bool), E> {
        let Some(plan) = &self.plan else { return self.load_or_run(key, run) };
        let index = {
            let mut ledger = plan.ledger();
            ledger.requested.push(key.to_string());
            ledger.requested.len() - 1
        };
        match &plan.mode {
            Mode::Count => {
                Err(Error::Other(format!("{SKIPPED_CELL}: cell #{index} `{key}` (counting cells only)")).into())
            }
            Mode::Collect => match self.load(key)? {
                Some(done) => Ok((done, true)),
                None => {
                    plan.ledger().missing.push(key.to_string());
                    log::warn!("cell #{index} `{key}`: no result in {}", self.dir.display());
                    Err(Error::Other(format!(
                        "{MISSING_CELL}: cell #{index} `{key}` has no result in cells/ (not run yet, or failed)"
                    ))
                    .into())
                }
            },
            Mode::Only { index: wanted, expected } => {
                if index != *wanted {
                    return Err(Error::Other(format!(
                        "{SKIPPED_CELL}: cell #{index} `{key}` is another array task's (this one runs --cell {wanted})"
                    ))
                    .into());
                }
                if let Some(expected) = expected.as_deref().filter(|e| *e != key) {
                    plan.ledger().target = Some(Target::Mismatch { found: key.to_string() });
                    return Err(Error::Other(format!(
                        "cell #{index} is `{key}` but the job array was emitted with `{expected}` there: \
                         the sweep changed since --emit-slurm"
                    ))
                    .into());
                }
                match self.load_or_run(key, run) {
                    Ok((_, kept)) => {
                        plan.ledger().target = Some(Target::Done { kept });
                        std::panic::resume_unwind(Box::new(CellDone))
                    }
                    Err(e) => {
                        plan.ledger().target = Some(Target::Failed(format!("{e:#}")));
                        Err(e)
                    }
                }
            }
        }
    }

    fn load_or_run<T: Serialize + DeserializeOwned, E: From<Error>>(
        &self,
        key: &str,
        run: impl FnOnce() -> std::result::Result<T, E>,
    ) -> std::result::Result<(T, bool), E> {
        if let Some(done) = self.load(key)? {
            log::info!("cell `{key}`: finished in an earlier attempt, kept");
            return Ok((done, true));
        }
        let outcome = run()?;
        self.store(key, &outcome)?;
        Ok((outcome, false))
    }

    /// Keys of the finished cells, as file stems.
    pub fn finished(&self) -> Result<Vec<String>> {
        let mut out = vec![];
        for entry in std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))? {
            let entry = entry.map_err(|e| Error::io(&self.dir, e))?;
            let name = entry.file_name().to_string_lossy().to_string();
            if let Some(stem) = name.strip_suffix(".json") {
                if !stem.starts_with('.') {
                    out.push(stem.to_string());
                }
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_computed_once_and_kept() {
        let tmp = tempfile::tempdir().unwrap();
        let cells = Cells::open(tmp.path()).unwrap();
        let mut calls = 0;
        let (v, kept): (u32, bool) = cells
            .get_or_run("cdep λ=1000 seed=0", || {
                calls += 1;
                Ok::<_, Error>(7)
            })
            .unwrap();
        assert_eq!((v, kept), (7, false));
        let (v, kept): (u32, bool) = cells.get_or_run("cdep λ=1000 seed=0", || Ok::<_, Error>(99)).unwrap();
        assert_eq!((v, kept, calls), (7, true, 1));
        assert_eq!(cells.finished().unwrap(), vec![Cells::file_stem("cdep λ=1000 seed=0")]);
        let failed: std::result::Result<(u32, bool), Error> =
            cells.get_or_run("other", || Err(Error::Other("boom".into())));
        assert!(failed.is_err());
        assert_eq!(cells.load::<u32>("other").unwrap(), None, "a failed cell is not marked finished");
        std::fs::write(cells.dir().join("bad.json"), "{").unwrap();
        let e = cells.load::<u32>("bad").unwrap_err().to_string();
        assert!(e.contains("bad.json") && e.contains("delete it"), "{e}");
    }

    #[test]
    fn modes_number_cells_by_call_order_and_run_at_most_one() {
        let tmp = tempfile::tempdir().unwrap();
        let never = || -> std::result::Result<u32, Error> { panic!("this mode computes no cell here") };

        let plan = Plan::new(Mode::Count);
        let cells = Cells::with_plan(tmp.path(), Some(plan.clone())).unwrap();
        for key in ["a", "b"] {
            let e = cells.get_or_run(key, never).unwrap_err();
            assert!(Cells::is_skipped(&e) && e.to_string().starts_with(SKIPPED_CELL), "{e}");
        }
        assert_eq!(plan.ledger().requested, ["a", "b"]);

        let plan = Plan::new(Mode::Only { index: 1, expected: Some("b".into()) });
        let cells = Cells::with_plan(tmp.path(), Some(plan.clone())).unwrap();
        assert!(Cells::is_skipped(&cells.get_or_run("a", never).unwrap_err()));
        let unwound =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cells.get_or_run("b", || Ok::<u32, Error>(5))));
        assert!(unwound.unwrap_err().is::<CellDone>(), "cell N ends the experiment once stored");
        assert_eq!(plan.ledger().target, Some(Target::Done { kept: false }));
        assert_eq!(Cells::open(tmp.path()).unwrap().load::<u32>("b").unwrap(), Some(5));
        assert_eq!(Cells::open(tmp.path()).unwrap().load::<u32>("a").unwrap(), None, "other cells are not run");

        let plan = Plan::new(Mode::Only { index: 0, expected: Some("x".into()) });
        let cells = Cells::with_plan(tmp.path(), Some(plan.clone())).unwrap();
        assert!(cells.get_or_run("a", never).unwrap_err().to_string().contains("sweep changed"));
        assert_eq!(plan.ledger().target, Some(Target::Mismatch { found: "a".into() }));

        let plan = Plan::new(Mode::Collect);
        let cells = Cells::with_plan(tmp.path(), Some(plan.clone())).unwrap();
        let e = cells.get_or_run("a", never).unwrap_err();
        assert!(e.to_string().starts_with(MISSING_CELL) && Cells::is_skipped(&e), "{e}");
        assert_eq!(cells.get_or_run("b", never).unwrap(), (5, true));
        assert_eq!(plan.ledger().missing, ["a"]);
    }
}
