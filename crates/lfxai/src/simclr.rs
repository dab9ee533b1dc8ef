//! SimCLR on CIFAR-10 (the encoder explained in the paper's CIFAR panels): the CIFAR
//! variant of ResNet-18 (3×3 stem, no max-pool, fc removed → 512-d features), a tiny
//! ResNet for smoke runs, the projector, the reference's NT-Xent loss, and the batched
//! SimCLR augmentations and blur baseline.
//!
//! Parameter counts: ResNet-18 backbone 11,168,832, projector 512→2048→128 1,312,896;
//! tiny ResNet (widths 16/32/64, one block per stage) 77,392, projector 64→256→128 49,536.

use crate::{LfxaiError, Result};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};
use xai_core::nn::linear;

fn conv3(p: nn::Path, cin: i64, cout: i64, stride: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig { stride, padding: 1, bias: false, ..Default::default() };
    nn::conv2d(p, cin, cout, 3, cfg)
}

/// torchvision's `BasicBlock` (PyTorch names `conv1`, `bn1`, `conv2`, `bn2`, `downsample.{0,1}`).
#[derive(Debug)]
struct BasicBlock {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: nn::Conv2D,
    bn2: nn::BatchNorm,
    downsample: Option<(nn::Conv2D, nn::BatchNorm)>,
}

impl BasicBlock {
    fn new(p: &nn::Path, cin: i64, cout: i64, stride: i64) -> Self {
        let downsample = (stride != 1 || cin != cout).then(|| {
            let cfg = nn::ConvConfig { stride, bias: false, ..Default::default() };
            let ds = p / "downsample";
            (nn::conv2d(&ds / "0", cin, cout, 1, cfg), nn::batch_norm2d(&ds / "1", cout, Default::default()))
        });
        Self {
            conv1: conv3(p / "conv1", cin, cout, stride),
            bn1: nn::batch_norm2d(p / "bn1", cout, Default::default()),
            conv2: conv3(p / "conv2", cout, cout, 1),
            bn2: nn::batch_norm2d(p / "bn2", cout, Default::default()),
            downsample,
        }
    }

    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = x.apply(&self.conv1).apply_t(&self.bn1, train).relu();
        let h = h.apply(&self.conv2).apply_t(&self.bn2, train);
        let skip = match &self.downsample {
            Some((c, bn)) => x.apply(c).apply_t(bn, train),
            None => x.shallow_clone(),
        };
        (h + skip).relu()
    }
}

/// Which SimCLR backbone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimclrArch {
    /// ResNet-18, CIFAR stem: widths 64/128/256/512, two blocks per stage.
    ResNet18,
    /// Smoke-sized: widths 16/32/64, one block per stage (≈ 25 MFLOP per 32×32 image).
    Tiny,
}

impl SimclrArch {
    fn layout(self) -> (&'static [i64], &'static [usize]) {
        match self {
            SimclrArch::ResNet18 => (&[64, 128, 256, 512], &[2, 2, 2, 2]),
            SimclrArch::Tiny => (&[16, 32, 64], &[1, 1, 1]),
        }
    }
}

/// The CIFAR ResNet backbone: `conv1` 3×3 s1 p1 (no bias), `bn1`, ReLU, the stages
/// (`layer1`…), global average pooling → `[B, widths.last()]`.
#[derive(Debug)]
pub struct ResNetEncoder {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    blocks: Vec<BasicBlock>,
    pub out_dim: i64,
}

impl ResNetEncoder {
    pub fn new(p: &nn::Path, arch: SimclrArch) -> Self {
        let (widths, depth) = arch.layout();
        let mut blocks = vec![];
        let mut cin = widths[0];
        for (s, (&w, &n)) in widths.iter().zip(depth).enumerate() {
            for b in 0..n {
                let stride = if s > 0 && b == 0 { 2 } else { 1 };
                blocks.push(BasicBlock::new(&(p / format!("layer{}", s + 1) / b), cin, w, stride));
                cin = w;
            }
        }
        Self {
            conv1: conv3(p / "conv1", 3, widths[0], 1),
            bn1: nn::batch_norm2d(p / "bn1", widths[0], Default::default()),
            blocks,
            out_dim: cin,
        }
    }

    /// `[B, 3, H, W] → [B, out_dim]`; `train` switches BatchNorm to batch statistics.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let mut h = x.apply(&self.conv1).apply_t(&self.bn1, train).relu();
        for b in &self.blocks {
            h = b.forward_t(&h, train);
        }
        h.mean_dim(&[2i64, 3][..], false, h.kind())
    }
}

/// Encoder (`encoder.`) + projector (`projector.{0,2}`: Linear f→4f, ReLU, Linear 4f→128).
pub struct SimClr {
    pub vs: nn::VarStore,
    pub encoder: ResNetEncoder,
    proj: (nn::Linear, nn::Linear),
    pub arch: SimclrArch,
}

impl std::fmt::Debug for SimClr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SimClr({:?}, features {})", self.arch, self.encoder.out_dim)
    }
}

