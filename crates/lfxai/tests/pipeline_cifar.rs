//! CIFAR-10 experiments end to end on small generated batch files of the real binary format
//! (xai-core's writer and reader), determinism, and bad input.

mod common;

use common::{run_on as run, CIFAR_EXAMPLES as EXAMPLES, CIFAR_FEATURES as FEATURES};

/// 100 records per batch file: 500 training and 100 test images.
fn cifar_root() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("cifar10");
    std::fs::create_dir_all(&dir).unwrap();
    xai_core::data::cifar::write_synthetic(&dir, 100, 7).unwrap();
    root
}

const TINY: [&str; 8] = [
    "data.n_train=200",
    "data.n_test=16",
    "train.batch_size=32",
    "train.max_steps=3",
    "features.ig_steps=4",
    "features.gs_samples=2",
    "features.batch_size=8",
    "features.perturb_pct=[10, 100]",
];

#[test]
fn cifar_features_end_to_end_and_deterministic() {
    let data = cifar_root();
    let runs = tempfile::tempdir().unwrap();
    let a = run(FEATURES, data.path(), runs.path(), &TINY).unwrap();
    for f in [
        "consistency_features.csv",
        "summary.csv",
        "train_log.csv",
        "figures/consistency_features.png",
        "figures/masked_examples.png",
    ] {
        assert!(a.folder.join(f).is_file(), "{f} missing");
    }
    assert!(a.folder.join("checkpoints/simclr_seed1.safetensors").is_file());
    let csv = std::fs::read_to_string(a.folder.join("consistency_features.csv")).unwrap();
    // 4 methods × 2 batches × (p = 0, 10, 100).
    assert_eq!(csv.lines().count(), 1 + 4 * 2 * 3, "{csv}");
    let log = std::fs::read_to_string(a.folder.join("train_log.csv")).unwrap();
    assert_eq!(log.lines().count(), 1 + 3, "max_steps = 3 SGD steps: {log}");
    // Everything masked = the blurred image for every method: the 100 % shifts coincide.
    let shifts_at_100: Vec<f64> = csv
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(3) == Some("100.0"))
        .map(|l| l.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(shifts_at_100.len(), 8);
    // Rows run method by method over batches 0, 1: each method matches the first one per batch.
    for (i, s) in shifts_at_100.iter().enumerate() {
        assert!((s - shifts_at_100[i % 2]).abs() <= 1e-6 * s.abs().max(1.0), "{shifts_at_100:?}");
    }
    assert!(shifts_at_100[0] > 0.0, "the blur changes the representation");
    let b = run(FEATURES, data.path(), runs.path(), &TINY).unwrap();
    assert_eq!(csv, std::fs::read_to_string(b.folder.join("consistency_features.csv")).unwrap(), "same seed, same CSV");
}

#[test]
fn cifar_examples_end_to_end() {
    let data = cifar_root();
    let runs = tempfile::tempdir().unwrap();
    let sets = [
        "data.n_train=200",
        "data.n_test=100",
        "train.batch_size=32",
        "train.max_steps=2",
        "examples.n_subtrain=50",
        "examples.n_subtest=20",
        "examples.simplex_steps=20",
    ];
    let a = run(EXAMPLES, data.path(), runs.path(), &sets).unwrap();
    let csv = std::fs::read_to_string(a.folder.join("consistency_examples.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 6 * 2, "{csv}");
    // At 100 % both rates are the candidates' share of each test label, i.e. equal.
    let rate = |expl: &str, kind: &str| -> f64 {
        let l = csv.lines().find(|l| l.contains(&format!(",{expl},{kind},100.0,"))).unwrap();
        l.rsplit(',').next().unwrap().parse().unwrap()
    };
    for e in ["simplex", "dknn"] {
        assert!((rate(e, "most") - rate(e, "least")).abs() < 1e-9);
    }
}

#[test]
fn cifar_bad_input_is_named() {
    let data = cifar_root();
    let runs = tempfile::tempdir().unwrap();
    let e = run(EXAMPLES, data.path(), runs.path(), &["examples.explainers=[\"tracin\"]"]).unwrap_err();
    assert!(format!("{e:#}").contains("simplex and dknn"), "{e:#}");
    let e = run(FEATURES, data.path(), runs.path(), &["model.kind=\"mnist_ae\""]).unwrap_err();
    assert!(format!("{e:#}").contains("cifar10 → simclr_resnet18"), "{e:#}");
    // A batch file cut mid-record.
    let f = data.path().join("cifar10/test_batch.bin");
    let bytes = std::fs::read(&f).unwrap();
    std::fs::write(&f, &bytes[..bytes.len() - 10]).unwrap();
    let e = run(FEATURES, data.path(), runs.path(), &TINY).unwrap_err();
    assert!(format!("{e:#}").contains("cut short"), "{e:#}");
    let empty = tempfile::tempdir().unwrap();
    let e = run(FEATURES, empty.path(), runs.path(), &TINY).unwrap_err();
    assert!(format!("{e:#}").contains("CIFAR-10"), "{e:#}");
}

/// The rows of `method` in a consistency_features.csv, without the header.
fn method_rows(csv: &str, method: &str) -> Vec<String> {
    csv.lines().filter(|l| l.split(',').nth(2) == Some(method)).map(str::to_string).collect()
}

#[test]
fn cifar_compat_options_change_what_they_should() {
    let data = cifar_root();
    let runs = tempfile::tempdir().unwrap();
    let csv_of = |extra: &[&str]| {
        let mut sets = TINY.to_vec();
        sets.extend(extra);
        let f = run(FEATURES, data.path(), runs.path(), &sets).unwrap();
        (std::fs::read_to_string(f.folder.join("consistency_features.csv")).unwrap(), f.folder)
    };
    let (default, folder) = csv_of(&[]);
    // The default is the paper's intent: own blur per example, explanations in eval mode.
    let resolved = std::fs::read_to_string(folder.join("config.toml")).unwrap();
    assert!(resolved.contains("gradshap_batch_baselines = false"), "{resolved}");
    assert!(resolved.contains("explain_mode = \"eval\""), "{resolved}");
    // P2: batch-drawn blur baselines change GradientShap only (IG keeps each image's own blur;
    // every method reseeds, so the others see the same draws).
    let (batch, _) = csv_of(&["compat.gradshap_batch_baselines=true"]);
    assert_ne!(method_rows(&default, "gradient_shap"), method_rows(&batch, "gradient_shap"));
    for m in ["integrated_gradients", "saliency", "random"] {
        assert_eq!(method_rows(&default, m), method_rows(&batch, m), "{m} does not draw baselines");
    }
    // P3: train mode normalises with each batch's statistics, which moves IG's attributions
    // and the representations themselves (the p = 100 % shift).
    let (train, _) = csv_of(&["compat.explain_mode=\"train\""]);
    assert_ne!(method_rows(&default, "integrated_gradients"), method_rows(&train, "integrated_gradients"));
    let e = run(FEATURES, data.path(), runs.path(), &["compat.explain_mode=\"sideways\""]).unwrap_err();
    assert!(format!("{e:#}").contains("sideways"), "{e:#}");
}
