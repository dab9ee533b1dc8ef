//! `REPORT.md`: the same content as `report.html`, readable in a terminal or on a forge.

use crate::format::{anchor, duration, link, md_cell, relative, value};
use crate::model::{Experiment, ExperimentState, Report, Run, RunState, Tally};
use crate::{numbers_cell, started_short};
use std::fmt::Write;
use std::path::Path;

/// The whole Markdown report; figure links are relative to `out_dir`.
pub fn render(report: &Report, out_dir: &Path) -> String {
    let mut s = String::new();
    let t = report.tally();
    let _ = writeln!(s, "# xai-rs reproduction report\n");
    let _ = writeln!(s, "{}\n", crate::provenance(report));
    let _ = writeln!(s, "## Summary\n\n{}\n", crate::headline(&t));
    let _ = writeln!(
        s,
        "| paper | experiments | PASS | FAIL | failed / running / incomplete | reported only | not-run | smoke numbers reproduce | paper-scale numbers reproduce |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for p in &report.papers {
        let t = Tally::of(&p.experiments);
        let _ = writeln!(
            s,
            "| [{}](#{}){} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.crate_name,
            anchor(&[&p.crate_name]),
            p.description.as_deref().map(|d| format!(" — {}", md_cell(d))).unwrap_or_default(),
            t.experiments,
            t.pass,
            t.fail,
            t.unfinished,
            t.reported_only,
            t.not_run,
            ratio(t.smoke_numbers),
            ratio(t.paper_numbers),
        );
    }
    s.push('\n');
    if !report.commands.is_empty() {
        commands(&mut s, report);
    }
    for p in &report.papers {
        let _ = writeln!(s, "<a id=\"{}\"></a>\n", anchor(&[&p.crate_name]));
        let _ = writeln!(s, "## {}\n", p.crate_name);
        if let Some(d) = &p.description {
            let _ = writeln!(s, "{d}\n");
        }
        let _ = writeln!(
            s,
            "| experiment | scale | status | judged numbers | run folder | started | wall | device | git |"
        );
        let _ = writeln!(s, "|---|---|---|---:|---|---|---:|---|---|");
        for e in &p.experiments {
            experiment_row(&mut s, e);
        }
        s.push('\n');
        for e in p.experiments.iter().filter(|e| !e.runs.is_empty()) {
            experiment_section(&mut s, e, out_dir);
        }
    }
    s
}

fn ratio((pass, judged): (usize, usize)) -> String {
    if judged == 0 {
        "—".into()
    } else {
        format!("{pass} / {judged}")
    }
}

fn commands(s: &mut String, report: &Report) {
    let total: f64 = report.commands.iter().map(|c| c.seconds).sum();
    let failed = report.commands.iter().filter(|c| c.failed()).count();
    let skipped = report.commands.iter().filter(|c| c.exit_status == crate::SKIPPED).count();
    let _ = writeln!(
        s,
        "## Commands run\n\n{} commands, {} failed, {} skipped for want of data, {} in all.\n",
        report.commands.len(),
        failed,
        skipped,
        duration(total)
    );
    let _ = writeln!(s, "| crate | config | exit status | wall |\n|---|---|---:|---:|");
    for c in &report.commands {
        let _ = writeln!(
            s,
            "| {} | `{}` | {} | {} |",
            c.crate_name,
            md_cell(&c.config),
            crate::exit_label(c.exit_status),
            duration(c.seconds)
        );
    }
    s.push('\n');
}

