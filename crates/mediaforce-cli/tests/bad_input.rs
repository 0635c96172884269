//! Every kind of bad input gets one line naming the file and the cause, exit status 1, no panic.

use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use std::path::Path;
use std::process::Command;

fn mediaforce(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mediaforce"))
        .args(args)
        .output()
        .expect("run mediaforce");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `cmd` on `path` and checks the clean-failure contract; returns stderr.
fn fails_cleanly(cmd: &str, path: &Path, cause: &str) -> String {
    let p = path.to_str().unwrap();
    let (code, _out, err) = mediaforce(&[cmd, p]);
    assert_eq!(code, 1, "{cmd} {p}: exit status; stderr: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{cmd} {p}: one line expected, got: {err}");
    assert!(lines[0].contains(p), "{cmd}: error names the file: {err}");
    assert!(
        lines[0].contains(cause),
        "{cmd}: error says '{cause}': {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    err
}

fn sample(dir: &Path, name: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    let mut v = SyntheticVideo::new(160, 96, 48);
    v.gop = Some(12);
    SyntheticClip::new(v).write(&p).unwrap();
    p
}

#[test]
fn empty_text_directory_missing() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.mkv");
    std::fs::write(&empty, b"").unwrap();
    fails_cleanly("probe", &empty, "file is empty");
    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "These are my notes.\nNot a video.\n").unwrap();
    fails_cleanly("probe", &text, "not a readable media file");
    let text2 = dir.path().join("notes.mkv");
    std::fs::write(&text2, "plain text with a video extension\n").unwrap();
    fails_cleanly("probe", &text2, "not a recognised audio/video container");
    fails_cleanly("probe", dir.path(), "is a directory");
    fails_cleanly("verify", &dir.path().join("missing.mkv"), "No such file");
}

#[test]
fn unreadable_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let p = sample(dir.path(), "locked.mkv");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o000)).unwrap();
    if std::fs::File::open(&p).is_ok() {
        // Running as root: permission bits do not stop reads, so use a path through a file,
        // which the OS refuses for everyone.
        let through = p.join("inner.mkv");
        fails_cleanly("probe", &through, "Not a directory");
    } else {
        fails_cleanly("probe", &p, "Permission denied");
    }
}

#[test]
fn truncated_mp4_without_moov() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("whole.mp4");
    SyntheticClip::new(SyntheticVideo::new(160, 96, 24))
        .write(&p)
        .unwrap();
    let bytes = std::fs::read(&p).unwrap();
    let t = dir.path().join("truncated.mp4");
    // The MP4 muxer writes moov last: cutting the tail removes the index.
    std::fs::write(&t, &bytes[..bytes.len() / 2]).unwrap();
    fails_cleanly("probe", &t, "truncated or damaged");
    fails_cleanly("verify", &t, "truncated or damaged");
}

