//! Training on small real subsets (MNIST t10k from the data folder): the effect's
//! direction, run-folder outputs, and determinism (spec §9 property 22).

use cdep::config::Config;
use cdep::experiments::{run_sweep, Setup};
use std::path::Path;
use std::sync::Mutex;

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
methods = ["vanilla", "cdep"]
[data]
source = "mnist_t10k"
n_train = 700
n_test = 200
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

fn setup(runs: &Path, label: &str) -> Setup {
    Setup {
        device: tch::Device::Cpu,
        data_root: xai_core::data::data_root(None),
        runs_root: runs.to_path_buf(),
        label: label.into(),
    }
}

fn read_csv(path: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines().map(|l| l.split(',').map(str::to_string).collect()).collect()
}

#[test]
fn cdep_removes_the_colour_pixels_influence_and_runs_repeat_exactly() {
    let _turn = serial();
    if !xai_core::data::data_root(None).join("mnist").is_dir() {
        panic!("MNIST missing: run `just fetch-data mnist`");
    }
    let tmp = tempfile::tempdir().unwrap();
    let loaded = xai_core::config::parse::<Config>(TINY, "tiny", &[]).unwrap();
    let resolved = loaded.resolved_toml().unwrap();
    let (dir_a, _) = run_sweep(&loaded.value, &resolved, &setup(tmp.path(), "a")).unwrap();
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

    // Same config and seed → the same numbers (timing and memory columns aside).
    let (dir_b, _) = run_sweep(&loaded.value, &resolved, &setup(tmp.path(), "b")).unwrap();
    let again = read_csv(&dir_b.join("runs.csv"));
    let skip = [col("sec_per_epoch"), col("peak_mem_mb")];
    for (r1, r2) in runs.iter().zip(&again) {
        for (i, (a, b)) in r1.iter().zip(r2).enumerate() {
            if !skip.contains(&i) {
                assert_eq!(a, b, "column {} differs", header[i]);
            }
        }
    }
}

#[test]
fn missing_data_is_a_clear_error() {
    let _turn = serial();
    let tmp = tempfile::tempdir().unwrap();
    let loaded = xai_core::config::parse::<Config>(TINY, "tiny", &[]).unwrap();
    let mut s = setup(tmp.path(), "nodata");
    s.data_root = tmp.path().join("no-such-data");
    let e = run_sweep(&loaded.value, "", &s).unwrap_err().to_string();
    assert!(e.contains("mnist") && e.contains("fetch-data"), "{e}");
}

const DECOY: &str = r#"
[run]
experiment = "decoymnist"
seeds = [0]
methods = ["vanilla", "cdep", "rrr", "eg"]
[data]
source = "mnist_t10k"
n_train = 600
n_test = 200
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
    let loaded = xai_core::config::parse::<Config>(DECOY, "decoy", &[]).unwrap();
    let (dir, _) = run_sweep(&loaded.value, &loaded.resolved_toml().unwrap(), &setup(tmp.path(), "decoy")).unwrap();
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
    let loaded = xai_core::config::parse::<Config>(SST, "sst", &[]).unwrap();
    let (dir, _) = run_sweep(&loaded.value, &loaded.resolved_toml().unwrap(), &setup(tmp.path(), "sst")).unwrap();
    let m = read_csv(&dir.join("metrics.csv"));
    let col = m[0].iter().position(|h| h == "penalty").unwrap();
    let (p1, p2) = (m[1][col].parse::<f64>().unwrap(), m[2][col].parse::<f64>().unwrap());
    assert!(p1 > 0.0 && p2 < p1, "penalty per epoch {p1} → {p2}");
    let runs = read_csv(&dir.join("runs.csv"));
    assert!(runs[1].last().unwrap().contains("random"), "the run records the embedding init");
}