fn experiment_row(s: &mut String, e: &Experiment) {
    let state = e.state();
    let name = if e.runs.is_empty() {
        e.name.clone()
    } else {
        format!("[{}](#{})", e.name, anchor(&[&e.crate_name, &e.name]))
    };
    let scale = if e.is_smoke() { "smoke" } else { "paper" };
    match e.latest() {
        None => {
            let _ = writeln!(s, "| {name} | {scale} | not-run | — | — | — | — | — | — |");
        }
        Some(run) => {
            let _ = writeln!(
                s,
                "| {name} | {scale} | {} | {} | `{}` | {} | {} | {} | {} |",
                status_md(&state),
                numbers_cell(e),
                md_cell(&link(&run.folder)),
                started_short(run.started.as_deref()),
                wall(run),
                md_cell(run.device.as_deref().unwrap_or("—")),
                md_cell(run.git_revision.as_deref().unwrap_or("—")),
            );
        }
    }
}

fn status_md(state: &ExperimentState) -> String {
    match state {
        ExperimentState::Pass => "PASS".into(),
        other => format!("**{}**", other.label()),
    }
}

/// A running run's `wall_seconds` is only as fresh as its last stage: not shown as its time.
fn wall(run: &Run) -> String {
    match (&run.state, run.wall_seconds) {
        (RunState::Running, _) | (_, None) => "—".into(),
        (_, Some(w)) => duration(w),
    }
}

fn experiment_section(s: &mut String, e: &Experiment, out_dir: &Path) {
    let state = e.state();
    let _ = writeln!(s, "<a id=\"{}\"></a>\n", anchor(&[&e.crate_name, &e.name]));
    let _ = writeln!(s, "### {} / {} — {}\n", e.crate_name, e.name, status_md(&state));
    if let Some(c) = &e.config {
        let _ = writeln!(s, "- config: `{}`", link(c));
    }
    let _ = writeln!(s, "- run folders: {}", e.runs.len());
    for run in e.newer_unfinished().iter().rev() {
        let _ = writeln!(s, "- **{}**: `{}`{}", run.state.label(), link(&run.folder), unfinished_detail(run));
    }
    let Some(shown) = e.shown() else {
        s.push('\n');
        return;
    };
    let latest = e.latest().is_some_and(|l| std::ptr::eq(l, shown));
    let _ = writeln!(
        s,
        "- {}: `{}` ({}, {}, {}, git {})",
        if latest { "run shown" } else { "last finished run (numbers not counted: a newer run did not finish)" },
        link(&shown.folder),
        started_short(shown.started.as_deref()),
        wall(shown),
        shown.device.as_deref().unwrap_or("—"),
        shown.git_revision.as_deref().unwrap_or("—"),
    );
    if let Some(v) = &shown.verdict {
        let _ = writeln!(s, "- {}", md_cell(v));
    }
    s.push('\n');
    if let Some(t) = &shown.title {
        let _ = writeln!(s, "**{}**\n", md_cell(t));
    }
    let _ = writeln!(s, "| metric | ours | paper | check | status | note |\n|---|---:|---:|---|---|---|");
    for n in &shown.numbers {
        let status = match n.status.label() {
            "FAIL" => "**FAIL**".to_string(),
            other => other.to_string(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            md_cell(&n.metric),
            value(n.ours, n.ours_std),
            value(n.paper, n.paper_std),
            md_cell(&n.check),
            status,
            md_cell(&n.note)
        );
    }
    s.push('\n');
    if !shown.figures.is_empty() {
        let _ = writeln!(s, "Figures ({} of {}):\n", shown.figures.len(), shown.figures_total);
        for f in &shown.figures {
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let _ = writeln!(s, "![{}]({})", md_cell(&name), link(&relative(out_dir, f)));
        }
        s.push('\n');
    }
}

/// What to say after an unfinished run's folder.
pub(crate) fn unfinished_detail(run: &Run) -> String {
    match &run.state {
        RunState::Failed { error, .. } => error.as_deref().map(|e| format!(" — {}", md_cell(e))).unwrap_or_default(),
        RunState::Running => format!(
            " — started {}, no end recorded (still running, or killed before it could record one)",
            started_short(run.started.as_deref())
        ),
        RunState::Incomplete(why) => format!(" — {}", md_cell(why)),
        RunState::Finished => String::new(),
    }
}
