//! dSprites for the disvae experiment: the DeepMind npz when it is under
//! `datasets/dsprites/` (read by xai-core without touching the pickled metadata), else
//! sprites rendered procedurally by xai-core's generator. Images stay u8 {0, 1}
//! (`[N, 1, 64, 64]`; the full set is 3 GB as u8, 12 GB as f32) and are converted per batch.

use super::DataConfig;
use anyhow::{bail, Context};
use rand::seq::SliceRandom;
use std::path::Path;
use tch::{Device, Tensor};
use xai_core::data::dsprites;

/// Where the sprites came from (recorded in the run's results).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Npz,
    Procedural,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::Npz => "npz",
            Source::Procedural => "procedural",
        }
    }
}

/// u8 training and test images `[N, 1, 64, 64]` and their source.
pub struct Sprites {
    pub train_x: Tensor,
    pub test_x: Tensor,
    pub source: Source,
}

/// Sizes of the split: `n_train` / `n_test` (0 = the 90/10 split of every sprite).
fn sizes(cfg: &DataConfig, total: usize) -> anyhow::Result<(usize, usize)> {
    let n_train = if cfg.n_train == 0 { total * 9 / 10 } else { cfg.n_train };
    let n_test = if cfg.n_test == 0 { total - total * 9 / 10 } else { cfg.n_test };
    if n_train == 0 || n_test == 0 || n_train + n_test > total {
        bail!("data.n_train + data.n_test = {n_train} + {n_test}: need both > 0 and at most {total} sprites");
    }
    Ok((n_train, n_test))
}

/// Loads or renders the sprites of `data.source` (`auto`: the npz when present, else
/// procedural; `npz`; `procedural`) and splits them at random with `seed`.
pub fn load(cfg: &DataConfig, root: &Path, device: Device, seed: u64) -> anyhow::Result<Sprites> {
    let npz = dsprites::path(root);
    let source = match cfg.source.as_str() {
        "auto" if npz.is_file() => Source::Npz,
        "auto" | "procedural" => Source::Procedural,
        "npz" => Source::Npz,
        other => bail!("data.source: `{other}` is not auto, npz or procedural"),
    };
    let mut rng = xai_core::data::rng(seed);
    let (train, test) = match source {
        Source::Npz => {
            let d = dsprites::load(root).with_context(|| format!("loading dSprites ({})", npz.display()))?;
            let total = d.imgs.size()[0] as usize;
            let (n_train, n_test) = sizes(cfg, total)?;
            let mut order: Vec<i64> = (0..total as i64).collect();
            order.shuffle(&mut rng);
            let take = |idx: &[i64]| d.imgs.index_select(0, &Tensor::from_slice(idx));
            (take(&order[..n_train]), take(&order[n_train..n_train + n_test]))
        }
        Source::Procedural => {
            let (n_train, n_test) = sizes(cfg, dsprites::LEN)?;
            // Distinct sprites in random order: the split is random as the reference's.
            let idx = dsprites::sample_indices(n_train + n_test, seed);
            let d = dsprites::procedural(&idx);
            (d.imgs.narrow(0, 0, n_train as i64), d.imgs.narrow(0, n_train as i64, n_test as i64))
        }
    };
    log::info!("dSprites ({}): {} train / {} test sprites", source.name(), train.size()[0], test.size()[0]);
    Ok(Sprites { train_x: train.unsqueeze(1).to(device), test_x: test.unsqueeze(1).to(device), source })
}
