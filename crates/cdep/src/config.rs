//! The experiment config (TOML, spec §4.6). Every table denies unknown keys; defaults
//! are the fixed (non-reference-quirk) behaviour.

use crate::baselines::eg::EgVariant;
use crate::baselines::rrr::RrrVariant;
use crate::cd::{BiasSplit, CdOptions};
use crate::models::ModelKind;
use crate::{CdepError, Result};
use serde::{Deserialize, Serialize};
use xai_core::device::DeviceChoice;

/// A whole config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub run: RunCfg,
    #[serde(default)]
    pub data: DataCfg,
    pub model: ModelCfg,
    pub train: TrainCfg,
    #[serde(default)]
    pub lambdas: Lambdas,
    #[serde(default)]
    pub cdep: CdepCfg,
    #[serde(default)]
    pub cd: CdCfg,
    #[serde(default)]
    pub rrr: RrrCfg,
    #[serde(default)]
    pub eg: EgCfg,
    #[serde(default)]
    pub reference_quirks: Quirks,
    #[serde(default)]
    pub checks: Checks,
    #[serde(default)]
    pub compas: CompasCfg,
    #[serde(default)]
    pub isic: IsicCfg,
}

/// Which COMPAS columns form the blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompasBlob {
    /// The six race one-hots (what must not matter).
    #[default]
    Race,
    /// The other eleven columns, as the reference notebook marks them (looks inverted).
    Nonrace,
}

/// `[compas]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompasCfg {
    #[serde(default)]
    pub blob: CompasBlob,
}

/// The paper experiments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Experiment {
    Colormnist,
    Decoymnist,
    SstDecoy,
    SstArticle,
    SstGender,
    Isic,
    IsicSynth,
    Compas,
}

impl Experiment {
    pub fn name(self) -> &'static str {
        match self {
            Experiment::Colormnist => "colormnist",
            Experiment::Decoymnist => "decoymnist",
            Experiment::SstDecoy => "sst_decoy",
            Experiment::SstArticle => "sst_article",
            Experiment::SstGender => "sst_gender",
            Experiment::Isic => "isic",
            Experiment::IsicSynth => "isic_synth",
            Experiment::Compas => "compas",
        }
    }
}

/// Training methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Vanilla,
    Cdep,
    Rrr,
    Eg,
    /// ISIC: vanilla training without the patch images.
    Excluded,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Vanilla => "vanilla",
            Method::Cdep => "cdep",
            Method::Rrr => "rrr",
            Method::Eg => "eg",
            Method::Excluded => "excluded",
        }
    }

    /// Display name for tables.
    pub fn title(self) -> &'static str {
        match self {
            Method::Vanilla => "Vanilla",
            Method::Cdep => "CDEP",
            Method::Rrr => "RRR",
            Method::Eg => "EG",
            Method::Excluded => "Excluded",
        }
    }
}

/// `[run]`: what to sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunCfg {
    pub experiment: Experiment,
    pub seeds: Vec<u64>,
    pub methods: Vec<Method>,
    /// Runs folder (the command line's `--runs-dir` wins when given).
    #[serde(default)]
    pub out_dir: Option<String>,
    /// Device (the command line's `--device` wins unless it is `auto`).
    #[serde(default)]
    pub device: Option<DeviceChoice>,
    /// Which runs leave their final weights in `checkpoints/`.
    #[serde(default)]
    pub save_weights: SaveWeights,
}

/// `run.save_weights`: which runs write `checkpoints/<method>_lambda<λ>_seed<s>.safetensors`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SaveWeights {
    /// Every (method, λ, seed).
    #[default]
    All,
    /// The sweep's first seed of each (method, λ) (large models: ISIC's head is 480 MB).
    FirstSeed,
    None,
}

/// Which MNIST file pair feeds the image experiments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MnistSource {
    /// Train 60k (split train/val), test = t10k.
    #[default]
    MnistTrain,
    /// t10k only (smoke): a seeded permutation gives the train pool and the test set.
    MnistT10k,
}

/// Validation colours of ColorMNIST.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValColors {
    /// Reference HEAD: validation uses the test colours (leaks the shift).
    #[default]
    Reversed,
    /// 2019 code: validation keeps the training colours.
    Train,
}

/// `[data]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataCfg {
    #[serde(default)]
    pub source: MnistSource,
    /// Training pool before the validation split (None: all).
    #[serde(default)]
    pub n_train: Option<usize>,
    /// Test examples (None: all).
    #[serde(default)]
    pub n_test: Option<usize>,
    /// Share of the training pool held out for validation.
    #[serde(default = "default_val_fraction")]
    pub val_fraction: f64,
    #[serde(default)]
    pub val_colors: ValColors,
    /// Seed of data splits and generators (separate from the training seeds).
    #[serde(default)]
    pub seed: u64,
    /// SST: words the penalty flags (None: the variant's pair).
    #[serde(default)]
    pub flagged_words: Option<Vec<String>>,
    /// SST article/gender: random subset of train phrases (None: all).
    #[serde(default)]
    pub subtree_sample: Option<usize>,
}

