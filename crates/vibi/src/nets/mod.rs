//! Network builders: explainers (chunk logits), approximators and black boxes
//! (class logits), with the widths of willisk/VIBI for MNIST (28×28) and CIFAR-10 (32×32).

pub mod authors;
pub mod blocks;
pub mod pytorch;
pub mod small;

use crate::{Result, VibiError};
use blocks::{ResNet, UNet};
use small::SmallCnn;
use tch::nn::{self, ModuleT};

/// Explainer architectures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExplainerArch {
    /// Headless ResNet; MNIST: `[64]`×10, no downsampling (1×1 chunks); CIFAR: 16×16 grid (2×2 chunks).
    ResNet2x,
    /// Headless ResNet with 4×4 chunks (7×7 MNIST grid, 8×8 CIFAR grid).
    ResNet4x,
    /// Headless ResNet-18 widths, 8×8 chunks (CIFAR only).
    ResNet8x,
    /// U-Net, pixel-level (1×1 chunks).
    UNet,
    /// The smoke explainer: small CNN trunk + 1×1 conv, 4×4 chunks.
    SmallCnn,
    /// The authors' MNIST explainer for 4×4 chunks.
    Cnn4,
    /// The authors' MNIST explainer for 2×2 chunks.
    Cnn2,
    /// The authors' MNIST explainer for pixels (1×1 chunks).
    Cnn,
}

/// Classifier architectures (approximators and black boxes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClassifierArch {
    /// willisk's resnet18 (widths `[64,64,128,128,256,256,512,512]`, GAP + Linear).
    Resnet18,
    /// willisk's resnet34 (`[64]`×3 + `[128]`×4 + `[256]`×6 + `[512]`×3).
    Resnet34,
    /// Small CNN with Flatten + Linear head.
    SmallCnn,
    /// Small CNN with global max-pool + Linear head (position-invariant).
    SmallCnnMaxpool,
    /// The authors' MNIST black box (LeNet with dropout).
    LenetAuthors,
    /// The authors' MNIST approximator.
    AuthorsCnn,
}

/// Which width table applies: willisk defines the explainers for MNIST and CIFAR-10 sizes.
fn family(arch: ExplainerArch, c_in: i64, hw: (i64, i64)) -> Result<bool> {
    if matches!(arch, ExplainerArch::SmallCnn | ExplainerArch::Cnn4 | ExplainerArch::Cnn2 | ExplainerArch::Cnn) {
        return Ok(false);
    }
    match hw {
        (28, 28) => Ok(false),
        (32, 32) => Ok(true),
        _ => Err(VibiError::invalid(
            "explainer",
            format!("{arch:?} has widths for 28x28 (MNIST) or 32x32 (CIFAR-10) inputs, got {}x{}x{}", c_in, hw.0, hw.1),
        )),
    }
}

/// Builds an explainer producing chunk logits `[B, xpl_channels, h, w]` (as willisk, the
/// headless ResNets end in ReLU; see [`explainer_with`]).
pub fn explainer(
    p: nn::Path,
    arch: ExplainerArch,
    c_in: i64,
    hw: (i64, i64),
    xpl_channels: i64,
) -> Result<Box<dyn ModuleT>> {
    explainer_with(p, arch, c_in, hw, xpl_channels, true)
}

