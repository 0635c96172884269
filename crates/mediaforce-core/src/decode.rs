//! Video decoding: a frame iterator over one video stream, with frame threading, frame-exact
//! seeking and conversion to the pixel format and size the consumer asks for.
//!
//! Conversion (deinterlacing, rotation, scaling, pixel format) runs through one libavfilter graph,
//! built from the first decoded frame and rebuilt if the stream changes size or format mid-way.
//! libav's EAGAIN/EOF codes are the decoder's states here, not errors.

use crate::error::{Error, Result};
use ff::format::Pixel;
use ffmpeg_next as ff;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// Scaling algorithm for size conversion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScaleAlgorithm {
    /// Bicubic: the documented scaler for quality comparison (VMAF upscaling, size mismatches).
    #[default]
    Bicubic,
    /// Bilinear: cheaper, for previews.
    Bilinear,
    /// Lanczos: sharper, for downscaled review clips.
    Lanczos,
}

impl ScaleAlgorithm {
    fn flag(self) -> &'static str {
        match self {
            ScaleAlgorithm::Bicubic => "bicubic",
            ScaleAlgorithm::Bilinear => "bilinear",
            ScaleAlgorithm::Lanczos => "lanczos",
        }
    }
}

/// How to decode.
#[derive(Debug, Clone, Default)]
pub struct DecodeOptions {
    /// Stream index; `None` picks the primary video stream (never a cover picture).
    pub stream: Option<usize>,
    /// Decoder threads; 0 lets libav choose (one per core).
    pub threads: usize,
    /// Convert frames to this pixel format.
    pub pixel_format: Option<Pixel>,
    /// Crop frames to their top-left `width`x`height` before any scaling (see
    /// [`crate::encode::encodable_size`]: encoders of 4:2:0 video need whole chroma samples).
    pub crop: Option<(u32, u32)>,
    /// Scale frames to this size (width, height).
    pub size: Option<(u32, u32)>,
    /// Scaler for size conversion.
    pub scaler: ScaleAlgorithm,
    /// Deinterlace (bwdif, one frame per frame) when frames are interlaced.
    pub deinterlace: bool,
    /// Apply the display rotation so frames come out upright.
    pub apply_rotation: bool,
    /// Start at this time in seconds: the first frame yielded is the first whose timestamp is at
    /// or after it (decoding starts at the keyframe before).
    pub start_seconds: Option<f64>,
    /// Stop after this many frames.
    pub max_frames: Option<u64>,
    /// Fail on the first sign of damaged data instead of concealing it.
    pub strict: bool,
}

impl DecodeOptions {
    /// Ask for frames in `format`.
    pub fn pixel_format(mut self, format: Pixel) -> Self {
        self.pixel_format = Some(format);
        self
    }

    /// Ask for frames of `width`x`height`.
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.size = Some((width, height));
        self
    }

    /// Start at `seconds`.
    pub fn start(mut self, seconds: f64) -> Self {
        self.start_seconds = Some(seconds);
        self
    }

    /// Fail on damaged data.
    pub fn strict(mut self, strict: bool) -> Self {
        self.strict = strict;
        self
    }
}

/// A decoded (and converted) frame.
pub struct DecodedFrame {
    /// The picture.
    pub frame: ff::frame::Video,
    /// Presentation timestamp in the stream's time base, when known.
    pub pts: Option<i64>,
    /// Presentation time in seconds from the stream's start.
    pub seconds: f64,
    /// Sequence number among yielded frames, from 0.
    pub index: u64,
}

impl std::fmt::Debug for DecodedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedFrame")
            .field("index", &self.index)
            .field("pts", &self.pts)
            .field("seconds", &self.seconds)
            .field("format", &self.frame.format())
            .field("size", &(self.frame.width(), self.frame.height()))
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Draining,
    Done,
}

