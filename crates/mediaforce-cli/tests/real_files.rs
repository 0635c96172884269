//! What trying real files exposed (odd sizes, truncated and damaged sources, AVI timestamps),
//! each reproduced with generated media.

use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn mediaforce(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mediaforce"))
        .args(args)
        .env("SVT_LOG", "1")
        .output()
        .expect("run mediaforce");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(args: &[&str]) -> Value {
    let (code, out, err) = mediaforce(args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: {e}: {out}"))
}

/// An odd-sized 4:2:0 source, losslessly coded (FFV1 takes any size), so the only loss measured
/// is the encode under test.
fn odd_source(dir: &Path, w: u32, h: u32, frames: u32) -> PathBuf {
    let p = dir.join(format!("odd-{w}x{h}.mkv"));
    let mut v = SyntheticVideo::new(w, h, frames).encoder("ffv1", &[]);
    v.gop = Some(1);
    v.texture = 8;
    SyntheticClip::new(v).write(&p).unwrap();
    p
}

/// Fastest preset and a good-quality knob for each software encoder.
const ENCODERS: &[(&str, &str, &str)] = &[
    ("libx264", "ultrafast", "18"),
    ("libx265", "ultrafast", "18"),
    ("libsvtav1", "12", "20"),
    ("libaom-av1", "8", "20"),
    ("libvpx-vp9", "8", "20"),
    ("rav1e", "10", "60"),
];

#[test]
fn odd_sized_sources_encode_with_every_software_encoder() {
    let dir = tempfile::tempdir().unwrap();
    // Odd height (the DVD-rip case), odd width and height (a screen capture).
    for (w, h) in [(160u32, 91u32), (161, 97)] {
        let src = odd_source(dir.path(), w, h, 12);
        for (enc, preset, knob) in ENCODERS {
            let out = dir.path().join(format!("{enc}-{w}x{h}.mkv"));
            let v = json(&[
                "encode",
                src.to_str().unwrap(),
                out.to_str().unwrap(),
                "--encoder",
                enc,
                "--crf",
                knob,
                "--preset",
                preset,
                "--scale",
                "native",
                "--json",
            ]);
            // The one rule: crop the last column/row to the chroma grid for encoders that need
            // whole chroma samples; libaom and libvpx code odd sizes and get the whole picture.
            let whole = ["libaom-av1", "libvpx-vp9"].contains(enc);
            let (ew, eh) = if whole { (w, h) } else { (w & !1, h & !1) };
            let cropped = if whole {
                Value::Null
            } else {
                serde_json::json!([ew, eh])
            };
            assert_eq!(v["transcode"]["cropped_to"], cropped, "{enc} {w}x{h}: {v}");
            let info = json(&["probe", "--json", out.to_str().unwrap()]);
            assert_eq!(info[0]["streams"][0]["video"]["width"], ew, "{enc}");
            assert_eq!(info[0]["streams"][0]["video"]["height"], eh, "{enc}");
            assert_eq!(v["transcode"]["frames"], 12, "{enc}");
            // Scored against the reference cropped the same way: a good encode scores high
            // (scaling 91 rows onto 90 would blur every frame and cost points).
            let vmaf = v["vmaf"]["mean"].as_f64().unwrap();
            assert!(vmaf > 90.0, "{enc} {w}x{h}: VMAF {vmaf}");
            let s = json(&[
                "score",
                src.to_str().unwrap(),
                out.to_str().unwrap(),
                "--scale",
                "native",
                "--json",
            ]);
            assert_eq!(s["reference_cropped_to"], cropped, "{enc}");
            assert!((s["vmaf"]["mean"].as_f64().unwrap() - vmaf).abs() < 1e-6);
        }
    }
    // The search runs on odd sources too.
    let src = odd_source(dir.path(), 161, 97, 12);
    let v = json(&[
        "crf-search",
        src.to_str().unwrap(),
        "--encoder",
        "libsvtav1",
        "--preset",
        "12",
        "--target-vmaf",
        "85",
        "--scale",
        "native",
        "--no-cache",
        "--max-encoded-percent",
        "400",
        "--json",
    ]);
    assert_eq!(v["outcome"]["result"], "found", "{v}");
}

#[test]
fn encoder_refusals_name_the_file_and_say_why() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("444.mkv");
    let v = SyntheticVideo::new(160, 90, 4)
        .encoder("ffv1", &[])
        .pixel_format(mediaforce_core::ffmpeg_next::format::Pixel::YUV444P);
    SyntheticClip::new(v).write(&src).unwrap();
    let out = dir.path().join("out.mkv");
    // x264 refuses a profile that cannot carry 4:4:4, and says so only in its log.
    let (code, _, err) = mediaforce(&[
        "encode",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "--encoder",
        "libx264",
        "--opt",
        "profile=baseline",
    ]);
    assert_eq!(code, 1, "{err}");
    // x264 also prints its own line from inside the library; mediaforce's is the last one.
    let line = err.trim().lines().last().unwrap();
    assert!(line.starts_with("mediaforce: "), "{err}");
    assert!(
        line.contains(src.to_str().unwrap()),
        "names the file: {err}"
    );
    assert!(line.contains("libx264"), "names the encoder: {err}");
    assert!(
        line.contains("refused to open: Error setting profile baseline"),
        "quotes the encoder's own reason, not libav's generic code: {err}"
    );
    assert!(!out.exists());
}

/// A clip cut to its first half: the container header still declares the whole duration.
fn halved(dir: &Path, ext: &str) -> (PathBuf, PathBuf) {
    let whole = dir.join(format!("whole.{ext}"));
    let mut v = SyntheticVideo::new(160, 96, 150);
    v.fps = mediaforce_core::ffmpeg_next::Rational::new(25, 1);
    v.gop = Some(25);
    SyntheticClip::new(v).write(&whole).unwrap();
    let bytes = std::fs::read(&whole).unwrap();
    let cut = dir.join(format!("cut.{ext}"));
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    (whole, cut)
}

#[test]
fn a_truncated_matroska_file_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, cut) = halved(dir.path(), "mkv");
    let (code, out, err) = mediaforce(&["verify", whole.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok, 150 frames"), "{out}");
    let (code, out, err) = mediaforce(&["verify", cut.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(cut.to_str().unwrap()), "{err}");
    assert!(err.contains("ends early"), "{err}");
    assert!(err.contains("of 6.00 s declared"), "{err}");
    let (_, out, _) = mediaforce(&["verify", "--json", cut.to_str().unwrap()]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["ok"], false);
    let end = v[0]["decoded_seconds"].as_f64().unwrap();
    assert!(end > 1.0 && end < 4.5, "{v}");
    assert_eq!(v[0]["declared_seconds"], 6.0);

    // Matroska skips a damaged cluster without an error: the hole in the timestamps shows it.
    let holed = damaged(dir.path(), "mkv");
    let (code, out, err) = mediaforce(&["verify", holed.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("part of the file is missing"), "{err}");
}

/// A clip whose middle packets are overwritten with noise (in MP4, sizes and index stay
/// intact, so the decoder meets the damage; in Matroska the demuxer skips the cluster).
fn damaged(dir: &Path, ext: &str) -> PathBuf {
    let p = dir.join(format!("clip.{ext}"));
    let mut v = SyntheticVideo::new(160, 96, 48);
    v.gop = Some(12);
    SyntheticClip::new(v).write(&p).unwrap();
    let mut bytes = std::fs::read(&p).unwrap();
    let mid = bytes.len() / 2;
    let mut x: u32 = 12345;
    for b in &mut bytes[mid..mid + 3000] {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 16) as u8;
    }
    let c = dir.join(format!("damaged.{ext}"));
    std::fs::write(&c, &bytes).unwrap();
    c
}

#[test]
fn damaged_sources_are_reported_by_every_command_that_decodes_them() {
    let dir = tempfile::tempdir().unwrap();
    let src = damaged(dir.path(), "mp4");
    let s = src.to_str().unwrap();
    let out = dir.path().join("out.mkv");
    let o = out.to_str().unwrap();
    let (code, stdout, err) = mediaforce(&[
        "encode",
        s,
        o,
        "--encoder",
        "libx264",
        "--crf",
        "20",
        "--preset",
        "ultrafast",
        "--no-verify",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning:") && err.contains(s), "{err}");
    assert!(err.contains("damaged"), "{err}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let n = v["transcode"]["decode_errors"].as_u64().unwrap();
    assert!(n > 0, "{v}");
    let at = v["transcode"]["decode_error_seconds"].as_array().unwrap();
    assert!(!at.is_empty() && at[0].as_f64().unwrap() > 0.2, "{v}");

    let (code, stdout, err) = mediaforce(&["score", s, o, "--scale", "native", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning:") && err.contains(s), "{err}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert!(v["reference_decode_errors"].as_u64().unwrap() > 0, "{v}");

    let (code, stdout, err) = mediaforce(&[
        "crf-search",
        s,
        "--encoder",
        "libx264",
        "--preset",
        "ultrafast",
        "--target-vmaf",
        "80",
        "--scale",
        "native",
        "--no-cache",
        "--max-encoded-percent",
        "400",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("warning:") && err.contains(s), "{err}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert!(v["source_decode_errors"].as_u64().unwrap() > 0, "{v}");
}

/// MPEG-4 Part 2 in AVI at an NTSC-style rate with B-frames, like old DivX/Xvid rips.
fn avi_source(dir: &Path) -> PathBuf {
    let p = dir.join("old.avi");
    let mut v = SyntheticVideo::new(176, 144, 48).encoder("mpeg4", &[("bf", "2"), ("b", "1500k")]);
    v.fps = mediaforce_core::ffmpeg_next::Rational::new(2997, 125);
    v.gop = Some(30);
    SyntheticClip::new(v).write(&p).unwrap();
    p
}

#[test]
fn avi_sources_with_b_frames_encode_with_every_software_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let src = avi_source(dir.path());
    let info = json(&["probe", "--json", src.to_str().unwrap()]);
    assert_eq!(info[0]["container"], "avi");
    for (enc, preset, knob) in ENCODERS {
        let out = dir.path().join(format!("{enc}.mkv"));
        let v = json(&[
            "encode",
            src.to_str().unwrap(),
            out.to_str().unwrap(),
            "--encoder",
            enc,
            "--crf",
            knob,
            "--preset",
            preset,
            "--no-verify",
            "--json",
        ]);
        assert_eq!(v["transcode"]["frames"], 48, "{enc}: {v}");
        let (code, stdout, err) = mediaforce(&["verify", out.to_str().unwrap()]);
        assert_eq!(code, 0, "{enc}: {stdout}{err}");
        assert!(stdout.contains("ok, 48 frames"), "{enc}: {stdout}");
    }
}

#[test]
fn encode_to_a_target_it_cannot_reach_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.mkv");
    SyntheticClip::new(SyntheticVideo::new(192, 108, 12))
        .write(&src)
        .unwrap();
    let out = dir.path().join("out.mkv");
    let (code, _, err) = mediaforce(&[
        "encode",
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        "--encoder",
        "libx264",
        "--preset",
        "ultrafast",
        "--target-vmaf",
        "95",
        "--min-crf",
        "48",
        "--max-crf",
        "51",
        "--scale",
        "native",
        "--no-cache",
    ]);
    assert_eq!(code, 1, "{err}");
    let line = err.trim().lines().last().unwrap();
    assert!(line.contains(src.to_str().unwrap()), "{err}");
    assert!(
        line.contains("nothing written: no crf in 48..=51 reached VMAF 95"),
        "{err}"
    );
    assert!(!out.exists());
}

#[test]
fn completions_man_pages_and_help_text() {
    let (code, out, err) = mediaforce(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("_mediaforce()") && out.contains("crf-search"),
        "{out}"
    );
    let (code, out, _) = mediaforce(&["completions", "zsh"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("#compdef mediaforce"), "{out}");
    let (code, out, _) = mediaforce(&["man"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(".TH mediaforce 1") && out.contains("crf\\-search"),
        "{out}"
    );
    let dir = tempfile::tempdir().unwrap();
    let (code, _, err) = mediaforce(&["man", "--out-dir", dir.path().to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let page = std::fs::read_to_string(dir.path().join("mediaforce-crf-search.1")).unwrap();
    assert!(page.contains("\\-\\-target\\-vmaf"), "{page}");
    let (_, help, _) = mediaforce(&["demo", "--help"]);
    assert!(!help.contains("bisection"), "{help}");
    assert!(help.contains("in-memory samples"), "{help}");

    // `serve --help` says it serves the web page, not only the transfer endpoint.
    let (code, help, _) = mediaforce(&["serve", "--help"]);
    assert_eq!(code, 0);
    assert!(help.contains("web page"), "{help}");
    assert!(help.contains("web-password"), "{help}");
    // The subcommands are listed in groups, each under one heading, in the groups' order.
    let (code, help, _) = mediaforce(&["--help"]);
    assert_eq!(code, 0);
    let headings = [
        "Library: what it holds and what to do with it:",
        "Encode, check and promote:",
        "Jobs and hosts:",
        "Service:",
        "Media tools:",
        "Quality tuning:",
        "Setup:",
    ];
    let at: Vec<usize> = headings
        .iter()
        .map(|h| help.find(h).unwrap_or_else(|| panic!("no {h:?} in {help}")))
        .collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "{help}");
    let section = |name: &str| -> usize {
        let line = help
            .lines()
            .position(|l| l.trim_start().starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name} not listed: {help}"));
        let offset: usize = help.lines().take(line).map(|l| l.len() + 1).sum();
        at.iter().filter(|a| **a < offset).count()
    };
    assert_eq!(section("scan"), 1);
    assert_eq!(section("promote"), 2);
    assert_eq!(section("worker"), 3);
    assert_eq!(section("serve"), 4);
    assert_eq!(section("crf-search"), 5);
    assert_eq!(section("ladder"), 6);
    assert_eq!(section("completions"), 7);
    assert!(!help.contains("Commands:"), "one flat list: {help}");
    // `help` still works, and so do the global options.
    assert!(help.contains("--data-dir"), "{help}");
}
