//! Spec §8: the pieces of the computational evaluation framework — benefit and cost
//! definitions on hand examples, the knee tables (both normalisations), Gumbel-max block
//! sampling, and a small ground truth (VAEAC over x⊕y + under-VAE) end to end.

use clue::artificial::{
    aleatoric_benefit, categorical_l1, epistemic_benefit, error_vs_ground_truth, fit_under_vae, join, joint_blocks,
    log_px_cost, sample_blocks, valid_rows, Conditional, GroundTruth, Target,
};
use clue::blocks::Blocks;
use clue::evaluation::{knee_scores, knee_scores_normalised_by};
use clue::experiments::artificial_report::{knee_tables, CurveRow};
use clue::vae::{TabularVae, VaeSpec};
use clue::vae_train::VaeTrainParams;
use clue::vaeac::Vaeac;
use tch::{Device, Kind, Tensor};

fn close(a: f64, b: f64, tol: f64) -> bool {
    (a - b).abs() <= tol
}

#[test]
fn benefits_and_costs_on_hand_examples() {
    // Aleatoric: mean H_gt before − after.
    assert!(close(aleatoric_benefit(&[0.6, 0.2], &[0.1, 0.3]).unwrap(), 0.2, 1e-12));
    // Classification error against the ground-truth label: 1 of 4 wrong before, 0 after.
    let e0 = error_vs_ground_truth(&[0.0, 1.0, 1.0, 0.0], &[0.0, 1.0, 0.0, 0.0], true).unwrap();
    assert!(close(e0, 0.25, 1e-12));
    let b = epistemic_benefit(
        &[0.0, 1.0, 1.0, 0.0],
        &[0.0, 1.0, 0.0, 0.0],
        &[0.0, 1.0, 1.0, 0.0],
        &[0.0, 1.0, 1.0, 0.0],
        true,
    )
    .unwrap();
    assert!(close(b, 0.25, 1e-12), "{b}");
    // A counterfactual that makes the BNN disagree with the ground truth has negative benefit.
    let worse = epistemic_benefit(&[1.0, 1.0], &[1.0, 1.0], &[0.0, 1.0], &[1.0, 1.0], true).unwrap();
    assert!(close(worse, -0.5, 1e-12));
    // Regression: RMS of prediction − E_gt[y|x].
    assert!(close(error_vs_ground_truth(&[1.0, -1.0], &[0.0, 0.0], false).unwrap(), 1.0, 1e-12));
    assert!(close(error_vs_ground_truth(&[3.0, 0.0], &[0.0, 4.0], false).unwrap(), 12.5f64.sqrt(), 1e-12));
    // Table-2 cost: only a fall below the originals' mean log p counts.
    assert!(close(log_px_cost(&[-5.0, -7.0], &[-20.0, -10.0]).unwrap(), 9.0, 1e-12));
    assert_eq!(log_px_cost(&[-5.0, -7.0], &[-1.0, -2.0]).unwrap(), 0.0);
    // Mismatched or empty inputs are errors, not panics.
    assert!(aleatoric_benefit(&[0.1], &[0.1, 0.2]).is_err());
    assert!(error_vs_ground_truth(&[], &[], true).is_err());
    assert!(log_px_cost(&[1.0], &[]).is_err());
}

