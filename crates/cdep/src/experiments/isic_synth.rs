//! `isic_synth` (spec §6): a small, fully local stand-in for the ISIC experiment. MNIST
//! t10k digits, label = digit ≥ 5 ("malignant"); half of the *benign* training images get
//! a green 7×7 square pasted at a random place (the "band-aid"); test images carry none.
//! A frozen random-init CNN extracts 512-d features, and for patch images the CD split
//! `(β, γ)` of those features is precomputed, as the ISIC pipeline does with VGG16; only
//! the head is trained, with the ISIC penalty on the patch images.

use super::cell::{CellOutcome, Finished};
use super::common::{reset_peak_rss, run_row, save_weights, stream_rng, subset};
use super::config::{Config, Method};
use super::report::{RunRow, SummaryRow};
use super::{CellRun, EpochRow, Experiment, RunCtx, Setup};
use crate::cd::{Decomp, Sequential};
use crate::train::{Batching, EvalOut, Hooks};
use crate::{metrics, nets, penalty, train, CdepError, Result};
use rand::Rng;
use std::path::Path;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use xai_core::data::mnist;
use xai_core::figures::{save_grid, GridOptions};
use xai_core::report::{Check, Row};

/// Side of the pasted square.
pub const PATCH: i64 = 7;
/// Its colour (RGB in [0, 1]).
pub const PATCH_RGB: [f32; 3] = [0.1, 0.9, 0.2];

/// Pastes the square at `(r, c)` into 3-channel images `[N, 3, 28, 28]`; returns the
/// images and the blob masks `[N, 28, 28]` (square dilated by 1 px, clipped).
pub fn paste(images: &Tensor, pos: &[(i64, i64)]) -> (Tensor, Tensor) {
    let n = images.size()[0];
    let out = images.copy();
    let masks = Tensor::zeros([n, 28, 28], (Kind::Float, Device::Cpu));
    let color = Tensor::from_slice(&PATCH_RGB).view([3, 1, 1]);
    for (i, &(r, c)) in pos.iter().enumerate() {
        out.get(i as i64).narrow(1, r, PATCH).narrow(2, c, PATCH).copy_(&color.expand([3, PATCH, PATCH], false));
        let (r0, c0) = ((r - 1).max(0), (c - 1).max(0));
        let (r1, c1) = ((r + PATCH + 1).min(28), (c + PATCH + 1).min(28));
        let _ = masks.get(i as i64).narrow(0, r0, r1 - r0).narrow(1, c0, c1 - c0).fill_(1.0);
    }
    (out, masks)
}

fn random_positions(n: i64, rng: &mut impl Rng) -> Vec<(i64, i64)> {
    (0..n).map(|_| (rng.gen_range(0..=28 - PATCH), rng.gen_range(0..=28 - PATCH))).collect()
}

/// Features and labels of one split.
struct Split {
    feat: Tensor,
    y: Tensor,
}

/// Prepared features of `isic_synth`.
pub struct IsicSynth {
    cfg: Config,
    device: Device,
    train: Split,
    /// Which training rows carry a patch (`[N]` bool) and their precomputed CD parts.
    has_patch: Tensor,
    patch_rows: Tensor,
    patch_rel: Tensor,
    patch_irrel: Tensor,
    val: Split,
    test: Split,
    /// Malignant test images with a pasted patch, features.
    flip_feat: Tensor,
    flip_clean_feat: Tensor,
    examples: Tensor,
}

