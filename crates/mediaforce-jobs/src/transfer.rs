//! Transfer mode: a host without access to the library downloads a job's source from the
//! host that holds it and uploads the staged result back, over HTTP (`mediaforce serve`'s file
//! endpoint).
//!
//! Both directions resume where a cut connection left off and are verified by a BLAKE3 hash of
//! the whole file before use: a download with `Range: bytes=N-`; an upload by asking the
//! receiver how much it holds and sending the rest. The receiver writes uploads under a
//! temporary name and renames them into place itself, fenced by the job's lease, so a host
//! that lost its lease can never deliver a result. Every request carries the host's token
//! (`Authorization: Bearer`) and the lease epoch it acts under.
//!
//! The protocol, under `/transfer/v1/jobs/{job}`:
//! - `GET source`: the job item's source file; `Range` honoured; header [`LENGTH`] (the whole
//!   file's length) and, once the endpoint has hashed the file, [`HASH`] (the whole file's
//!   hash). A large file is hashed while it is sent.
//! - `GET source/hash`: `200` with [`HASH`] and [`LENGTH`] once the hash is known, `202`
//!   while it is being computed.
//! - `HEAD result`: [`RECEIVED`], the bytes of this lease's upload held so far, and
//!   [`STAGED`], the length of the staged file in place (when there is one).
//! - `PUT result` with [`OFFSET`]: the body is written from that offset (at most what the
//!   receiver holds: a smaller one restarts there).
//! - `POST result/commit` with [`HASH`] and [`LENGTH`]: checks them against what was received
//!   and renames it into the staging path under the lease's fence. `422` on a mismatch (the
//!   upload is discarded), `409` when the lease is no longer the caller's. A commit repeated
//!   after its answer was lost succeeds when the staged file already matches.

use crate::control::Fence;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The lease epoch a request acts under.
pub const EPOCH: &str = "x-mediaforce-epoch";
/// A whole file's BLAKE3 hash, lowercase hex.
pub const HASH: &str = "x-mediaforce-blake3";
/// A whole file's length in bytes.
pub const LENGTH: &str = "x-mediaforce-length";
/// Bytes of an upload the receiver holds.
pub const RECEIVED: &str = "x-mediaforce-received";
/// Length of the staged file in place.
pub const STAGED: &str = "x-mediaforce-staged";
/// Where an upload's body starts.
pub const OFFSET: &str = "x-mediaforce-offset";

/// The buffer one read or write of a transfer moves.
const CHUNK: usize = 1 << 20;

/// The BLAKE3 hash of a file, lowercase hex.
pub fn hash_file(path: &Path) -> std::io::Result<String> {
    Ok(hash_prefix(path, u64::MAX)?.finalize().to_hex().to_string())
}

/// A BLAKE3 hasher fed the first `n` bytes of a file (all of it when shorter), to go on with
/// the rest as it is sent or received.
pub fn hash_prefix(path: &Path, n: u64) -> std::io::Result<blake3::Hasher> {
    let mut hasher = blake3::Hasher::new();
    let mut f = std::fs::File::open(path)?.take(n);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let k = f.read(&mut buf)?;
        if k == 0 {
            break;
        }
        hasher.update(&buf[..k]);
    }
    Ok(hasher)
}

pub use crate::store::hosts::{new_token, token_hash};

/// A transfer that did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The job's lease is no longer this host's: nothing is delivered.
    #[error("{0}")]
    Fenced(String),
    /// The endpoint refused the request (a bad token, a job of another host, no such job).
    #[error("{0}")]
    Refused(String),
    /// The connection kept failing, or the file kept arriving damaged.
    #[error("{0}")]
    Failed(String),
    /// The job was stopped while transferring.
    #[error("stopped while transferring")]
    Stopped,
    /// A local file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// What a completed transfer took.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Transferred {
    /// The file's length.
    pub bytes: u64,
    /// Bytes sent or received over the network (more than `bytes` after a retry).
    pub moved: u64,
    /// Wall time.
    pub seconds: f64,
    /// Times it resumed after a cut connection.
    pub resumed: u32,
    /// Times the whole file failed its hash check and was sent again.
    pub hash_mismatches: u32,
    /// The file's hash.
    pub hash: String,
}

