//! The report against small fake run folders: what each folder says must be what the report
//! shows, and nothing unfinished may count as a pass.

use base64::Engine;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use xai_report::{collect, write, Options};

/// A real 1×1 PNG, so the inlined figure is one a browser can draw.
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d,
    0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

const HEADER: &str = "metric,ours,ours_std,paper,paper_std,check,status,note\n";

struct Fake<'a> {
    crate_name: &'a str,
    experiment: &'a str,
    folder: &'a str,
    status: &'a str,
    csv: Option<&'a str>,
    passed: Option<bool>,
    error_kind: Option<&'a str>,
    figure: bool,
}

impl<'a> Fake<'a> {
    fn new(crate_name: &'a str, experiment: &'a str, folder: &'a str, status: &'a str) -> Self {
        Self { crate_name, experiment, folder, status, csv: None, passed: None, error_kind: None, figure: false }
    }

    fn write(&self, runs: &Path) -> PathBuf {
        let dir = runs.join(self.crate_name).join(self.experiment).join(self.folder);
        std::fs::create_dir_all(dir.join("figures")).unwrap();
        let started = format!(
            "{}-{}-{}T{}:{}:{}+00:00",
            &self.folder[..4],
            &self.folder[4..6],
            &self.folder[6..8],
            &self.folder[9..11],
            &self.folder[11..13],
            &self.folder[13..15]
        );
        let info = serde_json::json!({
            "crate_name": self.crate_name,
            "experiment": self.experiment,
            "status": self.status,
            "error_kind": self.error_kind,
            "error": self.error_kind.map(|k| format!("{k} went wrong: missing file train.csv")),
            "started": started,
            "finished": null,
            "git_revision": format!("rev-{}", &self.folder[16..]),
            "seed": 0,
            "device": "cpu (2 threads)",
            "libtorch": "2.13.0",
            "command_line": [],
            "wall_seconds": 125.0,
            "stages": [],
            "peak_rss_mib": 10.0,
            "resumed": 0
        });
        std::fs::write(dir.join("run.json"), serde_json::to_string_pretty(&info).unwrap()).unwrap();
        if let Some(csv) = self.csv {
            std::fs::write(dir.join("paper_comparison.csv"), format!("{HEADER}{csv}")).unwrap();
            std::fs::write(dir.join("paper_comparison.md"), format!("## {} — ours vs paper\n\n", self.experiment))
                .unwrap();
        }
        if let Some(passed) = self.passed {
            let verdict = format!("verdict {}: {}", self.experiment, if passed { "PASS" } else { "FAIL" });
            std::fs::write(
                dir.join("results.json"),
                serde_json::json!({ "passed": passed, "verdict": verdict }).to_string(),
            )
            .unwrap();
        }
        if self.figure {
            std::fs::write(dir.join("figures/curve.png"), PNG).unwrap();
        }
        dir
    }
}

const PASS_CSV: &str = "\
accuracy,0.3,0.01,0.31,0.023,within ±0.02,pass,3 seeds
gap (pts),14.75,,,,>= 10,pass,
time (s),3.0,,,,reported,-,\"as measured, not judged\"
";

