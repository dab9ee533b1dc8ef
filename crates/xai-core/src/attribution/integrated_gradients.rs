use super::{gradient, Attribution, Forward, Target};
use crate::{Error, Result};
use tch::{Kind, Tensor};

/// How the path integral is discretised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Rule {
    /// Trapezoid rule on `steps` points including both ends (Captum's `riemann_trapezoid`).
    #[default]
    Trapezoid,
    /// Midpoints of `steps` equal sub-intervals.
    Midpoint,
    /// Gauss–Legendre nodes and weights on [0, 1] (Captum's default `gausslegendre`):
    /// exact for polynomial paths of degree < 2·steps.
    GaussLegendre,
}

/// Gauss–Legendre nodes and weights mapped to [0, 1] (α_k = (1 + t_k)/2, s_k = w_k/2,
/// Σ s_k = 1), nodes ascending, computed in f64 by Newton's method on P_m.
pub fn gauss_legendre(m: usize) -> (Vec<f64>, Vec<f64>) {
    let mut nodes = vec![0.0; m];
    let mut weights = vec![0.0; m];
    for i in 0..m {
        // Chebyshev-like initial guess of the i-th largest root, then Newton.
        let mut t = (std::f64::consts::PI * (i as f64 + 0.75) / (m as f64 + 0.5)).cos();
        let mut dp = 1.0;
        for _ in 0..100 {
            let (mut p0, mut p1) = (1.0, t);
            for k in 2..=m {
                let p2 = ((2 * k - 1) as f64 * t * p1 - (k - 1) as f64 * p0) / k as f64;
                p0 = p1;
                p1 = p2;
            }
            dp = m as f64 * (t * p1 - p0) / (t * t - 1.0);
            let step = p1 / dp;
            t -= step;
            if step.abs() < 1e-16 {
                break;
            }
        }
        nodes[m - 1 - i] = t;
        weights[m - 1 - i] = 2.0 / ((1.0 - t * t) * dp * dp);
    }
    (nodes.iter().map(|t| (1.0 + t) / 2.0).collect(), weights.iter().map(|w| w / 2.0).collect())
}

/// Integrated Gradients (Sundararajan et al. 2017):
/// `(x − x') ⊙ ∫₀¹ ∂f(x' + α(x − x'))/∂x dα`.
#[derive(Debug)]
pub struct IntegratedGradients {
    pub steps: i64,
    pub rule: Rule,
    /// Baseline broadcastable to the input; `None` means zeros.
    pub baseline: Option<Tensor>,
    /// Rows (path points × examples) per forward pass, bounding memory.
    pub internal_batch_size: i64,
}

impl IntegratedGradients {
    pub fn new(steps: i64) -> Self {
        Self { steps, rule: Rule::Trapezoid, baseline: None, internal_batch_size: 4096 }
    }

    pub fn with_baseline(mut self, baseline: Tensor) -> Self {
        self.baseline = Some(baseline);
        self
    }

    pub fn with_rule(mut self, rule: Rule) -> Self {
        self.rule = rule;
        self
    }

    fn alphas_and_weights(&self) -> Result<(Vec<f64>, Vec<f64>)> {
        let m = self.steps;
        match self.rule {
            Rule::Trapezoid if m >= 2 => {
                let alphas: Vec<f64> = (0..m).map(|k| k as f64 / (m - 1) as f64).collect();
                let w = 1.0 / (m - 1) as f64;
                let weights = (0..m).map(|k| if k == 0 || k == m - 1 { w / 2.0 } else { w }).collect();
                Ok((alphas, weights))
            }
            Rule::Midpoint if m >= 1 => {
                Ok(((0..m).map(|k| (k as f64 + 0.5) / m as f64).collect(), vec![1.0 / m as f64; m as usize]))
            }
            Rule::GaussLegendre if m >= 1 => Ok(gauss_legendre(m as usize)),
            _ => Err(Error::invalid("integrated gradients steps", format!("{m} is too few for {:?}", self.rule))),
        }
    }
}

impl Attribution for IntegratedGradients {
    fn name(&self) -> &'static str {
        "integrated_gradients"
    }

    fn attribute(&self, f: Forward<'_>, x: &Tensor, target: &Target) -> Result<Tensor> {
        let x = x.detach();
        let baseline = match &self.baseline {
            Some(b) => b.to_device(x.device()).to_kind(x.kind()).expand_as(&x),
            None => x.zeros_like(),
        };
        let (alphas, weights) = self.alphas_and_weights()?;
        let b = x.size()[0];
        let delta = &x - &baseline;
        // Path points laid out as [steps, B, ...] → [steps·B, ...], then taken in chunks of
        // whole steps so one forward pass covers many points.
        let steps_per_chunk = (self.internal_batch_size / b.max(1)).max(1);
        let mut total = x.zeros_like();
        for (a_chunk, w_chunk) in alphas.chunks(steps_per_chunk as usize).zip(weights.chunks(steps_per_chunk as usize))
        {
            let k = a_chunk.len() as i64;
            let mut bshape = vec![k];
            bshape.extend(std::iter::repeat(1).take(x.dim()));
            let a = Tensor::from_slice(a_chunk).to_kind(x.kind()).to_device(x.device()).view(bshape.as_slice());
            let w = Tensor::from_slice(w_chunk).to_kind(x.kind()).to_device(x.device()).view(bshape.as_slice());
            let points = (baseline.unsqueeze(0) + &a * delta.unsqueeze(0)).flatten(0, 1);
            let (g, _) = gradient(f, &points, &target.repeated(k), false)?;
            let mut gshape = x.size();
            gshape.insert(0, k);
            // Sums in f64 for f64 inputs (attributions follow the input's dtype), else in f32.
            let acc = if x.kind() == Kind::Double { Kind::Double } else { Kind::Float };
            total += (g.view(gshape.as_slice()) * w).sum_dim_intlist(0, false, acc).to_kind(x.kind());
        }
        Ok(delta * total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauss_legendre_integrates_polynomials_exactly() {
        for m in [1usize, 2, 5, 50] {
            let (a, w) = gauss_legendre(m);
            assert!((w.iter().sum::<f64>() - 1.0).abs() < 1e-12, "weights sum to 1 at m = {m}");
            assert!(a.windows(2).all(|p| p[0] < p[1]) && a[0] > 0.0 && a[m - 1] < 1.0);
            // ∫₀¹ α^d dα = 1/(d+1) for every degree d < 2m.
            for d in 0..(2 * m).min(20) {
                let q: f64 = a.iter().zip(&w).map(|(a, w)| w * a.powi(d as i32)).sum();
                assert!((q - 1.0 / (d + 1) as f64).abs() < 1e-10, "m = {m}, degree {d}: {q}");
            }
        }
    }

    #[test]
    fn ig_with_gauss_legendre_is_complete_on_a_quadratic() {
        // f(x) = Σ x², IG from 0 gives exactly x² per feature with any exact rule.
        let x = Tensor::from_slice(&[1.0f64, -2.0, 0.5]).view([1, 3]);
        let f = |t: &Tensor| t.pow_tensor_scalar(2).sum_dim_intlist(1, false, Kind::Double);
        let ig = IntegratedGradients::new(3).with_rule(Rule::GaussLegendre);
        let attr = ig.attribute(&f, &x, &Target::Scalar).unwrap();
        let want = x.pow_tensor_scalar(2);
        assert!(attr.allclose(&want, 1e-10, 1e-12, false), "{attr:?}");
    }
}
