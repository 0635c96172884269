//! `mediaforce serve` as the whole service: the example systemd units are valid (checked by
//! `systemd-analyze verify` against this build, their flags parsed by it), and one `serve
//! --jobs 1` process takes a file dropped into a library set to `promote` all the way:
//! catalogued after it settles, encoded by its local slot, validated, approved by rule and
//! promoted, the original archived; SIGTERM stops it cleanly.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_example_systemd_units_verify_and_their_commands_parse() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_mediaforce");
    let units = ["mediaforce.service", "mediaforce-worker.service"];
    for unit in units {
        let text = std::fs::read_to_string(root().join("contrib/systemd").join(unit)).unwrap();
        let exec = text
            .lines()
            .find_map(|l| l.strip_prefix("ExecStart="))
            .unwrap_or_else(|| panic!("{unit}: no ExecStart"));
        let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
        // The unit's flags are ones this build takes (`--help` after them: parsed, not run).
        let out = Command::new(bin)
            .args(&args)
            .arg("--help")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{unit}: `mediaforce {}` does not parse: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(
            dir.path().join(unit),
            text.replace("/usr/local/bin/mediaforce", bin),
        )
        .unwrap();
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(units.iter().map(|u| dir.path().join(u)))
        .output()
        .expect("systemd-analyze (Debian's systemd package; scripts/install-deps.sh installs it)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{said}");
    assert!(said.trim().is_empty(), "warnings: {said}");
}

/// A library set to `promote` with x264 ultrafast at VMAF 92, its root and transcode root.
struct Library {
    dir: tempfile::TempDir,
    library: PathBuf,
    data: PathBuf,
    transcode: PathBuf,
}

impl Library {
    fn new() -> Self {
        Self::with("")
    }

    /// A library whose policy has `extra` appended.
    fn with(extra: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let library = dir.path().join("library");
        let data = dir.path().join("state");
        std::fs::create_dir_all(&library).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(
            data.join("policy.toml"),
            format!(
                "[encode]\nencoder = \"libx264\"\npreset = \"ultrafast\"\ntarget_vmaf = 92.0\ntolerance = 3.0\n\
             [ranking]\nmin_size_mb = 0.0\n\
             [automation]\nmode = \"promote\"\nsettle_seconds = 1\nmin_free_gb = 0.0\n{extra}"
            ),
        )
        .unwrap();
        let transcode = dir.path().join("transcode");
        let lib = Self {
            library: std::fs::canonicalize(&library).unwrap(),
            data,
            transcode,
            dir,
        };
        lib.run(&["settings", "add-root", lib.library.to_str().unwrap()]);
        lib.run(&[
            "settings",
            "set-transcode-root",
            lib.transcode.to_str().unwrap(),
        ]);
        lib
    }

    fn run(&self, args: &[&str]) -> String {
        self.run_with(args, &[])
    }

