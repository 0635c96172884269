//! Probing: everything a planner needs to know about a file, read in-process.
//!
//! [`probe`] opens the container, reads stream parameters, side data (HDR, rotation, Dolby
//! Vision), chapters, attachments and metadata, and scans the first video packets' timestamps to
//! tell constant from variable frame rate. The result serialises to JSON with stable field names.

use crate::error::Result;
use crate::ffi;
pub use crate::ffi::{ContentLightLevel, DolbyVision, MasteringDisplay};
use ff::codec::packet::side_data::Type as SideDataType;
use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What a file contains.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MediaInfo {
    /// The probed path, as given.
    pub path: PathBuf,
    /// libav's short container name(s), e.g. `"matroska,webm"` or `"mov,mp4,m4a,3gp,3g2,mj2"`.
    pub container: String,
    /// Human-readable container name.
    pub container_long: String,
    /// Duration in seconds, when the container knows it. Some containers count it from
    /// zero, others from [`start_seconds`](Self::start_seconds): compare what plays with the
    /// packets' spans (`span::played_spans`).
    pub duration_seconds: Option<f64>,
    /// When the first stream starts, in seconds (non-zero for MPEG program and transport
    /// streams, and MP4 files whose edit list delays them), when known.
    #[serde(default)]
    pub start_seconds: Option<f64>,
    /// Overall bit rate in bit/s, when known.
    pub bit_rate: Option<u64>,
    /// File size in bytes.
    pub size_bytes: u64,
    /// Every stream in container order.
    pub streams: Vec<StreamInfo>,
    /// Chapters in order.
    pub chapters: Vec<ChapterInfo>,
    /// Global (container) metadata tags.
    pub metadata: BTreeMap<String, String>,
}

/// The kind of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamKind {
    /// Video.
    Video,
    /// Audio.
    Audio,
    /// Subtitles.
    Subtitle,
    /// Attachment (fonts in Matroska).
    Attachment,
    /// Data streams (timecode, metadata tracks).
    Data,
    /// Anything else.
    Unknown,
}

impl From<ff::media::Type> for StreamKind {
    fn from(t: ff::media::Type) -> Self {
        match t {
            ff::media::Type::Video => StreamKind::Video,
            ff::media::Type::Audio => StreamKind::Audio,
            ff::media::Type::Subtitle => StreamKind::Subtitle,
            ff::media::Type::Attachment => StreamKind::Attachment,
            ff::media::Type::Data => StreamKind::Data,
            ff::media::Type::Unknown => StreamKind::Unknown,
        }
    }
}

/// One stream.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamInfo {
    /// Index in the container.
    pub index: usize,
    /// Stream kind.
    pub kind: StreamKind,
    /// libav codec name (`"h264"`, `"opus"`, `"subrip"`, `"ttf"`, `"none"` if unknown).
    pub codec: String,
    /// Human-readable codec name, where a decoder exists.
    pub codec_long: Option<String>,
    /// Codec profile name (`"High"`, `"Main 10"`).
    pub profile: Option<String>,
    /// Stream bit rate in bit/s, when known.
    pub bit_rate: Option<u64>,
    /// Stream duration in seconds, when known.
    pub duration_seconds: Option<f64>,
    /// Frame count the container declares, when it does.
    pub frames: Option<u64>,
    /// ISO 639 language tag.
    pub language: Option<String>,
    /// Title tag.
    pub title: Option<String>,
    /// Disposition flags, lower-case (`"default"`, `"forced"`, `"hearing_impaired"`...).
    pub disposition: Vec<String>,
    /// All stream metadata tags.
    pub metadata: BTreeMap<String, String>,
    /// Video details for video streams.
    pub video: Option<VideoInfo>,
    /// Audio details for audio streams.
    pub audio: Option<AudioInfo>,
    /// Attachment details for attachment streams.
    pub attachment: Option<AttachmentInfo>,
}

