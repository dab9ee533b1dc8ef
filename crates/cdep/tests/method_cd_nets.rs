//! Spec §9 property 6 (whole networks, both CD orders), plus the API's errors: a wrong
//! mask shape and a layer without a CD rule are named, not panics.

use cdep::cd::{CdOptions, Layer, Sequential};
use cdep::nets;
use cdep::CdepError;
use std::sync::Arc;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

const F: (Kind, Device) = (Kind::Float, Device::Cpu);

/// Rows whose every ReLU layer keeps at least one unit alive. Where a whole layer is
/// dead, β = γ = 0 there and the next bias is split half/half (the exact-zero case of
/// the bias-split test), so the all-ones/all-zeros extremes do not apply to such rows.
fn alive_rows(net: &Sequential, x: &Tensor) -> Tensor {
    let mut h = x.shallow_clone();
    let mut alive = Tensor::ones([x.size()[0]], (Kind::Bool, Device::Cpu));
    for l in net.layers() {
        h = l.forward(&h, false).unwrap();
        if matches!(l, Layer::Relu) {
            alive = alive.logical_and(&h.flatten(1, -1).ne(0.0).any_dim(1, false));
        }
    }
    alive
}

fn check_net(net: &Sequential, x: &Tensor, mask_shape: &[i64], what: &str) {
    let keep = alive_rows(net, x);
    assert!(
        keep.to_kind(Kind::Int64).sum(Kind::Int64).int64_value(&[]) > 0,
        "{what}: some rows must be non-degenerate"
    );
    let x = &x.index_select(0, &keep.nonzero().squeeze_dim(1));
    let logits = net.forward(x, false).unwrap();
    let scale = logits.abs().max().double_value(&[]).max(1.0);
    let err = |a: &Tensor, b: &Tensor| (a - b).abs().max().double_value(&[]) / scale;
    for pool_before_relu in [false, true] {
        let opts = CdOptions { pool_before_relu, ..CdOptions::symmetric() };
        for _ in 0..3 {
            let m = Tensor::rand(mask_shape, F).ge(0.5).to_kind(Kind::Float);
            let d = net.cd(x, &m, &opts).unwrap();
            assert!(err(&d.total(), &logits) < 1e-4, "{what}: β+γ = logits (order swap {pool_before_relu})");
        }
        let d = net.cd(x, &Tensor::ones(mask_shape, F), &opts).unwrap();
        assert!(
            err(&d.rel, &logits) < 1e-4 && d.irrel.abs().max().double_value(&[]) < 1e-4 * scale,
            "{what}: all-ones mask"
        );
        let d = net.cd(x, &Tensor::zeros(mask_shape, F), &opts).unwrap();
        assert!(
            err(&d.irrel, &logits) < 1e-4 && d.rel.abs().max().double_value(&[]) < 1e-4 * scale,
            "{what}: all-zeros mask"
        );
    }
}

#[test]
fn paper_nets_are_complete_in_both_orders() {
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let color = nets::mnist_cnn(&(vs.root() / "c"), 3, 500).unwrap();
    check_net(&color, &Tensor::randn([4, 3, 28, 28], F), &[28, 28], "ColorMNIST net");
    let decoy = nets::mnist_cnn(&(vs.root() / "d"), 1, 256).unwrap();
    check_net(&decoy, &Tensor::randn([4, 1, 28, 28], F), &[28, 28], "DecoyMNIST net");
    let compas = nets::mlp(&(vs.root() / "m"), &[17, 5, 5, 2], 0.1);
    check_net(&compas, &Tensor::randn([32, 17], F), &[17], "COMPAS MLP");
}

#[test]
fn orders_differ_but_forward_does_not() {
    tch::manual_seed(1);
    let vs = VarStore::new(Device::Cpu);
    let net = nets::mnist_cnn(&vs.root(), 3, 500).unwrap();
    let x = Tensor::randn([2, 3, 28, 28], F);
    let m = Tensor::rand([28, 28], F).ge(0.5).to_kind(Kind::Float);
    let a = net.cd(&x, &m, &CdOptions::forward_order()).unwrap();
    let b = net.cd(&x, &m, &CdOptions::symmetric()).unwrap();
    assert!((a.rel - b.rel).abs().max().double_value(&[]) > 1e-6, "the two orders give different splits");
}

