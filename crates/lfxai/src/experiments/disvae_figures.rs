//! The disvae figures: per-unit saliency grids of one model and the metric box plots over β.

use super::box_plot::{box_plot, BoxCell, BoxPlot};
use super::disvae::MetricRow;
use std::path::Path;
use tch::{Kind, Tensor};
use xai_core::figures::{apply_colormap, save_decorated_grid, ColorBar, ColorMap, Decorations, GridOptions};

/// How a loss is named in figures.
pub fn loss_label(loss: &str) -> &'static str {
    if loss == "beta_tcvae" {
        "β-TCVAE"
    } else {
        "β-VAE"
    }
}

/// Rows of `[input, unit 1 … unit d]` for `inputs` `[n, 1, H, W]` and their maps
/// `[n, d, 1, H, W]`. Each row's unit maps share one colour scale (its largest value = 1), so
/// the columns of a row compare units on the same image, which is what the paper's figure
/// reads; rows are not comparable with each other.
pub fn saliency_grid(inputs: &Tensor, maps: &Tensor, title: &str, path: &Path) -> anyhow::Result<()> {
    if maps.dim() != 5 || inputs.dim() != 4 {
        anyhow::bail!(
            "saliency grid: maps {:?} / inputs {:?} are not [n, d, 1, H, W] / [n, 1, H, W]",
            maps.size(),
            inputs.size()
        );
    }
    let (n, d) = (maps.size()[0], maps.size()[1]);
    let (h, w) = (inputs.size()[2], inputs.size()[3]);
    if inputs.size()[0] != n || maps.size()[3..] != [h, w] {
        anyhow::bail!("saliency grid: maps {:?} do not fit inputs {:?}", maps.size(), inputs.size());
    }
    let maps = maps.to_kind(Kind::Float).to_device(tch::Device::Cpu).view([n, d, h, w]);
    let row_max = maps.amax(&[1i64, 2, 3][..], true).clamp_min(1e-30);
    let scaled = (&maps / row_max).view([n * d, h, w]);
    let coloured = apply_colormap(&scaled, ColorMap::Viridis)?.view([n, d, 3, h, w]);
    let input = inputs.to_kind(Kind::Float).to_device(tch::Device::Cpu).expand([n, 3, h, w], false).unsqueeze(1);
    let cells = Tensor::cat(&[input, coloured], 1).view([n * (d + 1), 3, h, w]);
    let captions =
        (0..n).flat_map(|_| std::iter::once("input".to_string()).chain((1..=d).map(|j| format!("unit {j}")))).collect();
    let opts = GridOptions {
        columns: (d + 1) as usize,
        scale: if h <= 32 { 3 } else { 2 },
        captions: Some(captions),
        title: Some(title.into()),
        ..Default::default()
    };
    let decorations = Decorations {
        colorbar: Some(ColorBar { map: ColorMap::Viridis, min: 0.0, max: 1.0, label: "÷ row max".into() }),
        notes: vec![
            "rows: test images; columns: the input, then |μ_j(x)·GradShap_i(μ_j, x)| for each unit j".into(),
            "one colour scale per row: 1 = the row's largest unit saliency".into(),
        ],
        ..Default::default()
    };
    save_decorated_grid(&cells, &opts, &decorations, path)?;
    Ok(())
}

/// The metrics of `metrics.csv` that get a box plot: (column, axis label).
pub const BOXED: [(&str, &str); 5] = [
    ("pearson", "mean inter-unit Pearson"),
    ("spearman", "mean inter-unit Spearman (sampled pixels)"),
    ("cosine", "mean inter-unit cosine (per image)"),
    ("entropy", "entropy of unit shares (nats)"),
    ("active_neurons", "active units per pixel"),
];

fn metric(r: &MetricRow, name: &str) -> f64 {
    match name {
        "pearson" => r.pearson,
        "spearman" => r.spearman,
        "cosine" => r.cosine,
        "entropy" => r.entropy,
        _ => r.active_neurons,
    }
}

/// `box_<metric>.png` in `dir` for every metric: metric against β, one box per loss.
pub fn metric_box_plots(
    rows: &[MetricRow],
    dataset: &str,
    betas: &[f64],
    losses: &[String],
    dir: &Path,
) -> anyhow::Result<()> {
    for (name, label) in BOXED {
        let cells = losses
            .iter()
            .enumerate()
            .flat_map(|(g, loss)| {
                betas.iter().enumerate().map(move |(x, &beta)| BoxCell {
                    x,
                    group: g,
                    values: rows
                        .iter()
                        .filter(|r| &r.loss == loss && r.beta == beta)
                        .map(|r| metric(r, name))
                        .collect(),
                })
            })
            .collect::<Vec<_>>();
        if !cells.iter().flat_map(|c| &c.values).any(|v| v.is_finite()) {
            // A dead unit makes its correlations 0/0: say so rather than fail the whole run.
            log::warn!("disvae: no finite {name} value, box_{name}.png not drawn");
            continue;
        }
        let runs = cells.iter().map(|c| c.values.len()).max().unwrap_or(0);
        let plot = BoxPlot {
            title: format!("disvae {dataset}: {name} vs β ({runs} run(s) per box; dots = runs)"),
            x_label: "β".into(),
            y_label: label.into(),
            x_labels: betas.iter().map(|b| format!("{b}")).collect(),
            groups: losses.iter().map(|l| loss_label(l).to_string()).collect(),
            cells,
        };
        box_plot(&plot, &dir.join(format!("box_{name}.png")))?;
    }
    Ok(())
}
