//! Adam (PyTorch's update rule, no weight decay) whose state is plain named tensors, so a
//! checkpoint can carry the moments and step counts and a resumed run continues exactly.
//! tch's optimiser keeps its state inside libtorch with no way to save it.

use crate::{Error, Result};
use std::collections::BTreeMap;
use tch::nn::VarStore;
use tch::{Kind, Tensor};

/// Adam over the trainable variables of one variable store.
pub struct Adam {
    lr: f64,
    betas: (f64, f64),
    eps: f64,
    vars: Vec<(String, Tensor)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Per-variable step counts, as PyTorch keeps them: a variable that gets no gradient
    /// (the explainer during warm-up) starts its bias correction at its first real step.
    steps: Vec<i64>,
}

impl Adam {
    /// A fresh optimiser over `vs`'s trainable variables.
    pub fn new(vs: &VarStore, lr: f64, betas: (f64, f64)) -> Self {
        let trainable = vs.trainable_variables();
        let mut vars: Vec<(String, Tensor)> = vs
            .variables()
            .into_iter()
            .filter(|(_, t)| trainable.iter().any(|u| u.data_ptr() == t.data_ptr()))
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let m = vars.iter().map(|(_, t)| t.zeros_like()).collect();
        let v = vars.iter().map(|(_, t)| t.zeros_like()).collect();
        let steps = vec![0; vars.len()];
        Self { lr, betas, eps: 1e-8, vars, m, v, steps }
    }

    /// Clears the gradients.
    pub fn zero_grad(&mut self) {
        for (_, t) in self.vars.iter_mut() {
            t.zero_grad();
        }
    }

    /// One update of every variable with a defined gradient.
    pub fn step(&mut self) {
        let (b1, b2) = self.betas;
        tch::no_grad(|| {
            for i in 0..self.vars.len() {
                let g = self.vars[i].1.grad();
                if !g.defined() {
                    continue;
                }
                self.steps[i] += 1;
                let t = self.steps[i] as i32;
                let _ = self.m[i].g_mul_scalar_(b1).g_add_(&(&g * (1.0 - b1)));
                let _ = self.v[i].g_mul_scalar_(b2).g_add_(&(&g * &g * (1.0 - b2)));
                let bc1 = 1.0 - b1.powi(t);
                let bc2 = 1.0 - b2.powi(t);
                let denom = (&self.v[i] / bc2).sqrt() + self.eps;
                let update = &self.m[i] / denom * (self.lr / bc1);
                let _ = self.vars[i].1.g_sub_(&update);
            }
        });
    }

    /// The state as named tensors under `prefix` (moments and step counts).
    pub fn state(&self, prefix: &str) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(3 * self.vars.len());
        for (i, (name, _)) in self.vars.iter().enumerate() {
            out.push((format!("{prefix}.m.{name}"), self.m[i].shallow_clone()));
            out.push((format!("{prefix}.v.{name}"), self.v[i].shallow_clone()));
            out.push((format!("{prefix}.step.{name}"), Tensor::from_slice(&[self.steps[i]])));
        }
        out
    }

    /// Restores a [`Adam::state`]; every entry must be present with the right shape.
    pub fn load_state(&mut self, prefix: &str, tensors: &BTreeMap<String, Tensor>) -> Result<()> {
        let get = |key: String, like: Option<&Tensor>| -> Result<Tensor> {
            let t = tensors
                .get(&key)
                .ok_or_else(|| Error::invalid("optimiser state", format!("{key} missing from checkpoint")))?;
            if let Some(like) = like {
                if t.size() != like.size() {
                    return Err(Error::invalid(
                        "optimiser state",
                        format!("{key}: shape {:?} in checkpoint, {:?} in model", t.size(), like.size()),
                    ));
                }
            }
            Ok(t.shallow_clone())
        };
        let mut new_steps = Vec::with_capacity(self.vars.len());
        let mut new_m = Vec::with_capacity(self.vars.len());
        let mut new_v = Vec::with_capacity(self.vars.len());
        for (name, var) in &self.vars {
            new_m.push(get(format!("{prefix}.m.{name}"), Some(var))?);
            new_v.push(get(format!("{prefix}.v.{name}"), Some(var))?);
            new_steps.push(get(format!("{prefix}.step.{name}"), None)?.to_kind(Kind::Int64).int64_value(&[0]));
        }
        tch::no_grad(|| {
            for i in 0..self.vars.len() {
                self.m[i].copy_(&new_m[i]);
                self.v[i].copy_(&new_v[i]);
            }
        });
        self.steps = new_steps;
        Ok(())
    }
}
