//! Repacking on generated files: a remux keeps every picture, time and audio sample; an audio
//! conversion keeps the duration and the kept tracks' languages.

use mediaforce_core::probe::StreamKind;
use mediaforce_core::repack::{audio_samples, picture_prints, repack, RepackOptions, StreamAction};
use mediaforce_core::synth::{SyntheticAudio, SyntheticClip, SyntheticVideo};
use mediaforce_core::{probe, NoProgress};
use std::path::Path;

/// Every picture of `b` equals `a`'s, at the same time (to the millisecond).
fn assert_same_pictures(a: &Path, b: &Path) -> usize {
    let pa = picture_prints(a, &mut NoProgress).unwrap();
    let pb = picture_prints(b, &mut NoProgress).unwrap();
    assert_eq!(
        pa.len(),
        pb.len(),
        "picture count {} vs {}",
        a.display(),
        b.display()
    );
    for (i, (x, y)) in pa.iter().zip(&pb).enumerate() {
        assert_eq!(x.digest, y.digest, "picture {i} differs");
        assert!(
            (x.seconds - y.seconds).abs() < 0.001,
            "picture {i}: {} s vs {} s",
            x.seconds,
            y.seconds
        );
    }
    pa.len()
}

fn langs(path: &Path, kind: StreamKind) -> Vec<String> {
    probe(path)
        .unwrap()
        .streams_of(kind)
        .map(|s| s.language.clone().unwrap_or_default())
        .collect()
}

#[test]
fn an_avi_remuxed_to_matroska_keeps_every_picture_time_and_audio_sample() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("old.avi");
    let mut clip = SyntheticClip::new(SyntheticVideo::new(176, 144, 48).encoder("mpeg4", &[]));
    clip.audio = vec![
        SyntheticAudio::new("pcm_s16le", "eng"),
        SyntheticAudio::new("mp2", "fra"),
    ];
    clip.write(&src).unwrap();
    let out = dir.path().join("old.mkv");
    let r = repack(&src, &out, &RepackOptions::default(), &mut NoProgress).unwrap();
    assert_eq!(
        (r.streams_copied, r.audio_converted, r.streams_dropped),
        (3, 0, 0)
    );
    assert_eq!(r.video_packets, 48);
    assert_eq!(probe(&out).unwrap().container, "matroska,webm");
    assert_eq!(assert_same_pictures(&src, &out), 48);
    let (a, b) = (audio_samples(&src).unwrap(), audio_samples(&out).unwrap());
    assert_eq!(a.len(), 2);
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(
            (x.samples, &x.codec),
            (y.samples, &y.codec),
            "{x:?} vs {y:?}"
        );
        assert!(x.samples > 80_000, "two seconds of sound: {x:?}");
    }
    // AVI keeps no language tags; the order and codecs are what must hold.
    assert_eq!(
        b.iter().map(|t| t.codec.as_str()).collect::<Vec<_>>(),
        ["pcm_s16le", "mp2"]
    );
    // The source is untouched and no partial file is left beside the output.
    assert!(src.is_file());
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partial"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn an_avi_with_b_frames_at_an_ntsc_rate_keeps_its_picture_order_and_times() {
    // Like old DivX/Xvid rips: AVI stores decode order without presentation times.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("rip.avi");
    let mut v = SyntheticVideo::new(176, 144, 48).encoder("mpeg4", &[("bf", "2"), ("b", "1500k")]);
    v.fps = mediaforce_core::ffmpeg_next::Rational::new(2997, 125);
    v.gop = Some(30);
    let mut clip = SyntheticClip::new(v);
    clip.audio = vec![SyntheticAudio::new("mp2", "eng")];
    clip.write(&src).unwrap();
    let out = dir.path().join("rip.mkv");
    repack(&src, &out, &RepackOptions::default(), &mut NoProgress).unwrap();
    assert_eq!(assert_same_pictures(&src, &out), 48);
    let (a, b) = (audio_samples(&src).unwrap(), audio_samples(&out).unwrap());
    assert_eq!(a[0].samples, b[0].samples);
}

#[test]
fn an_mpeg_program_stream_that_starts_late_is_remuxed_from_zero_with_its_pictures() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("tape.mpg");
    let mut v = SyntheticVideo::new(176, 144, 36).encoder("mpeg2video", &[("bf", "2")]);
    v.start_seconds = 1.4;
    let mut clip = SyntheticClip::new(v);
    clip.audio = vec![SyntheticAudio::new("mp2", "eng")];
    clip.write(&src).unwrap();
    let out = dir.path().join("tape.mkv");
    repack(&src, &out, &RepackOptions::default(), &mut NoProgress).unwrap();
    assert_eq!(assert_same_pictures(&src, &out), 36);
    let (a, b) = (audio_samples(&src).unwrap(), audio_samples(&out).unwrap());
    assert_eq!(a[0].samples, b[0].samples);
    let first = mediaforce_core::decode::VideoDecoder::open(&out, Default::default())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert!(first.seconds < 0.2, "starts near zero: {}", first.seconds);
}

#[test]
fn a_variable_rate_source_keeps_its_timing_through_a_remux() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("vfr.mp4");
    let mut v = SyntheticVideo::new(160, 96, 30);
    v.variable_frame_rate = true;
    SyntheticClip::new(v).write(&src).unwrap();
    let out = dir.path().join("vfr.mkv");
    repack(&src, &out, &RepackOptions::default(), &mut NoProgress).unwrap();
    assert_eq!(assert_same_pictures(&src, &out), 30);
}

#[test]
fn audio_converts_to_opus_and_drops_as_told_keeping_duration_and_languages() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("film.mkv");
    let mut clip = SyntheticClip::new(SyntheticVideo::new(160, 96, 48));
    clip.audio = vec![
        SyntheticAudio::new("pcm_s16le", "eng"),
        SyntheticAudio::new("flac", "deu"),
        SyntheticAudio::new("ac3", "fra"),
    ];
    clip.write(&src).unwrap();
    let options = RepackOptions {
        actions: [(1, StreamAction::Opus), (2, StreamAction::Drop)].into(),
        ..Default::default()
    };
    let out = dir.path().join("film.repacked.mkv");
    let r = repack(&src, &out, &options, &mut NoProgress).unwrap();
    assert_eq!(
        (r.streams_copied, r.audio_converted, r.streams_dropped),
        (2, 1, 1)
    );
    assert!(r.output_bytes < r.input_bytes, "{r:?}");
    assert_eq!(langs(&out, StreamKind::Audio), ["eng", "fra"]);
    let codecs: Vec<String> = probe(&out)
        .unwrap()
        .streams_of(StreamKind::Audio)
        .map(|s| s.codec.clone())
        .collect();
    assert_eq!(codecs, ["opus", "ac3"]);
    assert_eq!(assert_same_pictures(&src, &out), 48);
    let (a, b) = (audio_samples(&src).unwrap(), audio_samples(&out).unwrap());
    assert!(
        (a[0].seconds() - b[0].seconds()).abs() < 0.05,
        "converted track keeps its duration: {:?} vs {:?}",
        a[0],
        b[0]
    );
    assert_eq!(
        a[2].samples, b[1].samples,
        "the copied track is sample-exact"
    );
    // Only audio converts to Opus.
    let bad = RepackOptions {
        actions: [(0, StreamAction::Opus)].into(),
        ..Default::default()
    };
    let e = repack(&src, &dir.path().join("bad.mkv"), &bad, &mut NoProgress).unwrap_err();
    assert!(e.to_string().contains("only audio converts"), "{e}");
    assert!(!dir.path().join("bad.mkv").exists());
}
