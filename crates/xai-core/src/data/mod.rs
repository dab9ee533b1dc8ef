//! Dataset registry, loaders for the original file formats, and deterministic generators.
//!
//! Every dataset lives in `<data root>/<name>/` (see [`data_root`]); the registry
//! (`datasets/registry.toml`, compiled in) says which files belong there, where they come
//! from and their checksums. Loaders read the original formats and fail with an error that
//! names the file, the offset or line, and the command that fetches a good copy.

pub mod cifar;
pub mod color_mnist;
pub mod decoy_mnist;
pub mod dsprites;
pub mod ecg;
pub mod fetch;
pub mod glove;
pub mod idx;
pub mod isic;
pub mod mnist;
pub mod npy;
pub mod preview;
pub mod registry;
pub mod sst;
pub mod tabular;
pub mod toy_colors;

use std::path::{Path, PathBuf};

/// The folder that holds one sub-folder per dataset.
///
/// Order: the `flag` (a `--data-dir` option), else env `XAI_DATA_DIR`, else `datasets/`
/// of the workspace found by walking up from the current directory (the first ancestor
/// holding both `datasets/` and `Cargo.toml`), else `./datasets`.
pub fn data_root(flag: Option<&Path>) -> PathBuf {
    if let Some(f) = flag {
        return f.to_path_buf();
    }
    if let Some(env) = std::env::var_os("XAI_DATA_DIR").filter(|v| !v.is_empty()) {
        return PathBuf::from(env);
    }
    if let Ok(cwd) = std::env::current_dir() {
        for dir in cwd.ancestors() {
            if dir.join("datasets").is_dir() && dir.join("Cargo.toml").is_file() {
                return dir.join("datasets");
            }
        }
    }
    PathBuf::from("datasets")
}

/// The hint appended to data errors: the command that fetches a good copy of `dataset`.
pub fn fetch_hint(dataset: &str) -> String {
    format!("run `just fetch-data {dataset}`")
}

/// The hint for a file of `dataset` at `path`: which data folder was searched and how to
/// fill it. `just fetch-data` fills the workspace's `datasets/`; when the file was looked
/// for elsewhere (`--data-dir`, `$XAI_DATA_DIR`) the hint says so rather than sending the
/// user to a command that would not help.
pub fn fetch_hint_at(dataset: &str, path: &Path) -> String {
    let root = path.ancestors().find(|a| a.file_name().is_some_and(|n| n == dataset)).and_then(Path::parent);
    match root {
        Some(root) => {
            let default = data_root(None);
            let same =
                |a: &Path, b: &Path| a.canonicalize().ok().zip(b.canonicalize().ok()).is_some_and(|(a, b)| a == b);
            if root == default || same(root, &default) {
                format!("data folder {}; {}", root.display(), fetch_hint(dataset))
            } else {
                format!(
                    "data folder {} (from --data-dir or XAI_DATA_DIR); put {dataset}/ there, or {} to fill {}",
                    root.display(),
                    fetch_hint(dataset),
                    default.display()
                )
            }
        }
        None => fetch_hint(dataset),
    }
}

/// A data error about `path` (of `dataset`) carrying the fetch hint.
pub(crate) fn data_err(dataset: &str, path: &Path, msg: impl Into<String>) -> crate::Error {
    crate::Error::data(path, msg).with_hint(fetch_hint_at(dataset, path))
}

/// Reads a whole file, mapping "not found" to a data error with the fetch hint.
pub(crate) fn read_file(dataset: &str, path: &Path) -> crate::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            data_err(dataset, path, "file not found")
        } else {
            crate::Error::io(path, e)
        }
    })
}

/// A seeded RNG for the generators: the same seed gives the same data on every machine.
pub fn rng(seed: u64) -> rand_chacha::ChaCha8Rng {
    use rand::SeedableRng;
    rand_chacha::ChaCha8Rng::seed_from_u64(seed)
}

#[cfg(test)]
mod hint_tests {
    use super::*;

    #[test]
    fn hints_name_the_folder_that_was_searched() {
        let elsewhere = Path::new("/tmp/my-data/mnist/train-images-idx3-ubyte.gz");
        let h = fetch_hint_at("mnist", elsewhere);
        assert!(h.contains("/tmp/my-data") && h.contains("--data-dir") && h.contains("fetch-data mnist"), "{h}");
        let default = data_root(None).join("mnist").join("x.gz");
        let h = fetch_hint_at("mnist", &default);
        assert!(h.contains(&data_root(None).display().to_string()) && !h.contains("--data-dir"), "{h}");
    }
}
