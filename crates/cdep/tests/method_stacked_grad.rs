//! The stacked path (`cd_blobs`, the training penalty) reads max-pool winners before the
//! bias split and ReLU and carries the reference split's parts in one tensor; its
//! penalty and the penalty's gradient w.r.t. every weight must stay those of the
//! layer-by-layer, one-blob-at-a-time decomposition (`cd`), in every mode.

use cdep::cd::{BiasSplit, CdOptions, Layer, Sequential};
use cdep::{nets, penalty};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

const F: (Kind, Device) = (Kind::Float, Device::Cpu);

/// The penalty and its gradient w.r.t. every variable, flattened into one vector.
fn penalty_and_grad(vs: &VarStore, f: impl Fn() -> Tensor) -> (f64, Tensor) {
    for (_, mut v) in vs.variables() {
        v.zero_grad();
    }
    let p = f();
    p.backward();
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    let grads: Vec<Tensor> = vars.iter().map(|(_, v)| v.grad().flatten(0, -1)).collect();
    (p.double_value(&[]), Tensor::cat(&grads, 0))
}

fn check(vs: &VarStore, net: &Sequential, x: &Tensor, masks: &Tensor, what: &str) {
    for opts in [CdOptions::reference(), CdOptions::symmetric(), CdOptions::forward_order()] {
        let (ps, gs) = penalty_and_grad(vs, || penalty::image_cdep(net, x, masks, &opts).unwrap());
        let (pb, gb) = penalty_and_grad(vs, || {
            let n = masks.size()[0];
            let per_blob: Vec<Tensor> =
                (0..n).map(|i| penalty::image(&net.cd(x, &masks.get(i), &opts).unwrap())).collect();
            Tensor::stack(&per_blob, 0).sum(Kind::Float)
        });
        assert!((ps - pb).abs() < 1e-5 * pb.abs().max(1.0), "{what}, {opts:?}: penalty {ps} vs {pb}");
        let scale = gb.abs().max().double_value(&[]);
        assert!(scale > 0.0, "{what}, {opts:?}: the penalty reaches the weights");
        let err = (&gs - &gb).abs().max().double_value(&[]);
        // The reference split's pairs are the per-blob numbers; the symmetric split's shared
        // total forms `γ = h − β` by subtraction, whose rounding the split's steep weights
        // (`∂w/∂r ∝ 1/(|r|+|i|)`) amplify near zero: 1e-4 of the largest entry on a constant
        // background, the same before the stacked path read winners first.
        let tol = if opts.bias_split == BiasSplit::Reference { 1e-4 } else { 5e-4 };
        assert!(err < tol * scale, "{what}, {opts:?}: gradient off by {err} (largest {scale})");
    }
}

#[test]
fn stacked_penalty_gradient_equals_the_per_blob_one() {
    tch::manual_seed(21);
    let vs = VarStore::new(Device::Cpu);
    let net = nets::mnist_cnn(&vs.root(), 3, 64).unwrap();
    let random = Tensor::randn([4, 3, 28, 28], F);
    let digit = Tensor::zeros([4, 3, 28, 28], F);
    digit.narrow(2, 8, 12).narrow(3, 10, 8).copy_(&Tensor::rand([4, 3, 12, 8], F));
    let constant = &digit + 0.25;
    // 160 images: the stack is decomposed in chunks of blobs (2 + 1 with the shared total,
    // 1 + 1 + 1 with the reference split's pairs), each under 16 MiB per activation.
    let many = Tensor::randn([160, 3, 28, 28], F);
    let masks = Tensor::rand([3, 28, 28], F).ge(0.8).to_kind(Kind::Float);
    let _ = masks.get(2).narrow(0, 0, 6).fill_(1.0);
    for (what, x) in [
        ("random", &random),
        ("zero background", &digit),
        ("constant background", &constant),
        ("several chunks", &many),
    ] {
        check(&vs, &net, x, &masks, what);
    }
}

/// Every layer kind, and windows of ReLU and dropout between an affine layer and its
/// max-pool (batch norm → ReLU → dropout → max-pool), in both orders.
#[test]
fn stacked_gradient_equals_per_blob_through_every_layer_kind() {
    tch::manual_seed(22);
    let vs = VarStore::new(Device::Cpu);
    let p = vs.root();
    let var = |name: &str, shape: &[i64]| p.var(name, shape, tch::nn::Init::Randn { mean: 0.0, stdev: 0.5 });
    let net = Sequential::new(vec![
        Layer::conv2d(var("c1w", &[4, 2, 3, 3]), Some(var("c1b", &[4])), 1, 1),
        Layer::BatchNorm {
            weight: Some(var("bnw", &[4])),
            bias: Some(var("bnb", &[4])),
            running_mean: Tensor::randn([4], F),
            running_var: Tensor::rand([4], F) + 0.5,
            eps: 1e-5,
        },
        Layer::Relu,
        Layer::Dropout { p: 0.5 },
        Layer::max_pool2d(2),
        Layer::conv2d(var("c2w", &[3, 4, 2, 2]), None, 1, 0),
        Layer::Relu,
        Layer::max_pool2d(2),
        Layer::AvgPool2d { kernel: [1, 1], stride: [1, 1], padding: [0, 0] },
        Layer::AdaptiveAvgPool2d { output: [2, 2] },
        Layer::Flatten,
        Layer::linear(var("l1w", &[6, 12]), Some(var("l1b", &[6]))),
        Layer::Relu,
        Layer::linear(var("l2w", &[5, 6]), Some(var("l2b", &[5]))),
    ]);
    let x = Tensor::randn([3, 2, 10, 10], F);
    let masks = Tensor::rand([3, 10, 10], F).ge(0.6).to_kind(Kind::Float);
    check(&vs, &net, &x, &masks, "every layer kind");
}

