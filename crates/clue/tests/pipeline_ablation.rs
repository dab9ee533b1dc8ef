//! E7 / E8 end to end on tiny LSAT settings: one row per swept value with the VAE that value
//! describes, the figure, a resume that keeps every finished cell, and config errors.

use clap::Parser;
use std::path::{Path, PathBuf};
use xai_core::runner::{Embedded, Finished, RunArgs};

const SMOKE: Embedded = Embedded {
    path: "configs/clue/ablation_latent_lsat_smoke.toml",
    text: include_str!("../../../configs/clue/ablation_latent_lsat_smoke.toml"),
};

#[derive(Parser)]
struct Args {
    #[command(flatten)]
    run: RunArgs,
}

const TINY: [&str; 10] = [
    "data.train_subset=600",
    "data.test_subset=150",
    "bnn.width=16",
    "bnn.epochs=12",
    "bnn.burn_in=4",
    "bnn.sample_every=2",
    "vae.width=16",
    "vae.epochs=4",
    "clue.max_steps=10",
    "select.max_rows=20",
];

fn go(runs: &Path, extra: &[String]) -> anyhow::Result<Finished> {
    let data = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../datasets"));
    let mut argv = vec![
        "clue".to_string(),
        "--device".into(),
        "cpu".into(),
        "--threads".into(),
        "1".into(),
        "--runs-dir".into(),
        runs.to_str().unwrap().into(),
        "--data-dir".into(),
        data.to_str().unwrap().into(),
    ];
    argv.extend(extra.iter().cloned());
    let a = Args::try_parse_from(argv)?;
    xai_core::runner::run::<clue::experiments::Config, _>("clue", SMOKE, &a.run, clue::experiments::run)
}

fn set(overrides: &[&str]) -> Vec<String> {
    overrides.iter().flat_map(|o| ["--set".to_string(), o.to_string()]).collect()
}

#[test]
fn tiny_depth_ablation_runs_every_value_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut o = TINY.to_vec();
    o.extend(["ablation.kind=\"depth\"", "ablation.values=[1, 3]", "checks.min_drop=0.0"]);
    let done = go(tmp.path(), &set(&o)).unwrap();
    assert!(done.passed, "{}", done.verdict);
    assert!(done.folder.join("figures/ablation_depth.png").is_file());
    let csv = std::fs::read_to_string(done.folder.join("ablation.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(rows[0].starts_with("depth,1,") && rows[1].starts_with("depth,3,"), "{csv}");
    // Each value trains its own VAE: the reconstruction errors differ.
    assert_ne!(rows[0].split(',').nth(5), rows[1].split(',').nth(5), "same recon error for both depths: {csv}");
    let mut again = vec!["--resume".to_string(), done.folder.to_str().unwrap().to_string()];
    again.extend(set(&o));
    let resumed = go(tmp.path(), &again).unwrap();
    assert_eq!(std::fs::read_to_string(resumed.folder.join("ablation.csv")).unwrap(), csv);
}

#[test]
fn swept_value_changes_only_its_own_size() {
    use clue::experiments::ablation::spec_for;
    use clue::vae::VaeSpec;
    let base = VaeSpec { width: 300, depth: 3, latent_dim: 4 };
    assert_eq!(spec_for("depth", base, 1), VaeSpec { depth: 1, ..base });
    assert_eq!(spec_for("latent_dim", base, 12), VaeSpec { latent_dim: 12, ..base });
}

#[test]
fn bad_ablation_configs_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    for (o, needle) in [
        ("ablation.kind=\"width\"", "ablation.kind"),
        ("ablation.values=[]", "ablation.values"),
        ("ablation.values=[0, 2]", "ablation.values"),
        ("data.dataset=\"mnist\"", "data.dataset"),
    ] {
        let err = format!("{:#}", go(tmp.path(), &set(&[o])).unwrap_err());
        assert!(err.contains(needle), "{o}: {err}");
    }
}
