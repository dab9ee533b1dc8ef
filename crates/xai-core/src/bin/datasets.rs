//! `datasets`: list, fetch, verify and inspect the datasets of xai-rs.
//!
//! ```text
//! datasets list                       # present / verified / missing per dataset
//! datasets fetch [NAME...] [--mirror DIR] [--trust-unverified] [--force]
//! datasets verify [NAME...]
//! datasets info NAME                  # shapes and class counts
//! datasets show NAME [--out FILE]     # PNG sample grid (images) or a few rows (tables)
//! ```

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use xai_core::data::fetch::{self, FetchOptions, FileStatus, State};
use xai_core::data::registry::Registry;
use xai_core::data::{data_root, preview};

#[derive(Debug, Parser)]
#[command(name = "datasets", about = "Fetch, verify and inspect the datasets of xai-rs")]
struct Cli {
    /// Dataset folder (else $XAI_DATA_DIR, else the workspace's `datasets/`).
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Copy from this mirror folder instead of downloading (else $XAI_DATA_MIRROR).
    #[arg(long, global = true, value_name = "DIR")]
    mirror: Option<PathBuf>,

    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Every registered dataset and whether it is verified, present or missing.
    List,
    /// Download (or copy from the mirror), verify and unpack datasets. Without names:
    /// every dataset the mirror holds, or every non-optional one when downloading.
    Fetch {
        names: Vec<String>,
        /// Accept downloads for which no checksum is published (their sha256 is printed).
        #[arg(long)]
        trust_unverified: bool,
        /// Fetch again even when the files are verified.
        #[arg(long)]
        force: bool,
    },
    /// Re-hash files and compare with the registry (all datasets without names).
    Verify { names: Vec<String> },
    /// Shapes, sizes and class counts of a dataset.
    Info { name: String },
    /// Writes a PNG grid of samples (image data; also `dsprites-procedural`) or prints a few
    /// rows (tables, text, series).
    Show {
        name: String,
        /// Output PNG (default: `<data dir>/<name>/samples.png`, inside the ignored folder).
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Number of samples.
        #[arg(short, long, default_value_t = 64)]
        n: usize,
    },
}

fn main() -> std::process::ExitCode {
    xai_core::cli::main_with(run)
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let registry = Registry::builtin()?;
    let root = data_root(cli.data_dir.as_deref());
    match cli.cmd {
        Cmd::List => {
            println!("data dir: {}", root.display());
            println!("{:<12} {:<22} {:<9} description", "name", "state", "optional");
            for d in &registry.datasets {
                let s = fetch::status(&root, d);
                let opt = if d.optional { "optional" } else { "" };
                println!("{:<12} {:<22} {:<9} {}", d.name, s.state.to_string(), opt, d.description);
            }
        }
        Cmd::Fetch { names, trust_unverified, force } => {
            let mirror = fetch::mirror_dir(cli.mirror.as_deref());
            let opts = FetchOptions { mirror: mirror.clone(), trust_unverified, force };
            let chosen: Vec<_> = if names.is_empty() {
                registry
                    .datasets
                    .iter()
                    .filter(|d| !d.manual)
                    .filter(|d| match &mirror {
                        Some(m) => m.join(&d.name).is_dir(),
                        None => !d.optional,
                    })
                    .collect()
            } else {
                names.iter().map(|n| registry.get(n)).collect::<Result<_, _>>()?
            };
            if let Some(m) = &mirror {
                println!("mirror: {}", m.display());
            }
            let mut failed = Vec::new();
            for d in chosen {
                match fetch::fetch(&root, d, &opts) {
                    Ok(lines) => lines.iter().for_each(|l| println!("{l}")),
                    Err(e) => {
                        eprintln!("{}: FAILED: {e}", d.name);
                        failed.push(d.name.clone());
                    }
                }
            }
            if !failed.is_empty() {
                bail!("fetch failed for: {}", failed.join(", "));
            }
        }
        Cmd::Verify { names } => {
            let chosen: Vec<_> = if names.is_empty() {
                registry.datasets.iter().collect()
            } else {
                names.iter().map(|n| registry.get(n)).collect::<Result<_, _>>()?
            };
            let mut bad = Vec::new();
            for d in &chosen {
                let s = fetch::status(&root, d);
                println!("{}: {}", d.name, s.state);
                for (path, fs) in &s.files {
                    let line = match fs {
                        FileStatus::Verified => "ok".to_string(),
                        FileStatus::Unverified => "present, no registered checksum".to_string(),
                        FileStatus::Missing => "missing".to_string(),
                        FileStatus::Corrupt(why) => format!("CORRUPT: {why}"),
                    };
                    println!("  {path}: {line}");
                }
                let named_incomplete = !names.is_empty() && !matches!(s.state, State::Verified | State::Present);
                if s.state == State::Corrupt || named_incomplete {
                    bad.push(d.name.clone());
                }
            }
            if !bad.is_empty() {
                bail!("not verified: {} (run `just fetch-data {}`)", bad.join(", "), bad.join(" "));
            }
        }
        Cmd::Info { name } => {
            registry.get(&name)?;
            print!("{}", preview::info(&root, &name).with_context(|| format!("info {name}"))?);
        }
        Cmd::Show { name, out, n } => {
            // `dsprites-procedural` renders generated sprites; it needs no files.
            if name != "dsprites-procedural" {
                registry.get(&name)?;
            }
            let out = out.unwrap_or_else(|| root.join(&name).join("samples.png"));
            print!("{}", preview::show(&root, &name, n, &out).with_context(|| format!("show {name}"))?);
        }
    }
    Ok(())
}
