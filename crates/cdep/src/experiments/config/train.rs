//! `[train]` and `[lambdas]`, and their mapping onto the training loop's settings and
//! `xai_core::optim`'s optimisers.

use super::Method;
use crate::train::{LoopSpec, Select};
use crate::{CdepError, Result};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use xai_core::optim::{AdamConfig, Optimizer, SgdConfig};

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
    /// No early stop before this epoch (0: patience counts from the first epoch). With a large
    /// λ the SST penalty holds the LSTM at chance for several epochs before it learns.
    #[serde(default)]
    pub min_epochs: usize,
    /// Class-weighted cross-entropy.
    #[serde(default)]
    pub class_weights: bool,
    #[serde(default = "default_eval_batch")]
    pub eval_batch_size: i64,
    /// What picks the best epoch: `val_loss` (default, the paper's) or `val_acc`.
    #[serde(default)]
    pub select: SelectKind,
}

fn default_eval_batch() -> i64 {
    1000
}

/// `train.select`: the validation quantity that picks the best epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelectKind {
    /// Lowest validation loss (the paper's protocol).
    #[default]
    ValLoss,
    /// Highest validation accuracy.
    ValAcc,
}

impl TrainCfg {
    /// The configured optimiser over every trainable variable of `vs` (PyTorch's update
    /// rules; weight decay is coupled L2 as the reference's `torch.optim.Adam`).
    pub fn optimizer(&self, vs: &VarStore) -> Result<Box<dyn Optimizer>> {
        Ok(match self.optimizer {
            OptimizerKind::Adam => Box::new(AdamConfig::lr(self.lr).weight_decay(self.weight_decay).build(vs)?),
            OptimizerKind::Sgd => {
                Box::new(SgdConfig::lr(self.lr).momentum(self.momentum).weight_decay(self.weight_decay).build(vs)?)
            }
        })
    }

    /// The loop settings of one run.
    pub fn loop_spec(&self, label: String, lambda: f64, double_step: bool) -> LoopSpec {
        LoopSpec {
            label,
            epochs: self.epochs,
            patience: self.patience,
            min_epochs: self.min_epochs,
            batch_size: self.batch_size,
            lambda,
            double_step,
            select: match self.select {
                SelectKind::ValLoss => Select::ValLoss,
                SelectKind::ValAcc => Select::ValAcc,
            },
        }
    }
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
                format!("method `{}` is listed in sweep.methods but lambdas.{} is empty", m.name(), m.name()),
            ));
        }
        list.iter().map(|&l| crate::penalty::check_lambda(l)).collect()
    }
}