#[test]
fn ground_truth_conditional_uncertainty_and_label() {
    // Two codes with opposite certain predictions: mean (½, ½), entropy ln 2, label class 0 (tie → first).
    let p = Tensor::from_slice(&[1.0f32, 0.0, 0.0, 1.0]).view([2, 1, 2]);
    let c = Conditional::Classes(p);
    assert!(close(c.uncertainty().double_value(&[0]), 2f64.ln(), 1e-6));
    // Two certain, agreeing codes: entropy 0, label 1.
    let c = Conditional::Classes(Tensor::from_slice(&[0.0f32, 1.0, 0.0, 1.0]).view([2, 1, 2]));
    assert!(c.uncertainty().double_value(&[0]).abs() < 1e-6);
    assert_eq!(c.label().double_value(&[0]), 1.0);
    // Regression with σ_y ≡ 1: equal means give σ = 1; means ±1 add variance 1 → √2; label = mean.
    let ones = Tensor::ones([2, 1, 1], (Kind::Float, Device::Cpu));
    let c = Conditional::Regression { mu: Tensor::from_slice(&[2.0f32, 2.0]).view([2, 1, 1]), sigma: ones.copy() };
    assert!(close(c.uncertainty().double_value(&[0]), 1.0, 1e-6));
    let c = Conditional::Regression { mu: Tensor::from_slice(&[1.0f32, -1.0]).view([2, 1, 1]), sigma: ones };
    assert!(close(c.uncertainty().double_value(&[0]), 2f64.sqrt(), 1e-6));
    assert!(c.label().double_value(&[0]).abs() < 1e-6);
    // A learned σ_y: codes with σ 0.5 and 1.5 and means ±1 give σ² = (0.25 + 2.25)/2 + 1 = 2.25.
    let c = Conditional::Regression {
        mu: Tensor::from_slice(&[1.0f32, -1.0]).view([2, 1, 1]),
        sigma: Tensor::from_slice(&[0.5f32, 1.5]).view([2, 1, 1]),
    };
    assert!(close(c.uncertainty().double_value(&[0]), 1.5, 1e-6));
}

#[test]
fn knee_normalisation_variants() {
    // CLUE reaches the best benefit at small cost; "sens" buys slightly more benefit at a
    // huge cost. Over all methods that cost sets c_max; over CLUE alone CLUE's own cost does.
    let clue = vec![(1.0, 0.9), (2.0, 1.0)];
    let sens = vec![(100.0, 1.1)];
    let all = knee_scores(&[clue.clone(), sens.clone()]).unwrap();
    let sub = knee_scores_normalised_by(&[clue.clone(), sens.clone()], &[0]).unwrap();
    let r2 = std::f64::consts::SQRT_2;
    // All: c_max 100, b_max 1.1. CLUE's best point: (2, 1.0).
    let expect = |c: f64, b: f64, cm: f64, bm: f64| ((c / (r2 * cm)).powi(2) + ((bm - b) / (r2 * bm)).powi(2)).sqrt();
    assert!(close(all[0], expect(1.0, 0.9, 100.0, 1.1).min(expect(2.0, 1.0, 100.0, 1.1)), 1e-12));
    assert!(close(all[1], expect(100.0, 1.1, 100.0, 1.1), 1e-12));
    // CLUE-only maxima: c_max 2, b_max 1; sens scores above 1 (it is off the normalised chart).
    assert!(close(sub[0], expect(1.0, 0.9, 2.0, 1.0).min(expect(2.0, 1.0, 2.0, 1.0)), 1e-12));
    assert!(sub[1] > 1.0, "{sub:?}");
    assert!(knee_scores_normalised_by(std::slice::from_ref(&clue), &[]).is_err());
    assert!(knee_scores_normalised_by(&[clue], &[3]).is_err());
    assert!(knee_scores(&[vec![(f64::NAN, 1.0)]]).is_err());
}

fn curve(unc: &str, method: &str, dx: f64, logp_cost: f64, benefit: f64) -> CurveRow {
    CurveRow {
        dataset: "toy".into(),
        unc_type: unc.into(),
        method: method.into(),
        hyper: 1.0,
        mean_dx: dx,
        mean_dx_categorical: 0.0,
        valid_fraction: 1.0,
        mean_benefit: benefit,
        mean_logpx: -logp_cost,
        logpx_cost: logp_cost,
        gt_unc_after: 0.0,
        err_after: 0.0,
        bnn_unc_before: 0.0,
        bnn_unc_after: 0.0,
        mean_steps: 1.0,
        n: 1,
    }
}

