//! Experiments end to end on small configs: the real toy colors file, and the runner's
//! run folders on generated data.

mod common;

use calimocho::experiments::active::{fold_sets, run_cell, CellSpec};
use calimocho::experiments::{data, Arm, Config};
use calimocho::Strategy;
use common::*;
use tch::{Device, Kind};
use xai_core::data::toy_colors as tc;

#[test]
fn real_file_encoding_rules_and_labels() {
    let root = toy_colors_root();
    let cfg: Config = toml::from_str("[run]\nexperiment = \"active\"\n").unwrap();
    let d = data::load(&cfg.data, &root).unwrap();
    assert_eq!(d.len(), 40000);
    assert_eq!(d.y_host.iter().sum::<i64>(), 19902);
    assert!(d.x.sum_dim_intlist(1, false, Kind::Float).eq(26.0).all().int64_value(&[]) == 1);
    let holds = d.y.eq(1);
    assert!(tc::rule0(&d.images).unwrap().equal(&holds) && tc::rule1(&d.images).unwrap().equal(&holds));
    assert!(d.z_star.square().sum_dim_intlist(1, false, Kind::Float).eq(4.0).all().int64_value(&[]) == 1);
    let sets = fold_sets(&cfg, &d);
    assert_eq!(sets.len(), 5);
    for s in &sets {
        assert_eq!(s.test.len(), 8000);
        assert_eq!(s.known.len(), 5);
        let mut known = s.known.clone();
        known.sort();
        known.dedup();
        assert_eq!(s.pool.len() + known.len(), 32000, "pool and known partition the non-test examples");
    }
}

#[test]
fn corrections_beat_label_only_on_the_real_file() {
    let root = toy_colors_root();
    let mut cfg: Config = toml::from_str("[run]\nexperiment = \"active\"\n").unwrap();
    cfg.data.folds = 1;
    cfg.data.test_subset = 1000;
    cfg.active.iterations = 12;
    cfg.active.steps_per_fit = 50;
    cfg.active.eval_every = 100;
    let d = data::load(&cfg.data, &root).unwrap();
    let sets = fold_sets(&cfg, &d);
    let (x, y, z) = d.to_device(Device::Cpu);
    let final_lz = |arm: Arm| {
        let cell = CellSpec { strategy: Strategy::Random, widths: vec![101], arm, fold: 0, seed: 0 };
        let (rows, _) = run_cell(&cfg, &cell, (&x, &y, &z), &sets[0], Device::Cpu, |_| {}).unwrap();
        assert_eq!(rows.len(), 12);
        let last = rows.last().unwrap();
        (last.zloss_test.unwrap(), last.expl_prec_test.unwrap())
    };
    let (base, base_prec) = final_lz(Arm { lambdas: [0.0, 0.0], c: 1 });
    let (corr, corr_prec) = final_lz(Arm { lambdas: [0.1, 0.0], c: 1 });
    assert!(corr < 0.5 * base, "corrected L_z {corr} vs label-only {base}");
    assert!(corr_prec > base_prec, "prec@4 {corr_prec} vs {base_prec}");
}

#[test]
fn active_run_writes_its_folder_and_resumes_finished_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = write_config(tmp.path(), "active_synth.toml", ACTIVE_SYNTH);
    let runs = tmp.path().join("runs");
    let done = run(&args(&cfg, &runs, tmp.path(), &[])).unwrap();
    assert!(done.passed, "{}", done.verdict);
    for f in ["metrics.csv", "summary.csv", "results.json", "paper_comparison.md", "verdict.txt"] {
        assert!(done.folder.join(f).is_file(), "{f}");
    }
    assert!(done.folder.join("figures/active__zloss_test.png").is_file());
    let metrics = std::fs::read_to_string(done.folder.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 1 + 2 * 2 * 6, "header + arms × folds × T");
    assert!(metrics.lines().next().unwrap().contains("yloss_query_ref,yloss_query,zloss_query,yloss_test,zloss_test"));
    let cells = std::fs::read_dir(done.folder.join("cells")).unwrap().count();
    assert_eq!(cells, 4);
    let mut a = args(&cfg, &runs, tmp.path(), &[]);
    a.resume = Some(done.folder.clone());
    let again = run(&a).unwrap();
    assert_eq!(again.folder, done.folder);
    // Kept cells give the same log (floats pass through JSON: compare the coordinates and queries).
    let again_metrics = std::fs::read_to_string(done.folder.join("metrics.csv")).unwrap();
    let head = |s: &str| s.lines().map(|l| l.split(',').take(9).collect::<Vec<_>>().join(",")).collect::<Vec<_>>();
    assert_eq!(head(&again_metrics), head(&metrics));
}

#[test]
fn passive_and_lime_runs_on_generated_data() {
    let tmp = tempfile::tempdir().unwrap();
    let text = r#"
[run]
experiment = "lime"
[data]
synthetic = 1000
folds = 1
[model]
widths = [[101]]
arms = [{ lambdas = [0.9, 0.0] }]
[passive]
steps = 40
checkpoint_every = 20
[lime]
repeats = [3]
samples = [60]
n_instances = 2
[checks]
min_f1 = 0.0
min_dis_fraction = 0.0
"#;
    let cfg = write_config(tmp.path(), "lime_synth.toml", text);
    let done = run(&args(&cfg, &tmp.path().join("runs"), tmp.path(), &[])).unwrap();
    let lime = std::fs::read_to_string(done.folder.join("lime.csv")).unwrap();
    assert_eq!(lime.lines().count(), 1 + 2, "two checkpoints × one (r, s)");
    let metrics = std::fs::read_to_string(done.folder.join("metrics.csv")).unwrap();
    assert_eq!(metrics.lines().count(), 1 + 2 * 2, "checkpoints × splits");
    assert!(done.folder.join("checkpoints").read_dir().unwrap().count() == 1);
    assert!(done.verdict.contains("Dis / max"), "{}", done.verdict);
}

#[test]
fn every_shipped_config_parses_and_validates() {
    use xai_core::runner::ExperimentConfig;
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/calimocho");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let cfg: Config = toml::from_str(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            cfg.validate().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 10, "{n} configs");
    for line in std::fs::read_to_string(dir.join("DEMO")).unwrap().lines().filter(|l| !l.trim().is_empty()) {
        assert!(line.contains("smoke") && dir.join(line.trim()).is_file(), "DEMO lists {line}");
    }
}
