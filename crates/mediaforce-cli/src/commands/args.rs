//! The search flags shared by `search`, `encode` and `ladder`, and their parsing.

use anyhow::Result;
use mediaforce::policy::SearchOverrides;
use mediaforce::search::TargetStat;
use mediaforce_app::search::SearchRequest;
use mediaforce_metrics::Scale;

/// Options shared by `crf-search` and `encode --target-vmaf`. What is not given comes from the
/// source's policy (`mediaforce policy show FILE`).
#[derive(Debug, clap::Args)]
pub(super) struct SearchArgs {
    /// Encoder preset (the adapter's default when omitted).
    #[arg(long)]
    pub(super) preset: Option<String>,
    /// Statistic that must meet the target (the policy's, mean by default).
    #[arg(long, value_enum)]
    pub(super) target_stat: Option<StatArg>,
    /// Also require STAT>=VALUE (mean, harmonic, p5, p1, min), e.g. --gate p5>=90 --gate min>=80
    /// (replacing the policy's gates).
    #[arg(long = "gate", value_parser = mediaforce::search::parse_gate)]
    pub(super) gates: Vec<(TargetStat, f64)>,
    /// Accept results within this much above the target (the policy's, 1 by default).
    #[arg(long)]
    pub(super) tolerance: Option<f64>,
    /// Number of samples (default: one every 8 s of the source, 1 to 30).
    #[arg(long)]
    pub(super) samples: Option<usize>,
    /// Sample length in seconds.
    #[arg(long, default_value_t = mediaforce::search::DEFAULT_SAMPLE_SECONDS)]
    pub(super) sample_duration: f64,
    /// Refuse results predicted above this percentage of the source size (the policy's, 80 by
    /// default).
    #[arg(long)]
    pub(super) max_encoded_percent: Option<f64>,
    /// Lowest knob value to try.
    #[arg(long)]
    pub(super) min_crf: Option<f64>,
    /// Highest knob value to try.
    #[arg(long)]
    pub(super) max_crf: Option<f64>,
    /// Scoring resolution policy.
    #[arg(long, value_enum, default_value = "auto")]
    pub(super) scale: ScaleArg,
    /// Do not read or write the probe cache.
    #[arg(long)]
    pub(super) no_cache: bool,
    /// Memory for reference frames held by the search, in MiB; when the samples do not fit,
    /// fewer are taken (30 samples of 2 s of 1080p 8-bit at 24 fps need about 4.2 GiB; the
    /// default holds 14 of them).
    #[arg(long, default_value_t = 2048)]
    pub(super) memory_budget: u64,
    /// Closed loop of `encode --target-vmaf`: score every N-th frame of the output (1: all;
    /// above 1 is cheaper, but libvmaf's subsampled scores read 0.3-0.8 VMAF high; the
    /// policy's `closed_loop_every` by default).
    #[arg(long)]
    pub(super) verify_every: Option<u32>,
    /// Closed loop: decode the source again after the encode to score it, instead of scoring
    /// the output in the same pass as it is encoded.
    #[arg(long)]
    pub(super) verify_separately: bool,
    /// First probe from the knob model fitted on the store's measured points and the shipped
    /// corpus of public clips (as library encodes do), instead of the adapter's default.
    #[arg(long)]
    pub(super) learned_guess: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(super) enum StatArg {
    Mean,
    Harmonic,
    P5,
    P1,
}

impl SearchArgs {
    /// The search these flags ask for on top of the source's policy, with `encoder` and
    /// `target`.
    pub(super) fn request(&self, encoder: &str, target: f64) -> SearchRequest {
        SearchRequest {
            overrides: SearchOverrides {
                encoder: Some(encoder.to_string()),
                preset: self.preset.clone(),
                target: Some(target),
                stat: self.target_stat.map(|s| match s {
                    StatArg::Mean => TargetStat::Mean,
                    StatArg::Harmonic => TargetStat::Harmonic,
                    StatArg::P5 => TargetStat::P5,
                    StatArg::P1 => TargetStat::P1,
                }),
                gates: (!self.gates.is_empty()).then(|| self.gates.clone()),
                tolerance: self.tolerance,
                samples: self.samples,
                sample_seconds: Some(self.sample_duration),
                min_knob: self.min_crf,
                max_knob: self.max_crf,
                max_encoded_percent: self.max_encoded_percent,
                scale: Some(self.scale()),
                memory_budget: Some(self.memory_budget.max(16) << 20),
                verify_every: self.verify_every,
                verify_separately: Some(self.verify_separately),
                ..Default::default()
            },
            plain: false,
            cache: !self.no_cache,
            learned_guess: Some(self.learned_guess),
        }
    }

    pub(super) fn scale(&self) -> Scale {
        match self.scale {
            ScaleArg::Auto => Scale::Auto,
            ScaleArg::Native => Scale::Native,
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(super) enum ScaleArg {
    Auto,
    Native,
}

pub(super) fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got '{s}'"))
}
