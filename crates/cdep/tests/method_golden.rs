//! Golden values: the official CDEP code's CD (`src/cd.py`, `model_type='mnist'`) and
//! penalty (`score_funcs.cdep`) of a trained ColorMNIST network on 16 images and 9 blobs
//! (`shared/fixtures/cdep_reference/README.md` says how they were made). Loaded through the
//! public API with default options; every value must match within 1e-4, per blob (`cd`)
//! and stacked (`cd_blobs`, the training penalty's path).

use cdep::cd::{CdOptions, Sequential};
use cdep::{nets, penalty};
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-4;

fn fixtures() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/cdep_reference"));
    if dir.join("trained_weights_f32.safetensors").is_file() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: golden fixtures not found at {}", dir.display());
        None
    }
}

fn npy(dir: &Path, name: &str) -> Tensor {
    Tensor::read_npy(dir.join(format!("{name}.npy"))).unwrap_or_else(|e| panic!("{name}.npy: {e}"))
}

fn max_dev(a: &Tensor, b: &Tensor) -> f64 {
    assert_eq!(a.size(), b.size());
    (a.to_kind(Kind::Double) - b.to_kind(Kind::Double)).abs().max().double_value(&[])
}

fn model(dir: &Path) -> (VarStore, Sequential) {
    let mut vs = VarStore::new(Device::Cpu);
    let net = nets::mnist_cnn(&vs.root(), 3, 500).unwrap();
    xai_core::checkpoint::load(&mut vs, &dir.join("trained_weights_f32.safetensors")).unwrap();
    (vs, net)
}

#[test]
fn default_cd_matches_the_official_code_per_blob_and_stacked() {
    let Some(dir) = fixtures() else { return };
    let (_vs, net) = model(&dir);
    let x = npy(&dir, "x_noisy_f32");
    let blobs = npy(&dir, "blobs").to_kind(Kind::Float);
    let rel = npy(&dir, "ref_trained_noisy_f32_rel");
    let irrel = npy(&dir, "ref_trained_noisy_f32_irrel");
    let logits = npy(&dir, "ref_trained_noisy_f32_logits");
    let pen = npy(&dir, "ref_trained_noisy_f32_penalty").to_kind(Kind::Double);
    let opts = CdOptions::default();
    assert_eq!(opts, CdOptions::reference());
    tch::no_grad(|| {
        assert!(max_dev(&net.forward(&x, false).unwrap(), &logits) < TOL, "logits");
        let n = blobs.size()[0];
        let (mut dev_blob, mut dev_pen) = (0.0f64, 0.0f64);
        for b in 0..n {
            let d = net.cd(&x, &blobs.get(b), &opts).unwrap();
            let e = max_dev(&d.rel, &rel.get(b)).max(max_dev(&d.irrel, &irrel.get(b)));
            assert!(e < TOL, "blob {b}: per-blob CD off by {e}");
            dev_blob = dev_blob.max(e);
            let p = penalty::image(&d).to_kind(Kind::Double) - pen.get(b);
            dev_pen = dev_pen.max(p.abs().double_value(&[]));
        }
        assert!(dev_pen < TOL, "per-blob penalty off by {dev_pen}");
        let s = net.cd_blobs(&x, &blobs, &opts).unwrap();
        let e = max_dev(&s.rel, &rel.flatten(0, 1)).max(max_dev(&s.irrel, &irrel.flatten(0, 1)));
        assert!(e < TOL, "stacked CD off by {e}");
        let total = penalty::image_cdep(&net, &x, &blobs, &opts).unwrap().to_kind(Kind::Double);
        let e_total = (total - pen.sum(Kind::Double)).abs().double_value(&[]);
        assert!(e_total < TOL * n as f64, "summed penalty off by {e_total}");
        println!("golden max |deviation|: per blob {dev_blob:.2e}, stacked {e:.2e}, penalty {dev_pen:.2e}");
    });
}
