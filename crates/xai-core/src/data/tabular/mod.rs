//! Tabular datasets of CLUE (and CDEP's COMPAS) with a typed schema, each paper's
//! preprocessing and splits, and standardisation from training statistics only.

pub mod compas;
pub mod credit;
pub mod csv;
pub mod lsat;
pub mod schema;
pub mod wine;

pub use schema::{Column, Schema};

use rand::seq::SliceRandom;
use tch::{Kind, Tensor};

/// A preprocessed table, split into train and test.
#[derive(Debug)]
pub struct TabularData {
    pub name: String,
    pub schema: Schema,
    /// `[N, D]` f32: continuous dimensions standardised with train statistics, one-hot blocks as 0/1.
    pub train_x: Tensor,
    /// `[N]`: i64 class ids (classification) or f32 standardised targets (regression).
    pub train_y: Tensor,
    pub test_x: Tensor,
    pub test_y: Tensor,
    /// Train mean and std `[D]` used on x (0 / 1 on one-hot dimensions).
    pub x_mean: Tensor,
    pub x_std: Tensor,
    /// Target mean and std of a regression task (train statistics); `None` for classification.
    pub y_stats: Option<(f64, f64)>,
}

/// Shuffles `0..n` with `seed` and takes the first ⌈n/k⌉-sized fold (numpy/sklearn fold
/// sizes: the first `n % k` folds have one more row) as test; the rest is train.
/// Our permutation is ChaCha-based, so the rows differ from numpy's MT19937 split.
pub fn kfold0_split(n: usize, k: usize, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut super::rng(seed));
    let n_test = n / k + usize::from(n % k > 0);
    let test = idx[..n_test].to_vec();
    (idx[n_test..].to_vec(), test)
}

/// A shuffled split with `ceil(n · test_fraction)` test rows (sklearn's rounding).
pub fn shuffle_split(n: usize, test_fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut idx: Vec<usize> = (0..n).collect();
    idx.shuffle(&mut super::rng(seed));
    let n_test = (n as f64 * test_fraction).ceil() as usize;
    (idx[n_test..].to_vec(), idx[..n_test].to_vec())
}

fn take(t: &Tensor, rows: &[usize]) -> Tensor {
    let idx: Vec<i64> = rows.iter().map(|&r| r as i64).collect();
    t.index_select(0, &Tensor::from_slice(&idx))
}

/// Splits flat features and targets, standardises x (and y for regression) with the
/// training rows' statistics.
pub(crate) fn finish(
    name: &str,
    schema: Schema,
    x: &Tensor,
    y: &Tensor,
    train: &[usize],
    test: &[usize],
    regression: bool,
) -> TabularData {
    finish_split(name, schema, (take(x, train), take(y, train)), (take(x, test), take(y, test)), regression)
}

pub(crate) fn finish_split(
    name: &str,
    schema: Schema,
    train: (Tensor, Tensor),
    test: (Tensor, Tensor),
    regression: bool,
) -> TabularData {
    let (x_mean, x_std) = schema::fit_standardiser(&schema, &train.0);
    let norm = |x: &Tensor| (x - &x_mean) / &x_std;
    let (train_y, test_y, y_stats) = if regression {
        let m = train.1.to_kind(Kind::Double).mean(Kind::Double).double_value(&[]);
        let s = train.1.to_kind(Kind::Double).std(false).double_value(&[]);
        let s = if s > 0.0 { s } else { 1.0 };
        let f = |y: &Tensor| ((y.to_kind(Kind::Double) - m) / s).to_kind(Kind::Float);
        (f(&train.1), f(&test.1), Some((m, s)))
    } else {
        (train.1.to_kind(Kind::Int64), test.1.to_kind(Kind::Int64), None)
    };
    TabularData {
        name: name.into(),
        train_x: norm(&train.0),
        test_x: norm(&test.0),
        train_y,
        test_y,
        x_mean,
        x_std,
        y_stats,
        schema,
    }
}
