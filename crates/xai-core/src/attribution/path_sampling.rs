//! Attributions that average `(x − r) ⊙ ∇f(r + α(x − r))` over random references `r` and
//! random `α ~ U(0, 1)`: GradientShap (Lundberg & Lee 2017, Captum's form, with optional
//! input noise) and Expected Gradients (Erion et al. 2019, references drawn from data).

use super::{gradient, Attribution, Forward, Target};
use crate::{Error, Result};
use tch::{Kind, Tensor};

/// How the `n_samples · B` path points of a batch of `B` examples are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SampleLayout {
    /// Row `s·B + b` is sample `s` of example `b` (tiling the batch; the core's default).
    #[default]
    SampleMajor,
    /// Row `b·n_s + s` is sample `s` of example `b`, as Captum's NoiseTunnel expands its
    /// inputs; a model that pairs rows with per-example side data must know this layout.
    ExampleMajor,
}

/// Choices of [`GradientShap::attribute_with`] beyond the random defaults: the layout of
/// the path points, given α's (recorded draws, or a reference run's), and per-example
/// baselines.
#[derive(Debug, Clone, Default)]
pub struct PathSampleOptions {
    pub layout: SampleLayout,
    /// One α per path point, in layout order (`n_samples · B` values); `None` draws
    /// `α ~ U(0, 1)` from libtorch's generator.
    pub alphas: Option<Vec<f64>>,
    /// The baselines are `[B, …]`, one per example, and every path point of example `b`
    /// starts from baseline `b` (no baseline is drawn); otherwise each point draws one of the
    /// `[K, …]` baselines uniformly.
    pub per_example_baselines: bool,
}

/// `t` of a batch repeated for the path points of `layout`.
fn expand_rows(t: &Tensor, n: i64, layout: SampleLayout) -> Tensor {
    match layout {
        SampleLayout::SampleMajor => {
            let mut reps = vec![n];
            reps.extend(std::iter::repeat(1).take(t.dim() - 1));
            t.repeat(reps.as_slice())
        }
        SampleLayout::ExampleMajor => t.repeat_interleave_self_int(n, 0, None),
    }
}

fn expand_target(target: &Target, n: i64, layout: SampleLayout) -> Target {
    match target {
        Target::PerExample(t) => Target::PerExample(expand_rows(t, n, layout)),
        Target::Index(i) => Target::Index(*i),
        Target::Scalar => Target::Scalar,
    }
}

fn path_sample_attribution(
    f: Forward<'_>,
    x: &Tensor,
    target: &Target,
    references: &Tensor,
    n_samples: i64,
    noise_stdev: f64,
    opts: &PathSampleOptions,
) -> Result<Tensor> {
    let x = x.detach();
    if x.dim() < 1 || x.size()[0] == 0 {
        return Err(Error::invalid("attribution inputs", format!("shape {:?}; need a non-empty batch", x.size())));
    }
    let (b, k) = (x.size()[0], references.size().first().copied().unwrap_or(0));
    if k == 0 || references.size()[1..] != x.size()[1..] {
        return Err(Error::invalid(
            "attribution references",
            format!("shape {:?} must be [K>0, …] matching input {:?}", references.size(), x.size()),
        ));
    }
    if opts.per_example_baselines && k != b {
        return Err(Error::invalid(
            "attribution references",
            format!("per-example baselines need one per example: {k} baselines for a batch of {b}"),
        ));
    }
    if n_samples < 1 {
        return Err(Error::invalid("n_samples", format!("{n_samples}; must be at least 1")));
    }
    if !(noise_stdev >= 0.0 && noise_stdev.is_finite()) {
        return Err(Error::invalid("noise_stdev", format!("{noise_stdev}; must be finite and >= 0")));
    }
    if let Some(a) = &opts.alphas {
        if a.len() as i64 != n_samples * b {
            return Err(Error::invalid(
                "gradient_shap alphas",
                format!("{} given for {b} examples × {n_samples} samples", a.len()),
            ));
        }
    }
    let layout = opts.layout;
    let rows = n_samples * b;
    // libtorch's seeded generator draws every random number, in the order noise, reference
    // index, α (what the default options have always drawn, so seeded results stay put).
    let xs = expand_rows(&x, n_samples, layout);
    let xs = if noise_stdev > 0.0 { &xs + xs.randn_like() * noise_stdev } else { xs };
    let refs = references.to_device(x.device()).to_kind(x.kind());
    let refs = if opts.per_example_baselines {
        expand_rows(&refs, n_samples, layout)
    } else {
        refs.index_select(0, &Tensor::randint(k, [rows], (Kind::Int64, x.device())))
    };
    let mut ashape = vec![rows];
    ashape.extend(std::iter::repeat(1).take(x.dim() - 1));
    let alpha = match &opts.alphas {
        Some(a) => Tensor::from_slice(a).to_kind(x.kind()).to_device(x.device()).view(ashape.as_slice()),
        None => Tensor::rand(ashape.as_slice(), (x.kind(), x.device())),
    };
    let delta = &xs - &refs;
    let points = &refs + &alpha * &delta;
    let (g, _) = gradient(f, &points, &expand_target(target, n_samples, layout), false)?;
    let (shape, sample_dim) = match layout {
        SampleLayout::SampleMajor => ([vec![n_samples], x.size()].concat(), 0),
        SampleLayout::ExampleMajor => ([vec![b, n_samples], x.size()[1..].to_vec()].concat(), 1),
    };
    Ok((delta * g).view(shape.as_slice()).mean_dim(sample_dim, false, x.kind()))
}

/// GradientShap: references from a baseline distribution, optional Gaussian noise on
/// the input (SmoothGrad-style), `n_samples` draws per example.
#[derive(Debug)]
pub struct GradientShap {
    /// `[K, …]` baselines to sample from.
    pub baselines: Tensor,
    pub n_samples: i64,
    pub noise_stdev: f64,
}

impl Attribution for GradientShap {
    fn name(&self) -> &'static str {
        "gradient_shap"
    }

    fn attribute(&self, f: Forward<'_>, x: &Tensor, target: &Target) -> Result<Tensor> {
        self.attribute_with(f, x, target, &PathSampleOptions::default())
    }
}

impl GradientShap {
    /// [`Attribution::attribute`] with a chosen layout, given α's and/or per-example
    /// baselines. `f` sees the path points in `opts.layout`, so a function that pairs rows
    /// with side data (label-free attribution's anchors) can do so.
    pub fn attribute_with(
        &self,
        f: Forward<'_>,
        x: &Tensor,
        target: &Target,
        opts: &PathSampleOptions,
    ) -> Result<Tensor> {
        path_sample_attribution(f, x, target, &self.baselines, self.n_samples, self.noise_stdev, opts)
    }
}

/// Expected Gradients: references drawn from training data, no input noise.
#[derive(Debug)]
pub struct ExpectedGradients {
    /// `[K, …]` reference examples (typically a slice of the training set).
    pub references: Tensor,
    pub n_samples: i64,
}

impl Attribution for ExpectedGradients {
    fn name(&self) -> &'static str {
        "expected_gradients"
    }

    fn attribute(&self, f: Forward<'_>, x: &Tensor, target: &Target) -> Result<Tensor> {
        path_sample_attribution(f, x, target, &self.references, self.n_samples, 0.0, &PathSampleOptions::default())
    }
}
