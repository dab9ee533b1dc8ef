//! Loading willisk/VIBI's PyTorch state dicts into the [`ResNet`](super::blocks::ResNet)
//! explainers and classifiers.
//!
//! Name map (ours → PyTorch), for block `i`:
//!
//! | ours | willisk's `models.py` |
//! |---|---|
//! | `stem_conv.weight` | `expand.0.weight` |
//! | `stem_bn.{weight,bias,running_mean,running_var}` | `expand.1.*` |
//! | `block{i}.main.c1.weight` | `res_blocks.{i}.block.0.weight` (3×3 conv) |
//! | `block{i}.main.b1.*` | `res_blocks.{i}.block.1.*` (BN; `block.2` is the ReLU) |
//! | `block{i}.main.c2.weight` | `res_blocks.{i}.block.3.weight` (1×1 conv) |
//! | `block{i}.main.b2.*` | `res_blocks.{i}.block.4.*` |
//! | `block{i}.skip_conv.weight`, `block{i}.skip_bn.*` | `res_blocks.{i}.skip.0.weight`, `res_blocks.{i}.skip.1.*` |
//! | `head.{weight,bias}` | `linear_head.{weight,bias}` |
//!
//! BatchNorm's `num_batches_tracked` has no counterpart (momentum 0.1 is fixed) and is
//! ignored. The U-Net and the authors' nets are not covered.

use crate::{Result, VibiError};
use std::collections::BTreeMap;
use tch::nn::VarStore;
use tch::Tensor;

/// The PyTorch state-dict name of one of our ResNet variable names (see the module table);
/// `None` for a name outside the map.
pub fn pytorch_name(ours: &str) -> Option<String> {
    let (module, param) = ours.rsplit_once('.')?;
    let mapped = match module {
        "stem_conv" => "expand.0".to_string(),
        "stem_bn" => "expand.1".to_string(),
        "head" => "linear_head".to_string(),
        _ => {
            let rest = module.strip_prefix("block")?;
            let (i, part) = rest.split_once('.')?;
            let i: usize = i.parse().ok()?;
            let sub = match part {
                "main.c1" => "block.0",
                "main.b1" => "block.1",
                "main.c2" => "block.3",
                "main.b2" => "block.4",
                "skip_conv" => "skip.0",
                "skip_bn" => "skip.1",
                _ => return None,
            };
            format!("res_blocks.{i}.{sub}")
        }
    };
    Some(format!("{mapped}.{param}"))
}

/// Copies a willisk state dict (`tensors`, PyTorch names) into `vs`, which holds one of our
/// ResNets (built with the same widths). Every variable of `vs` must be found with the same
/// shape; otherwise nothing is changed and the error names the variable.
pub fn load_pytorch_resnet(vs: &VarStore, tensors: &BTreeMap<String, Tensor>) -> Result<()> {
    let mut pending = Vec::new();
    for (name, var) in vs.variables() {
        let key = pytorch_name(&name)
            .ok_or_else(|| VibiError::invalid("state dict", format!("{name} has no PyTorch name (not a ResNet?)")))?;
        let src =
            tensors.get(&key).ok_or_else(|| VibiError::invalid("state dict", format!("{key} (our {name}) missing")))?;
        if src.size() != var.size() {
            return Err(VibiError::invalid(
                "state dict",
                format!("{key}: shape {:?} in the state dict, {:?} for our {name}", src.size(), var.size()),
            ));
        }
        pending.push((var, src.shallow_clone()));
    }
    tch::no_grad(|| {
        for (mut var, src) in pending {
            var.copy_(&src.to_kind(var.kind()).to_device(var.device()));
        }
    });
    Ok(())
}

/// Reads a safetensors file into a name → tensor map (CPU).
pub fn read_safetensors(path: &std::path::Path) -> Result<BTreeMap<String, Tensor>> {
    Ok(Tensor::read_safetensors(path)?.into_iter().collect())
}
