//! Core demo: trains a small CNN on MNIST and explains its predictions with Integrated
//! Gradients, leaving a run folder with metrics, a checkpoint and figures.

use anyhow::Context;
use clap::Parser;
use serde::{Deserialize, Serialize};
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Kind, Tensor};
use xai_core::attribution::{Attribution, IntegratedGradients, Target};
use xai_core::cli::CommonArgs;
use xai_core::figures::{self, ColorMap, GridOptions, LineChart, Series};
use xai_core::run::RunDir;
use xai_core::train::{self, FitOptions};
use xai_core::{checkpoint, config, data, device};

const EMBEDDED: &str = include_str!("../../../../configs/core/mnist_ig.toml");

#[derive(Parser)]
#[command(
    about = "Train a small MNIST CNN for a few epochs and write Integrated-Gradients saliency grids to a run folder"
)]
struct Cli {
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    experiment: String,
    seed: u64,
    data: DataConfig,
    train: TrainConfig,
    explain: ExplainConfig,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataConfig {
    train_subset: i64,
    test_subset: i64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrainConfig {
    epochs: usize,
    batch_size: i64,
    learning_rate: f64,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExplainConfig {
    images: i64,
    ig_steps: i64,
}

#[derive(Serialize)]
struct EpochRow {
    epoch: usize,
    train_loss: f64,
    test_loss: f64,
    test_accuracy: f64,
    seconds: f64,
}

#[derive(Serialize)]
struct StepRow {
    epoch: usize,
    step: usize,
    loss: f64,
}

fn subset(x: &Tensor, n: i64) -> Tensor {
    if n > 0 && n < x.size()[0] {
        x.narrow(0, 0, n)
    } else {
        x.shallow_clone()
    }
}

fn accuracy(model: &impl Module, x: &Tensor, y: &Tensor) -> (f64, f64) {
    tch::no_grad(|| {
        let (mut correct, mut loss) = (0.0, 0.0);
        for (xb, yb) in x.split(1000, 0).iter().zip(y.split(1000, 0).iter()) {
            let logits = model.forward(xb);
            loss += logits.cross_entropy_for_logits(yb).double_value(&[]) * xb.size()[0] as f64;
            correct += logits.argmax(-1, false).eq_tensor(yb).sum(Kind::Float).double_value(&[]);
        }
        let n = x.size()[0] as f64;
        (correct / n, loss / n)
    })
}

fn main() -> std::process::ExitCode {
    xai_core::cli::main_with(|| {
        let cli = Cli::parse();
        let cfg: config::Loaded<Config> = match &cli.common.config {
            Some(path) => config::load(path, &cli.common.overrides)?,
            None => config::parse(EMBEDDED, "<embedded configs/core/mnist_ig.toml>", &cli.common.overrides)?,
        };
        let c = &cfg.value;
        if c.train.batch_size <= 0 || c.train.epochs == 0 || c.explain.ig_steps < 2 || c.explain.images <= 0 {
            anyhow::bail!(
                "config {}: batch_size, epochs and explain.images must be positive and ig_steps at least 2",
                cfg.source
            );
        }
        device::set_threads(cli.common.threads);
        let dev = cli.common.device.resolve()?;
        let mut rng = device::seed_everything(c.seed);
        let root = data::data_root(cli.common.data_dir.as_deref());
        let mnist = data::mnist::load(&root)?;
        let x_train = subset(&mnist.train_images, c.data.train_subset).to_device(dev);
        let y_train = subset(&mnist.train_labels, c.data.train_subset).to_device(dev);
        let x_test = subset(&mnist.test_images, c.data.test_subset).to_device(dev);
        let y_test = subset(&mnist.test_labels, c.data.test_subset).to_device(dev);
        log::info!(
            "MNIST: {} training, {} test digits on {}",
            x_train.size()[0],
            x_test.size()[0],
            device::describe(dev)
        );

        let mut run = RunDir::create(&cli.common.runs_dir, "core", &c.experiment, &cfg.resolved_toml()?, c.seed, dev)?;
        let mut vs = nn::VarStore::new(dev);
        let model = xai_core::nn::mnist_cnn(vs.root());
        let mut opt = nn::Adam::default().build(&vs, c.train.learning_rate)?;
        let mut metrics = run.csv_log("metrics.csv")?;
        let mut steps_log = run.csv_log("steps.csv")?;
        let mut step_losses = vec![];

        let history = run.stage("train", |_| {
            let opts = FitOptions { label: "mnist-cnn".into(), epochs: c.train.epochs, ..Default::default() };
            train::fit(
                &opts,
                &mut vs,
                |epoch| {
                    let n_batches = (x_train.size()[0] + c.train.batch_size - 1) / c.train.batch_size;
                    let bar = xai_core::progress::StepBar::new(n_batches as usize);
                    let mut total = 0.0;
                    for (i, b) in train::batches(&[&x_train, &y_train], c.train.batch_size, true, &mut rng)?.enumerate()
                    {
                        let loss = model.forward(&b[0]).cross_entropy_for_logits(&b[1]);
                        opt.backward_step(&loss);
                        let l = train::ensure_finite(loss.double_value(&[]), || format!("training loss at step {i}"))?;
                        total += l;
                        bar.step(l);
                        if i % 20 == 0 {
                            steps_log.log(&StepRow { epoch, step: i, loss: l })?;
                            step_losses.push(((epoch - 1) as f64 * n_batches as f64 + i as f64, l));
                        }
                    }
                    bar.finish();
                    Ok(total / n_batches as f64)
                },
                || {
                    let (acc, loss) = accuracy(&model, &x_test, &y_test);
                    Ok((loss, vec![("test_accuracy".into(), acc)]))
                },
                |r| {
                    metrics.log(&EpochRow {
                        epoch: r.epoch,
                        train_loss: r.train_loss,
                        test_loss: r.val_loss,
                        test_accuracy: r.extra[0].1,
                        seconds: r.seconds,
                    })
                },
            )
        })?;
        let test_acc = history.last().map(|r| r.extra[0].1).unwrap_or(0.0);
        checkpoint::save(&vs, &run.checkpoints_dir().join("model.safetensors"))?;

        run.stage("explain", |run| {
            let n = c.explain.images.min(x_test.size()[0]);
            let x = x_test.narrow(0, 0, n);
            let y = y_test.narrow(0, 0, n);
            let pred = tch::no_grad(|| model.forward(&x).argmax(-1, false));
            let f = |t: &Tensor| model.forward(t);
            let attr = IntegratedGradients::new(c.explain.ig_steps).attribute(
                &f,
                &x,
                &Target::PerExample(pred.shallow_clone()),
            )?;
            // Signed IG scaled per image so each map uses the whole colour range.
            let a = attr.squeeze_dim(1);
            let scale = a.abs().amax([1, 2], true).clamp_min(1e-12);
            let overlay = figures::heatmap_overlay(&x, &(a / scale), ColorMap::BlueWhiteRed, 0.7)?;
            let preds = Vec::<i64>::try_from(&pred.to_device(tch::Device::Cpu))?;
            let labels = Vec::<i64>::try_from(&y.to_device(tch::Device::Cpu))?;
            let captions: Vec<String> =
                preds.iter().zip(&labels).map(|(p, l)| format!("pred {p} (true {l})")).collect();
            let frames: Vec<[u8; 3]> =
                preds.iter().zip(&labels).map(|(p, l)| if p == l { [40, 160, 40] } else { [200, 30, 30] }).collect();
            let grid = |imgs: &Tensor, title: &str, file: &str| {
                let opts = GridOptions {
                    columns: 8,
                    captions: Some(captions.clone()),
                    frames: Some(frames.clone()),
                    title: Some(title.into()),
                    ..Default::default()
                };
                figures::save_grid(imgs, &opts, &run.figures_dir().join(file))
            };
            grid(&x.to_device(tch::Device::Cpu), "test digits (green: correct)", "digits.png")?;
            grid(
                &overlay.to_device(tch::Device::Cpu),
                "Integrated Gradients (red +, blue -)",
                "integrated_gradients.png",
            )?;
            let chart = LineChart {
                title: "training loss".into(),
                x_label: "step".into(),
                y_label: "cross-entropy".into(),
                log_y: true,
                series: vec![Series {
                    name: "train".into(),
                    x: step_losses.iter().map(|p| p.0).collect(),
                    y: step_losses.iter().map(|p| p.1).collect(),
                    band: None,
                }],
                ..Default::default()
            };
            figures::line_chart(&chart, &run.figures_dir().join("training_loss.png"))
        })
        .context("explaining test digits")?;

        run.write_results(&serde_json::json!({ "test_accuracy": test_acc, "epochs": history.len() }))?;
        let rows = vec![xai_core::report::Row::new(
            "test accuracy (1 epoch, small CNN)",
            test_acc,
            xai_core::report::Check::AtLeast(0.95),
        )
        .note("sanity check of the core training loop; PyTorch's MNIST example reaches ~0.98 after one full epoch")];
        println!("{}", xai_core::report::write(run.path(), "core demo", &rows)?);
        let dir = run.finish()?;
        println!("run folder: {}", dir.display());
        Ok(())
    })
}
