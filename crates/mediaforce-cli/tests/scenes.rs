//! `mediaforce scenes`: a generated film of distinct shots with flashes, listed once by
//! decoding and then from the store; a bad file gets a one-line error naming it.

use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

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
