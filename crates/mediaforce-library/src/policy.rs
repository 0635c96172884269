//! Policy: what to do with each file, resolved from layered TOML files.
//!
//! Layers, least specific first: the shipped `config/defaults.toml` (built in; the directory can
//! be replaced with `MEDIAFORCE_CONFIG_DIR`), the shipped `config/folder-defaults.toml` rules,
//! the operator's `<data dir>/policy.toml` and `<data dir>/folder-overrides.toml`, then
//! `MEDIAFORCE_POLICY_<SECTION>_<KEY>` environment variables. Every resolved value remembers
//! the layer it came from. A file with an unknown key or a wrong type is refused with its path,
//! line and key.

use globset::{GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use toml::{Table, Value};

/// The shipped defaults, built into the binary.
pub const SHIPPED_DEFAULTS: &str = include_str!("../config/defaults.toml");
/// The shipped per-folder rules, built into the binary.
pub const SHIPPED_FOLDERS: &str = include_str!("../config/folder-defaults.toml");
/// Environment prefix of single-value overrides.
pub const ENV_PREFIX: &str = "MEDIAFORCE_POLICY_";

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

/// Library-wide settings that are shipped as defaults (runtime changes live in the catalog).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LibraryDefaults {
    /// Source roots.
    pub roots: Vec<String>,
    /// Staging root; empty means `<data dir>/transcode`.
    pub transcode_root: String,
    /// Ignored folder names or globs.
    pub ignore: Vec<String>,
    /// Extensions probed by scans.
    pub extensions: Vec<String>,
}

/// How to encode.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EncodePolicy {
    /// Encoder adapter id or libav name.
    pub encoder: String,
    /// Encoder preset.
    pub preset: String,
    /// Target VMAF.
    pub target_vmaf: f64,
    /// Statistic the target applies to: mean, harmonic, p5, p1, min.
    pub target_stat: crate::search::TargetStat,
    /// Extra gates like `p5>=90`.
    pub gates: Vec<String>,
    /// Accepted overshoot of the target.
    pub tolerance: f64,
    /// Largest acceptable encode as a percent of the source.
    pub max_encoded_percent: f64,
    /// Smallest saving worth a swap, percent.
    pub min_savings_percent: f64,
    /// Output container extension.
    pub container: String,
    /// Validation scoring: `full` or `sample`.
    pub validate_vmaf: VmafCoverage,
    /// Retries after a failed encode.
    pub retries: u32,
    /// Closed loop after the full encode: score every N-th frame (1 = all).
    pub closed_loop_every: u32,
    /// First probe from the model fitted on the store's measured points when it has enough
    /// sources (and the folder has no measured guess of its own).
    pub learned_guess: bool,
}

/// What to do with audio.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AudioPolicy {
    /// `copy` or `opus`.
    pub mode: AudioMode,
    /// Opus kbit/s by channel count (keys are channel counts).
    pub opus_kbps: BTreeMap<String, u32>,
}

/// What to do with subtitles.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SubtitlePolicy {
    /// `copy` or `drop`.
    pub mode: SubtitleMode,
}

/// HDR handling.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HdrPolicy {
    /// HDR10: `encode` or `skip`.
    pub hdr10: HdrAction,
    /// HLG: `encode` or `skip`.
    pub hlg: HdrAction,
    /// Dolby Vision: `encode` or `skip` (profile 5 always skipped).
    pub dolby_vision: HdrAction,
}

/// How much of the encode validation scores.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VmafCoverage {
    /// Every frame.
    #[default]
    Full,
    /// Every few frames.
    Sample,
}

/// What to do with audio streams.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AudioMode {
    /// Copy them as they are.
    #[default]
    Copy,
    /// Re-encode to Opus.
    Opus,
}

/// What to do with subtitle streams.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SubtitleMode {
    /// Copy them.
    #[default]
    Copy,
    /// Leave them out.
    Drop,
}

/// What to do with a kind of HDR source.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HdrAction {
    /// Encode it (keeping its metadata).
    #[default]
    Encode,
    /// Leave the file alone.
    Skip,
}

