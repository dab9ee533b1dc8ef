//! The Slurm workflow on a toy sweep (methods × seeds, each cell seeded by its own RNG):
//! emit, every `--cell`, collect, compared with a local run of the same config.

use super::sweep::SweepFile;
use super::*;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Toy {
    run: RunTable<String>,
    methods: Vec<String>,
    /// Propagate a cell's error with `?` (like lfxai) instead of recording it and going on.
    #[serde(default)]
    propagate: bool,
    /// The key of a cell whose computation fails.
    #[serde(default)]
    fail: Option<String>,
}

impl ExperimentConfig for Toy {
    type Experiment = String;
    fn run_table(&self) -> &RunTable<String> {
        &self.run
    }
    fn validate(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct CellOut {
    score: f64,
}

#[derive(Serialize)]
struct MetricRow<'a> {
    cell: &'a str,
    step: usize,
    value: f64,
}

#[derive(Serialize)]
struct SummaryRow<'a> {
    method: &'a str,
    mean: f64,
    cells: usize,
}

/// Shaped like cdep's sweep: a log opened before the cells, per-cell rows and a figure
/// written inside a cell, errors recorded and skipped, tables from the finished cells.
fn toy_body(s: &mut Session<'_, Toy>) -> anyhow::Result<Outcome> {
    let cfg = s.config;
    let cells = s.cells()?;
    let mut metrics = s.run.csv_log_append("metrics.csv")?;
    let figures = s.run.figures_dir();
    let mut scores: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut failed = 0;
    for method in &cfg.methods {
        for &seed in &cfg.run.seeds {
            let key = format!("{method} seed={seed}");
            let done = cells.get_or_run(&key, || -> anyhow::Result<CellOut> {
                anyhow::ensure!(cfg.fail.as_deref() != Some(key.as_str()), "cell {key} diverged");
                let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed * 1000 + method.len() as u64);
                let mut sum = 0.0;
                for step in 0..3 {
                    let value: f64 = rng.gen();
                    sum += value;
                    metrics.log(&MetricRow { cell: &key, step, value })?;
                }
                std::fs::write(figures.join(format!("{}.txt", Cells::file_stem(&key))), format!("{sum}"))?;
                Ok(CellOut { score: sum / 3.0 })
            });
            match done {
                Ok((out, _)) => scores.entry(method).or_default().push(out.score),
                Err(e) if cfg.propagate => return Err(e),
                Err(e) => {
                    log::error!("{key} failed: {e:#}");
                    failed += 1;
                }
            }
        }
    }
    anyhow::ensure!(!scores.is_empty(), "no cell finished ({failed} failed)");
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let summary: Vec<SummaryRow> =
        scores.iter().map(|(m, v)| SummaryRow { method: m, mean: mean(v), cells: v.len() }).collect();
    s.run.write_csv("summary.csv", &summary)?;
    let rows = summary.iter().map(|r| Row::new(format!("{} mean", r.method), r.mean, report::Check::AtLeast(0.0)));
    let results =
        serde_json::json!({ "means": summary.iter().map(|r| (r.method, r.mean)).collect::<BTreeMap<_, _>>() });
    let mut outcome = Outcome::new("toy sweep — ours vs paper", rows.collect(), results);
    outcome.failed_cells = failed;
    Ok(outcome)
}

const TOY: &str = r#"
methods = ["a", "bb"]

[run]
experiment = "toy"
seeds = [0, 1]

[slurm]
partition = "debug"
time = "00:10:00"
max_parallel = 2
"#;

const EMBEDDED_TOY: Embedded = Embedded { path: "configs/test/toy_sweep.toml", text: TOY };

fn toy_args(runs: &Path, config: Option<&Path>, sets: &[&str]) -> RunArgs {
    RunArgs {
        common: CommonArgs {
            config: config.map(Path::to_path_buf),
            overrides: sets.iter().map(|s| s.to_string()).collect(),
            device: DeviceChoice::Cpu,
            threads: 0,
            runs_dir: runs.to_path_buf(),
            data_dir: Some(runs.join("data")),
        },
        resume: None,
        strict: false,
        sweep: SweepArgs::default(),
    }
}

fn toy(args: &RunArgs) -> anyhow::Result<Finished> {
    run::<Toy, _>("core", EMBEDDED_TOY, args, toy_body)
}

fn emit_toy(runs: &Path, sets: &[&str]) -> Finished {
    let mut a = toy_args(runs, None, sets);
    a.sweep.emit_slurm = Some(runs.join("job"));
    toy(&a).unwrap()
}

fn cell(runs: &Path, folder: &Path, n: usize) -> anyhow::Result<Finished> {
    let mut a = toy_args(runs, Some(&folder.join("config.toml")), &[]);
    a.resume = Some(folder.to_path_buf());
    a.sweep.cell = Some(n);
    toy(&a)
}

fn collect_toy(runs: &Path, folder: &Path) -> anyhow::Result<Finished> {
    let mut a = toy_args(runs, None, &[]);
    a.sweep.collect = Some(folder.to_path_buf());
    toy(&a)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&read(path)).unwrap()
}

