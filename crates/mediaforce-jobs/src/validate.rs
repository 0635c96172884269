//! Machine validation of a staged encode against its source, before anyone may promote it.
//!
//! Checks, cheapest first: the output exists and is smaller than the source by at least the
//! policy minimum; the same audio and subtitle streams with the same languages (or what the
//! policy changed); what plays (each stream's span from first to last packet, not a container's
//! duration field) within max(0.5 s, one frame per minute), every audio track starting where it
//! did against the picture; a full strict decode with
//! zero errors; the same frame count as the source; VMAF over every frame (or every fourth frame
//! with `validate_vmaf = "sample"`) meeting the target statistic and gates within tolerance.
//! Each check reports its figures; all must pass.

use crate::core::decode::{DecodeOptions, VideoDecoder};
use crate::core::probe::{probe_headers, MediaInfo, StreamKind};
use crate::core::span::{main_of, played_spans, StreamSpan};
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
    /// How long the source's picture plays (first to last frame).
    pub source_seconds: Option<f64>,
    /// How long the staged picture plays.
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
    /// A repack (remux or audio item): the picture was copied, not encoded, and the `pictures`
    /// check compares every picture instead of scoring VMAF.
    #[serde(default)]
    pub picture_copied: bool,
    /// Streams the plan left out (a repack's dropped audio languages).
    #[serde(default)]
    pub streams_left_out: usize,
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
    let mut report = ValidationReport::start(source, staged, policy.encode.target_stat.to_string());
    let (source_bytes, staged_bytes, saving_percent) = (
        report.source_bytes,
        report.staged_bytes,
        report.saving_percent,
    );
    if !report.check_exists() {
        return report;
    }
    report.push(
        "size",
        saving_percent >= policy.encode.min_savings_percent,
        format!(
            "{source_bytes} -> {staged_bytes} bytes, saving {saving_percent:.1}% (minimum {}%)",
            policy.encode.min_savings_percent
        ),
    );
    check_streams(&mut report, policy);
    let frames = check_decode(&mut report);
    check_vmaf(&mut report, policy, frames, progress);
    report.passed = report.checks.iter().all(|c| c.passed);
    report
}

impl ValidationReport {
    /// A report on `staged` against `source` with no check yet: the sizes and the saving.
    fn start(source: &Path, staged: &Path, target_stat: String) -> Self {
        let source_bytes = std::fs::metadata(source).map_or(0, |m| m.len());
        let staged_bytes = std::fs::metadata(staged).map_or(0, |m| m.len());
        let saving_percent = if source_bytes > 0 {
            100.0 * (source_bytes as f64 - staged_bytes as f64) / source_bytes as f64
        } else {
            0.0
        };
        Self {
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
            target_stat,
            achieved: None,
            worst_frames: Vec::new(),
            per_frame: Vec::new(),
            picture_copied: false,
            streams_left_out: 0,
        }
    }

    fn push(&mut self, name: &str, passed: bool, detail: String) {
        self.checks.push(Check {
            name: name.into(),
            passed,
            detail,
        });
    }

    /// `exists`: the staged file is there and not empty.
    fn check_exists(&mut self) -> bool {
        let (staged, staged_bytes) = (self.staged.clone(), self.staged_bytes);
        let exists = staged.is_file() && staged_bytes > 0;
        self.push(
            "exists",
            exists,
            if exists {
                format!("{staged_bytes} bytes")
            } else {
                format!("{}: missing or empty", staged.display())
            },
        );
        exists
    }
}

