//! End-to-end tests of the media layer on media generated in-process.

use mediaforce_core::decode::{DecodeOptions, VideoDecoder};
use mediaforce_core::encode::ColorTags;
use mediaforce_core::ffmpeg_next as ff;
use mediaforce_core::probe::{ContentLightLevel, HdrKind, MasteringDisplay, StreamKind};
use mediaforce_core::synth::{
    SyntheticAttachment, SyntheticAudio, SyntheticClip, SyntheticSubtitle, SyntheticVideo,
};
use mediaforce_core::transcode::{transcode, AudioMode, TranscodeOptions};
use mediaforce_core::{probe, NoProgress};
use std::path::Path;

fn hdr10_mastering() -> MasteringDisplay {
    MasteringDisplay {
        primaries: [[0.708, 0.292], [0.170, 0.797], [0.131, 0.046]],
        white_point: [0.3127, 0.3290],
        min_luminance: 0.005,
        max_luminance: 1000.0,
    }
}

/// A 10-bit HDR10 HEVC clip in Matroska with two audio tracks, subtitles, chapters and a font.
fn rich_clip(path: &Path) -> SyntheticClip {
    let mut video = SyntheticVideo::new(192, 108, 36)
        .encoder(
            "libx265",
            &[("preset", "ultrafast"), ("x265-params", "log-level=none")],
        )
        .pixel_format(ff::format::Pixel::YUV420P10LE);
    video.color = ColorTags::hdr10();
    video.mastering_display = Some(hdr10_mastering());
    video.content_light = Some(ContentLightLevel {
        max_cll: 1000,
        max_fall: 400,
    });
    let mut clip = SyntheticClip::new(video);
    let mut en = SyntheticAudio::new("aac", "eng");
    en.title = Some("English stereo".into());
    en.default = true;
    let mut fr = SyntheticAudio::new("libopus", "fra");
    fr.channels = 1;
    fr.frequency = 660.0;
    clip.audio = vec![en, fr];
    clip.subtitles = vec![SyntheticSubtitle {
        codec: "subrip".into(),
        language: Some("deu".into()),
        cues: vec![(0.1, 0.6, "Hallo".into()), (0.8, 1.2, "Welt".into())],
        forced: true,
    }];
    clip.attachments = vec![SyntheticAttachment {
        filename: "font.ttf".into(),
        mimetype: "application/x-truetype-font".into(),
        data: (0..2048u32).map(|i| (i % 251) as u8).collect(),
    }];
    clip.chapters = vec![(0.0, 0.75, "Opening".into()), (0.75, 1.5, "End".into())];
    clip.metadata
        .insert("title".into(), "Synthetic feature".into());
    clip.write(path).expect("write rich clip");
    clip
}