/// HDR transfer kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HdrKind {
    /// SMPTE ST 2084 (HDR10, HDR10+, most Dolby Vision base layers).
    Pq,
    /// ARIB STD-B67 hybrid log-gamma.
    Hlg,
}

/// Video stream details.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoInfo {
    /// Coded width in pixels.
    pub width: u32,
    /// Coded height in pixels.
    pub height: u32,
    /// Codec level as libav reports it (e.g. 41 for H.264 4.1), when known.
    pub level: Option<i32>,
    /// Sample aspect ratio `"num:den"`, when set.
    pub sar: Option<String>,
    /// Display aspect ratio `"num:den"` (reduced), from size and SAR.
    pub dar: Option<String>,
    /// libav pixel format name (`"yuv420p10le"`).
    pub pixel_format: Option<String>,
    /// Bits per sample of the first component.
    pub bit_depth: Option<u8>,
    /// `"4:2:0"`, `"4:2:2"`, `"4:4:4"`, `"4:1:1"`, `"4:4:0"`, `"gray"` or `"rgb"`.
    pub chroma_subsampling: Option<String>,
    /// `"tv"` (limited) or `"pc"` (full), when tagged.
    pub color_range: Option<String>,
    /// Colour primaries (`"bt709"`, `"bt2020"`), when tagged.
    pub color_primaries: Option<String>,
    /// Transfer characteristics (`"smpte2084"`, `"arib-std-b67"`), when tagged.
    pub color_transfer: Option<String>,
    /// Matrix coefficients (`"bt709"`, `"bt2020nc"`), when tagged.
    pub color_matrix: Option<String>,
    /// HDR kind, from the transfer characteristics.
    pub hdr: Option<HdrKind>,
    /// Dolby Vision configuration, when present.
    pub dolby_vision: Option<DolbyVision>,
    /// Mastering display metadata (HDR10), when present.
    pub mastering_display: Option<MasteringDisplay>,
    /// Content light level (HDR10), when present.
    pub content_light: Option<ContentLightLevel>,
    /// Real base frame rate (`r_frame_rate`) as `"num/den"`.
    pub r_frame_rate: Option<String>,
    /// Average frame rate as `"num/den"`.
    pub avg_frame_rate: Option<String>,
    /// Average frame rate in frames per second.
    pub fps: Option<f64>,
    /// Whether packet timestamps show a variable frame rate.
    pub variable_frame_rate: bool,
    /// `"progressive"`, `"tt"`, `"bb"`, `"tb"`, `"bt"`, or `None` when unknown.
    pub field_order: Option<String>,
    /// Whether the stream is interlaced (from field order).
    pub interlaced: bool,
    /// Display rotation in degrees clockwise (0, 90, 180, 270), when a display matrix says so.
    pub rotation: Option<f64>,
}

/// Audio stream details.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AudioInfo {
    /// Channel count.
    pub channels: u32,
    /// Channel layout (`"stereo"`, `"5.1(side)"`), when known.
    pub channel_layout: Option<String>,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Sample format name, when known.
    pub sample_format: Option<String>,
}

/// Attachment details (fonts in Matroska).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttachmentInfo {
    /// File name tag.
    pub filename: Option<String>,
    /// MIME type tag.
    pub mimetype: Option<String>,
    /// Size in bytes.
    pub size_bytes: u64,
}

/// One chapter.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChapterInfo {
    /// Chapter id.
    pub id: i64,
    /// Start in seconds.
    pub start_seconds: f64,
    /// End in seconds.
    pub end_seconds: f64,
    /// Title tag.
    pub title: Option<String>,
}

impl MediaInfo {
    /// The first video stream that is not a cover picture.
    pub fn primary_video(&self) -> Option<&StreamInfo> {
        self.streams.iter().find(|s| {
            s.kind == StreamKind::Video && !s.disposition.iter().any(|d| d == "attached_pic")
        })
    }

