//! Sequential models as explicit parameter tensors and functional ops, so one list of
//! layers serves the forward pass and the decomposition with the same weights.

use super::{activation, affine, pool, CdOptions, Decomp};
use crate::{CdepError, Result};
use std::sync::Arc;
use tch::Tensor;

/// A forward-only function for layers CD has no rule for.
pub type CustomFn = Arc<dyn Fn(&Tensor, bool) -> Result<Tensor> + Send + Sync>;

/// One layer. Parameter tensors are shallow handles of the model's variables, so
/// gradients of a CD penalty reach the variables.
pub enum Layer {
    /// `y = x Wᵀ + b`, `W: [out, in]`.
    Linear {
        weight: Tensor,
        bias: Option<Tensor>,
    },
    /// `weight: [out, in, kh, kw]`.
    Conv2d {
        weight: Tensor,
        bias: Option<Tensor>,
        stride: [i64; 2],
        padding: [i64; 2],
    },
    Relu,
    MaxPool2d {
        kernel: [i64; 2],
        stride: [i64; 2],
        padding: [i64; 2],
    },
    AvgPool2d {
        kernel: [i64; 2],
        stride: [i64; 2],
        padding: [i64; 2],
    },
    AdaptiveAvgPool2d {
        output: [i64; 2],
    },
    Flatten,
    /// Active only in the training forward pass; identity in CD.
    Dropout {
        p: f64,
    },
    /// Eval-mode batch norm over dimension 1 (running statistics, no update).
    BatchNorm {
        weight: Option<Tensor>,
        bias: Option<Tensor>,
        running_mean: Tensor,
        running_var: Tensor,
        eps: f64,
    },
    /// Any other layer: runs in the forward pass, makes CD fail with an error naming it.
    Custom {
        name: String,
        forward: CustomFn,
    },
}

fn shallow(t: &Option<Tensor>) -> Option<Tensor> {
    t.as_ref().map(Tensor::shallow_clone)
}

impl Clone for Layer {
    /// Clones share the parameter tensors (shallow handles), like the original.
    fn clone(&self) -> Self {
        match self {
            Layer::Linear { weight, bias } => Layer::Linear { weight: weight.shallow_clone(), bias: shallow(bias) },
            Layer::Conv2d { weight, bias, stride, padding } => Layer::Conv2d {
                weight: weight.shallow_clone(),
                bias: shallow(bias),
                stride: *stride,
                padding: *padding,
            },
            Layer::Relu => Layer::Relu,
            Layer::MaxPool2d { kernel, stride, padding } => {
                Layer::MaxPool2d { kernel: *kernel, stride: *stride, padding: *padding }
            }
            Layer::AvgPool2d { kernel, stride, padding } => {
                Layer::AvgPool2d { kernel: *kernel, stride: *stride, padding: *padding }
            }
            Layer::AdaptiveAvgPool2d { output } => Layer::AdaptiveAvgPool2d { output: *output },
            Layer::Flatten => Layer::Flatten,
            Layer::Dropout { p } => Layer::Dropout { p: *p },
            Layer::BatchNorm { weight, bias, running_mean, running_var, eps } => Layer::BatchNorm {
                weight: shallow(weight),
                bias: shallow(bias),
                running_mean: running_mean.shallow_clone(),
                running_var: running_var.shallow_clone(),
                eps: *eps,
            },
            Layer::Custom { name, forward } => Layer::Custom { name: name.clone(), forward: forward.clone() },
        }
    }
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name())
    }
}

impl Layer {
    /// A linear layer from `weight: [out, in]` and an optional bias `[out]`.
    pub fn linear(weight: Tensor, bias: Option<Tensor>) -> Self {
        Layer::Linear { weight, bias }
    }

    /// A square-kernel convolution with equal stride and padding in both directions.
    pub fn conv2d(weight: Tensor, bias: Option<Tensor>, stride: i64, padding: i64) -> Self {
        Layer::Conv2d { weight, bias, stride: [stride; 2], padding: [padding; 2] }
    }

    /// `MaxPool2d(k)` with stride `k`, no padding.
    pub fn max_pool2d(k: i64) -> Self {
        Layer::MaxPool2d { kernel: [k; 2], stride: [k; 2], padding: [0; 2] }
    }