/// Static facts about the decoded stream.
#[derive(Debug, Clone, Copy)]
pub struct StreamFacts {
    /// Stream index in the container.
    pub index: usize,
    /// Coded width.
    pub width: u32,
    /// Coded height.
    pub height: u32,
    /// Decoder output pixel format.
    pub pixel_format: Pixel,
    /// Stream time base.
    pub time_base: ff::Rational,
    /// Average frame rate (or real base rate when the average is unknown).
    pub frame_rate: ff::Rational,
    /// Frames the container declares, if any.
    pub frames: Option<u64>,
    /// Duration in seconds, if known.
    pub duration_seconds: Option<f64>,
    /// Clockwise display rotation in degrees.
    pub rotation: f64,
}

/// Decodes one video stream of a file.
pub struct VideoDecoder {
    path: PathBuf,
    input: ff::format::context::Input,
    decoder: ff::decoder::Video,
    facts: StreamFacts,
    options: DecodeOptions,
    converter: Option<Converter>,
    state: State,
    pending: VecDeque<DecodedFrame>,
    yielded: u64,
    start_pts: i64,
    skip_before: Option<i64>,
    decode_errors: u64,
    error_seconds: Vec<f64>,
    last_pts: Option<i64>,
}

/// How many decode-error times a decoder keeps (the count goes on).
pub const MAX_ERROR_TIMES: usize = 32;

/// Damage concealed while decoding, in words: `"3 damaged packet(s) or frame(s) (at 1.00 s,
/// 2.04 s)"`, with at most the first five times.
pub fn describe_damage(errors: u64, seconds: &[f64]) -> String {
    let at: Vec<String> = seconds
        .iter()
        .filter(|s| s.is_finite())
        .take(5)
        .map(|s| format!("{s:.2} s"))
        .collect();
    let at = if at.is_empty() {
        String::new()
    } else {
        format!(" (at {})", at.join(", "))
    };
    format!("{errors} damaged packet(s) or frame(s){at}")
}

impl std::fmt::Debug for VideoDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoDecoder")
            .field("path", &self.path)
            .field("facts", &self.facts)
            .field("yielded", &self.yielded)
            .finish()
    }
}

impl VideoDecoder {
    /// Open the video stream of `path`.
    pub fn open(path: &Path, options: DecodeOptions) -> Result<Self> {
        let input = crate::input::open_input(path)?;
        let index = match options.stream {
            Some(i) => {
                let s = input.stream(i).ok_or(Error::NoStream {
                    path: path.to_path_buf(),
                    kind: "requested video",
                })?;
                if s.parameters().medium() != ff::media::Type::Video {
                    return Err(Error::InvalidArgument {
                        what: "stream",
                        reason: format!("{}: stream {i} is not video", path.display()),
                    });
                }
                i
            }
            None => primary_video_stream(&input).ok_or(Error::NoStream {
                path: path.to_path_buf(),
                kind: "video",
            })?,
        };
        let stream = input.stream(index).expect("index checked above");
        let params = stream.parameters();
        let id = params.id();
        let codec = ff::decoder::find(id).ok_or_else(|| Error::UnsupportedCodec {
            path: path.to_path_buf(),
            stream: index,
            codec: id.name().to_string(),
        })?;
        let time_base = stream.time_base();
        let rate = if stream.avg_frame_rate().numerator() > 0 {
            stream.avg_frame_rate()
        } else {
            stream.rate()
        };
        let frames = (stream.frames() > 0).then_some(stream.frames() as u64);
        let duration_seconds = if stream.duration() > 0 {
            Some(stream.duration() as f64 * f64::from(time_base))
        } else if input.duration() > 0 {
            Some(input.duration() as f64 / f64::from(ff::ffi::AV_TIME_BASE))
        } else {
            None
        };
        let rotation = stream
            .side_data()
            .find(|sd| sd.kind() == ff::codec::packet::side_data::Type::DisplayMatrix)
            .and_then(|sd| crate::ffi::parse_rotation(sd.data()))
            .map(|r| (-r).rem_euclid(360.0))
            .unwrap_or(0.0);
        let start_pts = if stream.start_time() != ff::ffi::AV_NOPTS_VALUE {
            stream.start_time()
        } else {
            0
        };

        let mut ctx = ff::codec::Context::from_parameters(params)
            .map_err(|e| Error::libav(path, "decoder setup", e))?;
        ctx.set_threading(ff::codec::threading::Config {
            kind: ff::codec::threading::Type::Frame,
            count: options.threads,
            ..Default::default()
        });
        let mut dict = ff::Dictionary::new();
        if options.strict {
            dict.set("err_detect", "crccheck+bitstream+buffer+explode");
        }
        let mut dec = ctx.decoder();
        dec.set_packet_time_base(time_base);
        let decoder = dec
            .open_as_with(codec, dict)
            .and_then(|o| o.video())
            .map_err(|e| Error::libav(path, format!("open {} decoder", id.name()), e))?;
        let facts = StreamFacts {
            index,
            width: decoder.width(),
            height: decoder.height(),
            pixel_format: decoder.format(),
            time_base,
            frame_rate: rate,
            frames,
            duration_seconds,
            rotation,
        };
        let mut me = Self {
            path: path.to_path_buf(),
            input,
            decoder,
            facts,
            options,
            converter: None,
            state: State::Reading,
            pending: VecDeque::new(),
            yielded: 0,
            start_pts,
            skip_before: None,
            decode_errors: 0,
            error_seconds: Vec::new(),
            last_pts: None,
        };
        if let Some(s) = me.options.start_seconds {
            me.seek(s)?;
        }
        Ok(me)
    }

