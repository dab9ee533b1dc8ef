//! The figures a sweep draws say what they show: the CD heat map has a title, a colour bar
//! and a note per row, and shows per-pixel structure; the λ chart ticks at the swept values
//! and draws λ = 0 methods as reference lines.

use cdep::experiments::report::{
    heatmap_figure, heatmap_parts, results_chart, results_chart_parts, HeatRow, SummaryRow,
};
use tch::{Kind, Tensor};

fn summary(method: &str, lambda: f64, acc: f64, std: f64) -> SummaryRow {
    SummaryRow {
        method: method.into(),
        lambda,
        n_seeds: 3,
        test_acc_mean: acc,
        test_acc_std: std,
        val_acc_mean: acc,
        val_loss_mean: 1.0,
        test_share_mean: None,
        test_blob_flip_mean: None,
        test_acc_max_epoch_mean: None,
        test_acc_last_epoch_mean: None,
        test_acc_last_epoch_std: None,
        auc_nopatch_mean: None,
        flip_rate_mean: None,
        fpr_black_mean: None,
        fpr_white_mean: None,
        sec_per_epoch_mean: 1.0,
        peak_mem_mb_max: 1.0,
    }
}

#[test]
fn results_chart_ticks_at_swept_lambdas_with_vanilla_as_reference() {
    let rows = vec![
        summary("vanilla", 0.0, 0.2, 0.1),
        summary("cdep", 500.0, 20.0, 2.0),
        summary("cdep", 2000.0, 30.0, 3.0),
        summary("rrr", 1000.0, 0.1, 0.1),
    ];
    let (chart, extras) = results_chart_parts(&rows, "colormnist");
    assert_eq!(extras.x_ticks, Some(vec![500.0, 1000.0, 2000.0]));
    assert_eq!(extras.references.len(), 1);
    assert!(extras.references[0].name.starts_with("vanilla"));
    assert_eq!((extras.references[0].y, extras.references[0].band), (0.2, Some(0.1)));
    assert_eq!(chart.series.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["cdep", "rrr"]);
    assert!(!chart.log_x && !chart.title.is_empty());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.png");
    results_chart(&rows, "colormnist", &path).unwrap();
    assert!(image::open(&path).is_ok());
}

#[test]
fn heatmap_has_title_colourbar_notes_and_per_pixel_structure() {
    let inputs = Tensor::rand([3, 3, 28, 28], (Kind::Float, tch::Device::Cpu));
    // Vanilla-like: shares ≈ 1e-2 with a stroke; CDEP-like: ≈ −0.4 with a weaker stroke.
    let stroke = Tensor::zeros([3, 28, 28], (Kind::Float, tch::Device::Cpu));
    let _ = stroke.narrow(2, 10, 4).fill_(1.0);
    let vanilla = &stroke * 0.02 + 0.001;
    let cdep = &stroke * 0.05 - 0.4;
    let rows =
        vec![HeatRow { label: "vanilla".into(), share: vanilla }, HeatRow { label: "cdep λ=1000".into(), share: cdep }];
    let (images, opts, deco) = heatmap_parts(&inputs, &rows, "colormnist: CD share").unwrap();
    assert_eq!(images.size(), [9, 3, 28, 28]);
    assert_eq!(opts.title.as_deref(), Some("colormnist: CD share"));
    let bar = deco.colorbar.as_ref().expect("a colour bar");
    assert_eq!((bar.min, bar.max), (-1.0, 1.0));
    assert!(deco.notes.len() >= 3 && deco.notes[1].contains("vanilla") && deco.notes[2].contains("cdep"));
    // Not one flat colour per tile: the stroke differs from the background in each row.
    for row in 1..3 {
        let tile = images.get(row * 3);
        let diff = (tile.narrow(2, 10, 4).mean(Kind::Float) - tile.narrow(2, 20, 4).mean(Kind::Float)).abs();
        assert!(diff.double_value(&[]) > 0.05, "row {row} is flat");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("h.png");
    heatmap_figure(&inputs, &rows, "colormnist: CD share", &path).unwrap();
    let png = image::open(&path).unwrap();
    let plain = xai_core::figures::image_grid(&images, &opts).unwrap();
    assert!(png.width() > plain.width() && png.height() > plain.height(), "colour bar and notes drawn");
}