impl Transferred {
    /// One line for the item's history.
    pub fn describe(&self, what: &str) -> String {
        let mut s = format!(
            "{what} {} bytes in {:.1} s ({:.1} MB/s), BLAKE3 {}",
            self.bytes,
            self.seconds,
            self.bytes as f64 / self.seconds.max(1e-9) / 1e6,
            &self.hash[..self.hash.len().min(16)]
        );
        if self.resumed > 0 {
            s.push_str(&format!(
                "; resumed {} time(s) after a cut connection",
                self.resumed
            ));
        }
        if self.hash_mismatches > 0 {
            s.push_str(&format!(
                "; {} hash mismatch(es) caught, sent again",
                self.hash_mismatches
            ));
        }
        s
    }
}

/// A host's client of another host's file endpoint.
#[derive(Debug, Clone)]
pub struct TransferClient {
    base: String,
    token: String,
    agent: ureq::Agent,
    /// How long it keeps retrying without making progress before giving up.
    pub patience: Duration,
}

/// What a transfer reports to and asks whether to stop: bytes moving are progress (a job's
/// stuck clock), and a stop ends the transfer between chunks. A plain `Fn() -> bool` is a
/// watch that only answers the stop.
pub trait Watch {
    /// Whether to stop now.
    fn stopped(&self) -> bool;
    /// `bytes` moved.
    fn moved(&self, _bytes: u64) {}
}

impl<F: Fn() -> bool> Watch for F {
    fn stopped(&self) -> bool {
        self()
    }
}

impl Watch for crate::control::JobControl {
    fn stopped(&self) -> bool {
        self.is_stopped()
    }

    fn moved(&self, _bytes: u64) {
        self.touch();
    }
}

/// A response's status as an error of the transfer, with the endpoint's own message.
fn status_error(what: &str, code: u16, resp: ureq::Response) -> TransferError {
    let body = resp.into_string().unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| body.trim().to_string());
    let msg = format!("{what}: HTTP {code}: {message}");
    match code {
        409 => TransferError::Fenced(msg),
        _ => TransferError::Refused(msg),
    }
}

/// Statuses worth another try: the endpoint is busy or restarting, or the request timed out.
fn retryable(code: u16) -> bool {
    code == 408 || code == 429 || code >= 500
}

/// How long a download waits for the endpoint to finish hashing a large source.
const HASH_WAIT: Duration = Duration::from_secs(3600);

/// Copy `body` into `file` chunk by chunk, hashing what is written and telling `watch`, until
/// the body ends or breaks; returns the bytes written and why the body broke, if it did.
fn pump(
    body: &mut dyn Read,
    file: &mut std::fs::File,
    hasher: &mut blake3::Hasher,
    watch: &dyn Watch,
    part: &Path,
) -> Result<(u64, Option<String>), TransferError> {
    let mut buf = vec![0u8; CHUNK];
    let mut moved = 0u64;
    loop {
        if watch.stopped() {
            return Err(TransferError::Stopped);
        }
        match body.read(&mut buf) {
            Ok(0) => return Ok((moved, None)),
            Ok(n) => {
                file.write_all(&buf[..n])
                    .map_err(|source| TransferError::Io {
                        path: part.to_path_buf(),
                        source,
                    })?;
                hasher.update(&buf[..n]);
                moved += n as u64;
                watch.moved(n as u64);
            }
            Err(e) => return Ok((moved, Some(e.to_string()))),
        }
    }
}

impl TransferClient {
    /// A client of the endpoint at `base` (`http://host:port`) presenting `token`.
    pub fn new(base: &str, token: &str) -> Self {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout_read(Duration::from_secs(20))
            .timeout_write(Duration::from_secs(20))
            // A connection per request: after a cut link nothing half-dead is reused.
            .max_idle_connections(0)
            .build();
        Self {
            base: base.trim_end_matches('/').to_string(),
            token: token.trim().to_string(),
            agent,
            patience: Duration::from_secs(120),
        }
    }

