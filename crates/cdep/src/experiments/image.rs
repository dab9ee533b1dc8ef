//! ColorMNIST and DecoyMNIST (spec §4.1–4.2): CNNs trained with vanilla, CDEP, RRR or EG
//! penalties on a spurious image feature (colour pixels; corner patches).

use super::cell::{CellOutcome, Finished};
use super::common::{copy_vars, evaluate, reset_peak_rss, run_row, save_weights, stream_rng, subset};
use super::config::{BlobSampling, Config, Experiment as ExpKind, Method, MnistSource, ModelKind, ValColors};
use super::report::{epoch_chart, heatmap_figure, EpochCurves, HeatRow, RunRow, SummaryRow};
use super::{CellRun, EpochRow, Experiment, RunCtx, Setup};
use crate::baselines::{eg, rrr};
use crate::blobs::{cdf_of, Blobs};
use crate::cd::{CdOptions, Sequential};
use crate::train::{Batching, EvalOut, Hooks};
use crate::{nets, penalty, train, CdepError, Result};
use std::cell::RefCell;
use std::path::Path;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use xai_core::data::{color_mnist, decoy_mnist, mnist};
use xai_core::figures::{save_grid, GridOptions};
use xai_core::report::{Check, Row};

/// Prepared data and settings of one image experiment.
pub struct ImageExperiment {
    cfg: Config,
    kind: ExpKind,
    device: Device,
    train_x: Tensor,
    train_y: Tensor,
    val_x: Tensor,
    val_y: Tensor,
    test_x: Tensor,
    test_y: Tensor,
    blobs: Blobs,
    /// Fixed blobs and test images for the blob-share metric.
    share_masks: Tensor,
    share_x: Tensor,
    /// A few test inputs for heat maps, and their display version in [0, 1].
    heat_x: Tensor,
    heat_display: Tensor,
    /// Training-colour and test-colour examples (one per digit) for the examples figure.
    examples: Tensor,
}

fn mnist_pool(cfg: &Config, root: &Path) -> Result<(Tensor, Tensor, Tensor, Tensor)> {
    let d = &cfg.data;
    Ok(match d.source {
        MnistSource::MnistTrain => {
            let m = mnist::load(root)?;
            let tr = subset(m.train_images.size()[0], d.train_subset, d.seed);
            let te = subset(m.test_images.size()[0], d.test_subset, d.seed.wrapping_add(7));
            (
                m.train_images.index_select(0, &tr),
                m.train_labels.index_select(0, &tr),
                m.test_images.index_select(0, &te),
                m.test_labels.index_select(0, &te),
            )
        }
        MnistSource::MnistT10k => {
            let (x, y) = mnist::load_split(root, false)?;
            let n = x.size()[0];
            let n_train = d.train_subset.unwrap_or(super::config::data::T10K_DEFAULT_TRAIN) as i64;
            if n_train >= n {
                return Err(CdepError::invalid(
                    "data.train_subset",
                    format!("{n_train} leaves no test images of the {n} in t10k"),
                ));
            }
            let n_test = (d.test_subset.map(|v| v as i64).unwrap_or(n - n_train)).min(n - n_train);
            let perm = subset(n, None, d.seed);
            let (tr, te) = (perm.narrow(0, 0, n_train), perm.narrow(0, n_train, n_test));
            (x.index_select(0, &tr), y.index_select(0, &tr), x.index_select(0, &te), y.index_select(0, &te))
        }
    })
}

/// One example per digit 0..9 (first occurrence), `[10, …]`.
fn one_per_digit(x: &Tensor, y: &Tensor) -> Result<Tensor> {
    let labels = Vec::<i64>::try_from(y)?;
    let idx: Vec<i64> = (0..10).filter_map(|d| labels.iter().position(|&l| l == d).map(|p| p as i64)).collect();
    Ok(x.index_select(0, &Tensor::from_slice(&idx).to_device(x.device())))
}

