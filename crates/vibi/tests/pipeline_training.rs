//! Pipeline end to end through `xai_core::runner`: a short synthetic run beats random
//! masking and leaves its files; a run killed midway and resumed with `--resume` continues
//! exactly (same losses as an uninterrupted run); a resume with another configuration is
//! refused; a run that dies from a non-finite loss is recorded as a training failure.

use clap::Parser;
use std::path::{Path, PathBuf};
use vibi::experiments::logs::{read_rows, StepRow};
use vibi::experiments::report::SummaryRow;
use vibi::experiments::{Config, EMBEDDED};
use xai_core::runner::{Finished, RunArgs};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: RunArgs,
}

/// libtorch's random generator is process-global: runs in parallel test threads would
/// draw from each other's seeded streams, so they take turns.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs the binary's body on the embedded synthetic smoke config (or `--config`) on CPU.
fn go(runs: &Path, args: &[&str]) -> anyhow::Result<Finished> {
    let _turn = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let runs = runs.to_str().unwrap();
    let mut argv = vec!["vibi", "--device", "cpu", "--threads", "1", "--runs-dir", runs, "--data-dir", runs];
    argv.extend(args);
    let a = Args::try_parse_from(argv)?;
    xai_core::runner::run::<Config, _>("vibi", EMBEDDED, &a.run, vibi::experiments::run)
}

/// `--set` for each override.
fn set<'a>(overrides: &[&'a str]) -> Vec<&'a str> {
    overrides.iter().flat_map(|o| ["--set", o]).collect()
}

fn rows(folder: &Path) -> Vec<SummaryRow> {
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(folder.join("results.json")).unwrap()).unwrap();
    serde_json::from_value(v["runs"].clone()).unwrap()
}

fn run_json(folder: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(folder.join("run.json")).unwrap()).unwrap()
}

/// The only run folder under `runs/vibi/<label>/`.
fn only_folder(runs: &Path, label: &str) -> PathBuf {
    let mut all: Vec<PathBuf> =
        std::fs::read_dir(runs.join("vibi").join(label)).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

#[test]
fn short_training_beats_random_masking_and_writes_the_run_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let out = go(
        tmp.path(),
        &set(&[
            "data.train_subset=2000",
            "data.test_subset=500",
            "vibi.max_steps=150",
            "eval.saliency_baseline=false",
            "eval.multishot_samples=4",
            "eval.figure_scale=1",
            "eval.recalibrate_bn_images=512",
        ]),
    )
    .unwrap();
    let r = &rows(&out.folder)[0];
    let random = r.test_fid_random.unwrap();
    assert!(r.test_fid_topk >= random + 0.2, "top-k fidelity {} vs random {random}", r.test_fid_topk);
    assert!(r.test_hit_rate.unwrap() > 0.3, "hit rate {:?} (random 0.08)", r.test_hit_rate);
    let recalibrated = r.test_fid_topk_recalibrated_bn.expect("asked for with eval.recalibrate_bn_images");
    assert!(recalibrated >= random + 0.2, "recalibrated top-k fidelity {recalibrated} vs random {random}");
    let steps: Vec<StepRow> = read_rows(&out.folder.join("metrics.csv")).unwrap();
    assert_eq!(steps.len(), 150);
    for f in [
        "epochs.csv",
        "summary.csv",
        "final.json",
        "results.json",
        "paper_comparison.md",
        "paper_comparison.csv",
        "verdict.txt",
        "figures/logs.png",
        "figures/fidelity.png",
    ] {
        assert!(out.folder.join(f).is_file(), "missing {f}");
    }
    assert!(out.verdict.starts_with("verdict smoke_synthetic: "), "{}", out.verdict);
    let table = std::fs::read_to_string(out.folder.join("paper_comparison.md")).unwrap();
    assert!(
        table.contains("| test top-k fidelity |")
            && table.contains("0.8900")
            && table.contains("| test top-k fidelity, BatchNorm statistics recomputed |"),
        "spec value in the paper column: {table}"
    );
    assert!(steps.iter().all(|r| r.seconds > 0.0), "every step logs its wall time");
    // 64 MNIST-sized images, 8 columns, 2-px padding, 1-px frames: a 258×258 grid (spec
    // §12.14), with a title above and notes (and a frame legend) below.
    for (f, side) in [("best_top_k.png", 258), ("best_distribution.png", 258), ("test_batch.png", 242)] {
        let (w, h) = image_size(&out.folder.join("figures").join(f));
        assert!(w == side && h > side + 22 + 18, "{f}: {w}x{h}");
    }
}

