//! Data preparation of the experiments: VIBI's train/valid split sizes, steps per epoch,
//! MNIST normalisation.

use tch::{Device, Kind, Tensor};

const CPU: Device = Device::Cpu;

#[test]
fn split_sizes_and_steps_per_epoch() {
    let (tr, va) = vibi::experiments::data::split_indices(60_000, 0.1, 1);
    assert_eq!((tr.size()[0], va.size()[0]), (54_000, 6_000));
    assert_eq!(vibi::experiments::data::steps_per_epoch(54_000, 64), 844);
    let (tr, va) = vibi::experiments::data::split_indices(50_000, 0.1, 1);
    assert_eq!((tr.size()[0], va.size()[0]), (45_000, 5_000));
    assert_eq!(vibi::experiments::data::steps_per_epoch(45_000, 64), 704);
    let all = Tensor::cat(&[tr, va], 0).sort(0, false).0;
    assert!(all.equal(&Tensor::arange(50_000, (Kind::Int64, CPU))), "a partition");
}

#[test]
fn normalised_mnist_has_zero_mean_unit_std() {
    let root = xai_core::data::data_root(None);
    if !root.join("mnist").is_dir() {
        eprintln!("skipped: no MNIST under {} (run `just fetch-data mnist`)", root.display());
        return;
    }
    let sub = vibi::experiments::data::Subsets { train: 0, test: 0, holdout_test: 0, seed: 1 };
    let ds = vibi::experiments::data::mnist(&root, &sub, vibi::experiments::data::MNIST_NORM).unwrap();
    let mean = ds.train_x.mean(Kind::Double).double_value(&[]);
    let std = ds.train_x.to_kind(Kind::Double).std(true).double_value(&[]);
    assert!(mean.abs() < 0.01 && (std - 1.0).abs() < 0.01, "mean {mean} std {std}");
    assert_eq!(ds.train_x.size(), vec![60_000, 1, 28, 28]);
}

#[test]
fn a_subset_larger_than_the_dataset_is_an_error_naming_key_and_size() {
    let root = xai_core::data::data_root(None);
    if !root.join("mnist").is_dir() {
        eprintln!("skipped: no MNIST under {} (run `just fetch-data mnist`)", root.display());
        return;
    }
    use vibi::experiments::data::{mnist, Subsets, MNIST_NORM};
    let e = mnist(&root, &Subsets { train: 100_000, test: 0, holdout_test: 0, seed: 1 }, MNIST_NORM).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("data.train_subset") && msg.contains("100000") && msg.contains("60000"), "{msg}");
    let e = mnist(&root, &Subsets { train: 0, test: 20_000, holdout_test: 0, seed: 1 }, MNIST_NORM).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("data.test_subset") && msg.contains("20000") && msg.contains("10000"), "{msg}");
    // Exactly the dataset size is fine.
    let ds = mnist(&root, &Subsets { train: 60_000, test: 10_000, holdout_test: 0, seed: 1 }, MNIST_NORM).unwrap();
    assert_eq!((ds.train_x.size()[0], ds.test_x.size()[0]), (60_000, 10_000));
}
