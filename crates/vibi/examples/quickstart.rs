//! VIBI on your own black box, without a config or a run folder.
//!
//! The black box here is a hand-written function (any `Fn(&Tensor) -> Tensor` returning
//! logits will do; a trained `tch` model too, through `vibi::blackbox::BlackBox`): it finds
//! the brightest 4×4 cell of a 28×28 noise image and answers which quadrant it is in. VIBI
//! trains an explainer that keeps k = 1 of the 49 cells and an approximator that must give
//! the black box's answer from that cell alone; the explainer should learn to point at the
//! bright patch.
//!
//! `cargo run -p vibi --example quickstart` (about 20 s of CPU time on the 2-core dev box).

use tch::{Device, Kind, Tensor};
use vibi::blackbox::{BlackBox, FnBlackBox};
use vibi::loss::CeScaling;
use vibi::metrics::{evaluate, EvalOptions};
use vibi::model::{Settings, Vibi};
use vibi::nets::{classifier, explainer, ClassifierArch, ExplainerArch};
use vibi::sampling::Temperature;

/// `n` images of N(0, 0.3²) noise with a +1 patch in one random cell of the 7×7 grid of
/// 4×4 cells; returns the images `[n, 1, 28, 28]` and the patch's cell `[n]`.
fn images(n: i64) -> (Tensor, Tensor) {
    let cell = Tensor::randint(49, [n], (Kind::Int64, Device::Cpu));
    let patch = Tensor::zeros([n, 49], (Kind::Float, Device::Cpu)).scatter_value(1, &cell.unsqueeze(1), 1.0);
    let patch = patch.view([n, 1, 7, 7]).repeat_interleave_self_int(4, 2, None).repeat_interleave_self_int(4, 3, None);
    (Tensor::randn([n, 1, 28, 28], (Kind::Float, Device::Cpu)) * 0.3 + patch, cell)
}

/// The user's black box: 4 classes, the quadrant (top/bottom × left/right, cell rows and
/// columns 0–3 vs 4–6) holding the brightest cell; logits are 10 × each quadrant's
/// brightest cell mean.
fn quadrant_logits(x: &Tensor) -> Tensor {
    let cells = x.avg_pool2d([4, 4], [4, 4], [0, 0], false, true, None::<i64>).view([-1, 7, 7]);
    let quadrant = |rows: (i64, i64), cols: (i64, i64)| {
        cells.narrow(1, rows.0, rows.1).narrow(2, cols.0, cols.1).flatten(1, 2).amax(&[1i64][..], false)
    };
    let (top, bottom, left, right) = ((0, 4), (4, 3), (0, 4), (4, 3));
    Tensor::stack(&[quadrant(top, left), quadrant(top, right), quadrant(bottom, left), quadrant(bottom, right)], 1)
        * 10.0
}

fn main() -> vibi::Result<()> {
    tch::manual_seed(0);
    let black_box = FnBlackBox(quadrant_logits);
    let (x, _) = images(2048);
    let (test_x, test_cell) = images(512);
    let probs = black_box.probabilities(&x);

    let settings = Settings {
        samples: 1,
        temperature: Temperature::Constant { value: 0.5 },
        ce_scaling: CeScaling::Mean,
        lr: 3e-3,
        ..Settings::reference(1, 0.01) // k = 1 chunk, β = 0.01
    };
    let mut vibi = Vibi::new(
        Device::Cpu,
        [1, 28, 28],
        Box::new(|p| explainer(p, ExplainerArch::SmallCnn, 1, (28, 28), 1)), // 4×4 chunks: F = 49
        Box::new(|p| classifier(p, ClassifierArch::SmallCnn, 1, (28, 28), 4)),
        settings,
    )?;
    for step in 0..64 {
        let idx = Tensor::randint(2048, [64], (Kind::Int64, Device::Cpu));
        let s = vibi.train_step(&x.index_select(0, &idx), &probs.index_select(0, &idx))?;
        if step % 16 == 0 {
            println!("step {step:3}: loss {:.3}, sampled accuracy {:.2}", s.loss, s.acc_sampled);
        }
    }

    let mask = vibi.explain(&test_x.narrow(0, 0, 3)); // [3, 49], one 1 per row
    for i in 0..3 {
        let patch = test_cell.int64_value(&[i]);
        println!("\nimage {i}: kept chunk = #, bright patch = P (both: @)");
        for r in 0..7 {
            let row: String = (0..7)
                .map(|c| {
                    let kept = mask.double_value(&[i, r * 7 + c]) > 0.5;
                    match (kept, r * 7 + c == patch) {
                        (true, true) => '@',
                        (true, false) => '#',
                        (false, true) => 'P',
                        (false, false) => '.',
                    }
                })
                .collect();
            println!("  {row}");
        }
    }
    let opts = EvalOptions {
        multishot_samples: 0,
        multishot_tau: 0.5,
        random_baseline: true,
        rationale: false,
        batch_size: 256,
    };
    let test_probs = black_box.probabilities(&test_x);
    let r = evaluate(&vibi, &black_box, &test_x, &test_probs, Some(&test_cell), &opts);
    println!(
        "\ntest top-1 fidelity {:.3} (random chunk: {:.3}); patch found in {:.0} % of images",
        r.fid_topk,
        r.fid_random.unwrap_or(f64::NAN),
        100.0 * r.hit_rate.unwrap_or(f64::NAN)
    );
    Ok(())
}
