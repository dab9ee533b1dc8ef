//! Fetching datasets: download (or copy from a mirror folder), verify, unpack.
//!
//! A file only ever appears under its final name after its checksum matched: bytes go to
//! a temp file beside the target, are hashed on the way, and are renamed into place only
//! when size and checksum agree with the registry. On a mismatch nothing is kept.

use super::registry::{DatasetEntry, FileEntry};
use crate::fsutil::{atomic_write_with, create_dir_all};
use crate::{Error, Result};
use indicatif::{ProgressBar, ProgressStyle};
use md5::Md5;
use sha2::{Digest, Sha256};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

/// Environment variable naming a mirror folder (same layout as `datasets/`).
pub const MIRROR_ENV: &str = "XAI_DATA_MIRROR";

/// The mirror to copy from: the flag, else env `XAI_DATA_MIRROR`.
pub fn mirror_dir(flag: Option<&Path>) -> Option<PathBuf> {
    flag.map(Path::to_path_buf).or_else(|| std::env::var_os(MIRROR_ENV).filter(|v| !v.is_empty()).map(PathBuf::from))
}

/// How one registered file looks on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileStatus {
    /// Present and its checksum matches the registry.
    Verified,
    /// Present, but the registry knows no checksum for it.
    Unverified,
    Missing,
    /// Present with the wrong size or checksum; the message says which.
    Corrupt(String),
}

/// Summary state of a dataset folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Verified,
    /// Complete, but some file has no registered checksum.
    Present,
    Partial,
    Missing,
    Corrupt,
    /// Bring-your-own data; nothing to fetch.
    Manual,
}

impl std::fmt::Display for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            State::Verified => "verified",
            State::Present => "present (no checksum)",
            State::Partial => "partial",
            State::Missing => "missing",
            State::Corrupt => "CORRUPT",
            State::Manual => "manual",
        };
        f.write_str(s)
    }
}

/// Per-file and overall status of one dataset.
#[derive(Debug, Clone)]
pub struct DatasetStatus {
    pub name: String,
    pub state: State,
    pub files: Vec<(String, FileStatus)>,
}

/// Hex digests of a file's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    pub sha256: String,
    pub md5: String,
    pub size: u64,
}

/// Streams `reader` into `writer`, hashing on the way.
fn copy_hashing(mut reader: impl Read, mut writer: impl Write, bar: &ProgressBar) -> std::io::Result<Digests> {
    let mut sha = Sha256::new();
    let mut md5 = Md5::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sha.update(&buf[..n]);
        md5.update(&buf[..n]);
        writer.write_all(&buf[..n])?;
        size += n as u64;
        bar.inc(n as u64);
    }
    writer.flush()?;
    Ok(Digests { sha256: hex(&sha.finalize()), md5: hex(&md5.finalize()), size })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes a file on disk.
pub fn hash_file(path: &Path) -> Result<Digests> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    copy_hashing(std::io::BufReader::new(f), std::io::sink(), &ProgressBar::hidden()).map_err(|e| Error::io(path, e))
}

/// Compares digests with a registry entry; `Err` carries the reason for a mismatch.
fn check_digests(f: &FileEntry, d: &Digests) -> std::result::Result<FileStatus, String> {
    if f.size > 0 && d.size != f.size {
        return Err(format!("size {} bytes, expected {}", d.size, f.size));
    }
    if !f.sha256.is_empty() {
        if d.sha256 != f.sha256 {
            return Err(format!("sha256 {} , expected {}", d.sha256, f.sha256));
        }
        return Ok(FileStatus::Verified);
    }
    if !f.md5.is_empty() {
        if d.md5 != f.md5 {
            return Err(format!("md5 {}, expected {}", d.md5, f.md5));
        }
        return Ok(FileStatus::Verified);
    }
    Ok(FileStatus::Unverified)
}

/// Checks one registered file under `dir`.
pub fn check_file(dir: &Path, f: &FileEntry) -> FileStatus {
    let path = dir.join(&f.path);
    if !path.is_file() {
        return FileStatus::Missing;
    }
    match hash_file(&path) {
        Ok(d) => check_digests(f, &d).unwrap_or_else(FileStatus::Corrupt),
        Err(e) => FileStatus::Corrupt(e.to_string()),
    }
}