/// Validate a staged repack (a remux or audio plan item whose `steps` say what happens to each
/// stream) against its source. Checks: `exists`; `size` (no larger than the source); `streams`
/// (the audio tracks the plan keeps, in order and language, and every subtitle); `duration`
/// (what plays, the kept audio in sync); `decode` (strict); `pictures` (every picture's pixels
/// and time equal the source's); `audio` (each copied track's decoded sample count equal, each
/// converted one's duration within 50 ms).
pub fn validate_repack(
    source: &Path,
    staged: &Path,
    steps: &[crate::manifest::StreamStep],
    progress: &mut dyn crate::core::ProgressSink,
) -> ValidationReport {
    use crate::core::repack::StreamAction;
    let action = |index: usize| {
        steps
            .iter()
            .find(|s| s.index == index)
            .map_or(StreamAction::Copy, |s| s.action)
    };
    let mut report = ValidationReport::start(source, staged, String::new());
    report.picture_copied = true;
    report.streams_left_out = steps
        .iter()
        .filter(|s| s.action == StreamAction::Drop)
        .count();
    let (source_bytes, staged_bytes, saving_percent) = (
        report.source_bytes,
        report.staged_bytes,
        report.saving_percent,
    );
    if !report.check_exists() {
        return report;
    }
    report.push(
        "size",
        staged_bytes <= source_bytes,
        format!("{source_bytes} -> {staged_bytes} bytes, saving {saving_percent:.1}% (no larger than the source)"),
    );
    let (src_info, out_info) = (probe_headers(source), probe_headers(staged));
    let (s, o) = match (&src_info, &out_info) {
        (Ok(s), Ok(o)) => (s, o),
        (Err(e), _) | (_, Err(e)) => {
            report.push("streams", false, e.to_string());
            return report;
        }
    };
    let kept_audio: Vec<String> = s
        .streams_of(StreamKind::Audio)
        .filter(|a| action(a.index) != StreamAction::Drop)
        .map(|a| a.language.clone().unwrap_or_else(|| "und".into()))
        .collect();
    let (oa, ss, os) = (
        stream_langs(o, StreamKind::Audio),
        stream_langs(s, StreamKind::Subtitle),
        stream_langs(o, StreamKind::Subtitle),
    );
    report.push(
        "streams",
        oa == kept_audio && os == ss,
        format!(
            "audio kept [{}] -> [{}], subtitles [{}] -> [{}]",
            kept_audio.join(", "),
            oa.join(", "),
            ss.join(", "),
            os.join(", ")
        ),
    );
    let fps = s
        .primary_video()
        .and_then(|v| v.video.as_ref()?.fps)
        .unwrap_or(25.0);
    match (played_spans(source), played_spans(staged)) {
        (Ok(a), Ok(b)) => {
            let a: Vec<StreamSpan> = a
                .into_iter()
                .filter(|sp| action(sp.index) != StreamAction::Drop)
                .collect();
            let verdict = played_check(&a, &b, fps);
            report.source_seconds = verdict.source_seconds;
            report.staged_seconds = verdict.staged_seconds;
            report.push("duration", verdict.passed, verdict.detail);
        }
        (Err(e), _) | (_, Err(e)) => report.push("duration", false, e.to_string()),
    }
    check_decode(&mut report);
    check_pictures(&mut report, progress);
    check_audio_samples(&mut report, &action);
    report.passed = report.checks.iter().all(|c| c.passed);
    report
}

/// `pictures`: every picture of the staged file equals the source's, pixel for pixel, at the
/// same time from the first picture (within a millisecond).
fn check_pictures(report: &mut ValidationReport, progress: &mut dyn crate::core::ProgressSink) {
    use crate::core::repack::picture_prints;
    let prints = picture_prints(&report.source, &mut crate::core::NoProgress)
        .and_then(|a| Ok((a, picture_prints(&report.staged, progress)?)));
    let (a, b) = match prints {
        Ok(p) => p,
        Err(e) => return report.push("pictures", false, e.to_string()),
    };
    report.source_frames = Some(a.len() as u64);
    let differ = a.iter().zip(&b).position(|(x, y)| x.digest != y.digest);
    let moved = a
        .iter()
        .zip(&b)
        .position(|(x, y)| (x.seconds - y.seconds).abs() > 0.001);
    let detail = match (a.len() == b.len(), differ, moved) {
        (false, ..) => format!("source {} pictures, output {}", a.len(), b.len()),
        (true, Some(i), _) => format!("picture {i} of {} differs from the source's", a.len()),
        (true, None, Some(i)) => format!(
            "picture {i} shows at {:.3} s, the source's at {:.3} s",
            b[i].seconds, a[i].seconds
        ),
        (true, None, None) => format!(
            "all {} pictures identical to the source's, at the same times",
            a.len()
        ),
    };
    report.push(
        "pictures",
        a.len() == b.len() && differ.is_none() && moved.is_none(),
        detail,
    );
}

