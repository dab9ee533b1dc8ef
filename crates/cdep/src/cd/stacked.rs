//! Many blobs at once, as one stacked batch (the training penalty's path).
//!
//! Two representations, chosen by the bias split:
//! * **symmetric split** (`Shared`): by completeness `β + γ` equals the ordinary (eval)
//!   activation `h` at every layer boundary, and `h` does not depend on the blob. So only
//!   `β` needs a pass per blob; `h` runs once per batch and `γ = h − β` where a rule needs
//!   it (the bias split's `|i|`). Same numbers as `n` separate decompositions up to
//!   rounding, at roughly half their cost.
//! * **reference split** (`Pair`): it drops a bias where both parts are exactly zero, so
//!   `β + γ ≠ h` there and `γ` is carried per blob, `[β of every blob; γ of every blob]` in
//!   one tensor so that every layer is one kernel call over both.
//!
//! Max pooling reads both parts at winners chosen on `h`, and every rule between an affine
//! layer and the max-pool that follows it (the bias split, ReLU, dropout) acts element by
//! element, so reading the winners first and applying those rules after gives the same
//! numbers. The engine does that: the bias split and ReLU run on the pooled (4× smaller)
//! tensors, which is where most of a CDEP step's time went (elementwise passes over the
//! full-resolution conv outputs and their backward, not the convolutions).

use super::affine::{batch_norm_affine, BatchNormParams};
use super::pool::gather_winners;
use super::{fit_mask, BiasSplit, CdOptions, Decomp, Layer, Sequential};
use crate::{CdepError, Result};
use tch::Tensor;

/// Largest activation of one chunk of blobs. glibc serves buffers of 32 MiB and more
/// (its largest mmap threshold, see `xai_core::device::tune_allocator`) with fresh
/// mappings, page-faulted in anew on every allocation, and a CDEP step allocates dozens of
/// activations and gradients per layer; below it freed buffers are reused. ColorMNIST's
/// 8 blobs × 256 images made 94–190 MB conv outputs, a fifth of the step in page faults.
const CHUNK_BYTES: i64 = 16 << 20;

/// The rows of some blobs: `[blobs·B, …]` (shared) or `[2·blobs·B, …]` (pair), blob-major.
struct Chunk {
    t: Tensor,
    blobs: i64,
}

/// The decomposition of `n` blobs between two layers, in chunks of blobs (see
/// [`CHUNK_BYTES`]); every rule acts per chunk, the total and winners are shared.
enum Parts {
    /// Relevant parts `[n·B, …]` (blob-major) and the shared total `[B, …]`, which is the
    /// forward activation and carries gradients (γ = total − β depends on the weights).
    Shared { rel: Vec<Chunk>, total: Tensor },
    /// `[β; γ]` of each chunk's blobs, and the forward activation `h` `[B, …]` that
    /// picks the max-pool winners; it carries gradients only when `graph` (the caller
    /// wants the logits too, see [`Sequential::cd_blobs_with_logits`]).
    Pair { both: Vec<Chunk>, h: Tensor, graph: bool },
}

/// Runs `f` recording the autograd graph only when `graph`.
fn on_graph<T>(graph: bool, f: impl FnOnce() -> T) -> T {
    if graph {
        f()
    } else {
        tch::no_grad(f)
    }
}

fn map_chunks(chunks: &[Chunk], f: impl Fn(&Tensor, i64) -> Result<Tensor>) -> Result<Vec<Chunk>> {
    chunks.iter().map(|c| Ok(Chunk { t: f(&c.t, c.blobs)?, blobs: c.blobs })).collect()
}

/// Blobs per chunk: as many as keep the largest activation of one chunk under
/// [`CHUNK_BYTES`] (at least one), sized by a forward pass of one example.
fn blobs_per_chunk(net: &Sequential, x: &Tensor, stacks: i64) -> Result<i64> {
    let b = x.size()[0];
    if b == 0 {
        return Ok(1);
    }
    let largest = tch::no_grad(|| -> Result<i64> {
        let mut h = x.narrow(0, 0, 1).detach();
        let mut largest = h.numel() as i64;
        for l in net.layers() {
            h = l.forward(&h, false)?;
            largest = largest.max(h.numel() as i64);
        }
        Ok(largest)
    })?;
    let row_bytes = largest * x.kind().elt_size_in_bytes() as i64;
    Ok((CHUNK_BYTES / (row_bytes * b * stacks).max(1)).max(1))
}

