//! The ISIC loader (`xai_core::data::isic`) on a small folder of the real layout: counts,
//! sorted order, labels, mask threshold and dilation, normalisation, the split, and named
//! errors for a missing folder, a corrupt image and a map of the wrong size.

mod isic_fixture;

use image::{Rgb, RgbImage};
use isic_fixture as fx;
use tch::{Kind, Tensor};
use xai_core::data::isic::{pixels, split, Counts, Entry, Index};

#[test]
fn index_counts_sorts_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    let root = fx::write(&dir.path().join("isic"));
    let index = Index::open(&root).unwrap();
    assert_eq!(
        index.counts(),
        Counts { benign: fx::N_BENIGN, benign_with_patch: fx::N_PATCH, malignant: fx::N_MALIGNANT }
    );
    let names: Vec<String> =
        index.entries.iter().map(|e| e.image.file_name().unwrap().to_string_lossy().into_owned()).collect();
    let (benign, malignant) = names.split_at(fx::N_BENIGN);
    let mut sorted = benign.to_vec();
    sorted.sort();
    assert_eq!(benign, sorted.as_slice(), "benign images sorted by name");
    assert_eq!(benign[0], "ISIC_0000.png");
    assert!(malignant.windows(2).all(|w| w[0] < w[1]), "{malignant:?}");
    let labels = Vec::<i64>::try_from(index.labels()).unwrap();
    assert_eq!(labels, [vec![0; fx::N_BENIGN], vec![1; fx::N_MALIGNANT]].concat());
    for e in &index.entries {
        let stem = e.image.file_stem().unwrap().to_string_lossy().into_owned();
        let number: usize = stem[5..].parse().unwrap();
        // Benign image i is named (7i mod 10); i is even exactly when its number is.
        assert_eq!(e.has_patch(), !e.malignant && number % 2 == 0, "{stem}");
    }
    assert_eq!(index.unused_masks.len(), 1, "the malignant image's map is ignored");
    assert_eq!(i64::try_from(index.has_patch().sum(Kind::Int64)).unwrap(), fx::N_PATCH as i64);
}

fn write_map(path: &std::path::Path, side: u32, f: impl Fn(u32, u32) -> u8) {
    RgbImage::from_fn(side, side, |x, y| Rgb([f(x, y), 0, 255])).save(path).unwrap();
}

#[test]
fn masks_threshold_channel_0_resize_and_dilate() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("a.png");
    fx::lesion(0, false).save(&img).unwrap();
    // Left half 100 (not patch: the rule is > 100), right half 101; channel 2 is 255
    // everywhere and must not matter.
    let map = dir.path().join("a_map.png");
    write_map(&map, fx::SIDE, |x, _| if x < 20 { 100 } else { 101 });
    let e = Entry { image: img.clone(), malignant: false, mask: Some(map) };
    let m = pixels::load_masks(&[&e], fx::SIDE, 100).unwrap();
    assert_eq!(m.size(), [1, 40, 40]);
    assert_eq!(f64::try_from(m.narrow(2, 0, 20).sum(Kind::Float)).unwrap(), 0.0);
    assert_eq!(f64::try_from(m.narrow(2, 20, 20).sum(Kind::Float)).unwrap(), 800.0);
    let small = pixels::load_masks(&[&e], 32, 100).unwrap();
    assert_eq!(small.size(), [1, 32, 32]);
    assert!(bool::try_from(small.eq(0.0).logical_or(&small.eq(1.0)).all()).unwrap(), "binary after resizing");
    // The authors' 299×299 maps are accepted for any image size.
    let big = dir.path().join("big.png");
    write_map(&big, 299, |x, y| if x > 100 && y > 100 { 255 } else { 0 });
    let e = Entry { image: img, malignant: false, mask: Some(big) };
    assert_eq!(pixels::load_masks(&[&e], 32, 100).unwrap().size(), [1, 32, 32]);

    let dot = Tensor::zeros([1, 9, 9], (Kind::Float, tch::Device::Cpu));
    let _ = dot.get(0).get(4).get(4).fill_(1.0);
    for (side, area) in [(1, 1.0), (3, 9.0), (4, 16.0), (20, 81.0)] {
        let d = pixels::dilate(&dot, side);
        assert_eq!(d.size(), [1, 9, 9]);
        assert_eq!(f64::try_from(d.sum(Kind::Float)).unwrap(), area, "side {side}");
        assert!(bool::try_from(d.ge_tensor(&dot).all()).unwrap(), "dilation keeps the mask");
        assert!(bool::try_from(d.eq(0.0).logical_or(&d.eq(1.0)).all()).unwrap(), "binary");
    }
    // An even square grows side/2 down/right and side/2 − 1 up/left.
    let d = pixels::dilate(&dot, 4);
    let at = |r: i64, c: i64| f64::try_from(d.get(0).get(r).get(c)).unwrap();
    assert_eq!((at(3, 3), at(6, 6), at(2, 2), at(7, 7)), (1.0, 1.0, 0.0, 0.0));
    assert_eq!(pixels::dilation_side(20, 299), 20);
    assert_eq!(pixels::dilation_side(20, 32), 2);
    assert_eq!(pixels::dilation_side(0, 299), 0);
}