/// Lays out the fake repository: runs/ and configs/. Returns (root, runs).
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let root = tempfile::tempdir().unwrap();
    let runs = root.path().join("runs");
    let mut passed = Fake::new("alpha", "exp_smoke", "20260101-100000-aaaa", "finished");
    passed.csv = Some(PASS_CSV);
    passed.passed = Some(true);
    passed.figure = true;
    passed.write(&runs);

    // Two runs: the newer one (a pass) wins over the older FAIL.
    let mut old = Fake::new("alpha", "two_runs", "20260101-090000-old1", "finished");
    old.csv = Some("accuracy,0.1,,0.31,,within ±0.02,FAIL,\n");
    old.passed = Some(false);
    old.write(&runs);
    let mut new = Fake::new("alpha", "two_runs", "20260102-090000-new1", "finished");
    new.csv = Some("accuracy,0.305,,0.31,,within ±0.02,pass,\n");
    new.passed = Some(true);
    new.write(&runs);

    let mut failed = Fake::new("alpha", "broken", "20260101-110000-ffff", "failed");
    failed.error_kind = Some("data");
    failed.write(&runs);

    Fake::new("beta", "long", "20260101-120000-rrrr", "running").write(&runs);

    let mut judged_fail = Fake::new("beta", "judged_fail", "20260101-130000-jjjj", "finished");
    judged_fail.csv = Some("fidelity,0.7,,,,>= 0.75,FAIL,\nhit rate,1.0,,0.99,,>= 0.95,pass,\n");
    judged_fail.passed = Some(false);
    judged_fail.write(&runs);

    // An older pass under a newer failure: shown, but neither the experiment nor its numbers pass.
    let mut stale = Fake::new("beta", "stale", "20260101-080000-ssss", "finished");
    stale.csv = Some("hit rate,1.0,,0.99,,>= 0.95,pass,\n");
    stale.passed = Some(true);
    stale.write(&runs);
    let mut stale_fail = Fake::new("beta", "stale", "20260103-080000-tttt", "failed");
    stale_fail.error_kind = Some("training");
    stale_fail.write(&runs);

    // A folder the runner never got to write run.json into.
    std::fs::create_dir_all(runs.join("beta/no_info/20260101-140000-nnnn")).unwrap();

    // Earlier reports live under runs/report/ and are not a crate.
    std::fs::create_dir_all(runs.join("report/20260101-000000-xxxx")).unwrap();

    let configs = root.path().join("configs/alpha");
    std::fs::create_dir_all(&configs).unwrap();
    std::fs::write(configs.join("exp_smoke.toml"), "").unwrap();
    std::fs::write(configs.join("never_run.toml"), "").unwrap();
    std::fs::create_dir_all(root.path().join("crates/alpha")).unwrap();
    std::fs::write(
        root.path().join("crates/alpha/Cargo.toml"),
        "[package]\nname = \"alpha\"\ndescription = \"ALPHA (Someone et al., 2020): a paper.\"\n",
    )
    .unwrap();
    (root, runs)
}

fn options(root: &Path, runs: &Path) -> Options {
    let mut o = Options::new(runs);
    o.repo = Some(root.to_path_buf());
    o
}

/// Cells of the Markdown table whose header starts with `header`, in the section that starts
/// at the line `heading`.
fn md_table(md: &str, heading: &str, header: &str) -> Vec<Vec<String>> {
    let lines: Vec<&str> = md.lines().collect();
    let start = lines.iter().position(|l| *l == heading).unwrap_or_else(|| panic!("no heading {heading:?} in\n{md}"));
    let head = start
        + lines[start..]
            .iter()
            .position(|l| l.starts_with(header))
            .unwrap_or_else(|| panic!("no table after {heading}"));
    lines[head + 2..]
        .iter()
        .take_while(|l| l.starts_with('|'))
        .map(|l| l.trim_start_matches("| ").trim_end_matches(" |").split(" | ").map(str::to_string).collect())
        .collect()
}

/// The experiment table of one crate: experiment name (link text) -> cells.
fn experiment_table(md: &str, crate_name: &str) -> HashMap<String, Vec<String>> {
    md_table(md, &format!("## {crate_name}"), "| experiment |")
        .into_iter()
        .map(|cells| {
            let name = cells[0].trim_start_matches('[').split(']').next().unwrap().to_string();
            (name, cells)
        })
        .collect()
}

/// The CSV's rows as the report must show them: metric, ours ± std, paper ± std, check, status, note.
fn expected_rows(csv_path: &Path) -> Vec<Vec<String>> {
    let mut reader = csv::Reader::from_path(csv_path).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let num = |i: usize| r[i].parse::<f64>().ok();
            let status = match &r[6] {
                "-" => "reported".to_string(),
                "FAIL" => "**FAIL**".to_string(),
                s => s.to_string(),
            };
            vec![
                r[0].to_string(),
                xai_report::format::value(num(1), num(2)),
                xai_report::format::value(num(3), num(4)),
                r[5].to_string(),
                status,
                r[7].to_string(),
            ]
        })
        .collect()
}

