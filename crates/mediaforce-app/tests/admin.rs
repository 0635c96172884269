//! The operator's use cases through the application layer, on both backends: setting up and
//! inspecting the library, a folder's own policy, steering queued jobs, a worker registering
//! its host, the hosts steered and their tokens, API tokens and the knob model's view.

use mediaforce_app::worker::WorkerOptions;
use mediaforce_app::{App, ErrorKind, Paths};
use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

fn library(dir: &Path) -> std::path::PathBuf {
    let library = dir.join("library");
    for (name, w, h) in [("Films/a.mkv", 320, 180), ("Films/b.mkv", 640, 360)] {
        let path = library.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        SyntheticClip::new(SyntheticVideo::new(w, h, 6).encoder("mpeg4", &[]))
            .write(&path)
            .unwrap();
    }
    library
}

fn backends() -> Vec<(&'static str, Option<String>)> {
    let admin = std::env::var("MEDIAFORCE_TEST_DATABASE_URL").expect(
        "MEDIAFORCE_TEST_DATABASE_URL must name the test PostgreSQL cluster (scripts/test.sh starts one)",
    );
    let url =
        mediaforce_store::create_database(&admin, &format!("mf_app_admin_{}", std::process::id()))
            .unwrap();
    vec![("sqlite", None), ("postgres", Some(url))]
}