/// Ranking thresholds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RankingPolicy {
    /// Smaller files are "too small".
    pub min_size_mb: f64,
    /// Expected saving (percent) of a strong candidate.
    pub strong_savings_percent: f64,
}

/// A fully resolved policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Library defaults (roots, ignores, extensions).
    pub library: LibraryDefaults,
    /// Encoding.
    pub encode: EncodePolicy,
    /// First knob guess: encoder → resolution class → knob.
    pub knob: BTreeMap<String, BTreeMap<String, f64>>,
    /// Audio.
    pub audio: AudioPolicy,
    /// Subtitles.
    pub subtitles: SubtitlePolicy,
    /// HDR.
    pub hdr: HdrPolicy,
    /// Ranking.
    pub ranking: RankingPolicy,
}

/// One `[[folder]]` rule: a pattern and the sections it overrides (no `library`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FolderRuleFile {
    #[serde(rename = "match")]
    pattern: String,
    encode: Option<Table>,
    knob: Option<Table>,
    audio: Option<Table>,
    subtitles: Option<Table>,
    hdr: Option<Table>,
    ranking: Option<Table>,
}

impl FolderRuleFile {
    /// The sections the rule sets, as one table.
    fn sections(self) -> Table {
        let mut t = Table::new();
        for (name, section) in [
            ("encode", self.encode),
            ("knob", self.knob),
            ("audio", self.audio),
            ("subtitles", self.subtitles),
            ("hdr", self.hdr),
            ("ranking", self.ranking),
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
struct FolderFile {
    folder: Vec<FolderRuleFile>,
}

/// A compiled folder rule.
#[derive(Debug, Clone)]
pub struct FolderRule {
    /// The pattern as written.
    pub pattern: String,
    matcher: PathMatcher,
    overrides: Table,
    /// Where the rule was declared (`file` and rule number).
    pub source: String,
}

/// Matches paths by folder name, absolute prefix or glob, ignoring case.
#[derive(Debug, Clone)]
pub struct PathMatcher {
    kind: MatchKind,
}

#[derive(Debug, Clone)]
enum MatchKind {
    Glob(GlobMatcher),
    Prefix(PathBuf),
    Names(Vec<String>),
}

impl PathMatcher {
    /// Compile a pattern: glob characters make a glob over the whole path, an absolute path is
    /// a folder prefix, anything else is a sequence of folder names matched at any depth.
    pub fn new(pattern: &str) -> Result<Self, String> {
        let kind = if pattern.contains(['*', '?', '[', '{']) {
            let glob = GlobBuilder::new(pattern)
                .case_insensitive(true)
                .literal_separator(true)
                .build()
                .map_err(|e| format!("bad glob {pattern:?}: {e}"))?;
            MatchKind::Glob(glob.compile_matcher())
        } else if Path::new(pattern).is_absolute() {
            MatchKind::Prefix(PathBuf::from(pattern.to_lowercase()))
        } else {
            let names: Vec<String> = Path::new(pattern)
                .components()
                .filter_map(|c| match c {
                    Component::Normal(s) => Some(s.to_string_lossy().to_lowercase()),
                    _ => None,
                })
                .collect();
            if names.is_empty() {
                return Err(format!("empty pattern {pattern:?}"));
            }
            MatchKind::Names(names)
        };
        Ok(Self { kind })
    }

    /// Whether the pattern is a bare folder name (matched at any depth).
    pub fn is_name_pattern(&self) -> bool {
        matches!(self.kind, MatchKind::Names(_))
    }

    /// Whether `path` (absolute) matches.
    pub fn matches(&self, path: &Path) -> bool {
        match &self.kind {
            MatchKind::Glob(g) => g.is_match(path),
            MatchKind::Prefix(p) => {
                PathBuf::from(path.to_string_lossy().to_lowercase()).starts_with(p)
            }
            MatchKind::Names(names) => {
                let comps: Vec<String> = path
                    .components()
                    .filter_map(|c| match c {
                        Component::Normal(s) => Some(s.to_string_lossy().to_lowercase()),
                        _ => None,
                    })
                    .collect();
                comps.windows(names.len()).any(|w| w == names.as_slice())
            }
        }
    }
}

/// All policy layers, loaded once and resolved per path.
#[derive(Debug, Clone)]
pub struct PolicySet {
    base: Table,
    base_sources: BTreeMap<String, String>,
    rules: Vec<FolderRule>,
    env: Vec<(String, Value, String)>,
}

/// A resolved policy and where each value came from.
#[derive(Debug, Clone, Serialize)]
pub struct Resolved {
    /// The policy.
    pub policy: Policy,
    /// Dotted key → layer (file, rule or environment variable).
    pub sources: BTreeMap<String, String>,
}

fn invalid(file: &Path, message: impl Into<String>) -> PolicyError {
    PolicyError::Invalid {
        file: file.to_path_buf(),
        message: message.into(),
    }
}

/// toml's messages span several lines (the offending line quoted); keep them on one.
fn one_line(e: &toml::de::Error, text: &str) -> String {
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
fn parse_policy_layer(file: &Path, text: &str) -> Result<Table, PolicyError> {
    let table: Table = toml::from_str(text).map_err(|e| invalid(file, one_line(&e, text)))?;
    check_values(file, text, &table)?;
    toml::from_str::<Policy>(text).map_err(|e| invalid(file, one_line(&e, text)))?;
    Ok(table)
}

/// Semantic checks the types cannot express: enumerations and ranges.
fn check_values(file: &Path, text: &str, t: &Table) -> Result<(), PolicyError> {
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

fn as_f64(v: &Value) -> Option<f64> {
    v.as_float().or_else(|| v.as_integer().map(|i| i as f64))
}

/// Overlay `top` onto `base` (tables merge, everything else replaces), recording `source` for
/// every leaf `top` sets.
fn merge(
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

fn read_optional(path: &Path) -> Result<Option<String>, PolicyError> {
    match std::fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(PolicyError::Io {
            file: path.to_path_buf(),
            source,
        }),
    }
}

/// A copy of `t` with no positions from the document it came from (nested tables too), so it
/// is written where it is inserted.
fn fresh_table(t: &toml_edit::Table) -> toml_edit::Table {
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
pub const FOLDER_SECTIONS: [&str; 6] = ["encode", "knob", "audio", "subtitles", "hdr", "ranking"];

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

fn parse_folders(file: &Path, text: &str, label: &str) -> Result<Vec<FolderRule>, PolicyError> {
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

impl PolicySet {
    /// Load every layer: shipped files (or `config_dir`'s copies), the operator's files in
    /// `data_dir`, and `MEDIAFORCE_POLICY_*` variables from `env`.
    pub fn load(
        config_dir: Option<&Path>,
        data_dir: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, PolicyError> {
        let (defaults_file, defaults_text, folders_file, folders_text) = match config_dir {
            Some(dir) => {
                let d = dir.join("defaults.toml");
                let f = dir.join("folder-defaults.toml");
                let dt = std::fs::read_to_string(&d).map_err(|source| PolicyError::Io {
                    file: d.clone(),
                    source,
                })?;
                let ft = read_optional(&f)?.unwrap_or_default();
                (d, dt, f, ft)
            }
            None => (
                PathBuf::from("config/defaults.toml (built in)"),
                SHIPPED_DEFAULTS.to_string(),
                PathBuf::from("config/folder-defaults.toml (built in)"),
                SHIPPED_FOLDERS.to_string(),
            ),
        };
        let mut base_sources = BTreeMap::new();
        let mut base = Table::new();
        let defaults = parse_policy_layer(&defaults_file, &defaults_text)?;
        merge(&mut base, &defaults, "", "defaults.toml", &mut base_sources);
        let mut rules = parse_folders(&folders_file, &folders_text, "folder-defaults.toml")?;

        let local = data_dir.join("policy.toml");
        if let Some(text) = read_optional(&local)? {
            let layer = parse_policy_layer(&local, &text)?;
            merge(
                &mut base,
                &layer,
                "",
                &local.display().to_string(),
                &mut base_sources,
            );
        }
        let local_folders = data_dir.join("folder-overrides.toml");
        if let Some(text) = read_optional(&local_folders)? {
            rules.extend(parse_folders(
                &local_folders,
                &text,
                &local_folders.display().to_string(),
            )?);
        }

        let mut known = Vec::new();
        leaves(&base, "", &mut known);
        let mut env_layers = Vec::new();
        let mut vars: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        vars.sort();
        for (var, raw) in vars {
            let wanted = var[ENV_PREFIX.len()..].to_string();
            let Some((key, default)) = known
                .iter()
                .find(|(k, _)| k.replace('.', "_").to_uppercase() == wanted)
            else {
                return Err(invalid(
                    Path::new(&var),
                    "no such policy key (see `mediaforce policy show PATH` for the names)",
                ));
            };
            // Values are TOML (numbers, arrays); a bare word is a string.
            let value = match default {
                // A string key takes the text as it is (`preset=6` is the preset "6").
                Value::String(_) => Value::String(raw.clone()),
                _ => toml::from_str::<Table>(&format!("v = {raw}"))
                    .ok()
                    .and_then(|mut t| t.remove("v"))
                    .unwrap_or(Value::String(raw.clone())),
            };
            let ok = matches!(
                (default, &value),
                (Value::String(_), Value::String(_))
                    | (Value::Float(_), Value::Float(_) | Value::Integer(_))
                    | (Value::Integer(_), Value::Integer(_))
                    | (Value::Boolean(_), Value::Boolean(_))
                    | (Value::Array(_), Value::Array(_))
            );
            if !ok {
                return Err(invalid(
                    Path::new(&var),
                    format!("{key}: expected a {}, got {raw:?}", default.type_str()),
                ));
            }
            env_layers.push((key.clone(), value, var));
        }
        let set = Self {
            base,
            base_sources,
            rules,
            env: env_layers,
        };
        // Resolve once so a bad value in an environment variable fails now, not per file.
        let mut probe = set.base.clone();
        let mut s = BTreeMap::new();
        for (key, value, var) in &set.env {
            set_dotted(&mut probe, key, value.clone());
            s.insert(key.clone(), var.clone());
            let mut t = Table::new();
            set_dotted(&mut t, key, value.clone());
            check_values(Path::new(var), "", &t)?;
        }
        Ok(set)
    }

    /// Load with the process environment.
    pub fn load_from_env(config_dir: Option<&Path>, data_dir: &Path) -> Result<Self, PolicyError> {
        Self::load(config_dir, data_dir, std::env::vars())
    }

    /// The global policy (no folder rules), e.g. for library settings.
    pub fn global(&self) -> Policy {
        self.resolve_table(self.base.clone())
    }

    /// The policy outside every folder rule: the files' defaults with the environment's
    /// `MEDIAFORCE_POLICY_*` overrides.
    pub fn defaults(&self) -> Policy {
        let mut table = self.base.clone();
        for (key, value, _) in &self.env {
            set_dotted(&mut table, key, value.clone());
        }
        self.resolve_table(table)
    }

    fn resolve_table(&self, t: Table) -> Policy {
        Policy::deserialize(Value::Table(t)).unwrap_or_default()
    }

    /// The policy for `path` and where each value came from.
    pub fn resolve(&self, path: &Path) -> Resolved {
        let mut table = self.base.clone();
        let mut sources = self.base_sources.clone();
        for rule in &self.rules {
            if rule.matcher.matches(path) {
                merge(&mut table, &rule.overrides, "", &rule.source, &mut sources);
            }
        }
        for (key, value, var) in &self.env {
            set_dotted(&mut table, key, value.clone());
            sources.insert(key.clone(), format!("environment {var}"));
        }
        Resolved {
            policy: self.resolve_table(table),
            sources,
        }
    }

    /// Folder rules in the order they apply.
    pub fn rules(&self) -> &[FolderRule] {
        &self.rules
    }
}

fn set_dotted(t: &mut Table, key: &str, value: Value) {
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

/// Resolution class used by the knob table.
pub fn resolution_class(height: u32) -> &'static str {
    match height {
        0..=719 => "sd",
        720..=1079 => "720p",
        1080..=1599 => "1080p",
        _ => "2160p",
    }
}

impl Policy {
    /// The first knob guess for `encoder` at `height`, if the policy has one.
    pub fn start_knob(&self, encoder: &str, height: u32) -> Option<f64> {
        let adapter = crate::codecs::find(encoder).ok();
        let names = [
            Some(encoder.to_string()),
            adapter.as_ref().map(|a| a.libav_name().to_string()),
            adapter.as_ref().map(|a| a.id().to_string()),
        ];
        names
            .iter()
            .flatten()
            .find_map(|n| self.knob.get(n))
            .and_then(|t| t.get(resolution_class(height)).copied())
    }

    /// Opus bit rates in bit/s keyed by channel count.
    pub fn opus_bitrates(&self) -> BTreeMap<u32, u32> {
        self.audio
            .opus_kbps
            .iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v * 1000)))
            .collect()
    }

    /// The search configuration this policy asks for.
    pub fn search_config(&self, height: u32) -> crate::search::SearchConfig {
        let mut cfg =
            crate::search::SearchConfig::new(&self.encode.encoder, self.encode.target_vmaf);
        cfg.preset = Some(self.encode.preset.clone()).filter(|p| !p.is_empty());
        cfg.stat = self.encode.target_stat;
        cfg.gates = self
            .encode
            .gates
            .iter()
            .filter_map(|g| crate::search::parse_gate(g).ok())
            .collect();
        cfg.tolerance = self.encode.tolerance;
        cfg.max_encoded_percent = self.encode.max_encoded_percent;
        cfg.start_knob = self.start_knob(&self.encode.encoder, height);
        cfg.verify_every = self.encode.closed_loop_every.max(1);
        cfg
    }

    /// The transcode options (audio, subtitles) this policy asks for.
    pub fn transcode_options(&self) -> crate::core::transcode::TranscodeOptions {
        let mut t = crate::core::transcode::TranscodeOptions::new(&self.encode.encoder);
        t.audio = if self.audio.mode == AudioMode::Opus {
            crate::core::transcode::AudioMode::Opus
        } else {
            crate::core::transcode::AudioMode::Copy
        };
        t.opus_bitrates = self.opus_bitrates();
        t.subtitles = self.subtitles.mode != SubtitleMode::Drop;
        t
    }
}

/// A resolved policy as rows for people: (dotted key, value, the layer that set it).
pub fn provenance_rows(
    policy: &Policy,
    sources: &BTreeMap<String, String>,
) -> Vec<(String, String, String)> {
    let table = match Value::try_from(policy) {
        Ok(Value::Table(t)) => t,
        _ => return Vec::new(),
    };
    let mut out = Vec::new();
    leaves(&table, "", &mut out);
    out.into_iter()
        .map(|(k, v)| {
            let layer = sources
                .get(&k)
                .cloned()
                .unwrap_or_else(|| "built-in".into());
            let value = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, value, layer)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(data: &Path, env: &[(&str, &str)]) -> Result<PolicySet, PolicyError> {
        PolicySet::load(
            None,
            data,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn a_folder_override_is_validated_saved_replaced_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path();
        let file = data.join(FOLDER_OVERRIDES);
        let shows = Path::new("/lib/Shows");
        std::fs::write(
            &file,
            "# my own rule\n[[folder]]\nmatch = \"/lib/Films\"\n[folder.encode]\ntarget_vmaf = 97.0\n",
        )
        .unwrap();
        // Refused, naming the problem, and nothing written.
        for (bad, says) in [
            ("[encode]\ntarget_vmaf = \"high\"", "target_vmaf"),
            ("[encode]\ntarget_stat = \"median\"", "target_stat"),
            ("[encode]\nno_such_key = 1", "no_such_key"),
            ("[library]\nignore = []", "only the sections"),
            ("[encode\n", "override for /lib/Shows"),
        ] {
            let e = save_folder_override(data, shows, bad, "test").unwrap_err();
            assert!(e.to_string().contains(says), "{bad:?}: {e}");
            assert!(!e.to_string().contains('\n'), "one line: {e}");
        }
        assert!(std::fs::read_to_string(&file)
            .unwrap()
            .starts_with("# my own rule"));
        assert_eq!(folder_override(data, shows).unwrap(), None);

        let saved =
            "[encode]\ntarget_vmaf = 96.5\n[audio]\nmode = \"opus\"\n[knob.libx264]\nsd = 19.0\n";
        assert!(save_folder_override(data, shows, saved, "saved from the web page").unwrap());
        let r = load(data, &[]).unwrap().resolve(&shows.join("S01/e1.mkv"));
        assert_eq!(r.policy.encode.target_vmaf, 96.5);
        assert_eq!(r.policy.audio.mode, AudioMode::Opus);
        assert_eq!(r.policy.start_knob("libx264", 480), Some(19.0));
        assert!(r.sources["encode.target_vmaf"].contains("match \"/lib/Shows\""));
        assert!(r.sources["knob.libx264.sd"].contains("match \"/lib/Shows\""));
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("# my own rule"), "{text}");
        assert!(text.contains("# saved from the web page"), "{text}");
        let back = folder_override(data, shows).unwrap().unwrap();
        assert!(back.contains("target_vmaf = 96.5"), "{back}");

        // Saving again replaces the rule; the other folder keeps its own.
        save_folder_override(data, shows, "[encode]\ntarget_vmaf = 94.0", "again").unwrap();
        let set = load(data, &[]).unwrap();
        assert_eq!(
            set.resolve(&shows.join("e.mkv")).policy.encode.target_vmaf,
            94.0
        );
        assert_eq!(
            set.resolve(&shows.join("e.mkv")).policy.audio.mode,
            set.global().audio.mode
        );
        assert_eq!(
            set.resolve(Path::new("/lib/Films/f.mkv"))
                .policy
                .encode
                .target_vmaf,
            97.0
        );
        assert_eq!(
            std::fs::read_to_string(&file)
                .unwrap()
                .matches("/lib/Shows")
                .count(),
            1
        );

        // No settings: the rule goes.
        assert!(!save_folder_override(data, shows, "# nothing\n", "cleared").unwrap());
        assert_eq!(folder_override(data, shows).unwrap(), None);
        let set = load(data, &[]).unwrap();
        assert_eq!(
            set.resolve(&shows.join("e.mkv")).policy.encode.target_vmaf,
            set.global().encode.target_vmaf
        );
    }

    #[test]
    fn shipped_defaults_set_every_key() {
        // Every field of the typed policy must come from defaults.toml, not from Rust defaults.
        let set = load(Path::new("/nonexistent"), &[]).unwrap();
        let mut from_file = Vec::new();
        leaves(&set.base, "", &mut from_file);
        let typed = toml::Table::try_from(Policy::default()).unwrap();
        let mut schema = Vec::new();
        leaves(&typed, "", &mut schema);
        for (k, _) in schema {
            assert!(
                from_file.iter().any(|(f, _)| *f == k),
                "{k} missing from defaults.toml"
            );
        }
        let g = set.global();
        assert_eq!(g.encode.target_vmaf, 95.0);
        assert_eq!(g.encode.min_savings_percent, 5.0);
        assert!(g.library.ignore.contains(&"downloads".to_string()));
        assert_eq!(g.opus_bitrates()[&2], 96_000);
    }

    #[test]
    fn layers_apply_in_order_with_sources() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("policy.toml"),
            "[encode]\ntarget_vmaf = 94\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("folder-overrides.toml"),
            "[[folder]]\nmatch = \"/lib/TV/**\"\n[folder.encode]\npreset = \"6\"\n[folder.audio]\nmode = \"opus\"\n",
        )
        .unwrap();
        let set = load(dir.path(), &[("MEDIAFORCE_POLICY_ENCODE_TOLERANCE", "0.5")]).unwrap();
        let r = set.resolve(Path::new("/lib/tv/Show/S01E01.mkv"));
        assert_eq!(r.policy.encode.target_vmaf, 94.0);
        assert_eq!(r.policy.encode.preset, "6");
        assert_eq!(r.policy.audio.mode, AudioMode::Opus);
        assert_eq!(r.policy.encode.tolerance, 0.5);
        assert_eq!(r.policy.encode.encoder, "libsvtav1");
        assert!(r.sources["encode.target_vmaf"].ends_with("policy.toml"));
        assert!(r.sources["encode.preset"].contains("[[folder]] #1"));
        assert_eq!(
            r.sources["encode.tolerance"],
            "environment MEDIAFORCE_POLICY_ENCODE_TOLERANCE"
        );
        assert_eq!(r.sources["encode.encoder"], "defaults.toml");
        // The shipped anime rule matches a folder name at any depth, ignoring case.
        let a = set.resolve(Path::new("/lib/ANIME/x/ep1.mkv"));
        assert_eq!(a.policy.encode.target_vmaf, 96.0);
        assert_eq!(a.policy.encode.gates, vec!["p5>=92".to_string()]);
        let other = set.resolve(Path::new("/lib/Films/x.mkv"));
        assert_eq!(other.policy.encode.preset, "8");
    }

    #[test]
    fn bad_files_name_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("policy.toml");
        std::fs::write(&p, "[encode]\ntarget_vmaf = 94\ntarget_vmfa = 93\n").unwrap();
        let e = load(dir.path(), &[]).unwrap_err().to_string();
        assert!(
            e.contains("policy.toml") && e.contains("line 3") && e.contains("target_vmfa"),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
        std::fs::write(&p, "[encode]\ntarget_vmaf = \"high\"\n").unwrap();
        let e = load(dir.path(), &[]).unwrap_err().to_string();
        assert!(e.contains("line 2"), "{e}");
        std::fs::write(&p, "[audio]\nmode = \"mp3\"\n").unwrap();
        let e = load(dir.path(), &[]).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("audio.mode"), "{e}");
        std::fs::write(&p, "[encode\n").unwrap();
        let e = load(dir.path(), &[]).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        std::fs::remove_file(&p).unwrap();
        std::fs::write(
            dir.path().join("folder-overrides.toml"),
            "[[folder]]\nmatch = \"x\"\n[folder.encode]\nbogus = 1\n",
        )
        .unwrap();
        let e = load(dir.path(), &[]).unwrap_err().to_string();
        assert!(
            e.contains("folder-overrides.toml") && e.contains("bogus"),
            "{e}"
        );
        std::fs::remove_file(dir.path().join("folder-overrides.toml")).unwrap();
        let e = load(dir.path(), &[("MEDIAFORCE_POLICY_ENCODE_NOPE", "1")]).unwrap_err();
        assert!(e.to_string().contains("MEDIAFORCE_POLICY_ENCODE_NOPE"));
        let e = load(
            dir.path(),
            &[("MEDIAFORCE_POLICY_ENCODE_TARGET_VMAF", "high")],
        )
        .unwrap_err();
        assert!(e.to_string().contains("expected a float"), "{e}");
        // Modes are typed once, when loaded: a good value is its variant, a bad one an error
        // naming where it came from.
        let set = load(dir.path(), &[("MEDIAFORCE_POLICY_HDR_HLG", "skip")]).unwrap();
        let p = set.resolve(Path::new("/x/y.mkv")).policy;
        assert_eq!(p.hdr.hlg, HdrAction::Skip);
        assert_eq!(p.hdr.hdr10, HdrAction::Encode);
        let e = load(dir.path(), &[("MEDIAFORCE_POLICY_HDR_HLG", "maybe")]).unwrap_err();
        assert!(
            e.to_string().contains("MEDIAFORCE_POLICY_HDR_HLG")
                && e.to_string().contains("encode, skip"),
            "{e}"
        );
    }

    #[test]
    fn matcher_kinds() {
        let names = PathMatcher::new("Home Videos").unwrap();
        assert!(names.matches(Path::new("/m/home videos/2019/a.mp4")));
        assert!(!names.matches(Path::new("/m/home/videos/a.mp4")));
        let prefix = PathMatcher::new("/m/TV").unwrap();
        assert!(prefix.matches(Path::new("/m/tv/a.mkv")));
        assert!(!prefix.matches(Path::new("/m/tvshows/a.mkv")));
        let glob = PathMatcher::new("/m/*/extras/**").unwrap();
        assert!(glob.matches(Path::new("/m/Film/Extras/b.mkv")));
        assert!(!glob.matches(Path::new("/m/a/b/extras/c.mkv")));
    }
}
