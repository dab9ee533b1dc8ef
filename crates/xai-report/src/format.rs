//! Small text helpers shared by the Markdown and HTML writers.

use std::path::{Component, Path, PathBuf};

/// The runner's own number format (`xai_core::report`): four decimals, or scientific
/// notation where that would hide the value (1e-20 is not 0). Kept identical so a number
/// reads the same in the report as in the run's `paper_comparison.md`.
pub fn num(v: f64) -> String {
    if v != 0.0 && v.is_finite() && (v.abs() < 1e-3 || v.abs() >= 1e6) {
        format!("{v:.3e}")
    } else {
        format!("{v:.4}")
    }
}

/// `value ± spread`, `value`, or `—`.
pub fn value(v: Option<f64>, std: Option<f64>) -> String {
    match (v, std) {
        (Some(v), Some(s)) => format!("{} ± {}", num(v), num(s)),
        (Some(v), None) => num(v),
        (None, _) => "—".into(),
    }
}

/// `12.3 s`, `4 min 05 s`, `1 h 02 min`.
pub fn duration(seconds: f64) -> String {
    if !seconds.is_finite() || seconds < 0.0 {
        return "—".into();
    }
    let s = seconds.round() as u64;
    if seconds < 60.0 {
        format!("{seconds:.1} s")
    } else if s < 3600 {
        format!("{} min {:02} s", s / 60, s % 60)
    } else {
        format!("{} h {:02} min", s / 3600, (s % 3600) / 60)
    }
}

/// Text safe inside a Markdown table cell: pipes escaped, line breaks flattened.
pub fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace(['\n', '\r'], " ")
}

pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// An anchor id from a crate and experiment name.
pub fn anchor(parts: &[&str]) -> String {
    parts.join("-").chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect()
}

/// `target` relative to the folder `from`, so REPORT.md's figure links work wherever the
/// report folder and the runs folder are moved together. Falls back to `target` as given
/// when either path cannot be made absolute.
pub fn relative(from: &Path, target: &Path) -> PathBuf {
    let (Ok(from), Ok(to)) = (from.canonicalize(), target.canonicalize()) else {
        return target.to_path_buf();
    };
    let a: Vec<Component> = from.components().collect();
    let b: Vec<Component> = to.components().collect();
    let common = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..a.len() {
        out.push("..");
    }
    for c in &b[common..] {
        out.push(c.as_os_str());
    }
    out
}

/// A path for a link: forward slashes, spaces escaped (Markdown stops a link at a space).
pub fn link(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/").replace(' ', "%20")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_the_runner() {
        assert_eq!(num(0.3), "0.3000");
        assert_eq!(num(6.763279031956148e-20), "6.763e-20");
        assert_eq!(num(0.0), "0.0000");
        assert_eq!(num(f64::NAN), "NaN");
        assert_eq!(value(Some(0.31), Some(0.023)), "0.3100 ± 0.0230");
        assert_eq!(value(None, Some(1.0)), "—");
    }

    #[test]
    fn durations() {
        assert_eq!(duration(1.754), "1.8 s");
        assert_eq!(duration(129.0), "2 min 09 s");
        assert_eq!(duration(3725.0), "1 h 02 min");
        assert_eq!(duration(f64::NAN), "—");
    }

    #[test]
    fn escaping_and_paths() {
        assert_eq!(html("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
        assert_eq!(md_cell("a|b\nc"), "a\\|b c");
        assert_eq!(anchor(&["cdep", "colormnist_smoke"]), "cdep-colormnist-smoke");
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("runs/report/x");
        let fig = dir.path().join("runs/cdep/e/r/figures");
        std::fs::create_dir_all(&report).unwrap();
        std::fs::create_dir_all(&fig).unwrap();
        std::fs::write(fig.join("a.png"), b"x").unwrap();
        assert_eq!(relative(&report, &fig.join("a.png")), Path::new("../../cdep/e/r/figures/a.png"));
    }
}
