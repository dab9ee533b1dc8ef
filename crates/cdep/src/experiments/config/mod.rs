//! The experiment config (TOML, spec §4.6): the shared `[run]` table, `[sweep]`, and the
//! tables of [`data`], [`train`] and [`methods`]. Every table denies unknown keys;
//! defaults are the fixed (non-reference-quirk) behaviour.
//!
//! ```toml
//! [run]                       # xai_core::runner::RunTable
//! experiment = "colormnist"
//! seeds = [0, 1, 2]
//! [sweep]
//! methods = ["vanilla", "cdep"]
//! [lambdas]
//! cdep = [100.0, 1000.0]
//! ```

pub mod data;
pub mod methods;
pub mod train;

pub use data::{CompasBlob, CompasCfg, DataCfg, IsicCfg, MnistSource, ValColors};
pub use methods::{
    BiasSplitKind, BlobSampling, CdCfg, CdepCfg, Checks, EgCfg, EgVariantKind, ModelCfg, ModelKind, Quirks, RrrCfg,
    RrrVariantKind,
};
pub use train::{Lambdas, OptimizerKind, SelectKind, TrainCfg};

use crate::{CdepError, Result};
use serde::{Deserialize, Serialize};
use xai_core::runner::{ExperimentConfig, ExperimentName, RunTable};

/// A whole config file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub run: RunTable<Experiment>,
    pub sweep: Sweep,
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

/// `[sweep]`: the methods trained, each at every λ of `[lambdas]` and every seed of
/// `run.seeds`; one sweep cell per (method, λ, seed).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sweep {
    pub methods: Vec<Method>,
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

impl ExperimentName for Experiment {
    fn name(&self) -> &str {
        Experiment::name(*self)
    }
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

impl Config {
    /// Cross-field checks serde cannot express.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str, msg: String| Err(CdepError::invalid(what, msg));
        self.run.validate()?;
        if self.sweep.methods.is_empty() {
            return bad("sweep.methods", "empty; give at least one of vanilla, cdep, rrr, eg, excluded".into());
        }
        for m in &self.sweep.methods {
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
        self.data.validate_sizes(self.run.experiment)?;
        if self.cdep.n_blobs == 0 {
            return bad("cdep.n_blobs", "0; use at least one blob".into());
        }
        if self.eg.k < 1 || self.eg.chunk < 1 {
            return bad("eg", format!("k = {} and chunk = {} must be ≥ 1", self.eg.k, self.eg.chunk));
        }
        if self.run.experiment == Experiment::Isic {
            self.isic.validate(&self.model, &self.sweep.methods)?;
        }
        Ok(())
    }
}

impl ExperimentConfig for Config {
    type Experiment = Experiment;

    fn run_table(&self) -> &RunTable<Experiment> {
        &self.run
    }

    fn validate(&self) -> anyhow::Result<()> {
        Ok(Config::validate(self)?)
    }

    /// A resume may change where and how it runs (`[run]` device, output folder, weights
    /// kept, further seeds) but nothing that shapes a cell's numbers: the experiment and
    /// every other table must equal the stored config's, or the folder would mix two
    /// experiments' cells.
    fn check_resume(&self, stored: &Self) -> anyhow::Result<()> {
        if self.run.experiment != stored.run.experiment {
            anyhow::bail!(CdepError::invalid(
                "run.experiment",
                format!(
                    "the folder holds a `{}` run; this config is `{}`",
                    stored.run.experiment.name(),
                    self.run.experiment.name()
                )
            ));
        }
        let ours = serde_json::to_value(self)?;
        let theirs = serde_json::to_value(stored)?;
        let (Some(ours), Some(theirs)) = (ours.as_object(), theirs.as_object()) else {
            return Ok(());
        };
        let mut changed = vec![];
        for (table, value) in ours {
            if table == "run" {
                continue;
            }
            let old = theirs.get(table).cloned().unwrap_or(serde_json::Value::Null);
            match (value.as_object(), old.as_object()) {
                (Some(new), Some(old_t)) => {
                    for (key, v) in new {
                        if old_t.get(key) != Some(v) {
                            changed.push(format!("{table}.{key}"));
                        }
                    }
                    changed.extend(old_t.keys().filter(|k| !new.contains_key(*k)).map(|k| format!("{table}.{k}")));
                }
                _ if *value != old => changed.push(table.clone()),
                _ => {}
            }
        }
        if !changed.is_empty() {
            anyhow::bail!(CdepError::invalid(
                "resume",
                format!(
                    "{} differ from the folder's config.toml; finished cells would mix two experiments \
                     (start a new run, or resume without --config/--set for these keys)",
                    changed.join(", ")
                )
            ));
        }
        Ok(())
    }

    /// Bad configs and masks are the user's to fix (`config`); a failing libtorch op is
    /// training's; errors of the core keep the core's own kind.
    fn failure_kind(error: &anyhow::Error) -> Option<&'static str> {
        let e = error.chain().find_map(|c| c.downcast_ref::<CdepError>())?;
        match e {
            CdepError::Invalid { .. } | CdepError::MaskShape { .. } | CdepError::NoCdRule { .. } => Some("config"),
            CdepError::Torch(_) => Some("training"),
            CdepError::Core(core) => xai_core::runner::core_failure_kind(core),
        }
    }
}
