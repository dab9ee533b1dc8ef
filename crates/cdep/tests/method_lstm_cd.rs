//! Spec §9 properties 8–11: the Shapley splits, the manual LSTM against libtorch's, and
//! the LSTM decomposition's completeness and extremes.

use cdep::cd::lstm::{split3, split_tanh, Act};
use cdep::cd::{LstmCdOptions, LstmClassifier};
use cdep::nets::lstm_classifier;
use tch::nn::{self, RNN};
use tch::{Device, Kind, Tensor};

const F: (Kind, Device) = (Kind::Float, Device::Cpu);

fn max_err(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn three_player_split_is_complete_symmetric_and_zero_for_zero() {
    tch::manual_seed(0);
    let (u, v, b) = (Tensor::randn([5, 7], F) * 3.0, Tensor::randn([5, 7], F) * 3.0, Tensor::randn([7], F));
    for act in [Act::Sigmoid, Act::Tanh] {
        let (pu, pv, pb) = split3(&u, &v, &b, act);
        let whole = match act {
            Act::Sigmoid => ((&u + &v) + &b).sigmoid(),
            Act::Tanh => ((&u + &v) + &b).tanh(),
        };
        assert!(max_err(&(&pu + &pv + &pb), &whole) < 1e-6, "{act:?}: complete");
        let (qu, qv, _) = split3(&v, &u, &b, act);
        assert!(max_err(&pu, &qv) < 1e-6 && max_err(&pv, &qu) < 1e-6, "{act:?}: swap symmetry");
        let (zu, _, _) = split3(&u.zeros_like(), &v, &b, act);
        assert_eq!(zu.abs().max().double_value(&[]), 0.0, "{act:?}: P_u = 0 when u = 0");
    }
}

#[test]
fn two_player_tanh_split() {
    tch::manual_seed(1);
    let (r, i) = (Tensor::randn([30], F) * 2.0, Tensor::randn([30], F) * 2.0);
    let (tr, ti) = split_tanh(&r, &i);
    assert!(max_err(&(&tr + &ti), &(&r + &i).tanh()) < 1e-6);
    let (sr, si) = split_tanh(&i, &r);
    assert!(max_err(&tr, &si) < 1e-6 && max_err(&ti, &sr) < 1e-6);
}

fn classifier(vs: &nn::VarStore) -> LstmClassifier {
    lstm_classifier(&vs.root(), 20, 6, 5, 2, None).unwrap()
}

#[test]
fn manual_lstm_equals_libtorch_lstm_on_padded_batches() {
    tch::manual_seed(2);
    let vs = nn::VarStore::new(Device::Cpu);
    let cfg = nn::RNNConfig { batch_first: true, ..Default::default() };
    let lstm = nn::lstm(vs.root() / "lstm", 6, 5, cfg);
    let vars = vs.variables();
    let emb = Tensor::randn([20, 6], F);
    let c = LstmClassifier {
        embedding: emb.shallow_clone(),
        w_ih: vars["lstm.weight_ih_l0"].shallow_clone(),
        w_hh: vars["lstm.weight_hh_l0"].shallow_clone(),
        b_ih: vars["lstm.bias_ih_l0"].shallow_clone(),
        b_hh: vars["lstm.bias_hh_l0"].shallow_clone(),
        w_out: Tensor::randn([2, 5], F),
        b_out: Tensor::randn([2], F),
    };
    // Give the zero-initialised biases some value so folding b_ih + b_hh is tested.
    tch::no_grad(|| {
        c.b_ih.shallow_clone().copy_(&Tensor::randn([20], F));
        c.b_hh.shallow_clone().copy_(&Tensor::randn([20], F));
    });
    // Padded batch: pad id 1 at the end of the shorter sequences.
    let tokens = Tensor::from_slice(&[3i64, 4, 5, 6, 7, 8, 9, 1, 1, 1, 10, 11, 12, 13, 1, 1]).view([4, 4]);
    let ours = c.last_hidden(&tokens).unwrap();
    let e = Tensor::embedding(&emb, &tokens, -1, false, false);
    let (out, _) = lstm.seq(&e);
    let theirs = out.select(1, 3);
    assert!(max_err(&ours, &theirs) < 1e-5, "manual LSTM vs libtorch: {}", max_err(&ours, &theirs));
}

#[test]
fn lstm_cd_is_complete_and_exact_at_the_extremes() {
    tch::manual_seed(3);
    let vs = nn::VarStore::new(Device::Cpu);
    let c = classifier(&vs);
    let tokens = Tensor::randint(20, [6, 9], (Kind::Int64, Device::Cpu));
    let target = c.forward(&tokens).unwrap() - &c.b_out;
    let opts = LstmCdOptions::default();
    for _ in 0..3 {
        let m = Tensor::rand([6, 9], F).ge(0.7).to_kind(Kind::Float);
        let q = Tensor::rand([6, 9], F).ge(0.7).to_kind(Kind::Float);
        let d = c.cd(&tokens, &m, &q, &opts).unwrap();
        assert!(max_err(&d.total(), &target) < 1e-5, "rel + irrel = logits − b_out");
    }
    let ones = Tensor::ones([6, 9], F);
    let d = c.cd(&tokens, &ones, &ones, &opts).unwrap();
    assert_eq!(d.irrel.abs().max().double_value(&[]), 0.0, "m = q = 1: irrel = 0 exactly");
    let zeros = Tensor::zeros([6, 9], F);
    let d = c.cd(&tokens, &zeros, &zeros, &opts).unwrap();
    assert_eq!(d.rel.abs().max().double_value(&[]), 0.0, "m = q = 0: rel = 0 exactly");
    // The inclusive-stop span (word s+1 relevant too) changes rel but keeps the sum.
    let s = 3;
    let one_hot = |lo: i64, hi: i64| {
        let t = Tensor::zeros([6, 9], F);
        let _ = t.narrow(1, lo, hi - lo).fill_(1.0);
        t
    };
    let paper = c.cd(&tokens, &one_hot(s, s + 1), &one_hot(s, s + 1), &opts).unwrap();
    let repo = c.cd(&tokens, &one_hot(s, s + 2), &one_hot(s, s + 1), &opts).unwrap();
    assert!(max_err(&paper.rel, &repo.rel) > 1e-5);
    assert!(max_err(&paper.total(), &repo.total()) < 1e-5);
}

#[test]
fn bad_token_and_mask_shapes_are_errors() {
    let vs = nn::VarStore::new(Device::Cpu);
    let c = classifier(&vs);
    let tokens = Tensor::randint(20, [2, 4], (Kind::Int64, Device::Cpu));
    let bad = Tensor::ones([4, 2], F);
    let e = c.cd(&tokens, &bad, &bad, &LstmCdOptions::default()).unwrap_err().to_string();
    assert!(e.contains("[4, 2]") && e.contains("[B, T]"), "{e}");
    assert!(c.forward(&Tensor::ones([2, 4], F)).is_err(), "float tokens are rejected");
}

#[test]
fn span_masks_mark_the_span_and_reject_spans_outside_the_sentence() {
    use cdep::cd::lstm::span_masks;
    let (m, q) = span_masks(&[4, 2, 3], &[Some((1, 2)), None, Some((2, 3))], 4, false).unwrap();
    let m: Vec<f32> = Vec::try_from(m.flatten(0, -1)).unwrap();
    assert_eq!(m, [0., 1., 0., 0., 0., 0., 0., 0., 0., 0., 1., 0.]);
    assert!(q.equal(&Tensor::from_slice(&m).view([3, 4])));
    // The reference's inclusive stop also marks the next word (clamped to the batch width).
    let (m, q) = span_masks(&[4, 3], &[Some((1, 2)), Some((2, 3))], 4, true).unwrap();
    let m: Vec<f32> = Vec::try_from(m.flatten(0, -1)).unwrap();
    assert_eq!(m, [0., 1., 1., 0., 0., 0., 1., 1.]);
    assert_eq!(q.sum(tch::Kind::Float).double_value(&[]), 2.0);
    for (lengths, spans) in [(vec![3], vec![Some((2, 4))]), (vec![3], vec![Some((2, 2))]), (vec![5], vec![None])] {
        let e = span_masks(&lengths, &spans, 4, false).unwrap_err().to_string();
        assert!(e.contains("sentence 0"), "{e}");
    }
    assert!(span_masks(&[3, 3], &[None], 4, false).unwrap_err().to_string().contains("spans"));
}

#[test]
fn lstm_checkpoints_load_with_our_names_or_the_official_ones() {
    use cdep::nets::{lstm_classifier_from_checkpoint, LSTM_NAME_MAP};
    tch::manual_seed(21);
    let dir = tempfile::tempdir().unwrap();
    let vs = nn::VarStore::new(Device::Cpu);
    let c = lstm_classifier(&vs.root(), 30, 6, 5, 2, None).unwrap();
    let tokens = Tensor::from_slice(&[1i64, 4, 7, 2, 9, 3]).view([2, 3]);
    let want = c.forward(&tokens).unwrap();
    let ours = dir.path().join("ours.safetensors");
    xai_core::checkpoint::save(&vs, &ours).unwrap();
    let named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    let rename = |f: &dyn Fn(&str) -> String| -> Vec<(String, Tensor)> {
        named.iter().map(|(n, t)| (f(n), t.shallow_clone())).collect()
    };
    let official = dir.path().join("official.safetensors");
    let to_official = |n: &str| LSTM_NAME_MAP.iter().find(|m| m.0 == n).unwrap().1.to_string();
    xai_core::checkpoint::save_tensors(&rename(&to_official), &official).unwrap();
    for path in [&ours, &official] {
        let vs2 = nn::VarStore::new(Device::Cpu);
        let c2 = lstm_classifier_from_checkpoint(&vs2.root(), path).unwrap();
        assert_eq!((c2.embedding.size(), c2.hidden()), (vec![30, 6], 5));
        assert!(c2.forward(&tokens).unwrap().allclose(&want, 1e-6, 1e-6, false));
    }
    let bad = dir.path().join("bad.safetensors");
    let mut odd = rename(&to_official);
    odd[0].0 = "encoder.weight".into();
    let missing = LSTM_NAME_MAP.iter().find(|m| m.0 == named[0].0).unwrap().1;
    xai_core::checkpoint::save_tensors(&odd, &bad).unwrap();
    let e = lstm_classifier_from_checkpoint(&nn::VarStore::new(Device::Cpu).root(), &bad).unwrap_err().to_string();
    assert!(
        e.contains("missing") && e.contains(missing) && e.contains("unexpected") && e.contains("encoder.weight"),
        "{e}"
    );
}
