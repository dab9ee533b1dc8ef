//! `vibi-bench`: the cost of one VIBI training step in the configuration of
//! `configs/vibi/mnist_resnet4x_k4_b0.01.toml` (ResNet_4x explainer, resnet18 approximator,
//! k = 4, M = 4 samples, batch 64, MNIST-shaped random inputs), split into explainer
//! forward, sampling, approximator forward (masking included), backward and the Adam
//! updates; then whole `Vibi::train_step`s. Prints ms per part, images/s, page faults per
//! step and peak memory. `XAI_MALLOC_DEFAULT=1` keeps glibc's allocator defaults, the
//! state before `tune_allocator` (compare the two to see what it buys).
//! On CUDA every part ends in a device synchronisation so the split is honest (the
//! training loop itself does not synchronise).

use clap::Parser;
use std::time::Instant;
use tch::{Device, Kind, Tensor};
use vibi::loss::{information, sampled_ce};
use vibi::model::{Settings, Vibi};
use vibi::nets::{classifier, explainer, ClassifierArch, ExplainerArch};
use vibi::sampling::{gumbel, relaxed_khot_with_noise};
use xai_core::optim::{AdamConfig, Optimizer};

#[derive(Parser, Debug)]
#[command(name = "vibi-bench", about = "Speed of one VIBI step (MNIST ResNet_4x + resnet18, k=4, M=4, B=64)")]
struct Args {
    /// Timed steps (after the warm-up steps).
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 1)]
    warmup: usize,
    #[arg(long, default_value_t = 64)]
    batch: i64,
    /// libtorch intra-op threads (0: libtorch's default).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    #[arg(long, value_enum, default_value_t = xai_core::device::DeviceChoice::Cpu)]
    device: xai_core::device::DeviceChoice,
}

const PARTS: [&str; 5] = ["explainer forward", "sampling", "approximator forward", "backward", "optimiser"];

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.threads > 0 {
        xai_core::device::set_threads(args.threads);
    }
    let tuned = xai_core::device::tune_allocator();
    let device = args.device.resolve()?;
    let sync = || {
        if let Device::Cuda(i) = device {
            tch::Cuda::synchronize(i as i64);
        }
    };
    tch::manual_seed(0);
    let settings = Settings::reference(4, 0.01);
    let mut m = Vibi::new(
        device,
        [1, 28, 28],
        Box::new(|p| explainer(p, ExplainerArch::ResNet4x, 1, (28, 28), 1)),
        Box::new(|p| classifier(p, ClassifierArch::Resnet18, 1, (28, 28), 10)),
        settings.clone(),
    )?;
    m.set_step(300); // past the 200 warm-up steps: the explainer trains too
    let (pe, pa) = m.param_counts();
    println!(
        "device {}, batch {}, k = {}, M = {}; explainer {pe} params, approximator {pa}; allocator {}",
        xai_core::device::describe(device),
        args.batch,
        settings.k,
        settings.samples,
        if tuned { "tuned (xai_core::device::tune_allocator)" } else { "glibc defaults" }
    );
    let x = Tensor::randn([args.batch, 1, 28, 28], (Kind::Float, device));
    let probs = Tensor::randn([args.batch, 10], (Kind::Float, device)).softmax(-1, Kind::Float);
    let adam = AdamConfig::lr(settings.lr);
    let (mut oe, mut oa) = (adam.build(&m.explainer_vs)?, adam.build(&m.approximator_vs)?);
    let f = m.grid.num_chunks();
    let mut totals = [0.0f64; 5];
    for step in 0..args.warmup + args.steps {
        let mut t = [0.0f64; 5];
        let mut clock = Instant::now();
        let mut lap = |i: usize, clock: &mut Instant| {
            sync();
            t[i] = clock.elapsed().as_secs_f64();
            *clock = Instant::now();
        };
        let logits_z = m.chunk_logits_t(&x, true);
        lap(0, &mut clock);
        let noise = gumbel(&[args.batch, settings.samples, settings.k, f], device);
        let z = relaxed_khot_with_noise(&logits_z, 0.5, &noise);
        lap(1, &mut clock);
        let logits = m.approximate_t(&m.grid.mask_samples(&x, &z), true).reshape([args.batch, settings.samples, -1]);
        let loss =
            sampled_ce(&logits, &probs, settings.ce_scaling) + information(&logits_z, settings.kl, settings.k) * 0.01;
        lap(2, &mut clock);
        oe.zero_grad();
        oa.zero_grad();
        loss.backward();
        lap(3, &mut clock);
        oe.step();
        oa.step();
        lap(4, &mut clock);
        if step >= args.warmup {
            for (a, b) in totals.iter_mut().zip(t) {
                *a += b;
            }
        }
    }
    let n = args.steps.max(1) as f64;
    let step_s: f64 = totals.iter().sum::<f64>() / n;
    println!("{:<24} {:>10} {:>7}", "part", "ms/step", "share");
    for (name, s) in PARTS.iter().zip(totals) {
        println!("{name:<24} {:>10.1} {:>6.1}%", 1e3 * s / n, 100.0 * s / n / step_s);
    }
    println!("{:<24} {:>10.1}   ({:.1} images/s)", "sum of parts", 1e3 * step_s, args.batch as f64 / step_s);
    // Whole train_steps (one host read each, no per-part syncs).
    let faults = xai_core::run::minor_page_faults();
    let t = Instant::now();
    for _ in 0..args.steps {
        m.train_step(&x, &probs)?;
    }
    sync();
    let whole = t.elapsed().as_secs_f64() / n;
    println!("{:<24} {:>10.1}   ({:.1} images/s)", "Vibi::train_step", 1e3 * whole, args.batch as f64 / whole);
    if let (Some(a), Some(b)) = (faults, xai_core::run::minor_page_faults()) {
        println!("minor page faults per train_step: {:.0}", (b - a) as f64 / n);
    }
    match xai_core::run::peak_rss_bytes() {
        Some(b) => println!("peak RSS {:.0} MiB", b as f64 / (1024.0 * 1024.0)),
        None => println!("peak RSS unavailable on this OS"),
    }
    if let Device::Cuda(_) = device {
        println!("(CUDA: peak device memory is not reported by tch; see nvidia-smi)");
    }
    Ok(())
}
