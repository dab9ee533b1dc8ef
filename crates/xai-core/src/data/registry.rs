//! The dataset registry: `datasets/registry.toml`, compiled into the binary so that a
//! fetch and a loader always agree on file names and checksums.

use crate::{Error, Result};
use serde::Deserialize;

/// The registry text as shipped with this build.
pub const REGISTRY_TOML: &str = include_str!("../../../../datasets/registry.toml");

/// All registered datasets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    #[serde(rename = "dataset")]
    pub datasets: Vec<DatasetEntry>,
}

/// One dataset: where its files come from and under which terms.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetEntry {
    pub name: String,
    pub description: String,
    pub licence: String,
    #[serde(default)]
    pub used_by: Vec<String>,
    /// Left out of `fetch` without names (large, or not needed by the default runs).
    #[serde(default)]
    pub optional: bool,
    /// Never fetched automatically (bring your own data).
    #[serde(default)]
    pub manual: bool,
    #[serde(default)]
    pub note: Option<String>,
    #[serde(default, rename = "file")]
    pub files: Vec<FileEntry>,
}

/// One file of a dataset, relative to `datasets/<name>/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    /// Canonical download URL; empty when none serves this exact file.
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub alt_urls: Vec<String>,
    /// Size in bytes; 0 when unknown.
    #[serde(default)]
    pub size: u64,
    /// Lower-case hex; empty when no checksum is published.
    #[serde(default)]
    pub sha256: String,
    /// Lower-case hex; used only where no sha256 is known.
    #[serde(default)]
    pub md5: String,
    /// `"zip"` or `"tar.gz"`: unpack `members` after verification.
    #[serde(default)]
    pub archive: Option<String>,
    /// Prefix removed from archive member names before they are written.
    #[serde(default)]
    pub strip_prefix: Option<String>,
    #[serde(default)]
    pub members: Vec<String>,
    /// Produced by unpacking this archive when downloading (copied directly from a mirror).
    #[serde(default)]
    pub from_archive: Option<String>,
    /// Only a mirror has this file (a converted form); downloads get an alternative.
    #[serde(default)]
    pub mirror_only: bool,
    /// Only downloads have this file; a mirror holds an alternative.
    #[serde(default)]
    pub download_only: bool,
}

impl FileEntry {
    /// Whether a checksum is registered for this file.
    pub fn has_checksum(&self) -> bool {
        !self.sha256.is_empty() || !self.md5.is_empty()
    }

    /// Mirror-only and download-only files are alternatives: one of them is enough.
    pub fn is_alternative(&self) -> bool {
        self.mirror_only || self.download_only
    }
}

impl Registry {
    /// The compiled-in registry.
    pub fn builtin() -> Result<Registry> {
        Registry::parse(REGISTRY_TOML)
    }

    /// Parses registry TOML text.
    pub fn parse(text: &str) -> Result<Registry> {
        toml::from_str(text).map_err(|e| Error::invalid("dataset registry (datasets/registry.toml)", e.to_string()))
    }

    /// Looks up a dataset by name, listing the known names when it is absent.
    pub fn get(&self, name: &str) -> Result<&DatasetEntry> {
        self.datasets.iter().find(|d| d.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.datasets.iter().map(|d| d.name.as_str()).collect();
            Error::invalid("dataset name", format!("unknown dataset `{name}`; known: {}", names.join(", ")))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_registry_parses_and_names_are_unique() {
        let r = Registry::builtin().unwrap();
        let mut names: Vec<_> = r.datasets.iter().map(|d| d.name.clone()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), r.datasets.len());
        for d in &r.datasets {
            for f in &d.files {
                assert!(f.sha256.is_empty() || f.sha256.len() == 64, "{}/{}", d.name, f.path);
                assert!(f.md5.is_empty() || f.md5.len() == 32, "{}/{}", d.name, f.path);
            }
        }
        for n in [
            "mnist",
            "sst",
            "toy_colors",
            "ecg5000",
            "compas",
            "lsat",
            "credit",
            "wine",
            "glove",
            "cifar10",
            "dsprites",
            "isic",
        ] {
            r.get(n).unwrap();
        }
        assert!(r.get("nope").is_err());
    }
}
