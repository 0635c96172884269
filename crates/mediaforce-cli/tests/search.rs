//! `crf-search` and `encode --target-vmaf` end to end.

use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mediaforce"))
        .args(args)
        .env("SVT_LOG", "1")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn crf_search_json_and_cache_then_encode_to_target() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.mkv");
    SyntheticClip::new(SyntheticVideo::new(192, 108, 24))
        .write(&src)
        .unwrap();
    let data = dir.path().join("state");
    let s = src.to_str().unwrap();
    let d = data.to_str().unwrap();
    let args = [
        "crf-search",
        s,
        "--encoder",
        "libx264",
        "--preset",
        "ultrafast",
        "--target-vmaf",
        "90",
        "--scale",
        "native",
        "--data-dir",
        d,
        "--json",
    ];
    let (code, out, err) = run(&args);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["outcome"]["result"], "found");
    let chosen = v["outcome"]["chosen"]["knob"].as_f64().unwrap();
    assert!(v["outcome"]["chosen"]["score"].as_f64().unwrap() >= 90.0);
    assert!(
        data.join("catalog.db").exists(),
        "the probe cache is in the data directory's one database"
    );
    let (_, out2, _) = run(&args);
    let v2: serde_json::Value = serde_json::from_str(&out2).unwrap();
    assert!(v2["probes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["cached"] == true));

    // `encode --target-vmaf 90` of the source into `out`, with extra flags.
    let encode_to_90 = |out: &std::path::Path, extra: &[&str]| {
        let mut args = vec![
            "encode",
            s,
            out.to_str().unwrap(),
            "--encoder",
            "libx264",
            "--target-vmaf",
            "90",
            "--preset",
            "ultrafast",
            "--scale",
            "native",
            "--data-dir",
            d,
            "--json",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let enc = dir.path().join("enc.mkv");
    let (code, out, err) = encode_to_90(&enc, &[]);
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let last = r["encodes"].as_array().unwrap().last().unwrap().clone();
    assert!(last["achieved"].as_f64().unwrap() >= 90.0, "{last}");
    assert_eq!(
        r["search"]["outcome"]["chosen"]["knob"].as_f64().unwrap(),
        chosen
    );
    assert!(enc.exists());

    // The closed loop scored the output in the same pass as it was encoded; scoring the
    // written file against the source afterwards gives the same figure.
    assert_eq!(last["verified_by"], "same_pass", "{last}");
    assert_eq!(last["verify_seconds"].as_f64(), Some(0.0), "{last}");
    let (code, out, err) = run(&[
        "score",
        s,
        enc.to_str().unwrap(),
        "--scale",
        "native",
        "--json",
    ]);
    assert_eq!(code, 0, "{err}");
    let separate: serde_json::Value = serde_json::from_str(&out).unwrap();
    let (in_pass, after) = (
        last["vmaf"]["mean"].as_f64().unwrap(),
        separate["vmaf"]["mean"].as_f64().unwrap(),
    );
    assert!(
        (in_pass - after).abs() < 0.05,
        "same pass {in_pass} vs scored afterwards {after}"
    );
    let (code, out, err) = encode_to_90(&enc, &["--verify-separately"]);
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let first = &r["encodes"][0];
    assert_eq!(first["verified_by"], "separate", "{first}");
    assert!(first["verify_seconds"].as_f64().unwrap() > 0.0, "{first}");
    let separately = first["vmaf"]["mean"].as_f64().unwrap();
    assert!(
        (separately - after).abs() < 0.05,
        "--verify-separately {separately} vs score {after}"
    );

    // The closed loop on a dense sample (every 4th frame) lands near the full score.
    let dense = dir.path().join("dense.mkv");
    let (code, out, err) = encode_to_90(&dense, &["--verify-every", "4"]);
    assert_eq!(code, 0, "{err}");
    let r: serde_json::Value = serde_json::from_str(&out).unwrap();
    let first = &r["encodes"][0];
    assert_eq!(first["knob"].as_f64().unwrap(), chosen);
    let sampled = first["achieved"].as_f64().unwrap();
    let full = r["search"]["outcome"]["chosen"]["score"].as_f64().unwrap();
    assert!(
        (sampled - full).abs() < 2.0,
        "dense {sampled} vs full {full}"
    );
    assert!(dense.exists());

    // Out of reach: a clear one-line error and nothing written.
    let never = dir.path().join("never.mkv");
    let (code, _, err) = run(&[
        "encode",
        s,
        never.to_str().unwrap(),
        "--encoder",
        "libx264",
        "--target-vmaf",
        "99.99",
        "--preset",
        "ultrafast",
        "--scale",
        "native",
        "--no-cache",
        "--min-crf",
        "35",
    ]);
    assert_eq!(code, 1);
    assert!(
        err.contains("nothing written: no crf in 35..=51 reached VMAF 99.99"),
        "{err}"
    );
    assert!(!never.exists());
}
