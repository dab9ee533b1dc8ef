//! willisk/VIBI's building blocks: conv blocks, residual blocks, ResNet and U-Net, with
//! PyTorch's default initialisation (BatchNorm γ = 1, β = 0; convs and linears U(±1/√fan_in)).

use tch::nn::{self, ModuleT};
use tch::Tensor;
use xai_core::nn::{linear, torch_default_init};

/// `nn.BatchNorm2d(c)` as PyTorch builds it (eps 1e-5, momentum 0.1, γ = 1, β = 0).
pub fn batch_norm(p: nn::Path, c: i64) -> nn::BatchNorm {
    let cfg =
        nn::BatchNormConfig { ws_init: nn::Init::Const(1.0), bs_init: nn::Init::Const(0.0), ..Default::default() };
    nn::batch_norm2d(p, c, cfg)
}

/// `nn.Conv2d(i, o, k, stride, padding, bias)` with PyTorch's initialisation.
pub fn conv(p: nn::Path, i: i64, o: i64, k: i64, stride: i64, padding: i64, bias: bool) -> nn::Conv2D {
    let init = torch_default_init(i * k * k);
    nn::conv2d(p, i, o, k, nn::ConvConfig { stride, padding, bias, ws_init: init, bs_init: init, ..Default::default() })
}

/// Conv(3×3, i→o, stride s) → BN → ReLU → Conv(1×1) → BN, no final activation.
///
/// The ReLU is in place (`relu_`, as willisk's `nn.ReLU(inplace=True)`): batch norm's
/// backward needs its input and statistics, not its output, and ReLU's backward needs
/// only its own result, so overwriting the BN output changes no gradient and saves one
/// activation-sized buffer. [`ConvBlock::out_of_place`] keeps the allocating version
/// (the test comparing gradients uses it).
#[derive(Debug)]
pub struct ConvBlock {
    c1: nn::Conv2D,
    b1: nn::BatchNorm,
    c2: nn::Conv2D,
    b2: nn::BatchNorm,
    inplace: bool,
}

impl ConvBlock {
    pub fn new(p: nn::Path, i: i64, o: i64, stride: i64) -> Self {
        Self {
            c1: conv(&p / "c1", i, o, 3, stride, 1, false),
            b1: batch_norm(&p / "b1", o),
            c2: conv(&p / "c2", o, o, 1, 1, 0, false),
            b2: batch_norm(&p / "b2", o),
            inplace: true,
        }
    }

    /// The same block with an out-of-place ReLU.
    pub fn out_of_place(mut self) -> Self {
        self.inplace = false;
        self
    }
}

/// ReLU in place or not; the result is the same tensor values either way.
fn relu(x: Tensor, inplace: bool) -> Tensor {
    if inplace {
        let mut x = x;
        x.relu_()
    } else {
        x.relu()
    }
}

impl ModuleT for ConvBlock {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        relu(x.apply(&self.c1).apply_t(&self.b1, train), self.inplace).apply(&self.c2).apply_t(&self.b2, train)
    }
}

/// Residual block; downsamples (stride 2) exactly when the width grows.
#[derive(Debug)]
pub struct ResBlock {
    main: ConvBlock,
    skip: Option<(nn::Conv2D, nn::BatchNorm)>,
    /// The closing ReLU; only a headless ResNet's last block may drop it.
    relu: bool,
}

impl ResBlock {
    pub fn new(p: nn::Path, i: i64, o: i64) -> Self {
        let s = if i >= o { 1 } else { 2 };
        let skip = if s == 1 && i == o {
            None
        } else {
            Some((conv(&p / "skip_conv", i, o, 1, s, 0, false), batch_norm(&p / "skip_bn", o)))
        };
        Self { main: ConvBlock::new(&p / "main", i, o, s), skip, relu: true }
    }
}

impl ModuleT for ResBlock {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let skip = match &self.skip {
            None => x.shallow_clone(),
            Some((c, b)) => x.apply(c).apply_t(b, train),
        };
        // The sum is a fresh tensor that addition's backward does not need: in place is safe.
        let out = self.main.forward_t(x, train) + skip;
        if self.relu {
            relu(out, self.main.inplace)
        } else {
            out
        }
    }
}