impl IsicSynth {
    pub fn prepare(cfg: &Config, setup: &Setup) -> Result<Self> {
        let (x, digits) = mnist::load_split(&setup.data_root, false)?;
        let n = x.size()[0];
        let perm = subset(n, None, cfg.data.seed);
        let n_val = (n as f64 * cfg.data.valid_fraction).round() as i64;
        let n_test = n_val;
        let n_train = n - n_val - n_test;
        let pick = |lo: i64, len: i64| perm.narrow(0, lo, len);
        let (tr, va, te) = (pick(0, n_train), pick(n_train, n_val), pick(n_train + n_val, n_test));
        let rgb = x.repeat([1, 3, 1, 1]);
        let y = digits.ge(5).to_kind(Kind::Int64);
        let (xtr, ytr) = (rgb.index_select(0, &tr), y.index_select(0, &tr));
        // Half of the benign training images get a patch.
        let mut rng = stream_rng(cfg.data.seed, 5);
        let benign: Vec<i64> = Vec::<i64>::try_from(ytr.eq(0).nonzero().squeeze_dim(1))?;
        let patched: Vec<i64> = benign.into_iter().filter(|_| rng.gen_bool(0.5)).collect();
        let rows = Tensor::from_slice(&patched);
        let (img_p, masks) = paste(&xtr.index_select(0, &rows), &random_positions(patched.len() as i64, &mut rng));
        let xtr = xtr.index_copy(0, &rows, &img_p);
        let has_patch = Tensor::zeros([n_train], (Kind::Bool, Device::Cpu)).index_fill(0, &rows, 1);
        let (xte, yte) = (rgb.index_select(0, &te), y.index_select(0, &te));
        let malignant = yte.eq(1).nonzero().squeeze_dim(1);
        let (flip_img, _) = paste(&xte.index_select(0, &malignant), &random_positions(malignant.size()[0], &mut rng));
        // The frozen extractor: random init from the data seed, never trained.
        tch::manual_seed(cfg.data.seed as i64);
        let vs = VarStore::new(setup.device);
        let extractor = nets::synth_extractor(&vs.root())?;
        let dev = setup.device;
        let feats = |x: &Tensor| -> Result<Tensor> { tch::no_grad(|| extractor.forward(&x.to_device(dev), false)) };
        let cd = cfg.cd.options();
        let d = tch::no_grad(|| -> Result<Decomp> {
            let d = Decomp::from_mask(&img_p.to_device(dev), &masks.to_device(dev))?;
            extractor.cd_decomp(d, &cd)
        })?;
        let examples =
            Tensor::cat(&[xtr.index_select(0, &rows.narrow(0, 0, rows.size()[0].min(8))), xte.narrow(0, 0, 8)], 0);
        log::info!("isic_synth: {n_train} train ({} with a patch) / {n_val} val / {n_test} test", patched.len());
        Ok(Self {
            device: dev,
            train: Split { feat: feats(&xtr)?, y: ytr.to_device(dev) },
            has_patch: has_patch.to_device(dev),
            patch_rows: rows.to_device(dev),
            patch_rel: d.rel,
            patch_irrel: d.irrel,
            val: Split { feat: feats(&rgb.index_select(0, &va))?, y: y.index_select(0, &va).to_device(dev) },
            flip_clean_feat: feats(&xte.index_select(0, &malignant))?,
            test: Split { feat: feats(&xte)?, y: yte.to_device(dev) },
            flip_feat: feats(&flip_img)?,
            examples,
            cfg: cfg.clone(),
        })
    }

    fn head(&self, vs: &VarStore) -> Sequential {
        nets::mlp(&vs.root(), &[512, self.cfg.model.hidden.unwrap_or(64), 2], 0.5)
    }

    /// Class weights `[1/(1−r), 1/r]` normalised to sum 1, r = malignant share of train.
    fn class_weights(&self, y: &Tensor) -> Tensor {
        let r = y.to_kind(Kind::Float).mean(Kind::Float);
        let w = Tensor::stack(&[(-&r + 1.0).reciprocal(), r.reciprocal()], 0);
        &w / w.sum(Kind::Float)
    }
}

fn probs(head: &Sequential, x: &Tensor) -> Result<Vec<f64>> {
    tch::no_grad(|| {
        let p = head.forward(x, false)?.softmax(-1, Kind::Float).select(1, 1);
        Ok(Vec::<f64>::try_from(p.to_kind(Kind::Double).to_device(Device::Cpu))?)
    })
}