impl SimClr {
    pub fn new(device: Device, arch: SimclrArch) -> Self {
        let vs = nn::VarStore::new(device);
        let encoder = ResNetEncoder::new(&(vs.root() / "encoder"), arch);
        let f = encoder.out_dim;
        let p = vs.root() / "projector";
        let proj = (linear(&p / "0", f, 4 * f), linear(&p / "2", 4 * f, 128));
        Self { vs, encoder, proj, arch }
    }

    /// The explained representation `f(x)`.
    pub fn features(&self, x: &Tensor, train: bool) -> Tensor {
        self.encoder.forward_t(x, train)
    }

    pub fn projections(&self, x: &Tensor, train: bool) -> Tensor {
        self.proj.1.forward(&self.proj.0.forward(&self.features(x, train)).relu())
    }

    /// NT-Xent of interleaved views `[2N, 3, H, W]` (rows 2k and 2k+1 are one image's views).
    pub fn loss(&self, views: &Tensor, temperature: f64, train: bool) -> Result<Tensor> {
        nt_xent(&self.projections(views, train), temperature)
    }
}

/// The reference's NT-Xent: L2-normalised projections, cosine matrix clamped below at 1e-7
/// (so negative similarities all count as 1e-7), divided by τ, diagonal set to −1e5, mean
/// cross-entropy with the partner row (2k ↔ 2k+1) as the target.
pub fn nt_xent(z: &Tensor, temperature: f64) -> Result<Tensor> {
    let n = z.size().first().copied().unwrap_or(0);
    if z.dim() != 2 || n < 2 || n % 2 != 0 {
        return Err(LfxaiError::invalid("nt_xent projections", format!("shape {:?}; need [2N ≥ 2, p]", z.size())));
    }
    if !(temperature > 0.0 && temperature.is_finite()) {
        return Err(LfxaiError::invalid("nt_xent temperature", format!("{temperature}; must be positive")));
    }
    let kind = z.kind();
    let norm = z.square().sum_dim_intlist(1, true, kind).sqrt().clamp_min(1e-12);
    let zn = z / norm;
    let sim = zn.mm(&zn.tr()).clamp_min(1e-7) / temperature;
    let eye = Tensor::eye(n, (Kind::Bool, z.device()));
    let logits = sim.masked_fill(&eye, -1e5);
    let idx = Tensor::arange(n, (Kind::Int64, z.device()));
    let partner = &idx + 1 - (&idx.remainder(2)) * 2;
    // log_softmax in the input's dtype (tch's cross_entropy_for_logits would cast to f32).
    Ok(logits.log_softmax(-1, kind).nll_loss(&partner))
}

/// SimCLR's augmentation parameters (the reference's CIFAR-10 pipeline).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Augment {
    pub crop_scale: (f64, f64),
    pub crop_ratio: (f64, f64),
    pub flip_p: f64,
    /// Brightness, contrast, saturation (factor ranges 1 ± v) and hue (shift ± v turns).
    pub jitter: (f64, f64, f64, f64),
    pub jitter_p: f64,
    pub gray_p: f64,
}

impl Default for Augment {
    fn default() -> Self {
        Self {
            crop_scale: (0.08, 1.0),
            crop_ratio: (0.75, 4.0 / 3.0),
            flip_p: 0.5,
            jitter: (0.4, 0.4, 0.4, 0.1),
            jitter_p: 0.8,
            gray_p: 0.2,
        }
    }
}

fn uniform(n: i64, lo: f64, hi: f64, dev: Device) -> Tensor {
    Tensor::rand([n], (Kind::Float, dev)) * (hi - lo) + lo
}

fn per_image(t: &Tensor) -> Tensor {
    t.view([-1, 1, 1, 1])
}

fn gray(x: &Tensor) -> Tensor {
    let w = Tensor::from_slice(&[0.299f32, 0.587, 0.114]).to_device(x.device()).to_kind(x.kind()).view([1, 3, 1, 1]);
    (x * w).sum_dim_intlist(1, true, x.kind())
}