fn default_val_fraction() -> f64 {
    0.1
}

impl Default for DataCfg {
    fn default() -> Self {
        Self {
            source: MnistSource::default(),
            n_train: None,
            n_test: None,
            val_fraction: default_val_fraction(),
            val_colors: ValColors::default(),
            seed: 0,
            flagged_words: None,
            subtree_sample: None,
        }
    }
}

/// `[model]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelCfg {
    pub kind: ModelKind,
    /// Hidden units (CNN fc1, LSTM H, head width).
    #[serde(default)]
    pub hidden: Option<i64>,
    /// LSTM embedding size.
    #[serde(default)]
    pub embed_dim: Option<i64>,
    /// GloVe vectors under the data root: a text file (`word v1 … vE` per line) or the
    /// `glove50` folder (`just fetch-data glove50`); None or missing: random init (recorded).
    #[serde(default)]
    pub glove: Option<String>,
    /// ISIC: VGG16 ImageNet weights as safetensors with torchvision's names, under the data
    /// root unless absolute (`scripts/convert-vgg16` makes the file from `vgg16-397923af.pth`).
    #[serde(default)]
    pub weights: Option<String>,
}

/// Optimisers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OptimizerKind {
    /// torch.optim.Adam; weight decay is coupled L2 as in the reference.
    Adam,
    Sgd,
}

/// `[train]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainCfg {
    pub optimizer: OptimizerKind,
    pub lr: f64,
    #[serde(default)]
    pub momentum: f64,
    #[serde(default)]
    pub weight_decay: f64,
    pub batch_size: i64,
    pub epochs: usize,
    /// Early stopping on validation loss (None: run every epoch, keep the last weights).
    #[serde(default)]
    pub patience: Option<usize>,
    /// Class-weighted cross-entropy.
    #[serde(default)]
    pub class_weights: bool,
    #[serde(default = "default_eval_batch")]
    pub eval_batch_size: i64,
    /// What picks the best epoch: `val_loss` (default, the paper's) or `val_acc`.
    #[serde(default)]
    pub select: crate::train::Select,
}

fn default_eval_batch() -> i64 {
    1000
}

/// `[lambdas]`: penalty weights swept per method.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lambdas {
    #[serde(default)]
    pub cdep: Vec<f64>,
    #[serde(default)]
    pub rrr: Vec<f64>,
    #[serde(default)]
    pub eg: Vec<f64>,
}

impl Lambdas {
    /// The λ values of a method (vanilla and excluded: λ = 0), checked.
    pub fn for_method(&self, m: Method) -> Result<Vec<f64>> {
        let list = match m {
            Method::Vanilla | Method::Excluded => return Ok(vec![0.0]),
            Method::Cdep => &self.cdep,
            Method::Rrr => &self.rrr,
            Method::Eg => &self.eg,
        };
        if list.is_empty() {
            return Err(CdepError::invalid(
                "lambdas",
                format!("method `{}` is listed in run.methods but lambdas.{} is empty", m.name(), m.name()),
            ));
        }
        list.iter().map(|&l| crate::penalty::check_lambda(l)).collect()
    }
}

/// How blob pixels are drawn (ColorMNIST).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlobSampling {
    /// ∝ the share of training images in which the pixel is non-zero (reference HEAD).
    #[default]
    NonzeroFreq,
    /// Uniform over pixels (2019 code, in effect).
    Uniform,
}

/// `[cdep]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdepCfg {
    /// Single-pixel blobs per batch (ColorMNIST).
    #[serde(default = "default_blobs")]
    pub n_blobs: usize,
    #[serde(default)]
    pub blob_sampling: BlobSampling,
}

fn default_blobs() -> usize {
    8
}

impl Default for CdepCfg {
    fn default() -> Self {
        Self { n_blobs: default_blobs(), blob_sampling: BlobSampling::default() }
    }
}

/// Bias-split form in configs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BiasSplitKind {
    #[default]
    Symmetric,
    /// The reference's ε-in-denominator form (drops the bias at r = i = 0).
    Reference,
}

/// `[cd]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CdCfg {
    /// Decompose conv → maxpool → ReLU (reference order for the MNIST nets).
    #[serde(default = "yes")]
    pub pool_before_relu: bool,
    #[serde(default = "default_eps")]
    pub bias_eps: f64,
    #[serde(default)]
    pub bias_split: BiasSplitKind,
    #[serde(default = "yes")]
    pub detach_embeddings: bool,
    /// Reference span: word s+1 also relevant (m), bias span half-open (q).
    #[serde(default)]
    pub lstm_inclusive_stop: bool,
}

