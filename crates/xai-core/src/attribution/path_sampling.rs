//! Attributions that average `(x − r) ⊙ ∇f(r + α(x − r))` over random references `r` and
//! random `α ~ U(0, 1)`: GradientShap (Lundberg & Lee 2017, Captum's form, with optional
//! input noise) and Expected Gradients (Erion et al. 2019, references drawn from data).

use super::{gradient, Attribution, Forward, Target};
use crate::{Error, Result};
use tch::{Kind, Tensor};

fn path_sample_attribution(
    f: Forward<'_>,
    x: &Tensor,
    target: &Target,
    references: &Tensor,
    n_samples: i64,
    noise_stdev: f64,
) -> Result<Tensor> {
    let x = x.detach();
    let (b, k) = (x.size()[0], references.size()[0]);
    if k == 0 || references.size()[1..] != x.size()[1..] {
        return Err(Error::invalid(
            "attribution references",
            format!("shape {:?} must be [K>0, …] matching input {:?}", references.size(), x.size()),
        ));
    }
    if n_samples < 1 {
        return Err(Error::invalid("n_samples", format!("{n_samples}; must be at least 1")));
    }
    let opts = (Kind::Int64, x.device());
    // Rows ordered [sample, example]; libtorch's seeded generator draws every random number.
    let xs = x
        .unsqueeze(0)
        .expand([n_samples].iter().chain(x.size().iter()).copied().collect::<Vec<_>>(), false)
        .flatten(0, 1);
    let xs = if noise_stdev > 0.0 { &xs + xs.randn_like() * noise_stdev } else { xs };
    let idx = Tensor::randint(k, [n_samples * b], opts);
    let refs = references.to_device(x.device()).to_kind(x.kind()).index_select(0, &idx);
    let mut ashape = vec![n_samples * b];
    ashape.extend(std::iter::repeat(1).take(x.dim() - 1));
    let alpha = Tensor::rand(ashape.as_slice(), (x.kind(), x.device()));
    let delta = &xs - &refs;
    let points = &refs + &alpha * &delta;
    let (g, _) = gradient(f, &points, &target.repeated(n_samples), false)?;
    let mut shape = vec![n_samples];
    shape.extend(x.size());
    Ok((delta * g).view(shape.as_slice()).mean_dim(0, false, x.kind()))
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
        path_sample_attribution(f, x, target, &self.baselines, self.n_samples, self.noise_stdev)
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
        path_sample_attribution(f, x, target, &self.references, self.n_samples, 0.0)
    }
}