impl ImageExperiment {
    /// Loads MNIST and builds the experiment's data.
    pub fn prepare(cfg: &Config, setup: &Setup) -> Result<Self> {
        let kind = cfg.run.experiment;
        let (trx, try_, tex, tey) = mnist_pool(cfg, &setup.data_root)?;
        let dev = setup.device;
        let (train_x, train_y, val_x, val_y, test_x, test_y, blobs, share_masks, display, examples);
        match kind {
            ExpKind::Colormnist => {
                let opts = color_mnist::ColorMnistOptions {
                    seed: cfg.data.seed,
                    val_fraction: cfg.data.valid_fraction,
                    val_reversed: cfg.data.val_colors == ValColors::Reversed,
                };
                let c = color_mnist::build(&trx, &try_, &tex, &tey, opts)?;
                let probs = match cfg.cdep.blob_sampling {
                    BlobSampling::NonzeroFreq => c.blob_probs.shallow_clone(),
                    BlobSampling::Uniform => Tensor::ones([28, 28], (Kind::Float, Device::Cpu)),
                };
                let cdf = cdf_of(&probs)?;
                let mut share_rng = stream_rng(cfg.data.seed, 99);
                let pixel_blobs = Blobs::Pixels { cdf, h: 28, w: 28, n: cfg.cdep.n_blobs };
                share_masks = pixel_blobs.draw(&mut share_rng, Device::Cpu);
                blobs = pixel_blobs;
                let (mean, std) = (c.mean.view([1, 3, 1, 1]), c.std.view([1, 3, 1, 1]));
                let show = move |x: &Tensor| ((x * &std + &mean) / 255.0).clamp(0.0, 1.0);
                examples = Tensor::cat(
                    &[show(&one_per_digit(&c.train_x, &c.train_y)?), show(&one_per_digit(&c.test_x, &c.test_y)?)],
                    0,
                );
                display = Box::new(show) as Box<dyn Fn(&Tensor) -> Tensor>;
                (train_x, train_y, val_x, val_y, test_x, test_y) =
                    (c.train_x, c.train_y, c.val_x, c.val_y, c.test_x, c.test_y);
            }
            ExpKind::Decoymnist => {
                let d = decoy_mnist::build(&trx, &try_, &tex, &tey, cfg.data.seed);
                let mask = decoy_mnist::blob_mask().to_kind(Kind::Float).unsqueeze(0);
                share_masks = mask.shallow_clone();
                blobs = Blobs::Fixed(mask.to_device(dev));
                let show = |x: &Tensor| ((x + 1.0) / 2.0).clamp(0.0, 1.0);
                examples = Tensor::cat(
                    &[
                        show(&one_per_digit(&d.train.images, &d.train_y)?),
                        show(&one_per_digit(&d.test.images, &d.test_y)?),
                    ],
                    0,
                );
                display = Box::new(show) as Box<dyn Fn(&Tensor) -> Tensor>;
                (train_x, train_y, val_x, val_y, test_x, test_y) =
                    (d.train.images, d.train_y, d.val.images, d.val_y, d.test.images, d.test_y);
            }
            other => {
                return Err(CdepError::invalid(
                    "run.experiment",
                    format!("{} is not an image experiment", other.name()),
                ))
            }
        }
        log::info!(
            "{}: {} train / {} val / {} test images",
            kind.name(),
            train_x.size()[0],
            val_x.size()[0],
            test_x.size()[0]
        );
        let n_share = test_x.size()[0].min(256);
        let heat_idx = Tensor::from_slice(&[0i64, 1, 2, 3, 4]).narrow(0, 0, test_x.size()[0].min(5));
        let heat_x = test_x.index_select(0, &heat_idx);
        Ok(Self {
            cfg: cfg.clone(),
            kind,
            device: dev,
            share_x: test_x.narrow(0, 0, n_share).to_device(dev),
            heat_display: display(&heat_x),
            heat_x: heat_x.to_device(dev),
            share_masks: share_masks.to_device(dev),
            train_x: train_x.to_device(dev),
            train_y: train_y.to_device(dev),
            val_x: val_x.to_device(dev),
            val_y: val_y.to_device(dev),
            test_x: test_x.to_device(dev),
            test_y: test_y.to_device(dev),
            blobs,
            examples,
        })
    }

    fn model(&self, vs: &VarStore) -> Result<Sequential> {
        let p = vs.root();
        let hidden = self.cfg.model.hidden;
        match self.cfg.model.kind {
            ModelKind::ColorCnn => nets::mnist_cnn(&p, 3, hidden.unwrap_or(500)),
            ModelKind::DecoyCnn => nets::mnist_cnn(&p, 1, hidden.unwrap_or(256)),
            other => {
                Err(CdepError::invalid("model.kind", format!("{other:?} does not fit {} images", self.kind.name())))
            }
        }
    }

