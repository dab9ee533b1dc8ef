//! COMPAS features on the real file: ProPublica's 6,172 rows, 17 columns, exactly one race
//! and one age category per row, 0/1 indicator columns, keyword counts as the notebook
//! builds them.

use cdep::experiments::compas::{features, D, KEYWORDS, KEYWORDS_REFERENCE};
use tch::Kind;

#[test]
fn seventeen_features_of_the_filtered_rows() {
    let (x, y) =
        features(&xai_core::data::data_root(None), &KEYWORDS).expect("COMPAS missing: run `just fetch-data compas`");
    assert_eq!(x.size(), [6172, D]);
    assert_eq!(y.size(), [6172]);
    let ones = |lo: i64, n: i64| x.narrow(1, lo, n).sum_dim_intlist(1, false, Kind::Float);
    assert!(ones(0, 6).eq(1.0).all().int64_value(&[]) == 1, "one race per row");
    assert!(ones(7, 3).eq(1.0).all().int64_value(&[]) == 1, "one age category per row");
    assert!(zero_one(&x.narrow(1, 6, 1)) && zero_one(&x.narrow(1, 10, 1)), "degree and sex are 0/1");
    let kw = x.narrow(1, 12, 5);
    assert!(kw.eq_tensor(&kw.round()).all().int64_value(&[]) == 1 && kw.min().double_value(&[]) >= 0.0);
    // The notebook's value counts: 784 rows are "arrest case no charge", 1,087 "Battery".
    let rows_with = |c: i64| kw.select(1, c).gt(0.0).sum(Kind::Int64).int64_value(&[]);
    assert!(rows_with(4) >= 784, "no-charge rows: {}", rows_with(4));
    assert!(rows_with(3) >= 1087, "violence rows: {}", rows_with(3));
    // "Possession of Cocaine" matches Possession, Poss and Cocaine.
    assert_eq!(kw.select(1, 2).max().double_value(&[]), 3.0);
    let pos = y.sum(Kind::Int64).int64_value(&[]);
    assert!(pos > 2000 && pos < 4000, "two_year_recid positives: {pos}");
}

fn zero_one(t: &tch::Tensor) -> bool {
    (t.eq(0.0).logical_or(&t.eq(1.0))).all().int64_value(&[]) == 1
}

/// The notebook's lists as written lose 'Possession'/'Poss' (fused by a missing comma) and
/// count 'Drivers' twice; everything else is identical.
#[test]
fn reference_keyword_lists_differ_only_where_the_notebook_slipped() {
    let root = xai_core::data::data_root(None);
    let (x, _) = features(&root, &KEYWORDS).unwrap();
    let (r, _) = features(&root, &KEYWORDS_REFERENCE).unwrap();
    let (kx, kr) = (x.narrow(1, 12, 5), r.narrow(1, 12, 5));
    for c in [0, 3, 4] {
        assert!(kx.select(1, c).equal(&kr.select(1, c)), "column {c}");
    }
    assert!(x.narrow(1, 0, 12).equal(&r.narrow(1, 0, 12)));
    let poss = kx.select(1, 2) - kr.select(1, 2);
    assert!(poss.min().double_value(&[]) >= 0.0 && poss.max().double_value(&[]) == 2.0);
    let drive = kr.select(1, 1) - kx.select(1, 1);
    assert!(drive.min().double_value(&[]) >= 0.0 && drive.max().double_value(&[]) == 1.0);
}
