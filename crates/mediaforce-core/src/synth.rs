//! Deterministic synthetic media, generated and encoded in-process.
//!
//! Tests, benchmarks and the quick-start demo need real files with known properties (codec,
//! container, bit depth, chroma, colour tags, HDR side data, audio tracks, subtitles, chapters,
//! attachments) without shipping media in git. [`SyntheticClip`] describes such a file and
//! [`SyntheticClip::write`] produces it. The picture is a moving, textured pattern so encoders
//! have real work and quality varies with the quality knob.

use crate::encode::{ColorTags, VideoEncoder, VideoEncoderConfig};
use crate::error::{Error, Result};
use crate::mux::Muxer;
use crate::probe::{ContentLightLevel, MasteringDisplay};
use ff::codec::packet::side_data::Type as SideDataType;
use ff::format::Pixel;
use ffmpeg_next as ff;
use std::collections::BTreeMap;
use std::path::Path;

/// The video track of a synthetic clip.
#[derive(Debug, Clone)]
pub struct SyntheticVideo {
    /// Width in pixels (odd sizes allowed where the encoder takes them).
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Number of frames.
    pub frames: u32,
    /// Frame rate.
    pub fps: ff::Rational,
    /// Pixel format to encode in.
    pub pixel_format: Pixel,
    /// libav encoder name.
    pub encoder: String,
    /// Encoder options.
    pub options: Vec<(String, String)>,
    /// Colour tags.
    pub color: ColorTags,
    /// HDR10 mastering display metadata to attach.
    pub mastering_display: Option<MasteringDisplay>,
    /// HDR10 content light level to attach.
    pub content_light: Option<ContentLightLevel>,
    /// Field order tag (interlaced sources).
    pub field_order: Option<ff::ffi::AVFieldOrder>,
    /// Clockwise display rotation in degrees.
    pub rotation: Option<f64>,
    /// Make frame durations alternate between one and three ticks of 1/(2*fps) (variable rate).
    pub variable_frame_rate: bool,
    /// Keyframe interval.
    pub gop: Option<u32>,
    /// Amount of fine noise texture, 0..=64 (0 gives an easy, smooth picture).
    pub texture: u16,
    /// Scene changes: from frame `n` on, texture `t` (in frame order). A clip whose scenes
    /// differ this way is hard to judge from one stretch of it.
    pub scenes: Vec<(u32, u16)>,
    /// Shots: from frame `n` on, look `l` (0, the default, is the plain pattern; each other
    /// look shifts the pattern's colours and phase, dims or brightens it and moves the box at
    /// another speed), so consecutive shots differ as cuts in a film do.
    pub looks: Vec<(u32, u8)>,
    /// Frames painted as a flash (nearly white, with the texture), as a photographer's flash or
    /// an explosion lights a single frame or two.
    pub flashes: Vec<u32>,
    /// When the first frame (and the audio) is presented, in seconds: a late start, as MPEG
    /// program and transport streams have and MP4 writes as an edit list (0 by default).
    pub start_seconds: f64,
}

impl SyntheticVideo {
    /// A `width`x`height` clip of `frames` frames at 24 fps, yuv420p, libx264 ultrafast.
    pub fn new(width: u32, height: u32, frames: u32) -> Self {
        Self {
            width,
            height,
            frames,
            fps: ff::Rational::new(24, 1),
            pixel_format: Pixel::YUV420P,
            encoder: "libx264".into(),
            options: vec![("preset".into(), "ultrafast".into())],
            color: ColorTags::bt709(),
            mastering_display: None,
            content_light: None,
            field_order: None,
            rotation: None,
            variable_frame_rate: false,
            gop: Some(12),
            texture: 24,
            scenes: Vec::new(),
            looks: Vec::new(),
            flashes: Vec::new(),
            start_seconds: 0.0,
        }
    }

    /// Use another encoder with its options.
    pub fn encoder(mut self, encoder: &str, options: &[(&str, &str)]) -> Self {
        self.encoder = encoder.into();
        self.options = options
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        self
    }

    /// Use another pixel format.
    pub fn pixel_format(mut self, f: Pixel) -> Self {
        self.pixel_format = f;
        self
    }
}

