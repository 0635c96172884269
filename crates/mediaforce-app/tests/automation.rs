//! The library running itself, through the application layer, on both backends: files that
//! arrive are catalogued, planned and queued by their folder's `automation.mode` (new arrivals
//! ahead of the backlog; mediaforce's own files never); in a folder set to `promote`, a finished
//! encode is validated, approved by the `[approve]` rules (the decision recorded with the rule
//! values behind it) and promoted, unless a guard holds it; an encode that misses a rule waits
//! for review; archived originals are pruned after `archive.keep_days`, with a record, and a
//! pruned promotion cannot be rolled back.

use mediaforce::domain::{Decision, ItemState};
use mediaforce::runner::Unreported;
use mediaforce_app::automation::{ARRIVAL_PRIORITY, AUTO_APPROVED, AUTO_HELD};
use mediaforce_app::worker::WorkerOptions;
use mediaforce_app::{App, Paths, Selection};
use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use std::path::Path;
use std::sync::atomic::AtomicBool;

fn backends() -> Vec<(&'static str, Option<String>)> {
    let admin = std::env::var("MEDIAFORCE_TEST_DATABASE_URL").expect(
        "MEDIAFORCE_TEST_DATABASE_URL must name the test PostgreSQL cluster (scripts/test.sh starts one)",
    );
    let url = mediaforce_store::create_database(
        &admin,
        &format!("mf_app_automation_{}", std::process::id()),
    )
    .unwrap();
    vec![("sqlite", None), ("postgres", Some(url))]
}

fn clip(path: &Path, frames: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut v = SyntheticVideo::new(320, 180, frames)
        .encoder("libx264", &[("preset", "ultrafast"), ("qp", "0")]);
    v.texture = 12;
    SyntheticClip::new(v).write(path).unwrap();
}

/// The operator's policy: x264 ultrafast at VMAF 92, the library set to promote, originals
/// kept a week; one folder whose rule asks a saving no encode makes, one that only plans, one
/// left alone.
fn write_policy(data: &Path, library: &Path) {
    std::fs::create_dir_all(data).unwrap();
    std::fs::write(
        data.join("policy.toml"),
        "[encode]\nencoder = \"libx264\"\npreset = \"ultrafast\"\ntarget_vmaf = 92.0\ntolerance = 3.0\n\
         [ranking]\nmin_size_mb = 0.0\n\
         [automation]\nmode = \"promote\"\nmin_free_gb = 0.0\n\
         [archive]\nkeep_days = 7\n",
    )
    .unwrap();
    let rule = |dir: &str, body: &str| {
        format!(
            "[[folder]]\nmatch = \"{}\"\n{body}\n",
            library.join(dir).display()
        )
    };
    std::fs::write(
        data.join("folder-overrides.toml"),
        [
            rule("held", "[folder.approve]\nmin_saving_percent = 99.9"),
            rule("plan", "[folder.automation]\nmode = \"plan\""),
            rule("off", "[folder.automation]\nmode = \"off\""),
        ]
        .concat(),
    )
    .unwrap();
}

fn one(item: &mediaforce::catalog::ItemRecord) -> Selection {
    Selection {
        index: vec![item.index],
        all: false,
        manifest: Some(item.manifest.clone()),
    }
}

fn item_of(app: &App, source: &Path) -> mediaforce::catalog::ItemRecord {
    let all = app.catalog.items_in_states(&ItemState::ALL).unwrap();
    all.into_iter()
        .rev()
        .find(|i| i.source == source)
        .unwrap_or_else(|| panic!("{}: no item", source.display()))
}

