//! The binary's pipeline: data → black box (trained once per run folder) → one VIBI model
//! per config cell (with resume) → test metrics, saliency baseline, figures, summary and
//! the ours-vs-paper table.

use crate::blackbox::{self, BlackBox, Classifier, TrainSpec};
use crate::checkpoint;
use crate::config::{Cell, Config, DatasetKind, Normalization, StrengthInput};
use crate::data::{self, Dataset, Subsets};
use crate::figures;
use crate::logs::{read_rows, EpochRow, StepRow};
use crate::metrics::{ci95, evaluate, masked_fidelity, strength, EvalOptions, EvalReport};
use crate::model::Vibi;
use crate::nets;
use crate::trainer::{self, eval_tau, Schedule, Split, Trained};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Kind, Tensor};
use xai_core::config::Loaded;
use xai_core::report::{self, Check, Row};
use xai_core::run::RunDir;

/// One invocation of the binary.
pub struct Invocation {
    pub config: Loaded<Config>,
    pub device: Device,
    pub runs_dir: PathBuf,
    pub data_dir: PathBuf,
    /// Continue the run in this folder instead of starting a new one.
    pub resume: Option<PathBuf>,
}

/// What a run left.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub folder: PathBuf,
    pub rows: Vec<SummaryRow>,
    pub passed: bool,
    pub verdict: String,
    pub table: String,
}

/// One line of `summary.csv` (and `final.json` of a cell).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SummaryRow {
    pub run_id: String,
    pub dataset: String,
    pub explainer: String,
    pub xpl_channels: i64,
    pub chunk: i64,
    #[serde(rename = "F")]
    pub f: i64,
    pub k: i64,
    pub beta: f64,
    pub epochs: usize,
    pub steps: u64,
    pub bb_test_acc: f64,
    pub best_val_fid: f64,
    pub best_epoch: usize,
    pub val_hit_rate: Option<f64>,
    pub test_fid_topk: f64,
    pub test_fid_topk_ci95: f64,
    pub test_fid_multishot: Option<f64>,
    pub test_fid_random: Option<f64>,
    pub test_rationale_fid: Option<f64>,
    pub test_mean_1mjs: f64,
    pub test_hit_rate: Option<f64>,
    pub test_saliency_fid: Option<f64>,
    pub reference_value: Option<f64>,
    pub delta: Option<f64>,
    pub train_images_per_s: Option<f64>,
    pub wall_s: f64,
}

#[derive(Serialize, Deserialize)]
struct BlackBoxMeta {
    fingerprint: String,
    test_accuracy: f64,
    train_seconds: f64,
}

/// Splits and black-box outputs shared by every cell.
struct Prepared {
    ds: Dataset,
    train: Split,
    valid: Split,
    test: Split,
    test_y: Tensor,
    inspect: Tensor,
    bb_test_acc: f64,
}

fn load_data(cfg: &Config, data_dir: &Path) -> Result<Dataset> {
    let d = &cfg.data;
    let sub = Subsets { train: d.train_subset, test: d.test_subset, holdout_test: d.holdout_test, seed: d.split_seed };
    match d.dataset {
        DatasetKind::SyntheticPatches => data::synthetic_patches(d.train_subset, d.test_subset, cfg.seed),
        DatasetKind::Mnist => {
            let norm = match d.normalization {
                Normalization::Willisk => data::MNIST_NORM,
                Normalization::Authors => data::MNIST_NORM_AUTHORS,
            };
            data::mnist(data_dir, &sub, norm)
        }
        DatasetKind::Cifar10 => data::cifar10(data_dir, &sub),
    }
}

