//! The simulated user (spec §3): for a query with prediction-time explanation ŵ and
//! ground truth z*, the c entries with the largest |z* − ŵ| (never the bias) are
//! corrected to sign(ŵ − z*); the correction is stored once and never recomputed. The
//! explanation target fed to training is ẑ = −corr (0 elsewhere and for never-corrected
//! examples), or z* itself with full feedback (c = 0).

use crate::{CalimochoError, Result};
use tch::{Kind, Tensor};

/// Corrections of a batch: `w_hat`, `z_star` `[B, C]` → `[B, C]` with exactly `c`
/// entries ±1 per row, 0 at `protected` (the bias column) and elsewhere.
pub fn correction(w_hat: &Tensor, z_star: &Tensor, c: usize, protected: Option<i64>) -> Result<Tensor> {
    let cols = w_hat.size().last().copied().unwrap_or(0);
    let usable = cols - protected.is_some() as i64;
    if w_hat.size() != z_star.size() || c as i64 > usable {
        return Err(CalimochoError::invalid(
            "correction",
            format!("ŵ {:?}, z* {:?}, c = {c} (at most {usable} correctable entries)", w_hat.size(), z_star.size()),
        ));
    }
    let w = w_hat.detach().copy();
    let d = (z_star - &w).abs();
    if let Some(p) = protected {
        // ŵ[bias] ← z*[bias]; and never pick it, even on ties at 0.
        w.narrow(-1, p, 1).copy_(&z_star.narrow(-1, p, 1));
        let _ = d.narrow(-1, p, 1).fill_(-1.0);
    }
    if c == 0 {
        return Ok(w.zeros_like());
    }
    let (_, idx) = d.sort_stable(true, -1, true);
    let top = idx.narrow(-1, 0, c as i64);
    let sign = (&w - z_star).sign();
    let picked = sign.gather(-1, &top, false);
    // An exact tie ŵⱼ = z*ⱼ would give 0: the user still says "push towards the truth",
    // which for a 0 truth and 0 guess is ambiguous; keep +1 so exactly c entries are set.
    let picked = picked.where_self(&picked.ne(0.0), &picked.ones_like());
    Ok(w.zeros_like().scatter(-1, &top, &picked).to_kind(Kind::Float))
}

/// The user's memory of corrections for every example of a dataset.
pub struct SimulatedUser {
    z_star: Tensor,
    corr: Tensor,
    c: usize,
    protected: Option<i64>,
}

impl SimulatedUser {
    /// A user that knows the ground truth `z_star` `[N, C]` and corrects `c` entries per
    /// query, never entry `protected` (the bias column).
    pub fn new(z_star: &Tensor, c: usize, protected: Option<i64>) -> Result<Self> {
        let cols = z_star.size().last().copied().unwrap_or(0);
        if c as i64 > cols - protected.is_some() as i64 {
            return Err(CalimochoError::invalid(
                "n_corrected",
                format!("c = {c} but only {} of {cols} entries can be corrected", cols - protected.is_some() as i64),
            ));
        }
        Ok(Self { z_star: z_star.shallow_clone(), corr: z_star.zeros_like(), c, protected })
    }

    pub fn n_corrected(&self) -> usize {
        self.c
    }

    /// Forgets every stored correction (a new fold).
    pub fn clear(&mut self) {
        let _ = self.corr.zero_();
    }

    /// Corrects query `i` given its prediction-time explanation `w_hat` `[C]`; stores and
    /// returns the correction. With c = 0 nothing is stored (full feedback).
    pub fn query(&mut self, i: i64, w_hat: &Tensor) -> Result<Tensor> {
        let z = self.z_star.get(i).unsqueeze(0);
        let corr =
            correction(&w_hat.reshape([1, -1]).to_device(z.device()), &z, self.c, self.protected)?.squeeze_dim(0);
        if self.c > 0 {
            self.corr.get(i).copy_(&corr);
        }
        Ok(corr)
    }

    /// Explanation targets ẑ of the known examples `known` (i64 indices): −corr, or z* with
    /// full feedback.
    pub fn targets(&self, known: &Tensor) -> Tensor {
        if self.c == 0 {
            self.z_star.index_select(0, known)
        } else {
            -self.corr.index_select(0, known)
        }
    }

    /// The stored correction of example `i`.
    pub fn stored(&self, i: i64) -> Tensor {
        self.corr.get(i)
    }
}
