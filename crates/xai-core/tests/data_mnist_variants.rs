//! ColorMNIST and DecoyMNIST generators (cdep.md §9 properties 16, 17), on a subset of
//! the real MNIST.

use tch::{Kind, Tensor};
use xai_core::data::color_mnist::{self, ColorMnistOptions};
use xai_core::data::{data_root, decoy_mnist, mnist};

fn subset(n: i64) -> (Tensor, Tensor, Tensor, Tensor) {
    let m = mnist::load(&data_root(None)).expect("MNIST must be fetched for this test");
    (
        m.train_images.narrow(0, 0, n),
        m.train_labels.narrow(0, 0, n),
        m.test_images.narrow(0, 0, n / 2),
        m.test_labels.narrow(0, 0, n / 2),
    )
}

#[test]
fn palette_matches_spec() {
    let want = [
        [1.0, 0.0, 0.0],
        [0.9447, 0.5248, 0.0],
        [0.7905, 0.8893, 0.0],
        [0.2780, 0.8340, 0.0],
        [0.0, 0.7786, 0.1730],
        [0.0, 0.7233, 0.5626],
        [0.0, 0.4453, 0.6680],
        [0.0, 0.0681, 0.6126],
        [0.2477, 0.0, 0.5573],
        [0.5020, 0.0, 0.5020],
    ];
    for (got, want) in color_mnist::palette().iter().zip(want) {
        for c in 0..3 {
            assert!((got[c] - want[c]).abs() < 1e-3, "{got:?} vs {want:?}");
        }
    }
}

#[test]
fn color_mnist_colors_split_blobs_and_standardisation() {
    let (xtr, ytr, xte, yte) = subset(2000);
    let opts = ColorMnistOptions { seed: 3, ..Default::default() };
    let d = color_mnist::build(&xtr, &ytr, &xte, &yte, opts).unwrap();
    assert_eq!(d.train_x.size(), [1800, 3, 28, 28]);
    assert_eq!(d.val_x.size(), [200, 3, 28, 28]);
    assert_eq!(d.test_x.size(), [1000, 3, 28, 28]);
    // Undo the standardisation and read the color of the brightest pixel of each image.
    let unstd = |x: &Tensor| x * d.std.view([1, 3, 1, 1]) + d.mean.view([1, 3, 1, 1]);
    let pal: Vec<f32> = color_mnist::palette().iter().flatten().map(|&v| v as f32).collect();
    let pal = Tensor::from_slice(&pal).view([10, 3]);
    let check = |x: &Tensor, y: &Tensor, reversed: bool| {
        let raw = unstd(x);
        let n = raw.size()[0];
        let flat = raw.view([n, 3, 784]);
        let brightest =
            flat.sum_dim_intlist(1, false, Kind::Float).argmax(1, false).view([n, 1, 1]).expand([n, 3, 1], false);
        let rgb = flat.gather(2, &brightest, false).squeeze_dim(2); // [n,3]
        let rgb = &rgb / rgb.amax(&[1i64][..], true); // color up to the gray level
        let want_idx = if reversed { 9 - y } else { y.shallow_clone() };
        let want = pal.index_select(0, &want_idx);
        let want = &want / want.amax(&[1i64][..], true);
        assert!((rgb - want).abs().max().double_value(&[]) < 1e-3);
    };
    check(&d.train_x, &d.train_y, false);
    check(&d.val_x, &d.val_y, true);
    check(&d.test_x, &d.test_y, true);
    // Train-only statistics: the standardised train set has mean 0 / std 1 per channel.
    let m = d.train_x.mean_dim(&[0i64, 2, 3][..], false, Kind::Float);
    assert!(m.abs().max().double_value(&[]) < 1e-3);
    assert!(d.test_x.mean_dim(&[0i64, 2, 3][..], false, Kind::Float).abs().max().double_value(&[]) > 1e-3);
    // Blob probabilities: sum 1, zero exactly where no training image has ink.
    assert!((d.blob_probs.sum(Kind::Double).double_value(&[]) - 1.0).abs() < 1e-5);
    let (tr_idx, _) = (d.train_y.size()[0], 0);
    assert_eq!(tr_idx, 1800);
    let ink = unstd(&d.train_x).abs().sum_dim_intlist(&[0i64, 1][..], false, Kind::Float).gt(1e-2);
    assert!(d.blob_probs.gt(0.0).equal(&ink));
    // Seeded: same seed, same split.
    let d2 = color_mnist::build(&xtr, &ytr, &xte, &yte, opts).unwrap();
    assert!(d.train_y.equal(&d2.train_y) && d.train_x.equal(&d2.train_x));
}

#[test]
fn decoy_mnist_one_patch_with_label_shade() {
    let (xtr, ytr, xte, yte) = subset(4000);
    let d = decoy_mnist::build(&xtr, &ytr, &xte, &yte, 5);
    assert_eq!(d.train.images.size(), [3600, 1, 28, 28]);
    assert_eq!(d.val.images.size(), [400, 1, 28, 28]);
    let masks = decoy_mnist::corner_masks();
    for (set, y, train) in [(&d.train, &d.train_y, true), (&d.val, &d.val_y, true), (&d.test, &d.test_y, false)] {
        let x = &set.images;
        assert!(x.min().double_value(&[]) >= -1.0 && x.max().double_value(&[]) <= 1.0);
        let raw = ((x + 1.0) / 2.0 * 255.0).round().squeeze_dim(1);
        let n = raw.size()[0];
        let mask = masks.index_select(0, &set.corners); // [n,28,28]
        let yf = y.to_kind(Kind::Float).view([n, 1, 1]);
        let shade = if train { 255.0 - &yf * 25.0 } else { &yf * 25.0 };
        // Every pixel of the chosen corner carries the shade.
        let diff = (&raw - shade).abs().where_self(&mask, &Tensor::zeros_like(&raw));
        assert_eq!(diff.max().double_value(&[]), 0.0);
        // Outside the chosen corner the image is the original digit.
        let xs = if train { None } else { Some(&xte) };
        if let Some(orig) = xs {
            let orig = (orig.squeeze_dim(1) * 255.0).round();
            let outside = (&raw - orig).abs().where_self(&mask.logical_not(), &Tensor::zeros_like(&raw));
            assert_eq!(outside.max().double_value(&[]), 0.0);
        }
        // Corners roughly uniform (loose χ²: each within 25 % ± 5 points).
        let counts = Vec::<i64>::try_from(set.corners.bincount(None::<Tensor>, 4)).unwrap();
        for c in counts {
            let share = c as f64 / n as f64;
            assert!((0.19..0.31).contains(&share), "{share}");
        }
    }
    assert_eq!(decoy_mnist::blob_mask().to_kind(Kind::Int64).sum(Kind::Int64).int64_value(&[]), 100);
}