    /// Facts about the stream being decoded.
    pub fn facts(&self) -> &StreamFacts {
        &self.facts
    }

    /// Damaged packets or frames concealed so far (always 0 in strict mode, which fails instead).
    pub fn decode_errors(&self) -> u64 {
        self.decode_errors
    }

    /// Where the concealed damage was, in seconds from the stream's start (the first
    /// [`MAX_ERROR_TIMES`] that had a timestamp to place them).
    pub fn decode_error_seconds(&self) -> &[f64] {
        &self.error_seconds
    }

    /// Count one concealed error at `at` (a timestamp in the stream's time base), or where the
    /// last frame was when the damaged data carried no timestamp.
    fn note_error(&mut self, at: Option<i64>) {
        self.decode_errors += 1;
        if self.error_seconds.len() < MAX_ERROR_TIMES {
            let tb = f64::from(self.facts.time_base);
            // Damage with no timestamp near it is counted but has no time to report.
            if let Some(p) = at.or(self.last_pts) {
                self.error_seconds.push((p - self.start_pts) as f64 * tb);
            }
        }
    }

    /// One frame's duration in stream ticks (at least one).
    fn frame_ticks(&self) -> i64 {
        let r = self.facts.frame_rate;
        if r.numerator() > 0 && r.denominator() > 0 {
            rescale(1, r.invert(), self.facts.time_base).max(1)
        } else {
            1
        }
    }

    /// Seek so the next frame yielded is the first at or after `seconds` (from stream start).
    pub fn seek(&mut self, seconds: f64) -> Result<()> {
        if !seconds.is_finite() || seconds < 0.0 {
            return Err(Error::InvalidArgument {
                what: "seek time",
                reason: format!("{seconds}"),
            });
        }
        let tb = self.facts.time_base;
        let target = self.start_pts + (seconds / f64::from(tb)).round() as i64;
        // Container-wide seek in AV_TIME_BASE units, to a keyframe at or before the target.
        let ts = (seconds * f64::from(ff::ffi::AV_TIME_BASE)) as i64
            + rescale(
                self.start_pts,
                tb,
                ff::Rational::new(1, ff::ffi::AV_TIME_BASE),
            );
        self.input
            .seek(ts, ..ts)
            .map_err(|e| Error::libav(&self.path, format!("seek to {seconds:.3}s"), e))?;
        self.decoder.flush();
        self.converter = None;
        self.pending.clear();
        self.state = State::Reading;
        self.skip_before = Some(target);
        self.last_pts = None;
        Ok(())
    }

