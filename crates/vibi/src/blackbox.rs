//! The black box being explained: any classifier behind [`BlackBox`], or one of the
//! built-in architectures trained here.

use crate::nets::{classifier, ClassifierArch};
use crate::{Error, Result};
use rand::Rng;
use tch::nn::{self, ModuleT, OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};
use xai_core::progress::EpochBar;
use xai_core::train::{batch_indices, ensure_finite};

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

/// Black-box training settings.
#[derive(Debug, Clone)]
pub struct TrainSpec {
    pub epochs: usize,
    pub lr: f64,
    pub batch_size: i64,
    /// Random crop (pad 4) + horizontal flip, as willisk trains the CIFAR-10 black box.
    pub augment: bool,
    /// Value of the crop padding in normalised space (black in pixel space).
    pub pad_value: Vec<f64>,
}

/// Trains `model` with Adam and cross-entropy on `(x, y)`; returns the per-epoch mean loss.
pub fn train(model: &Classifier, x: &Tensor, y: &Tensor, spec: &TrainSpec, rng: &mut impl Rng) -> Result<Vec<f64>> {
    if spec.batch_size <= 0 || spec.epochs == 0 {
        return Err(Error::invalid(
            "black_box",
            format!("batch_size {} and epochs {} must be positive", spec.batch_size, spec.epochs),
        ));
    }
    let mut opt = nn::Adam::default().build(&model.vs, spec.lr)?;
    let n = x.size()[0];
    let bar = EpochBar::new("black box", spec.epochs);
    let mut losses = Vec::new();
    for epoch in 1..=spec.epochs {
        let mut total = Tensor::zeros([], (Kind::Float, x.device()));
        let idx = batch_indices(n, spec.batch_size, true, rng, x.device());
        let steps = idx.len();
        for i in idx {
            let xb = x.index_select(0, &i);
            let xb = if spec.augment { augment(&xb, &spec.pad_value, rng) } else { xb };
            let loss = model.net.forward_t(&xb, true).cross_entropy_for_logits(&y.index_select(0, &i));
            opt.backward_step(&loss);
            total += loss.detach();
        }
        let mean =
            ensure_finite(total.double_value(&[]) / steps as f64, || format!("black-box loss at epoch {epoch}"))?;
        bar.done(epoch, &[("loss", mean)]);
        losses.push(mean);
    }
    bar.finish();
    Ok(losses)
}

/// Random crop after padding 4 pixels with `pad_value`, then a random horizontal flip.
fn augment(x: &Tensor, pad_value: &[f64], rng: &mut impl Rng) -> Tensor {
    let s = x.size();
    let (b, c, h, w) = (s[0], s[1], s[2], s[3]);
    let fill = Tensor::from_slice(pad_value).to_kind(Kind::Float).to_device(x.device()).view([1, c, 1, 1]);
    let padded = fill.expand([b, c, h + 8, w + 8], false).copy();
    padded.narrow(2, 4, h).narrow(3, 4, w).copy_(x);
    // One narrow per image (not per pixel) picks its crop.
    let crops: Vec<Tensor> = (0..b)
        .map(|i| {
            let (dy, dx) = (rng.gen_range(0..=8), rng.gen_range(0..=8));
            let img = padded.get(i).narrow(1, dy, h).narrow(2, dx, w);
            if rng.gen_bool(0.5) {
                img.flip([2])
            } else {
                img
            }
        })
        .collect();
    Tensor::stack(&crops, 0)
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
