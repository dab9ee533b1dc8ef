//! CIFAR-10 binary and dSprites npz: round trips on generated files (neither dataset is in
//! the offline mirror), the procedural dSprites generator, and bad inputs.

use tch::{Kind, Tensor};
use xai_core::data::{cifar, dsprites};

#[test]
fn cifar_synthetic_files_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let cdir = dir.path().join("cifar10");
    cifar::write_synthetic(&cdir, 7, 3).unwrap();
    let d = cifar::load(dir.path()).unwrap();
    assert_eq!(d.train_images.size(), [35, 3, 32, 32]);
    assert_eq!(d.test_images.size(), [7, 3, 32, 32]);
    assert_eq!(d.train_images.kind(), Kind::Uint8);
    // Encode → parse gives the same tensors, and the bytes are the file's bytes.
    let bytes = cifar::encode(&d.test_images, &d.test_labels).unwrap();
    assert_eq!(bytes, std::fs::read(cdir.join(cifar::TEST_FILE)).unwrap());
    let (x, y) = cifar::parse(std::path::Path::new("t"), &bytes).unwrap();
    assert!(x.equal(&d.test_images) && y.equal(&d.test_labels));
    // CHW layout: byte 1 of the record is pixel (c=0, 0, 0); byte 1025 is (c=1, 0, 0).
    assert_eq!(d.test_images.get(0).get(1).get(0).get(0).int64_value(&[]), bytes[1025] as i64);
    let f = cifar::to_float(&d.test_images);
    assert!(f.max().double_value(&[]) <= 1.0 && f.kind() == Kind::Float);
}

#[test]
fn cifar_bad_lengths_and_labels_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("data_batch_1.bin");
    std::fs::write(&p, vec![0u8; cifar::RECORD * 2 + 5]).unwrap();
    let e = cifar::read(&p).unwrap_err().to_string();
    assert!(e.contains("data_batch_1.bin") && e.contains("not a multiple of 3073") && e.contains("byte 6146"), "{e}");
    let mut bad = vec![0u8; cifar::RECORD * 2];
    bad[cifar::RECORD] = 12;
    std::fs::write(&p, bad).unwrap();
    assert!(cifar::read(&p).unwrap_err().to_string().contains("record 1"));
    std::fs::write(&p, b"").unwrap();
    assert!(cifar::read(&p).unwrap_err().to_string().contains("empty file"));
    let e = cifar::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("fetch-data cifar10"), "{e}");
}

#[test]
fn dsprites_latents_cover_the_grid_in_release_order() {
    assert_eq!(dsprites::LATENT_SIZES.iter().product::<usize>(), dsprites::LEN);
    assert_eq!(dsprites::latent_classes(0), [0; 6]);
    assert_eq!(dsprites::latent_classes(1), [0, 0, 0, 0, 0, 1]);
    assert_eq!(dsprites::latent_classes(32), [0, 0, 0, 0, 1, 0]);
    assert_eq!(dsprites::latent_classes(dsprites::LEN - 1), [0, 2, 5, 39, 31, 31]);
    let v = dsprites::latent_values(&[0, 2, 5, 39, 31, 31]);
    assert_eq!(v[1], 3.0);
    assert!((v[2] - 1.0).abs() < 1e-12 && (v[3] - 2.0 * std::f64::consts::PI).abs() < 1e-12 && v[4] == 1.0);
}

#[test]
fn procedural_sprites_are_binary_and_respond_to_latents() {
    let idx = dsprites::sample_indices(200, 9);
    assert_eq!(idx, dsprites::sample_indices(200, 9));
    let d = dsprites::procedural(&idx);
    assert_eq!(d.imgs.size(), [200, 64, 64]);
    assert!(d.imgs.le(1).all().int64_value(&[]) == 1);
    let area = d.imgs.to_kind(Kind::Float).sum_dim_intlist(&[1i64, 2][..], false, Kind::Float);
    assert!(area.gt(10.0).all().int64_value(&[]) == 1, "every sprite has ink");
    // Larger scale → more pixels (same shape, orientation and position).
    let small = dsprites::render(16 * 32 + 16); // square, scale 0
    let big = dsprites::render(5 * 40 * 32 * 32 + 16 * 32 + 16); // square, scale 5
    let ink = |v: &[u8]| v.iter().map(|&b| b as usize).sum::<usize>();
    assert!(ink(&big) > ink(&small) * 2);
    // Moving posX shifts the ink's centre of mass to the right.
    let com = |v: &[u8]| v.iter().enumerate().map(|(i, &b)| (i % 64) as f64 * b as f64).sum::<f64>() / ink(v) as f64;
    assert!(com(&dsprites::render(31 * 32 + 16)) > com(&dsprites::render(16)) + 20.0);
    // The three shapes differ at the same other latents.
    let base = 3 * 40 * 32 * 32 + 16 * 32 + 16;
    let per_shape = 6 * 40 * 32 * 32;
    let shapes: Vec<Vec<u8>> = (0..3).map(|s| dsprites::render(base + s * per_shape)).collect();
    assert!(shapes[0] != shapes[1] && shapes[1] != shapes[2] && shapes[0] != shapes[2]);
    // A batch converts to f32 without touching other images.
    let b = dsprites::batch_f32(&d.imgs, &Tensor::from_slice(&[0i64, 5]));
    assert_eq!(b.size(), [2, 1, 64, 64]);
    assert_eq!(b.kind(), Kind::Float);
}

#[test]
fn dsprites_npz_round_trip_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let p = dsprites::path(dir.path());
    let e = dsprites::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains(dsprites::FILE) && e.contains("fetch-data dsprites"), "{e}");
    let d = dsprites::procedural(&dsprites::sample_indices(50, 1));
    dsprites::write_npz(&p, &d).unwrap();
    let back = dsprites::load(dir.path()).unwrap();
    assert!(back.imgs.equal(&d.imgs));
    assert!(back.latents_classes.equal(&d.latents_classes));
    assert!(back.latents_values.equal(&d.latents_values));
    // Wrong dtype for imgs is rejected with the file named.
    let wrong = dsprites::DSprites { imgs: d.imgs.to_kind(Kind::Float), ..d };
    dsprites::write_npz(&p, &wrong).unwrap();
    let e = dsprites::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("unexpected arrays"), "{e}");
}
