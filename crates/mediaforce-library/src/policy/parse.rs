//! Reading policy layers: TOML parsed, checked key by key with the file and line, merged.

use super::types::Policy;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// Errors loading policy.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A policy file is not valid (syntax, unknown key, wrong type).
    #[error("{}: {message}", file.display())]
    Invalid {
        /// The file (or environment variable) at fault.
        file: PathBuf,
        /// What is wrong, with line and key where TOML knows them.
        message: String,
    },
    /// A policy file could not be read.
    #[error("{}: {source}", file.display())]
    Io {
        /// The file.
        file: PathBuf,
        /// OS error.
        #[source]
        source: std::io::Error,
    },
}

pub(super) fn invalid(file: &Path, message: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        file: file.to_path_buf(),
        message: message.into(),
    }
}

/// toml's messages span several lines (the offending line quoted); keep them on one.
pub(super) fn one_line(e: &toml::de::Error, text: &str) -> String {
    let msg = e.message().split_whitespace().collect::<Vec<_>>().join(" ");
    match e.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            let snippet = text.lines().nth(line - 1).unwrap_or("").trim();
            format!("line {line}: {msg} (at `{snippet}`)")
        }
        None => msg,
    }
}

/// Parse `text` as a policy file: validated against the schema (unknown keys and wrong types are
/// errors naming the line), returned as a table holding only the keys it sets.
pub(super) fn parse_policy_layer(file: &Path, text: &str) -> Result<Table, PolicyError> {
    let table: Table = toml::from_str(text).map_err(|e| invalid(file, one_line(&e, text)))?;
    check_values(file, text, &table)?;
    toml::from_str::<Policy>(text).map_err(|e| invalid(file, one_line(&e, text)))?;
    Ok(table)
}

/// Semantic checks the types cannot express: enumerations and ranges.
pub(super) fn check_values(file: &Path, text: &str, t: &Table) -> Result<(), PolicyError> {
    let line_of = |key: &str| {
        text.lines()
            .position(|l| {
                l.trim_start()
                    .strip_prefix(key)
                    .is_some_and(|r| r.trim_start().starts_with('='))
            })
            .map_or(String::new(), |n| format!("line {}: ", n + 1))
    };
    let choices: &[(&str, &str, &[&str])] = &[
        (
            "encode",
            "target_stat",
            &["mean", "harmonic", "p5", "p1", "min"],
        ),
        ("encode", "validate_vmaf", &["full", "sample"]),
        ("audio", "mode", &["copy", "opus"]),
        ("subtitles", "mode", &["copy", "drop"]),
        ("hdr", "hdr10", &["encode", "skip"]),
        ("hdr", "hlg", &["encode", "skip"]),
        ("hdr", "dolby_vision", &["encode", "skip"]),
        ("automation", "mode", &["off", "plan", "encode", "promote"]),
        (
            "automation",
            "schedule_action",
            &["rescan", "plan", "queue"],
        ),
    ];
    for (section, key, allowed) in choices {
        if let Some(v) = t.get(*section).and_then(|s| s.get(*key)) {
            let s = v.as_str().unwrap_or_default();
            if !allowed.contains(&s) {
                return Err(invalid(
                    file,
                    format!(
                        "{}{section}.{key} = {v}: expected one of {}",
                        line_of(key),
                        allowed.join(", ")
                    ),
                ));
            }
        }
    }
    if let Some(gates) = t
        .get("encode")
        .and_then(|s| s.get("gates"))
        .and_then(Value::as_array)
    {
        for g in gates {
            let g = g.as_str().unwrap_or_default();
            crate::search::parse_gate(g)
                .map_err(|e| invalid(file, format!("{}encode.gates: {e}", line_of("gates"))))?;
        }
    }
    if let Some(v) = t.get("automation").and_then(|s| s.get("rescan_interval")) {
        let text = v.as_str().unwrap_or_default();
        super::types::parse_interval(text).map_err(|e| {
            invalid(
                file,
                format!(
                    "{}automation.rescan_interval: {e}",
                    line_of("rescan_interval")
                ),
            )
        })?;
    }
    if let Some(v) = t.get("automation").and_then(|s| s.get("schedule")) {
        let text = v.as_str().unwrap_or_default();
        if !text.trim().is_empty() {
            super::types::next_run(text, 0).map_err(|e| {
                invalid(
                    file,
                    format!("{}automation.schedule: {e}", line_of("schedule")),
                )
            })?;
        }
    }
    for (section, key) in [
        ("automation", "min_free_gb"),
        ("automation", "max_foreign_load"),
        ("approve", "min_saving_percent"),
        ("approve", "duration_tolerance_seconds"),
    ] {
        if let Some(v) = t.get(section).and_then(|s| s.get(key)).and_then(as_f64) {
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(
                    file,
                    format!(
                        "{}{section}.{key} = {v}: must not be negative",
                        line_of(key)
                    ),
                ));
            }
        }
    }
    if let Some(v) = t
        .get("encode")
        .and_then(|s| s.get("target_vmaf"))
        .and_then(as_f64)
    {
        if !(0.0..=100.0).contains(&v) {
            return Err(invalid(
                file,
                format!(
                    "{}encode.target_vmaf = {v}: must lie in 0..=100",
                    line_of("target_vmaf")
                ),
            ));
        }
    }
    Ok(())
}

pub(super) fn as_f64(v: &Value) -> Option<f64> {
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

/// Overlay `top` onto `base` (tables merge, everything else replaces), recording `source` for
/// every leaf `top` sets.
pub(super) fn merge(
    base: &mut Table,
    top: &Table,
    prefix: &str,
    source: &str,
    sources: &mut BTreeMap<String, String>,
) {
    for (k, v) in top {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match (base.get_mut(k), v) {
            (Some(Value::Table(b)), Value::Table(t)) => merge(b, t, &key, source, sources),
            _ => {
                // A float key given as an integer stays a float, so the typed view accepts it.
                let v = match (base.get(k), v) {
                    (Some(Value::Float(_)), Value::Integer(i)) => Value::Float(*i as f64),
                    _ => v.clone(),
                };
                if let Value::Table(t) = &v {
                    let mut fresh = Table::new();
                    merge(&mut fresh, t, &key, source, sources);
                    base.insert(k.clone(), Value::Table(fresh));
                } else {
                    sources.insert(key, source.to_string());
                    base.insert(k.clone(), v);
                }
            }
        }
    }
}

/// Every leaf of `t` as (dotted key, value), in key order.
pub fn leaves(t: &Table, prefix: &str, out: &mut Vec<(String, Value)>) {
    for (k, v) in t {
        let key = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Table(t) => leaves(t, &key, out),
            _ => out.push((key, v.clone())),
        }
    }
}

pub(super) fn read_optional(path: &Path) -> Result<Option<String>, PolicyError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PolicyError::Io {
            file: path.to_path_buf(),
            source,
        }),
    }
}

pub(super) fn set_dotted(t: &mut Table, key: &str, value: Value) {
    let mut parts: Vec<&str> = key.split('.').collect();
    let last = parts.pop().unwrap_or_default();
    let mut cur = t;
    for p in parts {
        cur = cur
            .entry(p.to_string())
            .or_insert_with(|| Value::Table(Table::new()))
            .as_table_mut()
            .expect("policy sections are tables");
    }
    cur.insert(last.to_string(), value);
}
