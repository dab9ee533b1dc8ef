//! `pretext` (paper §4.2): for every run, a reconstruction, a denoising and an inpainting
//! autoencoder and a classifier share the encoder architecture; label-free |GradientShap|
//! maps (features) and DKNN scores (examples) of each are compared by Pearson and Spearman
//! correlation; per run, a saliency grid and a top-example grid of one test digit per class.

use super::pretext_figures::{one_per_class, saliency_maps, top_examples, PretextPanels};
use super::{data, train, Config};
use crate::disentanglement::average_ranks;
use crate::examples::dknn_scores;
use crate::features::label_free_attribution;
use crate::nets::{Autoencoder, MnistAutoencoder, MnistClassifier, Pretext};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};
use xai_core::optim::{AdamConfig, Optimizer};
use xai_core::report::{Check, Row};
use xai_core::runner::{Outcome, Session};
use xai_core::train::{Decision, EarlyStopping};

const TASKS: [&str; 4] = ["reconstruction", "denoising", "inpainting", "classification"];

/// One run's 4×4 matrices (Pearson and Spearman).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunMatrices {
    pub seed: u64,
    pub feature: Vec<Vec<f64>>,
    pub example: Vec<Vec<f64>>,
    pub feature_spearman: Vec<Vec<f64>>,
    pub example_spearman: Vec<Vec<f64>>,
}

fn train_classifier(
    cfg: &Config,
    data: &data::Dataset,
    seed: u64,
    device: tch::Device,
) -> anyhow::Result<MnistClassifier> {
    tch::manual_seed(seed as i64);
    let mut clf = MnistClassifier::new(device, cfg.model.latent_dim)?;
    let t = &cfg.train;
    let mut opt = AdamConfig::lr(t.lr).weight_decay(t.weight_decay).build(&clf.vs)?;
    let mut rng = xai_core::data::rng(seed);
    let mut stopper = EarlyStopping::new(t.patience.max(1), 0.0);
    let double_softmax = cfg.compat.classifier_double_softmax;
    let loss = |x: &Tensor, y: &Tensor, train: bool| {
        let logits = clf.logits(x, train);
        let logits = if double_softmax { logits.softmax(-1, logits.kind()) } else { logits };
        logits.cross_entropy_for_logits(y)
    };
    for epoch in 1..=t.epochs {
        for b in xai_core::train::batches(&[&data.train_x, &data.train_y], t.batch_size, t.shuffle, &mut rng)? {
            opt.backward_step(&loss(&b[0], &b[1], true));
        }
        let held = tch::no_grad(|| loss(&data.test_x, &data.test_y, false)).double_value(&[]);
        log::info!("seed {seed} classifier epoch {epoch}/{}: held-out cross-entropy {held:.4}", t.epochs);
        if stopper.update(epoch, held, &clf.vs) == Decision::Stop {
            break;
        }
    }
    stopper.restore_best(&mut clf.vs)?;
    Ok(clf)
}

fn pearson_matrix(rows: &[Tensor]) -> Vec<Vec<f64>> {
    let stacked = Tensor::stack(&rows.iter().map(|t| t.flatten(0, -1).to_kind(Kind::Double)).collect::<Vec<_>>(), 0);
    let c = stacked.corrcoef();
    (0..rows.len() as i64).map(|i| (0..rows.len() as i64).map(|j| c.double_value(&[i, j])).collect()).collect()
}

