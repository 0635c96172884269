//! Measured (source, encoder, knob, VMAF) points: what `mediaforce grid` writes as JSON Lines
//! and every search records in the store, the material a knob model is fitted on.

use crate::features::SourceFeatures;
use crate::search::SearchReport;
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

impl TuningPoint {
    /// What makes a row the same measurement (a grid skips rows it already holds).
    pub fn key(&self) -> (String, String, String, String, u64, bool, u32) {
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

/// The options an adapter gives its encoder at `preset` and `knob`, as `key=value,...`.
pub fn params_of(adapter: &dyn crate::codecs::CodecAdapter, preset: &str, knob: f64) -> String {
    adapter
        .options(preset, knob)
        .map(|o| {
            o.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// Every probe of a search as points (the search must have measured the source's features).
pub fn points_of(
    report: &SearchReport,
    origin: &str,
    source_fingerprint: &str,
    source_codec: &str,
    full: bool,
) -> Vec<TuningPoint> {
    let Some(features) = report.features else {
        return Vec::new();
    };
    let adapter = crate::codecs::find(&report.encoder).ok();
    let version = adapter.as_ref().map_or_else(String::new, |a| a.version());
    let (w, h) = report
        .scaled_to
        .or(report.cropped_to)
        .unwrap_or((features.width, features.height));
    let frames: u64 = report.samples.iter().map(|s| s.frames).sum();
    let seconds = frames as f64 / features.fps.max(1.0);
    let duration = features.duration_seconds;
    report
        .probes
        .iter()
        .map(|p| TuningPoint {
            origin: origin.to_string(),
            source: report.input.clone(),
            source_fingerprint: source_fingerprint.to_string(),
            source_codec: source_codec.to_string(),
            features,
            encoder: report.encoder.clone(),
            encoder_version: version.clone(),
            preset: report.preset.clone(),
            params: adapter
                .as_ref()
                .map(|a| params_of(a.as_ref(), &report.preset, p.knob))
                .unwrap_or_default(),
            knob_name: report.knob_name.clone(),
            knob: p.knob,
            width: w,
            height: h,
            full,
            samples: report.samples.len(),
            sample_seconds: seconds,
            sample_bytes: p.sample_bytes,
            bytes: p.predicted_bytes,
            bit_rate: if duration > 0.0 {
                p.predicted_bytes as f64 * 8.0 / duration
            } else {
                0.0
            },
            percent: p.predicted_percent,
            encode_seconds: p.predicted_encode_seconds,
            vmaf_mean: p.vmaf.mean,
            vmaf_harmonic: p.vmaf.harmonic_mean,
            vmaf_p5: p.vmaf.p5,
            vmaf_p1: p.vmaf.p1,
            vmaf_min: p.vmaf.min,
            metrics: p.metrics.clone(),
        })
        .collect()
}
