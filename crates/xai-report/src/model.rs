//! What the report knows about runs, experiments and papers, and the rules that turn run
//! folders into a status. Nothing here reads files (see `scan`) or writes them.

use std::path::PathBuf;

/// How a run folder ended, from its `run.json`.
#[derive(Debug, Clone, PartialEq)]
pub enum RunState {
    Finished,
    /// `run.json` says `failed`; `kind` is its `error_kind` (config, data, training, …).
    Failed {
        kind: Option<String>,
        error: Option<String>,
    },
    /// `run.json` says `running`: the process is still at work, or was killed before it
    /// could record an end (the runner cannot tell a crash by SIGKILL from a live run).
    Running,
    /// No readable `run.json`, an unknown status, or a finished run without its
    /// `paper_comparison.csv`: nothing here can be trusted as a result.
    Incomplete(String),
}

impl RunState {
    pub fn label(&self) -> String {
        match self {
            RunState::Finished => "finished".into(),
            RunState::Failed { kind: Some(k), .. } => format!("failed ({k})"),
            RunState::Failed { kind: None, .. } => "failed".into(),
            RunState::Running => "running".into(),
            RunState::Incomplete(_) => "incomplete".into(),
        }
    }
}

/// One row of `paper_comparison.csv`.
#[derive(Debug, Clone, PartialEq)]
pub struct Number {
    pub metric: String,
    pub ours: Option<f64>,
    pub ours_std: Option<f64>,
    pub paper: Option<f64>,
    pub paper_std: Option<f64>,
    /// The check as the runner describes it (`within ±0.02`, `>= 10`, `reported`).
    pub check: String,
    pub status: NumberStatus,
    pub note: String,
}

/// The `status` column of `paper_comparison.csv`.
#[derive(Debug, Clone, PartialEq)]
pub enum NumberStatus {
    Pass,
    Fail,
    /// Shown beside the paper's value, not judged (`-` in the CSV).
    Reported,
    /// A status this report does not know; counted as not reproduced rather than guessed.
    Unknown(String),
}

impl NumberStatus {
    pub fn parse(s: &str) -> Self {
        match s.trim() {
            "pass" => NumberStatus::Pass,
            "FAIL" => NumberStatus::Fail,
            "-" | "" => NumberStatus::Reported,
            other => NumberStatus::Unknown(other.into()),
        }
    }

    pub fn label(&self) -> &str {
        match self {
            NumberStatus::Pass => "pass",
            NumberStatus::Fail => "FAIL",
            NumberStatus::Reported => "reported",
            NumberStatus::Unknown(s) => s,
        }
    }

    pub fn judged(&self) -> bool {
        !matches!(self, NumberStatus::Reported)
    }
}

/// One run folder `<runs>/<crate>/<experiment>/<timestamp>-<id>/`.
#[derive(Debug, Clone)]
pub struct Run {
    /// The folder as found under the runs directory given on the command line.
    pub folder: PathBuf,
    /// `<timestamp>-<id>`.
    pub name: String,
    pub state: RunState,
    pub started: Option<String>,
    pub git_revision: Option<String>,
    pub device: Option<String>,
    /// `run.json`'s `wall_seconds`; while a run is going this is only as fresh as its last stage.
    pub wall_seconds: Option<f64>,
    /// First line of `paper_comparison.md` without the `## `.
    pub title: Option<String>,
    pub verdict: Option<String>,
    /// `results.json`'s `passed`: false also when sweep cells failed, which the rows do not show.
    pub results_passed: Option<bool>,
    pub numbers: Vec<Number>,
    /// PNGs directly in `figures/`, sorted by name, at most the report's cap.
    pub figures: Vec<PathBuf>,
    /// All PNGs under `figures/`, sub-folders included.
    pub figures_total: usize,
}

impl Run {
    pub fn finished(&self) -> bool {
        self.state == RunState::Finished
    }

    /// Judged numbers that reproduce and all judged numbers.
    pub fn judged(&self) -> (usize, usize) {
        let judged: Vec<&Number> = self.numbers.iter().filter(|n| n.status.judged()).collect();
        (judged.iter().filter(|n| n.status == NumberStatus::Pass).count(), judged.len())
    }

    /// PASS only for a finished run whose judged numbers all pass and whose `results.json`
    /// does not say otherwise.
    pub fn verdict_state(&self) -> ExperimentState {
        if !self.finished() {
            return ExperimentState::Unfinished(self.state.clone());
        }
        let (passed, judged) = self.judged();
        if passed < judged || self.results_passed == Some(false) {
            ExperimentState::Fail
        } else if judged == 0 {
            ExperimentState::ReportedOnly
        } else {
            ExperimentState::Pass
        }
    }
}

/// Where an experiment stands: its latest run decides.
#[derive(Debug, Clone, PartialEq)]
pub enum ExperimentState {
    Pass,
    Fail,
    /// Finished with no judged number.
    ReportedOnly,
    Unfinished(RunState),
    NotRun,
}

