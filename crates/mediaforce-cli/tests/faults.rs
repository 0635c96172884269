//! A fault an unattended service meets: PostgreSQL restarted while `mediaforce serve --jobs 1`
//! and a `mediaforce worker` run encodes from it. Both reconnect; every job ends done once, and
//! every item has one encode. The test starts a PostgreSQL cluster of its own (Debian's
//! binaries, a private port), so restarting it touches no other test.

#[allow(dead_code)] // this test uses one helper of the shared module
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A throwaway PostgreSQL cluster owned by the `postgres` user.
struct Cluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl Cluster {
    fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Debian's PostgreSQL (scripts/test.sh installs it)")
            .flatten()
            .map(|e| e.path().join("bin"))
            .max()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        Command::new("chown")
            .arg("postgres")
            .arg(dir.path())
            .status()
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Self { bin, dir, port };
        let ok = c
            .as_postgres("initdb")
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-D"])
            .arg(c.dir.path().join("data"))
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "initdb");
        c.ctl("start");
        c
    }

    fn as_postgres(&self, tool: &str) -> Command {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(self.bin.join(tool));
        c
    }

    fn ctl(&self, action: &str) {
        let ok = self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-t", "60", "-m", "fast", "-o"])
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
                self.port,
                self.dir.path().display()
            ))
            .arg(action)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(ok.success(), "pg_ctl {action}");
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .as_postgres("pg_ctl")
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn mediaforce(data: &Path, url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_mediaforce"));
    c.env("MEDIAFORCE_DATA_DIR", data)
        .env("MEDIAFORCE_DATABASE_URL", url)
        .env("MEDIAFORCE_CACHE_DIR", data.join("cache"))
        .env("SVT_LOG", "1");
    c
}

fn jobs(data: &Path, url: &str) -> Option<Vec<serde_json::Value>> {
    let out = mediaforce(data, url)
        .args(["jobs", "list", "--json"])
        .output()
        .ok()?;
    serde_json::from_slice(&out.stdout).ok()
}

/// A child process that is killed if the test ends without stopping it.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn stop(mut r: Running) -> std::process::ExitStatus {
    let mut c = r.0.take().unwrap();
    Command::new("kill")
        .args(["-TERM", &c.id().to_string()])
        .status()
        .unwrap();
    c.wait().unwrap()
}

#[test]
fn postgresql_restarted_under_a_service_and_a_worker_loses_no_job_and_runs_none_twice() {
    let cluster = Cluster::start();
    let url = cluster.url();
    let dir = tempfile::tempdir().unwrap();
    let (library, data, other) = (
        dir.path().join("library"),
        dir.path().join("state"),
        dir.path().join("other-host"),
    );
    for d in [&library, &data, &other] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(
        data.join("policy.toml"),
        "[encode]\nencoder = \"libx264\"\npreset = \"ultrafast\"\ntarget_vmaf = 92.0\ntolerance = 3.0\n\
         [ranking]\nmin_size_mb = 0.0\n[automation]\nmode = \"encode\"\nsettle_seconds = 1\nmin_free_gb = 0.0\n",
    )
    .unwrap();
    std::fs::copy(data.join("policy.toml"), other.join("policy.toml")).unwrap();
    for args in [
        vec!["settings", "add-root", library.to_str().unwrap()],
        vec![
            "settings",
            "set-transcode-root",
            dir.path().join("transcode").to_str().unwrap(),
        ],
    ] {
        let ok = mediaforce(&data, &url).args(&args).status().unwrap();
        assert!(ok.success(), "{args:?}");
    }
    let serve_log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let serve = Running(Some(
        mediaforce(&data, &url)
            .args(["serve", "--bind", "127.0.0.1:0", "--jobs", "1"])
            .stdout(Stdio::null())
            .stderr(serve_log)
            .spawn()
            .unwrap(),
    ));
    let worker_log = std::fs::File::create(dir.path().join("worker.log")).unwrap();
    let worker = Running(Some(
        mediaforce(&other, &url)
            .args(["worker", "--name", "second", "--jobs", "1"])
            .stdout(worker_log.try_clone().unwrap())
            .stderr(worker_log)
            .spawn()
            .unwrap(),
    ));
    let root = std::fs::canonicalize(&library).unwrap();
    let films: Vec<PathBuf> = (0..4).map(|i| root.join(format!("film-{i}.mkv"))).collect();
    std::thread::sleep(Duration::from_secs(2));
    for f in &films {
        let part = f.with_extension("tmp");
        common::lossless_source(&part, 12, 96);
        std::fs::rename(&part, f).unwrap();
    }
    // Once an encode runs, PostgreSQL restarts under both.
    let start = Instant::now();
    loop {
        let running =
            jobs(&data, &url).map_or(0, |j| j.iter().filter(|j| j["state"] == "running").count());
        if running > 0 {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no encode started"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    cluster.ctl("restart");
    // Every job ends done.
    let start = Instant::now();
    let all = loop {
        if let Some(j) = jobs(&data, &url) {
            let stage: Vec<_> = j
                .into_iter()
                .filter(|j| j["kind"].as_str().is_some_and(|k| k.starts_with("stage:")))
                .collect();
            if stage.len() == films.len() && stage.iter().all(|j| j["state"] == "done") {
                break stage;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(300),
            "not all done: {:?}",
            jobs(&data, &url)
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    // Each item was staged, with one encode recorded: none ran to a result twice.
    let catalog = mediaforce::catalog::Catalog::open_location(&url).unwrap();
    for f in &films {
        let items: Vec<_> = catalog
            .items_in_states(&mediaforce::domain::ItemState::ALL)
            .unwrap()
            .into_iter()
            .filter(|i| &i.source == f)
            .collect();
        assert_eq!(items.len(), 1, "{}", f.display());
        assert_eq!(
            items[0].state,
            mediaforce::domain::ItemState::Staged,
            "{}",
            f.display()
        );
        let done = all
            .iter()
            .filter(|j| j["result"]["outcome"] == "staged")
            .count();
        assert_eq!(done, films.len(), "{all:?}");
        assert!(items[0].staging.is_file());
    }
    // Both processes lived through it and stop cleanly.
    let s = stop(serve);
    assert!(
        s.success(),
        "serve: {s:?}: {}",
        std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default()
    );
    let w = stop(worker);
    assert!(
        w.success(),
        "worker: {w:?}: {}",
        std::fs::read_to_string(dir.path().join("worker.log")).unwrap_or_default()
    );
}
