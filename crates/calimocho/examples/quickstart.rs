//! The library on your own binary concept data, in well under a minute:
//! `cargo run -p calimocho --example quickstart`.
//!
//! Each row has 8 binary concepts plus a bias column; the label is "concept 0 AND NOT
//! concept 3"; a decoy concept 5 copies the label on 95 % of the rows. The simulated user
//! knows the true explanation (+1 on concept 0, −1 on concept 3 for positives, the mirror
//! image for negatives) and corrects one relevance per query. The active loop learns the
//! label and, thanks to the corrections, relies on the right concepts instead of the decoy.

use calimocho::active::{run_fold, ActiveData};
use calimocho::params::{ActiveParams, SennParams, Strategy};
use calimocho::user::SimulatedUser;
use calimocho::Trainer;
use tch::{Device, Kind, Tensor};

fn main() -> anyhow::Result<()> {
    let rng = xai_core::device::seed_everything(0);
    let (n, c) = (3000i64, 9i64);
    let x = Tensor::randint(2, [n, c], (Kind::Float, Device::Cpu));
    let not3: Tensor = 1.0 - x.select(1, 3);
    let y = (x.select(1, 0) * not3).to_kind(Kind::Float);
    let flip = Tensor::rand([n], (Kind::Float, Device::Cpu)).lt(0.05).to_kind(Kind::Float);
    let decoy = (&y - &flip).abs();
    x.select(1, 5).copy_(&decoy);
    let _ = x.select(1, 8).fill_(1.0); // bias column
    let sign = &y * 2.0 - 1.0;
    let z = Tensor::zeros([n, c], (Kind::Float, Device::Cpu));
    z.select(1, 0).copy_(&(&sign * x.select(1, 0)));
    z.select(1, 3).copy_(&(-&sign * x.select(1, 3)));

    let test: Vec<i64> = (0..1000).collect();
    let known: Vec<i64> = (1000..1005).collect();
    let pool: Vec<i64> = (1005..n).collect();
    for (label, lambda1, corrections) in [("labels only", 0.0, 1), ("labels + 1 correction/query", 0.5, 1)] {
        let params = SennParams::with_widths(&[c]).lambdas(lambda1, 0.0);
        tch::manual_seed(0);
        let mut trainer = Trainer::new(&params, c, Device::Cpu, rng.clone())?;
        let mut user = SimulatedUser::new(&z, corrections, Some(c - 1))?;
        let data = ActiveData {
            x: &x,
            y: &y,
            z_star: &z,
            known: known.clone(),
            pool: pool.clone(),
            test: test.clone(),
            layout: None,
        };
        let ap = ActiveParams {
            strategy: Strategy::Random,
            n_corrected: corrections,
            iterations: 60,
            steps_per_fit: 50,
            eval_every: 20,
        };
        let records = run_fold(&mut trainer, &data, &mut user, &ap, |_| {})?;
        let m = records.last().and_then(|r| r.test.clone()).expect("last iteration is evaluated");
        let xt = x.narrow(0, 0, 1000);
        // Relevance actually used: mean |w_j · x_j| over the test rows.
        let w = (trainer.senn.explain(&xt) * &xt).abs().mean_dim(0, false, Kind::Float);
        println!(
            "{label:>28}: test acc {:.3}, L_z {:.3}; mean |w·x| of concept 0 {:.2}, 3 {:.2}, decoy 5 {:.2}",
            m.acc,
            m.zloss,
            w.double_value(&[0]),
            w.double_value(&[3]),
            w.double_value(&[5])
        );
    }
    Ok(())
}
