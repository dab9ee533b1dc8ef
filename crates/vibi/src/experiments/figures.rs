//! The run's figures: the inspect batch, the top-k explanations with fidelity-coloured
//! frames, the explanation distribution, and the training curves.

use super::logs::{EpochRow, StepRow};
use crate::chunks::ChunkGrid;
use crate::Result;
use std::path::Path;
use tch::{Device, Kind, Tensor};
use xai_core::figures::{line_chart, save_grid, GridOptions, LineChart, Series};

/// Grid layout of willisk's figures: 8 columns, 2-px padding (64 MNIST images with 1-px
/// frames → 258×258 at scale 1).
fn layout(scale: u32, frames: Option<Vec<[u8; 3]>>) -> GridOptions {
    let frame_width = if frames.is_some() { 1 } else { 0 };
    GridOptions { columns: 8, scale, padding: 2, captions: None, frames, frame_width, title: None }
}

/// `test_batch.png`: images in [0, 1].
pub fn test_batch(x01: &Tensor, scale: u32, path: &Path) -> Result<()> {
    Ok(save_grid(&x01.to_device(Device::Cpu), &layout(scale, None), path)?)
}

/// Unselected pixels grey: x01·z + 0.5·(1 − z), `z` `[B, 1|C, H, W]` in [0, 1].
pub fn composite(x01: &Tensor, z: &Tensor) -> Tensor {
    x01 * z + (1.0 - z) * 0.5
}

/// Frame colours: green 0.5·(s + 0.5) where the black box is right on the true label,
/// else red of the same intensity.
pub fn frame_colours(strength: &Tensor, bb_correct: &Tensor) -> Result<Vec<[u8; 3]>> {
    let s = Vec::<f64>::try_from(strength.to_kind(Kind::Double).to_device(Device::Cpu))?;
    let ok = Vec::<bool>::try_from(bb_correct.to_device(Device::Cpu))?;
    Ok(s.iter()
        .zip(ok)
        .map(|(s, ok)| {
            let v = (255.0 * 0.5 * (s + 0.5)).round().clamp(0.0, 255.0) as u8;
            if ok {
                [0, v, 0]
            } else {
                [v, 0, 0]
            }
        })
        .collect())
}

/// `best_top_k.png`: the hard top-k explanation of each image, framed by fidelity.
pub fn top_k(x01: &Tensor, grid: &ChunkGrid, z: &Tensor, frames: Vec<[u8; 3]>, scale: u32, path: &Path) -> Result<()> {
    let img = composite(x01, &grid.upsample(z));
    Ok(save_grid(&img.to_device(Device::Cpu), &layout(scale, Some(frames)), path)?)
}

/// willisk's magnification of p(z|x) in the distribution figure: 8·(k/4)^1.3.
pub fn distribution_magnification(k: i64) -> f64 {
    8.0 * (k as f64 / 4.0).powf(1.3)
}

/// `best_distribution.png`: p(z|x) up-sampled and magnified as a soft mask.
pub fn distribution(
    x01: &Tensor,
    grid: &ChunkGrid,
    p: &Tensor,
    k: i64,
    frames: Vec<[u8; 3]>,
    scale: u32,
    path: &Path,
) -> Result<()> {
    let z = (grid.upsample(p) * distribution_magnification(k)).clamp(0.0, 1.0);
    Ok(save_grid(&composite(x01, &z).to_device(Device::Cpu), &layout(scale, Some(frames)), path)?)
}

/// Trailing moving average over `window` values (NaNs skipped).
pub fn moving_average(v: &[f64], window: usize) -> Vec<f64> {
    (0..v.len())
        .map(|i| {
            let lo = (i + 1).saturating_sub(window);
            let vals: Vec<f64> = v[lo..=i].iter().copied().filter(|x| x.is_finite()).collect();
            if vals.is_empty() {
                f64::NAN
            } else {
                vals.iter().sum::<f64>() / vals.len() as f64
            }
        })
        .collect()
}

/// `logs.png` (loss, CE, KL, τ; moving average of 50 steps) and `fidelity.png` (sampled
/// training accuracy and validation top-k fidelity, %) against epochs.
pub fn curves(steps: &[StepRow], epochs: &[EpochRow], steps_per_epoch: f64, dir: &Path) -> Result<()> {
    if steps.is_empty() {
        return Ok(());
    }
    let x: Vec<f64> = steps.iter().map(|r| (r.step + 1) as f64 / steps_per_epoch).collect();
    let series = |name: &str, f: &dyn Fn(&StepRow) -> f64| Series {
        name: name.into(),
        x: x.clone(),
        y: moving_average(&steps.iter().map(f).collect::<Vec<_>>(), 50),
        band: None,
    };
    let losses = LineChart {
        title: "training (moving average, 50 steps)".into(),
        x_label: "epoch".into(),
        y_label: "value".into(),
        series: vec![
            series("loss", &|r| r.loss),
            series("H(p,q)", &|r| r.ce),
            series("KL(z||r)", &|r| r.kl),
            series("temp", &|r| r.temp),
        ],
        ..Default::default()
    };
    line_chart(&losses, &dir.join("logs.png"))?;
    let fid = LineChart {
        title: "fidelity (%)".into(),
        x_label: "epoch".into(),
        y_label: "%".into(),
        series: vec![
            Series { name: "acc (sampled, train)".into(), ..series("", &|r| 100.0 * r.acc_sampled) },
            Series {
                name: "val top-k fidelity".into(),
                x: epochs.iter().map(|r| r.step as f64 / steps_per_epoch).collect(),
                y: epochs.iter().map(|r| 100.0 * r.val_fid_topk).collect(),
                band: None,
            },
        ],
        ..Default::default()
    };
    Ok(line_chart(&fid, &dir.join("fidelity.png"))?)
}
