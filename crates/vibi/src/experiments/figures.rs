//! The run's figures: the inspect batch, the top-k explanations with fidelity-coloured
//! frames, the explanation distribution, and the training curves. Every grid carries a
//! title, per-tile captions (when the tiles are wide enough to hold them) and a legend or
//! notes saying what colours and captions mean, so a reader needs neither the README nor
//! the source. (Over 400 lines because its unit tests, a third of it, live here.)

use super::logs::{EpochRow, StepRow};
use crate::chunks::ChunkGrid;
use crate::Result;
use std::path::Path;
use tch::{Device, Kind, Tensor};
use xai_core::figures::{
    line_chart, line_panels, save_decorated_grid, ChartExtras, Decorations, GridOptions, LegendEntry, LineChart, Series,
};

/// Estimated width of one caption character at the grid's 12-px caption font.
const CHAR_PX: u32 = 7;

/// Grid layout of willisk's figures: 8 columns, 2-px padding, frames; captions only
/// where a tile is wide enough for them (figure_scale ≥ 3 for MNIST).
fn layout(x: &Tensor, scale: u32, frames: Option<Vec<[u8; 3]>>, captions: Vec<String>, title: String) -> GridOptions {
    // 1-px frames as willisk at scale 1; 2 px from scale 3 on, where 1 px is hard to see.
    let frame_width = match (&frames, scale) {
        (None, _) => 0,
        (Some(_), s) if s >= 3 => 2,
        _ => 1,
    };
    let tile = x.size()[3] as u32 * scale + 2 * frame_width + 2;
    let widest = captions.iter().map(|c| c.chars().count() as u32).max().unwrap_or(0);
    let captions = (!captions.is_empty() && widest * CHAR_PX <= tile).then_some(captions);
    GridOptions { columns: 8, scale, padding: 2, captions, frames, frame_width, title: Some(title) }
}

/// Grid width in pixels for `n` images of width `w` (what the notes are wrapped to).
fn grid_width(x: &Tensor, opts: &GridOptions) -> u32 {
    let n = x.size()[0] as u32;
    let cols = (opts.columns as u32).clamp(1, n.max(1));
    let cell = x.size()[3] as u32 * opts.scale + 2 * opts.frame_width + opts.padding;
    opts.padding + cols * cell
}

/// Word-wraps `text` to lines of at most `width` pixels.
fn wrap(text: &str, width: u32) -> Vec<String> {
    xai_core::figures::wrap_words(text, (width.saturating_sub(12) / CHAR_PX).max(20) as usize)
}

fn notes(texts: &[String], width: u32) -> Vec<String> {
    texts.iter().flat_map(|t| wrap(t, width)).collect()
}

fn host_i64(t: &Tensor) -> Result<Vec<i64>> {
    Ok(Vec::<i64>::try_from(t.to_kind(Kind::Int64).to_device(Device::Cpu).flatten(0, -1))?)
}

/// Per-tile captions "y7 bb7" (true label, black-box prediction) and, with approximator
/// predictions, "y7 bb7 ap7".
pub fn captions(labels: &Tensor, black_box: &Tensor, approximator: Option<&Tensor>) -> Result<Vec<String>> {
    let (y, bb) = (host_i64(labels)?, host_i64(black_box)?);
    let ap = approximator.map(host_i64).transpose()?;
    Ok((0..y.len())
        .map(|i| match &ap {
            Some(ap) => format!("y{} bb{} ap{}", y[i], bb[i], ap[i]),
            None => format!("y{} bb{}", y[i], bb[i]),
        })
        .collect())
}

const CAPTION_NOTE: &str = "Caption: y = true label, bb = black-box prediction on the whole image";
const AP_NOTE: &str = ", ap = approximator prediction from the kept chunks alone (top-k).";

/// `test_batch.png`: the inspected test images in [0, 1], captioned "y… bb…".
pub fn test_batch(x01: &Tensor, captions: Vec<String>, scale: u32, path: &Path) -> Result<()> {
    let n = x01.size()[0];
    let opts = layout(x01, scale, None, captions, format!("Test batch: {n} inspected test images"));
    let w = grid_width(x01, &opts);
    let mut texts = vec![format!(
        "The first full test batch of 64 with the most black-box errors (willisk's choice), shown unmasked. {CAPTION_NOTE}."
    )];
    if opts.captions.is_none() {
        texts.push("(Captions left out: tiles too narrow at this figure_scale; use eval.figure_scale = 3.)".into());
    }
    let deco = Decorations { notes: notes(&texts, w), ..Default::default() };
    Ok(save_decorated_grid(&x01.to_device(Device::Cpu), &opts, &deco, path)?)
}

