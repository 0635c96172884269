//! End-to-end: the target search on generated media, through the root crate.

use mediaforce::core::synth::{SyntheticClip, SyntheticVideo};
use mediaforce::core::transcode::{transcode, TranscodeOptions};
use mediaforce::core::NoProgress;
use mediaforce::events::{Event, EventSink};
use mediaforce::metrics::{score_files, Scale};
use mediaforce::search::{
    crf_search, place_samples, place_samples_indexed, Outcome, Placement, SearchConfig,
};

#[derive(Default)]
struct Log(Vec<String>);
impl EventSink for Log {
    fn emit(&mut self, e: Event) {
        self.0.push(match e {
            Event::SamplesPlaced { samples } => format!("samples {}", samples.len()),
            Event::ProbeStarted { knob } => format!("start {knob}"),
            Event::ProbeScored { knob, score, .. } => format!("scored {knob} {score:.2}"),
            Event::SourceDamaged { errors, .. } => format!("damaged {errors}"),
            // Timing-dependent (twice a second): not part of the logged sequence.
            _ => return,
        });
    }
}

#[test]
fn sample_placement_scales_with_duration() {
    assert_eq!(
        place_samples(22.0, 1, 20.0),
        vec![(0.0, None)],
        "samples would cover 85%: full pass"
    );
    assert_eq!(
        place_samples(60.0, 1, 20.0),
        vec![(20.0, Some(20.0))],
        "one centred sample"
    );
    let s = place_samples(3600.0, 5, 20.0);
    assert_eq!(s.len(), 5);
    assert!((s[0].0 - 350.0).abs() < 1e-9 && s.iter().all(|(_, l)| *l == Some(20.0)));
}

#[test]
fn indexed_placement_picks_stretches_typical_of_each_region_starting_on_keyframes() {
    use mediaforce::core::probe::SeekPoint;
    // 100 s, a keyframe every 2 s. A burst of action for 30 s (10x the bytes), then typical
    // content, then 10 s of near-empty credits.
    let rate = |t: f64| {
        if t < 30.0 {
            50_000.0
        } else if t < 90.0 {
            5_000.0
        } else {
            100.0
        }
    };
    let mut index = Vec::new();
    let mut offset = 0.0;
    for k in 0..50 {
        let t = f64::from(k) * 2.0;
        index.push(SeekPoint {
            seconds: t,
            byte_offset: offset as u64,
        });
        offset += 2.0 * rate(t);
    }
    // Evenly, the first sample would sit in the burst (20..30 s).
    assert_eq!(
        place_samples(100.0, 2, 10.0),
        vec![(20.0, Some(10.0)), (70.0, Some(10.0))]
    );
    // Each region is sampled where it is typical of itself (a region stands for its own
    // stretch of the film): the first region is 30 s of burst and 20 s of typical content,
    // and its median window straddles the two; the second is typical content, nearest the
    // centre.
    assert_eq!(
        place_samples_indexed(100.0, 2, 10.0, &index),
        (
            vec![(24.0, Some(10.0)), (70.0, Some(10.0))],
            Placement::KeyframeIndex
        ),
    );
    // Five regions: the burst, typical content and the credits each get their share.
    let (five, _) = place_samples_indexed(100.0, 5, 4.0, &index);
    assert_eq!(five.len(), 5);
    assert!(five[0].0 < 30.0 && five[4].0 >= 80.0, "{five:?}");
    // One sample: the region is the whole source, and the typical window nearest the centre.
    assert_eq!(
        place_samples_indexed(100.0, 1, 10.0, &index),
        (vec![(44.0, Some(10.0))], Placement::KeyframeIndex)
    );
    // No index: even placement. Short source: still one full pass.
    assert_eq!(
        place_samples_indexed(100.0, 2, 10.0, &[]),
        (place_samples(100.0, 2, 10.0), Placement::Even)
    );
    assert_eq!(
        place_samples_indexed(22.0, 1, 20.0, &index),
        (vec![(0.0, None)], Placement::FullPass)
    );
}

