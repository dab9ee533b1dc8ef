//! `datasets info` and `datasets show`: a summary per dataset and a PNG grid of samples.

use crate::{Error, Result};
use std::fmt::Write as _;
use std::path::Path;
use tch::{Kind, Tensor};

/// Class counts of an integer label tensor, as "k: n" pairs.
pub fn class_counts(labels: &Tensor) -> Vec<(i64, i64)> {
    let labels = labels.to_kind(Kind::Int64).flatten(0, -1);
    if labels.numel() == 0 {
        return Vec::new();
    }
    let min = labels.min().int64_value(&[]);
    let counts = (labels - min).bincount(None::<Tensor>, 0);
    let v: Vec<i64> = Vec::<i64>::try_from(&counts).unwrap_or_default();
    v.into_iter().enumerate().filter(|(_, c)| *c > 0).map(|(k, c)| (k as i64 + min, c)).collect()
}

fn describe(out: &mut String, name: &str, x: &Tensor) {
    let _ = writeln!(out, "  {name}: shape {:?}, {:?}", x.size(), x.kind());
}

fn describe_labels(out: &mut String, name: &str, y: &Tensor) {
    let counts: Vec<String> = class_counts(y).iter().map(|(k, c)| format!("{k}: {c}")).collect();
    let _ = writeln!(out, "  {name}: {} labels; classes {{{}}}", y.size()[0], counts.join(", "));
}

/// A text summary (shapes, class counts) of dataset `name` under `root`.
pub fn info(root: &Path, name: &str) -> Result<String> {
    let mut out = format!("{name} ({})\n", root.join(name).display());
    match name {
        "mnist" => {
            let m = super::mnist::load(root)?;
            describe(&mut out, "train_images", &m.train_images);
            describe_labels(&mut out, "train_labels", &m.train_labels);
            describe(&mut out, "test_images", &m.test_images);
            describe_labels(&mut out, "test_labels", &m.test_labels);
        }
        "toy_colors" => {
            let d = super::toy_colors::load(root)?;
            describe(&mut out, "train_images (arr_0)", &d.train_images);
            describe_labels(&mut out, "train_labels (arr_2, 1 = rules violated)", &d.train_labels);
            describe(&mut out, "test_images (arr_1)", &d.test_images);
            describe_labels(&mut out, "test_labels (arr_3)", &d.test_labels);
        }
        "sst" => {
            let d = super::sst::load(root)?;
            for (split, trees) in [("train", &d.train), ("dev", &d.dev), ("test", &d.test)] {
                let sent = super::sst::sentences(trees);
                let pos = sent.iter().filter(|e| e.label == super::sst::POSITIVE).count();
                let _ = writeln!(
                    out,
                    "  {split}: {} trees, {} binary sentences ({pos} positive), {} binary phrases",
                    trees.len(),
                    sent.len(),
                    super::sst::phrases(trees).len()
                );
            }
        }
        "ecg5000" => {
            let d = super::ecg::load(root)?;
            for (split, s) in [("train", &d.train), ("test", &d.test)] {
                describe(&mut out, &format!("{split} x"), &s.x);
                describe_labels(&mut out, &format!("{split} y"), &s.y);
            }
        }
        "compas" | "lsat" | "credit" | "wine" => {
            let d = table(root, name)?;
            let _ = writeln!(out, "  schema blocks {:?} (flat D = {})", d.schema.blocks(), d.schema.flat_dim());
            describe(&mut out, "train_x", &d.train_x);
            describe(&mut out, "test_x", &d.test_x);
            if d.y_stats.is_none() {
                describe_labels(&mut out, "train_y", &d.train_y);
                describe_labels(&mut out, "test_y", &d.test_y);
            } else {
                describe(&mut out, "train_y (standardised)", &d.train_y);
            }
        }
        "cifar10" => {
            let d = super::cifar::load(root)?;
            describe(&mut out, "train_images", &d.train_images);
            describe_labels(&mut out, "train_labels", &d.train_labels);
            describe(&mut out, "test_images", &d.test_images);
            describe_labels(&mut out, "test_labels", &d.test_labels);
        }
        "dsprites" => {
            let d = super::dsprites::load(root)?;
            describe(&mut out, "imgs", &d.imgs);
            describe(&mut out, "latents_classes", &d.latents_classes);
            describe(&mut out, "latents_values", &d.latents_values);
        }
        other => return Err(Error::invalid("dataset", format!("`info` does not know how to load `{other}`"))),
    }
    Ok(out)
}

