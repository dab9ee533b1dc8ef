use super::*;
use tch::nn::{self, OptimizerConfig};
use tch::{Device, Kind};

/// Two identical stores and a loss over either, so our optimiser can be checked
/// against libtorch's own (torch::optim, which `tch::nn` wraps) step by step.
fn twin_stores() -> (VarStore, VarStore) {
    let a = VarStore::new(Device::Cpu);
    let b = VarStore::new(Device::Cpu);
    tch::manual_seed(3);
    let _ = a.root().randn("w", &[4, 3], 0.0, 1.0);
    let _ = a.root().randn("b", &[3], 0.0, 1.0);
    let _ = b.root().zeros("w", &[4, 3]);
    let _ = b.root().zeros("b", &[3]);
    let mut b = b;
    b.copy(&a).unwrap();
    (a, b)
}

fn loss(vs: &VarStore, x: &Tensor) -> Tensor {
    let v = vs.variables();
    (x.matmul(&v["w"]) + &v["b"]).tanh().pow_tensor_scalar(2).sum(Kind::Float)
}

fn max_diff(a: &VarStore, b: &VarStore) -> f64 {
    let (va, vb) = (a.variables(), b.variables());
    va.iter().map(|(k, t)| (t - &vb[k]).abs().max().double_value(&[])).fold(0.0, f64::max)
}

#[test]
fn adam_matches_libtorch_adam_with_weight_decay() {
    let (a, b) = twin_stores();
    let x = Tensor::randn([8, 4], (Kind::Float, Device::Cpu));
    let mut ours = AdamConfig::lr(1e-2).weight_decay(1e-3).build(&a).unwrap();
    let mut theirs = nn::Adam { wd: 1e-3, ..Default::default() }.build(&b, 1e-2).unwrap();
    for _ in 0..20 {
        ours.backward_step(&loss(&a, &x));
        theirs.backward_step(&loss(&b, &x));
    }
    let d = max_diff(&a, &b);
    assert!(d < 1e-5, "max |Δw| = {d}");
}

#[test]
fn sgd_momentum_matches_libtorch_sgd() {
    let (a, b) = twin_stores();
    let x = Tensor::randn([8, 4], (Kind::Float, Device::Cpu));
    let mut ours = SgdConfig::lr(0.05).momentum(0.9).weight_decay(1e-2).build(&a).unwrap();
    let mut theirs = nn::Sgd { momentum: 0.9, wd: 1e-2, ..Default::default() }.build(&b, 0.05).unwrap();
    for _ in 0..20 {
        ours.backward_step(&loss(&a, &x));
        theirs.backward_step(&loss(&b, &x));
    }
    let d = max_diff(&a, &b);
    assert!(d < 1e-5, "max |Δw| = {d}");
}

#[test]
fn a_restored_state_continues_exactly() {
    let x = Tensor::randn([8, 4], (Kind::Float, Device::Cpu));
    let (a, b) = twin_stores();
    let mut straight = AdamConfig::lr(1e-2).build(&a).unwrap();
    for _ in 0..10 {
        straight.backward_step(&loss(&a, &x));
    }
    let mut first = AdamConfig::lr(1e-2).build(&b).unwrap();
    for _ in 0..5 {
        first.backward_step(&loss(&b, &x));
    }
    let state: BTreeMap<String, Tensor> = first.state("opt").into_iter().map(|(k, t)| (k, t.copy())).collect();
    let mut resumed = AdamConfig::lr(1e-2).build(&b).unwrap();
    resumed.load_state("opt", &state).unwrap();
    for _ in 0..5 {
        resumed.backward_step(&loss(&b, &x));
    }
    assert_eq!(max_diff(&a, &b), 0.0, "resumed Adam must equal an uninterrupted one bit for bit");
    let mut missing: BTreeMap<String, Tensor> = state.iter().map(|(k, t)| (k.clone(), t.shallow_clone())).collect();
    missing.remove("opt.v.w");
    let e = resumed.load_state("opt", &missing).unwrap_err().to_string();
    assert!(e.contains("opt.v.w missing"), "{e}");
}

#[test]
fn bad_hyper_parameters_are_named() {
    let vs = VarStore::new(Device::Cpu);
    let e = AdamConfig::lr(-1.0).build(&vs).err().unwrap().to_string();
    assert!(e.contains("adam lr") && e.contains("-1"), "{e}");
    let e = AdamConfig::lr(1e-3).betas(1.0, 0.9).build(&vs).err().unwrap().to_string();
    assert!(e.contains("adam beta"), "{e}");
    assert!(SgdConfig::lr(f64::NAN).build(&vs).is_err());
}
