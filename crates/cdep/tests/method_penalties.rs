//! Spec §9 properties 12–15 (penalties, gradient flow, RRR, EG), the stacked many-blob
//! decomposition, and λ < 0 as a named error.

use cdep::baselines::eg::{self, EgVariant};
use cdep::baselines::rrr::{self, RrrVariant};
use cdep::cd::{CdOptions, Decomp, LstmCdOptions};
use cdep::{nets, penalty, Result};
use rand::SeedableRng;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

const F: (Kind, Device) = (Kind::Float, Device::Cpu);

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn image_and_text_penalties_have_the_specified_values() {
    let x = Tensor::randn([4, 10], F);
    assert!(close(penalty::image(&Decomp::new(x.shallow_clone(), x.shallow_clone())).double_value(&[]), 0.5, 1e-6));
    let big = penalty::image(&Decomp::new(&x * 0.0 + 50.0, &x * 0.0 - 50.0)).double_value(&[]);
    assert!(big > 0.999, "β ≫ γ → 1 (got {big})");
    let empty = Tensor::zeros([0, 10], F);
    let e = penalty::image(&Decomp::new(empty.shallow_clone(), empty)).double_value(&[]);
    assert_eq!(e, 0.0, "empty batch → 0, not NaN");

    let (rel, irrel) = (Tensor::randn([4, 2], F), Tensor::randn([4, 2], F));
    let y = Tensor::from_slice(&[0i64, 1, 1, 0]);
    let flags = Tensor::from_slice(&[1.0f32, 1.0, 0.0, 0.0]);
    let eq = penalty::text(&Decomp::new(rel.shallow_clone(), rel.shallow_clone()), &y, &flags).unwrap();
    assert!(close(eq.double_value(&[]), std::f64::consts::LN_2, 1e-6), "β = γ → ln 2");
    // Changing the unflagged samples' parts does not change the penalty.
    let p1 =
        penalty::text(&Decomp::new(rel.shallow_clone(), irrel.shallow_clone()), &y, &flags).unwrap().double_value(&[]);
    let mask = flags.view([4, 1]);
    let rel2 = &rel * &mask + Tensor::randn([4, 2], F) * (1.0 - &mask) * 100.0;
    let p2 = penalty::text(&Decomp::new(rel2, irrel.shallow_clone()), &y, &flags).unwrap().double_value(&[]);
    assert!(close(p1, p2, 1e-6), "{p1} vs {p2}");
    let none = penalty::text(&Decomp::new(rel, irrel), &y, &Tensor::zeros([4], F)).unwrap().double_value(&[]);
    assert_eq!(none, 0.0, "no flagged sample → 0");
    let e = penalty::text(
        &Decomp::new(Tensor::zeros([0, 2], F), Tensor::zeros([0, 2], F)),
        &Tensor::zeros([0], (Kind::Int64, Device::Cpu)),
        &Tensor::zeros([0], F),
    );
    assert_eq!(e.unwrap().double_value(&[]), 0.0, "empty batch → 0");
}

#[test]
fn negative_lambda_is_an_error() {
    let e = penalty::check_lambda(-1.0).unwrap_err().to_string();
    assert!(e.contains("lambda") && e.contains("-1"), "{e}");
    assert!(penalty::check_lambda(f64::NAN).is_err());
    assert_eq!(penalty::check_lambda(500.0).unwrap(), 500.0);
}

#[test]
fn stacked_blobs_equal_separate_decompositions() {
    tch::manual_seed(7);
    let vs = VarStore::new(Device::Cpu);
    let net = nets::mnist_cnn(&vs.root(), 3, 500).unwrap();
    let x = Tensor::randn([3, 3, 28, 28], F);
    let masks = Tensor::rand([4, 28, 28], F).ge(0.8).to_kind(Kind::Float);
    for pool_before_relu in [false, true] {
        let opts = CdOptions { pool_before_relu, ..CdOptions::symmetric() };
        let stacked = net.cd_blobs(&x, &masks, &opts).unwrap();
        for i in 0..4 {
            let one = net.cd(&x, &masks.get(i), &opts).unwrap();
            let err = (stacked.rel.narrow(0, 3 * i, 3) - &one.rel).abs().max().double_value(&[]);
            assert!(err < 1e-4, "blob {i}: {err}");
        }
        let image = penalty::image_cdep(&net, &x, &masks, &opts).unwrap().double_value(&[]);
        let separate: f64 =
            (0..4).map(|i| penalty::image(&net.cd(&x, &masks.get(i), &opts).unwrap()).double_value(&[])).sum();
        assert!(close(image, separate, 1e-5), "{image} vs {separate}");
    }
    let e =
        penalty::image_cdep(&net, &x, &Tensor::ones([4, 27, 28], F), &CdOptions::default()).unwrap_err().to_string();
    assert!(e.contains("[4, 27, 28]"), "{e}");
}

