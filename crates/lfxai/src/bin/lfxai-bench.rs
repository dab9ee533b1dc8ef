//! `lfxai-bench`: throughput and peak memory of LFXAI's hot paths on the MNIST autoencoder
//! (d = 4), printed beside the reference figures measured with the official PyTorch code on
//! the project machine (MNIST AE epoch with batch 300: 17–21 s; label-free IG on 1000 test
//! images, 50 steps, batch 300: 7–9 s). Uses the real MNIST files when present, else random
//! images of the same shape (the timings do not depend on pixel values).
//!
//! Build with `--release`: `cargo run -p lfxai --release --bin lfxai-bench`.

use clap::Parser;
use lfxai::examples::{
    influence_ihvps, influence_ihvps_shared, influence_scores, per_example_gradients, tracin_scores,
};
use lfxai::features::{integrated_gradients, label_free_attribution};
use lfxai::nets::{Autoencoder, MnistAutoencoder, Pretext};
use lfxai::{FeatureMethod, LissaParams};
use std::time::Instant;
use tch::{Device, Kind, Tensor};
use xai_core::device::{self, DeviceChoice};
use xai_core::optim::{AdamConfig, Optimizer};

#[derive(Parser, Debug)]
#[command(name = "lfxai-bench", about = "Throughput and peak memory of LFXAI's hot paths (MNIST AE, d = 4)")]
struct Args {
    #[arg(long, value_enum, default_value_t = DeviceChoice::Cpu)]
    device: DeviceChoice,
    /// libtorch intra-op threads (0: libtorch's default). One by default: on a shared 2-core
    /// box two threads per process oversubscribe the cores and run several times slower.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Training images of the timed epoch (60000 = the full MNIST epoch of the reference figure).
    #[arg(long, default_value_t = 60000)]
    train_images: i64,
    /// Batch size of training and attribution (the reference figures use 300).
    #[arg(long, default_value_t = 300)]
    batch: i64,
    /// Test images explained by IG and GradientShap.
    #[arg(long, default_value_t = 1000)]
    explain_images: i64,
    #[arg(long, default_value_t = 50)]
    ig_steps: usize,
    /// Training × test examples of the TracIn and IF timings (scores for every pair).
    #[arg(long, default_value_t = 200)]
    pair_train: i64,
    #[arg(long, default_value_t = 200)]
    pair_test: i64,
    /// TracIn checkpoints (each costs one per-example gradient per train and test image).
    #[arg(long, default_value_t = 1)]
    checkpoints: usize,
    /// LiSSA depth and HVP batch of the IF timing, and the train examples it runs on.
    #[arg(long, default_value_t = 10)]
    if_depth: usize,
    #[arg(long, default_value_t = 300)]
    if_batch: i64,
    #[arg(long, default_value_t = 20)]
    if_train: i64,
    /// Skip the AE epoch (the longest measurement).
    #[arg(long)]
    skip_train: bool,
}

fn sync(dev: Device) {
    if let Device::Cuda(i) = dev {
        tch::Cuda::synchronize(i as i64);
    }
}

fn timed<T>(dev: Device, f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, f64)> {
    sync(dev);
    let t = Instant::now();
    let out = f()?;
    sync(dev);
    Ok((out, t.elapsed().as_secs_f64()))
}

/// MNIST images `[N, 1, 28, 28]` (train, test), real when the files are there.
fn images(dev: Device, n_train: i64, n_test: i64) -> (Tensor, Tensor, &'static str) {
    let root = xai_core::data::data_root(None);
    match xai_core::data::mnist::load(&root) {
        Ok(m) => (
            m.train_images.narrow(0, 0, n_train.min(m.train_images.size()[0])).to(dev),
            m.test_images.narrow(0, 0, n_test.min(m.test_images.size()[0])).to(dev),
            "MNIST",
        ),
        Err(e) => {
            eprintln!("MNIST not loaded ({e}); timing on random images of the same shape");
            (
                Tensor::rand([n_train, 1, 28, 28], (Kind::Float, dev)),
                Tensor::rand([n_test, 1, 28, 28], (Kind::Float, dev)),
                "random MNIST-shaped images",
            )
        }
    }
}

fn explain_all(
    ae: &MnistAutoencoder,
    x: &Tensor,
    batch: i64,
    method: impl Fn(&dyn Fn(&Tensor) -> Tensor, &Tensor) -> lfxai::Result<Tensor>,
) -> anyhow::Result<f64> {
    let encoder = |t: &Tensor| ae.encode(t, false);
    let n = x.size()[0];
    let mut checksum = 0.0;
    for start in (0..n).step_by(batch as usize) {
        let a = method(&encoder, &x.narrow(0, start, batch.min(n - start)))?;
        checksum += a.abs().sum(Kind::Double).double_value(&[]);
    }
    Ok(checksum)
}

