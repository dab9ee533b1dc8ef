//! Experiments end to end through the runner on tiny MNIST configs, determinism, and bad input.

mod common;

use common::*;
use std::path::{Path, PathBuf};

const TINY_FEATURES: [&str; 7] = [
    "data.n_train=300",
    "data.n_test=40",
    "train.epochs=1",
    "train.batch_size=50",
    "features.ig_steps=8",
    "features.batch_size=20",
    "features.perturb_pct=[5, 20, 100]",
];

const TINY_PRETEXT: [&str; 8] = [
    "run.seeds=[1]",
    "data.n_train=100",
    "data.n_test=20",
    "train.epochs=1",
    "train.batch_size=50",
    "features.gs_samples=1",
    "features.batch_size=20",
    "examples.n_subtrain=20",
];

#[test]
fn features_experiment_end_to_end_and_deterministic() {
    if !mnist_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let args = sets(&TINY_FEATURES);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let a = run(FEATURES, dir.path(), &args).unwrap();
    for f in [
        "consistency_features.csv",
        "summary.csv",
        "train_log.csv",
        "figures/consistency_features.png",
        "figures/masked_examples.png",
        "timing.json",
    ] {
        assert!(a.folder.join(f).is_file(), "{f} missing");
    }
    let csv = std::fs::read_to_string(a.folder.join("consistency_features.csv")).unwrap();
    assert!(csv.starts_with("dataset,seed,method,pct_perturbed,batch,rep_shift"), "{csv}");
    assert!(a.verdict.contains("mnist_consistency_features_smoke"), "{}", a.verdict);
    let b = run(FEATURES, dir.path(), &args).unwrap();
    assert_eq!(csv, std::fs::read_to_string(b.folder.join("consistency_features.csv")).unwrap(), "same seed, same CSV");
}