/// Unselected pixels grey: x01·z + 0.5·(1 − z), `z` `[B, 1|C, H, W]` in [0, 1].
pub fn composite(x01: &Tensor, z: &Tensor) -> Tensor {
    x01 * z + (1.0 - z) * 0.5
}

/// Frame colour for strength `s` ∈ [0, 1]: intensity 0.5·(s + 0.5), green where the black
/// box is right on the true label, else red.
pub fn frame_colour(s: f64, black_box_right: bool) -> [u8; 3] {
    let v = (255.0 * 0.5 * (s + 0.5)).round().clamp(0.0, 255.0) as u8;
    if black_box_right {
        [0, v, 0]
    } else {
        [v, 0, 0]
    }
}

/// Frame colours of [`frame_colour`] for strengths `[B]` and black-box correctness `[B]`.
pub fn frame_colours(strength: &Tensor, bb_correct: &Tensor) -> Result<Vec<[u8; 3]>> {
    let s = Vec::<f64>::try_from(strength.to_kind(Kind::Double).to_device(Device::Cpu))?;
    let ok = Vec::<bool>::try_from(bb_correct.to_device(Device::Cpu))?;
    Ok(s.iter().zip(ok).map(|(s, ok)| frame_colour(*s, ok)).collect())
}

/// The legend of the frame colours that fits in `width` pixels: both hues at strength 1
/// and 0, or (narrow grids) both hues at strength 1, or none (the notes still say it).
pub fn frame_legend(width: u32) -> Vec<LegendEntry> {
    let full = vec![
        LegendEntry::new("bb right, s=1", frame_colour(1.0, true)),
        LegendEntry::new("bb right, s=0", frame_colour(0.0, true)),
        LegendEntry::new("bb wrong, s=1", frame_colour(1.0, false)),
        LegendEntry::new("bb wrong, s=0", frame_colour(0.0, false)),
    ];
    let short = vec![
        LegendEntry::new("bb right", frame_colour(1.0, true)),
        LegendEntry::new("bb wrong", frame_colour(1.0, false)),
    ];
    // xai-core lays entries out at 18 + 7·len + 14 px each from x = 6 and wraps what does
    // not fit onto more rows; a narrow grid gets the short legend so it stays one row.
    let fits =
        |l: &[LegendEntry]| 6 + l.iter().map(|e| 32 + CHAR_PX * e.label.chars().count() as u32).sum::<u32>() <= width;
    [full, short].into_iter().find(|l| fits(l)).unwrap_or_default()
}

fn frame_note() -> String {
    "Frame: green = black box right on the true label, red = wrong; brightness = s = sqrt(1 - JS(black box || \
     approximator on the top-k input)), JS in bits: bright = the kept chunks alone reproduce the black box's output."
        .into()
}

fn save_framed(
    img: &Tensor,
    frames: Vec<[u8; 3]>,
    captions: Vec<String>,
    title: String,
    first_note: String,
    scale: u32,
    path: &Path,
) -> Result<()> {
    let opts = layout(img, scale, Some(frames), captions, title);
    let w = grid_width(img, &opts);
    let mut texts = vec![first_note, frame_note()];
    texts.push(if opts.captions.is_some() {
        format!("{CAPTION_NOTE}{AP_NOTE}")
    } else {
        "(Captions left out: tiles too narrow at this figure_scale; use eval.figure_scale = 3.)".into()
    });
    let deco = Decorations { legend: frame_legend(w), notes: notes(&texts, w), ..Default::default() };
    Ok(save_decorated_grid(&img.to_device(Device::Cpu), &opts, &deco, path)?)
}

/// `best_top_k.png`: the hard top-k explanation of each image (the best checkpoint's),
/// framed by fidelity.
#[allow(clippy::too_many_arguments)]
pub fn top_k(
    x01: &Tensor,
    grid: &ChunkGrid,
    z: &Tensor,
    k: i64,
    frames: Vec<[u8; 3]>,
    captions: Vec<String>,
    scale: u32,
    path: &Path,
) -> Result<()> {
    let img = composite(x01, &grid.upsample(z));
    let title = format!("Top-k explanations: k = {k} of F = {} chunks kept", grid.num_chunks());
    let note = format!(
        "Shown: the {k} chunks of {}x{} pixels the explainer keeps (best checkpoint, eval mode); grey = hidden.",
        grid.size, grid.size
    );
    save_framed(&img, frames, captions, title, note, scale, path)
}

