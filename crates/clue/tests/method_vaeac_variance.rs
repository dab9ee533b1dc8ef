//! Spec §5.2 / §5.3: the VAEAC's learned-variance Gaussian likelihood (Wine's ground truth):
//! its log density against a hand computation, the σ floor, the refusal of categorical
//! blocks and of a checkpoint of the other variant, and a fit on real Wine rows that
//! improves the objective and learns σ. Statistical assertions only (no exact values drawn
//! from libtorch's global generator).

use clue::artificial::{join, joint_blocks, Target};
use clue::blocks::Blocks;
use clue::vae::VaeSpec;
use clue::vaeac::{gaussian_kl_between, gaussian_log_lik, learned_gaussian_params, Vaeac, VaeacLikelihood, MIN_SIGMA};
use tch::{Device, Kind, Tensor};

const SPEC: VaeSpec = VaeSpec { width: 32, depth: 2, latent_dim: 6 };

fn learned(d: usize) -> Vaeac {
    Vaeac::with_likelihood(Blocks::continuous(d).unwrap(), SPEC, VaeacLikelihood::LearnedGaussian, Device::Cpu).unwrap()
}

fn softplus(v: f64) -> f64 {
    (1.0 + v.exp()).ln()
}

#[test]
fn learned_variance_log_lik_is_the_gaussian_density() {
    // Two rows, two dims; raw output [μ1, μ2, s1, s2] with σ = softplus(s) (≥ 1e-2).
    let x = [[0.5f64, -1.0], [2.0, 0.0]];
    let raw = [[0.0f64, -0.5, 0.3, -1.2], [1.0, 0.2, 2.0, -30.0]];
    let hand: Vec<f64> = x
        .iter()
        .zip(&raw)
        .map(|(xr, r)| {
            (0..2)
                .map(|d| {
                    let sigma = softplus(r[2 + d]).max(1e-2);
                    let z = (xr[d] - r[d]) / sigma;
                    -0.5 * z * z - sigma.ln() - 0.5 * (2.0 * std::f64::consts::PI).ln()
                })
                .sum()
        })
        .collect();
    let xt = Tensor::from_slice(&x.concat()).view([2, 2]).to_kind(Kind::Float);
    let rt = Tensor::from_slice(&raw.concat()).view([2, 4]).to_kind(Kind::Float);
    // The free function and the model's own scoring agree with the hand computation.
    let (mu, sigma) = learned_gaussian_params(&rt);
    let ours: Vec<f64> = Vec::try_from(gaussian_log_lik(&xt, &mu, &sigma).to_kind(Kind::Double)).unwrap();
    let model: Vec<f64> = Vec::try_from(learned(2).log_lik(&xt, &rt).to_kind(Kind::Double)).unwrap();
    for i in 0..2 {
        assert!((ours[i] - hand[i]).abs() < 1e-4 * hand[i].abs().max(1.0), "{ours:?} vs {hand:?}");
        assert!((model[i] - hand[i]).abs() < 1e-4 * hand[i].abs().max(1.0), "{model:?} vs {hand:?}");
    }
    // The floor is in use on row 1 (softplus(−30) ≈ 1e-13): its σ is exactly 1e-2.
    assert!((sigma.double_value(&[1, 1]) - 1e-2).abs() < 1e-9);
    // The fixed-variance VAEAC still scores −(x − out)² on the first D raw values.
    let fixed = Vaeac::new(Blocks::continuous(2).unwrap(), SPEC, Device::Cpu).unwrap();
    let gc: Vec<f64> = Vec::try_from(fixed.log_lik(&xt, &rt.narrow(1, 0, 2)).to_kind(Kind::Double)).unwrap();
    assert!((gc[0] - -(0.25 + 0.25)).abs() < 1e-6 && (gc[1] - -(1.0 + 0.04)).abs() < 1e-6, "{gc:?}");
}

