//! Label-free feature importance (paper §3.1): any gradient attribution wrapped around an
//! encoder through the auxiliary function `g_x(x̃) = ⟨stopgrad f(x), f(x̃)⟩`, every path
//! point paired with its own example's anchor (spec P1; the reference's tiled pairing is
//! [`AnchorPairing::Tiled`]).
//!
//! Saliency, Integrated Gradients (Gauss–Legendre rule) and GradientShap are xai-core's
//! attributions with the auxiliary function as the model. GradientShap runs example-major
//! (Captum's NoiseTunnel layout, which the reference's tiled anchors get wrong: spec P1)
//! with α's drawn here, so a run can record or replay them.

use crate::params::{AnchorPairing, BaselineDraw, FeatureMethod};
use crate::{LfxaiError, Result};
use tch::{Kind, Tensor};
use xai_core::attribution::{
    Attribution, GradientShap, IntegratedGradients, PathSampleOptions, Rule, Saliency, SampleLayout, Target,
};

/// A differentiable encoder `[B, …] → [B, d]` (extra output dimensions are flattened).
pub type Encoder<'a> = &'a dyn Fn(&Tensor) -> Tensor;

/// `f(x)` flattened to `[B, d]`, outside the graph: the anchors of the auxiliary function.
pub fn anchors(encoder: Encoder<'_>, x: &Tensor) -> Tensor {
    tch::no_grad(|| latent(encoder, x)).detach()
}

fn latent(encoder: Encoder<'_>, x: &Tensor) -> Tensor {
    let h = encoder(x);
    if h.dim() > 2 {
        h.flatten(1, -1)
    } else {
        h
    }
}

/// The auxiliary score `⟨anchor_r, f(x̃_r)⟩` of each row `r` of a batch of path points;
/// `row_anchors` holds one (detached) anchor per row.
pub fn auxiliary_scores(encoder: Encoder<'_>, points: &Tensor, row_anchors: &Tensor) -> Tensor {
    let h = latent(encoder, points);
    let kind = h.kind();
    (h * row_anchors).sum_dim_intlist(1, false, kind)
}

/// Gauss–Legendre nodes and weights on [0, 1]: xai-core's, re-exported for users of this module.
pub use xai_core::attribution::gauss_legendre;

/// `baseline` broadcast to `x`'s shape: `[…]`, `[1, …]` (shared) or `[B, …]` (per example).
fn broadcast_baseline(x: &Tensor, baseline: &Tensor) -> Result<Tensor> {
    let (xs, bs) = (x.size(), baseline.size());
    let ok = bs == xs || bs[..] == xs[1..] || (bs.len() == xs.len() && bs[0] == 1 && bs[1..] == xs[1..]);
    if !ok {
        return Err(LfxaiError::invalid(
            "attribution baseline",
            format!("shape {bs:?} fits neither one input {:?} nor the batch {xs:?}", &xs[1..]),
        ));
    }
    Ok(baseline.to_device(x.device()).to_kind(x.kind()).expand(xs.as_slice(), false).contiguous())
}

fn check_input(x: &Tensor) -> Result<()> {
    if x.dim() < 2 || x.size()[0] == 0 {
        return Err(LfxaiError::invalid("explicands", format!("shape {:?}; need a non-empty batch [B, …]", x.size())));
    }
    Ok(())
}

/// Label-free importance `b_i(f, x)` of every input element for a batch `x`, shape of `x`.
/// `baseline` is used by IG and GradientShap (ignored by Saliency and Random). GradientShap
/// and Random draw from libtorch's generator: seed it (`tch::manual_seed`) for repeatable runs.
///
/// ```
/// use lfxai::{features::label_free_attribution, FeatureMethod};
/// use tch::{nn, nn::Module, Device, Kind, Tensor};
///
/// tch::manual_seed(0);
/// let vs = nn::VarStore::new(Device::Cpu);
/// let net = nn::seq().add(nn::linear(vs.root() / "l1", 6, 8, Default::default())).add_fn(|t| t.tanh())
///     .add(nn::linear(vs.root() / "l2", 8, 3, Default::default()));
/// let encoder = |x: &Tensor| net.forward(x);
/// let x = Tensor::randn([4, 6], (Kind::Float, Device::Cpu));
/// let baseline = Tensor::zeros([6], (Kind::Float, Device::Cpu));
/// let ig = FeatureMethod::from_name("integrated_gradients").unwrap();
/// let attr = label_free_attribution(&encoder, &x, &baseline, &ig).unwrap();
/// assert_eq!(attr.size(), [4, 6]);
/// // completeness: Σ_i b_i ≈ ‖f(x)‖² − ⟨f(x), f(0)⟩
/// ```
pub fn label_free_attribution(
    encoder: Encoder<'_>,
    x: &Tensor,
    baseline: &Tensor,
    method: &FeatureMethod,
) -> Result<Tensor> {
    method.validate()?;
    check_input(x)?;
    let x = x.detach();
    match *method {
        FeatureMethod::Saliency => {
            let a = anchors(encoder, &x);
            let g = |t: &Tensor| auxiliary_scores(encoder, t, &a);
            Ok(Saliency { abs: true }.attribute(&g, &x, &Target::Scalar)?)
        }
        FeatureMethod::IntegratedGradients { steps } => integrated_gradients(encoder, &x, baseline, steps),
        FeatureMethod::GradientShap { n_samples, .. } => {
            let b = x.size()[0];
            let alphas = Tensor::rand([b * n_samples as i64], (Kind::Double, tch::Device::Cpu));
            let alphas = Vec::<f64>::try_from(&alphas)?;
            gradient_shap_for(encoder, &x, baseline, &alphas, method)
        }
        FeatureMethod::Random => Ok(x.randn_like()),
    }
}

