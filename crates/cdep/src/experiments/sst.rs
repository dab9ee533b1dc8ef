//! SST with injected shortcuts (spec §4.3): an LSTM classifier trained with and without
//! the CDEP text penalty on the flagged words (decoys, articles, pronouns).

use super::cell::{CellOutcome, Finished};
use super::common::{reset_peak_rss, run_row, save_weights, subset};
use super::config::{Config, Experiment as ExpKind, Method};
use super::report::{RunRow, SummaryRow};
use super::{CellRun, EpochRow, Experiment, RunCtx, Setup};
use crate::cd::lstm::span_masks;
use crate::cd::{LstmCdOptions, LstmClassifier};
use crate::train::{Batching, EvalOut, Hooks};
use crate::{nets, penalty, train, CdepError, Result};
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::path::Path;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use xai_core::data::sst::{self, Example, Variant};
use xai_core::report::{Check, Row};

/// Token id of unknown words.
pub const UNK: i64 = 0;
/// Token id of padding (appended at the end of shorter sequences).
pub const PAD: i64 = 1;

/// Encoded examples: token ids, labels, and the first flagged position per example.
pub struct Encoded {
    pub ids: Vec<Vec<i64>>,
    pub labels: Vec<i64>,
    pub flag_pos: Vec<Option<usize>>,
}

/// Vocabulary over every split (min count 1) plus `<unk>` = 0, `<pad>` = 1.
pub fn vocabulary(splits: &[&[Example]]) -> HashMap<String, i64> {
    let mut vocab: HashMap<String, i64> = HashMap::new();
    vocab.insert("<unk>".into(), UNK);
    vocab.insert("<pad>".into(), PAD);
    let mut words: Vec<&str> =
        splits.iter().flat_map(|s| s.iter().flat_map(|e| e.tokens.iter().map(String::as_str))).collect();
    words.sort_unstable();
    words.dedup();
    for w in words {
        let next = vocab.len() as i64;
        vocab.entry(w.to_string()).or_insert(next);
    }
    vocab
}

/// Encodes examples; the flag position is the first token that is a flagged word.
pub fn encode(examples: &[Example], vocab: &HashMap<String, i64>, flagged: &[String]) -> Encoded {
    let ids = examples.iter().map(|e| e.tokens.iter().map(|t| *vocab.get(t).unwrap_or(&UNK)).collect()).collect();
    let flag_pos = examples.iter().map(|e| e.tokens.iter().position(|t| flagged.iter().any(|f| f == t))).collect();
    Encoded { ids, labels: examples.iter().map(|e| e.label).collect(), flag_pos }
}

/// A padded batch: tokens `[B, T]`, labels `[B]`, relevant-word and relevant-bias masks
/// `[B, T]`, and which samples carry a flagged word `[B]`.
pub struct TextBatch {
    pub tokens: Tensor,
    pub labels: Tensor,
    pub rel_words: Tensor,
    pub rel_bias: Tensor,
    pub flagged: Tensor,
}

/// Pads the examples `idx` at the end; `inclusive_stop` marks word s+1 relevant too (the
/// reference's span), else only the flagged word s.
pub fn make_batch(data: &Encoded, idx: &[i64], inclusive_stop: bool, device: Device) -> TextBatch {
    let t = idx.iter().map(|&i| data.ids[i as usize].len()).max().unwrap_or(1).max(1);
    let b = idx.len();
    let mut tokens = vec![PAD; b * t];
    let mut flagged = vec![0f32; b];
    let mut lengths = Vec::with_capacity(b);
    let mut spans = Vec::with_capacity(b);
    for (row, &i) in idx.iter().enumerate() {
        let ids = &data.ids[i as usize];
        tokens[row * t..row * t + ids.len()].copy_from_slice(ids);
        lengths.push(ids.len());
        let span = data.flag_pos[i as usize].map(|s| (s, s + 1));
        if span.is_some() {
            flagged[row] = 1.0;
        }
        spans.push(span);
    }
    // Flag positions come from the encoder, inside their sentences.
    let (words, bias) =
        span_masks(&lengths, &spans, t, inclusive_stop).expect("encoded flag positions lie in their sentences");
    let shape = [b as i64, t as i64];
    TextBatch {
        tokens: Tensor::from_slice(&tokens).view(shape).to_device(device),
        labels: Tensor::from_slice(&idx.iter().map(|&i| data.labels[i as usize]).collect::<Vec<_>>()).to_device(device),
        rel_words: words.to_device(device),
        rel_bias: bias.to_device(device),
        flagged: Tensor::from_slice(&flagged).to_device(device),
    }
}

