//! Every shipped config parses into the typed schema and validates; the `*_reduced` twins cut
//! exactly what their headers say against the paper-scale configs; the compat defaults are
//! the paper's intent.

use lfxai::experiments::{CompatConfig, Config};
use lfxai::{AnchorPairing, BaselineDraw, FeatureMethod};
use std::path::PathBuf;
use xai_core::runner::ExperimentConfig;

fn config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../configs/lfxai")
}

fn load(name: &str) -> Config {
    let path = config_dir().join(name);
    xai_core::config::load::<Config>(&path, &[]).unwrap_or_else(|e| panic!("{}: {e}", path.display())).value
}

#[test]
fn every_config_file_parses_and_validates() {
    let mut names = vec![];
    for entry in std::fs::read_dir(config_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        load(&name).validate().unwrap_or_else(|e| panic!("{name}: {e:#}"));
        names.push(name);
    }
    for reduced in [
        "ecg5000_consistency_examples_reduced.toml",
        "dsprites_disvae_reduced.toml",
        "cifar10_consistency_features_reduced.toml",
        "cifar10_consistency_examples_reduced.toml",
    ] {
        assert!(names.iter().any(|n| n == reduced), "{reduced} is covered");
    }
    assert!(names.len() >= 24, "paper-scale, smoke and reduced configs: {names:?}");
}

#[test]
fn reduced_configs_cut_what_their_headers_say() {
    for name in std::fs::read_dir(config_dir()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()) {
        if let Some(stem) = name.strip_suffix("_reduced.toml") {
            let text = std::fs::read_to_string(config_dir().join(&name)).unwrap();
            let header = text.lines().next().unwrap();
            assert!(header.starts_with(&format!("# {stem}_reduced")), "{name}: {header}");
            assert!(text.contains(&format!("Reduced against {stem}.toml")), "{name} names its paper-scale config");
            assert!(config_dir().join(format!("{stem}.toml")).is_file(), "{stem}.toml exists");
        }
    }
    let (paper, reduced) =
        (load("ecg5000_consistency_examples.toml"), load("ecg5000_consistency_examples_reduced.toml"));
    assert_eq!((paper.examples.n_subtrain, paper.examples.if_depth), (1000, 100), "the paper's IF");
    assert_eq!((reduced.examples.n_subtrain, reduced.examples.if_depth), (200, 20));
    assert!(reduced.examples.if_shared_batches && !paper.examples.if_shared_batches);
    assert_eq!(reduced.examples.n_subtest, paper.examples.n_subtest);
    assert_eq!(reduced.train.epochs, paper.train.epochs);

    let (paper, reduced) = (load("mnist_disvae.toml"), load("mnist_disvae_reduced.toml"));
    assert_eq!((reduced.run.seeds.clone(), reduced.train.epochs, reduced.data.n_test), (vec![1, 2], 5, 2000));
    assert_eq!((reduced.data.n_train, reduced.train.batch_size), (paper.data.n_train, paper.train.batch_size));
    assert_eq!((&reduced.disvae.betas, &reduced.disvae.losses), (&paper.disvae.betas, &paper.disvae.losses));

    let (paper, reduced) = (load("dsprites_disvae.toml"), load("dsprites_disvae_reduced.toml"));
    assert_eq!((paper.run.seeds.len(), paper.train.epochs), (5, 100));
    assert_eq!((reduced.run.seeds.clone(), reduced.train.epochs), (vec![1], 3));
    assert_eq!(reduced.disvae.betas, vec![1.0, 5.0, 10.0]);
    assert_eq!(reduced.disvae.losses.len(), 2);
    assert_eq!((reduced.data.n_train, reduced.data.n_test), (0, 0), "every sprite");

    for stem in ["cifar10_consistency_features", "cifar10_consistency_examples"] {
        let (paper, reduced) = (load(&format!("{stem}.toml")), load(&format!("{stem}_reduced.toml")));
        assert_eq!((paper.train.epochs, reduced.train.epochs), (100, 20), "{stem}");
        assert_eq!(paper.train.batch_size, reduced.train.batch_size, "{stem}");
        assert_eq!(paper.model.kind, reduced.model.kind, "{stem}");
    }
}

#[test]
fn compat_defaults_are_the_papers_intent() {
    let c = CompatConfig::default();
    assert_eq!(c.pairing().unwrap(), AnchorPairing::OwnExample);
    assert_eq!(c.baseline_draw(), BaselineDraw::OwnExample);
    assert!(!c.train_mode().unwrap(), "explanations in eval mode");
    assert!(!c.gradshap_batch_baselines && !c.simclr_lr_quirk && !c.cifar_examples_from_test_split);
    assert!(!c.pretext_dknn_raw_pixels && !c.classifier_double_softmax);
    let gs = |cfg: &Config| {
        cfg.feature_methods().unwrap().into_iter().find(|m| matches!(m, FeatureMethod::GradientShap { .. })).unwrap()
    };
    let cifar = load("cifar10_consistency_features.toml");
    assert!(matches!(gs(&cifar), FeatureMethod::GradientShap { baselines: BaselineDraw::OwnExample, .. }));
    let mut quirky = cifar.clone();
    quirky.compat.gradshap_batch_baselines = true;
    quirky.compat.explain_mode = "train".into();
    assert!(matches!(gs(&quirky), FeatureMethod::GradientShap { baselines: BaselineDraw::Batch, .. }));
    assert!(quirky.compat.train_mode().unwrap());
    quirky.compat.explain_mode = "training".into();
    assert!(quirky.validate().unwrap_err().to_string().contains("`training` is not `eval` or `train`"));
}