/// The black box of this run folder: loaded when its checkpoint exists (same config),
/// else trained and saved.
fn black_box(cfg: &Config, ds: &Dataset, device: Device, ckpt_dir: &Path) -> Result<(Classifier, f64)> {
    let (wpath, jpath) = (ckpt_dir.join("black_box.safetensors"), ckpt_dir.join("black_box.json"));
    let fp = cfg.black_box_fingerprint();
    let mut rng = xai_core::device::seed_everything(cfg.seed);
    let mut model = Classifier::new(device, cfg.black_box.arch, ds.input_shape(), ds.n_classes)?;
    if jpath.is_file() {
        let meta: BlackBoxMeta = checkpoint::read_meta(&jpath)?;
        checkpoint::ensure_same_config(&jpath, &meta.fingerprint, &fp)?;
        xai_core::checkpoint::load(&mut model.vs, &wpath)?;
        log::info!("black box loaded from {} (test accuracy {:.4})", wpath.display(), meta.test_accuracy);
        return Ok((model, meta.test_accuracy));
    }
    let b = &cfg.black_box;
    let pad_value = match &ds.norm {
        Some((m, s)) => m.iter().zip(s).map(|(m, s)| -m / s).collect(),
        None => vec![0.0; ds.input_shape()[0] as usize],
    };
    let spec = TrainSpec { epochs: b.epochs, lr: b.lr, batch_size: b.batch_size, augment: b.augment, pad_value };
    let t = Instant::now();
    blackbox::train(&model, &ds.train_x, &ds.train_y, &spec, &mut rng)?;
    let secs = t.elapsed().as_secs_f64();
    let acc = blackbox::accuracy(&model, &ds.test_x, &ds.test_y, 500);
    log::info!("black box {:?}: test accuracy {acc:.4} after {secs:.1}s", b.arch);
    xai_core::checkpoint::save(&model.vs, &wpath)?;
    checkpoint::write_meta(&jpath, &BlackBoxMeta { fingerprint: fp, test_accuracy: acc, train_seconds: secs })?;
    Ok((model, acc))
}

/// willisk's inspect batch: the first full test batch of 64 with the most black-box errors.
fn inspect_batch(pred: &Tensor, y: &Tensor) -> Tensor {
    let n = y.size()[0];
    let full = n / 64;
    if full == 0 {
        return Tensor::arange(n, (Kind::Int64, y.device()));
    }
    let errors = pred.ne_tensor(y).narrow(0, 0, full * 64).view([full, 64]).sum_dim_intlist(1, false, Kind::Int64);
    let best = errors.argmax(0, false).int64_value(&[]);
    Tensor::arange_start(best * 64, best * 64 + 64, (Kind::Int64, y.device()))
}

fn prepare(cfg: &Config, ds: Dataset, bb: &dyn BlackBox, bb_test_acc: f64) -> Result<Prepared> {
    let probs = blackbox::soft_labels(bb, &ds.train_x, 500);
    let (tr, va) = data::split_indices(ds.train_x.size()[0], cfg.data.valid_fraction, cfg.data.split_seed);
    let dev = ds.train_x.device();
    let (tr, va) = (tr.to_device(dev), va.to_device(dev));
    if va.size()[0] == 0 {
        return Err(Error::invalid(
            "data.valid_fraction",
            format!("{} leaves no validation images", cfg.data.valid_fraction),
        ));
    }
    let pick = |idx: &Tensor| Split {
        x: ds.train_x.index_select(0, idx),
        bb_probs: probs.index_select(0, idx),
        cells: ds.train_cells.as_ref().map(|c| c.index_select(0, idx)),
    };
    let (train, valid) = (pick(&tr), pick(&va));
    let test_probs = blackbox::soft_labels(bb, &ds.test_x, 500);
    let inspect = inspect_batch(&test_probs.argmax(-1, false), &ds.test_y);
    let test = Split {
        x: ds.test_x.shallow_clone(),
        bb_probs: test_probs,
        cells: ds.test_cells.as_ref().map(|c| c.shallow_clone()),
    };
    let test_y = ds.test_y.shallow_clone();
    log::info!("VIBI split: {} train / {} valid; {} test", train.x.size()[0], valid.x.size()[0], test.x.size()[0]);
    Ok(Prepared { ds, train, valid, test, test_y, inspect, bb_test_acc })
}

