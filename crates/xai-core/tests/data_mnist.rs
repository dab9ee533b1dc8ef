//! MNIST loader: the real files (fetched into `datasets/`), and bad inputs.

use std::io::Write;
use tch::{Kind, Tensor};
use xai_core::data::{data_root, idx, mnist};

#[test]
fn real_mnist_shapes_ranges_and_class_counts() {
    let m = mnist::load(&data_root(None)).expect("MNIST must be fetched for this test");
    assert_eq!(m.train_images.size(), [60000, 1, 28, 28]);
    assert_eq!(m.test_images.size(), [10000, 1, 28, 28]);
    assert_eq!(m.train_labels.size(), [60000]);
    assert_eq!(m.test_labels.size(), [10000]);
    assert_eq!(m.train_images.kind(), Kind::Float);
    assert_eq!(m.train_labels.kind(), Kind::Int64);
    assert_eq!(m.train_images.min().double_value(&[]), 0.0);
    assert_eq!(m.train_images.max().double_value(&[]), 1.0);
    // Published class counts of the training set (digits 0..9).
    let counts = Vec::<i64>::try_from(m.train_labels.bincount(None::<Tensor>, 10)).unwrap();
    assert_eq!(counts, [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]);
    let counts = Vec::<i64>::try_from(m.test_labels.bincount(None::<Tensor>, 10)).unwrap();
    assert_eq!(counts, [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
}

fn write_split(dir: &std::path::Path, prefix: &str, images: &[u8], labels: &[u8], gz: bool) {
    let n = labels.len();
    let files = [
        (format!("{prefix}-images-idx3-ubyte"), idx::encode(&[n, 28, 28], images)),
        (format!("{prefix}-labels-idx1-ubyte"), idx::encode(&[n], labels)),
    ];
    for (name, bytes) in files {
        if gz {
            let f = std::fs::File::create(dir.join(format!("{name}.gz"))).unwrap();
            let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
            e.write_all(&bytes).unwrap();
            e.finish().unwrap();
        } else {
            std::fs::write(dir.join(name), bytes).unwrap();
        }
    }
}

#[test]
fn raw_and_gz_files_load_the_same() {
    let images: Vec<u8> = (0..3 * 784).map(|i| (i % 256) as u8).collect();
    let labels = [3u8, 1, 4];
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    for (root, gz) in [(a.path(), true), (b.path(), false)] {
        std::fs::create_dir_all(root.join("mnist")).unwrap();
        write_split(&root.join("mnist"), "train", &images, &labels, gz);
        write_split(&root.join("mnist"), "t10k", &images, &labels, gz);
    }
    let (ma, mb) = (mnist::load(a.path()).unwrap(), mnist::load(b.path()).unwrap());
    assert!(ma.train_images.equal(&mb.train_images));
    assert_eq!(Vec::<i64>::try_from(&ma.test_labels).unwrap(), [3, 1, 4]);
    assert!((ma.train_images.get(0).view([-1]).get(255).double_value(&[]) - 1.0).abs() < 1e-6);
}

#[test]
fn missing_truncated_and_bad_magic_files_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = mnist::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("train-images-idx3-ubyte.gz") && e.contains("just fetch-data mnist"), "{e}");

    let m = dir.path().join("mnist");
    std::fs::create_dir_all(&m).unwrap();
    let images = vec![7u8; 2 * 784];
    write_split(&m, "train", &images, &[1, 2], true);
    write_split(&m, "t10k", &images, &[1, 2], true);
    // Truncated gzip: cut the compressed file in half.
    let p = m.join("train-images-idx3-ubyte.gz");
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    let e = mnist::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("train-images-idx3-ubyte.gz") && e.contains("gzip") && e.contains("fetch-data mnist"), "{e}");

    // Wrong magic (a labels file where images are expected).
    std::fs::write(&p, std::fs::read(m.join("train-labels-idx1-ubyte.gz")).unwrap()).unwrap();
    let e = mnist::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("magic") && e.contains("byte 0"), "{e}");

    // Label count disagrees with image count.
    write_split(&m, "train", &images, &[1, 2], true);
    let mut lab = idx::encode(&[3], &[1, 2, 3]);
    std::fs::write(m.join("train-labels-idx1-ubyte.gz"), &lab).unwrap(); // raw bytes under .gz name are fine
    let e = mnist::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("3 labels for 2 images"), "{e}");
    // Empty file.
    lab.clear();
    std::fs::write(m.join("train-labels-idx1-ubyte.gz"), &lab).unwrap();
    let e = mnist::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("empty file"), "{e}");
}
