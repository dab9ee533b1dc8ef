//! Spec §5.6 model fitting for the VAEs (tabular / MLP and the MNIST ResNet): Adam (RAdam
//! is not in tch; logged as a deviation by the experiments), mini-batches,
//! best-validation-ELBO weights restored; optionally checkpointed every few epochs and
//! resumed ([`fit_resumable`]): a paper-scale tabular fit is thousands of epochs.

use crate::vae::{Elbo, Likelihood, TabularVae};
use crate::{ClueError, Result};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};
use xai_core::optim::{AdamConfig, Optimizer};

/// Fitting schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VaeTrainParams {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    /// Stop after this many epochs without a better validation ELBO (0 = never).
    pub patience: usize,
}

impl VaeTrainParams {
    pub fn validate(&self) -> Result<()> {
        // BatchNorm needs two rows per batch in training mode.
        if self.epochs == 0 || self.batch_size < 2 {
            return Err(ClueError::invalid("vae.epochs / vae.batch_size", "epochs must be ≥ 1 and batch_size ≥ 2"));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(ClueError::invalid("vae.lr", format!("must be > 0, got {}", self.lr)));
        }
        Ok(())
    }
}

/// One epoch's record.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VaeEpoch {
    pub epoch: usize,
    pub train_loss: f64,
    /// Mean per-row ELBO on the validation rows with z = posterior mean (eval-mode BN).
    pub val_elbo: f64,
}

/// What a fit produced.
#[derive(Debug, Clone)]
pub struct VaeFit {
    pub best_epoch: usize,
    pub best_val_elbo: f64,
    pub history: Vec<VaeEpoch>,
}

/// What [`fit`] needs of a VAE, so that one loop trains every architecture.
pub trait TrainableVae {
    fn var_store(&self) -> &VarStore;
    fn var_store_mut(&mut self) -> &mut VarStore;
    /// Errors on rows the model cannot score (width, one-hot blocks).
    fn check_rows(&self, x: &Tensor) -> Result<()>;
    /// Per-row ELBO terms, one reparameterised sample (`sample = false`: z = μ).
    fn elbo_t(&self, x: &Tensor, train: bool, sample: bool) -> Elbo;
    /// The training loss of a batch (`−mean(ELBO)` over the likelihood's normaliser).
    fn loss(&self, x: &Tensor) -> Tensor;
}

impl TrainableVae for TabularVae {
    fn var_store(&self) -> &VarStore {
        &self.vs
    }
    fn var_store_mut(&mut self) -> &mut VarStore {
        &mut self.vs
    }
    fn check_rows(&self, x: &Tensor) -> Result<()> {
        match self.likelihood {
            Likelihood::GaussCat => self.blocks.validate_rows(x),
            Likelihood::Bernoulli => {
                if x.dim() != 2 || x.size()[1] as usize != self.flat_dim() {
                    return Err(ClueError::bad_input(
                        "rows",
                        format!("expected [N, {}], got {:?}", self.flat_dim(), x.size()),
                    ));
                }
                Ok(())
            }
        }
    }
    fn elbo_t(&self, x: &Tensor, train: bool, sample: bool) -> Elbo {
        TabularVae::elbo_t(self, x, train, sample)
    }
    fn loss(&self, x: &Tensor) -> Tensor {
        TabularVae::loss(self, x)
    }
}

/// Mean per-row ELBO with z = μ, eval mode, no gradient.
pub fn mean_elbo<V: TrainableVae + ?Sized>(vae: &V, x: &Tensor) -> f64 {
    tch::no_grad(|| vae.elbo_t(x, false, false).value().mean(Kind::Float).double_value(&[]))
}

/// One epoch of `opt` over shuffled mini-batches of `n` rows; `batch_loss` gets a batch's row
/// indices. A last batch of a single row is left out (BatchNorm needs two rows in training
/// mode). The row-weighted mean loss is read from the device once per epoch, not once per
/// batch, and a non-finite one is an error naming `what` and the epoch.
pub(crate) fn adam_epoch(
    opt: &mut impl Optimizer,
    n: i64,
    batch_size: usize,
    device: Device,
    (what, epoch): (&str, usize),
    mut batch_loss: impl FnMut(&Tensor) -> Tensor,
) -> Result<f64> {
    let perm = Tensor::randperm(n, (Kind::Int64, device));
    let mut total = Tensor::zeros([], (Kind::Float, device));
    let (mut rows, mut start) = (0i64, 0i64);
    while start + 1 < n {
        let len = (batch_size as i64).min(n - start);
        let loss = batch_loss(&perm.narrow(0, start, len));
        opt.zero_grad();
        loss.backward();
        opt.step();
        total += loss.detach() * len as f64;
        rows += len;
        start += len;
    }
    let mean = total.double_value(&[]) / rows.max(1) as f64;
    if !mean.is_finite() {
        return Err(ClueError::NonFinite { what: what.into(), at: format!("epoch {epoch}") });
    }
    Ok(mean)
}