#[test]
fn the_operator_sets_up_inspects_steers_and_registers_on_both_backends() {
    // The only test in this binary: nothing else reads the environment meanwhile.
    std::env::set_var("MEDIAFORCE_POLICY_RANKING_MIN_SIZE_MB", "0");
    let dir = tempfile::tempdir().unwrap();
    let root = library(dir.path());
    let films = root.join("Films");
    for (backend, database) in backends() {
        let paths = Paths {
            data_dir: dir.path().join(format!("state-{backend}")),
            config_dir: None,
            database,
        };
        let app = App::open(&paths).unwrap();

        // Settings: roots, transcode root, ignore patterns.
        let (root, _) = app.add_root(&root).unwrap();
        let other = dir.path().join(format!("other-{backend}"));
        std::fs::create_dir_all(&other).unwrap();
        app.add_root(&other).unwrap();
        assert_eq!(
            app.remove_root(&other).unwrap(),
            other.canonicalize().unwrap()
        );
        assert_eq!(
            app.remove_root(&other).unwrap_err().kind,
            ErrorKind::NotFound,
            "{backend}"
        );
        app.set_transcode_root(&dir.path().join(format!("transcode-{backend}")))
            .unwrap();
        app.add_ignore("*.part").unwrap();
        assert!(app.remove_ignore("*.part").unwrap(), "{backend}");
        assert!(!app.remove_ignore("*.part").unwrap(), "{backend}");
        let settings = app.settings_view();
        assert_eq!(settings.roots.len(), 1, "{backend}");
        assert_eq!(settings.roots[0].path, root, "{backend}");

        // Inspecting what the scan found.
        let scan = app.scan(None, None, &|_| {}).unwrap();
        assert_eq!(scan.new, 2, "{backend}");
        let ls = app.ls(None).unwrap();
        assert_eq!(ls.len(), 2, "{backend}");
        assert!(ls.iter().all(|r| r.status == "ok"), "{backend}");
        let folder = app.inspect_folder(&films).unwrap();
        assert_eq!((folder.files, folder.errors), (2, 0), "{backend}");
        assert_eq!(
            folder.codecs.get("mpeg4"),
            Some(&2),
            "{backend}: {:?}",
            folder.codecs
        );
        let report = app.report(None, 10).unwrap();
        assert_eq!(report.files, 2, "{backend}");
        assert_eq!(
            report.total_bytes,
            ls.iter().map(|r| r.size_bytes).sum::<u64>(),
            "{backend}"
        );

        // A folder's own policy, saved and read back through the layers.
        let a = films.join("a.mkv");
        assert_eq!(app.policy(&a).policy.encode.target_vmaf, 95.0, "{backend}");
        app.set_folder_override(&films, "[encode]\ntarget_vmaf = 97.0\n", "admin test")
            .unwrap();
        let p = app.policy(&a);
        assert_eq!(p.policy.encode.target_vmaf, 97.0, "{backend}");
        assert!(
            p.sources.values().any(|s| s.contains("Films")),
            "{backend}: {:?}",
            p.sources
        );
        assert_eq!(
            app.set_folder_override(&films, "[encode]\ntarget_vmaf = \"high\"\n", "bad")
                .unwrap_err()
                .kind,
            ErrorKind::Invalid,
            "{backend}"
        );

        // Steering queued jobs.
        let (planned, queued) = app.plan_folder(&films, true).unwrap();
        assert_eq!((planned, queued), (2, 2), "{backend}");
        let jobs = app.jobs_list(Some("queued"), 10).unwrap();
        assert_eq!(jobs.len(), 2, "{backend}");
        // What the plan's estimates rest on.
        let why = app.explain_estimate(None, 0).unwrap();
        assert_eq!(why.codec, "mpeg4", "{backend}");
        assert!(why.bits_per_pixel > 0.0, "{backend}: {why:?}");
        let used = why.model.as_ref().is_some_and(|m| m.used);
        assert_eq!(
            why.estimator,
            if used { "size model" } else { "codec table" },
            "{backend}: {why:?}"
        );
        if let Some(m) = &why.model {
            assert_eq!(m.nearest.len(), 3, "{backend}");
            assert!(m.codec_table.is_some() && m.sources >= 6, "{backend}");
            assert_eq!(m.target, 97.0, "{backend}: the folder's own target");
        }
        assert_eq!(
            app.explain_estimate(None, 99).unwrap_err().kind,
            ErrorKind::NotFound,
            "{backend}"
        );
        app.job_run_now(jobs[1].id).unwrap();
        let urgent = app.jobs_list(Some("queued"), 10).unwrap();
        let bumped = urgent.iter().find(|j| j.id == jobs[1].id).unwrap();
        assert_eq!(bumped.priority, mediaforce::store::URGENT, "{backend}");
        let skipped = app.job_skip(jobs[0].id).unwrap();
        assert!(
            app.settings()
                .ignore
                .iter()
                .any(|i| Path::new(i) == skipped),
            "{backend}: {skipped:?} not ignored"
        );
        app.job_cancel(jobs[1].id).unwrap();
        assert!(
            app.jobs_list(Some("queued"), 10).unwrap().is_empty(),
            "{backend}"
        );
        assert_eq!(app.jobs_retry_failed().unwrap(), 0, "{backend}");

        // A worker registers its host, finds nothing to do and leaves.
        let summary = app
            .run_worker(
                &WorkerOptions {
                    name: format!("desk-{backend}"),
                    jobs: 1,
                    exit_when_idle: Some(Duration::from_millis(300)),
                    encoders: None,
                    transfer: None,
                    stuck_after: None,
                    hold: None,
                },
                &AtomicBool::new(false),
                &mediaforce::runner::Unreported,
            )
            .unwrap();
        assert_eq!((summary.done, summary.failed), (0, 0), "{backend}");
        let name = summary.host.clone();
        assert!(
            app.hosts_list().unwrap().iter().any(|h| h.name == name),
            "{backend}"
        );
        let set = app
            .host_set(
                &name,
                &mediaforce::hosts::HostSettings {
                    state: Some(mediaforce::hosts::HostState::Paused),
                    max_jobs: Some(2),
                    schedule: Some("Mon-Fri 22:00-07:00".into()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(
            (set.state, set.max_jobs, set.schedule.as_str()),
            (
                mediaforce::hosts::HostState::Paused,
                2,
                "mon,tue,wed,thu,fri 22:00-07:00"
            ),
            "{backend}"
        );
        let bad = mediaforce::hosts::HostSettings {
            schedule: Some("moon 1-2".into()),
            ..Default::default()
        };
        assert_eq!(
            app.host_set(&name, &bad).unwrap_err().kind,
            ErrorKind::Invalid
        );
        let token = app.host_token(&name).unwrap();
        assert_eq!(app.token_host(&token).unwrap(), name, "{backend}");
        app.host_token_revoke(&name).unwrap();
        assert_eq!(
            app.token_host(&token).unwrap_err().kind,
            ErrorKind::Unauthenticated,
            "{backend}"
        );
        app.host_remove(&name).unwrap();
        assert_eq!(
            app.host(&name).unwrap_err().kind,
            ErrorKind::NotFound,
            "{backend}"
        );

        // API tokens for scripts.
        let read = app
            .api_token_create("script", mediaforce_app::web::Scope::Read)
            .unwrap();
        assert_eq!(
            app.api_token_scope(&read).unwrap(),
            mediaforce_app::web::Scope::Read,
            "{backend}"
        );
        assert_eq!(app.api_tokens().unwrap().len(), 1, "{backend}");
        app.api_token_revoke("script").unwrap();
        assert!(app.api_token_scope(&read).is_err(), "{backend}");

        // The knob model's view: the shipped corpus alone in a fresh store.
        let model = app
            .knob_model(Some("libsvtav1"), Some("8"), Some(95.0))
            .unwrap();
        assert_eq!(model.points, 0, "{backend}");
        assert!(model.model.is_some() && model.used, "{backend}");
    }
}