#[test]
fn corrupt_packets_mid_stream_fail_verification() {
    let dir = tempfile::tempdir().unwrap();
    let p = sample(dir.path(), "clip.mp4");
    let mut bytes = std::fs::read(&p).unwrap();
    // Overwrite a run of bytes in the middle of mdat; sizes and index stay intact.
    let mid = bytes.len() / 2;
    let mut x: u32 = 12345;
    for b in &mut bytes[mid..mid + 3000] {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 16) as u8;
    }
    let c = dir.path().join("corrupt.mp4");
    std::fs::write(&c, &bytes).unwrap();
    // The container is fine, so probe succeeds; full decode finds the damage.
    let (code, _, _) = mediaforce(&["probe", c.to_str().unwrap()]);
    assert_eq!(code, 0);
    let err = fails_cleanly("verify", &c, "corrupt data at");
    assert!(err.contains("failed verification"), "{err}");
    // The undamaged original verifies.
    let (code, out, err) = mediaforce(&["verify", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok, 48 frames"), "{out}");
}

#[test]
fn unsupported_codec() {
    let dir = tempfile::tempdir().unwrap();
    let p = sample(dir.path(), "clip.mkv");
    let mut bytes = std::fs::read(&p).unwrap();
    // Rename the Matroska codec id so no decoder matches (same length keeps the file valid).
    let id = b"V_MPEG4/ISO/AVC";
    let at = bytes
        .windows(id.len())
        .position(|w| w == id)
        .expect("codec id present");
    bytes[at..at + id.len()].copy_from_slice(b"V_MPEG4/ISO/XYZ");
    let u = dir.path().join("unknown.mkv");
    std::fs::write(&u, &bytes).unwrap();
    fails_cleanly("verify", &u, "unsupported codec");
    let (code, out, _) = mediaforce(&["probe", "--json", u.to_str().unwrap()]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["streams"][0]["codec"], "none");
}

#[test]
fn probe_json_has_stable_fields() {
    let dir = tempfile::tempdir().unwrap();
    let p = sample(dir.path(), "clip.mkv");
    let (code, out, err) = mediaforce(&["probe", "--json", p.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let f = &v[0];
    for key in [
        "path",
        "container",
        "duration_seconds",
        "bit_rate",
        "size_bytes",
        "streams",
        "chapters",
        "metadata",
    ] {
        assert!(f.get(key).is_some(), "missing {key}");
    }
    let s = &f["streams"][0];
    assert_eq!(s["kind"], "video");
    assert_eq!(s["codec"], "h264");
    assert_eq!(s["video"]["width"], 160);
    assert_eq!(s["video"]["height"], 96);
    assert_eq!(s["video"]["bit_depth"], 8);
    assert_eq!(s["video"]["chroma_subsampling"], "4:2:0");
    assert_eq!(s["video"]["avg_frame_rate"], "24/1");
}

#[test]
fn encode_refuses_bad_options_and_keeps_no_partial_output() {
    let dir = tempfile::tempdir().unwrap();
    let p = sample(dir.path(), "clip.mkv");
    let out = dir.path().join("out.mkv");
    let (code, _, err) = mediaforce(&[
        "encode",
        p.to_str().unwrap(),
        out.to_str().unwrap(),
        "--encoder",
        "libx264",
        "--opt",
        "bogus=1",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("has no option 'bogus'"), "{err}");
    assert!(!out.exists(), "no partial output left behind");
    let (code, _, err) = mediaforce(&[
        "encode",
        p.to_str().unwrap(),
        out.to_str().unwrap(),
        "--encoder",
        "nosuchenc",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("encoder nosuchenc is not available"), "{err}");
    let (code, out_s, err) = mediaforce(&[
        "encode",
        p.to_str().unwrap(),
        out.to_str().unwrap(),
        "--encoder",
        "libx264",
        "--opt",
        "crf=30",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out_s).unwrap();
    assert_eq!(v["frames"], 48);
    assert!(v["output_bytes"].as_u64().unwrap() > 0);
    // No temporary file is left beside the output, after success or failure.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".partial-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // --crf through the adapter, -o form, scored unless --no-verify.
    let o2 = dir.path().join("crf.mp4");
    let (code, out_s, err) = mediaforce(&[
        "encode",
        p.to_str().unwrap(),
        "-o",
        o2.to_str().unwrap(),
        "--encoder",
        "libx264",
        "--crf",
        "30",
        "--preset",
        "ultrafast",
        "--scale",
        "native",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out_s).unwrap();
    assert_eq!(v["knob"], 30.0);
    assert!(v["vmaf"]["mean"].as_f64().unwrap() > 50.0);
    let (code, out_s, err) = mediaforce(&[
        "encode",
        p.to_str().unwrap(),
        "-o",
        o2.to_str().unwrap(),
        "--encoder",
        "libx264",
        "--crf",
        "30",
        "--preset",
        "ultrafast",
        "--no-verify",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out_s).unwrap();
    assert!(v["vmaf"].is_null());
    let (code, _, err) = mediaforce(&[
        "encode",
        p.to_str().unwrap(),
        "-o",
        o2.to_str().unwrap(),
        "--encoder",
        "libx264",
        "--crf",
        "51.3",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("allowed 0..=51 in steps of 0.25"), "{err}");
}
