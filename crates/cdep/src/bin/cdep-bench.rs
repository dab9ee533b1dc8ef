//! Seconds per training step of each method on the ColorMNIST network (random inputs,
//! so no data is needed), and the ratio to vanilla: `cargo run --release -p cdep --bin cdep-bench`.

use cdep::baselines::{eg, rrr};
use cdep::cd::CdOptions;
use cdep::{nets, penalty, Result};
use clap::Parser;
use rand::SeedableRng;
use std::time::Instant;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use xai_core::optim::Optimizer;

#[derive(Parser, Debug)]
#[command(about = "CDEP per-step cost on the ColorMNIST network")]
struct Args {
    #[arg(long, default_value_t = 64)]
    batch: i64,
    #[arg(long, default_value_t = 10)]
    steps: usize,
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// References per sample of the repo-style EG penalty (0 skips it; it is slow).
    #[arg(long, default_value_t = 50)]
    eg_k: i64,
}

fn main() -> std::process::ExitCode {
    xai_core::cli::main_with(|| {
        let args = Args::parse();
        xai_core::device::set_threads(args.threads);
        tch::manual_seed(0);
        let vs = VarStore::new(Device::Cpu);
        let net = nets::mnist_cnn(&vs.root(), 3, 500)?;
        let mut opt = xai_core::optim::Adam::new(&vs, 1e-3)?;
        let opts = (Kind::Float, Device::Cpu);
        let x = Tensor::randn([args.batch, 3, 28, 28], opts);
        let y = Tensor::randint(10, [args.batch], (Kind::Int64, Device::Cpu));
        let cd = CdOptions::symmetric();
        let blobs = |n: i64| Tensor::eye(784, opts).narrow(0, 100, n).view([n, 28, 28]);
        let f = |x: &Tensor| net.forward(x, false);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut time = |name: &str, step: &mut dyn FnMut() -> Result<Tensor>| -> Result<f64> {
            opt.zero_grad();
            step()?.backward(); // warm-up
            let t = Instant::now();
            for _ in 0..args.steps {
                opt.zero_grad();
                step()?.backward();
                opt.step();
            }
            let s = t.elapsed().as_secs_f64() / args.steps as f64;
            println!("{name:<28} {:>8.1} ms/step", s * 1e3);
            Ok(s)
        };
        let pred = || net.forward(&x, true).map(|l| l.log_softmax(-1, Kind::Float).nll_loss(&y));
        let vanilla = time("vanilla", &mut || pred())?;
        let mut rows = vec![];
        for n in [1i64, 4, 8] {
            let m = blobs(n);
            let s = time(&format!("cdep {n} blobs (stacked)"), &mut || {
                Ok(pred()? + penalty::image_cdep(&net, &x, &m, &cd)?)
            })?;
            rows.push((format!("cdep_{n}_stacked"), s));
        }
        let m = blobs(4);
        let s = time("cdep 4 blobs (separate)", &mut || {
            let mut parts = vec![pred()?];
            for i in 0..4 {
                parts.push(penalty::image(&net.cd(&x, &m.get(i), &cd)?));
            }
            Ok(Tensor::stack(&parts, 0).sum(Kind::Float))
        })?;
        rows.push(("cdep_4_separate".into(), s));
        let w = blobs(4).sum_dim_intlist(0, false, Kind::Float);
        let s = time("rrr", &mut || Ok(pred()? + rrr::penalty(&f, &x, &y, &w, rrr::RrrVariant::Repo)?))?;
        rows.push(("rrr".into(), s));
        let s = time("eg batched k=1", &mut || {
            let mut total = pred()?;
            eg::penalty_chunks(&f, &x, &y, &w, 1, eg::EgVariant::Batched, args.batch, &mut rng, &mut |p| {
                total = &total + p;
                Ok(())
            })?;
            Ok(total)
        })?;
        rows.push(("eg_batched_k1".into(), s));
        if args.eg_k > 0 {
            let k = args.eg_k;
            let s = time(&format!("eg repo k={k} (chunks of 8)"), &mut || {
                let mut parts = vec![pred()?];
                eg::penalty_chunks(&f, &x, &y, &w, k, eg::EgVariant::Repo, 8, &mut rng, &mut |p| {
                    p.backward();
                    parts.push(p.detach());
                    Ok(())
                })?;
                Ok(Tensor::stack(&parts, 0).sum(Kind::Float))
            })?;
            rows.push((format!("eg_repo_k{k}"), s));
        }
        println!("\nratio to vanilla ({:.1} ms/step, batch {}):", vanilla * 1e3, args.batch);
        for (name, s) in rows {
            println!("  {name:<20} {:>6.1}×", s / vanilla);
        }
        Ok(())
    })
}
