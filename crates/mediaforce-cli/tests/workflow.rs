//! Plan to library end to end through the CLI: campaign, encode (resumable), status, validate
//! (catching truncated, audio-less and bigger outputs), compare, review, approve, promote and
//! rollback, and promotion killed at every step then completed or undone with no file lost.

mod common;

use common::walk;
use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

struct Env {
    dir: tempfile::TempDir,
    root: PathBuf,
    troot: PathBuf,
    data: PathBuf,
    /// The shared database every command is given (`MEDIAFORCE_DATABASE_URL`), if any.
    database: Option<String>,
}

/// A fresh PostgreSQL database in the cluster `scripts/test.sh` starts.
fn pg_database(name: &str) -> String {
    let admin = std::env::var("MEDIAFORCE_TEST_DATABASE_URL").expect(
        "MEDIAFORCE_TEST_DATABASE_URL must name the test PostgreSQL cluster (scripts/test.sh starts one)",
    );
    mediaforce::store::create_database(&admin, &format!("{name}_{}", std::process::id()))
        .unwrap_or_else(|e| panic!("cannot make a test database: {e}"))
}

/// Fast policy for tests: x264 ultrafast, a reachable target, no size floor.
const POLICY: &[(&str, &str)] = &[
    ("MEDIAFORCE_POLICY_RANKING_MIN_SIZE_MB", "0"),
    ("MEDIAFORCE_POLICY_ENCODE_ENCODER", "libx264"),
    ("MEDIAFORCE_POLICY_ENCODE_PRESET", "ultrafast"),
    ("MEDIAFORCE_POLICY_ENCODE_TARGET_VMAF", "92"),
    ("MEDIAFORCE_POLICY_ENCODE_TOLERANCE", "3"),
];