/// Length-bucketed batches: shuffle, sort by length within pools of 100 batches, cut,
/// shuffle the batch order (as torchtext's BucketIterator).
pub fn bucket_batches(data: &Encoded, batch: usize, rng: &mut ChaCha8Rng) -> Vec<Vec<i64>> {
    let mut idx: Vec<i64> = (0..data.ids.len() as i64).collect();
    idx.shuffle(rng);
    let mut out = vec![];
    for pool in idx.chunks(batch * 100) {
        let mut pool = pool.to_vec();
        pool.sort_by_key(|&i| data.ids[i as usize].len());
        out.extend(pool.chunks(batch).map(<[i64]>::to_vec));
    }
    out.shuffle(rng);
    out
}

/// Batches sorted by length, for evaluation.
fn eval_batches(data: &Encoded, batch: usize) -> Vec<Vec<i64>> {
    let mut idx: Vec<i64> = (0..data.ids.len() as i64).collect();
    idx.sort_by_key(|&i| data.ids[i as usize].len());
    idx.chunks(batch).map(<[i64]>::to_vec).collect()
}

/// Prepared SST data of one variant.
pub struct SstExperiment {
    cfg: Config,
    kind: ExpKind,
    device: Device,
    vocab_size: i64,
    train: Encoded,
    dev: Encoded,
    test: Encoded,
    glove: Option<Tensor>,
    embeddings: String,
}

impl SstExperiment {
    /// Parses the treebank and builds the variant's splits and vocabulary.
    pub fn prepare(cfg: &Config, setup: &Setup) -> Result<Self> {
        let kind = cfg.run.experiment;
        let variant = match kind {
            ExpKind::SstDecoy => Variant::Decoy,
            ExpKind::SstArticle => Variant::Article,
            ExpKind::SstGender => Variant::Gender,
            other => {
                return Err(CdepError::invalid("run.experiment", format!("{} is not an SST experiment", other.name())))
            }
        };
        let trees = sst::load(&setup.data_root)?;
        let mut v = sst::make_variant(&trees, variant, cfg.data.seed);
        if let Some(k) = cfg.data.subtree_sample {
            let keep = Vec::<i64>::try_from(subset(v.train.len() as i64, Some(k), cfg.data.seed.wrapping_add(11)))?;
            v.train = keep.iter().map(|&i| v.train[i as usize].clone()).collect();
        }
        let flagged: Vec<String> = match (&cfg.data.flagged_words, kind, cfg.reference_quirks.gender_flags_articles) {
            (Some(words), _, _) => words.clone(),
            (None, ExpKind::SstGender, true) => vec!["a".into(), "the".into()],
            (None, _, _) => v.flagged.iter().map(|s| s.to_string()).collect(),
        };
        let vocab = vocabulary(&[&v.train, &v.dev, &v.test]);
        let (train, dev, test) =
            (encode(&v.train, &vocab, &flagged), encode(&v.dev, &vocab, &flagged), encode(&v.test, &vocab, &flagged));
        let dim = cfg.model.embed_dim.unwrap_or(300);
        let (glove, embeddings) = match cfg.model.glove.as_deref().map(|p| setup.data_root.join(p)) {
            Some(path) if path.exists() => {
                let mut words = vec![String::new(); vocab.len()];
                for (w, &i) in &vocab {
                    words[i as usize] = w.clone();
                }
                let g = xai_core::data::glove::load(&path, dim as usize, &words)?;
                let found = g.found_count();
                log::info!("GloVe {}: {found} of {} words", path.display(), vocab.len());
                (Some(g.embeddings), format!("glove:{} ({found}/{} words)", path.display(), vocab.len()))
            }
            Some(path) => {
                log::warn!(
                    "GloVe {} not found (`just fetch-data glove50` for 50-d): embeddings start random (N(0,1)); results are weaker",
                    path.display()
                );
                (None, "random".to_string())
            }
            None => (None, "random".to_string()),
        };
        let n_flag = train.flag_pos.iter().filter(|p| p.is_some()).count();
        log::info!(
            "{}: {} train ({} with a flagged word of {:?}) / {} dev / {} test, vocabulary {}",
            kind.name(),
            train.ids.len(),
            n_flag,
            flagged,
            dev.ids.len(),
            test.ids.len(),
            vocab.len()
        );
        if dev.ids.is_empty() || test.ids.is_empty() {
            return Err(CdepError::invalid("SST splits", "dev or test is empty after filtering"));
        }
        Ok(Self {
            cfg: cfg.clone(),
            kind,
            device: setup.device,
            vocab_size: vocab.len() as i64,
            train,
            dev,
            test,
            glove,
            embeddings,
        })
    }

