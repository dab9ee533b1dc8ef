//! E3 end to end on a tiny MNIST-479 config: the run folder's files, that the verdict's
//! epistemic drop is the one the per-digit CSVs give, that the explained digits are the most
//! epistemic of the test set, the spec §16.14 properties of the split, the ResNet VAE
//! through the pipeline, and config errors for `vae.arch`.

use clap::Parser;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use xai_core::runner::{Embedded, Finished, RunArgs};

const SMOKE: Embedded = Embedded {
    path: "configs/clue/mnist479_smoke.toml",
    text: include_str!("../../../configs/clue/mnist479_smoke.toml"),
};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: RunArgs,
}

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const TINY: [&str; 14] = [
    // A 6-epoch BNN on 400 digits is near chance: the error guard is off here.
    "checks.max_bnn_error=1.0",
    "data.train_subset=400",
    // 12 digits in chunks of 5: the chunked CLUE path.
    "clue.batch_size=5",
    "data.test_subset=200",
    "bnn.width=32",
    "bnn.epochs=6",
    "bnn.burn_in=2",
    "vae.width=32",
    "vae.epochs=2",
    // Headline λ = smallest λ, so that clues.csv holds the rows the verdict judges.
    "clue.lambdas=[1.0, 15.0]",
    "clue.max_steps=8",
    "clue.sensitivity_steps=[0.1]",
    "select.max_rows=12",
    "checks.min_drop=0.0",
];

fn datasets() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets"))
}

fn go(runs: &Path, overrides: &[&str]) -> anyhow::Result<Finished> {
    let args: Vec<String> = overrides.iter().flat_map(|o| ["--set".to_string(), o.to_string()]).collect();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    go_raw(runs, &refs)
}

/// The arguments after the fixed flags: `--resume FOLDER` and `--set KEY=VALUE` pass
/// through, a bare `key=value` becomes a `--set` pair.
fn go_raw(runs: &Path, extra: &[&str]) -> anyhow::Result<Finished> {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut argv: Vec<String> = ["clue", "--device", "cpu", "--threads", "1", "--runs-dir"].map(String::from).into();
    argv.push(runs.to_str().unwrap().into());
    argv.extend(["--data-dir".to_string(), datasets().to_str().unwrap().into()]);
    let mut it = extra.iter();
    while let Some(&a) = it.next() {
        if a.starts_with("--") {
            argv.push(a.into());
            if a == "--resume" || a == "--set" {
                argv.push(it.next().expect("a value after the flag").to_string());
            }
        } else {
            argv.extend(["--set".to_string(), a.to_string()]);
        }
    }
    let a = Args::try_parse_from(argv)?;
    xai_core::runner::run::<clue::experiments::Config, _>("clue", SMOKE, &a.run, clue::experiments::run)
}

/// A CSV as one map per row (header → cell).
fn csv(path: &Path) -> Vec<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines.map(|l| header.iter().cloned().zip(l.split(',').map(String::from)).collect()).collect()
}

fn num(row: &HashMap<String, String>, key: &str) -> f64 {
    row[key].parse().unwrap_or_else(|e| panic!("{key} = {}: {e}", row[key]))
}

