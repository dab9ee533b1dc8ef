//! `[data]`, `[compas]` and `[isic]`: where the examples come from and how they are split.

use super::{Method, ModelCfg, ModelKind};
use crate::nets::vgg;
use crate::{CdepError, Result};
use serde::{Deserialize, Serialize};

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
    pub train_subset: Option<usize>,
    /// Test examples (None: all).
    #[serde(default)]
    pub test_subset: Option<usize>,
    /// Share of the training pool held out for validation.
    #[serde(default = "default_valid_fraction")]
    pub valid_fraction: f64,
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

fn default_valid_fraction() -> f64 {
    0.1
}

impl Default for DataCfg {
    fn default() -> Self {
        Self {
            source: MnistSource::default(),
            train_subset: None,
            test_subset: None,
            valid_fraction: default_valid_fraction(),
            val_colors: ValColors::default(),
            seed: 0,
            flagged_words: None,
            subtree_sample: None,
        }
    }
}

/// Examples in MNIST's train and t10k files.
const MNIST_TRAIN: usize = 60_000;
const MNIST_T10K: usize = 10_000;
/// The t10k smoke's training pool when `train_subset` is not given.
pub const T10K_DEFAULT_TRAIN: usize = 8_000;

impl DataCfg {
    /// Sizes checked before any data is loaded: subsets positive and within the source, and
    /// a validation split that leaves at least one example on each side. Errors name the key.
    pub fn validate_sizes(&self, experiment: super::Experiment) -> Result<()> {
        use super::Experiment as E;
        let bad = |what: &str, msg: String| Err(CdepError::invalid(what, msg));
        for (key, v) in [("data.train_subset", self.train_subset), ("data.test_subset", self.test_subset)] {
            if v == Some(0) {
                return bad(key, "0; give a positive number of examples, or leave the key out for all".into());
            }
        }
        if !(self.valid_fraction > 0.0 && self.valid_fraction < 1.0) {
            return bad(
                "data.valid_fraction",
                format!(
                    "{}; must be in (0, 1): validation loss drives early stopping and model selection",
                    self.valid_fraction
                ),
            );
        }
        if !matches!(experiment, E::Colormnist | E::Decoymnist) {
            return Ok(());
        }
        let pool = match self.source {
            MnistSource::MnistTrain => {
                let pool = self.train_subset.unwrap_or(MNIST_TRAIN);
                if pool > MNIST_TRAIN {
                    return bad(
                        "data.train_subset",
                        format!("{pool} is more than the {MNIST_TRAIN} images of mnist_train"),
                    );
                }
                if let Some(t) = self.test_subset.filter(|t| *t > MNIST_T10K) {
                    return bad("data.test_subset", format!("{t} is more than the {MNIST_T10K} images of mnist_t10k"));
                }
                pool
            }
            MnistSource::MnistT10k => {
                let pool = self.train_subset.unwrap_or(T10K_DEFAULT_TRAIN);
                if pool >= MNIST_T10K {
                    return bad(
                        "data.train_subset",
                        format!("{pool} leaves no test images of the {MNIST_T10K} in t10k (source = \"mnist_t10k\")"),
                    );
                }
                if let Some(t) = self.test_subset.filter(|t| pool + *t > MNIST_T10K) {
                    return bad(
                        "data.test_subset",
                        format!("{t} + train_subset {pool} is more than the {MNIST_T10K} images of t10k"),
                    );
                }
                pool
            }
        };
        let n_val = (pool as f64 * self.valid_fraction).round() as usize;
        if n_val < 1 || n_val >= pool {
            return bad(
                "data.valid_fraction",
                format!(
                    "{} of a training pool of {pool} gives {n_val} validation examples; both the validation \
                     and the training split need at least one",
                    self.valid_fraction
                ),
            );
        }
        Ok(())
    }
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
    pub(super) fn validate(&self, model: &ModelCfg, methods: &[Method]) -> Result<()> {
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
        let hidden = model.hidden.unwrap_or(vgg::IMAGENET_HIDDEN);
        if model.weights.is_some() && hidden != vgg::IMAGENET_HIDDEN {
            return bad(
                "model.hidden",
                format!(
                    "{hidden}; the head starts from the ImageNet classifier, whose layers are {} wide",
                    vgg::IMAGENET_HIDDEN
                ),
            );
        }
        if let Some(m) = methods.iter().find(|m| matches!(m, Method::Rrr | Method::Eg)) {
            return bad(
                "sweep.methods",
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