#[test]
fn penalty_gradients_reach_the_first_layer_and_not_the_blob() {
    tch::manual_seed(8);
    let vs = VarStore::new(Device::Cpu);
    let net = nets::mnist_cnn(&vs.root(), 3, 500).unwrap();
    let x = Tensor::randn([2, 3, 28, 28], F);
    let masks = Tensor::rand([2, 28, 28], F).ge(0.5).to_kind(Kind::Float).set_requires_grad(true);
    let p = penalty::image_cdep(&net, &x, &masks, &CdOptions::default()).unwrap();
    p.backward();
    let g = vs.variables()["conv1.weight"].grad();
    assert!(g.defined() && g.abs().sum(Kind::Float).double_value(&[]) > 0.0, "∂penalty/∂conv1 ≠ 0");
    assert!(!masks.grad().defined(), "the blob gets no gradient");
}

#[test]
fn detached_embeddings_get_prediction_but_not_penalty_gradients() {
    tch::manual_seed(9);
    let vs = VarStore::new(Device::Cpu);
    let c = nets::lstm_classifier(&vs.root(), 30, 8, 6, 2, None).unwrap();
    let tokens = Tensor::randint(30, [4, 7], (Kind::Int64, Device::Cpu));
    let y = Tensor::from_slice(&[0i64, 1, 0, 1]);
    let m = Tensor::zeros([4, 7], F);
    let _ = m.narrow(1, 2, 1).fill_(1.0);
    let flags = Tensor::ones([4], F);
    let pen = |detach: bool| -> Result<Tensor> {
        let d = c.cd(&tokens, &m, &m, &LstmCdOptions { detach_embeddings: detach })?;
        penalty::text(&d, &y, &flags)
    };
    let emb = vs.variables()["embedding"].shallow_clone();
    let w_hh = vs.variables()["weight_hh_l0"].shallow_clone();
    vs.trainable_variables().iter().for_each(|t| t.shallow_clone().zero_grad());
    pen(true).unwrap().backward();
    let ge = emb.grad();
    assert!(!ge.defined() || ge.abs().sum(Kind::Float).double_value(&[]) == 0.0, "detached: ∂penalty/∂embedding = 0");
    assert!(w_hh.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0, "the LSTM still gets penalty gradients");
    vs.trainable_variables().iter().for_each(|t| t.shallow_clone().zero_grad());
    let ce = c.forward(&tokens).unwrap().log_softmax(-1, Kind::Float).nll_loss(&y);
    ce.backward();
    assert!(emb.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0, "∂CE/∂embedding ≠ 0");
    vs.trainable_variables().iter().for_each(|t| t.shallow_clone().zero_grad());
    pen(false).unwrap().backward();
    assert!(emb.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0, "not detached: penalty reaches embeddings");
}

#[test]
fn rrr_matches_the_closed_form_of_a_linear_softmax_model() {
    tch::manual_seed(10);
    let (w, b) = (Tensor::randn([3, 2, 4, 4], F), Tensor::randn([3], F));
    let model = |x: &Tensor| -> Result<Tensor> { Ok(x.flatten(1, -1).matmul(&w.view([3, 32]).tr()) + &b) };
    let x = Tensor::randn([5, 2, 4, 4], F);
    let y = Tensor::from_slice(&[0i64, 2, 1, 1, 0]);
    let s = Tensor::rand([4, 4], F).ge(0.5).to_kind(Kind::Float);
    assert_eq!(
        rrr::penalty(&model, &x, &y, &s.zeros_like(), RrrVariant::Repo).unwrap().double_value(&[]),
        0.0,
        "empty mask → 0"
    );
    let got = rrr::penalty(&model, &x, &y, &s, RrrVariant::Repo).unwrap().double_value(&[]);
    // ∂ mean NLL/∂x_b = Wᵀ(p_b − onehot_b)/B, summed over channels, masked, squared.
    let p = model(&x).unwrap().softmax(-1, Kind::Float);
    let onehot = Tensor::zeros([5, 3], F).scatter_value(1, &y.unsqueeze(1), 1.0);
    let g = (p - onehot).matmul(&w.view([3, 32])).view([5, 2, 4, 4]) / 5.0;
    let want = (g.sum_dim_intlist(1, false, Kind::Float) * &s).square().sum(Kind::Float).double_value(&[]);
    assert!(close(got, want, 1e-6 * want.max(1.0)), "{got} vs {want}");
}

