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

#[test]
fn serve_with_local_slots_takes_a_new_file_from_arrival_to_promotion_and_stops_on_sigterm() {
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
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mediaforce"))
            .args(args)
            .env("MEDIAFORCE_DATA_DIR", &data)
            .env("MEDIAFORCE_CACHE_DIR", dir.path().join("cache"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    run(&["settings", "add-root", library.to_str().unwrap()]);
    let transcode = dir.path().join("transcode");
    run(&[
        "settings",
        "set-transcode-root",
        transcode.to_str().unwrap(),
    ]);

    let mut serve = Command::new(env!("CARGO_BIN_EXE_mediaforce"))
        .args(["serve", "--bind", "127.0.0.1:0", "--jobs", "1"])
        .env("MEDIAFORCE_DATA_DIR", &data)
        .env("MEDIAFORCE_CACHE_DIR", dir.path().join("cache"))
        .env("SVT_LOG", "1")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        let stderr = serve.stderr.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(l);
            }
        })
    };
    let wait = |what: &str, f: &dyn Fn(&str) -> bool| {
        let start = Instant::now();
        loop {
            if let Some(l) = lines.lock().unwrap().iter().find(|l| f(l)) {
                return l.clone();
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "no {what} in 120 s:\n{}",
                lines.lock().unwrap().join("\n")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let root = std::fs::canonicalize(&library).unwrap();
    wait("watching", &|l| {
        l.contains("watching: ") && l.ends_with(&root.display().to_string())
    });
    let started = wait("the address", &|l| {
        l.starts_with("mediaforce serve: http://")
    });
    assert!(
        started.contains("automation on; 1 local job slot(s)"),
        "{started}"
    );

    // A new film is copied in (written beside, then renamed in, as download clients do).
    let film = root.join("film.mkv");
    let part = root.join(".film.mkv.tmp");
    common::lossless_source(&part, 12, 48);
    let original = std::fs::read(&part).unwrap();
    std::fs::rename(&part, &film).unwrap();

    let name = film.display().to_string();
    let queued = wait("queued", &|l| l.contains("arrival: ") && l.contains(&name));
    assert!(queued.contains("[promote]: queued as job"), "{queued}");
    wait("validated", &|l| {
        l.contains("validated: ") && l.contains(&name)
    });
    wait("approved", &|l| {
        l.contains("approved: ") && l.contains(&name)
    });
    let promoted = wait("promoted", &|l| {
        l.contains("promoted: ") && l.contains(&name)
    });
    assert!(promoted.contains("saved "), "{promoted}");

    // The library holds the encode; the original is archived byte for byte.
    assert_ne!(std::fs::read(&film).unwrap(), original);
    let archived = common::walk(&transcode)
        .into_iter()
        .find(|p| std::fs::read(p).is_ok_and(|b| b == original))
        .expect("the original is archived under the transcode root");
    assert!(archived.starts_with(&transcode));
    let probe = run(&["probe", film.to_str().unwrap(), "--json"]);
    assert!(
        probe.contains("\"MEDIAFORCE\""),
        "the encode carries mediaforce's tag"
    );

    // SIGTERM: a clean stop.
    Command::new("kill")
        .args(["-TERM", &serve.id().to_string()])
        .status()
        .unwrap();
    let status = serve.wait().unwrap();
    reader.join().unwrap();
    assert!(
        status.success(),
        "{status:?}:\n{}",
        lines.lock().unwrap().join("\n")
    );
    let all = lines.lock().unwrap().join("\n");
    assert!(all.contains("local slots: 1 done, 0 failed"), "{all}");
    // The encode mediaforce put in the library was catalogued as its own, not taken as an
    // arrival.
    let arrivals = all.matches(&format!("arrival: {name}")).count();
    assert_eq!(arrivals, 1, "{all}");
}
