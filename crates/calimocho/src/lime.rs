//! LIME-tabular on categorical pixels (spec §5), re-implemented: neighbourhood samples
//! drawn per pixel from the training data's colour frequencies, binary "kept the
//! instance's colour" features, kernel weights √exp(−d²/width²), forward selection of F
//! features by weighted R², and a final weighted ridge (α, intercept).
//!
//! The black box is evaluated once on all r·s samples of an instance; each repeat's
//! weighted Gram matrix comes from one batched matmul, and forward selection then only
//! solves (F+1)×(F+1) systems on the host.

use crate::params::LimeParams;
use crate::{CalimochoError, Result};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use tch::{Device, Kind, Tensor};

/// One LIME explanation: chosen features (pixels) and their ridge coefficients.
#[derive(Debug, Clone, PartialEq)]
pub struct LimeExplanation {
    pub features: Vec<usize>,
    pub coefs: Vec<f64>,
    pub intercept: f64,
}

/// A LIME explainer for data of `P` categorical features with `K` categories each.
pub struct Lime {
    params: LimeParams,
    /// Cumulative category frequencies per feature, `[P][K]`.
    cumulative: Vec<Vec<f64>>,
    n_categories: usize,
}

/// Per-feature category frequencies of `codes` (`[N, P]` i64 in 0..k): `[P][k]`.
pub fn category_frequencies(codes: &Tensor, k: usize) -> Result<Vec<Vec<f64>>> {
    let (n, p) = codes.size2()?;
    if n == 0 {
        return Err(CalimochoError::invalid("lime training data", "no rows"));
    }
    let counts = codes.to_kind(Kind::Int64).one_hot(k as i64).sum_dim_intlist(0, false, Kind::Double) / n as f64;
    let flat = Vec::<f64>::try_from(counts.reshape([-1]))?;
    Ok((0..p as usize).map(|j| flat[j * k..(j + 1) * k].to_vec()).collect())
}

impl Lime {
    /// An explainer with the per-feature category frequencies `freq` (`[P][K]`).
    pub fn new(params: LimeParams, freq: Vec<Vec<f64>>) -> Result<Self> {
        params.validate(freq.len())?;
        let k = freq.first().map_or(0, |f| f.len());
        if k == 0 || freq.iter().any(|f| f.len() != k || (f.iter().sum::<f64>() - 1.0).abs() > 1e-6) {
            return Err(CalimochoError::invalid("lime frequencies", "every feature needs K frequencies summing to 1"));
        }
        let cumulative = freq
            .iter()
            .map(|f| {
                f.iter()
                    .scan(0.0, |acc, v| {
                        *acc += v;
                        Some(*acc)
                    })
                    .collect()
            })
            .collect();
        Ok(Self { params, cumulative, n_categories: k })
    }

    pub fn params(&self) -> &LimeParams {
        &self.params
    }

    /// The neighbourhood of `instance` (`[P]` codes): `[s, P]` i64, row 0 the instance.
    pub fn sample(&self, instance: &[i64], rng: &mut ChaCha8Rng) -> Tensor {
        let p = instance.len();
        let s = self.params.samples;
        let mut codes = Vec::with_capacity(s * p);
        codes.extend_from_slice(instance);
        for _ in 1..s {
            for cum in &self.cumulative {
                let u: f64 = rng.gen();
                let c = cum.iter().position(|&c| u < c).unwrap_or(self.n_categories - 1);
                codes.push(c as i64);
            }
        }
        Tensor::from_slice(&codes).view([s as i64, p as i64])
    }

    /// Binary features (1 = kept the instance's category) and kernel weights of samples.
    pub fn binary_and_weights(&self, samples: &Tensor, instance: &[i64]) -> (Tensor, Tensor) {
        let inst = Tensor::from_slice(instance).to_device(samples.device()).unsqueeze(0);
        let b = samples.eq_tensor(&inst).to_kind(Kind::Double);
        let d2 = (b.ones_like() - &b).square().sum_dim_intlist(-1, false, Kind::Double);
        let kw = self.params.kernel_width;
        let w = (-d2 / (kw * kw)).exp().sqrt();
        (b, w)
    }