/// An audio track of a synthetic clip: a sine tone.
#[derive(Debug, Clone)]
pub struct SyntheticAudio {
    /// libav encoder (`"aac"`, `"libopus"`, `"mp2"`, `"flac"`, `"ac3"`).
    pub encoder: String,
    /// Channel count.
    pub channels: u16,
    /// Sample rate in Hz.
    pub sample_rate: u32,
    /// Tone frequency in Hz.
    pub frequency: f32,
    /// Language tag.
    pub language: Option<String>,
    /// Title tag.
    pub title: Option<String>,
    /// Mark as default track.
    pub default: bool,
}

impl SyntheticAudio {
    /// A stereo 48 kHz tone encoded with `encoder`.
    pub fn new(encoder: &str, language: &str) -> Self {
        Self {
            encoder: encoder.into(),
            channels: 2,
            sample_rate: 48_000,
            frequency: 440.0,
            language: Some(language.into()),
            title: None,
            default: false,
        }
    }
}

/// A subtitle track, written as packets (no subtitle encoder involved).
#[derive(Debug, Clone)]
pub struct SyntheticSubtitle {
    /// `"subrip"` (Matroska) or `"mov_text"` (MP4).
    pub codec: String,
    /// Language tag.
    pub language: Option<String>,
    /// Cues: start and end in seconds, text.
    pub cues: Vec<(f64, f64, String)>,
    /// Mark as forced.
    pub forced: bool,
}

/// An attachment (Matroska only), e.g. a font.
#[derive(Debug, Clone)]
pub struct SyntheticAttachment {
    /// File name tag.
    pub filename: String,
    /// MIME type tag.
    pub mimetype: String,
    /// Content.
    pub data: Vec<u8>,
}

/// A complete synthetic file.
#[derive(Debug, Clone)]
pub struct SyntheticClip {
    /// The video track.
    pub video: SyntheticVideo,
    /// Audio tracks in order.
    pub audio: Vec<SyntheticAudio>,
    /// Subtitle tracks in order.
    pub subtitles: Vec<SyntheticSubtitle>,
    /// Attachments.
    pub attachments: Vec<SyntheticAttachment>,
    /// Chapters: start, end (seconds) and title.
    pub chapters: Vec<(f64, f64, String)>,
    /// Container metadata.
    pub metadata: BTreeMap<String, String>,
}

impl SyntheticClip {
    /// A clip with only the given video track.
    pub fn new(video: SyntheticVideo) -> Self {
        Self {
            video,
            audio: Vec::new(),
            subtitles: Vec::new(),
            attachments: Vec::new(),
            chapters: Vec::new(),
            metadata: BTreeMap::new(),
        }
    }

    /// Duration of the video in seconds.
    pub fn duration_seconds(&self) -> f64 {
        f64::from(self.video.frames) / f64::from(self.video.fps)
    }