    /// On a slice of the test set: the fixed blobs' mean CD share (the penalty's own measure;
    /// 0.5: the blob counts as much as the rest of the image, 0: not at all), and the share of
    /// predictions that change when the blob's relevant part is taken out of the logits
    /// (`argmax γ ≠ argmax(β + γ)`). A network can lean on the blob through interactions CD
    /// books as irrelevant, so a falling accuracy with a low flip rate is possible.
    fn blob_share(&self, model: &Sequential, opts: &CdOptions) -> Result<(f64, f64)> {
        tch::no_grad(|| {
            let nb = self.share_masks.size()[0];
            let (mut share, mut flip) = (0.0, 0.0);
            for i in 0..nb {
                let m = self.share_masks.get(i);
                let d = model.cd(&self.share_x, &m, opts)?;
                share += penalty::image(&d).double_value(&[]);
                let changed = d.irrel.argmax(-1, false).ne_tensor(&(&d.rel + &d.irrel).argmax(-1, false));
                flip += changed.to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
            }
            Ok((share / nb as f64, flip / nb as f64))
        })
    }

    /// Per-pixel CD maps `[n, H, W]` for the heat-map inputs: for each pixel as its own
    /// blob, its relevant share of the predicted class's logit, `β_c / (|β_c| + |γ_c|)`
    /// (signed; see [`super::report::heatmap_parts`] for why not the penalty's
    /// class-averaged `softmax([β, γ])₀`).
    fn heat_maps(&self, model: &Sequential, opts: &CdOptions) -> Result<Tensor> {
        tch::no_grad(|| {
            let (h, w) = (self.heat_x.size()[2], self.heat_x.size()[3]);
            let eye = Tensor::eye(h * w, (Kind::Float, self.device)).view([h * w, h, w]);
            let mut maps = vec![];
            for i in 0..self.heat_x.size()[0] {
                let x = self.heat_x.narrow(0, i, 1);
                let predicted = model.forward(&x, false)?.argmax(-1, false).view([1, 1]);
                let mut parts = vec![];
                for chunk in eye.split(196, 0) {
                    let d = model.cd_blobs(&x, &chunk, opts)?;
                    let idx = predicted.expand([d.rel.size()[0], 1], false);
                    let (r, g) = (d.rel.gather(1, &idx, false), d.irrel.gather(1, &idx, false));
                    parts.push((&r / (r.abs() + g.abs() + 1e-12)).view([-1]));
                }
                maps.push(Tensor::cat(&parts, 0).view([h, w]));
            }
            Ok(Tensor::stack(&maps, 0))
        })
    }
}