fn build_vibi(cfg: &Config, cell: &Cell, ds: &Dataset, device: Device) -> Result<Vibi> {
    let [c, h, w] = ds.input_shape();
    xai_core::device::seed_everything(cfg.seed);
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
    for f in ["steps.csv", "epochs.csv"] {
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
    figures::test_batch(&x01, scale, &fig.join("test_batch.png"))?;
    let z = vibi.explain(&x);
    let q_input = match cfg.eval.strength_input {
        StrengthInput::Normalized => vibi.grid.mask(&x, &z),
        StrengthInput::ReferenceRescaled => vibi.grid.mask(&x01, &z),
    };
    let q = tch::no_grad(|| vibi.approximate_t(&q_input, false).softmax(-1, Kind::Float));
    let pb = bb.probabilities(&x);
    let frames = figures::frame_colours(&strength(&pb, &q), &pb.argmax(-1, false).eq_tensor(&y))?;
    figures::top_k(&x01, &vibi.grid, &z, frames.clone(), scale, &fig.join("best_top_k.png"))?;
    figures::distribution(
        &x01,
        &vibi.grid,
        &vibi.distribution(&x),
        vibi.settings.k,
        frames,
        scale,
        &fig.join("best_distribution.png"),
    )?;
    let steps: Vec<StepRow> = read_rows(&dir.join("steps.csv"))?;
    let epochs: Vec<EpochRow> = read_rows(&dir.join("epochs.csv"))?;
    figures::curves(&steps, &epochs, spe, &fig)
}

fn run_cell(
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
        seed: cfg.seed,
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
    let row = SummaryRow {
        run_id: cell.run_id(cfg.data.dataset),
        dataset: serde_json::to_value(cfg.data.dataset)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
        explainer: serde_json::to_value(cell.explainer)
            .ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default(),
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
        reference_value: cell.reference,
        delta: cell.reference.map(|r| trained.best_val_fid - r),
        train_images_per_s: trained.images_per_s,
        wall_s: t.elapsed().as_secs_f64(),
    };
    checkpoint::write_meta(
        &dir.join("final.json"),
        &serde_json::json!({ "summary": row, "training": trained, "test": test }),
    )?;
    Ok(row)
}

fn report_rows(cfg: &Config, rows: &[SummaryRow]) -> Vec<Row> {
    let x = &cfg.expect;
    let judged = |t: Option<f64>| t.map(Check::AtLeast).unwrap_or(Check::Report);
    let mut out = Vec::new();
    if let Some(r) = rows.first() {
        out.push(
            Row::new("black-box test accuracy", r.bb_test_acc, judged(x.min_bb_accuracy))
                .note("spec: ≈0.99 MNIST resnet18, ≈0.90 CIFAR resnet34"),
        );
    }
    for r in rows {
        let id = if rows.len() > 1 { format!("{} ", r.run_id) } else { String::new() };
        out.push(match r.reference_value {
            Some(p) => Row::new(
                format!("{id}best valid top-k fidelity"),
                r.best_val_fid,
                Check::Within { paper: p, tolerance: x.reference_tolerance },
            )
            .note(format!("epoch {}; reference willisk logs.pdf", r.best_epoch)),
            None => Row::new(format!("{id}best valid top-k fidelity"), r.best_val_fid, Check::Report)
                .note(format!("epoch {}", r.best_epoch)),
        });
        // The paper column carries the spec's own measurements where the config gives them.
        let spec = |row: Row, v: Option<f64>| match v {
            Some(p) => row.paper(p, None),
            None => row,
        };
        let row = Row::new(format!("{id}test top-k fidelity"), r.test_fid_topk, judged(x.min_test_fidelity))
            .ours_std(r.test_fid_topk_ci95);
        out.push(
            spec(row, x.spec_test_fidelity).note("± is the 95% binomial CI; paper column: spec §8 PyTorch prototype"),
        );
        if let Some(rand) = r.test_fid_random {
            out.push(
                spec(Row::new(format!("{id}test random-mask fidelity"), rand, Check::Report), x.spec_random_fidelity)
                    .note("same approximator, k random chunks"),
            );
            if let Some(m) = x.min_margin_over_random {
                out.push(Row::new(
                    format!("{id}top-k minus random-mask fidelity"),
                    r.test_fid_topk - rand,
                    Check::AtLeast(m),
                ));
            }
        }
        if let Some(h) = r.test_hit_rate {
            out.push(
                spec(
                    Row::new(format!("{id}test hit rate (true patch in top-k)"), h, judged(x.min_hit_rate)),
                    x.spec_hit_rate,
                )
                .note(format!("random: k/F = {:.3}", r.k as f64 / r.f as f64)),
            );
        }
        if let Some(m) = r.test_fid_multishot {
            out.push(Row::new(format!("{id}test multi-shot fidelity"), m, Check::Report));
        }
        if let Some(v) = r.test_rationale_fid {
            out.push(Row::new(format!("{id}test rationale fidelity"), v, judged(x.min_rationale_fidelity)));
        }
        if let Some(s) = r.test_saliency_fid {
            out.push(
                Row::new(format!("{id}saliency top-k fidelity (baseline)"), s, Check::Report)
                    .note("black-box |gradient| pooled per chunk, same approximator"),
            );
        }
    }
    out
}

/// Opens the run folder: a new one, or an existing one to resume (its stored config must
/// describe the same models). Returns the `RunDir` and the folder that receives outputs.
fn open_folder(inv: &Invocation, resolved: &str) -> Result<(RunDir, PathBuf)> {
    let cfg = &inv.config.value;
    match &inv.resume {
        None => {
            let run = RunDir::create(&inv.runs_dir, "vibi", &cfg.experiment, resolved, cfg.seed, inv.device)?;
            let root = run.path().to_path_buf();
            Ok((run, root))
        }
        Some(root) => {
            let stored_path = root.join("config.toml");
            let stored: Loaded<Config> = xai_core::config::load(&stored_path, &[])?;
            let s = &stored.value;
            if s.black_box_fingerprint() != cfg.black_box_fingerprint() {
                return Err(Error::invalid(
                    "resume",
                    format!("{} was made with another [data]/[black_box]/seed configuration", stored_path.display()),
                ));
            }
            let (a, b) = (s.cells(), cfg.cells());
            if a.len() != b.len() || a.iter().zip(&b).any(|(x, y)| s.cell_fingerprint(x) != cfg.cell_fingerprint(y)) {
                return Err(Error::invalid("resume", format!("{} was made with another [vibi]/[[grid]] configuration (only epochs, max_steps, checkpoint_every may change)", stored_path.display())));
            }
            let run = RunDir::resume(root, resolved, inv.device)?;
            Ok((run, root.clone()))
        }
    }
}

/// Runs the whole experiment of `inv`.
pub fn run(inv: Invocation) -> Result<Outcome> {
    let cfg = &inv.config.value;
    cfg.validate()?;
    let resolved = inv.config.resolved_toml()?;
    let ds = load_data(cfg, &inv.data_dir)?.to_device(inv.device);
    // Geometry errors (k > F, a chunk that does not divide the image) surface before any
    // folder is made or black box trained.
    for cell in cfg.cells() {
        build_vibi(cfg, &cell, &ds, Device::Cpu)
            .map_err(|e| Error::invalid(cell.run_id(cfg.data.dataset), e.to_string()))?;
    }
    let (mut run, root) = open_folder(&inv, &resolved)?;
    let ckpt = root.join("checkpoints");
    xai_core::fsutil::create_dir_all(&ckpt)?;
    let (bb, bb_acc) = run.stage("black_box", |_| black_box(cfg, &ds, inv.device, &ckpt))?;
    let prepared = prepare(cfg, ds, &bb, bb_acc)?;
    let cells = cfg.cells();
    let mut rows = Vec::new();
    for cell in &cells {
        let id = cell.run_id(cfg.data.dataset);
        let dir = if cfg.grid.is_empty() { root.clone() } else { root.join(&id) };
        let done = dir.join("final.json");
        if !cfg.grid.is_empty() && done.is_file() && inv.resume.is_some() {
            let v: serde_json::Value = checkpoint::read_meta(&done)?;
            if let Ok(row) = serde_json::from_value::<SummaryRow>(v["summary"].clone()) {
                log::info!("{id}: finished in an earlier attempt");
                rows.push(row);
                continue;
            }
        }
        let row = run.stage(&format!("vibi {id}"), |_| run_cell(cfg, cell, &prepared, &bb, &root, &dir, inv.device))?;
        xai_core::run::write_csv_rows(&root.join("summary.csv"), &[rows.clone(), vec![row.clone()]].concat())?;
        rows.push(row);
    }
    xai_core::run::write_csv_rows(&root.join("summary.csv"), &rows)?;
    let table_rows = report_rows(cfg, &rows);
    let table = report::write(&root, &format!("VIBI {}: ours vs reference", cfg.experiment), &table_rows)?;
    let passed = report::all_passed(&table_rows);
    let failed: Vec<String> =
        table_rows.iter().filter(|r| r.passed() == Some(false)).map(|r| r.metric.clone()).collect();
    let judged = table_rows.iter().filter(|r| r.passed().is_some()).count();
    let verdict = if passed {
        format!("VERDICT {}: PASS ({judged} judged checks)", cfg.experiment)
    } else {
        format!("VERDICT {}: FAIL ({} of {judged} checks failed: {})", cfg.experiment, failed.len(), failed.join("; "))
    };
    let results =
        serde_json::json!({ "experiment": cfg.experiment, "passed": passed, "verdict": verdict, "runs": rows });
    xai_core::fsutil::atomic_write(
        &root.join("results.json"),
        serde_json::to_string_pretty(&results).unwrap_or_default().as_bytes(),
    )?;
    run.finish()?;
    Ok(Outcome { folder: root, rows, passed, verdict, table })
}
