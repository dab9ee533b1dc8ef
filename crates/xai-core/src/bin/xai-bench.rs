//! Throughput and peak memory of the core's hot paths, on synthetic MNIST-shaped data so
//! it needs no dataset: CNN training steps, Integrated Gradients, GradientShap.

use clap::Parser;
use std::time::Instant;
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Kind, Tensor};
use xai_core::attribution::{Attribution, GradientShap, IntegratedGradients, Target};
use xai_core::device::{self, DeviceChoice};

#[derive(Parser)]
#[command(about = "Measure training and attribution throughput (images/s) and peak memory of xai-core")]
struct Cli {
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// libtorch intra-op threads (0: libtorch's default).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// Seconds to spend on each measurement (after one warm-up iteration).
    #[arg(long, default_value_t = 3.0)]
    seconds: f64,
}

/// Repeats `step` for about `seconds`, returning items per second.
fn measure(seconds: f64, items_per_step: usize, dev: tch::Device, mut step: impl FnMut()) -> f64 {
    step();
    sync(dev);
    let t = Instant::now();
    let mut n = 0usize;
    while t.elapsed().as_secs_f64() < seconds {
        step();
        n += 1;
    }
    sync(dev);
    (n * items_per_step) as f64 / t.elapsed().as_secs_f64()
}

fn sync(dev: tch::Device) {
    if let tch::Device::Cuda(i) = dev {
        tch::Cuda::synchronize(i as i64);
    }
}

fn main() -> std::process::ExitCode {
    xai_core::cli::main_with(|| {
        let cli = Cli::parse();
        device::set_threads(cli.threads);
        let dev = cli.device.resolve()?;
        let _rng = device::seed_everything(0);
        let vs = nn::VarStore::new(dev);
        let model = xai_core::nn::mnist_cnn(vs.root());
        let mut opt = nn::Adam::default().build(&vs, 1e-3)?;
        let x = Tensor::rand([64, 1, 28, 28], (Kind::Float, dev));
        let y = Tensor::randint(10, [64], (Kind::Int64, dev));
        let mut rows = vec![];

        let train = measure(cli.seconds, 64, dev, || {
            let loss = model.forward(&x).cross_entropy_for_logits(&y);
            opt.backward_step(&loss);
        });
        rows.push(("CNN training step, batch 64", train));

        let f = |t: &Tensor| model.forward(t);
        let xs = x.narrow(0, 0, 16);
        let ig = IntegratedGradients::new(50);
        let ig_rate = measure(cli.seconds, 16, dev, || {
            let _ = ig.attribute(&f, &xs, &Target::Index(0)).expect("valid inputs");
        });
        rows.push(("Integrated Gradients, 50 steps", ig_rate));

        let gs = GradientShap { baselines: x.shallow_clone(), n_samples: 20, noise_stdev: 0.1 };
        let gs_rate = measure(cli.seconds, 16, dev, || {
            let _ = gs.attribute(&f, &xs, &Target::Index(0)).expect("valid inputs");
        });
        rows.push(("GradientShap, 20 samples", gs_rate));

        println!("## xai-core bench on {}\n", device::describe(dev));
        println!("| workload | images/s |\n|---|---:|");
        for (name, rate) in rows {
            println!("| {name} | {rate:.1} |");
        }
        let peak = xai_core::run::peak_rss_bytes().map(|b| format!("{:.0} MiB", b as f64 / 1048576.0));
        println!("\npeak RSS: {}", peak.unwrap_or_else(|| "n/a".into()));
        if let tch::Device::Cuda(_) = dev {
            println!("(GPU memory is not tracked by this bench)");
        }
        Ok(())
    })
}
