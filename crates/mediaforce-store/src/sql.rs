//! One SQL connection over either backend, for state whose queries are the same on both (the
//! catalog, plans): statements are written once with numbered parameters (`?1`, `?2`...),
//! which become `$1`, `$2`... on PostgreSQL; values and rows are owned ([`Value`], [`Row`]) so
//! nothing of either client leaks to callers. Schemas are per backend ([`Schema`]), versioned,
//! applied in one transaction and refused when newer than the build.
//!
//! What differs between the two is kept small and explicit: both track each component's schema
//! version in `schema_version` (one row per component, so several share a database; where
//! earlier builds kept it elsewhere, the SQLite catalog in `PRAGMA user_version` and the job
//! queue in `store_schema`, it is read once and carried over, see [`Legacy`]); a transaction on SQLite is `BEGIN IMMEDIATE` (the
//! write lock is taken up front, so a read-then-write never fails to upgrade), on PostgreSQL a
//! plain `BEGIN` (statements that must not race use compare-and-set or row locks).

use crate::{redact, ErrorKind};
use postgres::types::{IsNull, ToSql, Type};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which database a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// One SQLite file (the embedded default).
    Sqlite,
    /// A PostgreSQL database shared by hosts.
    Postgres,
}

/// A component's migrations for each backend: `sqlite[i]` and `postgres[i]` move version `i`
/// to `i + 1`. Never edit one that has shipped; append.
#[derive(Debug, Clone, Copy)]
pub struct Schema<'a> {
    /// The component's name (the key of its row in PostgreSQL's `schema_version`).
    pub name: &'a str,
    /// SQLite migrations.
    pub sqlite: &'a [&'a str],
    /// PostgreSQL migrations.
    pub postgres: &'a [&'a str],
    /// Where a database without a row for this component in `schema_version` finds the
    /// version an earlier build recorded (read once, then kept current so that build refuses
    /// a newer schema instead of running on it).
    pub legacy: Legacy<'a>,
}

/// Where earlier builds recorded a component's schema version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legacy<'a> {
    /// Nowhere: the component always had its row in `schema_version`.
    None,
    /// SQLite's `PRAGMA user_version` (the one component of a file before components shared
    /// files: the catalog).
    UserVersion,
    /// A table of its own with one `version` column (the job queue's `store_schema`).
    Table(&'a str),
}

/// A failure of the database.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {message}")]
pub struct SqlError {
    /// The database (a file path, or a URL without its password).
    pub location: String,
    /// What went wrong, in the database's words (or ours for a held lock).
    pub message: String,
    /// What kind of failure.
    pub kind: ErrorKind,
    /// Another writer held the database past the busy timeout.
    pub busy: bool,
}

impl SqlError {
    fn sqlite(location: &str, e: &rusqlite::Error) -> Self {
        let code = e.sqlite_error_code();
        let busy = matches!(
            code,
            Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
        );
        let message = if busy {
            format!(
                "database is locked by another mediaforce process (waited {:.1} s); retry when it finishes",
                busy_timeout().as_secs_f64()
            )
        } else {
            e.to_string()
        };
        let kind = match code {
            _ if busy => ErrorKind::Unavailable,
            Some(rusqlite::ErrorCode::ConstraintViolation) => ErrorKind::Conflict,
            Some(rusqlite::ErrorCode::CannotOpen) => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        };
        Self {
            location: location.to_string(),
            message,
            kind,
            busy,
        }
    }

    fn postgres(location: &str, e: &postgres::Error) -> Self {
        let kind = match e.code() {
            Some(c) if *c == postgres::error::SqlState::UNIQUE_VIOLATION => ErrorKind::Conflict,
            Some(c) if *c == postgres::error::SqlState::RAISE_EXCEPTION => ErrorKind::Invalid,
            Some(c) if *c == postgres::error::SqlState::CHECK_VIOLATION => ErrorKind::Invalid,
            // The server is shutting down or restarting (57P01-57P03), or the connection
            // broke (08xxx): unreachable for now, not a failed statement.
            Some(c) if c.code().starts_with("57P") || c.code().starts_with("08") => {
                ErrorKind::Unavailable
            }
            Some(_) => ErrorKind::Internal,
            None => ErrorKind::Unavailable,
        };
        // The client's Display hides the server's message behind "db error"; show it.
        let message = match e.as_db_error() {
            Some(db) => db.message().to_string(),
            None => e.to_string(),
        };
        Self {
            location: location.to_string(),
            message,
            kind,
            busy: false,
        }
    }