#[test]
fn rrr_double_backward_trains_the_weights() {
    tch::manual_seed(11);
    let vs = VarStore::new(Device::Cpu);
    let net = nets::mnist_cnn(&vs.root(), 1, 32).unwrap();
    let f = |x: &Tensor| net.forward(x, false);
    let x = Tensor::randn([3, 1, 28, 28], F);
    let y = Tensor::from_slice(&[1i64, 2, 3]);
    for v in [RrrVariant::Repo, RrrVariant::Ross] {
        let p = rrr::penalty(&f, &x, &y, &Tensor::ones([28, 28], F), v).unwrap();
        p.backward();
        let g = vs.variables()["fc1.weight"].grad();
        assert!(g.abs().sum(Kind::Float).double_value(&[]) > 0.0, "{v:?}: gradient reaches fc1");
    }
}

#[test]
fn expected_gradients_complete_in_expectation() {
    tch::manual_seed(12);
    let w = Tensor::randn([3, 6], F) * 0.7;
    let model = |x: &Tensor| -> Result<Tensor> { Ok(x.matmul(&w.tr()).tanh() * 2.0) };
    let x = Tensor::randn([4, 6], F);
    let y = Tensor::from_slice(&[0i64, 1, 2, 0]);
    let refs = Tensor::randn([8, 6], F);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let k = 4000;
    let attr = eg::attributions(&model, &x, &y, &refs, k, EgVariant::Batched, &mut rng).unwrap();
    let sum = attr.sum_dim_intlist(1, false, Kind::Float);
    let p = |z: &Tensor| model(z).unwrap().softmax(-1, Kind::Float);
    let py = p(&x).gather(1, &y.unsqueeze(1), false).squeeze_dim(1);
    let pref = p(&refs); // E over uniform references
    let e_ref = pref.index_select(1, &y).mean_dim(0, false, Kind::Float);
    let want = py - e_ref;
    let (s, w) = (
        Vec::<f64>::try_from(sum.to_kind(Kind::Double)).unwrap(),
        Vec::<f64>::try_from(want.to_kind(Kind::Double)).unwrap(),
    );
    for (a, b) in s.iter().zip(&w) {
        assert!((a - b).abs() <= 0.05 * b.abs().max(0.05), "Σ attributions {a} vs E[p(x) − p(x')] {b}");
    }
}

#[test]
fn eg_penalty_chunks_sum_to_the_whole_and_train() {
    tch::manual_seed(13);
    let vs = VarStore::new(Device::Cpu);
    let net = nets::mnist_cnn(&vs.root(), 1, 32).unwrap();
    let f = |x: &Tensor| net.forward(x, false);
    let x = Tensor::randn([5, 1, 28, 28], F);
    let y = Tensor::from_slice(&[1i64, 2, 3, 4, 5]);
    let w = Tensor::rand([28, 28], F);
    for variant in [EgVariant::Repo, EgVariant::Batched] {
        let total = |chunk: i64| {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
            let mut parts = vec![];
            eg::penalty_chunks(&f, &x, &y, &w, 3, variant, chunk, &mut rng, &mut |p| {
                parts.push(p);
                Ok(())
            })
            .unwrap();
            parts
        };
        let one: f64 = total(5).iter().map(|p| p.double_value(&[])).sum();
        let parts = total(2);
        assert_eq!(parts.len(), 3);
        let many: f64 = parts.iter().map(|p| p.double_value(&[])).sum();
        assert!(close(one, many, 1e-4 * one.abs().max(1.0)), "{variant:?}: {one} vs {many}");
        parts[0].backward();
        assert!(vs.variables()["conv1.weight"].grad().abs().sum(Kind::Float).double_value(&[]) > 0.0);
    }
    let e = eg::penalty_chunks(
        &f,
        &x,
        &y,
        &Tensor::ones([27, 28], F),
        3,
        EgVariant::Repo,
        2,
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(1),
        &mut |_| Ok(()),
    );
    assert!(e.unwrap_err().to_string().contains("[27, 28]"));
}

#[test]
fn penalty_stays_in_the_inputs_dtype() {
    let d64 = (Kind::Double, Device::Cpu);
    let net = cdep::cd::Sequential::new(vec![
        cdep::cd::Layer::Flatten,
        cdep::cd::Layer::linear(Tensor::randn([3, 16], d64), Some(Tensor::randn([3], d64))),
    ]);
    let x = Tensor::randn([2, 1, 4, 4], d64);
    let masks = Tensor::zeros([2, 4, 4], d64);
    let _ = masks.get(0).narrow(0, 0, 2).fill_(1.0);
    for opts in [CdOptions::reference(), CdOptions::symmetric()] {
        assert_eq!(penalty::image_cdep(&net, &x, &masks, &opts).unwrap().kind(), Kind::Double);
    }
}
