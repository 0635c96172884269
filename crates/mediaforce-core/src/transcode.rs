//! Whole-file transcode: the primary video stream re-encoded, every other stream carried over.
//!
//! Audio is copied or re-encoded to Opus; subtitles, attachments, chapters, container and stream
//! metadata, languages and dispositions are copied in source order. Colour tags and HDR10 side
//! data go to the output; 10-bit sources stay 10-bit where the encoder can. Progress goes through
//! a [`ProgressSink`]. A failed transcode removes its partial output (see [`crate::mux`]).

use crate::decode::{DecodeOptions, VideoDecoder};
use crate::encode::{choose_pixel_format, ColorTags, VideoEncoder, VideoEncoderConfig};
use crate::error::{Error, Result};
use crate::mux::Muxer;
use crate::probe::{MediaInfo, StreamKind};
use crate::progress::{ProgressClock, ProgressSink};
use ff::codec::packet::side_data::Type as SideDataType;
use ffmpeg_next as ff;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to do with audio streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AudioMode {
    /// Copy every audio stream unchanged (default).
    #[default]
    Copy,
    /// Re-encode every audio stream to Opus at [`opus_bitrate`] for its channel count.
    Opus,
}

/// Opus bit rate in bit/s for a channel count: 64k mono, 96k stereo, 256k 5.1, 320k 7.1,
/// interpolated per channel in between.
pub fn opus_bitrate(channels: u32) -> u32 {
    match channels {
        0 | 1 => 64_000,
        2 => 96_000,
        3..=6 => 96_000 + (channels - 2) * 40_000,
        7 => 288_000,
        _ => 320_000,
    }
}

/// How to transcode.
#[derive(Debug, Clone)]
pub struct TranscodeOptions {
    /// libav video encoder name.
    pub encoder: String,
    /// Encoder AVOptions (quality knob, preset...).
    pub encoder_options: Vec<(String, String)>,
    /// Pixel format; `None` chooses with [`choose_pixel_format`].
    pub pixel_format: Option<ff::format::Pixel>,
    /// Encoder threads; `None` lets the encoder choose.
    pub threads: Option<usize>,
    /// Keyframe interval in frames.
    pub gop: Option<u32>,
    /// Audio handling.
    pub audio: AudioMode,
    /// Deinterlace interlaced sources before encoding.
    pub deinterlace: bool,
    /// Encode only this many seconds from the start (samples, previews).
    pub max_seconds: Option<f64>,
    /// Opus bit rates in bit/s by channel count, overriding [`opus_bitrate`] for those counts.
    pub opus_bitrates: BTreeMap<u32, u32>,
    /// Carry subtitle streams (default); `false` drops them.
    pub subtitles: bool,
}

impl TranscodeOptions {
    /// Re-encode video with `encoder`, copy everything else.
    pub fn new(encoder: &str) -> Self {
        Self {
            encoder: encoder.into(),
            encoder_options: Vec::new(),
            pixel_format: None,
            threads: None,
            gop: None,
            audio: AudioMode::Copy,
            deinterlace: false,
            max_seconds: None,
            opus_bitrates: BTreeMap::new(),
            subtitles: true,
        }
    }

    /// Add an encoder option.
    pub fn option(mut self, key: &str, value: impl ToString) -> Self {
        self.encoder_options.push((key.into(), value.to_string()));
        self
    }
}

/// What a transcode did.
#[derive(Debug, Clone, Serialize)]
pub struct TranscodeReport {
    /// Source path.
    pub input: PathBuf,
    /// Output path.
    pub output: PathBuf,
    /// Video encoder used.
    pub encoder: String,
    /// Pixel format encoded.
    pub pixel_format: String,
    /// Video frames encoded.
    pub frames: u64,
    /// Source size in bytes.
    pub input_bytes: u64,
    /// Output size in bytes.
    pub output_bytes: u64,
    /// Bytes of the encoded video stream alone (its packets).
    pub video_bytes: u64,
    /// Wall time in seconds.
    pub seconds: f64,
    /// Encoding speed in frames per second.
    pub fps: f64,
    /// Streams copied unchanged.
    pub streams_copied: usize,
    /// Audio streams re-encoded.
    pub audio_reencoded: usize,
    /// Damaged packets concealed while decoding.
    pub decode_errors: u64,
    /// Where the first of them were, in seconds from the start (see
    /// [`crate::decode::MAX_ERROR_TIMES`]).
    pub decode_error_seconds: Vec<f64>,
    /// The size the picture was cropped to so the encoder could take it (see
    /// [`crate::encode::encodable_size`]); `None` when it was encoded whole.
    pub cropped_to: Option<(u32, u32)>,
}

