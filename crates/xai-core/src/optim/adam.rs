//! Adam as `torch.optim.Adam` computes it: coupled L2 weight decay (not AdamW),
//! per-variable step counts, bias-corrected moments.

use super::{check_hyper, state_entry, trainable, Optimizer};
use crate::Result;
use std::collections::BTreeMap;
use tch::nn::VarStore;
use tch::{Kind, Tensor};

/// Hyper-parameters of [`Adam`], PyTorch's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamConfig {
    pub lr: f64,
    pub betas: (f64, f64),
    pub eps: f64,
    /// Coupled L2: `grad += weight_decay · param` before the moments.
    pub weight_decay: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self { lr: 1e-3, betas: (0.9, 0.999), eps: 1e-8, weight_decay: 0.0 }
    }
}

impl AdamConfig {
    pub fn lr(lr: f64) -> Self {
        Self { lr, ..Self::default() }
    }

    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }

    pub fn betas(mut self, b1: f64, b2: f64) -> Self {
        self.betas = (b1, b2);
        self
    }

    /// Rejects values PyTorch would reject.
    pub fn validate(&self) -> Result<()> {
        check_hyper("adam lr", self.lr, self.lr >= 0.0, ">= 0")?;
        check_hyper("adam eps", self.eps, self.eps >= 0.0, ">= 0")?;
        check_hyper("adam weight_decay", self.weight_decay, self.weight_decay >= 0.0, ">= 0")?;
        for b in [self.betas.0, self.betas.1] {
            check_hyper("adam beta", b, (0.0..1.0).contains(&b), "in [0, 1)")?;
        }
        Ok(())
    }

    /// An optimiser over `vs`'s trainable variables.
    pub fn build(self, vs: &VarStore) -> Result<Adam> {
        self.validate()?;
        let vars = trainable(vs);
        let zeros = |vars: &[(String, Tensor)]| vars.iter().map(|(_, t)| t.zeros_like()).collect::<Vec<_>>();
        Ok(Adam {
            cfg: self,
            m: zeros(&vars),
            v: zeros(&vars),
            scratch: zeros(&vars),
            denom: zeros(&vars),
            steps: vec![0; vars.len()],
            vars,
        })
    }
}

/// Adam over the trainable variables of one variable store.
pub struct Adam {
    cfg: AdamConfig,
    vars: Vec<(String, Tensor)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Per-variable work buffers, so that a step allocates nothing.
    scratch: Vec<Tensor>,
    denom: Vec<Tensor>,
    /// Per-variable step counts, as PyTorch keeps them: a variable that gets no gradient
    /// (a frozen part during warm-up) starts its bias correction at its first real step.
    steps: Vec<i64>,
}

impl Adam {
    /// Adam with PyTorch's defaults and learning rate `lr`.
    pub fn new(vs: &VarStore, lr: f64) -> Result<Self> {
        AdamConfig::lr(lr).build(vs)
    }

    pub fn config(&self) -> AdamConfig {
        self.cfg
    }
}

impl Optimizer for Adam {
    fn zero_grad(&mut self) {
        for (_, t) in self.vars.iter_mut() {
            t.zero_grad();
        }
    }

    fn step(&mut self) {
        let AdamConfig { lr, betas: (b1, b2), eps, weight_decay } = self.cfg;
        tch::no_grad(|| {
            for i in 0..self.vars.len() {
                let p = &mut self.vars[i].1;
                let mut g = p.grad();
                if !g.defined() {
                    continue;
                }
                self.steps[i] += 1;
                let t = self.steps[i] as i32;
                let s = &mut self.scratch[i];
                if weight_decay != 0.0 {
                    s.copy_(p);
                    let _ = s.g_mul_scalar_(weight_decay);
                    let _ = s.g_add_(&g);
                    g = s.shallow_clone();
                }
                let _ = self.m[i].lerp_(&g, 1.0 - b1);
                let _ = self.v[i].g_mul_scalar_(b2);
                let d = &mut self.denom[i];
                let _ = g.mul_scalar_out(d, 1.0 - b2);
                let _ = self.v[i].addcmul_(d, &g);
                let step_size = lr / (1.0 - b1.powi(t));
                let bc2_sqrt = (1.0 - b2.powi(t)).sqrt();
                let _ = self.v[i].sqrt_out(d);
                let _ = d.g_div_scalar_(bc2_sqrt);
                let _ = d.g_add_scalar_(eps);
                let _ = self.m[i].mul_scalar_out(s, -step_size);
                let _ = p.addcdiv_(s, d);
            }
        });
    }

    fn learning_rate(&self) -> f64 {
        self.cfg.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.cfg.lr = lr;
    }

    fn state(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(3 * self.vars.len());
        for (i, (name, _)) in self.vars.iter().enumerate() {
            out.push((format!("{prefix}.m.{name}"), self.m[i].shallow_clone()));
            out.push((format!("{prefix}.v.{name}"), self.v[i].shallow_clone()));
            out.push((format!("{prefix}.step.{name}"), Tensor::from_slice(&[self.steps[i]])));
        }
        out
    }

    fn load_state(&mut self, prefix: &str, tensors: &BTreeMap<String, Tensor>) -> Result<()> {
        let mut loaded = Vec::with_capacity(self.vars.len());
        for (name, var) in &self.vars {
            let m = state_entry(tensors, &format!("{prefix}.m.{name}"), Some(var))?;
            let v = state_entry(tensors, &format!("{prefix}.v.{name}"), Some(var))?;
            let step = state_entry(tensors, &format!("{prefix}.step.{name}"), None)?.to_kind(Kind::Int64);
            loaded.push((m, v, step.int64_value(&[0])));
        }
        tch::no_grad(|| {
            for (i, (m, v, step)) in loaded.into_iter().enumerate() {
                self.m[i].copy_(&m);
                self.v[i].copy_(&v);
                self.steps[i] = step;
            }
        });
        Ok(())
    }
}
