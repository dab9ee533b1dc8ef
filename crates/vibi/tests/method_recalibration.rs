//! BatchNorm recalibration of the approximator (`Vibi::recalibrate_approximator_bn`). In its
//! own test binary: it draws from libtorch's global RNG for seconds, which would race the
//! seeded-reproducibility tests of `method_properties` running on other threads.

use tch::{Device, Kind, Tensor};
use vibi::nets::{classifier, explainer, ClassifierArch, ExplainerArch};
use vibi::sampling::Temperature;

const CPU: Device = Device::Cpu;

#[test]
fn recalibrated_batchnorm_statistics_are_the_top_k_inputs_batch_statistics() {
    use vibi::model::{Settings, Vibi};
    tch::manual_seed(21);
    let settings = Settings { temperature: Temperature::Constant { value: 0.5 }, ..Settings::reference(4, 0.01) };
    let mut vibi = Vibi::new(
        CPU,
        [1, 28, 28],
        Box::new(|p| explainer(p, ExplainerArch::SmallCnn, 1, (28, 28), 1)),
        Box::new(|p| classifier(p, ClassifierArch::Resnet18, 1, (28, 28), 10)),
        settings,
    )
    .unwrap();
    let x = Tensor::randn([64, 1, 28, 28], (Kind::Float, CPU));
    let t = vibi.grid.mask(&x, &vibi.explain(&x));
    let running = |v: &Vibi| -> Vec<Tensor> {
        let mut named: Vec<(String, Tensor)> = v
            .approximator_vs
            .variables()
            .into_iter()
            .filter(|(n, _)| n.ends_with("running_mean") || n.ends_with("running_var"))
            .collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named.into_iter().map(|(_, t)| t.copy()).collect()
    };
    // Running statistics far from these inputs': a few train-mode passes on other data.
    tch::no_grad(|| {
        for _ in 0..5 {
            let _ = vibi.approximate_t(&(Tensor::randn([64, 1, 28, 28], (Kind::Float, CPU)) * 4.0 + 3.0), true);
        }
    });
    let batch_stats_logits = tch::no_grad(|| vibi.approximate_t(&t, true));
    let gap = |v: &Vibi| {
        let eval = tch::no_grad(|| v.approximate_t(&t, false));
        (eval - &batch_stats_logits).abs().max().double_value(&[])
    };
    let scale = batch_stats_logits.abs().max().double_value(&[]);
    let before = gap(&vibi);
    assert!(before > 0.2 * scale, "the set-up should put eval mode off: gap {before}, scale {scale}");
    // One batch: eval mode with the recomputed statistics reproduces batch-statistics mode
    // (up to the unbiased variance the running estimate keeps).
    let n = vibi.recalibrate_approximator_bn(&x, 64, 0.1).unwrap();
    assert!(n >= 2 * 17, "resnet18 has 17+ BatchNorm layers; {n} statistics recomputed");
    let after = gap(&vibi);
    assert!(after < 0.05 * scale, "gap after {after} (before {before}), scale {scale}");
    // Two batches: the equal-weight average of each batch's statistics.
    let (a, b) = (x.narrow(0, 0, 32), x.narrow(0, 32, 32));
    vibi.recalibrate_approximator_bn(&a, 32, 0.1).unwrap();
    let sa = running(&vibi);
    vibi.recalibrate_approximator_bn(&b, 32, 0.1).unwrap();
    let sb = running(&vibi);
    vibi.recalibrate_approximator_bn(&x, 32, 0.1).unwrap();
    for ((ab, a), b) in running(&vibi).iter().zip(&sa).zip(&sb) {
        let want = (a + b) / 2.0;
        assert!(ab.allclose(&want, 1e-4, 1e-5, false), "max diff {}", (ab - want).abs().max().double_value(&[]));
    }
    // Bad arguments are errors, not panics.
    assert!(vibi.recalibrate_approximator_bn(&x, 1, 0.1).is_err());
    assert!(vibi.recalibrate_approximator_bn(&x, 128, 0.1).is_err());
    assert!(vibi.recalibrate_approximator_bn(&x, 32, 0.0).is_err());
}
