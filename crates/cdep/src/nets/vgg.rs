//! VGG16 (configuration D) as torchvision builds it, for the ISIC experiment: the
//! convolutional part as a CD-ready [`Sequential`] and the classifier head. Variables are
//! named like torchvision's state-dict keys (`features.0.weight`, `classifier.3.bias`…)
//! so ImageNet weights converted by `scripts/convert-vgg16` load by name.

use crate::cd::{Layer, Sequential};
use crate::{CdepError, Result};
use std::collections::HashMap;
use std::path::Path;
use tch::nn::{self, VarStore};
use tch::Tensor;
use xai_core::nn::{conv2d, linear};

/// Output channels of the 13 convolutions; 0 marks a 2×2 max pool.
const LAYOUT: [i64; 18] = [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0];
/// Width of the pooled feature vector: 512 channels × 7 × 7.
pub const FEATURE_DIM: i64 = 512 * 7 * 7;
/// Width of the ImageNet classifier's hidden layers.
pub const IMAGENET_HIDDEN: i64 = 4096;

/// `features` + AdaptiveAvgPool(7×7) + flatten: `[N, 3, H, W] → [N, 25088]`, variables
/// `features.<i>.{weight,bias}` at torchvision's indices (ReLUs and pools count too).
pub fn features(p: &nn::Path) -> Sequential {
    let mut layers = vec![];
    let mut in_ch = 3;
    let mut index = 0;
    for out in LAYOUT {
        if out == 0 {
            layers.push(Layer::max_pool2d(2));
            index += 1;
        } else {
            layers.push(Layer::from_conv2d(&conv2d(p / "features" / index, in_ch, out, 3, 1, 1), 1, 1));
            layers.push(Layer::Relu);
            index += 2;
            in_ch = out;
        }
    }
    layers.push(Layer::AdaptiveAvgPool2d { output: [7, 7] });
    layers.push(Layer::Flatten);
    Sequential::new(layers)
}

/// Re-draws the convolutions of [`features`] for a random extractor: Kaiming-normal
/// weights with fan-in (std √(2/fan_in), so activations keep their scale through the 13
/// ReLU layers), zero biases. PyTorch's default conv init shrinks the variance about ×6
/// per layer and torchvision's VGG init (fan-out) by in/out channels (×3/512 overall), so
/// either would hand the head nearly constant features to learn from.
pub fn random_init(vs: &VarStore) {
    let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    // A fixed order of draws (the map's order changes between runs).
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    tch::no_grad(|| {
        for (name, mut t) in vars.into_iter().filter(|(n, _)| n.starts_with("features.")) {
            if name.ends_with(".bias") {
                let _ = t.zero_();
            } else {
                let fan_in = t.size()[1] * t.size()[2] * t.size()[3];
                let _ = t.normal_(0.0, (2.0 / fan_in as f64).sqrt());
            }
        }
    });
}

/// The classifier: Linear(25088→hidden) → ReLU → Dropout → Linear(hidden→hidden) → ReLU
/// → Dropout → Linear(hidden→2), variables `classifier.{0,3,6}.*` (torchvision's indices;
/// the last layer is new, two classes instead of 1000).
pub fn head(p: &nn::Path, hidden: i64, dropout: f64) -> Sequential {
    let lin = |i: i64, a: i64, b: i64| Layer::from_linear(&linear(p / "classifier" / i, a, b));
    Sequential::new(vec![
        lin(0, FEATURE_DIM, hidden),
        Layer::Relu,
        Layer::Dropout { p: dropout },
        lin(3, hidden, hidden),
        Layer::Relu,
        Layer::Dropout { p: dropout },
        lin(6, hidden, 2),
    ])
}

/// The ImageNet tensors the head starts from (the new last layer excluded).
pub const HEAD_PRETRAINED: [&str; 4] =
    ["classifier.0.weight", "classifier.0.bias", "classifier.3.weight", "classifier.3.bias"];

/// Takes the [`HEAD_PRETRAINED`] tensors out of `weights`, checking that they are the
/// ImageNet classifier's (4096 wide on 25,088 features).
pub fn pretrained_head(weights: &mut HashMap<String, Tensor>, path: &Path) -> Result<HashMap<String, Tensor>> {
    let (h, f) = (IMAGENET_HIDDEN, FEATURE_DIM);
    let shapes: [&[i64]; 4] = [&[h, f], &[h], &[h, h], &[h]];
    HEAD_PRETRAINED
        .iter()
        .zip(shapes)
        .map(|(name, shape)| {
            let message = match weights.remove(*name) {
                Some(t) if t.size() == shape => return Ok((name.to_string(), t)),
                Some(t) => format!("{name}: shape {:?}, VGG16's is {shape:?}", t.size()),
                None => format!("{name}: missing from the file"),
            };
            Err(xai_core::Error::Checkpoint { path: path.to_path_buf(), message }.into())
        })
        .collect()
}

/// All tensors of a converted weights file, by name.
pub fn read_weights(path: &Path) -> Result<HashMap<String, Tensor>> {
    let hint = "make it from torchvision's vgg16-397923af.pth with scripts/convert-vgg16";
    if !path.is_file() {
        return Err(xai_core::Error::data(path, "VGG16 weights not found").with_hint(hint).into());
    }
    let named = xai_core::checkpoint::load_tensors(path)
        .map_err(|e| CdepError::from(xai_core::Error::data(path, e.to_string()).with_hint(hint)))?;
    Ok(named.into_iter().collect())
}

/// Copies the tensors of `names` from `weights` into the same-named variables of `vs`;
/// a missing tensor or a shape mismatch is an error naming it (nothing is copied then).
pub fn load_named(vs: &VarStore, weights: &HashMap<String, Tensor>, names: &[String], path: &Path) -> Result<()> {
    let vars = vs.variables();
    let err = |message: String| CdepError::from(xai_core::Error::Checkpoint { path: path.to_path_buf(), message });
    for name in names {
        let var = vars.get(name).ok_or_else(|| err(format!("{name}: not a variable of the model")))?;
        let src = weights.get(name).ok_or_else(|| {
            err(format!("{name}: missing from the file (is it torchvision's VGG16 without batch norm?)"))
        })?;
        if src.size() != var.size() {
            return Err(err(format!("{name}: shape {:?} in the file, {:?} in the model", src.size(), var.size())));
        }
    }
    tch::no_grad(|| -> Result<()> {
        for name in names {
            let mut var = vars[name].shallow_clone();
            var.f_copy_(&weights[name].to_kind(var.kind()))?;
        }
        Ok(())
    })
}

/// Names of every variable of `vs` under `prefix` (e.g. `features.`), sorted.
pub fn names_under(vs: &VarStore, prefix: &str) -> Vec<String> {
    let mut names: Vec<String> = vs.variables().into_keys().filter(|n| n.starts_with(prefix)).collect();
    names.sort();
    names
}