/// `audio`: each kept audio track decoded in full: a copied one has exactly the source's
/// samples, a converted one plays as long as the source's within 50 ms.
fn check_audio_samples(
    report: &mut ValidationReport,
    action: &dyn Fn(usize) -> crate::core::repack::StreamAction,
) {
    use crate::core::repack::{audio_samples, StreamAction};
    let tracks =
        audio_samples(&report.source).and_then(|a| Ok((a, audio_samples(&report.staged)?)));
    let (a, b) = match tracks {
        Ok(t) => t,
        Err(e) => return report.push("audio", false, e.to_string()),
    };
    let kept: Vec<_> = a
        .iter()
        .filter(|t| action(t.index) != StreamAction::Drop)
        .collect();
    let mut passed = kept.len() == b.len();
    let mut parts = Vec::new();
    for (x, y) in kept.iter().zip(&b) {
        let ok = match action(x.index) {
            StreamAction::Opus => (x.seconds() - y.seconds()).abs() <= 0.05,
            _ => x.samples == y.samples,
        };
        passed &= ok;
        parts.push(format!(
            "{} {} {} samples ({:.3} s) -> {} {} samples ({:.3} s){}",
            x.language,
            x.codec,
            x.samples,
            x.seconds(),
            y.codec,
            y.samples,
            y.seconds(),
            if ok { "" } else { " (MISMATCH)" }
        ));
    }
    if kept.len() != b.len() {
        parts.push(format!("{} tracks expected, {} found", kept.len(), b.len()));
    }
    if parts.is_empty() {
        parts.push("no audio".into());
    }
    report.push("audio", passed, parts.join("; "));
}

/// `streams`: every audio track and (unless the policy drops them) every subtitle kept, in
/// order and language; `duration`: what plays, per stream, from the packets (a container's
/// duration field counts from zero in some formats and from the first timestamp in others).
fn check_streams(report: &mut ValidationReport, policy: &Policy) {
    let (src_info, out_info) = (probe_headers(&report.source), probe_headers(&report.staged));
    let (s, o) = match (&src_info, &out_info) {
        (Ok(s), Ok(o)) => (s, o),
        (Err(e), _) | (_, Err(e)) => return report.push("streams", false, e.to_string()),
    };
    let (sa, oa) = (
        stream_langs(s, StreamKind::Audio),
        stream_langs(o, StreamKind::Audio),
    );
    let (ss, os) = (
        stream_langs(s, StreamKind::Subtitle),
        stream_langs(o, StreamKind::Subtitle),
    );
    let drops = policy.subtitles.mode == crate::policy::SubtitleMode::Drop;
    let expect_subs = if drops { Vec::new() } else { ss.clone() };
    report.push(
        "streams",
        sa == oa && os == expect_subs,
        format!(
            "audio [{}] -> [{}], subtitles [{}] -> [{}]{}",
            sa.join(", "),
            oa.join(", "),
            ss.join(", "),
            os.join(", "),
            if drops {
                " (policy drops subtitles)"
            } else {
                ""
            }
        ),
    );
    let fps = s
        .primary_video()
        .and_then(|v| v.video.as_ref()?.fps)
        .unwrap_or(25.0);
    match (played_spans(&report.source), played_spans(&report.staged)) {
        (Ok(a), Ok(b)) => {
            let verdict = played_check(&a, &b, fps);
            report.source_seconds = verdict.source_seconds;
            report.staged_seconds = verdict.staged_seconds;
            report.push("duration", verdict.passed, verdict.detail);
        }
        (Err(e), _) | (_, Err(e)) => report.push("duration", false, e.to_string()),
    }
}

/// `decode`: the whole output decoded strictly; returns the frames decoded.
fn check_decode(report: &mut ValidationReport) -> u64 {
    let mut frames = 0u64;
    let decoded = (|| -> crate::core::Result<u64> {
        let mut d = VideoDecoder::open(&report.staged, DecodeOptions::default().strict(true))?;
        while d.next_frame()?.is_some() {
            frames += 1;
        }
        Ok(d.decode_errors())
    })();
    match decoded {
        Ok(0) => report.push("decode", true, format!("{frames} frames, 0 decode errors")),
        Ok(n) => report.push(
            "decode",
            false,
            format!("{frames} frames, {n} decode errors"),
        ),
        Err(e) => report.push("decode", false, format!("after {frames} frames: {e}")),
    }
    report.staged_frames = Some(frames);
    frames
}