#[test]
fn knee_tables_split_by_objective_and_cost() {
    let curves = vec![
        curve("aleatoric", "clue", 1.0, 0.0, 0.5),
        curve("aleatoric", "ufido", 0.5, 0.0, 0.1),
        curve("aleatoric", "sensitivity", 10.0, 100.0, 0.5),
        curve("epistemic", "clue", 1.0, 0.0, 0.0),
        curve("epistemic", "sensitivity", 2.0, 3.0, 0.0),
    ];
    let (t1, t2) = knee_tables(&curves).unwrap();
    assert_eq!(t1.len(), 5);
    assert_eq!(t2.len(), 5);
    let get = |t: &[clue::experiments::artificial_report::KneeRow], u: &str, m: &str| {
        t.iter().find(|r| r.unc_type == u && r.method == m).unwrap().clone()
    };
    let r2 = std::f64::consts::SQRT_2;
    // Table 2: CLUE reaches b_max with zero log p cost → 0; Sensitivity pays the whole c_max → 1/√2.
    assert!(get(&t2, "aleatoric", "clue").knee_all_methods.abs() < 1e-12);
    assert!(close(get(&t2, "aleatoric", "sensitivity").knee_all_methods, 1.0 / r2, 1e-12));
    // Table 1: CLUE costs 1 of c_max 10 → 0.1/√2.
    assert!(close(get(&t1, "aleatoric", "clue").knee_all_methods, 0.1 / r2, 1e-12));
    // Without a benefit anywhere every method scores 1/√2 (COMPAS epistemic in the paper).
    assert!(close(get(&t2, "epistemic", "clue").knee_all_methods, 1.0 / r2, 1e-12));
    // CLUE+U-FIDO normalisation: c_max 1 for Table 1, so CLUE's (1, 0.5) → 1/√2.
    assert!(close(get(&t1, "aleatoric", "clue").knee_clue_ufido, 1.0 / r2, 1e-12));
}

#[test]
fn gumbel_max_block_sampling_matches_softmax() {
    tch::manual_seed(11);
    let blocks = Blocks::new(&[1, 2]).unwrap();
    let n = 20_000;
    // logits (0, ln 3): P(class 1) = 0.75; continuous dim mean 2 with N(0, 1) noise.
    let raw = Tensor::from_slice(&[2.0f32, 0.0, 3f32.ln()]).view([1, 3]).expand([n, 3], false).contiguous();
    let x = sample_blocks(&blocks, &raw);
    blocks.validate_rows(&x).unwrap();
    let p1 = x.select(1, 2).mean(Kind::Float).double_value(&[]);
    assert!(close(p1, 0.75, 0.015), "{p1}");
    let c = x.select(1, 0);
    assert!(close(c.mean(Kind::Float).double_value(&[]), 2.0, 0.03));
    assert!(close(c.std(true).double_value(&[]), 1.0, 0.03));
}

#[test]
fn validity_and_categorical_distance() {
    let blocks = Blocks::new(&[1, 3]).unwrap();
    let x0 = Tensor::from_slice(&[0.5f32, 1.0, 0.0, 0.0, -1.0, 0.0, 1.0, 0.0]).view([2, 4]);
    let x = Tensor::from_slice(&[3.5f32, 0.0, 1.0, 0.0, -1.0, 0.2, 0.9, 0.0]).view([2, 4]);
    let ok: Vec<bool> = Vec::try_from(valid_rows(&blocks, &x)).unwrap();
    assert_eq!(ok, vec![true, false]);
    let d: Vec<f32> = Vec::try_from(categorical_l1(&blocks, &x0, &x)).unwrap();
    assert!(close(d[0] as f64, 2.0, 1e-6) && close(d[1] as f64, 0.3, 1e-6), "{d:?}");
}