impl Sequential {
    /// Decomposes the logits of `x` `[B, …]` for each of `n` blobs `masks: [n, …]` (each
    /// blob shaped as [`Decomp::from_mask`] accepts for the whole batch, e.g. `[n, H, W]`).
    /// Returns `(β, γ)` of shape `[n·B, C]`, blob-major. Equals `n` calls of
    /// [`Sequential::cd`] in every mode (up to float rounding with the symmetric split).
    pub fn cd_blobs(&self, x: &Tensor, masks: &Tensor, opts: &CdOptions) -> Result<Decomp> {
        Ok(self.stacked(x, masks, opts, false)?.0)
    }

    /// [`Sequential::cd_blobs`] and the logits of the eval-mode forward pass `[B, C]`,
    /// with gradients, from the same pass. The decomposition needs that forward pass
    /// anyway (its max-pool winners; with the symmetric split it is the shared total), so
    /// a training step whose prediction loss may use eval-mode logits (no active dropout,
    /// see [`Sequential::train_forward_is_eval`]) saves a forward and a backward pass.
    pub fn cd_blobs_with_logits(&self, x: &Tensor, masks: &Tensor, opts: &CdOptions) -> Result<(Decomp, Tensor)> {
        self.stacked(x, masks, opts, true)
    }

    /// Whether the training forward pass equals the eval one: no dropout with `p > 0`
    /// and no custom layer (whose train mode is unknown). Batch norm here always uses its
    /// running statistics.
    pub fn train_forward_is_eval(&self) -> bool {
        self.layers().iter().all(|l| match l {
            Layer::Dropout { p } => *p == 0.0,
            Layer::Custom { .. } => false,
            _ => true,
        })
    }

    fn stacked(&self, x: &Tensor, masks: &Tensor, opts: &CdOptions, graph: bool) -> Result<(Decomp, Tensor)> {
        let n = *masks
            .size()
            .first()
            .ok_or_else(|| CdepError::invalid("blob stack", "a scalar is not a stack of masks"))?;
        if n == 0 {
            // No blobs: the logits' shape with no rows.
            let empty = tch::no_grad(|| self.forward(&x.narrow(0, 0, 0), false))?;
            // `cd_blobs` drops the logits: no forward pass for them.
            let logits = if graph { self.forward(x, false)? } else { empty.shallow_clone() };
            return Ok((Decomp { rel: empty.shallow_clone(), irrel: empty }, logits));
        }
        // Validates one blob against `x`; every blob of the stack has its shape.
        let one = fit_mask(x, &masks.get(0))?;
        let mut shape = vec![n];
        shape.extend(one.size());
        let masks = masks.f_reshape(shape.as_slice())?.detach().to_kind(x.kind()).to_device(x.device());
        let pair = opts.bias_split == BiasSplit::Reference;
        let per = blobs_per_chunk(self, x, if pair { 2 } else { 1 })?;
        let xs = x.unsqueeze(0);
        let mut chunks = vec![];
        let mut start = 0;
        while start < n {
            let blobs = per.min(n - start);
            let rel = xs.f_mul(&masks.narrow(0, start, blobs))?;
            let t = if pair { Tensor::f_cat(&[&rel, &(&xs - &rel)], 0)? } else { rel };
            let mut rows = t.size();
            let lead = rows[0] * rows[1];
            rows.splice(0..2, [lead]);
            chunks.push(Chunk { t: t.f_reshape(rows.as_slice())?, blobs });
            start += blobs;
        }
        let mut parts = if pair {
            Parts::Pair { both: chunks, h: if graph { x.shallow_clone() } else { x.detach() }, graph }
        } else {
            Parts::Shared { rel: chunks, total: x.shallow_clone() }
        };
        let order = decomposition_order(self.layers(), opts);
        let mut p = 0;
        while p < order.len() {
            let k = order[p];
            let layer = &self.layers()[k];
            if let Some((lin, bias)) = affine_parts(layer, &parts)? {
                // Pointwise layers up to a max-pool: read the winners before them.
                let mut q = p + 1;
                while q < order.len() && matches!(self.layers()[order[q]], Layer::Relu | Layer::Dropout { .. }) {
                    q += 1;
                }
                let pool = order.get(q).filter(|&&j| matches!(self.layers()[j], Layer::MaxPool2d { .. }));
                match pool {
                    Some(&j) => {
                        let window: Vec<&Layer> = order[p + 1..q].iter().map(|&i| &self.layers()[i]).collect();
                        parts = affine_pool(layer, lin, bias, &window, &self.layers()[j], parts, opts)?;
                        p = q + 1;
                    }
                    None => {
                        parts = affine_split(layer, lin, bias.as_ref(), parts, opts)?;
                        p += 1;
                    }
                }
                continue;
            }
            parts = step(layer, parts, k)?;
            p += 1;
        }
        Ok(match parts {
            Parts::Shared { rel, total } => {
                let irrel: Vec<Tensor> =
                    rel.iter().map(|c| (total.unsqueeze(0) - per_blob(&c.t, c.blobs)).view_as(&c.t)).collect();
                let rel: Vec<&Tensor> = rel.iter().map(|c| &c.t).collect();
                (Decomp { rel: Tensor::f_cat(&rel, 0)?, irrel: Tensor::f_cat(&irrel, 0)? }, total)
            }
            Parts::Pair { both, h, .. } => {
                let half = |c: &Chunk, second: bool| {
                    let rows = c.t.size()[0] / 2;
                    c.t.narrow(0, if second { rows } else { 0 }, rows)
                };
                let rel: Vec<Tensor> = both.iter().map(|c| half(c, false)).collect();
                let irrel: Vec<Tensor> = both.iter().map(|c| half(c, true)).collect();
                (Decomp { rel: Tensor::f_cat(&rel, 0)?, irrel: Tensor::f_cat(&irrel, 0)? }, h)
            }
        })
    }
}