impl Experiment for ImageExperiment {
    fn run_one(&mut self, ctx: &mut RunCtx<'_>) -> Result<CellRun> {
        let cfg = &self.cfg;
        reset_peak_rss();
        let mut rng = xai_core::device::seed_everything(ctx.seed);
        // Shared by the penalty and the joint step (only one runs per batch).
        let blob_rng = RefCell::new(stream_rng(ctx.seed, 1));
        let mut eg_rng = stream_rng(ctx.seed, 2);
        let mut vs = VarStore::new(self.device);
        let model = self.model(&vs)?;
        let mut opt = cfg.train.optimizer(&vs)?;
        let cd_opts = cfg.cd.options();
        let label = format!("{} λ={} s{}", ctx.method.name(), ctx.lambda, ctx.seed);
        let double = cfg.reference_quirks.double_step && matches!(ctx.method, Method::Rrr | Method::Eg);
        let spec = cfg.train.loop_spec(label, ctx.lambda, double);
        let (method, lambda, seed) = (ctx.method, ctx.lambda, ctx.seed);
        let (tx, ty) = (&self.train_x, &self.train_y);
        let forward_eval = |x: &Tensor| model.forward(x, false);
        let pred_loss = |idx: &Tensor| -> Result<Tensor> {
            let (x, y) = (tx.index_select(0, idx), ty.index_select(0, idx));
            Ok(model.forward(&x, true)?.log_softmax(-1, Kind::Float).nll_loss(&y))
        };
        let (blobs, dev) = (&self.blobs, self.device);
        let (rrr_variant, eg_cfg, eg_variant) = (cfg.rrr.variant(), cfg.eg.clone(), cfg.eg.variant());
        let penalty_fn = |idx: &Tensor, sink: &mut dyn FnMut(Tensor) -> Result<()>| -> Result<()> {
            let x = tx.index_select(0, idx);
            let masks = blobs.draw(&mut *blob_rng.borrow_mut(), dev);
            match method {
                Method::Cdep => sink(penalty::image_cdep(&model, &x, &masks, &cd_opts)?),
                Method::Rrr => {
                    let y = ty.index_select(0, idx);
                    sink(rrr::penalty(
                        &forward_eval,
                        &x,
                        &y,
                        &masks.square().sum_dim_intlist(0, false, Kind::Float),
                        rrr_variant,
                    )?)
                }
                Method::Eg => {
                    let y = ty.index_select(0, idx);
                    let w = masks.sum_dim_intlist(0, false, Kind::Float);
                    eg::penalty_chunks(&forward_eval, &x, &y, &w, eg_cfg.k, eg_variant, eg_cfg.chunk, &mut eg_rng, sink)
                }
                Method::Vanilla | Method::Excluded => Ok(()),
            }
        };
        // CDEP on a network without active dropout: the CD pass's logits serve the
        // prediction loss too (one forward and one backward per step instead of two).
        let joint = (method == Method::Cdep && model.train_forward_is_eval()).then(|| {
            let (model, cd_opts, blob_rng) = (&model, &cd_opts, &blob_rng);
            Box::new(move |idx: &Tensor| -> Result<(Tensor, Tensor)> {
                let (x, y) = (tx.index_select(0, idx), ty.index_select(0, idx));
                let masks = blobs.draw(&mut *blob_rng.borrow_mut(), dev);
                let (pen, logits) = penalty::image_cdep_with_logits(model, &x, &masks, cd_opts)?;
                Ok((logits.log_softmax(-1, Kind::Float).nll_loss(&y), pen))
            }) as train::JointFn<'_>
        });
        let batch = cfg.train.eval_batch_size;
        let evaluate_all = || -> Result<EvalOut> {
            let (val_loss, val_acc) = evaluate(&forward_eval, &self.val_x, &self.val_y, batch)?;
            let (_, test_acc) = evaluate(&forward_eval, &self.test_x, &self.test_y, batch)?;
            let (share, flip) = self.blob_share(&model, &cd_opts)?;
            Ok(EvalOut {
                val_loss,
                metrics: vec![
                    ("val_acc".into(), val_acc),
                    ("test_acc".into(), test_acc),
                    ("test_share".into(), share),
                    ("test_blob_flip".into(), flip),
                ],
            })
        };
        let vars = vs.variables();
        let mut last_weights = None;
        let keep_last = cfg.reference_quirks.decoy_last_epoch_eval;
        let metrics = &mut *ctx.metrics;
        let trained = train::train(
            &spec,
            &mut vs,
            opt.as_mut(),
            &mut rng,
            Hooks {
                batching: Batching::Shuffled(tx.size()[0]),
                pred_loss: Box::new(pred_loss),
                penalty: Box::new(penalty_fn),
                joint,
                evaluate: Box::new(evaluate_all),
                on_epoch: Box::new(|log: &train::EpochLog| {
                    metrics.log(&EpochRow::from_log(method.name(), lambda, seed, log))?;
                    if keep_last {
                        last_weights = Some(copy_vars(&vars));
                    }
                    Ok(())
                }),
            },
        )?;
        if let Some(w) = &last_weights {
            xai_core::checkpoint::restore(&mut vs, w)?;
        }
        let (val_loss, val_acc) = evaluate(&forward_eval, &self.val_x, &self.val_y, batch)?;
        let (_, test_acc) = evaluate(&forward_eval, &self.test_x, &self.test_y, batch)?;
        let (_, train_acc) = evaluate(&forward_eval, &self.train_x, &self.train_y, batch)?;
        let (share, flip) = self.blob_share(&model, &cd_opts)?;
        let heat = if ctx.first_seed { Some(self.heat_maps(&model, &cd_opts)?) } else { None };
        save_weights(ctx, &vs)?;
        let row = RunRow {
            train_acc,
            val_loss,
            val_acc,
            test_acc,
            test_share: Some(share),
            test_blob_flip: Some(flip),
            test_acc_max_epoch: None,
            test_acc_last_epoch: trained.epochs.last().and_then(|e| e.metric("test_acc")),
            ..run_row(self.kind.name(), ctx, &trained)
        };
        Ok(CellRun { outcome: CellOutcome::new(row, &trained), heat })
    }