#[test]
fn probe_reports_every_property_of_a_rich_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rich.mkv");
    rich_clip(&path);
    let info = probe(&path).unwrap();
    assert_eq!(info.container, "matroska,webm");
    assert!(
        (info.duration_seconds.unwrap() - 1.5).abs() < 0.05,
        "{:?}",
        info.duration_seconds
    );
    assert!(info.size_bytes > 0 && info.bit_rate.unwrap() > 0);
    assert_eq!(
        info.metadata.get("title").map(String::as_str),
        Some("Synthetic feature")
    );

    let kinds: Vec<StreamKind> = info.streams.iter().map(|s| s.kind).collect();
    assert_eq!(
        kinds,
        [
            StreamKind::Video,
            StreamKind::Audio,
            StreamKind::Audio,
            StreamKind::Subtitle,
            StreamKind::Attachment
        ]
    );
    let v = info.streams[0].video.as_ref().unwrap();
    assert_eq!(info.streams[0].codec, "hevc");
    assert_eq!(info.streams[0].profile.as_deref(), Some("Main 10"));
    assert_eq!((v.width, v.height), (192, 108));
    assert_eq!(v.pixel_format.as_deref(), Some("yuv420p10le"));
    assert_eq!(v.bit_depth, Some(10));
    assert_eq!(v.chroma_subsampling.as_deref(), Some("4:2:0"));
    assert_eq!(v.color_primaries.as_deref(), Some("bt2020"));
    assert_eq!(v.color_transfer.as_deref(), Some("smpte2084"));
    assert_eq!(v.color_matrix.as_deref(), Some("bt2020nc"));
    assert_eq!(v.color_range.as_deref(), Some("tv"));
    assert_eq!(v.hdr, Some(HdrKind::Pq));
    let m = v.mastering_display.expect("mastering display");
    assert!((m.max_luminance - 1000.0).abs() < 1e-6 && (m.min_luminance - 0.005).abs() < 1e-6);
    assert!((m.primaries[0][0] - 0.708).abs() < 1e-4 && (m.white_point[1] - 0.329).abs() < 1e-4);
    assert_eq!(
        v.content_light,
        Some(ContentLightLevel {
            max_cll: 1000,
            max_fall: 400
        })
    );
    assert_eq!(v.avg_frame_rate.as_deref(), Some("24/1"));
    assert!(!v.variable_frame_rate);
    assert_eq!(v.dar.as_deref(), Some("16:9"));

    let a0 = &info.streams[1];
    assert_eq!(a0.codec, "aac");
    assert_eq!(a0.language.as_deref(), Some("eng"));
    assert_eq!(a0.title.as_deref(), Some("English stereo"));
    assert!(a0.disposition.contains(&"default".to_string()));
    let au = a0.audio.as_ref().unwrap();
    assert_eq!((au.channels, au.sample_rate), (2, 48_000));
    assert_eq!(au.channel_layout.as_deref(), Some("stereo"));
    let a1 = &info.streams[2];
    assert_eq!(
        (a1.codec.as_str(), a1.language.as_deref()),
        ("opus", Some("fra"))
    );
    assert_eq!(a1.audio.as_ref().unwrap().channels, 1);

    let s = &info.streams[3];
    assert_eq!(
        (s.codec.as_str(), s.language.as_deref()),
        ("subrip", Some("deu"))
    );
    assert!(s.disposition.contains(&"forced".to_string()));
    let att = info.streams[4].attachment.as_ref().unwrap();
    assert_eq!(att.filename.as_deref(), Some("font.ttf"));
    assert_eq!(att.size_bytes, 2048);

    assert_eq!(info.chapters.len(), 2);
    assert_eq!(info.chapters[1].title.as_deref(), Some("End"));
    assert!((info.chapters[1].start_seconds - 0.75).abs() < 1e-6);
}

#[test]
fn hdr10_source_transcodes_to_10_bit_with_tags_and_every_stream() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("rich.mkv");
    let out = dir.path().join("out.mkv");
    rich_clip(&src);
    let opts = TranscodeOptions::new("libsvtav1")
        .option("crf", 40)
        .option("preset", 12);
    let report = transcode(&src, &out, &opts, &mut NoProgress).unwrap();
    assert_eq!(report.frames, 36);
    assert_eq!(report.pixel_format, "yuv420p10le");
    assert_eq!(report.streams_copied, 4);

    let a = probe(&src).unwrap();
    let b = probe(&out).unwrap();
    assert_eq!(b.streams.len(), a.streams.len());
    assert_eq!(b.streams[0].codec, "av1");
    let v = b.streams[0].video.as_ref().unwrap();
    assert_eq!(v.bit_depth, Some(10));
    assert_eq!(v.color_transfer.as_deref(), Some("smpte2084"));
    assert_eq!(v.color_primaries.as_deref(), Some("bt2020"));
    assert_eq!(v.color_matrix.as_deref(), Some("bt2020nc"));
    assert_eq!(
        v.mastering_display,
        a.streams[0].video.as_ref().unwrap().mastering_display
    );
    assert_eq!(
        v.content_light,
        Some(ContentLightLevel {
            max_cll: 1000,
            max_fall: 400
        })
    );
    for (x, y) in a.streams.iter().zip(&b.streams).skip(1) {
        assert_eq!(x.kind, y.kind);
        assert_eq!(x.codec, y.codec, "stream {} codec", x.index);
        assert_eq!(x.language, y.language, "stream {} language", x.index);
        assert_eq!(x.title, y.title);
        assert_eq!(
            x.disposition, y.disposition,
            "stream {} disposition",
            x.index
        );
    }
    assert_eq!(b.streams[4].attachment.as_ref().unwrap().size_bytes, 2048);
    assert_eq!(b.chapters.len(), 2);
    assert_eq!(b.chapters[0].title.as_deref(), Some("Opening"));
    assert_eq!(
        b.metadata.get("title").map(String::as_str),
        Some("Synthetic feature")
    );
    assert!(b.metadata.contains_key("MEDIAFORCE"));
    let decoded = VideoDecoder::open(&out, DecodeOptions::default())
        .unwrap()
        .count();
    assert_eq!(decoded, 36);
}