    /// Generate and write the clip; the container follows `path`'s extension.
    pub fn write(&self, path: &Path) -> Result<()> {
        crate::init();
        let v = &self.video;
        let mut mux = Muxer::create(path)?;
        let global = mux.wants_global_header();

        // Variable rate: ticks of 1/(2 fps), durations alternating 1 and 3 ticks (same mean rate).
        let time_base = if v.variable_frame_rate {
            ff::Rational::new(v.fps.denominator(), v.fps.numerator() * 2)
        } else {
            v.fps.invert()
        };
        let mut cfg = VideoEncoderConfig::new(&v.encoder, v.width, v.height, v.pixel_format, v.fps);
        cfg.time_base = time_base;
        cfg.frame_rate = (!v.variable_frame_rate).then_some(v.fps);
        cfg.color = v.color;
        cfg.gop = v.gop;
        cfg.options = v.options.clone();
        cfg.global_header = global;
        let mut enc = VideoEncoder::open(&cfg)?;
        let vidx = mux.add_stream(enc.parameters(), enc.time_base())?;
        if !v.variable_frame_rate {
            mux.set_stream_rate(vidx, v.fps);
        }
        add_side_data(&mut mux, vidx, v);

        let mut audio_encoders = Vec::new();
        for a in &self.audio {
            let (enc, idx) = open_audio(&mut mux, a, global, path)?;
            audio_encoders.push((enc, idx, a));
        }
        let subtitle_streams = self.add_other_streams(&mut mux)?;
        mux.set_metadata(&self.metadata);
        mux.write_header()?;

        // Video.
        let enc_tb = enc.time_base();
        let mut painter = Painter::new(v.width, v.height, v.pixel_format, v.texture)?;
        let mut pts = (v.start_seconds / f64::from(enc_tb)).round() as i64;
        for i in 0..v.frames {
            if let Some(&(_, t)) = v.scenes.iter().rev().find(|(from, _)| *from <= i) {
                painter.texture = t.min(64);
            }
            painter.look = v
                .looks
                .iter()
                .rev()
                .find(|(from, _)| *from <= i)
                .map_or(0, |(_, l)| *l);
            painter.flash = v.flashes.contains(&i);
            let mut frame = painter.paint(i)?;
            frame.set_pts(Some(pts));
            frame.set_color_range(v.color.range);
            frame.set_color_primaries(v.color.primaries);
            frame.set_color_transfer_characteristic(v.color.transfer);
            frame.set_color_space(v.color.matrix);
            pts += if v.variable_frame_rate {
                if i % 2 == 0 {
                    1
                } else {
                    3
                }
            } else {
                1
            };
            enc.encode(&frame, |mut p| mux.write(vidx, &mut p, enc_tb))?;
        }
        enc.finish(|mut p| mux.write(vidx, &mut p, enc_tb))?;

        // Audio: a tone as long as the video.
        let duration = self.duration_seconds();
        for (enc, idx, a) in &mut audio_encoders {
            write_tone(&mut mux, enc, *idx, a, (v.start_seconds, duration), path)?;
        }

        // Subtitles: one packet per cue, text as the codec stores it.
        for (idx, s) in &subtitle_streams {
            for (start, end, text) in &s.cues {
                let data: Vec<u8> = if s.codec == "mov_text" {
                    let mut d = (text.len() as u16).to_be_bytes().to_vec();
                    d.extend_from_slice(text.as_bytes());
                    d
                } else {
                    text.as_bytes().to_vec()
                };
                let mut p = ff::Packet::copy(&data);
                let s_ms = (start * 1000.0) as i64;
                p.set_pts(Some(s_ms));
                p.set_dts(Some(s_ms));
                p.set_duration(((end - start) * 1000.0) as i64);
                p.set_flags(ff::codec::packet::Flags::KEY);
                mux.write(*idx, &mut p, ff::Rational::new(1, 1000))?;
            }
        }
        mux.finish()
    }
}

/// The video stream's side data and field order, as `v` asks.
fn add_side_data(mux: &mut Muxer, vidx: usize, v: &SyntheticVideo) {
    if let Some(m) = &v.mastering_display {
        mux.add_stream_side_data(
            vidx,
            SideDataType::MasteringDisplayMetadata,
            &crate::ffi::mastering_bytes(m),
        );
    }
    if let Some(c) = &v.content_light {
        mux.add_stream_side_data(
            vidx,
            SideDataType::ContentLightLevel,
            &crate::ffi::content_light_bytes(c),
        );
    }
    if let Some(r) = v.rotation {
        mux.add_stream_side_data(
            vidx,
            SideDataType::DisplayMatrix,
            &crate::ffi::rotation_matrix_bytes(r),
        );
    }
    if let Some(fo) = v.field_order {
        mux.set_stream_field_order(vidx, fo);
    }
}