impl Env {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("library");
        let troot = dir.path().join("transcode");
        let data = dir.path().join("state");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&troot).unwrap();
        Self {
            dir,
            root,
            troot,
            data,
            database: None,
        }
    }

    /// Every command of this environment keeps its state in PostgreSQL database `url`.
    fn on(mut self, url: &str) -> Self {
        self.database = Some(url.to_string());
        self
    }

    /// Every job in the queue these commands use.
    fn jobs(&self) -> Vec<mediaforce::store::JobRow> {
        let location = mediaforce::batch::queue_location(&self.data, self.database.as_deref());
        let mut q = mediaforce::store::open(&location).unwrap();
        (1..100).map_while(|id| q.job(id).ok()).collect()
    }

    /// The catalog these commands use.
    fn catalog(&self) -> mediaforce::catalog::Catalog {
        mediaforce::catalog::Catalog::open_in(&self.data, self.database.as_deref()).unwrap()
    }

    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mediaforce"));
        c.args(args)
            .env("MEDIAFORCE_DATA_DIR", &self.data)
            .env("MEDIAFORCE_CACHE_DIR", self.dir.path().join("cache"))
            .env_remove("MEDIAFORCE_FAULT")
            .env_remove("MEDIAFORCE_FORCE_COPY")
            .env_remove("MEDIAFORCE_DATABASE_URL");
        if let Some(url) = &self.database {
            c.env("MEDIAFORCE_DATABASE_URL", url);
        }
        for (k, v) in POLICY.iter().chain(env) {
            c.env(k, v);
        }
        let out = c.output().expect("run mediaforce");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Run from another working directory (folder names relative to it or to a root).
    fn run_in(&self, cwd: &Path, args: &[&str]) -> (Option<i32>, String, String) {
        let mut c = Command::new(env!("CARGO_BIN_EXE_mediaforce"));
        c.args(args)
            .current_dir(cwd)
            .env("MEDIAFORCE_DATA_DIR", &self.data)
            .env("MEDIAFORCE_CACHE_DIR", self.dir.path().join("cache"))
            .env_remove("MEDIAFORCE_DATABASE_URL")
            .envs(POLICY.iter().copied());
        if let Some(url) = &self.database {
            c.env("MEDIAFORCE_DATABASE_URL", url);
        }
        let out = c.output().expect("run mediaforce");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// Roots and transcode root set.
    fn configured(self) -> Self {
        self.ok(&["settings", "add-root", self.root.to_str().unwrap()]);
        self.ok(&[
            "settings",
            "set-transcode-root",
            self.troot.to_str().unwrap(),
        ]);
        self
    }

    /// The newest plan's items, as the catalog holds them (and as exported).
    fn plan_items(&self) -> Vec<Value> {
        let catalog = self.catalog();
        let plan = catalog.latest_plan().unwrap().expect("a plan");
        let v: Value = serde_json::from_str(&plan.body).unwrap();
        let export: Value =
            serde_json::from_str(&std::fs::read_to_string(&plan.key).unwrap()).unwrap();
        assert_eq!(v, export, "the export is the stored plan");
        v["items"].as_array().unwrap().clone()
    }

    fn ok(&self, args: &[&str]) -> String {
        let (code, out, err) = self.run_env(args, &[]);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        out
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.ok(args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
    }

    /// A library of `names`, planned and encoded.
    fn staged(names: &[&str]) -> (Self, Value) {
        Self::new().staged_with(names)
    }

    /// This environment with a library of `names`, planned and encoded.
    fn staged_with(self, names: &[&str]) -> (Self, Value) {
        let env = self;
        for (i, n) in names.iter().enumerate() {
            source(&env.root.join(n), 8 + i as u16 * 8);
        }
        env.ok(&["settings", "add-root", env.root.to_str().unwrap()]);
        env.ok(&[
            "settings",
            "set-transcode-root",
            env.troot.to_str().unwrap(),
        ]);
        let c = env.json(&["campaign", env.root.to_str().unwrap(), "--json"]);
        assert_eq!(c["items"], names.len(), "{c}");
        let enc = env.json(&["encode", "--all", "--jobs", "2", "--json"]);
        for r in enc.as_array().unwrap() {
            assert_eq!(r["outcome"], "staged", "{enc}");
        }
        (env, enc)
    }
}

/// A big (lossless) source with an English AAC track.
fn source(path: &Path, texture: u16) {
    common::lossless_source(path, texture, 48);
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {report}"))
}

#[test]
fn plan_encode_validate_compare_review_promote_rollback() {
    whole_workflow(Env::new());
}

/// The same plan-to-library run with all state (catalog, plans, queue, probe cache, artifacts)
/// in PostgreSQL: no database is made in the data directory.
#[test]
fn plan_encode_validate_compare_review_promote_rollback_on_postgresql() {
    let url = pg_database("mf_workflow");
    let env = whole_workflow(Env::new().on(&url));
    assert!(!env.data.join("catalog.db").exists());
    assert!(!env.data.join("jobs.db").exists());
    assert!(!env.data.join("mediaforce.db").exists());
    assert!(
        mediaforce::cache::ProbeCache::open(&url)
            .unwrap()
            .len()
            .unwrap()
            >= 2,
        "the searches' probes are cached in PostgreSQL"
    );
    // The PostgreSQL catalog holds what the run did: the plan, both items' histories, the
    // promotion journal, the review artifacts.
    let c = mediaforce::catalog::Catalog::open_location(&url).unwrap();
    assert_eq!(c.backend(), mediaforce::store::sql::Backend::Postgres);
    let plan = c.latest_plan().unwrap().unwrap();
    let item = c.item(&plan.key, 0).unwrap().unwrap();
    let kinds: Vec<String> = c
        .item_events(item.id)
        .unwrap()
        .into_iter()
        .map(|e| e.1)
        .collect();
    for k in [
        "encoding",
        "staged",
        "validated",
        "approved",
        "promoting",
        "promoted",
        "rolled_back",
    ] {
        assert!(kinds.iter().any(|x| x == k), "{k} in {kinds:?}");
    }
    assert!(!c.journal_rows(item.id).unwrap().is_empty());
}

/// Plan, encode, validate, compare, review, approve, promote, roll back and catch damaged
/// outputs, in `env`; returns it for backend-specific checks.
fn whole_workflow(env: Env) -> Env {
    // Sizes order the plan: the movie (more texture, bigger) is item 0.
    let (env, enc) = env.staged_with(&["TV/show.mkv", "Films/movie.mp4"]);
    let staged0 = PathBuf::from(enc[0]["staging"].as_str().unwrap());
    assert!(staged0.starts_with(&env.troot) && staged0.extension().unwrap() == "mkv");
    for r in enc.as_array().unwrap() {
        assert!(
            r["output_bytes"].as_u64().unwrap() < r["source_bytes"].as_u64().unwrap(),
            "{r}"
        );
        assert!(r["measured_vmaf"].as_f64().unwrap() >= 92.0, "{r}");
    }
    // Resumable: a rerun does nothing; no partial files are left.
    let again = env.json(&["encode", "--all", "--json"]);
    assert!(
        again
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["outcome"] == "already_staged"),
        "{again}"
    );
    let partials: Vec<_> = walk(&env.troot)
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".partial-"))
        .collect();
    assert!(partials.is_empty(), "{partials:?}");
    let status = env.json(&["status", "--json"]);
    assert!(
        status["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["state"] == "staged"),
        "{status}"
    );

    let v = env.json(&["validate", "--all", "--json"]);
    for r in v.as_array().unwrap() {
        assert_eq!(r["passed"], true, "{r}");
        assert_eq!(check(r, "decode")["passed"], true);
        assert_eq!(r["source_frames"], 48);
        assert_eq!(r["staged_frames"], 48);
        assert!(r["vmaf"]["mean"].as_f64().unwrap() >= 92.0 - 1.5);
    }

    // Validation ran as queued jobs, one per item, each done with its report as the result.
    let jobs = env.jobs();
    let validated: Vec<_> = jobs
        .iter()
        .filter(|j| j.kind.starts_with("validate:"))
        .collect();
    assert_eq!(validated.len(), 2, "{jobs:?}");
    for j in &validated {
        assert_eq!(j.state, mediaforce::store::JobState::Done, "{j:?}");
        assert_eq!(j.result.as_ref().unwrap()["passed"], true, "{j:?}");
    }
    let c = env.json(&["compare", "--index", "0", "--json"]);
    let jobs = env.jobs();
    let compared: Vec<_> = jobs
        .iter()
        .filter(|j| j.kind.starts_with("compare:"))
        .collect();
    assert_eq!(compared.len(), 1, "{jobs:?}");
    assert_eq!(compared[0].state, mediaforce::store::JobState::Done);
    assert_eq!(compared[0].payload["index"], 0);
    let c = &c[0];
    let clips = c["clips"].as_array().unwrap();
    assert_eq!(clips.len(), 1, "a 2 s source gets one clip: {c}");
    let clip = PathBuf::from(clips[0]["path"].as_str().unwrap());
    let info = mediaforce_core::probe::probe(&clip).unwrap();
    let v0 = info.primary_video().unwrap().video.as_ref().unwrap();
    assert_eq!(
        (v0.width, v0.height),
        (640, 180),
        "source | encode side by side"
    );
    assert!(clips[0]["frames"].as_u64().unwrap() >= 40, "{c}");
    let stills = c["stills"].as_array().unwrap();
    assert_eq!(stills.len(), 3);
    let png = std::fs::read(stills[0]["path"].as_str().unwrap()).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let svg = std::fs::read_to_string(c["plot"].as_str().unwrap()).unwrap();
    assert!(
        svg.contains("<polyline") && svg.contains("48 frames"),
        "{svg}"
    );

    let review = env.json(&["review", "--index", "0", "--json"]);
    // Everything validate and compare wrote is recorded in the catalog by id, with its path
    // and size, so another process finds it without knowing where files go.
    let artifacts = review[0]["artifacts"].as_array().unwrap();
    for kind in ["frame_scores", "clip", "still", "plot", "report"] {
        let a = artifacts
            .iter()
            .find(|a| a["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} artifact: {artifacts:?}"));
        let path = PathBuf::from(a["path"].as_str().unwrap());
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            a["bytes"].as_u64().unwrap(),
            "{a}"
        );
        assert!(a["id"].as_i64().unwrap() > 0);
    }
    assert_eq!(artifacts.iter().filter(|a| a["kind"] == "still").count(), 3);
    let scores: Vec<f64> = serde_json::from_str(
        &std::fs::read_to_string(
            artifacts
                .iter()
                .find(|a| a["kind"] == "frame_scores")
                .unwrap()["path"]
                .as_str()
                .unwrap(),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(scores.len(), 48, "one VMAF per frame");
    let text = review[0]["text"].as_str().unwrap();
    assert!(
        text.contains("it saves") && text.contains("validation passed") && text.contains(".mp4"),
        "{text}"
    );

    // Promotion needs approval; then the swap, then the undo, proven by content.
    let (code, _, err) = env.run_env(&["promote", "--index", "0"], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("not approved"), "{err}");
    let lib = env.root.join("Films/movie.mp4");
    let original = std::fs::read(&lib).unwrap();
    let encoded = std::fs::read(&staged0).unwrap();
    env.ok(&["approve", "--index", "0"]);
    let p = env.json(&["promote", "--index", "0", "--json"]);
    let target = env.root.join("Films/movie.mkv");
    assert_eq!(p[0]["library"], target.to_str().unwrap());
    let replaced = env.troot.join("_replaced/library/Films/movie.mp4");
    assert_eq!(std::fs::read(&target).unwrap(), encoded);
    assert_eq!(std::fs::read(&replaced).unwrap(), original);
    assert!(!lib.exists() && !staged0.exists());
    let (code, _, err) = env.run_env(&["promote", "--index", "0"], &[]);
    assert_eq!(code, Some(1), "second promote refused");
    assert!(err.contains("already promoted"), "{err}");
    env.ok(&["rollback", "--index", "0"]);
    assert_eq!(std::fs::read(&lib).unwrap(), original);
    assert_eq!(std::fs::read(&staged0).unwrap(), encoded);
    assert!(!target.exists() && !replaced.exists());

    // Validation catches damaged outputs. Item 1's staged file is swapped for bad ones.
    let staged1 = PathBuf::from(enc[1]["staging"].as_str().unwrap());
    let good = std::fs::read(&staged1).unwrap();
    // (a) truncated
    std::fs::write(&staged1, &good[..good.len() * 6 / 10]).unwrap();
    let (code, out, _) = env.run_env(&["validate", "--index", "1", "--json"], &[]);
    assert_eq!(code, Some(1));
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r[0]["passed"], false);
    assert_eq!(check(&r[0], "frames")["passed"], false, "{r}");
    // (b) an audio track dropped
    let src1 = env.root.join("TV/show.mkv");
    let mut v = SyntheticVideo::new(320, 180, 48)
        .encoder("libx264", &[("preset", "ultrafast"), ("crf", "18")]);
    v.texture = 16;
    SyntheticClip::new(v).write(&staged1).unwrap();
    let (code, out, _) = env.run_env(&["validate", "--index", "1", "--json"], &[]);
    assert_eq!(code, Some(1));
    let r: Value = serde_json::from_str(&out).unwrap();
    let streams = check(&r[0], "streams");
    assert_eq!(streams["passed"], false);
    assert!(
        streams["detail"]
            .as_str()
            .unwrap()
            .contains("audio [eng] -> []"),
        "{streams}"
    );
    // (c) bigger than the source: lossless and all-intra, against a lossless source with GOP 12
    env.ok(&[
        "encode",
        src1.to_str().unwrap(),
        staged1.to_str().unwrap(),
        "--encoder",
        "libx264",
        "--opt",
        "qp=0",
        "--opt",
        "preset=ultrafast",
        "--opt",
        "g=1",
    ]);
    let (code, out, _) = env.run_env(&["validate", "--index", "1", "--json"], &[]);
    assert_eq!(code, Some(1), "{out}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(check(&r[0], "size")["passed"], false, "{r}");
    assert!(r[0]["saving_percent"].as_f64().unwrap() < 0.0);
    let (code, _, err) = env.run_env(&["approve", "--index", "1"], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("failed validation"), "{err}");
    // The good encode validates again.
    std::fs::write(&staged1, &good).unwrap();
    env.ok(&["validate", "--index", "1"]);
    let report = env.json(&["report", "--json"]);
    assert_eq!(report["staged"].as_array().unwrap().len(), 2, "{report}");
    assert!(report["staged"][0]["saving_percent"].as_f64().unwrap() > 5.0);
    env
}

/// Every place a file of the item can be, and how many hold `bytes`.
fn copies(places: &[&Path], bytes: &[u8]) -> usize {
    places
        .iter()
        .filter(|p| std::fs::read(p).is_ok_and(|b| b == bytes))
        .count()
}

#[test]
fn promotion_killed_at_every_step_then_completed_or_undone() {
    let (env, enc) = Env::staged(&["Films/movie.mp4"]);
    env.ok(&["validate", "--index", "0"]);
    env.ok(&["approve", "--index", "0"]);
    let lib = env.root.join("Films/movie.mp4");
    let target = env.root.join("Films/movie.mkv");
    let staged = PathBuf::from(enc[0]["staging"].as_str().unwrap());
    let replaced = env.troot.join("_replaced/library/Films/movie.mp4");
    let original = std::fs::read(&lib).unwrap();
    let encoded = std::fs::read(&staged).unwrap();
    let places = [
        lib.as_path(),
        target.as_path(),
        staged.as_path(),
        replaced.as_path(),
    ];

    let promoted = || {
        assert_eq!(copies(&[&target], &encoded), 1, "library holds the encode");
        assert_eq!(copies(&[&replaced], &original), 1, "original archived");
        assert_eq!(copies(&places, &original), 1, "original exactly once");
        assert_eq!(copies(&places, &encoded), 1, "encode exactly once");
        mediaforce_core::probe::probe(&target).expect("library file is valid media");
    };
    let restored = || {
        assert_eq!(
            copies(&[&lib], &original),
            1,
            "original back in the library"
        );
        assert_eq!(copies(&[&staged], &encoded), 1, "encode back in staging");
        assert_eq!(copies(&places, &original), 1, "original exactly once");
        assert_eq!(copies(&places, &encoded), 1, "encode exactly once");
        mediaforce_core::probe::probe(&lib).expect("library file is valid media");
    };
    let no_temp_files = || {
        let stray: Vec<_> = walk(env.dir.path())
            .into_iter()
            .filter(|p| p.to_string_lossy().contains(".mf-copy"))
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
    };

    let points = mediaforce::promote::FAULT_POINTS;
    let mut runs = 0;
    for force_copy in [false, true] {
        let copy_env: &[(&str, &str)] = if force_copy {
            &[("MEDIAFORCE_FORCE_COPY", "1")]
        } else {
            &[]
        };
        for (n, (action, step, point)) in points.iter().enumerate() {
            if *point == "copied" && !force_copy {
                continue; // a rename has no copied state
            }
            let fault = format!("{action}:{step}:{point}");
            if *action == "rollback" {
                let (code, _, err) = env.run_env(&["promote", "--index", "0"], copy_env);
                assert_eq!(code, Some(0), "{err}");
                promoted();
            }
            let mut e: Vec<(&str, &str)> = copy_env.to_vec();
            e.push(("MEDIAFORCE_FAULT", &fault));
            let (code, _, err) = env.run_env(&[action, "--index", "0"], &e);
            assert_eq!(
                code, None,
                "{fault}: the process must die at the fault point; stderr: {err}"
            );
            // Never lost, whatever the moment.
            assert!(copies(&places, &original) >= 1, "{fault}: original lost");
            assert!(copies(&places, &encoded) >= 1, "{fault}: encode lost");
            // Recover: a crashed promote is completed on even steps and undone on odd ones;
            // a crashed rollback is finished.
            let finish_promote = *action == "promote" && n % 2 == 0;
            let cmd = if finish_promote {
                "promote"
            } else {
                "rollback"
            };
            let (code, _, err) = env.run_env(&[cmd, "--index", "0"], copy_env);
            assert_eq!(code, Some(0), "{fault} then {cmd}: {err}");
            no_temp_files();
            if finish_promote {
                promoted();
                env.ok(&["rollback", "--index", "0"]);
            }
            restored();
            runs += 1;
        }
    }
    assert_eq!(runs, 20);
    // The journal recorded every step it began.
    let catalog = env.catalog();
    let m = mediaforce::manifest::latest(&catalog, &env.data).unwrap();
    let item = catalog.item(&m, 0).unwrap().unwrap();
    let journal = catalog.journal_rows(item.id).unwrap();
    for step in ["archive", "install", "uninstall", "restore"] {
        assert!(
            journal.iter().any(|(_, s, p)| s == step && p == "done"),
            "{step}"
        );
    }
}

#[test]
fn a_paused_batch_waits_and_resumes() {
    let env = Env::new();
    source(&env.root.join("Films/movie.mp4"), 8);
    env.ok(&["settings", "add-root", env.root.to_str().unwrap()]);
    env.ok(&[
        "settings",
        "set-transcode-root",
        env.troot.to_str().unwrap(),
    ]);
    env.ok(&["scan"]);
    env.ok(&["plan"]);
    env.ok(&["pause"]);
    let mut child = Command::new(env!("CARGO_BIN_EXE_mediaforce"))
        .args(["encode", "--all", "--json"])
        .env("MEDIAFORCE_DATA_DIR", &env.data)
        .envs(POLICY.iter().copied())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the batch to have queued its job (not for a set time), then see it hold.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while env
        .json(&["jobs", "list", "--json"])
        .as_array()
        .unwrap()
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the batch never queued its job"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the batch ended while paused"
        );
    }
    let jobs = env.json(&["jobs", "list", "--json"]);
    assert_eq!(
        jobs[0]["state"], "queued",
        "a paused queue claims nothing: {jobs}"
    );
    assert!(
        child.try_wait().unwrap().is_none(),
        "a paused batch keeps waiting"
    );
    let status = env.json(&["status", "--json"]);
    assert_eq!(status["paused"], true);
    assert_eq!(status["items"][0]["state"], "queued", "{status}");
    env.ok(&["resume"]);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r[0]["outcome"], "staged", "{r}");
}