#[test]
fn audio_reencodes_to_opus_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("a.mp4");
    let out = dir.path().join("b.mkv");
    let mut clip = SyntheticClip::new(SyntheticVideo::new(128, 96, 24));
    clip.audio = vec![SyntheticAudio::new("aac", "eng")];
    clip.write(&src).unwrap();
    let mut opts = TranscodeOptions::new("libx264").option("preset", "ultrafast");
    opts.audio = AudioMode::Opus;
    let report = transcode(&src, &out, &opts, &mut NoProgress).unwrap();
    assert_eq!(report.audio_reencoded, 1);
    let b = probe(&out).unwrap();
    let a = &b.streams[1];
    assert_eq!(a.codec, "opus");
    assert_eq!(a.language.as_deref(), Some("eng"));
    let d = a.duration_seconds.or(b.duration_seconds).unwrap();
    assert!((d - 1.0).abs() < 0.1, "audio duration {d}");
}

/// (encoder, options, container extension, pixel format, expected codec name).
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static str,
    ff::format::Pixel,
    &'static str,
);
const MATRIX: &[Case] = &[
    (
        "libx264",
        &[("preset", "ultrafast")],
        "mp4",
        ff::format::Pixel::YUV420P,
        "h264",
    ),
    (
        "libx264",
        &[("preset", "ultrafast")],
        "mov",
        ff::format::Pixel::YUV422P,
        "h264",
    ),
    (
        "libx264",
        &[("preset", "ultrafast")],
        "mkv",
        ff::format::Pixel::YUV444P,
        "h264",
    ),
    (
        "libx265",
        &[("preset", "ultrafast"), ("x265-params", "log-level=none")],
        "mkv",
        ff::format::Pixel::YUV422P10LE,
        "hevc",
    ),
    (
        "mpeg2video",
        &[],
        "ts",
        ff::format::Pixel::YUV420P,
        "mpeg2video",
    ),
    ("mpeg4", &[], "avi", ff::format::Pixel::YUV420P, "mpeg4"),
    (
        "libvpx-vp9",
        &[("deadline", "realtime"), ("cpu-used", "8")],
        "mkv",
        ff::format::Pixel::YUV420P10LE,
        "vp9",
    ),
    (
        "libsvtav1",
        &[("preset", "12")],
        "mp4",
        ff::format::Pixel::YUV420P,
        "av1",
    ),
];

#[test]
fn codec_container_matrix_probes_and_decodes() {
    let dir = tempfile::tempdir().unwrap();
    for (i, (enc, opts, ext, fmt, codec)) in MATRIX.iter().enumerate() {
        let path = dir.path().join(format!("m{i}.{ext}"));
        SyntheticClip::new(
            SyntheticVideo::new(160, 96, 12)
                .encoder(enc, opts)
                .pixel_format(*fmt),
        )
        .write(&path)
        .unwrap_or_else(|e| panic!("{enc} {ext}: {e}"));
        let info = probe(&path).unwrap();
        let v = info.primary_video().unwrap();
        assert_eq!(v.codec, *codec, "{enc} {ext}");
        let vi = v.video.as_ref().unwrap();
        assert_eq!(
            vi.pixel_format.as_deref(),
            fmt.descriptor().map(|d| d.name()),
            "{enc} {ext}"
        );
        let frames: Vec<_> = VideoDecoder::open(&path, DecodeOptions::default())
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap_or_else(|e| panic!("{enc} {ext}: {e}"));
        assert_eq!(frames.len(), 12, "{enc} {ext}");
        assert_eq!(frames[0].frame.format(), *fmt);
    }
}

