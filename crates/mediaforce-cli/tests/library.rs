//! The catalog side end to end through the CLI: settings, incremental scans of a generated
//! library tree (ignored folders, a symlink loop, corrupt and unreadable files, renames, touches,
//! deletions, our own outputs, a missing root), policy errors, a locked database, plans.

use mediaforce_core::synth::{SyntheticAudio, SyntheticClip, SyntheticVideo};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Env {
    _dir: tempfile::TempDir,
    root: PathBuf,
    data: PathBuf,
}

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("library");
        let data = dir.path().join("state");
        std::fs::create_dir_all(&root).unwrap();
        Self {
            root,
            data,
            _dir: dir,
        }
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mediaforce"));
        c.args(args)
            .env("MEDIAFORCE_DATA_DIR", &self.data)
            .env("MEDIAFORCE_CACHE_DIR", self.data.join("cache"))
            .env("MEDIAFORCE_POLICY_RANKING_MIN_SIZE_MB", "0");
        for (k, v) in env {
            c.env(k, v);
        }
        let out = c.output().expect("run mediaforce");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run_env(args, &[]);
        assert_eq!(code, 0, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        out
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    fn scan(&self) -> Value {
        self.json(&["scan", "--json"])
    }
}

fn clip(path: &Path, frames: u32, texture: u16) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut v = SyntheticVideo::new(160, 96, frames);
    v.texture = texture;
    let mut c = SyntheticClip::new(v);
    c.audio.push(SyntheticAudio::new("aac", "eng"));
    c.write(path).unwrap();
}

fn ls(env: &Env) -> Vec<Value> {
    env.json(&["ls", "--json"]).as_array().unwrap().clone()
}

fn row<'a>(rows: &'a [Value], path: &Path) -> Option<&'a Value> {
    rows.iter().find(|r| r["path"] == path.to_str().unwrap())
}

