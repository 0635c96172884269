//! Sonarr and Radarr webhooks (Settings > Connect > Webhook in theirs): what their payloads
//! say, read by the fields their webhook payload classes define, and what mediaforce does with
//! each: an import is taken as an arrival under its folder's `automation.mode` (through the
//! hook's path mapping, their paths to ours), a rename moves the catalog row, a deleted file
//! is marked gone, `Test` is answered. After mediaforce replaces a file it asks the instance to
//! rescan the series or movie (their v3 API), so their records show the new size and codec.

use crate::{App, AppError, ErrorKind, Result};
use mediaforce::hosts::{new_token, now_ms, token_hash};
use mediaforce::store::connect::{self, HookRow};
use mediaforce::store::sql::Db;
use serde::Serialize;
use serde_json::Value;
use std::path::PathBuf;

/// What one payload asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum ArrEvent {
    /// The connection test they send when it is saved.
    Test,
    /// Files imported (`Download`: one file, or several on import-complete); `upgrade` when
    /// they replace an earlier file.
    Import {
        /// Their paths.
        files: Vec<String>,
        /// `isUpgrade`.
        upgrade: bool,
        /// The series or movie they belong to: (`series` | `movie`, id).
        owner: Option<(&'static str, i64)>,
    },
    /// Files renamed: (previous path, path).
    Rename {
        /// The moves.
        moves: Vec<(String, String)>,
    },
    /// Files deleted.
    Delete {
        /// Their paths.
        files: Vec<String>,
    },
    /// An event mediaforce has nothing to do for (`Grab`, `Health`...).
    Ignored(String),
}

impl ArrEvent {
    /// The payload's event, as a word.
    pub fn name(&self) -> &str {
        match self {
            ArrEvent::Test => "Test",
            ArrEvent::Import { .. } => "Download",
            ArrEvent::Rename { .. } => "Rename",
            ArrEvent::Delete { .. } => "Delete",
            ArrEvent::Ignored(e) => e,
        }
    }
}

fn field<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    v.get(name).filter(|x| !x.is_null())
}

fn text(v: &Value, path: &str) -> std::result::Result<String, String> {
    v.as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| format!("{path}: expected a non-empty string, got {v}"))
}

/// The path of a file object (`episodeFile`, `movieFile`...) at `at`.
fn file_path(v: &Value, at: &str) -> std::result::Result<String, String> {
    match field(v, "path") {
        Some(p) => text(p, &format!("{at}.path")),
        None => Err(format!("{at}.path: missing")),
    }
}

/// Each element's path of an array field (`episodeFiles`).
fn paths_of(v: &Value, at: &str) -> std::result::Result<Vec<String>, String> {
    let list = v
        .as_array()
        .ok_or_else(|| format!("{at}: expected an array"))?;
    list.iter()
        .enumerate()
        .map(|(i, f)| file_path(f, &format!("{at}[{i}]")))
        .collect()
}

fn owner(body: &Value) -> Option<(&'static str, i64)> {
    field(body, "series")
        .and_then(|s| s.get("id")?.as_i64())
        .map(|id| ("series", id))
        .or_else(|| {
            field(body, "movie")
                .and_then(|m| m.get("id")?.as_i64())
                .map(|id| ("movie", id))
        })
}