/// Pearson of average ranks (ties share a rank: the exact zeros of black pixels are most of
/// a feature map). A full sort per task: 10,000 × 784 values take about a second.
fn spearman_matrix(rows: &[Tensor]) -> anyhow::Result<Vec<Vec<f64>>> {
    let ranks = rows
        .iter()
        .map(|t| {
            let v = Vec::<f64>::try_from(t.flatten(0, -1).to_kind(Kind::Double).to_device(tch::Device::Cpu))?;
            Ok(Tensor::from_slice(&average_ranks(&v)))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(pearson_matrix(&ranks))
}

fn run_seed(session: &Session<'_, Config>, seed: u64, run: usize) -> anyhow::Result<RunMatrices> {
    let cfg = session.config;
    let data = data::load_dataset(&cfg.data, true, session.data_root, session.device, seed)?;
    let sub = data::balanced_indices(&data.train_y, cfg.examples.n_subtrain, 10)?;
    let xsub = data.train_x.index_select(0, &sub);
    let gs = crate::FeatureMethod::GradientShap {
        n_samples: cfg.features.gs_samples,
        stdev: 0.0,
        pairing: cfg.compat.pairing()?,
        baselines: crate::BaselineDraw::OwnExample,
    };
    let (mut feats, mut exs) = (vec![], vec![]);
    let shown = Tensor::from_slice(&one_per_class(&data.test_y, 10)?).to_device(data.test_x.device());
    let sub_y = data.train_y.index_select(0, &sub);
    let mut panels = PretextPanels {
        digits: data.test_x.index_select(0, &shown),
        labels: Vec::<i64>::try_from(
            data.test_y.index_select(0, &shown).to_kind(Kind::Int64).to_device(tch::Device::Cpu),
        )?,
        maps: vec![],
        top_images: vec![],
        top_labels: vec![],
    };
    let explain = |encoder: &dyn Fn(&Tensor) -> Tensor| -> anyhow::Result<(Tensor, Tensor)> {
        tch::manual_seed(seed as i64);
        let n = data.test_x.size()[0];
        let bs = cfg.features.batch_size;
        let attr = (0..n)
            .step_by(bs as usize)
            .map(|s| label_free_attribution(encoder, &data.test_x.narrow(0, s, bs.min(n - s)), &data.baseline, &gs))
            .collect::<crate::Result<Vec<_>>>()?;
        let latents = |x: &Tensor| {
            tch::no_grad(|| if cfg.compat.pretext_dknn_raw_pixels { encoder(&(x * 255.0)) } else { encoder(x) })
        };
        let (h, hs) = (latents(&data.test_x), latents(&xsub));
        Ok((Tensor::cat(&attr, 0).abs(), dknn_scores(&h, &hs)?))
    };
    for task in TASKS {
        let (f, e) = if task == "classification" {
            let clf = train_classifier(cfg, &data, seed, session.device)?;
            explain(&|x: &Tensor| clf.encoder.forward_t(x, false))?
        } else {
            let pretext = match task {
                "reconstruction" => Pretext::Identity,
                "denoising" => Pretext::Denoising { noise_std: cfg.model.noise_std },
                _ => Pretext::Inpainting { mask_prob: cfg.model.mask_prob },
            };
            tch::manual_seed(seed as i64);
            let mut ae = MnistAutoencoder::new(session.device, cfg.model.latent_dim)?;
            let tag = format!("seed{seed}_{task}");
            train::train_tagged(
                &cfg.train,
                &mut ae,
                pretext,
                (&data.train_x, &data.test_x),
                seed,
                &tag,
                session.run.path(),
            )?;
            explain(&|x: &Tensor| ae.latent(x, false))?
        };
        let top = e.index_select(0, &shown).argmax(1, false);
        panels.maps.push(f.index_select(0, &shown));
        panels.top_images.push(xsub.index_select(0, &top));
        panels
            .top_labels
            .push(Vec::<i64>::try_from(sub_y.index_select(0, &top).to_kind(Kind::Int64).to_device(tch::Device::Cpu))?);
        feats.push(f);
        // Zero distances (duplicates) give +∞: keep the correlations finite.
        exs.push(e.clamp_max(1e12));
    }
    let dir = session.run.path().join("pretext");
    if !panels.labels.is_empty() {
        saliency_maps(&panels, run, &dir.join(format!("saliency_maps_run{run}.png")))?;
        top_examples(&panels, run, &dir.join(format!("top_examples_run{run}.png")))?;
    }
    Ok(RunMatrices {
        seed,
        feature: pearson_matrix(&feats),
        example: pearson_matrix(&exs),
        feature_spearman: spearman_matrix(&feats)?,
        example_spearman: spearman_matrix(&exs)?,
    })
}

#[derive(Serialize)]
struct MatrixRow {
    task: String,
    reconstruction: f64,
    denoising: f64,
    inpainting: f64,
    classification: f64,
}

fn matrix_rows(m: &[Vec<f64>]) -> Vec<MatrixRow> {
    TASKS
        .iter()
        .zip(m)
        .map(|(t, r)| MatrixRow {
            task: t.to_string(),
            reconstruction: r[0],
            denoising: r[1],
            inpainting: r[2],
            classification: r[3],
        })
        .collect()
}

fn off_diagonal(m: &[Vec<f64>]) -> Vec<f64> {
    (0..4).flat_map(|i| (0..4).filter(move |&j| j != i).map(move |j| (i, j))).map(|(i, j)| m[i][j]).collect()
}

pub fn run(session: &mut Session<'_, Config>) -> anyhow::Result<Outcome> {
    let cfg = session.config;
    let started = std::time::Instant::now();
    let cells = session.cells()?;
    let dir = session.run.path().join("pretext");
    std::fs::create_dir_all(&dir)?;
    let mut runs = vec![];
    let mut skipped = 0;
    for (r, &seed) in cfg.run.seeds.iter().enumerate() {
        let cell =
            super::sweep::cell(&cells, &format!("pretext seed {seed}"), &mut skipped, || run_seed(session, seed, r))?;
        let Some(m) = cell else { continue };
        for (name, matrix) in [
            ("feature_pearson", &m.feature),
            ("example_pearson", &m.example),
            ("feature_spearman", &m.feature_spearman),
            ("example_spearman", &m.example_spearman),
        ] {
            xai_core::run::write_csv_rows(&dir.join(format!("{name}_run{r}.csv")), &matrix_rows(matrix))?;
        }
        runs.push(m);
    }
    let mean = |pick: &dyn Fn(&RunMatrices) -> &Vec<Vec<f64>>| -> Vec<Vec<f64>> {
        (0..4)
            .map(|i| (0..4).map(|j| runs.iter().map(|m| pick(m)[i][j]).sum::<f64>() / runs.len() as f64).collect())
            .collect()
    };
    let (fm, em) = (mean(&|m| &m.feature), mean(&|m| &m.example));
    let (fs, es) = (mean(&|m| &m.feature_spearman), mean(&|m| &m.example_spearman));
    for (name, matrix) in
        [("feature_pearson", &fm), ("example_pearson", &em), ("feature_spearman", &fs), ("example_spearman", &es)]
    {
        xai_core::run::write_csv_rows(&dir.join(format!("{name}.csv")), &matrix_rows(matrix))?;
    }
    let table = |m: &[Vec<f64>]| {
        let mut s = String::from("| | R | D | I | C |\n|---|---:|---:|---:|---:|\n");
        for (t, r) in ["R", "D", "I", "C"].iter().zip(m) {
            s += &format!("| {t} | {:.3} | {:.3} | {:.3} | {:.3} |\n", r[0], r[1], r[2], r[3]);
        }
        s
    };
    let md = format!(
        "# Pretext tasks: correlations across tasks (mean over {} runs)\n\n## Features (Pearson)\n\n{}\n\
         ## Examples (Pearson)\n\n{}\n## Features (Spearman)\n\n{}\n## Examples (Spearman)\n\n{}",
        runs.len(),
        table(&fm),
        table(&em),
        table(&fs),
        table(&es)
    );
    std::fs::write(dir.join("tables.md"), md)?;
    let mut rows = vec![];
    let ok = |m: &[Vec<f64>]| {
        let finite = m.iter().flatten().all(|v| v.is_finite());
        let sym = (0..4).all(|i| (0..4).all(|j| (m[i][j] - m[j][i]).abs() < 1e-9));
        (finite && sym) as i32 as f64
    };
    for (name, m, paper) in [("feature", &fm, 0.37), ("example", &em, 0.09)] {
        rows.push(Row::new(format!("{name} matrix finite and symmetric"), ok(m), Check::AtLeast(1.0)));
        let off = off_diagonal(m);
        let max = off.iter().cloned().fold(f64::MIN, f64::max);
        rows.push(
            Row::new(format!("{name} Pearson: largest off-diagonal"), max, Check::AtMost(0.95))
                .note("tasks are not interchangeable"),
        );
        let avg = off.iter().sum::<f64>() / off.len() as f64;
        rows.push(
            Row::new(format!("{name} Pearson: mean off-diagonal"), avg, Check::Report)
                .paper(paper, None)
                .note("paper/reproductions: features 0.31–0.44, examples 0.05–0.13"),
        );
    }
    let seconds = started.elapsed().as_secs_f64();
    session.run.write_json("timing.json", &serde_json::json!({ "seconds": seconds }))?;
    let results = serde_json::json!({
        "feature_pearson": fm,
        "example_pearson": em,
        "feature_spearman": fs,
        "example_spearman": es,
        "seconds": seconds,
    });
    let mut outcome = Outcome::new(format!("LFXAI pretext ({}) — ours vs paper", session.label), rows, results);
    outcome.failed_cells = skipped;
    Ok(outcome)
}
