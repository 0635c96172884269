//! Chunked encodes on generated films: split at the scenes, encoded chunk by chunk, joined
//! with the source's timestamps (variable frame rate kept), audio in sync, every frame there.

use mediaforce_core::chunk::{check_join, chunks_of, encode_chunk, join_chunks};
use mediaforce_core::decode::{DecodeOptions, VideoDecoder};
use mediaforce_core::ffmpeg_next as ff;
use mediaforce_core::probe::StreamKind;
use mediaforce_core::repack::audio_samples;
use mediaforce_core::scenes::{detect_scenes, SceneOptions};
use mediaforce_core::span::{main_of, played_spans};
use mediaforce_core::synth::{SyntheticAudio, SyntheticClip, SyntheticVideo};
use mediaforce_core::transcode::TranscodeOptions;
use mediaforce_core::NoProgress;
use std::path::{Path, PathBuf};

/// A film of four shots at a variable frame rate, with audio in two languages and chapters.
fn film(path: &Path) {
    let mut v = SyntheticVideo::new(192, 108, 160);
    v.variable_frame_rate = true;
    v.looks = vec![(0, 0), (40, 1), (90, 2), (120, 3)];
    let mut clip = SyntheticClip::new(v);
    clip.audio = vec![
        SyntheticAudio::new("aac", "eng"),
        SyntheticAudio::new("ac3", "fra"),
    ];
    clip.chapters = vec![(0.0, 2.0, "One".into()), (2.0, 4.0, "Two".into())];
    clip.write(path).unwrap();
}

fn chunked(src: &Path, dir: &Path, options: &TranscodeOptions, name: &str) -> (PathBuf, usize) {
    let scenes = detect_scenes(src, &SceneOptions::default(), &mut NoProgress).unwrap();
    assert_eq!(scenes.scenes.len(), 4, "{scenes:#?}");
    let specs = chunks_of(&scenes.scenes, scenes.first_seconds, 0.5);
    assert!(specs.len() >= 3, "{specs:?}");
    let mut files = Vec::new();
    for spec in &specs {
        let out = dir.join(format!("{name}-{}.nut", spec.index));
        // Each chunk at its own knob, as per-scene allocation gives them.
        let options = options.clone().option("crf", 20 + 5 * spec.index);
        let r = encode_chunk(src, &out, spec, &options, &mut NoProgress).unwrap();
        assert_eq!(r.frames, spec.frames);
        files.push(out);
    }
    let joined = dir.join(format!("{name}.mkv"));
    join_chunks(src, &files, &joined, &options.encoder).unwrap();
    (joined, specs.len())
}

fn assert_whole(src: &Path, joined: &Path) {
    let check = check_join(src, joined, &mut NoProgress).unwrap();
    assert!(check.passed, "{check:?}");
    assert_eq!((check.source_frames, check.output_frames), (160, 160));
    // Audio: every sample there, and starting where it did against the picture.
    let (a, b) = (audio_samples(src).unwrap(), audio_samples(joined).unwrap());
    assert_eq!(
        a.iter()
            .map(|t| (t.samples, t.language.clone()))
            .collect::<Vec<_>>(),
        b.iter()
            .map(|t| (t.samples, t.language.clone()))
            .collect::<Vec<_>>()
    );
    let (sa, sb) = (played_spans(src).unwrap(), played_spans(joined).unwrap());
    let lead = |s: &[mediaforce_core::span::StreamSpan]| {
        let v = main_of(s, StreamKind::Video).unwrap().first_seconds;
        s.iter()
            .filter(|x| x.kind == StreamKind::Audio)
            .map(|x| x.first_seconds - v)
            .collect::<Vec<f64>>()
    };
    for (x, y) in lead(&sa).iter().zip(lead(&sb)) {
        assert!(
            (x - y).abs() < 0.005,
            "audio starts {x} vs {y} from the picture"
        );
    }
    // Every picture is the source's (as a lossy encode shows it): no chunk decodes with
    // another's headers into garbage, no frame is shifted at a seam.
    let thumbs = |p: &Path| -> Vec<Vec<u8>> {
        let o = DecodeOptions::default()
            .pixel_format(ff::format::Pixel::GRAY8)
            .size(64, 36);
        VideoDecoder::open(p, o)
            .unwrap()
            .map(|f| {
                let f = f.unwrap().frame;
                (0..36)
                    .flat_map(|y| f.data(0)[y * f.stride(0)..y * f.stride(0) + 64].to_vec())
                    .collect()
            })
            .collect()
    };
    let (ta, tb) = (thumbs(src), thumbs(joined));
    for (i, (x, y)) in ta.iter().zip(&tb).enumerate() {
        let d: f64 = x
            .iter()
            .zip(y)
            .map(|(p, q)| f64::from(p.abs_diff(*q)))
            .sum::<f64>()
            / x.len() as f64;
        assert!(d < 8.0, "frame {i} differs from the source's by {d:.1}");
    }
    let info = mediaforce_core::probe(joined).unwrap();
    assert_eq!(info.chapters.len(), 2);
    assert!(info.streams[0].video.as_ref().unwrap().variable_frame_rate);
}

#[test]
fn x264_chunks_join_into_the_whole_film_with_its_timing() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("film.mkv");
    film(&src);
    // veryfast: B-frames, so each chunk's first decode time is before its first frame (the
    // first chunk's below zero, which a container would otherwise move).
    let options = TranscodeOptions::new("libx264").option("preset", "veryfast");
    let (joined, _) = chunked(&src, dir.path(), &options, "x264");
    assert_whole(&src, &joined);
}

#[test]
fn svt_av1_chunks_join_into_the_whole_film_with_its_timing() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("film.mkv");
    film(&src);
    let options = TranscodeOptions::new("libsvtav1").option("preset", 12);
    let (joined, _) = chunked(&src, dir.path(), &options, "av1");
    assert_whole(&src, &joined);
}

#[test]
fn a_join_missing_a_chunk_fails_its_check() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("film.mkv");
    film(&src);
    let scenes = detect_scenes(&src, &SceneOptions::default(), &mut NoProgress).unwrap();
    let specs = chunks_of(&scenes.scenes, scenes.first_seconds, 0.5);
    let options = TranscodeOptions::new("libx264").option("preset", "ultrafast");
    let files: Vec<PathBuf> = specs
        .iter()
        .filter(|s| s.index != 1)
        .map(|s| {
            let out = dir.path().join(format!("c{}.nut", s.index));
            encode_chunk(&src, &out, s, &options, &mut NoProgress).unwrap();
            out
        })
        .collect();
    let joined = dir.path().join("holed.mkv");
    join_chunks(&src, &files, &joined, "libx264").unwrap();
    let check = check_join(&src, &joined, &mut NoProgress).unwrap();
    assert!(!check.passed, "{check:?}");
    assert!(
        check.detail.contains("source 160 frames"),
        "{}",
        check.detail
    );
}