    /// The next frame, `Ok(None)` at the end.
    pub fn next_frame(&mut self) -> Result<Option<DecodedFrame>> {
        loop {
            if self.options.max_frames.is_some_and(|m| self.yielded >= m) {
                return Ok(None);
            }
            if let Some(mut f) = self.pending.pop_front() {
                f.index = self.yielded;
                self.yielded += 1;
                return Ok(Some(f));
            }
            match self.state {
                State::Done => return Ok(None),
                State::Reading => self.read_and_decode()?,
                State::Draining => self.drain()?,
            }
        }
    }

    fn read_and_decode(&mut self) -> Result<()> {
        let mut packet = ff::Packet::empty();
        match packet.read(&mut self.input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => {
                // Draining: the decoder gives up its delayed frames.
                let _ = self.decoder.send_eof();
                self.state = State::Draining;
                return Ok(());
            }
            Err(e) if !self.options.strict && e == ff::Error::InvalidData => {
                self.note_error(None);
                return Ok(());
            }
            Err(e) => {
                return Err(Error::Corrupt {
                    path: self.path.clone(),
                    at: format!("frame {}", self.yielded),
                    reason: format!("reading packet: {e}"),
                })
            }
        }
        if packet.stream() != self.facts.index {
            return Ok(());
        }
        let at = packet.pts().or(packet.dts());
        match self.decoder.send_packet(&packet) {
            Ok(()) => {}
            Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {
                // Cannot happen when we drain after every packet; treat as a state, not a failure.
            }
            Err(e) => {
                if self.options.strict {
                    return Err(self.corrupt(at, e));
                }
                self.note_error(at);
            }
        }
        self.receive_all(at)
    }

    fn drain(&mut self) -> Result<()> {
        self.receive_all(None)?;
        if let Some(c) = self.converter.as_mut() {
            c.flush()?;
            let mut rest = Vec::new();
            while let Some(frame) = c.pull()? {
                rest.push(frame);
            }
            for frame in rest {
                self.push_converted(frame);
            }
        }
        self.state = State::Done;
        Ok(())
    }

    fn corrupt(&self, at: Option<i64>, e: ff::Error) -> Error {
        let at = match at {
            Some(p) => format!(
                "{:.3}s",
                (p - self.start_pts) as f64 * f64::from(self.facts.time_base)
            ),
            None => format!("frame {}", self.yielded),
        };
        Error::Corrupt {
            path: self.path.clone(),
            at,
            reason: e.to_string(),
        }
    }

    fn receive_all(&mut self, at: Option<i64>) -> Result<()> {
        loop {
            let mut frame = ff::frame::Video::empty();
            match self.decoder.receive_frame(&mut frame) {
                Ok(()) => {
                    let pts = frame.timestamp();
                    // Frames before a seek target are thrown away unseen: one decoded with
                    // missing references (an open GOP) is not damage in the file.
                    if let (Some(skip), Some(p)) = (self.skip_before, pts) {
                        if p < skip {
                            continue;
                        }
                        self.skip_before = None;
                    }
                    if frame.is_corrupt() || frame.has_decode_errors() {
                        if self.options.strict {
                            return Err(
                                self.corrupt(frame.timestamp().or(at), ff::Error::InvalidData)
                            );
                        }
                        self.note_error(frame.timestamp().or(at));
                    }
                    // Frames leave in presentation order with strictly increasing timestamps:
                    // a frame without one (the last of an AVI with B-frames, whose packets
                    // carry decode times only) or repeating one (packed B-frames) gets the
                    // previous frame's plus one frame duration. Encoders and muxers refuse
                    // anything else.
                    let pts = match (pts, self.last_pts) {
                        (Some(p), Some(last)) if p <= last => Some(last + self.frame_ticks()),
                        (None, Some(last)) => Some(last + self.frame_ticks()),
                        (p, _) => p,
                    };
                    self.last_pts = pts.or(self.last_pts);
                    frame.set_pts(pts);
                    self.convert(frame)?;
                }
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {
                    return Ok(())
                }
                Err(ff::Error::Eof) => return Ok(()),
                Err(e) => {
                    if self.options.strict {
                        return Err(self.corrupt(at, e));
                    }
                    self.note_error(at);
                    return Ok(());
                }
            }
        }
    }

