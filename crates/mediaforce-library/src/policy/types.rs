//! What a policy says: the typed sections a resolved policy is made of.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Library-wide settings that are shipped as defaults (runtime changes live in the catalog).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LibraryDefaults {
    /// Source roots.
    pub roots: Vec<String>,
    /// Staging root; empty means `<data dir>/transcode`.
    pub transcode_root: String,
    /// Ignored folder names or globs.
    pub ignore: Vec<String>,
    /// Extensions probed by scans.
    pub extensions: Vec<String>,
}

/// How to encode.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EncodePolicy {
    /// Encoder adapter id or libav name.
    pub encoder: String,
    /// Encoder preset.
    pub preset: String,
    /// Target VMAF.
    pub target_vmaf: f64,
    /// Statistic the target applies to: mean, harmonic, p5, p1, min.
    pub target_stat: crate::search::TargetStat,
    /// Extra gates like `p5>=90`.
    pub gates: Vec<String>,
    /// Accepted overshoot of the target.
    pub tolerance: f64,
    /// Largest acceptable encode as a percent of the source.
    pub max_encoded_percent: f64,
    /// Smallest saving worth a swap, percent.
    pub min_savings_percent: f64,
    /// Output container extension.
    pub container: String,
    /// Validation scoring: `full` or `sample`.
    pub validate_vmaf: VmafCoverage,
    /// Retries after a failed encode.
    pub retries: u32,
    /// Closed loop after the full encode: score every N-th frame (1 = all).
    pub closed_loop_every: u32,
    /// First probe from the model fitted on the store's measured points when it has enough
    /// sources (and the folder has no measured guess of its own).
    pub learned_guess: bool,
}

/// What to do with audio.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AudioPolicy {
    /// `copy` or `opus`.
    pub mode: AudioMode,
    /// Opus kbit/s by channel count (keys are channel counts).
    pub opus_kbps: BTreeMap<String, u32>,
    /// Audio codecs (by name prefix: `pcm` takes `pcm_s16le`...) that a repack converts to
    /// Opus in a file the plan does not re-encode.
    pub convert: Vec<String>,
    /// Audio languages (as tagged, `ger`, `deu`...) a repack leaves out; never the first audio
    /// track (taken for the original language) nor the last one left.
    pub drop_languages: Vec<String>,
    /// A repack leaves out a later audio track in a language an earlier kept track already
    /// has (a compatibility copy), unless it is a commentary or an accessibility track.
    pub drop_second_copies: bool,
}

/// Remuxing files that are not worth re-encoding out of old containers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RemuxPolicy {
    /// Containers (libav demuxer names: `avi`, `mpeg`, `asf`) whose files are offered a remux to
    /// Matroska when re-encoding them is not worth it; empty turns remuxing off.
    pub containers: Vec<String>,
}

/// What to do with subtitles.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SubtitlePolicy {
    /// `copy` or `drop`.
    pub mode: SubtitleMode,
}

/// HDR handling.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct HdrPolicy {
    /// HDR10: `encode` or `skip`.
    pub hdr10: HdrAction,
    /// HLG: `encode` or `skip`.
    pub hlg: HdrAction,
    /// Dolby Vision: `encode` or `skip` (profile 5 always skipped).
    pub dolby_vision: HdrAction,
}

/// How much of the encode validation scores.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum VmafCoverage {
    /// Every frame.
    #[default]
    Full,
    /// Every few frames.
    Sample,
}

/// What to do with audio streams.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AudioMode {
    /// Copy them as they are.
    #[default]
    Copy,
    /// Re-encode to Opus.
    Opus,
}

/// What to do with subtitle streams.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum SubtitleMode {
    /// Copy them.
    #[default]
    Copy,
    /// Leave them out.
    Drop,
}

/// What to do with a kind of HDR source.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum HdrAction {
    /// Encode it (keeping its metadata).
    #[default]
    Encode,
    /// Leave the file alone.
    Skip,
}

/// Ranking thresholds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RankingPolicy {
    /// Smaller files are "too small".
    pub min_size_mb: f64,
    /// Expected saving (percent) of a strong candidate.
    pub strong_savings_percent: f64,
}

/// What the service does by itself with a folder's new and changed files.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AutoMode {
    /// Nothing: the file is catalogued by the rescans, and a person plans it.
    #[default]
    Off,
    /// Catalogue and plan it.
    Plan,
    /// Plan it and queue its encode (new arrivals before the backlog).
    Encode,
    /// Also validate it, approve it by the `[approve]` rules and promote it.
    Promote,
}

impl AutoMode {
    /// The name in policy files.
    pub fn as_str(self) -> &'static str {
        match self {
            AutoMode::Off => "off",
            AutoMode::Plan => "plan",
            AutoMode::Encode => "encode",
            AutoMode::Promote => "promote",
        }
    }
}

/// The service's automation (`mediaforce serve`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AutomationPolicy {
    /// off | plan | encode | promote.
    pub mode: AutoMode,
    /// A new or changed file is taken once it has been unchanged this long.
    pub settle_seconds: u64,
    /// Every root is rescanned this often (`6h`, `30m`, `90s`), for what watching misses on
    /// network shares; `0` never.
    pub rescan_interval: String,
    /// No encode or promotion starts while the transcode root has less free space (GB; 0: no
    /// guard).
    pub min_free_gb: f64,
    /// Local work pauses while the load of other programs (the 1-minute load average less
    /// mediaforce's own running jobs) stays above this (0: no guard).
    pub max_foreign_load: f64,
    /// A cron expression (`0 3 * * *`; seconds optional, UTC) for a campaign of the root or
    /// folder; empty: none.
    pub schedule: String,
    /// What the scheduled campaign does: `rescan`, `plan` (rescan and plan) or `queue` (also
    /// queue the `schedule_count` best savings).
    pub schedule_action: String,
    /// How many of the plan's best items a `queue` campaign queues.
    pub schedule_count: u64,
}

