//! Conformance of every adapter available in this build: two knob values on a generated clip.
//! Both outputs decode with the input's frame count; the better knob value gives the larger
//! file and the higher VMAF; 10-bit input stays 10-bit; bad knobs and presets are typed errors.

use mediaforce_codecs::{all, Better, CodecAdapter, Error};
use mediaforce_core::decode::{DecodeOptions, VideoDecoder};
use mediaforce_core::ffmpeg_next::format::Pixel;
use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use mediaforce_core::transcode::{transcode, TranscodeOptions};
use mediaforce_core::{probe, NoProgress};
use mediaforce_metrics::{score_files, Scale, ScoreOptions};
use std::path::Path;

const FRAMES: u32 = 12;

/// The fastest preset, so the suite stays quick.
fn fastest(a: &dyn CodecAdapter) -> String {
    a.fastest_preset()
}

fn knob_at(a: &dyn CodecAdapter, fraction: f64) -> f64 {
    let k = a.knob();
    let v = k.min + (k.max - k.min) * fraction;
    (v / k.step).round() * k.step
}

fn encode(a: &dyn CodecAdapter, src: &Path, out: &Path, value: f64, pixel: Option<Pixel>) -> u64 {
    let mut opts = TranscodeOptions::new(a.libav_name());
    opts.encoder_options = a.options(&fastest(a), value).unwrap();
    opts.pixel_format = pixel;
    let r = transcode(src, out, &opts, &mut NoProgress)
        .unwrap_or_else(|e| panic!("{} at {value}: {e}", a.id()));
    assert_eq!(r.frames, u64::from(FRAMES), "{}", a.id());
    r.output_bytes
}

fn decoded_frames(p: &Path) -> usize {
    let frames: Vec<_> = VideoDecoder::open(p, DecodeOptions::default().strict(true))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    frames.len()
}

#[test]
fn every_available_adapter_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let src8 = dir.path().join("src8.mkv");
    let src10 = dir.path().join("src10.mkv");
    SyntheticClip::new(
        SyntheticVideo::new(192, 108, FRAMES)
            .encoder("libx264", &[("qp", "0"), ("preset", "ultrafast")]),
    )
    .write(&src8)
    .unwrap();
    SyntheticClip::new(
        SyntheticVideo::new(192, 108, FRAMES)
            .encoder(
                "libx265",
                &[
                    ("preset", "ultrafast"),
                    ("x265-params", "log-level=none:lossless=1"),
                ],
            )
            .pixel_format(Pixel::YUV420P10LE),
    )
    .write(&src10)
    .unwrap();
    let mut tested = Vec::new();
    for a in all() {
        if a.availability().is_err() {
            continue;
        }
        let a = a.as_ref();
        let (good, bad) = match a.knob().better {
            Better::Lower => (knob_at(a, 0.3), knob_at(a, 0.85)),
            Better::Higher => (knob_at(a, 0.85), knob_at(a, 0.3)),
        };
        let g = dir.path().join(format!("{}-good.mkv", a.id()));
        let b = dir.path().join(format!("{}-bad.mkv", a.id()));
        let gb = encode(a, &src8, &g, good, None);
        let bb = encode(a, &src8, &b, bad, None);
        assert!(
            gb > bb,
            "{}: {good} gives {gb} bytes, {bad} gives {bb}",
            a.id()
        );
        assert_eq!(decoded_frames(&g), FRAMES as usize, "{}", a.id());
        assert_eq!(decoded_frames(&b), FRAMES as usize, "{}", a.id());
        let opts = ScoreOptions {
            scale: Scale::Native,
            ..Default::default()
        };
        let gs = score_files(&src8, &g, &opts, &mut NoProgress)
            .unwrap()
            .vmaf
            .mean;
        let bs = score_files(&src8, &b, &opts, &mut NoProgress)
            .unwrap()
            .vmaf
            .mean;
        assert!(gs > bs, "{}: VMAF {gs} at {good} vs {bs} at {bad}", a.id());

        if a.pixel_formats().contains(&Pixel::YUV420P10LE) {
            let t = dir.path().join(format!("{}-10bit.mkv", a.id()));
            let fmt = a.pick_pixel_format(Pixel::YUV420P10LE);
            encode(a, &src10, &t, good, Some(fmt));
            let depth = probe(&t).unwrap().streams[0]
                .video
                .as_ref()
                .unwrap()
                .bit_depth;
            assert_eq!(depth, Some(10), "{}: 10-bit stays 10-bit", a.id());
        }

        let k = a.knob();
        match a.options(&fastest(a), k.max + k.step) {
            Err(Error::KnobOutOfRange { min, max, .. }) => assert_eq!((min, max), (k.min, k.max)),
            other => panic!("{}: expected KnobOutOfRange, got {other:?}", a.id()),
        }
        let e = a.options("no-such-preset", good).unwrap_err();
        assert!(matches!(e, Error::BadPreset { .. }), "{}", a.id());
        let version = a.version();
        assert!(
            version.contains(".so.") || version.starts_with("rav1e 0."),
            "{}: version {version}",
            a.id()
        );
        let fp = a.fingerprint(&fastest(a), good).unwrap();
        assert!(
            fp.starts_with(a.libav_name()) && fp.contains(&version),
            "{fp}"
        );
        assert_ne!(fp, a.fingerprint(&fastest(a), bad).unwrap());
        tested.push(a.id());
    }
    // The README's set-up provides all six software encoders; a build missing one fails here.
    // Hardware encoders join the list on machines that have the device.
    for id in [
        "libsvtav1",
        "libaom-av1",
        "libx264",
        "libx265",
        "libvpx-vp9",
        "rav1e",
    ] {
        assert!(tested.contains(&id), "{id} not available");
    }
}