fn image_size(path: &Path) -> (u32, u32) {
    // PNG IHDR: width and height are big-endian u32 at bytes 16..24.
    let b = std::fs::read(path).unwrap();
    (u32::from_be_bytes(b[16..20].try_into().unwrap()), u32::from_be_bytes(b[20..24].try_into().unwrap()))
}

#[test]
fn resumed_run_continues_exactly_and_refuses_another_config() {
    let tmp = tempfile::tempdir().unwrap();
    let base = [
        "data.train_subset=600",
        "data.test_subset=200",
        "black_box.epochs=1",
        "vibi.checkpoint_every=10",
        "eval.saliency_baseline=false",
        "eval.multishot_samples=2",
        "run.experiment=resume_test",
    ];
    let with = |extra: &[&'static str]| set(&[&base[..], extra].concat());
    let full = go(&tmp.path().join("a"), &with(&["vibi.max_steps=30"])).unwrap();
    let part = go(&tmp.path().join("b"), &with(&["vibi.max_steps=20"])).unwrap();
    let full_steps: Vec<StepRow> = read_rows(&full.folder.join("metrics.csv")).unwrap();
    let part_steps: Vec<StepRow> = read_rows(&part.folder.join("metrics.csv")).unwrap();
    // Same seed on CPU: identical first 20 losses (spec §12.14).
    for (a, b) in full_steps.iter().zip(&part_steps).take(20) {
        assert_eq!(a.loss, b.loss, "step {}", a.step);
    }
    let folder = part.folder.to_str().unwrap();
    let stored = std::fs::read_to_string(part.folder.join("config.toml")).unwrap();
    let e = go(tmp.path(), &[&["--resume", folder][..], &set(&["vibi.max_steps=30", "vibi.beta=0.5"])].concat())
        .err()
        .unwrap();
    assert!(format!("{e:#}").contains("another [vibi]"), "{e:#}");
    assert_eq!(run_json(&part.folder)["status"], "failed");
    assert_eq!(
        std::fs::read_to_string(part.folder.join("config.toml")).unwrap(),
        stored,
        "a refused resume leaves the folder's config as it was"
    );
    // --resume without --config: the folder's own config, with the step budget extended.
    let resumed = go(tmp.path(), &[&["--resume", folder][..], &set(&["vibi.max_steps=30"])].concat()).unwrap();
    assert_eq!(resumed.folder.canonicalize().unwrap(), part.folder.canonicalize().unwrap(), "same folder");
    let resumed_steps: Vec<StepRow> = read_rows(&part.folder.join("metrics.csv")).unwrap();
    assert_eq!(resumed_steps.len(), 30);
    for (a, b) in full_steps.iter().zip(&resumed_steps) {
        assert_eq!(a.step, b.step);
        assert!((a.loss - b.loss).abs() <= 1e-6 * a.loss.abs().max(1.0), "step {}: {} vs {}", a.step, a.loss, b.loss);
    }
    let info = run_json(&part.folder);
    assert_eq!(info["status"], "finished");
    assert_eq!(info["resumed"], 2);
}

#[test]
fn a_black_box_is_reused_from_another_run_and_a_foreign_one_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let base = [
        "data.train_subset=400",
        "data.test_subset=100",
        "black_box.epochs=1",
        "vibi.max_steps=4",
        "eval.saliency_baseline=false",
        "eval.multishot_samples=0",
        "run.experiment=reuse_test",
    ];
    let first = go(&tmp.path().join("a"), &set(&base)).unwrap();
    let reuse = format!("black_box.reuse={:?}", first.folder.to_str().unwrap());
    let reuse = reuse.as_str();
    let with = |extra: &'static str| [&base[..], &[extra, reuse]].concat();

    let second = go(&tmp.path().join("b"), &set(&with("vibi.beta=0.1"))).unwrap();
    let bb = |f: &Path, name: &str| std::fs::read(f.join("checkpoints").join(name)).unwrap();
    assert_eq!(bb(&first.folder, "black_box.safetensors"), bb(&second.folder, "black_box.safetensors"));
    // The copied record keeps the source's training time: nothing was trained again.
    assert_eq!(bb(&first.folder, "black_box.json"), bb(&second.folder, "black_box.json"));
    assert!(std::fs::read_to_string(second.folder.join("config.toml")).unwrap().contains("reuse"));

    // Another black-box recipe is refused rather than silently reused.
    let e = go(&tmp.path().join("c"), &set(&with("black_box.lr=0.5"))).err().unwrap();
    assert!(format!("{e:#}").contains("another configuration"), "{e:#}");

    let e = go(&tmp.path().join("d"), &set(&[&base[..], &["black_box.reuse=\"no/such/run\""]].concat())).err().unwrap();
    assert!(format!("{e:#}").contains("holds no finished black box"), "{e:#}");
}

