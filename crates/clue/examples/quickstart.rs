//! CLUE on your own model in a few lines: an SG-HMC BNN and a tabular VAE trained on a slice
//! of LSAT, then counterfactuals that lower the BNN's predictive σ for its most uncertain
//! test rows. Runs in under a minute on 2 cores: `cargo run -p clue --example quickstart`.

use clue::blocks::Blocks;
use clue::bnn::{Head, MlpSpec};
use clue::bnn_train::{BnnTrainParams, BnnTrainer};
use clue::clue::Clue;
use clue::params::ClueParams;
use clue::vae::{TabularVae, VaeSpec};
use clue::vae_train::{fit, VaeTrainParams};
use tch::{Device, Kind};

fn main() -> anyhow::Result<()> {
    tch::manual_seed(0);
    let root = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets"));
    let data = xai_core::data::tabular::lsat::load(&root)?;
    let (x, y) = (data.train_x.narrow(0, 0, 2000), data.train_y.narrow(0, 0, 2000));

    // 1. A BNN by SG-HMC (small schedule).
    let spec = MlpSpec { input_dim: 12, width: 32, depth: 2, head: Head::Gaussian { outputs: 1 } };
    let params =
        BnnTrainParams { epochs: 40, batch_size: 256, burn_in: 10, sample_every: 2, ..BnnTrainParams::tabular(false) };
    let bnn = BnnTrainer::new(spec, params, Device::Cpu)?.train(&x, &y, |_, _| Ok(()))?;

    // 2. A VAE over the mixed continuous / one-hot rows.
    let blocks = Blocks::new(&data.schema.blocks())?;
    let mut vae = TabularVae::new(blocks, VaeSpec { width: 64, depth: 2, latent_dim: 4 }, Device::Cpu)?;
    fit(
        &mut vae,
        &x.narrow(0, 0, 1800),
        &x.narrow(0, 1800, 200),
        &VaeTrainParams { epochs: 15, batch_size: 128, lr: 1e-3, patience: 0 },
    )?;
    vae.freeze();

    // 3. CLUEs for the 10 most uncertain test rows.
    let test = data.test_x.narrow(0, 0, 500);
    let sigma = bnn.decompose(&test)?.total;
    let worst = sigma.argsort(0, true).narrow(0, 0, 10);
    let x0 = test.index_select(0, &worst);
    let out = Clue::new(ClueParams { lambda_x: 1.0, ..Default::default() })?.explain(&bnn, &vae, &x0)?;
    let before = out.before.total.mean(Kind::Float).double_value(&[]);
    let after = out.after.total.mean(Kind::Float).double_value(&[]);
    println!("{} samples; mean σ_total of the 10 most uncertain rows {before:.3} → {after:.3}", bnn.n_samples());
    println!("mean ‖Δx‖₁ = {:.3}", out.l1.mean(Kind::Float).double_value(&[]));
    Ok(())
}
