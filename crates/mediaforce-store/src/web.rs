//! The web page's sign-in tables: its one password (an argon2 hash), its sessions (token
//! hashes, each with its CSRF token) and the API tokens (hashes with a scope). Hashing and
//! checking live in the application layer; these are the statements.

use crate::params;
use crate::sql::{Db, Schema, SqlError, SqlResult};

/// The web page's own tables: the password and the sessions.
pub const SCHEMA: Schema<'static> = Schema {
    name: "web",
    sqlite: &[
        "CREATE TABLE web_password (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        hash TEXT NOT NULL,
        set_ms INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE web_session (
        token_hash TEXT PRIMARY KEY,
        csrf TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    ) STRICT;",
        // Tokens for automation: bearer tokens with a scope, stored hashed.
        "CREATE TABLE api_token (
        name TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL CHECK (scope IN ('read', 'write')),
        created_ms INTEGER NOT NULL
    ) STRICT;",
    ],
    postgres: &[
        "CREATE TABLE web_password (
        id BIGINT PRIMARY KEY CHECK (id = 1),
        hash TEXT NOT NULL,
        set_ms BIGINT NOT NULL
    );
    CREATE TABLE web_session (
        token_hash TEXT PRIMARY KEY,
        csrf TEXT NOT NULL,
        created_ms BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL
    );",
        "CREATE TABLE api_token (
        name TEXT PRIMARY KEY,
        hash TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL CHECK (scope IN ('read', 'write')),
        created_ms BIGINT NOT NULL
    );",
    ],
    legacy: crate::sql::Legacy::None,
};

/// Set the password's hash (replacing any) and end every session, in one transaction.
pub fn set_password(db: &mut Db, hash: &str, now_ms: i64) -> SqlResult<()> {
    db.transaction(|db| {
        db.execute(
            "INSERT INTO web_password (id, hash, set_ms) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET hash = excluded.hash, set_ms = excluded.set_ms",
            params![hash, now_ms],
        )?;
        db.execute("DELETE FROM web_session", &[])?;
        Ok::<_, SqlError>(())
    })
}

/// The password's hash, when one is set.
pub fn password_hash(db: &mut Db) -> SqlResult<Option<String>> {
    Ok(db
        .query_opt("SELECT hash FROM web_password WHERE id = 1", &[])?
        .map(|r| r.text(0)))
}

/// Store a new session (expired ones are dropped first).
pub fn open_session(
    db: &mut Db,
    token_hash: &str,
    csrf: &str,
    now_ms: i64,
    expires_ms: i64,
) -> SqlResult<()> {
    db.execute(
        "DELETE FROM web_session WHERE expires_ms < ?1",
        params![now_ms],
    )?;
    db.execute(
        "INSERT INTO web_session (token_hash, csrf, created_ms, expires_ms)
         VALUES (?1, ?2, ?3, ?4)",
        params![token_hash, csrf, now_ms, expires_ms],
    )?;
    Ok(())
}

/// The CSRF token of the live session whose token hashes to `token_hash`.
pub fn session_csrf(db: &mut Db, token_hash: &str, now_ms: i64) -> SqlResult<Option<String>> {
    Ok(db
        .query_opt(
            "SELECT csrf FROM web_session WHERE token_hash = ?1 AND expires_ms > ?2",
            params![token_hash, now_ms],
        )?
        .map(|r| r.text(0)))
}

/// End the session whose token hashes to `token_hash`.
pub fn close_session(db: &mut Db, token_hash: &str) -> SqlResult<()> {
    db.execute(
        "DELETE FROM web_session WHERE token_hash = ?1",
        params![token_hash],
    )?;
    Ok(())
}

/// Store API token `name` (replacing one of that name).
pub fn put_api_token(
    db: &mut Db,
    name: &str,
    hash: &str,
    scope: &str,
    now_ms: i64,
) -> SqlResult<()> {
    db.execute(
        "INSERT INTO api_token (name, hash, scope, created_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, scope = excluded.scope,
             created_ms = excluded.created_ms",
        params![name, hash, scope, now_ms],
    )?;
    Ok(())
}

/// The scope of the API token that hashes to `hash`.
pub fn api_token_scope(db: &mut Db, hash: &str) -> SqlResult<Option<String>> {
    Ok(db
        .query_opt("SELECT scope FROM api_token WHERE hash = ?1", params![hash])?
        .map(|r| r.text(0)))
}

/// Every API token as (name, scope, created epoch ms), by name.
pub fn api_tokens(db: &mut Db) -> SqlResult<Vec<(String, String, i64)>> {
    Ok(db
        .query(
            "SELECT name, scope, created_ms FROM api_token ORDER BY name",
            &[],
        )?
        .iter()
        .map(|r| (r.text(0), r.text(1), r.int(2)))
        .collect())
}

/// Remove API token `name`; how many were removed.
pub fn revoke_api_token(db: &mut Db, name: &str) -> SqlResult<u64> {
    db.execute("DELETE FROM api_token WHERE name = ?1", params![name])
}
