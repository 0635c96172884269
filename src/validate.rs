//! Machine validation of a staged encode against its source, before anyone may promote it.
//!
//! Checks, cheapest first: the output exists and is smaller than the source by at least the
//! policy minimum; the same audio and subtitle streams with the same languages (or what the
//! policy changed); duration within max(0.5 s, one frame per minute); a full strict decode with
//! zero errors; the same frame count as the source; VMAF over every frame (or every fourth frame
//! with `validate_vmaf = "sample"`) meeting the target statistic and gates within tolerance.
//! Each check reports its figures; all must pass.

use crate::core::decode::{DecodeOptions, VideoDecoder};
use crate::core::probe::{probe_headers, MediaInfo, StreamKind};
use crate::metrics::{score_files, Pooled, ScoreOptions, WorstFrame};
use crate::policy::Policy;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One check's verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Check {
    /// Check name: `exists`, `size`, `streams`, `duration`, `decode`, `frames`, `vmaf`.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// Figures, in words.
    pub detail: String,
}

/// The full verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ValidationReport {
    /// Source file.
    pub source: PathBuf,
    /// Staged file.
    pub staged: PathBuf,
    /// All checks passed.
    pub passed: bool,
    /// Every check in order.
    pub checks: Vec<Check>,
    /// Source size.
    pub source_bytes: u64,
    /// Staged size.
    pub staged_bytes: u64,
    /// Saving in percent of the source (negative when bigger).
    pub saving_percent: f64,
    /// Source duration.
    pub source_seconds: Option<f64>,
    /// Staged duration.
    pub staged_seconds: Option<f64>,
    /// Frames decoded from the staged file.
    pub staged_frames: Option<u64>,
    /// Frames of the source (from the paired decode).
    pub source_frames: Option<u64>,
    /// Pooled VMAF.
    pub vmaf: Option<Pooled>,
    /// The statistic the policy targets, and its value.
    pub target_stat: String,
    /// Value of the target statistic.
    pub achieved: Option<f64>,
    /// Worst frames (index, time, score).
    pub worst_frames: Vec<WorstFrame>,
    /// Per-frame VMAF (for plots); empty when not scored.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_frame: Vec<f64>,
}

fn stream_langs(info: &MediaInfo, kind: StreamKind) -> Vec<String> {
    info.streams_of(kind)
        .map(|s| s.language.clone().unwrap_or_else(|| "und".into()))
        .collect()
}