    /// r = `params.repeats` LIME explanations of `instance`; `black_box` maps `[n, P]`
    /// codes to class-1 probabilities `[n]` and is called once.
    pub fn explain(
        &self,
        instance: &[i64],
        black_box: &dyn Fn(&Tensor) -> Tensor,
        device: Device,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<LimeExplanation>> {
        let (r, s, p) = (self.params.repeats as i64, self.params.samples as i64, instance.len() as i64);
        if p as usize != self.cumulative.len() {
            return Err(CalimochoError::invalid(
                "lime instance",
                format!("{p} features, explainer has {}", self.cumulative.len()),
            ));
        }
        let samples: Vec<Tensor> = (0..r).map(|_| self.sample(instance, rng)).collect();
        let samples = Tensor::cat(&samples, 0).to_device(device);
        let target = tch::no_grad(|| black_box(&samples)).to_kind(Kind::Double).view([r, s]);
        let (b, w) = self.binary_and_weights(&samples.view([r * s, p]), instance);
        let a = Tensor::cat(&[Tensor::ones([r * s, 1], (Kind::Double, device)), b], 1).view([r, s, p + 1]);
        let w = w.view([r, s, 1]);
        let aw = &a * &w;
        let gram = aw.transpose(1, 2).matmul(&a); // [r, P+1, P+1]
        let h = aw.transpose(1, 2).matmul(&target.unsqueeze(-1)).squeeze_dim(-1); // [r, P+1]
        let tt = (&w.squeeze_dim(-1) * target.square()).sum_dim_intlist(1, false, Kind::Double);
        let gram = Vec::<f64>::try_from(gram.reshape([-1]).to_device(Device::Cpu))?;
        let h = Vec::<f64>::try_from(h.reshape([-1]).to_device(Device::Cpu))?;
        let tt = Vec::<f64>::try_from(tt.to_device(Device::Cpu))?;
        let q = (p + 1) as usize;
        (0..r as usize)
            .map(|i| {
                let g = &gram[i * q * q..(i + 1) * q * q];
                let hv = &h[i * q..(i + 1) * q];
                Ok(self.fit_one(g, hv, tt[i], q))
            })
            .collect()
    }

    /// Forward selection then the final ridge, from the weighted Gram matrix `g` of
    /// `[1 | b]`, `h = [1 | b]ᵀ W t` and `tt = tᵀ W t`.
    fn fit_one(&self, g: &[f64], h: &[f64], tt: f64, q: usize) -> LimeExplanation {
        let sw = g[0];
        let t_mean = h[0] / sw;
        let sst = tt - sw * t_mean * t_mean;
        let mut chosen: Vec<usize> = vec![];
        for _ in 0..self.params.features {
            let mut best: Option<(usize, f64)> = None;
            for j in 1..q {
                if chosen.contains(&(j - 1)) {
                    continue;
                }
                let mut cols = vec![0];
                cols.extend(chosen.iter().map(|c| c + 1));
                cols.push(j);
                let (m, rhs) = sub_system(g, h, q, &cols, 0.0, None);
                let beta = solve(m, rhs, cols.len());
                let sse = tt - beta.iter().zip(&cols).map(|(b, &c)| b * h[c]).sum::<f64>();
                let r2 = if sst > 1e-300 { 1.0 - sse / sst } else { 0.0 };
                if best.map_or(true, |(_, b)| r2 > b + 1e-12) {
                    best = Some((j - 1, r2));
                }
            }
            chosen.push(best.expect("a candidate remains").0);
        }
        // Weighted ridge with intercept on centred columns.
        let cols: Vec<usize> = chosen.iter().map(|c| c + 1).collect();
        let means: Vec<f64> = cols.iter().map(|&c| g[c] / sw).collect();
        let (m, rhs) = sub_system(g, h, q, &cols, self.params.ridge_alpha, Some((sw, &means, t_mean)));
        let coefs = solve(m, rhs, cols.len());
        let intercept = t_mean - coefs.iter().zip(&means).map(|(b, m)| b * m).sum::<f64>();
        LimeExplanation { features: chosen, coefs, intercept }
    }
}

/// The normal equations restricted to `cols`; with `centre = (Σw, means, t̄)` they are
/// those of the weighted-centred problem; `alpha` adds a ridge.
fn sub_system(
    g: &[f64],
    h: &[f64],
    q: usize,
    cols: &[usize],
    alpha: f64,
    centre: Option<(f64, &[f64], f64)>,
) -> (Vec<f64>, Vec<f64>) {
    let n = cols.len();
    let mut m = vec![0.0; n * n];
    let mut rhs = vec![0.0; n];
    for (a, &ca) in cols.iter().enumerate() {
        for (b, &cb) in cols.iter().enumerate() {
            m[a * n + b] = g[ca * q + cb] - centre.map_or(0.0, |(sw, mu, _)| sw * mu[a] * mu[b]);
        }
        m[a * n + a] += alpha;
        rhs[a] = h[ca] - centre.map_or(0.0, |(sw, mu, tm)| sw * mu[a] * tm);
    }
    (m, rhs)
}

/// Solves the small symmetric system `m x = rhs` by Gaussian elimination with partial
/// pivoting; a tiny ridge keeps collinear columns (a pixel that never changes) solvable.
pub fn solve(mut m: Vec<f64>, mut rhs: Vec<f64>, n: usize) -> Vec<f64> {
    let scale = (0..n).map(|i| m[i * n + i].abs()).fold(0.0, f64::max).max(1.0);
    for i in 0..n {
        m[i * n + i] += 1e-10 * scale;
    }
    for col in 0..n {
        let piv = (col..n).max_by(|&a, &b| m[a * n + col].abs().total_cmp(&m[b * n + col].abs())).unwrap_or(col);
        if piv != col {
            for k in 0..n {
                m.swap(col * n + k, piv * n + k);
            }
            rhs.swap(col, piv);
        }
        let d = m[col * n + col];
        if d.abs() < 1e-300 {
            continue;
        }
        for row in col + 1..n {
            let f = m[row * n + col] / d;
            for k in col..n {
                m[row * n + k] -= f * m[col * n + k];
            }
            rhs[row] -= f * rhs[col];
        }
    }
    let mut x = vec![0.0; n];
    for i in (0..n).rev() {
        let s: f64 = (i + 1..n).map(|k| m[i * n + k] * x[k]).sum();
        let d = m[i * n + i];
        x[i] = if d.abs() < 1e-300 { 0.0 } else { (rhs[i] - s) / d };
    }
    x
}

/// LIME's explanation vector over one-hot concepts: e[slots·p + code_p] = sign(β_p) for
/// each chosen pixel p, `e[bias] = 1`.
pub fn explanation_vector(expl: &LimeExplanation, instance: &[i64], slots: usize, n_concepts: usize) -> Vec<f64> {
    let mut e = vec![0.0; n_concepts];
    for (&p, &b) in expl.features.iter().zip(&expl.coefs) {
        e[slots * p + instance[p] as usize] = if b > 0.0 {
            1.0
        } else if b < 0.0 {
            -1.0
        } else {
            0.0
        };
    }
    e[n_concepts - 1] = 1.0;
    e
}

/// The one-hot encoding (plus bias) of categorical codes `[n, P]` → `[n, P·K + 1]` float.
pub fn one_hot_with_bias(codes: &Tensor, k: i64) -> Tensor {
    let oh = codes.one_hot(k).to_kind(Kind::Float).flatten(1, 2);
    let n = oh.size()[0];
    Tensor::cat(&[oh, Tensor::ones([n, 1], (Kind::Float, codes.device()))], 1)
}