    fn other(location: &str, kind: ErrorKind, message: String) -> Self {
        Self {
            location: location.to_string(),
            message,
            kind,
            busy: false,
        }
    }
}

/// Result alias of this module.
pub type SqlResult<T> = std::result::Result<T, SqlError>;

/// How long SQLite waits for another writer before giving up: `MEDIAFORCE_BUSY_TIMEOUT_MS`,
/// 10 s by default.
pub fn busy_timeout() -> Duration {
    std::env::var("MEDIAFORCE_BUSY_TIMEOUT_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(10), Duration::from_millis)
}

/// A parameter or column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer (booleans are 0 and 1).
    Int(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(String),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<usize> for Value {
    fn from(v: usize) -> Self {
        Value::Int(v as i64)
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(v as i64)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Real(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Build a parameter list: `params![a, b, c]`.
#[macro_export]
macro_rules! params {
    ($($v:expr),* $(,)?) => {
        &[$($crate::sql::Value::from($v)),*][..]
    };
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(*i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*i)?.to_sql(ty, out),
                Type::BOOL => (*i != 0).to_sql(ty, out),
                Type::FLOAT8 => (*i as f64).to_sql(ty, out),
                _ => Err(format!("an integer cannot be stored as {ty}").into()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT4 => (*f as f32).to_sql(ty, out),
                Type::FLOAT8 => f.to_sql(ty, out),
                _ => Err(format!("a number with a fraction cannot be stored as {ty}").into()),
            },
            Value::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    s.as_str().to_sql(ty, out)
                }
                _ => Err(format!("text cannot be stored as {ty}").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// One result row, owned.
#[derive(Debug, Clone, PartialEq)]
pub struct Row(pub Vec<Value>);

impl Row {
    fn at(&self, i: usize) -> &Value {
        self.0.get(i).unwrap_or(&Value::Null)
    }

    /// Column `i` as an integer (NULL and non-integers read as 0).
    pub fn int(&self, i: usize) -> i64 {
        self.opt_int(i).unwrap_or(0)
    }

    /// Column `i` as an integer, or `None` for NULL.
    pub fn opt_int(&self, i: usize) -> Option<i64> {
        match self.at(i) {
            Value::Int(v) => Some(*v),
            Value::Real(v) => Some(*v as i64),
            _ => None,
        }
    }

    /// Column `i` as a number (NULL reads as 0).
    pub fn real(&self, i: usize) -> f64 {
        self.opt_real(i).unwrap_or(0.0)
    }

    /// Column `i` as a number, or `None` for NULL.
    pub fn opt_real(&self, i: usize) -> Option<f64> {
        match self.at(i) {
            Value::Real(v) => Some(*v),
            Value::Int(v) => Some(*v as f64),
            _ => None,
        }
    }

    /// Column `i` as text (NULL reads as empty).
    pub fn text(&self, i: usize) -> String {
        self.opt_text(i).unwrap_or_default()
    }

    /// Column `i` as text, or `None` for NULL.
    pub fn opt_text(&self, i: usize) -> Option<String> {
        match self.at(i) {
            Value::Text(v) => Some(v.clone()),
            Value::Int(v) => Some(v.to_string()),
            Value::Real(v) => Some(v.to_string()),
            Value::Null => None,
        }
    }

    /// Column `i` as a flag (non-zero integer).
    pub fn flag(&self, i: usize) -> bool {
        self.int(i) != 0
    }
}

enum Conn {
    Sqlite(rusqlite::Connection),
    Postgres {
        client: Box<postgres::Client>,
        statements: HashMap<String, postgres::Statement>,
        /// The address as given (with its password), to connect again after the server
        /// went away (never printed: `Db::location` is the redacted form).
        url: String,
    },
}

/// A connection to the catalog's database on either backend.
pub struct Db {
    conn: Conn,
    location: String,
    depth: u32,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend())
            .field("location", &self.location)
            .finish()
    }
}

/// Whether `location` names a PostgreSQL database (a `postgres://` or `postgresql://` URL).
pub fn is_postgres(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// Rewrite `?N` parameters as `$N`, leaving quoted text alone.
fn dollar_params(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted && chars.peek().is_some_and(char::is_ascii_digit) => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

fn pg_value(row: &postgres::Row, i: usize) -> std::result::Result<Value, postgres::Error> {
    let ty = row.columns()[i].type_().clone();
    Ok(match ty {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(i)?
            .map_or(Value::Null, Value::Int),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)?
            .map_or(Value::Null, |v| Value::Int(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)?
            .map_or(Value::Null, |v| Value::Int(v.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)?
            .map_or(Value::Null, |v| Value::Int(v.into())),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(i)?
            .map_or(Value::Null, Value::Real),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)?
            .map_or(Value::Null, |v| Value::Real(v.into())),
        // Text-like columns; anything else (NUMERIC from SUM, timestamps) is an error naming
        // the column's type: cast it in the statement.
        _ => row
            .try_get::<_, Option<String>>(i)?
            .map_or(Value::Null, Value::Text),
    })
}

fn sqlite_value(v: rusqlite::types::ValueRef<'_>) -> Value {
    use rusqlite::types::ValueRef;
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) | ValueRef::Blob(t) => Value::Text(String::from_utf8_lossy(t).into()),
    }
}

impl Db {
    /// Open `location` (a `postgres://` URL, or a SQLite file path whose directory is created
    /// as needed) and bring `schema` up to date, refusing a database newer than this build.
    pub fn open(location: &str, schema: &Schema<'_>) -> SqlResult<Self> {
        let mut db = if is_postgres(location) {
            let shown = redact(location);
            let client = postgres::Client::connect(location, postgres::NoTls)
                .map_err(|e| SqlError::postgres(&shown, &e))?;
            Db {
                conn: Conn::Postgres {
                    client: Box::new(client),
                    statements: HashMap::new(),
                    url: location.to_string(),
                },
                location: shown,
                depth: 0,
            }
        } else {
            let path = PathBuf::from(location);
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    SqlError::other(
                        &dir.display().to_string(),
                        ErrorKind::Unavailable,
                        e.to_string(),
                    )
                })?;
            }
            let err = |e: rusqlite::Error| SqlError::sqlite(location, &e);
            let conn = rusqlite::Connection::open(&path).map_err(err)?;
            conn.busy_timeout(busy_timeout()).map_err(err)?;
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(err)?;
            conn.pragma_update(None, "foreign_keys", "ON")
                .map_err(err)?;
            // NORMAL is durable across application crashes in WAL mode; a power cut may lose
            // the last commits but never corrupts the file.
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(err)?;
            Db {
                conn: Conn::Sqlite(conn),
                location: location.to_string(),
                depth: 0,
            }
        };
        db.migrate(schema)?;
        Ok(db)
    }

    /// An SQL expression for the database server's clock in milliseconds since the epoch:
    /// what times that several hosts compare are taken from (their own clocks may disagree).
    pub fn now_sql(&self) -> &'static str {
        match self.conn {
            Conn::Sqlite(_) => "CAST(unixepoch('subsec') * 1000 AS INTEGER)",
            Conn::Postgres { .. } => "(extract(epoch from clock_timestamp()) * 1000)::bigint",
        }
    }

    /// The database server's clock, in milliseconds since the epoch.
    pub fn now_ms(&mut self) -> SqlResult<i64> {
        let sql = format!("SELECT {}", self.now_sql());
        Ok(self.query(&sql, &[])?.first().map_or(0, |r| r.int(0)))
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        match self.conn {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres { .. } => Backend::Postgres,
        }
    }

    /// The database, as shown in messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The schema version of `schema` in this database (0 when new).
    pub fn schema_version(&mut self, schema: &Schema<'_>) -> SqlResult<i64> {
        if let Some(v) = self.recorded_version(schema)? {
            return Ok(v);
        }
        match schema.legacy {
            Legacy::UserVersion => match &self.conn {
                Conn::Sqlite(c) => c
                    .pragma_query_value(None, "user_version", |r| r.get(0))
                    .map_err(|e| SqlError::sqlite(&self.location, &e)),
                Conn::Postgres { .. } => Ok(0),
            },
            Legacy::Table(table) if self.has_table(table)? => Ok(self
                .query_opt(&format!("SELECT MAX(version) FROM {table}"), &[])?
                .and_then(|r| r.opt_int(0))
                .unwrap_or(0)),
            _ => Ok(0),
        }
    }

    /// The version recorded in `schema_version` for `schema` (`None`: no row yet).
    fn recorded_version(&mut self, schema: &Schema<'_>) -> SqlResult<Option<i64>> {
        self.batch(
            "CREATE TABLE IF NOT EXISTS schema_version
             (component TEXT PRIMARY KEY, version BIGINT NOT NULL)",
        )?;
        Ok(self
            .query_opt(
                "SELECT version FROM schema_version WHERE component = ?1",
                params![schema.name],
            )?
            .map(|r| r.int(0)))
    }

    /// Whether the table `name` exists (in the current schema, on PostgreSQL).
    pub fn has_table(&mut self, name: &str) -> SqlResult<bool> {
        let sql = match self.backend() {
            Backend::Sqlite => "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            Backend::Postgres => {
                "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?1"
            }
        };
        Ok(self.query_opt(sql, params![name])?.is_some())
    }

    fn migrate(&mut self, schema: &Schema<'_>) -> SqlResult<()> {
        let steps = match self.backend() {
            Backend::Sqlite => schema.sqlite,
            Backend::Postgres => schema.postgres,
        };
        let known = steps.len() as i64;
        let too_new = |db: &Db, found: i64| {
            SqlError::other(
                &db.location,
                ErrorKind::Unavailable,
                format!(
                    "{} schema version {found} is newer than this build knows ({known}); upgrade mediaforce",
                    schema.name
                ),
            )
        };
        if self.backend() == Backend::Sqlite {
            // Reading the version takes no lock: the usual case (up to date) writes nothing.
            // A version found only where an earlier build kept it is recorded below.
            if let Some(found) = self.recorded_version(schema)? {
                if found > known {
                    return Err(too_new(self, found));
                }
                if found == known {
                    return Ok(());
                }
            }
        }
        self.transaction(|db| {
            if db.backend() == Backend::Postgres {
                // One migrator at a time across hosts, before even the version table exists.
                db.execute("SELECT pg_advisory_xact_lock(7236054)", &[])?;
            }
            // Another process may have migrated while we waited for the lock.
            let now = db.schema_version(schema)?;
            if now > known {
                return Err(too_new(db, now));
            }
            for m in &steps[now as usize..] {
                db.batch(m)?;
            }
            db.execute(
                "INSERT INTO schema_version (component, version) VALUES (?1, ?2)
                 ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                params![schema.name, known],
            )?;
            // A build from before `schema_version` reads only `user_version`: keep it current,
            // so that build refuses the newer schema instead of running on it.
            match schema.legacy {
                Legacy::UserVersion => {
                    if let Conn::Sqlite(c) = &db.conn {
                        c.pragma_update(None, "user_version", known)
                            .map_err(|e| SqlError::sqlite(&db.location, &e))?;
                    }
                }
                Legacy::Table(table) if db.has_table(table)? => {
                    db.execute(&format!("UPDATE {table} SET version = ?1"), params![known])?;
                }
                _ => {}
            }
            Ok(())
        })
    }

    /// Run statements without parameters (schema changes).
    pub fn batch(&mut self, sql: &str) -> SqlResult<()> {
        match &mut self.conn {
            Conn::Sqlite(c) => c
                .execute_batch(sql)
                .map_err(|e| SqlError::sqlite(&self.location, &e)),
            Conn::Postgres { client, .. } => client
                .batch_execute(sql)
                .map_err(|e| SqlError::postgres(&self.location, &e)),
        }
    }

    fn pg_statement(
        client: &mut postgres::Client,
        statements: &mut HashMap<String, postgres::Statement>,
        sql: &str,
    ) -> std::result::Result<postgres::Statement, postgres::Error> {
        if let Some(s) = statements.get(sql) {
            return Ok(s.clone());
        }
        let s = client.prepare(&dollar_params(sql))?;
        statements.insert(sql.to_string(), s.clone());
        Ok(s)
    }

    /// A PostgreSQL connection the server closed (a restart, a network cut) is opened again
    /// before the next statement outside a transaction; the statement that met the closed
    /// connection has already failed (`Unavailable`) and is not repeated here, so nothing is
    /// ever run twice. A server still away leaves the closed client, to try again next time.
    fn revive(&mut self) {
        if self.depth > 0 {
            return;
        }
        if let Conn::Postgres {
            client,
            statements,
            url,
        } = &mut self.conn
        {
            if client.is_closed() {
                if let Ok(fresh) = postgres::Client::connect(url, postgres::NoTls) {
                    **client = fresh;
                    statements.clear();
                }
            }
        }
    }

    /// Run one statement; returns the number of rows it changed.
    pub fn execute(&mut self, sql: &str, params: &[Value]) -> SqlResult<u64> {
        self.revive();
        match &mut self.conn {
            Conn::Sqlite(c) => c
                .prepare_cached(sql)
                .and_then(|mut s| s.execute(rusqlite::params_from_iter(params)))
                .map(|n| n as u64)
                .map_err(|e| SqlError::sqlite(&self.location, &e)),
            Conn::Postgres {
                client, statements, ..
            } => {
                let refs: Vec<&(dyn ToSql + Sync)> =
                    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                Self::pg_statement(client, statements, sql)
                    .and_then(|s| client.execute(&s, &refs))
                    .map_err(|e| SqlError::postgres(&self.location, &e))
            }
        }
    }

    /// Run a query and collect its rows.
    pub fn query(&mut self, sql: &str, params: &[Value]) -> SqlResult<Vec<Row>> {
        self.revive();
        match &mut self.conn {
            Conn::Sqlite(c) => {
                let run = || -> rusqlite::Result<Vec<Row>> {
                    let mut st = c.prepare_cached(sql)?;
                    let n = st.column_count();
                    let mut rows = st.query(rusqlite::params_from_iter(params))?;
                    let mut out = Vec::new();
                    while let Some(r) = rows.next()? {
                        out.push(Row((0..n)
                            .map(|i| r.get_ref(i).map(sqlite_value))
                            .collect::<rusqlite::Result<_>>()?));
                    }
                    Ok(out)
                };
                run().map_err(|e| SqlError::sqlite(&self.location, &e))
            }
            Conn::Postgres {
                client, statements, ..
            } => {
                let refs: Vec<&(dyn ToSql + Sync)> =
                    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
                let mut run = || -> std::result::Result<Vec<Row>, postgres::Error> {
                    let s = Self::pg_statement(client, statements, sql)?;
                    client
                        .query(&s, &refs)?
                        .iter()
                        .map(|r| {
                            (0..r.len())
                                .map(|i| pg_value(r, i))
                                .collect::<std::result::Result<_, _>>()
                                .map(Row)
                        })
                        .collect()
                };
                run().map_err(|e| SqlError::postgres(&self.location, &e))
            }
        }
    }

    /// Run a query expected to return at most one row.
    pub fn query_opt(&mut self, sql: &str, params: &[Value]) -> SqlResult<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Run `f` in one transaction: committed when it returns `Ok`, rolled back otherwise.
    /// Nested calls join the outer transaction.
    pub fn transaction<T, E: From<SqlError>>(
        &mut self,
        f: impl FnOnce(&mut Db) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        if self.depth > 0 {
            self.depth += 1;
            let r = f(self);
            self.depth -= 1;
            return r;
        }
        self.revive();
        let begin = match self.backend() {
            Backend::Sqlite => "BEGIN IMMEDIATE",
            Backend::Postgres => "BEGIN",
        };
        self.batch(begin)?;
        self.depth = 1;
        // A panic inside must not leave the transaction (and SQLite's write lock, or
        // PostgreSQL's row locks) open for every later call on this connection.
        let outcome = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(self))) {
            Ok(o) => o,
            Err(panic) => {
                self.depth = 0;
                let _ = self.batch("ROLLBACK");
                std::panic::resume_unwind(panic);
            }
        };
        self.depth = 0;
        match outcome {
            Ok(v) => match self.batch("COMMIT") {
                Ok(()) => Ok(v),
                Err(e) => {
                    // A failed COMMIT can leave the transaction (and SQLite's write lock) open.
                    let _ = self.batch("ROLLBACK");
                    Err(e.into())
                }
            },
            Err(e) => {
                let _ = self.batch("ROLLBACK");
                Err(e)
            }
        }
    }
}

