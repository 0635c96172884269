//! What an encoder is opened with (size, pixel format, rate, colour, options) and what one
//! step of draining it gives: shared by the libav encoders (the `encode` module) and the
//! in-process rav1e one (the `native` module).

use ff::format::Pixel;
use ffmpeg_next as ff;
use std::path::PathBuf;

/// Colour description carried from source to output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColorTags {
    /// Limited ("tv") or full ("pc") range.
    pub range: ff::color::Range,
    /// Colour primaries.
    pub primaries: ff::color::Primaries,
    /// Transfer characteristics.
    pub transfer: ff::color::TransferCharacteristic,
    /// Matrix coefficients.
    pub matrix: ff::color::Space,
}

impl Default for ColorTags {
    fn default() -> Self {
        Self {
            range: ff::color::Range::Unspecified,
            primaries: ff::color::Primaries::Unspecified,
            transfer: ff::color::TransferCharacteristic::Unspecified,
            matrix: ff::color::Space::Unspecified,
        }
    }
}

impl ColorTags {
    /// BT.709, limited range: the usual SDR HD tagging.
    pub fn bt709() -> Self {
        Self {
            range: ff::color::Range::MPEG,
            primaries: ff::color::Primaries::BT709,
            transfer: ff::color::TransferCharacteristic::BT709,
            matrix: ff::color::Space::BT709,
        }
    }

    /// BT.2020 primaries, PQ transfer, BT.2020 non-constant matrix, limited range: HDR10.
    pub fn hdr10() -> Self {
        Self {
            range: ff::color::Range::MPEG,
            primaries: ff::color::Primaries::BT2020,
            transfer: ff::color::TransferCharacteristic::SMPTE2084,
            matrix: ff::color::Space::BT2020NCL,
        }
    }

    /// Tags of a decoded frame.
    pub fn of_frame(f: &ff::frame::Video) -> Self {
        Self {
            range: f.color_range(),
            primaries: f.color_primaries(),
            transfer: f.color_transfer_characteristic(),
            matrix: f.color_space(),
        }
    }
}

/// What to open an encoder with.
#[derive(Debug, Clone)]
pub struct VideoEncoderConfig {
    /// libav encoder name (`"libsvtav1"`, `"libx264"`, `"libx265"`, `"libvpx-vp9"`...).
    pub encoder: String,
    /// Frame width.
    pub width: u32,
    /// Frame height.
    pub height: u32,
    /// Pixel format of the frames sent (must be one the encoder accepts).
    pub pixel_format: Pixel,
    /// Time base of the frames' timestamps.
    pub time_base: ff::Rational,
    /// Nominal frame rate, when constant.
    pub frame_rate: Option<ff::Rational>,
    /// Sample aspect ratio.
    pub sample_aspect_ratio: Option<ff::Rational>,
    /// Colour tags written into the bitstream and container.
    pub color: ColorTags,
    /// Keyframe interval in frames, when set.
    pub gop: Option<u32>,
    /// Encoder threads; `None` lets the encoder choose.
    pub threads: Option<usize>,
    /// Encoder private and generic AVOptions (`crf`, `preset`, `x265-params`...). An option the
    /// encoder does not know is an error, not silently dropped.
    pub options: Vec<(String, String)>,
    /// Put codec headers in extradata (MP4 and Matroska want this).
    pub global_header: bool,
    /// The file whose frames are encoded, named in errors.
    pub source: Option<PathBuf>,
}

impl VideoEncoderConfig {
    /// A config for `encoder` with frames of `width`x`height` in `pixel_format`, time base
    /// 1/`fps` and no options.
    pub fn new(
        encoder: &str,
        width: u32,
        height: u32,
        pixel_format: Pixel,
        fps: ff::Rational,
    ) -> Self {
        Self {
            encoder: encoder.to_string(),
            width,
            height,
            pixel_format,
            time_base: fps.invert(),
            frame_rate: Some(fps),
            sample_aspect_ratio: None,
            color: ColorTags::default(),
            gop: None,
            threads: None,
            options: Vec::new(),
            global_header: true,
            source: None,
        }
    }

    /// Add an AVOption.
    pub fn option(mut self, key: &str, value: impl ToString) -> Self {
        self.options.push((key.to_string(), value.to_string()));
        self
    }
}

/// One step of draining an encoder.
pub enum EncoderOutput {
    /// A compressed packet, timestamps in the encoder's time base.
    Packet(ff::Packet),
    /// The encoder wants more frames before it can produce anything.
    NeedInput,
    /// The encoder has been flushed and has nothing left.
    Finished,
}

impl std::fmt::Debug for EncoderOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EncoderOutput::Packet(p) => write!(f, "Packet({} bytes, pts {:?})", p.size(), p.pts()),
            EncoderOutput::NeedInput => f.write_str("NeedInput"),
            EncoderOutput::Finished => f.write_str("Finished"),
        }
    }
}