/// Read a Sonarr or Radarr webhook payload. A field the event needs that is missing or of the
/// wrong type is an error naming it (`episodeFile.path: missing`).
pub fn parse_arr(body: &Value) -> std::result::Result<ArrEvent, String> {
    if !body.is_object() {
        return Err("body: expected a JSON object".into());
    }
    let event = match field(body, "eventType") {
        Some(e) => text(e, "eventType")?,
        None => return Err("eventType: missing".into()),
    };
    match event.as_str() {
        "Test" => Ok(ArrEvent::Test),
        "Download" | "ImportComplete" => {
            let mut files = Vec::new();
            if let Some(f) = field(body, "episodeFile") {
                files.push(file_path(f, "episodeFile")?);
            }
            if let Some(list) = field(body, "episodeFiles") {
                files.extend(paths_of(list, "episodeFiles")?);
            }
            if let Some(f) = field(body, "movieFile") {
                files.push(file_path(f, "movieFile")?);
            }
            if files.is_empty() {
                return Err("episodeFile, episodeFiles or movieFile: missing".into());
            }
            files.dedup();
            let upgrade = match field(body, "isUpgrade") {
                None => false,
                Some(v) => v
                    .as_bool()
                    .ok_or_else(|| format!("isUpgrade: expected true or false, got {v}"))?,
            };
            Ok(ArrEvent::Import {
                files,
                upgrade,
                owner: owner(body),
            })
        }
        "Rename" => {
            let (list, at) = match (
                field(body, "renamedEpisodeFiles"),
                field(body, "renamedMovieFiles"),
            ) {
                (Some(l), _) => (l, "renamedEpisodeFiles"),
                (None, Some(l)) => (l, "renamedMovieFiles"),
                (None, None) => {
                    return Err("renamedEpisodeFiles or renamedMovieFiles: missing".into())
                }
            };
            let items = list
                .as_array()
                .ok_or_else(|| format!("{at}: expected an array"))?;
            let moves = items
                .iter()
                .enumerate()
                .map(|(i, f)| {
                    let here = format!("{at}[{i}]");
                    let prev = match field(f, "previousPath") {
                        Some(p) => text(p, &format!("{here}.previousPath"))?,
                        None => return Err(format!("{here}.previousPath: missing")),
                    };
                    Ok((prev, file_path(f, &here)?))
                })
                .collect::<std::result::Result<Vec<_>, String>>()?;
            Ok(ArrEvent::Rename { moves })
        }
        "EpisodeFileDelete" => Ok(ArrEvent::Delete {
            files: vec![file_path(
                field(body, "episodeFile").ok_or("episodeFile: missing")?,
                "episodeFile",
            )?],
        }),
        "MovieFileDelete" => Ok(ArrEvent::Delete {
            files: vec![file_path(
                field(body, "movieFile").ok_or("movieFile: missing")?,
                "movieFile",
            )?],
        }),
        other => Ok(ArrEvent::Ignored(other.to_string())),
    }
}

/// `theirs` in our terms: the longest of the hook's (their prefix, ours) pairs that the path
/// starts with replaced; a path no pair matches is taken as it is.
pub fn map_path(mappings: &[(String, String)], theirs: &str) -> PathBuf {
    let best = mappings
        .iter()
        .filter(|(t, _)| std::path::Path::new(theirs).starts_with(t))
        .max_by_key(|(t, _)| t.len());
    match best {
        Some((t, o)) => {
            let rest = std::path::Path::new(theirs)
                .strip_prefix(t)
                .unwrap_or(std::path::Path::new(""));
            PathBuf::from(o).join(rest)
        }
        None => PathBuf::from(theirs),
    }
}

/// A hook as shown (its API key masked, never its token).
#[derive(Debug, Clone, Serialize)]
pub struct HookView {
    /// The hook.
    #[serde(flatten)]
    pub row: HookRow,
    /// Its path mappings, (theirs, ours).
    pub mappings: Vec<(String, String)>,
    /// Whether an API key is stored (for rescans).
    pub api_key_set: bool,
    /// The newest deliveries: (at ms, event, status, what was done).
    pub recent: Vec<(i64, String, i64, String)>,
}

/// What a hook's delivery came to.
#[derive(Debug, Clone, Serialize)]
pub struct HookOutcome {
    /// The hook.
    pub hook: String,
    /// The payload's event.
    pub event: String,
    /// What was done, in words.
    pub summary: String,
    /// The arrivals, for an import, rename or delete.
    pub arrivals: Vec<crate::automation::Arrival>,
}

fn parse_mappings(text: &str) -> Vec<(String, String)> {
    serde_json::from_str(text).unwrap_or_default()
}

impl App {
    /// Run `f` on the kept connection to the hooks' and channels' tables.
    pub(crate) fn with_connect_db<R>(&self, f: impl FnOnce(&mut Db) -> Result<R>) -> Result<R> {
        let mut guard = self.conns.connect.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_none() {
            *guard = Some(Db::open(&self.location(), &connect::SCHEMA)?);
        }
        let r = f(guard.as_mut().expect("opened"));
        if r.is_err() {
            *guard = None;
        }
        r
    }

