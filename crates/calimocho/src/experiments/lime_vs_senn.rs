//! Q1 (spec §5, §7.2): LIME's explanations of the SENN's own predictions, repeated r
//! times: Sim (agreement with the SENN's relevances), Dis (instability across repeats),
//! t_SENN (one forward for w(x)) and t_LIME (the r LIME calls).

use crate::lime::{explanation_vector, one_hot_with_bias, Lime};
use crate::measures::{dis, sim};
use crate::senn::Senn;
use crate::Result;
use rand_chacha::ChaCha8Rng;
use std::time::Instant;
use tch::{Kind, Tensor};

/// Sim, Dis and times of one (r, s) point, averaged over instances.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimePoint {
    pub repeats: usize,
    pub samples: usize,
    /// Non-zeros of z_lime (mean over instances).
    pub k: f64,
    pub sim: f64,
    pub dis: f64,
    /// √(2F): Dis of pairwise disjoint explanations.
    pub dis_max: f64,
    pub t_senn: f64,
    pub t_lime: f64,
}

/// Explains `instances` (rows of `codes` `[N, 25]` / `x` `[N, 101]`) with every explainer.
pub fn compare(
    senn: &Senn,
    explainers: &[Lime],
    instances: &[i64],
    codes: &Tensor,
    x: &Tensor,
    rng: &mut ChaCha8Rng,
) -> Result<Vec<LimePoint>> {
    let device = senn.device();
    let black_box = |c: &Tensor| senn.proba(&one_hot_with_bias(&c.to_device(device), 4));
    let mut out = vec![];
    for lime in explainers {
        let p = lime.params();
        let (mut k, mut s_sum, mut d_sum, mut ts, mut tl) = (0.0, 0.0, 0.0, 0.0, 0.0);
        for &i in instances {
            let inst = Vec::<i64>::try_from(codes.get(i).to_kind(Kind::Int64))?;
            let xi = x.get(i).unsqueeze(0).to_device(device);
            let t0 = Instant::now();
            let w = senn.explain(&xi);
            let w = Vec::<f64>::try_from(w.squeeze_dim(0).to_kind(Kind::Double))?;
            ts += t0.elapsed().as_secs_f64();
            let t1 = Instant::now();
            let expl = lime.explain(&inst, &black_box, device, rng)?;
            tl += t1.elapsed().as_secs_f64();
            let e: Vec<Vec<f64>> = expl.iter().map(|e| explanation_vector(e, &inst, 4, 101)).collect();
            let z_lime: Vec<f64> = (0..101).map(|j| e.iter().map(|v| v[j]).sum()).collect();
            k += z_lime.iter().filter(|v| **v != 0.0).count() as f64;
            s_sum += sim(&z_lime, &w) as f64;
            let flat: Vec<f64> = e.concat();
            d_sum += dis(&Tensor::from_slice(&flat).view([e.len() as i64, 101]));
        }
        let n = instances.len().max(1) as f64;
        out.push(LimePoint {
            repeats: p.repeats,
            samples: p.samples,
            k: k / n,
            sim: s_sum / n,
            dis: d_sum / n,
            dis_max: (2.0 * p.features as f64).sqrt(),
            t_senn: ts / n,
            t_lime: tl / n,
        });
    }
    Ok(out)
}
