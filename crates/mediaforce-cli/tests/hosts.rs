//! Many hosts, simulated: each worker runs in a network namespace this test creates, on a veth
//! pair of its own (10.213.N.0/24), and reaches the shared PostgreSQL (the cluster
//! `scripts/test.sh` starts, listening for that range) over its own address. The library and
//! the data directory are shared storage (one file system). Needs root (`ip netns`).

mod common;

use common::walk;
use mediaforce::store::{JobState, JobStore, PgStore};
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
        let mut s = PgStore::connect(&self.url).unwrap();
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
    let mut store = PgStore::connect(&env.url).unwrap();
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
    assert_eq!(env.jobs()[0].state, JobState::Queued);
    assert_eq!(env.jobs()[0].attempts, 0);
    let svt: Value = serde_json::from_str(&env.ok(&["hosts", "show", "svt", "--json"])).unwrap();
    assert_eq!(svt["encoders"], serde_json::json!(["libsvtav1"]));
    svt_only.kill().unwrap();
    svt_only.wait().unwrap();
    // Inside its window it takes the job.
    env.ok(&["hosts", "set", "night", "--schedule", "daily 00:00-24:00"]);
    let out = night.wait_with_output().unwrap();
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["done"], 1, "{s}");
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