/// Image samples `[N,C,H,W]` in [0,1] of an image dataset, or `None` for other data.
fn samples(root: &Path, name: &str, n: usize) -> Result<Option<Tensor>> {
    let n = n.max(1) as i64;
    Ok(match name {
        "mnist" => {
            let (x, _) = super::mnist::load_split(root, false)?;
            Some(x.narrow(0, 0, n.min(x.size()[0])))
        }
        "toy_colors" => {
            let d = super::toy_colors::load(root)?;
            let x = d.train_images.narrow(0, 0, n.min(d.train_images.size()[0]));
            Some(x.view([-1, 5, 5, 3]).permute([0, 3, 1, 2]).to_kind(Kind::Float) / 255.0)
        }
        "cifar10" => {
            let (x, _) = super::cifar::read(&root.join("cifar10").join(super::cifar::TEST_FILE))?;
            Some(super::cifar::to_float(&x.narrow(0, 0, n.min(x.size()[0]))))
        }
        "dsprites" => {
            let d = super::dsprites::load(root)?;
            let idx = super::dsprites::sample_indices(n as usize, 0)
                .into_iter()
                .map(|i| (i % d.imgs.size()[0] as usize) as i64)
                .collect::<Vec<_>>();
            Some(super::dsprites::batch_f32(&d.imgs, &Tensor::from_slice(&idx)))
        }
        "dsprites-procedural" => Some(
            super::dsprites::procedural(&super::dsprites::sample_indices(n as usize, 0))
                .imgs
                .unsqueeze(1)
                .to_kind(Kind::Float),
        ),
        _ => None,
    })
}

/// The preprocessed table of a tabular dataset, with each paper's default split.
fn table(root: &Path, name: &str) -> Result<super::tabular::TabularData> {
    use super::tabular::*;
    match name {
        "compas" => compas::load_clue(root, 42),
        "lsat" => lsat::load(root),
        "credit" => credit::load(root, 42),
        _ => wine::load(root, wine::WineOptions::default()),
    }
}

/// Writes a PNG grid of `images` `[N, 1|3, H, W]` in [0, 1], scaled so small images stay visible.
pub fn write_grid(images: &Tensor, cols: usize, path: &Path) -> Result<()> {
    let s = images.size();
    let side = s.get(2).copied().unwrap_or(1).max(s.get(3).copied().unwrap_or(1)).max(1);
    let opts = crate::figures::GridOptions {
        columns: cols,
        scale: (64 / side).clamp(1, 8) as u32,
        padding: 1,
        frame_width: 0,
        ..Default::default()
    };
    crate::figures::save_grid(images, &opts, path)
}

/// `datasets show`: a PNG grid for image data (returns a line naming it), or the first
/// rows of a table.
pub fn show(root: &Path, name: &str, n: usize, out: &Path) -> Result<String> {
    if let Some(x) = samples(root, name, n)? {
        let cols = (x.size()[0] as f64).sqrt().ceil() as usize;
        write_grid(&x, cols, out)?;
        return Ok(format!("wrote {} samples of {name} to {}\n", x.size()[0], out.display()));
    }
    let mut text = String::new();
    match name {
        "compas" | "lsat" | "credit" | "wine" => {
            let d = table(root, name)?;
            let names: Vec<&str> = d.schema.columns.iter().map(|c| c.name()).collect();
            let _ = writeln!(
                text,
                "{name}: first {} preprocessed train rows; columns {names:?}, blocks {:?}",
                n.min(10),
                d.schema.blocks()
            );
            let rows = d.train_x.narrow(0, 0, (n.min(10) as i64).min(d.train_x.size()[0]));
            for (r, row) in Vec::<Vec<f32>>::try_from(&rows)?.iter().enumerate() {
                let cells: Vec<String> = row.iter().map(|v| format!("{v:.3}")).collect();
                let _ = writeln!(text, "  y={:.3}  x=[{}]", d.train_y.double_value(&[r as i64]), cells.join(", "));
            }
        }
        "sst" | "ecg5000" => {
            if name == "sst" {
                let d = super::sst::load(root)?;
                for e in super::sst::sentences(&d.train).iter().take(n.min(10)) {
                    let _ = writeln!(
                        text,
                        "  [{}] {}",
                        if e.label == super::sst::POSITIVE { "pos" } else { "neg" },
                        e.tokens.join(" ")
                    );
                }
            } else {
                let d = super::ecg::load(root)?;
                for r in 0..(n.min(5) as i64) {
                    let row = Vec::<f32>::try_from(d.train.x.get(r).narrow(0, 0, 8))?;
                    let _ = writeln!(text, "  class {}: {:?} ...", d.train.y.int64_value(&[r]), row);
                }
            }
        }
        _ => return Err(Error::invalid("dataset", format!("`show` does not know how to display `{name}`"))),
    }
    Ok(text)
}
