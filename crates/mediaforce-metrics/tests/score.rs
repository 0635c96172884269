use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use mediaforce_core::transcode::{transcode, TranscodeOptions};
use mediaforce_core::NoProgress;
use mediaforce_metrics::{score_files, Error, Scale, ScoreOptions};

#[test]
fn vmaf_ranks_encodes_and_reports_pooling() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("ref.mkv");
    SyntheticClip::new(
        SyntheticVideo::new(320, 180, 24)
            .encoder("libx264", &[("qp", "0"), ("preset", "ultrafast")]),
    )
    .write(&src)
    .unwrap();
    let good = dir.path().join("good.mkv");
    let bad = dir.path().join("bad.mkv");
    transcode(
        &src,
        &good,
        &TranscodeOptions::new("libx264")
            .option("crf", 18)
            .option("preset", "ultrafast"),
        &mut NoProgress,
    )
    .unwrap();
    transcode(
        &src,
        &bad,
        &TranscodeOptions::new("libx264")
            .option("crf", 45)
            .option("preset", "ultrafast"),
        &mut NoProgress,
    )
    .unwrap();

    let opts = ScoreOptions {
        scale: Scale::Native,
        features: vec!["psnr".into()],
        ..Default::default()
    };
    let same = score_files(&src, &src, &opts, &mut NoProgress).unwrap();
    let g = score_files(&src, &good, &opts, &mut NoProgress).unwrap();
    let b = score_files(&src, &bad, &opts, &mut NoProgress).unwrap();
    assert_eq!((same.frames, g.frames, b.frames), (24, 24, 24));
    assert_eq!(same.libvmaf_version, "3.2.0");
    assert_eq!(same.model, "vmaf_v0.6.1");
    // Identical frames: every elementary feature is at its ceiling.
    assert!(same.vmaf.mean > 97.0, "identical mean {}", same.vmaf.mean);
    assert!(
        g.vmaf.mean > b.vmaf.mean + 10.0,
        "crf18 {} vs crf45 {}",
        g.vmaf.mean,
        b.vmaf.mean
    );
    assert!(g.features["psnr_y"] > b.features["psnr_y"]);
    for r in [&same, &g, &b] {
        let v = r.vmaf;
        assert!(v.min <= v.p1 && v.p1 <= v.p5 && v.min <= v.mean, "{v:?}");
        assert!(v.harmonic_mean <= v.mean + 1e-9);
        let mean: f64 = r.per_frame.iter().sum::<f64>() / r.per_frame.len() as f64;
        assert!(
            (mean - v.mean).abs() < 1e-9,
            "pooled mean equals per-frame mean"
        );
        assert_eq!(r.worst_frames[0].vmaf, v.min);
        assert_eq!((r.scored_width, r.scored_height), (320, 180));
    }

    // Auto scale upscales sub-1080p pairs to 1080p height.
    let auto = score_files(&src, &bad, &ScoreOptions::default(), &mut NoProgress).unwrap();
    assert_eq!((auto.scored_width, auto.scored_height), (1920, 1080));
}