#[test]
fn learned_sigma_never_falls_below_its_floor() {
    let raw = Tensor::linspace(-1e3, 50.0, 400, (Kind::Float, Device::Cpu)).view([20, 20]);
    let (_, sigma) = learned_gaussian_params(&raw);
    assert!(sigma.min().double_value(&[]) >= MIN_SIGMA - 1e-9);
    // The model's generator, its σ half pushed far negative: every σ sits on the floor, and
    // the means are what the first half says.
    let mut m = learned(3);
    let last = format!("generator.block.{}.bias", SPEC.depth + 2);
    let vars = m.vs.variables();
    let bias = &vars[&last];
    assert_eq!(bias.size(), vec![6], "the generator emits 2D values");
    let _ = tch::no_grad(|| bias.narrow(0, 3, 3).fill_(-80.0));
    let z = Tensor::randn([50, SPEC.latent_dim as i64], (Kind::Float, Device::Cpu)) * 3.0;
    let g = m.generate(&z);
    let s = g.sigma.expect("a learned-variance VAEAC answers with σ");
    assert_eq!(s.size(), vec![50, 3]);
    assert_eq!(g.mean.size(), vec![50, 3]);
    assert!((s - MIN_SIGMA).abs().max().double_value(&[]) < 1e-7);
    // Inpainting returns means of width D, observed entries kept.
    let x = Tensor::randn([4, 3], (Kind::Float, Device::Cpu));
    let mask = Tensor::from_slice(&[0.0f32, 1.0, 1.0]).view([1, 3]).expand([4, 3], false).contiguous();
    let filled = m.inpaint(&x, &mask, false).unwrap();
    assert_eq!(filled.size(), vec![4, 3]);
    assert_eq!((filled.select(1, 0) - x.select(1, 0)).abs().max().double_value(&[]), 0.0);
    m.vs.freeze();
    assert!(m.generate_raw(&z).size() == vec![50, 3]);
}

#[test]
fn learned_variance_refuses_categorical_blocks() {
    let err =
        Vaeac::with_likelihood(Blocks::new(&[1, 3]).unwrap(), SPEC, VaeacLikelihood::LearnedGaussian, Device::Cpu)
            .err()
            .expect("categorical blocks accepted");
    let msg = err.to_string();
    assert!(msg.contains("all-continuous") && msg.contains("[1, 3]"), "{msg}");
    // x⊕class is categorical too; gauss_cat takes it.
    let jb = joint_blocks(&Blocks::continuous(2).unwrap(), Target::Classes(2)).unwrap();
    assert!(Vaeac::with_likelihood(jb.clone(), SPEC, VaeacLikelihood::LearnedGaussian, Device::Cpu).is_err());
    assert!(Vaeac::with_likelihood(jb, SPEC, VaeacLikelihood::GaussCat, Device::Cpu).is_ok());
}

fn first_weight(v: &Vaeac) -> Tensor {
    v.vs.variables()["recognition.block.0.weight"].copy()
}

#[test]
fn a_checkpoint_of_the_other_variant_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = Blocks::continuous(4).unwrap();
    let fixed = Vaeac::new(blocks.clone(), SPEC, Device::Cpu).unwrap();
    let lv = Vaeac::with_likelihood(blocks.clone(), SPEC, VaeacLikelihood::LearnedGaussian, Device::Cpu).unwrap();
    let (pf, pl, old) = (dir.path().join("f.safetensors"), dir.path().join("l.safetensors"), dir.path().join("o.st"));
    fixed.save(&pf).unwrap();
    lv.save(&pl).unwrap();
    // A file written before the likelihood entry existed (weights only) is a gauss_cat VAEAC.
    xai_core::checkpoint::save(&fixed.vs, &old).unwrap();
    let mut into_learned =
        Vaeac::with_likelihood(blocks.clone(), SPEC, VaeacLikelihood::LearnedGaussian, Device::Cpu).unwrap();
    let before = first_weight(&into_learned);
    for p in [&pf, &old] {
        let msg = into_learned.load(p).unwrap_err().to_string();
        assert!(msg.contains("GaussCat") && msg.contains("variance"), "{msg}");
    }
    // Nothing was copied by the refused loads.
    assert!(first_weight(&into_learned).equal(&before));
    let mut into_fixed = Vaeac::new(blocks.clone(), SPEC, Device::Cpu).unwrap();
    let msg = into_fixed.load(&pl).unwrap_err().to_string();
    assert!(msg.contains("LearnedGaussian") && msg.contains("variance"), "{msg}");
    // Same variant: loads, and answers exactly as the saved model.
    into_fixed.load(&old).unwrap();
    into_learned.load(&pl).unwrap();
    let z = Tensor::randn([8, SPEC.latent_dim as i64], (Kind::Float, Device::Cpu));
    let (a, b) = (lv.generate(&z), into_learned.generate(&z));
    assert!(a.mean.equal(&b.mean) && a.sigma.unwrap().equal(&b.sigma.unwrap()));
    assert!(fixed.generate_raw(&z).equal(&into_fixed.generate_raw(&z)));
}

