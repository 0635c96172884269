//! Video encoding: frames into any libav encoder chosen by name, packets out.
//!
//! libav's send/receive API reports "give me more input" (EAGAIN) and "fully drained" (EOF) as
//! error codes; here they are states of [`EncoderOutput`], not failures.

use crate::error::{Error, Result};
use ff::format::Pixel;
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};

pub use crate::video_config::{ColorTags, EncoderOutput, VideoEncoderConfig};

enum Backend {
    Libav(ff::encoder::Video),
    Rav1e(Box<crate::native::Rav1eEncoder>),
}

/// An open video encoder.
pub struct VideoEncoder {
    inner: Backend,
    time_base: ff::Rational,
    label: PathBuf,
    name: String,
    flushed: bool,
    frames_sent: u64,
    frame_shape: (u32, u32, Pixel),
    /// One frame's duration in the packet time base, for constant-rate streams.
    frame_duration: i64,
}

impl std::fmt::Debug for VideoEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VideoEncoder")
            .field("encoder", &self.label)
            .field("time_base", &self.time_base)
            .finish()
    }
}

/// Pixel formats an encoder accepts, in libav's order of preference (empty if it does not say).
pub fn encoder_pixel_formats(name: &str) -> Vec<Pixel> {
    crate::init();
    if name == crate::native::RAV1E {
        return crate::native::rav1e_pixel_formats();
    }
    ff::encoder::find_by_name(name)
        .and_then(|c| c.video().ok())
        .and_then(|v| v.formats().map(|f| f.collect()))
        .unwrap_or_default()
}

/// The pixel format to encode a `source` picture in with `encoder`: the source's own format when
/// the encoder takes it, else one with the same bit depth and chroma, else 10-bit 4:2:0 for deep
/// sources, else 8-bit 4:2:0. 10-bit stays 10-bit wherever the encoder can.
pub fn choose_pixel_format(encoder: &str, source: Pixel) -> Pixel {
    let formats = encoder_pixel_formats(encoder);
    let rgb = crate::ffi::pixel_layout(source).is_some_and(|l| l.rgb);
    if formats.is_empty() || (formats.contains(&source) && !rgb) {
        return source;
    }
    let depth = crate::probe::bit_depth(source).unwrap_or(8);
    let chroma = crate::probe::chroma_subsampling(source);
    // RGB sources (screenshots, stills) are converted to YUV 4:2:0, the form every delivery
    // codec compresses best, rather than kept as planar GBR.
    let chroma = chroma.filter(|c| c != "rgb");
    let same = formats.iter().copied().find(|f| {
        crate::probe::bit_depth(*f) == Some(depth)
            && crate::probe::chroma_subsampling(*f) == chroma
            && crate::ffi::pixel_layout(*f).is_some_and(|l| !l.hwaccel)
    });
    if let Some(f) = same {
        return f;
    }
    let preferred: &[Pixel] = if depth > 8 {
        &[Pixel::YUV420P10LE, Pixel::YUV420P12LE, Pixel::YUV420P]
    } else {
        &[Pixel::YUV420P, Pixel::NV12]
    };
    preferred
        .iter()
        .copied()
        .find(|f| formats.contains(f))
        .unwrap_or(formats[0])
}

/// Encoders that take any frame size, odd ones included (their formats code partial chroma
/// samples): their input is never cropped.
const ANY_SIZE: &[&str] = &["libaom-av1", "libvpx-vp9", "libvpx", "ffv1"];

/// The frame size `encoder` is given for a `width`x`height` picture encoded in `pixel`.
///
/// One rule: a size that does not hold a whole number of chroma samples (an odd width or
/// height in 4:2:0, an odd width in 4:2:2) is cropped by the last column or row for every
/// encoder that needs whole chroma samples (x264, x265, SVT-AV1, rav1e, the hardware ones),
/// which costs one line of a picture hundreds of lines tall; encoders that code odd sizes
/// (libaom, libvpx, ffv1) get the picture whole. Nothing is scaled or padded, so the encode is compared
/// with the reference cropped the same way, pixel for pixel.
pub fn encodable_size(encoder: &str, pixel: Pixel, width: u32, height: u32) -> (u32, u32) {
    if ANY_SIZE.contains(&encoder) {
        return (width, height);
    }
    let (cw, ch) = crate::ffi::pixel_layout(pixel)
        .filter(|l| !l.rgb)
        .map_or((0, 0), |l| (l.log2_chroma_w, l.log2_chroma_h));
    // A picture narrower than one chroma sample cannot be cropped to one: left as it is.
    let fit = |v: u32, log2: u8| {
        let m = 1u32 << log2;
        if v < m {
            v
        } else {
            v / m * m
        }
    };
    (fit(width, cw), fit(height, ch))
}