fn main() -> std::process::ExitCode {
    xai_core::cli::main_with(|| {
        let args = Args::parse();
        device::set_threads(args.threads);
        let dev = args.device.resolve()?;
        if args.batch < 1 || args.explain_images < 1 || args.pair_train < 1 || args.pair_test < 1 || args.if_train < 1 {
            anyhow::bail!("--batch, --explain-images, --pair-train, --pair-test and --if-train must be positive");
        }
        let _rng = device::seed_everything(0);
        let n_test = args.explain_images.max(args.pair_test);
        let (train_x, test_x, source) = images(dev, args.train_images.max(args.pair_train), n_test);
        println!("# lfxai-bench on {} ({source}), MNIST AE d = 4\n", device::describe(dev));
        println!("| workload | ours | images/s | reference (PyTorch, same machine) | ours / reference |");
        println!("|---|---:|---:|---:|---:|");
        let ae = MnistAutoencoder::new(dev, 4)?;

        if !args.skip_train {
            let pretext = Pretext::Denoising { noise_std: 0.3 };
            let mut opt = AdamConfig::lr(1e-3).weight_decay(1e-5).build(&ae.vs)?;
            let n = train_x.size()[0];
            let (_, secs) = timed(dev, || {
                // Unshuffled contiguous batches (as the reference's MNIST loaders): views, no copies.
                for start in (0..n).step_by(args.batch as usize) {
                    let xb = train_x.narrow(0, start, args.batch.min(n - start));
                    let loss = ae.loss(&pretext.apply(&xb), &xb, true);
                    opt.backward_step(&loss);
                }
                Ok(())
            })?;
            let full = secs * 60000.0 / n as f64;
            println!(
                "| AE training epoch ({n} images, batch {}) | {secs:.2} s | {:.0} | 17–21 s (60000) | {:.2}–{:.2} |",
                args.batch,
                n as f64 / secs,
                full / 21.0,
                full / 17.0
            );
            let (_, secs) =
                timed(dev, || Ok(lfxai::experiments::train::heldout_loss(&ae, pretext, &test_x, args.batch)))?;
            println!(
                "| held-out loss ({} images, batch {}) | {secs:.2} s | {:.0} | – | – |",
                test_x.size()[0],
                args.batch,
                test_x.size()[0] as f64 / secs
            );
        }

        let xe = test_x.narrow(0, 0, args.explain_images.min(test_x.size()[0]));
        let ne = xe.size()[0];
        let zero = Tensor::zeros([1, 1, 28, 28], (Kind::Float, dev));
        let steps = args.ig_steps;
        let (_, secs) =
            timed(dev, || explain_all(&ae, &xe, args.batch, |f, x| integrated_gradients(f, x, &zero, steps)))?;
        let full = secs * 1000.0 / ne as f64;
        println!(
            "| label-free IG ({ne} images, {steps} Gauss–Legendre steps, batch {}) | {secs:.2} s | {:.0} | 7–9 s (1000, 50 steps) | {:.2}–{:.2} |",
            args.batch,
            ne as f64 / secs,
            full / 9.0,
            full / 7.0
        );
        let gs = FeatureMethod::from_name("gradient_shap")?;
        let (_, secs) =
            timed(dev, || explain_all(&ae, &xe, args.batch, |f, x| label_free_attribution(f, x, &zero, &gs)))?;
        println!(
            "| label-free GradientShap ({ne} images, 5 samples, batch {}) | {secs:.2} s | {:.0} | – | – |",
            args.batch,
            ne as f64 / secs
        );
        let sal = FeatureMethod::Saliency;
        let (_, secs) =
            timed(dev, || explain_all(&ae, &xe, args.batch, |f, x| label_free_attribution(f, x, &zero, &sal)))?;
        println!("| label-free Saliency ({ne} images) | {secs:.2} s | {:.0} | – | – |", ne as f64 / secs);

        // Example importance: explanations in eval mode (the corrected default).
        let (nt, nq) = (args.pair_train, args.pair_test);
        let xtr = train_x.narrow(0, 0, nt);
        let xq = test_x.narrow(0, 0, nq);
        let params = ae.theta_r();
        let loss = |b: &Tensor| ae.loss(b, b, false);
        let pairs = (nt * nq) as f64;
        let (_, secs) = timed(dev, || {
            let mut per_ckpt = vec![];
            for _ in 0..args.checkpoints {
                per_ckpt
                    .push((per_example_gradients(&loss, &params, &xq)?, per_example_gradients(&loss, &params, &xtr)?));
            }
            Ok(tracin_scores(&per_ckpt)?)
        })?;
        let grads = (nt + nq) as f64 * args.checkpoints as f64;
        println!(
            "| TracIn ({nt} train × {nq} test, {} checkpoint(s)) | {secs:.2} s | {:.0} grads/s | – | {:.1} µs/pair, {:.2} ms/gradient |",
            args.checkpoints,
            grads / secs,
            secs / pairs * 1e6,
            secs / grads * 1e3
        );
        let n_if = args.if_train.min(nt);
        let lissa = LissaParams { depth: args.if_depth, n_train: n_if as usize, ..Default::default() };
        let n_all = train_x.size()[0];
        let draw = || train_x.index_select(0, &Tensor::randint(n_all, [args.if_batch], (Kind::Int64, dev)));
        let xif = xtr.narrow(0, 0, n_if);
        let gq = per_example_gradients(&loss, &params, &xq)?;
        for shared in [false, true] {
            let (_, secs) = timed(dev, || {
                let g = per_example_gradients(&loss, &params, &xif)?;
                let ihvp = if shared {
                    influence_ihvps_shared(&loss, &params, &g, |_| draw(), &lissa)?
                } else {
                    influence_ihvps(&loss, &params, &g, |_, _| draw(), &lissa)?
                };
                Ok(influence_scores(&gq, &ihvp))
            })?;
            let per_train = secs / n_if as f64;
            println!(
                "| IF, LiSSA depth {} batch {} ({} HVP batches; {n_if} train × {nq} test) | {secs:.2} s | – | – | {:.1} µs/pair, {:.2} s per train example; linear extrapolation to 1000 train × depth 100: ≈ {:.0} s |",
                args.if_depth,
                args.if_batch,
                if shared { "shared" } else { "independent" },
                secs / (n_if * nq) as f64 * 1e6,
                per_train,
                per_train * 1000.0 * 100.0 / args.if_depth.max(1) as f64,
            );
        }
        match xai_core::run::peak_rss_bytes() {
            Some(b) => println!("\npeak RSS {:.0} MiB", b as f64 / 1048576.0),
            None => println!("\npeak RSS unknown on this platform"),
        }
        Ok(())
    })
}
