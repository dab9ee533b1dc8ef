//! The cells of a config (one VIBI model each: `[vibi]` alone, or every β of every
//! `[[grid]]` entry), their mapping onto the method's [`Settings`], and the fingerprints
//! that tie checkpoints to the part of the config that determines their weights.

use super::config::DatasetKind;
use super::Config;
use crate::model::{Method, Settings};
use crate::nets::ExplainerArch;
use serde::Serialize;

/// One training run of a config: the `[vibi]` table with a grid entry's explainer, k, β
/// and C_xpl filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    pub explainer: ExplainerArch,
    pub xpl_channels: i64,
    pub k: i64,
    pub beta: f64,
    pub reference: Option<f64>,
}

impl Cell {
    /// willisk-style run name, e.g. `MNIST_ResNet_4x_1_k=4_b=0.01`.
    pub fn run_id(&self, data: DatasetKind) -> String {
        let d = match data {
            DatasetKind::Mnist => "MNIST",
            DatasetKind::Cifar10 => "CIFAR10",
            DatasetKind::SyntheticPatches => "SYNTH",
        };
        let e = match self.explainer {
            ExplainerArch::ResNet2x => "ResNet_2x",
            ExplainerArch::ResNet4x => "ResNet_4x",
            ExplainerArch::ResNet8x => "ResNet_8x",
            ExplainerArch::UNet => "Unet",
            ExplainerArch::SmallCnn => "SmallCnn",
            ExplainerArch::Cnn4 => "cnn4",
            ExplainerArch::Cnn2 => "cnn2",
            ExplainerArch::Cnn => "cnn",
        };
        format!("{d}_{e}_{}_k={}_b={:?}", self.xpl_channels, self.k, self.beta)
    }
}

impl Config {
    /// The runs this config asks for, in order (β = 0 first within a grid entry, so
    /// jump-starts find their source).
    pub fn cells(&self) -> Vec<Cell> {
        if self.grid.is_empty() {
            let beta = if self.vibi.method == Method::L2x { 0.0 } else { self.vibi.beta };
            return vec![Cell {
                explainer: self.vibi.explainer,
                xpl_channels: self.vibi.xpl_channels,
                k: self.vibi.k,
                beta,
                reference: self.expect.reference_valid_fidelity,
            }];
        }
        let mut out = Vec::new();
        for g in &self.grid {
            let mut betas: Vec<(f64, Option<f64>)> =
                g.betas.iter().enumerate().map(|(i, b)| (*b, g.reference.get(i).copied())).collect();
            betas.sort_by(|a, b| a.0.total_cmp(&b.0));
            for (beta, reference) in betas {
                out.push(Cell { explainer: g.explainer, xpl_channels: g.xpl_channels, k: g.k, beta, reference });
            }
        }
        out
    }

    /// The model/objective settings of one cell.
    pub fn settings(&self, cell: &Cell) -> Settings {
        let v = &self.vibi;
        Settings {
            method: v.method,
            k: cell.k,
            beta: cell.beta,
            samples: v.num_samples,
            temperature: v.temperature,
            ce_scaling: v.ce_scaling,
            kl: v.kl,
            targets: v.targets,
            lr: v.lr,
            adam_betas: (v.adam_betas[0], v.adam_betas[1]),
        }
    }

    /// Hash of everything that determines the black box (data, black-box recipe, seed).
    pub fn black_box_fingerprint(&self) -> String {
        fingerprint(&(&self.data, &self.black_box_recipe(), self.run.seed()))
    }

    /// The black-box table without `reuse`, which says where the weights come from,
    /// not what they are (and is absent from the JSON when unset, so fingerprints of
    /// configs without it are unchanged).
    fn black_box_recipe(&self) -> super::config::BlackBoxConfig {
        super::config::BlackBoxConfig { reuse: None, ..self.black_box.clone() }
    }

    /// Hash of everything that determines a cell's weights except the training length,
    /// so a resumed run may extend `epochs`/`max_steps` but not change the model.
    pub fn cell_fingerprint(&self, cell: &Cell) -> String {
        let mut v = self.vibi.clone();
        v.epochs = 0;
        v.max_steps = 0;
        v.checkpoint_every = 0;
        v.save_best = true;
        v.explainer = cell.explainer;
        v.k = cell.k;
        v.beta = cell.beta;
        v.xpl_channels = cell.xpl_channels;
        fingerprint(&(&self.data, &self.black_box_recipe(), self.run.seed(), &v))
    }
}

/// A fingerprint: [`xai_core::runner::config_hash`] over the JSON of a chosen subset of
/// the config (not the whole config, so that a resume may change the training length).
fn fingerprint<T: Serialize>(value: &T) -> String {
    xai_core::runner::config_hash(&serde_json::to_string(value).unwrap_or_default())
}