    /// Streams of one kind, in order.
    pub fn streams_of(&self, kind: StreamKind) -> impl Iterator<Item = &StreamInfo> {
        self.streams.iter().filter(move |s| s.kind == kind)
    }
}

/// How many video packets the frame-rate scan reads at most.
const VFR_SCAN_PACKETS: usize = 600;

/// Probe a file.
///
/// ```no_run
/// let info = mediaforce_core::probe::probe("movie.mkv".as_ref())?;
/// println!("{} streams, {:?} s", info.streams.len(), info.duration_seconds);
/// # Ok::<(), mediaforce_core::Error>(())
/// ```
pub fn probe(path: &Path) -> Result<MediaInfo> {
    probe_with(path, true)
}

/// Probe without the packet-timestamp scan: `variable_frame_rate` is always false. For callers
/// that only need stream facts (the scorer, the search), on files whose packets would otherwise
/// be read twice.
pub fn probe_headers(path: &Path) -> Result<MediaInfo> {
    probe_with(path, false)
}

/// [`probe_headers`] with libav's stream analysis cut short where the container's headers
/// declare the streams (see [`crate::input::open_input_quick`]): what a library scan needs, at
/// a fraction of the CPU on high-resolution files.
pub fn probe_quick(path: &Path) -> Result<MediaInfo> {
    let input = crate::input::open_input_quick(path)?;
    describe(path, input, false)
}

fn probe_with(path: &Path, scan_frame_rate: bool) -> Result<MediaInfo> {
    let input = crate::input::open_input(path)?;
    describe(path, input, scan_frame_rate)
}

fn describe(
    path: &Path,
    mut input: ff::format::context::Input,
    scan_frame_rate: bool,
) -> Result<MediaInfo> {
    let size_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);

    let duration_seconds =
        positive(input.duration()).map(|d| d as f64 / f64::from(ff::ffi::AV_TIME_BASE));
    let bit_rate = positive(input.bit_rate()).map(|b| b as u64);
    let start_seconds = ffi::start_seconds(&input);
    let mut streams: Vec<StreamInfo> = input.streams().map(|s| stream_info(&s)).collect();
    let chapters = input
        .chapters()
        .map(|c| {
            let tb = c.time_base();
            ChapterInfo {
                id: c.id(),
                start_seconds: ts_seconds(c.start(), tb),
                end_seconds: ts_seconds(c.end(), tb),
                title: c.metadata().get("title").map(str::to_string),
            }
        })
        .collect();
    let metadata = dict(&input.metadata());
    let container = input.format().name().to_string();
    let container_long = ffi::format_long_name(&input);

    let primary = streams.iter().position(|s| {
        s.kind == StreamKind::Video && !s.disposition.iter().any(|d| d == "attached_pic")
    });
    if let Some(i) = primary.filter(|_| scan_frame_rate) {
        let index = streams[i].index;
        let vfr = scan_variable_frame_rate(&mut input, index);
        if let Some(v) = streams[i].video.as_mut() {
            v.variable_frame_rate = vfr;
        }
    }

    Ok(MediaInfo {
        path: path.to_path_buf(),
        container,
        container_long,
        duration_seconds,
        start_seconds,
        bit_rate,
        size_bytes,
        streams,
        chapters,
        metadata,
    })
}

fn positive(v: i64) -> Option<i64> {
    (v > 0).then_some(v)
}

fn ts_seconds(ts: i64, tb: ff::Rational) -> f64 {
    ts as f64 * f64::from(tb)
}