/// Status of dataset `d` under `root/<name>/`. Mirror-only and download-only files are
/// alternatives: the dataset is complete when either group is.
pub fn status(root: &Path, d: &DatasetEntry) -> DatasetStatus {
    let dir = root.join(&d.name);
    let files: Vec<(String, FileStatus)> = d.files.iter().map(|f| (f.path.clone(), check_file(&dir, f))).collect();
    let ok = |s: &FileStatus| matches!(s, FileStatus::Verified | FileStatus::Unverified);
    let group_ok = |pick: &dyn Fn(&FileEntry) -> bool| {
        let mut any = false;
        for (f, (_, s)) in d.files.iter().zip(&files) {
            if pick(f) {
                any = true;
                if !ok(s) {
                    return false;
                }
            }
        }
        any
    };
    let has_alt = d.files.iter().any(FileEntry::is_alternative);
    let core_ok = d.files.iter().zip(&files).filter(|(f, _)| !f.is_alternative()).all(|(_, (_, s))| ok(s));
    let alt_ok = !has_alt || group_ok(&|f: &FileEntry| f.mirror_only) || group_ok(&|f: &FileEntry| f.download_only);
    let state = if files.iter().any(|(_, s)| matches!(s, FileStatus::Corrupt(_))) {
        State::Corrupt
    } else if d.files.is_empty() || files.iter().all(|(_, s)| *s == FileStatus::Missing) {
        if d.manual {
            State::Manual
        } else {
            State::Missing
        }
    } else if core_ok && alt_ok {
        let relevant_unverified = d.files.iter().zip(&files).any(|(_, (_, s))| *s == FileStatus::Unverified);
        if relevant_unverified {
            State::Present
        } else {
            State::Verified
        }
    } else {
        State::Partial
    };
    DatasetStatus { name: d.name.clone(), state, files }
}

/// Options of [`fetch`].
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Copy from this folder (layout `<mirror>/<name>/<file>`) instead of downloading.
    pub mirror: Option<PathBuf>,
    /// Accept downloads for which the registry knows no checksum (prints their sha256).
    pub trust_unverified: bool,
    /// Re-fetch files that are already present and verified.
    pub force: bool,
}

fn bar(len: u64, label: &str) -> ProgressBar {
    if !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:30} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
    {
        b.set_style(style.progress_chars("=> "));
    }
    b.set_message(label.to_string());
    b
}

/// Writes `dest` from `reader` only if the bytes match `f`; returns what was written.
fn write_verified(
    dest: &Path,
    f: &FileEntry,
    reader: impl Read,
    len: u64,
    source: &str,
    trust: bool,
) -> Result<Digests> {
    let b = bar(len, &f.path);
    let mut digests = None;
    atomic_write_with(dest, |tmp| {
        let file = std::fs::File::create(tmp).map_err(|e| Error::io(tmp, e))?;
        let mut w = std::io::BufWriter::new(file);
        let d = copy_hashing(reader, &mut w, &b).map_err(|e| Error::data(dest, format!("reading {source}: {e}")))?;
        w.into_inner().map_err(|e| Error::io(tmp, e.into_error()))?.sync_all().map_err(|e| Error::io(tmp, e))?;
        match check_digests(f, &d) {
            Err(why) => {
                return Err(Error::data(dest, format!("checksum mismatch for {source}: {why}; nothing was kept")));
            }
            Ok(FileStatus::Unverified) if !trust => {
                return Err(Error::data(
                    dest,
                    format!(
                        "no published checksum for {source} (got sha256 {}); nothing was kept — rerun with \
                         --trust-unverified to accept it",
                        d.sha256
                    ),
                ));
            }
            Ok(_) => {}
        }
        digests = Some(d);
        Ok(())
    })?;
    b.finish_and_clear();
    digests.ok_or_else(|| Error::Other("internal: no digests".into()))
}

fn copy_from_mirror(src: &Path, dest: &Path, f: &FileEntry, trust: bool) -> Result<Digests> {
    let file = std::fs::File::open(src).map_err(|e| Error::io(src, e))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    write_verified(dest, f, std::io::BufReader::new(file), len, &src.display().to_string(), trust)
}

/// An HTTP agent that trusts the operating system's certificate store (and
/// `SSL_CERT_FILE`), so downloads work behind TLS-intercepting proxies, as pip and curl do.
fn agent() -> ureq::Agent {
    use ureq::tls::{RootCerts, TlsConfig};
    ureq::Agent::config_builder()
        .tls_config(TlsConfig::builder().root_certs(RootCerts::PlatformVerifier).build())
        .build()
        .into()
}

fn download(dest: &Path, f: &FileEntry, trust: bool) -> Result<Digests> {
    let mut last_err = None;
    let agent = agent();
    for url in std::iter::once(&f.url).chain(&f.alt_urls).filter(|u| !u.is_empty()) {
        match agent.get(url).call() {
            Ok(resp) => {
                let (_, body) = resp.into_parts();
                let len = body.content_length().unwrap_or(f.size);
                return write_verified(dest, f, body.into_reader(), len, url, trust);
            }
            Err(e) => last_err = Some(format!("{url}: {e}")),
        }
    }
    Err(Error::data(
        dest,
        last_err
            .unwrap_or_else(|| "no download URL is registered for this file; use --mirror or place it by hand".into()),
    ))
}

