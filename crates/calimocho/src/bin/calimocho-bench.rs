//! `calimocho-bench`: the cost of the active loop, the spec's reference workload (one
//! fold, 50 queries × 100 Adam steps, W = `[101,101,101]`, test losses on 8,000 examples
//! after every query; a faithful PyTorch version takes 8.6–12.6 s on the project machine).
//! Prints steps/s, the fold time, an estimate of the whole 5-fold × 300-query run, and
//! peak memory. Uses the real toy colors file when present, else the generator.

use calimocho::active::{run_fold, ActiveData, PixelLayout};
use calimocho::experiments::active::fold_sets;
use calimocho::experiments::{data, Config};
use calimocho::fit::{Start, Trainer};
use calimocho::params::{ActiveParams, SennParams, Strategy};
use calimocho::user::SimulatedUser;
use clap::Parser;
use std::time::Instant;
use tch::{Kind, Tensor};

#[derive(Parser, Debug)]
#[command(name = "calimocho-bench", about = "Speed of CALIMOCHO's active loop")]
struct Args {
    /// Queries of the timed fold.
    #[arg(long, default_value_t = 50)]
    queries: usize,
    /// Relevance widths, e.g. 101,101,101.
    #[arg(long, default_value = "101,101,101", value_delimiter = ',')]
    widths: Vec<i64>,
    /// Query strategy: random, margin or least-confident.
    #[arg(long, default_value = "random")]
    strategy: String,
    /// libtorch intra-op threads (0: libtorch's default).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    #[arg(long, value_enum, default_value_t = xai_core::device::DeviceChoice::Cpu)]
    device: xai_core::device::DeviceChoice,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    xai_core::device::set_threads(args.threads);
    let device = args.device.resolve()?;
    let mut cfg: Config = toml::from_str("[run]\nexperiment = \"active\"\n")?;
    let root = xai_core::data::data_root(None);
    if !root.join("toy_colors/toy_colors.npz").is_file() {
        eprintln!("toy colors file not found under {}: using 40000 generated images", root.display());
        cfg.data.synthetic = 40000;
    }
    cfg.data.folds = 1;
    let t_load = Instant::now();
    let d = data::load(&cfg.data, &root)?;
    let sets = fold_sets(&cfg, &d);
    let (x, y, z) = d.to_device(device);
    println!(
        "data: {} examples, test fold {}, load {:.2}s",
        d.len(),
        sets[0].test.len(),
        t_load.elapsed().as_secs_f64()
    );
    let params = SennParams::with_widths(&args.widths).lambdas(0.1, 0.0);

    // Raw Adam steps on a 300-row known set (batch 17).
    let mut tr = Trainer::new(&params, 101, device, xai_core::device::seed_everything(0))?;
    let idx = Tensor::from_slice(&sets[0].pool[..300]).to_device(device);
    let (xk, zk, yk) =
        (x.index_select(0, &idx), z.index_select(0, &idx).zeros_like(), y.index_select(0, &idx).to_kind(Kind::Float));
    tr.fit(&xk, &zk, &yk, 50, Start::Cold)?;
    let t = Instant::now();
    tr.fit(&xk, &zk, &yk, 2000, Start::Warm)?;
    let steps_per_s = 2000.0 / t.elapsed().as_secs_f64();
    println!("fit: {steps_per_s:.0} Adam steps/s (W = {:?}, batch 17)", args.widths);

    // The reference workload.
    let strategy: Strategy = args.strategy.parse()?;
    let mut trainer = Trainer::new(&params, 101, device, xai_core::device::seed_everything(0))?;
    let mut user = SimulatedUser::new(&z, 1, Some(100))?;
    let data = ActiveData {
        x: &x,
        y: &y,
        z_star: &z,
        known: sets[0].known.clone(),
        pool: sets[0].pool.clone(),
        test: sets[0].test.clone(),
        layout: Some(PixelLayout::toy_colors(0)),
    };
    let ap = ActiveParams { strategy, n_corrected: 1, iterations: args.queries, steps_per_fit: 100, eval_every: 1 };
    // The reference's workload records test losses only (plus our accuracy/F1).
    let mut trainer0 = Trainer::new(&params, 101, device, xai_core::device::seed_everything(0))?;
    let losses_only = ActiveData {
        layout: None,
        known: data.known.clone(),
        pool: data.pool.clone(),
        test: data.test.clone(),
        ..data
    };
    let t = Instant::now();
    run_fold(&mut trainer0, &losses_only, &mut user, &ap, |_| {})?;
    let ref_s = t.elapsed().as_secs_f64();
    println!(
        "reference workload (test losses + acc/F1 each query): {ref_s:.2}s for {} queries; PyTorch reference 8.6–12.6 s for 50 → ratio {:.2}–{:.2}",
        args.queries,
        ref_s * 50.0 / args.queries as f64 / 8.6,
        ref_s * 50.0 / args.queries as f64 / 12.6
    );
    let t = Instant::now();
    let rec = run_fold(&mut trainer, &losses_only_with_layout(&losses_only), &mut user, &ap, |_| {})?;
    let fold_s = t.elapsed().as_secs_f64();
    let fit_s: f64 = rec.iter().map(|r| r.runtime_s).sum();
    let per_query = fold_s / args.queries as f64;
    println!(
        "with every measure (explanation P/R/F1@k on both rules, rule masses, known-set F1): {} queries × 100 steps, {strategy}, test {}: {fold_s:.2}s ({:.1} ms/query, {:.2}s in selection+fit)",
        args.queries,
        sets[0].test.len(),
        per_query * 1e3,
        fit_s
    );
    println!(
        "estimate, 5 folds × 300 queries (W = {:?}): {:.0}s ({:.1} min)",
        args.widths,
        per_query * 300.0 * 5.0,
        per_query * 300.0 * 5.0 / 60.0
    );
    let last = rec.last().and_then(|r| r.test.as_ref()).map(|m| m.zloss).unwrap_or(f64::NAN);
    println!("final test L_z {last:.3}");
    match xai_core::run::peak_rss_bytes() {
        Some(b) => println!("peak RSS {:.0} MiB", b as f64 / 1048576.0),
        None => println!("peak RSS unknown"),
    }
    Ok(())
}

fn losses_only_with_layout<'a>(d: &ActiveData<'a>) -> ActiveData<'a> {
    ActiveData {
        x: d.x,
        y: d.y,
        z_star: d.z_star,
        known: d.known.clone(),
        pool: d.pool.clone(),
        test: d.test.clone(),
        layout: Some(PixelLayout::toy_colors(0)),
    }
}