#[test]
fn av1_adapters_choose_10_bit_for_8_bit_sources() {
    let ten: Vec<&str> = all()
        .iter()
        .filter(|a| a.prefers_10bit())
        .map(|a| a.id())
        .collect();
    assert_eq!(ten, ["libsvtav1", "libaom-av1", "rav1e"]);
    for a in all() {
        if a.availability().is_err() {
            continue;
        }
        let fmt = a.pick_pixel_format(Pixel::YUV420P);
        if a.prefers_10bit() {
            assert_eq!(fmt, Pixel::YUV420P10LE, "{}", a.id());
        } else {
            assert_eq!(fmt, Pixel::YUV420P, "{}", a.id());
        }
    }
}

#[test]
fn hardware_encoders_report_why_they_are_unavailable() {
    for h in mediaforce_codecs::hardware() {
        match h.availability() {
            Ok(()) => {}
            Err(reason) => {
                assert!(!reason.is_empty());
                let known = reason.contains("not compiled into the linked FFmpeg")
                    || reason.contains("no usable")
                    || reason.contains("no cuda device support")
                    || reason.contains("no qsv device support")
                    || reason.contains("no vaapi device support")
                    || reason.contains("does not do yet")
                    || reason.contains("did not open on this machine");
                assert!(known, "{}: {reason}", h.id());
            }
        }
        assert!(
            h.options(h.default_preset(), h.default_knob(1080)).is_ok(),
            "{}",
            h.id()
        );
    }
}

#[test]
fn extra_parameters_are_validated_and_routed() {
    use mediaforce_codecs::find;
    let svt = find("libsvtav1").unwrap();
    let extras = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let o = svt
        .options_with(
            "12",
            40.0,
            &extras(&[("film-grain", "8"), ("tune", "0"), ("keyint", "24")]),
        )
        .unwrap();
    assert!(
        o.contains(&("svtav1-params".into(), "film-grain=8:tune=0".into())),
        "{o:?}"
    );
    assert!(o.contains(&("g".into(), "24".into())));
    let e = svt
        .options_with("12", 40.0, &extras(&[("film-grain", "99")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("allowed 0..=50"), "{e}");

    let x265 = find("libx265").unwrap();
    let o = x265
        .options_with("ultrafast", 28.0, &extras(&[("scene-detection", "0")]))
        .unwrap();
    assert!(
        o.contains(&("x265-params".into(), "log-level=error:scenecut=0".into())),
        "{o:?}"
    );

    // The routed options really open the encoders, and produce the frames.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.mkv");
    SyntheticClip::new(SyntheticVideo::new(160, 96, FRAMES))
        .write(&src)
        .unwrap();
    for (a, o) in [
        (
            svt.as_ref(),
            svt.options_with("12", 40.0, &extras(&[("film-grain", "8"), ("keyint", "6")]))
                .unwrap(),
        ),
        (x265.as_ref(), o),
    ] {
        let mut opts = TranscodeOptions::new(a.libav_name());
        opts.encoder_options = o;
        let out = dir.path().join(format!("{}.mkv", a.id()));
        let r = transcode(&src, &out, &opts, &mut NoProgress).unwrap();
        assert_eq!(r.frames, u64::from(FRAMES));
    }
    // Free-form extras pass through; the encoder itself refuses names it does not know.
    let o = svt
        .options_with("12", 40.0, &extras(&[("bogus", "1")]))
        .unwrap();
    let mut opts = TranscodeOptions::new("libsvtav1");
    opts.encoder_options = o;
    let e = transcode(&src, &dir.path().join("bogus.mkv"), &opts, &mut NoProgress).unwrap_err();
    assert!(e.to_string().contains("has no option 'bogus'"), "{e}");
}
