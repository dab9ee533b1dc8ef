//! Properties of the disvae building blocks (spec §8, items 15, 16, 18): Burgess VAE parameter
//! counts, VAE loss identities, and the streaming unit-map metrics.

use lfxai::disentanglement::UnitMapStats;
use lfxai::features::per_unit_gradient_shap;
use lfxai::nets::count;
use lfxai::vae::{beta_vae_loss, kl_normal, log_ratio_mean, reconstruction_loss, tcvae_terms, BurgessVae};
use tch::{Device, Kind, Tensor};

/// libtorch's generator is global and the tests of one binary run in parallel: each test
/// holds this lock so its seeded draws are its own and every run sees the same values.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn rng_lock() -> std::sync::MutexGuard<'static, ()> {
    RNG.lock().unwrap_or_else(|e| e.into_inner())
}

const D: (Kind, Device) = (Kind::Double, Device::Cpu);

fn params(vae: &BurgessVae, prefix: &str) -> i64 {
    count(&lfxai::nets::named_trainable(&vae.vs, prefix).into_iter().map(|(_, t)| t).collect::<Vec<_>>())
}

#[test]
fn burgess_vae_parameter_counts_and_shapes() {
    let _rng = rng_lock();
    let small = BurgessVae::new(Device::Cpu, 32, 1, 3).unwrap();
    assert_eq!((params(&small, "encoder"), params(&small, "decoder")), (232_038, 231_745));
    let big = BurgessVae::new(Device::Cpu, 64, 1, 6).unwrap();
    assert_eq!((params(&big, "encoder"), params(&big, "decoder")), (249_996, 248_929));
    let x = Tensor::rand([2, 1, 32, 32], (Kind::Float, Device::Cpu));
    let (recon, mu, logvar, z) = small.forward_t(&x, true);
    assert_eq!(
        (recon.size(), mu.size(), logvar.size(), z.size()),
        (vec![2, 1, 32, 32], vec![2, 3], vec![2, 3], vec![2, 3])
    );
    let (_, mu_e, _, z_e) = small.forward_t(&x, false);
    assert!(mu_e.equal(&z_e), "z = μ at evaluation");
    assert!(BurgessVae::new(Device::Cpu, 48, 1, 3).unwrap_err().to_string().contains("32 or 64"));
    // Per-unit maps of the μ head: [B, d, 1, 32, 32], non-negative.
    let enc = |t: &Tensor| small.encode(t).0;
    let maps = per_unit_gradient_shap(&enc, &x, &Tensor::zeros([1, 1, 32, 32], (Kind::Float, Device::Cpu)), 2).unwrap();
    assert_eq!(maps.size(), [2, 3, 1, 32, 32]);
    assert!(maps.min().double_value(&[]) >= 0.0);
}

#[test]
fn vae_loss_identities() {
    let _rng = rng_lock();
    tch::manual_seed(0);
    let (mu, logvar) = (Tensor::randn([4, 3], D), Tensor::randn([4, 3], D) * 0.5);
    // Closed-form KL against Monte Carlo.
    let reps = 20_000;
    let (mu_r, lv_r) = (mu.repeat([reps, 1]), logvar.repeat([reps, 1]));
    let z = &mu_r + (&lv_r * 0.5).exp() * mu_r.randn_like();
    let mc = log_ratio_mean(&z, &mu_r, &lv_r).double_value(&[]);
    let exact = kl_normal(&mu, &logvar).double_value(&[]);
    assert!((mc - exact).abs() <= 1e-2 * exact.abs().max(1.0), "{mc} vs {exact}");
    // β-TCVAE: MI + TC + DWKL = mean(log q(z|x) − log p(z)) exactly.
    let z = &mu + (&logvar * 0.5).exp() * mu.randn_like();
    let (mi, tc, dwkl) = tcvae_terms(&z, &mu, &logvar);
    let sum = (mi + tc + dwkl).double_value(&[]);
    assert!((sum - log_ratio_mean(&z, &mu, &logvar).double_value(&[])).abs() < 1e-10);
    // β = 0: only the reconstruction term.
    let x = Tensor::rand([4, 1, 8, 8], D).round();
    let recon = Tensor::rand([4, 1, 8, 8], D) * 0.98 + 0.01;
    let l0 = beta_vae_loss(&recon, &x, &mu, &logvar, 0.0).double_value(&[]);
    assert!((l0 - reconstruction_loss(&recon, &x).double_value(&[])).abs() < 1e-12);
}

