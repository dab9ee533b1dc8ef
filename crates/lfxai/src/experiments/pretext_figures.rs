//! The pretext figures of one run: saliency maps of one test digit per class under every
//! task's encoder, and each task's most similar training example (arg-max DKNN).

use std::path::Path;
use tch::{Kind, Tensor};
use xai_core::figures::{
    heatmap_overlay, save_decorated_grid, ColorBar, ColorMap, Decorations, GridOptions, LegendEntry,
};

/// Column captions of the tasks, in the order of the experiment's task list.
pub const TASK_SHORT: [&str; 4] = ["recon.", "denoise", "inpaint", "classif."];

/// What one run contributes to its figures: the chosen test digits `[n, 1, H, W]` and their
/// labels, and per task their maps `[n, 1, H, W]`, the arg-max DKNN training images and the
/// labels of those images.
pub struct PretextPanels {
    pub digits: Tensor,
    pub labels: Vec<i64>,
    pub maps: Vec<Tensor>,
    pub top_images: Vec<Tensor>,
    pub top_labels: Vec<Vec<i64>>,
}

/// One test index per class (its first occurrence), for the classes the test set holds.
pub fn one_per_class(labels: &Tensor, n_classes: i64) -> anyhow::Result<Vec<i64>> {
    let y = Vec::<i64>::try_from(labels.to_kind(Kind::Int64).to_device(tch::Device::Cpu))?;
    Ok((0..n_classes).filter_map(|c| y.iter().position(|&v| v == c).map(|i| i as i64)).collect())
}

/// Interleaves `[input, task 1 … task k]` per row into one `[n(k+1), 3, H, W]` batch.
fn rows(first: &Tensor, columns: &[Tensor]) -> Tensor {
    let n = first.size()[0];
    let mut cols = vec![first.expand([-1, 3, -1, -1], false).to_kind(Kind::Float).unsqueeze(1)];
    cols.extend(columns.iter().map(|c| c.expand([-1, 3, -1, -1], false).to_kind(Kind::Float).unsqueeze(1)));
    let (h, w) = (first.size()[2], first.size()[3]);
    Tensor::cat(&cols, 1).view([n * (columns.len() as i64 + 1), 3, h, w])
}

/// `saliency_maps_run{r}.png`: each map scaled by its own maximum (the tasks' attributions
/// differ in magnitude by orders, and the figure compares where they look, not how much).
pub fn saliency_maps(p: &PretextPanels, run: usize, path: &Path) -> anyhow::Result<()> {
    let digits = p.digits.to_device(tch::Device::Cpu).to_kind(Kind::Float);
    let overlays = p
        .maps
        .iter()
        .map(|m| {
            let m = m.to_device(tch::Device::Cpu).to_kind(Kind::Float).abs().squeeze_dim(1);
            let scaled = &m / m.amax(&[1i64, 2][..], true).clamp_min(1e-30);
            Ok(heatmap_overlay(&digits, &scaled, ColorMap::Viridis, 0.7)?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let captions = p
        .labels
        .iter()
        .flat_map(|l| std::iter::once(format!("digit {l}")).chain(TASK_SHORT.iter().map(|s| s.to_string())))
        .collect();
    let opts = GridOptions {
        columns: 1 + p.maps.len(),
        captions: Some(captions),
        title: Some(format!("pretext run {run}: |label-free GradShap|")),
        ..Default::default()
    };
    let decorations = Decorations {
        colorbar: Some(ColorBar { map: ColorMap::Viridis, min: 0.0, max: 1.0, label: "÷ map max".into() }),
        notes: vec![
            "rows: one test digit per class; columns: the digit, then the map of each".into(),
            "task's encoder over the digit (recon., denoise, inpaint: autoencoders; classif.: classifier)".into(),
        ],
        ..Default::default()
    };
    save_decorated_grid(&rows(&digits, &overlays), &opts, &decorations, path)?;
    Ok(())
}

const SAME: [u8; 3] = [0, 160, 0];
const OTHER: [u8; 3] = [200, 0, 0];

/// `top_examples_run{r}.png`: the test digit, then per task the training image with the
/// largest DKNN score, framed green when its label equals the test digit's.
pub fn top_examples(p: &PretextPanels, run: usize, path: &Path) -> anyhow::Result<()> {
    let digits = p.digits.to_device(tch::Device::Cpu).to_kind(Kind::Float);
    let tops: Vec<Tensor> = p.top_images.iter().map(|t| t.to_device(tch::Device::Cpu)).collect();
    let (mut captions, mut frames) = (vec![], vec![]);
    for (i, &l) in p.labels.iter().enumerate() {
        captions.push(format!("test {l}"));
        frames.push([255, 255, 255]);
        for (t, short) in TASK_SHORT.iter().enumerate().take(tops.len()) {
            let top = p.top_labels[t][i];
            captions.push(format!("{short} {top}"));
            frames.push(if top == l { SAME } else { OTHER });
        }
    }
    let opts = GridOptions {
        columns: 1 + tops.len(),
        captions: Some(captions),
        frames: Some(frames),
        title: Some(format!("pretext run {run}: arg-max DKNN example")),
        ..Default::default()
    };
    let decorations = Decorations {
        legend: vec![LegendEntry::new("same label", SAME), LegendEntry::new("other label", OTHER)],
        notes: vec![
            "rows: one test digit per class; columns: the digit, then per task the".into(),
            "training example nearest in that encoder's latent space (caption: task, label)".into(),
        ],
        ..Default::default()
    };
    save_decorated_grid(&rows(&digits, &tops), &opts, &decorations, path)?;
    Ok(())
}