#[test]
fn arrivals_are_planned_queued_validated_approved_by_rule_promoted_and_pruned_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("MEDIAFORCE_CACHE_DIR", dir.path().join("cache"));
    for (backend, database) in backends() {
        let library = dir.path().join(format!("library-{backend}"));
        let data = dir.path().join(format!("state-{backend}"));
        write_policy(&data, &library);
        let good = library.join("promote/good.mkv");
        let held = library.join("held/held.mkv");
        let planned = library.join("plan/planned.mkv");
        let off = library.join("off/left.mkv");
        for p in [&good, &held, &planned, &off] {
            clip(p, 48);
        }
        let original = std::fs::read(&good).unwrap();
        let paths = Paths {
            data_dir: data.clone(),
            config_dir: None,
            database,
        };
        let app = App::open(&paths).unwrap();
        app.add_root(&library).unwrap();
        app.set_transcode_root(&dir.path().join(format!("transcode-{backend}")))
            .unwrap();
        // mediaforce's own output (it carries the produced-by tag) lands in the library.
        let ours = library.join("promote/ours.mkv");
        mediaforce_app::files::transcode(
            &good,
            &ours,
            &mediaforce::core::transcode::TranscodeOptions::new("libx264"),
            &mut mediaforce::core::NoProgress,
        )
        .unwrap();
        let vanished = library.join("promote/vanished.mkv");

        let view = app
            .take_arrivals(&[
                good.clone(),
                held.clone(),
                planned.clone(),
                off.clone(),
                ours.clone(),
                vanished.clone(),
            ])
            .unwrap();
        let outcome = |p: &Path| {
            let a = view.arrivals.iter().find(|a| a.path == p).unwrap();
            (a.mode.as_str(), a.outcome.clone(), a.job)
        };
        assert_eq!(outcome(&good).1, "queued", "{backend}");
        assert_eq!(outcome(&held).1, "queued", "{backend}");
        assert_eq!(
            (
                outcome(&planned).0,
                outcome(&planned).1.as_str(),
                outcome(&planned).2
            ),
            ("plan", "planned", None),
            "{backend}"
        );
        assert_eq!(
            (outcome(&off).0, outcome(&off).1.as_str()),
            ("off", "catalogued"),
            "{backend}"
        );
        assert!(
            outcome(&ours).1.starts_with("skip: produced by mediaforce")
                && outcome(&ours).2.is_none(),
            "{backend}: {:?}",
            outcome(&ours)
        );
        assert_eq!(outcome(&vanished).1, "gone", "{backend}");
        assert_eq!(view.scan.new, 5, "{backend}: {:?}", view.scan);
        assert!(
            app.catalog.file_by_path(&off).unwrap().is_some(),
            "{backend}"
        );
        // Reported again (the watch and a hook both saw it): the file waiting in the queue is
        // not queued a second time.
        let again = app.take_arrivals(std::slice::from_ref(&good)).unwrap();
        assert_eq!(
            (again.arrivals[0].outcome.clone(), again.arrivals[0].job),
            (
                format!("already queued as job {}", outcome(&good).2.unwrap()),
                outcome(&good).2
            ),
            "{backend}"
        );
        // The arrivals' encodes run before the backlog's.
        let queued = app.jobs_list(Some("queued"), 100).unwrap();
        assert_eq!(queued.len(), 2, "{backend}");
        assert!(
            queued.iter().all(|j| j.priority == ARRIVAL_PRIORITY),
            "{backend}: {queued:?}"
        );

        // A local worker runs them.
        let stop = AtomicBool::new(false);
        let opts = WorkerOptions {
            name: "here".into(),
            jobs: 1,
            exit_when_idle: Some(std::time::Duration::from_millis(500)),
            encoders: None,
            transfer: None,
            stuck_after: None,
            hold: None,
        };
        let done = app.run_worker(&opts, &stop, &Unreported).unwrap();
        assert_eq!((done.done, done.failed), (2, 0), "{backend}: {done:?}");

        // First pass: both validated. The free-space guard holds the promotion.
        let steps = app.autopilot(&stop, &Unreported, Some("guard")).unwrap();
        let actions: Vec<&str> = steps.iter().map(|s| s.action.as_str()).collect();
        assert_eq!(actions, ["validated", "validated"], "{backend}: {steps:?}");
        let steps = app.autopilot(&stop, &Unreported, Some("guard")).unwrap();
        let by = |p: &Path| steps.iter().find(|s| s.source == p).unwrap().clone();
        assert_eq!(by(&good).action, "approved", "{backend}: {steps:?}");
        assert_eq!(by(&held).action, "held", "{backend}: {steps:?}");
        assert!(
            by(&held).detail.starts_with("saving: wanted >= 99.9%"),
            "{}",
            by(&held).detail
        );
        // Approved, but the guard holds it: the library is untouched.
        let steps = app.autopilot(&stop, &Unreported, Some("guard")).unwrap();
        assert_eq!(
            steps.len(),
            1,
            "{backend}: the held item is not judged again: {steps:?}"
        );
        assert_eq!(
            (steps[0].action.as_str(), steps[0].detail.as_str()),
            ("waiting", "guard")
        );
        assert_eq!(std::fs::read(&good).unwrap(), original, "{backend}");

        let steps = app.autopilot(&stop, &Unreported, None).unwrap();
        assert_eq!(steps.len(), 1, "{backend}: {steps:?}");
        assert_eq!(steps[0].action, "promoted", "{backend}: {steps:?}");
        let it = item_of(&app, &good);
        assert_eq!(
            (it.state, it.decision),
            (ItemState::Promoted, Some(Decision::Approved))
        );
        assert_ne!(
            std::fs::read(&good).unwrap(),
            original,
            "{backend}: the encode is in place"
        );

        // The record says which rules allowed it, with their values.
        let decisions = app.auto_decisions(it.id).unwrap();
        assert_eq!(decisions.len(), 1, "{backend}");
        let (_, approved, d) = &decisions[0];
        assert!(approved);
        assert_eq!(d.rules.min_saving_percent, 10.0);
        let rules: Vec<&str> = d.verdict.checks.iter().map(|c| c.rule.as_str()).collect();
        assert_eq!(
            rules,
            [
                "validated",
                "target",
                "saving",
                "streams",
                "duration",
                "source_damage"
            ],
            "{backend}"
        );
        assert!(d.verdict.checks.iter().all(|c| c.passed));
        let events: Vec<String> = app
            .catalog
            .item_events(it.id)
            .unwrap()
            .into_iter()
            .map(|e| e.1)
            .collect();
        assert!(events.iter().any(|e| e == AUTO_APPROVED), "{events:?}");

        // The held one waits for a person, and review says why.
        let h = item_of(&app, &held);
        assert_eq!(
            (h.state, h.decision),
            (ItemState::Validated, None),
            "{backend}"
        );
        let review = app.review(&one(&h)).unwrap();
        let auto = review[0].auto_decision.as_ref().unwrap();
        assert!(!auto.approved);
        assert!(
            review[0]
                .text
                .contains("Held for review by the [approve] rules: saving: wanted >= 99.9%"),
            "{}",
            review[0].text
        );
        assert!(app
            .catalog
            .item_events(h.id)
            .unwrap()
            .iter()
            .any(|e| e.1 == AUTO_HELD));

        // Pruning: not before keep_days; then the original is deleted, the deletion recorded,
        // and a rollback refused.
        let archived = mediaforce::promote::plan_for(&it, &app.settings())
            .unwrap()
            .1;
        assert_eq!(std::fs::read(&archived).unwrap(), original, "{backend}");
        let now = mediaforce::db::now();
        assert!(
            app.prune_archives(now + 6 * 86_400).unwrap().is_empty(),
            "{backend}"
        );
        let pruned = app.prune_archives(now + 8 * 86_400).unwrap();
        assert_eq!(pruned.len(), 1, "{backend}");
        assert_eq!(pruned[0].bytes, original.len() as u64);
        assert!(!archived.exists(), "{backend}");
        let record = app
            .catalog
            .item_events(it.id)
            .unwrap()
            .into_iter()
            .find(|e| e.1 == mediaforce::promote::PRUNED)
            .unwrap();
        assert!(record.2.unwrap().contains("\"keep_days\":7"), "{backend}");
        assert!(
            app.prune_archives(now + 9 * 86_400).unwrap().is_empty(),
            "once"
        );
        let refused = app.rollback(&one(&it)).unwrap();
        assert!(refused.done.is_empty(), "{backend}");
        assert!(
            refused.failed[0]
                .reason
                .contains("the original was deleted"),
            "{backend}: {:?}",
            refused.failed
        );
        assert!(
            std::fs::metadata(&good).is_ok(),
            "{backend}: the encode stays"
        );
    }
}

