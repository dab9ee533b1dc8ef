//! SeojinBang/VIBI's MNIST nets (spec §2 "\[authors\]"): the LeNet-style black box, the
//! chunk-1/2/4 CNN explainers and the CNN approximator, with Xavier-uniform (gain √2)
//! weights and zero biases as the authors initialise them.

use tch::nn::{self, Init, ModuleT};
use tch::Tensor;

fn xavier(fan_in: i64, fan_out: i64) -> Init {
    let bound = 2f64.sqrt() * (6.0 / (fan_in + fan_out) as f64).sqrt();
    Init::Uniform { lo: -bound, up: bound }
}

fn conv(p: nn::Path, i: i64, o: i64, k: i64, pad: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig {
        padding: pad,
        ws_init: xavier(i * k * k, o * k * k),
        bs_init: Init::Const(0.0),
        ..Default::default()
    };
    nn::conv2d(p, i, o, k, cfg)
}

fn fc(p: nn::Path, i: i64, o: i64) -> nn::Linear {
    nn::linear(p, i, o, nn::LinearConfig { ws_init: xavier(i, o), bs_init: Some(Init::Const(0.0)), bias: true })
}

/// The authors' explainers; the chunk side selects the net.
#[derive(Debug)]
pub enum AuthorsExplainer {
    /// "cnn4": 7×7 logits (4×4 chunks).
    Chunk4 { c1: nn::Conv2D, c2: nn::Conv2D, c3: nn::Conv2D },
    /// "cnn2": 14×14 logits (2×2 chunks).
    Chunk2 { c1: nn::Conv2D, c2: nn::Conv2D },
    /// "cnn": 28×28 logits (pixels) through FC(49 → 784).
    Chunk1 { c1: nn::Conv2D, c2: nn::Conv2D, fc: nn::Linear },
}

impl AuthorsExplainer {
    pub fn new(p: nn::Path, chunk: i64) -> Self {
        match chunk {
            4 => Self::Chunk4 {
                c1: conv(&p / "conv1", 1, 8, 5, 2),
                c2: conv(&p / "conv2", 8, 16, 5, 2),
                c3: conv(&p / "conv3", 16, 1, 1, 0),
            },
            2 => Self::Chunk2 { c1: conv(&p / "conv1", 1, 8, 5, 2), c2: conv(&p / "conv2", 8, 1, 5, 2) },
            _ => Self::Chunk1 {
                c1: conv(&p / "conv1", 1, 4, 5, 2),
                c2: conv(&p / "conv2", 4, 1, 5, 2),
                fc: fc(&p / "fc", 49, 784),
            },
        }
    }
}

impl ModuleT for AuthorsExplainer {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Tensor {
        match self {
            Self::Chunk4 { c1, c2, c3 } => {
                x.apply(c1).relu().max_pool2d_default(2).apply(c2).relu().max_pool2d_default(2).apply(c3)
            }
            Self::Chunk2 { c1, c2 } => x.apply(c1).relu().max_pool2d_default(2).apply(c2),
            Self::Chunk1 { c1, c2, fc } => {
                let h = x.apply(c1).relu().max_pool2d_default(2).apply(c2).relu().max_pool2d_default(2);
                h.flatten(1, -1).apply(fc).view([-1, 1, 28, 28])
            }
        }
    }
}

/// The authors' approximator: two 5×5 convs (32, 64) with max-pools, FC(3136 → 10).
#[derive(Debug)]
pub struct AuthorsApproximator {
    c1: nn::Conv2D,
    c2: nn::Conv2D,
    fc: nn::Linear,
}

impl AuthorsApproximator {
    pub fn new(p: nn::Path, n_out: i64) -> Self {
        Self {
            c1: conv(&p / "conv1", 1, 32, 5, 2),
            c2: conv(&p / "conv2", 32, 64, 5, 2),
            fc: fc(&p / "fc", 3136, n_out),
        }
    }
}

impl ModuleT for AuthorsApproximator {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Tensor {
        x.apply(&self.c1)
            .relu()
            .max_pool2d_default(2)
            .apply(&self.c2)
            .relu()
            .max_pool2d_default(2)
            .flatten(1, -1)
            .apply(&self.fc)
    }
}

/// The authors' black box (LeNet with dropout): 28×28 → 10 logits.
#[derive(Debug)]
pub struct AuthorsLeNet {
    c1: nn::Conv2D,
    c2: nn::Conv2D,
    fc1: nn::Linear,
    fc2: nn::Linear,
}

impl AuthorsLeNet {
    pub fn new(p: nn::Path, n_out: i64) -> Self {
        Self {
            c1: conv(&p / "conv1", 1, 10, 5, 0),
            c2: conv(&p / "conv2", 10, 20, 5, 0),
            fc1: fc(&p / "fc1", 320, 50),
            fc2: fc(&p / "fc2", 50, n_out),
        }
    }
}

impl ModuleT for AuthorsLeNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = x.apply(&self.c1).max_pool2d_default(2).relu();
        let h = h.apply(&self.c2).feature_dropout(0.5, train).max_pool2d_default(2).relu();
        h.flatten(1, -1).apply(&self.fc1).relu().dropout(0.5, train).apply(&self.fc2)
    }
}
