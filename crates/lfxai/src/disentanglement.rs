//! The disvae metrics over per-unit saliency maps `s_{j,i}(x)` (`[B, d, …]`), accumulated in
//! one streaming pass with f64 sums (spec P11): pooled Pearson correlation between units,
//! per-image cosine, entropy of the unit shares and the number of active units per pixel.
//! Spearman needs ranks over the whole pool, which a streaming pass cannot keep for dSprites
//! (73,728 × 4096 pixels): it is computed on a uniform reservoir sample of (image, pixel)
//! positions, exact whenever the pool fits the reservoir.

use crate::{LfxaiError, Result};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

/// (image, pixel) positions kept for Spearman unless [`UnitMapStats::with_spearman_sample`]
/// says otherwise: 100k positions keep the rank correlation's sampling error near 0.003
/// while costing d × 0.8 MB.
pub const SPEARMAN_SAMPLE: usize = 100_000;

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
    /// Reservoir of unit vectors, one `[d]` block per kept position (algorithm R).
    sample: Vec<f64>,
    sample_cap: usize,
    seen: u64,
    rng: ChaCha8Rng,
}

impl UnitMapStats {
    pub fn new(d: usize) -> Self {
        Self::with_spearman_sample(d, SPEARMAN_SAMPLE, 0)
    }

    /// Keeps at most `cap` (image, pixel) positions for Spearman, drawn uniformly with a
    /// generator seeded by `seed` (the draw never touches libtorch's generator).
    pub fn with_spearman_sample(d: usize, cap: usize, seed: u64) -> Self {
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
            sample: Vec::new(),
            sample_cap: cap,
            seen: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Algorithm R over the columns of `flat` `[d, n]`: the draws are made first so that only
    /// the kept columns are copied to the host.
    fn sample_columns(&mut self, flat: &Tensor) -> Result<()> {
        let n = flat.size()[1];
        let d = self.d;
        let (mut cols, mut slots) = (vec![], vec![]);
        for c in 0..n {
            let t = self.seen + c as u64;
            let slot = if (t as usize) < self.sample_cap {
                Some(t as usize)
            } else {
                let j = self.rng.gen_range(0..=t);
                (j < self.sample_cap as u64).then_some(j as usize)
            };
            if let Some(s) = slot {
                cols.push(c);
                slots.push(s);
            }
        }
        self.seen += n as u64;
        if cols.is_empty() {
            return Ok(());
        }
        let idx = Tensor::from_slice(&cols).to_device(flat.device());
        let kept = Vec::<f64>::try_from(flat.index_select(1, &idx).tr().contiguous().flatten(0, -1))?;
        for (i, s) in slots.into_iter().enumerate() {
            let block = &kept[i * d..(i + 1) * d];
            if s * d == self.sample.len() {
                self.sample.extend_from_slice(block);
            } else {
                self.sample[s * d..(s + 1) * d].copy_from_slice(block);
            }
        }
        Ok(())
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
        self.sample_columns(&flat)?;
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
        off_diagonal_mean(&self.pearson_matrix())
    }

    /// Spearman correlation matrix `[d, d]` (Pearson of average ranks, so ties such as the
    /// many exact zeros of black pixels share a rank) over the sampled positions.
    pub fn spearman_matrix(&self) -> Vec<Vec<f64>> {
        let d = self.d;
        let m = self.sample.len() / d.max(1);
        let ranks: Vec<Vec<f64>> =
            (0..d).map(|j| average_ranks(&(0..m).map(|i| self.sample[i * d + j]).collect::<Vec<_>>())).collect();
        (0..d).map(|j| (0..d).map(|k| pearson(&ranks[j], &ranks[k])).collect()).collect()
    }

    /// Mean Spearman correlation over ordered pairs j ≠ k (on the sample).
    pub fn spearman(&self) -> f64 {
        off_diagonal_mean(&self.spearman_matrix())
    }

    /// How many (image, pixel) positions the Spearman sample holds.
    pub fn spearman_positions(&self) -> usize {
        self.sample.len() / self.d.max(1)
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

fn off_diagonal_mean(m: &[Vec<f64>]) -> f64 {
    let d = m.len();
    let off: f64 =
        (0..d).flat_map(|j| (0..d).filter(move |&k| k != j).map(move |k| (j, k))).map(|(j, k)| m[j][k]).sum();
    off / (d * d.saturating_sub(1)) as f64
}

/// 1-based ranks with ties given the mean of the ranks they span.
pub fn average_ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut ranks = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        let r = (i + j) as f64 / 2.0 + 1.0;
        for &o in &order[i..=j] {
            ranks[o] = r;
        }
        i = j + 1;
    }
    ranks
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}
