//! The pooled statistic a VMAF target is met by.

use crate::metrics::Pooled;

/// Which pooled statistic must meet the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetStat {
    /// Arithmetic mean (default).
    #[default]
    Mean,
    /// Harmonic mean (punishes bad frames more).
    Harmonic,
    /// 5th percentile frame score.
    P5,
    /// 1st percentile frame score.
    P1,
    /// Lowest frame score.
    Min,
}

impl TargetStat {
    /// The statistic's value in pooled scores.
    pub fn of(self, p: &Pooled) -> f64 {
        match self {
            TargetStat::Mean => p.mean,
            TargetStat::Harmonic => p.harmonic_mean,
            TargetStat::P5 => p.p5,
            TargetStat::P1 => p.p1,
            TargetStat::Min => p.min,
        }
    }
}

impl std::fmt::Display for TargetStat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TargetStat::Mean => "mean",
            TargetStat::Harmonic => "harmonic",
            TargetStat::P5 => "p5",
            TargetStat::P1 => "p1",
            TargetStat::Min => "min",
        })
    }
}

impl std::str::FromStr for TargetStat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim() {
            "mean" => TargetStat::Mean,
            "harmonic" => TargetStat::Harmonic,
            "p5" => TargetStat::P5,
            "p1" => TargetStat::P1,
            "min" => TargetStat::Min,
            other => {
                return Err(format!(
                    "unknown statistic '{other}' (mean, harmonic, p5, p1, min)"
                ))
            }
        })
    }
}