#[test]
fn search_meets_target_and_prediction_matches_full_encode() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.mkv");
    let mut v = SyntheticVideo::new(256, 144, 48)
        .encoder("libx264", &[("qp", "0"), ("preset", "ultrafast")]);
    v.gop = Some(48);
    SyntheticClip::new(v).write(&src).unwrap();

    let mut cfg = SearchConfig::new("libx264", 92.0);
    cfg.preset = Some("veryfast".into());
    cfg.scale = Scale::Native;
    cfg.tolerance = 1.5;
    let mut log = Log::default();
    let report = crf_search(&src, &cfg, &mut log).unwrap();
    assert_eq!(log.0[0], "samples 1");
    assert_eq!(
        report.samples[0].frames, 48,
        "short source: one full-pass sample"
    );
    assert!(report.probes.len() <= 8, "{:?}", log.0);
    let chosen = match &report.outcome {
        Outcome::Found { chosen } => chosen.clone(),
        other => panic!("not found: {other:?}"),
    };
    assert!(chosen.score >= 92.0, "{}", chosen.score);
    // Cheapest: every probe above the chosen knob (worse quality) missed the target.
    for p in &report.probes {
        if p.knob > chosen.knob {
            assert!(
                p.score < 92.0,
                "crf {} scored {} yet was not chosen",
                p.knob,
                p.score
            );
        }
    }

    // The full encode at the chosen knob scores what the search predicted (same frames here).
    let out = dir.path().join("out.mkv");
    let opts = TranscodeOptions::new("libx264")
        .option("preset", "veryfast")
        .option("crf", chosen.knob);
    let r = transcode(&src, &out, &opts, &mut NoProgress).unwrap();
    let full = score_files(
        &src,
        &out,
        &mediaforce::metrics::ScoreOptions {
            scale: Scale::Native,
            ..Default::default()
        },
        &mut NoProgress,
    )
    .unwrap();
    assert!(
        (full.vmaf.mean - chosen.vmaf.mean).abs() < 0.5,
        "predicted {} achieved {}",
        chosen.vmaf.mean,
        full.vmaf.mean
    );
    let ratio = r.output_bytes as f64 / chosen.predicted_bytes as f64;
    assert!(
        (0.8..1.25).contains(&ratio),
        "size predicted {} got {}",
        chosen.predicted_bytes,
        r.output_bytes
    );
}