#[test]
fn decode_converts_and_seeks_frame_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.mkv");
    let mut v = SyntheticVideo::new(160, 90, 72);
    v.gop = Some(24);
    SyntheticClip::new(v).write(&path).unwrap();
    let all: Vec<_> = VideoDecoder::open(&path, DecodeOptions::default())
        .unwrap()
        .map(|f| f.unwrap())
        .collect();
    // Start between keyframes: at 1.5 s (frame 36 at 24 fps), two frames after a keyframe boundary.
    let mut d = VideoDecoder::open(&path, DecodeOptions::default().start(1.5)).unwrap();
    let first = d.next_frame().unwrap().unwrap();
    assert!(
        (first.seconds - 1.5).abs() < 1e-9,
        "started at {}",
        first.seconds
    );
    assert_eq!(
        first.frame.data(0),
        all[36].frame.data(0),
        "seeked frame equals frame 36"
    );
    assert_eq!(1 + d.count(), 36);

    let mut c = VideoDecoder::open(
        &path,
        DecodeOptions::default()
            .pixel_format(ff::format::Pixel::YUV444P10LE)
            .size(320, 180),
    )
    .unwrap();
    let f = c.next_frame().unwrap().unwrap();
    assert_eq!(
        (f.frame.width(), f.frame.height(), f.frame.format()),
        (320, 180, ff::format::Pixel::YUV444P10LE)
    );
}

#[test]
fn odd_sizes_full_range_vfr_rotation_and_interlace_are_reported_and_handled() {
    let dir = tempfile::tempdir().unwrap();
    // Odd size: 4:4:4 lets x264 take odd dimensions.
    let odd = dir.path().join("odd.mkv");
    SyntheticClip::new(SyntheticVideo::new(161, 97, 10).pixel_format(ff::format::Pixel::YUV444P))
        .write(&odd)
        .unwrap();
    let vi = probe(&odd).unwrap().streams[0].video.clone().unwrap();
    assert_eq!((vi.width, vi.height), (161, 97));
    let f = VideoDecoder::open(
        &odd,
        DecodeOptions::default().pixel_format(ff::format::Pixel::YUV420P),
    )
    .unwrap()
    .next_frame()
    .unwrap()
    .unwrap();
    assert_eq!((f.frame.width(), f.frame.height()), (161, 97));

    // Full range.
    let full = dir.path().join("full.mp4");
    let mut v = SyntheticVideo::new(128, 72, 6);
    v.color.range = ff::color::Range::JPEG;
    SyntheticClip::new(v).write(&full).unwrap();
    assert_eq!(
        probe(&full).unwrap().streams[0]
            .video
            .as_ref()
            .unwrap()
            .color_range
            .as_deref(),
        Some("pc")
    );

    // Variable frame rate.
    let vfr = dir.path().join("vfr.mkv");
    let mut v = SyntheticVideo::new(128, 72, 40);
    v.variable_frame_rate = true;
    SyntheticClip::new(v).write(&vfr).unwrap();
    assert!(
        probe(&vfr).unwrap().streams[0]
            .video
            .as_ref()
            .unwrap()
            .variable_frame_rate
    );
    let n = VideoDecoder::open(&vfr, DecodeOptions::default())
        .unwrap()
        .count();
    assert_eq!(n, 40);

    // Rotation: reported, and applied on request.
    let rot = dir.path().join("rot.mp4");
    let mut v = SyntheticVideo::new(128, 72, 4);
    v.rotation = Some(90.0);
    SyntheticClip::new(v).write(&rot).unwrap();
    assert_eq!(
        probe(&rot).unwrap().streams[0]
            .video
            .as_ref()
            .unwrap()
            .rotation,
        Some(90.0)
    );
    let f = VideoDecoder::open(
        &rot,
        DecodeOptions {
            apply_rotation: true,
            ..Default::default()
        },
    )
    .unwrap()
    .next_frame()
    .unwrap()
    .unwrap();
    assert_eq!((f.frame.width(), f.frame.height()), (72, 128));

    // Interlaced tag.
    let il = dir.path().join("il.mkv");
    let mut v = SyntheticVideo::new(128, 72, 4);
    v.field_order = Some(ff::ffi::AVFieldOrder::AV_FIELD_TT);
    SyntheticClip::new(v).write(&il).unwrap();
    let vi = probe(&il).unwrap().streams[0].video.clone().unwrap();
    assert!(vi.interlaced);
    assert_eq!(vi.field_order.as_deref(), Some("tt"));
}

