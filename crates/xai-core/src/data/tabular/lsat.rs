//! LSAT (law school) as CLUE uses it: fixed train/test files, regression on ZFYA.

use super::{csv, finish_split, Column, Schema, TabularData};
use crate::Result;
use std::path::Path;
use tch::Tensor;

/// Race indicators in CLUE's feature order.
pub const RACES: [&str; 8] = ["amerind", "mexican", "other", "black", "asian", "puerto", "hisp", "white"];

/// CLUE's schema: [LSAT, UGPA, race (8), sex (female, male)] → blocks [1, 1, 8, 2], D = 12.
pub fn schema() -> Schema {
    Schema {
        columns: vec![
            Column::continuous("LSAT"),
            Column::continuous("UGPA"),
            Column::categorical("race", &RACES),
            Column::categorical("sex", &["female", "male"]),
        ],
    }
}

fn read(path: &Path) -> Result<(Tensor, Tensor)> {
    let t = csv::read("lsat", path, b',')?;
    let mut cols = vec![t.floats("LSAT")?, t.floats("UGPA")?];
    for name in RACES.iter().chain(&["female", "male"]) {
        cols.push(t.floats(name)?);
    }
    // The indicators are already one-hot: keep them as they are.
    let parts: Vec<Tensor> =
        cols.iter().map(|c| Tensor::from_slice(c).to_kind(tch::Kind::Float).unsqueeze(1)).collect();
    Ok((Tensor::cat(&parts, 1), Tensor::from_slice(&t.floats("ZFYA")?)))
}

/// Loads `root/lsat/law_school_cf_{train,test}.csv`; x standardised on LSAT and UGPA, y
/// (ZFYA) standardised, both with train statistics.
pub fn load(root: &Path) -> Result<TabularData> {
    let dir = root.join("lsat");
    let train = read(&dir.join("law_school_cf_train.csv"))?;
    let test = read(&dir.join("law_school_cf_test.csv"))?;
    Ok(finish_split("lsat", schema(), train, test, true))
}