impl SyntheticClip {
    /// The subtitle streams (returned with their cues, written after the video), the
    /// attachments and the chapters.
    fn add_other_streams(&self, mux: &mut Muxer) -> Result<Vec<(usize, &SyntheticSubtitle)>> {
        let mut subtitle_streams = Vec::new();
        for s in &self.subtitles {
            let mut params = ff::codec::Parameters::new();
            params.set_medium(ff::media::Type::Subtitle);
            params.set_id(match s.codec.as_str() {
                "mov_text" => ff::codec::Id::MOV_TEXT,
                "ass" => ff::codec::Id::ASS,
                _ => ff::codec::Id::SUBRIP,
            });
            let idx = mux.add_stream(params, ff::Rational::new(1, 1000))?;
            let mut tags = BTreeMap::new();
            if let Some(l) = &s.language {
                tags.insert("language".to_string(), l.clone());
            }
            mux.set_stream_metadata(idx, &tags);
            if s.forced {
                mux.set_stream_disposition(idx, ff::ffi::AV_DISPOSITION_FORCED);
            }
            subtitle_streams.push((idx, s));
        }
        for a in &self.attachments {
            let mut params = ff::codec::Parameters::new();
            params.set_medium(ff::media::Type::Attachment);
            params.set_id(if a.mimetype.contains("otf") {
                ff::codec::Id::OTF
            } else {
                ff::codec::Id::TTF
            });
            crate::ffi::set_extradata(&mut params, &a.data);
            let idx = mux.add_stream(params, ff::Rational::new(1, 1000))?;
            let tags = BTreeMap::from([
                ("filename".to_string(), a.filename.clone()),
                ("mimetype".to_string(), a.mimetype.clone()),
            ]);
            mux.set_stream_metadata(idx, &tags);
        }
        for (i, (start, end, title)) in self.chapters.iter().enumerate() {
            let tb = ff::Rational::new(1, 1000);
            mux.add_chapter(
                i as i64 + 1,
                tb,
                (start * 1000.0) as i64,
                (end * 1000.0) as i64,
                title,
            )?;
        }
        Ok(subtitle_streams)
    }
}

fn open_audio(
    mux: &mut Muxer,
    a: &SyntheticAudio,
    global: bool,
    path: &Path,
) -> Result<(ff::encoder::Audio, usize)> {
    let codec = ff::encoder::find_by_name(&a.encoder).ok_or_else(|| Error::EncoderNotFound {
        name: a.encoder.clone(),
    })?;
    let audio_caps = codec
        .audio()
        .map_err(|e| Error::libav(path, format!("audio encoder {}", a.encoder), e))?;
    let format = audio_caps
        .formats()
        .and_then(|mut f| f.next())
        .unwrap_or(ff::format::Sample::F32(ff::format::sample::Type::Planar));
    let mut ctx = ff::codec::Context::new_with_codec(codec);
    if global {
        ctx.set_flags(ff::codec::Flags::GLOBAL_HEADER);
    }
    let mut enc = ctx
        .encoder()
        .audio()
        .map_err(|e| Error::libav(path, "audio encoder", e))?;
    enc.set_rate(a.sample_rate as i32);
    enc.set_format(format);
    enc.set_channel_layout(ff::ChannelLayout::default(i32::from(a.channels)));
    enc.set_channels(i32::from(a.channels));
    enc.set_time_base(ff::Rational::new(1, a.sample_rate as i32));
    enc.set_bit_rate(96_000 * usize::from(a.channels) / 2);
    let enc = enc
        .open_as(codec)
        .map_err(|e| Error::libav(path, format!("open audio encoder {}", a.encoder), e))?;
    let idx = mux.add_stream(
        ff::codec::Parameters::from(&*enc),
        ff::Rational::new(1, a.sample_rate as i32),
    )?;
    let mut tags = BTreeMap::new();
    if let Some(l) = &a.language {
        tags.insert("language".to_string(), l.clone());
    }
    if let Some(t) = &a.title {
        tags.insert("title".to_string(), t.clone());
    }
    mux.set_stream_metadata(idx, &tags);
    if a.default {
        mux.set_stream_disposition(idx, ff::ffi::AV_DISPOSITION_DEFAULT);
    }
    Ok((enc, idx))
}

