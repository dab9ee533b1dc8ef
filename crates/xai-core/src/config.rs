//! Typed TOML configs with command-line overrides.
//!
//! A config struct derives `Deserialize` with `#[serde(deny_unknown_fields)]`, so a typo
//! in a key is an error rather than a silently ignored setting. Errors name the file, the
//! dotted key and what was expected, e.g.
//! `config configs/x.toml: train.lr: invalid type: string "fast", expected f64`.

use crate::{Error, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

/// A config after overrides, with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    pub value: T,
    /// File path, or `<embedded NAME>` for a config compiled into a binary.
    pub source: String,
}

impl<T: Serialize> Loaded<T> {
    /// The resolved config (defaults filled in, overrides applied) as TOML, which is what
    /// a run folder keeps so that the run can be repeated from it alone.
    pub fn resolved_toml(&self) -> Result<String> {
        to_toml(&self.value, &self.source)
    }
}

/// Serialises a config back to TOML.
pub fn to_toml<T: Serialize>(value: &T, source: &str) -> Result<String> {
    toml::to_string_pretty(value)
        .map_err(|e| Error::Config { file: source.into(), message: format!("cannot serialise: {e}") })
}

/// Reads `path`, applies `overrides` (`a.b=value`, value parsed as TOML, else taken as a
/// string) and deserialises into `T`.
pub fn load<T: DeserializeOwned>(path: &Path, overrides: &[String]) -> Result<Loaded<T>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Config { file: path.display().to_string(), message: format!("cannot read: {e}") })?;
    parse(&text, &path.display().to_string(), overrides)
}

/// Like [`load`] for text already in memory; `source` names it in errors.
pub fn parse<T: DeserializeOwned>(text: &str, source: &str, overrides: &[String]) -> Result<Loaded<T>> {
    let err = |message: String| Error::Config { file: source.to_string(), message };
    let mut table: toml::Table =
        text.parse().map_err(|e: toml::de::Error| err(e.to_string().trim_end().to_string()))?;
    for spec in overrides {
        apply_override(&mut table, spec).map_err(err)?;
    }
    let value = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
        let path = e.path().to_string();
        // toml appends "in `key`" itself; we already lead with the path.
        let inner: String =
            e.into_inner().to_string().lines().filter(|l| !l.starts_with("in `")).collect::<Vec<_>>().join("\n");
        if path == "." || path.is_empty() {
            err(inner.trim_end().to_string())
        } else {
            err(format!("{path}: {}", inner.trim_end()))
        }
    })?;
    Ok(Loaded { value, source: source.to_string() })
}

/// Sets `a.b.c=value` in `table`, creating intermediate tables.
pub fn apply_override(table: &mut toml::Table, spec: &str) -> std::result::Result<(), String> {
    let (key, raw) =
        spec.split_once('=').ok_or_else(|| format!("override `{spec}` is not of the form key.path=value"))?;
    let key = key.trim();
    if key.is_empty() || key.split('.').any(|k| k.trim().is_empty()) {
        return Err(format!("override `{spec}` has an empty key"));
    }
    let value = parse_value(raw.trim());
    let parts: Vec<&str> = key.split('.').map(str::trim).collect();
    let (last, parents) = parts.split_last().expect("non-empty key");
    let mut cur = table;
    for (i, p) in parents.iter().enumerate() {
        let entry = cur.entry(p.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
        cur = entry
            .as_table_mut()
            .ok_or_else(|| format!("override `{spec}`: `{}` is not a table", parts[..=i].join(".")))?;
    }
    cur.insert(last.to_string(), value);
    Ok(())
}

/// `3` → integer, `0.1` → float, `true`, `[1, 2]`, `"quoted"`; anything else → string,
/// so `--set model.kind=resnet` needs no quoting in a shell.
fn parse_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Train {
        lr: f64,
        #[serde(default = "default_epochs")]
        epochs: usize,
    }
    fn default_epochs() -> usize {
        3
    }
    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Cfg {
        name: String,
        train: Train,
    }

    #[test]
    fn parses_and_applies_overrides() {
        let text = "name = \"a\"\n[train]\nlr = 0.1\n";
        let c: Loaded<Cfg> =
            parse(text, "t.toml", &["train.lr=0.5".into(), "train.epochs=7".into(), "name=b".into()]).unwrap();
        assert_eq!(c.value, Cfg { name: "b".into(), train: Train { lr: 0.5, epochs: 7 } });
        let resolved = c.resolved_toml().unwrap();
        let back: Loaded<Cfg> = parse(&resolved, "r", &[]).unwrap();
        assert_eq!(back.value, c.value);
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let text = "name = \"a\"\n[train]\nlr = 0.1\nlearning_rate = 2\n";
        let e = parse::<Cfg>(text, "cfg/x.toml", &[]).unwrap_err().to_string();
        assert!(e.contains("cfg/x.toml") && e.contains("learning_rate") && e.contains("train"), "{e}");
    }

    #[test]
    fn wrong_type_names_key_and_expected_type() {
        let text = "name = \"a\"\n[train]\nlr = \"fast\"\n";
        let e = parse::<Cfg>(text, "x.toml", &[]).unwrap_err().to_string();
        assert!(e.contains("x.toml") && e.contains("train.lr") && e.contains("f64"), "{e}");
        let e = parse::<Cfg>("name = \"a\"\n[train]\nlr = 1.0\n", "x.toml", &["train.epochs=many".into()])
            .unwrap_err()
            .to_string();
        assert!(e.contains("train.epochs") && e.contains("usize"), "{e}");
    }

    #[test]
    fn syntax_error_and_missing_file_are_named() {
        let e = parse::<Cfg>("name = \n", "bad.toml", &[]).unwrap_err().to_string();
        assert!(e.contains("bad.toml") && e.contains("line 1"), "{e}");
        let e = load::<Cfg>(Path::new("/no/such/config.toml"), &[]).unwrap_err().to_string();
        assert!(e.contains("/no/such/config.toml") && e.contains("cannot read"), "{e}");
        let e = parse::<Cfg>("name = \"a\"\n[train]\nlr = 1.0\n", "x", &["novalue".into()]).unwrap_err().to_string();
        assert!(e.contains("novalue"), "{e}");
    }
}
