//! What connects the library to other programs: Sonarr/Radarr webhooks (each with its token's
//! hash, its path mappings and the instance's address and API key for rescans), what they
//! sent, which files they own, and the notification channels with their deliveries.

use crate::params;
use crate::sql::{Db, Schema, SqlResult};

/// The tables of hooks and notification channels.
pub const SCHEMA: Schema<'static> = Schema {
    name: "connect",
    sqlite: &["CREATE TABLE arr_hook (
        name TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        mappings TEXT NOT NULL,
        arr_url TEXT NOT NULL,
        api_key TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE arr_delivery (
        id INTEGER PRIMARY KEY,
        hook TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        event TEXT NOT NULL,
        status INTEGER NOT NULL,
        summary TEXT NOT NULL
    ) STRICT;
    CREATE INDEX arr_delivery_hook ON arr_delivery (hook, id);
    CREATE TABLE arr_file (
        path TEXT PRIMARY KEY,
        hook TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('series', 'movie')),
        arr_id INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE notify_channel (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        events TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE notify_delivery (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        event TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        ok INTEGER NOT NULL,
        detail TEXT NOT NULL
    ) STRICT;
    CREATE INDEX notify_delivery_channel ON notify_delivery (channel, id);"],
    postgres: &["CREATE TABLE arr_hook (
        name TEXT PRIMARY KEY,
        token_hash TEXT NOT NULL UNIQUE,
        mappings TEXT NOT NULL,
        arr_url TEXT NOT NULL,
        api_key TEXT NOT NULL,
        created_ms BIGINT NOT NULL
    );
    CREATE TABLE arr_delivery (
        id BIGSERIAL PRIMARY KEY,
        hook TEXT NOT NULL,
        at_ms BIGINT NOT NULL,
        event TEXT NOT NULL,
        status BIGINT NOT NULL,
        summary TEXT NOT NULL
    );
    CREATE INDEX arr_delivery_hook ON arr_delivery (hook, id);
    CREATE TABLE arr_file (
        path TEXT PRIMARY KEY,
        hook TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('series', 'movie')),
        arr_id BIGINT NOT NULL
    );
    CREATE TABLE notify_channel (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        events TEXT NOT NULL,
        created_ms BIGINT NOT NULL
    );
    CREATE TABLE notify_delivery (
        id BIGSERIAL PRIMARY KEY,
        channel TEXT NOT NULL,
        event TEXT NOT NULL,
        at_ms BIGINT NOT NULL,
        attempt BIGINT NOT NULL,
        ok BIGINT NOT NULL,
        detail TEXT NOT NULL
    );
    CREATE INDEX notify_delivery_channel ON notify_delivery (channel, id);"],
    legacy: crate::sql::Legacy::None,
};

/// A Sonarr or Radarr webhook as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HookRow {
    /// Its name.
    pub name: String,
    /// (their path prefix, ours) pairs, as JSON.
    pub mappings: String,
    /// The instance's address, for rescans after a promotion (empty: none).
    pub arr_url: String,
    /// The instance's API key (empty: none).
    #[serde(skip)]
    pub api_key: String,
    /// Created (epoch ms).
    pub created_ms: i64,
}

const HOOK_COLUMNS: &str = "name, mappings, arr_url, api_key, created_ms";

fn hook_row(r: &crate::sql::Row) -> HookRow {
    HookRow {
        name: r.text(0),
        mappings: r.text(1),
        arr_url: r.text(2),
        api_key: r.text(3),
        created_ms: r.int(4),
    }
}

/// Store hook `h` with the hash of its token (replacing one of that name).
pub fn put_hook(db: &mut Db, h: &HookRow, token_hash: &str) -> SqlResult<()> {
    db.execute(
        "INSERT INTO arr_hook (name, token_hash, mappings, arr_url, api_key, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (name) DO UPDATE SET token_hash = excluded.token_hash,
             mappings = excluded.mappings, arr_url = excluded.arr_url,
             api_key = excluded.api_key, created_ms = excluded.created_ms",
        params![
            h.name.as_str(),
            token_hash,
            h.mappings.as_str(),
            h.arr_url.as_str(),
            h.api_key.as_str(),
            h.created_ms
        ],
    )?;
    Ok(())
}

