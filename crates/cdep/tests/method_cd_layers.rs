//! Spec §9 properties 1–5 and 7: each layer rule is complete and behaves as specified.

use cdep::cd::activation::relu;
use cdep::cd::affine::{self, split_bias, BatchNormParams};
use cdep::cd::pool;
use cdep::cd::{BiasSplit, CdOptions, Decomp, Layer, Sequential};
use tch::{Device, Kind, Tensor};

const F: (Kind, Device) = (Kind::Float, Device::Cpu);

fn assert_close(a: &Tensor, b: &Tensor, what: &str) {
    assert_eq!(a.size(), b.size(), "{what}: shapes");
    let scale = b.abs().max().double_value(&[]).max(1.0);
    let err = (a - b).abs().max().double_value(&[]);
    assert!(err <= 1e-5 * scale, "{what}: max error {err} (scale {scale})");
}

/// Random 0/1 masks plus the all-ones and all-zeros extremes.
fn masks(shape: &[i64]) -> Vec<Tensor> {
    vec![Tensor::rand(shape, F).ge(0.5).to_kind(Kind::Float), Tensor::ones(shape, F), Tensor::zeros(shape, F)]
}

#[test]
fn linear_and_conv_rules_are_complete() {
    tch::manual_seed(1);
    let split = BiasSplit::SYMMETRIC;
    let x = Tensor::randn([4, 12], F);
    let (w, b) = (Tensor::randn([7, 12], F), Tensor::randn([7], F));
    let y = x.matmul(&w.tr()) + &b;
    for m in masks(&[12]) {
        let d = Decomp::from_mask(&x, &m).unwrap();
        assert_close(&affine::linear(&d, &w, Some(&b), split).unwrap().total(), &y, "linear");
    }
    let x = Tensor::randn([3, 2, 9, 9], F);
    let (w, b) = (Tensor::randn([5, 2, 3, 3], F), Tensor::randn([5], F));
    for stride in [1, 2] {
        for pad in [0, 2] {
            let y = x.conv2d(&w, Some(&b), [stride, stride], [pad, pad], [1, 1], 1);
            for m in masks(&[9, 9]) {
                let d = Decomp::from_mask(&x, &m).unwrap();
                let out = affine::conv2d(&d, &w, Some(&b), [stride; 2], [pad; 2], split).unwrap();
                assert_close(&out.total(), &y, &format!("conv stride {stride} pad {pad}"));
            }
        }
    }
}

#[test]
fn bias_split_halves_at_zero_and_follows_magnitudes() {
    let b = Tensor::from_slice(&[1.0f32, -2.0, 3.0]);
    let z = Tensor::zeros([1, 3], F);
    let d = split_bias(z.shallow_clone(), z.shallow_clone(), &b, BiasSplit::SYMMETRIC);
    assert_close(&d.rel, &(&b / 2.0).unsqueeze(0), "β' = b/2");
    assert_close(&d.irrel, &(&b / 2.0).unsqueeze(0), "γ' = b/2");
    assert_close(&d.total(), &b.unsqueeze(0), "sum = b");
    // The reference's ε-in-denominator form drops the bias there (why it is not default).
    let r = split_bias(z.shallow_clone(), z.shallow_clone(), &b, BiasSplit::Reference);
    assert!(r.total().abs().max().double_value(&[]) < 1e-6);
    let beta = Tensor::from_slice(&[0.5f32, -1.0, 2.0]).unsqueeze(0);
    let d = split_bias(beta.shallow_clone(), z, &b, BiasSplit::SYMMETRIC);
    assert!(d.irrel.abs().max().double_value(&[]) < 1e-6, "γ = 0 → γ' ≈ 0");
    assert_close(&d.rel, &(beta + b.unsqueeze(0)), "β' takes the whole bias");
}

