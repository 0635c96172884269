//! Policy: what to do with each file, resolved from layered TOML files.
//!
//! Layers, least specific first: the shipped `config/defaults.toml` (built in; the directory can
//! be replaced with `MEDIAFORCE_CONFIG_DIR`), the shipped `config/folder-defaults.toml` rules,
//! the operator's `<data dir>/policy.toml` and `<data dir>/folder-overrides.toml`, then
//! `MEDIAFORCE_POLICY_<SECTION>_<KEY>` environment variables. Every resolved value remembers
//! the layer it came from. A file with an unknown key or a wrong type is refused with its path,
//! line and key.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

mod folders;
mod matcher;
mod parse;
mod search;
mod types;

pub use folders::*;
pub use matcher::*;
pub use parse::*;
pub use search::*;
pub use types::*;

/// The shipped defaults, built into the binary.
pub const SHIPPED_DEFAULTS: &str = include_str!("../../config/defaults.toml");

/// The shipped per-folder rules, built into the binary.
pub const SHIPPED_FOLDERS: &str = include_str!("../../config/folder-defaults.toml");

/// Environment prefix of single-value overrides.
pub const ENV_PREFIX: &str = "MEDIAFORCE_POLICY_";

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
mod tests;