    fn convert(&mut self, frame: ff::frame::Video) -> Result<()> {
        let spec = self.filter_spec(&frame);
        let Some(spec) = spec else {
            self.push_converted(frame);
            return Ok(());
        };
        let key = (frame.width(), frame.height(), frame.format());
        if self.converter.as_ref().map(|c| c.key) != Some(key) {
            if let Some(mut old) = self.converter.take() {
                old.flush()?;
                while let Some(f) = old.pull()? {
                    self.push_converted(f);
                }
            }
            self.converter = Some(Converter::new(
                &self.path,
                &frame,
                self.facts.time_base,
                &spec,
            )?);
        }
        let c = self.converter.as_mut().expect("set above");
        c.push(&frame)?;
        while let Some(f) = self.converter.as_mut().expect("set above").pull()? {
            self.push_converted(f);
        }
        Ok(())
    }

    fn push_converted(&mut self, frame: ff::frame::Video) {
        let tb = self
            .converter
            .as_ref()
            .map_or(self.facts.time_base, |c| c.out_time_base);
        let pts = frame.pts();
        let seconds = pts.map_or(0.0, |p| {
            (p as f64 * f64::from(tb)) - self.start_pts as f64 * f64::from(self.facts.time_base)
        });
        // Report timestamps in the stream's time base even when a filter changed it.
        let pts = pts.map(|p| rescale(p, tb, self.facts.time_base));
        self.pending.push_back(DecodedFrame {
            frame,
            pts,
            seconds,
            index: 0,
        });
    }

    fn filter_spec(&self, frame: &ff::frame::Video) -> Option<String> {
        let mut parts: Vec<String> = Vec::new();
        if self.options.deinterlace && frame.is_interlaced() {
            parts.push("bwdif=mode=send_frame:parity=auto:deint=all".into());
        }
        let mut w = frame.width();
        let mut h = frame.height();
        if self.options.apply_rotation {
            let r = self.facts.rotation.round() as i64;
            match r {
                90 => {
                    parts.push("transpose=clock".into());
                    std::mem::swap(&mut w, &mut h);
                }
                180 => parts.push("hflip,vflip".into()),
                270 => {
                    parts.push("transpose=cclock".into());
                    std::mem::swap(&mut w, &mut h);
                }
                _ => {}
            }
        }
        if let Some((cw, ch)) = self.options.crop {
            if (cw, ch) != (w, h) && cw <= w && ch <= h {
                parts.push(format!("crop={cw}:{ch}:0:0:exact=1"));
                (w, h) = (cw, ch);
            }
        }
        if let Some((tw, th)) = self.options.size {
            if (tw, th) != (w, h) {
                parts.push(format!(
                    "scale={tw}:{th}:flags={}+accurate_rnd+full_chroma_int",
                    self.options.scaler.flag()
                ));
            }
        }
        if let Some(fmt) = self.options.pixel_format {
            if fmt != frame.format() {
                let name = fmt.descriptor().map(|d| d.name()).unwrap_or("yuv420p");
                parts.push(format!("format=pix_fmts={name}"));
            }
        }
        (!parts.is_empty()).then(|| parts.join(","))
    }
}

impl Iterator for VideoDecoder {
    type Item = Result<DecodedFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.next_frame() {
            Ok(Some(f)) => Some(Ok(f)),
            Ok(None) => None,
            Err(e) => {
                self.state = State::Done;
                self.pending.clear();
                Some(Err(e))
            }
        }
    }
}

/// The first video stream that is not an attached cover picture.
pub fn primary_video_stream(input: &ff::format::context::Input) -> Option<usize> {
    input
        .streams()
        .find(|s| {
            s.parameters().medium() == ff::media::Type::Video
                && !s
                    .disposition()
                    .contains(ff::format::stream::Disposition::ATTACHED_PIC)
        })
        .map(|s| s.index())
}

fn rescale(v: i64, from: ff::Rational, to: ff::Rational) -> i64 {
    use ff::Rescale;
    v.rescale(from, to)
}