    /// The endpoint.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, fence: Fence, tail: &str) -> String {
        format!("{}/transfer/v1/jobs/{}/{tail}", self.base, fence.job)
    }

    fn request(&self, method: &str, fence: Fence, tail: &str) -> ureq::Request {
        self.agent
            .request(method, &self.url(fence, tail))
            .set("authorization", &format!("Bearer {}", self.token))
            .set(EPOCH, &fence.epoch.to_string())
    }

    /// Wait before the next try after a failure; gives up once nothing has moved for the
    /// client's patience, or when stopped.
    fn backoff(
        &self,
        tries: &mut u32,
        progress_at: Instant,
        what: &str,
        cause: &str,
        watch: &dyn Watch,
    ) -> Result<(), TransferError> {
        if progress_at.elapsed() >= self.patience {
            return Err(TransferError::Failed(format!(
                "{what}: no progress for {:.0} s, the last error: {cause}",
                self.patience.as_secs_f64()
            )));
        }
        *tries += 1;
        let delay = Duration::from_millis(250 * 2u64.pow((*tries).min(4)));
        sleep_unless_stopped(delay, watch)
    }

    /// The whole source's hash, once the endpoint has it (it hashes a large file while the
    /// download runs).
    fn source_hash(
        &self,
        fence: Fence,
        what: &str,
        watch: &dyn Watch,
    ) -> Result<String, TransferError> {
        let started = Instant::now();
        let mut tries = 0;
        let mut progress_at = Instant::now();
        loop {
            match self.request("GET", fence, "source/hash").call() {
                Ok(r) if r.status() == 200 => {
                    if let Some(h) = r.header(HASH) {
                        return Ok(h.to_string());
                    }
                    return Err(TransferError::Refused(format!(
                        "{what}: the endpoint sent no {HASH}"
                    )));
                }
                // Still hashing.
                Ok(_) => {
                    progress_at = Instant::now();
                    if started.elapsed() >= HASH_WAIT {
                        return Err(TransferError::Failed(format!(
                            "{what}: the endpoint was still hashing the source after {:.0} s",
                            HASH_WAIT.as_secs_f64()
                        )));
                    }
                    sleep_unless_stopped(Duration::from_millis(500), watch)?;
                }
                Err(ureq::Error::Status(code, r)) if !retryable(code) => {
                    return Err(status_error(what, code, r))
                }
                Err(e) => self.backoff(&mut tries, progress_at, what, &e.to_string(), watch)?,
            }
        }
    }

    /// Download the source of the job `fence` names into `dest`, resuming a cut connection
    /// from the bytes already written and checking the whole file's hash before it is put at
    /// `dest`; `watch` hears of bytes moving and is asked between chunks whether to stop.
    pub fn download(
        &self,
        fence: Fence,
        dest: &Path,
        watch: &dyn Watch,
    ) -> Result<Transferred, TransferError> {
        let started = Instant::now();
        let what = format!("download of job {}'s source from {}", fence.job, self.base);
        let part = PathBuf::from(format!("{}.part", dest.display()));
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TransferError::Io { path, source }
        };
        let mut out = Transferred::default();
        let mut tries = 0;
        let mut progress_at = Instant::now();
        // The hash of what `part` holds, kept across resumed requests.
        let mut hasher = blake3::Hasher::new();
        let mut hashed = 0u64;
        let mut requests = 0u32;
        loop {
            if watch.stopped() {
                return Err(TransferError::Stopped);
            }
            let have = std::fs::metadata(&part).map_or(0, |m| m.len());
            if have != hashed {
                // A file left by an earlier attempt: hash what it holds before going on.
                hasher = if have == 0 {
                    blake3::Hasher::new()
                } else {
                    hash_prefix(&part, have).map_err(io(&part))?
                };
                hashed = have;
            }
            let mut req = self.request("GET", fence, "source");
            if have > 0 {
                req = req.set("range", &format!("bytes={have}-"));
            }
            requests += 1;
            let (resp, len) = match req.call() {
                Ok(r) => {
                    let len: Option<u64> = r.header(LENGTH).and_then(|v| v.parse().ok());
                    let Some(len) = len else {
                        return Err(TransferError::Refused(format!(
                            "{what}: the endpoint sent no {LENGTH}"
                        )));
                    };
                    (Some(r), len)
                }
                // Nothing past what we hold: complete (checked below) or overlong.
                Err(ureq::Error::Status(416, r)) => {
                    match r.header(LENGTH).and_then(|v| v.parse::<u64>().ok()) {
                        Some(len) if len == have => (None, len),
                        _ => {
                            let _ = std::fs::remove_file(&part);
                            continue;
                        }
                    }
                }
                Err(ureq::Error::Status(code, r)) if retryable(code) => {
                    let cause = status_error(&what, code, r).to_string();
                    self.backoff(&mut tries, progress_at, &what, &cause, watch)?;
                    continue;
                }
                Err(ureq::Error::Status(code, r)) => return Err(status_error(&what, code, r)),
                Err(e) => {
                    self.backoff(&mut tries, progress_at, &what, &e.to_string(), watch)?;
                    continue;
                }
            };
            let mut known = None;
            if let Some(resp) = resp {
                // A 206 must continue exactly where the part ends; anything else starts over.
                let continues = resp.status() == 206
                    && resp
                        .header("content-range")
                        .is_some_and(|v| v.starts_with(&format!("bytes {have}-")));
                let start = if continues { have } else { 0 };
                if continues && requests > 1 {
                    out.resumed += 1;
                }
                known = resp.header(HASH).map(str::to_string);
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .truncate(false)
                    .open(&part)
                    .map_err(io(&part))?;
                file.set_len(start).map_err(io(&part))?;
                file.seek(SeekFrom::Start(start)).map_err(io(&part))?;
                if start != hashed {
                    hasher = blake3::Hasher::new();
                    hashed = 0;
                }
                let mut body = resp.into_reader();
                let (moved, cut) = pump(&mut body, &mut file, &mut hasher, watch, &part)?;
                hashed += moved;
                out.moved += moved;
                if moved > 0 {
                    progress_at = Instant::now();
                    tries = 0;
                }
                file.flush().map_err(io(&part))?;
                drop(file);
                if hashed < len {
                    let cause = cut.unwrap_or_else(|| "the connection closed early".into());
                    self.backoff(&mut tries, progress_at, &what, &cause, watch)?;
                    continue;
                }
            }
            let hash = match known {
                Some(h) => h,
                None => self.source_hash(fence, &what, watch)?,
            };
            let got = hasher.finalize().to_hex().to_string();
            if hashed != len || got != hash {
                // A damaged or overlong file: never used; fetched once more from the start.
                let _ = std::fs::remove_file(&part);
                out.hash_mismatches += 1;
                if out.hash_mismatches > 2 {
                    return Err(TransferError::Failed(format!(
                        "{what}: the file failed its hash check {} times (expected {hash}, got {got})",
                        out.hash_mismatches
                    )));
                }
                continue;
            }
            // Not synced: a copy lost in a crash is fetched again (the job starts over), and a
            // damaged one fails its hash check on the way back in.
            std::fs::rename(&part, dest).map_err(io(dest))?;
            out.bytes = len;
            out.hash = hash;
            out.seconds = started.elapsed().as_secs_f64();
            return Ok(out);
        }
    }

    /// The host the endpoint knows this client's token as; a refusal when it knows none.
    pub fn whoami(&self) -> Result<String, TransferError> {
        let what = format!("token check at {}", self.base);
        let resp = self
            .agent
            .get(&format!("{}/transfer/v1/whoami", self.base))
            .set("authorization", &format!("Bearer {}", self.token))
            .call();
        match resp {
            Ok(r) => {
                let v: serde_json::Value = r
                    .into_json()
                    .map_err(|e| TransferError::Failed(format!("{what}: {e}")))?;
                Ok(v["host"].as_str().unwrap_or_default().to_string())
            }
            Err(ureq::Error::Status(code, r)) => Err(status_error(&what, code, r)),
            Err(e) => Err(TransferError::Failed(format!("{what}: {e}"))),
        }
    }

    /// What the receiver holds for the job: this lease's upload so far, and the staged
    /// file's length when one is in place.
    pub fn result_state(&self, fence: Fence) -> Result<(u64, Option<u64>), TransferError> {
        let what = format!("state of job {}'s result at {}", fence.job, self.base);
        match self.request("HEAD", fence, "result").call() {
            Ok(r) => Ok((
                r.header(RECEIVED).and_then(|v| v.parse().ok()).unwrap_or(0),
                r.header(STAGED).and_then(|v| v.parse().ok()),
            )),
            Err(ureq::Error::Status(code, r)) => Err(status_error(&what, code, r)),
            Err(e) => Err(TransferError::Failed(format!("{what}: {e}"))),
        }
    }

    /// Upload `file` as the staged result of the job `fence` names: resumes from what the
    /// receiver holds after a cut connection, and has the receiver check the hash and put the
    /// file in place under the lease's fence.
    pub fn upload(
        &self,
        fence: Fence,
        file: &Path,
        watch: &dyn Watch,
    ) -> Result<Transferred, TransferError> {
        let started = Instant::now();
        let what = format!("upload of job {}'s result to {}", fence.job, self.base);
        let io = |source| TransferError::Io {
            path: file.to_path_buf(),
            source,
        };
        let len = std::fs::metadata(file).map_err(io)?.len();
        // Hashed as it is sent (the part a cut upload already delivered is read once more).
        let mut hash: Option<String> = None;
        let mut out = Transferred {
            bytes: len,
            ..Default::default()
        };
        let mut tries = 0;
        let mut progress_at = Instant::now();
        let mut restart = false;
        let mut puts = 0u32;
        loop {
            if watch.stopped() {
                return Err(TransferError::Stopped);
            }
            let (received, staged) = if restart {
                (0, None)
            } else {
                match self.result_state(fence) {
                    Ok(state) => state,
                    Err(TransferError::Failed(cause)) => {
                        self.backoff(&mut tries, progress_at, &what, &cause, watch)?;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            };
            // Already in place (a commit whose answer was lost): the commit below says so.
            let placed = received == 0 && staged == Some(len) && !restart;
            let offset = if received > len { 0 } else { received };
            if !placed && (offset < len || restart) {
                restart = false;
                let mut f = std::fs::File::open(file).map_err(io)?;
                f.seek(SeekFrom::Start(offset)).map_err(io)?;
                puts += 1;
                if puts > 1 && offset > 0 {
                    out.resumed += 1;
                }
                let sent = std::cell::Cell::new(0u64);
                let hasher = std::cell::RefCell::new(match (&hash, offset) {
                    (None, 0) => Some(blake3::Hasher::new()),
                    (None, n) => Some(hash_prefix(file, n).map_err(io)?),
                    (Some(_), _) => None,
                });
                let r = self
                    .request("PUT", fence, "result")
                    .set(OFFSET, &offset.to_string())
                    .set("content-length", &(len - offset).to_string())
                    .send(Body {
                        file: f,
                        sent: &sent,
                        hasher: &hasher,
                        watch,
                    });
                out.moved += sent.get();
                if sent.get() > 0 {
                    progress_at = Instant::now();
                }
                match r {
                    Ok(_) => {
                        tries = 0;
                        if sent.get() == len - offset {
                            if let Some(h) = hasher.into_inner() {
                                hash = Some(h.finalize().to_hex().to_string());
                            }
                        }
                    }
                    // Cut, busy, or out of step with the receiver: ask again where it stands.
                    Err(ureq::Error::Status(code, r))
                        if !(retryable(code) || code == 400 || code == 416) =>
                    {
                        return Err(status_error(&what, code, r))
                    }
                    Err(e) => {
                        if watch.stopped() {
                            return Err(TransferError::Stopped);
                        }
                        self.backoff(&mut tries, progress_at, &what, &e.to_string(), watch)?;
                        continue;
                    }
                }
            }
            let whole = match &hash {
                Some(h) => h.clone(),
                None => {
                    let h = hash_file(file).map_err(io)?;
                    hash = Some(h.clone());
                    h
                }
            };
            out.hash = whole.clone();
            // The receiver hashes the whole file before it answers: a long wait for a large one.
            match self
                .request("POST", fence, "result/commit")
                .timeout(HASH_WAIT)
                .set(HASH, &whole)
                .set(LENGTH, &len.to_string())
                .call()
            {
                Ok(_) => {
                    out.seconds = started.elapsed().as_secs_f64();
                    return Ok(out);
                }
                Err(ureq::Error::Status(422, r)) => {
                    out.hash_mismatches += 1;
                    if out.hash_mismatches > 2 {
                        let e = status_error(&what, 422, r);
                        return Err(TransferError::Failed(format!(
                            "{e} ({} times)",
                            out.hash_mismatches
                        )));
                    }
                    restart = true;
                }
                Err(ureq::Error::Status(code, r)) if !retryable(code) => {
                    return Err(status_error(&what, code, r))
                }
                Err(e) => {
                    self.backoff(&mut tries, progress_at, &what, &e.to_string(), watch)?;
                }
            }
        }
    }
}

/// Sleep `delay`, returning early (as stopped) when the watch says stop.
fn sleep_unless_stopped(delay: Duration, watch: &dyn Watch) -> Result<(), TransferError> {
    let until = Instant::now() + delay;
    while Instant::now() < until {
        if watch.stopped() {
            return Err(TransferError::Stopped);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// An upload's body: the file from its offset, counting what was handed over and failing
/// the request once the job is stopped.
struct Body<'a> {
    file: std::fs::File,
    sent: &'a std::cell::Cell<u64>,
    /// Fed what is sent, while the whole file's hash is not known yet.
    hasher: &'a std::cell::RefCell<Option<blake3::Hasher>>,
    watch: &'a dyn Watch,
}

impl Read for Body<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.watch.stopped() {
            return Err(std::io::Error::other("stopped"));
        }
        let n = self.file.read(buf)?;
        if let Some(h) = self.hasher.borrow_mut().as_mut() {
            h.update(&buf[..n]);
        }
        self.sent.set(self.sent.get() + n as u64);
        self.watch.moved(n as u64);
        Ok(n)
    }
}
