//! Folder rules (shipped and the operator's) and the per-folder overrides the web page saves.

use super::matcher::*;
use super::parse::*;
use super::types::Policy;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// One `[[folder]]` rule: a pattern and the sections it overrides (no `library`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct FolderRuleFile {
    #[serde(rename = "match")]
    pub(super) pattern: String,
    pub(super) encode: Option<Table>,
    pub(super) knob: Option<Table>,
    pub(super) audio: Option<Table>,
    pub(super) subtitles: Option<Table>,
    pub(super) remux: Option<Table>,
    pub(super) hdr: Option<Table>,
    pub(super) ranking: Option<Table>,
    pub(super) automation: Option<Table>,
    pub(super) approve: Option<Table>,
    pub(super) archive: Option<Table>,
}

impl FolderRuleFile {
    /// The sections the rule sets, as one table.
    pub(super) fn sections(self) -> Table {
        let mut t = Table::new();
        for (name, section) in [
            ("encode", self.encode),
            ("knob", self.knob),
            ("audio", self.audio),
            ("subtitles", self.subtitles),
            ("remux", self.remux),
            ("hdr", self.hdr),
            ("ranking", self.ranking),
            ("automation", self.automation),
            ("approve", self.approve),
            ("archive", self.archive),
        ] {
            if let Some(section) = section {
                t.insert(name.into(), Value::Table(section));
            }
        }
        t
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(super) struct FolderFile {
    pub(super) folder: Vec<FolderRuleFile>,
}

/// A compiled folder rule.
#[derive(Debug, Clone)]
pub struct FolderRule {
    /// The pattern as written.
    pub pattern: String,
    pub(super) matcher: PathMatcher,
    pub(super) overrides: Table,
    /// Where the rule was declared (`file` and rule number).
    pub source: String,
}

/// A copy of `t` with no positions from the document it came from (nested tables too), so it
/// is written where it is inserted.
pub(super) fn fresh_table(t: &toml_edit::Table) -> toml_edit::Table {
    let mut copy = toml_edit::Table::new();
    for (k, v) in t.iter() {
        match v {
            toml_edit::Item::Value(v) => {
                copy.insert(k, toml_edit::Item::Value(v.clone()));
            }
            toml_edit::Item::Table(inner) => {
                copy.insert(k, toml_edit::Item::Table(fresh_table(inner)));
            }
            _ => {}
        }
    }
    copy.set_implicit(true);
    copy
}

/// The operator's per-folder rules, in the data directory.
pub const FOLDER_OVERRIDES: &str = "folder-overrides.toml";

/// The policy sections a folder rule may set.
pub const FOLDER_SECTIONS: [&str; 10] = [
    "encode",
    "knob",
    "audio",
    "subtitles",
    "remux",
    "hdr",
    "ranking",
    "automation",
    "approve",
    "archive",
];

/// The sections of the operator's rule for exactly `folder` (the rule in
/// `<data dir>/folder-overrides.toml` whose `match` is that path), as policy TOML
/// (`[encode]`, `[audio]`...); `None` when it has none.
pub fn folder_override(data_dir: &Path, folder: &Path) -> Result<Option<String>, PolicyError> {
    let file = data_dir.join(FOLDER_OVERRIDES);
    let Some(text) = read_optional(&file)? else {
        return Ok(None);
    };
    let parsed: FolderFile =
        toml::from_str(&text).map_err(|e| invalid(&file, one_line(&e, &text)))?;
    let want = folder.display().to_string();
    Ok(parsed
        .folder
        .into_iter()
        .rev()
        .find(|r| r.pattern == want)
        .map(|r| toml::to_string(&r.sections()).unwrap_or_default()))
}

/// Save `sections` (policy TOML: `[encode]`, `[audio]`...) as the operator's rule for exactly
/// `folder` in `<data dir>/folder-overrides.toml`, replacing the rule it had; text with no
/// settings removes the rule. `note` says who saved it (a comment above the rule). The text is
/// checked as the loader checks it (unknown sections and keys, wrong types, values out of
/// range are refused, naming the line) before anything is written; other rules and their
/// comments are kept, and the file is replaced atomically. Returns whether a rule is in force.
pub fn save_folder_override(
    data_dir: &Path,
    folder: &Path,
    sections: &str,
    note: &str,
) -> Result<bool, PolicyError> {
    let label = PathBuf::from(format!("override for {}", folder.display()));
    let table: Table =
        toml::from_str(sections).map_err(|e| invalid(&label, one_line(&e, sections)))?;
    if let Some((key, _)) = table
        .iter()
        .find(|(k, v)| !FOLDER_SECTIONS.contains(&k.as_str()) || !v.is_table())
    {
        return Err(invalid(
            &label,
            format!(
                "`{key}`: a folder rule sets only the sections [{}]",
                FOLDER_SECTIONS.join("], [")
            ),
        ));
    }
    parse_policy_layer(&label, sections)?;
    let file = data_dir.join(FOLDER_OVERRIDES);
    let old = read_optional(&file)?.unwrap_or_default();
    let mut doc: toml_edit::DocumentMut = old
        .parse()
        .map_err(|e: toml_edit::TomlError| invalid(&file, e.message().to_string()))?;
    let want = folder.display().to_string();
    if let Some(rules) = doc
        .get_mut("folder")
        .and_then(|i| i.as_array_of_tables_mut())
    {
        rules.retain(|t| t.get("match").and_then(|m| m.as_str()) != Some(want.as_str()));
    }
    let body: toml_edit::DocumentMut = sections
        .parse()
        .map_err(|e: toml_edit::TomlError| invalid(&label, e.message().to_string()))?;
    let keep = body
        .iter()
        .any(|(_, section)| section.as_table().is_some_and(|t| !t.is_empty()));
    if keep {
        let mut rule = toml_edit::Table::new();
        rule.decor_mut()
            .set_prefix(format!("\n# {}\n", note.replace('\n', " ")));
        rule.insert("match", toml_edit::value(want.clone()));
        for (name, section) in body.iter() {
            let Some(section) = section.as_table() else {
                continue;
            };
            rule.insert(name, toml_edit::Item::Table(fresh_table(section)));
        }
        if doc.get("folder").is_none() {
            doc.insert(
                "folder",
                toml_edit::Item::ArrayOfTables(toml_edit::ArrayOfTables::new()),
            );
        }
        doc["folder"]
            .as_array_of_tables_mut()
            .ok_or_else(|| invalid(&file, "`folder` is not an array of [[folder]] tables"))?
            .push(rule);
    }
    let text = doc.to_string();
    // The whole file must still load as the loader reads it.
    parse_folders(&file, &text, FOLDER_OVERRIDES)?;
    let io = |source| PolicyError::Io {
        file: file.clone(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(io)?;
    let tmp = data_dir.join(format!(".{FOLDER_OVERRIDES}.tmp"));
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, &file).map_err(io)?;
    Ok(keep)
}

pub(super) fn parse_folders(
    file: &Path,
    text: &str,
    label: &str,
) -> Result<Vec<FolderRule>, PolicyError> {
    let parsed: FolderFile = toml::from_str(text).map_err(|e| invalid(file, one_line(&e, text)))?;
    let mut rules = Vec::new();
    for (i, r) in parsed.folder.into_iter().enumerate() {
        if r.pattern.is_empty() {
            return Err(invalid(
                file,
                format!("[[folder]] #{}: `match` is missing", i + 1),
            ));
        }
        let matcher = PathMatcher::new(&r.pattern)
            .map_err(|e| invalid(file, format!("[[folder]] #{}: {e}", i + 1)))?;
        let pattern = r.pattern.clone();
        let overrides = r.sections();
        // Validate the rule's sections against the schema by parsing them as a policy layer.
        let as_text = toml::to_string(&overrides).unwrap_or_default();
        toml::from_str::<Policy>(&as_text).map_err(|e| {
            invalid(
                file,
                format!(
                    "[[folder]] #{} (match {:?}): {}",
                    i + 1,
                    pattern,
                    e.message().trim()
                ),
            )
        })?;
        check_values(file, text, &overrides)?;
        rules.push(FolderRule {
            pattern: pattern.clone(),
            matcher,
            overrides,
            source: format!("{label} [[folder]] #{} (match {:?})", i + 1, pattern),
        });
    }
    Ok(rules)
}
