//! The TOML and JSON names of the method's types. The method modules stay free of serde;
//! these remote definitions (`#[serde(with = "…")]` on config fields) give them the same
//! names the configs have always used, so configs, fingerprints and `final.json` files
//! read the same.

use crate::loss::{CeScaling, KlKind, Targets};
use crate::metrics::EvalReport;
use crate::model::Method;
use crate::nets::{ClassifierArch, ExplainerArch};
use crate::sampling::Temperature;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
#[serde(remote = "Method", rename_all = "snake_case")]
pub enum MethodDef {
    Vibi,
    L2x,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "CeScaling", rename_all = "snake_case")]
pub enum CeScalingDef {
    Reference,
    Mean,
    Bits,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "KlKind", rename_all = "snake_case")]
pub enum KlKindDef {
    Forward,
    ReverseK,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "Targets", rename_all = "snake_case")]
pub enum TargetsDef {
    Soft,
    Hard,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "Temperature", tag = "schedule", rename_all = "snake_case", deny_unknown_fields)]
pub enum TemperatureDef {
    Inverse { warmup_steps: u64, scale: f64 },
    Constant { value: f64 },
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "ExplainerArch")]
pub enum ExplainerArchDef {
    #[serde(rename = "resnet_2x")]
    ResNet2x,
    #[serde(rename = "resnet_4x")]
    ResNet4x,
    #[serde(rename = "resnet_8x")]
    ResNet8x,
    #[serde(rename = "unet")]
    UNet,
    #[serde(rename = "small_cnn")]
    SmallCnn,
    #[serde(rename = "cnn4")]
    Cnn4,
    #[serde(rename = "cnn2")]
    Cnn2,
    #[serde(rename = "cnn")]
    Cnn,
}

#[derive(Serialize, Deserialize)]
#[serde(remote = "ClassifierArch", rename_all = "snake_case")]
pub enum ClassifierArchDef {
    Resnet18,
    Resnet34,
    SmallCnn,
    SmallCnnMaxpool,
    LenetAuthors,
    AuthorsCnn,
}

#[derive(Serialize)]
#[serde(remote = "EvalReport")]
pub struct EvalReportDef {
    pub n: i64,
    pub fid_topk: f64,
    pub fid_multishot: Option<f64>,
    pub fid_random: Option<f64>,
    pub rationale_fid: Option<f64>,
    pub mean_1mjs: f64,
    pub hit_rate: Option<f64>,
}

/// An [`EvalReport`] as JSON (`final.json`).
#[derive(Serialize)]
pub struct EvalReportJson(#[serde(with = "EvalReportDef")] pub EvalReport);

/// The config name of an explainer, e.g. `resnet_4x` (`summary.csv`).
pub fn explainer_name(arch: ExplainerArch) -> String {
    ExplainerArchDef::serialize(&arch, serde_json::value::Serializer)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}