fn n_cells(folder: &Path) -> usize {
    Cells::open(folder).unwrap().finished().unwrap().len()
}

#[test]
fn every_cell_then_collect_equals_the_local_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path();
    let local = toy(&toy_args(runs, None, &[])).unwrap();
    assert!(local.passed, "{}", local.verdict);

    let emitted = emit_toy(runs, &[]);
    let folder = &emitted.folder;
    assert_eq!(json(&folder.join("run.json"))["status"], "emitted", "nothing ran yet: not `finished`");
    assert!(!folder.join(".count").exists(), "the counting pass leaves nothing behind");
    assert!(!read(&folder.join("config.toml")).contains("slurm"), "[slurm] is no part of the resolved config");
    assert_eq!(n_cells(folder), 0, "emit computes no cell");
    let sweep = SweepFile::read(folder).unwrap().unwrap();
    let keys: Vec<&str> = sweep.cells.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys, ["a seed=0", "a seed=1", "bb seed=0", "bb seed=1"], "numbered in call order");
    let job = read(&runs.join("job/job.sh"));
    for line in [
        "#SBATCH --array=0-3%2",
        "#SBATCH --partition=debug",
        "#SBATCH --time=00:10:00",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=16G",
        "--device cpu",
        "--cell \"$SLURM_ARRAY_TASK_ID\"",
        "--resume \"$RUN\"",
        "--threads \"${SLURM_CPUS_PER_TASK:-4}\"",
    ] {
        assert!(job.contains(line), "job.sh lacks `{line}`:\n{job}");
    }
    assert!(!job.contains("--gres"), "a CPU sweep asks for no GPU:\n{job}");
    assert!(job.contains(&format!("RUN={}", folder.display())), "{job}");
    assert!(read(&runs.join("job/collect.sh")).contains("--collect \"$RUN\""));

    // Tasks run in any order; each stores exactly its own cell.
    for (done, n) in [3, 0, 2, 1].into_iter().enumerate() {
        let task = cell(runs, folder, n).unwrap();
        assert!(task.verdict.contains(&format!("cell #{n} `{}`: finished", keys[n])), "{}", task.verdict);
        assert_eq!(n_cells(folder), done + 1);
    }
    let again = cell(runs, folder, 1).unwrap();
    assert!(again.verdict.contains("already finished, kept"), "{}", again.verdict);
    assert!(!folder.join("summary.csv").exists(), "a task writes no tables into the shared folder");

    let merged = collect_toy(runs, folder).unwrap();
    assert!(merged.passed, "{}", merged.verdict);
    assert_eq!(merged.table, local.table);
    assert_eq!(merged.verdict, local.verdict);
    for file in ["summary.csv", "paper_comparison.md", "paper_comparison.csv", "metrics.csv", "results.json"] {
        assert_eq!(read(&folder.join(file)), read(&local.folder.join(file)), "{file} differs");
    }
    for key in &keys {
        let fig = format!("figures/{}.txt", Cells::file_stem(key));
        assert_eq!(read(&folder.join(&fig)), read(&local.folder.join(&fig)), "{fig}");
    }
    assert_eq!(json(&folder.join("run.json"))["status"], "finished");
    // Collect is repeatable: the merged log is rebuilt, not appended to.
    collect_toy(runs, folder).unwrap();
    assert_eq!(read(&folder.join("metrics.csv")), read(&local.folder.join("metrics.csv")));
}

#[test]
fn collect_lists_missing_and_failed_cells_and_never_looks_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path();
    let folder = emit_toy(runs, &["fail=bb seed=1"]).folder;
    cell(runs, &folder, 0).unwrap();
    cell(runs, &folder, 1).unwrap();
    let e = chain(&cell(runs, &folder, 3).unwrap_err());
    assert!(e.contains("cell #3 `bb seed=1` failed") && e.contains("diverged"), "{e}");

    let e = chain(&collect_toy(runs, &folder).unwrap_err());
    assert!(e.contains("2 of 4 cells missing"), "{e}");
    assert!(e.contains("#2 `bb seed=0` (not run)"), "{e}");
    assert!(e.contains("#3 `bb seed=1` (failed:") && e.contains("diverged"), "{e}");
    let info = json(&folder.join("run.json"));
    assert_eq!((info["status"].as_str(), info["error_kind"].as_str()), (Some("failed"), Some("incomplete")));
    assert!(info["error"].as_str().unwrap().contains("bb seed=0"), "{info}");
    let results = json(&folder.join("results.json"));
    assert_eq!(results["passed"], false);
    assert_eq!(results["partial"], "2 of 4 cells missing");
    assert_eq!(results["missing_cells"], serde_json::json!(["bb seed=0", "bb seed=1"]));
    assert!(read(&folder.join("paper_comparison.md")).contains("PARTIAL (2 of 4 cells missing)"));
    let verdict = read(&folder.join("verdict.txt"));
    assert!(verdict.contains(": FAIL") && verdict.contains("PARTIAL"), "{verdict}");
    assert_eq!(read(&folder.join("missing_cells.csv")).lines().count(), 3, "header + 2 cells");

    // The missing cell arrives; the failed one is still listed.
    cell(runs, &folder, 2).unwrap();
    let e = chain(&collect_toy(runs, &folder).unwrap_err());
    assert!(e.contains("1 of 4 cells missing") && !e.contains("bb seed=0`"), "{e}");
}

