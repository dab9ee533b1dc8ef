//! The paper's networks, built from explicit variables with PyTorch's default
//! initialisation (`xai_core::nn`) and returned as CD-ready models that share them:
//! the MNIST CNNs, the `isic_synth` extractor, MLPs (COMPAS, heads), the SST LSTM, and
//! VGG16 ([`vgg`]).

pub mod vgg;

use crate::cd::{Layer, LstmClassifier, Sequential};
use crate::{CdepError, Result};
use tch::nn::{self, Init};
use tch::Tensor;
use xai_core::nn::{conv2d, linear, torch_default_init};

fn lin(p: nn::Path, i: i64, o: i64) -> Layer {
    Layer::from_linear(&linear(p, i, o))
}

fn conv(p: nn::Path, i: i64, o: i64, k: i64) -> Result<Layer> {
    Ok(Layer::from_conv2d(&conv2d(p, i, o, k, 1, 0), 1, 0))
}

/// The two-conv MNIST network with `in_ch` input channels and `hidden` units.
pub fn mnist_cnn(p: &nn::Path, in_ch: i64, hidden: i64) -> Result<Sequential> {
    Ok(Sequential::new(vec![
        conv(p / "conv1", in_ch, 20, 5)?,
        Layer::Relu,
        Layer::max_pool2d(2),
        conv(p / "conv2", 20, 50, 5)?,
        Layer::Relu,
        Layer::max_pool2d(2),
        Layer::Flatten,
        lin(p / "fc1", 800, hidden),
        Layer::Relu,
        lin(p / "fc2", hidden, 10),
    ]))
}

/// The random-init extractor of `isic_synth` (28×28×3 → 512 features).
pub fn synth_extractor(p: &nn::Path) -> Result<Sequential> {
    Ok(Sequential::new(vec![
        conv(p / "conv1", 3, 16, 5)?,
        Layer::Relu,
        Layer::max_pool2d(2),
        conv(p / "conv2", 16, 32, 5)?,
        Layer::Relu,
        Layer::max_pool2d(2),
        Layer::Flatten,
    ]))
}

/// An MLP `sizes[0] → … → sizes[n]` with ReLU and (if `dropout > 0`) dropout after each
/// hidden layer.
pub fn mlp(p: &nn::Path, sizes: &[i64], dropout: f64) -> Sequential {
    let mut layers = vec![];
    for (i, w) in sizes.windows(2).enumerate() {
        layers.push(lin(p / format!("fc{i}"), w[0], w[1]));
        if i + 2 < sizes.len() {
            layers.push(Layer::Relu);
            if dropout > 0.0 {
                layers.push(Layer::Dropout { p: dropout });
            }
        }
    }
    Sequential::new(layers)
}

/// The SST classifier: embedding `[vocab, embed]` (from `pretrained` when given, else
/// N(0, 1) as PyTorch's `nn.Embedding`), LSTM with U(±1/√H) init, PyTorch-initialised
/// output layer.
pub fn lstm_classifier(
    p: &nn::Path,
    vocab: i64,
    embed: i64,
    hidden: i64,
    classes: i64,
    pretrained: Option<&Tensor>,
) -> Result<LstmClassifier> {
    let embedding = match pretrained {
        Some(w) if w.size() == [vocab, embed] => p.var_copy("embedding", w),
        Some(w) => {
            return Err(CdepError::invalid(
                "pretrained embeddings",
                format!("shape {:?}, expected [{vocab}, {embed}]", w.size()),
            ))
        }
        None => p.var("embedding", &[vocab, embed], Init::Randn { mean: 0.0, stdev: 1.0 }),
    };
    let u = torch_default_init(hidden);
    let out = linear(p / "out", hidden, classes);
    Ok(LstmClassifier {
        embedding,
        w_ih: p.var("weight_ih_l0", &[4 * hidden, embed], u),
        w_hh: p.var("weight_hh_l0", &[4 * hidden, hidden], u),
        b_ih: p.var("bias_ih_l0", &[4 * hidden], u),
        b_hh: p.var("bias_hh_l0", &[4 * hidden], u),
        w_out: out.ws,
        b_out: out.bs.ok_or_else(|| CdepError::invalid("model", "output layer without bias"))?,
    })
}