    /// `mediaforce ARGS` with `env` added; its standard output.
    fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_mediaforce"))
            .args(args)
            .envs(env.iter().copied())
            .env("MEDIAFORCE_DATA_DIR", &self.data)
            .env("MEDIAFORCE_CACHE_DIR", self.dir.path().join("cache"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A new film, written beside and renamed in (as download clients do); its bytes.
    fn drop_in(&self, name: &str) -> (PathBuf, Vec<u8>) {
        let film = self.library.join(name);
        let part = self.library.join(format!(".{name}.tmp"));
        common::lossless_source(&part, 12, 48);
        let bytes = std::fs::read(&part).unwrap();
        std::fs::rename(&part, &film).unwrap();
        (film, bytes)
    }

    /// `mediaforce serve --jobs 1` on this library, with `env` added.
    fn serve(&self, env: &[(&str, &str)]) -> Serve {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mediaforce"));
        c.args(["serve", "--bind", "127.0.0.1:0", "--jobs", "1"])
            .env("MEDIAFORCE_DATA_DIR", &self.data)
            .env("MEDIAFORCE_CACHE_DIR", self.dir.path().join("cache"))
            .env("SVT_LOG", "1")
            .stderr(Stdio::piped());
        for (k, v) in env {
            c.env(k, v);
        }
        let mut child = c.spawn().unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let reader = {
            let lines = lines.clone();
            let stderr = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                    lines.lock().unwrap().push(l);
                }
            })
        };
        Serve {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// The file under the transcode root holding exactly `bytes` (the archived original).
    fn archived(&self, bytes: &[u8]) -> Option<PathBuf> {
        common::walk(&self.transcode)
            .into_iter()
            .find(|p| std::fs::read(p).is_ok_and(|b| b == bytes))
    }
}

/// A running `mediaforce serve` and what it printed.
struct Serve {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Serve {
    fn wait(&self, what: &str, f: &dyn Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| f(l)) {
                return l.clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "no {what} in 120 s:\n{}",
                self.all()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn all(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// SIGTERM, then its exit status and everything it printed.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let status = self.child.wait().unwrap();
        self.reader.take().unwrap().join().unwrap();
        (status, self.all())
    }
}

#[test]
fn serve_with_local_slots_takes_a_new_file_from_arrival_to_promotion_and_stops_on_sigterm() {
    let lib = Library::new();
    let serve = lib.serve(&[]);
    let root = lib.library.display().to_string();
    serve.wait("watching", &|l| {
        l.contains("watching: ") && l.ends_with(&root)
    });
    let started = serve.wait("the address", &|l| {
        l.starts_with("mediaforce serve: http://")
    });
    assert!(
        started.contains("automation on; 1 local job slot(s)"),
        "{started}"
    );

    let (film, original) = lib.drop_in("film.mkv");
    let name = film.display().to_string();
    let queued = serve.wait("queued", &|l| l.contains("arrival: ") && l.contains(&name));
    assert!(queued.contains("[promote]: queued as job"), "{queued}");
    serve.wait("validated", &|l| {
        l.contains("validated: ") && l.contains(&name)
    });
    serve.wait("approved", &|l| {
        l.contains("approved: ") && l.contains(&name)
    });
    let promoted = serve.wait("promoted", &|l| {
        l.contains("promoted: ") && l.contains(&name)
    });
    assert!(promoted.contains("saved "), "{promoted}");

    // The library holds the encode; the original is archived byte for byte.
    assert_ne!(std::fs::read(&film).unwrap(), original);
    assert!(
        lib.archived(&original).is_some(),
        "the original is archived"
    );
    let probe = lib.run(&["probe", film.to_str().unwrap(), "--json"]);
    assert!(
        probe.contains("\"MEDIAFORCE\""),
        "the encode carries mediaforce's tag"
    );

    // SIGTERM: a clean stop.
    let (status, all) = serve.stop();
    assert!(status.success(), "{status:?}:\n{all}");
    assert!(all.contains("local slots: 1 done, 0 failed"), "{all}");
    // The encode mediaforce put in the library was catalogued as its own, not taken as an
    // arrival.
    assert_eq!(all.matches(&format!("arrival: {name}")).count(), 1, "{all}");
}

#[test]
fn a_service_killed_mid_promotion_completes_it_from_the_journal_when_it_starts_again() {
    let lib = Library::new();
    // Killed between archiving the original and installing the encode: the library path is
    // empty at that moment.
    let serve = lib.serve(&[("MEDIAFORCE_FAULT", "promote:install:before")]);
    let (film, original) = lib.drop_in("film.mkv");
    let name = film.display().to_string();
    serve.wait("validated", &|l| {
        l.contains("validated: ") && l.contains(&name)
    });
    // Approved and promoted in the same pass: the fault stops the process inside it.
    let mut serve = serve;
    let start = Instant::now();
    let status = loop {
        if let Some(s) = serve.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "{}",
            serve.all()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        !status.success(),
        "the fault aborts the process: {status:?}"
    );
    assert!(
        !film.exists(),
        "killed with the original archived and the encode not installed"
    );
    assert!(lib.archived(&original).is_some());

    let again = lib.serve(&[]);
    let done = again.wait("resumed promotion", &|l| {
        l.contains("promoted: ") && l.contains(&name)
    });
    assert!(done.contains("completed from its journal"), "{done}");
    assert_ne!(
        std::fs::read(&film).unwrap(),
        original,
        "the encode is in place"
    );
    assert!(
        lib.archived(&original).is_some(),
        "the original stays archived"
    );
    let (status, all) = again.stop();
    assert!(status.success(), "{all}");
}

/// One HTTP/1.1 exchange over a fresh connection: the status, the headers (lower-case names)
/// and the body.
fn http(addr: &str, head: &str, body: &str) -> (u16, Vec<(String, String)>, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "{head}\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let (top, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = top.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status.parse().unwrap(), headers, body.to_string())
}

/// A webhook receiver on loopback: the body of every request it answers (200).
fn receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Headers, then exactly Content-Length bytes of body.
            let body = loop {
                let n = stream.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break None;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some((head, rest)) = text.split_once("\r\n\r\n") {
                    let len: usize = head
                        .lines()
                        .filter_map(|l| l.split_once(':'))
                        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                        .map_or(0, |(_, v)| v.trim().parse().unwrap());
                    if rest.len() >= len {
                        break Some(rest[..len].to_string());
                    }
                }
            };
            if let Some(b) = body {
                g.lock().unwrap().push(b);
            }
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (addr, got)
}

#[test]
fn a_file_that_misses_an_approve_rule_waits_for_review_and_a_notification_says_so() {
    // No lossless-to-x264 encode saves 99.9%: the saving rule holds the item.
    let lib = Library::with("[approve]\nmin_saving_percent = 99.9\n");
    let (hook, got) = receiver();
    lib.run(&[
        "notify",
        "add",
        "owner",
        &format!("http://{hook}/mediaforce"),
        "--kind",
        "webhook",
        "--events",
        "review",
    ]);
    lib.run_with(
        &["web-password"],
        &[("MEDIAFORCE_WEB_PASSWORD", "correct horse")],
    );
    let serve = lib.serve(&[]);
    let started = serve.wait("the address", &|l| {
        l.starts_with("mediaforce serve: http://")
    });
    let addr = started
        .trim_start_matches("mediaforce serve: http://")
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let (film, original) = lib.drop_in("film.mkv");
    let name = film.display().to_string();
    let held = serve.wait("held", &|l| {
        l.contains("held_for_review: ") && l.contains(&name)
    });
    assert!(
        held.contains("saving: wanted >= 99.9%, measured "),
        "{held}"
    );
    let item: i64 = held
        .split("(item ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap()
        .parse()
        .unwrap();

    // The owner is told, once, through the channel, with the file and the rule it missed.
    let start = Instant::now();
    let body = loop {
        if let Some(b) = got.lock().unwrap().first() {
            break b.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no notification in 60 s:\n{}",
            serve.all()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let note: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(note["event"], "review", "{note}");
    assert_eq!(
        note["title"],
        format!("mediaforce: {name} waits for review"),
        "{note}"
    );
    assert!(
        note["body"]
            .as_str()
            .unwrap()
            .starts_with("saving: wanted >= 99.9%, measured "),
        "{note}"
    );

    // Nothing was promoted: the library still holds the original.
    assert_eq!(std::fs::read(&film).unwrap(), original);
    let review: serde_json::Value =
        serde_json::from_str(&lib.run(&["review", "--index", "0", "--json"])).unwrap();
    let decision = &review[0]["auto_decision"];
    assert_eq!(decision["approved"], false, "{review}");
    let saving = decision["verdict"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["rule"] == "saving")
        .unwrap();
    assert_eq!(saving["passed"], false, "{saving}");
    assert_eq!(saving["wanted"], ">= 99.9%", "{saving}");

    // The item page says so too, rule by rule.
    let form = "password=correct+horse";
    let (status, headers, _) = http(
        &addr,
        &format!(
            "POST /login HTTP/1.1\r\nOrigin: http://{addr}\r\nContent-Type: application/x-www-form-urlencoded"
        ),
        form,
    );
    assert_eq!(status, 303);
    let cookie = headers
        .iter()
        .find(|(k, _)| k == "set-cookie")
        .map(|(_, v)| v.split(';').next().unwrap().to_string())
        .unwrap();
    let (status, _, page) = http(
        &addr,
        &format!("GET /items/{item} HTTP/1.1\r\nCookie: {cookie}"),
        "",
    );
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h2>Automatic decision</h2>"), "{page}");
    // What the plan expected of it, as `plan --explain` says it.
    assert!(page.contains("<h2>Estimate</h2>"), "{page}");
    assert!(page.contains("<li>estimated by the "), "{page}");
    assert!(
        page.contains("Held for review by the [approve] rules: saving: wanted &#62;= 99.9%"),
        "{page}"
    );
    assert!(
        page.contains("<tr class=\"missed\"><td>saving</td><td>&#62;= 99.9%</td>"),
        "{page}"
    );

    // `stats`: one encode, measured against its target, nothing promoted.
    let stats: serde_json::Value =
        serde_json::from_str(&lib.run(&["stats", "--since", "all", "--json"])).unwrap();
    assert_eq!(stats["encoding"]["encodes"], 1, "{stats}");
    assert_eq!(stats["quality"]["measured"], 1, "{stats}");
    assert_eq!(stats["saved"]["total_bytes"], 0, "{stats}");
    assert_eq!(stats["roots"][0]["files"], 1, "{stats}");
    let text = lib.run(&["stats"]);
    assert!(
        text.starts_with("Saved: 0 B in all; 0 B in the last 30d"),
        "{text}"
    );
    let bad = Command::new(env!("CARGO_BIN_EXE_mediaforce"))
        .args(["stats", "--since", "2w"])
        .env("MEDIAFORCE_DATA_DIR", &lib.data)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let said = String::from_utf8_lossy(&bad.stderr);
    assert!(
        said.contains("range \"2w\": not one of 7d, 30d, 90d, 1y, all"),
        "{said}"
    );

    let (status, all) = serve.stop();
    assert!(status.success(), "{all}");
    assert_eq!(got.lock().unwrap().len(), 1, "told once: {all}");
}
