//! The one way a search configuration is built: a base (a file's policy, or the adapter's
//! defaults for measurements that serve no policy), then what the command asked for.

use super::types::Policy;
use crate::metrics::Scale;
use crate::search::{SearchConfig, TargetStat};

/// What a command asks of a search beyond its base: CLI flags, MCP arguments, a grid's or a
/// ladder's settings. Each field that is set replaces the base's; the rest are the base's.
/// Plain data: the probe cache and the knob model, which need the store, are attached by the
/// application layer (`App::search_config`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SearchOverrides {
    /// Another encoder (adapter id or libav name); its preset is `preset`, else the adapter's
    /// default (the policy's preset belongs to the policy's encoder).
    pub encoder: Option<String>,
    /// Encoder preset.
    pub preset: Option<String>,
    /// Target VMAF.
    pub target: Option<f64>,
    /// Statistic that must meet the target.
    pub stat: Option<TargetStat>,
    /// Extra gates every result must meet (replacing the policy's).
    pub gates: Option<Vec<(TargetStat, f64)>>,
    /// Accept results within this much above the target.
    pub tolerance: Option<f64>,
    /// Number of samples.
    pub samples: Option<usize>,
    /// Length of each sample in seconds.
    pub sample_seconds: Option<f64>,
    /// First knob to try.
    pub start_knob: Option<f64>,
    /// Lowest knob to try.
    pub min_knob: Option<f64>,
    /// Highest knob to try.
    pub max_knob: Option<f64>,
    /// Refuse results predicted above this percentage of the source (`f64::INFINITY`: no
    /// size guard).
    pub max_encoded_percent: Option<f64>,
    /// Scoring resolution policy.
    pub scale: Option<Scale>,
    /// Memory for the search's reference frames, in bytes.
    pub memory_budget: Option<u64>,
    /// Closed loop: score every N-th frame of the full output.
    pub verify_every: Option<u32>,
    /// Closed loop: decode the source again instead of scoring in the same pass.
    pub verify_separately: Option<bool>,
    /// Probe exactly these knobs instead of searching (grids, ladders).
    pub knobs: Vec<f64>,
    /// Encode the samples at this picture height (ladder rungs).
    pub resolution: Option<u32>,
    /// Extra libvmaf metrics to measure.
    pub metrics: Vec<String>,
}

/// Where a search's settings start from.
#[derive(Debug, Clone, Copy)]
pub enum SearchBase<'a> {
    /// A file's policy (encoder, preset, target, statistic, gates, tolerance, size guard,
    /// first guess by resolution, closed-loop density).
    Policy(&'a Policy),
    /// The adapter's defaults: measurements that serve no policy (grids, ladders).
    Plain,
}

/// The search configuration for a source `height` pixels tall: `base`, then `overrides`. An
/// encoder is required (from the policy or the overrides); a plain base without one gets an
/// empty encoder, which the search refuses by name.
pub fn search_config(base: SearchBase<'_>, height: u32, o: &SearchOverrides) -> SearchConfig {
    let mut cfg = match base {
        SearchBase::Policy(p) => {
            let encoder = o.encoder.as_deref().unwrap_or(&p.encode.encoder);
            let mut cfg = SearchConfig::new(encoder, p.encode.target_vmaf);
            let same_encoder = o.encoder.is_none() || encoder == p.encode.encoder;
            cfg.preset = Some(p.encode.preset.clone()).filter(|s| !s.is_empty() && same_encoder);
            cfg.stat = p.encode.target_stat;
            cfg.gates = p.gates();
            cfg.tolerance = p.encode.tolerance;
            cfg.max_encoded_percent = p.encode.max_encoded_percent;
            cfg.start_knob = p.start_knob(encoder, height);
            cfg.verify_every = p.encode.closed_loop_every.max(1);
            cfg
        }
        SearchBase::Plain => SearchConfig::new(o.encoder.as_deref().unwrap_or_default(), 0.0),
    };
    macro_rules! set {
        ($($field:ident => $to:ident),* $(,)?) => {
            $(if let Some(v) = o.$field.clone() {
                cfg.$to = v;
            })*
        };
    }
    set!(
        target => target,
        stat => stat,
        gates => gates,
        tolerance => tolerance,
        sample_seconds => sample_seconds,
        max_encoded_percent => max_encoded_percent,
        scale => scale,
        memory_budget => memory_budget,
        verify_separately => verify_separately,
    );
    if o.preset.is_some() {
        cfg.preset = o.preset.clone();
    }
    cfg.samples = o.samples.or(cfg.samples);
    cfg.start_knob = o.start_knob.or(cfg.start_knob);
    cfg.min_knob = o.min_knob.or(cfg.min_knob);
    cfg.max_knob = o.max_knob.or(cfg.max_knob);
    cfg.resolution = o.resolution.or(cfg.resolution);
    if let Some(n) = o.verify_every {
        cfg.verify_every = n.max(1);
    }
    if !o.knobs.is_empty() {
        cfg.knobs = o.knobs.clone();
    }
    if !o.metrics.is_empty() {
        cfg.metrics = o.metrics.clone();
    }
    cfg
}