#[test]
fn ecg_features_experiment_end_to_end() {
    let root = xai_core::data::data_root(None);
    if !root.join("ecg5000").is_dir() {
        println!("NOTICE: no ECG5000 under {}; pipeline test skipped", root.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let args = sets(&[
        "data.n_train=40",
        "data.n_test=10",
        "model.latent_dim=4",
        "train.epochs=1",
        "train.batch_size=16",
        "features.ig_steps=4",
        "features.gs_samples=2",
        "features.batch_size=10",
        "features.perturb_pct=[10, 100]",
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let a = run(ECG_FEATURES, dir.path(), &args).unwrap();
    let csv = std::fs::read_to_string(a.folder.join("consistency_features.csv")).unwrap();
    assert!(csv.contains("ecg5000,42,integrated_gradients,10.0,0,"), "{csv}");
}

#[test]
fn roar_experiment_end_to_end() {
    if !mnist_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let args = sets(&[
        "data.n_train=100",
        "data.n_test=40",
        "train.epochs=1",
        "train.batch_size=50",
        "features.methods=[\"integrated_gradients\", \"random\"]",
        "features.ig_steps=4",
        "features.batch_size=50",
        "features.perturb_pct=[50, 100]",
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let a = run(ROAR, dir.path(), &args).unwrap();
    let csv = std::fs::read_to_string(a.folder.join("roar.csv")).unwrap();
    assert!(csv.starts_with("seed,method,pct_removed,test_loss"), "{csv}");
    assert_eq!(csv.lines().count(), 1 + 2 * 3, "{csv}");
    assert!(a.passed, "equal losses at 100%: {}", a.verdict);
}

#[test]
fn pretext_experiment_end_to_end() {
    if !mnist_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let args = sets(&TINY_PRETEXT);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let a = run(PRETEXT, dir.path(), &args).unwrap();
    for f in [
        "feature_pearson_run0.csv",
        "example_pearson_run0.csv",
        "feature_pearson.csv",
        "feature_spearman_run0.csv",
        "example_spearman.csv",
        "tables.md",
        "saliency_maps_run0.png",
        "top_examples_run0.png",
    ] {
        assert!(a.folder.join("pretext").join(f).is_file(), "{f}");
    }
    let csv = std::fs::read_to_string(a.folder.join("pretext/feature_pearson.csv")).unwrap();
    assert!(csv.starts_with("task,reconstruction,denoising,inpainting,classification"), "{csv}");
    let spearman = std::fs::read_to_string(a.folder.join("pretext/feature_spearman.csv")).unwrap();
    let diagonal: Vec<f64> =
        spearman.lines().skip(1).enumerate().map(|(i, l)| l.split(',').nth(i + 1).unwrap().parse().unwrap()).collect();
    assert!(diagonal.iter().all(|v| (v - 1.0).abs() < 1e-9), "a task ranks like itself: {spearman}");
    assert_ne!(spearman.lines().nth(1), csv.lines().nth(1), "Spearman is not Pearson");
    let md = std::fs::read_to_string(a.folder.join("pretext/tables.md")).unwrap();
    assert!(md.contains("## Examples (Spearman)"), "{md}");
    // The saliency grid holds one row per class present in the 20 test digits.
    let (w, h) = png_size(&a.folder.join("pretext/saliency_maps_run0.png"));
    assert!(h > 5 * 28 * 3 && w > 5 * 28 * 3, "several digit rows of five columns: {w}×{h}");
}

/// Row `i`, column `j` of a 4×4 pretext CSV (header row and task column skipped).
fn cell(csv: &str, i: usize, j: usize) -> f64 {
    csv.lines().nth(i + 1).unwrap().split(',').nth(j + 1).unwrap().parse().unwrap()
}

#[test]
fn pretext_compat_flags_change_only_their_part() {
    if !mnist_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let tables = |extra: &[&str]| {
        let args = sets(&[&TINY_PRETEXT[..], extra].concat());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let a = run(PRETEXT, dir.path(), &args).unwrap();
        let read = |f: &str| std::fs::read_to_string(a.folder.join("pretext").join(f)).unwrap();
        (read("feature_pearson_run0.csv"), read("example_pearson_run0.csv"))
    };
    let (features, examples) = tables(&[]);
    // P8: 0–255 pixels reach only the DKNN latents, so the feature maps are untouched.
    let (raw_features, raw_examples) = tables(&["compat.pretext_dknn_raw_pixels=true"]);
    assert_eq!(features, raw_features);
    assert_ne!(examples, raw_examples);
    // P9: the double softmax trains only the classifier: autoencoder pairs are untouched
    // (reconstruction–denoising, 0–1), pairs with the classifier (task 3) move.
    let (ds_features, ds_examples) = tables(&["compat.classifier_double_softmax=true"]);
    assert_eq!((cell(&features, 0, 1), cell(&examples, 0, 1)), (cell(&ds_features, 0, 1), cell(&ds_examples, 0, 1)));
    assert_ne!(cell(&features, 0, 3), cell(&ds_features, 0, 3));
    assert_ne!(cell(&examples, 0, 3), cell(&ds_examples, 0, 3));
}

#[test]
fn disvae_experiment_end_to_end() {
    if !mnist_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let args = sets(&[
        "data.n_train=100",
        "data.n_test=10",
        "train.epochs=1",
        "train.batch_size=50",
        "features.gs_samples=1",
        "disvae.betas=[1.0, 10.0]",
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let a = run(DISVAE, dir.path(), &args).unwrap();
    let csv = std::fs::read_to_string(a.folder.join("disvae/metrics.csv")).unwrap();
    assert!(csv.starts_with("dataset,loss,beta,run,pearson,spearman,cosine,entropy,active_neurons\n"), "{csv}");
    assert_eq!(csv.lines().count(), 1 + 2 * 2, "one row per model: {csv}");
    let d = 3.0f64;
    for line in csv.lines().skip(1) {
        let v: Vec<f64> = line.split(',').skip(4).map(|x| x.parse().unwrap()).collect();
        let [pearson, spearman, cosine, entropy, active] = v[..] else { panic!("{line}") };
        for (name, c) in [("pearson", pearson), ("spearman", spearman), ("cosine", cosine)] {
            assert!((-1.0..=1.0).contains(&c), "{name} {c} in {line}");
        }
        assert!((0.0..=d.ln() + 1e-9).contains(&entropy), "entropy {entropy} in {line}");
        assert!((1.0..=d).contains(&active), "active units {active} in {line}");
    }
    assert!(a.passed, "{}", a.verdict);
    let disvae = a.folder.join("disvae");
    for m in ["pearson", "spearman", "cosine", "entropy", "active_neurons"] {
        assert!(disvae.join(format!("box_{m}.png")).is_file(), "box plot of {m}");
    }
    for loss in ["beta_vae", "beta_tcvae"] {
        for beta in ["1", "10"] {
            let grid = disvae.join(format!("saliency_{loss}_beta{beta}_run1.png"));
            assert!(grid.is_file(), "{}", grid.display());
        }
    }
    assert!(!disvae.join("pearson_by_beta.png").exists(), "the mean ± std bars are gone");
    let e = error_of(DISVAE, &["--set", "disvae.losses=[\"beta_magic\"]"]);
    assert!(e.contains("beta_magic"), "{e}");
}

#[test]
fn examples_experiment_end_to_end_and_resume() {
    if !mnist_present() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let args = sets(&[
        "data.n_train=300",
        "data.n_test=100",
        "train.epochs=2",
        "train.batch_size=50",
        "examples.n_subtrain=20",
        "examples.n_subtest=20",
        "examples.if_depth=2",
        "examples.if_batch=4",
        "examples.simplex_steps=50",
    ]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let a = run(EXAMPLES, dir.path(), &args).unwrap();
    let csv = std::fs::read_to_string(a.folder.join("consistency_examples.csv")).unwrap();
    assert!(csv.starts_with("dataset,seed,explainer,type,pct_selected,similarity_rate"), "{csv}");
    for e in ["influence", "tracin", "simplex", "dknn"] {
        assert!(csv.contains(&format!(",{e},most,")), "{e} rows");
    }
    assert!(a.folder.join("checkpoints/tracin_seed1_epoch000.safetensors").is_file());
    assert!(a.folder.join("checkpoints/tracin_seed1_epoch001.safetensors").is_file());
    // Resuming the finished folder reuses the stored cell: identical table.
    let folder = a.folder.display().to_string();
    let mut resume_args = args.clone();
    resume_args.extend(["--resume", folder.as_str()]);
    let b = run(EXAMPLES, dir.path(), &resume_args).unwrap();
    // Values equal up to serde_json's float parsing (the stored cell is re-read; 1 ulp).
    let resumed = std::fs::read_to_string(b.folder.join("consistency_examples.csv")).unwrap();
    assert_eq!(csv.lines().count(), resumed.lines().count());
    for (l, r) in csv.lines().zip(resumed.lines()).skip(1) {
        let (lv, rv) = (l.rsplit(',').next().unwrap(), r.rsplit(',').next().unwrap());
        let (lv, rv): (f64, f64) = (lv.parse().unwrap(), rv.parse().unwrap());
        assert!((lv - rv).abs() <= 1e-12, "{l} vs {r}");
        assert_eq!(l.rsplit_once(',').unwrap().0, r.rsplit_once(',').unwrap().0);
    }
}

#[test]
fn bad_configs_are_clear_errors() {
    let e = error_of(FEATURES, &["--set", "features.methods=[\"deeplift_magic\"]"]);
    assert!(e.contains("deeplift_magic") && e.contains("integrated_gradients"), "{e}");
    let e = error_of(FEATURES, &["--set", "features.perturb_pct=[5, 150]"]);
    assert!(e.contains("150") && e.contains("0–100"), "{e}");
    let e = error_of(EXAMPLES, &["--set", "examples.n_subtrain=0"]);
    assert!(e.contains("must not be empty"), "{e}");
    let e = error_of(FEATURES, &["--set", "data.dataset=\"cifar10\""]);
    assert!(e.contains("cifar10"), "{e}");
    let e = error_of(FEATURES, &["--set", "model.kind=\"lstm_ae\""]);
    assert!(e.contains("does not fit"), "{e}");
    let e = error_of(FEATURES, &["--set", "compat.gradshap_anchor=\"sideways\""]);
    assert!(e.contains("sideways"), "{e}");
}

fn write_idx(path: &Path, dims: &[u32], magic: u32) {
    let mut bytes = magic.to_be_bytes().to_vec();
    for d in dims {
        bytes.extend(d.to_be_bytes());
    }
    bytes.extend(vec![0u8; dims.iter().product::<u32>() as usize]);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn missing_or_malformed_dataset_files_are_clear_errors() {
    let empty = tempfile::tempdir().unwrap();
    let e = error_of(FEATURES, &["--data-dir", &empty.path().display().to_string()]);
    assert!(e.contains("mnist"), "{e}");
    let bad = tempfile::tempdir().unwrap();
    let m: PathBuf = bad.path().join("mnist");
    std::fs::create_dir_all(&m).unwrap();
    for (prefix, n) in [("train", 5u32), ("t10k", 3)] {
        write_idx(&m.join(format!("{prefix}-images-idx3-ubyte")), &[n, 27, 27], 0x0803);
        write_idx(&m.join(format!("{prefix}-labels-idx1-ubyte")), &[n], 0x0801);
    }
    let e = error_of(FEATURES, &["--data-dir", &bad.path().display().to_string()]);
    assert!(e.contains("27x27"), "{e}");
}
