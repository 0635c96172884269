//! The hosts that run jobs: each `mediaforce worker` registers its host in the store (name,
//! OS, cores, memory, the encoders its adapters find), heartbeats, and reads back the
//! operator's settings for it (state: active, paused or draining; how many jobs at once). A
//! name is held by one live worker process at a time: a second live worker with the same name
//! is refused; a restarted one (its predecessor silent for longer than the stale window) takes
//! the name over.

use crate::params;
use crate::sql::{Backend, Db, Row, Schema, SqlError};
use serde::{Deserialize, Serialize};
use std::sync::Mutex;
use std::time::Duration;

/// The hosts' schema on both backends.
pub const SCHEMA: Schema<'static> = Schema {
    name: "hosts",
    sqlite: &[
        "CREATE TABLE host (
        name TEXT PRIMARY KEY,
        instance TEXT NOT NULL,
        os TEXT NOT NULL,
        cores INTEGER NOT NULL,
        memory_bytes INTEGER NOT NULL,
        encoders TEXT NOT NULL,
        max_jobs INTEGER NOT NULL DEFAULT 1 CHECK (max_jobs >= 1),
        state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused', 'draining')),
        schedule TEXT NOT NULL DEFAULT 'always',
        mappings TEXT NOT NULL DEFAULT '[]',
        started_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL
    ) STRICT;",
        // Tokens for the file endpoint (transfer mode), stored hashed; one per host.
        "CREATE TABLE host_token (
        host TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        created_ms INTEGER NOT NULL
    ) STRICT;",
        // CPU and I/O priority of the host's encodes.
        "ALTER TABLE host ADD COLUMN nice INTEGER NOT NULL DEFAULT 0
            CHECK (nice BETWEEN -20 AND 19);
         ALTER TABLE host ADD COLUMN ionice TEXT NOT NULL DEFAULT 'none';",
    ],
    postgres: &[
        "CREATE TABLE host (
        name TEXT PRIMARY KEY,
        instance TEXT NOT NULL,
        os TEXT NOT NULL,
        cores BIGINT NOT NULL,
        memory_bytes BIGINT NOT NULL,
        encoders TEXT NOT NULL,
        max_jobs BIGINT NOT NULL DEFAULT 1 CHECK (max_jobs >= 1),
        state TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused', 'draining')),
        schedule TEXT NOT NULL DEFAULT 'always',
        mappings TEXT NOT NULL DEFAULT '[]',
        started_ms BIGINT NOT NULL,
        last_seen_ms BIGINT NOT NULL
    );",
        "CREATE TABLE host_token (
        host TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        created_ms BIGINT NOT NULL
    );",
        "ALTER TABLE host ADD COLUMN nice BIGINT NOT NULL DEFAULT 0
            CHECK (nice BETWEEN -20 AND 19);
         ALTER TABLE host ADD COLUMN ionice TEXT NOT NULL DEFAULT 'none';",
    ],
    legacy: crate::sql::Legacy::None,
};

/// What the operator set for a host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostState {
    /// Claims jobs.
    Active,
    /// Claims nothing; running jobs go on.
    Paused,
    /// Finishes its running jobs, claims nothing more, and its worker exits.
    Draining,
}

impl HostState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Active => "active",
            HostState::Paused => "paused",
            HostState::Draining => "draining",
        }
    }
}

impl std::str::FromStr for HostState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "active" => Ok(HostState::Active),
            "paused" => Ok(HostState::Paused),
            "draining" => Ok(HostState::Draining),
            other => Err(format!(
                "unknown host state '{other}' (active, paused, draining)"
            )),
        }
    }
}

/// A host as its worker describes it.
#[derive(Debug, Clone, Serialize)]
pub struct HostInfo {
    /// The name the operator knows it by.
    pub name: String,
    /// This worker process (`pid@machine:start`), so two live workers cannot share a name.
    pub instance: String,
    /// Operating system and architecture.
    pub os: String,
    /// CPU cores.
    pub cores: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Encoders its adapters find available.
    pub encoders: Vec<String>,
}