/// A small ground truth over a toy table whose label is the first category of x.
fn toy_ground_truth() -> (GroundTruth, Tensor) {
    tch::manual_seed(3);
    let blocks = Blocks::new(&[2, 1, 1]).unwrap();
    let n = 600;
    let cls = Tensor::randint(2, [n], (Kind::Int64, Device::Cpu));
    let c1 = cls.to_kind(Kind::Float) * 2.0 - 1.0 + Tensor::randn([n], (Kind::Float, Device::Cpu)) * 0.3;
    let c2 = Tensor::randn([n], (Kind::Float, Device::Cpu));
    let x = Tensor::cat(&[cls.one_hot(2).to_kind(Kind::Float), c1.unsqueeze(1), c2.unsqueeze(1)], 1);
    let target = Target::Classes(2);
    let joint = join(&x, &cls, target);
    let jb = joint_blocks(&blocks, target).unwrap();
    assert_eq!(jb.widths(), &[2, 1, 1, 2]);
    let spec = VaeSpec { width: 32, depth: 2, latent_dim: 3 };
    let mut vaeac = Vaeac::new(jb, spec, Device::Cpu).unwrap();
    vaeac.fit(&joint, 40, 64, 3e-3).unwrap();
    vaeac.vs.freeze();
    let mut under =
        TabularVae::new(Blocks::continuous(3).unwrap(), VaeSpec { width: 16, depth: 2, latent_dim: 2 }, Device::Cpu)
            .unwrap();
    let hist = fit_under_vae(&vaeac, &mut under, &joint, 20, 64, 3e-3).unwrap();
    assert!(hist.iter().all(|v| v.is_finite()));
    under.freeze();
    (GroundTruth::new(blocks, target, vaeac, under).unwrap(), x)
}

#[test]
fn small_ground_truth_samples_scores_and_answers() {
    let (gt, x) = toy_ground_truth();
    // Samples: valid one-hot rows, labels in range, and the label follows x's category as in the data.
    let (xs, ys) = gt.sample(400).unwrap();
    assert_eq!(xs.size(), vec![400, 4]);
    gt.x_blocks.validate_rows(&xs).unwrap();
    let agree =
        xs.narrow(1, 0, 2).argmax(1, false).eq_tensor(&ys).to_kind(Kind::Float).mean(Kind::Float).double_value(&[]);
    assert!(agree > 0.8, "sampled labels agree with the category only {agree}");
    // The conditional: probabilities sum to 1; the ground-truth label recovers the category.
    let probe = x.narrow(0, 0, 100);
    let c = gt.conditional(&probe, 20).unwrap();
    if let Conditional::Classes(p) = &c {
        assert_eq!(p.size(), vec![20, 100, 2]);
        assert!((p.sum_dim_intlist(2, false, Kind::Float) - 1.0).abs().max().double_value(&[]) < 1e-5);
    } else {
        panic!("classification ground truth answered with a regression conditional");
    }
    let acc = c.label().eq_tensor(&probe.narrow(1, 0, 2).argmax(1, false).to_kind(Kind::Float)).to_kind(Kind::Float);
    assert!(acc.mean(Kind::Float).double_value(&[]) > 0.8);
    // log p: finite; the same seed gives the same value (common random numbers); data rows are
    // more likely than rows pushed 8 standard deviations off along a continuous dim.
    tch::manual_seed(5);
    let lp = gt.log_px(&probe, 64).unwrap();
    tch::manual_seed(5);
    let lp2 = gt.log_px(&probe, 64).unwrap();
    assert_eq!((&lp - &lp2).abs().max().double_value(&[]), 0.0);
    assert!(lp.isfinite().all().int64_value(&[]) == 1);
    let far = &probe + Tensor::from_slice(&[0.0f32, 0.0, 0.0, 8.0]).view([1, 4]);
    tch::manual_seed(5);
    let lp_far = gt.log_px(&far, 64).unwrap();
    let drop = (lp.mean(Kind::Float) - lp_far.mean(Kind::Float)).double_value(&[]);
    assert!(drop > 20.0, "moving 8σ off the data lowered log p by only {drop} nats");
    // Chunked importance sampling (many draws) agrees with one chunk up to Monte-Carlo noise.
    let lp_big = gt.log_px(&probe.narrow(0, 0, 4), 3000).unwrap();
    assert!(lp_big.isfinite().all().int64_value(&[]) == 1);
    // Bad input: errors, not panics.
    assert!(gt.conditional(&Tensor::zeros([3, 5], (Kind::Float, Device::Cpu)), 4).is_err());
    assert!(gt.log_px(&probe, 0).is_err());
    assert!(gt.sample(0).is_err());
}

