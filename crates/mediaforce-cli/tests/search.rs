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

/// `--learned-guess`: the first probe is the prediction of the model fitted on the store's
/// points and the shipped corpus (an empty store here: the shipped clips alone); without it,
/// the policy's first guess for the resolution class (the shipped `[knob.libx264] sd = 22`).
#[test]
fn crf_search_starts_from_the_learned_guess_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.mkv");
    SyntheticClip::new(SyntheticVideo::new(192, 108, 24))
        .write(&src)
        .unwrap();
    let d = dir.path().join("state");
    let search = |extra: &[&str]| -> serde_json::Value {
        let mut args = vec![
            "crf-search",
            src.to_str().unwrap(),
            "--encoder",
            "libx264",
            "--preset",
            "medium",
            "--target-vmaf",
            "93",
            "--no-cache",
            "--data-dir",
            d.to_str().unwrap(),
            "--json",
        ];
        args.extend_from_slice(extra);
        let (code, out, err) = run(&args);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let first = |v: &serde_json::Value| v["probes"][0]["knob"].as_f64().unwrap();
    let plain = search(&[]);
    assert_eq!(
        first(&plain),
        22.0,
        "the shipped policy's guess for x264 on sub-720p sources"
    );
    let learned = search(&["--learned-guess"]);
    let features: mediaforce::features::SourceFeatures =
        serde_json::from_value(learned["features"].clone()).unwrap();
    let model = mediaforce::model::KnobModel::for_search(
        Vec::new(),
        "libx264",
        "medium",
        mediaforce::search::TargetStat::Mean,
        93.0,
    )
    .unwrap();
    let predicted = (model.predict(&features).0 * 4.0).round() / 4.0;
    assert_eq!(first(&learned), predicted, "{learned}");
    assert_ne!(first(&learned), first(&plain));
}

#[test]
fn ladder_of_a_generated_clip() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.mkv");
    let mut v = SyntheticVideo::new(320, 180, 48)
        .encoder("libx264", &[("preset", "ultrafast"), ("qp", "0")]);
    // A little texture: a picture made only of fine noise has nothing left after scaling.
    v.texture = 4;
    SyntheticClip::new(v).write(&src).unwrap();
    let out = dir.path().join("ladder");
    let state = dir.path().join("state");
    let (s, o, d) = (
        src.to_str().unwrap(),
        out.to_str().unwrap(),
        state.to_str().unwrap(),
    );
    // The ladder at 180 and 90 lines, crf 10..40, with `extra` arguments.
    let ladder = |extra: &[&str]| {
        let mut args = vec![
            "ladder",
            s,
            "--encoder",
            "libx264",
            "--preset",
            "ultrafast",
            "--resolution",
            "180",
            "--resolution",
            "90",
            "--knob",
            "10..40:10",
            "--samples",
            "1",
            "--data-dir",
            d,
            "--json",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let (code, stdout, err) = ladder(&["--out", o]);
    assert_eq!(code, 0, "{err}");
    let l: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        (l["display_width"].as_u64(), l["display_height"].as_u64()),
        (Some(320), Some(180))
    );
    let points = l["points"].as_array().unwrap();
    assert_eq!(points.len(), 8, "{stdout}");
    let at = |h: u64, knob: f64| {
        points
            .iter()
            .find(|p| p["height"].as_u64() == Some(h) && p["knob"].as_f64() == Some(knob))
            .unwrap_or_else(|| panic!("no {h}p knob {knob} in {stdout}"))
    };
    let f = |p: &serde_json::Value, k: &str| p[k].as_f64().unwrap();
    assert_eq!(at(90, 10.0)["width"].as_u64(), Some(160));
    for knob in [10.0, 20.0, 30.0, 40.0] {
        // Scored upscaled to 320x180: the 90-line encode loses detail at every knob.
        assert!(
            f(at(90, knob), "vmaf") < f(at(180, knob), "vmaf"),
            "knob {knob}: {stdout}"
        );
        assert!(f(at(90, knob), "bit_rate") < f(at(180, knob), "bit_rate"));
    }
    for h in [90, 180] {
        for w in [10.0, 20.0, 30.0, 40.0].windows(2) {
            assert!(
                f(at(h, w[0]), "vmaf") > f(at(h, w[1]), "vmaf"),
                "{h}p: {stdout}"
            );
            assert!(f(at(h, w[0]), "bit_rate") > f(at(h, w[1]), "bit_rate"));
        }
    }
    // The hull rises in both bit rate and VMAF, holds the flagged points, and no point lies
    // above it.
    let hull: Vec<usize> = l["hull"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap() as usize)
        .collect();
    assert!(hull.len() >= 2, "{stdout}");
    for (i, p) in points.iter().enumerate() {
        assert_eq!(p["on_hull"].as_bool(), Some(hull.contains(&i)));
    }
    let hp: Vec<(f64, f64)> = hull
        .iter()
        .map(|&i| (f(&points[i], "bit_rate"), f(&points[i], "vmaf")))
        .collect();
    assert!(
        hp.windows(2).all(|w| w[1].0 > w[0].0 && w[1].1 > w[0].1),
        "{hp:?}"
    );
    for p in points {
        let (r, q) = (f(p, "bit_rate"), f(p, "vmaf"));
        assert!(r >= hp[0].0, "{p}");
        let bound = match hp.windows(2).find(|w| r <= w[1].0) {
            Some(w) => w[0].1 + (w[1].1 - w[0].1) * (r - w[0].0) / (w[1].0 - w[0].0),
            None => hp.last().unwrap().1,
        };
        assert!(q <= bound + 1e-6, "{p} above the hull {hp:?}");
    }
    // Rungs: on the hull, by rising bit rate, each 1.5x and 6 VMAF apart.
    let rungs = l["rungs"].as_array().unwrap();
    assert!(!rungs.is_empty(), "{stdout}");
    for r in rungs {
        assert!(
            hull.contains(&(r["point"].as_u64().unwrap() as usize)),
            "{r}"
        );
    }
    for w in rungs.windows(2) {
        assert!(f(&w[1], "bit_rate") >= 1.5 * f(&w[0], "bit_rate"), "{w:?}");
        assert!(f(&w[1], "vmaf") >= f(&w[0], "vmaf") + 6.0, "{w:?}");
    }
    // The files: the same JSON, a playlist variant per rung (highest first), the plot.
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("ladder.json")).unwrap()).unwrap();
    assert_eq!(written["points"], l["points"]);
    let m3u8 = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    assert!(m3u8.starts_with("#EXTM3U\n"), "{m3u8}");
    let variants: Vec<&str> = m3u8
        .lines()
        .filter(|l| l.starts_with("#EXT-X-STREAM-INF:"))
        .collect();
    assert_eq!(variants.len(), rungs.len(), "{m3u8}");
    let top = rungs.last().unwrap();
    assert!(
        variants[0].contains(&format!("RESOLUTION={}x{}", top["width"], top["height"]))
            && variants[0].contains("CODECS=\"avc1."),
        "{m3u8}"
    );
    let svg = std::fs::read_to_string(out.join("ladder.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    assert_eq!(
        svg.matches("<title>").count(),
        points.len(),
        "one marker per point"
    );
    assert!(svg.contains("<polyline"));

    // Other rung rules reuse the cached probes: the same points.
    let (code, again, err) = ladder(&["--rungs", "1"]);
    assert_eq!(code, 0, "{err}");
    let again: serde_json::Value = serde_json::from_str(&again).unwrap();
    assert_eq!(again["points"], l["points"]);
    assert_eq!(again["rungs"].as_array().unwrap().len(), 1);
}