    /// Add (or replace) a Sonarr/Radarr hook; returns its token (shown once; the URL to paste
    /// is `/hooks/arr?token=TOKEN` on this server). `mappings` are (their prefix, ours);
    /// `arr_url` and `api_key` let mediaforce ask the instance to rescan what it replaced.
    pub fn hook_add(
        &self,
        name: &str,
        mappings: &[(String, String)],
        arr_url: Option<&str>,
        api_key: Option<&str>,
    ) -> Result<String> {
        let invalid = |m: String| AppError::new(ErrorKind::Invalid, m);
        crate::check_name("hook name", name)?;
        for (theirs, ours) in mappings {
            if !theirs.starts_with('/') || !ours.starts_with('/') {
                return Err(invalid(format!(
                    "--map {theirs}={ours}: both sides must be absolute paths"
                )));
            }
        }
        let url = arr_url
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string();
        if !(url.is_empty() || url.starts_with("http://") || url.starts_with("https://")) {
            return Err(invalid(format!(
                "--arr-url {url}: expected the instance's http:// or https:// address"
            )));
        }
        if url.is_empty() != api_key.unwrap_or_default().is_empty() {
            return Err(invalid(
                "--arr-url and --api-key go together (both, to have the instance rescan what mediaforce replaced, or neither)".into(),
            ));
        }
        let token = new_token();
        let row = HookRow {
            name: name.to_string(),
            mappings: serde_json::to_string(mappings).expect("pairs serialise"),
            arr_url: url,
            api_key: api_key.unwrap_or_default().to_string(),
            created_ms: now_ms(),
        };
        self.with_connect_db(|db| Ok(connect::put_hook(db, &row, &token_hash(&token))?))?;
        Ok(token)
    }

    /// The hooks, with their newest deliveries.
    pub fn hooks(&self) -> Result<Vec<HookView>> {
        self.with_connect_db(|db| {
            let rows = connect::hooks(db)?;
            let mut out = Vec::new();
            for row in rows {
                let recent = connect::deliveries(db, &row.name, 20)?;
                out.push(HookView {
                    mappings: parse_mappings(&row.mappings),
                    api_key_set: !row.api_key.is_empty(),
                    recent,
                    row,
                });
            }
            Ok(out)
        })
    }

    /// A hook's newest deliveries, newest first: (at ms, event, HTTP status, what was done).
    pub fn hook_deliveries(
        &self,
        name: &str,
        limit: i64,
    ) -> Result<Vec<(i64, String, i64, String)>> {
        self.with_connect_db(|db| Ok(connect::deliveries(db, name, limit)?))
    }

    /// Remove a hook (its token stops working at once).
    pub fn hook_remove(&self, name: &str) -> Result<()> {
        let n = self.with_connect_db(|db| Ok(connect::remove_hook(db, name)?))?;
        if n == 0 {
            return Err(AppError::new(
                ErrorKind::NotFound,
                format!("no hook named {name}"),
            ));
        }
        Ok(())
    }