/// Create (or empty) the PostgreSQL database `name` in the cluster `admin_url` connects to, and
/// return its URL: for test suites and first-time set-up. `name` must be a plain identifier.
pub fn create_database(admin_url: &str, name: &str) -> SqlResult<String> {
    let location = redact(admin_url);
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(SqlError::other(
            &location,
            ErrorKind::Invalid,
            format!("'{name}' is not a plain database name"),
        ));
    }
    let mut client = postgres::Client::connect(admin_url, postgres::NoTls)
        .map_err(|e| SqlError::postgres(&location, &e))?;
    // One statement each: PostgreSQL refuses to drop or create a database in a transaction.
    for statement in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        client
            .batch_execute(&statement)
            .map_err(|e| SqlError::postgres(&location, &e))?;
    }
    let base = admin_url.rsplit_once('/').map_or(admin_url, |(b, _)| b);
    Ok(format!("{base}/{name}"))
}

/// The SQLite file path of a location that is not a PostgreSQL URL.
pub fn sqlite_path(location: &str) -> Option<&Path> {
    (!is_postgres(location)).then(|| Path::new(location))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbered_parameters_become_dollars_outside_quotes() {
        let cases = [
            ("SELECT ?1, ?2", "SELECT $1, $2"),
            ("WHERE a = '?1' AND b = ?12", "WHERE a = '?1' AND b = $12"),
            ("x ? y", "x ? y"),
        ];
        for (sql, want) in cases {
            assert_eq!(dollar_params(sql), want, "{sql}");
        }
    }

    #[test]
    fn rows_read_back_what_was_written_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.db");
        let schema = Schema {
            name: "t",
            sqlite: &["CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, r REAL, s TEXT) STRICT"],
            postgres: &[],
            legacy: Legacy::None,
        };
        let mut db = Db::open(path.to_str().unwrap(), &schema).unwrap();
        db.execute(
            "INSERT INTO t (n, r, s) VALUES (?1, ?2, ?3)",
            params![7i64, 1.5, Some("x")],
        )
        .unwrap();
        db.execute(
            "INSERT INTO t (n, r, s) VALUES (?1, ?2, ?3)",
            params![None::<i64>, None::<f64>, None::<String>],
        )
        .unwrap();
        let rows = db.query("SELECT n, r, s FROM t ORDER BY id", &[]).unwrap();
        assert_eq!(rows[0].int(0), 7);
        assert_eq!(rows[0].real(1), 1.5);
        assert_eq!(rows[0].opt_text(2).as_deref(), Some("x"));
        assert_eq!(rows[1].opt_int(0), None);
        assert_eq!(rows[1].opt_text(2), None);
        // A failed transaction leaves nothing behind.
        let r: SqlResult<()> = db.transaction(|db| {
            db.execute("INSERT INTO t (n) VALUES (?1)", params![1i64])?;
            Err(SqlError::other("t", ErrorKind::Invalid, "no".into()))
        });
        assert!(r.is_err());
        assert_eq!(db.query("SELECT id FROM t", &[]).unwrap().len(), 2);
        drop(db);
        // A newer schema is refused.
        let newer = Schema {
            name: "t",
            sqlite: &[],
            postgres: &[],
            legacy: Legacy::None,
        };
        let e = Db::open(path.to_str().unwrap(), &newer).unwrap_err();
        assert!(e.message.contains("newer than this build"), "{e}");
        assert_eq!(e.kind, ErrorKind::Unavailable);
    }

    #[test]
    fn a_file_versioned_by_user_version_carries_its_version_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE a (x INTEGER); PRAGMA user_version = 1;")
            .unwrap();
        drop(c);
        let schema = Schema {
            name: "old",
            sqlite: &["CREATE TABLE a (x INTEGER)", "CREATE TABLE b (y INTEGER)"],
            postgres: &[],
            legacy: Legacy::UserVersion,
        };
        // Step 1 is not run again (it would fail: `a` exists); step 2 is.
        let mut db = Db::open(path.to_str().unwrap(), &schema).unwrap();
        assert_eq!(db.schema_version(&schema).unwrap(), 2);
        db.execute("INSERT INTO b (y) VALUES (?1)", params![1i64])
            .unwrap();
        // Another component in the same file starts from 0.
        let other = Schema {
            name: "other",
            sqlite: &["CREATE TABLE c (z INTEGER)"],
            postgres: &[],
            legacy: Legacy::None,
        };
        let mut db = Db::open(path.to_str().unwrap(), &other).unwrap();
        assert_eq!(db.schema_version(&other).unwrap(), 1);
        assert_eq!(db.schema_version(&schema).unwrap(), 2);
    }
}
