//! Seconds per training step of CDEP on the paper's MNIST networks (random inputs, so no
//! data is needed), beside the official code's times measured on this machine (issue 12),
//! and optionally of every method with the ratio to vanilla:
//! `cargo run --release -p cdep --bin cdep-bench -- --threads 2`.
//!
//! A step is what `cdep::train` does per batch: on these dropout-free networks one CD pass
//! of the blobs whose logits also give the prediction loss, one backward of
//! `loss + λ·penalty` (columns "cd+penalty" and "cd backward"), the optimiser step. With
//! `--two-pass`, the step as it was before that sharing: forward in train mode and the
//! prediction loss, its backward, the blobs' CD and penalty, `λ ×` its backward.
//! Every phase is timed by wall clock (the CPU backend runs synchronously), every step on
//! its own; scenarios take turns round by round, so a load spike from other processes
//! hits them alike. Min and median are over all timed steps.

use cdep::baselines::{eg, rrr};
use cdep::blobs::Blobs;
use cdep::cd::{CdOptions, Sequential};
use cdep::{nets, penalty, Result};
use clap::Parser;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::time::Instant;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use xai_core::optim::{AdamConfig, Optimizer};

#[derive(Parser, Debug)]
#[command(about = "CDEP per-step cost on the MNIST networks, beside the official code's")]
struct Args {
    /// Timed steps per scenario and round.
    #[arg(long, default_value_t = 3)]
    steps: usize,
    /// Rounds over all scenarios (each starts with one untimed warm-up step).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// libtorch intra-op threads (0: libtorch's default).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// ColorMNIST batch (the paper's: 256).
    #[arg(long, default_value_t = 256)]
    color_batch: i64,
    /// ColorMNIST pixel blobs per batch (the paper's: 8).
    #[arg(long, default_value_t = 8)]
    color_blobs: usize,
    /// DecoyMNIST batch (the paper's: 64).
    #[arg(long, default_value_t = 64)]
    decoy_batch: i64,
    /// Time the two-pass step (a separate training forward and backward before the CD
    /// pass and its backward) instead of the shared pass.
    #[arg(long)]
    two_pass: bool,
    /// Only the scenarios whose name contains this (e.g. `colormnist cdep`).
    #[arg(long)]
    only: Option<String>,
    /// Also time the other methods on the ColorMNIST network (ratio to vanilla).
    #[arg(long)]
    methods: bool,
    /// Batch of the `--methods` table.
    #[arg(long, default_value_t = 64)]
    methods_batch: i64,
    /// References per sample of the repo-style EG penalty in `--methods` (0 skips it; slow).
    #[arg(long, default_value_t = 0)]
    eg_k: i64,
}

/// Seconds of each phase of one step.
#[derive(Debug, Clone, Copy, Default)]
struct Phases {
    forward: f64,
    backward: f64,
    cd: f64,
    cd_backward: f64,
    optim: f64,
    /// CPU seconds of all the process's threads over the step: less sensitive than wall
    /// time to other processes sharing the cores.
    cpu: f64,
}

impl Phases {
    fn total(&self) -> f64 {
        self.forward + self.backward + self.cd + self.cd_backward + self.optim
    }
}

/// One training setup: a network, its optimiser, a batch and (for CDEP) its blobs.
struct Scenario {
    name: String,
    /// The official code's per-batch seconds (min, max) and the target, when known.
    reference: Option<(f64, f64, f64)>,
    net: Sequential,
    _vs: VarStore,
    opt: xai_core::optim::Adam,
    x: Tensor,
    y: Tensor,
    blobs: Option<Blobs>,
    cd: CdOptions,
    lambda: f64,
    rng: ChaCha8Rng,
    two_pass: bool,
    steps: Vec<Phases>,
    peak_mb: f64,
}

impl Scenario {
    fn step(&mut self) -> Result<Phases> {
        let mut p = Phases::default();
        let cpu0 = cpu_seconds();
        let mut t = Instant::now();
        let mut lap = |slot: &mut f64| {
            *slot = t.elapsed().as_secs_f64();
            t = Instant::now();
        };
        self.opt.zero_grad();
        match &self.blobs {
            Some(blobs) if !self.two_pass => {
                let masks = blobs.draw(&mut self.rng, Device::Cpu);
                let (pen, logits) = penalty::image_cdep_with_logits(&self.net, &self.x, &masks, &self.cd)?;
                let loss = logits.log_softmax(-1, Kind::Float).nll_loss(&self.y);
                lap(&mut p.cd);
                (loss + pen * self.lambda).f_backward()?;
                lap(&mut p.cd_backward);
                self.opt.step();
                lap(&mut p.optim);
                p.cpu = cpu_seconds() - cpu0;
                return Ok(p);
            }
            _ => {}
        }
        let loss = self.net.forward(&self.x, true)?.log_softmax(-1, Kind::Float).nll_loss(&self.y);
        lap(&mut p.forward);
        loss.f_backward()?;
        lap(&mut p.backward);
        if let Some(blobs) = &self.blobs {
            let masks = blobs.draw(&mut self.rng, Device::Cpu);
            let pen = penalty::image_cdep(&self.net, &self.x, &masks, &self.cd)?;
            lap(&mut p.cd);
            (pen * self.lambda).f_backward()?;
            lap(&mut p.cd_backward);
        }
        self.opt.step();
        lap(&mut p.optim);
        p.cpu = cpu_seconds() - cpu0;
        Ok(p)
    }
}

