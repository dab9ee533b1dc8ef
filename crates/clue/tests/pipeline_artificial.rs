//! E4 end to end through `xai_core::runner` on `artificial_compas_smoke.toml` (real COMPAS
//! rows for the ground truth): the verdict, the files of spec §12, the log p contrast read
//! back from `curves.csv`, a resume that reuses every finished cell, and config errors; a
//! tiny Wine run whose ground truth is the learned-variance VAEAC; and a tiny E5 (MNIST) run
//! whose ground truth is the Bernoulli VAEAC.

use clap::Parser;
use std::path::{Path, PathBuf};
use xai_core::runner::{Embedded, Finished, RunArgs};

const SMOKE: Embedded = Embedded {
    path: "configs/clue/artificial_compas_smoke.toml",
    text: include_str!("../../../configs/clue/artificial_compas_smoke.toml"),
};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: RunArgs,
}

fn go(runs: &Path, extra: &[&str]) -> anyhow::Result<Finished> {
    let data = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets"));
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

/// `curves.csv` rows as (unc_type, method, hyper, mean_logpx).
fn curve_points(folder: &Path) -> Vec<(String, String, f64, f64)> {
    let text = std::fs::read_to_string(folder.join("curves.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap_or_else(|| panic!("no column {name}"));
    let (u, m, h, l) = (col("unc_type"), col("method"), col("hyper"), col("mean_logpx"));
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            (f[u].to_string(), f[m].to_string(), f[h].parse().unwrap(), f[l].parse().unwrap())
        })
        .collect()
}

#[test]
fn artificial_compas_smoke_shows_the_log_p_contrast_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let done = go(tmp.path(), &[]).unwrap();
    assert!(done.passed, "{}", done.verdict);
    for f in [
        "results.json",
        "paper_comparison.md",
        "curves.csv",
        "knee_table1.csv",
        "knee_table2.csv",
        "baselines.csv",
        "test_uncertainty.csv",
        "bnn_metrics.csv",
        "gen_metrics.csv",
        "gt_train_log.csv",
        "figures/curve_aleatoric_dx.png",
        "figures/curve_aleatoric_logpx.png",
        "figures/curve_epistemic_dx.png",
        "figures/curve_epistemic_logpx.png",
        "checkpoints/gt_vaeac.safetensors",
        "checkpoints/gt_under_vae.safetensors",
        "checkpoints/artificial_data.safetensors",
        "checkpoints/ufido_vaeac.safetensors",
    ] {
        assert!(done.folder.join(f).is_file(), "missing {f}");
    }
    // The contrast, independently of the verdict: per objective, every CLUE point stays within
    // 5 nats of the originals' mean log p_gt while Sensitivity's largest step falls ≥ 20 below.
    let pts = curve_points(&done.folder);
    let base = std::fs::read_to_string(done.folder.join("baselines.csv")).unwrap();
    for unc in ["aleatoric", "epistemic"] {
        let line = base.lines().find(|l| l.contains(unc)).unwrap();
        let header: Vec<&str> = base.lines().next().unwrap().split(',').collect();
        let i = header.iter().position(|h| *h == "logpx_mean").unwrap();
        let origin: f64 = line.split(',').nth(i).unwrap().parse().unwrap();
        let clue: Vec<f64> = pts.iter().filter(|p| p.0 == unc && p.1 == "clue").map(|p| p.3).collect();
        assert_eq!(clue.len(), 6);
        assert!(clue.iter().all(|&l| origin - l < 5.0), "{unc}: CLUE log p {clue:?} vs originals {origin}");
        let sens =
            pts.iter().filter(|p| p.0 == unc && p.1 == "sensitivity").max_by(|a, b| a.2.total_cmp(&b.2)).unwrap();
        assert!(origin - sens.3 > 20.0, "{unc}: Sensitivity at η = {} only reached log p {}", sens.2, sens.3);
    }
    let md = std::fs::read_to_string(done.folder.join("paper_comparison.md")).unwrap();
    assert!(md.contains("Table 1") && md.contains("0.18") && md.contains("0.044"), "{md}");
    // Resume: ground truth, data, models and every sweep cell are reused; the tables match.
    let resumed = go(tmp.path(), &["--resume", done.folder.to_str().unwrap()]).unwrap();
    assert_eq!(resumed.folder, done.folder);
    for f in ["curves.csv", "knee_table1.csv", "knee_table2.csv"] {
        let a = std::fs::read_to_string(done.folder.join(f)).unwrap();
        let b = std::fs::read_to_string(resumed.folder.join(f)).unwrap();
        assert_eq!(a, b, "{f} differs after resume");
    }
}

