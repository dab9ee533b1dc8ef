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
            total += (g.view(gshape.as_slice()) * w).sum_dim_intlist(0, false, Kind::Float).to_kind(x.kind());
        }
        Ok(delta * total)
    }
}