/// Validate `staged` against `source` under `policy`. `progress` sees the decode and scoring.
pub fn validate(
    source: &Path,
    staged: &Path,
    policy: &Policy,
    progress: &mut dyn crate::core::ProgressSink,
) -> ValidationReport {
    let mut checks = Vec::new();
    let mut push = |name: &str, passed: bool, detail: String| {
        checks.push(Check {
            name: name.into(),
            passed,
            detail,
        })
    };
    let source_bytes = std::fs::metadata(source).map_or(0, |m| m.len());
    let staged_bytes = std::fs::metadata(staged).map_or(0, |m| m.len());
    let saving_percent = if source_bytes > 0 {
        100.0 * (source_bytes as f64 - staged_bytes as f64) / source_bytes as f64
    } else {
        0.0
    };
    let mut report = ValidationReport {
        source: source.to_path_buf(),
        staged: staged.to_path_buf(),
        passed: false,
        checks: Vec::new(),
        source_bytes,
        staged_bytes,
        saving_percent,
        source_seconds: None,
        staged_seconds: None,
        staged_frames: None,
        source_frames: None,
        vmaf: None,
        target_stat: policy.encode.target_stat.to_string(),
        achieved: None,
        worst_frames: Vec::new(),
        per_frame: Vec::new(),
    };

    let exists = staged.is_file() && staged_bytes > 0;
    push(
        "exists",
        exists,
        if exists {
            format!("{staged_bytes} bytes")
        } else {
            format!("{}: missing or empty", staged.display())
        },
    );
    if !exists {
        report.checks = checks;
        return report;
    }
    push(
        "size",
        saving_percent >= policy.encode.min_savings_percent,
        format!(
            "{source_bytes} -> {staged_bytes} bytes, saving {saving_percent:.1}% (minimum {}%)",
            policy.encode.min_savings_percent
        ),
    );

    let (src_info, out_info) = (probe_headers(source), probe_headers(staged));
    match (&src_info, &out_info) {
        (Ok(s), Ok(o)) => {
            let (sa, oa) = (
                stream_langs(s, StreamKind::Audio),
                stream_langs(o, StreamKind::Audio),
            );
            let (ss, os) = (
                stream_langs(s, StreamKind::Subtitle),
                stream_langs(o, StreamKind::Subtitle),
            );
            let expect_subs = if policy.subtitles.mode == crate::policy::SubtitleMode::Drop {
                Vec::new()
            } else {
                ss.clone()
            };
            let ok = sa == oa && os == expect_subs;
            push(
                "streams",
                ok,
                format!(
                    "audio [{}] -> [{}], subtitles [{}] -> [{}]{}",
                    sa.join(", "),
                    oa.join(", "),
                    ss.join(", "),
                    os.join(", "),
                    if policy.subtitles.mode == crate::policy::SubtitleMode::Drop {
                        " (policy drops subtitles)"
                    } else {
                        ""
                    }
                ),
            );
            report.source_seconds = s.duration_seconds;
            report.staged_seconds = o.duration_seconds;
            let fps = s
                .primary_video()
                .and_then(|v| v.video.as_ref()?.fps)
                .unwrap_or(25.0);
            match (s.duration_seconds, o.duration_seconds) {
                (Some(a), Some(b)) => {
                    let allowed = (a / 60.0 / fps).max(0.5);
                    push(
                        "duration",
                        (a - b).abs() <= allowed,
                        format!(
                            "{a:.3} s -> {b:.3} s (difference {:.3} s, allowed {allowed:.3} s)",
                            (a - b).abs()
                        ),
                    );
                }
                _ => push("duration", false, "duration unknown".into()),
            }
        }
        (Err(e), _) | (_, Err(e)) => push("streams", false, e.to_string()),
    }

    // Full strict decode of the output.
    let mut frames = 0u64;
    let decoded = (|| -> crate::core::Result<u64> {
        let mut d = VideoDecoder::open(staged, DecodeOptions::default().strict(true))?;
        while d.next_frame()?.is_some() {
            frames += 1;
        }
        Ok(d.decode_errors())
    })();
    match decoded {
        Ok(0) => push("decode", true, format!("{frames} frames, 0 decode errors")),
        Ok(n) => push(
            "decode",
            false,
            format!("{frames} frames, {n} decode errors"),
        ),
        Err(e) => push("decode", false, format!("after {frames} frames: {e}")),
    }
    report.staged_frames = Some(frames);

    // VMAF, which also pairs every frame with the source.
    let options = ScoreOptions {
        subsample: if policy.encode.validate_vmaf == crate::policy::VmafCoverage::Sample {
            4
        } else {
            1
        },
        worst: 5,
        ..Default::default()
    };
    match score_files(source, staged, &options, progress) {
        Ok(r) => {
            push(
                "frames",
                r.frames == frames,
                format!("source {} frames, output {frames}", r.frames),
            );
            report.source_frames = Some(r.frames);
            let mut cfg = policy.search_config(1080);
            cfg.tolerance = policy.encode.tolerance;
            let stat = policy.encode.target_stat;
            let achieved = stat.of(&r.vmaf);
            let gates_ok = cfg.gates.iter().all(|(s, v)| s.of(&r.vmaf) >= *v);
            // The search aims inside [target, target + tolerance]; validation accepts anything
            // at or above target - tolerance/2, the search's own measurement noise across samples.
            let floor = policy.encode.target_vmaf - policy.encode.tolerance / 2.0;
            push(
                "vmaf",
                achieved >= floor && gates_ok,
                format!(
                    "{} {achieved:.2} (target {} - {:.2} tolerance), mean {:.2}, p5 {:.2}, min {:.2}{}{}",
                    policy.encode.target_stat,
                    policy.encode.target_vmaf,
                    policy.encode.tolerance / 2.0,
                    r.vmaf.mean,
                    r.vmaf.p5,
                    r.vmaf.min,
                    if cfg.gates.is_empty() {
                        String::new()
                    } else {
                        format!(", gates {}: {}", policy.encode.gates.join(" "), if gates_ok { "met" } else { "MISSED" })
                    },
                    if options.subsample > 1 { ", every 4th frame" } else { "" }
                ),
            );
            report.achieved = Some(achieved);
            report.vmaf = Some(r.vmaf);
            report.worst_frames = r.worst_frames;
            report.per_frame = r.per_frame;
        }
        Err(crate::metrics::Error::FrameCountMismatch {
            reference,
            distorted,
            ..
        }) => {
            report.source_frames = Some(reference);
            push(
                "frames",
                false,
                format!("source {reference} frames, output {distorted}"),
            );
            push("vmaf", false, "not scored: the frame counts differ".into());
        }
        Err(e) => push("vmaf", false, e.to_string()),
    }
    report.passed = checks.iter().all(|c| c.passed);
    report.checks = checks;
    report
}