fn yes() -> bool {
    true
}
fn default_eps() -> f64 {
    1e-20
}

impl Default for CdCfg {
    fn default() -> Self {
        Self {
            pool_before_relu: true,
            bias_eps: default_eps(),
            bias_split: BiasSplitKind::default(),
            detach_embeddings: true,
            lstm_inclusive_stop: false,
        }
    }
}

impl CdCfg {
    /// The library options these settings stand for.
    pub fn options(&self) -> CdOptions {
        let bias_split = match self.bias_split {
            BiasSplitKind::Symmetric => BiasSplit::Symmetric { eps: self.bias_eps },
            BiasSplitKind::Reference => BiasSplit::Reference,
        };
        CdOptions { bias_split, pool_before_relu: self.pool_before_relu }
    }
}

/// `[rrr]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RrrCfg {
    #[serde(default)]
    pub variant: RrrVariant,
}

/// `[eg]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgCfg {
    #[serde(default)]
    pub variant: EgVariant,
    /// References per sample.
    #[serde(default = "default_k")]
    pub k: i64,
    /// Samples whose paths go through one backward pass (memory bound).
    #[serde(default = "default_chunk")]
    pub chunk: i64,
}

fn default_k() -> i64 {
    50
}
fn default_chunk() -> i64 {
    16
}

impl Default for EgCfg {
    fn default() -> Self {
        Self { variant: EgVariant::default(), k: default_k(), chunk: default_chunk() }
    }
}

/// `[reference_quirks]`: reproduce the reference code's behaviour; all off by default.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Quirks {
    /// SST gender: penalise {a, the} instead of {he, she}.
    #[serde(default)]
    pub gender_flags_articles: bool,
    /// RRR/EG: a penalty optimizer step, then a prediction step, per batch.
    #[serde(default)]
    pub double_step: bool,
    /// ISIC: the reference's CD call leaves the head in eval mode, so CDEP trains without
    /// dropout from its first penalised batch to the end of each epoch (`isic_synth`:
    /// from its first batch on).
    #[serde(default)]
    pub isic_eval_mode_leak: bool,
    /// DecoyMNIST: test with last-epoch instead of best weights.
    #[serde(default)]
    pub decoy_last_epoch_eval: bool,
    /// SST: early stopping on the last dev batch's loss only.
    #[serde(default)]
    pub dev_loss_last_batch: bool,
    /// COMPAS: the notebook's keyword lists as written, where a missing comma fuses
    /// 'Possession' 'Poss' into one never-matching word and 'Drivers' is counted twice.
    #[serde(default)]
    pub compas_keyword_lists: bool,
}

/// `[isic]`: the real ISIC experiment (spec §4.4); the folder layout is in
/// `datasets/README.md` and `xai_core::data::isic`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IsicCfg {
    /// Side images and patch maps are resized to (the paper: 299).
    #[serde(default = "default_isic_size")]
    pub image_size: i64,
    /// Side of the square the patch maps are dilated with before CD, in pixels at 299 px
    /// (scaled with `image_size`); 0: no dilation.
    #[serde(default = "default_isic_dilation")]
    pub dilation: i64,
    /// A map pixel is patch where its channel 0 exceeds this.
    #[serde(default = "default_isic_threshold")]
    pub mask_threshold: u8,
    /// Images per VGG16 forward / CD pass while features are computed.
    #[serde(default = "default_isic_feature_batch")]
    pub feature_batch_size: i64,
    /// Folder of the feature cache, under the data root unless absolute (default `isic/cache`).
    #[serde(default)]
    pub cache_dir: Option<String>,
    /// A random-init VGG16 (`vgg::random_init`) instead of `model.weights`: a pipeline check,
    /// not the experiment.
    #[serde(default)]
    pub random_init: bool,
}

fn default_isic_size() -> i64 {
    xai_core::data::isic::pixels::REFERENCE_SIZE as i64
}
fn default_isic_dilation() -> i64 {
    xai_core::data::isic::pixels::DEFAULT_DILATION
}
fn default_isic_threshold() -> u8 {
    xai_core::data::isic::pixels::DEFAULT_THRESHOLD
}
fn default_isic_feature_batch() -> i64 {
    16
}

impl Default for IsicCfg {
    fn default() -> Self {
        Self {
            image_size: default_isic_size(),
            dilation: default_isic_dilation(),
            mask_threshold: default_isic_threshold(),
            feature_batch_size: default_isic_feature_batch(),
            cache_dir: None,
            random_init: false,
        }
    }
}