/// A libavfilter graph from decoded frames to the requested form.
struct Converter {
    graph: ff::filter::Graph,
    key: (u32, u32, Pixel),
    out_time_base: ff::Rational,
    path: PathBuf,
}

impl Converter {
    fn new(
        path: &Path,
        frame: &ff::frame::Video,
        time_base: ff::Rational,
        spec: &str,
    ) -> Result<Self> {
        let err = |e| Error::libav(path, format!("build filter graph '{spec}'"), e);
        let mut graph = ff::filter::Graph::new();
        let sar = frame.aspect_ratio();
        let sar = if sar.numerator() > 0 {
            sar
        } else {
            ff::Rational::new(1, 1)
        };
        let fmt: ff::ffi::AVPixelFormat = frame.format().into();
        let args = format!(
            "video_size={}x{}:pix_fmt={}:time_base={}/{}:pixel_aspect={}/{}",
            frame.width(),
            frame.height(),
            fmt as i32,
            time_base.numerator(),
            time_base.denominator(),
            sar.numerator(),
            sar.denominator()
        );
        let (buffer, sink) = graph_endpoints()?;
        graph.add(&buffer, "in", &args).map_err(err)?;
        graph.add(&sink, "out", "").map_err(err)?;
        graph
            .output("in", 0)
            .and_then(|p| p.input("out", 0))
            .and_then(|p| p.parse(spec))
            .map_err(err)?;
        graph.validate().map_err(err)?;
        let out_time_base = graph
            .get("out")
            .map(|mut c| c.sink().time_base())
            .unwrap_or(time_base);
        Ok(Self {
            graph,
            key: (frame.width(), frame.height(), frame.format()),
            out_time_base,
            path: path.to_path_buf(),
        })
    }

    fn push(&mut self, frame: &ff::frame::Video) -> Result<()> {
        let mut src = self.graph.get("in").expect("graph has an input");
        crate::ffi::buffersrc_add_keep_ref(&mut src, frame)
            .map_err(|e| Error::libav(&self.path, "filter frame", e))
    }

    fn flush(&mut self) -> Result<()> {
        let mut src = self.graph.get("in").expect("graph has an input");
        src.source()
            .flush()
            .map_err(|e| Error::libav(&self.path, "flush filter", e))
    }

    fn pull(&mut self) -> Result<Option<ff::frame::Video>> {
        pull_filtered(&mut self.graph, &self.path)
    }
}

/// The `buffer` source and `buffersink` filters every frame graph starts and ends with.
pub(crate) fn graph_endpoints() -> Result<(ff::filter::Filter, ff::filter::Filter)> {
    let buffer = ff::filter::find("buffer").ok_or(Error::InvalidArgument {
        what: "filter",
        reason: "libavfilter has no buffer source".into(),
    })?;
    let sink = ff::filter::find("buffersink").ok_or(Error::InvalidArgument {
        what: "filter",
        reason: "libavfilter has no buffer sink".into(),
    })?;
    Ok((buffer, sink))
}

/// The next frame from the graph's `out` sink; `None` when it needs more input (EAGAIN) or has
/// finished (EOF), which are states, not errors.
pub(crate) fn pull_filtered(
    graph: &mut ff::filter::Graph,
    path: &Path,
) -> Result<Option<ff::frame::Video>> {
    let mut out = ff::frame::Video::empty();
    let mut sink = graph.get("out").expect("graph has an output");
    match sink.sink().frame(&mut out) {
        Ok(()) => Ok(Some(out)),
        Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => Ok(None),
        Err(ff::Error::Eof) => Ok(None),
        Err(e) => Err(Error::libav(path, "filter output", e)),
    }
}

/// Converts frames one for one to a fixed size and pixel format (bicubic by default), rebuilding
/// its filter graph when the input changes shape. For frames that do not come from a
/// [`VideoDecoder`] (in-memory encodes, generated pictures).
pub struct FrameConverter {
    width: u32,
    height: u32,
    format: Pixel,
    scaler: ScaleAlgorithm,
    inner: Option<Converter>,
    label: PathBuf,
}