/// The shared pass of a training step: `cd_blobs_with_logits` returns the eval-mode
/// logits (with gradients) beside the decomposition, and `loss + λ·penalty` from that one
/// pass has the gradient of the two-pass step (a training forward, then the CD penalty).
#[test]
fn shared_pass_logits_are_the_forward_and_give_the_two_pass_gradient() {
    tch::manual_seed(23);
    let vs = VarStore::new(Device::Cpu);
    let net = nets::mnist_cnn(&vs.root(), 3, 64).unwrap();
    assert!(net.train_forward_is_eval(), "the MNIST network has no dropout");
    let digit = Tensor::zeros([6, 3, 28, 28], F);
    digit.narrow(2, 8, 12).narrow(3, 10, 8).copy_(&Tensor::rand([6, 3, 12, 8], F));
    let x = Tensor::randn([6, 3, 28, 28], F) * 0.1 + &digit;
    let y = Tensor::from_slice(&[0i64, 3, 9, 1, 4, 7]);
    let masks = Tensor::rand([3, 28, 28], F).ge(0.8).to_kind(Kind::Float);
    let lambda = 50.0;
    let loss = |logits: &Tensor| logits.log_softmax(-1, Kind::Float).nll_loss(&y);
    for opts in [CdOptions::reference(), CdOptions::symmetric(), CdOptions::forward_order()] {
        let (_, logits) = net.cd_blobs_with_logits(&x, &masks, &opts).unwrap();
        let forward = net.forward(&x, false).unwrap();
        let off = (&logits - &forward).abs().max().double_value(&[]);
        assert!(off < 1e-5, "{opts:?}: shared-pass logits off the forward by {off}");
        let (js, jg) = penalty_and_grad(&vs, || {
            let (pen, logits) = penalty::image_cdep_with_logits(&net, &x, &masks, &opts).unwrap();
            loss(&logits) + pen * lambda
        });
        let (ts, tg) = penalty_and_grad(&vs, || {
            loss(&net.forward(&x, true).unwrap()) + penalty::image_cdep(&net, &x, &masks, &opts).unwrap() * lambda
        });
        assert!((js - ts).abs() < 1e-5 * ts.abs().max(1.0), "{opts:?}: objective {js} vs {ts}");
        let scale = tg.abs().max().double_value(&[]);
        let err = (&jg - &tg).abs().max().double_value(&[]);
        assert!(err < 1e-4 * scale, "{opts:?}: gradient off by {err} (largest {scale})");
    }
    // No blobs: still the logits.
    let (d, logits) = net.cd_blobs_with_logits(&x, &masks.narrow(0, 0, 0), &CdOptions::reference()).unwrap();
    assert_eq!((d.rel.size(), logits.size()), (vec![0, 10], vec![6, 10]));
    assert!(logits.requires_grad(), "the logits carry gradients");
}

/// Only networks whose training forward equals the eval one may share the pass.
#[test]
fn active_dropout_or_custom_layers_rule_out_the_shared_pass() {
    let with = |layer: Layer| Sequential::new(vec![Layer::Flatten, layer]).train_forward_is_eval();
    assert!(with(Layer::Dropout { p: 0.0 }));
    assert!(!with(Layer::Dropout { p: 0.5 }));
    let id: cdep::cd::CustomFn = std::sync::Arc::new(|x: &Tensor, _| Ok(x.shallow_clone()));
    assert!(!with(Layer::Custom { name: "id".into(), forward: id }));
}

/// A blob stack whose images do not match the input's is a named error, not a libtorch
/// panic, on every entry point.
#[test]
fn blob_of_the_wrong_size_is_a_named_error() {
    let vs = VarStore::new(Device::Cpu);
    let net = nets::mnist_cnn(&vs.root(), 3, 16).unwrap();
    let x = Tensor::randn([2, 3, 28, 28], F);
    for masks in [Tensor::ones([2, 27, 28], F), Tensor::ones([2, 28, 32], F), Tensor::ones([2, 5, 28, 28], F)] {
        let shape = format!("{:?}", masks.get(0).size());
        for opts in [CdOptions::reference(), CdOptions::symmetric()] {
            let e = net.cd_blobs(&x, &masks, &opts).unwrap_err();
            assert!(matches!(e, cdep::CdepError::MaskShape { .. }), "{e}");
            assert!(e.to_string().contains(&shape) && e.to_string().contains("[2, 3, 28, 28]"), "{e}");
            assert!(penalty::image_cdep(&net, &x, &masks, &opts).is_err());
        }
        assert!(net.cd(&x, &masks.get(0), &CdOptions::default()).is_err());
    }
}
