//! `[model]`, the method tables (`[cdep]`, `[cd]`, `[rrr]`, `[eg]`), `[reference_quirks]`
//! and `[checks]`, and their mapping onto the method's options.

use crate::baselines::eg::EgVariant;
use crate::baselines::rrr::RrrVariant;
use crate::cd::{BiasSplit, CdOptions};
use serde::{Deserialize, Serialize};

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

/// Which network an experiment trains (built by [`crate::nets`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// ColorMNIST: Conv(3→20,5)-ReLU-Pool-Conv(20→50,5)-ReLU-Pool-Linear(800→500)-ReLU-Linear(500→10).
    ColorCnn,
    /// DecoyMNIST: as `ColorCnn` with 1 input channel and Linear(800→256).
    DecoyCnn,
    /// SST: Embedding → LSTM → Linear(H→2).
    Lstm,
    /// isic_synth: frozen Conv(3→16,5)-ReLU-Pool-Conv(16→32,5)-ReLU-Pool extractor + head
    /// 512→64-ReLU-Dropout(.5)-2.
    SynthHead,
    /// ISIC: VGG16 classifier head on 25,088-d features.
    VggHead,
    /// COMPAS: 17→5→5→2, ReLU and Dropout(.1).
    Mlp17,
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
    pub variant: RrrVariantKind,
}

/// `rrr.variant` (see [`RrrVariant`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RrrVariantKind {
    /// The CDEP repository's gradient of the mean loss, summed over channels.
    #[default]
    Repo,
    /// Ross et al.'s gradient of the summed log-probabilities.
    Ross,
}

impl RrrCfg {
    pub fn variant(&self) -> RrrVariant {
        match self.variant {
            RrrVariantKind::Repo => RrrVariant::Repo,
            RrrVariantKind::Ross => RrrVariant::Ross,
        }
    }
}

/// `[eg]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgCfg {
    #[serde(default)]
    pub variant: EgVariantKind,
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
        Self { variant: EgVariantKind::default(), k: default_k(), chunk: default_chunk() }
    }
}

/// `eg.variant` (see [`EgVariant`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EgVariantKind {
    /// The CDEP repository's per-sample absolute attributions.
    #[default]
    Repo,
    /// Erion et al.'s signed attribution, batched.
    Batched,
}

impl EgCfg {
    pub fn variant(&self) -> EgVariant {
        match self.variant {
            EgVariantKind::Repo => EgVariant::Repo,
            EgVariantKind::Batched => EgVariant::Batched,
        }
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
