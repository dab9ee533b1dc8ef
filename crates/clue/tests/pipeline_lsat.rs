//! Pipeline end to end through `xai_core::runner` on a tiny LSAT config (real rows from
//! `datasets/`): the run folder's files, resume from the saved BNN samples and VAE, and
//! clear config errors (empty λ grid, unknown dataset).

use clap::Parser;
use std::path::{Path, PathBuf};
use xai_core::runner::{Embedded, Finished, RunArgs};

const SMOKE: Embedded =
    Embedded { path: "configs/clue/lsat_smoke.toml", text: include_str!("../../../configs/clue/lsat_smoke.toml") };

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: RunArgs,
}

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const TINY: [&str; 18] = [
    "data.train_subset=600",
    "data.test_subset=150",
    "bnn.width=16",
    "bnn.epochs=12",
    "bnn.burn_in=4",
    "bnn.sample_every=2",
    "bnn.batch_size=128",
    "bnn.checkpoint_every=5",
    "vae.width=16",
    "vae.epochs=4",
    "clue.max_steps=10",
    "clue.lambdas=[0.1, 1.0, 10.0]",
    "clue.sensitivity_steps=[0.1]",
    "select.max_rows=20",
    "checks.min_drop=0.0",
    "checks.min_spearman=-1.0",
    "run.seeds=[3]",
    "vae.patience=0",
];

fn datasets() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets"))
}

fn go(runs: &Path, extra: &[&str]) -> anyhow::Result<Finished> {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let data = datasets();
    let mut argv = vec![
        "clue".to_string(),
        "--device".into(),
        "cpu".into(),
        "--threads".into(),
        "1".into(),
        "--runs-dir".into(),
        runs.to_str().unwrap().into(),
        "--data-dir".into(),
        data.to_str().unwrap().into(),
    ];
    argv.extend(extra.iter().map(|s| s.to_string()));
    let a = Args::try_parse_from(argv)?;
    xai_core::runner::run::<clue::experiments::Config, _>("clue", SMOKE, &a.run, clue::experiments::run)
}

/// A CSV file as rows of column → value (these tables quote nothing).
fn table(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let head: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines.map(|l| head.iter().cloned().zip(l.split(',').map(String::from)).collect()).collect()
}

fn set(overrides: &[&str]) -> Vec<String> {
    overrides.iter().flat_map(|o| ["--set".to_string(), o.to_string()]).collect()
}