#[test]
fn a_scheduled_campaign_runs_when_its_cron_time_falls_and_queues_the_best_savings() {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("library");
    let data = dir.path().join("state");
    std::fs::create_dir_all(&data).unwrap();
    clip(&library.join("Films/a.mkv"), 24);
    clip(&library.join("Films/b.mkv"), 24);
    clip(&library.join("Other/c.mkv"), 24);
    std::fs::write(
        data.join("policy.toml"),
        "[ranking]\nmin_size_mb = 0.0\n[automation]\nmin_free_gb = 0.0\n",
    )
    .unwrap();
    // Only the Films folder has a schedule: 03:00 UTC every day, queue the best one.
    std::fs::write(
        data.join("folder-overrides.toml"),
        format!(
            "[[folder]]\nmatch = \"{}\"\n[folder.automation]\nschedule = \"0 3 * * *\"\nschedule_action = \"queue\"\nschedule_count = 1\n",
            library.join("Films").display()
        ),
    )
    .unwrap();
    let paths = Paths {
        data_dir: data,
        config_dir: None,
        database: None,
    };
    let app = App::open(&paths).unwrap();
    app.add_root(&library).unwrap();
    app.set_transcode_root(&dir.path().join("transcode"))
        .unwrap();
    // 2026-12-05: 02:59:00 to 03:00:30 holds 03:00; 03:00:30 to 03:01:00 does not.
    let t = 1_796_439_540;
    assert!(app.scheduled_campaigns(t + 90, t + 120).unwrap().is_empty());
    assert!(app.jobs_list(None, 10).unwrap().is_empty());
    let runs = app.scheduled_campaigns(t, t + 90).unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0].folder, library.join("Films"));
    assert_eq!(runs[0].action, "queue");
    assert!(
        runs[0].outcome.starts_with("planned 1 item(s), queued 1"),
        "{}",
        runs[0].outcome
    );
    let queued = app.jobs_list(Some("queued"), 10).unwrap();
    assert_eq!(queued.len(), 1);
    // The other folder was not scanned: its file is not in the catalog.
    assert!(app
        .catalog
        .file_by_path(&library.join("Other/c.mkv"))
        .unwrap()
        .is_none());
    assert!(app
        .catalog
        .file_by_path(&library.join("Films/b.mkv"))
        .unwrap()
        .is_some());
}

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_transcode_root_that_fills_up_mid_encode_fails_the_job_with_the_cause_and_the_guard_holds() {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("library");
    let data = dir.path().join("state");
    std::fs::create_dir_all(&data).unwrap();
    // A big source, so that its encode does not fit in the 256 KiB transcode root.
    let film = library.join("film.mkv");
    clip(&film, 96);
    let original = std::fs::read(&film).unwrap();
    let small = dir.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount -t tmpfs (the test runs as root)");
    let _guard = Unmount(small.clone());
    std::fs::write(
        data.join("policy.toml"),
        "[encode]\nencoder = \"libx264\"\npreset = \"ultrafast\"\ntarget_vmaf = 99.0\ntolerance = 1.0\nretries = 0\nmax_encoded_percent = 100.0\n\
         [ranking]\nmin_size_mb = 0.0\n[automation]\nmode = \"encode\"\nmin_free_gb = 0.001\n",
    )
    .unwrap();
    let paths = Paths {
        data_dir: data,
        config_dir: None,
        database: None,
    };
    let app = App::open(&paths).unwrap();
    app.add_root(&library).unwrap();
    app.set_transcode_root(&small).unwrap();
    // 256 KiB free is under the 1 MB guard: the service would start nothing here. A worker
    // without the guard (one that started its job before the disk filled) runs it anyway.
    assert!(app.free_space_hold().is_some());
    let view = app.take_arrivals(std::slice::from_ref(&film)).unwrap();
    assert_eq!(view.arrivals[0].outcome, "queued");
    let opts = WorkerOptions {
        name: "here".into(),
        jobs: 1,
        exit_when_idle: Some(std::time::Duration::from_millis(500)),
        encoders: None,
        transfer: None,
        stuck_after: None,
        hold: None,
    };
    let stop = AtomicBool::new(false);
    let done = app.run_worker(&opts, &stop, &Unreported).unwrap();
    assert_eq!((done.done, done.failed), (0, 1), "{done:?}");
    // The item's encode failed (the job ran to that result), naming the cause.
    let jobs = app.jobs_list(None, 10).unwrap();
    assert_eq!(jobs.len(), 1);
    let result = jobs[0].result.clone().unwrap_or_default();
    assert_eq!(result["outcome"], "failed", "{result}");
    let cause = result["error"].as_str().unwrap_or_default();
    assert!(cause.contains("No space left on device"), "{cause}");
    // Nothing in the library changed, and nothing half-written is left to look finished.
    assert_eq!(std::fs::read(&film).unwrap(), original);
    let item = item_of(&app, &film);
    assert_eq!(item.state, ItemState::Failed);
    assert!(!item.staging.exists());
    let leftovers: Vec<_> = walk(&small);
    assert!(leftovers.is_empty(), "partial files left: {leftovers:?}");
    // The guard holds new work while the root stays full.
    let hold = app.free_space_hold().expect("the guard holds");
    assert!(hold.contains("automation.min_free_gb = 0.001"), "{hold}");
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