#[test]
fn frame_count_mismatch_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.mkv");
    let b = dir.path().join("b.mkv");
    SyntheticClip::new(SyntheticVideo::new(128, 72, 24))
        .write(&a)
        .unwrap();
    SyntheticClip::new(SyntheticVideo::new(128, 72, 20))
        .write(&b)
        .unwrap();
    let e = score_files(
        &a,
        &b,
        &ScoreOptions {
            scale: Scale::Native,
            ..Default::default()
        },
        &mut NoProgress,
    )
    .unwrap_err();
    match e {
        Error::FrameCountMismatch {
            reference,
            distorted,
            ..
        } => assert_eq!((reference, distorted), (24, 20)),
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn different_sizes_depths_and_chroma_are_converted_explicitly() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.mkv");
    let b = dir.path().join("b.mkv");
    SyntheticClip::new(
        SyntheticVideo::new(320, 180, 12)
            .encoder("libx264", &[("qp", "0"), ("preset", "ultrafast")]),
    )
    .write(&a)
    .unwrap();
    // Same content, 4:4:4 10-bit: converted to the reference's 8-bit 4:2:0 before scoring.
    SyntheticClip::new(
        SyntheticVideo::new(320, 180, 12)
            .encoder(
                "libx265",
                &[("preset", "ultrafast"), ("x265-params", "log-level=none")],
            )
            .pixel_format(mediaforce_core::ffmpeg_next::format::Pixel::YUV444P10LE),
    )
    .write(&b)
    .unwrap();
    let r = score_files(
        &a,
        &b,
        &ScoreOptions {
            scale: Scale::Native,
            ..Default::default()
        },
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(r.frames, 12);
    assert_eq!(
        (r.scored_width, r.scored_height, r.bit_depth),
        (320, 180, 8)
    );
    assert!(
        r.vmaf.mean > 90.0,
        "near-lossless 10-bit 4:4:4 copy scores {}",
        r.vmaf.mean
    );

    // A smaller distorted file is scaled (bicubic) to the reference size.
    let c = dir.path().join("c.mkv");
    SyntheticClip::new(SyntheticVideo::new(160, 90, 12))
        .write(&c)
        .unwrap();
    let r = score_files(
        &a,
        &c,
        &ScoreOptions {
            scale: Scale::Native,
            ..Default::default()
        },
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!((r.frames, r.scored_width, r.scored_height), (12, 320, 180));
    assert!(r.vmaf.mean.is_finite() && r.vmaf.mean >= 0.0);
}

#[test]
fn extra_features_models_log_and_subsampling() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.mkv");
    let b = dir.path().join("b.mkv");
    SyntheticClip::new(
        SyntheticVideo::new(320, 180, 10)
            .encoder("libx264", &[("qp", "0"), ("preset", "ultrafast")]),
    )
    .write(&a)
    .unwrap();
    transcode(
        &a,
        &b,
        &TranscodeOptions::new("libx264")
            .option("crf", 35)
            .option("preset", "ultrafast"),
        &mut NoProgress,
    )
    .unwrap();
    let log = dir.path().join("vmaf.json");
    let opts = ScoreOptions {
        scale: Scale::Native,
        features: ["psnr", "ssim", "ms-ssim", "cambi", "ciede2000", "psnr-hvs"]
            .map(String::from)
            .to_vec(),
        log: Some(log.clone()),
        ..Default::default()
    };
    let r = score_files(&a, &b, &opts, &mut NoProgress).unwrap();
    for (name, lo, hi) in [
        ("psnr_y", 15.0, 60.0),
        ("float_ssim", 0.5, 1.0),
        ("float_ms_ssim", 0.5, 1.0),
        ("cambi", 0.0, 24.0),
        ("ciede2000", 10.0, 60.0),
        ("psnr_hvs", 10.0, 60.0),
    ] {
        let v = r
            .features
            .get(name)
            .copied()
            .unwrap_or_else(|| panic!("{name} missing: {:?}", r.features));
        assert!((lo..=hi).contains(&v), "{name} = {v}");
    }
    // libvmaf's own JSON log, readable by existing tools.
    let j: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&log).unwrap()).unwrap();
    assert_eq!(j["frames"].as_array().unwrap().len(), 10);
    let pooled = j["pooled_metrics"]["vmaf"]["mean"].as_f64().unwrap();
    assert!((pooled - r.vmaf.mean).abs() < 1e-6);

    // The neg model scores no higher than the default on the same pair.
    let neg = score_files(
        &a,
        &b,
        &ScoreOptions {
            scale: Scale::Native,
            model: Some("vmaf_v0.6.1neg".into()),
            ..Default::default()
        },
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(neg.model, "vmaf_v0.6.1neg");
    assert!(neg.vmaf.mean <= r.vmaf.mean + 1e-9);
    // Unknown model: a typed error naming it.
    let e = score_files(
        &a,
        &b,
        &ScoreOptions {
            model: Some("no_such_model".into()),
            ..Default::default()
        },
        &mut NoProgress,
    )
    .unwrap_err();
    assert!(e.to_string().contains("no_such_model"), "{e}");
    // A feature that cannot run on these pictures is an error, not a missing figure.
    let small = dir.path().join("small.mkv");
    SyntheticClip::new(SyntheticVideo::new(128, 72, 2))
        .write(&small)
        .unwrap();
    let small_opts = ScoreOptions {
        scale: Scale::Native,
        features: vec!["ms-ssim".into()],
        ..Default::default()
    };
    let e = score_files(&small, &small, &small_opts, &mut NoProgress).unwrap_err();
    assert!(e.to_string().contains("float_ms_ssim"), "{e}");
    // Subsampling scores every other frame.
    let sub = score_files(
        &a,
        &b,
        &ScoreOptions {
            scale: Scale::Native,
            subsample: 2,
            ..Default::default()
        },
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(sub.per_frame.len(), 5);
}

#[test]
fn uhd_reference_uses_the_4k_model() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("uhd.mkv");
    SyntheticClip::new(SyntheticVideo::new(3840, 2160, 2))
        .write(&a)
        .unwrap();
    let r = score_files(&a, &a, &ScoreOptions::default(), &mut NoProgress).unwrap();
    assert_eq!(r.model, "vmaf_4k_v0.6.1");
    assert_eq!((r.scored_width, r.scored_height), (3840, 2160));
}
