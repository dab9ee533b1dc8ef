//! The paper's experiments, run by the `vibi` binary through [`xai_core::runner`]: the
//! serde [`Config`] (its `[run]` is the shared [`RunTable`]) and [`run`], which trains the
//! black box once and one VIBI model per cell of the config (see [`pipeline`]).
//!
//! Every vibi experiment (synthetic and MNIST smokes, the MNIST and CIFAR-10 grids, the
//! paper's MNIST table) is the same pipeline over a different config, so there is one
//! pipeline rather than one file per experiment.

pub mod blackbox_training;
pub mod cell;
pub mod checkpoint;
pub mod config;
pub mod data;
pub mod figures;
pub mod grid;
pub mod logs;
pub mod names;
pub mod pipeline;
pub mod report;
pub mod trainer;

pub use config::{BlackBoxConfig, DataConfig, EvalConfig, Expect, GridEntry, VibiConfig};
pub use grid::Cell;

use crate::VibiError;
use serde::{Deserialize, Serialize};
use xai_core::runner::{Embedded, ExperimentConfig, Outcome, RunTable, Session};

/// The config run when the binary gets no `--config`: the synthetic smoke (needs no files).
pub const EMBEDDED: Embedded = Embedded {
    path: "configs/vibi/smoke_synthetic.toml",
    text: include_str!("../../../../configs/vibi/smoke_synthetic.toml"),
};

/// The whole experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[run]`: experiment name, the one seed, device, output folder (shared by every crate).
    pub run: RunTable<String>,
    pub data: DataConfig,
    pub black_box: BlackBoxConfig,
    pub vibi: VibiConfig,
    #[serde(default)]
    pub eval: EvalConfig,
    #[serde(default)]
    pub expect: Expect,
    /// One entry per (explainer, k, C_xpl) with its β values; empty: a single run of `[vibi]`.
    #[serde(default)]
    pub grid: Vec<GridEntry>,
}

impl ExperimentConfig for Config {
    type Experiment = String;

    fn run_table(&self) -> &RunTable<String> {
        &self.run
    }

    fn validate(&self) -> anyhow::Result<()> {
        Config::validate(self).map_err(into_anyhow)
    }
}

/// The experiment body for [`xai_core::runner::main`]: the whole run of `session`'s config.
pub fn run(session: &mut Session<'_, Config>) -> anyhow::Result<Outcome> {
    pipeline::run(session).map_err(into_anyhow)
}

/// Unwraps the transparent variants so that the runner sees the core or libtorch error
/// itself and records the right failure kind (a non-finite loss is `training`, a full
/// disk `io`, a bad value `config`) with the whole cause in `run.json`.
pub fn into_anyhow(e: VibiError) -> anyhow::Error {
    match e {
        VibiError::Core(core) => core.into(),
        VibiError::Torch(torch) => torch.into(),
        VibiError::Invalid { what, message } => xai_core::Error::Invalid { what, message }.into(),
    }
}
