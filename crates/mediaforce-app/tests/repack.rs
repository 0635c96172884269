//! Savings without a re-encode, through the application layer on both backends: a plan offers
//! a remux (an MPEG program stream) and an audio repack (an AVI with PCM audio) for files too
//! small to re-encode, the queue repacks them, validation compares every picture and audio
//! sample, nothing in the library changes before approval, and promotion archives the
//! originals.

use mediaforce::events::{Event, EventSink};
use mediaforce::manifest::{ItemKind, ManifestItem};
use mediaforce::runner::Reporter;
use mediaforce_app::{App, Paths, Selection};
use mediaforce_core::repack::{picture_prints, StreamAction};
use mediaforce_core::synth::{SyntheticAudio, SyntheticClip, SyntheticVideo};
use mediaforce_core::NoProgress;
use std::path::Path;
use std::sync::atomic::AtomicBool;

struct Quiet;

impl EventSink for Quiet {
    fn emit(&mut self, _event: Event) {}
}

impl Reporter for Quiet {
    fn item(&self, _item: &ManifestItem) -> Box<dyn EventSink + '_> {
        Box::new(Quiet)
    }
}

fn backends() -> Vec<(&'static str, Option<String>)> {
    let admin = std::env::var("MEDIAFORCE_TEST_DATABASE_URL").expect(
        "MEDIAFORCE_TEST_DATABASE_URL must name the test PostgreSQL cluster (scripts/test.sh starts one)",
    );
    let url =
        mediaforce_store::create_database(&admin, &format!("mf_app_repack_{}", std::process::id()))
            .unwrap();
    vec![("sqlite", None), ("postgres", Some(url))]
}

fn write_library(library: &Path) {
    std::fs::create_dir_all(library).unwrap();
    // An old rip: MPEG-4 Part 2 with B-frames in AVI, PCM and MP2 audio.
    let mut v = SyntheticVideo::new(176, 144, 48).encoder("mpeg4", &[("bf", "2"), ("b", "800k")]);
    v.gop = Some(24);
    let mut avi = SyntheticClip::new(v);
    avi.audio = vec![
        SyntheticAudio::new("pcm_s16le", "eng"),
        SyntheticAudio::new("mp2", "fra"),
    ];
    avi.write(&library.join("old.avi")).unwrap();
    // A tape transfer: MPEG-2 in a program stream that starts late.
    let mut v = SyntheticVideo::new(176, 144, 36).encoder("mpeg2video", &[("bf", "2")]);
    v.start_seconds = 0.7;
    let mut mpg = SyntheticClip::new(v);
    mpg.audio = vec![SyntheticAudio::new("mp2", "eng")];
    mpg.write(&library.join("tape.mpg")).unwrap();
    // Nothing to do: H.264 and AAC in Matroska.
    let mut fine = SyntheticClip::new(SyntheticVideo::new(176, 144, 24));
    fine.audio = vec![SyntheticAudio::new("aac", "eng")];
    fine.write(&library.join("fine.mkv")).unwrap();
}

