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
        let dir = tempfile::tempdir().unwrap();
        let library = dir.path().join("library");
        let data = dir.path().join("state");
        std::fs::create_dir_all(&library).unwrap();
        std::fs::create_dir_all(&data).unwrap();
        std::fs::write(
            data.join("policy.toml"),
            "[encode]\nencoder = \"libx264\"\npreset = \"ultrafast\"\ntarget_vmaf = 92.0\ntolerance = 3.0\n\
             [ranking]\nmin_size_mb = 0.0\n\
             [automation]\nmode = \"promote\"\nsettle_seconds = 1\nmin_free_gb = 0.0\n",
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
        let out = Command::new(env!("CARGO_BIN_EXE_mediaforce"))
            .args(args)
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