impl Experiment for IsicSynth {
    fn run_one(&mut self, ctx: &mut RunCtx<'_>) -> Result<CellRun> {
        let cfg = &self.cfg;
        reset_peak_rss();
        let mut rng = xai_core::device::seed_everything(ctx.seed);
        let mut vs = VarStore::new(self.device);
        let head = self.head(&vs);
        let mut opt = cfg.train.optimizer(&vs)?;
        let (method, lambda, seed) = (ctx.method, ctx.lambda, ctx.seed);
        if matches!(method, Method::Rrr | Method::Eg) {
            return Err(CdepError::invalid(
                "sweep.methods",
                format!("{} needs pixels; isic_synth trains on features", method.name()),
            ));
        }
        // "Excluded" trains on the training rows without a patch.
        let rows = if method == Method::Excluded {
            self.has_patch.logical_not().nonzero().squeeze_dim(1)
        } else {
            Tensor::arange(self.train.y.size()[0], (Kind::Int64, self.device))
        };
        let (fx, fy) = (self.train.feat.index_select(0, &rows), self.train.y.index_select(0, &rows));
        let weights = if cfg.train.class_weights { Some(self.class_weights(&fy)) } else { None };
        let ce = |logits: &Tensor, y: &Tensor| -> Tensor {
            logits.log_softmax(-1, Kind::Float).nll_loss_nd(y, weights.as_ref(), tch::Reduction::Mean, -100)
        };
        // Position of each training row among the patch rows (−1: none), for the penalty.
        let n_all = self.train.y.size()[0];
        let slot = Tensor::full([n_all], -1i64, (Kind::Int64, self.device)).index_copy(
            0,
            &self.patch_rows,
            &Tensor::arange(self.patch_rows.size()[0], (Kind::Int64, self.device)),
        );
        let slot = slot.index_select(0, &rows);
        let spec = cfg.train.loop_spec(format!("{} λ={lambda} s{seed}", method.name()), lambda, false);
        let cd = cfg.cd.options();
        // Reference quirk: its CD call left the model in eval mode, so CDEP trained without
        // dropout after the first batch while vanilla kept it.
        let leak = cfg.reference_quirks.isic_eval_mode_leak && method == Method::Cdep;
        let steps = std::cell::Cell::new(0usize);
        let pred_loss = |idx: &Tensor| -> Result<Tensor> {
            let train_mode = !(leak && steps.get() > 0);
            steps.set(steps.get() + 1);
            Ok(ce(&head.forward(&fx.index_select(0, idx), train_mode)?, &fy.index_select(0, idx)))
        };
        let penalty_fn = |idx: &Tensor, sink: &mut dyn FnMut(Tensor) -> Result<()>| -> Result<()> {
            let s = slot.index_select(0, idx);
            let k = s.masked_select(&s.ge(0));
            if k.numel() == 0 {
                return Ok(());
            }
            let d = Decomp::new(self.patch_rel.index_select(0, &k), self.patch_irrel.index_select(0, &k));
            sink(penalty::isic(&head.cd_decomp(d, &cd)?))
        };
        let evaluate_all = || -> Result<EvalOut> {
            let (vl, va) = tch::no_grad(|| -> Result<(f64, f64)> {
                let logits = head.forward(&self.val.feat, false)?;
                let acc = logits.argmax(-1, false).eq_tensor(&self.val.y).to_kind(Kind::Float).mean(Kind::Float);
                Ok((ce(&logits, &self.val.y).double_value(&[]), 100.0 * acc.double_value(&[])))
            })?;
            let p = probs(&head, &self.test.feat)?;
            let y = Vec::<i64>::try_from(self.test.y.to_device(Device::Cpu))?;
            Ok(EvalOut {
                val_loss: vl,
                metrics: vec![("val_acc".into(), va), ("test_auc".into(), metrics::auc(&p, &y))],
            })
        };
        let metrics_log = &mut *ctx.metrics;
        let trained = train::train(
            &spec,
            &mut vs,
            opt.as_mut(),
            &mut rng,
            Hooks {
                batching: Batching::Shuffled(fx.size()[0]),
                pred_loss: Box::new(pred_loss),
                penalty: Box::new(penalty_fn),
                joint: None,
                evaluate: Box::new(evaluate_all),
                on_epoch: EpochRow::logger(metrics_log, method, lambda, seed),
            },
        )?;
        let y = Vec::<i64>::try_from(self.test.y.to_device(Device::Cpu))?;
        let p = probs(&head, &self.test.feat)?;
        let acc = 100.0 * p.iter().zip(&y).filter(|(p, y)| (**p >= 0.5) == (**y == 1)).count() as f64 / y.len() as f64;
        let (pc, pf) = (probs(&head, &self.flip_clean_feat)?, probs(&head, &self.flip_feat)?);
        let flips =
            pc.iter().zip(&pf).filter(|(a, b)| (**a >= 0.5) != (**b >= 0.5)).count() as f64 / pc.len().max(1) as f64;
        let (val_loss, val_acc) = tch::no_grad(|| -> Result<(f64, f64)> {
            let logits = head.forward(&self.val.feat, false)?;
            let acc = logits.argmax(-1, false).eq_tensor(&self.val.y).to_kind(Kind::Float).mean(Kind::Float);
            Ok((ce(&logits, &self.val.y).double_value(&[]), 100.0 * acc.double_value(&[])))
        })?;
        save_weights(ctx, &vs)?;
        let row = RunRow {
            train_acc: f64::NAN,
            val_loss,
            val_acc,
            test_acc: acc,
            auc_nopatch: Some(metrics::auc(&p, &y)),
            f1_nopatch: Some(metrics::f1_max(&p, &y)),
            flip_rate: Some(flips),
            ..run_row("isic_synth", ctx, &trained)
        };
        Ok(CellRun { outcome: CellOutcome::new(row, &trained), heat: None })
    }

