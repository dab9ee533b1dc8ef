//! Training on small real subsets (MNIST t10k from the data folder): the effect's
//! direction, run-folder outputs, and determinism (spec §9 property 22).

mod support;

use std::sync::Mutex;
use support::{read_csv, run_json, run_text};

/// libtorch's generator is process-wide: runs in parallel test threads would interleave
/// their draws and break the determinism check, so these tests take turns.
static TORCH_RNG: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    TORCH_RNG.lock().unwrap_or_else(|p| p.into_inner())
}

const TINY: &str = r#"
[run]
experiment = "colormnist"
seeds = [0]
[sweep]
methods = ["vanilla", "cdep"]
[data]
source = "mnist_t10k"
train_subset = 700
test_subset = 200
[model]
kind = "color_cnn"
hidden = 100
[train]
optimizer = "adam"
lr = 1e-3
weight_decay = 1e-3
batch_size = 64
epochs = 1
[lambdas]
cdep = [1000.0]
[cdep]
n_blobs = 2
"#;

#[test]
fn cdep_removes_the_colour_pixels_influence_and_runs_repeat_exactly() {
    let _turn = serial();
    if !xai_core::data::data_root(None).join("mnist").is_dir() {
        panic!("MNIST missing: run `just fetch-data mnist`");
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir_a = run_text(TINY, "a", tmp.path(), None).unwrap().folder;
    for f in [
        "runs.csv",
        "summary.csv",
        "best.csv",
        "timing.csv",
        "table_mnist.csv",
        "paper_comparison.md",
        "metrics.csv",
        "verdict.txt",
    ] {
        assert!(dir_a.join(f).is_file(), "{f} missing");
    }
    for f in ["colormnist_results.png", "colormnist_examples.png", "cd_heatmap_colormnist.png"] {
        assert!(dir_a.join("figures").join(f).is_file(), "{f} missing");
    }
    let runs = read_csv(&dir_a.join("runs.csv"));
    let header = &runs[0];
    let expected =
        ["experiment", "method", "lambda", "seed", "epochs_run", "train_acc", "val_loss", "val_acc", "test_acc"];
    assert_eq!(&header[..expected.len()], expected, "§7 column order");
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let share = |row: &Vec<String>| row[col("test_share")].parse::<f64>().unwrap();
    let (vanilla, cdep) = (&runs[1], &runs[2]);
    assert_eq!((vanilla[col("method")].as_str(), cdep[col("method")].as_str()), ("vanilla", "cdep"));
    assert!(share(cdep) < 0.5 * share(vanilla), "CDEP share {} vs vanilla {}", share(cdep), share(vanilla));

    // Same config and seed → the same numbers (timing and memory columns aside, and the git
    // revision, which a commit between the two runs changes).
    let dir_b = run_text(TINY, "b", tmp.path(), None).unwrap().folder;
    let again = read_csv(&dir_b.join("runs.csv"));
    let skip: Vec<usize> = ["sec_per_epoch", "peak_mem_mb", "git_rev"]
        .iter()
        .filter_map(|c| header.iter().position(|h| h.as_str() == *c))
        .collect();
    for (r1, r2) in runs.iter().zip(&again) {
        for (i, (a, b)) in r1.iter().zip(r2).enumerate() {
            if !skip.contains(&i) {
                assert_eq!(a, b, "column {} differs", header[i]);
            }
        }
    }
}

#[test]
fn missing_data_is_a_clear_error_recorded_in_run_json() {
    let _turn = serial();
    let tmp = tempfile::tempdir().unwrap();
    let e = run_text(TINY, "nodata", tmp.path(), Some(&tmp.path().join("no-such-data"))).unwrap_err();
    let msg = xai_core::runner::chain(&e);
    assert!(msg.contains("mnist") && msg.contains("fetch-data") && msg.contains("marked failed"), "{msg}");
    let folder = std::fs::read_dir(tmp.path().join("cdep/nodata")).unwrap().next().unwrap().unwrap().path();
    let info = run_json(&folder);
    assert_eq!(info["status"], "failed");
    assert_eq!(info["error_kind"], "data", "{info}");
    assert!(info["error"].as_str().unwrap().contains("fetch-data"), "{info}");
}

const DECOY: &str = r#"
[run]
experiment = "decoymnist"
seeds = [0]
[sweep]
methods = ["vanilla", "cdep", "rrr", "eg"]
[data]
source = "mnist_t10k"
train_subset = 600
test_subset = 200
[model]
kind = "decoy_cnn"
hidden = 64
[train]
optimizer = "adam"
lr = 1e-3
batch_size = 64
epochs = 1
[lambdas]
cdep = [10.0]
rrr = [10.0]
eg = [10.0]
[eg]
variant = "batched"
k = 1
"#;

#[test]
fn every_image_method_finishes_and_cdep_shrinks_the_corner_share() {
    let _turn = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_text(DECOY, "decoy", tmp.path(), None).unwrap().folder;
    let runs = read_csv(&dir.join("runs.csv"));
    let col = |name: &str| runs[0].iter().position(|h| h == name).unwrap();
    let methods: Vec<&str> = runs[1..].iter().map(|r| r[col("method")].as_str()).collect();
    assert_eq!(methods, ["vanilla", "cdep", "rrr", "eg"]);
    let share = |i: usize| runs[i][col("test_share")].parse::<f64>().unwrap();
    assert!(share(2) < 0.5 * share(1), "CDEP {} vs vanilla {}", share(2), share(1));
    let timing = read_csv(&dir.join("timing.csv"));
    assert_eq!(timing.len(), 5, "timing row per method");
}

const SST: &str = r#"
[run]
experiment = "sst_decoy"
seeds = [0]
[sweep]
methods = ["cdep"]
[model]
kind = "lstm"
embed_dim = 16
hidden = 16
[train]
optimizer = "adam"
lr = 1e-3
batch_size = 64
epochs = 2
eval_batch_size = 512
[lambdas]
cdep = [10.0]
"#;

#[test]
fn sst_text_penalty_falls_during_training() {
    let _turn = serial();
    let tmp = tempfile::tempdir().unwrap();
    let dir = run_text(SST, "sst", tmp.path(), None).unwrap().folder;
    let m = read_csv(&dir.join("metrics.csv"));
    let col = m[0].iter().position(|h| h == "penalty").unwrap();
    let (p1, p2) = (m[1][col].parse::<f64>().unwrap(), m[2][col].parse::<f64>().unwrap());
    assert!(p1 > 0.0 && p2 < p1, "penalty per epoch {p1} → {p2}");
    let runs = read_csv(&dir.join("runs.csv"));
    assert!(runs[1].last().unwrap().contains("random"), "the run records the embedding init");
}