/// One random SimCLR view of every image of `x` `[B, 3, H, W]` in [0, 1], all in a few batched
/// tensor operations (draws from libtorch's generator). RandomResizedCrop is an affine
/// resampling (bilinear); a crop wider than the image is clamped to it instead of torchvision's
/// rejection loop. Colour jitter applies brightness, contrast, saturation, hue in that order
/// (torchvision shuffles it); hue is a rotation of the YIQ chroma plane, close to HSV's shift.
pub fn augment(x: &Tensor, a: &Augment) -> Result<Tensor> {
    let s = x.size();
    if s.len() != 4 || s[1] != 3 || s[0] == 0 {
        return Err(LfxaiError::invalid("augment input", format!("shape {s:?}; need [B > 0, 3, H, W]")));
    }
    let (b, dev) = (s[0], x.device());
    let x = x.to_kind(Kind::Float);
    let area = uniform(b, a.crop_scale.0, a.crop_scale.1, dev);
    let log_ratio = uniform(b, a.crop_ratio.0.ln(), a.crop_ratio.1.ln(), dev).exp();
    let cw = (&area * &log_ratio).sqrt().clamp_max(1.0);
    let ch = (&area / &log_ratio).sqrt().clamp_max(1.0);
    let cx = (Tensor::rand([b], (Kind::Float, dev)) * 2.0 - 1.0) * (1.0 - &cw);
    let cy = (Tensor::rand([b], (Kind::Float, dev)) * 2.0 - 1.0) * (1.0 - &ch);
    let flip = Tensor::rand([b], (Kind::Float, dev)).lt(a.flip_p).to_kind(Kind::Float) * -2.0 + 1.0;
    let zero = Tensor::zeros([b], (Kind::Float, dev));
    let theta = Tensor::stack(&[&cw * flip, zero.shallow_clone(), cx, zero, ch, cy], 1).view([b, 2, 3]);
    let grid = Tensor::affine_grid_generator(&theta, s.as_slice(), false);
    let mut v = x.grid_sampler(&grid, 0, 1, false);

    let (br, co, sa, hu) = a.jitter;
    let jit = Tensor::rand([b], (Kind::Float, dev)).lt(a.jitter_p).view([-1, 1, 1, 1]);
    let mut j = (&v * per_image(&uniform(b, 1.0 - br, 1.0 + br, dev))).clamp(0.0, 1.0);
    let mean = gray(&j).mean_dim(&[2i64, 3][..], true, Kind::Float);
    j = ((&j - &mean) * per_image(&uniform(b, 1.0 - co, 1.0 + co, dev)) + &mean).clamp(0.0, 1.0);
    let g = gray(&j);
    j = ((&j - &g) * per_image(&uniform(b, 1.0 - sa, 1.0 + sa, dev)) + &g).clamp(0.0, 1.0);
    j = hue_rotate(&j, &uniform(b, -hu, hu, dev)).clamp(0.0, 1.0);
    v = j.where_self(&jit, &v);
    let to_gray = Tensor::rand([b], (Kind::Float, dev)).lt(a.gray_p).view([-1, 1, 1, 1]);
    let g = gray(&v).expand_as(&v);
    Ok(g.where_self(&to_gray, &v))
}

/// Rotates each image's chroma by `turns[b]`·2π in YIQ space.
fn hue_rotate(x: &Tensor, turns: &Tensor) -> Tensor {
    let dev = x.device();
    let to_yiq = Tensor::from_slice(&[0.299f32, 0.587, 0.114, 0.596, -0.274, -0.322, 0.211, -0.523, 0.312])
        .view([3, 3])
        .to_device(dev);
    let from_yiq = to_yiq.inverse();
    let (sin, cos) = ((turns * (2.0 * std::f64::consts::PI)).sin(), (turns * (2.0 * std::f64::consts::PI)).cos());
    let (one, zero) = (sin.ones_like(), sin.zeros_like());
    let rot = Tensor::stack(&[&one, &zero, &zero, &zero, &cos, &(-&sin), &zero, &sin, &cos], 1).view([-1, 3, 3]);
    // Per image: M_b = from_yiq · R_b · to_yiq, applied to every pixel.
    let m = from_yiq.unsqueeze(0).matmul(&rot).matmul(&to_yiq.unsqueeze(0));
    let s = x.size();
    m.matmul(&x.view([s[0], 3, -1])).view(s.as_slice())
}

/// Two views per image, interleaved: rows 2k and 2k+1 are views of image k.
pub fn two_views(x: &Tensor, a: &Augment) -> Result<Tensor> {
    let (v1, v2) = (augment(x, a)?, augment(x, a)?);
    Ok(Tensor::stack(&[v1, v2], 1).flatten(0, 1))
}

/// The CIFAR baseline: a separable Gaussian blur (kernel `size`, σ `sigma`) of every
/// channel after reflection padding; `[B, C, H, W]` → same shape.
pub fn gaussian_blur(x: &Tensor, size: i64, sigma: f64) -> Result<Tensor> {
    let s = x.size();
    if s.len() != 4 || size < 1 || size % 2 == 0 || size / 2 >= s[2].min(s[3]) || sigma <= 0.0 {
        return Err(LfxaiError::invalid(
            "gaussian blur",
            format!("kernel {size} (odd, half below the image side), σ {sigma} > 0, images {s:?} [B, C, H, W]"),
        ));
    }
    let half = (size / 2) as f64;
    let k: Vec<f64> = (0..size).map(|i| (-((i as f64 - half).powi(2)) / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = k.iter().sum();
    let k =
        Tensor::from_slice(&k.iter().map(|v| v / total).collect::<Vec<_>>()).to_kind(x.kind()).to_device(x.device());
    let c = s[1];
    let kh = k.view([1, 1, 1, size]).repeat([c, 1, 1, 1]);
    let kv = k.view([1, 1, size, 1]).repeat([c, 1, 1, 1]);
    let p = size / 2;
    let padded = x.reflection_pad2d([p, p, p, p]);
    let h = padded.conv2d(&kh, None::<Tensor>, [1, 1], [0, 0], [1, 1], c);
    Ok(h.conv2d(&kv, None::<Tensor>, [1, 1], [0, 0], [1, 1], c))
}