    /// A delivery to the hook whose token is `token`: the payload read, acted on, and recorded
    /// with what was done. An unknown token is refused before anything is read; a malformed
    /// payload is refused naming the field, and nothing is done.
    pub fn hook_receive(&self, token: &str, body: &[u8]) -> Result<HookOutcome> {
        let hook = self
            .with_connect_db(|db| Ok(connect::hook_by_token(db, &token_hash(token))?))?
            .ok_or_else(|| AppError::new(ErrorKind::Unauthenticated, "unknown hook token"))?;
        let record = |event: &str, status: u16, summary: &str| {
            let _ = self.with_connect_db(|db| {
                Ok(connect::record_delivery(
                    db,
                    &hook.name,
                    now_ms(),
                    event,
                    status,
                    summary,
                )?)
            });
        };
        let parsed = serde_json::from_slice::<Value>(body)
            .map_err(|e| format!("body: not JSON ({e})"))
            .and_then(|v| parse_arr(&v));
        let event = match parsed {
            Ok(e) => e,
            Err(why) => {
                record("malformed", 400, &why);
                return Err(AppError::new(ErrorKind::Invalid, why));
            }
        };
        let mappings = parse_mappings(&hook.mappings);
        let ours = |p: &String| map_path(&mappings, p);
        let (summary, arrivals) = match &event {
            ArrEvent::Test => ("connection test received".to_string(), Vec::new()),
            ArrEvent::Ignored(e) => (format!("{e}: nothing to do"), Vec::new()),
            ArrEvent::Import {
                files,
                upgrade,
                owner,
            } => {
                let paths: Vec<PathBuf> = files.iter().map(ours).collect();
                if let Some((kind, id)) = owner {
                    self.with_connect_db(|db| {
                        for p in &paths {
                            connect::link_file(db, &p.to_string_lossy(), &hook.name, kind, *id)?;
                        }
                        Ok(())
                    })?;
                }
                let view = self.take_or_record(&paths, &record, "Download")?;
                let what = if *upgrade { "upgrade" } else { "import" };
                (format!("{what} of {} file(s)", paths.len()), view)
            }
            ArrEvent::Rename { moves } => {
                let mut paths = Vec::new();
                self.with_connect_db(|db| {
                    for (from, to) in moves {
                        let (f, t) = (ours(from), ours(to));
                        connect::move_link(db, &f.to_string_lossy(), &t.to_string_lossy())?;
                        paths.push(f);
                        paths.push(t);
                    }
                    Ok(())
                })?;
                let view = self.take_or_record(&paths, &record, "Rename")?;
                (format!("{} file(s) renamed", moves.len()), view)
            }
            ArrEvent::Delete { files } => {
                let paths: Vec<PathBuf> = files.iter().map(ours).collect();
                let view = self.take_or_record(&paths, &record, "Delete")?;
                (format!("{} file(s) deleted", paths.len()), view)
            }
        };
        let detail = std::iter::once(summary.clone())
            .chain(
                arrivals
                    .iter()
                    .map(|a| format!("{}: {}", a.path.display(), a.outcome)),
            )
            .collect::<Vec<_>>()
            .join("; ");
        record(event.name(), 200, &detail);
        Ok(HookOutcome {
            hook: hook.name.clone(),
            event: event.name().to_string(),
            summary,
            arrivals,
        })
    }

    fn take_or_record(
        &self,
        paths: &[PathBuf],
        record: &dyn Fn(&str, u16, &str),
        event: &str,
    ) -> Result<Vec<crate::automation::Arrival>> {
        match self.take_arrivals_batched(paths) {
            Ok(v) => Ok(v),
            Err(e) => {
                record(event, 422, &e.message);
                Err(e)
            }
        }
    }