#[test]
fn interlaced_frames_are_deinterlaced_on_request() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tff.mkv");
    let mut v = SyntheticVideo::new(192, 108, 12)
        .encoder("libx264", &[("preset", "ultrafast"), ("flags", "+ildct")]);
    v.field_order = Some(ff::ffi::AVFieldOrder::AV_FIELD_TT);
    SyntheticClip::new(v).write(&path).unwrap();
    let plain: Vec<_> = VideoDecoder::open(&path, DecodeOptions::default())
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        plain.iter().all(|f| f.frame.is_interlaced()),
        "x264 coded interlaced frames"
    );
    let deint: Vec<_> = VideoDecoder::open(
        &path,
        DecodeOptions {
            deinterlace: true,
            ..Default::default()
        },
    )
    .unwrap()
    .collect::<Result<_, _>>()
    .unwrap();
    // One output frame per input frame, same timestamps, different (filtered) pictures.
    assert_eq!(deint.len(), plain.len());
    for (a, b) in plain.iter().zip(&deint) {
        assert_eq!(a.pts, b.pts);
        assert!((a.seconds - b.seconds).abs() < 1e-9);
    }
    assert!(plain
        .iter()
        .zip(&deint)
        .any(|(a, b)| a.frame.data(0) != b.frame.data(0)));
}

#[test]
fn frame_converter_leaves_the_callers_frame_intact() {
    use mediaforce_core::decode::{FrameConverter, ScaleAlgorithm};
    use mediaforce_core::synth::Painter;
    let mut painter = Painter::new(64, 36, ff::format::Pixel::YUV420P, 16).unwrap();
    let frame = painter.paint(3).unwrap();
    let before = frame.data(0).to_vec();
    let mut conv = FrameConverter::new(
        128,
        72,
        ff::format::Pixel::YUV420P10LE,
        ScaleAlgorithm::Bicubic,
    );
    let a = conv.convert(&frame).unwrap();
    let b = conv.convert(&frame).unwrap();
    // libav's buffer source would reset a frame it is handed; ours must still hold its picture.
    assert_eq!((frame.width(), frame.height()), (64, 36));
    assert_eq!(frame.data(0), &before[..]);
    assert_eq!(
        (a.width(), a.height(), a.format()),
        (128, 72, ff::format::Pixel::YUV420P10LE)
    );
    assert_eq!(a.data(0), b.data(0));
}

#[test]
fn mp4_output_keeps_every_frame() {
    // Without packet durations MP4's edit list ends one frame early and readers drop the last.
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src.mkv");
    let mut v = SyntheticVideo::new(160, 96, 48).encoder("libx264", &[("preset", "veryfast")]);
    v.gop = Some(12);
    SyntheticClip::new(v).write(&src).unwrap();
    for enc in ["libx264", "libsvtav1", "rav1e"] {
        let out = dir.path().join(format!("{enc}.mp4"));
        let opts = match enc {
            "libx264" => TranscodeOptions::new(enc).option("preset", "ultrafast"),
            "libsvtav1" => TranscodeOptions::new(enc).option("preset", 12),
            _ => TranscodeOptions::new(enc).option("speed", 10),
        };
        transcode(&src, &out, &opts, &mut NoProgress).unwrap();
        let n = VideoDecoder::open(&out, DecodeOptions::default())
            .unwrap()
            .count();
        assert_eq!(n, 48, "{enc}");
        let d = probe(&out).unwrap().duration_seconds.unwrap();
        assert!((d - 2.0).abs() < 0.01, "{enc}: duration {d}");
    }
}

#[test]
fn variable_frame_rate_source_transcodes_with_its_timing() {
    let dir = tempfile::tempdir().unwrap();
    // MP4 keeps a fine time base (1/12288 here), which encoders must not take for a frame rate.
    let src = dir.path().join("vfr.mp4");
    let mut v = SyntheticVideo::new(160, 96, 30);
    v.variable_frame_rate = true;
    SyntheticClip::new(v).write(&src).unwrap();
    let out = dir.path().join("out.mkv");
    let r = transcode(
        &src,
        &out,
        &TranscodeOptions::new("libsvtav1").option("preset", 12),
        &mut NoProgress,
    )
    .unwrap();
    assert_eq!(r.frames, 30);
    let a: Vec<f64> = VideoDecoder::open(&src, DecodeOptions::default())
        .unwrap()
        .map(|f| f.unwrap().seconds)
        .collect();
    let b: Vec<f64> = VideoDecoder::open(&out, DecodeOptions::default())
        .unwrap()
        .map(|f| f.unwrap().seconds)
        .collect();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 0.002, "timestamps kept: {x} vs {y}");
    }
    assert!(
        probe(&out).unwrap().streams[0]
            .video
            .as_ref()
            .unwrap()
            .variable_frame_rate
    );
}

