//! Toy colors for the experiments (spec §1): the real file or the generator, encoded
//! once; seeded stratified folds and shuffle splits.

use super::DataConfig;
use rand::seq::SliceRandom;
use rand::Rng;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use tch::{Device, Kind, Tensor};
use xai_core::data::toy_colors as tc;

/// The encoded dataset (CPU tensors).
pub struct ToyData {
    /// `[N, 75]` u8 RGB images.
    pub images: Tensor,
    /// `[N, 101]` one-hot concepts plus bias.
    pub x: Tensor,
    /// `[N]` i64, 1 ⇔ both rules hold.
    pub y: Tensor,
    pub y_host: Vec<i64>,
    /// `[N, 101]` ground truth of the taught rule.
    pub z_star: Tensor,
    /// `[N, 25]` i64 colour slots (violet 0, blue 1, green 2, red 3).
    pub codes: Tensor,
    pub rule: usize,
}

/// Loads (or generates) toy colors, shuffles with `split_seed`, keeps `n_examples`.
pub fn load(cfg: &DataConfig, root: &Path) -> xai_core::Result<ToyData> {
    let (images, y) = if cfg.synthetic > 0 {
        let (img, lab) = tc::generate(cfg.synthetic, cfg.split_seed.wrapping_add(7));
        (img, 1 - lab.to_kind(Kind::Int64))
    } else {
        tc::load(root)?.calimocho()
    };
    let n = images.size()[0] as usize;
    let mut perm: Vec<i64> = (0..n as i64).collect();
    perm.shuffle(&mut ChaCha8Rng::seed_from_u64(cfg.split_seed));
    if cfg.n_examples > 0 {
        perm.truncate(cfg.n_examples.min(n));
    }
    let perm = Tensor::from_slice(&perm);
    let images = images.index_select(0, &perm);
    let y = y.index_select(0, &perm);
    let x = tc::encode(&images)?;
    let codes = tc::color_slots(&images)?;
    let z_star = tc::ground_truth(&x, &y, cfg.rule);
    let y_host = Vec::<i64>::try_from(&y)?;
    Ok(ToyData { images, x, y, y_host, z_star, codes, rule: cfg.rule })
}

impl ToyData {
    pub fn len(&self) -> usize {
        self.y_host.len()
    }
    pub fn is_empty(&self) -> bool {
        self.y_host.is_empty()
    }
    /// The tensors on `device`.
    pub fn to_device(&self, device: Device) -> (Tensor, Tensor, Tensor) {
        (self.x.to_device(device), self.y.to_device(device), self.z_star.to_device(device))
    }
}

/// Stratified K-fold with shuffling: each class is shuffled and dealt round-robin into
/// `k` folds (sizes differ by at most one, per class and in all). Returns the sorted test folds.
pub fn stratified_kfold(y: &[i64], k: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<i64>> {
    let mut folds = vec![vec![]; k];
    let mut classes: Vec<i64> = y.to_vec();
    classes.sort_unstable();
    classes.dedup();
    // Dealing continues across classes, so fold sizes also differ by at most one.
    let mut dealt = 0;
    for c in classes {
        let mut idx: Vec<i64> = (0..y.len() as i64).filter(|&i| y[i as usize] == c).collect();
        idx.shuffle(rng);
        for i in idx {
            folds[dealt % k].push(i);
            dealt += 1;
        }
    }
    folds.iter_mut().for_each(|f| f.sort_unstable());
    folds
}

/// Stratified shuffle split: per class, ⌊share·n_c⌉ test indices. Returns (train, test), sorted.
pub fn stratified_split(y: &[i64], test_fraction: f64, rng: &mut ChaCha8Rng) -> (Vec<i64>, Vec<i64>) {
    let mut classes: Vec<i64> = y.to_vec();
    classes.sort_unstable();
    classes.dedup();
    let (mut train, mut test) = (vec![], vec![]);
    for c in classes {
        let mut idx: Vec<i64> = (0..y.len() as i64).filter(|&i| y[i as usize] == c).collect();
        idx.shuffle(rng);
        let n_test = (idx.len() as f64 * test_fraction).round() as usize;
        test.extend_from_slice(&idx[..n_test]);
        train.extend_from_slice(&idx[n_test..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// The non-test examples of a fold and `max(⌊share·n⌋, 5)` known draws among them,
/// with replacement (duplicates possible, as in the reference).
pub fn known_draw(non_test: &[i64], share: f64, rng: &mut ChaCha8Rng) -> Vec<i64> {
    let n = ((share * non_test.len() as f64).floor() as usize).max(5);
    (0..n).map(|_| non_test[rng.gen_range(0..non_test.len())]).collect()
}

/// Sorted `all` minus `remove`.
pub fn difference(all: &[i64], remove: &[i64]) -> Vec<i64> {
    let mut r = remove.to_vec();
    r.sort_unstable();
    all.iter().copied().filter(|i| r.binary_search(i).is_err()).collect()
}
