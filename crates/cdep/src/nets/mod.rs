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

/// The SST classifier's parameter names: ours (what [`lstm_classifier`] creates at the root
/// of a `VarStore`) beside the official code's (`text/model.py`: `embed`, `lstm`,
/// `hidden_to_label`). [`lstm_classifier_from_checkpoint`] accepts either column.
pub const LSTM_NAME_MAP: [(&str, &str); 7] = [
    ("embedding", "embed.weight"),
    ("weight_ih_l0", "lstm.weight_ih_l0"),
    ("weight_hh_l0", "lstm.weight_hh_l0"),
    ("bias_ih_l0", "lstm.bias_ih_l0"),
    ("bias_hh_l0", "lstm.bias_hh_l0"),
    ("out.weight", "hidden_to_label.weight"),
    ("out.bias", "hidden_to_label.bias"),
];

/// The SST classifier from a safetensors checkpoint with either naming scheme of
/// [`LSTM_NAME_MAP`]; vocabulary size V, embedding size E, hidden size H and the classes
/// are read from the tensors' shapes. The variables are created under `p` with our names.
/// A checkpoint that matches neither scheme is an error listing the missing names (of the
/// closer scheme) and the unexpected ones; inconsistent shapes are errors naming the tensor.
pub fn lstm_classifier_from_checkpoint(p: &nn::Path, path: &std::path::Path) -> Result<LstmClassifier> {
    let file: std::collections::BTreeMap<String, Tensor> =
        xai_core::checkpoint::load_tensors(path)?.into_iter().collect();
    let scheme = |col: usize| -> Vec<&str> { LSTM_NAME_MAP.iter().map(|m| if col == 0 { m.0 } else { m.1 }).collect() };
    let found = |col: usize| scheme(col).iter().filter(|n| file.contains_key(**n)).count();
    let col = if found(0) >= found(1) { 0 } else { 1 };
    let names = scheme(col);
    let missing: Vec<&str> = names.iter().copied().filter(|n| !file.contains_key(*n)).collect();
    let known = |k: &str| LSTM_NAME_MAP.iter().any(|m| m.0 == k || m.1 == k);
    let unexpected: Vec<&str> = file.keys().map(String::as_str).filter(|k| !known(k)).collect();
    if !missing.is_empty() || !unexpected.is_empty() {
        return Err(CdepError::invalid(
            "LSTM checkpoint",
            format!(
                "{}: missing {missing:?}, unexpected {unexpected:?} (accepted names: ours {:?} or the official {:?})",
                path.display(),
                scheme(0),
                scheme(1)
            ),
        ));
    }
    let t = |i: usize| file[names[i]].shallow_clone();
    let (emb, w_ih, w_hh, b_ih, b_hh, w_out, b_out) = (t(0), t(1), t(2), t(3), t(4), t(5), t(6));
    let bad = |i: usize, want: String| {
        Err(CdepError::invalid(
            "LSTM checkpoint",
            format!("`{}` has shape {:?}, expected {want}", names[i], file[names[i]].size()),
        ))
    };
    if emb.dim() != 2 {
        return bad(0, "[V, E]".into());
    }
    let e = emb.size()[1];
    if w_hh.dim() != 2 || w_hh.size()[0] != 4 * w_hh.size()[1] {
        return bad(2, "[4H, H]".into());
    }
    let h = w_hh.size()[1];
    if w_ih.size() != [4 * h, e] {
        return bad(1, format!("[{}, {e}]", 4 * h));
    }
    for i in [3, 4] {
        if file[names[i]].size() != [4 * h] {
            return bad(i, format!("[{}]", 4 * h));
        }
    }
    if w_out.dim() != 2 || w_out.size()[1] != h {
        return bad(5, format!("[C, {h}]"));
    }
    let c = w_out.size()[0];
    if b_out.size() != [c] {
        return bad(6, format!("[{c}]"));
    }
    Ok(LstmClassifier {
        embedding: p.var_copy("embedding", &emb),
        w_ih: p.var_copy("weight_ih_l0", &w_ih),
        w_hh: p.var_copy("weight_hh_l0", &w_hh),
        b_ih: p.var_copy("bias_ih_l0", &b_ih),
        b_hh: p.var_copy("bias_hh_l0", &b_hh),
        w_out: (p / "out").var_copy("weight", &w_out),
        b_out: (p / "out").var_copy("bias", &b_out),
    })
}
