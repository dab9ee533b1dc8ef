//! An lfxai sweep shared out as a Slurm job array: `--emit-slurm` counts every cell (the
//! loops go on past skipped cells), each `--cell N` runs one, and `--collect` builds the same
//! metrics as the local run of the same config.

mod common;

use common::*;

/// disvae on MNIST: 2 losses × 2 β × 1 seed = 4 cells.
const TINY: [&str; 6] = [
    "data.n_train=100",
    "data.n_test=10",
    "train.epochs=1",
    "train.batch_size=50",
    "features.gs_samples=1",
    "disvae.betas=[1.0, 10.0]",
];

#[test]
fn disvae_cells_then_collect_equal_the_local_sweep() {
    if !mnist_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let base = sets(&TINY);
    let with = |extra: &[String]| -> Vec<String> { base.iter().chain(extra).cloned().collect() };
    let local = run_with(DISVAE, None, &runs, &base).unwrap();

    let job = tmp.path().join("job");
    let emitted = run_with(DISVAE, None, &runs, &with(&["--emit-slurm".into(), job.display().to_string()])).unwrap();
    let folder = emitted.folder;
    let sweep = xai_core::runner::sweep::SweepFile::read(&folder).unwrap().expect("sweep.json");
    let keys: Vec<&str> = sweep.cells.iter().map(|c| c.key.as_str()).collect();
    assert_eq!(keys.len(), 4, "every cell counted, none stopped the loop: {keys:?}");
    assert!(keys[0].starts_with("disvae beta_vae beta 1"), "{keys:?}");
    assert!(read(&job, "job.sh").contains("--array=0-3"));

    let resume = folder.display().to_string();
    for n in 0..4 {
        let task = with(&["--resume".into(), resume.clone(), "--cell".into(), n.to_string()]);
        run_with(DISVAE, None, &runs, &task).unwrap_or_else(|e| panic!("cell {n}: {e:#}"));
    }
    let merged = run_with(DISVAE, None, &runs, &with(&["--collect".into(), resume.clone()])).unwrap();
    assert!(merged.passed, "{}", merged.verdict);
    assert_eq!(read(&folder, "disvae/metrics.csv"), read(&local.folder, "disvae/metrics.csv"));
    assert!(folder.join("disvae/box_pearson.png").is_file(), "figures drawn from the collected cells");
}

#[test]
fn a_missing_cell_is_counted_not_fatal() {
    if !mnist_present() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    let base = sets(&TINY);
    let job = tmp.path().join("job");
    let mut emit = base.clone();
    emit.extend(["--emit-slurm".into(), job.display().to_string()]);
    let folder = run_with(DISVAE, None, &runs, &emit).unwrap().folder;
    let resume = folder.display().to_string();
    let mut one = base.clone();
    one.extend(["--resume".into(), resume.clone(), "--cell".into(), "2".into()]);
    run_with(DISVAE, None, &runs, &one).unwrap();
    // Three cells never ran: --collect lists them instead of stopping at the first.
    let mut collect = base.clone();
    collect.extend(["--collect".into(), resume]);
    let partial = run_with(DISVAE, None, &runs, &collect);
    let text = match &partial {
        Ok(f) => f.verdict.clone(),
        Err(e) => format!("{e:#}"),
    };
    assert!(partial.as_ref().map(|f| !f.passed).unwrap_or(true), "a partial sweep does not pass: {text}");
    let csv = read(&folder, "disvae/metrics.csv");
    assert_eq!(csv.lines().count(), 2, "the one finished cell's row: {csv}");
    assert!(text.contains('3'), "three cells missing: {text}");
}
