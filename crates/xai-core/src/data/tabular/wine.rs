//! Red wine quality (semicolon CSV), regression on `quality`, as CLUE uses it.

use super::{csv, finish, kfold0_split, Column, Schema, TabularData};
use crate::Result;
use std::path::Path;
use tch::Tensor;

/// The 11 physico-chemical features.
pub const FEATURES: [&str; 11] = [
    "fixed acidity",
    "volatile acidity",
    "citric acid",
    "residual sugar",
    "chlorides",
    "free sulfur dioxide",
    "total sulfur dioxide",
    "density",
    "pH",
    "sulphates",
    "alcohol",
];

/// All 11 features continuous.
pub fn schema() -> Schema {
    Schema { columns: FEATURES.iter().map(|f| Column::continuous(f)).collect() }
}

/// Options of [`load`].
#[derive(Debug, Clone, Copy)]
pub struct WineOptions {
    pub seed: u64,
    /// Reproduce the reference's parse, which takes the first data row as the header and so
    /// loses it (1,598 rows → 1,438 / 160); `false` keeps all 1,599.
    pub drop_first_row: bool,
}

impl Default for WineOptions {
    fn default() -> Self {
        WineOptions { seed: 42, drop_first_row: true }
    }
}

/// Raw features `[N, 11]` and quality `[N]` of `root/wine/winequality-red.csv`.
pub fn read_raw(root: &Path) -> Result<(Tensor, Tensor)> {
    let t = csv::read("wine", &root.join("wine").join("winequality-red.csv"), b';')?;
    let cols = FEATURES.iter().map(|f| t.floats(f)).collect::<Result<Vec<_>>>()?;
    let x = Tensor::stack(&cols.iter().map(|c| Tensor::from_slice(c)).collect::<Vec<_>>(), 1).to_kind(tch::Kind::Float);
    Ok((x, Tensor::from_slice(&t.floats("quality")?)))
}

/// Seeded 10-fold split, fold 0 as test; x and y standardised with train statistics.
pub fn load(root: &Path, opts: WineOptions) -> Result<TabularData> {
    let (mut x, mut y) = read_raw(root)?;
    if opts.drop_first_row {
        let n = x.size()[0];
        x = x.narrow(0, 1, n - 1);
        y = y.narrow(0, 1, n - 1);
    }
    let (train, test) = kfold0_split(x.size()[0] as usize, 10, opts.seed);
    Ok(finish("wine", schema(), &x, &y, &train, &test, true))
}