    /// A layer from a tch `nn::Linear` (shares its variables).
    pub fn from_linear(l: &tch::nn::Linear) -> Self {
        Layer::Linear { weight: l.ws.shallow_clone(), bias: l.bs.as_ref().map(Tensor::shallow_clone) }
    }

    /// A layer from a tch `nn::Conv2D` built with `stride` and `padding` (shares its
    /// variables; tch keeps the conv's config private, so the caller restates it).
    pub fn from_conv2d(c: &tch::nn::Conv2D, stride: i64, padding: i64) -> Self {
        Layer::conv2d(c.ws.shallow_clone(), c.bs.as_ref().map(Tensor::shallow_clone), stride, padding)
    }

    /// A short name for errors and logs, e.g. `conv2d(3→20, 5×5)`.
    pub fn name(&self) -> String {
        match self {
            Layer::Linear { weight, .. } => format!("linear({}→{})", weight.size()[1], weight.size()[0]),
            Layer::Conv2d { weight, .. } => {
                let s = weight.size();
                format!("conv2d({}→{}, {}×{})", s[1], s[0], s[2], s[3])
            }
            Layer::Relu => "relu".into(),
            Layer::MaxPool2d { kernel, .. } => format!("max_pool2d({}×{})", kernel[0], kernel[1]),
            Layer::AvgPool2d { kernel, .. } => format!("avg_pool2d({}×{})", kernel[0], kernel[1]),
            Layer::AdaptiveAvgPool2d { output } => format!("adaptive_avg_pool2d({}×{})", output[0], output[1]),
            Layer::Flatten => "flatten".into(),
            Layer::Dropout { p } => format!("dropout({p})"),
            Layer::BatchNorm { .. } => "batch_norm".into(),
            Layer::Custom { name, .. } => name.clone(),
        }
    }

    /// The layer's forward pass; `train` switches dropout on.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        Ok(match self {
            Layer::Linear { weight, bias } => {
                let y = x.f_matmul(&weight.tr())?;
                match bias {
                    Some(b) => y + b,
                    None => y,
                }
            }
            Layer::Conv2d { weight, bias, stride, padding } => {
                x.f_conv2d(weight, bias.as_ref(), *stride, *padding, [1, 1], 1)?
            }
            Layer::Relu => x.relu(),
            Layer::MaxPool2d { kernel, stride, padding } => {
                x.f_max_pool2d(*kernel, *stride, *padding, [1, 1], false)?
            }
            Layer::AvgPool2d { kernel, stride, padding } => {
                x.f_avg_pool2d(*kernel, *stride, *padding, false, true, None::<i64>)?
            }
            Layer::AdaptiveAvgPool2d { output } => x.f_adaptive_avg_pool2d(*output)?,
            Layer::Flatten => x.flatten(1, -1),
            Layer::Dropout { p } => x.f_dropout(*p, train)?,
            Layer::BatchNorm { weight, bias, running_mean, running_var, eps } => x.f_batch_norm(
                weight.as_ref(),
                bias.as_ref(),
                Some(running_mean),
                Some(running_var),
                false,
                0.0,
                *eps,
                false,
            )?,
            Layer::Custom { forward, .. } => forward(x, train)?,
        })
    }

    /// Propagates a decomposition through this layer (`index` only names it in errors).
    pub fn cd(&self, d: &Decomp, opts: &CdOptions, index: usize) -> Result<Decomp> {
        let split = opts.bias_split;
        match self {
            Layer::Linear { weight, bias } => affine::linear(d, weight, bias.as_ref(), split),
            Layer::Conv2d { weight, bias, stride, padding } => {
                affine::conv2d(d, weight, bias.as_ref(), *stride, *padding, split)
            }
            Layer::Relu => Ok(activation::relu(d)),
            Layer::MaxPool2d { kernel, stride, padding } => pool::max_pool2d(d, *kernel, *stride, *padding),
            Layer::AvgPool2d { kernel, stride, padding } => pool::avg_pool2d(d, *kernel, *stride, *padding),
            Layer::AdaptiveAvgPool2d { output } => pool::adaptive_avg_pool2d(d, *output),
            Layer::Flatten => Ok(pool::flatten(d)),
            Layer::Dropout { .. } => Ok(activation::dropout(d)),
            Layer::BatchNorm { weight, bias, running_mean, running_var, eps } => {
                let p = affine::BatchNormParams {
                    weight: weight.as_ref(),
                    bias: bias.as_ref(),
                    running_mean,
                    running_var,
                    eps: *eps,
                };
                affine::batch_norm(d, &p, split)
            }
            Layer::Custom { name, .. } => Err(CdepError::NoCdRule { index, name: name.clone() }),
        }
    }
}