#[test]
fn images_are_resized_and_imagenet_normalised() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("red.png");
    RgbImage::from_pixel(40, 30, Rgb([255, 0, 128])).save(&p).unwrap();
    let x = pixels::load_images(&[p.as_path(), p.as_path()], 32).unwrap();
    assert_eq!(x.size(), [2, 3, 32, 32]);
    let want = [(1.0 - 0.485) / 0.229, (0.0 - 0.456) / 0.224, (128.0 / 255.0 - 0.406) / 0.225];
    for (c, w) in want.iter().enumerate() {
        let v = f64::try_from(x.get(1).get(c as i64).mean(Kind::Float)).unwrap();
        assert!((v - w).abs() < 1e-4, "channel {c}: {v} vs {w}");
    }
    let back = pixels::denormalize(&x);
    assert!((f64::try_from(back.get(0).get(0).mean(Kind::Float)).unwrap() - 1.0).abs() < 1e-5);
}

#[test]
fn split_is_seeded_and_covers_everything() {
    let s = split(25, 0.1, 3);
    assert_eq!((s.train.len(), s.val.len(), s.test.len()), (20, 2, 3));
    let mut all = [s.train.clone(), s.val.clone(), s.test.clone()].concat();
    all.sort();
    assert_eq!(all, (0..25).collect::<Vec<i64>>());
    assert_eq!(split(25, 0.1, 3), s);
    assert_ne!(split(25, 0.1, 4), s);
    let r = split(16, 0.25, 0);
    assert_eq!((r.train.len(), r.val.len(), r.test.len()), (8, 4, 4));
}

#[test]
fn bad_inputs_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let e = Index::open(&dir.path().join("isic")).unwrap_err().to_string();
    assert!(e.contains("isic") && e.contains("not found") && e.contains("datasets/README.md"), "{e}");

    let root = fx::write(&dir.path().join("isic"));
    std::fs::remove_dir_all(root.join("malignant")).unwrap();
    let e = Index::open(&root).unwrap_err().to_string();
    assert!(e.contains("malignant") && e.contains("folder not found"), "{e}");
    std::fs::create_dir(root.join("malignant")).unwrap();
    let e = Index::open(&root).unwrap_err().to_string();
    assert!(e.contains("malignant") && e.contains("no .jpg"), "{e}");

    let bad = root.join("benign").join("ISIC_9999.jpg");
    std::fs::write(&bad, b"\xff\xd8\xff\xe0 this is not a JPEG").unwrap();
    let e = pixels::load_images(&[bad.as_path()], 32).unwrap_err().to_string();
    assert!(e.contains("ISIC_9999.jpg") && e.contains("cannot decode"), "{e}");

    let img = root.join("benign").join(fx::benign_name(0));
    let map = dir.path().join("small_map.png");
    write_map(&map, 30, |_, _| 255);
    let entry = Entry { image: img, malignant: false, mask: Some(map) };
    let e = pixels::load_masks(&[&entry], 32, 100).unwrap_err().to_string();
    assert!(e.contains("small_map.png") && e.contains("30×30") && e.contains("40×40"), "{e}");
}