#[test]
fn relu_rule() {
    tch::manual_seed(2);
    let d = Decomp::new(Tensor::randn([64], F), Tensor::randn([64], F));
    let out = relu(&d);
    assert_close(&out.total(), &d.total().relu(), "β'+γ' = relu(β+γ)");
    assert_close(&out.rel, &d.rel.relu(), "β' = relu(β)");
    assert!(out.irrel.min().double_value(&[]) < 0.0, "γ' must be allowed to go negative");
}

#[test]
fn max_pool_reads_both_parts_at_the_winner_of_the_sum() {
    tch::manual_seed(3);
    let d = Decomp::new(Tensor::randn([2, 3, 8, 8], F), Tensor::randn([2, 3, 8, 8], F));
    let out = pool::max_pool2d(&d, [2, 2], [2, 2], [0, 0]).unwrap();
    assert_close(&out.total(), &d.total().max_pool2d([2, 2], [2, 2], [0, 0], [1, 1], false), "complete");
    // One window: argmax(β) = 0 but argmax(β+γ) = 3.
    let rel = Tensor::from_slice(&[5.0f32, 0.0, 0.0, 1.0]).view([1, 1, 2, 2]);
    let irrel = Tensor::from_slice(&[0.0f32, 0.0, 0.0, 10.0]).view([1, 1, 2, 2]);
    let out = pool::max_pool2d(&Decomp::new(rel, irrel), [2, 2], [2, 2], [0, 0]).unwrap();
    assert_eq!(out.rel.double_value(&[0, 0, 0, 0]), 1.0);
    assert_eq!(out.irrel.double_value(&[0, 0, 0, 0]), 10.0);
}

#[test]
fn linear_pools_and_flatten_act_on_each_part() {
    tch::manual_seed(4);
    let (r, i) = (Tensor::randn([2, 3, 9, 9], F), Tensor::randn([2, 3, 9, 9], F));
    let d = Decomp::new(r.shallow_clone(), i.shallow_clone());
    let a = pool::adaptive_avg_pool2d(&d, [7, 7]).unwrap();
    assert_close(&a.rel, &r.adaptive_avg_pool2d([7, 7]), "adaptive 9→7 rel");
    assert_close(&a.irrel, &i.adaptive_avg_pool2d([7, 7]), "adaptive 9→7 irrel");
    let p = pool::avg_pool2d(&d, [3, 3], [2, 2], [1, 1]).unwrap();
    assert_close(&p.rel, &r.avg_pool2d([3, 3], [2, 2], [1, 1], false, true, None::<i64>), "avg pool");
    let f = pool::flatten(&d);
    assert_eq!(f.rel.size(), [2, 243]);
    assert_close(&f.irrel, &i.flatten(1, -1), "flatten");
}

#[test]
fn batch_norm_rule_is_complete() {
    tch::manual_seed(5);
    let x = Tensor::randn([4, 3, 5, 5], F);
    let (w, b) = (Tensor::randn([3], F), Tensor::randn([3], F));
    let (mean, var) = (Tensor::randn([3], F), Tensor::rand([3], F) + 0.5);
    let y = x.batch_norm(Some(&w), Some(&b), Some(&mean), Some(&var), false, 0.0, 1e-5, false);
    let p = BatchNormParams { weight: Some(&w), bias: Some(&b), running_mean: &mean, running_var: &var, eps: 1e-5 };
    for m in masks(&[5, 5]) {
        let d = Decomp::from_mask(&x, &m).unwrap();
        assert_close(&affine::batch_norm(&d, &p, BiasSplit::SYMMETRIC).unwrap().total(), &y, "batch norm");
    }
}

#[test]
fn bias_free_linear_net_decomposes_exactly_into_the_masked_input() {
    tch::manual_seed(6);
    let net = Sequential::new(vec![
        Layer::linear(Tensor::randn([8, 6], F), None),
        Layer::linear(Tensor::randn([3, 8], F), None),
    ]);
    let x = Tensor::randn([5, 6], F);
    for m in masks(&[6]) {
        let d = net.cd(&x, &m, &CdOptions::default()).unwrap();
        let expect = net.forward(&(&x * &m), false).unwrap();
        assert_close(&d.rel, &expect, "β = net(S⊙x)");
    }
}