/// Settings the operator changes on a host; `None` leaves one as it is.
#[derive(Debug, Clone, Default)]
pub struct HostSettings {
    /// Active, paused or draining.
    pub state: Option<HostState>,
    /// Jobs at once.
    pub max_jobs: Option<u64>,
    /// When it may start jobs.
    pub schedule: Option<String>,
    /// Where the library is mounted on it.
    pub mappings: Option<PathMap>,
    /// Nice level of its encodes (-20..19).
    pub nice: Option<i32>,
    /// I/O class of its encodes.
    pub ionice: Option<IoPriority>,
}

/// A registered host with the operator's settings.
#[derive(Debug, Clone, Serialize)]
pub struct HostRow {
    /// Name.
    pub name: String,
    /// The worker process holding the name.
    pub instance: String,
    /// Operating system.
    pub os: String,
    /// Cores.
    pub cores: u64,
    /// Memory.
    pub memory_bytes: u64,
    /// Available encoders.
    pub encoders: Vec<String>,
    /// Jobs at once.
    pub max_jobs: u64,
    /// Active, paused or draining.
    pub state: HostState,
    /// When it may start jobs (a weekly schedule, `always` or days and hours).
    pub schedule: String,
    /// Where the library's paths are mounted on it.
    pub mappings: PathMap,
    /// Nice level of its encodes.
    pub nice: i32,
    /// I/O class of its encodes.
    pub ionice: IoPriority,
    /// When its worker started (epoch ms).
    pub started_ms: i64,
    /// Its last heartbeat (epoch ms).
    pub last_seen_ms: i64,
    /// Whether it heartbeat within the stale window.
    pub alive: bool,
}

/// Errors of the host registry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The database failed.
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// Another live worker holds the name.
    #[error("host name {name} is held by a live worker ({instance}, seen {seconds:.0} s ago); stop it or choose another --name")]
    Taken {
        /// The name.
        name: String,
        /// The worker holding it.
        instance: String,
        /// Since its last heartbeat.
        seconds: f64,
    },
    /// No such host.
    #[error("no host named {0}")]
    NotFound(String),
    /// This worker no longer holds its name (another took it over).
    #[error("host name {0} was taken over by another worker")]
    Lost(String),
    /// The operator removed this host while its worker ran.
    #[error(
        "host {0} was removed (mediaforce hosts remove); start the worker again to register it"
    )]
    Removed(String),
    /// A bad setting.
    #[error("{0}")]
    Invalid(String),
}

/// An I/O scheduling class for the thread (`ionice`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "class", content = "level")]
pub enum IoPriority {
    /// Left as it is.
    #[default]
    None,
    /// Best effort at a level from 0 (first) to 7 (last).
    BestEffort(u8),
    /// Only when no other process wants the disk.
    Idle,
}

impl std::fmt::Display for IoPriority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IoPriority::None => f.write_str("none"),
            IoPriority::BestEffort(n) => write!(f, "best-effort:{n}"),
            IoPriority::Idle => f.write_str("idle"),
        }
    }
}

impl std::str::FromStr for IoPriority {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        match s.split_once(':') {
            None if s == "none" => Ok(IoPriority::None),
            None if s == "idle" => Ok(IoPriority::Idle),
            None if s == "best-effort" => Ok(IoPriority::BestEffort(4)),
            Some(("best-effort", n)) => match n.parse::<u8>() {
                Ok(n) if n <= 7 => Ok(IoPriority::BestEffort(n)),
                _ => Err(format!("ionice {s}: the best-effort level is 0 to 7")),
            },
            _ => Err(format!(
                "ionice {s}: expected none, idle, or best-effort[:0-7]"
            )),
        }
    }
}