#[test]
fn remux_and_audio_items_are_repacked_validated_and_promoted_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    std::env::set_var("MEDIAFORCE_CACHE_DIR", dir.path().join("cache"));
    for (backend, database) in backends() {
        let library = dir.path().join(format!("library-{backend}"));
        write_library(&library);
        let originals: Vec<(String, Vec<u8>)> = ["old.avi", "tape.mpg", "fine.mkv"]
            .iter()
            .map(|n| (n.to_string(), std::fs::read(library.join(n)).unwrap()))
            .collect();
        let paths = Paths {
            data_dir: dir.path().join(format!("state-{backend}")),
            config_dir: None,
            database,
        };
        let app = App::open(&paths).unwrap();
        app.add_root(&library).unwrap();
        app.set_transcode_root(&dir.path().join(format!("transcode-{backend}")))
            .unwrap();

        // The plan: the files are too small to re-encode, but two of them repack.
        let campaign = app.campaign(&library, None, &|_| {}).unwrap();
        let items = &campaign.plan.items;
        let by_name = |n: &str| {
            items
                .iter()
                .find(|i| i.source.ends_with(n))
                .unwrap_or_else(|| panic!("{backend}: {n} not planned: {items:#?}"))
        };
        assert_eq!(items.len(), 2, "{backend}: {items:#?}");
        let avi = by_name("old.avi");
        assert_eq!(avi.kind, ItemKind::Audio, "{backend}");
        assert_eq!(
            avi.streams.iter().map(|s| s.action).collect::<Vec<_>>(),
            [StreamAction::Copy, StreamAction::Opus, StreamAction::Copy],
            "{backend}: {:?}",
            avi.streams
        );
        assert!(avi.expected_saving_percent > 10.0, "{backend}: {avi:?}");
        assert!(avi.reason.contains("to Opus"), "{}", avi.reason);
        let mpg = by_name("tape.mpg");
        assert_eq!(mpg.kind, ItemKind::Remux, "{backend}");
        assert!(mpg.staging.extension().is_some_and(|e| e == "mkv"));
        assert!(campaign
            .plan
            .skipped
            .iter()
            .any(|s| s.source.ends_with("fine.mkv")));
        let explained = mediaforce_app::library::explain(mpg);
        assert!(explained.contains("Remux it"), "{explained}");
        let estimate = app
            .explain_estimate(Some(&campaign.manifest), avi.index)
            .unwrap()
            .lines();
        assert!(
            estimate[1].starts_with("estimated by the streams' declared bit rates")
                && estimate
                    .iter()
                    .any(|l| l.contains("pcm_s16le 2 ch") && l.contains("to Opus 96 kb/s")),
            "{estimate:#?}"
        );

        // Repacked by the queue, like an encode.
        let all = Selection {
            all: true,
            ..Default::default()
        };
        let stop = AtomicBool::new(false);
        let done = app.encode(&all, 1, None, &stop, &Quiet).unwrap();
        assert_eq!(done.len(), 2, "{backend}");
        for d in &done {
            let mediaforce::stage::StageOutcome::Repacked {
                staging,
                source_bytes,
                output_bytes,
                ..
            } = &d.outcome
            else {
                panic!("{backend}: {:?}", d.outcome);
            };
            assert!(staging.is_file(), "{backend}");
            assert!(output_bytes < source_bytes, "{backend}: {:?}", d.outcome);
        }

        let validated = app.validate(&all, &stop, &Quiet, &mut |_, _| {}).unwrap();
        assert_eq!(validated.done.len(), 2, "{backend}");
        for r in &validated.done {
            assert!(r.passed, "{backend}: {r:#?}");
            assert!(r.picture_copied);
            let check = |name: &str| {
                r.checks
                    .iter()
                    .find(|c| c.name == name)
                    .unwrap_or_else(|| panic!("{backend}: no {name} check"))
                    .clone()
            };
            assert!(
                check("pictures").detail.contains("pictures identical"),
                "{:?}",
                check("pictures")
            );
            assert!(check("audio").passed, "{:?}", check("audio"));
            assert!(r.vmaf.is_none(), "a copied picture is not scored");
        }
        // Nothing the user owns changed yet.
        for (name, bytes) in &originals {
            assert_eq!(
                &std::fs::read(library.join(name)).unwrap(),
                bytes,
                "{backend}: {name}"
            );
        }

        app.decide(&all, mediaforce::domain::Decision::Approved, false)
            .unwrap();
        let promoted = app.promote(&all).unwrap();
        assert_eq!(promoted.done.len(), 2, "{backend}: {promoted:?}");
        for m in &promoted.done {
            let moved = &m.outcome;
            let name = moved
                .original
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            let (_, bytes) = originals
                .iter()
                .find(|(n, _)| name.ends_with(n.as_str()))
                .unwrap_or_else(|| panic!("{backend}: archived as {name}"));
            assert_eq!(&std::fs::read(&moved.original).unwrap(), bytes, "{backend}");
            assert_eq!(
                moved.library.extension().and_then(|e| e.to_str()),
                Some("mkv"),
                "{backend}: {moved:?}"
            );
            // The library's new file shows the original's pictures.
            let a = picture_prints(&moved.original, &mut NoProgress).unwrap();
            let b = picture_prints(&moved.library, &mut NoProgress).unwrap();
            assert_eq!(a.len(), b.len(), "{backend}: {}", moved.library.display());
            for (x, y) in a.iter().zip(&b) {
                // Matroska keeps times to the millisecond.
                assert_eq!(x.digest, y.digest, "{backend}");
                assert!(
                    (x.seconds - y.seconds).abs() < 0.001,
                    "{backend}: {x:?} {y:?}"
                );
            }
            assert!(moved.saved_bytes > 0, "{backend}: {moved:?}");
        }
    }
}

#[test]
fn a_repack_whose_pictures_differ_fails_validation() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("a.mkv");
    let mut clip = SyntheticClip::new(SyntheticVideo::new(160, 96, 24));
    clip.audio = vec![SyntheticAudio::new("aac", "eng")];
    clip.write(&src).unwrap();
    // A lossy transcode posing as a remux.
    let out = dir.path().join("b.mkv");
    mediaforce_core::transcode::transcode(
        &src,
        &out,
        &mediaforce_core::transcode::TranscodeOptions::new("libx264").option("crf", 40),
        &mut NoProgress,
    )
    .unwrap();
    let r = mediaforce::validate::validate_repack(&src, &out, &[], &mut NoProgress);
    let pictures = r.checks.iter().find(|c| c.name == "pictures").unwrap();
    assert!(!r.passed && !pictures.passed, "{r:#?}");
    assert!(pictures.detail.contains("differs"), "{}", pictures.detail);
}