    fn figures(&self, dir: &Path, _cells: &[Finished], _best: &[SummaryRow]) -> Result<()> {
        let opts = GridOptions {
            columns: 8,
            scale: 3,
            title: Some("isic_synth: patched benign train (top), test (bottom)".into()),
            ..Default::default()
        };
        save_grid(&self.examples, &opts, &dir.join("isic_examples.png"))?;
        Ok(())
    }

    fn paper_rows(&self, _cells: &[Finished], best: &[SummaryRow], _summary: &[SummaryRow]) -> Vec<Row> {
        let find = |m: &str| best.iter().find(|b| b.method == m);
        let mut rows = vec![];
        for (m, paper_auc) in [("vanilla", 0.87), ("excluded", 0.88), ("cdep", 0.89)] {
            if let Some(b) = find(m) {
                if let Some(a) = b.auc_nopatch_mean {
                    rows.push(
                        Row::new(format!("{m} AUC no-patch test (λ={})", b.lambda), a, Check::Report)
                            .paper(paper_auc, None)
                            .note("ISIC paper value; synthetic stand-in"),
                    );
                }
                if let Some(f) = b.flip_rate_mean {
                    rows.push(Row::new(format!("{m} patch flip rate"), f, Check::Report));
                }
            }
        }
        if let (Some(v), Some(c)) = (find("vanilla"), find("cdep")) {
            if let (Some(fv), Some(fc)) = (v.flip_rate_mean, c.flip_rate_mean) {
                rows.push(
                    Row::new("CDEP flip − vanilla flip", fc - fv, Check::AtMost(0.0))
                        .note("CDEP must flip fewer malignant images"),
                );
            }
            if let (Some(av), Some(ac)) = (v.auc_nopatch_mean, c.auc_nopatch_mean) {
                rows.push(Row::new("AUC drop (vanilla − CDEP)", av - ac, Check::AtMost(0.02)));
            }
        }
        rows
    }

    fn table_file(&self) -> &'static str {
        "table_isic.csv"
    }
}