/// A new random token (256 bits, hex): what a host presents to the file endpoint.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the system's random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// How a token is stored: its BLAKE3 hash (tokens are random, so no slow hash is needed).
pub fn token_hash(token: &str) -> String {
    blake3::hash(token.trim().as_bytes()).to_hex().to_string()
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// How long a worker may be silent before its name is free again.
pub const STALE: Duration = Duration::from_secs(30);

/// The registry in a store.
#[derive(Debug)]
pub struct Hosts {
    db: Mutex<Db>,
}

/// A host as stored; `now`: the database's clock, which liveness is judged by.
fn host_from_row(r: &Row, now: i64) -> HostRow {
    let last_seen_ms = r.int(11);
    HostRow {
        name: r.text(0),
        instance: r.text(1),
        os: r.text(2),
        cores: r.int(3) as u64,
        memory_bytes: r.int(4) as u64,
        encoders: serde_json::from_str(&r.text(5)).unwrap_or_default(),
        max_jobs: r.int(6) as u64,
        state: r.text(7).parse().unwrap_or(HostState::Paused),
        schedule: r.text(8),
        mappings: serde_json::from_str(&r.text(9)).unwrap_or_default(),
        started_ms: r.int(10),
        last_seen_ms,
        alive: now - last_seen_ms < STALE.as_millis() as i64,
        nice: r.int(12) as i32,
        ionice: r.text(13).parse().unwrap_or_default(),
    }
}

const COLUMNS: &str =
    "name, instance, os, cores, memory_bytes, encoders, max_jobs, state, schedule, mappings,
     started_ms, last_seen_ms, nice, ionice";

impl Hosts {
    /// Open the registry at `location` (the store: a SQLite file or a `postgres://` URL).
    pub fn open(location: &str) -> Result<Self, HostError> {
        Ok(Self {
            db: Mutex::new(Db::open(location, &SCHEMA)?),
        })
    }

    fn db(&self) -> std::sync::MutexGuard<'_, Db> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Register `info` (a new host, or this host's restarted worker), keeping the operator's
    /// settings of a known host; refused while another live worker holds the name.
    pub fn register(&self, info: &HostInfo) -> Result<HostRow, HostError> {
        self.db().transaction(|db| {
            let now = db.now_ms()?;
            let lock = match db.backend() {
                Backend::Sqlite => "",
                Backend::Postgres => " FOR UPDATE",
            };
            let held = db.query_opt(
                &format!("SELECT instance, last_seen_ms FROM host WHERE name = ?1{lock}"),
                params![info.name.as_str()],
            )?;
            if let Some(r) = held {
                let (instance, seen) = (r.text(0), r.int(1));
                if instance != info.instance && now - seen < STALE.as_millis() as i64 {
                    return Err(HostError::Taken {
                        name: info.name.clone(),
                        instance,
                        seconds: (now - seen) as f64 / 1000.0,
                    });
                }
            }
            let encoders = serde_json::to_string(&info.encoders).expect("strings serialise");
            // The takeover is conditional in the statement itself, so two workers registering
            // a new name at once cannot both win (PostgreSQL locks no row that is not there).
            let won = db.query_opt(
                "INSERT INTO host (name, instance, os, cores, memory_bytes, encoders,
                                   started_ms, last_seen_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
                 ON CONFLICT (name) DO UPDATE SET instance = excluded.instance,
                     os = excluded.os, cores = excluded.cores,
                     memory_bytes = excluded.memory_bytes, encoders = excluded.encoders,
                     started_ms = excluded.started_ms, last_seen_ms = excluded.last_seen_ms
                 WHERE host.instance = excluded.instance OR host.last_seen_ms < ?8
                 RETURNING instance",
                params![
                    info.name.as_str(),
                    info.instance.as_str(),
                    info.os.as_str(),
                    info.cores,
                    info.memory_bytes,
                    encoders,
                    now,
                    now - STALE.as_millis() as i64
                ],
            )?;
            if won.is_none() {
                return Err(HostError::Taken {
                    name: info.name.clone(),
                    instance: "another worker".into(),
                    seconds: 0.0,
                });
            }
            Ok(())
        })?;
        self.get(&info.name)
    }

    /// A worker's heartbeat: returns the operator's settings, or [`HostError::Lost`] when
    /// another worker took the name over.
    pub fn heartbeat(&self, info: &HostInfo) -> Result<HostRow, HostError> {
        let mut db = self.db();
        let sql = format!(
            "UPDATE host SET last_seen_ms = {} WHERE name = ?1 AND instance = ?2",
            db.now_sql()
        );
        let n = db.execute(&sql, params![info.name.as_str(), info.instance.as_str()])?;
        drop(db);
        if n == 0 {
            // Removed by the operator, or taken over by another worker: say which.
            return Err(match self.get(&info.name) {
                Err(HostError::NotFound(_)) => HostError::Removed(info.name.clone()),
                _ => HostError::Lost(info.name.clone()),
            });
        }
        self.get(&info.name)
    }

    /// A worker stopping cleanly gives its name back at once (a restart need not wait out the
    /// stale window).
    pub fn release(&self, info: &HostInfo) -> Result<(), HostError> {
        self.db().execute(
            "UPDATE host SET last_seen_ms = 0 WHERE name = ?1 AND instance = ?2",
            params![info.name.as_str(), info.instance.as_str()],
        )?;
        Ok(())
    }

    /// One host.
    pub fn get(&self, name: &str) -> Result<HostRow, HostError> {
        let mut db = self.db();
        let now = db.now_ms()?;
        db.query_opt(
            &format!("SELECT {COLUMNS} FROM host WHERE name = ?1"),
            params![name],
        )?
        .as_ref()
        .map(|r| host_from_row(r, now))
        .ok_or_else(|| HostError::NotFound(name.to_string()))
    }

    /// Every host, by name.
    pub fn list(&self) -> Result<Vec<HostRow>, HostError> {
        let mut db = self.db();
        let now = db.now_ms()?;
        Ok(db
            .query(&format!("SELECT {COLUMNS} FROM host ORDER BY name"), &[])?
            .iter()
            .map(|r| host_from_row(r, now))
            .collect())
    }

    /// Change a host's settings. The schedule is stored as given: callers check it first
    /// (`mediaforce_jobs::hosts::checked` parses it and writes it the canonical way).
    pub fn set(&self, name: &str, change: &HostSettings) -> Result<HostRow, HostError> {
        if change.max_jobs == Some(0) {
            return Err(HostError::Invalid(format!(
                "host {name}: max jobs must be at least 1"
            )));
        }
        let schedule = change.schedule.clone();
        let mappings = change
            .mappings
            .as_ref()
            .map(|m| serde_json::to_string(m).expect("paths serialise"));
        if let Some(n) = change.nice.filter(|n| !(-20..=19).contains(n)) {
            return Err(HostError::Invalid(format!(
                "host {name}: nice {n} is outside -20..19"
            )));
        }
        let updates: [(&str, Option<crate::sql::Value>); 6] = [
            ("state", change.state.map(|s| s.as_str().into())),
            ("max_jobs", change.max_jobs.map(Into::into)),
            ("schedule", schedule.map(Into::into)),
            ("mappings", mappings.map(Into::into)),
            ("nice", change.nice.map(|n| i64::from(n).into())),
            ("ionice", change.ionice.map(|p| p.to_string().into())),
        ];
        let mut db = self.db();
        for (column, value) in updates {
            let Some(value) = value else { continue };
            let n = db.execute(
                &format!("UPDATE host SET {column} = ?2 WHERE name = ?1"),
                &[name.into(), value],
            )?;
            if n == 0 {
                return Err(HostError::NotFound(name.to_string()));
            }
        }
        drop(db);
        self.get(name)
    }

    /// Issue a new token for the host `name` (it need not have registered yet), replacing
    /// its previous one; only the token's hash is stored, so it is shown once, here.
    pub fn issue_token(&self, name: &str) -> Result<String, HostError> {
        if name.trim().is_empty() || name.contains('/') {
            return Err(HostError::Invalid(format!(
                "host name {name:?}: empty or with a '/'"
            )));
        }
        let token = new_token();
        self.db().execute(
            "INSERT INTO host_token (host, hash, created_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (host) DO UPDATE SET hash = excluded.hash,
                 created_ms = excluded.created_ms",
            params![name, token_hash(&token), now_ms()],
        )?;
        Ok(token)
    }

    /// The host a token belongs to, if any.
    pub fn token_host(&self, token: &str) -> Result<Option<String>, HostError> {
        Ok(self
            .db()
            .query_opt(
                "SELECT host FROM host_token WHERE hash = ?1",
                params![token_hash(token)],
            )?
            .map(|r| r.text(0)))
    }

    /// Revoke the host's token; whether it had one.
    pub fn revoke_token(&self, name: &str) -> Result<bool, HostError> {
        Ok(self
            .db()
            .execute("DELETE FROM host_token WHERE host = ?1", params![name])?
            > 0)
    }

    /// Forget a host and revoke its token (its worker, if it still runs, re-registers at its
    /// next start).
    pub fn remove(&self, name: &str) -> Result<(), HostError> {
        let _ = self.revoke_token(name)?;
        let n = self
            .db()
            .execute("DELETE FROM host WHERE name = ?1", params![name])?;
        if n == 0 {
            return Err(HostError::NotFound(name.to_string()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, instance: &str) -> HostInfo {
        HostInfo {
            name: name.into(),
            instance: instance.into(),
            os: "linux x86_64".into(),
            cores: 2,
            memory_bytes: 1 << 30,
            encoders: vec!["libx264".into()],
        }
    }

    #[test]
    fn tokens_are_stored_hashed_and_a_new_one_replaces_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let hosts = Hosts::open(path.to_str().unwrap()).unwrap();
        let first = hosts.issue_token("desk").unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(hosts.token_host(&first).unwrap().as_deref(), Some("desk"));
        assert_eq!(hosts.token_host("not-a-token").unwrap(), None);
        // The database holds the hash, never the token.
        let stored = hosts
            .db()
            .query("SELECT hash FROM host_token WHERE host = 'desk'", &[])
            .unwrap();
        assert_eq!(stored.len(), 1);
        assert_ne!(stored[0].text(0), first);
        assert_eq!(stored[0].text(0), token_hash(&first));
        let second = hosts.issue_token("desk").unwrap();
        assert_ne!(first, second);
        assert_eq!(hosts.token_host(&first).unwrap(), None);
        assert_eq!(hosts.token_host(&second).unwrap().as_deref(), Some("desk"));
        assert!(hosts.revoke_token("desk").unwrap());
        assert_eq!(hosts.token_host(&second).unwrap(), None);
        assert!(hosts.issue_token("a/b").is_err());
    }

    #[test]
    fn a_live_name_is_held_by_one_worker_and_settings_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = Hosts::open(dir.path().join("s.db").to_str().unwrap()).unwrap();
        let first = info("nas", "1@nas:1");
        let row = hosts.register(&first).unwrap();
        assert_eq!(
            (row.state, row.max_jobs, row.alive),
            (HostState::Active, 1, true)
        );
        // A second live worker with the same name is refused, naming the holder.
        let e = hosts.register(&info("nas", "2@nas:2")).unwrap_err();
        assert!(matches!(e, HostError::Taken { .. }), "{e}");
        assert!(e.to_string().contains("1@nas:1"), "{e}");
        // The operator's settings are read back by the heartbeat...
        let change = |state, max_jobs, schedule: Option<&str>| HostSettings {
            state,
            max_jobs,
            schedule: schedule.map(str::to_string),
            mappings: None,
            nice: None,
            ionice: None,
        };
        hosts
            .set("nas", &change(Some(HostState::Draining), Some(3), None))
            .unwrap();
        let row = hosts
            .set("nas", &change(None, None, Some("mon,tue 22:00-07:00")))
            .unwrap();
        assert_eq!(row.schedule, "mon,tue 22:00-07:00");
        let map = PathMap::parse(&["/srv/media=/mnt/media".into()]).unwrap();
        let row = hosts
            .set(
                "nas",
                &HostSettings {
                    mappings: Some(map.clone()),
                    ..HostSettings::default()
                },
            )
            .unwrap();
        assert_eq!(row.mappings, map);
        let hb = hosts.heartbeat(&first).unwrap();
        assert_eq!((hb.state, hb.max_jobs), (HostState::Draining, 3));
        assert!(hosts.set("nas", &change(None, Some(0), None)).is_err());
        assert!(matches!(
            hosts.set("nowhere", &change(Some(HostState::Paused), None, None)),
            Err(HostError::NotFound(_))
        ));
        // ...and survive the worker's restart once the old one is silent past the window.
        let mut db = hosts.db();
        db.execute(
            "UPDATE host SET last_seen_ms = ?1 WHERE name = 'nas'",
            params![now_ms() - STALE.as_millis() as i64 - 1000],
        )
        .unwrap();
        drop(db);
        let second = info("nas", "3@nas:3");
        let row = hosts.register(&second).unwrap();
        assert_eq!((row.instance.as_str(), row.max_jobs), ("3@nas:3", 3));
        assert!(matches!(hosts.heartbeat(&first), Err(HostError::Lost(_))));
        hosts.remove("nas").unwrap();
        assert!(hosts.list().unwrap().is_empty());
        let e = hosts.heartbeat(&second).unwrap_err();
        assert!(matches!(e, HostError::Removed(_)), "{e}");
    }
}

/// How a host reaches the library: path prefixes as the store knows them (the planning
/// host's) mapped to where they are mounted here. Files are read and written through the
/// mapping; the store keeps the original paths, so every host names a file the same way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct PathMap(pub Vec<(std::path::PathBuf, std::path::PathBuf)>);

impl PathMap {
    /// Parse `FROM=TO` mappings (absolute paths).
    pub fn parse(specs: &[String]) -> Result<Self, String> {
        let mut out = Vec::new();
        for s in specs {
            let (a, b) = s
                .split_once('=')
                .ok_or_else(|| format!("mapping '{s}': expected FROM=TO"))?;
            let (a, b) = (std::path::PathBuf::from(a), std::path::PathBuf::from(b));
            if !a.is_absolute() || !b.is_absolute() {
                return Err(format!("mapping '{s}': both sides must be absolute paths"));
            }
            out.push((a, b));
        }
        Ok(Self(out))
    }

    /// Where `path` is on this host: the longest matching prefix replaced; unmapped paths
    /// are the same here.
    pub fn local(&self, path: &std::path::Path) -> std::path::PathBuf {
        self.0
            .iter()
            .filter(|(from, _)| path.starts_with(from))
            .max_by_key(|(from, _)| from.components().count())
            .map_or_else(
                || path.to_path_buf(),
                |(from, to)| to.join(path.strip_prefix(from).expect("matched prefix")),
            )
    }

    /// The mapped root `path` falls under when it is not there (an unmounted disk).
    pub fn missing_root(&self, path: &std::path::Path) -> Option<std::path::PathBuf> {
        self.0
            .iter()
            .filter(|(from, _)| path.starts_with(from))
            .max_by_key(|(from, _)| from.components().count())
            .map(|(_, to)| to.clone())
            .filter(|to| !to.is_dir())
    }
}

#[cfg(test)]
mod map_tests {
    use super::PathMap;
    use std::path::Path;

    #[test]
    fn the_longest_prefix_maps_and_whole_components_only() {
        let m = PathMap::parse(&["/srv/media=/mnt/nas".into(), "/srv/media/tv=/mnt/tv".into()])
            .unwrap();
        let cases = [
            ("/srv/media/films/a.mkv", "/mnt/nas/films/a.mkv"),
            ("/srv/media/tv/s1/e1.mkv", "/mnt/tv/s1/e1.mkv"),
            ("/srv/mediaX/a.mkv", "/srv/mediaX/a.mkv"),
            ("/elsewhere/a.mkv", "/elsewhere/a.mkv"),
        ];
        for (from, to) in cases {
            assert_eq!(m.local(Path::new(from)), Path::new(to), "{from}");
        }
        assert!(PathMap::parse(&["relative=/x".into()]).is_err());
        assert!(PathMap::parse(&["/x".into()]).is_err());
        let dir = tempfile::tempdir().unwrap();
        let here = format!("/lib={}", dir.path().display());
        let m = PathMap::parse(&[here, "/gone=/no/such/mount".into()]).unwrap();
        assert_eq!(m.missing_root(Path::new("/lib/a.mkv")), None);
        assert_eq!(
            m.missing_root(Path::new("/gone/a.mkv")).as_deref(),
            Some(Path::new("/no/such/mount"))
        );
    }
}