/// The bar of a generative-model fit: thousands of sub-second epochs, so off a terminal it
/// logs a line every 30 s rather than every epoch.
pub(crate) fn epoch_bar(label: &str, epochs: usize) -> xai_core::progress::EpochBar {
    xai_core::progress::EpochBar::new(label, epochs).log_every(std::time::Duration::from_secs(30))
}

/// The closing line of an early-stopped fit.
pub(crate) fn log_fit(label: &str, f: &VaeFit) {
    log::info!(
        "{label}: best validation objective {:.4} at epoch {} of {} run",
        f.best_val_elbo,
        f.best_epoch + 1,
        f.history.len()
    );
}

/// Where [`fit_resumable`] keeps its state, and how often it writes it.
#[derive(Debug, Clone)]
pub struct FitCheckpoint {
    /// A `.safetensors` file: the current weights, the best ones, Adam's moments, the
    /// epoch, the best epoch and the history so far.
    pub path: PathBuf,
    /// Epochs between saves (0: never save).
    pub every: usize,
    /// Continue from `path` when it exists (otherwise start afresh and overwrite it).
    pub resume: bool,
}

/// Fits `vae` on `x_train`, selects the epoch with the best ELBO on `x_val` and restores it.
pub fn fit<V: TrainableVae + ?Sized>(
    vae: &mut V,
    x_train: &Tensor,
    x_val: &Tensor,
    p: &VaeTrainParams,
) -> Result<VaeFit> {
    fit_resumable(vae, x_train, x_val, p, None)
}

/// What a fit carries from epoch to epoch.
struct FitState {
    next_epoch: usize,
    best_epoch: usize,
    best_val: f64,
    best: Vec<(String, Tensor)>,
    history: Vec<VaeEpoch>,
}

/// The rows a state was made on, so that a resume on other data is refused.
fn rows_fingerprint(x_train: &Tensor, x_val: &Tensor) -> Tensor {
    let sum = |x: &Tensor| tch::no_grad(|| x.sum(Kind::Double).double_value(&[]));
    Tensor::from_slice(&[x_train.size()[0] as f64, x_val.size()[0] as f64, sum(x_train), sum(x_val)])
}

fn save_state(ck: &FitCheckpoint, vs: &VarStore, opt: &impl Optimizer, st: &FitState, rows: &Tensor) -> Result<()> {
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.extend(st.best.iter().map(|(n, t)| (format!("fit.best.{n}"), t.shallow_clone())));
    named.extend(opt.state("fit.opt"));
    let meta = [st.next_epoch as f64, st.best_epoch as f64, st.best_val];
    named.push(("fit.meta".into(), Tensor::from_slice(&meta)));
    let hist: Vec<f64> = st.history.iter().flat_map(|h| [h.epoch as f64, h.train_loss, h.val_elbo]).collect();
    named.push(("fit.history".into(), Tensor::from_slice(&hist).view([-1, 3])));
    named.push(("fit.rows".into(), rows.shallow_clone()));
    Ok(xai_core::checkpoint::save_tensors(&named, &ck.path)?)
}

/// The best epoch, its validation ELBO and the history recorded in a state file written by
/// [`fit_resumable`] (the last save: the finished fit, or an interrupted one's last
/// checkpoint); `None` when there is no such file.
pub fn saved_fit(path: &std::path::Path) -> Result<Option<VaeFit>> {
    if !path.is_file() {
        return Ok(None);
    }
    let file: HashMap<String, Tensor> = xai_core::checkpoint::load_tensors(path)?.into_iter().collect();
    let bad = |what: String| ClueError::bad_input(format!("VAE checkpoint {}", path.display()), what);
    let (meta, history) = read_progress(&file).map_err(bad)?;
    Ok(Some(VaeFit { best_epoch: meta[1] as usize, best_val_elbo: meta[2], history }))
}

/// `fit.meta` (next epoch, best epoch, best value) and `fit.history` of a state file.
fn read_progress(file: &HashMap<String, Tensor>) -> std::result::Result<([f64; 3], Vec<VaeEpoch>), String> {
    let entry = |name: &str| file.get(name).ok_or_else(|| format!("{name} is missing"));
    let meta = Vec::<f64>::try_from(entry("fit.meta")?.to_kind(Kind::Double)).map_err(|e| format!("fit.meta: {e}"))?;
    let meta: [f64; 3] = meta[..].try_into().map_err(|_| "fit.meta must hold 3 numbers".to_string())?;
    let hist = entry("fit.history")?.to_kind(Kind::Double);
    let flat = Vec::<f64>::try_from(hist.flatten(0, -1)).map_err(|e| format!("fit.history: {e}"))?;
    let history = flat
        .chunks_exact(3)
        .map(|r| VaeEpoch { epoch: r[0] as usize, train_loss: r[1], val_elbo: r[2] })
        .collect::<Vec<_>>();
    if history.len() != meta[0] as usize {
        return Err(format!("{} history rows for {} epochs", history.len(), meta[0]));
    }
    Ok((meta, history))
}

