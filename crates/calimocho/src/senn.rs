//! The self-explaining net of CALIMOCHO ("full_full", spec §2): concepts are the raw
//! input (φ = identity), the relevance network w(x) is a stack of dense layers with the
//! activation 2σ(·)−1, and the output is f(x) = σ(Σⱼ wⱼ(x)·xⱼ).

use crate::params::SennParams;
use crate::Result;
use tch::nn::{Init, VarStore};
use tch::{Device, Kind, Tensor};

/// A self-explaining net over `n_concepts` binary concepts (bias column included).
///
/// All parameters live in one flat variable (`params`, layer by layer: weight `[out, in]`
/// row-major, then bias `[out]`), so that one Adam update covers the whole net and the
/// hand-written gradient of [`Senn::accumulate_gradients`] writes into one buffer.
pub struct Senn {
    vs: VarStore,
    flat: Tensor,
    /// (fan_in, fan_out) per layer and the offset of its weight in `flat`.
    shapes: Vec<(i64, i64, i64)>,
    /// Detached views of the layers (share storage with `flat`): graph-free forwards.
    fixed: Vec<(Tensor, Tensor)>,
    /// Views of `flat`'s gradient, per layer.
    grads: Vec<(Tensor, Tensor)>,
    /// The parameters right after construction, restored by a cold fit.
    init: Vec<(String, Tensor)>,
    n_concepts: i64,
}

/// Glorot-uniform bound √(6 / (fan_in + fan_out)) (TensorFlow's default initialiser).
pub fn glorot_bound(fan_in: i64, fan_out: i64) -> f64 {
    (6.0 / (fan_in + fan_out) as f64).sqrt()
}

fn views(flat: &Tensor, shapes: &[(i64, i64, i64)]) -> Vec<(Tensor, Tensor)> {
    shapes
        .iter()
        .map(|&(i, o, off)| (flat.narrow(0, off, o * i).view([o, i]), flat.narrow(0, off + o * i, o)))
        .collect()
}

impl Senn {
    /// A net with Glorot-uniform weights and zero biases, drawn from libtorch's RNG (seed
    /// it with `tch::manual_seed` or `xai_core::device::seed_everything` first).
    pub fn new(params: &SennParams, n_concepts: i64, device: Device) -> Result<Self> {
        params.validate(n_concepts)?;
        let vs = VarStore::new(device);
        let mut shapes = Vec::with_capacity(params.widths.len());
        let (mut fan_in, mut total) = (n_concepts, 0);
        for &width in &params.widths {
            shapes.push((fan_in, width, total));
            total += width * fan_in + width;
            fan_in = width;
        }
        let flat = vs.root().var("params", &[total], Init::Const(0.0));
        let fixed = views(&flat.detach(), &shapes);
        tch::no_grad(|| {
            for (&(i, o, _), (w, _)) in shapes.iter().zip(&fixed) {
                let a = glorot_bound(i, o);
                let _ = w.shallow_clone().uniform_(-a, a);
            }
        });
        // Define the gradient buffer once; its views receive the hand-written gradients.
        (flat.sum(Kind::Float) * 0.0).backward();
        let grads = views(&flat.grad(), &shapes);
        let init = xai_core::checkpoint::snapshot(&vs);
        Ok(Self { vs, flat, shapes, fixed, grads, init, n_concepts })
    }

    pub fn n_concepts(&self) -> i64 {
        self.n_concepts
    }

    pub fn depth(&self) -> usize {
        self.shapes.len()
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    pub fn var_store(&self) -> &VarStore {
        &self.vs
    }

    pub fn var_store_mut(&mut self) -> &mut VarStore {
        &mut self.vs
    }

    /// (weight `[out, in]`, bias `[out]`) of layer `i`, detached views of the parameters.
    pub fn layer(&self, i: usize) -> (Tensor, Tensor) {
        (self.fixed[i].0.shallow_clone(), self.fixed[i].1.shallow_clone())
    }

    /// Relevances w(x) `[B, n_concepts]`, every entry in (−1, 1); differentiable w.r.t.
    /// the parameters (and `x` when it requires a gradient).
    pub fn relevance(&self, x: &Tensor) -> Tensor {
        let mut a = x.shallow_clone();
        for (w, b) in views(&self.flat, &self.shapes) {
            // 2σ(z) − 1 = tanh(z/2): one op fewer per layer on the hot path.
            a = (a.linear(&w, Some(&b)) * 0.5).tanh();
        }
        a
    }

    /// Relevances and the output probability f(x) = σ(Σⱼ wⱼxⱼ) `[B]`.
    pub fn forward(&self, x: &Tensor) -> (Tensor, Tensor) {
        let w = self.relevance(x);
        let f = logit_of(&w, x).sigmoid();
        (w, f)
    }

    /// Activations of every layer (the last is w(x)) without a graph.
    pub fn activations(&self, x: &Tensor) -> Vec<Tensor> {
        tch::no_grad(|| {
            let mut acts = Vec::with_capacity(self.fixed.len());
            let mut a = x.shallow_clone();
            for (w, b) in &self.fixed {
                a = (a.linear(w, Some(b)) * 0.5).tanh();
                acts.push(a.shallow_clone());
            }
            acts
        })
    }

    /// Writes ∂L/∂θ into the parameters' gradient given ∂L/∂w (`dw` `[B, C]`) and the
    /// [`Senn::activations`] of input `x`: the hand-written backward pass of the
    /// relevance network (tanh(z/2) layers), one matmul per weight, no autograd graph.
    pub fn accumulate_gradients(&self, x: &Tensor, acts: &[Tensor], dw: Tensor) {
        tch::no_grad(|| {
            let mut d = dw;
            for l in (0..self.fixed.len()).rev() {
                let a = &acts[l];
                // d tanh(z/2)/dz = (1 − a²)/2
                let dz: Tensor = d * (a.square().neg() + 1.0) * 0.5;
                let prev = if l == 0 { x } else { &acts[l - 1] };
                let (gw, gb) = &self.grads[l];
                let _ = dz.tr().mm_out(gw, prev);
                let _ = dz.sum_intlist_out(gb, [0i64].as_slice(), false, Kind::Float);
                d = if l > 0 { dz.mm(&self.fixed[l].0) } else { Tensor::new() };
            }
        })
    }

    /// f(x) without building a graph.
    pub fn proba(&self, x: &Tensor) -> Tensor {
        tch::no_grad(|| {
            let w = self.explain(x);
            logit_of(&w, x).sigmoid()
        })
    }

    /// Explanations w(x) without building a graph.
    pub fn explain(&self, x: &Tensor) -> Tensor {
        self.activations(x).pop().expect("at least one layer")
    }

    /// Class 1 iff f > 0.5 (f = 0.5 maps to 0), as i64.
    pub fn predict(&self, x: &Tensor) -> Tensor {
        self.proba(x).gt(0.5).to_kind(Kind::Int64)
    }

    /// Restores the parameters saved at construction (bitwise).
    pub fn reset(&mut self) -> Result<()> {
        xai_core::checkpoint::restore(&mut self.vs, &self.init)?;
        Ok(())
    }

    /// The parameters saved at construction.
    pub fn initial_parameters(&self) -> &[(String, Tensor)] {
        &self.init
    }
}

/// Σⱼ wⱼ xⱼ per row.
pub fn logit_of(w: &Tensor, x: &Tensor) -> Tensor {
    (w * x).sum_dim_intlist(1, false, Kind::Float)
}