impl IsicCfg {
    /// Checks the ISIC settings of a config whose experiment is `isic`.
    fn validate(&self, model: &ModelCfg, methods: &[Method]) -> Result<()> {
        let bad = |what: &str, msg: String| Err(CdepError::invalid(what, msg));
        if !(32..=4096).contains(&self.image_size) {
            return bad(
                "isic.image_size",
                format!("{}; VGG16 halves the image five times, so use 32 to 4096 (the paper: 299)", self.image_size),
            );
        }
        if self.dilation < 0 || self.feature_batch_size <= 0 {
            return bad(
                "isic",
                format!(
                    "dilation = {} must be ≥ 0 and feature_batch_size = {} positive",
                    self.dilation, self.feature_batch_size
                ),
            );
        }
        if model.kind != ModelKind::VggHead {
            return bad("model.kind", format!("{:?}; the ISIC experiment trains the `vgg_head`", model.kind));
        }
        match (&model.weights, self.random_init) {
            (Some(_), true) => {
                return bad("isic.random_init", "true while model.weights is set; choose one".into());
            }
            (None, false) => {
                return bad(
                    "model.weights",
                    "missing: set it to the VGG16 ImageNet weights as safetensors (make them from torchvision's \
                     vgg16-397923af.pth with scripts/convert-vgg16), or set isic.random_init = true for a \
                     pipeline check"
                        .into(),
                );
            }
            _ => {}
        }
        let hidden = model.hidden.unwrap_or(crate::vgg::IMAGENET_HIDDEN);
        if model.weights.is_some() && hidden != crate::vgg::IMAGENET_HIDDEN {
            return bad(
                "model.hidden",
                format!(
                    "{hidden}; the head starts from the ImageNet classifier, whose layers are {} wide",
                    crate::vgg::IMAGENET_HIDDEN
                ),
            );
        }
        if let Some(m) = methods.iter().find(|m| matches!(m, Method::Rrr | Method::Eg)) {
            return bad(
                "run.methods",
                format!(
                    "{} needs gradients through VGG16 on pixels (the reference's train_saliency.py), which this \
                     runner does not build; it trains the head on cached features (use vanilla, excluded, cdep)",
                    m.name()
                ),
            );
        }
        Ok(())
    }
}

/// `[checks]`: the pass criteria of the verdict line (smoke and paper-scale differ).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    /// CDEP test accuracy − vanilla's, in points, at least.
    #[serde(default)]
    pub min_gain_pts: Option<f64>,
    /// CDEP's blob share / vanilla's, at most.
    #[serde(default)]
    pub max_share_ratio: Option<f64>,
    /// CDEP accuracy ≥ vanilla − this many points.
    #[serde(default)]
    pub max_acc_drop_pts: Option<f64>,
    /// CDEP test accuracy (%) at least.
    #[serde(default)]
    pub min_cdep_acc: Option<f64>,
    /// Vanilla test accuracy (%) at most.
    #[serde(default)]
    pub max_vanilla_acc: Option<f64>,
    /// CDEP's training penalty must be lower in the last epoch than in the first.
    #[serde(default)]
    pub penalty_falls: bool,
}

impl Config {
    /// Cross-field checks serde cannot express.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, msg: String| Err(CdepError::invalid(what, msg));
        if self.run.seeds.is_empty() {
            return bad("run.seeds", "empty; give at least one seed".into());
        }
        if self.run.methods.is_empty() {
            return bad("run.methods", "empty; give at least one of vanilla, cdep, rrr, eg, excluded".into());
        }
        for m in &self.run.methods {
            self.lambdas.for_method(*m)?;
        }
        if self.train.batch_size <= 0 || self.train.eval_batch_size <= 0 {
            return bad("train.batch_size", "batch sizes must be positive".into());
        }
        if !(self.train.lr > 0.0 && self.train.lr.is_finite()) {
            return bad("train.lr", format!("{}; must be positive", self.train.lr));
        }
        if self.train.epochs == 0 {
            return bad("train.epochs", "0; train at least one epoch".into());
        }
        if !(self.data.val_fraction > 0.0 && self.data.val_fraction < 1.0) {
            return bad(
                "data.val_fraction",
                format!(
                    "{}; must be in (0, 1): validation loss drives early stopping and model selection",
                    self.data.val_fraction
                ),
            );
        }
        if self.cdep.n_blobs == 0 {
            return bad("cdep.n_blobs", "0; use at least one blob".into());
        }
        if self.eg.k < 1 || self.eg.chunk < 1 {
            return bad("eg", format!("k = {} and chunk = {} must be ≥ 1", self.eg.k, self.eg.chunk));
        }
        if self.run.experiment == Experiment::Isic {
            self.isic.validate(&self.model, &self.run.methods)?;
        }
        Ok(())
    }
}