fn load_state(ck: &FitCheckpoint, vs: &mut VarStore, opt: &mut impl Optimizer, rows: &Tensor) -> Result<FitState> {
    let file: HashMap<String, Tensor> = xai_core::checkpoint::load_tensors(&ck.path)?.into_iter().collect();
    let bad = |what: String| ClueError::bad_input(format!("VAE checkpoint {}", ck.path.display()), what);
    let entry = |name: &str| file.get(name).ok_or_else(|| bad(format!("{name} is missing")));
    let saved_rows = entry("fit.rows")?;
    if saved_rows.size() != rows.size() || !saved_rows.allclose(rows, 1e-9, 1e-6, false) {
        return Err(bad("it was made on other training / validation rows; start a new run folder".into()));
    }
    let ([next_epoch, best_epoch, best_val], history) = read_progress(&file).map_err(bad)?;
    let mut best = xai_core::checkpoint::snapshot(vs);
    for (name, t) in best.iter_mut() {
        let src = entry(&format!("fit.best.{name}"))?;
        if src.size() != t.size() {
            return Err(bad(format!("fit.best.{name}: shape {:?}, model {:?}", src.size(), t.size())));
        }
        *t = src.to_device(t.device()).to_kind(t.kind());
    }
    let opt_state: BTreeMap<String, Tensor> = file
        .iter()
        .filter(|(k, _)| k.starts_with("fit.opt."))
        .map(|(k, t)| (k.clone(), t.to_device(vs.device())))
        .collect();
    xai_core::checkpoint::copy_checked(vs, &file, &ck.path, |k| k.starts_with("fit."))?;
    opt.load_state("fit.opt", &opt_state)?;
    Ok(FitState { next_epoch: next_epoch as usize, best_epoch: best_epoch as usize, best_val, best, history })
}

/// [`fit`], saving its state to `ck` every `ck.every` epochs (atomically) and, with
/// `ck.resume`, continuing from a saved state: same weights, Adam moments, best weights,
/// epoch and patience count. The mini-batch order after a resume is drawn afresh (the
/// global generator's state is not saved), so a resumed fit matches an uninterrupted one
/// in distribution, not bit for bit. A state made on other rows is refused.
pub fn fit_resumable<V: TrainableVae + ?Sized>(
    vae: &mut V,
    x_train: &Tensor,
    x_val: &Tensor,
    p: &VaeTrainParams,
    ck: Option<&FitCheckpoint>,
) -> Result<VaeFit> {
    p.validate()?;
    vae.check_rows(x_train)?;
    vae.check_rows(x_val)?;
    let mut opt = AdamConfig::lr(p.lr).build(vae.var_store())?;
    let n = x_train.size()[0];
    let rows = rows_fingerprint(x_train, x_val);
    let mut st = match ck.filter(|c| c.resume && c.path.is_file()) {
        Some(c) => {
            let st = load_state(c, vae.var_store_mut(), &mut opt, &rows)?;
            log::info!(
                "VAE: resumed after epoch {} (best {:.4} at epoch {})",
                st.next_epoch,
                st.best_val,
                st.best_epoch + 1
            );
            st
        }
        None => FitState {
            next_epoch: 0,
            best_epoch: 0,
            best_val: f64::NEG_INFINITY,
            best: xai_core::checkpoint::snapshot(vae.var_store()),
            history: Vec::new(),
        },
    };
    let bar = epoch_bar("VAE", p.epochs);
    let stopped = |st: &FitState| p.patience > 0 && st.next_epoch > st.best_epoch + p.patience;
    while st.next_epoch < p.epochs && !stopped(&st) {
        let epoch = st.next_epoch;
        let train_loss = adam_epoch(&mut opt, n, p.batch_size, x_train.device(), ("VAE loss", epoch), |idx| {
            vae.loss(&x_train.index_select(0, idx))
        })?;
        let val = mean_elbo(vae, x_val);
        st.history.push(VaeEpoch { epoch, train_loss, val_elbo: val });
        bar.done(epoch + 1, &[("loss", train_loss), ("val_elbo", val), ("best", st.best_val.max(val))]);
        if val > st.best_val {
            (st.best_epoch, st.best_val, st.best) = (epoch, val, xai_core::checkpoint::snapshot(vae.var_store()));
        }
        st.next_epoch += 1;
        if let Some(c) = ck.filter(|c| c.every > 0 && st.next_epoch % c.every == 0) {
            save_state(c, vae.var_store(), &opt, &st, &rows)?;
        }
    }
    bar.finish();
    // The finished state too, so that a run resumed after the fit can report it (`saved_fit`).
    if let Some(c) = ck.filter(|c| c.every > 0 && st.next_epoch % c.every != 0) {
        save_state(c, vae.var_store(), &opt, &st, &rows)?;
    }
    xai_core::checkpoint::restore(vae.var_store_mut(), &st.best)?;
    let f = VaeFit { best_epoch: st.best_epoch, best_val_elbo: st.best_val, history: st.history };
    log_fit("VAE", &f);
    Ok(f)
}