#[test]
fn scans_are_incremental_and_label_every_file() {
    let env = Env::new();
    let r = &env.root;
    clip(&r.join("Films/a.mp4"), 24, 24);
    clip(&r.join("Films/Sub/b.mkv"), 24, 8);
    clip(&r.join("Downloads/c.mkv"), 12, 8); // ignored by name, any case
    clip(&r.join("books/d.mkv"), 12, 8);
    std::fs::write(r.join("Films/notes.nfo"), "not media").unwrap(); // extension not probed
    std::fs::write(r.join("Films/corrupt.mkv"), vec![0x5a; 4096]).unwrap();
    std::os::unix::fs::symlink(r, r.join("Films/loop")).unwrap();
    let locked = r.join("Films/locked.mkv");
    clip(&locked, 12, 8);
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    // Root reads anything; only assert the unreadable case where permissions bite.
    let unreadable = std::fs::File::open(&locked).is_err();

    let (code, _, err) = env.run_env(&["scan"], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("no library roots configured"), "{err}");

    env.ok(&["settings", "add-root", r.to_str().unwrap()]);
    let troot = r.join("_transcode");
    env.ok(&["settings", "set-transcode-root", troot.to_str().unwrap()]);
    clip(&troot.join("staged.mkv"), 12, 8); // under the transcode root: never catalogued
    let settings = env.json(&["settings", "show", "--json"]);
    assert_eq!(settings["roots"][0]["path"], r.to_str().unwrap());
    assert_eq!(settings["transcode_root_source"], "runtime");

    let (code, out, err) = env.run_env(&["scan", "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    let s1: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(s1["files"], 4, "{s1}");
    assert_eq!(s1["new"], 4);
    assert_eq!(s1["probed"], 4);
    assert_eq!(s1["errors"], if unreadable { 2 } else { 1 });
    assert!(
        s1["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("symbolic link loop")),
        "{s1}"
    );
    let rows = ls(&env);
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(row(&rows, &r.join("Downloads/c.mkv")).is_none());
    assert!(row(&rows, &r.join("books/d.mkv")).is_none());
    let bad = row(&rows, &r.join("Films/corrupt.mkv")).unwrap();
    assert_eq!(bad["bucket"], "skip: error");
    assert!(
        bad["error"].as_str().unwrap().contains("not a recognised"),
        "{bad}"
    );
    if unreadable {
        let l = row(&rows, &locked).unwrap();
        assert!(
            l["error"].as_str().unwrap().contains("ermission denied"),
            "{l}"
        );
    }
    assert_eq!(row(&rows, &r.join("Films/a.mp4")).unwrap()["status"], "ok");

    // Unchanged: nothing probed.
    let s2 = env.scan();
    assert_eq!(
        (
            s2["unchanged"].as_u64(),
            s2["probed"].as_u64(),
            s2["new"].as_u64()
        ),
        (Some(4), Some(0), Some(0)),
        "{s2}"
    );

    // Touched without a content change: mtime refreshed, not re-probed.
    let a = r.join("Films/a.mp4");
    std::fs::File::options()
        .write(true)
        .open(&a)
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(3600))
        .unwrap();
    let s3 = env.scan();
    assert_eq!(
        (s3["touched"].as_u64(), s3["probed"].as_u64()),
        (Some(1), Some(0)),
        "{s3}"
    );

    // Renamed: recognised by fingerprint, keeps its row and history.
    let catalog = mediaforce::catalog::Catalog::open(&env.data).unwrap();
    let b_old = r.join("Films/Sub/b.mkv");
    let id = catalog.file_by_path(&b_old).unwrap().unwrap().id;
    let b_new = r.join("Films/b renamed.mkv");
    std::fs::rename(&b_old, &b_new).unwrap();
    let s4 = env.scan();
    assert_eq!(
        (
            s4["moved"].as_u64(),
            s4["new"].as_u64(),
            s4["gone"].as_u64()
        ),
        (Some(1), Some(0), Some(0)),
        "{s4}"
    );
    let moved = catalog.file_by_path(&b_new).unwrap().unwrap();
    assert_eq!(moved.id, id);
    let events = catalog.file_events(id).unwrap();
    assert!(
        events
            .iter()
            .any(|(_, k, d)| k == "moved" && d.as_deref().unwrap().contains("Sub/b.mkv")),
        "{events:?}"
    );

    // Content changed: re-probed; deleted: gone.
    clip(&a, 36, 24);
    std::fs::remove_file(&b_new).unwrap();
    let s5 = env.scan();
    assert_eq!(
        (
            s5["changed"].as_u64(),
            s5["gone"].as_u64(),
            s5["probed"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{s5}"
    );
    assert_eq!(row(&ls(&env), &b_new).unwrap()["bucket"], "skip: gone");

    // An output of ours inside the library is recognised and never a candidate.
    let ours = r.join("Films/a-encoded.mkv");
    env.ok(&[
        "encode",
        a.to_str().unwrap(),
        ours.to_str().unwrap(),
        "--encoder",
        "libx264",
        "--opt",
        "crf=30",
        "--opt",
        "preset=ultrafast",
    ]);
    let s6 = env.scan();
    assert_eq!(s6["ours"], 1, "{s6}");
    assert_eq!(
        row(&ls(&env), &ours).unwrap()["bucket"],
        "skip: produced by mediaforce"
    );

    // A root that disappears (unmounted disk) warns and marks nothing gone.
    let other = env._dir.path().join("other");
    clip(&other.join("e.mkv"), 12, 8);
    env.ok(&["settings", "add-root", other.to_str().unwrap()]);
    assert_eq!(env.scan()["new"], 1);
    std::fs::rename(&other, env._dir.path().join("other-unmounted")).unwrap();
    let s7 = env.scan();
    assert_eq!(s7["gone"], 0, "{s7}");
    assert!(
        s7["warnings"]
            .to_string()
            .contains("nothing under it is marked gone"),
        "{s7}"
    );
    assert_eq!(
        row(&ls(&env), &other.join("e.mkv")).unwrap()["status"],
        "ok"
    );

    // Ranking, report and plan see the candidates only.
    let report = env.json(&["report", "--json"]);
    assert!(
        report["buckets"].to_string().contains("skip: error"),
        "{report}"
    );
    let plan = env.json(&["plan", "--json"]);
    assert_eq!(plan["version"], 1);
    let items = plan["items"].as_array().unwrap();
    assert!(!items.is_empty());
    for (i, it) in items.iter().enumerate() {
        assert_eq!(it["index"], i);
        assert!(it["staging"]
            .as_str()
            .unwrap()
            .starts_with(troot.to_str().unwrap()));
        assert!(it["policy"]["encode"]["target_vmaf"].is_number());
        assert!(
            it["audio"][0].as_str().unwrap().starts_with("eng aac 2 ch"),
            "{it}"
        );
    }
    let scores: Vec<f64> = items.iter().map(|i| i["score"].as_f64().unwrap()).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "priority order: {scores:?}"
    );
    assert!(plan["skipped"]
        .to_string()
        .contains("produced by mediaforce"));
    let manifest = PathBuf::from(plan["manifest"].as_str().unwrap());
    assert!(manifest.starts_with(env.data.join("manifests")));
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
}

#[test]
fn policy_files_and_locks_fail_clearly() {
    let env = Env::new();
    std::fs::create_dir_all(&env.data).unwrap();
    let bad = env.data.join("policy.toml");
    std::fs::write(&bad, "[encode]\ntarget_vmaf = 94\nencoder_speed = 3\n").unwrap();
    let (code, _, err) = env.run_env(&["policy", "show", "/x.mkv"], &[]);
    assert_eq!(code, 1);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(bad.to_str().unwrap())
            && err.contains("line 3")
            && err.contains("encoder_speed"),
        "{err}"
    );
    std::fs::remove_file(&bad).unwrap();

    // Per-folder override and environment, with provenance.
    std::fs::write(
        env.data.join("folder-overrides.toml"),
        format!(
            "[[folder]]\nmatch = \"{}/TV/**\"\n[folder.encode]\ntarget_vmaf = 93.5\n",
            env.root.display()
        ),
    )
    .unwrap();
    let p = env.root.join("TV/show/e1.mkv");
    let (code, out, err) = env.run_env(
        &["policy", "show", p.to_str().unwrap(), "--json"],
        &[("MEDIAFORCE_POLICY_ENCODE_PRESET", "6")],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["policy"]["encode"]["target_vmaf"], 93.5);
    assert_eq!(v["policy"]["encode"]["preset"], "6");
    assert!(v["sources"]["encode.target_vmaf"]
        .as_str()
        .unwrap()
        .contains("[[folder]] #1"));
    assert_eq!(
        v["sources"]["encode.preset"],
        "environment MEDIAFORCE_POLICY_ENCODE_PRESET"
    );

    // Missing root directory.
    let (code, _, err) = env.run_env(&["settings", "add-root", "/nonexistent/films"], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains("/nonexistent/films") && err.contains("No such file"),
        "{err}"
    );

    // Another writer holds the database: a clear error after the busy timeout, not a hang.
    env.ok(&["settings", "add-root", env.root.to_str().unwrap()]);
    let conn = hold_write_lock(&env.data);
    let (code, _, err) = env.run_env(
        &["settings", "add-ignore", "extras"],
        &[("MEDIAFORCE_BUSY_TIMEOUT_MS", "300")],
    );
    drop(conn);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("catalog.db") && err.contains("locked by another mediaforce process"),
        "{err}"
    );
    env.ok(&["settings", "add-ignore", "extras"]);
}

/// The catalog's database, through the store's own SQL layer.
fn catalog_db(data: &Path) -> mediaforce::store::sql::Db {
    let path = mediaforce::catalog::Catalog::path_in(data);
    mediaforce::store::sql::Db::open(path.to_str().unwrap(), &mediaforce::catalog::SCHEMA).unwrap()
}

/// Hold the catalog's write lock like a long-running writer would.
fn hold_write_lock(data: &Path) -> mediaforce::store::sql::Db {
    let mut db = catalog_db(data);
    db.batch("BEGIN EXCLUSIVE;").unwrap();
    db
}

/// Fingerprints read less than they did (point 9 of the real-files issue); rows fingerprinted
/// the first way are still recognised after an upgrade: a touched file is not re-probed and a
/// moved one keeps its history.
#[test]
fn fingerprints_of_an_earlier_version_are_still_recognised() {
    let env = Env::new();
    let a = env.root.join("a.mkv");
    let b = env.root.join("b.mkv");
    clip(&a, 24, 8);
    clip(&b, 24, 16);
    env.ok(&["settings", "add-root", env.root.to_str().unwrap()]);
    let first = env.scan();
    assert_eq!(first["new"], 2, "{first}");
    // Rewrite both rows as the first version recorded them.
    let mut db = catalog_db(&env.data);
    for p in [&a, &b] {
        let old = mediaforce::db::content_hash_as(p, "0:0").unwrap();
        assert!(!old.starts_with("q2:"), "{old}");
        db.execute(
            "UPDATE file SET fingerprint = ?2 WHERE path = ?1",
            mediaforce::store::params![p.to_str().unwrap(), old],
        )
        .unwrap();
    }
    drop(db);
    // Touched (mtime only): recognised, not re-probed.
    std::fs::File::options()
        .write(true)
        .open(&a)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(60))
        .unwrap();
    // Moved: keeps its row and history.
    let moved = env.root.join("sub/b-renamed.mkv");
    std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
    std::fs::rename(&b, &moved).unwrap();
    let again = env.scan();
    assert_eq!(again["touched"], 1, "{again}");
    assert_eq!(again["moved"], 1, "{again}");
    assert_eq!(again["new"], 0, "{again}");
    assert_eq!(again["probed"], 0, "{again}");
}