/// `frames` and `vmaf`: the output scored against the source frame by frame (which pairs
/// every frame), against the target less half the tolerance (the search's own measurement
/// noise across samples) and every gate.
fn check_vmaf(
    report: &mut ValidationReport,
    policy: &Policy,
    frames: u64,
    progress: &mut dyn crate::core::ProgressSink,
) {
    let options = ScoreOptions {
        subsample: if policy.encode.validate_vmaf == crate::policy::VmafCoverage::Sample {
            4
        } else {
            1
        },
        worst: 5,
        ..Default::default()
    };
    let r = match score_files(&report.source, &report.staged, &options, progress) {
        Ok(r) => r,
        Err(crate::metrics::Error::FrameCountMismatch {
            reference,
            distorted,
            ..
        }) => {
            report.source_frames = Some(reference);
            report.push(
                "frames",
                false,
                format!("source {reference} frames, output {distorted}"),
            );
            return report.push("vmaf", false, "not scored: the frame counts differ".into());
        }
        Err(e) => return report.push("vmaf", false, e.to_string()),
    };
    report.push(
        "frames",
        r.frames == frames,
        format!("source {} frames, output {frames}", r.frames),
    );
    report.source_frames = Some(r.frames);
    let gates = policy.gates();
    let achieved = policy.encode.target_stat.of(&r.vmaf);
    let gates_ok = gates.iter().all(|(s, v)| s.of(&r.vmaf) >= *v);
    let floor = policy.encode.target_vmaf - policy.encode.tolerance / 2.0;
    report.push(
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
            if gates.is_empty() {
                String::new()
            } else {
                format!(
                    ", gates {}: {}",
                    policy.encode.gates.join(" "),
                    if gates_ok { "met" } else { "MISSED" }
                )
            },
            if options.subsample > 1 {
                ", every 4th frame"
            } else {
                ""
            }
        ),
    );
    report.achieved = Some(achieved);
    report.vmaf = Some(r.vmaf);
    report.worst_frames = r.worst_frames;
    report.per_frame = r.per_frame;
}

/// The `duration` check's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct PlayedVerdict {
    /// Every span within tolerance and every audio track in sync.
    pub passed: bool,
    /// Figures, in words.
    pub detail: String,
    /// How long the source's picture plays.
    pub source_seconds: Option<f64>,
    /// How long the output's picture plays.
    pub staged_seconds: Option<f64>,
}

/// How far an audio track's start may move against the picture's: well under what viewers
/// notice (lip sync is seen from about 45 ms early or 125 ms late).
pub const SYNC_TOLERANCE_SECONDS: f64 = 0.04;

