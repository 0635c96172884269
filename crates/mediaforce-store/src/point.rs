//! A measured (source, encoder, knob, VMAF) point and the source features beside it: what `mediaforce grid` writes as JSON Lines
//! and every search records in the store, the material a knob model is fitted on.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// One encode of a source at one knob, scored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TuningPoint {
    /// Where it came from: `grid` or `search`.
    pub origin: String,
    /// The source.
    pub source: PathBuf,
    /// The source's content fingerprint (hash and modification time).
    pub source_fingerprint: String,
    /// The source's video codec.
    pub source_codec: String,
    /// The source's features (SI/TI on the samples, bits per pixel...).
    pub features: SourceFeatures,
    /// Encoder adapter id.
    pub encoder: String,
    /// The encoder library and its version, as loaded.
    pub encoder_version: String,
    /// The preset.
    pub preset: String,
    /// The options the encoder was given at this knob.
    pub params: String,
    /// The knob's name (`crf`).
    pub knob_name: String,
    /// The knob's value.
    pub knob: f64,
    /// The encoded picture size (the source's, cropped to what the encoder takes).
    pub width: u32,
    /// The encoded picture height.
    pub height: u32,
    /// Whether the whole file was encoded (else the search's samples).
    pub full: bool,
    /// Samples encoded and their total length in seconds.
    pub samples: usize,
    /// Seconds of source the samples cover.
    pub sample_seconds: f64,
    /// Encoded bytes of the samples.
    pub sample_bytes: u64,
    /// Predicted bytes of the whole file.
    pub bytes: u64,
    /// Predicted bit rate of the whole file, bit/s.
    pub bit_rate: f64,
    /// Predicted size in percent of the source.
    pub percent: f64,
    /// Predicted wall time of the whole encode, seconds.
    pub encode_seconds: f64,
    /// VMAF mean over the sample frames.
    pub vmaf_mean: f64,
    /// Harmonic mean.
    pub vmaf_harmonic: f64,
    /// 5th percentile.
    pub vmaf_p5: f64,
    /// 1st percentile.
    pub vmaf_p1: f64,
    /// Minimum.
    pub vmaf_min: f64,
    /// Extra metrics measured on the same frames (`psnr_y`, `float_ssim`...), when asked.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub metrics: std::collections::BTreeMap<String, f64>,
}

/// What makes a measured point itself (see [`TuningPoint::key`]): source fingerprint,
/// encoder, encoder version, preset, knob (its bits), whole file or samples, encoded height.
pub type PointKey = (String, String, String, String, u64, bool, u32);

impl TuningPoint {
    /// What makes a row the same measurement (a grid skips rows it already holds).
    pub fn key(&self) -> PointKey {
        (
            self.source_fingerprint.clone(),
            self.encoder.clone(),
            self.encoder_version.clone(),
            self.preset.clone(),
            self.knob.to_bits(),
            self.full,
            self.height,
        )
    }

    /// Whether the source was encoded at its own size (not scaled down for a ladder rung).
    pub fn native(&self) -> bool {
        // Cropping to what an encoder takes removes at most a line or column.
        self.height + 2 >= self.features.height
    }
}

/// What a source is like, in the numbers a knob model uses.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
pub struct SourceFeatures {
    /// Spatial information: the largest, over the frames measured, of the standard deviation
    /// of the Sobel-filtered luma (P.910), on the 8-bit scale.
    pub si: f64,
    /// The mean of the frames' spatial information.
    pub si_mean: f64,
    /// Temporal information: the largest standard deviation of the difference between a
    /// frame's luma and the previous frame's (P.910), on the 8-bit scale.
    pub ti: f64,
    /// The mean of the frames' temporal information.
    pub ti_mean: f64,
    /// Frames measured.
    pub frames: u64,
    /// Source bits per pixel: its video bit rate over width x height x frame rate.
    pub bits_per_pixel: f64,
    /// Picture width.
    pub width: u32,
    /// Picture height.
    pub height: u32,
    /// Frames a second.
    pub fps: f64,
    /// Duration in seconds.
    #[serde(default)]
    pub duration_seconds: f64,
    /// Bits per luma sample.
    pub bit_depth: u32,
    /// Whether the source is HDR (PQ or HLG transfer).
    pub hdr: bool,
}