#[test]
fn unit_map_metrics() {
    let _rng = rng_lock();
    tch::manual_seed(1);
    let one = Tensor::rand([5, 1, 4, 4], D);
    let same = one.repeat([1, 3, 1, 1]); // identical unit maps
    let mut s = UnitMapStats::new(3);
    s.update(&same).unwrap();
    assert!((s.pearson() - 1.0).abs() < 1e-9 && (s.cosine() - 1.0).abs() < 1e-9);
    assert!((s.entropy() - 3f64.ln()).abs() < 1e-12, "uniform shares: ln d");
    assert_eq!(s.active_neurons(), 0.0, "a share of exactly 1/d is not active");
    let peaked = Tensor::zeros([2, 3, 4, 4], D);
    let _ = peaked.narrow(1, 0, 1).fill_(1.0);
    let mut p = UnitMapStats::new(3);
    p.update(&peaked).unwrap();
    assert!(p.entropy().abs() < 1e-12 && (p.active_neurons() - 1.0).abs() < 1e-12);
    // Streaming over chunks equals the two-pass Pearson on everything.
    let maps = Tensor::rand([9, 4, 3, 3], D);
    let mut st = UnitMapStats::new(4);
    for i in 0..3 {
        st.update(&maps.narrow(0, 3 * i, 3)).unwrap();
    }
    let flat = maps.transpose(0, 1).reshape([4, -1]);
    let corr = flat.corrcoef();
    for j in 0..4 {
        for k in 0..4 {
            assert!((st.pearson_matrix()[j][k] - corr.double_value(&[j as i64, k as i64])).abs() < 1e-9);
        }
    }
    assert!(st.update(&Tensor::rand([2, 5, 3, 3], D)).unwrap_err().to_string().contains("expected [B, 4"));
}

/// 1-based average ranks by counting, independent of the crate's sort-based ranking.
fn ranks_by_counting(v: &[f64]) -> Vec<f64> {
    v.iter()
        .map(|&x| {
            let below = v.iter().filter(|&&y| y < x).count() as f64;
            let equal = v.iter().filter(|&&y| y == x).count() as f64;
            below + (equal + 1.0) / 2.0
        })
        .collect()
}

fn corr(a: &[f64], b: &[f64]) -> f64 {
    let t = Tensor::stack(&[Tensor::from_slice(a), Tensor::from_slice(b)], 0);
    t.corrcoef().double_value(&[0, 1])
}

