//! Health check of a media file: decode every video frame strictly and compare what decodes
//! with what the container and stream declare.
//!
//! A file cut short (an interrupted copy or download) often decodes without a single error: the
//! frames that remain are intact, and only the header still declares the whole duration. So a
//! clean decode is not enough. [`verify_file`] also fails a file whose video stops well before
//! the declared duration, that decodes far fewer frames than the stream declares, or whose
//! constant-rate video has a hole in its timestamps, and says where.

use crate::decode::{DecodeOptions, VideoDecoder};
use crate::error::{Error, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// What a verification found.
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The file.
    pub path: PathBuf,
    /// Video frames decoded.
    pub frames: u64,
    /// Where the decoded video ends: the last frame's time plus one frame duration, in seconds
    /// from the stream's start.
    pub decoded_seconds: f64,
    /// The video's duration as the stream (or else the container) declares it.
    pub declared_seconds: Option<f64>,
    /// The video frame count the stream declares, where it does (MP4 does, Matroska does not).
    pub declared_frames: Option<u64>,
    /// The longest stretch without a frame, in seconds, and where it starts.
    pub longest_gap: Option<(f64, f64)>,
}

/// How short of the declared duration the video may end: half a second or 1% (a muxer's
/// rounding, a last frame's duration), or two seconds or 2% when only the container declares a
/// duration and other streams (audio that runs on past the picture) may account for it.
fn allowed_shortfall(declared: f64, from_container_with_others: bool) -> f64 {
    if from_container_with_others {
        (0.02 * declared).max(2.0)
    } else {
        (0.01 * declared).max(0.5)
    }
}

/// The longest hole a constant-rate video may have between two frames: a quarter of a second,
/// or three frame durations at low rates (a dropped frame or two in a capture is not damage).
/// A Matroska demuxer skips a damaged cluster silently and resumes at the next, so a hole is
/// often the only sign. Variable-rate video (screen captures hold a still picture for seconds)
/// is not checked.
fn allowed_gap(frame_seconds: f64) -> f64 {
    (3.0 * frame_seconds).max(0.25)
}

/// Decode every frame of `path`'s primary video strictly (`threads` decoder threads, 0 for
/// libav's choice) and check it against what the file declares. The report is returned even
/// when the check fails, with the failure beside it.
pub fn verify_file(path: &Path, threads: usize) -> (VerifyReport, Result<()>) {
    let mut report = VerifyReport {
        path: path.to_path_buf(),
        frames: 0,
        decoded_seconds: 0.0,
        declared_seconds: None,
        declared_frames: None,
        longest_gap: None,
    };
    let outcome = check(path, threads, &mut report);
    (report, outcome)
}

fn check(path: &Path, threads: usize, report: &mut VerifyReport) -> Result<()> {
    let info = crate::probe::probe(path)?;
    let stream = info.primary_video().ok_or(Error::NoStream {
        path: path.to_path_buf(),
        kind: "video",
    })?;
    let video = stream.video.clone().expect("video stream has video info");
    let others = info
        .streams
        .iter()
        .any(|s| s.index != stream.index && s.kind != crate::probe::StreamKind::Attachment);
    let (declared, from_container) = match stream.duration_seconds {
        Some(d) if d > 0.0 => (Some(d), false),
        _ => (info.duration_seconds.filter(|d| *d > 0.0), true),
    };
    report.declared_seconds = declared;
    report.declared_frames = stream.frames.filter(|f| *f > 0);
    let frame_seconds = video.fps.filter(|f| *f > 0.0).map_or(0.0, |f| 1.0 / f);

    let opts = DecodeOptions {
        stream: Some(stream.index),
        threads,
        ..DecodeOptions::default()
    };
    let mut decoder = VideoDecoder::open(path, opts.strict(true))?;
    let mut last: Option<f64> = None;
    let mut gap = (0.0f64, 0.0f64);
    let mut steps: Vec<f32> = Vec::new();
    while let Some(f) = decoder.next_frame()? {
        report.frames += 1;
        if let Some(prev) = last {
            let step = f.seconds - prev;
            steps.push(step as f32);
            if step > gap.0 {
                gap = (step, prev);
            }
        }
        last = Some(f.seconds);
    }
    let Some(last) = last else {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            at: "start".into(),
            reason: "no video frame decodes".into(),
        });
    };
    report.decoded_seconds = last + frame_seconds;
    report.longest_gap = (report.frames > 1).then_some(gap);

    // The probe's variable-rate flag cannot tell here: a hole makes a constant-rate stream look
    // variable. A stream whose frame steps are nearly all alike is constant-rate with holes.
    // A stream whose container declares a variable rate (its real base rate differs from its
    // average: screen captures, phone videos) may hold a picture for seconds: not checked.
    let declared_constant = match (&video.r_frame_rate, &video.avg_frame_rate) {
        (Some(r), Some(a)) => r == a,
        _ => true,
    };
    let nominal = constant_step(&mut steps).filter(|_| declared_constant);
    if nominal.is_some_and(|step| gap.0 > allowed_gap(step)) {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            at: format!("{:.3}s", gap.1),
            reason: format!(
                "no video for {:.2} s after this frame (the stream runs at {:.3} fps): part of the file is missing",
                gap.0,
                if frame_seconds > 0.0 {
                    1.0 / frame_seconds
                } else {
                    1.0 / nominal.unwrap_or(1.0)
                }
            ),
        });
    }
    if let Some(d) = declared {
        let start = if from_container {
            info.start_seconds.unwrap_or(0.0)
        } else {
            0.0
        };
        if shortfall(d, report.decoded_seconds, start)
            > allowed_shortfall(d, from_container && others)
        {
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                ends_at: report.decoded_seconds,
                declared: d,
                frames: report.frames,
            });
        }
    }
    if let Some(n) = report.declared_frames {
        // Edit lists may hide a few leading frames; a real loss is far more than that.
        let slack = (n / 100).max(2);
        if report.frames + slack < n {
            return Err(Error::Truncated {
                path: path.to_path_buf(),
                ends_at: report.decoded_seconds,
                declared: declared.unwrap_or(n as f64 * frame_seconds),
                frames: report.frames,
            });
        }
    }
    Ok(())
}

