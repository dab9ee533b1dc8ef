//! One cell of a run: a VIBI model built from the config, optionally jump-started from the
//! β = 0 cell of its grid entry, trained (resuming from its checkpoints), evaluated on the
//! test split with the saliency baseline beside it, and drawn.

use super::checkpoint;
use super::config::StrengthInput;
use super::data::{self, Dataset, Prepared};
use super::figures;
use super::logs::{read_rows, EpochRow, StepRow, EPOCHS_LOG, STEPS_LOG};
use super::names::{explainer_name, EvalReportJson};
use super::report::SummaryRow;
use super::trainer::{self, eval_tau, Schedule, Trained};
use super::{Cell, Config};
use crate::blackbox::BlackBox;
use crate::metrics::{ci95, evaluate, masked_fidelity, strength, EvalOptions, EvalReport};
use crate::model::Vibi;
use crate::nets;
use crate::Result;
use std::path::Path;
use std::time::Instant;
use tch::{Device, Kind};
use xai_core::Error;

/// The cell's model, seeded with the run's seed.
pub fn build_vibi(cfg: &Config, cell: &Cell, ds: &Dataset, device: Device) -> Result<Vibi> {
    let [c, h, w] = ds.input_shape();
    xai_core::device::seed_everything(cfg.run.seed());
    let (arch, xc, approx, n, relu) =
        (cell.explainer, cell.xpl_channels, cfg.vibi.approximator, ds.n_classes, cfg.vibi.explainer_final_relu);
    Vibi::new(
        device,
        [c, h, w],
        Box::new(move |p| nets::explainer_with(p, arch, c, (h, w), xc, relu)),
        Box::new(move |p| nets::classifier(p, approx, c, (h, w), n)),
        cfg.settings(cell),
    )
}

/// Initialises a β > 0 cell from the finished β = 0 cell of the same grid entry
/// (weights, optimiser, step counter, logs); returns the epochs that cell had done.
fn jump_start(cfg: &Config, cell: &Cell, root: &Path, dir: &Path, vibi: &mut Vibi) -> Result<Option<usize>> {
    let src = Cell { beta: 0.0, reference: None, ..cell.clone() };
    let src_dir = root.join(src.run_id(cfg.data.dataset));
    let Some((meta, tensors)) = checkpoint::load_last(&src_dir.join("checkpoints"), &cfg.cell_fingerprint(&src))?
    else {
        log::warn!("jump_start: no beta = 0 checkpoint in {}; training from scratch", src_dir.display());
        return Ok(None);
    };
    vibi.load_state(&tensors, true)?;
    vibi.set_step(meta.step);
    for f in [STEPS_LOG, EPOCHS_LOG] {
        std::fs::copy(src_dir.join(f), dir.join(f)).map_err(|e| Error::io(src_dir.join(f), e))?;
    }
    let own = checkpoint::Meta { fingerprint: cfg.cell_fingerprint(cell), ..meta.clone() };
    checkpoint::save_last(&dir.join("checkpoints"), vibi, own)?;
    log::info!(
        "jump_start: {} starts from {} at step {} (epoch {}), no warm-up",
        dir.display(),
        src_dir.display(),
        meta.step,
        meta.epochs_done
    );
    Ok(Some(meta.epochs_done))
}

fn eval_options(cfg: &Config, tau: f64) -> EvalOptions {
    EvalOptions {
        multishot_samples: cfg.eval.multishot_samples,
        multishot_tau: tau,
        random_baseline: cfg.eval.random_baseline,
        rationale: cfg.eval.rationale,
        batch_size: cfg.eval.batch_size,
    }
}

fn draw(cfg: &Config, p: &Prepared, vibi: &Vibi, bb: &dyn BlackBox, dir: &Path, spe: f64) -> Result<()> {
    let fig = dir.join("figures");
    let x = p.test.x.index_select(0, &p.inspect);
    let y = p.test_y.index_select(0, &p.inspect);
    let x01 = data::min_max(&p.ds.to_unit(&x));
    let scale = cfg.eval.figure_scale;
    let pb = bb.probabilities(&x);
    let bb_pred = pb.argmax(-1, false);
    figures::test_batch(&x01, figures::captions(&y, &bb_pred, None)?, scale, &fig.join("test_batch.png"))?;
    let z = vibi.explain(&x);
    let q_input = match cfg.eval.strength_input {
        StrengthInput::Normalized => vibi.grid.mask(&x, &z),
        StrengthInput::ReferenceRescaled => vibi.grid.mask(&x01, &z),
    };
    let q = tch::no_grad(|| vibi.approximate_t(&q_input, false).softmax(-1, Kind::Float));
    let frames = figures::frame_colours(&strength(&pb, &q), &bb_pred.eq_tensor(&y))?;
    let caps = figures::captions(&y, &bb_pred, Some(&q.argmax(-1, false)))?;
    let k = vibi.settings.k;
    figures::top_k(&x01, &vibi.grid, &z, k, frames.clone(), caps.clone(), scale, &fig.join("best_top_k.png"))?;
    let p = vibi.distribution(&x);
    figures::distribution(&x01, &vibi.grid, &p, k, frames, caps, scale, &fig.join("best_distribution.png"))?;
    let steps: Vec<StepRow> = read_rows(&dir.join(STEPS_LOG))?;
    let epochs: Vec<EpochRow> = read_rows(&dir.join(EPOCHS_LOG))?;
    figures::curves(&steps, &epochs, spe, &fig)
}