impl ExperimentState {
    pub fn label(&self) -> String {
        match self {
            ExperimentState::Pass => "PASS".into(),
            ExperimentState::Fail => "FAIL".into(),
            ExperimentState::ReportedOnly => "reported only".into(),
            ExperimentState::Unfinished(s) => s.label(),
            ExperimentState::NotRun => "not-run".into(),
        }
    }

    /// A CSS class / colour family for the HTML badge.
    pub fn class(&self) -> &'static str {
        match self {
            ExperimentState::Pass => "pass",
            ExperimentState::Fail | ExperimentState::Unfinished(RunState::Failed { .. }) => "fail",
            ExperimentState::Unfinished(RunState::Running) => "running",
            ExperimentState::Unfinished(_) => "incomplete",
            ExperimentState::ReportedOnly => "reported",
            ExperimentState::NotRun => "notrun",
        }
    }
}

/// One experiment of a crate: a config under `configs/<crate>/`, run folders under
/// `<runs>/<crate>/<name>/`, or both.
#[derive(Debug, Clone)]
pub struct Experiment {
    pub crate_name: String,
    pub name: String,
    pub config: Option<PathBuf>,
    /// Every run folder, oldest first.
    pub runs: Vec<Run>,
}

impl Experiment {
    /// The same rule as `scripts/reproduce`: a name containing `smoke` is a smoke config.
    pub fn is_smoke(&self) -> bool {
        self.name.contains("smoke")
    }

    pub fn latest(&self) -> Option<&Run> {
        self.runs.last()
    }

    /// The run whose numbers the report shows: the latest finished one.
    pub fn shown(&self) -> Option<&Run> {
        self.runs.iter().rev().find(|r| r.finished())
    }

    /// Runs newer than [`Experiment::shown`] (all runs when none finished): failed,
    /// running or incomplete, listed so a stale pass is never mistaken for the current state.
    pub fn newer_unfinished(&self) -> &[Run] {
        match self.runs.iter().rposition(Run::finished) {
            Some(i) => &self.runs[i + 1..],
            None => &self.runs,
        }
    }

    pub fn state(&self) -> ExperimentState {
        match self.latest() {
            None => ExperimentState::NotRun,
            Some(run) => run.verdict_state(),
        }
    }
}

/// One crate (one paper, or the shared core) and its experiments, sorted by name.
#[derive(Debug, Clone)]
pub struct Paper {
    pub crate_name: String,
    /// The crate's `Cargo.toml` description, which names the paper.
    pub description: Option<String>,
    pub experiments: Vec<Experiment>,
}

/// Counts for the summary table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    pub experiments: usize,
    pub pass: usize,
    pub fail: usize,
    pub reported_only: usize,
    /// Latest run failed, running or incomplete.
    pub unfinished: usize,
    pub not_run: usize,
    /// Judged numbers of the shown runs, smoke and paper-scale apart: (reproduce, judged).
    pub smoke_numbers: (usize, usize),
    pub paper_numbers: (usize, usize),
}

impl Tally {
    pub fn add(&mut self, e: &Experiment) {
        self.experiments += 1;
        match e.state() {
            ExperimentState::Pass => self.pass += 1,
            ExperimentState::Fail => self.fail += 1,
            ExperimentState::ReportedOnly => self.reported_only += 1,
            ExperimentState::Unfinished(_) => self.unfinished += 1,
            ExperimentState::NotRun => self.not_run += 1,
        }
        // Numbers count only when the latest run finished: an older pass under a newer
        // failed run is shown, but not counted as reproducing.
        if let Some(run) = e.latest().filter(|r| r.finished()) {
            let (p, j) = run.judged();
            let slot = if e.is_smoke() { &mut self.smoke_numbers } else { &mut self.paper_numbers };
            slot.0 += p;
            slot.1 += j;
        }
    }

    pub fn of(experiments: &[Experiment]) -> Self {
        let mut t = Tally::default();
        experiments.iter().for_each(|e| t.add(e));
        t
    }
}

/// One line of the smoke-all log: a command, its exit status and wall time.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    pub crate_name: String,
    pub config: String,
    pub exit_status: i32,
    pub seconds: f64,
}

impl Command {
    /// A non-zero exit status other than [`crate::SKIPPED`].
    pub fn failed(&self) -> bool {
        self.exit_status != 0 && self.exit_status != crate::SKIPPED
    }
}

/// Everything the report shows.
#[derive(Debug, Clone)]
pub struct Report {
    pub generated: String,
    pub runs_dir: PathBuf,
    /// Only run folders named at or after this timestamp were considered.
    pub since: Option<String>,
    pub papers: Vec<Paper>,
    pub commands: Vec<Command>,
}

impl Report {
    pub fn tally(&self) -> Tally {
        let all: Vec<Experiment> = self.papers.iter().flat_map(|p| p.experiments.iter().cloned()).collect();
        Tally::of(&all)
    }

    /// Distinct git revisions of the runs shown, in first-seen order.
    pub fn revisions(&self) -> Vec<String> {
        let mut seen: Vec<String> = vec![];
        for e in self.papers.iter().flat_map(|p| &p.experiments) {
            if let Some(rev) = e.latest().and_then(|r| r.git_revision.clone()) {
                if !seen.contains(&rev) {
                    seen.push(rev);
                }
            }
        }
        seen
    }
}
