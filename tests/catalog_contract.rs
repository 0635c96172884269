//! One contract for the catalog, run on both backends: SQLite (a temporary file) and PostgreSQL
//! (a fresh database in the cluster `scripts/test.sh` starts, named by
//! `MEDIAFORCE_TEST_DATABASE_URL`; without it the PostgreSQL half fails, it never skips).

use mediaforce::catalog::{Catalog, CatalogError, EncodeRow};
use mediaforce::control::Fence;
use mediaforce::domain::{Decision, ItemState};
use mediaforce::store::NewJob;
use std::path::Path;
use std::time::Duration;

fn both(test: &str, contract: impl Fn(&str, &Path)) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join("catalog.db");
    contract(sqlite.to_str().unwrap(), dir.path());
    let admin = std::env::var("MEDIAFORCE_TEST_DATABASE_URL").expect(
        "MEDIAFORCE_TEST_DATABASE_URL must name the test PostgreSQL cluster (scripts/test.sh starts one)",
    );
    let url = mediaforce::store::create_database(
        &admin,
        &format!("mf_catalog_{test}_{}", std::process::id()),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    contract(&url, dir.path());
}

#[test]
fn settings_plans_items_and_artifacts_read_back_the_same_on_both_backends() {
    both("rows", |location, dir| {
        let c = Catalog::open_location(location).unwrap();
        // Settings keep their order and refuse unknown keys.
        assert!(c.add_setting("root", "/b").unwrap());
        assert!(c.add_setting("root", "/a").unwrap());
        assert!(!c.add_setting("root", "/a").unwrap(), "already there");
        assert_eq!(c.setting_values("root").unwrap(), ["/b", "/a"]);
        assert!(c.add_setting("bogus", "x").is_err());
        // Plans are rows; the newest is the one with the largest id, whatever the files say.
        let (p1, p2) = (dir.join("plan-1.json"), dir.join("plan-2.json"));
        let id1 = c.save_plan(&p1, "{\"n\":1}").unwrap();
        let id2 = c.save_plan(&p2, "{\"n\":2}").unwrap();
        assert!(id2 > id1);
        assert_eq!(
            c.save_plan(&p1, "{\"n\":9}").unwrap(),
            id1,
            "first one wins"
        );
        assert_eq!(c.latest_plan().unwrap().unwrap().key, p2);
        assert_eq!(c.plan(&p1).unwrap().unwrap().body, "{\"n\":1}");
        // Items: created once, states only as the table allows, each change an event.
        let it = c
            .item_for(&p2, 0, None, Path::new("/a/x.mkv"), Path::new("/t/x.mkv"))
            .unwrap();
        assert_eq!(it.state, ItemState::Planned);
        let again = c
            .item_for(&p2, 0, None, Path::new("/a/x.mkv"), Path::new("/t/x.mkv"))
            .unwrap();
        assert_eq!(again.id, it.id);
        let refused = c.set_state(it.id, ItemState::Promoted, None).unwrap_err();
        assert!(matches!(refused, CatalogError::Refused { .. }), "{refused}");
        assert!(refused.to_string().contains("/a/x.mkv"), "{refused}");
        c.set_state(it.id, ItemState::Encoding, Some("attempt 1"))
            .unwrap();
        c.set_state(it.id, ItemState::Staged, Some("crf 30"))
            .unwrap();
        c.set_decision(it.id, Decision::Approved).unwrap();
        let it = c.item(&p2, 0).unwrap().unwrap();
        assert_eq!(
            (it.state, it.decision),
            (ItemState::Staged, Some(Decision::Approved))
        );
        let kinds: Vec<String> = c
            .item_events(it.id)
            .unwrap()
            .into_iter()
            .map(|e| e.1)
            .collect();
        assert_eq!(kinds, ["encoding", "staged", "approved"]);
        // A new encode withdraws the decision.
        c.set_state(it.id, ItemState::Encoding, None).unwrap();
        assert_eq!(c.item(&p2, 0).unwrap().unwrap().decision, None);
        // Telemetry with NULLs and reals; ratios only from validated encodes.
        let row = EncodeRow {
            item_id: it.id,
            host: "h".into(),
            source: "/a/x.mkv".into(),
            source_bytes: 1000,
            source_codec: "h264".into(),
            encoder: "libx264".into(),
            encoder_fingerprint: "fp".into(),
            knob: 23.5,
            predicted_vmaf: Some(93.25),
            measured_vmaf: None,
            output_bytes: 250,
            wall_seconds: 1.5,
            fps: 30.0,
        };
        c.record_encode(&row).unwrap();
        let back = c.last_encode(it.id).unwrap().unwrap();
        assert_eq!(
            (back.knob, back.predicted_vmaf, back.measured_vmaf),
            (23.5, Some(93.25), None)
        );
        assert!(c.learned_ratios("h264", "libx264").unwrap().is_empty());
        c.record_validation(it.id, true, "{}").unwrap();
        assert_eq!(c.learned_ratios("h264", "libx264").unwrap(), [0.25]);
        // Artifacts by id; a new set of one kind replaces the old.
        let f = dir.join("clip.mkv");
        std::fs::write(&f, b"12345").unwrap();
        let a = c
            .record_artifacts(it.id, &[("clip", &f, Some("1.00".into()))])
            .unwrap();
        assert_eq!(a[0].bytes, 5);
        let b = c.record_artifacts(it.id, &[("clip", &f, None)]).unwrap();
        assert_eq!(c.artifacts(it.id).unwrap(), b);
        assert!(c.artifact(a[0].id).unwrap().is_none());
        assert_eq!(c.artifact(b[0].id).unwrap().unwrap().path, f);
        assert!(c.record_artifacts(it.id, &[("bogus", &f, None)]).is_err());
    });
}