/// A chain of [`Layer`]s ending in logits (no softmax: CD decomposes the logits).
#[derive(Debug, Clone, Default)]
pub struct Sequential {
    layers: Vec<Layer>,
}

impl Sequential {
    pub fn new(layers: Vec<Layer>) -> Self {
        Self { layers }
    }

    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Layers `[0, k)` and `[k, n)` as two models (e.g. frozen extractor and head).
    pub fn split_at(&self, k: usize) -> Result<(Sequential, Sequential)> {
        if k > self.layers.len() {
            return Err(CdepError::invalid("split point", format!("{k} is past the {} layers", self.layers.len())));
        }
        Ok((Sequential::new(self.layers[..k].to_vec()), Sequential::new(self.layers[k..].to_vec())))
    }

    /// Forward pass; `train` switches dropout on.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = x.shallow_clone();
        for l in &self.layers {
            h = l.forward(&h, train)?;
        }
        Ok(h)
    }

    /// Decomposes the logits for the blob `mask` (see [`Decomp::from_mask`] for the
    /// accepted shapes).
    pub fn cd(&self, x: &Tensor, mask: &Tensor, opts: &CdOptions) -> Result<Decomp> {
        self.cd_decomp(Decomp::from_mask(x, mask)?, opts)
    }

    /// Propagates an existing decomposition (e.g. precomputed features' `(β, γ)`); the
    /// forward activation that picks max-pool winners starts from `β + γ`.
    pub fn cd_decomp(&self, d: Decomp, opts: &CdOptions) -> Result<Decomp> {
        let h = d.total().detach();
        self.propagate(d, h, 1, opts, None)
    }

    /// For debugging: `(layer name, β, γ)` after every layer, in the order the
    /// decomposition applies them (with `pool_before_relu` a max-pool comes before the
    /// ReLU it follows in the network). The last entry equals [`Sequential::cd`].
    pub fn cd_trace(&self, x: &Tensor, mask: &Tensor, opts: &CdOptions) -> Result<Vec<(String, Decomp)>> {
        let d = Decomp::from_mask(x, mask)?;
        let mut trace = vec![];
        self.propagate(d, x.detach(), 1, opts, Some(&mut trace))?;
        Ok(trace)
    }

    /// The per-blob rules on `n` decompositions stacked blob-major (`[n·B, …]`) beside
    /// the forward activation `h` `[B, …]` of the same inputs, which picks the max-pool
    /// winners for every blob (see [`CdOptions`]).
    pub(crate) fn propagate(
        &self,
        mut d: Decomp,
        mut h: Tensor,
        n: i64,
        opts: &CdOptions,
        mut trace: Option<&mut Vec<(String, Decomp)>>,
    ) -> Result<Decomp> {
        let mut i = 0;
        while i < self.layers.len() {
            let swap = opts.pool_before_relu
                && matches!(self.layers[i], Layer::Relu)
                && matches!(self.layers.get(i + 1), Some(Layer::MaxPool2d { .. }));
            let order: &[usize] = if swap { &[i + 1, i] } else { &[i] };
            for &k in order {
                let layer = &self.layers[k];
                if let Layer::MaxPool2d { kernel, stride, padding } = layer {
                    let (pooled, idx) =
                        tch::no_grad(|| h.f_max_pool2d_with_indices(*kernel, *stride, *padding, [1, 1], false))?;
                    d = Decomp {
                        rel: pool::gather_winners(&d.rel, &idx, n)?,
                        irrel: pool::gather_winners(&d.irrel, &idx, n)?,
                    };
                    h = pooled;
                } else {
                    d = layer.cd(&d, opts, k)?;
                    h = tch::no_grad(|| layer.forward(&h, false))?;
                }
                if let Some(t) = trace.as_deref_mut() {
                    t.push((layer.name(), Decomp::new(d.rel.shallow_clone(), d.irrel.shallow_clone())));
                }
            }
            i += order.len();
        }
        Ok(d)
    }
}
