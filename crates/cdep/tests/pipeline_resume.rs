//! `cdep --resume FOLDER` continues a killed sweep: finished cells are kept, the
//! interrupted cell reruns, and the tables equal an uninterrupted run's, with no
//! duplicated `metrics.csv` rows.

mod support;

use std::collections::HashSet;
use std::path::Path;
use support::{args, read_csv, run_args, run_json, run_text};

/// Two cells (vanilla, CDEP λ=1000; seed 0) on 300 MNIST t10k images, two epochs.
const TWO_CELLS: &str = r#"
[run]
experiment = "colormnist"
seeds = [0]
[sweep]
methods = ["vanilla", "cdep"]
[data]
source = "mnist_t10k"
train_subset = 300
test_subset = 100
[model]
kind = "color_cnn"
hidden = 50
[train]
optimizer = "adam"
lr = 1e-3
weight_decay = 1e-3
batch_size = 64
epochs = 2
[lambdas]
cdep = [1000.0]
[cdep]
n_blobs = 2
"#;

/// The columns of a table that measure results: not time or memory, and not `git_rev`
/// (a kept cell records the revision that computed it, which may differ from the resumed
/// run's when the checkout changed in between).
fn without_cost(rows: &[Vec<String>]) -> Vec<Vec<String>> {
    let header = &rows[0];
    let keep: Vec<usize> = (0..header.len())
        .filter(|&i| {
            !["sec_per_epoch", "peak_mem_mb", "seconds", "sec_per_epoch_mean", "peak_mem_mb_max", "git_rev"]
                .contains(&header[i].as_str())
        })
        .collect();
    rows.iter().map(|r| keep.iter().map(|&i| r[i].clone()).collect()).collect()
}

fn table(folder: &Path, file: &str) -> Vec<Vec<String>> {
    without_cost(&read_csv(&folder.join(file)))
}

#[test]
fn a_resumed_sweep_keeps_finished_cells_and_equals_an_uninterrupted_one() {
    let tmp = tempfile::tempdir().unwrap();
    let whole = run_text(TWO_CELLS, "two_cells", tmp.path(), None).unwrap().folder;
    let killed = run_text(TWO_CELLS, "two_cells", tmp.path(), None).unwrap().folder;

    // Simulate a kill during the CDEP cell: its stored outcome and heat maps are gone,
    // its epochs are in metrics.csv (plus a partial one), tables and verdict not written.
    let cells = killed.join("cells");
    let stored: Vec<String> =
        std::fs::read_dir(&cells).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().to_string()).collect();
    assert!(stored.iter().any(|f| f == "vanilla_λ_0_seed_0.json"), "{stored:?}");
    for f in stored.iter().filter(|f| f.starts_with("cdep")) {
        std::fs::remove_file(cells.join(f)).unwrap();
    }
    let mut metrics = std::fs::read_to_string(killed.join("metrics.csv")).unwrap();
    metrics.push_str("cdep,1000.0,0,3,0.5,0.1,0.6,50.0,40.0,0.2,0.1,1.0\n");
    std::fs::write(killed.join("metrics.csv"), metrics).unwrap();
    for f in ["runs.csv", "summary.csv", "best.csv", "paper_comparison.csv", "verdict.txt", "results.json"] {
        std::fs::remove_file(killed.join(f)).unwrap();
    }
    let mut info = run_json(&killed);
    info["status"] = "running".into();
    std::fs::write(killed.join("run.json"), serde_json::to_string_pretty(&info).unwrap()).unwrap();

    let mut a = args(None, tmp.path(), None);
    a.resume = Some(killed.clone());
    let resumed = run_args(&a).unwrap();
    assert_eq!(resumed.folder, killed);
    let info = run_json(&killed);
    assert_eq!((info["status"].as_str(), info["resumed"].as_u64()), (Some("finished"), Some(1)), "{info}");

    for file in ["runs.csv", "summary.csv", "best.csv", "paper_comparison.csv", "table_mnist.csv"] {
        assert_eq!(table(&killed, file), table(&whole, file), "{file} differs after resume");
    }
    let m = read_csv(&killed.join("metrics.csv"));
    let keys: Vec<String> = m[1..].iter().map(|r| r[..4].join(",")).collect();
    let unique: HashSet<&String> = keys.iter().collect();
    assert_eq!(unique.len(), keys.len(), "duplicated metrics rows: {keys:?}");
    assert_eq!(table(&killed, "metrics.csv"), table(&whole, "metrics.csv"));
}