#[test]
fn tiny_run_writes_its_files_and_judges_the_drop_the_csvs_give() {
    let tmp = tempfile::tempdir().unwrap();
    let done = go(tmp.path(), &TINY).unwrap();
    assert!(done.passed, "{}", done.verdict);
    let dir = &done.folder;
    for f in [
        "results.json",
        "paper_comparison.md",
        "paper_comparison.csv",
        "verdict.txt",
        "bnn_train_log.csv",
        "test_uncertainty.csv",
        "lambda_sweep.csv",
        "clues.csv",
        "figures/clue_grid.png",
        "figures/uncertainty_hist.png",
        "checkpoints/bnn_samples.safetensors",
        "checkpoints/vae.safetensors",
    ] {
        assert!(dir.join(f).is_file(), "missing {f}");
    }
    // The explained digits are the 12 most epistemic of the test set.
    let tests = csv(&dir.join("test_uncertainty.csv"));
    assert_eq!(tests.len(), 200);
    let mut by_e: Vec<(f64, bool)> = tests.iter().map(|r| (num(r, "epistemic"), r["selected"] == "true")).collect();
    by_e.sort_by(|a, b| b.0.total_cmp(&a.0));
    assert!(by_e[..12].iter().all(|r| r.1) && by_e[12..].iter().all(|r| !r.1), "selection is not the top 12 by E");
    for r in &tests {
        assert!(["4", "7", "9"].contains(&r["label"].as_str()), "label {}", r["label"]);
        let (t, a, e) = (num(r, "total"), num(r, "aleatoric"), num(r, "epistemic"));
        assert!((t - a - e).abs() < 1e-5 && e >= -1e-6, "H = A + E broken: {t} {a} {e}");
    }
    // The judged drop equals the one recomputed from the per-digit epistemic values.
    let clues = csv(&dir.join("clues.csv"));
    assert_eq!(clues.len(), 12);
    let mean = |k: &str| clues.iter().map(|r| num(r, k)).sum::<f64>() / clues.len() as f64;
    let (before, after) = (mean("epistemic_before"), mean("epistemic_after"));
    let drop = (before - after) / before;
    let top12: f64 = by_e[..12].iter().map(|r| r.0).sum::<f64>() / 12.0;
    assert!((before - top12).abs() < 1e-5, "clues.csv before {before} vs test_uncertainty {top12}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let judged = results["smallest_lambda_drop"].as_f64().unwrap();
    assert!((judged - drop).abs() < 1e-4, "verdict drop {judged} vs recomputed {drop}");
    let table = std::fs::read_to_string(dir.join("paper_comparison.csv")).unwrap();
    assert!(table.contains("relative epistemic uncertainty drop"), "{table}");
    assert_eq!(results["objective"], "epistemic");
    assert!(results["data"]["holes_removed"].as_i64().unwrap() > 0);
    // Resume: the saved BNN samples and VAE are reloaded; the same digits and CLUEs come out.
    let mut again: Vec<String> = vec!["--resume".into(), dir.to_str().unwrap().into()];
    again.extend(TINY.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = again.iter().map(String::as_str).collect();
    let resumed = go_raw(tmp.path(), &refs).unwrap();
    assert_eq!(&resumed.folder, dir);
    for f in ["clues.csv", "test_uncertainty.csv"] {
        let now = std::fs::read_to_string(dir.join(f)).unwrap();
        assert_eq!(now.lines().count(), if f == "clues.csv" { 13 } else { 201 });
    }
    let after_resume = csv(&dir.join("clues.csv"));
    for (a, b) in clues.iter().zip(&after_resume) {
        assert_eq!(a["test_row"], b["test_row"]);
        assert!((num(a, "epistemic_after") - num(b, "epistemic_after")).abs() < 1e-5, "CLUE changed on resume");
    }
    let resumed_results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let (v0, v1) = (results["vae_val_elbo"].as_f64().unwrap(), resumed_results["vae_val_elbo"].as_f64().unwrap());
    assert!((v0 - v1).abs() < 1e-3, "rescored hold-out ELBO {v1} vs fitted {v0}");
    // The check fails when the drop is demanded above what the data give.
    let mut strict: Vec<String> = TINY.iter().map(|s| s.to_string()).collect();
    strict.pop();
    strict.push(format!("checks.min_drop={}", drop + 0.01));
    let refs: Vec<&str> = strict.iter().map(String::as_str).collect();
    let failed = go(tmp.path(), &refs).unwrap();
    assert!(!failed.passed, "passed although min_drop {} > drop {drop}", drop + 0.01);
}

#[test]
fn mnist479_keeps_three_classes_and_cuts_the_prototype_holes() {
    use clue::experiments::mnist479::{mnist479, DIGITS, PROTOTYPES_4, PROTOTYPES_7};
    use tch::{Kind, Tensor};
    let m = xai_core::data::mnist::load(&datasets()).unwrap();
    let d = mnist479(&m).unwrap();
    for y in [&d.train_y, &d.test_y] {
        assert!(y.min().int64_value(&[]) == 0 && y.max().int64_value(&[]) == 2, "labels in {{0, 1, 2}}");
    }
    assert_eq!(d.train_x.size()[1], 784);
    let keep = |y: &Tensor| DIGITS.iter().map(|&g| y.eq(g)).reduce(|a, b| a.logical_or(&b)).unwrap();
    let n479 = keep(&m.train_labels).sum(Kind::Int64).int64_value(&[]);
    let n_test = keep(&m.test_labels).sum(Kind::Int64).int64_value(&[]);
    assert_eq!(d.test_x.size()[0], n_test, "test is not thinned");
    let removed = n479 - d.train_x.size()[0];
    assert_eq!(removed, d.facts["holes_removed"].as_i64().unwrap());
    // At most 15 per 4-prototype and 12 per 7-prototype; at least the prototypes themselves.
    assert!((80..=41 * 15 + 47 * 12).contains(&removed), "{removed} removed");
    // No prototype image is left in train.
    let idx = keep(&m.train_labels).nonzero().squeeze_dim(1);
    let filtered = m.train_images.index_select(0, &idx).flatten(1, -1);
    for &p in PROTOTYPES_4.iter().chain(&PROTOTYPES_7) {
        let proto = filtered.get(p).unsqueeze(0);
        let dist = (&d.train_x - proto).abs().sum_dim_intlist(1, false, Kind::Float).min().double_value(&[]);
        assert!(dist > 0.0, "prototype {p} still in train");
    }
}

#[test]
fn resnet_vae_runs_through_the_pipeline() {
    let tmp = tempfile::tempdir().unwrap();
    let mut o: Vec<&str> = TINY.to_vec();
    o.extend([
        "vae.arch=\"resnet\"",
        "vae.latent_dim=4",
        "data.train_subset=120",
        "vae.epochs=1",
        "vae.batch_size=32",
        "select.max_rows=4",
        "clue.max_steps=4",
    ]);
    let done = go(tmp.path(), &o).unwrap();
    assert!(done.passed, "{}", done.verdict);
    let results = std::fs::read_to_string(done.folder.join("results.json")).unwrap();
    assert!(results.contains("ResNet conv VAE"), "{results}");
    assert!(!results.contains("MLP VAE with residual blocks instead"), "no smoke deviation for resnet");
}

#[test]
fn vae_arch_errors_name_the_key() {
    let tmp = tempfile::tempdir().unwrap();
    let err = format!("{:#}", go(tmp.path(), &["vae.arch=\"cnn\""]).unwrap_err());
    assert!(err.contains("vae.arch") && err.contains("cnn"), "{err}");
    let err = format!("{:#}", go(tmp.path(), &["data.dataset=\"lsat\""]).unwrap_err());
    assert!(err.contains("data.dataset"), "{err}");
    let err = format!(
        "{:#}",
        go(tmp.path(), &["vae.arch=\"resnet\"", "run.experiment=\"real\"", "data.dataset=\"lsat\""]).unwrap_err()
    );
    assert!(err.contains("vae.arch"), "{err}");
}