#[test]
fn writes_under_a_lost_lease_are_refused_on_both_backends() {
    both("fence", |location, dir| {
        let c = Catalog::open_location(location).unwrap();
        let mut q = mediaforce::store::open(location).unwrap();
        let plan = dir.join("plan.json");
        let it = c
            .item_for(&plan, 0, None, Path::new("/a/x.mkv"), Path::new("/t/x.mkv"))
            .unwrap();
        let job = q
            .enqueue(&NewJob::new("stage:x", serde_json::json!({})))
            .unwrap();
        let first = q
            .claim("w1", &[], Duration::from_millis(100))
            .unwrap()
            .unwrap();
        c.set_fence(Some(Fence {
            job,
            epoch: first.epoch,
        }));
        c.event(it.id, "progress", Some("10%")).unwrap();
        // The lease expires and another worker takes the job: the first one's writes and
        // file moves are refused, and nothing of them lands. The queue's clock is moved past
        // the lease and the backoff instead of waiting for them.
        q.advance_clock(Duration::from_millis(250));
        assert_eq!(q.requeue_expired().unwrap(), 1);
        q.advance_clock(q.backoff() * 2);
        let second = q
            .claim("w2", &[], Duration::from_secs(30))
            .unwrap()
            .expect("re-claimed once the backoff passed");
        assert!(second.epoch > first.epoch);
        let before = c.item_events(it.id).unwrap().len();
        for r in [
            c.event(it.id, "progress", Some("late")),
            c.set_state(it.id, ItemState::Encoding, None),
        ] {
            assert!(matches!(r, Err(CatalogError::Fenced { .. })), "{r:?}");
        }
        let (from, to) = (dir.join("late.mkv"), dir.join("staged.mkv"));
        std::fs::write(&from, b"late").unwrap();
        assert!(matches!(
            c.fenced_rename(&from, &to),
            Err(CatalogError::Fenced { .. })
        ));
        assert!(from.exists() && !to.exists());
        assert_eq!(c.item_events(it.id).unwrap().len(), before);
        // The current holder's writes go through.
        c.set_fence(Some(Fence {
            job,
            epoch: second.epoch,
        }));
        c.set_state(it.id, ItemState::Encoding, None).unwrap();
        c.fenced_rename(&from, &to).unwrap();
        assert!(to.exists());
        c.set_fence(None);
    });
}

