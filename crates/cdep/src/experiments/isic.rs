//! The ISIC skin-cancer experiment (spec §4.4), bring your own data: images and the
//! authors' patch maps under `<data root>/isic/` (`xai_core::data::isic`), VGG16 ImageNet
//! weights from `model.weights`. The VGG16 features and, for benign patch images, their
//! CD split are computed once and cached ([`super::isic_features`]); each (method, λ,
//! seed) trains only the classifier head on them, with the ISIC penalty for CDEP.

use super::cell::{CellOutcome, Finished};
use super::common::{reset_peak_rss, run_row, save_weights};
use super::config::{Config, Method};
use super::isic_features::{self as features, ExtractOptions};
use super::isic_report as report;
use super::report::{RunRow, SummaryRow};
use super::{CellRun, EpochRow, Experiment, RunCtx, Setup};
use crate::cd::{Decomp, Sequential};
use crate::nets::vgg;
use crate::train::{Batching, EvalOut, Hooks};
use crate::{metrics, penalty, train, CdepError, Result};
use std::cell::Cell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use xai_core::data::isic::{self as data, pixels, Counts, Index};
use xai_core::report::Row;
use xai_core::train::batch_indices;

/// Features and labels of one split, on the run device.
struct Part {
    feat: Tensor,
    y: Tensor,
}

impl Part {
    fn of(feat: &Tensor, labels: &Tensor, rows: &[i64], dev: Device) -> Self {
        let idx = Tensor::from_slice(rows);
        Part { feat: feat.index_select(0, &idx).to_device(dev), y: labels.index_select(0, &idx).to_device(dev) }
    }
}

/// The prepared ISIC experiment.
pub struct Isic {
    cfg: Config,
    device: Device,
    counts: Counts,
    train: Part,
    val: Part,
    test: Part,
    /// Training rows that carry a patch, `[n_train]` bool.
    train_patch: Tensor,
    /// Per training row, its row in `rel`/`irrel` (−1: no patch), `[n_train]` i64.
    slot: Tensor,
    /// CD parts of the training patch images' features.
    rel: Tensor,
    irrel: Tensor,
    /// Which test images carry a patch.
    test_patch: Vec<bool>,
    /// `[1/(1−r), 1/r]` normalised, r = malignant share of the whole set (the reference's);
    /// equal weights without `train.class_weights`.
    class_weights: Tensor,
    /// ImageNet weights of the head's first two layers, and their file.
    head_init: Option<(PathBuf, HashMap<String, Tensor>)>,
    hidden: i64,
    summary: serde_json::Value,
    from_cache: bool,
    examples: Option<report::Examples>,
}

/// `configured` under the data root unless absolute.
fn under_root(root: &Path, configured: &str) -> PathBuf {
    let p = Path::new(configured);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        root.join(p)
    }
}

fn rows(v: &[i64]) -> Tensor {
    Tensor::from_slice(v)
}

/// For the training rows `train`: each one's slot among the training patch images (−1:
/// no patch), and which cached patch rows (positions in `patch_rows`) those images are.
fn patch_slots(patch_rows: &Tensor, n: i64, train: &[i64]) -> (Tensor, Tensor) {
    let cpu = (Kind::Int64, Device::Cpu);
    let p = patch_rows.size()[0];
    let pos = Tensor::full([n], -1i64, cpu).index_copy(0, patch_rows, &Tensor::arange(p, cpu));
    let pos = pos.index_select(0, &rows(train));
    let is_patch = pos.ge(0);
    let slot = (is_patch.to_kind(Kind::Int64).cumsum(0, Kind::Int64) - 1).where_self(&is_patch, &Tensor::from(-1i64));
    (slot, pos.masked_select(&is_patch))
}

/// `[1/(1−r), 1/r]` normalised to sum 1 for a malignant share `r` (equal weights when
/// class weighting is off).
fn class_weights(counts: &Counts, enabled: bool) -> Tensor {
    let r = counts.malignant as f64 / (counts.benign + counts.malignant) as f64;
    let w = if enabled { [1.0 / (1.0 - r), 1.0 / r] } else { [1.0, 1.0] };
    Tensor::from_slice(&[w[0] / (w[0] + w[1]), w[1] / (w[0] + w[1])]).to_kind(Kind::Float)
}