/// [`explainer`] with a choice for the ReLU ending the headless ResNets (`final_relu`,
/// willisk: true); the other architectures have none and ignore it.
pub fn explainer_with(
    p: nn::Path,
    arch: ExplainerArch,
    c_in: i64,
    hw: (i64, i64),
    xpl_channels: i64,
    final_relu: bool,
) -> Result<Box<dyn ModuleT>> {
    if xpl_channels != 1 && xpl_channels != c_in {
        return Err(VibiError::invalid(
            "xpl_channels",
            format!("{xpl_channels}; must be 1 (shared mask) or the input's {c_in} channels"),
        ));
    }
    let cifar = family(arch, c_in, hw)?;
    if let Some(chunk) = match arch {
        ExplainerArch::Cnn4 => Some(4),
        ExplainerArch::Cnn2 => Some(2),
        ExplainerArch::Cnn => Some(1),
        _ => None,
    } {
        if (c_in, hw, xpl_channels) != (1, (28, 28), 1) {
            return Err(VibiError::invalid("explainer", format!("{arch:?} is the authors' MNIST net: 1x28x28 inputs, xpl_channels 1 (got {c_in}x{}x{}, {xpl_channels})", hw.0, hw.1)));
        }
        return Ok(Box::new(authors::AuthorsExplainer::new(p, chunk)));
    }
    let rep = |w: i64, n: usize| vec![w; n];
    let widths: Vec<i64> = match (arch, cifar) {
        (ExplainerArch::ResNet2x, false) => rep(64, 10),
        (ExplainerArch::ResNet4x, false) => [rep(64, 2), rep(128, 3), rep(256, 4)].concat(),
        (ExplainerArch::ResNet8x, false) => {
            return Err(VibiError::invalid(
                "explainer",
                "resnet_8x is defined for CIFAR-10 (32x32) only; MNIST has no 8x8 chunk explainer",
            ))
        }
        (ExplainerArch::ResNet2x, true) => [rep(64, 4), rep(128, 5)].concat(),
        (ExplainerArch::ResNet4x, true) => [rep(64, 3), rep(128, 4), rep(256, 5)].concat(),
        (ExplainerArch::ResNet8x, true) => vec![64, 64, 128, 128, 256, 256, 512, 512],
        (ExplainerArch::UNet, c) => {
            let depths: &[i64] = if c { &[64, 128, 256, 512] } else { &[64, 128, 256] };
            return Ok(Box::new(UNet::new(p, c_in, depths, xpl_channels)));
        }
        (ExplainerArch::Cnn4 | ExplainerArch::Cnn2 | ExplainerArch::Cnn, _) => {
            return Err(VibiError::invalid("explainer", format!("{arch:?} is built above")));
        }
        (ExplainerArch::SmallCnn, _) => {
            if hw.0 % 4 != 0 || hw.1 % 4 != 0 {
                return Err(VibiError::invalid(
                    "chunk size",
                    format!("4 (small_cnn explainer) does not divide the image size {}x{}", hw.0, hw.1),
                ));
            }
            return Ok(Box::new(SmallCnn::explainer(p, c_in, xpl_channels)));
        }
    };
    let net = ResNet::new(p, c_in, &widths, xpl_channels, true);
    Ok(if final_relu { Box::new(net) } else { Box::new(net.without_final_relu()) })
}

/// Builds a classifier producing `n_classes` logits.
pub fn classifier(
    p: nn::Path,
    arch: ClassifierArch,
    c_in: i64,
    hw: (i64, i64),
    n_classes: i64,
) -> Result<Box<dyn ModuleT>> {
    Ok(match arch {
        ClassifierArch::Resnet18 => {
            Box::new(ResNet::new(p, c_in, &[64, 64, 128, 128, 256, 256, 512, 512], n_classes, false))
        }
        ClassifierArch::Resnet34 => {
            let w = [vec![64; 3], vec![128; 4], vec![256; 6], vec![512; 3]].concat();
            Box::new(ResNet::new(p, c_in, &w, n_classes, false))
        }
        ClassifierArch::LenetAuthors | ClassifierArch::AuthorsCnn => {
            if (c_in, hw) != (1, (28, 28)) {
                return Err(VibiError::invalid(
                    "classifier",
                    format!("{arch:?} is the authors' MNIST net: 1x28x28 inputs, got {c_in}x{}x{}", hw.0, hw.1),
                ));
            }
            if arch == ClassifierArch::LenetAuthors {
                Box::new(authors::AuthorsLeNet::new(p, n_classes))
            } else {
                Box::new(authors::AuthorsApproximator::new(p, n_classes))
            }
        }
        ClassifierArch::SmallCnn | ClassifierArch::SmallCnnMaxpool => {
            if hw.0 % 4 != 0 || hw.1 % 4 != 0 {
                return Err(VibiError::invalid(
                    "classifier",
                    format!("small_cnn needs sides divisible by 4, got {}x{}", hw.0, hw.1),
                ));
            }
            Box::new(SmallCnn::classifier(p, c_in, hw, n_classes, arch == ClassifierArch::SmallCnnMaxpool))
        }
    })
}