/// How far the video (decoded to `decoded` seconds from its start) ends short of a declared
/// duration `declared`, for a file whose first timestamp is `start` seconds when the container
/// declared it: containers disagree on whether their duration counts from zero (Matroska) or
/// from the first timestamp (MPEG streams), so a late-starting file is whole when it reaches
/// either.
fn shortfall(declared: f64, decoded: f64, start: f64) -> f64 {
    let from_zero = declared - decoded;
    if start > 0.0 {
        from_zero.min(declared - start - decoded)
    } else {
        from_zero
    }
}

/// The frame step of a constant-rate stream: the median step, when at least 90% of the steps
/// are within half of it of it; `None` for variable-rate video.
fn constant_step(steps: &mut [f32]) -> Option<f64> {
    if steps.len() < 4 {
        return None;
    }
    steps.sort_by(f32::total_cmp);
    let median = f64::from(steps[steps.len() / 2]);
    if median <= 0.0 {
        return None;
    }
    let regular = steps
        .iter()
        .filter(|s| (f64::from(**s) - median).abs() <= 0.5 * median)
        .count();
    (regular * 10 >= steps.len() * 9).then_some(median)
}

#[cfg(test)]
mod tests {
    use super::{allowed_gap, allowed_shortfall, constant_step, shortfall};

    #[test]
    fn a_late_start_is_not_a_missing_end() {
        // (declared, decoded from the stream's start, the file's start, shortfall)
        for (declared, decoded, start, short) in [
            // Matroska counting from zero: 7.6 s that start at 0.54 s declare 8.14 s.
            (8.14, 7.6, 0.54, 0.0),
            // An MPEG stream counting from its first timestamp (negative: nothing short).
            (7.6, 7.6, 0.54, -0.54),
            // Starting at zero, a second short is a second short.
            (10.0, 9.0, 0.0, 1.0),
            // Starting late and a second short of either reading.
            (8.14, 6.6, 0.54, 1.0),
        ] {
            let got = shortfall(declared, decoded, start);
            assert!(
                (got - short).abs() < 1e-9,
                "{declared} {decoded} {start}: {got}"
            );
        }
    }

    #[test]
    fn constant_rate_with_a_hole_is_told_from_variable_rate() {
        let mut holed: Vec<f32> = vec![0.04; 40];
        holed[20] = 0.56;
        assert!((constant_step(&mut holed).unwrap() - 0.04).abs() < 1e-6);
        // A screen capture: steps all over the place.
        let mut vfr: Vec<f32> = (0..40).map(|i| 0.02 + (i % 7) as f32 * 0.3).collect();
        assert_eq!(constant_step(&mut vfr), None);
        assert_eq!(constant_step(&mut [0.04, 0.04]), None);
    }

    #[test]
    fn tolerances() {
        assert_eq!(allowed_shortfall(6.0, false), 0.5);
        assert_eq!(allowed_shortfall(6000.0, false), 60.0);
        assert_eq!(allowed_shortfall(6.0, true), 2.0);
        assert_eq!(allowed_gap(1.0 / 25.0), 0.25);
        assert_eq!(allowed_gap(1.0), 3.0);
    }
}
