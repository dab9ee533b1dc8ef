//! dSprites for disvae: the procedural generator's determinism, the loader on a generated
//! npz of the DeepMind format, and the 64×64 disvae run end to end with its data source recorded.

mod common;

use common::{run_on, DSPRITES as SMOKE};
use lfxai::experiments::dsprites::{load, Source};
use lfxai::experiments::DataConfig;
use std::path::Path;
use tch::{Device, Kind};
use xai_core::data::dsprites;
use xai_core::runner::Finished;

fn cfg(source: &str, n_train: usize, n_test: usize) -> DataConfig {
    DataConfig { dataset: "dsprites".into(), n_train, n_test, source: source.into() }
}

/// A 60-sprite npz of the DeepMind layout under `root/dsprites/`.
fn write_npz(root: &Path) {
    std::fs::create_dir_all(root.join("dsprites")).unwrap();
    let d = dsprites::procedural(&(0..60).map(|i| i * 12_289).collect::<Vec<_>>());
    dsprites::write_npz(&dsprites::path(root), &d).unwrap();
}

#[test]
fn procedural_sprites_are_deterministic_and_binary() {
    let empty = tempfile::tempdir().unwrap();
    let a = load(&cfg("auto", 30, 10), empty.path(), Device::Cpu, 3).unwrap();
    assert_eq!(a.source, Source::Procedural, "no npz: procedural");
    assert_eq!(a.train_x.size(), [30, 1, 64, 64]);
    assert_eq!(a.test_x.size(), [10, 1, 64, 64]);
    assert_eq!(a.train_x.kind(), Kind::Uint8);
    assert!(a.train_x.le(1).all().int64_value(&[]) == 1, "pixels in {{0, 1}}");
    assert!(a.train_x.sum(Kind::Int64).int64_value(&[]) > 0, "sprites are drawn");
    let b = load(&cfg("procedural", 30, 10), empty.path(), Device::Cpu, 3).unwrap();
    assert!(a.train_x.equal(&b.train_x) && a.test_x.equal(&b.test_x), "same seed, same sprites");
    let c = load(&cfg("procedural", 30, 10), empty.path(), Device::Cpu, 4).unwrap();
    assert!(!a.train_x.equal(&c.train_x), "another seed, another split");
    // Train and test sprites are distinct images of the same generator.
    let flat = |t: &tch::Tensor| t.flatten(1, -1).to_kind(Kind::Float);
    let d = flat(&a.train_x).unsqueeze(1) - flat(&a.test_x).unsqueeze(0);
    assert!(d.abs().sum_dim_intlist(2, false, Kind::Float).min().double_value(&[]) > 0.0);
    assert!(load(&cfg("npz", 30, 10), empty.path(), Device::Cpu, 3).is_err(), "npz asked for but absent");
    let e = load(&cfg("png", 30, 10), empty.path(), Device::Cpu, 3).err().unwrap().to_string();
    assert!(e.contains("not auto, npz or procedural"), "{e}");
}

#[test]
fn loader_reads_a_generated_npz_of_the_real_format() {
    let root = tempfile::tempdir().unwrap();
    write_npz(root.path());
    let a = load(&cfg("auto", 0, 0), root.path(), Device::Cpu, 1).unwrap();
    assert_eq!(a.source, Source::Npz, "the npz wins when present");
    assert_eq!((a.train_x.size()[0], a.test_x.size()[0]), (54, 6), "90/10 split of 60");
    // The split is a permutation of the file's sprites.
    let all = dsprites::load(root.path()).unwrap().imgs.to_kind(Kind::Int64).sum(Kind::Int64).int64_value(&[]);
    let got = (a.train_x.to_kind(Kind::Int64).sum(Kind::Int64) + a.test_x.to_kind(Kind::Int64).sum(Kind::Int64))
        .int64_value(&[]);
    assert_eq!(all, got);
    let e = load(&cfg("npz", 50, 20), root.path(), Device::Cpu, 1).err().unwrap().to_string();
    assert!(e.contains("at most 60"), "{e}");
    // A truncated archive is an error naming dSprites, not a panic.
    let p = dsprites::path(root.path());
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = load(&cfg("auto", 0, 0), root.path(), Device::Cpu, 1).err().unwrap();
    assert!(format!("{e:#}").contains("dsprites"), "{e:#}");
}

fn run(data: &Path, runs: &Path, sets: &[&str]) -> anyhow::Result<Finished> {
    run_on(SMOKE, data, runs, sets)
}

#[test]
fn disvae_on_dsprites_end_to_end() {
    let root = tempfile::tempdir().unwrap();
    let runs = tempfile::tempdir().unwrap();
    let tiny = [
        "data.n_train=40",
        "data.n_test=12",
        "train.epochs=1",
        "train.batch_size=20",
        "features.gs_samples=2",
        "features.batch_size=6",
        "disvae.betas=[1.0]",
        "disvae.losses=[\"beta_tcvae\"]",
    ];
    let a = run(root.path(), runs.path(), &tiny).unwrap();
    let csv = std::fs::read_to_string(a.folder.join("disvae/metrics.csv")).unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    assert!(csv.lines().nth(1).unwrap().starts_with("dsprites,beta_tcvae,1.0,1,"), "{csv}");
    assert!(a.passed, "metrics in range: {}", a.verdict);
    assert!(a.folder.join("disvae/box_spearman.png").is_file());
    assert!(a.folder.join("disvae/saliency_beta_tcvae_beta1_run1.png").is_file(), "the 64×64 grid");
    let results = std::fs::read_to_string(a.folder.join("results.json")).unwrap();
    assert!(results.contains("\"data_source\": \"procedural\""), "{results}");
    // With the npz present and `source = auto`, the run uses and records it.
    write_npz(root.path());
    let mut sets = tiny.to_vec();
    sets.extend(["data.source=\"auto\"", "data.n_train=40", "data.n_test=12"]);
    let b = run(root.path(), runs.path(), &sets).unwrap();
    let results = std::fs::read_to_string(b.folder.join("results.json")).unwrap();
    assert!(results.contains("\"data_source\": \"npz\""), "{results}");
    let e = run(root.path(), runs.path(), &["model.kind=\"mnist_ae\""]).unwrap_err();
    assert!(format!("{e:#}").contains("burgess_vae"), "{e:#}");
}
