//! A search's probes as measured points (see [`crate::point`]).

pub use crate::point::{params_of, TuningPoint};
use crate::search::SearchReport;

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
