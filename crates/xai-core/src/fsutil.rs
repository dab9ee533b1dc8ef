//! Atomic file writes: a reader sees the old file or the new one, never half of either.

use crate::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The temp file sits beside the target (same file system, so the rename is atomic) and
/// keeps the target's extension, since some writers (safetensors, PNG) pick the format
/// from it.
pub fn temp_path_for(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = match name.rsplit_once('.') {
        Some((stem, ext)) => format!(".{stem}.{}.tmp.{ext}", std::process::id()),
        None => format!(".{name}.{}.tmp", std::process::id()),
    };
    path.with_file_name(tmp)
}

/// Writes `bytes` to `path` atomically (temp file, fsync, rename).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<()> {
    atomic_write_with(path, |tmp| {
        let mut f = std::fs::File::create(tmp).map_err(|e| Error::io(tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io(tmp, e))?;
        f.sync_all().map_err(|e| Error::io(tmp, e))
    })
}

/// Lets `write` produce the file at a temp path, then renames it over `path`. If `write`
/// fails the temp file is removed and `path` is left as it was.
pub fn atomic_write_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let tmp = temp_path_for(path);
    if let Err(e) = write(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Creates `dir` and its parents, naming the folder on failure.
pub fn create_dir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}
