//! The library on your own encoder in a few lines: label-free feature importance (IG,
//! GradientShap, Saliency) and example importance (SimplEx, deep k-NN, TracIn) for a small
//! untrained MLP encoder on random data. `cargo run -p lfxai --example quickstart`.

use lfxai::examples::{dknn_scores, per_example_gradients, simplex_weights, tracin_scores};
use lfxai::features::label_free_attribution;
use lfxai::nets::named_trainable;
use lfxai::{FeatureMethod, SimplexParams};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

fn main() -> lfxai::Result<()> {
    tch::manual_seed(0);
    let vs = nn::VarStore::new(Device::Cpu);
    let enc = nn::seq()
        .add(nn::linear(vs.root() / "encoder" / "l1", 20, 16, Default::default()))
        .add_fn(|t| t.relu())
        .add(nn::linear(vs.root() / "encoder" / "l2", 16, 4, Default::default()));
    let dec = nn::linear(vs.root() / "decoder", 4, 20, Default::default());
    let encoder = |x: &Tensor| enc.forward(x);
    let (train, test) =
        (Tensor::rand([50, 20], (Kind::Float, Device::Cpu)), Tensor::rand([5, 20], (Kind::Float, Device::Cpu)));

    // Feature importance: which inputs drive each test example's representation.
    let zero = Tensor::zeros([20], (Kind::Float, Device::Cpu));
    for name in ["integrated_gradients", "gradient_shap", "saliency"] {
        let attr = label_free_attribution(&encoder, &test, &zero, &FeatureMethod::from_name(name)?)?;
        println!("{name:<22} top input of example 0: {}", attr.get(0).abs().argmax(0, false).int64_value(&[]));
    }

    // Example importance: which training examples explain each test example.
    let (h, htr) = (tch::no_grad(|| encoder(&test)), tch::no_grad(|| encoder(&train)));
    let simplex = simplex_weights(&h, &htr, &SimplexParams::default())?;
    let dknn = dknn_scores(&h, &htr)?;
    // θ_r: the encoder parameters only (the decoder is excluded, as in the paper).
    let params: Vec<Tensor> = named_trainable(&vs, "encoder").into_iter().map(|(_, t)| t).collect();
    let loss = |b: &Tensor| dec.forward(&encoder(b)).mse_loss(b, tch::Reduction::Mean);
    let tracin = tracin_scores(&[(
        per_example_gradients(&loss, &params, &test)?,
        per_example_gradients(&loss, &params, &train)?,
    )])?;
    for (name, s) in [("simplex", &simplex), ("dknn", &dknn), ("tracin", &tracin)] {
        println!(
            "{name:<8} most important training example for test 0: {}",
            s.get(0).argmax(0, false).int64_value(&[])
        );
    }
    Ok(())
}