/// The hook whose token hashes to `token_hash`.
pub fn hook_by_token(db: &mut Db, token_hash: &str) -> SqlResult<Option<HookRow>> {
    let sql = format!("SELECT {HOOK_COLUMNS} FROM arr_hook WHERE token_hash = ?1");
    Ok(db
        .query_opt(&sql, params![token_hash])?
        .as_ref()
        .map(hook_row))
}

/// Hook `name`.
pub fn hook(db: &mut Db, name: &str) -> SqlResult<Option<HookRow>> {
    let sql = format!("SELECT {HOOK_COLUMNS} FROM arr_hook WHERE name = ?1");
    Ok(db.query_opt(&sql, params![name])?.as_ref().map(hook_row))
}

/// Every hook, by name.
pub fn hooks(db: &mut Db) -> SqlResult<Vec<HookRow>> {
    let sql = format!("SELECT {HOOK_COLUMNS} FROM arr_hook ORDER BY name");
    Ok(db.query(&sql, &[])?.iter().map(hook_row).collect())
}

/// Remove hook `name` and its records; how many hooks were removed.
pub fn remove_hook(db: &mut Db, name: &str) -> SqlResult<u64> {
    db.transaction(|db| {
        db.execute("DELETE FROM arr_delivery WHERE hook = ?1", params![name])?;
        db.execute("DELETE FROM arr_file WHERE hook = ?1", params![name])?;
        db.execute("DELETE FROM arr_hook WHERE name = ?1", params![name])
    })
}

/// Record what a hook received and what was done (the newest 200 per hook are kept).
pub fn record_delivery(
    db: &mut Db,
    hook: &str,
    at_ms: i64,
    event: &str,
    status: u16,
    summary: &str,
) -> SqlResult<()> {
    db.transaction(|db| {
        db.execute(
            "INSERT INTO arr_delivery (hook, at_ms, event, status, summary) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![hook, at_ms, event, i64::from(status), summary],
        )?;
        db.execute(
            "DELETE FROM arr_delivery WHERE hook = ?1 AND id NOT IN
               (SELECT id FROM arr_delivery WHERE hook = ?1 ORDER BY id DESC LIMIT 200)",
            params![hook],
        )?;
        Ok(())
    })
}

/// A hook's newest deliveries, newest first: (at ms, event, status, summary).
pub fn deliveries(
    db: &mut Db,
    hook: &str,
    limit: i64,
) -> SqlResult<Vec<(i64, String, i64, String)>> {
    Ok(db
        .query(
            "SELECT at_ms, event, status, summary FROM arr_delivery WHERE hook = ?1
             ORDER BY id DESC LIMIT ?2",
            params![hook, limit],
        )?
        .iter()
        .map(|r| (r.int(0), r.text(1), r.int(2), r.text(3)))
        .collect())
}

/// Remember that `path` belongs to series or movie `arr_id` of `hook` (to ask for a rescan
/// after it is replaced).
pub fn link_file(db: &mut Db, path: &str, hook: &str, kind: &str, arr_id: i64) -> SqlResult<()> {
    db.execute(
        "INSERT INTO arr_file (path, hook, kind, arr_id) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (path) DO UPDATE SET hook = excluded.hook, kind = excluded.kind,
             arr_id = excluded.arr_id",
        params![path, hook, kind, arr_id],
    )?;
    Ok(())
}

/// Move a file's link to its new path (a rename).
pub fn move_link(db: &mut Db, from: &str, to: &str) -> SqlResult<()> {
    db.transaction(|db| {
        db.execute("DELETE FROM arr_file WHERE path = ?1", params![to])?;
        db.execute(
            "UPDATE arr_file SET path = ?2 WHERE path = ?1",
            params![from, to],
        )?;
        Ok(())
    })
}

/// The hook, kind and id `path` belongs to.
pub fn file_link(db: &mut Db, path: &str) -> SqlResult<Option<(String, String, i64)>> {
    Ok(db
        .query_opt(
            "SELECT hook, kind, arr_id FROM arr_file WHERE path = ?1",
            params![path],
        )?
        .map(|r| (r.text(0), r.text(1), r.int(2))))
}