impl Isic {
    pub fn prepare(cfg: &Config, setup: &Setup) -> Result<Self> {
        cfg.validate()?;
        let ic = &cfg.isic;
        let dev = setup.device;
        let index = Index::open(&setup.data_root.join(data::DATASET))?;
        let counts = index.counts();
        log::info!(
            "isic: {} benign ({} with a patch map), {} malignant in {}",
            counts.benign,
            counts.benign_with_patch,
            counts.malignant,
            index.root.display()
        );
        if counts.benign_with_patch == 0
            && cfg.sweep.methods.iter().any(|m| matches!(m, Method::Cdep | Method::Excluded))
        {
            return Err(xai_core::Error::data(
                index.root.join(data::SEGMENTATION_DIR),
                "no benign image has a patch map, so CDEP has nothing to penalise and Excluded nothing to exclude",
            )
            .with_hint(data::hint())
            .into());
        }
        let mut weights = match &cfg.model.weights {
            Some(w) => {
                let path = under_root(&setup.data_root, w);
                let tensors = vgg::read_weights(&path)?;
                Some((path, tensors))
            }
            None => None,
        };
        let head_init = match &mut weights {
            Some((path, all)) => Some((path.clone(), vgg::pretrained_head(all, path)?)),
            None => None,
        };
        let size = ic.image_size as u32;
        let opts = ExtractOptions {
            image_size: size,
            dilation: pixels::dilation_side(ic.dilation, ic.image_size),
            threshold: ic.mask_threshold,
            batch: ic.feature_batch_size,
            cd: cfg.cd.options(),
            device: dev,
        };
        let weights_id = match &weights {
            Some((path, _)) => features::file_identity(path)?,
            None => format!("random init, seed {}", cfg.data.seed),
        };
        let key = features::cache_key(&index, &opts, &weights_id)?;
        let cache = features::cache_file(&features::cache_dir(&setup.data_root, ic.cache_dir.as_deref()), &key);
        let (f, from_cache) = features::load_or_extract(&cache, &index, &opts, || {
            // Built on the CPU so a random init does not depend on the device's RNG.
            tch::manual_seed(cfg.data.seed as i64);
            let mut vs = VarStore::new(Device::Cpu);
            let extractor = vgg::features(&vs.root());
            match &weights {
                Some((path, w)) => vgg::load_named(&vs, w, &vgg::names_under(&vs, "features."), path)?,
                None => vgg::random_init(&vs),
            }
            vs.freeze();
            vs.set_device(dev);
            Ok(extractor)
        })?;
        features::check_finite(&f)?;

        drop(weights);
        let split = data::split(index.len(), cfg.data.valid_fraction, cfg.data.seed);
        let labels = index.labels();
        let has_patch = index.has_patch();
        let (slot, keep) = patch_slots(&f.patch_rows, index.len() as i64, &split.train);
        let test_patch = Vec::<bool>::try_from(has_patch.index_select(0, &rows(&split.test)))?;
        let head_init =
            head_init.map(|(path, init)| (path, init.into_iter().map(|(k, t)| (k, t.to_device(dev))).collect()));
        let examples = report::Examples::load(&index, size, ic.mask_threshold, opts.dilation)?;
        let sizes = [split.train.len(), split.val.len(), split.test.len()];
        let n_patch = |v: &[i64]| v.iter().filter(|&&i| index.entries[i as usize].has_patch()).count();
        log::info!(
            "isic: {} train ({} with a patch) / {} val / {} test ({} with a patch); features {}",
            sizes[0],
            n_patch(&split.train),
            sizes[1],
            sizes[2],
            n_patch(&split.test),
            if from_cache { "from the cache" } else { "computed" }
        );
        let summary = serde_json::json!({
            "counts": counts,
            "split": { "train": sizes[0], "val": sizes[1], "test": sizes[2],
                       "train_with_patch": n_patch(&split.train), "val_with_patch": n_patch(&split.val),
                       "test_with_patch": n_patch(&split.test) },
            "image_size": ic.image_size,
            "dilation_px": opts.dilation,
            "weights": weights_id,
            "feature_cache": cache.display().to_string(),
            "features_from_cache": from_cache,
        });
        Ok(Self {
            device: dev,
            counts,
            train: Part::of(&f.feat, &labels, &split.train, dev),
            val: Part::of(&f.feat, &labels, &split.val, dev),
            test: Part::of(&f.feat, &labels, &split.test, dev),
            train_patch: has_patch.index_select(0, &rows(&split.train)).to_device(dev),
            slot: slot.to_device(dev),
            rel: f.rel.index_select(0, &keep).to_device(dev),
            irrel: f.irrel.index_select(0, &keep).to_device(dev),
            test_patch,
            class_weights: class_weights(&counts, cfg.train.class_weights).to_device(dev),
            head_init,
            hidden: cfg.model.hidden.unwrap_or(vgg::IMAGENET_HIDDEN),
            summary,
            from_cache,
            examples,
            cfg: cfg.clone(),
        })
    }

