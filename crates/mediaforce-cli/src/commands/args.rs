//! The search flags shared by `search`, `encode` and `ladder`, and their parsing.

use anyhow::{Context, Result};
use mediaforce::search::{SearchConfig, TargetStat};
use mediaforce_metrics::Scale;

/// Options shared by `crf-search` and `encode --target-vmaf`.
#[derive(Debug, clap::Args)]
pub(super) struct SearchArgs {
    /// Encoder preset (the adapter's default when omitted).
    #[arg(long)]
    pub(super) preset: Option<String>,
    /// Statistic that must meet the target.
    #[arg(long, value_enum, default_value = "mean")]
    pub(super) target_stat: StatArg,
    /// Also require STAT>=VALUE (mean, harmonic, p5, p1, min), e.g. --gate p5>=90 --gate min>=80.
    #[arg(long = "gate", value_parser = mediaforce::search::parse_gate)]
    pub(super) gates: Vec<(TargetStat, f64)>,
    /// Accept results within this much above the target.
    #[arg(long, default_value_t = 1.0)]
    pub(super) tolerance: f64,
    /// Number of samples (default: one every 8 s of the source, 1 to 30).
    #[arg(long)]
    pub(super) samples: Option<usize>,
    /// Sample length in seconds.
    #[arg(long, default_value_t = mediaforce::search::DEFAULT_SAMPLE_SECONDS)]
    pub(super) sample_duration: f64,
    /// Refuse results predicted above this percentage of the source size.
    #[arg(long, default_value_t = 80.0)]
    pub(super) max_encoded_percent: f64,
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
    /// above 1 is cheaper, but libvmaf's subsampled scores read 0.3-0.8 VMAF high).
    #[arg(long, default_value_t = 1)]
    pub(super) verify_every: u32,
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
    pub(super) fn config(
        &self,
        encoder: &str,
        target: f64,
        data_dir: &std::path::Path,
        database: Option<&str>,
    ) -> Result<SearchConfig> {
        let mut c = SearchConfig::new(encoder, target);
        c.preset = self.preset.clone();
        c.stat = match self.target_stat {
            StatArg::Mean => TargetStat::Mean,
            StatArg::Harmonic => TargetStat::Harmonic,
            StatArg::P5 => TargetStat::P5,
            StatArg::P1 => TargetStat::P1,
        };
        c.gates = self.gates.clone();
        c.tolerance = self.tolerance;
        c.samples = self.samples;
        c.sample_seconds = self.sample_duration;
        c.max_encoded_percent = self.max_encoded_percent;
        c.min_knob = self.min_crf;
        c.max_knob = self.max_crf;
        c.scale = self.scale();
        if !self.no_cache {
            let location = mediaforce::cache::ProbeCache::location(data_dir, database);
            c.cache = Some(std::sync::Arc::new(
                mediaforce::cache::ProbeCache::open(&location)
                    .with_context(|| "cannot open the probe cache".to_string())?,
            ));
        }
        c.verify_every = self.verify_every.max(1);
        c.verify_separately = self.verify_separately;
        c.memory_budget = self.memory_budget.max(16) << 20;
        if self.learned_guess {
            let adapter = mediaforce::codecs::find(encoder)?;
            let preset = self
                .preset
                .clone()
                .unwrap_or_else(|| adapter.default_preset().to_string());
            let own = mediaforce::catalog::Catalog::open_in(data_dir, database)
                .and_then(|c| c.all_points())
                .with_context(|| "cannot read the store's measured points".to_string())?;
            c.model = mediaforce::model::KnobModel::for_search(
                own,
                adapter.id(),
                &preset,
                c.stat,
                target,
            )
            .map(std::sync::Arc::new);
        }
        Ok(c)
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