#[test]
fn wrong_mask_shape_is_a_named_error() {
    let net = Sequential::new(vec![Layer::Flatten, Layer::linear(Tensor::randn([2, 12], F), None)]);
    let x = Tensor::randn([2, 3, 2, 2], F);
    let e = net.cd(&x, &Tensor::ones([3, 3], F), &CdOptions::default()).unwrap_err();
    assert!(matches!(e, CdepError::MaskShape { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("[3, 3]") && msg.contains("[2, 3, 2, 2]"), "{msg}");
    assert!(net.cd(&x, &Tensor::ones([5], F), &CdOptions::default()).is_err());
}

#[test]
fn layer_without_rule_is_named() {
    let gelu: cdep::cd::CustomFn = Arc::new(|x: &Tensor, _| Ok(x.gelu("none")));
    let net = Sequential::new(vec![
        Layer::linear(Tensor::randn([4, 3], F), None),
        Layer::Custom { name: "gelu".into(), forward: gelu },
        Layer::linear(Tensor::randn([2, 4], F), None),
    ]);
    let x = Tensor::randn([2, 3], F);
    assert_eq!(net.forward(&x, false).unwrap().size(), [2, 2], "forward runs");
    let e = net.cd(&x, &Tensor::ones([3], F), &CdOptions::default()).unwrap_err().to_string();
    assert!(e.contains("layer 1") && e.contains("gelu") && e.contains("no contextual-decomposition rule"), "{e}");
}

#[test]
fn stacked_blobs_match_per_blob_cd_through_every_layer_kind() {
    tch::manual_seed(2);
    let net = Sequential::new(vec![
        Layer::conv2d(Tensor::randn([4, 2, 3, 3], F), Some(Tensor::randn([4], F)), 1, 1),
        Layer::BatchNorm {
            weight: Some(Tensor::randn([4], F)),
            bias: Some(Tensor::randn([4], F)),
            running_mean: Tensor::randn([4], F),
            running_var: Tensor::rand([4], F) + 0.5,
            eps: 1e-5,
        },
        Layer::Relu,
        Layer::max_pool2d(2),
        Layer::AvgPool2d { kernel: [2, 2], stride: [1, 1], padding: [0, 0] },
        Layer::AdaptiveAvgPool2d { output: [3, 3] },
        Layer::Flatten,
        Layer::Dropout { p: 0.5 },
        Layer::linear(Tensor::randn([5, 36], F), Some(Tensor::randn([5], F))),
    ]);
    let x = Tensor::randn([3, 2, 10, 10], F);
    let masks = Tensor::rand([3, 10, 10], F).ge(0.6).to_kind(Kind::Float);
    for pool_before_relu in [false, true] {
        let opts = CdOptions { pool_before_relu, ..CdOptions::symmetric() };
        let stacked = net.cd_blobs(&x, &masks, &opts).unwrap();
        for i in 0..3 {
            let one = net.cd(&x, &masks.get(i), &opts).unwrap();
            for (a, b) in [(&stacked.rel, &one.rel), (&stacked.irrel, &one.irrel)] {
                let err = (a.narrow(0, 3 * i, 3) - b).abs().max().double_value(&[]);
                assert!(err < 1e-4, "blob {i}, swap {pool_before_relu}: {err}");
            }
        }
    }
    let custom: cdep::cd::CustomFn = Arc::new(|x: &Tensor, _| Ok(x.shallow_clone()));
    let bad = Sequential::new(vec![Layer::Custom { name: "identity_op".into(), forward: custom }]);
    let e = bad.cd_blobs(&x, &masks, &CdOptions::default()).unwrap_err().to_string();
    assert!(e.contains("identity_op"), "{e}");
}

/// `cd_blobs` (the training penalty's path) equals one `cd` per blob in every mode, on a
/// zero background (DecoyMNIST's raw pixels: the reference split drops biases there) and
/// on a constant one (exact max-pool ties: both paths take the forward activation's winner).
#[test]
fn stacked_equals_per_blob_on_zero_and_constant_backgrounds() {
    tch::manual_seed(11);
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let net = cdep::nets::mnist_cnn(&vs.root(), 3, 32).unwrap();
    let digit = Tensor::zeros([4, 3, 28, 28], F);
    digit.narrow(2, 8, 12).narrow(3, 10, 8).copy_(&Tensor::rand([4, 3, 12, 8], F));
    let constant = &digit + 0.25; // exact ties in every background pooling window
    let masks = Tensor::rand([3, 28, 28], F).ge(0.7).to_kind(Kind::Float);
    let _ = masks.get(2).narrow(0, 0, 6).fill_(1.0); // a blob over pure background
    for (what, x) in [("zero background", &digit), ("constant background", &constant)] {
        for opts in [CdOptions::reference(), CdOptions::symmetric(), CdOptions::forward_order()] {
            let stacked = net.cd_blobs(x, &masks, &opts).unwrap();
            for i in 0..3 {
                let one = net.cd(x, &masks.get(i), &opts).unwrap();
                for (a, b) in [(&stacked.rel, &one.rel), (&stacked.irrel, &one.irrel)] {
                    let err = (a.narrow(0, 4 * i, 4) - b).abs().max().double_value(&[]);
                    assert!(err < 1e-4, "{what}, blob {i}, {opts:?}: {err}");
                }
            }
        }
    }
}

#[test]
fn trace_lists_every_layer_in_decomposition_order_and_ends_at_cd() {
    tch::manual_seed(12);
    let vs = tch::nn::VarStore::new(tch::Device::Cpu);
    let net = cdep::nets::mnist_cnn(&vs.root(), 3, 16).unwrap();
    let x = Tensor::randn([2, 3, 28, 28], F);
    let m = Tensor::rand([28, 28], F).ge(0.5).to_kind(Kind::Float);
    let trace = net.cd_trace(&x, &m, &CdOptions::default()).unwrap();
    let names: Vec<&str> = trace.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.len(), net.layers().len());
    assert_eq!(&names[..3], ["conv2d(3→20, 5×5)", "max_pool2d(2×2)", "relu"]);
    let d = net.cd(&x, &m, &CdOptions::default()).unwrap();
    let last = &trace.last().unwrap().1;
    assert!(last.rel.equal(&d.rel) && last.irrel.equal(&d.irrel));
}
