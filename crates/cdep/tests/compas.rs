//! COMPAS features on the real file: ProPublica's 6,172 rows, 17 columns, exactly one race
//! and one age category per row, 0/1 indicator columns.

use cdep::experiments::compas::{features, D};
use tch::Kind;

#[test]
fn seventeen_features_of_the_filtered_rows() {
    let (x, y) = features(&xai_core::data::data_root(None)).expect("COMPAS missing: run `just fetch-data compas`");
    assert_eq!(x.size(), [6172, D]);
    assert_eq!(y.size(), [6172]);
    let ones = |lo: i64, n: i64| x.narrow(1, lo, n).sum_dim_intlist(1, false, Kind::Float);
    assert!(ones(0, 6).eq(1.0).all().int64_value(&[]) == 1, "one race per row");
    assert!(ones(7, 3).eq(1.0).all().int64_value(&[]) == 1, "one age category per row");
    assert!(zero_one(&x.narrow(1, 12, 5)), "keyword columns are 0/1");
    let pos = y.sum(Kind::Int64).int64_value(&[]);
    assert!(pos > 2000 && pos < 4000, "two_year_recid positives: {pos}");
}

fn zero_one(t: &tch::Tensor) -> bool {
    (t.eq(0.0).logical_or(&t.eq(1.0))).all().int64_value(&[]) == 1
}
