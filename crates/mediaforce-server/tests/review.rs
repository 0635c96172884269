//! The item page end to end: a generated source encoded, validated and given review material
//! in-process, then reviewed, approved and promoted in a real browser; the library file is
//! swapped on disk and the original kept.

mod common;

use common::{code, walk, Browser};
use mediaforce_app::{App, Paths, Selection};
use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use std::sync::atomic::AtomicBool;

#[test]
fn an_item_is_reviewed_approved_and_promoted_in_a_real_browser() {
    // The only test in this binary: nothing else reads the environment meanwhile.
    for (k, v) in [
        ("MEDIAFORCE_POLICY_RANKING_MIN_SIZE_MB", "0"),
        ("MEDIAFORCE_POLICY_ENCODE_ENCODER", "libx264"),
        ("MEDIAFORCE_POLICY_ENCODE_PRESET", "ultrafast"),
        ("MEDIAFORCE_POLICY_ENCODE_TARGET_VMAF", "92"),
        ("MEDIAFORCE_POLICY_ENCODE_TOLERANCE", "3"),
    ] {
        std::env::set_var(k, v);
    }
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("MEDIAFORCE_CACHE_DIR", dir.path().join("cache"));
    let library = dir.path().join("library");
    std::fs::create_dir_all(&library).unwrap();
    let source = library.join("film.mkv");
    let mut v = SyntheticVideo::new(320, 180, 72)
        .encoder("libx264", &[("preset", "ultrafast"), ("qp", "0")]);
    v.texture = 12;
    SyntheticClip::new(v).write(&source).unwrap();
    let original = std::fs::read(&source).unwrap();
    let paths = Paths {
        data_dir: dir.path().join("state"),
        config_dir: None,
        database: None,
    };
    let app = App::open(&paths).unwrap();
    app.add_root(&library).unwrap();
    app.set_transcode_root(&dir.path().join("transcode"))
        .unwrap();
    app.campaign(&library, None, &|_| {}).unwrap();
    let all = Selection {
        all: true,
        ..Default::default()
    };
    let stop = AtomicBool::new(false);
    let encoded = app
        .encode(&all, 1, None, &stop, &mediaforce::runner::Unreported)
        .unwrap();
    assert!(
        matches!(
            encoded[0].outcome,
            mediaforce::stage::StageOutcome::Staged { .. }
        ),
        "{:?}",
        encoded[0].outcome
    );
    app.validate(&all, &stop, &mediaforce::runner::Unreported, &mut |_, _| {})
        .unwrap()
        .verdict(&all, "validated")
        .unwrap();
    app.compare(
        &all,
        &[0.2, 1.2],
        1.0,
        &stop,
        &mediaforce::runner::Unreported,
        &mut |_, _| {},
    )
    .unwrap()
    .verdict(&all, "compared")
    .unwrap();
    let plan = app.catalog.latest_plan().unwrap().unwrap();
    let item = app.catalog.item(&plan.key, 0).unwrap().unwrap();
    let staged = std::fs::read(&item.staging).unwrap();
    app.web_set_password("correct horse").unwrap();

    let (addr, _runtime) = common::serve(&paths);
    let base = format!("http://{addr}");

    // Over HTTP: the item's view, and its artifacts by id with ranges.
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let (status, r) = code(
        agent
            .post(&format!("{base}/login"))
            .send_form(&[("password", "correct horse")]),
    );
    assert_eq!(status, 303);
    let session = r
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let get = |path: &str, range: Option<&str>| {
        let mut req = agent.get(&format!("{base}{path}")).set("cookie", &session);
        if let Some(r) = range {
            req = req.set("range", r);
        }
        code(req.call())
    };
    let (status, r) = get(&format!("/api/items/{}", item.id), None);
    assert_eq!(status, 200);
    let view: serde_json::Value = r.into_json().unwrap();
    assert_eq!(view["review"]["state"], "validated", "{view}");
    let ids = |kind: &str| -> Vec<i64> {
        view["review"]["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["kind"] == kind)
            .map(|a| a["id"].as_i64().unwrap())
            .collect()
    };
    let clips = ids("clip");
    assert_eq!(clips.len(), 2, "{view}");
    assert!(!ids("still").is_empty() && ids("plot").len() == 1, "{view}");
    let (status, r) = get(&format!("/artifacts/{}", clips[0]), Some("bytes=0-99"));
    assert_eq!(status, 206);
    assert_eq!(r.header("content-type"), Some("video/mp4"));
    let mut head = Vec::new();
    std::io::Read::read_to_end(&mut r.into_reader(), &mut head).unwrap();
    assert_eq!(head.len(), 100);
    assert_eq!(&head[4..8], b"ftyp", "an MP4 file");
    assert_eq!(get("/artifacts/999999", None).0, 404);
    for bad in ["..%2F..%2Fetc%2Fpasswd", "1%2F..", "-1"] {
        let c = get(&format!("/artifacts/{bad}"), None).0;
        assert!(c == 400 || c == 404, "{bad}: {c}");
    }
    // A row forged to name a file outside the review material is not served.
    let mut db = mediaforce::store::sql::Db::open(
        paths.data_dir.join("catalog.db").to_str().unwrap(),
        &mediaforce::catalog::SCHEMA,
    )
    .unwrap();
    db.execute(
        "INSERT INTO artifact (item_id, kind, path, bytes, created_at) VALUES (?1, 'still', '/etc/passwd', 1, 0)",
        &[item.id.into()],
    )
    .unwrap();
    let forged = db.query("SELECT MAX(id) FROM artifact", &[]).unwrap()[0].int(0);
    assert_eq!(get(&format!("/artifacts/{forged}"), None).0, 403);
    db.execute("DELETE FROM artifact WHERE id = ?1", &[forged.into()])
        .unwrap();

    // In the browser: the clips load and seek, the stills and the plot show, approve and
    // promote.
    let b = Browser::start();
    b.go(&format!("{base}/login"));
    b.type_into("#password", "correct horse");
    b.click("#sign-in");
    b.wait_for("return location.pathname", "/library".into());
    // The library links the item.
    b.click(&format!("a[href='/items/{}']", item.id));
    b.wait_for(
        "return location.pathname",
        format!("/items/{}", item.id).into(),
    );
    for c in &clips {
        b.wait_for(
            &format!("return document.getElementById('clip-{c}').readyState >= 1"),
            true.into(),
        );
    }
    let first = format!("document.getElementById('clip-{}')", clips[0]);
    b.eval(&format!("{first}.currentTime = 0.5; return 1"));
    b.wait_for(
        &format!("return {first}.seeking === false && Math.abs({first}.currentTime - 0.5) < 0.05"),
        true.into(),
    );
    b.wait_for(
        "return Array.from(document.querySelectorAll('img.still, #plot')).every(i => i.complete && i.naturalWidth > 0)",
        true.into(),
    );
    // The search that chose the knob: its probes and its choice, with the whole file's score.
    let probes = b.eval("return document.querySelectorAll('#search tr.probe').length");
    assert!(probes.as_u64().unwrap() >= 1, "{probes}");
    let chosen = b.eval("return document.querySelector('#search tr.chosen').textContent");
    let chosen = chosen.as_str().unwrap().to_string();
    let knob = app.catalog.last_encode(item.id).unwrap().unwrap().knob;
    assert!(chosen.contains(&format!("crf {knob}")), "{chosen}");
    assert!(chosen.contains("measured"), "{chosen}");
    b.screenshot("item");
    b.click("#approve");
    b.wait_for(
        "return document.getElementById('state').textContent.trim()",
        "validated · approved".into(),
    );
    let before = ureq::get(&format!("{base}/metrics"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        before.contains("mediaforce_promotions_total 0\n"),
        "{before}"
    );
    b.click("#promote");
    b.wait_for(
        "return document.getElementById('state').textContent.trim().startsWith('promoted')",
        true.into(),
    );
    b.screenshot("item-promoted");
    // On disk: the library file is the encode, and the original is kept.
    assert_eq!(std::fs::read(&source).unwrap(), staged, "swapped");
    let kept = walk(dir.path())
        .into_iter()
        .filter(|p| *p != source)
        .any(|p| std::fs::read(&p).is_ok_and(|b| b == original));
    assert!(kept, "the original is archived");

    // The Analytics page counts this promotion: the saving is the original's size less the
    // encode's, in the cards, the chart (one point for today) and the JSON export.
    let saved = original.len() as i64 - staged.len() as i64;
    let stats = app.stats("all").unwrap();
    assert_eq!(stats.saved.total_bytes, saved);
    assert_eq!((stats.saved.promotions, stats.saved.rollbacks), (1, 0));
    assert_eq!(stats.encoding.encodes, 1);
    assert_eq!(stats.quality.measured, 1);
    assert_eq!(stats.quality.met, 1, "{:?}", stats.quality);
    assert_eq!(stats.mix.now.codec[0].name, "h264");
    assert_eq!(stats.mix.before.codec[0].bytes, original.len() as i64);
    b.go(&format!("{base}/analytics?range=all"));
    b.wait_for(
        "return document.getElementById('saved-total').textContent",
        mediaforce_app::human_bytes(saved as u64).into(),
    );
    assert_eq!(
        b.eval("return document.querySelectorAll('#chart-saved svg circle').length"),
        1,
        "one day with a promotion"
    );
    assert_eq!(
        b.eval("return document.getElementById('quality').textContent"),
        "1/1"
    );
    b.screenshot("analytics");
    // The findings: one film, nothing to report.
    b.click("#findings");
    b.wait_for("return location.pathname", "/analytics/findings".into());
    assert_eq!(
        b.eval("return document.getElementById('no-duplicates').textContent"),
        "No duplicates."
    );
    b.go(&format!("{base}/analytics?range=all"));
    b.wait_for(
        "return document.getElementById('saved-total').textContent",
        mediaforce_app::human_bytes(saved as u64).into(),
    );
    for (i, y) in [900, 1800, 2700].iter().enumerate() {
        b.eval(&format!("window.scrollTo(0, {y}); return 1"));
        b.screenshot(&format!("analytics-{}", i + 2));
    }
    let text = b.eval(&format!(
        "const r = new XMLHttpRequest(); r.open('GET', '{base}/api/stats?range=all', false); r.send(); return r.responseText"
    ));
    let api: serde_json::Value = serde_json::from_str(text.as_str().unwrap()).unwrap();
    assert_eq!(api["saved"]["total_bytes"], saved);
    // GET /metrics: open from loopback, refused with an unknown token; the counters moved
    // with the promotion, and Prometheus's own checker takes the text.
    let metrics = ureq::get(&format!("{base}/metrics"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    let checked = promtool_check(&metrics);
    assert!(
        checked.status.success(),
        "promtool check metrics: {checked:?}\n{metrics}"
    );
    let open = ureq::get(&format!("{base}/metrics"))
        .set("accept", "application/openmetrics-text; version=1.0.0")
        .call()
        .unwrap();
    assert!(open
        .content_type()
        .starts_with("application/openmetrics-text"));
    let open = open.into_string().unwrap();
    assert!(open.trim_end().ends_with("# EOF"), "{open}");
    assert!(
        open.contains("# TYPE mediaforce_promotions counter"),
        "{open}"
    );
    assert!(
        metrics.contains(&format!("mediaforce_saved_bytes {saved}\n")),
        "{metrics}"
    );
    assert!(
        metrics.contains("mediaforce_promotions_total 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mediaforce_encodes_total{encoder=\"libx264\","),
        "{metrics}"
    );
    assert!(
        metrics.contains("# TYPE mediaforce_promotions_total counter\n"),
        "{metrics}"
    );
    let refused = common::code(
        ureq::get(&format!("{base}/metrics"))
            .set("authorization", "Bearer nonsense")
            .call(),
    );
    assert_eq!(refused.0, 401);
    b.go(&format!("{base}/items/{}", item.id));
    b.wait_for(
        "return document.getElementById('state').textContent.trim().startsWith('promoted')",
        true.into(),
    );

    // Roll back, then encode again at another target from the page: the staged encode is
    // discarded, the job carries the new target, and the encode it makes aims at it.
    let first = app.catalog.last_encode(item.id).unwrap().unwrap();
    b.click("#rollback");
    b.wait_for(
        "return document.getElementById('state').textContent.trim().startsWith('rolled')",
        true.into(),
    );
    assert_eq!(std::fs::read(&source).unwrap(), original, "rolled back");
    b.eval("document.getElementById('target-vmaf').value = '80'; return 1");
    b.click("#re-encode");
    b.wait_for(
        "return ((document.getElementById('message') || {}).textContent || '').includes('fresh encode')",
        true.into(),
    );
    b.screenshot("item-reencode");
    assert!(!item.staging.exists(), "the staged encode is discarded");
    let mut q = app.queue().unwrap();
    let job = q
        .list(Some(mediaforce::store::JobState::Queued), 10)
        .unwrap()
        .into_iter()
        .next()
        .expect("a queued job");
    assert_eq!(job.payload["target_vmaf"], 80.0, "{:?}", job.payload);
    let events = app.catalog.item_events(item.id).unwrap();
    assert!(
        events
            .iter()
            .any(|(_, k, d)| k == "re-encode" && d.as_deref().unwrap_or("").contains("80")),
        "{events:?}"
    );
    // The same item asked for again is the same live job, run here with its target.
    let again = app
        .encode(&all, 1, None, &stop, &mediaforce::runner::Unreported)
        .unwrap();
    assert!(
        matches!(
            again[0].outcome,
            mediaforce::stage::StageOutcome::Staged { .. }
        ),
        "{:?}",
        again[0].outcome
    );
    assert_eq!(
        q.job(job.id).unwrap().state,
        mediaforce::store::JobState::Done
    );
    let second = app.catalog.last_encode(item.id).unwrap().unwrap();
    assert!(
        second.knob > first.knob,
        "{} then {}",
        first.knob,
        second.knob
    );
    assert!(second.output_bytes < first.output_bytes);
    let predicted = second.predicted_vmaf.unwrap();
    assert!(
        (76.0..=84.0).contains(&predicted),
        "aimed at 80: {predicted}"
    );
}

/// `promtool check metrics` (from Debian's prometheus package; `scripts/install-deps.sh`
/// unpacks it into `target/tools`) on `text`.
fn promtool_check(text: &str) -> std::process::Output {
    use std::io::Write;
    let tool = std::env::var_os("MEDIAFORCE_PROMTOOL").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/tools/prometheus/usr/bin/promtool")
        },
        std::path::PathBuf::from,
    );
    let mut child = std::process::Command::new(&tool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (scripts/install-deps.sh unpacks promtool there)",
                tool.display()
            )
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}