/// Metadata tag written on every output, so later scans recognise files this tool produced.
pub const PRODUCED_BY_TAG: &str = "MEDIAFORCE";

/// The source's container tags without the stale ones, and `key` naming this version and
/// `what` made the file.
pub(crate) fn carried_tags(
    metadata: &BTreeMap<String, String>,
    key: &str,
    what: &str,
) -> BTreeMap<String, String> {
    let mut tags: BTreeMap<String, String> = metadata
        .iter()
        .filter(|(k, _)| !stale_tag(k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let version = env!("CARGO_PKG_VERSION");
    tags.insert(
        key.into(),
        if what.is_empty() {
            version.to_string()
        } else {
            format!("{version} {what}")
        },
    );
    tags
}

/// Tags that describe the old encode and would be wrong on the new one.
pub(crate) fn stale_tag(k: &str) -> bool {
    let k = k.to_ascii_uppercase();
    k == "BPS"
        || k == "DURATION"
        || k == "NUMBER_OF_FRAMES"
        || k == "NUMBER_OF_BYTES"
        || k.starts_with("_STATISTICS")
        || k == "ENCODER"
}

pub(crate) enum OutStream {
    Video(usize),
    Copy(usize),
    Audio(Box<AudioTranscoder>),
    Drop,
}

/// Watches the video of a transcode while it is made: the frames handed to the encoder and the
/// packets it returns, so a caller can decode and score the output in the same pass (the
/// reference frames are in hand then) instead of decoding the source a second time afterwards.
///
/// The calls come from the transcoding thread, in order; a tap that does heavy work should hand
/// it to a thread of its own. A tap cannot fail the transcode: it keeps its own error.
pub trait VideoTap {
    /// The video encoder opened, with these stream parameters and time base (enough to open a
    /// decoder for its packets).
    fn opened(&mut self, parameters: ff::codec::Parameters, time_base: ff::Rational);
    /// This frame (in the encoder's size and pixel format) is about to be encoded.
    fn frame(&mut self, frame: &ff::frame::Video);
    /// The encoder returned this packet (timestamps in the encoder's time base).
    fn packet(&mut self, packet: &ff::Packet);
}

/// Transcode `input` to `output`.
pub fn transcode(
    input: &Path,
    output: &Path,
    options: &TranscodeOptions,
    progress: &mut dyn ProgressSink,
) -> Result<TranscodeReport> {
    transcode_tapped(input, output, options, progress, None)
}

/// [`transcode`], showing the video to `tap` as it is encoded.
pub fn transcode_tapped(
    input: &Path,
    output: &Path,
    options: &TranscodeOptions,
    progress: &mut dyn ProgressSink,
    mut tap: Option<&mut dyn VideoTap>,
) -> Result<TranscodeReport> {
    let started = std::time::Instant::now();
    let (info, video_index, vinfo) = open_source(input, output)?;
    let (pixel_format, cropped_to) = output_format(input, &vinfo, options)?;

    let mut decoder = VideoDecoder::open(
        input,
        DecodeOptions {
            stream: Some(video_index),
            pixel_format: Some(pixel_format),
            deinterlace: options.deinterlace,
            crop: cropped_to,
            ..DecodeOptions::default()
        },
    )?;
    let facts = *decoder.facts();
    let total = info
        .duration_seconds
        .map(|d| options.max_seconds.map_or(d, |m| m.min(d)))
        .zip(vinfo.fps)
        .map(|(d, f)| (d * f).round() as u64);
    progress.start("encode", total);

    // Everything but the video goes through a second demuxer, read in step with the video.
    let mut side = crate::input::open_input(input)?;
    // Write beside the output under a temporary name and rename at the end, so the output path
    // only ever holds a complete file (and an existing file there survives a failed encode).
    let partial = partial_path(output);
    let mut mux = Muxer::create_as(&partial, crate::mux::container_for(output))?;
    // A source that starts late (MPEG-PS/TS, an MP4 edit list) is written starting at zero,
    // every stream shifted alike, so players and the container's duration agree.
    let start = crate::ffi::start_seconds(&side).unwrap_or(0.0);
    if start != 0.0 {
        mux.set_start_offset(start);
    }
    // Side packets' times are the container's; frame times count from the video's start.
    let stop_side = options.max_seconds.map(|m| m + start);
    let mut plan: Vec<OutStream> = Vec::new();
    let mut encoder: Option<VideoEncoder> = None;
    let mut out_video_index = 0usize;
    let mut frames = 0u64;
    let mut video_bytes = 0u64;
    let mut clock = ProgressClock::new(total);
    let mut carried = Carried {
        pending: None,
        done: false,
        stop: stop_side,
    };
    let end_pts = options
        .max_seconds
        .map(|s| (s / f64::from(facts.time_base)) as i64);

    while let Some(frame) = decoder.next_frame()? {
        if let (Some(end), Some(pts)) = (end_pts, frame.pts) {
            if frame.seconds >= end as f64 * f64::from(facts.time_base) && pts > 0 {
                break;
            }
        }
        if encoder.is_none() {
            let source = Source {
                input,
                info: &info,
                vinfo: &vinfo,
                video_index,
                facts: &facts,
                pixel_format,
            };
            let (enc, p, index) = open_output(&source, options, &side, &mut mux, &frame.frame)?;
            if let Some(t) = tap.as_deref_mut() {
                t.opened(enc.parameters(), enc.time_base());
            }
            (plan, out_video_index) = (p, index);
            encoder = Some(enc);
        }
        let enc = encoder.as_mut().expect("opened above");
        let enc_tb = enc.time_base();
        let frame_seconds = frame.seconds;
        let mut f = frame.frame;
        // Decoded frames carry the source's picture types; encoders would honour them.
        f.set_kind(ff::picture::Type::None);
        f.set_pts(frame.pts);
        if let Some(t) = tap.as_deref_mut() {
            t.frame(&f);
        }
        enc.encode(&f, |p| {
            write_video(
                p,
                &mut video_bytes,
                &mut tap,
                &mut mux,
                (out_video_index, enc_tb),
            )
        })?;
        frames += 1;
        // Carry other streams up to this frame's time (plus a little), keeping memory bounded.
        let until = Some(frame_seconds + start + 0.5);
        carried.pump(input, &mut side, &mut plan, &mut mux, until)?;
        // A cancel returns here; dropping the muxer removes the partial file.
        tick(progress, &mut clock, frames, input)?;
    }
    let Some(mut enc) = encoder else {
        return Err(Error::Corrupt {
            path: input.to_path_buf(),
            at: "start".into(),
            reason: "no video frame could be decoded".into(),
        });
    };
    let enc_tb = enc.time_base();
    enc.finish(|p| {
        write_video(
            p,
            &mut video_bytes,
            &mut tap,
            &mut mux,
            (out_video_index, enc_tb),
        )
    })?;
    carried.pump(input, &mut side, &mut plan, &mut mux, None)?;
    for p in plan.iter_mut() {
        if let OutStream::Audio(a) = p {
            a.finish(&mut mux)?;
        }
    }
    mux.finish()?;
    put_in_place(&partial, output)?;
    progress.update(&clock.snapshot(frames));
    progress.finish();

    Ok(report(
        input,
        output,
        options,
        &info,
        pixel_format,
        (frames, video_bytes),
        &plan,
        &decoder,
        started,
        cropped_to,
    ))
}

/// The pixel format the output is encoded in (the asked one, else the encoder's pick for
/// the source's), and the size the picture is cropped to when the encoder needs one the
/// source does not have.
pub(crate) fn output_format(
    input: &Path,
    vinfo: &crate::probe::VideoInfo,
    options: &TranscodeOptions,
) -> Result<(ff::format::Pixel, Option<(u32, u32)>)> {
    let source_fmt = vinfo
        .pixel_format
        .as_deref()
        .and_then(|n| n.parse::<ff::format::Pixel>().ok())
        .ok_or_else(|| Error::Unsupported {
            path: input.to_path_buf(),
            reason: "video pixel format unknown".into(),
        })?;
    let pixel_format = options
        .pixel_format
        .unwrap_or_else(|| choose_pixel_format(&options.encoder, source_fmt));
    let fitted =
        crate::encode::encodable_size(&options.encoder, pixel_format, vinfo.width, vinfo.height);
    let cropped_to = (fitted != (vinfo.width, vinfo.height)).then_some(fitted);
    Ok((pixel_format, cropped_to))
}

/// What a finished transcode did.
#[allow(clippy::too_many_arguments)]
fn report(
    input: &Path,
    output: &Path,
    options: &TranscodeOptions,
    info: &MediaInfo,
    pixel_format: ff::format::Pixel,
    (frames, video_bytes): (u64, u64),
    plan: &[OutStream],
    decoder: &VideoDecoder,
    started: std::time::Instant,
    cropped_to: Option<(u32, u32)>,
) -> TranscodeReport {
    let seconds = started.elapsed().as_secs_f64();
    TranscodeReport {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        encoder: options.encoder.clone(),
        pixel_format: pixel_format
            .descriptor()
            .map(|d| d.name().to_string())
            .unwrap_or_default(),
        frames,
        input_bytes: info.size_bytes,
        output_bytes: std::fs::metadata(output).map(|m| m.len()).unwrap_or(0),
        video_bytes,
        seconds,
        fps: if seconds > 0.0 {
            frames as f64 / seconds
        } else {
            0.0
        },
        streams_copied: plan
            .iter()
            .filter(|p| matches!(p, OutStream::Copy(_)))
            .count(),
        audio_reencoded: plan
            .iter()
            .filter(|p| matches!(p, OutStream::Audio(_)))
            .count(),
        decode_errors: decoder.decode_errors(),
        decode_error_seconds: decoder.decode_error_seconds().to_vec(),
        cropped_to,
    }
}

/// The source's headers (only: the encode keeps source timestamps, so the frame-rate scan
/// would be wasted reads), its video stream's index and facts; refuses an output that is the
/// input.
fn open_source(input: &Path, output: &Path) -> Result<(MediaInfo, usize, crate::probe::VideoInfo)> {
    let info = crate::probe::probe_headers(input)?;
    if same_file(input, output) {
        return Err(Error::InvalidArgument {
            what: "output",
            reason: format!("{} is the input file", output.display()),
        });
    }
    let vstream = info.primary_video().ok_or(Error::NoStream {
        path: input.to_path_buf(),
        kind: "video",
    })?;
    let vinfo = vstream.video.clone().expect("video stream has video info");
    let index = vstream.index;
    Ok((info, index, vinfo))
}

/// One encoded video packet: counted, shown to the tap, written.
fn write_video(
    mut p: ff::Packet,
    bytes: &mut u64,
    tap: &mut Option<&mut dyn VideoTap>,
    mux: &mut Muxer,
    (index, time_base): (usize, ff::Rational),
) -> Result<()> {
    *bytes += p.size() as u64;
    if let Some(t) = tap.as_deref_mut() {
        t.packet(&p);
    }
    mux.write(index, &mut p, time_base)
}

/// Report `frames` done (a few times a second); a cancel asked for ends the transcode.
pub(crate) fn tick(
    progress: &mut dyn ProgressSink,
    clock: &mut ProgressClock,
    frames: u64,
    input: &Path,
) -> Result<()> {
    if let Some(p) = clock.tick(frames) {
        progress.update(&p);
        if progress.cancelled() {
            progress.finish();
            return Err(Error::Cancelled {
                path: input.to_path_buf(),
            });
        }
    }
    Ok(())
}

/// What a transcode reads: the source, its probed streams, its video stream, as decoded.
struct Source<'a> {
    input: &'a Path,
    info: &'a MediaInfo,
    vinfo: &'a crate::probe::VideoInfo,
    video_index: usize,
    facts: &'a crate::decode::StreamFacts,
    pixel_format: ff::format::Pixel,
}

/// Open the video encoder for the first decoded `frame`, plan every other stream, copy the
/// video's side data, the chapters and the tags, and write the header. Returns the encoder,
/// the streams' plan and the output video stream's index.
fn open_output(
    source: &Source<'_>,
    options: &TranscodeOptions,
    side: &ff::format::context::Input,
    mux: &mut Muxer,
    frame: &ff::frame::Video,
) -> Result<(VideoEncoder, Vec<OutStream>, usize)> {
    let color = resolve_color(frame, source.vinfo);
    let mut cfg = VideoEncoderConfig::new(
        &options.encoder,
        frame.width(),
        frame.height(),
        source.pixel_format,
        source.facts.frame_rate,
    );
    cfg.time_base = source.facts.time_base;
    // The nominal rate even for variable-rate sources: rate control needs one (SVT-AV1
    // refuses to open without it); timestamps keep the real, variable timing.
    cfg.frame_rate = (source.facts.frame_rate.numerator() > 0).then_some(source.facts.frame_rate);
    cfg.color = color;
    let sar = frame.aspect_ratio();
    cfg.sample_aspect_ratio = (sar.numerator() > 0).then_some(sar);
    cfg.options = options.encoder_options.clone();
    cfg.threads = options.threads;
    cfg.gop = options.gop;
    cfg.global_header = mux.wants_global_header();
    cfg.source = Some(source.input.to_path_buf());
    let enc = VideoEncoder::open(&cfg)?;
    let plan = build_plan(
        source.info,
        side,
        mux,
        &enc,
        source.video_index,
        options,
        source.input,
    )?;
    let out_video_index = plan
        .iter()
        .find_map(|p| {
            if let OutStream::Video(i) = p {
                Some(*i)
            } else {
                None
            }
        })
        .expect("plan has the video stream");
    copy_video_side_data(
        side,
        source.video_index,
        mux,
        out_video_index,
        options.deinterlace,
    );
    copy_chapters(side, mux)?;
    mux.set_metadata(&carried_tags(
        &source.info.metadata,
        PRODUCED_BY_TAG,
        &options.encoder,
    ));
    mux.write_header()?;
    Ok((enc, plan, out_video_index))
}

/// Put the finished `partial` file at `output`. Durable before visible: the data reaches the
/// disk before the final name appears, and the rename itself is made durable, so a crash never
/// leaves a finished-looking partial file.
pub(crate) fn put_in_place(partial: &Path, output: &Path) -> Result<()> {
    let synced = std::fs::File::open(partial).and_then(|f| f.sync_all());
    if let Err(e) = synced {
        let _ = std::fs::remove_file(partial);
        return Err(Error::io(partial, e));
    }
    std::fs::rename(partial, output).map_err(|e| {
        let _ = std::fs::remove_file(partial);
        Error::io(output, e)
    })?;
    if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// `dir/.name.partial-<pid>` for `dir/name`: same directory (so the rename is atomic), hidden.
pub(crate) fn partial_path(output: &Path) -> PathBuf {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    output.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}

pub(crate) fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Colour tags from the first frame, falling back to the container's tags.
fn resolve_color(frame: &ff::frame::Video, v: &crate::probe::VideoInfo) -> ColorTags {
    let mut c = ColorTags::of_frame(frame);
    let parse = |s: &Option<String>| s.clone().unwrap_or_default();
    if c.transfer == ff::color::TransferCharacteristic::Unspecified {
        c.transfer = match parse(&v.color_transfer).as_str() {
            "smpte2084" => ff::color::TransferCharacteristic::SMPTE2084,
            "arib-std-b67" => ff::color::TransferCharacteristic::ARIB_STD_B67,
            "bt709" => ff::color::TransferCharacteristic::BT709,
            _ => c.transfer,
        };
    }
    if c.primaries == ff::color::Primaries::Unspecified {
        c.primaries = match parse(&v.color_primaries).as_str() {
            "bt2020" => ff::color::Primaries::BT2020,
            "bt709" => ff::color::Primaries::BT709,
            _ => c.primaries,
        };
    }
    if c.matrix == ff::color::Space::Unspecified {
        c.matrix = match parse(&v.color_matrix).as_str() {
            "bt2020nc" => ff::color::Space::BT2020NCL,
            "bt709" => ff::color::Space::BT709,
            _ => c.matrix,
        };
    }
    if c.range == ff::color::Range::Unspecified {
        c.range = match parse(&v.color_range).as_str() {
            "pc" => ff::color::Range::JPEG,
            "tv" => ff::color::Range::MPEG,
            _ => c.range,
        };
    }
    c
}

fn build_plan(
    info: &MediaInfo,
    side: &ff::format::context::Input,
    mux: &mut Muxer,
    enc: &VideoEncoder,
    video_index: usize,
    options: &TranscodeOptions,
    input: &Path,
) -> Result<Vec<OutStream>> {
    let mut plan = Vec::new();
    for (s, st) in info.streams.iter().zip(side.streams()) {
        let mut tags: BTreeMap<String, String> = s.metadata.clone();
        let disposition = st.disposition().bits();
        if s.index == video_index {
            tags.retain(|k, _| !stale_tag(k));
            let idx = mux.add_stream(enc.parameters(), enc.time_base())?;
            mux.set_stream_metadata(idx, &tags);
            mux.set_stream_disposition(idx, disposition);
            plan.push(OutStream::Video(idx));
            continue;
        }
        let id = st.parameters().id();
        let entry = match s.kind {
            StreamKind::Audio if options.audio == AudioMode::Opus => {
                tags.retain(|k, _| !stale_tag(k));
                let a = AudioTranscoder::new(input, &st, mux, &options.opus_bitrates)?;
                let idx = a.out_index;
                mux.set_stream_metadata(idx, &tags);
                mux.set_stream_disposition(idx, disposition);
                OutStream::Audio(Box::new(a))
            }
            StreamKind::Video if s.disposition.iter().any(|d| d == "attached_pic") => {
                copy_stream(mux, &st, &tags, disposition, input, id)?
            }
            StreamKind::Video => OutStream::Drop,
            StreamKind::Subtitle if !options.subtitles => OutStream::Drop,
            StreamKind::Audio | StreamKind::Subtitle | StreamKind::Attachment => {
                copy_stream(mux, &st, &tags, disposition, input, id)?
            }
            StreamKind::Data | StreamKind::Unknown => OutStream::Drop,
        };
        plan.push(entry);
    }
    Ok(plan)
}

pub(crate) fn copy_stream(
    mux: &mut Muxer,
    st: &ff::format::stream::Stream<'_>,
    tags: &BTreeMap<String, String>,
    disposition: i32,
    input: &Path,
    id: ff::codec::Id,
) -> Result<OutStream> {
    if !mux.accepts(id, st.parameters().medium()) {
        return Err(Error::Unsupported {
            path: input.to_path_buf(),
            reason: format!(
                "stream {} ({}) cannot be stored in {}; choose a .mkv output",
                st.index(),
                id.name(),
                mux.format_name()
            ),
        });
    }
    let idx = mux.add_stream(st.parameters(), st.time_base())?;
    mux.set_stream_metadata(idx, tags);
    mux.set_stream_disposition(idx, disposition);
    Ok(OutStream::Copy(idx))
}

pub(crate) fn copy_video_side_data(
    side: &ff::format::context::Input,
    video_index: usize,
    mux: &mut Muxer,
    out: usize,
    deinterlaced: bool,
) {
    let Some(st) = side.stream(video_index) else {
        return;
    };
    for sd in st.side_data() {
        let keep = matches!(
            sd.kind(),
            SideDataType::MasteringDisplayMetadata
                | SideDataType::ContentLightLevel
                | SideDataType::DisplayMatrix
        );
        if keep {
            mux.add_stream_side_data(out, sd.kind(), sd.data());
        }
    }
    if !deinterlaced {
        let raw = crate::ffi::raw_params(&st);
        mux.set_stream_field_order(out, raw.field_order);
    }
}

pub(crate) fn copy_chapters(side: &ff::format::context::Input, mux: &mut Muxer) -> Result<()> {
    for c in side.chapters() {
        let title = c.metadata().get("title").unwrap_or("").to_string();
        mux.add_chapter(c.id(), c.time_base(), c.start(), c.end(), &title)?;
    }
    Ok(())
}

/// Where carrying the other streams stands: a packet read past the last frame's time, whether
/// the side demuxer is done, where the copy stops (`--seconds`).
pub(crate) struct Carried {
    pub(crate) pending: Option<(usize, ff::Packet)>,
    pub(crate) done: bool,
    pub(crate) stop: Option<f64>,
}

impl Carried {
    /// Carry the other streams up to `until` (container seconds; `None`: to the end).
    pub(crate) fn pump(
        &mut self,
        path: &Path,
        side: &mut ff::format::context::Input,
        plan: &mut [OutStream],
        mux: &mut Muxer,
        until: Option<f64>,
    ) -> Result<()> {
        if !self.done {
            self.done = pump_side(path, side, plan, mux, &mut self.pending, until, self.stop)?;
        }
        Ok(())
    }
}

/// Copy or re-encode non-video packets whose time is below `until` seconds (all when `None`).
/// Returns true when the side demuxer is exhausted.
fn pump_side(
    path: &Path,
    side: &mut ff::format::context::Input,
    plan: &mut [OutStream],
    mux: &mut Muxer,
    pending: &mut Option<(usize, ff::Packet)>,
    until: Option<f64>,
    stop_at: Option<f64>,
) -> Result<bool> {
    loop {
        let (si, mut packet) = match pending.take() {
            Some(p) => p,
            None => {
                let mut p = ff::Packet::empty();
                match p.read(side) {
                    Ok(()) => (p.stream(), p),
                    Err(ff::Error::Eof) => return Ok(true),
                    // Damaged packets of side streams are skipped, as players do.
                    Err(ff::Error::InvalidData) => continue,
                    Err(e) => return Err(Error::libav(path, "read packet", e)),
                }
            }
        };
        let Some(st) = side.stream(si) else { continue };
        let tb = st.time_base();
        let t = packet
            .dts()
            .or(packet.pts())
            .map(|v| v as f64 * f64::from(tb));
        if let (Some(stop), Some(t)) = (stop_at, t) {
            if t >= stop {
                continue;
            }
        }
        if let (Some(limit), Some(t)) = (until, t) {
            if t > limit {
                *pending = Some((si, packet));
                return Ok(false);
            }
        }
        match plan.get_mut(si) {
            Some(OutStream::Copy(out)) => mux.write(*out, &mut packet, tb)?,
            Some(OutStream::Audio(a)) => a.push(&packet, tb, mux)?,
            _ => {}
        }
    }
}

/// Decode → resample (libavfilter) → Opus encode, for one audio stream.
pub(crate) struct AudioTranscoder {
    decoder: ff::decoder::Audio,
    graph: Option<ff::filter::Graph>,
    encoder: ff::encoder::Audio,
    pub(crate) out_index: usize,
    path: PathBuf,
    in_tb: ff::Rational,
}

impl AudioTranscoder {
    pub(crate) fn new(
        path: &Path,
        st: &ff::format::stream::Stream<'_>,
        mux: &mut Muxer,
        bitrates: &BTreeMap<u32, u32>,
    ) -> Result<Self> {
        let err = |op: &str| {
            let op = format!("stream {} {op}", st.index());
            move |e| Error::libav(path, op.clone(), e)
        };
        let mut ctx = ff::codec::Context::from_parameters(st.parameters())
            .map_err(err("audio decoder setup"))?;
        ctx.set_time_base(st.time_base());
        let decoder = ctx.decoder().audio().map_err(err("open audio decoder"))?;
        let codec = ff::encoder::find_by_name("libopus").ok_or(Error::EncoderNotFound {
            name: "libopus".into(),
        })?;
        let channels = decoder.channels().clamp(1, 8);
        let mut ectx = ff::codec::Context::new_with_codec(codec);
        if mux.wants_global_header() {
            ectx.set_flags(ff::codec::Flags::GLOBAL_HEADER);
        }
        let mut enc = ectx.encoder().audio().map_err(err("create opus encoder"))?;
        enc.set_rate(48_000);
        enc.set_format(ff::format::Sample::F32(ff::format::sample::Type::Packed));
        enc.set_channel_layout(ff::ChannelLayout::default(i32::from(channels)));
        enc.set_channels(i32::from(channels));
        enc.set_time_base(ff::Rational::new(1, 48_000));
        let channels32 = u32::from(channels);
        let rate = bitrates
            .get(&channels32)
            .copied()
            .unwrap_or_else(|| opus_bitrate(channels32));
        enc.set_bit_rate(rate as usize);
        let encoder = enc.open_as(codec).map_err(err("open opus encoder"))?;
        let out_index = mux.add_stream(
            ff::codec::Parameters::from(&*encoder),
            ff::Rational::new(1, 48_000),
        )?;
        Ok(Self {
            decoder,
            graph: None,
            encoder,
            out_index,
            path: path.to_path_buf(),
            in_tb: st.time_base(),
        })
    }

    fn graph_for(&mut self, frame: &ff::frame::Audio) -> Result<()> {
        if self.graph.is_some() {
            return Ok(());
        }
        let err = |e| Error::libav(&self.path, "audio filter graph", e);
        let mut g = ff::filter::Graph::new();
        let fmt: ff::ffi::AVSampleFormat = frame.format().into();
        let layout = if frame.channel_layout().bits() != 0 {
            frame.channel_layout()
        } else {
            ff::ChannelLayout::default(i32::from(frame.channels()))
        };
        let args = format!(
            "time_base=1/{}:sample_rate={}:sample_fmt={}:channel_layout=0x{:x}",
            frame.rate(),
            frame.rate(),
            fmt as i32,
            layout.bits()
        );
        g.add(
            &ff::filter::find("abuffer").expect("libavfilter has abuffer"),
            "in",
            &args,
        )
        .map_err(err)?;
        g.add(
            &ff::filter::find("abuffersink").expect("libavfilter has abuffersink"),
            "out",
            "",
        )
        .map_err(err)?;
        let out_layout = ff::ChannelLayout::default(i32::from(self.encoder.channels()));
        let spec = format!(
            "aresample=48000,aformat=sample_fmts=flt:sample_rates=48000:channel_layouts=0x{:x}",
            out_layout.bits()
        );
        g.output("in", 0)
            .and_then(|p| p.input("out", 0))
            .and_then(|p| p.parse(&spec))
            .map_err(err)?;
        g.validate().map_err(err)?;
        let frame_size = self.encoder.frame_size().max(960);
        g.get("out")
            .expect("graph has output")
            .sink()
            .set_frame_size(frame_size);
        self.graph = Some(g);
        Ok(())
    }

    pub(crate) fn push(
        &mut self,
        packet: &ff::Packet,
        _tb: ff::Rational,
        mux: &mut Muxer,
    ) -> Result<()> {
        if self.decoder.send_packet(packet).is_err() {
            // A damaged audio packet is skipped, as players do.
            return Ok(());
        }
        self.pull_decoded(mux)
    }

    fn pull_decoded(&mut self, mux: &mut Muxer) -> Result<()> {
        let mut frame = ff::frame::Audio::empty();
        while self.decoder.receive_frame(&mut frame).is_ok() {
            self.graph_for(&frame)?;
            // Timestamps in samples at the source rate; the filter graph rescales them.
            let pts = frame.timestamp().map(|p| {
                use ff::Rescale;
                p.rescale(self.in_tb, ff::Rational::new(1, frame.rate() as i32))
            });
            frame.set_pts(pts);
            let g = self.graph.as_mut().expect("built above");
            g.get("in")
                .expect("graph has input")
                .source()
                .add(&frame)
                .map_err(|e| Error::libav(&self.path, "audio filter", e))?;
            self.pull_filtered(mux)?;
        }
        Ok(())
    }

    fn pull_filtered(&mut self, mux: &mut Muxer) -> Result<()> {
        let Some(g) = self.graph.as_mut() else {
            return Ok(());
        };
        let mut out = ff::frame::Audio::empty();
        while g
            .get("out")
            .expect("graph has output")
            .sink()
            .frame(&mut out)
            .is_ok()
        {
            self.encoder
                .send_frame(&out)
                .map_err(|e| Error::libav(&self.path, "encode opus", e))?;
            let mut p = ff::Packet::empty();
            while self.encoder.receive_packet(&mut p).is_ok() {
                mux.write(self.out_index, &mut p, ff::Rational::new(1, 48_000))?;
            }
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self, mux: &mut Muxer) -> Result<()> {
        let _ = self.decoder.send_eof();
        self.pull_decoded(mux)?;
        if let Some(g) = self.graph.as_mut() {
            let _ = g.get("in").expect("graph has input").source().flush();
        }
        self.pull_filtered(mux)?;
        let _ = self.encoder.send_eof();
        let mut p = ff::Packet::empty();
        while self.encoder.receive_packet(&mut p).is_ok() {
            mux.write(self.out_index, &mut p, ff::Rational::new(1, 48_000))?;
        }
        Ok(())
    }
}