    /// Whether the features came from the on-disk cache.
    pub fn features_from_cache(&self) -> bool {
        self.from_cache
    }

    /// Class and patch counts of the image folder.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// A fresh head in `vs` (PyTorch init, then the ImageNet layers when given).
    fn head(&self, vs: &VarStore) -> Result<Sequential> {
        let head = vgg::head(&vs.root(), self.hidden, 0.5);
        if let Some((path, init)) = &self.head_init {
            let names: Vec<String> = vgg::HEAD_PRETRAINED.iter().map(|s| s.to_string()).collect();
            vgg::load_named(vs, init, &names, path)?;
        }
        Ok(head)
    }
}

/// Class-weighted cross-entropy (the weighted mean PyTorch's `CrossEntropyLoss(weight)`
/// takes), accuracy (%) and p(malignant) of the head on features `x`, batch by batch
/// without gradients.
fn evaluate(head: &Sequential, x: &Tensor, y: &Tensor, w: &Tensor, batch: i64) -> Result<(f64, f64, Vec<f64>)> {
    let n = x.size()[0];
    if n == 0 {
        return Ok((f64::NAN, f64::NAN, vec![]));
    }
    tch::no_grad(|| {
        let dev = x.device();
        let (mut loss, mut wsum, mut correct) = (
            Tensor::zeros([], (Kind::Float, dev)),
            Tensor::zeros([], (Kind::Float, dev)),
            Tensor::zeros([], (Kind::Int64, dev)),
        );
        let mut probs = vec![];
        for lo in (0..n).step_by(batch.max(1) as usize) {
            let m = batch.min(n - lo);
            let (xb, yb) = (x.narrow(0, lo, m), y.narrow(0, lo, m));
            let lsm = head.forward(&xb, false)?.log_softmax(-1, Kind::Float);
            loss += lsm.nll_loss_nd(&yb, Some(w), tch::Reduction::Sum, -100);
            wsum += w.index_select(0, &yb).sum(Kind::Float);
            correct += lsm.argmax(-1, false).eq_tensor(&yb).sum(Kind::Int64);
            probs.push(lsm.select(1, 1).exp());
        }
        let p = Vec::<f64>::try_from(Tensor::cat(&probs, 0).to_kind(Kind::Double).to_device(Device::Cpu))?;
        let acc = 100.0 * correct.double_value(&[]) / n as f64;
        Ok(((loss / wsum).double_value(&[]), acc, p))
    })
}

