//! A CALIMOCHO sweep shared out as a Slurm job array: `--emit-slurm`, every `--cell N`,
//! `--collect` give the same tables as the local run of the same config.
//!
//! With `XAI_SLURM_TEST=1` (and slurm-wlm installed, as root) the array also runs on a real
//! one-node cluster started on this machine by `scripts/slurm-localhost.sh`.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// ACTIVE_SYNTH (2 arms × 2 folds = 4 cells) with resources that fit a small test node.
fn config_text() -> String {
    format!("{ACTIVE_SYNTH}\n[slurm]\ntime = \"00:10:00\"\ncpus = 1\nmem = \"1G\"\n")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The files a local run and a collected array must agree on.
const SAME: [&str; 5] = ["summary.csv", "metrics.csv", "paper_comparison.md", "paper_comparison.csv", "verdict.txt"];

fn assert_same_tables(local: &Path, merged: &Path) {
    for file in SAME {
        assert_eq!(untimed(&read(&merged.join(file))), untimed(&read(&local.join(file))), "{file} differs");
    }
}

/// A CSV without what wall clocks measure (the `runtime_s` measure rows and columns), which
/// differs between any two runs; every other number must match to the last digit.
fn untimed(text: &str) -> String {
    let mut lines = text.lines();
    let Some(header) = lines.next() else { return String::new() };
    let timed: Vec<bool> = fields(header).iter().map(|h| h.contains("runtime")).collect();
    let keep = |line: &str| -> String {
        let f = fields(line);
        f.iter()
            .enumerate()
            .filter(|(i, _)| !timed.get(*i).copied().unwrap_or(false))
            .map(|(_, v)| v.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    std::iter::once(keep(header))
        .chain(lines.filter(|l| !l.contains(",runtime_s,")).map(keep))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The fields of one CSV line, quotes kept (they may hold commas: `"L=0,0 c=1"`).
fn fields(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quoted) = (vec![], String::new(), false);
    for c in line.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

fn cells_of(folder: &Path) -> usize {
    xai_core::runner::sweep::SweepFile::read(folder).unwrap().expect("sweep.json").cells.len()
}

#[test]
fn cells_then_collect_equal_the_local_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), "active_synth.toml", &config_text());
    let runs = tmp.path().join("runs");
    let local = run(&args(&cfg, &runs, tmp.path(), &[])).unwrap();

    let mut emit = args(&cfg, &runs, tmp.path(), &[]);
    emit.sweep.emit_slurm = Some(tmp.path().join("job"));
    let folder = run(&emit).unwrap().folder;
    assert_eq!(cells_of(&folder), 4, "arms × folds");
    assert!(read(&tmp.path().join("job/job.sh")).contains("#SBATCH --array=0-3\n"));
    for n in 0..4 {
        let mut task = args(&folder.join("config.toml"), &runs, tmp.path(), &[]);
        task.resume = Some(folder.clone());
        task.sweep.cell = Some(n);
        run(&task).unwrap();
    }
    let mut collect = args(&cfg, &runs, tmp.path(), &[]);
    collect.common.config = None;
    collect.sweep.collect = Some(folder.clone());
    let merged = run(&collect).unwrap();
    assert!(merged.passed, "{}", merged.verdict);
    assert_eq!(merged.table, local.table);
    assert_same_tables(&local.folder, &folder);
}

/// Runs the `calimocho` binary; panics with its output when it fails.
fn calimocho(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_calimocho")).args(args).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "calimocho {args:?} failed:\n{text}");
    text
}

fn run_folder(output: &str) -> PathBuf {
    let line = output.lines().find_map(|l| l.strip_prefix("run folder: ")).expect("a run folder line");
    PathBuf::from(line.trim())
}

/// Stops the localhost cluster however the test ends.
struct Cluster(PathBuf);

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(script()).arg("stop").arg(&self.0).status();
    }
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/slurm-localhost.sh")
}

#[test]
fn the_job_array_runs_on_a_localhost_slurm() {
    if std::env::var("XAI_SLURM_TEST").as_deref() != Ok("1") {
        eprintln!("skipped: set XAI_SLURM_TEST=1 to run the job array on a localhost Slurm");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let cfg = write_config(dir, "active_synth.toml", &config_text());
    let (cfg, runs, data) = (cfg.to_str().unwrap(), dir.join("runs"), dir.to_str().unwrap());
    let runs_s = runs.to_str().unwrap();
    // One thread, as each array task gets (cpus = 1): libtorch's sums then match bit for bit.
    let common = ["--device", "cpu", "--threads", "1", "--data-dir", data, "--runs-dir", runs_s];
    let local = run_folder(&calimocho(&[&["--config", cfg], &common[..]].concat()));
    let job_dir = dir.join("job");
    let emitted =
        run_folder(&calimocho(&[&["--config", cfg, "--emit-slurm", job_dir.to_str().unwrap()], &common[..]].concat()));

    let cluster = Cluster(dir.join("slurm"));
    let started = Command::new(script()).arg("start").arg(&cluster.0).output().unwrap();
    assert!(started.status.success(), "cluster: {}", String::from_utf8_lossy(&started.stderr));
    let conf = cluster.0.join("slurm.conf");
    let sbatch = |script: &str| {
        let out = Command::new("sbatch").env("SLURM_CONF", &conf).arg("--wait").arg(job_dir.join(script)).output();
        let out = out.unwrap();
        let logs: Vec<String> = std::fs::read_dir(emitted.join("slurm-logs"))
            .map(|d| d.filter_map(|e| e.ok()).map(|e| read(&e.path())).collect())
            .unwrap_or_default();
        assert!(out.status.success(), "sbatch {script}: {}\n{}", String::from_utf8_lossy(&out.stderr), logs.join("\n"));
    };
    sbatch("job.sh");
    assert_eq!(
        xai_core::runner::Cells::open(&emitted).unwrap().finished().unwrap().len(),
        cells_of(&emitted),
        "every array task stored its cell"
    );
    sbatch("collect.sh");
    drop(cluster);
    assert!(read(&emitted.join("run.json")).contains("\"status\": \"finished\""));
    assert_same_tables(&local, &emitted);
}
