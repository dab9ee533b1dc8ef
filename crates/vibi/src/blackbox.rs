//! The black box being explained: any classifier behind [`BlackBox`] (a closure will
//! do), or one of the built-in architectures (trained by the experiments).

use crate::nets::{classifier, ClassifierArch};
use crate::Result;
use tch::nn::{ModuleT, VarStore};
use tch::{Device, Kind, Tensor};

/// A classifier to explain. Only its outputs are used (VIBI is model-agnostic); logits must
/// be differentiable in the input for gradient baselines such as saliency.
pub trait BlackBox {
    /// Class logits `[B, n_classes]` for normalised inputs `[B, C, H, W]` (inference mode).
    fn logits(&self, x: &Tensor) -> Tensor;

    /// Class probabilities `[B, n_classes]`, without gradient.
    fn probabilities(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| self.logits(x).softmax(-1, Kind::Float))
    }
}

/// Any closure from inputs to logits is a black box (a user's own model).
pub struct FnBlackBox<F: Fn(&Tensor) -> Tensor>(pub F);

impl<F: Fn(&Tensor) -> Tensor> BlackBox for FnBlackBox<F> {
    fn logits(&self, x: &Tensor) -> Tensor {
        (self.0)(x)
    }
}

/// A built-in classifier with its weights.
pub struct Classifier {
    pub vs: VarStore,
    pub net: Box<dyn ModuleT>,
    pub arch: ClassifierArch,
}

impl Classifier {
    /// A freshly initialised classifier for inputs `[C, H, W]`.
    pub fn new(device: Device, arch: ClassifierArch, input: [i64; 3], n_classes: i64) -> Result<Self> {
        let vs = VarStore::new(device);
        let net = classifier(vs.root(), arch, input[0], (input[1], input[2]), n_classes)?;
        Ok(Self { vs, net, arch })
    }
}

impl BlackBox for Classifier {
    fn logits(&self, x: &Tensor) -> Tensor {
        self.net.forward_t(x, false)
    }
}

/// Accuracy of `bb` on `(x, y)` in batches.
pub fn accuracy(bb: &dyn BlackBox, x: &Tensor, y: &Tensor, batch: i64) -> f64 {
    let probs = soft_labels(bb, x, batch);
    probs.argmax(-1, false).eq_tensor(y).to_kind(Kind::Float).mean(Kind::Float).double_value(&[])
}

/// The black box's probabilities on every input (eval mode, no augmentation): VIBI's targets.
pub fn soft_labels(bb: &dyn BlackBox, x: &Tensor, batch: i64) -> Tensor {
    let parts: Vec<Tensor> = x.split(batch.max(1), 0).iter().map(|xb| bb.probabilities(xb)).collect();
    Tensor::cat(&parts, 0)
}
