//! Tests of the registry, fetch and status logic on temporary folders (no network).

use std::path::Path;
use xai_core::data::fetch::{self, FetchOptions, FileStatus, State};
use xai_core::data::registry::Registry;

const TOY: &str = r#"
[[dataset]]
name = "toy"
description = "d"
licence = "l"
[[dataset.file]]
path = "a.bin"
size = 3
sha256 = "039058c6f2c0cb492c533b0a4d14ef77cc0f78abccced5287d84a1a2011cfb81"
"#;

fn mirror_with(dir: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(dir.join("toy")).unwrap();
    std::fs::write(dir.join("toy/a.bin"), bytes).unwrap();
}

#[test]
fn fetch_from_mirror_verifies_and_reports() {
    let reg = Registry::parse(TOY).unwrap();
    let d = reg.get("toy").unwrap();
    let (mirror, root) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    mirror_with(mirror.path(), &[1, 2, 3]);
    assert_eq!(fetch::status(root.path(), d).state, State::Missing);
    let opts = FetchOptions { mirror: Some(mirror.path().into()), ..Default::default() };
    let log = fetch::fetch(root.path(), d, &opts).unwrap();
    assert!(log[0].contains("verified"), "{log:?}");
    assert_eq!(fetch::status(root.path(), d).state, State::Verified);
    // A second fetch leaves a verified file alone.
    assert!(fetch::fetch(root.path(), d, &opts).unwrap()[0].contains("up to date"));
}

#[test]
fn checksum_mismatch_keeps_nothing() {
    let reg = Registry::parse(TOY).unwrap();
    let d = reg.get("toy").unwrap();
    let (mirror, root) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    mirror_with(mirror.path(), &[1, 2, 4]);
    let opts = FetchOptions { mirror: Some(mirror.path().into()), ..Default::default() };
    let e = fetch::fetch(root.path(), d, &opts).unwrap_err().to_string();
    assert!(e.contains("checksum mismatch") && e.contains("nothing was kept"), "{e}");
    let left: Vec<_> = std::fs::read_dir(root.path().join("toy")).unwrap().collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
    // A corrupt file already in place is reported as such.
    std::fs::write(root.path().join("toy/a.bin"), [9, 9, 9]).unwrap();
    let s = fetch::status(root.path(), d);
    assert_eq!(s.state, State::Corrupt);
    assert!(matches!(&s.files[0].1, FileStatus::Corrupt(m) if m.contains("sha256")));
}

#[test]
fn missing_dataset_in_mirror_is_an_error() {
    let reg = Registry::parse(TOY).unwrap();
    let (mirror, root) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let opts = FetchOptions { mirror: Some(mirror.path().into()), ..Default::default() };
    let e = fetch::fetch(root.path(), reg.get("toy").unwrap(), &opts).unwrap_err().to_string();
    assert!(e.contains("not in the mirror"), "{e}");
}

#[test]
fn data_root_prefers_flag_then_env() {
    let flag = Path::new("/some/where");
    assert_eq!(xai_core::data::data_root(Some(flag)), flag);
    // Without flag and env, the workspace's datasets/ is found from the test's cwd.
    if std::env::var_os("XAI_DATA_DIR").is_none() {
        let r = xai_core::data::data_root(None);
        assert!(r.ends_with("datasets") && r.join("registry.toml").is_file(), "{}", r.display());
    }
}

/// The real mirror (when this machine has one) must verify completely.
#[test]
fn builtin_registry_covers_every_mirrored_file() {
    let reg = Registry::builtin().unwrap();
    let sums = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/datasets/SHA256SUMS");
    let Ok(text) = std::fs::read_to_string(&sums) else { return };
    for line in text.lines() {
        let (sha, path) = line.split_once("  ").unwrap();
        let (name, file) = path.split_once('/').unwrap();
        let d = reg.get(name).unwrap();
        let f = d.files.iter().find(|f| f.path == file).unwrap_or_else(|| panic!("{path} not in registry"));
        assert_eq!(f.sha256, sha, "{path}");
    }
}
