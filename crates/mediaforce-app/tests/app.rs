//! The application layer's use cases called directly (not through the binary), on both
//! backends: a SQLite file in the data directory, and a fresh database in the PostgreSQL
//! cluster `scripts/test.sh` starts (`MEDIAFORCE_TEST_DATABASE_URL`; without it the PostgreSQL
//! half fails, it never skips).

use mediaforce_app::{App, ErrorKind, Paths, Selection};
use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use std::path::Path;

/// A library of three small files under `dir/library`.
fn library(dir: &Path) -> std::path::PathBuf {
    let library = dir.join("library");
    for (name, w, h, enc) in [
        ("Films/a.mkv", 320, 180, "libx264"),
        ("Films/b.mkv", 640, 360, "mpeg4"),
        ("Shows/c.mkv", 320, 240, "libx264"),
    ] {
        let path = library.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        SyntheticClip::new(SyntheticVideo::new(w, h, 6).encoder(enc, &[]))
            .write(&path)
            .unwrap();
    }
    library
}

/// Where each backend keeps the state: `None` (SQLite in the data directory), and a new
/// database in the test cluster.
fn backends(test: &str) -> Vec<(&'static str, Option<String>)> {
    let admin = std::env::var("MEDIAFORCE_TEST_DATABASE_URL").expect(
        "MEDIAFORCE_TEST_DATABASE_URL must name the test PostgreSQL cluster (scripts/test.sh starts one)",
    );
    let url =
        mediaforce_store::create_database(&admin, &format!("mf_app_{test}_{}", std::process::id()))
            .unwrap();
    vec![("sqlite", None), ("postgres", Some(url))]
}

#[test]
fn a_library_is_scanned_planned_queued_and_described_on_both_backends() {
    // Small files are planned too (the only test in this binary that reads it).
    std::env::set_var("MEDIAFORCE_POLICY_RANKING_MIN_SIZE_MB", "0");
    let dir = tempfile::tempdir().unwrap();
    let root = library(dir.path());
    for (backend, database) in backends("library") {
        let paths = Paths {
            data_dir: dir.path().join(format!("state-{backend}")),
            config_dir: None,
            database,
        };
        let app = App::open(&paths).unwrap();
        // Nothing to scan before a root is added: a refusal, not an empty scan.
        assert!(app.scan(None, None, &|_| {}).is_err(), "{backend}");
        let (root, added) = app.add_root(&root).unwrap();
        assert!(added, "{backend}");
        assert!(!app.add_root(&root).unwrap().1, "{backend}: added twice");
        app.set_transcode_root(&dir.path().join(format!("transcode-{backend}")))
            .unwrap();
        let scan = app.scan(None, None, &|_| {}).unwrap();
        assert_eq!((scan.files, scan.new), (3, 3), "{backend}");
        // A second scan reads nothing again.
        let again = app.scan(None, None, &|_| {}).unwrap();
        assert_eq!((again.new, again.unchanged), (0, 3), "{backend}");

        let page = app.library(&Default::default()).unwrap();
        assert_eq!(page.total, 3, "{backend}");
        let shown: Vec<String> = page
            .rows
            .iter()
            .map(|r| app.shown_path(&r.path).relative)
            .collect();
        assert_eq!(
            shown,
            ["Films/a.mkv", "Films/b.mkv", "Shows/c.mkv"],
            "{backend}"
        );

        let plan = app.plan(None, None).unwrap();
        assert_eq!(plan.plan.items.len(), 3, "{backend}");
        let all = Selection {
            all: true,
            ..Default::default()
        };
        let jobs = app.enqueue(&all).unwrap();
        assert_eq!(jobs.len(), 3, "{backend}");
        // One live job per item: enqueueing again adds none.
        let _ = app.enqueue(&all);
        let queued = app.jobs_list(Some("queued"), 10).unwrap();
        assert_eq!(queued.len(), 3, "{backend}");
        let mut words: Vec<String> = app
            .describe_jobs(&queued)
            .into_iter()
            .map(|w| w.what)
            .collect();
        words.sort();
        assert_eq!(
            words,
            [
                "Encode Films/a.mkv",
                "Encode Films/b.mkv",
                "Encode Shows/c.mkv"
            ],
            "{backend}"
        );
        assert_eq!(
            app.jobs_list(Some("bogus"), 10).unwrap_err().kind,
            ErrorKind::Invalid
        );

        // Steering: cancel one, pause and resume the queue; the dashboard counts follow.
        app.job_cancel(jobs[0]).unwrap();
        app.pause().unwrap();
        assert!(app.resume().unwrap(), "{backend}: it was paused");
        assert!(!app.resume().unwrap(), "{backend}: not paused any more");
        let d = app.dashboard().unwrap();
        assert_eq!(
            (d.counts["queued"], d.counts["cancelled"]),
            (2, 1),
            "{backend}"
        );
        assert_eq!(
            app.job_cancel(9_999_999).unwrap_err().kind,
            ErrorKind::NotFound,
            "{backend}"
        );
    }
}

#[test]
fn the_web_pages_sign_in_and_tokens_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    for (backend, database) in backends("signin") {
        let paths = Paths {
            data_dir: dir.path().join(format!("state-{backend}")),
            config_dir: None,
            database,
        };
        let app = App::open(&paths).unwrap();
        assert!(!app.web_password_set().unwrap(), "{backend}");
        assert_eq!(
            app.web_login("anything").unwrap_err().kind,
            ErrorKind::Unauthenticated
        );
        assert_eq!(
            app.web_set_password("short").unwrap_err().kind,
            ErrorKind::Invalid
        );
        app.web_set_password("correct horse").unwrap();
        assert!(app.web_password_set().unwrap(), "{backend}");
        assert_eq!(
            app.web_login("wrong horse").unwrap_err().kind,
            ErrorKind::Unauthenticated
        );
        let s = app.web_login("correct horse").unwrap();
        assert_eq!(app.web_session(&s.token).unwrap(), s.csrf, "{backend}");
        // Another process sees the same session: it lives in the store.
        let other = App::open(&paths).unwrap();
        assert_eq!(other.web_session(&s.token).unwrap(), s.csrf, "{backend}");
        app.web_logout(&s.token).unwrap();
        assert_eq!(
            other.web_session(&s.token).unwrap_err().kind,
            ErrorKind::Unauthenticated
        );
        // A new password signs everyone out.
        let s = app.web_login("correct horse").unwrap();
        app.web_set_password("another horse").unwrap();
        assert!(app.web_session(&s.token).is_err(), "{backend}");

        let token = app
            .api_token_create("script", mediaforce_app::web::Scope::Read)
            .unwrap();
        assert_eq!(
            app.api_token_scope(&token).unwrap(),
            mediaforce_app::web::Scope::Read
        );
        assert_eq!(app.api_tokens().unwrap().len(), 1, "{backend}");
        app.api_token_revoke("script").unwrap();
        assert_eq!(
            app.api_token_scope(&token).unwrap_err().kind,
            ErrorKind::Unauthenticated
        );
        assert_eq!(
            app.api_token_revoke("script").unwrap_err().kind,
            ErrorKind::NotFound
        );
    }
}