#[test]
fn the_library_page_filters_sorts_and_pages_the_same_on_both_backends() {
    use mediaforce::catalog::LibraryQuery;
    both("library", |location, dir| {
        let c = Catalog::open_location(location).unwrap();
        let mut db =
            mediaforce::store::sql::Db::open(location, &mediaforce::catalog::SCHEMA).unwrap();
        // 30 files in /lib/A, /lib/AB (a name that /lib/A prefixes) and /lib/B.
        for i in 0..30i64 {
            let folder = ["A", "AB", "B"][(i % 3) as usize];
            let path = format!("/lib/{folder}/f{i:02}.mkv");
            db.execute(
                "INSERT INTO file (path, root, size, mtime_ns, dev, inode, fingerprint, status,
                     ours, first_seen, scanned_at, video_codec, width, height, bit_rate)
                 VALUES (?1, '/lib', ?2, 0, 1, ?3, ?4, ?5, 0, 0, 0, ?6, 1920, ?7, ?8)",
                &[
                    path.into(),
                    (1000 + (i * 7919) % 100).into(),
                    i.into(),
                    format!("fp{i}").into(),
                    (if i == 29 { "gone" } else { "ok" }).into(),
                    (if i % 2 == 0 { "h264" } else { "hevc" }).into(),
                    (if i % 5 == 0 { 2160i64 } else { 1080 }).into(),
                    (i * 1000).into(),
                ],
            )
            .unwrap();
        }
        let page = |q: LibraryQuery| {
            let (rows, total) = c.library_page(&q).unwrap();
            let paths: Vec<String> = rows
                .iter()
                .map(|r| r.file.path.display().to_string())
                .collect();
            (paths, total)
        };
        // Everything but the gone file, by path, in pages that join up.
        let (all, total) = page(LibraryQuery {
            limit: Some(1000),
            ..Default::default()
        });
        assert_eq!(total, 29);
        let mut sorted = all.clone();
        sorted.sort();
        assert_eq!(all, sorted);
        let mut joined = Vec::new();
        for offset in (0..29).step_by(10) {
            joined.extend(
                page(LibraryQuery {
                    limit: Some(10),
                    offset: Some(offset),
                    ..Default::default()
                })
                .0,
            );
        }
        assert_eq!(joined, all);
        // A folder holds its own files, not those of a folder its name prefixes.
        let (a, total) = page(LibraryQuery {
            folder: Some("/lib/A/".into()),
            ..Default::default()
        });
        assert_eq!(total, 10);
        assert!(a.iter().all(|p| p.starts_with("/lib/A/")), "{a:?}");
        // Filters combine; sorting by size, largest first, ties broken by path.
        let (big, total) = page(LibraryQuery {
            codec: Some("hevc".into()),
            min_height: Some(2160),
            sort: Some("size".into()),
            desc: Some(true),
            ..Default::default()
        });
        assert_eq!(total, 3, "{big:?}"); // 5, 15, 25
        let sizes: Vec<u64> = c
            .library_page(&LibraryQuery {
                sort: Some("size".into()),
                desc: Some(true),
                limit: Some(1000),
                ..Default::default()
            })
            .unwrap()
            .0
            .iter()
            .map(|r| r.file.size)
            .collect();
        assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
        // By the state of the file's newest item.
        let file_id = db
            .query_opt("SELECT id FROM file WHERE path = '/lib/B/f02.mkv'", &[])
            .unwrap()
            .unwrap()
            .int(0);
        let plan = dir.join("plan.json");
        c.save_plan(&plan, "{}").unwrap();
        c.item_for(
            &plan,
            0,
            Some(file_id),
            Path::new("/lib/B/f02.mkv"),
            Path::new("/t/f02.mkv"),
        )
        .unwrap();
        let (planned, total) = page(LibraryQuery {
            state: Some("planned".into()),
            ..Default::default()
        });
        assert_eq!((planned, total), (vec!["/lib/B/f02.mkv".to_string()], 1));
        assert_eq!(
            page(LibraryQuery {
                state: Some("none".into()),
                ..Default::default()
            })
            .1,
            28
        );
        let (by_state, _) = page(LibraryQuery {
            sort: Some("state".into()),
            limit: Some(1),
            ..Default::default()
        });
        assert_eq!(by_state, ["/lib/B/f02.mkv"], "NULL states last");
        // Past the end: no rows, the total still counted.
        assert_eq!(
            page(LibraryQuery {
                offset: Some(500),
                ..Default::default()
            }),
            (vec![], 29)
        );
    });
}