impl AutomationPolicy {
    /// The rescan interval (`None`: never), checked when the policy was read.
    pub fn rescan_every(&self) -> Option<std::time::Duration> {
        parse_interval(&self.rescan_interval).ok().flatten()
    }
}

/// The first time after `after` (epoch seconds) that the cron expression `expr` names (UTC;
/// five fields, or six with seconds first); `Err` with the reason when it does not parse.
pub fn next_run(expr: &str, after: i64) -> Result<i64, String> {
    use chrono::TimeZone;
    let cron = croner::Cron::new(expr.trim())
        .with_seconds_optional()
        .parse()
        .map_err(|e| format!("{expr:?}: {e}"))?;
    let at = chrono::Utc
        .timestamp_opt(after, 0)
        .single()
        .ok_or_else(|| format!("{after}: not a time"))?;
    cron.find_next_occurrence(&at, false)
        .map(|t| t.timestamp())
        .map_err(|e| format!("{expr:?}: {e}"))
}

/// `6h`, `30m`, `90s`, `2d` or a bare number of seconds; `0` (or empty) is `None`.
pub fn parse_interval(text: &str) -> Result<Option<std::time::Duration>, String> {
    let t = text.trim();
    if t.is_empty() || t == "0" {
        return Ok(None);
    }
    let (num, unit) = t.split_at(t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()));
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{text:?}: expected a duration like 6h, 30m, 90s or 2d"))?;
    let scale = match unit.trim() {
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86400.0,
        other => return Err(format!("{text:?}: unknown unit {other:?} (s, m, h or d)")),
    };
    if !(n.is_finite() && n >= 0.0) {
        return Err(format!("{text:?}: must not be negative"));
    }
    Ok((n > 0.0).then(|| std::time::Duration::from_secs_f64(n * scale)))
}

/// The rules that approve an encode without a person (`automation.mode = "promote"`); an
/// encode that misses one waits for review.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovePolicy {
    /// The measured target statistic must be at least the target.
    pub require_target: bool,
    /// Smallest saving (percent of the source) approved by rule.
    pub min_saving_percent: f64,
    /// Every audio and subtitle stream of the source is in the encode.
    pub keep_all_streams: bool,
    /// The encode plays within this many seconds of the source.
    pub duration_tolerance_seconds: f64,
    /// Approve encodes of a source with damaged packets or frames (concealed in the encode).
    pub allow_source_damage: bool,
}

/// Originals archived by promotion.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ArchivePolicy {
    /// Days an archived original is kept after its promotion before the service deletes it
    /// (0: forever). A pruned original cannot be rolled back to.
    pub keep_days: u64,
}

/// A fully resolved policy.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Library defaults (roots, ignores, extensions).
    pub library: LibraryDefaults,
    /// Encoding.
    pub encode: EncodePolicy,
    /// First knob guess: encoder → resolution class → knob.
    pub knob: BTreeMap<String, BTreeMap<String, f64>>,
    /// Audio.
    pub audio: AudioPolicy,
    /// Subtitles.
    pub subtitles: SubtitlePolicy,
    /// Remuxing out of old containers.
    pub remux: RemuxPolicy,
    /// HDR.
    pub hdr: HdrPolicy,
    /// Ranking.
    pub ranking: RankingPolicy,
    /// What the service does by itself.
    pub automation: AutomationPolicy,
    /// Rules that approve without a person.
    pub approve: ApprovePolicy,
    /// Archived originals.
    pub archive: ArchivePolicy,
}

/// Resolution class used by the knob table.
pub fn resolution_class(height: u32) -> &'static str {
    match height {
        0..=719 => "sd",
        720..=1079 => "720p",
        1080..=1599 => "1080p",
        _ => "2160p",
    }
}

impl Policy {
    /// The first knob guess for `encoder` at `height`, if the policy has one.
    pub fn start_knob(&self, encoder: &str, height: u32) -> Option<f64> {
        let adapter = crate::codecs::find(encoder).ok();
        let names = [
            Some(encoder.to_string()),
            adapter.as_ref().map(|a| a.libav_name().to_string()),
            adapter.as_ref().map(|a| a.id().to_string()),
        ];
        names
            .iter()
            .flatten()
            .find_map(|n| self.knob.get(n))
            .and_then(|t| t.get(resolution_class(height)).copied())
    }

    /// Opus bit rates in bit/s keyed by channel count.
    pub fn opus_bitrates(&self) -> BTreeMap<u32, u32> {
        self.audio
            .opus_kbps
            .iter()
            .filter_map(|(k, v)| Some((k.parse().ok()?, v * 1000)))
            .collect()
    }

    /// The extra gates (`p5>=90`...) every result must meet, parsed (they were checked when
    /// the policy was read).
    pub fn gates(&self) -> Vec<(crate::search::TargetStat, f64)> {
        self.encode
            .gates
            .iter()
            .filter_map(|g| crate::search::parse_gate(g).ok())
            .collect()
    }

    /// The transcode options (audio, subtitles) this policy asks for.
    pub fn transcode_options(&self) -> crate::core::transcode::TranscodeOptions {
        let mut t = crate::core::transcode::TranscodeOptions::new(&self.encode.encoder);
        t.audio = if self.audio.mode == AudioMode::Opus {
            crate::core::transcode::AudioMode::Opus
        } else {
            crate::core::transcode::AudioMode::Copy
        };
        t.opus_bitrates = self.opus_bitrates();
        t.subtitles = self.subtitles.mode != SubtitleMode::Drop;
        t
    }
}
