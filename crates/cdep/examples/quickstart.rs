//! CDEP on your own model, in a few seconds: `cargo run -p cdep --example quickstart`.
//!
//! A toy task with a shortcut: the label says whether an image's left or right half is
//! brighter, and a bright 3×3 corner patch gives the label away too. We build a small
//! CNN as a [`cdep::cd::Sequential`] (from tch layers), look at the contextual
//! decomposition (CD) of the patch, and train a few steps with prediction loss +
//! λ · the CDEP penalty, the patch's share of the logits by CD, which falls towards 0.
//! (The paper's experiments, with the numbers they reproduce: `cdep --config
//! configs/cdep/colormnist_smoke.toml`.)

use cdep::cd::{CdOptions, Layer, Sequential};
use cdep::penalty;
use tch::nn::{self, VarStore};
use tch::{Device, Kind, Tensor};
use xai_core::optim::{AdamConfig, Optimizer};

/// `n` random 3×16×16 images with one half slightly brightened, their labels (1: the
/// left half), and with `shortcut` the corner patch set to the label.
fn images(n: i64, shortcut: bool) -> (Tensor, Tensor) {
    let opts = (Kind::Float, Device::Cpu);
    let y = Tensor::randint(2, [n], (Kind::Int64, Device::Cpu));
    let left = y.to_kind(Kind::Float).view([n, 1, 1, 1]);
    let x = Tensor::rand([n, 3, 16, 16], opts);
    let _ = x.narrow(3, 0, 8).g_add_(&(&left * 0.05));
    let _ = x.narrow(3, 8, 8).g_add_(&((1.0 - &left) * 0.05));
    if shortcut {
        x.narrow(2, 0, 3).narrow(3, 0, 3).copy_(&(&left * 2.0).expand([n, 3, 3, 3], false));
    }
    (x, y)
}

fn accuracy(model: &Sequential, x: &Tensor, y: &Tensor) -> cdep::Result<f64> {
    let logits = tch::no_grad(|| model.forward(x, false))?;
    Ok(100.0 * logits.argmax(-1, false).eq_tensor(y).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]))
}

/// Your own network: any stack of the layers CD has rules for.
fn small_cnn(vs: &VarStore) -> Sequential {
    let p = vs.root();
    let conv = |name: &str, i, o| Layer::from_conv2d(&nn::conv2d(&p / name, i, o, 3, Default::default()), 1, 0);
    Sequential::new(vec![
        conv("conv1", 3, 8),
        Layer::Relu,
        Layer::max_pool2d(2),
        conv("conv2", 8, 16),
        Layer::Relu,
        Layer::Flatten,
        Layer::from_linear(&nn::linear(&p / "fc", 16 * 5 * 5, 2, Default::default())),
    ])
}

/// Trains a fresh network with `λ ×` the CDEP penalty on `blob`; returns it.
fn train(lambda: f64, x: &Tensor, y: &Tensor, blob: &Tensor, cd: &CdOptions) -> cdep::Result<(VarStore, Sequential)> {
    tch::manual_seed(1);
    let vs = VarStore::new(Device::Cpu);
    let model = small_cnn(&vs);
    let mut opt = AdamConfig::lr(3e-3).build(&vs)?;
    for step in 0..=40 {
        let idx = Tensor::randint(x.size()[0], [64], (Kind::Int64, Device::Cpu));
        let (xb, yb) = (x.index_select(0, &idx), y.index_select(0, &idx));
        let ce = model.forward(&xb, true)?.cross_entropy_for_logits(&yb);
        let pen = penalty::image_cdep(&model, &xb, blob, cd)?;
        let loss = if lambda > 0.0 { &ce + lambda * &pen } else { ce.shallow_clone() };
        opt.backward_step(&loss);
        if step % 10 == 0 {
            println!(
                "  λ={lambda} step {step:>2}: cross-entropy {:.3}, patch share (the penalty) {:.3}",
                ce.double_value(&[]),
                pen.double_value(&[])
            );
        }
    }
    Ok((vs, model))
}

fn main() -> cdep::Result<()> {
    tch::manual_seed(0);
    // The blob: the corner patch the network must not use.
    let blob = Tensor::zeros([1, 16, 16], (Kind::Float, Device::Cpu));
    let _ = blob.narrow(1, 0, 3).narrow(2, 0, 3).fill_(1.0);
    let cd = CdOptions::default();
    let (x, y) = images(512, true);

    let vs = VarStore::new(Device::Cpu);
    let untrained = small_cnn(&vs);
    let d = untrained.cd(&x.narrow(0, 0, 3), &blob.get(0), &cd)?;
    println!("CD of the patch on 3 images, relevant part β of the logits (γ is the rest):");
    d.rel.print();

    let (_vs, model) = train(10.0, &x, &y, &blob, &cd)?;
    println!("training accuracy {:.1}%", accuracy(&model, &x, &y)?);
    Ok(())
}