#[test]
fn a_learned_variance_vaeac_fitted_on_wine_improves_and_learns_sigma() {
    tch::set_num_threads(1);
    tch::manual_seed(1);
    let root = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets"));
    let data = xai_core::data::tabular::wine::load(&root, Default::default()).expect("Wine in datasets/");
    let joint = join(&data.train_x, &data.train_y, Target::Regression);
    assert_eq!(joint.size(), vec![1438, 12]);
    let (xt, xv) = (joint.narrow(0, 0, 1200), joint.narrow(0, 1200, 238));
    let mut m = Vaeac::with_likelihood(
        joint_blocks(&Blocks::continuous(11).unwrap(), Target::Regression).unwrap(),
        SPEC,
        VaeacLikelihood::LearnedGaussian,
        Device::Cpu,
    )
    .unwrap();
    let mask = m.top_mask(238, Device::Cpu);
    let before = m.validation_score(&xv, &mask);
    let losses = m.fit(&xt, 40, 64, 3e-3).unwrap();
    let after = m.validation_score(&xv, &mask);
    assert!(losses.iter().all(|l| l.is_finite()));
    assert!(losses.last().unwrap() < &(losses[0] - 0.3), "training loss per dim {losses:?}");
    assert!(after > before + 5.0, "held-out objective per row {before:.2} → {after:.2}");
    // The objective is wired to the learned density: the validation score (eval mode, z = μ_q)
    // equals log N(x; μ, σ²) − KL(q ‖ p_ψ) + R computed from the model's public pieces.
    let manual = tch::no_grad(|| {
        let q = m.recognition_t(&xv, false);
        let p = m.prior_posterior(&xv, &mask);
        let g = m.generate(&q.mu);
        let rec = gaussian_log_lik(&xv, &g.mean, g.sigma.as_ref().unwrap());
        let reg = -p.mu.square().sum_dim_intlist(1, false, Kind::Float) / 2e8
            + (p.sigma.log() - &p.sigma).sum_dim_intlist(1, false, Kind::Float) * 1e-4;
        (rec - gaussian_kl_between(&q, &p) + reg).mean(Kind::Float).double_value(&[])
    });
    assert!((manual - after).abs() < 1e-4 * after.abs().max(1.0), "objective {after} vs hand-wired {manual}");
    // σ is learned: over codes drawn from q(z|x) (as in training), each dim's mean σ² tracks
    // its mean squared residual (x − μ)² across the 12 dims, whose sizes differ widely, and
    // the learned σ score the rows better than σ ≡ 1 would at the same means.
    let (s2, r2, lp, lp_unit) = tch::no_grad(|| {
        let q = m.recognition_t(&xv, false);
        let (mut s2, mut r2) =
            (Tensor::zeros([12], (Kind::Double, Device::Cpu)), Tensor::zeros([12], (Kind::Double, Device::Cpu)));
        for _ in 0..20 {
            let g = m.generate(&(&q.mu + &q.sigma * q.mu.randn_like()));
            s2 += g.sigma.unwrap().square().mean_dim(0, false, Kind::Double) / 20.0;
            r2 += (&xv - &g.mean).square().mean_dim(0, false, Kind::Double) / 20.0;
        }
        let g = m.generate(&q.mu);
        let s = g.sigma.unwrap();
        let lp = gaussian_log_lik(&xv, &g.mean, &s).mean(Kind::Float).double_value(&[]);
        let lp1 = gaussian_log_lik(&xv, &g.mean, &s.ones_like()).mean(Kind::Float).double_value(&[]);
        (Vec::<f64>::try_from(s2).unwrap(), Vec::<f64>::try_from(r2).unwrap(), lp, lp1)
    });
    let corr = pearson(&s2, &r2);
    assert!(lp > lp_unit + 1.0, "learned σ {lp:.2} vs σ ≡ 1 {lp_unit:.2}");
    let (lo, hi) = r2.iter().fold((f64::INFINITY, 0.0f64), |(l, h), &v| (l.min(v), h.max(v)));
    assert!(hi > 2.5 * lo, "residual variances {r2:?} too alike for the check to bite");
    assert!(corr > 0.7, "per-dim σ² {s2:?} vs squared residuals {r2:?}: correlation {corr}");
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}
