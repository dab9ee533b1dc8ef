//! Resuming a VAE fit from its checkpoint. Alone in its test binary: the comparison relies
//! on libtorch's global generator continuing alike in both fits, which tests running in
//! parallel threads of one process would disturb.

use clue::blocks::Blocks;
use clue::vae::{TabularVae, VaeSpec};
use clue::vae_train::{fit, fit_resumable, FitCheckpoint, VaeTrainParams};
use tch::{Device, Tensor};

/// A fit interrupted after 3 of 6 epochs and resumed from its checkpoint ends where the
/// uninterrupted fit does, weight for weight, when the global generator continues alike
/// (here: the same process, two models made up front in both runs). A checkpoint of other
/// rows is refused.
#[test]
fn interrupted_vae_fit_resumes_where_it_stopped() {
    tch::set_num_threads(1);
    let root = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets"));
    let data = xai_core::data::tabular::lsat::load(&root).expect("LSAT in datasets/");
    let blocks = Blocks::new(&data.schema.blocks()).unwrap();
    let spec = VaeSpec { width: 16, depth: 1, latent_dim: 2 };
    let (xt, xv) = (data.train_x.narrow(0, 0, 600), data.train_x.narrow(0, 600, 200));
    let p = |epochs| VaeTrainParams { epochs, batch_size: 64, lr: 3e-3, patience: 2 };
    let weights = |v: &TabularVae| {
        let mut w: Vec<(String, Tensor)> = v.vs.variables().into_iter().collect();
        w.sort_by(|a, b| a.0.cmp(&b.0));
        Tensor::cat(&w.iter().map(|(_, t)| t.flatten(0, -1)).collect::<Vec<_>>(), 0)
    };
    // Uninterrupted.
    tch::manual_seed(5);
    let mut whole = TabularVae::new(blocks.clone(), spec, Device::Cpu).unwrap();
    let _unused = TabularVae::new(blocks.clone(), spec, Device::Cpu).unwrap();
    let f_whole = fit(&mut whole, &xt, &xv, &p(6)).unwrap();
    // Interrupted after epoch 3 (the state saved then), resumed into a fresh model.
    let dir = tempfile::tempdir().unwrap();
    let ck = FitCheckpoint { path: dir.path().join("fit.safetensors"), every: 3, resume: true };
    tch::manual_seed(5);
    let mut first = TabularVae::new(blocks.clone(), spec, Device::Cpu).unwrap();
    let mut second = TabularVae::new(blocks.clone(), spec, Device::Cpu).unwrap();
    fit_resumable(&mut first, &xt, &xv, &p(3), Some(&ck)).unwrap();
    let f_resumed = fit_resumable(&mut second, &xt, &xv, &p(6), Some(&ck)).unwrap();
    assert_eq!(f_resumed.history.len(), f_whole.history.len());
    for (a, b) in f_resumed.history.iter().zip(&f_whole.history) {
        assert_eq!((a.epoch, a.train_loss, a.val_elbo), (b.epoch, b.train_loss, b.val_elbo));
    }
    assert_eq!((f_resumed.best_epoch, f_resumed.best_val_elbo), (f_whole.best_epoch, f_whole.best_val_elbo));
    assert!(weights(&second).equal(&weights(&whole)), "resumed weights equal the uninterrupted ones");
    // Other rows: refused, naming the file.
    let mut other = TabularVae::new(blocks.clone(), spec, Device::Cpu).unwrap();
    let err = fit_resumable(&mut other, &xv, &xt, &p(6), Some(&ck)).unwrap_err().to_string();
    assert!(err.contains("other training / validation rows") && err.contains("fit.safetensors"), "{err}");
}
