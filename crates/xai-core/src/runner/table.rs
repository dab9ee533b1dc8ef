//! The `[run]` table every experiment config starts with, spelled the same in every crate.

use crate::device::DeviceChoice;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// `[run]`: which experiment, which seeds, where and on what it runs.
///
/// ```toml
/// [run]
/// experiment = "colormnist"   # the crate's experiment name
/// seeds = [0, 1, 2]           # one run per seed (a sweep dimension)
/// device = "cpu"              # optional; the command line's --device wins unless it is auto
/// out_dir = "runs"            # optional; the command line's --runs-dir wins when given
/// save_weights = "first_seed" # optional: all (default), first_seed or none
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunTable<E> {
    pub experiment: E,
    #[serde(default = "first_seed")]
    pub seeds: Vec<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<DeviceChoice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_dir: Option<PathBuf>,
    #[serde(default)]
    pub save_weights: SaveWeights,
}

fn first_seed() -> Vec<u64> {
    vec![0]
}

impl<E> RunTable<E> {
    /// A table with one seed and every option at its default.
    pub fn new(experiment: E, seed: u64) -> Self {
        Self { experiment, seeds: vec![seed], device: None, out_dir: None, save_weights: SaveWeights::All }
    }

    /// At least one seed, none twice.
    pub fn validate(&self) -> crate::Result<()> {
        if self.seeds.is_empty() {
            return Err(crate::Error::invalid("run.seeds", "needs at least one seed"));
        }
        let mut sorted = self.seeds.clone();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(crate::Error::invalid("run.seeds", format!("seed {} is listed twice", w[0])));
        }
        Ok(())
    }

    /// The first seed: the one that seeds a run's shared parts and picks figure models.
    pub fn seed(&self) -> u64 {
        self.seeds.first().copied().unwrap_or(0)
    }

    /// Whether the weights of a run with `seed` are kept under `checkpoints/`.
    pub fn keeps_weights_of(&self, seed: u64) -> bool {
        match self.save_weights {
            SaveWeights::All => true,
            SaveWeights::FirstSeed => seed == self.seed(),
            SaveWeights::None => false,
        }
    }
}

/// `run.save_weights`: which runs of a sweep leave their final weights in `checkpoints/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaveWeights {
    /// Every cell of the sweep.
    #[default]
    All,
    /// The cells of the first seed only (large models).
    FirstSeed,
    None,
}

/// A name for the run folder and logs; implemented for the crates' experiment enums.
pub trait ExperimentName {
    fn name(&self) -> &str;
}

impl ExperimentName for String {
    fn name(&self) -> &str {
        self
    }
}