fn dict(d: &ff::DictionaryRef<'_>) -> BTreeMap<String, String> {
    d.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn rational_string(r: ff::Rational) -> Option<String> {
    (r.numerator() > 0 && r.denominator() > 0)
        .then(|| format!("{}/{}", r.numerator(), r.denominator()))
}

fn disposition_names(d: ff::format::stream::Disposition) -> Vec<String> {
    use ff::format::stream::Disposition as D;
    let table = [
        (D::DEFAULT, "default"),
        (D::DUB, "dub"),
        (D::ORIGINAL, "original"),
        (D::COMMENT, "comment"),
        (D::LYRICS, "lyrics"),
        (D::KARAOKE, "karaoke"),
        (D::FORCED, "forced"),
        (D::HEARING_IMPAIRED, "hearing_impaired"),
        (D::VISUAL_IMPAIRED, "visual_impaired"),
        (D::CLEAN_EFFECTS, "clean_effects"),
        (D::ATTACHED_PIC, "attached_pic"),
        (D::CAPTIONS, "captions"),
        (D::DESCRIPTIONS, "descriptions"),
        (D::METADATA, "metadata"),
    ];
    table
        .iter()
        .filter(|(flag, _)| d.contains(*flag))
        .map(|(_, n)| (*n).to_string())
        .collect()
}

fn stream_info(s: &ff::format::stream::Stream<'_>) -> StreamInfo {
    let params = s.parameters();
    let kind = StreamKind::from(params.medium());
    let id = params.id();
    let raw = ffi::raw_params(s);
    let metadata = dict(&s.metadata());
    let tb = s.time_base();
    let duration_seconds = positive(s.duration()).map(|d| ts_seconds(d, tb));
    let codec_long = ff::decoder::find(id).map(|c| c.description().to_string());

    let video = (kind == StreamKind::Video).then(|| video_info(s, &raw));
    let audio = (kind == StreamKind::Audio).then(|| AudioInfo {
        channels: raw.channels.max(0) as u32,
        channel_layout: ffi::channel_layout_name(raw.channels, raw.channel_mask),
        sample_rate: raw.sample_rate.max(0) as u32,
        sample_format: ffi::sample_format_from_raw(raw.format).map(|f| f.name().to_string()),
    });
    let attachment = (kind == StreamKind::Attachment).then(|| AttachmentInfo {
        filename: metadata.get("filename").cloned(),
        mimetype: metadata.get("mimetype").cloned(),
        size_bytes: raw.extradata_size.max(0) as u64,
    });

    StreamInfo {
        index: s.index(),
        kind,
        codec: id.name().to_string(),
        codec_long,
        profile: ffi::profile_name(id, raw.profile),
        bit_rate: positive(raw.bit_rate).map(|b| b as u64),
        duration_seconds,
        frames: positive(s.frames()).map(|f| f as u64),
        language: metadata.get("language").cloned(),
        title: metadata.get("title").cloned(),
        disposition: disposition_names(s.disposition()),
        metadata,
        video,
        audio,
        attachment,
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// Describe chroma subsampling of a pixel format as J:a:b.
pub fn chroma_subsampling(fmt: ff::format::Pixel) -> Option<String> {
    let l = ffi::pixel_layout(fmt)?;
    if l.rgb {
        return Some("rgb".into());
    }
    if l.components <= 2 {
        return Some("gray".into());
    }
    Some(
        match (l.log2_chroma_w, l.log2_chroma_h) {
            (0, 0) => "4:4:4",
            (1, 0) => "4:2:2",
            (1, 1) => "4:2:0",
            (2, 0) => "4:1:1",
            (0, 1) => "4:4:0",
            (2, 2) => "4:1:0",
            _ => return None,
        }
        .into(),
    )
}

/// A keyframe listed in a container's index: where decoding can start, and how far into the
/// file its data begins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SeekPoint {
    /// Time from the stream's first keyframe, in seconds: presentation time where the index
    /// holds it (Matroska), decode time where it does not (MP4), which trails presentation by
    /// at most the reorder delay of a few frames.
    pub seconds: f64,
    /// Byte offset of the keyframe's data in the file.
    pub byte_offset: u64,
}

/// The keyframes of stream `stream` as the container's index lists them (MP4's sample tables,
/// Matroska's cues), in time order, without reading the media data. The byte offsets between
/// two keyframes measure how many bits the source spent there, a cheap proxy for how hard that
/// stretch is to encode. Empty when the container has no index.
pub fn keyframe_index(path: &Path, stream: usize) -> Result<Vec<SeekPoint>> {
    let mut input = crate::input::open_input(path)?;
    // Matroska reads its cues lazily, on the first seek; a seek to the start loads them.
    let _ = input.seek(0, ..1);
    let Some(st) = input.stream(stream) else {
        return Ok(Vec::new());
    };
    let tb = f64::from(st.time_base());
    let entries = ffi::keyframe_index_entries(&st);
    // Some indexes hold decode timestamps (MP4's), which run ahead of presentation by the
    // reorder delay; measuring from the first keyframe, which opens the stream, cancels it.
    let start = entries.iter().map(|e| e.0).min().unwrap_or(0);
    let mut points: Vec<SeekPoint> = entries
        .into_iter()
        .map(|(ts, pos)| SeekPoint {
            seconds: ((ts - start) as f64 * tb).max(0.0),
            byte_offset: pos as u64,
        })
        .collect();
    points.sort_by(|a, b| a.seconds.total_cmp(&b.seconds));
    points.dedup_by(|a, b| a.seconds == b.seconds);
    Ok(points)
}

/// Bit depth of a pixel format's first component.
pub fn bit_depth(fmt: ff::format::Pixel) -> Option<u8> {
    ffi::pixel_layout(fmt).map(|l| l.depth)
}

fn video_info(s: &ff::format::stream::Stream<'_>, raw: &ffi::RawParams) -> VideoInfo {
    let pix = ffi::pixel_format_from_raw(raw.format);
    let width = raw.width.max(0) as u32;
    let height = raw.height.max(0) as u32;
    let (sar, dar) = if raw.sar.0 > 0 && raw.sar.1 > 0 && width > 0 && height > 0 {
        let dn = u64::from(width) * raw.sar.0 as u64;
        let dd = u64::from(height) * raw.sar.1 as u64;
        let g = gcd(dn, dd).max(1);
        (
            Some(format!("{}:{}", raw.sar.0, raw.sar.1)),
            Some(format!("{}:{}", dn / g, dd / g)),
        )
    } else if width > 0 && height > 0 {
        let g = gcd(u64::from(width), u64::from(height)).max(1);
        (
            None,
            Some(format!(
                "{}:{}",
                u64::from(width) / g,
                u64::from(height) / g
            )),
        )
    } else {
        (None, None)
    };

    let hdr = match raw.color_trc {
        ff::ffi::AVColorTransferCharacteristic::AVCOL_TRC_SMPTE2084 => Some(HdrKind::Pq),
        ff::ffi::AVColorTransferCharacteristic::AVCOL_TRC_ARIB_STD_B67 => Some(HdrKind::Hlg),
        _ => None,
    };
    let mut mastering_display = None;
    let mut content_light = None;
    let mut dolby_vision = None;
    let mut rotation = None;
    for sd in s.side_data() {
        match sd.kind() {
            SideDataType::MasteringDisplayMetadata => {
                mastering_display = ffi::parse_mastering(sd.data())
            }
            SideDataType::ContentLightLevel => content_light = ffi::parse_content_light(sd.data()),
            SideDataType::DOVI_CONF => dolby_vision = ffi::parse_dovi(sd.data()),
            SideDataType::DisplayMatrix => {
                // libav reports counter-clockwise degrees; users think of clockwise rotation.
                rotation = ffi::parse_rotation(sd.data()).map(|r| {
                    let cw = (-r).rem_euclid(360.0);
                    if cw.abs() < 1e-6 {
                        0.0
                    } else {
                        cw
                    }
                })
            }
            _ => {}
        }
    }
    use ff::ffi::AVFieldOrder as F;
    let field_order = match raw.field_order {
        F::AV_FIELD_PROGRESSIVE => Some("progressive"),
        F::AV_FIELD_TT => Some("tt"),
        F::AV_FIELD_BB => Some("bb"),
        F::AV_FIELD_TB => Some("tb"),
        F::AV_FIELD_BT => Some("bt"),
        _ => None,
    };
    let avg = s.avg_frame_rate();
    let r = s.rate();
    let fps_q = if avg.numerator() > 0 && avg.denominator() > 0 {
        avg
    } else {
        r
    };
    VideoInfo {
        width,
        height,
        level: (raw.level > 0).then_some(raw.level),
        sar,
        dar,
        pixel_format: pix.map(|p| {
            p.descriptor()
                .map(|d| d.name().to_string())
                .unwrap_or_default()
        }),
        bit_depth: pix
            .and_then(bit_depth)
            .or((raw.bits_per_raw_sample > 0).then_some(raw.bits_per_raw_sample as u8)),
        chroma_subsampling: pix.and_then(chroma_subsampling),
        color_range: tagged(ffi::color_range_name(raw.color_range)),
        color_primaries: tagged(ffi::color_primaries_name(raw.color_primaries)),
        color_transfer: tagged(ffi::color_trc_name(raw.color_trc)),
        color_matrix: tagged(ffi::color_space_name(raw.color_space)),
        hdr,
        dolby_vision,
        mastering_display,
        content_light,
        r_frame_rate: rational_string(r),
        avg_frame_rate: rational_string(avg),
        fps: (fps_q.numerator() > 0 && fps_q.denominator() > 0).then(|| f64::from(fps_q)),
        variable_frame_rate: false,
        interlaced: field_order.is_some_and(|f| f != "progressive"),
        field_order: field_order.map(str::to_string),
        rotation,
    }
}

/// libav names untagged values too ("unknown", "unspecified"); an untagged property is `None` here.
fn tagged(name: Option<String>) -> Option<String> {
    name.filter(|n| {
        !matches!(
            n.as_str(),
            "" | "unknown" | "unspecified" | "reserved" | "reserved0"
        )
    })
}

/// Read up to [`VFR_SCAN_PACKETS`] packets of one stream and decide whether frame durations vary.
///
/// Timestamps are rounded to the container's time base (Matroska: 1 ms), so 29.97 fps shows as
/// 33/34 ms steps; a rate is called variable only when steps differ by more than two ticks and
/// more than 10% of the median step.
fn scan_variable_frame_rate(input: &mut ff::format::context::Input, stream: usize) -> bool {
    let mut pts: Vec<i64> = Vec::new();
    for (s, packet) in input.packets() {
        if s.index() != stream {
            continue;
        }
        if let Some(p) = packet.pts().or(packet.dts()) {
            pts.push(p);
        }
        if pts.len() >= VFR_SCAN_PACKETS {
            break;
        }
    }
    variable_steps(&mut pts)
}

pub(crate) fn variable_steps(pts: &mut [i64]) -> bool {
    if pts.len() < 3 {
        return false;
    }
    pts.sort_unstable();
    let mut steps: Vec<i64> = pts
        .windows(2)
        .map(|w| w[1] - w[0])
        .filter(|d| *d > 0)
        .collect();
    if steps.len() < 2 {
        return false;
    }
    steps.sort_unstable();
    let median = steps[steps.len() / 2];
    let spread = steps[steps.len() - 1] - steps[0];
    spread > 2 && (spread as f64) > 0.1 * median as f64
}

#[cfg(test)]
mod tests {
    use super::variable_steps;

    #[test]
    fn ntsc_rounding_is_constant_rate() {
        // 29.97 fps in a 1 ms time base: 33/34/33... steps.
        let mut pts: Vec<i64> = (0..100)
            .map(|i| (f64::from(i) * 1001.0 / 30.0).round() as i64)
            .collect();
        assert!(!variable_steps(&mut pts));
    }

    #[test]
    fn mixed_durations_are_variable() {
        let mut pts = vec![0, 40, 80, 100, 120, 140, 180, 220];
        assert!(variable_steps(&mut pts));
    }
}