/// Compare what plays in the source (`src`) and the output (`out`): the picture's span, and
/// each audio track (paired in order) by its span and its start against the picture. Spans may
/// differ by max(0.5 s, one frame per minute at `fps`); a start by [`SYNC_TOLERANCE_SECONDS`].
/// Where the whole file starts (a source's start offset, an output shifted to zero) is not
/// compared.
pub fn played_check(src: &[StreamSpan], out: &[StreamSpan], fps: f64) -> PlayedVerdict {
    let (Some(sv), Some(ov)) = (
        main_of(src, StreamKind::Video),
        main_of(out, StreamKind::Video),
    ) else {
        return PlayedVerdict {
            passed: false,
            detail: "no video packets to measure".into(),
            source_seconds: None,
            staged_seconds: None,
        };
    };
    let (a, b) = (sv.seconds(), ov.seconds());
    let allowed = (a / 60.0 / fps.max(1.0)).max(0.5);
    let mut passed = (a - b).abs() <= allowed;
    let mut detail = format!(
        "video {a:.3} s -> {b:.3} s (difference {:.3} s, allowed {allowed:.3} s)",
        (a - b).abs()
    );
    let src_audio: Vec<&StreamSpan> = src.iter().filter(|s| s.kind == StreamKind::Audio).collect();
    let out_audio: Vec<&StreamSpan> = out.iter().filter(|s| s.kind == StreamKind::Audio).collect();
    for (n, (sa, oa)) in src_audio.iter().zip(&out_audio).enumerate() {
        let (x, y) = (sa.seconds(), oa.seconds());
        let (lead_src, lead_out) = (
            sa.first_seconds - sv.first_seconds,
            oa.first_seconds - ov.first_seconds,
        );
        let span_ok = (x - y).abs() <= allowed;
        let sync_ok = (lead_src - lead_out).abs() <= SYNC_TOLERANCE_SECONDS;
        passed &= span_ok && sync_ok;
        detail.push_str(&format!(
            "; audio {} {x:.3} s -> {y:.3} s, starts {:+.3} s -> {:+.3} s from the picture{}",
            n + 1,
            lead_src,
            lead_out,
            if sync_ok { "" } else { " (OUT OF SYNC)" }
        ));
    }
    if src_audio.len() != out_audio.len() {
        passed = false;
        detail.push_str(&format!(
            "; {} audio tracks play in the source, {} in the output",
            src_audio.len(),
            out_audio.len()
        ));
    }
    PlayedVerdict {
        passed,
        detail,
        source_seconds: Some(a),
        staged_seconds: Some(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(kind: StreamKind, first: f64, end: f64, packets: u64) -> StreamSpan {
        StreamSpan {
            index: 0,
            kind,
            first_seconds: first,
            end_seconds: end,
            packets,
        }
    }

    #[test]
    fn what_plays_is_compared_not_where_the_file_starts() {
        use StreamKind::{Audio as A, Video as V};
        // (source spans, output spans, passes, why)
        let cases: Vec<(Vec<StreamSpan>, Vec<StreamSpan>, bool, &str)> = vec![
            // The MPEG-PS case: 7.6 s starting at 0.54 s, written from zero.
            (
                vec![span(V, 0.54, 8.14, 190)],
                vec![span(V, 0.0, 7.6, 190)],
                true,
                "shifted",
            ),
            // Written with the offset kept: plays the same, passes too.
            (
                vec![span(V, 0.54, 8.14, 190)],
                vec![span(V, 0.54, 8.14, 190)],
                true,
                "kept",
            ),
            // A second short at the end.
            (
                vec![span(V, 0.0, 10.0, 250)],
                vec![span(V, 0.0, 9.0, 225)],
                false,
                "short",
            ),
            // Within half a second.
            (
                vec![span(V, 0.0, 10.0, 250)],
                vec![span(V, 0.0, 9.6, 240)],
                true,
                "close",
            ),
            // Audio 0.2 s ahead of the picture in the source stays so.
            (
                vec![span(V, 1.4, 9.0, 190), span(A, 1.2, 9.0, 300)],
                vec![span(V, 0.2, 7.8, 190), span(A, 0.0, 7.8, 300)],
                true,
                "audio kept in sync",
            ),
            // Audio shifted against the picture: out of sync.
            (
                vec![span(V, 1.4, 9.0, 190), span(A, 1.2, 9.0, 300)],
                vec![span(V, 0.0, 7.6, 190), span(A, 0.0, 7.8, 300)],
                false,
                "audio moved",
            ),
            // A track that plays in the source and not in the output.
            (
                vec![span(V, 0.0, 5.0, 125), span(A, 0.0, 5.0, 200)],
                vec![span(V, 0.0, 5.0, 125)],
                false,
                "audio lost",
            ),
            // A cover picture (one packet) is not the picture that plays.
            (
                vec![span(V, 0.0, 0.04, 1), span(V, 0.0, 5.0, 125)],
                vec![span(V, 0.0, 5.0, 125)],
                true,
                "cover image",
            ),
            (
                vec![span(A, 0.0, 5.0, 200)],
                vec![span(A, 0.0, 5.0, 200)],
                false,
                "no video",
            ),
        ];
        for (src, out, passes, why) in cases {
            let v = played_check(&src, &out, 25.0);
            assert_eq!(v.passed, passes, "{why}: {}", v.detail);
        }
    }
}