/// What an encoder refused, in words: the error lines it logged, or else what it was given.
fn refusal(config: &VideoEncoderConfig, op: &str, e: ff::Error) -> Error {
    let logged = crate::ffi::take_logged_errors();
    let reason = if logged.is_empty() {
        let opts: Vec<String> = config
            .options
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "{e} (given {}x{} {} frames{}{})",
            config.width,
            config.height,
            config.pixel_format.descriptor().map_or("?", |d| d.name()),
            config
                .frame_rate
                .map_or(String::new(), |r| format!(" at {:.3} fps", f64::from(r))),
            if opts.is_empty() {
                String::new()
            } else {
                format!(", options {}", opts.join(" "))
            }
        )
    } else {
        format!("{} ({e})", logged.join("; "))
    };
    Error::Encoder {
        path: config
            .source
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("encoder {}", config.encoder))),
        encoder: config.encoder.clone(),
        op: op.into(),
        reason,
    }
}

/// One frame's duration in the config's time base (0 for variable frame rate).
fn frame_duration(config: &VideoEncoderConfig) -> i64 {
    use ff::Rescale;
    match config.frame_rate {
        Some(r) if r.numerator() > 0 && r.denominator() > 0 => {
            1i64.rescale(r.invert(), config.time_base).max(1)
        }
        _ => 0,
    }
}

/// Whether the linked FFmpeg has an encoder of this name.
pub fn encoder_exists(name: &str) -> bool {
    crate::init();
    if name == crate::native::RAV1E {
        return true;
    }
    ff::encoder::find_by_name(name).is_some()
}

impl VideoEncoder {
    /// Open an encoder. Errors name the encoder and carry libav's message.
    pub fn open(config: &VideoEncoderConfig) -> Result<Self> {
        crate::init();
        // Errors name the source file where there is one, and the encoder in the step.
        let label = config
            .source
            .clone()
            .unwrap_or_else(|| PathBuf::from(format!("encoder {}", config.encoder)));
        let name = config.encoder.clone();
        if config.encoder == crate::native::RAV1E {
            let native = crate::native::Rav1eEncoder::open(config)?;
            return Ok(Self {
                time_base: native.time_base(),
                inner: Backend::Rav1e(Box::new(native)),
                label,
                name,
                flushed: false,
                frames_sent: 0,
                frame_shape: (config.width, config.height, config.pixel_format),
                frame_duration: frame_duration(config),
            });
        }
        let codec =
            ff::encoder::find_by_name(&config.encoder).ok_or_else(|| Error::EncoderNotFound {
                name: config.encoder.clone(),
            })?;
        if codec.medium() != ff::media::Type::Video {
            return Err(Error::InvalidArgument {
                what: "encoder",
                reason: format!("{} is not a video encoder", config.encoder),
            });
        }
        if config.width == 0 || config.height == 0 {
            return Err(Error::InvalidArgument {
                what: "frame size",
                reason: format!("{}x{}", config.width, config.height),
            });
        }
        for (key, _) in &config.options {
            if !crate::ffi::encoder_has_option(&codec, key) {
                return Err(Error::InvalidArgument {
                    what: "encoder option",
                    reason: format!("{} has no option '{key}'", config.encoder),
                });
            }
        }
        let mut ctx = ff::codec::Context::new_with_codec(codec);
        if let Some(threads) = config.threads {
            ctx.set_threading(ff::codec::threading::Config {
                kind: ff::codec::threading::Type::Frame,
                count: threads,
                ..Default::default()
            });
        }
        if config.global_header {
            ctx.set_flags(ff::codec::Flags::GLOBAL_HEADER);
        }
        let mut enc = ctx
            .encoder()
            .video()
            .map_err(|e| Error::libav(&label, format!("create encoder {name}"), e))?;
        enc.set_width(config.width);
        enc.set_height(config.height);
        enc.set_format(config.pixel_format);
        enc.set_time_base(config.time_base);
        enc.set_frame_rate(config.frame_rate);
        if let Some(sar) = config.sample_aspect_ratio {
            enc.set_aspect_ratio(sar);
        }
        enc.set_color_range(config.color.range);
        enc.set_color_primaries(config.color.primaries);
        enc.set_color_transfer_characteristic(config.color.transfer);
        enc.set_colorspace(config.color.matrix);
        if let Some(gop) = config.gop {
            enc.set_gop(gop);
        }
        let mut dict = ff::Dictionary::new();
        for (k, v) in &config.options {
            dict.set(k, v);
        }
        crate::ffi::take_logged_errors();
        let inner = enc
            .open_as_with(codec, dict)
            .map_err(|e| refusal(config, "open", e))?;
        // SVT-AV1 makes its threads real-time when it may; put them back (see `sched`).
        crate::sched::demote_realtime_threads();
        let time_base = inner.time_base();
        Ok(Self {
            inner: Backend::Libav(inner),
            time_base,
            label,
            name,
            flushed: false,
            frames_sent: 0,
            frame_shape: (config.width, config.height, config.pixel_format),
            frame_duration: frame_duration(config),
        })
    }