fn write_tone(
    mux: &mut Muxer,
    enc: &mut ff::encoder::Audio,
    idx: usize,
    a: &SyntheticAudio,
    (start, duration): (f64, f64),
    path: &Path,
) -> Result<()> {
    let total = (duration * f64::from(a.sample_rate)).round() as usize;
    let first = (start * f64::from(a.sample_rate)).round() as i64;
    let frame_size = match enc.frame_size() {
        0 => 1024,
        n => n as usize,
    };
    let tb = ff::Rational::new(1, a.sample_rate as i32);
    let format = enc.format();
    let layout = ff::ChannelLayout::default(i32::from(a.channels));
    let mut done = 0usize;
    let drain = |enc: &mut ff::encoder::Audio, mux: &mut Muxer| -> Result<()> {
        let mut p = ff::Packet::empty();
        while enc.receive_packet(&mut p).is_ok() {
            mux.write(idx, &mut p, tb)?;
        }
        Ok(())
    };
    while done < total {
        let n = frame_size.min(total - done);
        let mut frame = ff::frame::Audio::new(format, n, layout);
        frame.set_rate(a.sample_rate);
        frame.set_pts(Some(first + done as i64));
        let sample = |i: usize| -> f32 {
            let t = (done + i) as f32 / a.sample_rate as f32;
            0.25 * (2.0 * std::f32::consts::PI * a.frequency * t).sin()
        };
        fill_audio(&mut frame, format, usize::from(a.channels), n, sample);
        enc.send_frame(&frame)
            .map_err(|e| Error::libav(path, "encode audio", e))?;
        drain(enc, mux)?;
        done += n;
    }
    enc.send_eof()
        .map_err(|e| Error::libav(path, "flush audio", e))?;
    drain(enc, mux)
}

fn fill_audio(
    frame: &mut ff::frame::Audio,
    format: ff::format::Sample,
    channels: usize,
    n: usize,
    sample: impl Fn(usize) -> f32,
) {
    use ff::format::sample::Type;
    use ff::format::Sample;
    match format {
        Sample::F32(Type::Planar) => {
            for c in 0..channels {
                let plane = frame.plane_mut::<f32>(c);
                for (i, s) in plane.iter_mut().take(n).enumerate() {
                    *s = sample(i);
                }
            }
        }
        Sample::F32(Type::Packed) => {
            let data = frame.data_mut(0);
            for i in 0..n {
                for c in 0..channels {
                    let o = (i * channels + c) * 4;
                    data[o..o + 4].copy_from_slice(&sample(i).to_ne_bytes());
                }
            }
        }
        Sample::I16(Type::Planar) => {
            for c in 0..channels {
                let data = frame.data_mut(c);
                for i in 0..n {
                    let v = (sample(i) * 32767.0) as i16;
                    data[i * 2..i * 2 + 2].copy_from_slice(&v.to_ne_bytes());
                }
            }
        }
        Sample::I16(Type::Packed) => {
            let data = frame.data_mut(0);
            for i in 0..n {
                let v = (sample(i) * 32767.0) as i16;
                for c in 0..channels {
                    let o = (i * channels + c) * 2;
                    data[o..o + 2].copy_from_slice(&v.to_ne_bytes());
                }
            }
        }
        Sample::I32(Type::Packed) => {
            let data = frame.data_mut(0);
            for i in 0..n {
                let v = (sample(i) * 2_147_483_000.0) as i32;
                for c in 0..channels {
                    let o = (i * channels + c) * 4;
                    data[o..o + 4].copy_from_slice(&v.to_ne_bytes());
                }
            }
        }
        Sample::I32(Type::Planar) => {
            for c in 0..channels {
                let data = frame.data_mut(c);
                for i in 0..n {
                    let v = (sample(i) * 2_147_483_000.0) as i32;
                    data[i * 4..i * 4 + 4].copy_from_slice(&v.to_ne_bytes());
                }
            }
        }
        // Other formats stay silent; no synthetic encoder we use asks for them.
        _ => {}
    }
}

/// Renders the moving test pattern into frames of the requested format.
pub struct Painter {
    width: u32,
    height: u32,
    texture: u16,
    /// The shot's look (see [`SyntheticVideo::looks`]).
    pub look: u8,
    /// Paint the next frames as a flash.
    pub flash: bool,
    rgb: ff::frame::Video,
    out_format: Pixel,
    scaler: Option<ff::software::scaling::Context>,
}

impl std::fmt::Debug for Painter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Painter")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("out_format", &self.out_format)
            .finish()
    }
}