#[test]
fn tiny_lsat_run_writes_its_files_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let args = set(&TINY);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let done = go(tmp.path(), &refs).unwrap();
    assert!(done.passed, "{}", done.verdict);
    for f in [
        "results.json",
        "paper_comparison.md",
        "verdict.txt",
        "bnn_metrics.csv",
        "gen_metrics.csv",
        "test_uncertainty.csv",
        "lambda_sweep.csv",
        "clues.csv",
        "clue_deltas.csv",
        "trajectories.csv",
        "figures/lambda_sweep.png",
        "figures/uncertainty_hist.png",
        "checkpoints/bnn_samples.safetensors",
        "checkpoints/bnn_trainer.safetensors",
        "checkpoints/vae.safetensors",
        "checkpoints/ufido_vaeac.safetensors",
    ] {
        assert!(done.folder.join(f).is_file(), "missing {f}");
    }
    let sweep = std::fs::read_to_string(done.folder.join("lambda_sweep.csv")).unwrap();
    assert!(sweep.contains("input_space_clue") && sweep.contains("sensitivity"), "{sweep}");
    // The share of CLUEs below the rejection threshold τ agrees with the per-row tables:
    // τ is the smallest rejected uncertainty, the rows are the smallest λ's CLUEs.
    let tau = table(&done.folder.join("test_uncertainty.csv"))
        .iter()
        .filter(|r| r["rejected"] == "true")
        .map(|r| r["total"].parse::<f64>().unwrap())
        .fold(f64::INFINITY, f64::min);
    let after: Vec<f64> = table(&done.folder.join("clues.csv"))
        .iter()
        .filter(|r| r["method"] == "clue" && r["lambda"] == "0.1")
        .map(|r| r["unc_after"].parse().unwrap())
        .collect();
    assert_eq!(after.len(), 20);
    let expected = after.iter().filter(|&&u| u < tau).count() as f64 / after.len() as f64;
    let row = table(&done.folder.join("lambda_sweep.csv"))
        .into_iter()
        .find(|r| r["method"] == "clue" && r["hyper"] == "0.1")
        .unwrap();
    assert_eq!(row["frac_below_threshold"].parse::<f64>().unwrap(), expected);
    let comparison = std::fs::read_to_string(done.folder.join("paper_comparison.md")).unwrap();
    assert!(comparison.contains("below the rejection threshold"), "{comparison}");
    // Resume: the saved samples, VAE and U-FIDO inpainter are reused, the same tables come
    // out (U-FIDO's rows included: its noise is drawn from the same generator state).
    let bnn_a = std::fs::read_to_string(done.folder.join("bnn_metrics.csv")).unwrap();
    let gen_a = std::fs::read_to_string(done.folder.join("gen_metrics.csv")).unwrap();
    let inpainter = done.folder.join("checkpoints/ufido_vaeac.safetensors");
    let written = std::fs::metadata(&inpainter).unwrap().modified().unwrap();
    let mut again = vec!["--resume".to_string(), done.folder.to_str().unwrap().to_string()];
    again.extend(set(&TINY));
    let refs: Vec<&str> = again.iter().map(String::as_str).collect();
    let resumed = go(tmp.path(), &refs).unwrap();
    assert_eq!(resumed.folder, done.folder);
    // The loaded VAE's fit (best epoch, validation ELBO) is read back from its saved state.
    assert!(resumed.passed, "{}", resumed.verdict);
    assert_eq!(gen_a, std::fs::read_to_string(resumed.folder.join("gen_metrics.csv")).unwrap());
    assert_eq!(bnn_a, std::fs::read_to_string(resumed.folder.join("bnn_metrics.csv")).unwrap());
    assert_eq!(std::fs::metadata(&inpainter).unwrap().modified().unwrap(), written, "inpainter fitted again");
    assert!(sweep.contains("ufido"), "{sweep}");
    assert_eq!(sweep, std::fs::read_to_string(resumed.folder.join("lambda_sweep.csv")).unwrap());
}

#[test]
fn empty_lambda_grid_and_unknown_dataset_are_config_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let args = set(&["clue.lambdas=[]"]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = format!("{:#}", go(tmp.path(), &refs).unwrap_err());
    assert!(err.contains("clue.lambdas") && err.contains("empty"), "{err}");
    let args = set(&["data.dataset=\"iris\""]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let err = format!("{:#}", go(tmp.path(), &refs).unwrap_err());
    assert!(err.contains("data.dataset"), "{err}");
}

#[test]
fn every_config_parses_and_validates() {
    use xai_core::runner::ExperimentConfig;
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/clue"));
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let c: clue::experiments::Config = xai_core::config::load(&p, &[]).unwrap().value;
            c.validate().unwrap_or_else(|e| panic!("{}: {e:#}", p.display()));
            n += 1;
        }
    }
    assert!(n >= 8, "{n} configs");
    let demo = std::fs::read_to_string(dir.join("DEMO")).unwrap();
    // scripts/demo's format: one config file name a line, `#` comments.
    for name in demo.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        assert!(dir.join(name).is_file(), "DEMO lists {name}, which is not in configs/clue");
    }
}

#[test]
fn tiny_mnist_run_leaves_its_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../configs/clue/mnist_smoke.toml"));
    let mut args = vec!["--config".to_string(), cfg.to_str().unwrap().to_string()];
    args.extend(set(&[
        "data.train_subset=1000",
        "data.test_subset=200",
        "bnn.width=32",
        "bnn.epochs=6",
        "bnn.burn_in=2",
        "vae.width=32",
        "vae.epochs=2",
        "clue.max_steps=8",
        "select.max_rows=8",
        "checks.min_drop=0.0",
        "checks.max_bnn_error=1.0",
    ]));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let done = go(tmp.path(), &refs).unwrap();
    assert!(done.passed, "{}", done.verdict);
    assert!(done.folder.join("figures/clue_grid.png").is_file());
    assert!(done.folder.join("figures/uncertainty_hist.png").is_file());
    assert!(done.folder.join("lambda_sweep.csv").is_file());
}