    fn figures(&self, dir: &Path, cells: &[Finished], best: &[SummaryRow]) -> Result<()> {
        let name = self.kind.name();
        let opts = GridOptions {
            columns: 10,
            scale: 3,
            title: Some(format!("{name}: train row, test row")),
            ..Default::default()
        };
        save_grid(&self.examples, &opts, &dir.join(format!("{name}_examples.png")))?;
        // Heat maps of the first seed: each method at its best λ (vanilla first).
        let rows: Vec<HeatRow> = best
            .iter()
            .filter_map(|b| {
                let c = cells.iter().find(|c| {
                    c.outcome.row.method == b.method && c.outcome.row.lambda == b.lambda && c.heat.is_some()
                })?;
                let label = if b.lambda > 0.0 { format!("{} λ={}", b.method, b.lambda) } else { b.method.clone() };
                Some(HeatRow { label, share: c.heat.as_ref()?.shallow_clone() })
            })
            .collect();
        let title = format!("{name}: per-pixel CD relevance, each pixel its own blob (first seed)");
        heatmap_figure(&self.heat_display, &rows, &title, &dir.join(format!("cd_heatmap_{name}.png")))?;
        let curves: Vec<EpochCurves> = best
            .iter()
            .map(|b| EpochCurves {
                label: if b.lambda > 0.0 { format!("{} λ={}", b.method, b.lambda) } else { b.method.clone() },
                per_seed: cells
                    .iter()
                    .filter(|c| c.outcome.row.method == b.method && c.outcome.row.lambda == b.lambda)
                    .map(|c| c.outcome.epoch_test_acc.iter().map(|v| v.0).collect())
                    .collect(),
            })
            .collect();
        let title = format!("{name}: test accuracy per epoch (best λ per method, mean ± std over seeds)");
        epoch_chart(&curves, &title, &dir.join(format!("{name}_epochs.png")))?;
        Ok(())
    }

    fn paper_rows(&self, _cells: &[Finished], best: &[SummaryRow], _summary: &[SummaryRow]) -> Vec<Row> {
        let paper: &[(&str, f64, f64)] = match self.kind {
            ExpKind::Colormnist => &[("vanilla", 0.2, 0.2), ("cdep", 31.0, 2.3), ("rrr", 0.0, 0.0), ("eg", 10.0, 0.0)],
            _ => &[("vanilla", 60.1, 5.1), ("cdep", 97.2, 0.8), ("rrr", 99.0, 1.0), ("eg", 97.8, 0.2)],
        };
        let find = |m: &str| best.iter().find(|b| b.method == m);
        let mut rows = vec![];
        for (m, p, s) in paper {
            if let Some(b) = find(m) {
                rows.push(
                    Row::new(format!("{m} test acc % (best λ={})", b.lambda), b.test_acc_mean, Check::Report)
                        .ours_std(b.test_acc_std)
                        .paper(*p, Some(*s))
                        .note(format!("{} seeds", b.n_seeds)),
                );
                // The reference DecoyMNIST script tests the last epoch's weights; with
                // best-validation weights vanilla has not yet fully adopted the decoy.
                if let (ExpKind::Decoymnist, Some(last)) = (self.kind, b.test_acc_last_epoch_mean) {
                    rows.push(
                        Row::new(format!("{m} test acc %, last-epoch weights (λ={})", b.lambda), last, Check::Report)
                            .ours_std(b.test_acc_last_epoch_std.unwrap_or(f64::NAN))
                            .paper(*p, Some(*s))
                            .note("reference protocol"),
                    );
                }
            }
        }
        let c = &self.cfg.checks;
        if let (Some(v), Some(cd)) = (find("vanilla"), find("cdep")) {
            let gain = cd.test_acc_mean - v.test_acc_mean;
            if let Some(t) = c.min_gain_pts {
                rows.push(Row::new("CDEP − vanilla test acc (pts)", gain, Check::AtLeast(t)));
            }
            if let Some(t) = c.max_acc_drop_pts {
                rows.push(Row::new("CDEP − vanilla test acc (pts)", gain, Check::AtLeast(-t)));
            }
            if let (Some(t), Some(sv), Some(sc)) = (c.max_share_ratio, v.test_share_mean, cd.test_share_mean) {
                rows.push(
                    Row::new("CDEP / vanilla blob CD share", sc / sv.max(1e-12), Check::AtMost(t))
                        .note(format!("vanilla {sv:.4}, CDEP {sc:.4}")),
                );
            }
        }
        if let (Some(t), Some(cd)) = (c.min_cdep_acc, find("cdep")) {
            rows.push(Row::new("CDEP test acc %", cd.test_acc_mean, Check::AtLeast(t)));
        }
        if let (Some(t), Some(v)) = (c.max_vanilla_acc, find("vanilla")) {
            rows.push(Row::new("vanilla test acc %", v.test_acc_mean, Check::AtMost(t)));
        }
        rows
    }

    fn table_file(&self) -> &'static str {
        "table_mnist.csv"
    }
}
