//! Why a trained cell's top-k fidelity can sit far below the accuracy it showed in training:
//! scores the cell's best checkpoint on the validation split with the mask and the BatchNorm
//! mode varied one at a time.
//!
//! Training feeds the approximator relaxed k-hot samples with BatchNorm on batch statistics;
//! the reported top-k fidelity feeds it the k most likely chunks with BatchNorm on running
//! statistics. When the two disagree, the rows below say which difference is responsible:
//! - `top-k, eval BN` is the reported number;
//! - `top-k, batch-stat BN` changes only the approximator's BatchNorm mode;
//! - `sampled hard k, eval BN` draws k chunks from the explainer's distribution (Gumbel top-k);
//! - `relaxed sample at τ, eval BN` is the training input at the checkpoint's temperature;
//! - `random k, eval BN` is the no-information floor;
//! - the last row recomputes the running statistics on training images first
//!   ([`vibi::model::Vibi::recalibrate_approximator_bn`]).
//!
//! `cargo run --release -p vibi --example diagnose_topk -- RUN_FOLDER CELL [DATA_DIR]`
//! where CELL is a cell folder's name inside RUN_FOLDER (e.g. `MNIST_ResNet_4x_1_k=4_b=0.1`)
//! or `.` for a run without a grid. Needs the run's black box in `RUN_FOLDER/checkpoints`.

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};
use vibi::experiments::{blackbox_training, cell::build_vibi, checkpoint, data, pipeline, Config};
use vibi::model::Vibi;
use vibi::sampling::{gumbel, random_mask, relaxed_khot, topk_mask};

/// Fraction of rows whose approximator prediction on `mask(x, logits)` equals the black box's.
fn agreement(
    vibi: &Vibi,
    x: &Tensor,
    bb_probs: &Tensor,
    bn_batch_stats: bool,
    mask: impl Fn(&Tensor, &Tensor) -> Tensor,
) -> f64 {
    let hits: f64 = tch::no_grad(|| {
        x.split(64, 0)
            .iter()
            .zip(bb_probs.split(64, 0).iter())
            .map(|(xb, pb)| {
                let z = mask(xb, &vibi.chunk_logits(xb));
                let q = vibi.approximate_t(&vibi.grid.mask(xb, &z), bn_batch_stats);
                q.argmax(-1, false).eq_tensor(&pb.argmax(-1, false)).to_kind(Kind::Float).sum(Kind::Float)
            })
            .fold(Tensor::zeros([], (Kind::Float, x.device())), |a, b| a + b)
            .double_value(&[])
    });
    hits / x.size()[0] as f64
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [run, cell_name, rest @ ..] = args.as_slice() else {
        bail!("usage: diagnose_topk RUN_FOLDER CELL [DATA_DIR]");
    };
    let (root, data_dir) = (PathBuf::from(run), PathBuf::from(rest.first().map_or("datasets", String::as_str)));
    tch::set_num_threads(2);
    let cfg: Config = xai_core::config::load(&root.join("config.toml"), &[])?.value;
    let dir = root.join(cell_name);
    let cell = cfg
        .cells()
        .into_iter()
        .find(|c| cell_name == "." || c.run_id(cfg.data.dataset) == *cell_name)
        .with_context(|| format!("no cell named {cell_name} in {}", root.display()))?;
    let ds = pipeline::load_data(&cfg, &data_dir)?;
    let (bb, bb_acc) = blackbox_training::load_or_train(&cfg, &ds, Device::Cpu, &root.join("checkpoints"))?;
    let p = data::prepare(&cfg, ds, &bb, bb_acc)?;
    let mut vibi = build_vibi(&cfg, &cell, &p.ds, Device::Cpu)?;
    let epoch = checkpoint::load_best(&dir.join("checkpoints"), &mut vibi, &cfg.cell_fingerprint(&cell))?
        .context("the cell has no best checkpoint")?;
    // The temperature of the checkpoint's last training step (`metrics.csv`).
    let metrics = std::fs::read_to_string(dir.join("metrics.csv"))?;
    let tau: f64 = metrics.lines().last().and_then(|l| l.split(',').nth(3)).context("metrics.csv")?.parse()?;
    let (k, f) = (vibi.settings.k, vibi.grid.num_chunks());
    let (x, pb) = (&p.valid.x, &p.valid.bb_probs);
    println!("{cell_name}: best epoch {epoch}, k = {k}, β = {}, training τ at the end {tau:.4}", cell.beta);
    tch::manual_seed(0);
    let rows = [
        ("top-k, eval BN (reported)", agreement(&vibi, x, pb, false, |_, l| topk_mask(l, k))),
        (
            "sampled hard k, eval BN",
            agreement(&vibi, x, pb, false, |_, l| topk_mask(&(l + gumbel(&l.size(), l.device())), k)),
        ),
        (
            "relaxed sample at τ, eval BN",
            agreement(&vibi, x, pb, false, |_, l| relaxed_khot(l, k, tau, 1).squeeze_dim(1)),
        ),
        ("random k, eval BN", agreement(&vibi, x, pb, false, |xb, _| random_mask(xb.size()[0], f, k, xb.device()))),
        // Batch statistics last: a train-mode forward also moves the running statistics.
        ("top-k, batch-stat BN", agreement(&vibi, x, pb, true, |_, l| topk_mask(l, k))),
        (
            "sampled hard k, batch-stat BN",
            agreement(&vibi, x, pb, true, |_, l| topk_mask(&(l + gumbel(&l.size(), l.device())), k)),
        ),
    ];
    // Running statistics recomputed on 6 400 training images under their own top-k masks.
    let n_cal = p.train.x.size()[0].min(6_400);
    vibi.recalibrate_approximator_bn(&p.train.x.narrow(0, 0, n_cal), 256, 0.1)?;
    let recalibrated = agreement(&vibi, x, pb, false, |_, l| topk_mask(l, k));
    let rows: Vec<(&str, f64)> = rows
        .into_iter()
        .chain([("top-k, running statistics recomputed (recalibrate_approximator_bn)", recalibrated)])
        .collect();
    println!("| approximator input, BatchNorm | agreement with the black box (validation, {} images) |", x.size()[0]);
    println!("|---|---:|");
    for (what, v) in rows {
        println!("| {what} | {:.1} % |", 100.0 * v);
    }
    Ok(())
}