/// Layer indices in the order the decomposition applies them (with `pool_before_relu`,
/// `ReLU → MaxPool2d` becomes `MaxPool2d → ReLU`).
fn decomposition_order(layers: &[Layer], opts: &CdOptions) -> Vec<usize> {
    let mut order = Vec::with_capacity(layers.len());
    let mut i = 0;
    while i < layers.len() {
        let swap = opts.pool_before_relu
            && matches!(layers[i], Layer::Relu)
            && matches!(layers.get(i + 1), Some(Layer::MaxPool2d { .. }));
        if swap {
            order.extend([i + 1, i]);
            i += 2;
        } else {
            order.push(i);
            i += 1;
        }
    }
    order
}

/// `rel` viewed as `[n, B, …]` (a view: blob-major rows are contiguous per blob).
fn per_blob(rel: &Tensor, n: i64) -> Tensor {
    let mut shape = vec![n, -1];
    shape.extend(&rel.size()[1..]);
    rel.view(shape.as_slice())
}

/// The bias-free outputs of an affine layer: `(A(β), A(total))` or `A([β; γ])`.
enum Linear {
    Shared { r: Vec<Chunk>, t: Tensor },
    Pair { both: Vec<Chunk> },
}

type BiasFreeMap<'a> = Box<dyn Fn(&Tensor) -> Result<Tensor> + 'a>;

/// An affine layer's bias-free map applied to the parts, and its bias (shaped to
/// broadcast onto the output), or `None` for any other layer.
fn affine_parts(layer: &Layer, parts: &Parts) -> Result<Option<(Linear, Option<Tensor>)>> {
    let dims = match parts {
        Parts::Shared { total, .. } => total.dim(),
        Parts::Pair { h, .. } => h.dim(),
    };
    let (map, bias): (BiasFreeMap<'_>, Option<Tensor>) = match layer {
        Layer::Linear { weight, bias } => {
            let wt = weight.tr();
            (Box::new(move |x: &Tensor| Ok(x.f_matmul(&wt)?)), bias.as_ref().map(Tensor::shallow_clone))
        }
        Layer::Conv2d { weight, bias, stride, padding } => (
            Box::new(move |x: &Tensor| Ok(x.f_conv2d(weight, None::<Tensor>, *stride, *padding, [1, 1], 1)?)),
            bias.as_ref().map(|b| b.view([1, -1, 1, 1])),
        ),
        Layer::BatchNorm { weight, bias, running_mean, running_var, eps } => {
            let p =
                BatchNormParams { weight: weight.as_ref(), bias: bias.as_ref(), running_mean, running_var, eps: *eps };
            let (a, c) = batch_norm_affine(&p, dims);
            (Box::new(move |x: &Tensor| Ok(x.f_mul(&a)?)), Some(c))
        }
        _ => return Ok(None),
    };
    let lin = match parts {
        Parts::Shared { rel, total } => Linear::Shared { r: map_chunks(rel, |t, _| map(t))?, t: map(total)? },
        Parts::Pair { both, .. } => Linear::Pair { both: map_chunks(both, |t, _| map(t))? },
    };
    Ok(Some((lin, bias)))
}

