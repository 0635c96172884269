//! One item's whole life through the application layer (not the binary), on both backends:
//! the search configuration a command gets, encode (with the run's one event stream heard by a
//! reporter and stored in the job's log), validate, compare, review, approve, promote and roll
//! back, with the library file checked on disk at each swap.

use mediaforce::events::{Event, EventSink};
use mediaforce::manifest::ManifestItem;
use mediaforce::runner::Reporter;
use mediaforce_app::search::SearchRequest;
use mediaforce_app::{App, Paths, Selection};
use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};

/// Every event of every item, by kind, in order.
#[derive(Default, Clone)]
struct Heard(Arc<Mutex<Vec<Event>>>);

struct Sink(Arc<Mutex<Vec<Event>>>);

impl EventSink for Sink {
    fn emit(&mut self, event: Event) {
        self.0.lock().unwrap().push(event);
    }
}

impl Reporter for Heard {
    fn item(&self, _item: &ManifestItem) -> Box<dyn EventSink + '_> {
        Box::new(Sink(self.0.clone()))
    }
}

impl Heard {
    fn kinds(&self) -> Vec<&'static str> {
        let mut k: Vec<&'static str> = self.0.lock().unwrap().iter().map(Event::kind).collect();
        k.dedup();
        k
    }

    fn take(&self) -> Vec<Event> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

fn backends() -> Vec<(&'static str, Option<String>)> {
    let admin = std::env::var("MEDIAFORCE_TEST_DATABASE_URL").expect(
        "MEDIAFORCE_TEST_DATABASE_URL must name the test PostgreSQL cluster (scripts/test.sh starts one)",
    );
    let url = mediaforce_store::create_database(
        &admin,
        &format!("mf_app_lifecycle_{}", std::process::id()),
    )
    .unwrap();
    vec![("sqlite", None), ("postgres", Some(url))]
}