impl std::fmt::Debug for FrameConverter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameConverter")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("format", &self.format)
            .finish()
    }
}

impl FrameConverter {
    /// A converter to `width`x`height` in `format`.
    pub fn new(width: u32, height: u32, format: Pixel, scaler: ScaleAlgorithm) -> Self {
        crate::init();
        Self {
            width,
            height,
            format,
            scaler,
            inner: None,
            label: PathBuf::from("frame converter"),
        }
    }

    /// Convert one frame; frames already in the target shape are copied by reference.
    pub fn convert(&mut self, frame: &ff::frame::Video) -> Result<ff::frame::Video> {
        if (frame.width(), frame.height(), frame.format()) == (self.width, self.height, self.format)
        {
            return Ok(frame.clone());
        }
        let key = (frame.width(), frame.height(), frame.format());
        if self.inner.as_ref().map(|c| c.key) != Some(key) {
            let name = self
                .format
                .descriptor()
                .map(|d| d.name())
                .unwrap_or("yuv420p");
            let spec = format!(
                "scale={}:{}:flags={}+accurate_rnd+full_chroma_int,format=pix_fmts={name}",
                self.width,
                self.height,
                self.scaler.flag()
            );
            self.inner = Some(Converter::new(
                &self.label,
                frame,
                ff::Rational::new(1, 1000),
                &spec,
            )?);
        }
        let c = self.inner.as_mut().expect("built above");
        c.push(frame)?;
        c.pull()?.ok_or_else(|| Error::InvalidArgument {
            what: "frame",
            reason: "converter produced no frame".into(),
        })
    }
}

/// Decodes packets held in memory (an in-memory encode) back to frames.
pub struct PacketDecoder {
    decoder: ff::decoder::Video,
    label: PathBuf,
}

impl std::fmt::Debug for PacketDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketDecoder")
            .field("label", &self.label)
            .finish()
    }
}

impl PacketDecoder {
    /// A decoder for a stream with these codec parameters; `threads` 0 lets libav choose.
    pub fn new(
        params: ff::codec::Parameters,
        time_base: ff::Rational,
        threads: usize,
    ) -> Result<Self> {
        crate::init();
        let id = params.id();
        let label = PathBuf::from(format!("in-memory {} stream", id.name()));
        let codec = ff::decoder::find(id).ok_or_else(|| Error::UnsupportedCodec {
            path: label.clone(),
            stream: 0,
            codec: id.name().to_string(),
        })?;
        let mut ctx = ff::codec::Context::from_parameters(params)
            .map_err(|e| Error::libav(&label, "decoder setup", e))?;
        ctx.set_threading(ff::codec::threading::Config {
            kind: ff::codec::threading::Type::Frame,
            count: threads,
            ..Default::default()
        });
        let mut dec = ctx.decoder();
        dec.set_packet_time_base(time_base);
        let decoder = dec
            .open_as(codec)
            .and_then(|o| o.video())
            .map_err(|e| Error::libav(&label, "open decoder", e))?;
        Ok(Self { decoder, label })
    }

    /// Decode one packet; decoded frames go to `sink`.
    pub fn decode(
        &mut self,
        packet: &ff::Packet,
        sink: impl FnMut(ff::frame::Video),
    ) -> Result<()> {
        self.decoder
            .send_packet(packet)
            .map_err(|e| Error::libav(&self.label, "decode packet", e))?;
        self.receive(sink)
    }

    /// Flush the decoder; remaining frames go to `sink`.
    pub fn finish(&mut self, sink: impl FnMut(ff::frame::Video)) -> Result<()> {
        let _ = self.decoder.send_eof();
        self.receive(sink)
    }

    fn receive(&mut self, mut sink: impl FnMut(ff::frame::Video)) -> Result<()> {
        loop {
            let mut frame = ff::frame::Video::empty();
            match self.decoder.receive_frame(&mut frame) {
                Ok(()) => sink(frame),
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {
                    return Ok(())
                }
                Err(ff::Error::Eof) => return Ok(()),
                Err(e) => return Err(Error::libav(&self.label, "receive frame", e)),
            }
        }
    }
}
