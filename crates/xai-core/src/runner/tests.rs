use super::*;
use serde::Deserialize;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cfg {
    run: RunTable<String>,
    #[serde(default)]
    fail: Option<String>,
    #[serde(default)]
    target: f64,
}

impl ExperimentConfig for Cfg {
    type Experiment = String;
    fn run_table(&self) -> &RunTable<String> {
        &self.run
    }
    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(self.target >= 0.0, "target: {} is negative", self.target);
        Ok(())
    }
    fn check_resume(&self, stored: &Self) -> anyhow::Result<()> {
        anyhow::ensure!(self.run.experiment == stored.run.experiment, "run.experiment changed");
        Ok(())
    }
    fn failure_kind(error: &anyhow::Error) -> Option<&'static str> {
        error.to_string().contains("custom").then_some("data")
    }
}

const EMBEDDED: Embedded = Embedded { path: "configs/test/unit_smoke.toml", text: "[run]\nexperiment = \"unit\"\n" };

fn args(runs: &Path, sets: &[&str]) -> RunArgs {
    RunArgs {
        common: CommonArgs {
            config: None,
            overrides: sets.iter().map(|s| s.to_string()).collect(),
            device: DeviceChoice::Cpu,
            threads: 0,
            runs_dir: runs.to_path_buf(),
            data_dir: None,
        },
        resume: None,
        strict: false,
        sweep: SweepArgs::default(),
    }
}

fn body(s: &mut Session<'_, Cfg>) -> anyhow::Result<Outcome> {
    if let Some(kind) = &s.config.fail {
        match kind.as_str() {
            "data" => Err(Error::data("/nowhere/train.idx", "truncated"))?,
            "nonfinite" => Err(Error::NonFinite("loss at step 3".into()))?,
            "custom" => anyhow::bail!("custom crate error"),
            _ => anyhow::bail!("something else"),
        }
    }
    let rows = vec![Row::new("acc", 0.9, report::Check::AtLeast(s.config.target))];
    Ok(Outcome::new("unit — ours vs paper", rows, serde_json::json!({"acc": 0.9})))
}

fn run_json(folder: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(folder.join("run.json")).unwrap()).unwrap()
}

#[test]
fn a_run_writes_results_verdict_and_report() {
    let tmp = tempfile::tempdir().unwrap();
    let done = run::<Cfg, _>("core", EMBEDDED, &args(tmp.path(), &[]), body).unwrap();
    assert!(done.passed);
    assert!(done.folder.starts_with(tmp.path().join("core/unit_smoke")), "{}", done.folder.display());
    assert!(done.verdict.starts_with("verdict unit_smoke: PASS — acc 0.900 (ok)"), "{}", done.verdict);
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(done.folder.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["passed"], true);
    assert_eq!(results["acc"], 0.9);
    assert!(done.folder.join("paper_comparison.md").is_file() && done.folder.join("verdict.txt").is_file());
    assert_eq!(run_json(&done.folder)["status"], "finished");
    let failed = run::<Cfg, _>("core", EMBEDDED, &args(tmp.path(), &["target=0.95"]), body).unwrap();
    assert!(!failed.passed && failed.verdict.contains("FAIL"), "{}", failed.verdict);
}

#[test]
fn failures_are_recorded_with_their_kind_and_cause() {
    let tmp = tempfile::tempdir().unwrap();
    for (fail, kind, text) in [
        ("data", "data", "truncated"),
        ("nonfinite", "training", "loss at step 3"),
        ("other", "other", "something else"),
    ] {
        let e = run::<Cfg, _>("core", EMBEDDED, &args(tmp.path(), &[&format!("fail={fail}")]), body).unwrap_err();
        let msg = chain(&e);
        assert!(msg.contains("marked failed") && msg.contains(text), "{msg}");
        let folder = std::fs::read_dir(tmp.path().join("core/unit_smoke"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| run_json(p)["error_kind"] == kind)
            .unwrap_or_else(|| panic!("no run marked {kind}"));
        let info = run_json(&folder);
        assert_eq!(info["status"], "failed");
        assert!(info["error"].as_str().unwrap().contains(text), "{info}");
    }
}

#[test]
fn bad_configs_fail_before_any_run_folder() {
    let tmp = tempfile::tempdir().unwrap();
    for (sets, needle) in
        [(vec!["target=-1"], "target: -1 is negative"), (vec!["run.seeds=[]"], "run.seeds"), (vec!["nope=1"], "nope")]
    {
        let e = chain(&run::<Cfg, _>("core", EMBEDDED, &args(tmp.path(), &sets), body).unwrap_err());
        assert!(e.contains(needle) && e.contains("unit_smoke.toml"), "{e}");
    }
    assert!(!tmp.path().join("core").exists(), "no run folder for a config error");
}

#[test]
fn resume_reopens_the_folder_with_its_config() {
    let tmp = tempfile::tempdir().unwrap();
    let first = run::<Cfg, _>("core", EMBEDDED, &args(tmp.path(), &["target=0.5"]), body).unwrap();
    let mut a = args(tmp.path(), &[]);
    a.resume = Some(first.folder.clone());
    let again = run::<Cfg, _>("core", EMBEDDED, &a, |s| {
        assert!(s.resumed);
        assert_eq!(s.config.target, 0.5, "the folder's config is used");
        assert_eq!(s.label, "unit_smoke");
        body(s)
    })
    .unwrap();
    assert_eq!(again.folder, first.folder);
    assert_eq!(run_json(&first.folder)["resumed"], 1);
    let mut changed = args(tmp.path(), &["run.experiment=other"]);
    changed.resume = Some(first.folder.clone());
    let e = chain(&run::<Cfg, _>("core", EMBEDDED, &changed, body).unwrap_err());
    assert!(e.contains("cannot resume") && e.contains("run.experiment changed"), "{e}");
    assert_eq!(run_json(&first.folder)["status"], "finished", "a refused resume leaves the folder as it was");
    assert!(std::fs::read_to_string(first.folder.join("config.toml")).unwrap().contains("\"unit\""));
}

#[test]
fn device_and_runs_root_rules() {
    assert_eq!(resolve_device(DeviceChoice::Cpu, Some(DeviceChoice::Cuda)).unwrap(), Device::Cpu);
    assert_eq!(resolve_device(DeviceChoice::Auto, Some(DeviceChoice::Cpu)).unwrap(), Device::Cpu);
    assert_eq!(runs_root(Path::new("runs"), Some(Path::new("out"))), PathBuf::from("out"));
    assert_eq!(runs_root(Path::new("mine"), Some(Path::new("out"))), PathBuf::from("mine"));
    assert_eq!(config_hash("a = 1\n").len(), 12);
    assert_ne!(config_hash("a = 1\n"), config_hash("a = 2\n"));
}