#[test]
fn ground_truth_rejects_mismatched_models() {
    let blocks = Blocks::new(&[2, 1]).unwrap();
    let spec = VaeSpec { width: 8, depth: 1, latent_dim: 2 };
    // The VAEAC is over x only (no label block).
    let vaeac = Vaeac::new(blocks.clone(), spec, Device::Cpu).unwrap();
    let under = TabularVae::new(Blocks::continuous(2).unwrap(), spec, Device::Cpu).unwrap();
    assert!(GroundTruth::new(blocks.clone(), Target::Classes(2), vaeac, under).is_err());
    // The under-VAE does not cover the VAEAC's 2-d codes.
    let vaeac = Vaeac::new(joint_blocks(&blocks, Target::Regression).unwrap(), spec, Device::Cpu).unwrap();
    let under = TabularVae::new(Blocks::continuous(3).unwrap(), spec, Device::Cpu).unwrap();
    assert!(GroundTruth::new(blocks.clone(), Target::Regression, vaeac, under).is_err());
    assert!(joint_blocks(&blocks, Target::Classes(1)).is_err());
}

#[test]
fn validated_vaeac_fit_restores_its_best_epoch_and_stops_on_patience() {
    tch::manual_seed(5);
    let blocks = Blocks::new(&[2, 1, 1]).unwrap();
    let n = 400;
    let cls = Tensor::randint(2, [n], (Kind::Int64, Device::Cpu));
    let c1 = cls.to_kind(Kind::Float) * 2.0 - 1.0 + Tensor::randn([n], (Kind::Float, Device::Cpu)) * 0.3;
    let x = Tensor::cat(
        &[cls.one_hot(2).to_kind(Kind::Float), c1.unsqueeze(1), Tensor::randn([n, 1], (Kind::Float, Device::Cpu))],
        1,
    );
    let (xt, xv) = (x.narrow(0, 0, 300), x.narrow(0, 300, 100));
    let mut vaeac = Vaeac::new(blocks, VaeSpec { width: 32, depth: 2, latent_dim: 3 }, Device::Cpu).unwrap();
    let p = VaeTrainParams { epochs: 300, batch_size: 32, lr: 1e-2, patience: 3 };
    tch::manual_seed(11);
    let f = vaeac.fit_validated(&xt, &xv, &p).unwrap();
    let best = f.history.iter().map(|e| e.val_elbo).fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(f.best_val_elbo, best);
    assert_eq!(f.history[f.best_epoch].val_elbo, best);
    // Stopped `patience` epochs after the best one, long before the budget.
    assert!(f.history.len() < p.epochs, "ran all {} epochs", f.history.len());
    assert_eq!(f.history.len(), f.best_epoch + 1 + p.patience);
    // The best epoch's weights are the ones left: the same masks (the fit's first RNG draw)
    // score them at the recorded best, not at the last epoch's value.
    tch::manual_seed(11);
    let mask = vaeac.top_mask(100, Device::Cpu);
    let restored = vaeac.validation_score(&xv, &mask);
    assert!((restored - best).abs() < 1e-5, "restored {restored} vs best {best}");
    assert!((restored - f.history.last().unwrap().val_elbo).abs() > 1e-7);
    // Bad rows are refused.
    assert!(vaeac.fit_validated(&xt.narrow(1, 0, 3), &xv, &p).is_err());
}
