//! SGD as `torch.optim.SGD` computes it: coupled weight decay, heavy-ball momentum whose
//! buffer starts as the first gradient, optional dampening and Nesterov.

use super::{check_hyper, state_entry, trainable, Optimizer};
use crate::Result;
use std::collections::BTreeMap;
use tch::nn::VarStore;
use tch::{Kind, Tensor};

/// Hyper-parameters of [`Sgd`], PyTorch's defaults except the learning rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SgdConfig {
    pub lr: f64,
    pub momentum: f64,
    pub dampening: f64,
    pub weight_decay: f64,
    pub nesterov: bool,
}

impl SgdConfig {
    pub fn lr(lr: f64) -> Self {
        Self { lr, momentum: 0.0, dampening: 0.0, weight_decay: 0.0, nesterov: false }
    }

    pub fn momentum(mut self, m: f64) -> Self {
        self.momentum = m;
        self
    }

    pub fn weight_decay(mut self, wd: f64) -> Self {
        self.weight_decay = wd;
        self
    }

    pub fn validate(&self) -> Result<()> {
        check_hyper("sgd lr", self.lr, self.lr >= 0.0, ">= 0")?;
        check_hyper("sgd momentum", self.momentum, self.momentum >= 0.0, ">= 0")?;
        check_hyper("sgd weight_decay", self.weight_decay, self.weight_decay >= 0.0, ">= 0")?;
        check_hyper("sgd dampening", self.dampening, true, "a number")?;
        if self.nesterov && (self.momentum <= 0.0 || self.dampening != 0.0) {
            return Err(crate::Error::invalid("sgd nesterov", "needs momentum > 0 and dampening = 0"));
        }
        Ok(())
    }

    pub fn build(self, vs: &VarStore) -> Result<Sgd> {
        self.validate()?;
        let vars = trainable(vs);
        let zeros = |vars: &[(String, Tensor)]| vars.iter().map(|(_, t)| t.zeros_like()).collect::<Vec<_>>();
        Ok(Sgd { cfg: self, buf: zeros(&vars), scratch: zeros(&vars), started: vec![false; vars.len()], vars })
    }
}

/// SGD over the trainable variables of one variable store.
pub struct Sgd {
    cfg: SgdConfig,
    vars: Vec<(String, Tensor)>,
    /// Momentum buffers.
    buf: Vec<Tensor>,
    scratch: Vec<Tensor>,
    /// Whether each momentum buffer holds a gradient yet.
    started: Vec<bool>,
}

impl Optimizer for Sgd {
    fn zero_grad(&mut self) {
        for (_, t) in self.vars.iter_mut() {
            t.zero_grad();
        }
    }

    fn step(&mut self) {
        let SgdConfig { lr, momentum, dampening, weight_decay, nesterov } = self.cfg;
        tch::no_grad(|| {
            for i in 0..self.vars.len() {
                let p = &mut self.vars[i].1;
                let mut d = p.grad();
                if !d.defined() {
                    continue;
                }
                let s = &mut self.scratch[i];
                if weight_decay != 0.0 {
                    s.copy_(p);
                    let _ = s.g_mul_scalar_(weight_decay);
                    let _ = s.g_add_(&d);
                    d = s.shallow_clone();
                }
                if momentum != 0.0 {
                    let b = &mut self.buf[i];
                    if self.started[i] {
                        let _ = b.g_mul_scalar_(momentum);
                        if dampening == 0.0 {
                            let _ = b.g_add_(&d);
                        } else {
                            let _ = b.g_add_(&(&d * (1.0 - dampening)));
                        }
                    } else {
                        b.copy_(&d);
                        self.started[i] = true;
                    }
                    if nesterov {
                        let _ = d.g_add_(&(&*b * momentum));
                    } else {
                        d = b.shallow_clone();
                    }
                }
                let _ = d.mul_scalar_out(s, -lr);
                let _ = p.g_add_(s);
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
        let mut out = Vec::with_capacity(2 * self.vars.len());
        for (i, (name, _)) in self.vars.iter().enumerate() {
            out.push((format!("{prefix}.momentum.{name}"), self.buf[i].shallow_clone()));
            out.push((format!("{prefix}.started.{name}"), Tensor::from_slice(&[self.started[i] as i64])));
        }
        out
    }

    fn load_state(&mut self, prefix: &str, tensors: &BTreeMap<String, Tensor>) -> Result<()> {
        let mut loaded = Vec::with_capacity(self.vars.len());
        for (name, var) in &self.vars {
            let b = state_entry(tensors, &format!("{prefix}.momentum.{name}"), Some(var))?;
            let started = state_entry(tensors, &format!("{prefix}.started.{name}"), None)?.to_kind(Kind::Int64);
            loaded.push((b, started.int64_value(&[0]) != 0));
        }
        tch::no_grad(|| {
            for (i, (b, started)) in loaded.into_iter().enumerate() {
                self.buf[i].copy_(&b);
                self.started[i] = started;
            }
        });
        Ok(())
    }
}
