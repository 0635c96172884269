//! Sources that start at a non-zero time (MPEG program and transport streams, an MP4 whose
//! edit list delays it), with and without audio: the encode starts at zero with every stream
//! keeping its distance from the others, its container's duration is what plays, and
//! validation compares what plays, so the encode passes.

use mediaforce::core::probe::{probe, StreamKind};
use mediaforce::core::span::{main_of, played_spans};
use mediaforce::core::synth::{SyntheticAudio, SyntheticClip, SyntheticVideo};
use mediaforce::core::transcode::{transcode, TranscodeOptions};
use mediaforce::core::NoProgress;
use mediaforce::policy::PolicySet;

struct Case {
    name: &'static str,
    video: &'static str,
    audio: Option<&'static str>,
    /// A start the synthetic writer asks for (a transport stream's, the MP4 edit list's); the
    /// MPEG program stream muxer adds its own.
    start: f64,
}

fn check(case: &Case, dir: &std::path::Path) {
    let source = dir.join(case.name);
    let mut video = SyntheticVideo::new(160, 120, 48);
    video.start_seconds = case.start;
    if case.video == "mpeg2video" {
        video = video.encoder("mpeg2video", &[("b", "800k")]);
    }
    let mut clip = SyntheticClip::new(video);
    if let Some(a) = case.audio {
        clip.audio.push(SyntheticAudio::new(a, "eng"));
    }
    clip.write(&source).unwrap();

    let src_info = probe(&source).unwrap();
    let src_start = src_info.start_seconds.unwrap_or(0.0);
    assert!(
        src_start > 0.3,
        "{}: the source should start late, starts at {src_start}",
        case.name
    );
    let src_spans = played_spans(&source).unwrap();
    let sv = *main_of(&src_spans, StreamKind::Video).unwrap();
    assert_eq!(sv.packets, 48, "{}", case.name);

    let out = dir.join(format!("{}.mkv", case.name));
    let opts = TranscodeOptions::new("libx264")
        .option("preset", "ultrafast")
        .option("crf", 30);
    let report = transcode(&source, &out, &opts, &mut NoProgress).unwrap();
    assert_eq!(report.frames, 48, "{}", case.name);

    // The output starts at zero; every stream moved by the same amount.
    let out_spans = played_spans(&out).unwrap();
    let ov = *main_of(&out_spans, StreamKind::Video).unwrap();
    let first = out_spans
        .iter()
        .map(|s| s.first_seconds)
        .fold(f64::INFINITY, f64::min);
    assert!(
        first.abs() < 0.01,
        "{}: output starts at {first}",
        case.name
    );
    assert!(
        (ov.seconds() - sv.seconds()).abs() < 0.05,
        "{}: picture plays {} s, source {} s",
        case.name,
        ov.seconds(),
        sv.seconds()
    );
    if case.audio.is_some() {
        let sa = *main_of(&src_spans, StreamKind::Audio).unwrap();
        let oa = *main_of(&out_spans, StreamKind::Audio).unwrap();
        let (lead_src, lead_out) = (
            sa.first_seconds - sv.first_seconds,
            oa.first_seconds - ov.first_seconds,
        );
        assert!(
            (lead_src - lead_out).abs() < 0.002,
            "{}: audio led the picture by {lead_src} s, now {lead_out} s",
            case.name
        );
    }
    // The container's duration is what plays, not the source's offset added to it.
    let out_info = probe(&out).unwrap();
    let declared = out_info.duration_seconds.unwrap();
    let plays = out_spans
        .iter()
        .map(|s| s.end_seconds)
        .fold(0.0f64, f64::max);
    assert!(
        (declared - plays).abs() < 0.05,
        "{}: declares {declared} s, plays {plays} s",
        case.name
    );
    assert!(
        declared < src_start + sv.seconds() - 0.2,
        "{}: declares {declared} s, which still counts the source's {src_start} s offset",
        case.name
    );

    // Validation with the library's defaults passes what plays.
    let policy = PolicySet::load_from_env(None, dir).unwrap().defaults();
    let v = mediaforce::validate::validate(&source, &out, &policy, &mut NoProgress);
    for name in ["duration", "decode", "frames"] {
        let c = v.checks.iter().find(|c| c.name == name).unwrap();
        assert!(c.passed, "{}: {name}: {}", case.name, c.detail);
    }
    let plays_src = v.source_seconds.unwrap();
    assert!((plays_src - sv.seconds()).abs() < 1e-9);
}

#[test]
fn late_starting_sources_are_written_from_zero_and_validate() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        Case {
            name: "ps-audio.mpg",
            video: "mpeg2video",
            audio: Some("mp2"),
            start: 0.0,
        },
        Case {
            name: "ps.mpg",
            video: "mpeg2video",
            audio: None,
            start: 0.0,
        },
        // Written as FFmpeg writes transport streams: from 1.4 s.
        Case {
            name: "ts-audio.ts",
            video: "libx264",
            audio: Some("aac"),
            start: 1.4,
        },
        Case {
            name: "ts.ts",
            video: "libx264",
            audio: None,
            start: 1.4,
        },
        Case {
            name: "edit-audio.mp4",
            video: "libx264",
            audio: Some("aac"),
            start: 1.0,
        },
        Case {
            name: "edit.mp4",
            video: "libx264",
            audio: None,
            start: 1.0,
        },
    ];
    for case in &cases {
        check(case, dir.path());
    }
}

#[test]
fn a_late_starting_matroska_file_verifies_whole() {
    // Matroska written with the source's timestamps kept (as `-copyts` writes it, and as
    // mediaforce wrote late-starting sources before): its duration field counts from zero.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("late.mkv");
    let mut video = SyntheticVideo::new(160, 120, 48);
    video.start_seconds = 1.0;
    SyntheticClip::new(video).write(&path).unwrap();
    let info = probe(&path).unwrap();
    assert!(
        info.start_seconds.unwrap() > 0.9,
        "{:?}",
        info.start_seconds
    );
    let (report, outcome) = mediaforce::core::verify::verify_file(&path, 0);
    assert!(outcome.is_ok(), "{outcome:?} {report:?}");
    assert_eq!(report.frames, 48);
}
