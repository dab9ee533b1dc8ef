//! Sweep cells that survive an interruption.
//!
//! A sweep (methods × λ × seeds, or grid points) stores each finished cell's outcome as
//! `cells/<key>.json` in its run folder. A resumed run ([`super::RunArgs::resume`]) finds
//! them and skips those cells, so a killed paper-scale sweep loses at most the cell it
//! was in; a crate with per-cell checkpoints resumes even that one. Because every cell
//! seeds its own RNGs, the tables of a resumed sweep equal an uninterrupted one's.

use crate::fsutil::{atomic_write, create_dir_all};
use crate::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// The `cells/` folder of one run.
pub struct Cells {
    dir: PathBuf,
}

impl Cells {
    /// Opens (creating) `run_folder/cells/`.
    pub fn open(run_folder: &Path) -> Result<Self> {
        let dir = run_folder.join("cells");
        create_dir_all(&dir)?;
        Ok(Self { dir })
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

    /// The outcome of cell `key`: stored, or computed by `run` and stored.
    pub fn get_or_run<T: Serialize + DeserializeOwned, E: From<Error>>(
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
}