#[test]
fn unreachable_target_is_a_typed_outcome_with_best_attempt() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.mkv");
    SyntheticClip::new(SyntheticVideo::new(128, 72, 12))
        .write(&src)
        .unwrap();
    let mut cfg = SearchConfig::new("libx264", 99.9);
    cfg.preset = Some("ultrafast".into());
    cfg.scale = Scale::Native;
    cfg.min_knob = Some(30.0);
    cfg.max_probes = 3;
    let report = crf_search(&src, &cfg, &mut mediaforce::events::Quiet).unwrap();
    match report.outcome {
        Outcome::NotFound {
            best: Some(b),
            reason,
        } => {
            assert!(reason.contains("reached VMAF 99.9"), "{reason}");
            assert!(b.score < 99.9);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rerun_of_the_same_search_comes_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.mkv");
    SyntheticClip::new(SyntheticVideo::new(160, 90, 24))
        .write(&src)
        .unwrap();
    let mut cfg = SearchConfig::new("libx264", 90.0);
    cfg.preset = Some("ultrafast".into());
    cfg.scale = Scale::Native;
    cfg.cache = Some(std::sync::Arc::new(
        mediaforce::cache::ProbeCache::open(dir.path().join("data/catalog.db").to_str().unwrap())
            .unwrap(),
    ));
    let first = crf_search(&src, &cfg, &mut mediaforce::events::Quiet).unwrap();
    assert!(first.probes.iter().all(|p| !p.cached));
    let second = crf_search(&src, &cfg, &mut mediaforce::events::Quiet).unwrap();
    assert!(second.probes.iter().all(|p| p.cached), "every probe cached");
    let knobs = |r: &mediaforce::search::SearchReport| {
        r.probes
            .iter()
            .map(|p| (p.knob, p.vmaf.mean))
            .collect::<Vec<_>>()
    };
    assert_eq!(knobs(&first), knobs(&second));
    // The rerun reports the samples the first run decoded (it decodes none itself).
    let spans = |r: &mediaforce::search::SearchReport| {
        r.samples
            .iter()
            .map(|s| (s.start_seconds, s.frames))
            .collect::<Vec<_>>()
    };
    assert_eq!(spans(&first), spans(&second));
    assert_eq!(spans(&first), vec![(0.0, 24)]);
    assert_eq!(first.placement, second.placement);
    // One row a probe, one for the decoded sample spans and one for the source's features
    // (the rerun reports them from the cache).
    let cache = cfg.cache.clone().unwrap();
    assert_eq!(cache.len().unwrap(), first.probes.len() as u64 + 2);
    assert!(first
        .features
        .is_some_and(|f| f.frames > 0 && f.width == 160));
    let (a, b) = (first.features.unwrap(), second.features.unwrap());
    assert_eq!((a.frames, a.width, a.height), (b.frames, b.width, b.height));
    assert!((a.si_mean - b.si_mean).abs() < 1e-9 && (a.ti - b.ti).abs() < 1e-9);

    // A different preset is a different encoder fingerprint: nothing cached.
    cfg.preset = Some("superfast".into());
    let third = crf_search(&src, &cfg, &mut mediaforce::events::Quiet).unwrap();
    assert!(third.probes.iter().all(|p| !p.cached));
}

fn found(report: &mediaforce::search::SearchReport) -> mediaforce::search::Probe {
    match &report.outcome {
        Outcome::Found { chosen } => chosen.clone(),
        other => panic!("{other:?}"),
    }
}

/// A source in packed RGB (old animation, screen captures) has its features measured on its
/// luma like any other: the same picture stored losslessly as RGB and as YUV 4:2:0 gets a
/// spatial and temporal information alike (within 15%: the RGB copy is rounded to 8 bits a
/// channel before its luma is taken). Before, packed sources measured as flat (0).
#[test]
fn packed_rgb_sources_get_their_features_measured() {
    use mediaforce::core::ffmpeg_next::format::Pixel;
    let dir = tempfile::tempdir().unwrap();
    let features = |name: &str, mut video: SyntheticVideo| {
        let src = dir.path().join(name);
        video.texture = 20;
        SyntheticClip::new(video).write(&src).unwrap();
        let mut cfg = SearchConfig::new("libx264", 90.0);
        cfg.preset = Some("ultrafast".into());
        cfg.scale = Scale::Native;
        cfg.max_probes = 1;
        crf_search(&src, &cfg, &mut mediaforce::events::Quiet)
            .unwrap()
            .features
            .unwrap()
    };
    let rgb = features(
        "rgb.mkv",
        SyntheticVideo::new(160, 90, 24)
            .encoder("png", &[])
            .pixel_format(Pixel::RGB24),
    );
    let yuv = features(
        "yuv.mkv",
        SyntheticVideo::new(160, 90, 24)
            .encoder("libx264", &[("preset", "ultrafast"), ("qp", "0")]),
    );
    assert!(
        rgb.frames > 0 && rgb.si_mean > 0.0 && rgb.ti_mean > 0.0,
        "{rgb:?}"
    );
    for (a, b) in [(rgb.si_mean, yuv.si_mean), (rgb.ti_mean, yuv.ti_mean)] {
        assert!((a / b - 1.0).abs() < 0.15, "{rgb:?} {yuv:?}");
    }
}

#[test]
fn ten_bit_vfr_and_still_image_sources_are_searched() {
    use mediaforce::core::ffmpeg_next::format::Pixel;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = SearchConfig::new("libx265", 88.0);
    cfg.preset = Some("ultrafast".into());
    cfg.scale = Scale::Native;
    cfg.tolerance = 3.0;

    // 10-bit 4:2:0: encoded at 10 bits, scored at 10 bits.
    let ten = dir.path().join("ten.mkv");
    SyntheticClip::new(
        SyntheticVideo::new(192, 108, 24)
            .encoder(
                "libx265",
                &[("preset", "ultrafast"), ("x265-params", "log-level=none")],
            )
            .pixel_format(Pixel::YUV420P10LE),
    )
    .write(&ten)
    .unwrap();
    let r = crf_search(&ten, &cfg, &mut mediaforce::events::Quiet).unwrap();
    assert_eq!(r.pixel_format, "yuv420p10le");
    assert!(found(&r).score >= 88.0);

    // Variable frame rate: every frame is a sample frame, in order.
    let vfr = dir.path().join("vfr.mkv");
    let mut v = SyntheticVideo::new(192, 108, 30);
    v.variable_frame_rate = true;
    SyntheticClip::new(v).write(&vfr).unwrap();
    let r = crf_search(&vfr, &cfg, &mut mediaforce::events::Quiet).unwrap();
    assert_eq!(r.samples.iter().map(|s| s.frames).sum::<u64>(), 30);
    assert!(found(&r).score >= 88.0);

    // A still image (PNG, RGB): one frame, converted explicitly to the encoder's YUV.
    let png = dir.path().join("still.png");
    SyntheticClip::new(
        SyntheticVideo::new(192, 108, 1)
            .encoder("png", &[])
            .pixel_format(Pixel::RGB24),
    )
    .write(&png)
    .unwrap();
    let info = mediaforce::core::probe(&png).unwrap();
    assert_eq!(
        info.streams[0]
            .video
            .as_ref()
            .unwrap()
            .chroma_subsampling
            .as_deref(),
        Some("rgb")
    );
    let r = crf_search(&png, &cfg, &mut mediaforce::events::Quiet).unwrap();
    assert_eq!(r.samples[0].frames, 1);
    assert_eq!(r.pixel_format, "yuv420p");
    assert!(found(&r).score >= 88.0);
}

#[test]
fn gate_sets_hold_for_the_chosen_result() {
    use mediaforce::search::TargetStat;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.mkv");
    let mut v = SyntheticVideo::new(192, 108, 24)
        .encoder("libx264", &[("qp", "0"), ("preset", "ultrafast")]);
    v.gop = Some(24);
    SyntheticClip::new(v).write(&src).unwrap();
    let mut cfg = SearchConfig::new("libx264", 85.0);
    cfg.preset = Some("ultrafast".into());
    cfg.scale = Scale::Native;
    cfg.tolerance = 2.0;
    let plain = found(&crf_search(&src, &cfg, &mut mediaforce::events::Quiet).unwrap());
    // A minimum-frame gate above what the mean-only choice gives forces a better knob.
    let gate = plain.vmaf.min + 2.0;
    cfg.gates = vec![(TargetStat::Min, gate), (TargetStat::P5, 80.0)];
    let gated = found(&crf_search(&src, &cfg, &mut mediaforce::events::Quiet).unwrap());
    assert!(
        gated.vmaf.mean >= 85.0 && gated.vmaf.min >= gate && gated.vmaf.p5 >= 80.0,
        "{:?}",
        gated.vmaf
    );
    assert!(
        gated.knob < plain.knob,
        "gated {} vs plain {}",
        gated.knob,
        plain.knob
    );
    assert!(
        (gated.score
            - (85.0
                + (gated.vmaf.mean - 85.0)
                    .min(gated.vmaf.min - gate)
                    .min(gated.vmaf.p5 - 80.0)))
        .abs()
            < 1e-9
    );
}

/// Asks to stop as soon as the first probe has started.
struct StopInFirstProbe(bool);
impl EventSink for StopInFirstProbe {
    fn emit(&mut self, e: Event) {
        if matches!(e, Event::ProbeStarted { .. }) {
            self.0 = true;
        }
    }
    fn cancelled(&self) -> bool {
        self.0
    }
}

#[test]
fn a_cancel_stops_the_search_inside_a_probe() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.mkv");
    SyntheticClip::new(SyntheticVideo::new(128, 72, 12))
        .write(&src)
        .unwrap();
    let mut cfg = SearchConfig::new("libx264", 90.0);
    cfg.preset = Some("ultrafast".into());
    cfg.scale = Scale::Native;
    let e = crf_search(&src, &cfg, &mut StopInFirstProbe(false)).unwrap_err();
    assert!(
        matches!(e, mediaforce::search::SearchError::Cancelled { ref path } if *path == src),
        "{e}"
    );
}

