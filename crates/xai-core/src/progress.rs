//! Progress display: indicatif bars on a terminal; on a pipe or in CI, one plain log line
//! per epoch so logs stay readable.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::Instant;

/// The process-wide bar container; logging is routed through it (see `cli::init_logging`).
pub fn multi() -> &'static MultiProgress {
    static MULTI: OnceLock<MultiProgress> = OnceLock::new();
    MULTI.get_or_init(|| {
        let m = MultiProgress::new();
        if !interactive() {
            m.set_draw_target(ProgressDrawTarget::hidden());
        }
        m
    })
}

/// True when bars can be drawn (stderr is a terminal).
pub fn interactive() -> bool {
    std::io::stderr().is_terminal()
}

/// A bar over epochs; [`EpochBar::done`] reports each finished epoch.
pub struct EpochBar {
    bar: ProgressBar,
    label: String,
    total: usize,
    started: Instant,
    log_every: Option<std::time::Duration>,
    last_log: std::cell::Cell<Option<Instant>>,
}

impl EpochBar {
    pub fn new(label: &str, total: usize) -> Self {
        let bar = multi().add(ProgressBar::new(total as u64));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] epoch {pos}/{len} {msg} ({elapsed}, eta {eta})")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        Self {
            bar,
            label: label.to_string(),
            total,
            started: Instant::now(),
            log_every: None,
            last_log: std::cell::Cell::new(None),
        }
    }

    /// Off a terminal, log the first and last epoch and otherwise at most one line per
    /// `interval`, for fits of thousands of short epochs (the bar itself still moves each epoch).
    pub fn log_every(mut self, interval: std::time::Duration) -> Self {
        self.log_every = Some(interval);
        self
    }

    /// Marks `epoch` (1-based) done with its metrics; off a terminal this logs one line (see
    /// [`EpochBar::log_every`]).
    pub fn done(&self, epoch: usize, metrics: &[(&str, f64)]) {
        let msg = metrics.iter().map(|(k, v)| format!("{k}={}", fmt_metric(*v))).collect::<Vec<_>>().join(" ");
        self.bar.set_position(epoch as u64);
        self.bar.set_message(msg.clone());
        let due = match (self.log_every, self.last_log.get()) {
            (Some(every), Some(last)) => epoch >= self.total || last.elapsed() >= every,
            _ => true,
        };
        if !interactive() && due {
            self.last_log.set(Some(Instant::now()));
            log::info!(
                "{} epoch {epoch}/{} {msg} ({:.1}s)",
                self.label,
                self.total,
                self.started.elapsed().as_secs_f64()
            );
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
        multi().remove(&self.bar);
    }
}

/// A bar over the steps of one epoch showing the running loss and the rate.
pub struct StepBar {
    bar: ProgressBar,
}

impl StepBar {
    pub fn new(total: usize) -> Self {
        let bar = multi().add(ProgressBar::new(total as u64));
        bar.set_style(
            ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg} {per_sec}")
                .expect("static template")
                .progress_chars("=> "),
        );
        bar.set_prefix("step");
        Self { bar }
    }

    pub fn step(&self, loss: f64) {
        self.bar.inc(1);
        self.bar.set_message(format!("loss={}", fmt_metric(loss)));
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
        multi().remove(&self.bar);
    }
}

/// A bar over the batches of one long epoch: rate and ETA, with no per-batch host sync
/// (it takes no loss). Off a terminal it logs one line a minute, so a paper-scale epoch
/// that takes minutes still shows it is moving.
pub struct BatchBar {
    bar: ProgressBar,
    label: String,
    total: u64,
    started: Instant,
    last_log: std::cell::Cell<Instant>,
}

impl BatchBar {
    /// How often the plain-log fallback reports.
    const LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

    pub fn new(label: &str, total: usize) -> Self {
        let bar = multi().add(ProgressBar::new(total as u64));
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix:>12} [{bar:30}] batch {pos}/{len} {per_sec} ({elapsed}, eta {eta}) {msg}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        bar.set_prefix(label.to_string());
        let now = Instant::now();
        Self { bar, label: label.to_string(), total: total as u64, started: now, last_log: now.into() }
    }

    /// One more batch done.
    pub fn inc(&self) {
        self.bar.inc(1);
        if !interactive() && self.last_log.get().elapsed() >= Self::LOG_EVERY {
            self.last_log.set(Instant::now());
            let done = self.bar.position();
            let secs = self.started.elapsed().as_secs_f64();
            let rate = done as f64 / secs.max(1e-9);
            let eta = (self.total.saturating_sub(done)) as f64 / rate.max(1e-9);
            log::info!("{}: batch {done}/{} ({rate:.2} batches/s, eta {eta:.0}s)", self.label, self.total);
        }
    }

    /// A short message beside the bar (e.g. the last logged loss).
    pub fn message(&self, msg: String) {
        self.bar.set_message(msg);
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
        multi().remove(&self.bar);
    }
}

/// A bar for any counted work (downloads use byte bars of their own).
pub fn counter(label: &str, total: u64) -> ProgressBar {
    let bar = multi().add(ProgressBar::new(total));
    bar.set_style(
        ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} {msg} ({elapsed}, eta {eta})")
            .expect("static template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    bar
}

fn fmt_metric(v: f64) -> String {
    if v != 0.0 && (v.abs() < 1e-3 || v.abs() >= 1e5) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}
