//! Toy colors: the real npz (calimocho.md §1) and the generator.

use tch::{Kind, Tensor};
use xai_core::data::{data_root, toy_colors as tc};

fn ones(t: &Tensor) -> i64 {
    t.to_kind(Kind::Int64).sum(Kind::Int64).int64_value(&[])
}

#[test]
fn real_file_rules_agree_with_labels_on_every_image() {
    let d = tc::load(&data_root(None)).expect("toy_colors must be fetched for this test");
    assert_eq!(d.train_images.size(), [20000, 75]);
    assert_eq!(d.test_images.size(), [20000, 75]);
    assert_eq!(ones(&d.train_labels), 9992);
    assert_eq!(ones(&d.test_labels), 10106);
    let (x, y) = d.calimocho();
    assert_eq!(x.size(), [40000, 75]);
    assert_eq!(ones(&y), 19902);
    let holds = y.eq(1);
    assert!(tc::rule0(&x).unwrap().equal(&holds), "rule 0 disagrees with a label");
    assert!(tc::rule1(&x).unwrap().equal(&holds), "rule 1 disagrees with a label");
    let enc = tc::encode(&x).unwrap();
    assert_eq!(enc.size(), [40000, 101]);
    assert!(enc.sum_dim_intlist(1, false, Kind::Float).eq(26.0).all().int64_value(&[]) == 1);
    for (rule, norm) in [(0, 4.0), (1, 3.0)] {
        let z = tc::ground_truth(&enc, &y, rule);
        let sq = z.square().sum_dim_intlist(1, false, Kind::Float);
        assert!(sq.eq(norm).all().int64_value(&[]) == 1);
        // Sign follows the label, and z* lives only on active slots of rule pixels.
        assert!((&z * &enc).sum_dim_intlist(1, false, Kind::Float).equal(&(sq * (y.to_kind(Kind::Float) * 2.0 - 1.0))));
        assert_eq!(z.select(1, 100).abs().sum(Kind::Float).double_value(&[]), 0.0);
    }
    // Negatives have 2–4 distinct corner colors: 5043 / 12579 / 2476.
    let slots = tc::color_slots(&x).unwrap();
    let corners = slots.index_select(1, &Tensor::from_slice(&[0i64, 4, 20, 24]));
    let distinct =
        corners.one_hot(4).sum_dim_intlist(1, false, Kind::Int64).gt(0).sum_dim_intlist(1, false, Kind::Int64);
    let neg = distinct.masked_select(&y.eq(0));
    let counts = Vec::<i64>::try_from(neg.bincount(None::<Tensor>, 5)).unwrap();
    assert_eq!(&counts[2..], [5043, 12579, 2476]);
}

#[test]
fn generator_is_seeded_and_obeys_both_rules() {
    let (x, lab) = tc::generate(3000, 11);
    let (x2, lab2) = tc::generate(3000, 11);
    assert!(x.equal(&x2) && lab.equal(&lab2));
    assert!(!x.equal(&tc::generate(3000, 12).0));
    let holds = lab.eq(0);
    assert!(tc::rule0(&x).unwrap().equal(&holds));
    assert!(tc::rule1(&x).unwrap().equal(&holds));
    let frac = ones(&lab) as f64 / 3000.0;
    assert!((0.45..0.55).contains(&frac), "{frac}");
}

#[test]
fn missing_file_names_fetch_command() {
    let e = tc::load(tempfile::tempdir().unwrap().path()).unwrap_err().to_string();
    assert!(e.contains("toy_colors.npz") && e.contains("fetch-data toy_colors"), "{e}");
}
