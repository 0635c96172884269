//! `mediaforce scenes`: a generated film of distinct shots with flashes, listed once by
//! decoding and then from the store; a bad file gets a one-line error naming it.

use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

#[allow(dead_code)] // this test uses one helper of the shared module
mod common;
use common::walk;

fn mediaforce(data: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mediaforce"))
        .args(args)
        .env("MEDIAFORCE_DATA_DIR", data)
        .env("SVT_LOG", "1")
        .output()
        .expect("run mediaforce");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn scenes_are_listed_with_times_and_frames_then_read_from_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state");
    let film = dir.path().join("film.mkv");
    let mut v = SyntheticVideo::new(192, 108, 180);
    v.looks = vec![(0, 0), (48, 2), (120, 1)];
    v.flashes = vec![80];
    SyntheticClip::new(v).write(&film).unwrap();
    let f = film.to_str().unwrap();

    let (code, out, err) = mediaforce(&data, &["scenes", f, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let starts: Vec<(u64, &str)> = v["scenes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["start_frame"].as_u64().unwrap(),
                s["start"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(starts, [(0, "start"), (48, "cut"), (120, "cut")], "{v}");
    assert_eq!(v["flashes"], serde_json::json!([80]));
    assert_eq!(v["frames"], 180);
    assert_eq!(v["cached"], false);
    assert_eq!(v["scenes"][1]["start_seconds"], 2.0);

    // Asked again: from the store, the same scenes; in words, a table.
    let (code, out, err) = mediaforce(&data, &["scenes", f]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("180 frames, 3 scenes, 1 flash(es) not cut at (frames 80) (from the store)"),
        "{out}"
    );
    assert!(
        out.lines().any(|l| l.contains("2.000")
            && l.contains("5.000")
            && l.contains("48-119")
            && l.contains("cut")),
        "{out}"
    );

    // Other options are another entry: detected again.
    let (code, out, _) = mediaforce(&data, &["scenes", f, "--json", "--max-seconds", "1"]);
    assert_eq!(code, 0);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["cached"], false);
    assert!(
        v["scenes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["start"] == "forced"),
        "{v}"
    );

    // A file that is not there, or not media: one line naming it, a failure.
    for bad in [dir.path().join("missing.mkv"), {
        let p = dir.path().join("notes.mkv");
        std::fs::write(&p, b"not a film").unwrap();
        p
    }] {
        let (code, out, err) = mediaforce(&data, &["scenes", bad.to_str().unwrap()]);
        assert_ne!(code, 0, "{out}");
        assert!(err.contains(bad.to_str().unwrap()), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
}

#[test]
fn a_chunked_encode_joins_every_frame_and_a_failed_join_resumes_without_encoding() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state");
    let film = dir.path().join("film.mkv");
    let mut v = SyntheticVideo::new(192, 108, 160);
    v.variable_frame_rate = true;
    v.looks = vec![(0, 0), (40, 1), (90, 2), (120, 3)];
    let mut clip = SyntheticClip::new(v);
    clip.audio = vec![mediaforce_core::synth::SyntheticAudio::new("aac", "eng")];
    clip.write(&film).unwrap();
    let out = dir.path().join("out.mkv");
    let args = |out: &Path| -> Vec<String> {
        [
            "encode",
            film.to_str().unwrap(),
            out.to_str().unwrap(),
            "--chunked",
            "--jobs",
            "2",
            "--min-chunk-seconds",
            "0.5",
            "--encoder",
            "libx264",
            "--preset",
            "ultrafast",
            "--crf",
            "28",
            "--json",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let run = |out: &Path| {
        let a = args(out);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let mut c = Command::new(env!("CARGO_BIN_EXE_mediaforce"));
        c.args(&a)
            .env("MEDIAFORCE_DATA_DIR", &data)
            .env("MEDIAFORCE_CACHE_DIR", dir.path().join("cache"));
        let o = c.output().unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    // The join cannot put its file in place (a folder holds the name): the chunks stay.
    std::fs::create_dir(&out).unwrap();
    let (code, _, err) = run(&out);
    assert_ne!(code, 0);
    assert!(err.contains("out.mkv"), "{err}");
    let kept: Vec<_> = walk(&dir.path().join("cache/chunks"));
    assert!(kept.len() >= 3, "{kept:?}");
    std::fs::remove_dir(&out).unwrap();
    // The next run encodes nothing: it joins the chunks it finds.
    let (code, stdout, err) = run(&out);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["encoded"], 0, "{v}");
    assert_eq!(v["reused"].as_u64().unwrap() as usize, kept.len(), "{v}");
    assert_eq!(v["check"]["passed"], true, "{v}");
    assert_eq!(v["check"]["output_frames"], 160);
    assert_eq!(v["scenes"], 4);
    // The same knob over the whole file in one piece: the chunks (a keyframe at each cut) score
    // no worse than half a point below it, and within two points.
    let whole = dir.path().join("whole.mkv");
    let (code, stdout, err) = mediaforce(
        &data,
        &[
            "encode",
            film.to_str().unwrap(),
            whole.to_str().unwrap(),
            "--encoder",
            "libx264",
            "--preset",
            "ultrafast",
            "--crf",
            "28",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let w: Value = serde_json::from_str(&stdout).unwrap();
    let (chunked, one) = (
        v["vmaf"]["mean"].as_f64().unwrap(),
        w["vmaf"]["mean"].as_f64().unwrap(),
    );
    assert!(
        chunked > one - 0.5 && (chunked - one).abs() < 2.0,
        "chunked {chunked}, whole {one}"
    );
    // The chunks are gone once the file is checked.
    assert!(walk(&dir.path().join("cache/chunks")).is_empty());
    // A fresh run of another output encodes them all again, two at a time.
    let other = dir.path().join("other.mkv");
    let (code, stdout, err) = run(&other);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (v["reused"].as_u64(), v["encoded"].as_u64()),
        (Some(0), Some(kept.len() as u64))
    );
    let info: Value = {
        let (code, out, err) = mediaforce(&data, &["probe", "--json", other.to_str().unwrap()]);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    assert_eq!(info[0]["streams"][1]["kind"], "audio");
    assert_eq!(info[0]["streams"][0]["video"]["variable_frame_rate"], true);
}
