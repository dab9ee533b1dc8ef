//! The smoke-scale nets: a two-conv trunk with three heads (flatten + Linear,
//! global max-pool + Linear, 1×1 conv to chunk logits).

use super::blocks::conv;
use tch::nn::{self, ModuleT};
use tch::Tensor;
use xai_core::nn::linear;

/// Conv(3×3, c→16, p1) → ReLU → maxpool2 → Conv(3×3, 16→32, p1) → ReLU → maxpool2.
#[derive(Debug)]
pub struct Trunk {
    c1: nn::Conv2D,
    c2: nn::Conv2D,
}

impl Trunk {
    pub fn new(p: nn::Path, c_in: i64) -> Self {
        Self { c1: conv(&p / "conv1", c_in, 16, 3, 1, 1, true), c2: conv(&p / "conv2", 16, 32, 3, 1, 1, true) }
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.apply(&self.c1).relu().max_pool2d_default(2).apply(&self.c2).relu().max_pool2d_default(2)
    }
}

/// How the small CNN turns its 32-channel map into outputs.
#[derive(Debug)]
pub enum Head {
    /// Flatten → Linear(32·h/4·w/4 → n): position-dependent.
    Flatten(nn::Linear),
    /// Global max-pool → Linear(32 → n): position-invariant.
    MaxPool(nn::Linear),
    /// Conv(1×1, 32 → C_xpl): chunk logits on the h/4 × w/4 grid (the smoke explainer).
    Chunks(nn::Conv2D),
}

/// The smoke-scale CNN.
#[derive(Debug)]
pub struct SmallCnn {
    trunk: Trunk,
    head: Head,
}

impl SmallCnn {
    /// A classifier; `max_pool` picks the position-invariant head.
    pub fn classifier(p: nn::Path, c_in: i64, hw: (i64, i64), n_out: i64, max_pool: bool) -> Self {
        let trunk = Trunk::new(&p / "trunk", c_in);
        let head = if max_pool {
            Head::MaxPool(linear(&p / "fc", 32, n_out))
        } else {
            Head::Flatten(linear(&p / "fc", 32 * (hw.0 / 4) * (hw.1 / 4), n_out))
        };
        Self { trunk, head }
    }

    /// The smoke explainer: chunk logits `[B, C_xpl, H/4, W/4]` (4×4 chunks).
    pub fn explainer(p: nn::Path, c_in: i64, xpl_channels: i64) -> Self {
        Self {
            trunk: Trunk::new(&p / "trunk", c_in),
            head: Head::Chunks(conv(&p / "head", 32, xpl_channels, 1, 1, 0, true)),
        }
    }
}

impl ModuleT for SmallCnn {
    fn forward_t(&self, x: &Tensor, _train: bool) -> Tensor {
        let h = self.trunk.forward(x);
        match &self.head {
            Head::Flatten(fc) => h.flatten(1, -1).apply(fc),
            Head::MaxPool(fc) => h.amax([2, 3], false).apply(fc),
            Head::Chunks(c) => h.apply(c),
        }
    }
}