#[test]
fn a_non_finite_loss_is_recorded_as_a_training_failure() {
    let tmp = tempfile::tempdir().unwrap();
    let e = go(
        tmp.path(),
        &set(&[
            "data.train_subset=600",
            "data.test_subset=200",
            "black_box.epochs=1",
            "vibi.lr=1e30",
            "vibi.max_steps=60",
            "eval.saliency_baseline=false",
        ]),
    )
    .expect_err("lr = 1e30 makes the loss non-finite");
    assert!(format!("{e:#}").contains("non-finite value: VIBI loss at step"), "{e:#}");
    let info = run_json(&only_folder(tmp.path(), "smoke_synthetic"));
    assert_eq!(info["status"], "failed");
    assert_eq!(info["error_kind"], "training");
    let cause = info["error"].as_str().unwrap();
    assert!(cause.contains("non-finite value: VIBI loss at step"), "{cause}");
}

#[test]
fn jump_start_continues_the_beta_zero_run_of_the_grid() {
    let tmp = tempfile::tempdir().unwrap();
    let text = format!(
        "{}\n[[grid]]\nexplainer = \"small_cnn\"\nk = 4\nbetas = [0.01, 0.0]\n",
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/vibi/smoke_synthetic.toml"))
            .unwrap()
    );
    let config = tmp.path().join("jump_test.toml");
    std::fs::write(&config, text).unwrap();
    let args = [
        &["--config", config.to_str().unwrap()][..],
        &set(&[
            "data.train_subset=600",
            "data.test_subset=200",
            "black_box.epochs=1",
            "vibi.epochs=1",
            "vibi.jump_start=true",
            "eval.saliency_baseline=false",
            "eval.multishot_samples=0",
        ]),
    ]
    .concat();
    let out = go(tmp.path(), &args).unwrap();
    let rows = rows(&out.folder);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].beta, 0.0, "beta = 0 runs first so the others can jump-start from it");
    let spe = 9; // 540 training images, batch 64
    assert_eq!(rows[0].steps, spe);
    assert_eq!(rows[1].steps, 2 * spe, "one more epoch on top of the source's");
    let src: Vec<StepRow> = read_rows(&out.folder.join(&rows[0].run_id).join("metrics.csv")).unwrap();
    let dst: Vec<StepRow> = read_rows(&out.folder.join(&rows[1].run_id).join("metrics.csv")).unwrap();
    assert_eq!(dst.len(), 2 * spe as usize);
    for (a, b) in src.iter().zip(&dst) {
        assert_eq!((a.step, a.loss), (b.step, b.loss), "the source's log is carried over");
    }
    assert!(
        out.folder.join("summary.csv").is_file()
            && out.folder.join(&rows[1].run_id).join("figures/best_top_k.png").is_file()
    );
}

#[test]
fn cifar_geometry_runs_with_per_channel_masks() {
    let tmp = tempfile::tempdir().unwrap();
    // Random CIFAR-format files: checks the 3-channel path end to end, not accuracy.
    xai_core::data::cifar::write_synthetic(&tmp.path().join("cifar10"), 40, 3).unwrap();
    let out = go(
        tmp.path(),
        &set(&[
            "data.dataset=cifar10",
            "data.train_subset=0",
            "data.test_subset=0",
            "black_box.epochs=1",
            "vibi.xpl_channels=3",
            "vibi.k=12",
            "vibi.max_steps=4",
            "eval.multishot_samples=2",
            "eval.figure_scale=1",
            "run.experiment=cifar_test",
        ]),
    )
    .unwrap();
    let r = &rows(&out.folder)[0];
    assert_eq!((r.f, r.chunk, r.xpl_channels), (8 * 8 * 3, 4, 3));
    assert!(r.test_saliency_fid.is_some());
    // 40 test images (no full batch of 64 → all 40): 5 rows of 8 cells of 32+2+2 px
    let (w, h) = image_size(&out.folder.join("figures/best_top_k.png"));
    assert!(w == 2 + 8 * 36 && h > 2 + 5 * 36 + 22, "{w}x{h}");
}
