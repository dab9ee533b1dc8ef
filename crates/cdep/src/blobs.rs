//! Blobs for the image penalties: the same stack every batch (DecoyMNIST's corners), or
//! single pixels drawn per batch from a distribution over positions (ColorMNIST).

use crate::{CdepError, Result};
use rand::Rng;
use tch::{Device, Kind, Tensor};

/// Where blobs come from.
pub enum Blobs {
    /// The same blob stack `[n, H, W]` for every batch (DecoyMNIST's corner union).
    Fixed(Tensor),
    /// `n` single pixels per batch, drawn with replacement from a distribution over the
    /// `h × w` positions given as a cumulative table.
    Pixels { cdf: Vec<f64>, h: i64, w: i64, n: usize },
}

impl Blobs {
    /// A blob stack `[n, H, W]` for the next batch.
    pub fn draw(&self, rng: &mut impl Rng, device: Device) -> Tensor {
        match self {
            Blobs::Fixed(t) => t.shallow_clone(),
            Blobs::Pixels { cdf, h, w, n } => {
                let idx: Vec<i64> = (0..*n).map(|_| sample_cdf(cdf, rng.gen::<f64>())).collect();
                let flat = Tensor::zeros([*n as i64, h * w], (Kind::Float, device));
                let pos = Tensor::from_slice(&idx).to_device(device).unsqueeze(1);
                flat.scatter_value(1, &pos, 1.0).view([*n as i64, *h, *w])
            }
        }
    }
}

/// Index of the first cumulative probability above `u`.
pub fn sample_cdf(cdf: &[f64], u: f64) -> i64 {
    let total = cdf.last().copied().unwrap_or(1.0);
    cdf.partition_point(|&c| c <= u * total).min(cdf.len().saturating_sub(1)) as i64
}

/// Cumulative table of a probability map (negative entries are an error).
pub fn cdf_of(probs: &Tensor) -> Result<Vec<f64>> {
    let p: Vec<f64> = Vec::<f64>::try_from(probs.to_kind(Kind::Double).flatten(0, -1))?;
    if p.iter().any(|v| !(v.is_finite() && *v >= 0.0)) || p.iter().sum::<f64>() <= 0.0 {
        return Err(CdepError::invalid("blob probabilities", "must be finite, ≥ 0 and not all 0"));
    }
    Ok(p.iter()
        .scan(0.0, |acc, v| {
            *acc += v;
            Some(*acc)
        })
        .collect())
}