#[test]
fn an_item_is_encoded_validated_compared_approved_promoted_and_rolled_back_on_both_backends() {
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
    for (backend, database) in backends() {
        let library = dir.path().join(format!("library-{backend}"));
        std::fs::create_dir_all(&library).unwrap();
        let source = library.join("film.mkv");
        let mut v = SyntheticVideo::new(320, 180, 72)
            .encoder("libx264", &[("preset", "ultrafast"), ("qp", "0")]);
        v.texture = 12;
        SyntheticClip::new(v).write(&source).unwrap();
        let original = std::fs::read(&source).unwrap();
        let paths = Paths {
            data_dir: dir.path().join(format!("state-{backend}")),
            config_dir: None,
            database,
        };
        let app = App::open(&paths).unwrap();
        app.add_root(&library).unwrap();
        app.set_transcode_root(&dir.path().join(format!("transcode-{backend}")))
            .unwrap();

        // The search a command gets: the file's policy, then what it asked for.
        let policy = app
            .search_config(&source, &SearchRequest::default())
            .unwrap();
        assert_eq!(
            (
                policy.encoder.as_str(),
                policy.preset.as_deref(),
                policy.target
            ),
            ("libx264", Some("ultrafast"), 92.0),
            "{backend}"
        );
        assert!(
            policy.cache.is_some() && policy.start_knob.is_some(),
            "{backend}"
        );
        let mut asked = SearchRequest {
            cache: false,
            ..Default::default()
        };
        asked.overrides.encoder = Some("libx265".into());
        asked.overrides.target = Some(96.0);
        let other = app.search_config(&source, &asked).unwrap();
        assert_eq!(
            (
                other.encoder.as_str(),
                other.preset.as_deref(),
                other.target
            ),
            ("libx265", None, 96.0),
            "{backend}: another encoder does not take the policy's preset"
        );
        assert!(other.cache.is_none(), "{backend}");
        let missing = app
            .search_config(&library.join("nope.mkv"), &SearchRequest::default())
            .unwrap_err();
        assert_eq!(
            missing.kind,
            mediaforce_app::ErrorKind::Invalid,
            "{backend}"
        );
        assert!(missing.message.contains("nope.mkv"), "{}", missing.message);

        app.campaign(&library, None, &|_| {}).unwrap();
        let all = Selection {
            all: true,
            ..Default::default()
        };
        let stop = AtomicBool::new(false);
        let heard = Heard::default();
        let encoded = app.encode(&all, 1, None, &stop, &heard).unwrap();
        let mediaforce::stage::StageOutcome::Staged {
            staging,
            measured_vmaf,
            ..
        } = &encoded[0].outcome
        else {
            panic!("{backend}: {:?}", encoded[0].outcome);
        };
        assert!(measured_vmaf.is_some_and(|v| v >= 92.0), "{backend}");
        assert!(staging.is_file(), "{backend}: {}", staging.display());
        let kinds = heard.kinds();
        assert_eq!(kinds.first(), Some(&"item_started"), "{backend}: {kinds:?}");
        assert_eq!(kinds.last(), Some(&"item_finished"), "{backend}: {kinds:?}");
        for k in [
            "samples_placed",
            "probe_started",
            "probe_scored",
            "frames_done",
        ] {
            assert!(kinds.contains(&k), "{backend}: {k} missing from {kinds:?}");
        }
        let events = heard.take();
        let scored = events
            .iter()
            .filter(|e| matches!(e, Event::ProbeScored { .. }))
            .count();
        assert!(scored >= 1, "{backend}");
        assert!(
            matches!(events.last(), Some(Event::ItemFinished { outcome, .. }) if outcome == "staged"),
            "{backend}: {:?}",
            events.last()
        );
        // The same stream is in the job's log, where the web page and other hosts read it.
        let job = app.jobs_list(Some("done"), 10).unwrap()[0].id;
        let logged: Vec<String> = app
            .job_events(job)
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        for k in ["item_started", "probe_scored", "state_changed"] {
            assert!(
                logged.iter().any(|l| l == k),
                "{backend}: {k} not in {logged:?}"
            );
        }
        assert_eq!(
            logged.iter().filter(|l| *l == "probe_scored").count(),
            scored,
            "{backend}: every scored probe logged once"
        );

        let validated = app.validate(&all, &stop, &heard, &mut |_, _| {}).unwrap();
        assert!(
            validated.done[0].passed,
            "{backend}: {:?}",
            validated.done[0]
        );
        let scored_frames = heard.take().into_iter().any(|e| {
            matches!(e, Event::FramesDone { label, frames, .. } if label == "score" && frames > 0)
        });
        assert!(scored_frames, "{backend}: validation reports its scoring");
        let compared = app
            .compare(&all, &[0.5], 1.0, &stop, &heard, &mut |_, _| {})
            .unwrap();
        assert_eq!(compared.done[0].clips.len(), 1, "{backend}");
        let review = app.review(&all).unwrap();
        assert!(review[0].text.contains("film.mkv"), "{}", review[0].text);

        // Promotion needs approval; then the library holds the encode and the original is
        // kept; a rollback puts the original back byte for byte.
        assert!(app.promote(&all).unwrap().done.is_empty(), "{backend}");
        app.decide(&all, mediaforce::domain::Decision::Approved, false)
            .unwrap();
        let promoted = app.promote(&all).unwrap();
        let moved = &promoted.done[0].outcome;
        assert_eq!(moved.library, source, "{backend}");
        assert_eq!(
            std::fs::read(&moved.original).unwrap(),
            original,
            "{backend}"
        );
        assert_ne!(std::fs::read(&source).unwrap(), original, "{backend}");
        assert!(moved.saved_bytes > 0, "{backend}: {moved:?}");
        let rolled = app.rollback(&all).unwrap();
        assert_eq!(rolled.done.len(), 1, "{backend}");
        assert_eq!(std::fs::read(&source).unwrap(), original, "{backend}");
    }
}