#[test]
fn tables_match_the_run_folders() {
    let (root, runs) = fixture();
    let out = root.path().join("out");
    let report = collect(&options(root.path(), &runs)).unwrap();
    write(&report, &out).unwrap();
    let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();

    let alpha = experiment_table(&md, "alpha");
    let beta = experiment_table(&md, "beta");
    let status = |t: &HashMap<String, Vec<String>>, e: &str| t.get(e).unwrap_or_else(|| panic!("{e} missing")).clone();
    assert_eq!(status(&alpha, "exp_smoke")[1..4], ["smoke", "PASS", "2 / 2 pass"]);
    assert_eq!(status(&alpha, "two_runs")[2], "PASS");
    assert!(status(&alpha, "two_runs")[4].contains("20260102-090000-new1"), "latest run wins: {:?}", alpha["two_runs"]);
    assert_eq!(status(&alpha, "broken")[2], "**failed (data)**");
    assert_eq!(status(&alpha, "never_run")[2], "not-run");
    assert_eq!(status(&beta, "long")[2], "**running**");
    assert_eq!(status(&beta, "long")[6], "—", "a running run's wall time is not final");
    assert_eq!(status(&beta, "judged_fail")[2..4], ["**FAIL**", "1 / 2 pass"]);
    assert_eq!(status(&beta, "stale")[2..4], ["**failed (training)**", "(1 / 1 pass in an older run)"]);
    assert_eq!(status(&beta, "no_info")[2], "**incomplete**");
    assert!(!md.contains("## report"), "runs/report/ is not a crate");
    // Run folder, start, wall, device and git revision come from run.json.
    let smoke = status(&alpha, "exp_smoke");
    assert_eq!(smoke[5..9], ["2026-01-01 10:00:00", "2 min 05 s", "cpu (2 threads)", "rev-aaaa"]);

    // Every number of the shown run, as its CSV has it.
    for (crate_name, exp, folder) in [
        ("alpha", "exp_smoke", "20260101-100000-aaaa"),
        ("alpha", "two_runs", "20260102-090000-new1"),
        ("beta", "judged_fail", "20260101-130000-jjjj"),
        ("beta", "stale", "20260101-080000-ssss"),
    ] {
        let state = &experiment_table(&md, crate_name)[exp][2];
        let heading = format!("### {crate_name} / {exp} — {state}");
        let shown = md_table(&md, &heading, "| metric |");
        let csv = runs.join(crate_name).join(exp).join(folder).join("paper_comparison.csv");
        assert_eq!(shown, expected_rows(&csv), "{heading}");
    }
    // The formatting itself, not only its agreement with the helper above.
    let smoke_rows = md_table(&md, "### alpha / exp_smoke — PASS", "| metric |");
    assert_eq!(smoke_rows[0][..5], ["accuracy", "0.3000 ± 0.0100", "0.3100 ± 0.0230", "within ±0.02", "pass"]);
    assert_eq!(smoke_rows[2][5], "as measured, not judged");

    // Summary: only latest finished runs count: exp_smoke 2 + two_runs 1 + judged_fail 1 of 2.
    let summary = md_table(&md, "## Summary", "| paper |");
    let alpha_row = summary.iter().find(|r| r[0].starts_with("[alpha]")).unwrap();
    assert!(alpha_row[0].contains("ALPHA (Someone et al., 2020)"), "{alpha_row:?}");
    // experiments, PASS, FAIL, unfinished, reported only, not-run, smoke, paper-scale
    assert_eq!(alpha_row[1..], ["4", "2", "0", "1", "0", "1", "2 / 2", "1 / 1"]);
    let beta_row = summary.iter().find(|r| r[0].starts_with("[beta]")).unwrap();
    assert_eq!(beta_row[1..], ["4", "0", "1", "3", "0", "0", "—", "1 / 2"]);
    assert!(md.contains("**4 of 5 judged numbers reproduce**"), "{md}");

    // Unfinished runs say why.
    assert!(md.contains("data went wrong: missing file train.csv"));
    assert!(md.contains("no end recorded"));
    assert!(md.contains("last finished run (numbers not counted"));
    // The figure link resolves from the report folder.
    let link = md.lines().find(|l| l.starts_with("![curve.png](")).expect("figure link");
    let target = link.trim_start_matches("![curve.png](").trim_end_matches(')');
    assert_eq!(std::fs::read(out.join(target)).unwrap(), PNG);
}

#[test]
fn html_is_self_contained() {
    let (root, runs) = fixture();
    let out = root.path().join("out");
    write(&collect(&options(root.path(), &runs)).unwrap(), &out).unwrap();
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    let inline = format!("src=\"data:image/png;base64,{}\"", base64::engine::general_purpose::STANDARD.encode(PNG));
    assert_eq!(page.matches(&inline).count(), 1, "the one figure, inlined once");
    // Nothing fetched from elsewhere: no external sources, scripts or style sheets.
    for needle in ["src=\"http", "href=\"http", "<script", "<link"] {
        assert!(!page.contains(needle), "{needle}");
    }
    for badge in [
        "<span class=\"badge running\">running</span>",
        "<span class=\"badge fail\">failed (data)</span>",
        "<span class=\"badge notrun\">not-run</span>",
        "<span class=\"badge incomplete\">incomplete</span>",
        "<span class=\"badge pass\">PASS</span>",
    ] {
        assert!(page.contains(badge), "{badge}");
    }
    // Text from run folders is escaped, not interpreted.
    assert!(page.contains("within ±0.02") && page.contains("&gt;= 10"));
}