/// willisk's magnification of p(z|x) in the distribution figure: 8·(k/4)^1.3.
pub fn distribution_magnification(k: i64) -> f64 {
    8.0 * (k as f64 / 4.0).powf(1.3)
}

/// `best_distribution.png`: p(z|x) up-sampled and magnified as a soft mask.
#[allow(clippy::too_many_arguments)]
pub fn distribution(
    x01: &Tensor,
    grid: &ChunkGrid,
    p: &Tensor,
    k: i64,
    frames: Vec<[u8; 3]>,
    captions: Vec<String>,
    scale: u32,
    path: &Path,
) -> Result<()> {
    let mag = distribution_magnification(k);
    let z = (grid.upsample(p) * mag).clamp(0.0, 1.0);
    let img = composite(x01, &z);
    let title = format!("Explanation distribution p(z|x) over F = {} chunks", grid.num_chunks());
    let note = format!(
        "Shown: each chunk blended from grey (p = 0) to the image (p >= {:.3}) by min(1, {mag:.1} p(z|x)) \
         (willisk's magnification 8 (k/4)^1.3, k = {k}); uniform p would be 1/F = {:.3}.",
        1.0 / mag,
        1.0 / grid.num_chunks() as f64
    );
    save_framed(&img, frames, captions, title, note, scale, path)
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

/// `logs.png` (one panel each for the loss, the CE term, the KL term and τ; moving average
/// of 50 steps) and `fidelity.png` (sampled training accuracy and the validation
/// fidelities, %) against epochs.
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
    let panel = |title: &str, y_label: &str, s: Series| {
        (
            LineChart {
                title: title.into(),
                x_label: "epoch".into(),
                y_label: y_label.into(),
                series: vec![s],
                ..Default::default()
            },
            ChartExtras::default(),
        )
    };
    let warm = steps.iter().filter(|r| r.phase == "warmup").count();
    let title = if warm > 0 {
        format!("VIBI training, moving average over 50 steps (first {warm} steps: warm-up, approximator only)")
    } else {
        "VIBI training, moving average over 50 steps".to_string()
    };
    let panels = [
        panel("loss = H(p,q) + beta KL", "loss", series("loss", &|r| r.loss)),
        panel("cross-entropy H(p,q), as scaled in the loss", "H(p,q)", series("H(p,q)", &|r| r.ce)),
        panel("KL(p(z|x) || uniform), before beta", "KL (nats)", series("KL", &|r| r.kl)),
        panel("Gumbel-softmax temperature", "temperature tau", series("tau", &|r| r.temp)),
    ];
    line_panels(&title, &panels, 2, &dir.join("logs.png"))?;
    let pct = |v: fn(&EpochRow) -> Option<f64>| -> Vec<f64> {
        epochs.iter().map(|r| v(r).map_or(f64::NAN, |v| 100.0 * v)).collect()
    };
    let ex: Vec<f64> = epochs.iter().map(|r| r.step as f64 / steps_per_epoch).collect();
    let mut fid = vec![
        Series { name: "train, sampled masks (50-step avg)".into(), ..series("", &|r| 100.0 * r.acc_sampled) },
        Series { name: "valid top-k fidelity".into(), x: ex.clone(), y: pct(|r| Some(r.val_fid_topk)), band: None },
    ];
    if epochs.iter().any(|r| r.val_fid_random.is_some()) {
        fid.push(Series {
            name: "valid random-mask fidelity".into(),
            x: ex.clone(),
            y: pct(|r| r.val_fid_random),
            band: None,
        });
    }
    if epochs.iter().any(|r| r.val_hit_rate.is_some()) {
        fid.push(Series {
            name: "valid hit rate (true chunk in top-k)".into(),
            x: ex,
            y: pct(|r| r.val_hit_rate),
            band: None,
        });
    }
    let fid = LineChart {
        title: if epochs.iter().any(|r| r.val_hit_rate.is_some()) {
            "Fidelity (approximator agrees with the black box) and hit rate".into()
        } else {
            "Fidelity: approximator agrees with the black box".into()
        },
        x_label: "epoch".into(),
        y_label: "% of images".into(),
        series: fid,
        ..Default::default()
    };
    Ok(line_chart(&fid, &dir.join("fidelity.png"))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use xai_core::figures::image_grid;

    fn png_size(path: &Path) -> (u32, u32) {
        let b = std::fs::read(path).unwrap();
        (u32::from_be_bytes(b[16..20].try_into().unwrap()), u32::from_be_bytes(b[20..24].try_into().unwrap()))
    }

    fn bare(x: &Tensor, scale: u32, frame: u32) -> (u32, u32) {
        let opts = GridOptions {
            columns: 8,
            scale,
            padding: 2,
            captions: None,
            frames: None,
            frame_width: frame,
            title: None,
        };
        image_grid(x, &opts).unwrap().dimensions()
    }

    fn inputs() -> (Tensor, Vec<String>, Vec<[u8; 3]>) {
        let x = Tensor::rand([16, 1, 28, 28], (Kind::Float, Device::Cpu));
        let y = Tensor::arange(16, (Kind::Int64, Device::Cpu)).remainder(10);
        let caps = captions(&y, &y, Some(&y)).unwrap();
        let frames = (0..16).map(|i| frame_colour(i as f64 / 15.0, i % 2 == 0)).collect();
        (x, caps, frames)
    }

    #[test]
    fn test_batch_has_title_captions_and_notes() {
        let (x, caps, _) = inputs();
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.png");
        test_batch(&x, caps, 3, &p).unwrap();
        let (w, h) = png_size(&p);
        let (bw, bh) = bare(&x, 3, 0);
        assert_eq!(w, bw);
        // title 22 + 2 rows of captions 16 + at least one note line 18
        assert!(h >= bh + 22 + 2 * 16 + 18, "{h} vs bare {bh}");
    }

    #[test]
    fn top_k_and_distribution_have_legend_and_notes() {
        let (x, caps, frames) = inputs();
        let grid = ChunkGrid::new(28, 28, 4, 1).unwrap();
        let p = Tensor::rand([16, 49], (Kind::Float, Device::Cpu)).softmax(-1, Kind::Float);
        let z = crate::sampling::topk_mask(&p, 4);
        let dir = tempfile::tempdir().unwrap();
        let (bw, bh) = bare(&x, 3, 2);
        let (a, b) = (dir.path().join("a.png"), dir.path().join("b.png"));
        top_k(&x, &grid, &z, 4, frames.clone(), caps.clone(), 3, &a).unwrap();
        distribution(&x, &grid, &p, 4, frames, caps, 3, &b).unwrap();
        for f in [a, b] {
            let (w, h) = png_size(&f);
            assert_eq!(w, bw);
            // title + captions + legend row + three notes
            assert!(h >= bh + 22 + 2 * 16 + 22 + 3 * 18, "{}: {h} vs bare {bh}", f.display());
        }
    }

    #[test]
    fn narrow_tiles_drop_captions_but_keep_the_title() {
        let (x, caps, frames) = inputs();
        let opts = layout(&x, 1, Some(frames.clone()), caps.clone(), "t".into());
        assert!(opts.captions.is_none() && opts.title.is_some());
        // A scale-1 grid (258 px for 64 MNIST images) gets the short legend and draws.
        assert_eq!(frame_legend(258).len(), 2);
        assert_eq!(frame_legend(706).len(), 4);
        let dir = tempfile::tempdir().unwrap();
        let grid = ChunkGrid::new(28, 28, 4, 1).unwrap();
        let z = crate::sampling::topk_mask(&Tensor::rand([16, 49], (Kind::Float, Device::Cpu)), 4);
        let p = dir.path().join("narrow.png");
        top_k(&x, &grid, &z, 4, frames, caps, 1, &p).unwrap();
        let (w, h) = png_size(&p);
        assert!(w == bare(&x, 1, 1).0 && h > bare(&x, 1, 1).1 + 22, "{w}x{h}");
    }

    #[test]
    fn logs_figure_has_one_panel_per_quantity() {
        let steps: Vec<StepRow> = (0..60)
            .map(|i| StepRow {
                step: i,
                epoch: 1 + i as usize / 20,
                phase: if i < 10 { "warmup" } else { "train" }.into(),
                temp: if i < 10 { f64::NAN } else { 10.0 / (i - 9) as f64 },
                loss: 2.0 - i as f64 / 60.0,
                ce: 2.0 - i as f64 / 60.0,
                kl: 0.1,
                acc_sampled: 0.5,
                seconds: 0.01,
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        curves(&steps, &[], 20.0, dir.path()).unwrap();
        let (w, h) = png_size(&dir.path().join("logs.png"));
        // 2×2 panels of 560×380 under a title
        assert_eq!((w, h), (2 * 560, 40 + 2 * 380));
        assert!(dir.path().join("fidelity.png").is_file());
    }

    #[test]
    fn notes_wrap_to_the_grid_width() {
        let lines = wrap(&"word ".repeat(100), 300);
        assert!(lines.len() > 3 && lines.iter().all(|l| l.chars().count() as u32 * CHAR_PX <= 300));
    }
}