/// willisk's `resnet`: 1×1 stem + BN, residual blocks over `[w1] ++ widths (++ [n_out])`,
/// then either a global-average-pool + Linear head, or (headless) the last block's map.
#[derive(Debug)]
pub struct ResNet {
    stem: (nn::Conv2D, nn::BatchNorm),
    blocks: Vec<ResBlock>,
    head: Option<nn::Linear>,
}

impl ResNet {
    pub fn new(p: nn::Path, c_in: i64, widths: &[i64], n_out: i64, headless: bool) -> Self {
        let mut l = vec![widths[0]];
        l.extend_from_slice(widths);
        if headless {
            l.push(n_out);
        }
        let stem = (conv(&p / "stem_conv", c_in, l[0], 1, 1, 0, false), batch_norm(&p / "stem_bn", l[0]));
        let blocks =
            l.windows(2).enumerate().map(|(i, w)| ResBlock::new(&p / format!("block{i}"), w[0], w[1])).collect();
        let head = (!headless).then(|| linear(&p / "head", *l.last().expect("non-empty widths"), n_out));
        Self { stem, blocks, head }
    }
}

impl ResNet {
    /// Drops the ReLU that ends a headless ResNet (willisk keeps it, so explainer logits
    /// are ≥ 0 with many exact-zero ties under top-k).
    pub fn without_final_relu(mut self) -> Self {
        if self.head.is_none() {
            if let Some(last) = self.blocks.last_mut() {
                last.relu = false;
            }
        }
        self
    }
}

impl ResNet {
    /// The same net with out-of-place ReLUs (for comparing gradients; slower).
    pub fn out_of_place(mut self) -> Self {
        for b in &mut self.blocks {
            b.main.inplace = false;
        }
        self
    }
}

impl ModuleT for ResNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = x.apply(&self.stem.0).apply_t(&self.stem.1, train);
        for b in &self.blocks {
            h = b.forward_t(&h, train);
        }
        match &self.head {
            Some(fc) => h.mean_dim(&[2i64, 3][..], false, h.kind()).apply(fc),
            None => h,
        }
    }
}

/// willisk's U-Net: convblock stem, stride-2 convblocks down, bilinear ×2 up with skip
/// concatenation, and a 1×1 conv with bias to `c_out` full-resolution logits.
#[derive(Debug)]
pub struct UNet {
    stem: ConvBlock,
    down: Vec<ConvBlock>,
    up: Vec<ConvBlock>,
    out: nn::Conv2D,
}

impl UNet {
    pub fn new(p: nn::Path, c_in: i64, depths: &[i64], c_out: i64) -> Self {
        let stem = ConvBlock::new(&p / "stem", c_in, depths[0], 1);
        let down = depths
            .windows(2)
            .enumerate()
            .map(|(i, d)| ConvBlock::new(&p / format!("down{i}"), d[0], d[1], 2))
            .collect();
        let rev: Vec<i64> = depths.iter().rev().copied().collect();
        let up = rev
            .windows(2)
            .enumerate()
            .map(|(i, u)| ConvBlock::new(&p / format!("up{i}"), u[0] + u[1], u[1], 1))
            .collect();
        let out = conv(&p / "out", depths[0], c_out, 1, 1, 0, true);
        Self { stem, down, up, out }
    }
}

impl ModuleT for UNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = self.stem.forward_t(x, train);
        let mut skips = Vec::with_capacity(self.down.len());
        for d in &self.down {
            skips.push(h.shallow_clone());
            h = d.forward_t(&h, train);
        }
        for u in &self.up {
            let skip = skips.pop().expect("one skip per level");
            let (sh, sw) = (skip.size()[2], skip.size()[3]);
            // ×2 bilinear, then cropped/padded to the skip's size when an odd size was halved.
            let up = h.upsample_bilinear2d([2 * h.size()[2], 2 * h.size()[3]], false, None, None);
            let up = if up.size()[2] != sh || up.size()[3] != sw {
                up.upsample_bilinear2d([sh, sw], false, None, None)
            } else {
                up
            };
            h = u.forward_t(&Tensor::cat(&[up, skip], 1), train);
        }
        h.apply(&self.out)
    }
}