    /// Ask the Sonarr/Radarr instance that owns `source` (now replaced by `library`) to rescan
    /// its series or movie, and move the file's link to the new path; `None` when no hook owns
    /// it or the hook has no API key. Recorded on the hook.
    pub fn tell_arr(&self, source: &std::path::Path, library: &std::path::Path) -> Option<String> {
        let (src, lib) = (source.to_string_lossy(), library.to_string_lossy());
        let (hook, kind, id) = self
            .with_connect_db(|db| Ok(connect::file_link(db, &src)?))
            .ok()
            .flatten()?;
        let row = self
            .with_connect_db(|db| Ok(connect::hook(db, &hook)?))
            .ok()
            .flatten()?;
        let _ = self.with_connect_db(|db| Ok(connect::move_link(db, &src, &lib)?));
        if row.arr_url.is_empty() || row.api_key.is_empty() {
            return None;
        }
        let body = if kind == "series" {
            serde_json::json!({"name": "RescanSeries", "seriesId": id})
        } else {
            serde_json::json!({"name": "RescanMovie", "movieId": id})
        };
        let url = format!("{}/api/v3/command", row.arr_url);
        let r = ureq::post(&url)
            .timeout(std::time::Duration::from_secs(10))
            .set("X-Api-Key", &row.api_key)
            .send_json(body.clone());
        let (status, said) = match r {
            Ok(resp) => (resp.status(), format!("asked {url} to rescan {kind} {id}")),
            Err(ureq::Error::Status(code, _)) => (
                code,
                format!("{url} refused the rescan of {kind} {id}: HTTP {code}"),
            ),
            Err(e) => (0, format!("{url}: {e}")),
        };
        let _ = self.with_connect_db(|db| {
            Ok(connect::record_delivery(
                db,
                &hook,
                now_ms(),
                "rescan",
                status,
                &said,
            )?)
        });
        Some(said)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payloads_are_read_by_their_documented_fields() {
        let table: Vec<(Value, std::result::Result<ArrEvent, &str>)> = vec![
            (
                json!({"eventType": "Test", "instanceName": "Sonarr"}),
                Ok(ArrEvent::Test),
            ),
            (
                json!({"eventType": "Download", "series": {"id": 7, "path": "/tv/Show"},
                       "episodeFile": {"id": 1, "path": "/tv/Show/S01E01.mkv"}, "isUpgrade": false}),
                Ok(ArrEvent::Import {
                    files: vec!["/tv/Show/S01E01.mkv".into()],
                    upgrade: false,
                    owner: Some(("series", 7)),
                }),
            ),
            (
                json!({"eventType": "Download", "series": {"id": 7},
                       "episodeFiles": [{"path": "/tv/a.mkv"}, {"path": "/tv/b.mkv"}]}),
                Ok(ArrEvent::Import {
                    files: vec!["/tv/a.mkv".into(), "/tv/b.mkv".into()],
                    upgrade: false,
                    owner: Some(("series", 7)),
                }),
            ),
            (
                json!({"eventType": "Download", "movie": {"id": 3, "folderPath": "/movies/M"},
                       "movieFile": {"path": "/movies/M/M.mkv"}, "isUpgrade": true}),
                Ok(ArrEvent::Import {
                    files: vec!["/movies/M/M.mkv".into()],
                    upgrade: true,
                    owner: Some(("movie", 3)),
                }),
            ),
            (
                json!({"eventType": "Rename", "renamedEpisodeFiles":
                       [{"previousPath": "/tv/old.mkv", "path": "/tv/new.mkv"}]}),
                Ok(ArrEvent::Rename {
                    moves: vec![("/tv/old.mkv".into(), "/tv/new.mkv".into())],
                }),
            ),
            (
                json!({"eventType": "Rename", "renamedMovieFiles":
                       [{"previousPath": "/m/a.mkv", "path": "/m/b.mkv"}]}),
                Ok(ArrEvent::Rename {
                    moves: vec![("/m/a.mkv".into(), "/m/b.mkv".into())],
                }),
            ),
            (
                json!({"eventType": "EpisodeFileDelete", "episodeFile": {"path": "/tv/x.mkv"},
                       "deleteReason": "manual"}),
                Ok(ArrEvent::Delete {
                    files: vec!["/tv/x.mkv".into()],
                }),
            ),
            (
                json!({"eventType": "MovieFileDelete", "movieFile": {"path": "/m/x.mkv"}}),
                Ok(ArrEvent::Delete {
                    files: vec!["/m/x.mkv".into()],
                }),
            ),
            (
                json!({"eventType": "Grab"}),
                Ok(ArrEvent::Ignored("Grab".into())),
            ),
            (json!({"series": {}}), Err("eventType: missing")),
            (json!([1]), Err("body: expected a JSON object")),
            (
                json!({"eventType": 5}),
                Err("eventType: expected a non-empty string, got 5"),
            ),
            (
                json!({"eventType": "Download", "episodeFile": {"id": 1}}),
                Err("episodeFile.path: missing"),
            ),
            (
                json!({"eventType": "Download", "episodeFiles": [{"path": "/a"}, {"path": 3}]}),
                Err("episodeFiles[1].path: expected a non-empty string, got 3"),
            ),
            (
                json!({"eventType": "Download", "movieFile": {"path": "/a"}, "isUpgrade": "yes"}),
                Err("isUpgrade: expected true or false, got \"yes\""),
            ),
            (
                json!({"eventType": "Download"}),
                Err("episodeFile, episodeFiles or movieFile: missing"),
            ),
            (
                json!({"eventType": "Rename", "renamedEpisodeFiles": [{"path": "/b"}]}),
                Err("renamedEpisodeFiles[0].previousPath: missing"),
            ),
        ];
        for (body, want) in table {
            assert_eq!(parse_arr(&body), want.map_err(str::to_string), "{body}");
        }
    }

    #[test]
    fn their_paths_map_to_ours_by_the_longest_prefix() {
        let m = vec![
            ("/data".to_string(), "/srv/media".to_string()),
            ("/data/tv".to_string(), "/mnt/tv".to_string()),
        ];
        let table = [
            ("/data/tv/Show/a.mkv", "/mnt/tv/Show/a.mkv"),
            ("/data/movies/b.mkv", "/srv/media/movies/b.mkv"),
            ("/database/c.mkv", "/database/c.mkv"),
            ("/elsewhere/d.mkv", "/elsewhere/d.mkv"),
        ];
        for (theirs, ours) in table {
            assert_eq!(map_path(&m, theirs), PathBuf::from(ours), "{theirs}");
        }
    }
}