impl Painter {
    /// A painter for `width`x`height` frames in `format`; `texture` (0..=64) sets noise strength.
    pub fn new(width: u32, height: u32, format: Pixel, texture: u16) -> Result<Self> {
        crate::init();
        let scaler = if format == Pixel::RGB48LE {
            None
        } else {
            Some(
                ff::software::scaling::Context::get(
                    Pixel::RGB48LE,
                    width,
                    height,
                    format,
                    width,
                    height,
                    ff::software::scaling::Flags::BICUBIC
                        | ff::software::scaling::Flags::ACCURATE_RND,
                )
                .map_err(|e| Error::InvalidArgument {
                    what: "pixel format",
                    reason: format!("cannot convert to {format:?}: {e}"),
                })?,
            )
        };
        Ok(Self {
            width,
            height,
            texture: texture.min(64),
            look: 0,
            flash: false,
            rgb: ff::frame::Video::new(Pixel::RGB48LE, width, height),
            out_format: format,
            scaler,
        })
    }

    /// Paint frame number `n`.
    pub fn paint(&mut self, n: u32) -> Result<ff::frame::Video> {
        let (w, h) = (self.width as i64, self.height as i64);
        let t = i64::from(n);
        let stride = self.rgb.stride(0);
        let texture = i64::from(self.texture);
        // A box that moves diagonally and bounces.
        let bw = (w / 4).max(2);
        let bh = (h / 4).max(2);
        let look = i64::from(self.look);
        let bx = bounce(t * (5 + 2 * look), w - bw);
        let by = bounce(t * (3 + look) + 17 * look, h - bh);
        // A look other than 0: the pattern's phase and channels moved, dimmed or brightened.
        let phase = look * 83;
        let (gain, lift) = match look % 3 {
            0 => (4, 0),
            1 => (2, 8),
            _ => (3, 96),
        };
        let data = self.rgb.data_mut(0);
        for y in 0..h {
            let row = &mut data[y as usize * stride..];
            for x in 0..w {
                let (mut r, mut g, mut b) = (
                    (x * 4 + t * 3 + phase) & 255,
                    (y * 3 + t * 2 + phase) & 255,
                    ((x + y) / 2 + t + phase) & 255,
                );
                if look != 0 {
                    (r, g, b) = match look % 3 {
                        0 => (b, r, g),
                        1 => (g, b, r),
                        _ => (r, b, g),
                    };
                    (r, g, b) = (
                        r * gain / 4 + lift / 2,
                        g * gain / 4 + lift,
                        b * gain / 4 + lift / 3,
                    );
                }
                if self.flash {
                    (r, g, b) = (235 + r / 32, 235 + g / 32, 235 + b / 32);
                }
                if x >= bx && x < bx + bw && y >= by && y < by + bh {
                    let checker = ((x - bx) / 8 + (y - by) / 8) & 1;
                    let v = if checker == 0 { 235 } else { 40 };
                    r = v;
                    g = v;
                    b = 255 - v / 2;
                }
                // Texture moves with the pattern so it is not pure noise to the encoder.
                let noise = (hash((x + t) as u64, y as u64) % 64) as i64 - 32;
                let n = noise * texture / 64;
                let px = &mut row[x as usize * 6..x as usize * 6 + 6];
                for (i, c) in [r + n, g + n, b + n].into_iter().enumerate() {
                    let v = (c.clamp(0, 255) as u16) * 257;
                    px[i * 2..i * 2 + 2].copy_from_slice(&v.to_le_bytes());
                }
            }
        }
        match &mut self.scaler {
            None => Ok(self.rgb.clone()),
            Some(s) => {
                let mut out = ff::frame::Video::new(self.out_format, self.width, self.height);
                s.run(&self.rgb, &mut out)
                    .map_err(|e| Error::InvalidArgument {
                        what: "pixel format",
                        reason: format!("conversion to {:?} failed: {e}", self.out_format),
                    })?;
                Ok(out)
            }
        }
    }
}

fn bounce(v: i64, span: i64) -> i64 {
    if span <= 0 {
        return 0;
    }
    let p = v % (2 * span);
    if p < span {
        p
    } else {
        2 * span - p
    }
}

fn hash(x: u64, y: u64) -> u64 {
    let mut h = x.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ y.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    h ^= h >> 29;
    h = h.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    h ^ (h >> 32)
}