/// Unpacks `members` of the archive at `archive` into `dir`, each written atomically.
pub fn unpack(archive: &Path, f: &FileEntry, dir: &Path) -> Result<Vec<PathBuf>> {
    let prefix = f.strip_prefix.as_deref().unwrap_or("");
    let wanted = |name: &str| -> Option<String> {
        let rel = name.strip_prefix(prefix)?;
        f.members.iter().find(|m| m.as_str() == rel).cloned()
    };
    let mut written = Vec::new();
    let open = || std::fs::File::open(archive).map_err(|e| Error::io(archive, e));
    let bad = |e: String| Error::data(archive, format!("cannot unpack: {e}"));
    match f.archive.as_deref() {
        Some("zip") => {
            let mut zip = zip::ZipArchive::new(std::io::BufReader::new(open()?)).map_err(|e| bad(e.to_string()))?;
            for i in 0..zip.len() {
                let mut entry = zip.by_index(i).map_err(|e| bad(e.to_string()))?;
                if let Some(m) = wanted(entry.name()) {
                    let dest = dir.join(&m);
                    atomic_write_with(&dest, |tmp| {
                        let mut out = std::fs::File::create(tmp).map_err(|e| Error::io(tmp, e))?;
                        std::io::copy(&mut entry, &mut out).map_err(|e| bad(e.to_string()))?;
                        Ok(())
                    })?;
                    written.push(dest);
                }
            }
        }
        Some("tar.gz") => {
            let gz = flate2::read::GzDecoder::new(std::io::BufReader::new(open()?));
            let mut tar = tar::Archive::new(gz);
            for entry in tar.entries().map_err(|e| bad(e.to_string()))? {
                let mut entry = entry.map_err(|e| bad(e.to_string()))?;
                let name = entry.path().map_err(|e| bad(e.to_string()))?.to_string_lossy().into_owned();
                if let Some(m) = wanted(&name) {
                    let dest = dir.join(&m);
                    atomic_write_with(&dest, |tmp| {
                        let mut out = std::fs::File::create(tmp).map_err(|e| Error::io(tmp, e))?;
                        std::io::copy(&mut entry, &mut out).map_err(|e| bad(e.to_string()))?;
                        Ok(())
                    })?;
                    written.push(dest);
                }
            }
        }
        other => return Err(bad(format!("unknown archive kind {other:?}"))),
    }
    if written.len() != f.members.len() {
        for w in &written {
            let _ = std::fs::remove_file(w);
        }
        return Err(bad(format!("expected members {:?} under `{prefix}`, found {}", f.members, written.len())));
    }
    Ok(written)
}

/// Fetches dataset `d` into `root/<name>/`, returning one line per file for the user.
pub fn fetch(root: &Path, d: &DatasetEntry, opts: &FetchOptions) -> Result<Vec<String>> {
    if d.manual {
        return Ok(vec![format!("{}: not fetched automatically — {}", d.name, d.note.as_deref().unwrap_or(""))]);
    }
    let dir = root.join(&d.name);
    create_dir_all(&dir)?;
    let mut log = Vec::new();
    let mirror = opts.mirror.as_ref().map(|m| m.join(&d.name));
    if let Some(m) = &mirror {
        if !m.is_dir() {
            return Err(Error::data(
                m,
                format!("dataset `{}` is not in the mirror; fetch it without --mirror", d.name),
            ));
        }
    }
    for f in &d.files {
        let from_mirror = mirror.is_some();
        if (from_mirror && f.download_only) || (!from_mirror && (f.mirror_only || f.from_archive.is_some())) {
            continue;
        }
        let dest = dir.join(&f.path);
        let current = check_file(&dir, f);
        let members_there = f.members.iter().all(|m| dir.join(m).is_file());
        if !opts.force
            && matches!(current, FileStatus::Verified | FileStatus::Unverified)
            && (from_mirror || members_there)
        {
            log.push(format!("{}/{}: up to date", d.name, f.path));
            continue;
        }
        let digests = match &mirror {
            Some(m) => copy_from_mirror(&m.join(&f.path), &dest, f, opts.trust_unverified)?,
            None => download(&dest, f, opts.trust_unverified)?,
        };
        let how =
            if f.has_checksum() { "verified".to_string() } else { format!("UNVERIFIED, sha256 {}", digests.sha256) };
        log.push(format!("{}/{}: fetched, {} bytes, {how}", d.name, f.path, digests.size));
        if f.archive.is_some() && !from_mirror {
            let out = unpack(&dest, f, &dir)?;
            log.push(format!("{}/{}: unpacked {} files", d.name, f.path, out.len()));
        }
    }
    // Files produced by unpacking carry their own checksums; check them now.
    for f in d.files.iter().filter(|f| f.from_archive.is_some() && mirror.is_none()) {
        let path = dir.join(&f.path);
        match check_file(&dir, f) {
            FileStatus::Corrupt(why) => {
                let _ = std::fs::remove_file(&path);
                return Err(Error::data(path, format!("unpacked file does not match the registry: {why}; removed")));
            }
            FileStatus::Missing => return Err(Error::data(path, "the archive did not yield this file")),
            FileStatus::Verified | FileStatus::Unverified => {}
        }
    }
    Ok(log)
}