/// A notification channel as stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ChannelRow {
    /// Its name.
    pub name: String,
    /// `webhook`, `ntfy`, `gotify`, `discord`, `slack`, `telegram`, `email`, `apprise`.
    pub kind: String,
    /// Where it is delivered (secrets inside it are masked when shown).
    pub url: String,
    /// The signing key, token or password it needs (never shown).
    #[serde(skip)]
    pub secret: String,
    /// The events it wants, comma-separated (`*`: all).
    pub events: String,
    /// Created (epoch ms).
    pub created_ms: i64,
}

const CHANNEL_COLUMNS: &str = "name, kind, url, secret, events, created_ms";

fn channel_row(r: &crate::sql::Row) -> ChannelRow {
    ChannelRow {
        name: r.text(0),
        kind: r.text(1),
        url: r.text(2),
        secret: r.text(3),
        events: r.text(4),
        created_ms: r.int(5),
    }
}

/// Store channel `c` (replacing one of that name).
pub fn put_channel(db: &mut Db, c: &ChannelRow) -> SqlResult<()> {
    db.execute(
        "INSERT INTO notify_channel (name, kind, url, secret, events, created_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, url = excluded.url,
             secret = excluded.secret, events = excluded.events, created_ms = excluded.created_ms",
        params![
            c.name.as_str(),
            c.kind.as_str(),
            c.url.as_str(),
            c.secret.as_str(),
            c.events.as_str(),
            c.created_ms
        ],
    )?;
    Ok(())
}

/// Every channel, by name.
pub fn channels(db: &mut Db) -> SqlResult<Vec<ChannelRow>> {
    let sql = format!("SELECT {CHANNEL_COLUMNS} FROM notify_channel ORDER BY name");
    Ok(db.query(&sql, &[])?.iter().map(channel_row).collect())
}

/// Channel `name`.
pub fn channel(db: &mut Db, name: &str) -> SqlResult<Option<ChannelRow>> {
    let sql = format!("SELECT {CHANNEL_COLUMNS} FROM notify_channel WHERE name = ?1");
    Ok(db.query_opt(&sql, params![name])?.as_ref().map(channel_row))
}

/// Remove channel `name`; how many were removed.
pub fn remove_channel(db: &mut Db, name: &str) -> SqlResult<u64> {
    db.transaction(|db| {
        db.execute(
            "DELETE FROM notify_delivery WHERE channel = ?1",
            params![name],
        )?;
        db.execute("DELETE FROM notify_channel WHERE name = ?1", params![name])
    })
}

/// Record one delivery attempt (the newest 200 per channel are kept).
pub fn record_attempt(
    db: &mut Db,
    channel: &str,
    event: &str,
    at_ms: i64,
    attempt: i64,
    ok: bool,
    detail: &str,
) -> SqlResult<()> {
    db.transaction(|db| {
        db.execute(
            "INSERT INTO notify_delivery (channel, event, at_ms, attempt, ok, detail)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![channel, event, at_ms, attempt, i64::from(ok), detail],
        )?;
        db.execute(
            "DELETE FROM notify_delivery WHERE channel = ?1 AND id NOT IN
               (SELECT id FROM notify_delivery WHERE channel = ?1 ORDER BY id DESC LIMIT 200)",
            params![channel],
        )?;
        Ok(())
    })
}

/// One delivery attempt: (at ms, event, attempt, ok, detail).
pub type Attempt = (i64, String, i64, bool, String);

/// A channel's newest attempts, newest first.
pub fn attempts(db: &mut Db, channel: &str, limit: i64) -> SqlResult<Vec<Attempt>> {
    Ok(db
        .query(
            "SELECT at_ms, event, attempt, ok, detail FROM notify_delivery WHERE channel = ?1
             ORDER BY id DESC LIMIT ?2",
            params![channel, limit],
        )?
        .iter()
        .map(|r| (r.int(0), r.text(1), r.int(2), r.int(3) != 0, r.text(4)))
        .collect())
}

/// Delivery attempts kept (the newest 200 per channel) by channel and outcome:
/// (channel, ok, attempts).
pub fn attempt_counts(db: &mut Db) -> SqlResult<Vec<(String, bool, i64)>> {
    Ok(db
        .query(
            "SELECT channel, ok, COUNT(*) FROM notify_delivery GROUP BY channel, ok
             ORDER BY channel, ok",
            &[],
        )?
        .iter()
        .map(|r| (r.text(0), r.int(1) != 0, r.int(2)))
        .collect())
}