/// The relevant part after the symmetric bias split, `β' = r + w_r·b` with
/// `w_r = (|r|+ε)/(|r|+|i|+2ε)` and `i = A(h) − r` formed by broadcasting (no per-blob
/// copy of the total); `γ'` is never materialised.
fn shared_split(r: &Tensor, t: &Tensor, bias: &Tensor, n: i64, eps: f64) -> Tensor {
    let r5 = per_blob(r, n);
    let i5 = t.unsqueeze(0) - &r5;
    let ar = r5.abs() + eps;
    let denom = &ar + (i5.abs() + eps);
    (r5 + ar / denom * bias).view_as(r)
}

/// Both parts after the bias split, from `[r; i]` stacked in one tensor: the weights of
/// both come from one `|·|` and one division (the formulas of [`super::affine::split_bias`]).
fn pair_split(both: &Tensor, bias: &Tensor, split: BiasSplit) -> Tensor {
    let rows = both.size()[0] / 2;
    let (a, denom) = match split {
        BiasSplit::Symmetric { eps } => {
            let a = both.abs() + eps;
            let denom = a.narrow(0, 0, rows) + a.narrow(0, rows, rows);
            (a, denom)
        }
        BiasSplit::Reference => {
            let a = both.abs();
            let denom = a.narrow(0, 0, rows) + a.narrow(0, rows, rows) + 1e-19;
            (a, denom)
        }
    };
    let mut shape = vec![2];
    shape.extend(denom.size());
    let w = a.view(shape.as_slice()) / denom.unsqueeze(0);
    both + w.view_as(both) * bias
}

/// The shared path runs only with the symmetric split (`cd_blobs` picks the pair path
/// for the reference split).
fn symmetric_eps(opts: &CdOptions) -> f64 {
    match opts.bias_split {
        BiasSplit::Symmetric { eps } => eps,
        BiasSplit::Reference => 1e-20,
    }
}

/// An affine layer whose output is not max-pooled next: the bias split at full size.
fn affine_split(layer: &Layer, lin: Linear, bias: Option<&Tensor>, parts: Parts, opts: &CdOptions) -> Result<Parts> {
    Ok(match (lin, parts) {
        (Linear::Shared { r, t }, Parts::Shared { .. }) => match bias {
            Some(b) => {
                let eps = symmetric_eps(opts);
                let rel = map_chunks(&r, |r, blobs| Ok(shared_split(r, &t, b, blobs, eps)))?;
                Parts::Shared { rel, total: t + b }
            }
            None => Parts::Shared { rel: r, total: t },
        },
        (Linear::Pair { both }, Parts::Pair { h, graph, .. }) => {
            let h = on_graph(graph, || layer.forward(&h, false))?;
            let both = match bias {
                Some(b) => map_chunks(&both, |t, _| Ok(pair_split(t, b, opts.bias_split)))?,
                None => both,
            };
            Parts::Pair { both, h, graph }
        }
        _ => unreachable!("affine_parts keeps the representation"),
    })
}

