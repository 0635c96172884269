//! Many hosts, simulated: each worker runs in a network namespace this test creates, on a veth
//! pair of its own (10.213.N.0/24), and reaches the shared PostgreSQL (the cluster
//! `scripts/test.sh` starts, listening for that range) over its own address. The library and
//! the data directory are shared storage (one file system). Needs root (`ip netns`).

mod common;

use common::walk;
use mediaforce::store::{JobState, JobStore, SqlStore};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

const POLICY: &[(&str, &str)] = &[
    ("MEDIAFORCE_POLICY_RANKING_MIN_SIZE_MB", "0"),
    ("MEDIAFORCE_POLICY_ENCODE_ENCODER", "libx264"),
    ("MEDIAFORCE_POLICY_ENCODE_PRESET", "ultrafast"),
    ("MEDIAFORCE_POLICY_ENCODE_TARGET_VMAF", "92"),
    ("MEDIAFORCE_POLICY_ENCODE_TOLERANCE", "3"),
];

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The nice value of each thread of process `pid` (field 19 of its tasks' `stat`).
fn walk_threads(pid: u32) -> Vec<i64> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .map(|rd| {
            rd.flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
                .filter_map(|stat| {
                    let rest = stat.rsplit_once(')')?.1;
                    rest.split_whitespace().nth(16)?.parse().ok()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A network namespace with a veth pair to this one; removed on drop.
struct Host {
    ns: String,
    link: String,
    /// The PostgreSQL URL as seen from inside.
    url: String,
}

impl Host {
    fn new(tag: &str, n: u8, db_url: &str) -> Self {
        let ns = format!("mf{tag}{n}");
        let (link, peer) = (format!("mf{tag}h{n}"), format!("mf{tag}n{n}"));
        let _ = Command::new("ip").args(["netns", "del", &ns]).output();
        let _ = Command::new("ip").args(["link", "del", &link]).output();
        ip(&["netns", "add", &ns]);
        ip(&["link", "add", &link, "type", "veth", "peer", "name", &peer]);
        ip(&["link", "set", &peer, "netns", &ns]);
        ip(&["addr", "add", &format!("10.213.{n}.1/24"), "dev", &link]);
        ip(&["link", "set", &link, "up"]);
        ip(&[
            "netns",
            "exec",
            &ns,
            "ip",
            "addr",
            "add",
            &format!("10.213.{n}.2/24"),
            "dev",
            &peer,
        ]);
        ip(&["netns", "exec", &ns, "ip", "link", "set", &peer, "up"]);
        ip(&["netns", "exec", &ns, "ip", "link", "set", "lo", "up"]);
        // The same database, reached over this host's own link.
        let url = db_url.replace("127.0.0.1", &format!("10.213.{n}.1"));
        Self { ns, link, url }
    }

    /// `mediaforce worker` inside this namespace.
    fn worker(&self, env: &Env, name: &str, extra: &[(&str, &str)]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", &self.ns, env!("CARGO_BIN_EXE_mediaforce")])
            .args(["worker", "--name", name, "--exit-when-idle", "3", "--json"])
            .env("MEDIAFORCE_DATA_DIR", &env.data)
            .env("MEDIAFORCE_CACHE_DIR", env.dir.path().join("cache"))
            .env("MEDIAFORCE_DATABASE_URL", &self.url)
            .envs(POLICY.iter().copied())
            .envs(extra.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a worker")
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.link])
            .output();
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).output();
    }
}

struct Env {
    dir: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
    url: String,
}

impl Env {
    fn new(test: &str) -> Self {
        let admin = std::env::var("MEDIAFORCE_TEST_DATABASE_URL").expect(
            "MEDIAFORCE_TEST_DATABASE_URL must name the test PostgreSQL cluster (scripts/test.sh starts one)",
        );
        let url = mediaforce::store::create_database(
            &admin,
            &format!("mf_hosts_{test}_{}", std::process::id()),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("library");
        let data = dir.path().join("state");
        std::fs::create_dir_all(&root).unwrap();
        let env = Self {
            dir,
            root,
            data,
            url,
        };
        env.ok(&["settings", "add-root", env.root.to_str().unwrap()]);
        let troot = env.dir.path().join("transcode");
        std::fs::create_dir_all(&troot).unwrap();
        env.ok(&["settings", "set-transcode-root", troot.to_str().unwrap()]);
        env
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_mediaforce"))
            .args(args)
            .env("MEDIAFORCE_DATA_DIR", &self.data)
            .env("MEDIAFORCE_CACHE_DIR", self.dir.path().join("cache"))
            .env("MEDIAFORCE_DATABASE_URL", &self.url)
            .envs(POLICY.iter().copied())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn source(&self, name: &str, texture: u16, frames: u32) {
        common::lossless_source(&self.root.join(name), texture, frames);
    }

    fn jobs(&self) -> Vec<mediaforce::store::JobRow> {
        let mut s = SqlStore::open(&self.url).unwrap();
        (1..100).map_while(|id| s.job(id).ok()).collect()
    }

    fn staged_files(&self) -> Vec<PathBuf> {
        walk(&self.dir.path().join("transcode"))
    }
}

#[test]
fn three_workers_on_three_hosts_drain_the_queue_and_run_every_job_once() {
    let env = Env::new("drain");
    for (i, n) in ["a.mkv", "b.mkv", "c.mkv", "d.mkv", "e.mkv"]
        .iter()
        .enumerate()
    {
        env.source(n, 8 + i as u16 * 4, 48);
    }
    env.ok(&["campaign", env.root.to_str().unwrap()]);
    let queued: Value = serde_json::from_str(&env.ok(&["enqueue", "--all", "--json"])).unwrap();
    assert_eq!(queued.as_array().unwrap().len(), 5);
    // The queue from the CLI: listed, one cancelled and queued again.
    let listed: Value =
        serde_json::from_str(&env.ok(&["jobs", "list", "--state", "queued", "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 5, "{listed}");
    let first = queued[0].as_i64().unwrap().to_string();
    env.ok(&["jobs", "cancel", &first]);
    let cancelled: Value =
        serde_json::from_str(&env.ok(&["jobs", "list", "--state", "cancelled", "--json"])).unwrap();
    assert_eq!(cancelled[0]["id"].as_i64().unwrap().to_string(), first);
    env.ok(&["jobs", "retry", &first]);
    let events: Value =
        serde_json::from_str(&env.ok(&["jobs", "events", &first, "--json"])).unwrap();
    assert!(
        events.as_array().unwrap().is_empty(),
        "never claimed yet: {events}"
    );
    let tag = format!("{}", std::process::id() % 10000);
    let hosts: Vec<Host> = (0..3).map(|n| Host::new(&tag, n, &env.url)).collect();
    let workers: Vec<Child> = hosts
        .iter()
        .enumerate()
        .map(|(n, h)| h.worker(&env, &format!("host{n}"), &[]))
        .collect();
    let mut done = 0;
    for w in workers {
        let out = w.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(s["failed"], 0, "{s}");
        done += s["done"].as_u64().unwrap();
    }
    assert_eq!(done, 5, "every job ran to a result once");
    // Each job ran exactly once: done, under its first lease, by one of the three hosts.
    let jobs = env.jobs();
    assert_eq!(jobs.len(), 5, "{jobs:?}");
    for j in &jobs {
        assert_eq!(j.state, JobState::Done, "{j:?}");
        assert_eq!((j.epoch, j.attempts), (1, 1), "{j:?}");
        let w = j.worker.as_deref().unwrap();
        assert!(["host0/0", "host1/0", "host2/0"].contains(&w), "{w}");
        assert_eq!(j.result.as_ref().unwrap()["outcome"], "staged", "{j:?}");
    }
    // One staged file per item, no partial file, every item staged in the shared catalog.
    let files = env.staged_files();
    assert_eq!(files.len(), 5, "{files:?}");
    assert!(files
        .iter()
        .all(|f| !f.to_string_lossy().contains(".partial-")));
    let status: Value = serde_json::from_str(&env.ok(&["status", "--json"])).unwrap();
    for it in status["items"].as_array().unwrap() {
        assert_eq!(it["state"], "staged", "{status}");
    }
    // The hosts registered themselves with what they can do.
    let hosts_view: Value = serde_json::from_str(&env.ok(&["hosts", "list", "--json"])).unwrap();
    let names: Vec<&str> = hosts_view
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["host0", "host1", "host2"]);
    for h in hosts_view.as_array().unwrap() {
        assert!(h["cores"].as_u64().unwrap() >= 1);
        assert!(h["encoders"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "libx264"));
    }
}

#[test]
fn a_worker_killed_mid_encode_loses_its_job_to_another_host() {
    let env = Env::new("kill");
    env.source("long.mkv", 16, 144);
    env.ok(&["campaign", env.root.to_str().unwrap()]);
    env.ok(&["enqueue", "--all"]);
    let tag = format!("{}", (std::process::id() + 5000) % 10000);
    let (a, b) = (Host::new(&tag, 10, &env.url), Host::new(&tag, 11, &env.url));
    let lease = [("MEDIAFORCE_LEASE_MS", "1500")];
    let mut first = a.worker(&env, "alpha", &lease);
    // Wait until alpha holds the job, then kill it as a crash would.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        if env
            .jobs()
            .first()
            .is_some_and(|j| j.state == JobState::Running)
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the job was never claimed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    first.kill().unwrap();
    first.wait().unwrap();
    let out = b.worker(&env, "beta", &lease).wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["done"], 1, "{s}");
    let job = &env.jobs()[0];
    assert_eq!(job.state, JobState::Done);
    assert_eq!(job.epoch, 2, "taken over under a new epoch");
    assert_eq!(job.worker.as_deref(), Some("beta/0"));
    let mut store = SqlStore::open(&env.url).unwrap();
    let events = store.events(job.id, 0).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "lease_expired" && e.detail.contains("alpha/0")),
        "the killed host is named: {events:?}"
    );
    // Exactly one staged output and no partial file of either host.
    let files = env.staged_files();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(!files[0].to_string_lossy().contains(".partial-"));
    // A second live worker may not take a live host's name.
    let hosts: Value = serde_json::from_str(&env.ok(&["hosts", "show", "beta", "--json"])).unwrap();
    assert_eq!(hosts["state"], "active");
    env.ok(&["hosts", "set", "beta", "--state", "draining"]);
    let h: Value = serde_json::from_str(&env.ok(&["hosts", "show", "beta", "--json"])).unwrap();
    assert_eq!(h["state"], "draining");
}

#[test]
fn a_host_outside_its_window_or_draining_claims_nothing() {
    let env = Env::new("hold");
    env.source("a.mkv", 8, 48);
    env.source("b.mkv", 12, 48);
    env.ok(&["campaign", env.root.to_str().unwrap()]);
    let tag = format!("{}", (std::process::id() + 7000) % 10000);
    let (a, b) = (Host::new(&tag, 20, &env.url), Host::new(&tag, 21, &env.url));
    // Both hosts register on an empty queue and stop.
    for (h, name) in [(&a, "night"), (&b, "drain")] {
        let out = h.worker(&env, name, &[]).wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    env.ok(&["hosts", "set", "night", "--schedule", "never"]);
    env.ok(&["hosts", "set", "night", "--nice", "6", "--ionice", "idle"]);
    env.ok(&["hosts", "set", "drain", "--state", "draining"]);
    env.ok(&["enqueue", "--all"]);
    // A drained host stops at once and takes nothing.
    let out = b.worker(&env, "drain", &[]).wait_with_output().unwrap();
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (s["done"].as_u64(), s["left"].as_u64()),
        (Some(0), Some(0)),
        "{s}"
    );
    // A host without the job's encoder never claims it.
    let mut svt_only = Command::new("ip")
        .args(["netns", "exec", &b.ns, env!("CARGO_BIN_EXE_mediaforce")])
        .args([
            "worker",
            "--name",
            "svt",
            "--encoders",
            "libsvtav1",
            "--json",
        ])
        .env("MEDIAFORCE_DATA_DIR", &env.data)
        .env("MEDIAFORCE_DATABASE_URL", &b.url)
        .envs(POLICY.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // A host outside its window waits without claiming.
    let mut night = a.worker(&env, "night", &[]);
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert!(
        night.try_wait().unwrap().is_none(),
        "it waits for its window"
    );
    for j in env.jobs() {
        assert_eq!((j.state, j.attempts), (JobState::Queued, 0), "{j:?}");
    }
    let svt: Value = serde_json::from_str(&env.ok(&["hosts", "show", "svt", "--json"])).unwrap();
    assert_eq!(svt["encoders"], serde_json::json!(["libsvtav1"]));
    svt_only.kill().unwrap();
    svt_only.wait().unwrap();
    // The operator runs the second job now: the host takes it outside its window, and
    // only it, at the CPU and I/O priority set for the host.
    env.ok(&["jobs", "run-now", "2"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let niced = loop {
        let threads = walk_threads(night.id());
        if env.jobs()[1].state == JobState::Running && threads.contains(&6) {
            break threads;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no thread at nice 6: {threads:?} {:?}",
            env.jobs()[1]
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert!(
        niced.contains(&0),
        "the worker's other threads keep theirs: {niced:?}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while env.jobs()[1].state != JobState::Done {
        assert!(std::time::Instant::now() < deadline, "{:?}", env.jobs());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(env.jobs()[1].worker.as_deref(), Some("night/0"));
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(env.jobs()[0].state, JobState::Queued, "not the other one");
    assert!(night.try_wait().unwrap().is_none(), "still waiting");
    // Inside its window it takes the rest.
    env.ok(&["hosts", "set", "night", "--schedule", "daily 00:00-24:00"]);
    let out = night.wait_with_output().unwrap();
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["done"], 2, "{s}");
    assert_eq!(env.jobs()[0].worker.as_deref(), Some("night/0"));
}

#[test]
fn a_host_reaches_the_library_through_its_mapping_or_gives_the_job_back() {
    let env = Env::new("map");
    env.source("a.mkv", 8, 48);
    env.ok(&["campaign", env.root.to_str().unwrap()]);
    let tag = format!("{}", (std::process::id() + 3000) % 10000);
    let (a, b) = (Host::new(&tag, 30, &env.url), Host::new(&tag, 31, &env.url));
    // Both register on an empty queue, then the operator says where the library is mounted:
    // on "mounted" at another path (a symbolic link stands for the mount), on "unmounted" at
    // a path where nothing is.
    let (x, y) = (
        a.worker(&env, "mounted", &[]),
        b.worker(&env, "unmounted", &[]),
    );
    for w in [x, y] {
        assert!(w.wait_with_output().unwrap().status.success());
    }
    let mount = env.dir.path().join("mnt-library");
    std::os::unix::fs::symlink(&env.root, &mount).unwrap();
    let root = env.root.to_str().unwrap();
    env.ok(&[
        "hosts",
        "set",
        "mounted",
        "--map",
        &format!("{root}={}", mount.display()),
    ]);
    env.ok(&[
        "hosts",
        "set",
        "unmounted",
        "--map",
        &format!("{root}=/nonexistent/media"),
    ]);
    let shown: Value =
        serde_json::from_str(&env.ok(&["hosts", "show", "unmounted", "--json"])).unwrap();
    assert_eq!(shown["mappings"][0][1], "/nonexistent/media", "{shown}");
    env.ok(&["enqueue", "--all"]);
    // The host without the mount gives the job back with an event saying why.
    let mut unmounted = b.worker(&env, "unmounted", &[]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let refusal = loop {
        let events: Value =
            serde_json::from_str(&env.ok(&["jobs", "events", "1", "--json"])).unwrap();
        if let Some(e) = events
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["kind"] == "refused")
        {
            break e.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never refused: {events}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    unmounted.kill().unwrap();
    unmounted.wait().unwrap();
    assert!(
        refusal["detail"]
            .as_str()
            .unwrap()
            .contains("/nonexistent/media is not mounted on this host"),
        "{refusal}"
    );
    let job = &env.jobs()[0];
    assert_eq!(
        (job.state, job.attempts),
        (JobState::Queued, 0),
        "not a failure"
    );
    // The operator sends it on at once (it would wait a minute), and the mounted host runs it
    // through its mapping; the catalog keeps the planned paths.
    env.ok(&["jobs", "cancel", "1"]);
    env.ok(&["jobs", "retry", "1"]);
    let out = a.worker(&env, "mounted", &[]).wait_with_output().unwrap();
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["done"], 1, "{s} {}", String::from_utf8_lossy(&out.stderr));
    let status: Value = serde_json::from_str(&env.ok(&["status", "--json"])).unwrap();
    assert_eq!(status["items"][0]["state"], "staged", "{status}");
    assert_eq!(
        status["items"][0]["source"],
        env.root.join("a.mkv").to_str().unwrap()
    );
    assert_eq!(env.staged_files().len(), 1);
}

/// A TCP relay between a transfer-mode worker and the file endpoint that damages what it
/// carries, once each: it cuts the first download of the source a third of the way in, flips
/// a byte of the second (the resumed one), and does the same to the first two uploads. The
/// worker opens a connection per request, so each connection carries one request.
struct Relay {
    addr: std::net::SocketAddr,
    gets: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    puts: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// Read an HTTP head (through the blank line) byte by byte, so nothing of the body is taken.
fn read_head(s: &mut std::net::TcpStream) -> Vec<u8> {
    use std::io::Read;
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut b) {
            Ok(1) => head.push(b[0]),
            _ => break,
        }
    }
    head
}

fn content_length(head: &[u8]) -> usize {
    String::from_utf8_lossy(head)
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())
                .flatten()
        })
        .unwrap_or(0)
}

/// Copy `n` bytes from `from` to `to`; `cut`: stop after that many; `flip`: invert the low
/// bit of the byte at that offset. Whether all `n` went through.
fn relay_body(
    from: &mut std::net::TcpStream,
    to: &mut std::net::TcpStream,
    n: usize,
    cut: Option<usize>,
    flip: Option<usize>,
) -> bool {
    use std::io::{Read, Write};
    let limit = cut.unwrap_or(n).min(n);
    let mut done = 0;
    let mut buf = vec![0u8; 64 * 1024];
    while done < limit {
        let want = buf.len().min(limit - done);
        let k = match from.read(&mut buf[..want]) {
            Ok(0) | Err(_) => return false,
            Ok(k) => k,
        };
        if let Some(at) = flip.filter(|&at| at >= done && at < done + k) {
            buf[at - done] ^= 1;
        }
        if to.write_all(&buf[..k]).is_err() {
            return false;
        }
        done += k;
    }
    done == n
}

impl Relay {
    fn start(listen: &str, upstream: std::net::SocketAddr, source_len: usize) -> Self {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind(listen).unwrap();
        let addr = listener.local_addr().unwrap();
        let gets = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let puts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (g, p) = (gets.clone(), puts.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut client) = conn else { continue };
                let (g, p) = (g.clone(), p.clone());
                std::thread::spawn(move || {
                    use std::io::Write;
                    let Ok(mut server) = std::net::TcpStream::connect(upstream) else {
                        return;
                    };
                    let head = read_head(&mut client);
                    let method = String::from_utf8_lossy(&head)
                        .split(' ')
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    let _ = server.write_all(&head);
                    let shut = |a: &std::net::TcpStream, b: &std::net::TcpStream| {
                        let _ = a.shutdown(std::net::Shutdown::Both);
                        let _ = b.shutdown(std::net::Shutdown::Both);
                    };
                    let request_body = content_length(&head);
                    if method == "PUT" {
                        let n = p.fetch_add(1, Ordering::SeqCst) + 1;
                        let (cut, flip) = match n {
                            1 => (Some(request_body / 3), None),
                            2 => (None, Some(100)),
                            _ => (None, None),
                        };
                        if !relay_body(&mut client, &mut server, request_body, cut, flip) {
                            return shut(&client, &server);
                        }
                    } else if !relay_body(&mut client, &mut server, request_body, None, None) {
                        return shut(&client, &server);
                    }
                    let request = head;
                    let head = read_head(&mut server);
                    let _ = client.write_all(&head);
                    let body = if method == "HEAD" {
                        0
                    } else {
                        content_length(&head)
                    };
                    let source = String::from_utf8_lossy(&request)
                        .lines()
                        .next()
                        .is_some_and(|l| l.contains("/source "));
                    let (cut, flip) = if method == "GET" && source {
                        match g.fetch_add(1, Ordering::SeqCst) + 1 {
                            1 => (Some(source_len / 3), None),
                            2 => (None, Some(1000)),
                            _ => (None, None),
                        }
                    } else {
                        (None, None)
                    };
                    relay_body(&mut server, &mut client, body, cut, flip);
                    shut(&client, &server);
                });
            }
        });
        Self { addr, gets, puts }
    }
}

/// `mediaforce serve` on loopback; its address from the line it prints.
fn serve(env: &Env) -> (Child, std::net::SocketAddr) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mediaforce"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("MEDIAFORCE_DATA_DIR", &env.data)
        .env("MEDIAFORCE_DATABASE_URL", &env.url)
        .envs(POLICY.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let line = lines.next().expect("serve prints its address").unwrap();
    let addr = line
        .rsplit("http://")
        .next()
        .and_then(|a| a.split_whitespace().next())
        .and_then(|a| a.trim().parse().ok())
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

impl Host {
    /// A transfer-mode worker in this namespace, in a mount namespace of its own where the
    /// library, the transcode root and the library host's data directory are hidden under
    /// empty file systems (it checks the source is out of its reach before it starts).
    fn transfer_worker(
        &self,
        env: &Env,
        name: &str,
        endpoint: &str,
        token: &str,
        state: &std::path::Path,
        extra: &[(&str, &str)],
    ) -> Child {
        let hidden = [
            env.root.clone(),
            env.dir.path().join("transcode"),
            env.data.clone(),
        ];
        let mut script = String::new();
        for p in &hidden {
            script.push_str(&format!("mount -t tmpfs none '{}' && ", p.display()));
        }
        script.push_str(&format!(
            "test -z \"$(ls -A '{}')\" && exec '{}' worker --name {name} --exit-when-idle 3 --json --transfer {endpoint}",
            env.root.display(),
            env!("CARGO_BIN_EXE_mediaforce"),
        ));
        Command::new("ip")
            .args([
                "netns", "exec", &self.ns, "unshare", "-m", "sh", "-c", &script,
            ])
            .env("MEDIAFORCE_DATA_DIR", state)
            .env("MEDIAFORCE_CACHE_DIR", state.join("cache"))
            .env("MEDIAFORCE_DATABASE_URL", &self.url)
            .env("MEDIAFORCE_TOKEN", token)
            .envs(POLICY.iter().copied())
            .envs(extra.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start a transfer-mode worker")
    }
}

#[test]
fn a_host_without_the_library_moves_files_over_cut_and_damaged_connections() {
    let env = Env::new("xfer");
    env.source("a.mkv", 12, 48);
    let source = env.root.join("a.mkv");
    let source_len = std::fs::metadata(&source).unwrap().len() as usize;
    env.ok(&["campaign", env.root.to_str().unwrap()]);
    env.ok(&["enqueue", "--all"]);
    let token = env.ok(&["hosts", "token", "remote"]).trim().to_string();
    assert_eq!(token.len(), 64, "{token}");
    let (mut server, addr) = serve(&env);
    let tag = format!("{}", (std::process::id() + 1000) % 10000);
    let host = Host::new(&tag, 40, &env.url);
    let relay = Relay::start("10.213.40.1:0", addr, source_len);
    let endpoint = format!("http://{}", relay.addr);
    let state = env.dir.path().join("remote-state");
    // A wrong token, or a token of another host, is refused before any job is claimed.
    let other = env.ok(&["hosts", "token", "elsewhere"]).trim().to_string();
    for (bad, says) in [
        ("not-the-token", "401"),
        (other.as_str(), "host elsewhere's"),
    ] {
        let out = host
            .transfer_worker(&env, "remote", &endpoint, bad, &state, &[])
            .wait_with_output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert_eq!(
            (env.jobs()[0].state, env.jobs()[0].attempts),
            (JobState::Queued, 0)
        );
    }
    let out = host
        .transfer_worker(&env, "remote", &endpoint, &token, &state, &[])
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["done"], 1, "{s} {stderr}");
    // Cut once and damaged once in each direction: three requests carried each file.
    use std::sync::atomic::Ordering;
    assert_eq!(relay.gets.load(Ordering::SeqCst), 3);
    assert_eq!(relay.puts.load(Ordering::SeqCst), 3);
    let c = mediaforce::catalog::Catalog::open_location(&env.url).unwrap();
    let plan = c.latest_plan().unwrap().unwrap();
    let item = c.item(&plan.key, 0).unwrap().unwrap();
    assert_eq!(item.state.as_str(), "staged");
    let events = c.item_events(item.id).unwrap();
    let detail = |kind: &str| {
        events
            .iter()
            .find(|e| e.1 == kind)
            .and_then(|e| e.2.clone())
            .unwrap_or_else(|| panic!("no {kind} event in {events:?}"))
    };
    let (down, up) = (detail("downloaded"), detail("uploaded"));
    eprintln!("{down}\n{up}");
    for d in [&down, &up] {
        assert!(d.contains("resumed 1 time(s)"), "{d}");
        assert!(d.contains("1 hash mismatch(es) caught"), "{d}");
    }
    assert!(
        down.contains(&mediaforce::transfer::hash_file(&source).unwrap()[..16]),
        "{down}"
    );
    // The staged file at the planned path is what the worker sent, whole, and plays.
    let staged = env.staged_files();
    assert_eq!(staged.len(), 1, "{staged:?} (no upload left behind)");
    assert_eq!(staged[0], item.staging);
    assert!(
        up.contains(&mediaforce::transfer::hash_file(&staged[0]).unwrap()[..16]),
        "{up}"
    );
    let probe: Value =
        serde_json::from_str(&env.ok(&["probe", "--json", staged[0].to_str().unwrap()])).unwrap();
    assert_eq!(probe[0]["streams"][0]["kind"], "video", "{probe}");
    // Nothing left in the worker's scratch space.
    assert!(walk(&state.join("transfer")).is_empty());
    let _ = server.kill();
    let _ = server.wait();
}

#[test]
fn a_worker_cut_off_mid_job_loses_it_and_delivers_nothing_when_its_link_returns() {
    let env = Env::new("link");
    env.source("long.mkv", 16, 144);
    env.ok(&["campaign", env.root.to_str().unwrap()]);
    env.ok(&["enqueue", "--all"]);
    let token = env.ok(&["hosts", "token", "cutoff"]).trim().to_string();
    let (mut server, addr) = serve(&env);
    let tag = format!("{}", (std::process::id() + 9000) % 10000);
    let (a, b) = (Host::new(&tag, 50, &env.url), Host::new(&tag, 51, &env.url));
    // The endpoint as host a reaches it: over its own link (the relay only forwards here).
    let relay = Relay::start("10.213.50.1:0", addr, usize::MAX);
    relay.gets.store(100, std::sync::atomic::Ordering::SeqCst);
    relay.puts.store(100, std::sync::atomic::Ordering::SeqCst);
    let endpoint = format!("http://{}", relay.addr);
    let state = env.dir.path().join("cutoff-state");
    let lease = [("MEDIAFORCE_LEASE_MS", "2000")];
    let cutoff = a.transfer_worker(&env, "cutoff", &endpoint, &token, &state, &lease);
    // Once it has the source and is encoding, its link goes down.
    let c = mediaforce::catalog::Catalog::open_location(&env.url).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let item = loop {
        let item = c
            .latest_plan()
            .unwrap()
            .and_then(|p| c.item(&p.key, 0).unwrap());
        if let Some(it) = item.filter(|i| i.state.as_str() == "encoding") {
            break it;
        }
        assert!(std::time::Instant::now() < deadline, "never encoding");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    ip(&["link", "set", &a.link, "down"]);
    // Its lease runs out; another host takes the job and finishes it.
    let out = b.worker(&env, "steady", &lease).wait_with_output().unwrap();
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["done"], 1, "{s} {}", String::from_utf8_lossy(&out.stderr));
    // The link returns: the cut-off worker's writes under its old lease are refused.
    ip(&["link", "set", &a.link, "up"]);
    let out = cutoff.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (s["done"].as_u64(), s["left"].as_u64()),
        (Some(0), Some(1)),
        "{s} {stderr}"
    );
    assert!(stderr.contains("job 1 lost its lease here"), "{stderr}");
    eprintln!("cut-off worker: {stderr}");
    let job = &env.jobs()[0];
    assert_eq!((job.state, job.epoch), (JobState::Done, 2));
    assert_eq!(job.worker.as_deref(), Some("steady/0"));
    // One staged file, the other host's: nothing was uploaded, nothing half-written is left.
    let files = env.staged_files();
    assert_eq!(files.len(), 1, "{files:?}");
    let events = c.item_events(item.id).unwrap();
    assert!(!events.iter().any(|e| e.1 == "uploaded"), "{events:?}");
    assert_eq!(
        events.iter().filter(|e| e.1 == "staged").count(),
        1,
        "{events:?}"
    );
    assert_eq!(
        c.item(&c.latest_plan().unwrap().unwrap().key, 0)
            .unwrap()
            .unwrap()
            .state
            .as_str(),
        "staged"
    );
    assert!(walk(&state.join("transfer")).is_empty());
    let _ = server.kill();
    let _ = server.wait();
}