/// Point 4 of the real-files issue: folders are named as they sit under the library.
#[test]
fn folders_are_named_relative_to_a_library_root() {
    let env = Env::new().configured();
    source(&env.root.join("tv/Suits/Season 5/e01.mkv"), 8);
    source(&env.root.join("tv/Futurama/e01.mkv"), 16);
    let elsewhere = env.dir.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let (code, out, err) = env.run_in(&elsewhere, &["scan", "--prefix", "tv/Futurama", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let scan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(scan["new"], 1, "only the named folder is scanned: {scan}");
    let (code, out, err) = env.run_in(&elsewhere, &["campaign", "tv/Suits/Season 5", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let c: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(c["items"], 1, "{c}");
    let items = env.plan_items();
    assert!(items[0]["source"]
        .as_str()
        .unwrap()
        .ends_with("tv/Suits/Season 5/e01.mkv"));
    // Relative to the current directory still works (`.` and `..` only that way), and so
    // does an absolute path.
    let (code, _, err) = env.run_in(&env.root, &["inspect-folder", "tv/Futurama"]);
    assert_eq!(code, Some(0), "{err}");
    let (code, out, err) = env.run_in(&env.root.join("tv/Futurama"), &["inspect-folder", "."]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("tv/Futurama"), "{out}");
    let abs = env.root.join("tv/Futurama");
    let (code, _, err) = env.run_in(&elsewhere, &["ls", "--prefix", abs.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{err}");
    // A second root with the same layout: the name is ambiguous, and the error says where.
    let root2 = env.dir.path().join("library2");
    source(&root2.join("tv/Futurama/e02.mkv"), 8);
    env.ok(&["settings", "add-root", root2.to_str().unwrap()]);
    let (code, _, err) = env.run_in(&elsewhere, &["scan", "--prefix", "tv/Futurama"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("matches in several places"), "{err}");
    assert!(
        err.contains(env.root.join("tv/Futurama").to_str().unwrap()),
        "{err}"
    );
    assert!(
        err.contains(root2.join("tv/Futurama").to_str().unwrap()),
        "{err}"
    );
    let (code, _, err) = env.run_in(&elsewhere, &["inspect-folder", "tv/Nothing"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("no such folder under any library root"),
        "{err}"
    );
}

/// Point 8: --all handles what it can and lists the rest with the reason.
#[test]
fn batch_commands_continue_past_items_they_cannot_handle() {
    let (env, _) = Env::staged(&["a.mkv", "b.mkv"]);
    // Only item 1 is validated.
    env.ok(&["validate", "--index", "1"]);
    let (code, out, err) = env.run_env(&["approve", "--all"], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("[1] approved"), "{out}");
    assert!(
        err.contains("[0]") && err.contains("skipped: not validated"),
        "{err}"
    );
    let status = env.json(&["status", "--json"]);
    assert_eq!(status["items"][1]["decision"], "approved");
    assert!(status["items"][0]["decision"].is_null());
    // Named one by one, the same refusal fails the command, after doing the rest.
    env.ok(&["reject", "--index", "1"]);
    let (code, _, err) = env.run_env(&["approve", "--index", "0", "--index", "1"], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("1 of 2 items not approved"), "{err}");
    assert_eq!(
        env.json(&["status", "--json"])["items"][1]["decision"],
        "approved"
    );
    // promote --all promotes item 1 and lists item 0.
    let (code, out, err) = env.run_env(&["promote", "--all"], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("[1] promoted"), "{out}");
    assert!(err.contains("[0]") && err.contains("not approved"), "{err}");
    // compare --all and validate --all run for every staged item and list the promoted one.
    let (code, out, err) = env.run_env(&["validate", "--all"], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("[0]"), "{out}");
    assert!(err.contains("[1]") && err.contains("skipped"), "{err}");
}

/// Point 7: two runs never stage the same item at once.
#[test]
fn a_second_run_does_not_take_an_item_another_run_holds() {
    let env = Env::new().configured();
    source(&env.root.join("a.mkv"), 8);
    source(&env.root.join("b.mkv"), 24);
    env.ok(&["campaign", env.root.to_str().unwrap()]);
    let items = env.plan_items();
    // Hold item 0's lock as another run would.
    let lock = env
        .data
        .join("locks")
        .join(format!("file-{}.lock", items[0]["file_id"]));
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let held = std::fs::File::create(&lock).unwrap();
    held.lock().unwrap();
    std::fs::write(&lock, "pid 4242 on elsewhere").unwrap();
    let r = env.json(&["encode", "--all", "--json"]);
    assert_eq!(r[0]["outcome"], "busy", "{r}");
    assert!(r[0]["holder"].as_str().unwrap().contains("pid 4242"), "{r}");
    assert_eq!(r[1]["outcome"], "staged", "{r}");
    assert!(!PathBuf::from(items[0]["staging"].as_str().unwrap()).exists());
    drop(held);
    // Two runs side by side: every item is staged by exactly one of them.
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_mediaforce"))
            .args(["encode", "--all", "--json"])
            .env("MEDIAFORCE_DATA_DIR", &env.data)
            .envs(POLICY.iter().copied())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let mut staged = [0usize; 2];
    for child in [a, b] {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        for r in v.as_array().unwrap() {
            let i = r["index"].as_u64().unwrap() as usize;
            assert!(
                ["staged", "busy", "already_staged"].contains(&r["outcome"].as_str().unwrap()),
                "{v}"
            );
            staged[i] += usize::from(r["outcome"] == "staged");
        }
    }
    assert_eq!(
        staged,
        [1, 0],
        "item 0 staged once, item 1 was already staged"
    );
}

/// Point 3: a damaged source is recorded on its item and kept out of promotion until accepted.
#[test]
fn an_encode_of_a_damaged_source_is_promoted_only_when_accepted() {
    let env = Env::new().configured();
    let src = env.root.join("damaged.mp4");
    source(&src, 8);
    let mut bytes = std::fs::read(&src).unwrap();
    let mid = bytes.len() / 2;
    let mut x: u32 = 777;
    for b in &mut bytes[mid..mid + 2000] {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 16) as u8;
    }
    std::fs::write(&src, &bytes).unwrap();
    // Concealment of the damaged frames differs between decodes (frame threads), so the
    // scores of those frames vary from run to run: this test is about the damage record and
    // the promotion gate, so the plan's target is one any encode meets, and validation's floor
    // (target - tolerance / 2) lies far below it (the search takes the cheapest knob that
    // meets the target, so a floor near the target would fail on that variation alone).
    let (code, _, err) = env.run_env(
        &["campaign", env.root.to_str().unwrap()],
        &[
            ("MEDIAFORCE_POLICY_ENCODE_TARGET_VMAF", "30"),
            ("MEDIAFORCE_POLICY_ENCODE_TOLERANCE", "40"),
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let r = env.json(&["encode", "--all", "--json"]);
    assert_eq!(r[0]["outcome"], "staged", "{r}");
    assert!(r[0]["source_damage"].as_u64().unwrap() > 0, "{r}");
    let status = env.json(&["status", "--json"]);
    assert!(status["items"][0]["source_damage"].as_u64().unwrap() > 0);
    let review = env.ok(&["review", "--index", "0"]);
    assert!(review.contains("SOURCE IS DAMAGED"), "{review}");
    let (code, out, err) = env.run_env(&["validate", "--index", "0", "--json"], &[]);
    assert_eq!(code, Some(0), "{err}\n{out}");
    env.ok(&["approve", "--index", "0"]);
    let (code, _, err) = env.run_env(&["promote", "--index", "0"], &[]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("--accept-damaged-source"), "{err}");
    assert_eq!(
        std::fs::read(&src).unwrap(),
        bytes,
        "the original is untouched"
    );
    env.ok(&["approve", "--index", "0", "--accept-damaged-source"]);
    env.ok(&["promote", "--index", "0"]);
    let status = env.json(&["status", "--json"]);
    assert_eq!(status["items"][0]["state"], "promoted", "{status}");
    assert_eq!(status["items"][0]["damage_accepted"], true);
}

/// `encode --all` runs through the job queue: a run killed mid-encode loses its lease, the
/// next run takes the job over under a new epoch and finishes it, and anything the killed run
/// would still write is refused.
#[test]
fn a_killed_run_loses_its_lease_and_the_next_run_finishes_the_job() {
    use mediaforce::store::{JobState, JobStore, Lease, SqlStore, StoreError};
    let env = Env::new().configured();
    // Long enough to be caught mid-encode (the test watches the queue every 20 ms).
    let src = env.root.join("Films/long.mkv");
    std::fs::create_dir_all(src.parent().unwrap()).unwrap();
    let mut v = SyntheticVideo::new(320, 180, 144)
        .encoder("libx264", &[("preset", "ultrafast"), ("qp", "0")]);
    v.texture = 16;
    SyntheticClip::new(v).write(&src).unwrap();
    env.ok(&["campaign", env.root.to_str().unwrap()]);
    let lease_ms = [("MEDIAFORCE_LEASE_MS", "1500")];
    let spawn = || {
        Command::new(env!("CARGO_BIN_EXE_mediaforce"))
            .args(["encode", "--all", "--json"])
            .env("MEDIAFORCE_DATA_DIR", &env.data)
            .envs(POLICY.iter().copied())
            .envs(lease_ms.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // The queue lives in the catalog's file, so a job's catalog writes are fenced with it.
    let queue = env.data.join("catalog.db");
    let mut first = spawn();
    // Wait until its worker holds the job, then kill it as a crash would.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let held = loop {
        if let Ok(mut s) = SqlStore::open(&queue.to_string_lossy()) {
            if let Ok(j) = s.job(1) {
                if j.state == JobState::Running {
                    break j;
                }
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the job was never claimed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    first.kill().unwrap();
    first.wait().unwrap();
    assert_eq!(held.epoch, 1);
    let dead_worker = held.worker.clone().unwrap();

    let out = spawn().wait_with_output().unwrap();
    assert!(out.status.success());
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r[0]["outcome"], "staged", "{r}");
    let mut s = SqlStore::open(&queue.to_string_lossy()).unwrap();
    let job = s.job(1).unwrap();
    assert_eq!(job.state, JobState::Done);
    assert_eq!(job.epoch, 2, "taken over under a new epoch");
    assert_eq!(job.attempts, 2);
    assert_ne!(job.worker.as_deref(), Some(dead_worker.as_str()));
    let events = s.events(1, 0).unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.kind == "lease_expired" && e.detail.contains(&dead_worker)),
        "{events:?}"
    );
    // The killed run's late writes, under its old epoch, are refused.
    let stale = Lease {
        job: 1,
        epoch: 1,
        kind: job.kind.clone(),
        payload: job.payload.clone(),
        worker: dead_worker,
        attempt: 1,
    };
    assert!(matches!(
        s.complete(&stale, &serde_json::json!({"late": true})),
        Err(StoreError::Fenced { .. })
    ));
    assert!(matches!(
        s.event(&stale, "progress", "late"),
        Err(StoreError::Fenced { .. })
    ));
    assert_ne!(
        s.job(1).unwrap().result,
        Some(serde_json::json!({"late": true}))
    );
    // Its catalog writes and its file moves are fenced by the same epoch: refused, nothing
    // changed, nothing moved over the staged encode.
    let catalog = env.catalog();
    let m = mediaforce::manifest::latest(&catalog, &env.data).unwrap();
    let item = catalog.item(&m, 0).unwrap().unwrap();
    let events_before = catalog.item_events(item.id).unwrap().len();
    catalog.set_fence(Some(mediaforce::control::Fence { job: 1, epoch: 1 }));
    assert!(matches!(
        catalog.event(item.id, "late", None),
        Err(mediaforce::catalog::CatalogError::Fenced { job: 1, epoch: 1 })
    ));
    assert!(matches!(
        catalog.set_state(item.id, mediaforce::domain::ItemState::Failed, Some("late")),
        Err(mediaforce::catalog::CatalogError::Fenced { .. })
    ));
    let staged = PathBuf::from(r[0]["staging"].as_str().unwrap());
    let good = std::fs::read(&staged).unwrap();
    let late = staged.with_file_name(".late-encode.mkv");
    std::fs::write(&late, b"a late encode").unwrap();
    assert!(matches!(
        catalog.fenced_rename(&late, &staged),
        Err(mediaforce::catalog::CatalogError::Fenced { .. })
    ));
    assert_eq!(
        std::fs::read(&staged).unwrap(),
        good,
        "the staged encode is untouched"
    );
    assert!(late.exists());
    // Under the current epoch the same writes go through.
    catalog.set_fence(Some(mediaforce::control::Fence { job: 1, epoch: 2 }));
    assert!(
        matches!(
            catalog.event(item.id, "late", None),
            Err(mediaforce::catalog::CatalogError::Fenced { .. })
        ),
        "the job is done: no lease is current any more"
    );
    catalog.set_fence(None);
    assert_eq!(catalog.item_events(item.id).unwrap().len(), events_before);
    // No lease-named partial of either run is left beside the staged file.
    let leftovers: Vec<_> = walk(staged.parent().unwrap())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".partial-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let status = env.json(&["status", "--json"]);
    assert_eq!(status["items"][0]["state"], "staged", "{status}");
}

/// The same plan-to-library run with the job queue in PostgreSQL (`MEDIAFORCE_DATABASE_URL`,
/// a fresh database in the cluster `scripts/test.sh` starts): the jobs are rows there.
#[test]
fn the_job_queue_can_live_in_postgresql() {
    use mediaforce::store::{JobState, JobStore, SqlStore};
    let url = pg_database("mf_cli_queue");
    let env = Env::new().on(&url).configured();
    source(&env.root.join("a.mkv"), 8);
    source(&env.root.join("b.mkv"), 24);
    env.ok(&["campaign", env.root.to_str().unwrap()]);
    let (code, out, err) = env.run_env(&["encode", "--all", "--jobs", "2", "--json"], &[]);
    assert_eq!(code, Some(0), "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert!(
        r.as_array()
            .unwrap()
            .iter()
            .all(|x| x["outcome"] == "staged"),
        "{r}"
    );
    // No SQLite queue was made; the jobs are in PostgreSQL, done, one per item, each with
    // its events as tagged JSON a page or another host can read.
    assert!(!env.data.join("jobs.db").exists());
    let mut store = SqlStore::open(&url).unwrap();
    for id in [1, 2] {
        let job = store.job(id).unwrap();
        assert_eq!(job.state, JobState::Done, "{job:?}");
        assert_eq!(job.epoch, 1);
        let events = store.events(id, 0).unwrap();
        assert_eq!(events[0].kind, "claimed");
        assert!(
            events.iter().any(|e| e.kind == "samples_placed"),
            "{events:?}"
        );
        let scored = events.iter().find(|e| e.kind == "probe_scored").unwrap();
        let e: Value = serde_json::from_str(&scored.detail).unwrap();
        assert_eq!(e["event"], "probe_scored");
        assert!(e["score"].as_f64().unwrap() > 50.0, "{e}");
        // The state the job left its item in is an event too.
        let changed = events.iter().find(|e| e.kind == "state_changed").unwrap();
        let e: Value = serde_json::from_str(&changed.detail).unwrap();
        assert_eq!(e["state"], "staged", "{e}");
        assert!(e["detail"].as_str().unwrap().contains("predicted"), "{e}");
    }
    assert!(matches!(
        store.job(3),
        Err(mediaforce::store::StoreError::NotFound(3))
    ));
    // A rerun finds both staged, through the same queue.
    let (code, out, err) = env.run_env(&["encode", "--all", "--json"], &[]);
    assert_eq!(code, Some(0), "{err}");
    let again: Value = serde_json::from_str(&out).unwrap();
    assert!(
        again
            .as_array()
            .unwrap()
            .iter()
            .all(|x| x["outcome"] == "already_staged"),
        "{again}"
    );
    // A job that fails says where and why in its log: a source changed after planning.
    source(&env.root.join("c.mkv"), 40);
    env.ok(&["scan"]);
    env.ok(&["plan"]);
    let items = env.plan_items();
    let c = items
        .iter()
        .find(|i| i["source"].as_str().unwrap().ends_with("c.mkv"))
        .expect("c.mkv planned");
    let mut bytes = std::fs::read(env.root.join("c.mkv")).unwrap();
    bytes.extend_from_slice(&[0u8; 4096]);
    std::fs::write(env.root.join("c.mkv"), bytes).unwrap();
    let index = c["index"].as_u64().unwrap().to_string();
    let (code, _, err) = env.run_env(&["encode", "--index", &index], &[]);
    assert_eq!(code, Some(1), "{err}");
    let id = (1..10)
        .find(|id| {
            store.job(*id).is_ok_and(|j| {
                j.state == JobState::Done
                    && j.payload["index"]
                        .as_u64()
                        .map(|i| i.to_string())
                        .as_deref()
                        == Some(index.as_str())
                    && j.kind.contains("plan-")
            }) && store
                .events(*id, 0)
                .unwrap()
                .iter()
                .any(|e| e.kind == "job_failed")
        })
        .expect("the failed encode's job");
    let events = store.events(id, 0).unwrap();
    let failed = events.iter().find(|e| e.kind == "job_failed").unwrap();
    let e: Value = serde_json::from_str(&failed.detail).unwrap();
    assert!(!e["host"].as_str().unwrap().is_empty(), "{e}");
    assert!(
        e["cause"]
            .as_str()
            .unwrap()
            .contains("changed since planning"),
        "{e}"
    );
    let changed = events.iter().find(|e| e.kind == "state_changed").unwrap();
    let e: Value = serde_json::from_str(&changed.detail).unwrap();
    assert_eq!(e["state"], "failed", "{e}");
}

/// A season folder: `calibrate` saves its measured first guess as the folder's override
/// (shown by `policy show` with its source); then, once two of its files are encoded, the
/// median of their knobs is the first probe of the next.
#[test]
fn a_folder_is_calibrated_then_learns_its_first_guess_from_its_encodes() {
    let env = Env::new().configured();
    let season = env.root.join("Show").join("Season 01");
    for i in 0..4u16 {
        source(&season.join(format!("e{i}.mkv")), 20 + i);
    }
    env.ok(&["scan"]);
    let season_s = season.to_str().unwrap();
    let v = env.json(&["calibrate", season_s, "--files", "2", "--json"]);
    assert_eq!(v["files"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["encoder"], "libx264");
    let saved = &v["saved"][0];
    assert_eq!(saved[0], "sd", "{v}");
    let calibrated = saved[1].as_f64().unwrap();
    let knobs: Vec<f64> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["knob"].as_f64().unwrap())
        .collect();
    assert!(knobs.contains(&calibrated) || (knobs[0] + knobs[1]) / 2.0 == calibrated);
    let rules = std::fs::read_to_string(env.data.join("folder-overrides.toml")).unwrap();
    assert!(
        rules.contains("# calibrated by mediaforce calibrate"),
        "{rules}"
    );
    let p = env.json(&[
        "policy",
        "show",
        season.join("e1.mkv").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(p["policy"]["knob"]["libx264"]["sd"], calibrated, "{rules}");
    assert!(
        p["sources"]["knob.libx264.sd"]
            .as_str()
            .unwrap()
            .contains("folder-overrides.toml"),
        "{p}"
    );
    // A folder that is not under a root is refused, naming it.
    let (code, _, err) = env.run_env(&["calibrate", "/nowhere/else"], &[]);
    assert_eq!(code, Some(1));
    assert!(err.contains("/nowhere/else"), "{err}");

    // Encode the season one file at a time: the first two start from the calibrated knob, the
    // next from the median of what the encodes before them settled on.
    env.json(&["campaign", season_s, "--json"]);
    env.json(&["encode", "--all", "--jobs", "1", "--json"]);
    let catalog = env.catalog();
    let location = mediaforce::batch::queue_location(&env.data, None);
    let mut q = mediaforce::store::open(&location).unwrap();
    let mut jobs = env.jobs();
    jobs.sort_by_key(|j| j.id);
    let first_probe = |q: &mut Box<dyn mediaforce::store::JobStore>, job: i64| -> f64 {
        let e = q
            .events(job, 0)
            .unwrap()
            .into_iter()
            .find(|e| e.kind == "probe_scored")
            .unwrap();
        serde_json::from_str::<Value>(&e.detail).unwrap()["knob"]
            .as_f64()
            .unwrap()
    };
    let plan = catalog.latest_plan().unwrap().unwrap();
    // Items in the order their jobs were claimed (event ids only grow).
    let mut order: Vec<(i64, i64)> = Vec::new(); // (claim event id, item id)
    for j in &jobs {
        let claimed = q.events(j.id, 0).unwrap()[0].id;
        let idx = j.payload["index"].as_u64().unwrap() as usize;
        order.push((claimed, catalog.item(&plan.key, idx).unwrap().unwrap().id));
    }
    order.sort();
    assert_eq!(order.len(), 4);
    let mut done_knobs = Vec::new();
    for (n, (_, item)) in order.iter().enumerate() {
        let events = catalog.item_events(*item).unwrap();
        let guess = events.iter().find(|(_, k, _)| k == "first_guess");
        let idx = catalog.item_by_id(*item).unwrap().unwrap().index;
        let job = jobs
            .iter()
            .find(|j| j.payload["index"].as_u64() == Some(idx as u64))
            .unwrap()
            .id;
        if n < 2 {
            assert!(guess.is_none(), "{events:?}");
            assert_eq!(first_probe(&mut q, job), calibrated);
        } else {
            let (median, _) = mediaforce::stage::folder_guess(&done_knobs).unwrap();
            let detail = guess.expect("a measured first guess").2.clone().unwrap();
            assert!(
                detail.starts_with(&format!("knob {median} from {n} encodes")),
                "{detail}"
            );
            assert_eq!(first_probe(&mut q, job), median);
        }
        done_knobs.push(catalog.last_encode(*item).unwrap().unwrap().knob);
    }
    // Every probe of the calibration and of the four searches is a point in the store.
    let points = catalog.all_points().unwrap();
    let origin = |o: &str| {
        points
            .iter()
            .filter(|p| p.origin == o)
            .map(|p| p.source.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    assert_eq!(
        (origin("calibrate"), origin("search")),
        (2, 4),
        "{points:?}"
    );
    assert!(points
        .iter()
        .all(|p| p.encoder == "libx264" && p.features.si > 0.0));
}

/// A new library with no measurements of its own: the first search's first probe is the
/// prediction of the model fitted on the shipped corpus of public clips, and `model` says so.
#[test]
fn a_new_library_starts_from_the_model_fitted_on_the_shipped_clips() {
    let env = Env::new().configured();
    source(&env.root.join("film.mkv"), 20);
    let medium = [("MEDIAFORCE_POLICY_ENCODE_PRESET", "medium")];
    let ok = |args: &[&str]| {
        let (code, out, err) = env.run_env(args, &medium);
        assert_eq!(code, Some(0), "{args:?}: {err}");
        out
    };
    let m: Value = serde_json::from_str(&ok(&["model", "--json"])).unwrap();
    assert_eq!(m["points"], 0, "{m}");
    assert!(m["shipped_points"].as_u64().unwrap() > 50, "{m}");
    assert_eq!(m["used"], true, "{m}");
    assert_eq!(m["model"]["encoder"], "libx264");
    assert_eq!(m["model"]["preset"], "medium");
    assert_eq!(m["model"]["sources"], m["model"]["shipped_sources"], "{m}");
    ok(&["campaign", env.root.to_str().unwrap(), "--json"]);
    ok(&["encode", "--all", "--jobs", "1", "--json"]);
    let catalog = env.catalog();
    let item = catalog.item_by_id(1).unwrap().unwrap();
    let events = catalog.item_events(item.id).unwrap();
    let guess = events
        .iter()
        .find(|(_, k, _)| k == "first_guess")
        .and_then(|(_, _, d)| d.clone())
        .unwrap_or_else(|| panic!("{events:?}"));
    assert!(guess.contains("shipped public clips"), "{guess}");
    // The first probe is the model's prediction from this source's features, on the knob's
    // grid (x264's crf moves in quarters).
    let own = catalog.all_points().unwrap();
    let first = own
        .iter()
        .find(|p| p.origin == "search")
        .expect("the search's probes are points");
    let model = mediaforce::model::KnobModel::for_search(
        Vec::new(),
        "libx264",
        "medium",
        mediaforce::search::TargetStat::Mean,
        92.0,
    )
    .unwrap();
    let predicted = (model.predict(&first.features).0 * 4.0).round() / 4.0;
    let job = env.jobs()[0].id;
    let location = mediaforce::batch::queue_location(&env.data, None);
    let mut q = mediaforce::store::open(&location).unwrap();
    let probe = q
        .events(job, 0)
        .unwrap()
        .into_iter()
        .find(|e| e.kind == "probe_scored")
        .unwrap();
    let knob = serde_json::from_str::<Value>(&probe.detail).unwrap()["knob"]
        .as_f64()
        .unwrap();
    assert_eq!(knob, predicted.clamp(0.0, 51.0), "{guess}");
}

/// `grid` measures every (input, knob) on samples, one JSON Lines row each, with the source's
/// features; a second run measures only what is missing; the rows are in the store too, as are
/// the probes of every search an encode makes.
#[test]
fn grid_rows_are_measured_once_with_features_and_kept_in_the_store() {
    let env = Env::new();
    let (a, b) = (env.root.join("calm.mkv"), env.root.join("busy.mkv"));
    common::lossless_source(&a, 4, 48);
    common::lossless_source(&b, 60, 48);
    let out = env.dir.path().join("grid.jsonl");
    let args = |range: &str| -> Vec<String> {
        [
            "grid",
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "--encoder",
            "libx264",
            "--preset",
            "ultrafast",
            "--knob",
            range,
            "--samples",
            "2",
            "--sample-seconds",
            "0.5",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |range: &str| {
        let a = args(range);
        env.json(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    // (rows written, rows skipped) of a grid run's summary.
    let tally = |v: &Value| {
        (
            v["written"].as_u64().unwrap(),
            v["skipped"].as_u64().unwrap(),
        )
    };
    let v = run("24..36:6");
    assert_eq!(tally(&v), (6, 0), "{v}");
    assert_eq!(v["stored"], 6);
    let read_rows = || -> Vec<Value> {
        std::fs::read_to_string(&out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let rows = read_rows();
    assert_eq!(rows.len(), 6);
    for r in &rows {
        assert_eq!(r["origin"], "grid");
        assert_eq!(r["encoder"], "libx264");
        assert_eq!(r["preset"], "ultrafast");
        assert!(
            r["encoder_version"].as_str().unwrap().contains("x264"),
            "{r}"
        );
        assert!(r["params"].as_str().unwrap().contains("crf="), "{r}");
        assert_eq!(
            (r["width"].as_u64(), r["height"].as_u64()),
            (Some(320), Some(180))
        );
        assert_eq!(r["samples"], 2);
        for k in [
            "vmaf_mean",
            "vmaf_harmonic",
            "vmaf_p5",
            "vmaf_p1",
            "vmaf_min",
        ] {
            let x = r[k].as_f64().unwrap();
            assert!((0.0..=100.0).contains(&x), "{k}: {r}");
        }
        assert!(r["vmaf_min"].as_f64() <= r["vmaf_p5"].as_f64());
        assert!(r["bytes"].as_u64().unwrap() > 0 && r["bit_rate"].as_f64().unwrap() > 0.0);
        assert!(r["features"]["si"].as_f64().unwrap() > 0.0, "{r}");
        assert!(
            r["features"]["bits_per_pixel"].as_f64().unwrap() > 0.0,
            "{r}"
        );
    }
    // Per source, a higher knob makes a smaller, worse encode.
    for src in [&a, &b] {
        let mut mine: Vec<&Value> = rows
            .iter()
            .filter(|r| r["source"] == src.to_str().unwrap())
            .collect();
        mine.sort_by(|x, y| x["knob"].as_f64().partial_cmp(&y["knob"].as_f64()).unwrap());
        assert_eq!(mine.len(), 3);
        assert!(mine
            .windows(2)
            .all(|w| w[0]["bytes"].as_u64() > w[1]["bytes"].as_u64()));
        assert!(mine
            .windows(2)
            .all(|w| w[0]["vmaf_mean"].as_f64() > w[1]["vmaf_mean"].as_f64()));
    }
    // The noisier source changes more from frame to frame, and its features say so.
    let feature = |src: &Path, k: &str| {
        rows.iter()
            .find(|r| r["source"] == src.to_str().unwrap())
            .unwrap()["features"][k]
            .as_f64()
            .unwrap()
    };
    assert!(
        feature(&b, "ti") > feature(&a, "ti"),
        "{} {}",
        feature(&a, "ti"),
        feature(&b, "ti")
    );
    // Again, wider: only the new knob is measured.
    let v = run("24..42:6");
    assert_eq!(tally(&v), (2, 6), "{v}");
    assert_eq!(std::fs::read_to_string(&out).unwrap().lines().count(), 8);
    assert_eq!(env.catalog().all_points().unwrap().len(), 8);
    // At 90 lines with PSNR and SSIM: new rows (the height is part of a row's identity), scored
    // upscaled to 320x180 and so below the same knob at full size; a second run skips them.
    let scaled = |range: &str, extra: &[&str]| {
        let mut a = args(range);
        a.extend(extra.iter().map(|s| s.to_string()));
        env.json(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let extra = ["--resolution", "90", "--metric", "psnr", "--metric", "ssim"];
    let v = scaled("30..30:1", &extra);
    assert_eq!(tally(&v), (2, 0), "{v}");
    let rows = read_rows();
    for src in [&a, &b] {
        let at = |h: u64| {
            rows.iter()
                .find(|r| {
                    r["source"] == src.to_str().unwrap()
                        && r["knob"] == 30.0
                        && r["height"].as_u64() == Some(h)
                })
                .unwrap_or_else(|| panic!("no {h}-line row at crf 30 for {}", src.display()))
        };
        let (small, full) = (at(90), at(180));
        assert_eq!(small["width"], 160, "{small}");
        assert!(
            small["vmaf_mean"].as_f64() < full["vmaf_mean"].as_f64(),
            "{small} {full}"
        );
        assert!(small["bit_rate"].as_f64() < full["bit_rate"].as_f64());
        let psnr = small["metrics"]["psnr_y"].as_f64().unwrap();
        let ssim = small["metrics"]["float_ssim"].as_f64().unwrap();
        assert!((10.0..60.0).contains(&psnr), "{small}");
        assert!(ssim > 0.0 && ssim < 1.0, "{small}");
        assert!(full.get("metrics").is_none(), "{full}");
    }
    let v = scaled("30..30:1", &extra);
    assert_eq!(tally(&v), (0, 2), "{v}");
    // Asking a metric the full-size rows lack measures them again.
    let v = scaled("30..30:1", &["--metric", "psnr"]);
    assert_eq!(tally(&v), (2, 0), "{v}");
    // Whole files: a row per knob with the video stream's own size, scored over every frame,
    // near the samples' figure; a rerun skips it, and --full with --resolution is refused.
    let v = scaled("30..30:1", &["--full", "--metric", "psnr"]);
    assert_eq!(tally(&v), (2, 0), "{v}");
    let rows = read_rows();
    for src in [&a, &b] {
        let mine = |full: bool| {
            rows.iter()
                .rev()
                .find(|r| {
                    r["source"] == src.to_str().unwrap()
                        && r["knob"] == 30.0
                        && r["height"] == 180
                        && r["full"] == full
                })
                .unwrap()
        };
        let (whole, sampled) = (mine(true), mine(false));
        assert_eq!(whole["samples"], 0, "{whole}");
        assert!(
            whole["metrics"]["psnr_y"].as_f64().unwrap() > 10.0,
            "{whole}"
        );
        let (wv, sv) = (
            whole["vmaf_mean"].as_f64().unwrap(),
            sampled["vmaf_mean"].as_f64().unwrap(),
        );
        assert!((wv - sv).abs() < 5.0, "whole {wv} vs samples {sv}");
        // The bit rate is the video stream's bytes over the source's duration (2 s).
        let bytes = whole["bytes"].as_f64().unwrap();
        assert!(bytes > 0.0, "{whole}");
        let seconds = whole["features"]["duration_seconds"].as_f64().unwrap();
        assert!((1.9..2.1).contains(&seconds), "{whole}");
        assert!(
            (whole["bit_rate"].as_f64().unwrap() - bytes * 8.0 / seconds).abs() < 1.0,
            "{whole}"
        );
        assert_eq!(whole["encoder"], "libx264");
    }
    let v = scaled("30..30:1", &["--full", "--metric", "psnr"]);
    assert_eq!(tally(&v), (0, 2), "{v}");
    let mut refused = args("30..30:1");
    refused.extend(["--full", "--resolution", "90"].map(String::from));
    let (code, _, err) = env.run_env(&refused.iter().map(String::as_str).collect::<Vec<_>>(), &[]);
    assert_ne!(code, Some(0));
    assert!(err.contains("--full"), "{err}");
    // No scratch file is left beside the grid's file.
    let leftovers: Vec<_> = std::fs::read_dir(out.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".mediaforce-grid-")
        })
        .collect();
    assert!(leftovers.is_empty());
    // A bad range is refused, naming it.
    let (code, _, err) = env.run_env(
        &[
            "grid",
            a.to_str().unwrap(),
            "--encoder",
            "libx264",
            "--knob",
            "40..20:2",
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, Some(2));
    assert!(err.contains("40..20:2"), "{err}");
}