/// Point 5 of the real-files issue: one stretch can misrepresent a film whose scenes differ,
/// so the default takes many short samples spread over all of it, and says how much they
/// disagree; a size guard the samples cannot decide is reported as uncertain, not a refusal.
#[test]
fn short_samples_cover_every_scene_and_their_disagreement_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("scenes.mkv");
    // 48 s at 24 fps: smooth and heavily textured scenes in turn.
    let mut v = SyntheticVideo::new(160, 96, 1152)
        .encoder("libx264", &[("preset", "ultrafast"), ("crf", "8")]);
    v.gop = Some(48);
    v.scenes = vec![(0, 0), (240, 64), (480, 0), (720, 64), (960, 0)];
    SyntheticClip::new(v).write(&src).unwrap();
    let mut cfg = SearchConfig::new("libx264", 80.0);
    cfg.preset = Some("ultrafast".into());
    cfg.scale = Scale::Native;
    // One probe, at crf 30, is all this needs.
    cfg.min_knob = Some(30.0);
    cfg.max_knob = Some(30.0);
    cfg.max_encoded_percent = 1000.0;
    let r = crf_search(&src, &cfg, &mut Log::default()).unwrap();
    // One sample every 8 s, 2 s each, from the first scene to the last.
    assert_eq!(r.samples.len(), 6, "{:?}", r.samples);
    assert!(r.samples.iter().all(|s| s.frames == 48), "{:?}", r.samples);
    assert!(r.samples[0].start_seconds < 8.0 && r.samples[5].start_seconds >= 40.0);
    let p = &r.probes[0];
    assert_eq!(p.sample_sizes.len(), 6);
    let (small, big) = (
        *p.sample_sizes.iter().min().unwrap(),
        *p.sample_sizes.iter().max().unwrap(),
    );
    assert!(
        big > 2 * small,
        "textured scenes cost more: {:?}",
        p.sample_sizes
    );
    let u = p.uncertainty.expect("several samples give a spread");
    assert!(u.percent > 0.0 && u.vmaf >= 0.0, "{u:?}");
    assert!(matches!(r.outcome, Outcome::Found { .. }));

    // A limit just under the prediction, within the samples' disagreement: uncertain.
    cfg.max_encoded_percent = p.predicted_percent - 0.5 * u.percent;
    let r2 = crf_search(&src, &cfg, &mut Log::default()).unwrap();
    match &r2.outcome {
        Outcome::Uncertain { chosen, reason } => {
            assert_eq!(chosen.knob, 30.0);
            assert!(reason.contains("the samples disagree"), "{reason}");
        }
        o => panic!("expected uncertain, got {o:?}"),
    }
    assert!(r2.chosen().is_some());
    // Far under it: a plain refusal.
    cfg.max_encoded_percent = p.predicted_percent - 3.0 * u.percent;
    let r3 = crf_search(&src, &cfg, &mut Log::default()).unwrap();
    assert!(
        matches!(r3.outcome, Outcome::NotFound { .. }),
        "{:?}",
        r3.outcome
    );
}

#[test]
fn default_sample_layout() {
    use mediaforce::search::{default_sample_count, DEFAULT_SAMPLE_SECONDS};
    assert_eq!(DEFAULT_SAMPLE_SECONDS, 2.0);
    assert_eq!(default_sample_count(5.0), 1);
    assert_eq!(default_sample_count(129.0), 16);
    assert_eq!(default_sample_count(45.0 * 60.0), 30);
    assert_eq!(default_sample_count(2.0 * 3600.0), 30);
}