/// Label-free IG with `steps` Gauss–Legendre nodes: xai-core's IG on the auxiliary function,
/// path points in chunks of whole steps (row `k·B + b` = step `k` of example `b`, paired with
/// anchor `f(x_b)`).
pub fn integrated_gradients(encoder: Encoder<'_>, x: &Tensor, baseline: &Tensor, steps: usize) -> Result<Tensor> {
    FeatureMethod::IntegratedGradients { steps }.validate()?;
    check_input(x)?;
    let x = x.detach();
    let base = broadcast_baseline(&x, baseline)?;
    let a = anchors(encoder, &x);
    let b = x.size()[0];
    // xai-core lays path points out step-major ([steps, B] flattened), so row r is a point of
    // example r mod B: the anchors repeat once per step in the chunk.
    let aux = |points: &Tensor| auxiliary_scores(encoder, points, &a.repeat([points.size()[0] / b, 1]));
    let ig = IntegratedGradients::new(steps as i64).with_rule(Rule::GaussLegendre).with_baseline(base);
    Ok(ig.attribute(&aux, &x, &Target::Scalar)?)
}

/// Label-free GradientShap with given α draws, laid out as Captum does: row `b·n_s + s`
/// is sample `s` of example `b` and uses `alphas[b·n_s + s]`; the baseline of each example
/// is its own (broadcast) baseline. `pairing` picks the anchor of each row (spec P1).
/// `noise_stdev` adds N(0, σ²) to the inputs of every sample (SmoothGrad-style; default off).
pub fn gradient_shap_with_alphas(
    encoder: Encoder<'_>,
    x: &Tensor,
    baseline: &Tensor,
    alphas: &[f64],
    n_samples: usize,
    pairing: AnchorPairing,
    noise_stdev: Option<f64>,
) -> Result<Tensor> {
    let method = FeatureMethod::GradientShap {
        n_samples,
        stdev: noise_stdev.unwrap_or(0.0),
        pairing,
        baselines: BaselineDraw::OwnExample,
    };
    gradient_shap_for(encoder, x, baseline, alphas, &method)
}

/// Label-free GradientShap of `method` (which must be GradientShap) with given α draws, in
/// Captum's example-major layout (see [`gradient_shap_with_alphas`]). With
/// [`BaselineDraw::Batch`] each row's baseline is drawn from the batch's baselines with
/// libtorch's generator (spec P2).
pub fn gradient_shap_for(
    encoder: Encoder<'_>,
    x: &Tensor,
    baseline: &Tensor,
    alphas: &[f64],
    method: &FeatureMethod,
) -> Result<Tensor> {
    let FeatureMethod::GradientShap { n_samples, stdev, pairing, baselines } = *method else {
        return Err(LfxaiError::invalid("gradient_shap method", format!("{} is not GradientShap", method.name())));
    };
    method.validate()?;
    check_input(x)?;
    let x = x.detach();
    let (b, ns) = (x.size()[0], n_samples as i64);
    if alphas.len() as i64 != b * ns {
        return Err(LfxaiError::invalid(
            "gradient_shap alphas",
            format!("{} draws for {b} examples × {ns} samples", alphas.len()),
        ));
    }
    let base = broadcast_baseline(&x, baseline)?;
    let a = anchors(encoder, &x);
    let row_anchors = match pairing {
        AnchorPairing::OwnExample => a.repeat_interleave_self_int(ns, 0, None),
        AnchorPairing::Tiled => a.repeat([ns, 1]),
    };
    let aux = |points: &Tensor| auxiliary_scores(encoder, points, &row_anchors);
    let gs = GradientShap { baselines: base, n_samples: ns, noise_stdev: stdev };
    let opts = PathSampleOptions {
        layout: SampleLayout::ExampleMajor,
        alphas: Some(alphas.to_vec()),
        per_example_baselines: baselines == BaselineDraw::OwnExample,
    };
    Ok(gs.attribute_with(&aux, &x, &Target::Scalar, &opts)?)
}

/// Per-unit importances (the disvae "individual dims"): for every latent unit `j`,
/// `s_{j,i}(x) = |f_j(x) · GradientShap_i(f_j, x)|`; output `[B, d, …]`.
pub fn per_unit_gradient_shap(
    encoder: Encoder<'_>,
    x: &Tensor,
    baselines: &Tensor,
    n_samples: usize,
) -> Result<Tensor> {
    check_input(x)?;
    let x = x.detach();
    let a = anchors(encoder, &x);
    let d = a.size()[1];
    let gs = GradientShap { baselines: baselines.shallow_clone(), n_samples: n_samples as i64, noise_stdev: 0.0 };
    let f = |t: &Tensor| latent(encoder, t);
    let mut units = Vec::with_capacity(d as usize);
    for j in 0..d {
        let attr = gs.attribute(&f, &x, &Target::Index(j))?;
        let mut shape = vec![x.size()[0]];
        shape.extend(std::iter::repeat(1).take(x.dim() - 1));
        units.push((attr * a.select(1, j).view(shape.as_slice())).abs());
    }
    Ok(Tensor::stack(&units, 1))
}