/// `affine → window (ReLU / dropout) → max-pool`, with the parts read at the winners
/// before the bias split and the window's rules: those act element by element, so the
/// numbers are those of the layer-by-layer rules, on a tensor the pool's size. Each
/// chunk's full-size affine output lives only until its winners are read.
fn affine_pool(
    layer: &Layer,
    lin: Linear,
    bias: Option<Tensor>,
    window: &[&Layer],
    pool: &Layer,
    parts: Parts,
    opts: &CdOptions,
) -> Result<Parts> {
    let Layer::MaxPool2d { kernel, stride, padding } = pool else { unreachable!("the caller found a max-pool") };
    let relus = window.iter().filter(|l| matches!(l, Layer::Relu)).count();
    Ok(match (lin, parts) {
        (Linear::Shared { r, t }, Parts::Shared { .. }) => {
            // The total (one batch) goes layer by layer; its winners serve every blob.
            let mut total = match &bias {
                Some(b) => &t + b,
                None => t.shallow_clone(),
            };
            for l in window {
                total = l.forward(&total, false)?;
            }
            let (total, idx) = total.f_max_pool2d_with_indices(*kernel, *stride, *padding, [1, 1], false)?;
            let t_won = gather_winners(&t, &idx, 1)?;
            let eps = symmetric_eps(opts);
            let rel = map_chunks(&r, |r, blobs| {
                let r = gather_winners(r, &idx, blobs)?;
                let mut rel = match &bias {
                    Some(b) => shared_split(&r, &t_won, b, blobs, eps),
                    None => r,
                };
                for _ in 0..relus {
                    rel = rel.relu();
                }
                Ok(rel)
            })?;
            Parts::Shared { rel, total }
        }
        (Linear::Pair { both }, Parts::Pair { h, graph, .. }) => {
            let (h, idx) = on_graph(graph, || -> Result<(Tensor, Tensor)> {
                let mut h = layer.forward(&h, false)?;
                for l in window {
                    h = l.forward(&h, false)?;
                }
                Ok(h.f_max_pool2d_with_indices(*kernel, *stride, *padding, [1, 1], false)?)
            })?;
            let both = map_chunks(&both, |t, blobs| {
                let won = gather_winners(t, &idx, 2 * blobs)?;
                let mut both = match &bias {
                    Some(b) => pair_split(&won, b, opts.bias_split),
                    None => won,
                };
                for _ in 0..relus {
                    both = pair_relu(&both);
                }
                Ok(both)
            })?;
            Parts::Pair { both, h, graph }
        }
        _ => unreachable!("affine_parts keeps the representation"),
    })
}

/// ReLU on `[β; γ]`: `β' = relu(β)`, `γ' = relu(β+γ) − relu(β)`.
fn pair_relu(both: &Tensor) -> Tensor {
    let rows = both.size()[0] / 2;
    let rel = both.narrow(0, 0, rows).relu();
    let irrel = (both.narrow(0, 0, rows) + both.narrow(0, rows, rows)).relu() - &rel;
    Tensor::cat(&[rel, irrel], 0)
}

/// The non-affine layers.
fn step(layer: &Layer, parts: Parts, index: usize) -> Result<Parts> {
    let linear = |parts: Parts, f: &dyn Fn(&Tensor) -> Result<Tensor>| -> Result<Parts> {
        Ok(match parts {
            Parts::Shared { rel, total } => Parts::Shared { rel: map_chunks(&rel, |t, _| f(t))?, total: f(&total)? },
            Parts::Pair { both, h, graph } => {
                Parts::Pair { both: map_chunks(&both, |t, _| f(t))?, h: on_graph(graph, || f(&h))?, graph }
            }
        })
    };
    Ok(match layer {
        Layer::Relu => match parts {
            Parts::Shared { rel, total } => {
                Parts::Shared { rel: map_chunks(&rel, |t, _| Ok(t.relu()))?, total: total.relu() }
            }
            Parts::Pair { both, h, graph } => {
                Parts::Pair { both: map_chunks(&both, |t, _| Ok(pair_relu(t)))?, h: h.relu(), graph }
            }
        },
        Layer::MaxPool2d { kernel, stride, padding } => match parts {
            Parts::Shared { rel, total } => {
                let (total, idx) = total.f_max_pool2d_with_indices(*kernel, *stride, *padding, [1, 1], false)?;
                Parts::Shared { rel: map_chunks(&rel, |t, blobs| gather_winners(t, &idx, blobs))?, total }
            }
            Parts::Pair { both, h, graph } => {
                let (h, idx) =
                    on_graph(graph, || h.f_max_pool2d_with_indices(*kernel, *stride, *padding, [1, 1], false))?;
                Parts::Pair { both: map_chunks(&both, |t, blobs| gather_winners(t, &idx, 2 * blobs))?, h, graph }
            }
        },
        Layer::AvgPool2d { kernel, stride, padding } => {
            linear(parts, &|x| Ok(x.f_avg_pool2d(*kernel, *stride, *padding, false, true, None::<i64>)?))?
        }
        Layer::AdaptiveAvgPool2d { output } => linear(parts, &|x| Ok(x.f_adaptive_avg_pool2d(*output)?))?,
        Layer::Flatten => linear(parts, &|x| Ok(x.flatten(1, -1)))?,
        Layer::Dropout { .. } => parts,
        Layer::Custom { name, .. } => return Err(CdepError::NoCdRule { index, name: name.clone() }),
        Layer::Linear { .. } | Layer::Conv2d { .. } | Layer::BatchNorm { .. } => {
            unreachable!("affine layers go through affine_parts")
        }
    })
}