#[test]
fn emit_refuses_sweeps_it_cannot_share_out() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path();
    let mut a = toy_args(runs, None, &["propagate=true"]);
    a.sweep.emit_slurm = Some(runs.join("job"));
    let e = chain(&toy(&a).unwrap_err());
    assert!(e.contains("stopped at its first skipped cell `a seed=0`"), "{e}");
    assert!(!runs.join("job/job.sh").exists());

    let mut empty = toy_args(runs, None, &["methods=[]"]);
    empty.sweep.emit_slurm = Some(runs.join("job"));
    let e = chain(&toy(&empty).unwrap_err());
    assert!(e.contains("asks for no sweep cells") && e.contains("no cell finished"), "{e}");
}

#[test]
fn cell_and_collect_check_their_folder_and_config() {
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path();
    let folder = emit_toy(runs, &[]).folder;
    let e = chain(&cell(runs, &folder, 4).unwrap_err());
    assert!(e.contains("--cell 4: the sweep has 4 cells"), "{e}");
    let mut changed = toy_args(runs, None, &["methods=[\"bb\", \"a\"]"]);
    changed.resume = Some(folder.clone());
    changed.sweep.cell = Some(0);
    let e = chain(&toy(&changed).unwrap_err());
    assert!(e.contains("differs from the one"), "{e}");
    let mut no_resume = toy_args(runs, None, &[]);
    no_resume.sweep.cell = Some(0);
    assert!(chain(&toy(&no_resume).unwrap_err()).contains("--cell N needs --resume"));
    let local = toy(&toy_args(runs, None, &[])).unwrap();
    let mut not_emitted = toy_args(runs, None, &[]);
    not_emitted.resume = Some(local.folder.clone());
    not_emitted.sweep.cell = Some(0);
    assert!(chain(&toy(&not_emitted).unwrap_err()).contains("made by --emit-slurm"));
    assert_eq!(n_cells(&folder), 0, "refused tasks store nothing");
}

#[test]
fn flags_parse_and_exclude_each_other() {
    use clap::Parser;
    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }
    let ok = Cli::try_parse_from(["x", "--resume", "r", "--cell", "2"]).unwrap();
    assert_eq!((ok.run.sweep.cell, ok.run.resume), (Some(2), Some(PathBuf::from("r"))));
    let ok = Cli::try_parse_from(["x", "--collect", "r"]).unwrap();
    assert_eq!(ok.run.sweep.collect, Some(PathBuf::from("r")));
    for bad in [
        vec!["x", "--cell", "1"],
        vec!["x", "--emit-slurm", "d", "--resume", "r"],
        vec!["x", "--collect", "r", "--resume", "r"],
        vec!["x", "--emit-slurm", "d", "--collect", "r"],
    ] {
        assert!(Cli::try_parse_from(&bad).is_err(), "{bad:?} parsed");
    }
}

#[test]
fn the_slurm_table_is_taken_out_before_the_crate_config() {
    let (loaded, slurm) =
        parse_with_slurm::<Toy>(TOY, "toy.toml", &["slurm.time=8:00:00".into(), "slurm.gpus=2".into()]).unwrap();
    assert_eq!(loaded.value.methods, ["a", "bb"]);
    assert_eq!(slurm.partition.as_deref(), Some("debug"));
    assert_eq!((slurm.time.as_str(), slurm.gpus, slurm.cpus, slurm.mem.as_str()), ("8:00:00", Some(2), 4, "16G"));
    let (_, none) = parse_with_slurm::<Toy>("methods = []\n[run]\nexperiment = \"toy\"\n", "t", &[]).unwrap();
    assert_eq!(none, SlurmTable::default());
    assert_eq!((none.gpus_for(Device::Cpu), none.gpus_for(Device::Cuda(0))), (0, 1));
    let text = format!("{TOY}partiton = \"x\"\n");
    let e = parse_with_slurm::<Toy>(&text, "t.toml", &[]).unwrap_err().to_string();
    assert!(e.contains("t.toml") && e.contains("partiton"), "{e}");
    let e = parse_with_slurm::<Toy>(TOY, "t.toml", &["slurm.mem=16 G\nrm -rf".into()]).unwrap_err().to_string();
    assert!(e.contains("slurm.mem") && e.contains("single Slurm word"), "{e}");
    // The crate's own keys are still checked.
    let e = parse_with_slurm::<Toy>(TOY, "t.toml", &["nope=1".into()]).unwrap_err().to_string();
    assert!(e.contains("nope"), "{e}");
}
