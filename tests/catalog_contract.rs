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
            target: Some(93.0),
            corrections: 2,
        };
        c.record_encode(&row).unwrap();
        let back = c.last_encode(it.id).unwrap().unwrap();
        assert_eq!(
            (back.knob, back.predicted_vmaf, back.measured_vmaf),
            (23.5, Some(93.25), None)
        );
        assert_eq!((back.target, back.corrections), (Some(93.0), 2));
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

/// A file row to insert: path, codec, height, HDR, size, audio, bit rate.
type FileSpec = (
    &'static str,
    &'static str,
    i64,
    Option<&'static str>,
    i64,
    &'static str,
    i64,
);

#[test]
fn analytics_sums_are_the_same_on_both_backends() {
    use mediaforce::catalog::{EncoderHost, QualityBand, SavingDay, DAY};
    both("stats", |location, dir| {
        let c = Catalog::open_location(location).unwrap();
        let mut q = mediaforce::store::open(location).unwrap();
        let mut db =
            mediaforce::store::sql::Db::open(location, &mediaforce::catalog::SCHEMA).unwrap();
        // (path, codec, height, hdr, size, audio, bit rate)
        let files: [FileSpec; 5] = [
            (
                "/lib/A/a.avi",
                "mpeg4",
                720,
                None,
                1000,
                "eng pcm_s16le 2 ch",
                8_000_000,
            ),
            (
                "/lib/A/b.mkv",
                "h264",
                1080,
                None,
                4000,
                "eng aac 2 ch",
                3_000_000,
            ),
            (
                "/lib/B/c.mkv",
                "hevc",
                2160,
                Some("pq"),
                500,
                "eng dts 6 ch",
                20_000_000,
            ),
            (
                "/lib/B/gone.mkv",
                "h264",
                1080,
                None,
                9999,
                "eng aac 2 ch",
                1,
            ),
            (
                "/lib/B/bad.wmv",
                "wmv3",
                480,
                None,
                7777,
                "eng wmav2 2 ch",
                1,
            ),
        ];
        let mut ids = Vec::new();
        for (n, (path, codec, height, hdr, size, audio, rate)) in files.iter().enumerate() {
            let status = match n {
                3 => "gone",
                4 => "error",
                _ => "ok",
            };
            db.execute(
                "INSERT INTO file (path, root, size, mtime_ns, dev, inode, fingerprint, status,
                     ours, first_seen, scanned_at, video_codec, width, height, hdr, bit_rate, audio)
                 VALUES (?1, '/lib', ?2, 0, 1, ?3, ?4, ?5, 0, 0, 0, ?6, 1, ?7, ?8, ?9, ?10)",
                &[
                    (*path).into(),
                    (*size).into(),
                    (n as i64).into(),
                    format!("fp{n}").into(),
                    status.into(),
                    (*codec).into(),
                    (*height).into(),
                    hdr.map(String::from).into(),
                    (*rate).into(),
                    (*audio).into(),
                ],
            )
            .unwrap();
            ids.push(
                db.query_opt("SELECT id FROM file WHERE path = ?1", &[(*path).into()])
                    .unwrap()
                    .unwrap()
                    .int(0),
            );
        }
        let plan = dir.join("plan.json");
        let item = |n: usize| {
            c.item_for(
                &plan,
                n,
                Some(ids[n]),
                Path::new(files[n].0),
                Path::new("/t/x.mkv"),
            )
            .unwrap()
            .id
        };
        let encode = |id: i64, n: usize, out: u64, enc: &str, host: &str, measured, fixes| {
            c.record_encode(&EncodeRow {
                item_id: id,
                host: host.into(),
                source: files[n].0.into(),
                source_bytes: files[n].4 as u64,
                source_codec: files[n].1.into(),
                encoder: enc.into(),
                encoder_fingerprint: "fp".into(),
                knob: 30.0,
                predicted_vmaf: Some(93.0),
                measured_vmaf: Some(measured),
                output_bytes: out,
                wall_seconds: if host == "h1" { 3600.0 } else { 1800.0 },
                fps: if host == "h1" { 20.0 } else { 60.0 },
                target: Some(93.0),
                corrections: fixes,
            })
            .unwrap();
        };
        let walk = |id: i64, states: &[ItemState]| {
            for s in states {
                c.set_state(id, *s, None).unwrap();
            }
        };
        use ItemState::*;
        // a: encoded (one correction) and promoted ten days ago, saving 800 bytes.
        let a = item(0);
        walk(a, &[Encoding]);
        encode(a, 0, 200, "libsvtav1", "h1", 94.5, 1);
        walk(a, &[Staged, Validated, Promoting, Promoted]);
        let today = mediaforce::db::now().div_euclid(DAY);
        let back = (today - 10) * DAY + 3600;
        for sql in [
            "UPDATE encode SET at = ?1 WHERE item_id = ?2",
            "UPDATE item_event SET at = ?1 WHERE item_id = ?2",
        ] {
            db.execute(sql, &[back.into(), a.into()]).unwrap();
        }
        // b: promoted and rolled back today: nothing saved in the end.
        let b = item(1);
        walk(b, &[Encoding]);
        encode(b, 1, 1000, "libx264", "h2", 92.5, 0);
        walk(
            b,
            &[
                Staged,
                Validated,
                Promoting,
                Promoted,
                RollingBack,
                RolledBack,
            ],
        );
        // c: staged, its validation failed, its source damaged.
        let cc = item(2);
        walk(cc, &[Encoding, Staged]);
        c.set_source_damage(cc, 3, Some("3 damaged packets"))
            .unwrap();
        c.record_validation(cc, false, "{}").unwrap();

        assert_eq!(
            c.savings_by_day(0).unwrap(),
            [
                SavingDay {
                    day: today - 10,
                    promoted: 1,
                    promoted_bytes: 800,
                    rolled_back: 0,
                    rolled_back_bytes: 0
                },
                SavingDay {
                    day: today,
                    promoted: 1,
                    promoted_bytes: 3000,
                    rolled_back: 1,
                    rolled_back_bytes: 3000
                },
            ]
        );
        // A range that starts after the first promotion leaves it out.
        assert_eq!(c.savings_by_day((today - 5) * DAY).unwrap().len(), 1);
        let days = c.encodes_by_day(0).unwrap();
        assert_eq!(
            days.iter()
                .map(|d| (d.day, d.encodes, d.seconds, d.source_bytes))
                .collect::<Vec<_>>(),
            [(today - 10, 1, 3600.0, 1000), (today, 1, 1800.0, 4000)]
        );
        assert_eq!(
            c.encoder_hosts(0).unwrap(),
            [
                EncoderHost {
                    encoder: "libsvtav1".into(),
                    host: "h1".into(),
                    encodes: 1,
                    mean_fps: 20.0,
                    seconds: 3600.0
                },
                EncoderHost {
                    encoder: "libx264".into(),
                    host: "h2".into(),
                    encodes: 1,
                    mean_fps: 60.0,
                    seconds: 1800.0
                },
            ]
        );
        assert_eq!(
            c.quality_bands(0).unwrap(),
            [
                QualityBand {
                    band: "1_to_2".into(),
                    encodes: 1,
                    corrections: 1
                },
                QualityBand {
                    band: "under_1".into(),
                    encodes: 1,
                    corrections: 0
                },
            ]
        );
        // The mix: a counts as its AV1 encode now and its MPEG-4 AVI source before.
        let mix = c.mix_groups().unwrap();
        let promoted: Vec<_> = mix.iter().filter(|g| g.promoted).collect();
        assert_eq!(promoted.len(), 1, "{mix:?}");
        let g = promoted[0];
        assert_eq!(
            (
                g.encoder.as_deref(),
                g.source_codec.as_deref(),
                g.source_tail.as_deref(),
                g.bytes,
                g.bytes_before,
                g.height
            ),
            (
                Some("libsvtav1"),
                Some("mpeg4"),
                Some("a.avi"),
                200,
                1000,
                Some(720)
            )
        );
        let rest: Vec<_> = mix
            .iter()
            .filter(|g| !g.promoted)
            .map(|g| {
                (
                    g.codec.clone().unwrap(),
                    g.height.unwrap(),
                    g.hdr.clone(),
                    g.tail.clone(),
                    g.files,
                    g.bytes,
                )
            })
            .collect();
        assert_eq!(
            rest,
            [
                ("h264".into(), 1080, "".into(), "b.mkv".into(), 1, 4000),
                ("hevc".into(), 2160, "pq".into(), "c.mkv".into(), 1, 500),
            ]
        );
        // Per root: live files only, the promoted one at its encode's size.
        let roots = c.root_totals().unwrap();
        assert_eq!(
            roots
                .iter()
                .map(|r| (r.root.as_str(), r.files, r.bytes, r.promoted, r.saved_bytes))
                .collect::<Vec<_>>(),
            [("/lib", 3, 4700, 1, 800)]
        );
        let folders: Vec<_> = c
            .folder_totals(10)
            .unwrap()
            .into_iter()
            .map(|f| (f.folder, f.files, f.bytes, f.saved_bytes))
            .collect();
        assert_eq!(
            folders,
            [
                ("/lib/A".to_string(), 2, 4200, 800),
                ("/lib/B".to_string(), 1, 500, 0)
            ]
        );
        assert_eq!(c.folder_totals(1).unwrap().len(), 1);
        let h = c.health_counts().unwrap();
        assert_eq!(
            (
                h.failed_validations,
                h.damaged_sources,
                h.unreadable_files,
                h.no_result,
                h.failed_items
            ),
            (1, 1, 1, 0, 0)
        );
        // Health parts over a (MPEG-4 AVI at 8 Mb/s for 720p, PCM), b (H.264 MKV within
        // its norm, AAC) and c (HEVC MKV at 20 Mb/s for 2160p, DTS).
        let p = &c.health_parts(None).unwrap()[0];
        assert_eq!(p.key, "/lib");
        let close = |x: f64, want: f64| assert!((x - want).abs() < 1e-6, "{x} != {want}");
        assert_eq!(p.files, 3);
        close(p.codec, (30.0 + 60.0 + 85.0) / 3.0);
        close(
            p.bit_rate,
            (100.0 * 3.5 / 8.0 + 100.0 + 100.0 * 16.0 / 20.0) / 3.0,
        );
        close(p.container, (20.0 + 100.0 + 100.0) / 3.0);
        close(p.audio, (30.0 + 100.0 + 50.0) / 3.0);
        // By folder: /lib/A holds a and b, /lib/B holds c.
        let folders = ["/lib/A".to_string(), "/lib/B".to_string()];
        let by_folder = c.health_parts(Some(&folders)).unwrap();
        assert_eq!(
            by_folder
                .iter()
                .map(|p| (p.key.as_str(), p.files))
                .collect::<Vec<_>>(),
            [("/lib/A", 2), ("/lib/B", 1)]
        );
        // Only the folders asked for.
        let one = c.health_parts(Some(&folders[1..])).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!((one[0].key.as_str(), one[0].files), ("/lib/B", 1));
        assert!(c.health_parts(Some(&[])).unwrap().is_empty());
        close(by_folder[0].codec, (30.0 + 60.0) / 2.0);
        close(by_folder[1].bit_rate, 100.0 * 16.0 / 20.0);

        // Failed jobs by worker, kind verb and cause; queue depth by state and kind.
        for (kind, error) in [
            ("stage:plan-1", "disk full"),
            ("stage:plan-2", "disk full"),
            ("notify", "refused"),
        ] {
            let mut job = NewJob::new(kind, serde_json::json!({}));
            job.max_attempts = 1;
            q.enqueue(&job).unwrap();
            let lease = q
                .claim("h1/1", &[], Duration::from_secs(60))
                .unwrap()
                .unwrap();
            q.fail(&lease, error).unwrap();
        }
        q.enqueue(&NewJob::new("stage:plan-3", serde_json::json!({})))
            .unwrap();
        let failed = q.failed_by_cause(0).unwrap();
        assert_eq!(
            failed
                .iter()
                .map(|f| (f.worker.as_str(), f.kind.as_str(), f.cause.as_str(), f.jobs))
                .collect::<Vec<_>>(),
            [
                ("h1/1", "stage", "disk full", 2),
                ("h1/1", "notify", "refused", 1)
            ]
        );
        let mut by_kind: Vec<_> = q
            .counts_by_kind()
            .unwrap()
            .into_iter()
            .map(|(s, k, n)| (s.as_str(), k, n))
            .collect();
        by_kind.sort();
        assert_eq!(
            by_kind,
            [
                ("failed", "notify".to_string(), 1),
                ("failed", "stage".to_string(), 2),
                ("queued", "stage".to_string(), 1)
            ]
        );

        // Plan items in brief: of three, one is started (its item is past `planned`), one is
        // queued (a live job keyed by plan and index), one waits; a newer plan's item for the
        // same source replaces the older one.
        use mediaforce::catalog::PlanItemRow;
        let brief = |index: i64, source: &str| PlanItemRow {
            index,
            source: source.into(),
            source_bytes: 1000,
            expected_bytes: 400,
            saving_percent: 60.0,
            confidence: "medium".into(),
            bucket: "strong".into(),
        };
        let old = dir.join("plan-old.json");
        let old_id = c.save_plan(&old, "{}").unwrap();
        c.record_plan_items(old_id, &[brief(0, "/lib/W/w.mkv")])
            .unwrap();
        let key = dir.join("plan-new.json");
        let id = c.save_plan(&key, "{}").unwrap();
        assert_eq!(
            c.plans_without_items().unwrap(),
            [(id, key.clone())],
            "plans made before the briefs"
        );
        let items = [
            brief(0, files[0].0),
            brief(1, "/lib/Q/q.mkv"),
            brief(2, "/lib/W/w.mkv"),
        ];
        c.record_plan_items(id, &items).unwrap();
        c.record_plan_items(id, &items).unwrap();
        let mut job = NewJob::new(&format!("stage:{}", key.display()), serde_json::json!({}));
        job.key = Some(format!("stage:{}:1", key.display()));
        q.enqueue(&job).unwrap();
        let waiting = c.waiting_plan_items().unwrap();
        assert_eq!(
            waiting
                .iter()
                .map(|(k, i)| (k.clone(), i.index, i.source.as_str()))
                .collect::<Vec<_>>(),
            [(key.clone(), 2, "/lib/W/w.mkv")]
        );
        assert_eq!(waiting[0].1, items[2]);
    });
}