#[test]
fn since_leaves_older_runs_out() {
    let (root, runs) = fixture();
    let mut o = options(root.path(), &runs);
    o.since = Some("20260102-000000".into());
    let report = collect(&o).unwrap();
    let alpha = report.papers.iter().find(|p| p.crate_name == "alpha").unwrap();
    let two = alpha.experiments.iter().find(|e| e.name == "two_runs").unwrap();
    assert_eq!(two.runs.len(), 1);
    let smoke = alpha.experiments.iter().find(|e| e.name == "exp_smoke").unwrap();
    assert_eq!(smoke.state(), xai_report::model::ExperimentState::NotRun);
    o.since = Some("2026-01-02".into());
    assert!(collect(&o).is_err(), "a --since that is not a run folder timestamp");
}

#[test]
fn smoke_scale_drops_only_paper_configs_that_never_ran() {
    let (root, runs) = fixture();
    let mut o = options(root.path(), &runs);
    o.scale = xai_report::Scale::Smoke;
    let report = collect(&o).unwrap();
    let names: Vec<&str> = report.papers.iter().flat_map(|p| &p.experiments).map(|e| e.name.as_str()).collect();
    // never_run is a paper-scale config without runs; the others have run folders and stay.
    assert_eq!(names, ["broken", "exp_smoke", "two_runs", "judged_fail", "long", "no_info", "stale"]);
    o.scale = xai_report::Scale::Paper;
    let report = collect(&o).unwrap();
    assert!(report.papers.iter().flat_map(|p| &p.experiments).any(|e| e.name == "never_run"));
}

#[test]
fn binary_writes_both_files_with_the_command_log() {
    let (root, runs) = fixture();
    let log = root.path().join("commands.tsv");
    std::fs::write(
        &log,
        "crate\tconfig\texit_status\tseconds\nalpha\tconfigs/alpha/exp_smoke.toml\t0\t12.5\nbeta\tconfigs/beta/long.toml\t124\t900\n\
         gamma\tconfigs/gamma/needs_data_smoke.toml\t77\t0\n",
    )
    .unwrap();
    let out = root.path().join("report");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_xai-report"))
        .arg(&runs)
        .arg("--out")
        .arg(&out)
        .arg("--repo")
        .arg(root.path())
        .arg("--commands")
        .arg(&log)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    assert!(String::from_utf8_lossy(&status.stdout).starts_with("4 of 5 judged numbers reproduce"));
    let md = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    let commands = md_table(&md, "## Commands run", "| crate |");
    assert_eq!(commands[1], ["beta", "`configs/beta/long.toml`", "124 (timed out)", "15 min 00 s"]);
    assert_eq!(commands[2], ["gamma", "`configs/gamma/needs_data_smoke.toml`", "77 (skipped: no data)", "0.0 s"]);
    // A config skipped for want of data is neither a failure nor a run.
    assert!(md.contains("3 commands, 1 failed, 1 skipped for want of data"), "{md}");
    // beta/long's run.json says running, but the log says its command was killed.
    assert_eq!(experiment_table(&md, "beta")["long"][2], "**incomplete**");
    assert!(md.contains("its command (configs/beta/long.toml) ended with exit status 124 (timed out)"));
    assert!(out.join("report.html").is_file());

    let missing =
        std::process::Command::new(env!("CARGO_BIN_EXE_xai-report")).arg(root.path().join("nowhere")).output().unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
}

/// On the repository's own runs/, when there are any: every finished run's table has as many
/// rows as its CSV.
#[test]
fn real_run_folders_when_present() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let runs = repo.join("runs");
    if !runs.is_dir() {
        eprintln!("no runs/ folder: skipped");
        return;
    }
    let mut o = Options::new(&runs);
    o.repo = Some(repo.clone());
    let report = collect(&o).unwrap();
    for e in report.papers.iter().flat_map(|p| &p.experiments) {
        if let Some(run) = e.shown() {
            let rows = csv::Reader::from_path(run.folder.join("paper_comparison.csv")).unwrap().records().count();
            assert_eq!(run.numbers.len(), rows, "{}", run.folder.display());
        }
    }
}