#[test]
fn streaming_statistics_equal_a_direct_computation() {
    let _rng = rng_lock();
    tch::manual_seed(7);
    let (b, d, p) = (6usize, 3usize, 16usize);
    let maps = Tensor::rand([b as i64, d as i64, 1, 4, 4], D);
    // Ties and empty pixels: pixel 0 is zero in every unit of every image (left out of the
    // entropy / active counts), pixel 1 is zero in unit 0 only.
    let _ = maps.narrow(4, 0, 1).narrow(3, 0, 1).fill_(0.0);
    let _ = maps.narrow(1, 0, 1).narrow(4, 1, 1).narrow(3, 0, 1).fill_(0.0);
    let v = Vec::<f64>::try_from(maps.flatten(0, -1)).unwrap();
    let at = |i: usize, j: usize, q: usize| v[(i * d + j) * p + q];
    let unit =
        |j: usize| (0..b).flat_map(|i| (0..p).map(move |q| (i, q))).map(|(i, q)| at(i, j, q)).collect::<Vec<_>>();
    let pairs: Vec<(usize, usize)> =
        (0..d).flat_map(|j| (0..d).filter(move |&k| k != j).map(move |k| (j, k))).collect();
    let mean_pairs =
        |f: &dyn Fn(usize, usize) -> f64| pairs.iter().map(|&(j, k)| f(j, k)).sum::<f64>() / pairs.len() as f64;
    let pearson = mean_pairs(&|j, k| corr(&unit(j), &unit(k)));
    let spearman = mean_pairs(&|j, k| corr(&ranks_by_counting(&unit(j)), &ranks_by_counting(&unit(k))));
    let cosine = (0..b)
        .map(|i| {
            mean_pairs(&|j, k| {
                let dot: f64 = (0..p).map(|q| at(i, j, q) * at(i, k, q)).sum();
                let nj: f64 = (0..p).map(|q| at(i, j, q).powi(2)).sum::<f64>().sqrt();
                let nk: f64 = (0..p).map(|q| at(i, k, q).powi(2)).sum::<f64>().sqrt();
                dot / (nj * nk)
            })
        })
        .sum::<f64>()
        / b as f64;
    let (mut ent, mut act, mut count) = (0.0, 0.0, 0.0);
    for i in 0..b {
        for q in 0..p {
            let total: f64 = (0..d).map(|j| at(i, j, q)).sum();
            if total <= 0.0 {
                continue;
            }
            let shares: Vec<f64> = (0..d).map(|j| at(i, j, q) / total).collect();
            ent -= shares.iter().filter(|&&s| s > 0.0).map(|s| s * s.ln()).sum::<f64>();
            act += shares.iter().filter(|&&s| s > 1.0 / d as f64).count() as f64;
            count += 1.0;
        }
    }
    assert_eq!(count, (b * (p - 1)) as f64, "only the all-zero pixel is left out");
    let mut st = UnitMapStats::with_spearman_sample(d, 10_000, 3);
    for chunk in 0..3 {
        st.update(&maps.narrow(0, 2 * chunk, 2)).unwrap();
    }
    assert_eq!(st.spearman_positions(), b * p, "the reservoir holds every position");
    for (name, got, want) in [
        ("pearson", st.pearson(), pearson),
        ("spearman", st.spearman(), spearman),
        ("cosine", st.cosine(), cosine),
        ("entropy", st.entropy(), ent / count),
        ("active", st.active_neurons(), act / count),
    ] {
        assert!((got - want).abs() < 1e-9, "{name}: streaming {got} vs direct {want}");
    }
    assert!(spearman < pearson + 0.5 && spearman != pearson, "ranks change the value: {spearman} vs {pearson}");
    // A reservoir smaller than the pool keeps exactly `cap` positions and the same rank
    // correlation up to sampling error; the same seed keeps the same positions.
    let sampled = |seed| {
        let mut s = UnitMapStats::with_spearman_sample(d, 40, seed);
        for chunk in 0..3 {
            s.update(&maps.narrow(0, 2 * chunk, 2)).unwrap();
        }
        s
    };
    let (a, a2, c) = (sampled(1), sampled(1), sampled(2));
    assert_eq!(a.spearman_positions(), 40);
    assert_eq!(a.spearman(), a2.spearman(), "seeded sample");
    assert_ne!(a.spearman(), c.spearman(), "another seed, another sample");
    assert!((-1.0..=1.0).contains(&a.spearman()));
    assert_eq!(a.pearson(), st.pearson(), "the sample only affects Spearman");
}

#[test]
fn average_ranks_share_ties() {
    assert_eq!(lfxai::disentanglement::average_ranks(&[3.0, 1.0, 2.0, 2.0]), vec![4.0, 1.0, 2.5, 2.5]);
    // Known value: Spearman of [1, 2, 2, 3] and [1, 2, 3, 4] = 4.5 / √22.5.
    let want = 4.5 / 22.5f64.sqrt();
    let a = Tensor::from_slice(&[1.0f64, 2.0, 2.0, 3.0]);
    let b = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0]);
    let mut st = UnitMapStats::new(2);
    st.update(&Tensor::stack(&[a, b], 0).view([1, 2, 4])).unwrap();
    assert!((st.spearman() - want).abs() < 1e-12, "{}", st.spearman());
}
