//! A measured (source, encoder, knob, VMAF) point: what `mediaforce grid` writes as JSON Lines
//! and every search records in the store, the material a knob model is fitted on. The row
//! itself is the store's ([`TuningPoint`]); what an encoder was given at a knob is the
//! search's.

pub use crate::store::point::{PointKey, TuningPoint};

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