impl Experiment for Isic {
    fn run_one(&mut self, ctx: &mut RunCtx<'_>) -> Result<CellRun> {
        let cfg = &self.cfg;
        let (method, lambda, seed) = (ctx.method, ctx.lambda, ctx.seed);
        if matches!(method, Method::Rrr | Method::Eg) {
            return Err(CdepError::invalid("sweep.methods", format!("{} is not built for ISIC", method.name())));
        }
        reset_peak_rss();
        let mut rng = xai_core::device::seed_everything(seed);
        let mut vs = VarStore::new(self.device);
        let head = self.head(&vs)?;
        let mut opt = cfg.train.optimizer(&vs)?;
        // Excluded trains on the training images without a patch.
        let keep = if method == Method::Excluded {
            self.train_patch.logical_not().nonzero().squeeze_dim(1)
        } else {
            Tensor::arange(self.train.y.size()[0], (Kind::Int64, self.device))
        };
        let (fx, fy) = (self.train.feat.index_select(0, &keep), self.train.y.index_select(0, &keep));
        let slot = self.slot.index_select(0, &keep);
        let w = &self.class_weights;
        let eval_batch = cfg.train.eval_batch_size;
        let spec = cfg.train.loop_spec(format!("isic {} λ={lambda} s{seed}", method.name()), lambda, false);
        let cd = cfg.cd.options();
        // Reference quirk: its CD call switches the head to eval mode until the next epoch.
        let leak = cfg.reference_quirks.isic_eval_mode_leak && method == Method::Cdep;
        let leaked = Cell::new(false);
        let (n_rows, batch, dev) = (fx.size()[0], cfg.train.batch_size, self.device);
        let batching = Batching::Custom(Box::new(|rng: &mut rand_chacha::ChaCha8Rng| {
            leaked.set(false);
            batch_indices(n_rows, batch, true, rng, dev)
        }));
        let pred_loss = |idx: &Tensor| -> Result<Tensor> {
            let logits = head.forward(&fx.index_select(0, idx), !(leak && leaked.get()))?;
            Ok(logits.log_softmax(-1, Kind::Float).nll_loss_nd(
                &fy.index_select(0, idx),
                Some(w),
                tch::Reduction::Mean,
                -100,
            ))
        };
        let penalty_fn = |idx: &Tensor, sink: &mut dyn FnMut(Tensor) -> Result<()>| -> Result<()> {
            let s = slot.index_select(0, idx);
            let k = s.masked_select(&s.ge(0));
            if k.numel() == 0 {
                return Ok(());
            }
            let d = Decomp::new(self.rel.index_select(0, &k), self.irrel.index_select(0, &k));
            sink(penalty::isic(&head.cd_decomp(d, &cd)?))?;
            leaked.set(true);
            Ok(())
        };
        let evaluate_val = || -> Result<EvalOut> {
            let (loss, acc, _) = evaluate(&head, &self.val.feat, &self.val.y, w, eval_batch)?;
            Ok(EvalOut { val_loss: loss, metrics: vec![("val_acc".into(), acc)] })
        };
        let metrics_log = &mut *ctx.metrics;
        let trained = train::train(
            &spec,
            &mut vs,
            opt.as_mut(),
            &mut rng,
            Hooks {
                batching,
                pred_loss: Box::new(pred_loss),
                penalty: Box::new(penalty_fn),
                joint: None,
                evaluate: Box::new(evaluate_val),
                on_epoch: EpochRow::logger(metrics_log, method, lambda, seed),
            },
        )?;
        let (_, train_acc, _) = evaluate(&head, &fx, &fy, w, eval_batch)?;
        let (val_loss, val_acc, _) = evaluate(&head, &self.val.feat, &self.val.y, w, eval_batch)?;
        let (_, test_acc, p) = evaluate(&head, &self.test.feat, &self.test.y, w, eval_batch)?;
        let y = Vec::<i64>::try_from(self.test.y.to_device(Device::Cpu))?;
        let clean: Vec<usize> = (0..y.len()).filter(|&i| !self.test_patch[i]).collect();
        let (pc, yc): (Vec<f64>, Vec<i64>) = clean.iter().map(|&i| (p[i], y[i])).unzip();
        save_weights(ctx, &vs)?;
        let row = RunRow {
            train_acc,
            val_loss,
            val_acc,
            test_acc,
            auc_all: Some(metrics::auc(&p, &y)),
            f1_all: Some(metrics::f1_max(&p, &y)),
            auc_nopatch: Some(metrics::auc(&pc, &yc)),
            f1_nopatch: Some(metrics::f1_max(&pc, &yc)),
            ..run_row("isic", ctx, &trained)
        };
        Ok(CellRun { outcome: CellOutcome::new(row, &trained), heat: None })
    }

    fn figures(&self, dir: &Path, _cells: &[Finished], _best: &[SummaryRow]) -> Result<()> {
        match &self.examples {
            Some(ex) => ex.save(&dir.join("isic_examples.png")),
            None => Ok(()),
        }
    }

    fn paper_rows(&self, cells: &[Finished], best: &[SummaryRow], _summary: &[SummaryRow]) -> Vec<Row> {
        let rows: Vec<RunRow> = cells.iter().map(|c| c.outcome.row.clone()).collect();
        report::paper_rows(&rows, best)
    }

    fn table_file(&self) -> &'static str {
        "table_isic.csv"
    }

    fn write_tables(&self, run_dir: &Path, rows: &[RunRow], best: &[SummaryRow]) -> Result<()> {
        report::write_table(&run_dir.join("table_isic.csv"), rows, best)
    }

    fn data_summary(&self) -> Option<serde_json::Value> {
        Some(self.summary.clone())
    }
}
