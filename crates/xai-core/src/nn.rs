//! Layers initialised as PyTorch initialises them, and small models several crates share.
//!
//! tch's defaults differ from PyTorch's: Linear/Conv weights use Kaiming-uniform with a
//! ReLU gain (bound √(6/fan_in)) where PyTorch uses a = √5 (bound 1/√fan_in), and tch
//! starts conv biases at zero where PyTorch draws them from U(±1/√fan_in). The papers'
//! numbers come from PyTorch, so every model here uses PyTorch's scheme.

use tch::nn::{self, Init, Module};

/// `U(-1/√fan_in, 1/√fan_in)`: PyTorch's default for weights and biases of Linear and Conv.
pub fn torch_default_init(fan_in: i64) -> Init {
    let bound = 1.0 / (fan_in as f64).sqrt();
    Init::Uniform { lo: -bound, up: bound }
}

/// `nn.Linear(in, out)` with PyTorch's initialisation.
pub fn linear(p: nn::Path, in_dim: i64, out_dim: i64) -> nn::Linear {
    let init = torch_default_init(in_dim);
    nn::linear(p, in_dim, out_dim, nn::LinearConfig { ws_init: init, bs_init: Some(init), bias: true })
}

/// `nn.Conv2d(in, out, k, stride, padding)` with PyTorch's initialisation.
pub fn conv2d(p: nn::Path, in_ch: i64, out_ch: i64, kernel: i64, stride: i64, padding: i64) -> nn::Conv2D {
    let init = torch_default_init(in_ch * kernel * kernel);
    nn::conv2d(
        p,
        in_ch,
        out_ch,
        kernel,
        nn::ConvConfig { stride, padding, ws_init: init, bs_init: init, ..Default::default() },
    )
}

/// Number of scalar parameters in a variable store.
pub fn param_count(vs: &nn::VarStore) -> i64 {
    vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
}

/// A multilayer perceptron `sizes[0] → … → sizes[n]` with ReLU between layers and a
/// linear output.
pub fn mlp(p: nn::Path, sizes: &[i64]) -> nn::Sequential {
    let mut seq = nn::seq();
    for (i, w) in sizes.windows(2).enumerate() {
        seq = seq.add(linear(&p / format!("fc{i}"), w[0], w[1]));
        if i + 2 < sizes.len() {
            seq = seq.add_fn(|x| x.relu());
        }
    }
    seq
}

/// The small MNIST classifier of PyTorch's MNIST example (two conv layers, two linear),
/// without dropout: `[N,1,28,28] → [N,10]` logits.
pub fn mnist_cnn(p: nn::Path) -> impl Module {
    let conv1 = conv2d(&p / "conv1", 1, 32, 3, 1, 0);
    let conv2 = conv2d(&p / "conv2", 32, 64, 3, 1, 0);
    let fc1 = linear(&p / "fc1", 9216, 128);
    let fc2 = linear(&p / "fc2", 128, 10);
    nn::func(move |x| {
        x.apply(&conv1).relu().apply(&conv2).relu().max_pool2d_default(2).flatten(1, -1).apply(&fc1).relu().apply(&fc2)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_bounds_match_pytorch() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let _l = linear(vs.root() / "l", 400, 10);
        let _c = conv2d(vs.root() / "c", 4, 8, 5, 1, 2);
        let v = vs.variables();
        let bound_l = 1.0 / 20.0;
        let bound_c = 1.0 / 10.0;
        for (name, bound) in [("l.weight", bound_l), ("l.bias", bound_l), ("c.weight", bound_c), ("c.bias", bound_c)] {
            let t = &v[name];
            let max = t.abs().max().double_value(&[]);
            assert!(max <= bound, "{name}: max |w| {max} above PyTorch's bound {bound}");
            if t.numel() > 100 {
                // With hundreds of uniform draws the maximum sits near the bound; tch's
                // own default (bound √(6/fan_in)) would overshoot the check above.
                assert!(max > 0.95 * bound, "{name}: max |w| {max} far below bound {bound}");
            }
        }
        assert_eq!(param_count(&vs), 400 * 10 + 10 + 8 * 4 * 25 + 8);
    }
}