    /// Mean loss and accuracy (%) on a split; with `last_batch_only` the loss of the last
    /// batch only (reference quirk).
    fn evaluate(&self, model: &LstmClassifier, data: &Encoded, last_batch_only: bool) -> Result<(f64, f64)> {
        tch::no_grad(|| {
            let mut loss = Tensor::zeros([], (Kind::Float, self.device));
            let mut correct = Tensor::zeros([], (Kind::Int64, self.device));
            let batches = eval_batches(data, self.cfg.train.eval_batch_size as usize);
            let mut last = Tensor::zeros([], (Kind::Float, self.device));
            for idx in &batches {
                let b = make_batch(data, idx, false, self.device);
                let logits = model.forward(&b.tokens)?;
                let l = logits.log_softmax(-1, Kind::Float).nll_loss(&b.labels);
                loss += &l * idx.len() as f64;
                last = l;
                correct += logits.argmax(-1, false).eq_tensor(&b.labels).sum(Kind::Int64);
            }
            let n = data.ids.len() as f64;
            let l = if last_batch_only { last.double_value(&[]) } else { loss.double_value(&[]) / n };
            Ok((l, 100.0 * correct.double_value(&[]) / n))
        })
    }
}

impl Experiment for SstExperiment {
    fn run_one(&mut self, ctx: &mut RunCtx<'_>) -> Result<CellRun> {
        let cfg = &self.cfg;
        reset_peak_rss();
        let mut rng = xai_core::device::seed_everything(ctx.seed);
        let mut vs = VarStore::new(self.device);
        let hidden = cfg.model.hidden.unwrap_or(128);
        let dim = cfg.model.embed_dim.unwrap_or(300);
        let model = nets::lstm_classifier(&vs.root(), self.vocab_size, dim, hidden, 2, self.glove.as_ref())?;
        let mut opt = cfg.train.optimizer(&vs)?;
        let (method, lambda, seed) = (ctx.method, ctx.lambda, ctx.seed);
        if matches!(method, Method::Rrr | Method::Eg | Method::Excluded) {
            return Err(CdepError::invalid(
                "sweep.methods",
                format!("{} is not defined for SST (vanilla and cdep are)", method.name()),
            ));
        }
        let spec = cfg.train.loop_spec(format!("{} λ={lambda} s{seed}", method.name()), lambda, false);
        let inclusive = cfg.cd.lstm_inclusive_stop;
        let cd_opts = LstmCdOptions { detach_embeddings: cfg.cd.detach_embeddings };
        let (data, dev) = (&self.train, self.device);
        let bs = cfg.train.batch_size as usize;
        // Batches are built once per epoch as index lists; the loss closures look them up.
        let current: std::cell::RefCell<HashMap<i64, Vec<i64>>> = Default::default();
        let batching = Batching::Custom(Box::new(|rng: &mut ChaCha8Rng| {
            let lists = bucket_batches(data, bs, rng);
            let mut cur = current.borrow_mut();
            cur.clear();
            lists
                .into_iter()
                .enumerate()
                .map(|(k, l)| {
                    cur.insert(k as i64, l);
                    Tensor::from_slice(&[k as i64])
                })
                .collect()
        }));
        let lookup =
            |idx: &Tensor| -> Vec<i64> { current.borrow().get(&idx.int64_value(&[0])).cloned().unwrap_or_default() };
        let pred_loss = |idx: &Tensor| -> Result<Tensor> {
            let b = make_batch(data, &lookup(idx), inclusive, dev);
            Ok(model.forward(&b.tokens)?.log_softmax(-1, Kind::Float).nll_loss(&b.labels))
        };
        let penalty_fn = |idx: &Tensor, sink: &mut dyn FnMut(Tensor) -> Result<()>| -> Result<()> {
            // Only samples with a flagged word take part; CD runs on those alone.
            let ids: Vec<i64> = lookup(idx).into_iter().filter(|&i| data.flag_pos[i as usize].is_some()).collect();
            if ids.is_empty() {
                return Ok(());
            }
            let b = make_batch(data, &ids, inclusive, dev);
            let d = model.cd(&b.tokens, &b.rel_words, &b.rel_bias, &cd_opts)?;
            sink(penalty::text(&d, &b.labels, &b.flagged)?)
        };
        let last_batch = cfg.reference_quirks.dev_loss_last_batch;
        let mut best_test = f64::NEG_INFINITY;
        let evaluate_all = || -> Result<EvalOut> {
            let (val_loss, val_acc) = self.evaluate(&model, &self.dev, last_batch)?;
            let (_, test_acc) = self.evaluate(&model, &self.test, false)?;
            Ok(EvalOut { val_loss, metrics: vec![("val_acc".into(), val_acc), ("test_acc".into(), test_acc)] })
        };
        let metrics = &mut *ctx.metrics;
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
                evaluate: Box::new(evaluate_all),
                on_epoch: Box::new(|log: &train::EpochLog| {
                    let row = EpochRow::from_log(method.name(), lambda, seed, log);
                    best_test = best_test.max(row.test_acc.unwrap_or(f64::NEG_INFINITY));
                    metrics.log(&row)?;
                    Ok(())
                }),
            },
        )?;
        let (val_loss, val_acc) = self.evaluate(&model, &self.dev, false)?;
        let (_, test_acc) = self.evaluate(&model, &self.test, false)?;
        let (_, train_acc) = self.evaluate(&model, &self.train, false)?;
        save_weights(ctx, &vs)?;
        let row = RunRow {
            train_acc,
            val_loss,
            val_acc,
            test_acc,
            test_acc_max_epoch: Some(best_test),
            test_acc_last_epoch: trained.epochs.last().and_then(|e| e.metric("test_acc")),
            embeddings: self.embeddings.clone(),
            ..run_row(self.kind.name(), ctx, &trained)
        };
        Ok(CellRun { outcome: CellOutcome::new(row, &trained), heat: None })
    }

    fn figures(&self, _dir: &Path, _cells: &[Finished], _best: &[SummaryRow]) -> Result<()> {
        Ok(())
    }

    fn paper_rows(&self, cells: &[Finished], best: &[SummaryRow], _summary: &[SummaryRow]) -> Vec<Row> {
        let (v, vs, c, cs) = match self.kind {
            ExpKind::SstDecoy => (56.6, 5.8, 75.4, 0.9),
            ExpKind::SstArticle => (57.8, 0.8, 68.2, 0.8),
            _ => (64.2, 3.1, 78.0, 3.0),
        };
        let find = |m: &str| best.iter().find(|b| b.method == m);
        let mut rows = vec![];
        for (m, p, s) in [("vanilla", v, vs), ("cdep", c, cs)] {
            if let Some(b) = find(m) {
                rows.push(
                    Row::new(
                        format!("{m} test acc % (best-dev checkpoint, λ={})", b.lambda),
                        b.test_acc_mean,
                        Check::Report,
                    )
                    .ours_std(b.test_acc_std)
                    .paper(p, Some(s))
                    .note(format!("{} seeds; embeddings {}", b.n_seeds, self.embeddings)),
                );
                if let Some(mx) = b.test_acc_max_epoch_mean {
                    rows.push(
                        Row::new(format!("{m} max-over-epochs test acc % (notebook protocol)"), mx, Check::Report)
                            .paper(p, Some(s)),
                    );
                }
            }
        }
        if let (Some(t), Some(v), Some(c)) = (self.cfg.checks.min_gain_pts, find("vanilla"), find("cdep")) {
            rows.push(Row::new("CDEP − vanilla test acc (pts)", c.test_acc_mean - v.test_acc_mean, Check::AtLeast(t)));
        }
        // CDEP cells' penalty in their first and last epoch.
        let trace: Vec<(f64, f64)> = cells
            .iter()
            .filter(|c| c.outcome.row.method == Method::Cdep.name() && c.outcome.row.epochs_run > 0)
            .map(|c| (c.outcome.penalty_first_epoch.0, c.outcome.row.penalty_last_epoch))
            .collect();
        if self.cfg.checks.penalty_falls && !trace.is_empty() {
            let ratio = trace.iter().map(|(f, l)| l / f.max(1e-30)).fold(0.0, f64::max);
            rows.push(Row::new("CDEP penalty last / first epoch (worst run)", ratio, Check::AtMost(1.0)));
        }
        rows
    }

    fn table_file(&self) -> &'static str {
        "table_sst.csv"
    }
}