#[test]
fn keyframe_index_lists_every_keyframe_of_mkv_and_mp4() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["mkv", "mp4"] {
        let path = dir.path().join(format!("k.{ext}"));
        let mut v = SyntheticVideo::new(160, 90, 96);
        v.gop = Some(24);
        // x264 would add keyframes at scene cuts; fixed GOPs make the expected list exact.
        v = v.encoder("libx264", &[("sc_threshold", "0")]);
        SyntheticClip::new(v).write(&path).unwrap();
        let points = probe::keyframe_index(&path, 0).unwrap();
        // Matroska's cues carry presentation times; MP4's index carries decode times, which
        // trail presentation by up to the reorder delay (two B-frames here).
        let slack = if ext == "mkv" {
            1e-9
        } else {
            2.0 / 24.0 + 1e-9
        };
        assert_eq!(points.len(), 4, "{ext}: {points:?}");
        for (p, want) in points.iter().zip([0.0, 1.0, 2.0, 3.0]) {
            assert!((p.seconds - want).abs() <= slack, "{ext}: {points:?}");
        }
        // Offsets grow with time and stay inside the file.
        let size = std::fs::metadata(&path).unwrap().len();
        assert!(
            points
                .windows(2)
                .all(|w| w[0].byte_offset < w[1].byte_offset),
            "{ext}: {points:?}"
        );
        assert!(points.last().unwrap().byte_offset < size);
    }
}

/// The library scan's quick probe (stream analysis cut to 0.1 s in Matroska and MP4) sees the
/// same streams as the full one: codecs, picture and audio facts.
#[test]
fn quick_probe_matches_the_full_probe() {
    let dir = tempfile::tempdir().unwrap();
    for ext in ["mkv", "mp4"] {
        let p = dir.path().join(format!("clip.{ext}"));
        let mut v = SyntheticVideo::new(320, 180, 96);
        v.gop = Some(24);
        let mut c = SyntheticClip::new(v);
        c.audio.push(SyntheticAudio::new("aac", "eng"));
        c.write(&p).unwrap();
        let full = mediaforce_core::probe::probe_headers(&p).unwrap();
        let quick = mediaforce_core::probe::probe_quick(&p).unwrap();
        assert_eq!(full.container, quick.container);
        assert_eq!(full.duration_seconds, quick.duration_seconds);
        assert_eq!(full.streams.len(), quick.streams.len());
        for (a, b) in full.streams.iter().zip(&quick.streams) {
            let facts = |s: &mediaforce_core::probe::StreamInfo| {
                serde_json::json!([s.kind, s.codec, s.profile, s.language, s.video, s.audio])
            };
            assert_eq!(facts(a), facts(b), "{ext}");
        }
        let v = quick.primary_video().unwrap().video.as_ref().unwrap();
        assert_eq!((v.width, v.height), (320, 180));
        assert_eq!(v.pixel_format.as_deref(), Some("yuv420p"));
    }
}

/// Counts, at each progress report of an encode, the threads running under a real-time policy.
#[derive(Default)]
struct RealTimeWatch {
    reports: usize,
    realtime_seen: usize,
}

impl mediaforce_core::progress::ProgressSink for RealTimeWatch {
    fn update(&mut self, _: &mediaforce_core::progress::Progress) {
        self.reports += 1;
        self.realtime_seen += mediaforce_core::sched::threads()
            .into_iter()
            .filter(|&t| mediaforce_core::sched::is_realtime(t))
            .count();
    }
}

/// SVT-AV1 makes its threads `SCHED_FIFO` when it may (as root, which is how CI runs), and
/// they starved the web page; while an encode runs, no thread of the process is real-time.
#[test]
fn svt_av1_threads_run_at_normal_scheduling() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("rich.mkv");
    let out = dir.path().join("out.mkv");
    rich_clip(&src);
    let opts = TranscodeOptions::new("libsvtav1")
        .option("crf", 40)
        .option("preset", 12);
    let mut watch = RealTimeWatch::default();
    transcode(&src, &out, &opts, &mut watch).unwrap();
    assert!(watch.reports > 0);
    assert_eq!(watch.realtime_seen, 0);
}