    /// The time base of produced packets.
    pub fn time_base(&self) -> ff::Rational {
        self.time_base
    }

    /// Codec parameters for a muxer stream.
    pub fn parameters(&self) -> ff::codec::Parameters {
        match &self.inner {
            Backend::Libav(e) => ff::codec::Parameters::from(&**e),
            Backend::Rav1e(e) => e.parameters(),
        }
    }

    /// Send one frame (timestamps in the config's time base). Drain with
    /// [`receive`](Self::receive) after each call.
    pub fn send(&mut self, frame: &ff::frame::Video) -> Result<()> {
        match &mut self.inner {
            Backend::Libav(e) => e.send_frame(frame).map_err(|e| {
                Error::libav(
                    &self.label,
                    format!("encoder {} encode frame", self.name),
                    e,
                )
            })?,
            Backend::Rav1e(e) => e.send(frame)?,
        }
        self.frames_sent += 1;
        Ok(())
    }

    /// Tell the encoder no more frames come; keep calling [`receive`](Self::receive) until
    /// [`EncoderOutput::Finished`].
    pub fn send_eof(&mut self) -> Result<()> {
        self.flushed = true;
        let inner = match &mut self.inner {
            Backend::Libav(e) => e,
            Backend::Rav1e(e) => {
                e.send_eof();
                return Ok(());
            }
        };
        match inner.send_eof() {
            Ok(()) | Err(ff::Error::Eof) => Ok(()),
            Err(e) => Err(Error::libav(
                &self.label,
                format!("encoder {} flush", self.name),
                e,
            )),
        }
    }

    /// Take the next packet, if the encoder has one.
    pub fn receive(&mut self) -> Result<EncoderOutput> {
        let inner = match &mut self.inner {
            Backend::Libav(e) => e,
            Backend::Rav1e(e) => return e.receive(),
        };
        let mut packet = ff::Packet::empty();
        match inner.receive_packet(&mut packet) {
            Ok(()) => {
                // Muxers size the last sample (and MP4's edit list) from packet durations; a
                // packet without one makes MP4 readers discard the final frame.
                if packet.duration() <= 0 && self.frame_duration > 0 {
                    packet.set_duration(self.frame_duration);
                }
                Ok(EncoderOutput::Packet(packet))
            }
            Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {
                Ok(EncoderOutput::NeedInput)
            }
            Err(ff::Error::Eof) => Ok(EncoderOutput::Finished),
            Err(e) => Err(Error::libav(
                &self.label,
                format!("encoder {} receive packet", self.name),
                e,
            )),
        }
    }

    /// Send a frame and hand every packet it releases to `sink`.
    pub fn encode(
        &mut self,
        frame: &ff::frame::Video,
        sink: impl FnMut(ff::Packet) -> Result<()>,
    ) -> Result<()> {
        self.send(frame)?;
        self.drain(sink)
    }

    /// Flush the encoder and hand every remaining packet to `sink`.
    pub fn finish(&mut self, sink: impl FnMut(ff::Packet) -> Result<()>) -> Result<()> {
        self.send_eof()?;
        self.drain(sink)
    }

    fn drain(&mut self, mut sink: impl FnMut(ff::Packet) -> Result<()>) -> Result<()> {
        loop {
            match self.receive()? {
                EncoderOutput::Packet(p) => sink(p)?,
                EncoderOutput::NeedInput | EncoderOutput::Finished => return Ok(()),
            }
        }
    }

    /// The label used in errors: the source file, or `"encoder libx264"` when there is none.
    pub fn label(&self) -> &Path {
        &self.label
    }
}

impl Drop for VideoEncoder {
    fn drop(&mut self) {
        // Some encoders (SVT-AV1) hang in close when torn down mid-stream: flush first and
        // discard what comes out. Bounded: a flushed encoder ends with EOF.
        let Backend::Libav(inner) = &mut self.inner else {
            return;
        };
        if !self.flushed {
            self.flushed = true;
            // SVT-AV1 also hangs when flushed before any frame; feed it one throwaway frame.
            if self.frames_sent == 0 {
                let (w, h, f) = self.frame_shape;
                let mut blank = ff::frame::Video::new(f, w, h);
                blank.set_pts(Some(0));
                let _ = inner.send_frame(&blank);
            }
            if inner.send_eof().is_ok() {
                let mut packet = ff::Packet::empty();
                while inner.receive_packet(&mut packet).is_ok() {}
            }
        }
    }
}
