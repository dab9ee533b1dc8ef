//! `report.html`: one self-contained file (styles inline, figures as base64 data URIs) that
//! opens from disk with no network and can be mailed or attached as it is.

use crate::format::{anchor, duration, html, link, value};
use crate::model::{Experiment, ExperimentState, Report, Run, RunState, Tally};
use crate::{numbers_cell, started_short};
use base64::Engine;
use std::fmt::Write;

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0 auto; max-width: 1240px; padding: 0 20px 60px; color: #1d2127; }
h1 { margin: 24px 0 4px; } h2 { margin-top: 36px; border-bottom: 2px solid #d8dde3; padding-bottom: 4px; }
h3 { margin: 28px 0 8px; } .muted { color: #5b6470; }
table { border-collapse: collapse; margin: 8px 0 16px; width: 100%; }
th, td { border: 1px solid #d8dde3; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f1f3f6; } td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
code { font-size: 12px; background: #f3f4f6; padding: 1px 4px; border-radius: 3px; word-break: break-all; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 600; font-size: 12px; white-space: nowrap; }
.pass { background: #d5f2dc; color: #135c26; } .fail { background: #fbd9d7; color: #8a1710; }
.running { background: #dde8fb; color: #173f85; } .incomplete { background: #fbecc9; color: #6d4a00; }
.reported { background: #eceef1; color: #3b424b; } .notrun { background: #f3f4f6; color: #6b7480; }
.headline { font-size: 18px; margin: 12px 0; } .warn { background: #fff6e0; border-left: 4px solid #e0a800; padding: 6px 10px; margin: 6px 0; }
.err { background: #fdecea; border-left: 4px solid #c62828; padding: 6px 10px; margin: 6px 0; white-space: pre-wrap; font-family: monospace; font-size: 12px; }
.figs { display: grid; grid-template-columns: repeat(auto-fill, minmax(360px, 1fr)); gap: 12px; }
figure { margin: 0; border: 1px solid #d8dde3; padding: 6px; background: #fff; }
figure img { width: 100%; height: auto; display: block; } figcaption { font-size: 12px; color: #5b6470; margin-top: 4px; word-break: break-all; }
nav a { margin-right: 12px; }
"#;

/// The whole report as one HTML document. Figures that cannot be read are named, not fatal.
pub fn render(report: &Report) -> String {
    let mut s = String::new();
    let t = report.tally();
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>xai-rs reproduction report</title><style>{STYLE}</style></head><body>\n"
    );
    let _ = writeln!(s, "<h1>xai-rs reproduction report</h1>");
    let _ = writeln!(s, "<p class=\"muted\">{}</p>", html(&crate::provenance(report).replace('`', "")));
    let _ = write!(s, "<nav>");
    for p in &report.papers {
        let _ = write!(s, "<a href=\"#{}\">{}</a>", anchor(&[&p.crate_name]), html(&p.crate_name));
    }
    let _ = writeln!(s, "</nav>");
    let _ = writeln!(s, "<h2>Summary</h2><p class=\"headline\">{}</p>", html(&crate::headline(&t).replace("**", "")));
    let _ = writeln!(
        s,
        "<table><tr><th>paper</th><th>experiments</th><th>PASS</th><th>FAIL</th>\
         <th>failed / running / incomplete</th><th>reported only</th><th>not-run</th>\
         <th>smoke numbers reproduce</th><th>paper-scale numbers reproduce</th></tr>"
    );
    for p in &report.papers {
        let t = Tally::of(&p.experiments);
        let _ = writeln!(
            s,
            "<tr><td><a href=\"#{}\"><b>{}</b></a><br><span class=\"muted\">{}</span></td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            anchor(&[&p.crate_name]),
            html(&p.crate_name),
            html(p.description.as_deref().unwrap_or("")),
            t.experiments,
            t.pass,
            t.fail,
            t.unfinished,
            t.reported_only,
            t.not_run,
            ratio(t.smoke_numbers),
            ratio(t.paper_numbers)
        );
    }
    let _ = writeln!(s, "</table>");
    if !report.commands.is_empty() {
        commands(&mut s, report);
    }
    for p in &report.papers {
        let _ = writeln!(s, "<h2 id=\"{}\">{}</h2>", anchor(&[&p.crate_name]), html(&p.crate_name));
        if let Some(d) = &p.description {
            let _ = writeln!(s, "<p>{}</p>", html(d));
        }
        let _ = writeln!(
            s,
            "<table><tr><th>experiment</th><th>scale</th><th>status</th><th>judged numbers</th>\
             <th>run folder</th><th>started</th><th>wall</th><th>device</th><th>git</th></tr>"
        );
        for e in &p.experiments {
            experiment_row(&mut s, e);
        }
        let _ = writeln!(s, "</table>");
        for e in p.experiments.iter().filter(|e| !e.runs.is_empty()) {
            experiment_section(&mut s, e);
        }
    }
    let _ = writeln!(s, "</body></html>");
    s
}

fn ratio((pass, judged): (usize, usize)) -> String {
    if judged == 0 {
        "—".into()
    } else {
        format!("{pass} / {judged}")
    }
}

fn badge(state: &ExperimentState) -> String {
    format!("<span class=\"badge {}\">{}</span>", state.class(), html(&state.label()))
}

fn commands(s: &mut String, report: &Report) {
    let total: f64 = report.commands.iter().map(|c| c.seconds).sum();
    let failed = report.commands.iter().filter(|c| c.failed()).count();
    let skipped = report.commands.iter().filter(|c| c.exit_status == crate::SKIPPED).count();
    let _ = writeln!(
        s,
        "<h2>Commands run</h2><p>{} commands, {} failed, {} skipped for want of data, {} in all.</p>\
         <table><tr><th>crate</th><th>config</th><th>exit status</th><th>wall</th></tr>",
        report.commands.len(),
        failed,
        skipped,
        duration(total)
    );
    for c in &report.commands {
        let class = match c.exit_status {
            0 => "pass",
            crate::SKIPPED => "notrun",
            _ => "fail",
        };
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td><code>{}</code></td><td><span class=\"badge {class}\">{}</span></td><td class=\"n\">{}</td></tr>",
            html(&c.crate_name),
            html(&c.config),
            html(&crate::exit_label(c.exit_status)),
            duration(c.seconds)
        );
    }
    let _ = writeln!(s, "</table>");
}

fn wall(run: &Run) -> String {
    match (&run.state, run.wall_seconds) {
        (RunState::Running, _) | (_, None) => "—".into(),
        (_, Some(w)) => duration(w),
    }
}

fn experiment_row(s: &mut String, e: &Experiment) {
    let state = e.state();
    let name = if e.runs.is_empty() {
        html(&e.name)
    } else {
        format!("<a href=\"#{}\">{}</a>", anchor(&[&e.crate_name, &e.name]), html(&e.name))
    };
    let scale = if e.is_smoke() { "smoke" } else { "paper" };
    match e.latest() {
        None => {
            let _ = writeln!(
                s,
                "<tr><td>{name}</td><td>{scale}</td><td>{}</td><td class=\"n\">—</td><td>—</td><td>—</td>\
                 <td class=\"n\">—</td><td>—</td><td>—</td></tr>",
                badge(&state)
            );
        }
        Some(run) => {
            let _ = writeln!(
                s,
                "<tr><td>{name}</td><td>{scale}</td><td>{}</td><td class=\"n\">{}</td><td><code>{}</code></td>\
                 <td>{}</td><td class=\"n\">{}</td><td>{}</td><td><code>{}</code></td></tr>",
                badge(&state),
                html(&numbers_cell(e)),
                html(&link(&run.folder)),
                html(&started_short(run.started.as_deref())),
                wall(run),
                html(run.device.as_deref().unwrap_or("—")),
                html(run.git_revision.as_deref().unwrap_or("—"))
            );
        }
    }
}

fn experiment_section(s: &mut String, e: &Experiment) {
    let state = e.state();
    let _ = writeln!(
        s,
        "<h3 id=\"{}\">{} / {} {}</h3>",
        anchor(&[&e.crate_name, &e.name]),
        html(&e.crate_name),
        html(&e.name),
        badge(&state)
    );
    let mut facts = vec![];
    if let Some(c) = &e.config {
        facts.push(format!("config <code>{}</code>", html(&link(c))));
    }
    facts.push(format!("{} run folder{}", e.runs.len(), if e.runs.len() == 1 { "" } else { "s" }));
    let _ = writeln!(s, "<p class=\"muted\">{}</p>", facts.join(" · "));
    for run in e.newer_unfinished().iter().rev() {
        let class = if matches!(run.state, RunState::Failed { .. }) { "err" } else { "warn" };
        let _ = writeln!(
            s,
            "<div class=\"{class}\"><b>{}</b>: {}{}</div>",
            html(&run.state.label()),
            html(&link(&run.folder)),
            html(&crate::markdown::unfinished_detail(run))
        );
    }
    let Some(shown) = e.shown() else {
        return;
    };
    let latest = e.latest().is_some_and(|l| std::ptr::eq(l, shown));
    let _ = writeln!(
        s,
        "<p>{}: <code>{}</code> · {} · {} · {} · git <code>{}</code></p>",
        if latest { "Run shown" } else { "Last finished run (numbers not counted: a newer run did not finish)" },
        html(&link(&shown.folder)),
        html(&started_short(shown.started.as_deref())),
        wall(shown),
        html(shown.device.as_deref().unwrap_or("—")),
        html(shown.git_revision.as_deref().unwrap_or("—"))
    );
    if let Some(v) = &shown.verdict {
        let _ = writeln!(s, "<p class=\"muted\">{}</p>", html(v));
    }
    if let Some(t) = &shown.title {
        let _ = writeln!(s, "<p><b>{}</b></p>", html(t));
    }
    let _ = writeln!(
        s,
        "<table><tr><th>metric</th><th>ours</th><th>paper</th><th>check</th><th>status</th><th>note</th></tr>"
    );
    for n in &shown.numbers {
        let class = match n.status.label() {
            "pass" => "pass",
            "reported" => "reported",
            _ => "fail",
        };
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td>\
             <td><span class=\"badge {class}\">{}</span></td><td>{}</td></tr>",
            html(&n.metric),
            html(&value(n.ours, n.ours_std)),
            html(&value(n.paper, n.paper_std)),
            html(&n.check),
            html(n.status.label()),
            html(&n.note)
        );
    }
    let _ = writeln!(s, "</table>");
    if !shown.figures.is_empty() {
        let _ = writeln!(
            s,
            "<p class=\"muted\">Figures ({} of {})</p><div class=\"figs\">",
            shown.figures.len(),
            shown.figures_total
        );
        for f in &shown.figures {
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            match std::fs::read(f) {
                Ok(bytes) => {
                    let _ = writeln!(
                        s,
                        "<figure><img alt=\"{0}\" src=\"data:image/png;base64,{1}\"><figcaption>{0}</figcaption></figure>",
                        html(&name),
                        base64::engine::general_purpose::STANDARD.encode(bytes)
                    );
                }
                Err(e) => {
                    let _ = writeln!(
                        s,
                        "<figure><figcaption>{}: unreadable ({})</figcaption></figure>",
                        html(&name),
                        html(&e.to_string())
                    );
                }
            }
        }
        let _ = writeln!(s, "</div>");
    }
}
