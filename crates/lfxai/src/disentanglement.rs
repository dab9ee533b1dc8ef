//! The disvae metrics over per-unit saliency maps `s_{j,i}(x)` (`[B, d, …]`), accumulated in
//! one streaming pass with f64 sums (spec P11): pooled Pearson correlation between units,
//! per-image cosine, entropy of the unit shares and the number of active units per pixel.

use crate::{LfxaiError, Result};
use tch::{Kind, Tensor};

/// Running sums of one model's unit maps.
#[derive(Debug, Clone)]
pub struct UnitMapStats {
    d: usize,
    n: f64,
    sum: Vec<f64>,
    cross: Vec<f64>,
    cosine_sum: f64,
    images: f64,
    entropy_sum: f64,
    active_sum: f64,
    pixels: f64,
}

impl UnitMapStats {
    pub fn new(d: usize) -> Self {
        Self {
            d,
            n: 0.0,
            sum: vec![0.0; d],
            cross: vec![0.0; d * d],
            cosine_sum: 0.0,
            images: 0.0,
            entropy_sum: 0.0,
            active_sum: 0.0,
            pixels: 0.0,
        }
    }

    /// Adds a batch of maps `[B, d, …]` (non-negative saliencies).
    pub fn update(&mut self, maps: &Tensor) -> Result<()> {
        let s = maps.size();
        if s.len() < 2 || s[1] as usize != self.d {
            return Err(LfxaiError::invalid("unit maps", format!("shape {s:?}; expected [B, {}, …]", self.d)));
        }
        let b = s[0];
        let m = maps.to_kind(Kind::Double).view([b, self.d as i64, -1]); // [B, d, P]
        let flat = m.transpose(0, 1).reshape([self.d as i64, -1]); // [d, B·P]
        self.n += flat.size()[1] as f64;
        let sums = Vec::<f64>::try_from(flat.sum_dim_intlist(1, false, Kind::Double))?;
        let cross = Vec::<f64>::try_from(flat.matmul(&flat.tr()).flatten(0, -1))?;
        for (a, v) in self.sum.iter_mut().zip(sums) {
            *a += v;
        }
        for (a, v) in self.cross.iter_mut().zip(cross) {
            *a += v;
        }
        // Per-image cosine between unit maps, off-diagonal mean.
        let norms = m.square().sum_dim_intlist(2, true, Kind::Double).sqrt().clamp_min(1e-300);
        let u = &m / norms;
        let cos = u.matmul(&u.transpose(1, 2)); // [B, d, d]
        let d = self.d as f64;
        if self.d > 1 {
            let off = (cos.sum_dim_intlist(&[1i64, 2][..], false, Kind::Double)
                - cos.diagonal(0, 1, 2).sum_dim_intlist(1, false, Kind::Double))
                / (d * (d - 1.0));
            self.cosine_sum += off.sum(Kind::Double).double_value(&[]);
        }
        self.images += b as f64;
        // Shares per (image, pixel) with a positive total.
        let total = m.sum_dim_intlist(1, true, Kind::Double);
        let valid = total.gt(0.0).squeeze_dim(1);
        let share = &m / total.clamp_min(1e-300);
        let ent = -(&share * share.clamp_min(1e-300).log()).sum_dim_intlist(1, false, Kind::Double);
        // A tiny margin keeps exact ties (share = 1/d up to rounding) inactive.
        let active = share.gt(1.0 / d + 1e-12).to_kind(Kind::Double).sum_dim_intlist(1, false, Kind::Double);
        let vf = valid.to_kind(Kind::Double);
        self.entropy_sum += (ent * &vf).sum(Kind::Double).double_value(&[]);
        self.active_sum += (active * &vf).sum(Kind::Double).double_value(&[]);
        self.pixels += vf.sum(Kind::Double).double_value(&[]);
        Ok(())
    }

    /// Pearson correlation matrix `[d, d]` pooled over every image and pixel seen.
    pub fn pearson_matrix(&self) -> Vec<Vec<f64>> {
        let d = self.d;
        let mean: Vec<f64> = self.sum.iter().map(|s| s / self.n).collect();
        let cov = |j: usize, k: usize| self.cross[j * d + k] / self.n - mean[j] * mean[k];
        (0..d).map(|j| (0..d).map(|k| cov(j, k) / (cov(j, j) * cov(k, k)).sqrt()).collect()).collect()
    }

    /// Mean Pearson correlation over ordered pairs j ≠ k.
    pub fn pearson(&self) -> f64 {
        let m = self.pearson_matrix();
        let d = self.d;
        let off: f64 =
            (0..d).flat_map(|j| (0..d).filter(move |&k| k != j).map(move |k| (j, k))).map(|(j, k)| m[j][k]).sum();
        off / (d * (d - 1)) as f64
    }

    pub fn cosine(&self) -> f64 {
        self.cosine_sum / self.images
    }

    pub fn entropy(&self) -> f64 {
        self.entropy_sum / self.pixels
    }

    pub fn active_neurons(&self) -> f64 {
        self.active_sum / self.pixels
    }
}