/// CPU time of every thread of this process so far (`/proc/self/task/*/schedstat`, in ns;
/// NaN off Linux). Threads that exited are not counted, libtorch's pool threads live on.
fn cpu_seconds() -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return f64::NAN };
    let ns: u64 = tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum();
    ns as f64 * 1e-9
}

fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mb() -> f64 {
    xai_core::run::peak_rss_bytes().map(|b| b as f64 / (1024.0 * 1024.0)).unwrap_or(f64::NAN)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

/// Min and median of one phase over a scenario's steps.
fn stats(steps: &[Phases], f: impl Fn(&Phases) -> f64) -> (f64, f64) {
    let mut v: Vec<f64> = steps.iter().map(f).collect();
    let m = median(&mut v);
    (v.first().copied().unwrap_or(f64::NAN), m)
}

#[allow(clippy::too_many_arguments)]
fn scenario(
    name: &str,
    in_ch: i64,
    hidden: i64,
    batch: i64,
    weight_decay: f64,
    blobs: Option<Blobs>,
    cd: CdOptions,
    lambda: f64,
    reference: Option<(f64, f64, f64)>,
    two_pass: bool,
) -> Result<Scenario> {
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let net = nets::mnist_cnn(&vs.root(), in_ch, hidden)?;
    let opt = AdamConfig::lr(1e-3).weight_decay(weight_decay).build(&vs)?;
    let f = (Kind::Float, Device::Cpu);
    Ok(Scenario {
        name: name.into(),
        reference,
        net,
        _vs: vs,
        opt,
        x: Tensor::randn([batch, in_ch, 28, 28], f),
        y: Tensor::randint(10, [batch], (Kind::Int64, Device::Cpu)),
        blobs,
        cd,
        lambda,
        rng: ChaCha8Rng::seed_from_u64(0),
        two_pass,
        steps: vec![],
        peak_mb: 0.0,
    })
}

fn cdep_table(args: &Args) -> Result<()> {
    let pixels = || Blobs::Pixels { cdf: (1..=784).map(f64::from).collect(), h: 28, w: 28, n: args.color_blobs };
    let corners = || Blobs::Fixed(xai_core::data::decoy_mnist::blob_mask().to_kind(Kind::Float).unsqueeze(0));
    // Issue 12's figures (official code, same libtorch kernels, 2 threads) and targets.
    let color_ref = Some((2.06, 2.28, 1.03));
    let decoy_ref = Some((0.089, 0.089, 0.045));
    let (cb, db, tp) = (args.color_batch, args.decoy_batch, args.two_pass);
    let mut all = vec![
        scenario("colormnist vanilla", 3, 500, cb, 1e-3, None, CdOptions::symmetric(), 0.0, None, tp)?,
        scenario(
            "colormnist cdep symmetric",
            3,
            500,
            cb,
            1e-3,
            Some(pixels()),
            CdOptions::symmetric(),
            1000.0,
            color_ref,
            tp,
        )?,
        scenario(
            "colormnist cdep reference",
            3,
            500,
            cb,
            1e-3,
            Some(pixels()),
            CdOptions::reference(),
            1000.0,
            color_ref,
            tp,
        )?,
        scenario("decoymnist vanilla", 1, 256, db, 1e-4, None, CdOptions::symmetric(), 0.0, None, tp)?,
        scenario(
            "decoymnist cdep symmetric",
            1,
            256,
            db,
            1e-4,
            Some(corners()),
            CdOptions::symmetric(),
            1000.0,
            decoy_ref,
            tp,
        )?,
        scenario(
            "decoymnist cdep reference",
            1,
            256,
            db,
            1e-4,
            Some(corners()),
            CdOptions::reference(),
            1000.0,
            decoy_ref,
            tp,
        )?,
    ];
    if let Some(only) = &args.only {
        all.retain(|s| s.name.contains(only.as_str()));
    }
    for _ in 0..args.rounds {
        for s in all.iter_mut() {
            reset_peak_rss();
            s.step()?; // warm-up: first-touch pages, kernel selection
            for _ in 0..args.steps {
                let p = s.step()?;
                s.steps.push(p);
            }
            s.peak_mb = s.peak_mb.max(peak_rss_mb());
        }
    }
    println!(
        "per training step ({}), {} threads, {} rounds × {} steps (min / median seconds):\n",
        if tp { "two passes" } else { "CDEP: one shared CD pass" },
        args.threads,
        args.rounds,
        args.steps
    );
    println!(
        "{:<27} {:>6} {:>15} {:>15} {:>15} {:>15} {:>15} {:>15} {:>15} {:>8} {:>8}",
        "scenario",
        "batch",
        "step",
        "forward",
        "backward",
        "cd+penalty",
        "cd backward",
        "optimiser",
        "cpu s",
        "img/s",
        "peak MB"
    );
    let cell = |(a, b): (f64, f64)| format!("{a:.4}/{b:.4}");
    for s in &all {
        let step = stats(&s.steps, Phases::total);
        println!(
            "{:<27} {:>6} {:>15} {:>15} {:>15} {:>15} {:>15} {:>15} {:>15} {:>8.0} {:>8.0}",
            s.name,
            s.x.size()[0],
            cell(step),
            cell(stats(&s.steps, |p| p.forward)),
            cell(stats(&s.steps, |p| p.backward)),
            cell(stats(&s.steps, |p| p.cd)),
            cell(stats(&s.steps, |p| p.cd_backward)),
            cell(stats(&s.steps, |p| p.optim)),
            cell(stats(&s.steps, |p| p.cpu)),
            s.x.size()[0] as f64 / step.1,
            s.peak_mb,
        );
    }
    println!("\nagainst the official code (issue 12: same machine, same libtorch kernels, 2 threads):");
    for (i, s) in all.iter().enumerate() {
        let Some((lo, hi, target)) = s.reference else { continue };
        let (min, med) = stats(&s.steps, Phases::total);
        // The vanilla scenario of the same network is the entry just before the CDEP ones.
        let vanilla = all[..i].iter().rev().find(|v| v.blobs.is_none()).map(|v| stats(&v.steps, Phases::total).1);
        println!(
            "  {:<27} ours {min:.3}/{med:.3} s, official {lo:.3}–{hi:.3} s: {:.2}× of the official's (median / mid-range), target ≤ {target:.3} s ({}), {:.1}× our vanilla",
            s.name,
            med / (0.5 * (lo + hi)),
            if med <= target { "met" } else { "not met" },
            vanilla.map(|v| med / v).unwrap_or(f64::NAN),
        );
    }
    Ok(())
}

/// The older table: each method's step on the ColorMNIST network and its ratio to vanilla.
fn methods_table(args: &Args) -> Result<()> {
    tch::manual_seed(0);
    let vs = VarStore::new(Device::Cpu);
    let net = nets::mnist_cnn(&vs.root(), 3, 500)?;
    let mut opt = xai_core::optim::Adam::new(&vs, 1e-3)?;
    let opts = (Kind::Float, Device::Cpu);
    let x = Tensor::randn([args.methods_batch, 3, 28, 28], opts);
    let y = Tensor::randint(10, [args.methods_batch], (Kind::Int64, Device::Cpu));
    let cd = CdOptions::symmetric();
    let blobs = |n: i64| Tensor::eye(784, opts).narrow(0, 100, n).view([n, 28, 28]);
    let f = |x: &Tensor| net.forward(x, false);
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let steps = args.steps * args.rounds;
    let mut time = |name: &str, step: &mut dyn FnMut() -> Result<Tensor>| -> Result<f64> {
        opt.zero_grad();
        step()?.backward(); // warm-up
        let mut v = vec![];
        for _ in 0..steps {
            let t = Instant::now();
            opt.zero_grad();
            step()?.backward();
            opt.step();
            v.push(t.elapsed().as_secs_f64());
        }
        let s = median(&mut v);
        println!("{name:<28} {:>8.1} ms/step (median of {steps})", s * 1e3);
        Ok(s)
    };
    let pred = || net.forward(&x, true).map(|l| l.log_softmax(-1, Kind::Float).nll_loss(&y));
    let vanilla = time("vanilla", &mut || pred())?;
    let mut rows = vec![];
    for n in [1i64, 4, 8] {
        let m = blobs(n);
        let s =
            time(&format!("cdep {n} blobs (stacked)"), &mut || Ok(pred()? + penalty::image_cdep(&net, &x, &m, &cd)?))?;
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
        eg::penalty_chunks(&f, &x, &y, &w, 1, eg::EgVariant::Batched, args.methods_batch, &mut rng, &mut |p| {
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
    println!("\nratio to vanilla ({:.1} ms/step, batch {}):", vanilla * 1e3, args.methods_batch);
    for (name, s) in rows {
        println!("  {name:<20} {:>6.1}×", s / vanilla);
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    xai_core::cli::main_with(|| {
        let args = Args::parse();
        xai_core::device::set_threads(args.threads);
        cdep_table(&args)?;
        if args.methods {
            println!();
            methods_table(&args)?;
        }
        Ok(())
    })
}