/// Trains and evaluates one cell in `dir` (the run folder, or its sub-folder in a grid).
pub fn run_cell(
    cfg: &Config,
    cell: &Cell,
    p: &Prepared,
    bb: &dyn BlackBox,
    root: &Path,
    dir: &Path,
    device: Device,
) -> Result<SummaryRow> {
    let t = Instant::now();
    xai_core::fsutil::create_dir_all(&dir.join("figures"))?;
    xai_core::fsutil::create_dir_all(&dir.join("checkpoints"))?;
    let mut vibi = build_vibi(cfg, cell, &p.ds, device)?;
    let (e, a) = vibi.param_counts();
    log::info!(
        "{}: F = {} chunks of {}x{}, k = {}, beta = {}; explainer {e} params, approximator {a}",
        cell.run_id(cfg.data.dataset),
        vibi.grid.num_chunks(),
        vibi.grid.size,
        vibi.grid.size,
        cell.k,
        cell.beta
    );
    let fp = cfg.cell_fingerprint(cell);
    let mut epochs = cfg.vibi.epochs;
    let own_ckpt = dir.join("checkpoints/last.json").is_file();
    let offset_path = dir.join("jump_start.json");
    if cfg.vibi.jump_start && cell.beta > 0.0 && !own_ckpt {
        if let Some(done) = jump_start(cfg, cell, root, dir, &mut vibi)? {
            checkpoint::write_meta(&offset_path, &serde_json::json!({ "source_epochs": done }))?;
        }
    }
    if offset_path.is_file() {
        // A jump-started cell trains `epochs` more than its source had done.
        let v: serde_json::Value = checkpoint::read_meta(&offset_path)?;
        epochs += v["source_epochs"].as_u64().unwrap_or(0) as usize;
    }
    let sched = Schedule {
        epochs,
        max_steps: cfg.vibi.max_steps,
        batch_size: cfg.vibi.batch_size,
        checkpoint_every: cfg.vibi.checkpoint_every,
        save_best: cfg.vibi.save_best,
        seed: cfg.run.seed(),
        fingerprint: fp.clone(),
    };
    let eval = eval_options(cfg, 1.0);
    let trained: Trained = trainer::train(&mut vibi, bb, &p.train, &p.valid, &sched, &eval, dir)?;
    if cfg.vibi.save_best {
        if let Some(ep) = checkpoint::load_best(&dir.join("checkpoints"), &mut vibi, &fp)? {
            log::info!("evaluating the best checkpoint (epoch {ep})");
        }
    }
    let eval = eval_options(cfg, eval_tau(&vibi));
    let test: EvalReport = evaluate(&vibi, bb, &p.test.x, &p.test.bb_probs, p.test.cells.as_ref(), &eval);
    let valid_hit = match &p.valid.cells {
        Some(c) => {
            evaluate(
                &vibi,
                bb,
                &p.valid.x,
                &p.valid.bb_probs,
                Some(c),
                &EvalOptions { multishot_samples: 0, random_baseline: false, rationale: false, ..eval.clone() },
            )
            .hit_rate
        }
        None => None,
    };
    let saliency = if cfg.eval.saliency_baseline {
        let (grid, k) = (vibi.grid, cell.k);
        Some(masked_fidelity(&vibi, &p.test.x, &p.test.bb_probs, cfg.eval.batch_size.min(256), |xb| {
            crate::baseline::saliency_masks(bb, &grid, xb, k)
        })?)
    } else {
        None
    };
    let spe = data::steps_per_epoch(p.train.x.size()[0], cfg.vibi.batch_size) as f64;
    draw(cfg, p, &vibi, bb, dir, spe)?;
    // Last, because it changes the model: the figures and the numbers above use the
    // checkpoint's own statistics, as willisk's evaluation does.
    let recalibrated = if cfg.eval.recalibrate_bn_images > 0 {
        let n = cfg.eval.recalibrate_bn_images.min(p.train.x.size()[0]);
        let batch = cfg.vibi.batch_size * cfg.vibi.num_samples;
        vibi.recalibrate_approximator_bn(&p.train.x.narrow(0, 0, n), batch.min(n), 0.1)?;
        let eval = EvalOptions { multishot_samples: 0, random_baseline: false, rationale: false, ..eval.clone() };
        let r = evaluate(&vibi, bb, &p.test.x, &p.test.bb_probs, None, &eval).fid_topk;
        log::info!(
            "test top-k fidelity {:.4}; with BatchNorm statistics recomputed on {n} training images {r:.4}",
            test.fid_topk
        );
        Some(r)
    } else {
        None
    };
    let row = SummaryRow {
        run_id: cell.run_id(cfg.data.dataset),
        dataset: serde_json::to_value(cfg.data.dataset)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        explainer: explainer_name(cell.explainer),
        xpl_channels: cell.xpl_channels,
        chunk: vibi.grid.size,
        f: vibi.grid.num_chunks(),
        k: cell.k,
        beta: cell.beta,
        epochs: trained.epochs_done,
        steps: trained.steps,
        bb_test_acc: p.bb_test_acc,
        best_val_fid: trained.best_val_fid,
        best_epoch: trained.best_epoch,
        val_hit_rate: valid_hit,
        test_fid_topk: test.fid_topk,
        test_fid_topk_ci95: ci95(test.fid_topk, test.n),
        test_fid_multishot: test.fid_multishot,
        test_fid_random: test.fid_random,
        test_rationale_fid: test.rationale_fid,
        test_mean_1mjs: test.mean_1mjs,
        test_hit_rate: test.hit_rate,
        test_saliency_fid: saliency,
        test_fid_topk_recalibrated_bn: recalibrated,
        reference_value: cell.reference,
        delta: cell.reference.map(|r| trained.best_val_fid - r),
        train_images_per_s: trained.images_per_s,
        wall_s: t.elapsed().as_secs_f64(),
    };
    checkpoint::write_meta(
        &dir.join("final.json"),
        &serde_json::json!({ "summary": row, "training": trained, "test": EvalReportJson(test) }),
    )?;
    Ok(row)
}