#[test]
fn bad_artificial_configs_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    for (set, needle) in [
        ("artificial.uncertainty_types=[\"total\"]", "artificial.uncertainty_types"),
        ("artificial.clue_lambdas={ min = 0.0, max = 1.0, n = 3 }", "artificial.clue_lambdas"),
        ("artificial.select_quantile=1.5", "artificial.select_quantile"),
        ("artificial.gt_batch_size=1", "artificial.gt_batch_size"),
        ("artificial.tau_aleatoric=nan", "artificial.tau_aleatoric"),
        ("artificial.sensitivity_categorical=\"round\"", "`round` is not `raw` or `project`"),
    ] {
        let err = format!("{:#}", go(tmp.path(), &["--set", set]).unwrap_err());
        assert!(err.contains(needle), "{set}: {err}");
    }
    // MNIST-479 is a real-data experiment only (E5 runs on the ten-digit MNIST).
    let err = format!("{:#}", go(tmp.path(), &["--set", "data.dataset=\"mnist479\""]).unwrap_err());
    assert!(err.contains("data.dataset"), "{err}");
}

/// `(method, hyper, valid_fraction, mean_dx_categorical)` of the aleatoric rows.
fn validity(folder: &Path) -> Vec<(String, f64, f64, f64)> {
    let text = std::fs::read_to_string(folder.join("curves.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (m, h, v, c) = (col("method"), col("hyper"), col("valid_fraction"), col("mean_dx_categorical"));
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .map(|f| (f[m].to_string(), f[h].parse().unwrap(), f[v].parse().unwrap(), f[c].parse().unwrap()))
        .collect()
}

#[test]
fn projected_sensitivity_steps_are_valid_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let done = go(
        tmp.path(),
        &[
            "--set",
            "artificial.sensitivity_categorical=\"project\"",
            "--set",
            "artificial.uncertainty_types=[\"aleatoric\"]",
        ],
    )
    .unwrap();
    let rows = validity(&done.folder);
    let sens: Vec<_> = rows.iter().filter(|r| r.0 == "sensitivity").collect();
    assert_eq!(sens.len(), 6);
    // Raw steps leave every row off the simplex (the smoke's README table); projected ones
    // are one-hot rows, and a changed block moves exactly 2 in L1, so the largest step, which
    // flips categories, moves a positive amount.
    assert!(sens.iter().all(|r| r.2 == 1.0), "{sens:?}");
    let largest = sens.iter().max_by(|a, b| a.1.total_cmp(&b.1)).unwrap();
    assert!(largest.3 > 0.0, "{largest:?}");
    assert!(rows.iter().filter(|r| r.0 == "clue").all(|r| r.2 == 1.0), "CLUE decodes valid rows");
}

/// A run of `configs/clue/<config>.toml` with `overrides` (`key=value`) in `runs`.
fn go_config(runs: &Path, config: &str, overrides: &[&str]) -> Finished {
    let cfg = PathBuf::from(format!("{}/../../configs/clue/{config}.toml", env!("CARGO_MANIFEST_DIR")));
    let mut args = vec!["--config".to_string(), cfg.to_str().unwrap().to_string()];
    for s in overrides {
        args.extend(["--set".to_string(), s.to_string()]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    go(runs, &refs).unwrap()
}

/// Column `name` of a CSV file as numbers.
fn column(path: &Path, name: &str) -> Vec<f64> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let i = lines.next().unwrap().split(',').position(|h| h == name).unwrap_or_else(|| panic!("no column {name}"));
    lines.map(|l| l.split(',').nth(i).unwrap().parse().unwrap()).collect()
}

#[test]
fn tiny_wine_run_uses_the_learned_variance_ground_truth() {
    let tmp = tempfile::tempdir().unwrap();
    let done = go_config(
        tmp.path(),
        "artificial_wine_smoke",
        &[
            "artificial.gt_epochs=20",
            "artificial.under_epochs=10",
            "artificial.n_train=400",
            "artificial.n_test=100",
            "artificial.gt_target_samples=5",
            "artificial.is_samples=10",
            "artificial.max_rows=10",
            "artificial.clue_lambdas={ min = 0.01, max = 1.0, n = 2 }",
            "artificial.ufido_l1={ min = 0.01, max = 1.0, n = 2 }",
            "artificial.sensitivity_steps={ min = 0.1, max = 200.0, n = 2 }",
            "artificial.ufido_iterations=3",
            "artificial.max_steps_aleatoric=10",
            "artificial.max_steps_epistemic=10",
            "bnn.epochs=20",
            "bnn.burn_in=5",
            "bnn.sample_every=2",
            "vae.epochs=5",
            "checks.max_clue_logp_gap=1e9",
            "checks.min_sensitivity_logp_drop=-1e9",
            "checks.knee_below_sensitivity=[]",
        ],
    );
    assert!(done.passed, "{}", done.verdict);
    // The saved ground truth is the learned-variance VAEAC: its generator emits 2 × 12 values.
    let file: std::collections::HashMap<String, tch::Tensor> =
        xai_core::checkpoint::load_tensors(&done.folder.join("checkpoints/gt_vaeac.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    assert_eq!(file["likelihood"].int64_value(&[0]), 1);
    assert_eq!(file["generator.block.4.bias"].size(), vec![24]);
    // Under σ_y ≡ 1 every ground-truth σ_total would be ≥ 1; the learned σ_y of standardised
    // quality (≈ 0.7 of its spread is noise) lets them fall below.
    let u = column(&done.folder.join("test_uncertainty.csv"), "gt_uncertainty");
    assert_eq!(u.len(), 100);
    assert!(u.iter().filter(|&&v| v < 1.0).count() > 50, "{u:?}");
    let results = std::fs::read_to_string(done.folder.join("results.json")).unwrap();
    assert!(results.contains("Wine's ground truth learns its variance"), "{results}");
}

#[test]
fn tiny_mnist_run_leaves_its_files_and_falls_back_to_the_quantile() {
    let tmp = tempfile::tempdir().unwrap();
    let done = go_config(
        tmp.path(),
        "artificial_mnist_smoke",
        &[
            "data.train_subset=600",
            "artificial.gt_epochs=2",
            "artificial.under_epochs=2",
            "artificial.n_train=400",
            "artificial.n_test=100",
            "artificial.gt_target_samples=5",
            "artificial.is_samples=10",
            "artificial.max_rows=8",
            // No BNN aleatoric entropy reaches 10 nats: the configured 0.8 quantile takes over.
            "artificial.tau_aleatoric=10.0",
            "artificial.clue_lambdas={ min = 0.01, max = 1.0, n = 2 }",
            "artificial.ufido_l1={ min = 0.01, max = 1.0, n = 2 }",
            "artificial.sensitivity_steps={ min = 0.1, max = 200.0, n = 2 }",
            "artificial.ufido_iterations=2",
            "artificial.max_steps_aleatoric=5",
            "artificial.max_steps_epistemic=5",
            "bnn.epochs=6",
            "bnn.burn_in=2",
            "bnn.sample_every=1",
            "vae.epochs=2",
            "checks.max_clue_logp_gap=1e9",
            "checks.min_sensitivity_logp_drop=-1e9",
            "checks.knee_below_sensitivity=[]",
        ],
    );
    assert!(done.passed, "{}", done.verdict);
    for f in [
        "curves.csv",
        "knee_table1.csv",
        "knee_table2.csv",
        "baselines.csv",
        "test_uncertainty.csv",
        "figures/curve_aleatoric_logpx.png",
        "figures/curve_epistemic_dx.png",
        "checkpoints/ufido_vaeac.safetensors",
    ] {
        assert!(done.folder.join(f).is_file(), "missing {f}");
    }
    // Both VAEACs are Bernoulli (tag 2): the ground truth over 784 + 10 outputs, U-FIDO's over 784.
    for (f, d) in [("gt_vaeac", 794), ("ufido_vaeac", 784)] {
        let file: std::collections::HashMap<String, tch::Tensor> =
            xai_core::checkpoint::load_tensors(&done.folder.join(format!("checkpoints/{f}.safetensors")))
                .unwrap()
                .into_iter()
                .collect();
        assert_eq!(file["likelihood"].int64_value(&[0]), 2, "{f}");
        assert_eq!(file["generator.block.4.bias"].size(), vec![d], "{f}");
    }
    // Artificial digits are grey levels in [0, 1], labels 0..10.
    let data: std::collections::HashMap<String, tch::Tensor> =
        xai_core::checkpoint::load_tensors(&done.folder.join("checkpoints/artificial_data.safetensors"))
            .unwrap()
            .into_iter()
            .collect();
    let x = &data["train_x"];
    assert_eq!(x.size(), vec![400, 784]);
    assert!(x.min().double_value(&[]) >= 0.0 && x.max().double_value(&[]) <= 1.0);
    assert!(data["train_y"].max().int64_value(&[]) < 10 && data["train_y"].min().int64_value(&[]) >= 0);
    // The aleatoric τ fell back to the 0.8 quantile of the test set's BNN aleatoric entropy.
    let tau = column(&done.folder.join("baselines.csv"), "tau");
    let mut a = column(&done.folder.join("test_uncertainty.csv"), "bnn_aleatoric");
    a.sort_by(f64::total_cmp);
    assert!((tau[0] - a[80]).abs() < 1e-9, "τ {} vs quantile {}", tau[0], a[80]);
    let base = std::fs::read_to_string(done.folder.join("baselines.csv")).unwrap();
    assert!(base.lines().nth(1).unwrap().contains("true"), "{base}");
    let results = std::fs::read_to_string(done.folder.join("results.json")).unwrap();
    assert!(results.contains("E5") || results.contains("MNIST (E5)"), "{results}");
}
