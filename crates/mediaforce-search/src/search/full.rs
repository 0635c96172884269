//! The whole file: search, encode at the chosen knob, verify, and correct the knob.

use crate::codecs;
use crate::core::ffmpeg_next as ff;
use crate::metrics::Pooled;
use serde::Serialize;
use std::path::{Path, PathBuf};

use super::config::SearchConfig;
use super::crf::crf_search;
use super::knob::{next_knob, slope_at, Axis, Point};
use super::report::*;
use crate::events::{EventSink, Frames};

/// One full encode made by [`encode_to_target`].
#[derive(Debug, Clone, Serialize)]
pub struct FullEncode {
    /// Knob value used.
    pub knob: f64,
    /// The target statistic measured on the whole output (`None` when not verified).
    pub achieved: Option<f64>,
    /// Pooled VMAF of the whole output (`None` when not verified).
    pub vmaf: Option<Pooled>,
    /// How the output was verified: `same_pass` (scored while it was encoded, against the
    /// frames the encoder was given) or `separate` (source and output decoded again afterwards);
    /// `None` when not verified.
    pub verified_by: Option<&'static str>,
    /// Why the same-pass score could not be used, when the encode was then scored separately.
    pub same_pass_error: Option<String>,
    /// Wall seconds of the separate verification (0 when verified in the same pass).
    pub verify_seconds: f64,
    /// Output size in bytes.
    pub bytes: u64,
    /// Output size as a percentage of the source.
    pub percent: f64,
    /// Encode wall time in seconds.
    pub encode_seconds: f64,
    /// Damaged packets or frames of the source concealed while decoding it for this encode.
    pub source_decode_errors: u64,
    /// Where the first of them were, in seconds.
    pub source_decode_error_seconds: Vec<f64>,
    /// Set on the last entry when the output is an earlier encode's, kept because it was the
    /// cheapest that met the target (its index; nothing was encoded again).
    pub kept_from: Option<usize>,
}

/// The result of [`encode_to_target`].
#[derive(Debug, Clone, Serialize)]
pub struct EncodeReport {
    /// The sample search.
    pub search: SearchReport,
    /// Full encodes in order; the last one is the output (at most three: one plus two
    /// corrections, then a copy of the kept one when an earlier encode is the output).
    pub encodes: Vec<FullEncode>,
    /// Output path, when an encode was kept.
    pub output: Option<PathBuf>,
    /// Why no encode was kept when the search chose one: the size guard applied to the
    /// measured size after an [`Outcome::Uncertain`] search, or the target missed.
    pub refused: Option<String>,
}

/// Search, encode the whole file at the chosen knob, score the whole output, and correct the
/// knob (re-encoding, at most twice) when the measured statistic misses the target or
/// overshoots it by more than the tolerance. `base` supplies everything but the encoder and its
/// options (audio mode, deinterlacing...). On a search without a result nothing is written.
pub fn encode_to_target(
    input: &Path,
    output: &Path,
    cfg: &SearchConfig,
    base: &crate::core::transcode::TranscodeOptions,
    events: &mut dyn EventSink,
) -> Result<EncodeReport, SearchError> {
    let search = crf_search(input, cfg, events)?;
    let Some(chosen) = search.chosen().cloned() else {
        return Ok(EncodeReport {
            search,
            encodes: Vec::new(),
            output: None,
            refused: None,
        });
    };
    let adapter = codecs::find(&cfg.encoder)?;
    let k = adapter.knob();
    let axis = Axis::new(k, cfg);
    let source_bytes = std::fs::metadata(input)
        .map(|m| m.len())
        .unwrap_or(1)
        .max(1);
    // Encode in the pixel format the samples were measured in.
    let pixel: Option<ff::format::Pixel> = search.pixel_format.parse().ok();

    let make_opts = |knob: f64| -> Result<crate::core::transcode::TranscodeOptions, SearchError> {
        let mut opts = base.clone();
        opts.encoder = adapter.libav_name().into();
        opts.encoder_options = adapter.options(&search.preset, knob)?;
        opts.pixel_format = pixel;
        Ok(opts)
    };
    let mut encodes: Vec<FullEncode> = Vec::new();
    let mut knob = chosen.knob;
    let verify = cfg.verify.then_some(crate::passverify::Verify {
        scale: cfg.scale,
        threads: cfg.threads,
        every: cfg.verify_every.max(1),
        separately: cfg.verify_separately,
        depth: search.features.map(|f| f.bit_depth as u8),
    });
    // The cheapest output that met the target so far is kept aside (a hidden name the stale
    // partial sweep knows) while a correction is encoded, so a correction that overshoots
    // never costs the better file.
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let keep_path = output.with_file_name(format!(".{name}.partial-kept-{}", std::process::id()));
    let mut kept: Option<usize> = None;
    // A failed or cancelled correction leaves nothing behind.
    struct RemoveOnDrop(PathBuf);
    impl Drop for RemoveOnDrop {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _cleanup = RemoveOnDrop(keep_path.clone());
    for _ in 0..3 {
        let opts = make_opts(knob)?;
        let (report, verified) = crate::passverify::transcode_verified(
            input,
            output,
            &opts,
            &mut Frames::new("encode", events),
            verify,
        )?;
        let vmaf = verified.as_ref().map(|v| v.vmaf);
        let achieved = vmaf.as_ref().map(|v| cfg.score_of(v));
        encodes.push(FullEncode {
            knob,
            achieved,
            vmaf,
            verified_by: verified.as_ref().map(|v| v.by),
            verify_seconds: verified.as_ref().map_or(0.0, |v| v.seconds),
            same_pass_error: verified.and_then(|v| v.same_pass_error),
            bytes: report.output_bytes,
            percent: 100.0 * report.output_bytes as f64 / source_bytes as f64,
            encode_seconds: report.seconds,
            source_decode_errors: report.decode_errors,
            source_decode_error_seconds: report.decode_error_seconds.clone(),
            kept_from: None,
        });
        let Some(achieved) = achieved else {
            break;
        };
        let this = encodes.len() - 1;
        if achieved >= cfg.target && kept.is_none_or(|k| encodes[this].bytes < encodes[k].bytes) {
            std::fs::rename(output, &keep_path).map_err(|e| SearchError::Source {
                path: output.to_path_buf(),
                reason: format!("cannot keep the encode aside: {e}"),
            })?;
            kept = Some(this);
        }
        match correction(
            &axis,
            cfg,
            &search.probes,
            &chosen,
            &encodes,
            knob,
            achieved,
        ) {
            Some(n) => knob = n,
            None => break,
        }
    }
    settle(cfg, k.name, search, encodes, kept, &keep_path, output)
}

/// The knob the closed loop encodes next after the whole file measured `achieved` at `knob`,
/// or `None` when it is done: the target met within the tolerance, or no new knob to try.
/// With two whole-file measurements it interpolates on the file's own curve (as the search
/// does on its samples); with one, it shifts the sampled curve by the measured error and steps
/// by the samples' slope (at least one step, at most a quarter of the range).
pub(super) fn correction(
    axis: &Axis,
    cfg: &SearchConfig,
    probes: &[Probe],
    chosen: &Probe,
    encodes: &[FullEncode],
    knob: f64,
    achieved: f64,
) -> Option<f64> {
    let k = axis.knob;
    let miss = achieved < cfg.target || achieved > cfg.target + cfg.tolerance;
    if !miss {
        return None;
    }
    let measured: Vec<Point> = encodes
        .iter()
        .filter_map(|e| {
            Some(Point {
                knob: e.knob,
                score: e.achieved?,
            })
        })
        .collect();
    let next = if measured.len() >= 2 {
        next_knob(axis, cfg.target, cfg.tolerance, &measured)
    } else {
        let aim = cfg.target + cfg.tolerance / 2.0;
        let points: Vec<Point> = probes.iter().map(Point::of).collect();
        let slope = slope_at(&points, &Point::of(chosen), &k, |x| axis.to_u(x));
        let quarter = (k.max - k.min) / 4.0;
        let delta = ((aim - achieved) / slope).clamp(-quarter, quarter);
        let delta = if delta.abs() < k.step {
            k.step * delta.signum()
        } else {
            delta
        };
        Some(axis.snap(axis.knob_at(axis.to_u(knob) + delta)))
    };
    next.filter(|&n| n != knob && !encodes.iter().any(|e| e.knob == n))
}

/// How the closed loop ends: the cheapest encode that met the target put back as the output
/// (recorded again when it was not the last), or nothing kept and why; after a search whose
/// samples could not tell, the measured size decides the size guard.
fn settle(
    cfg: &SearchConfig,
    knob_name: &str,
    search: SearchReport,
    mut encodes: Vec<FullEncode>,
    kept: Option<usize>,
    keep_path: &Path,
    output: &Path,
) -> Result<EncodeReport, SearchError> {
    let refuse = |search, encodes, reason: String| {
        let _ = std::fs::remove_file(output);
        Ok(EncodeReport {
            search,
            encodes,
            output: None,
            refused: Some(reason),
        })
    };
    if cfg.verify {
        let Some(k) = kept else {
            let measured = encodes
                .iter()
                .map(|e| {
                    format!(
                        "{knob_name} {} measured {:.2}",
                        e.knob,
                        e.achieved.unwrap_or(f64::NAN)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let reason = format!(
                "no full encode met {:?} VMAF {}: {measured}",
                cfg.stat, cfg.target
            );
            return refuse(search, encodes, reason);
        };
        // The output is the cheapest encode that met the target.
        std::fs::rename(keep_path, output).map_err(|e| SearchError::Source {
            path: output.to_path_buf(),
            reason: format!("cannot put the kept encode back: {e}"),
        })?;
        if k + 1 != encodes.len() {
            let mut again = encodes[k].clone();
            again.kept_from = Some(k);
            again.encode_seconds = 0.0;
            again.verify_seconds = 0.0;
            encodes.push(again);
        }
    }
    // The samples could not tell whether the size guard holds: the measured size decides.
    if matches!(search.outcome, Outcome::Uncertain { .. }) {
        if let Some(last) = encodes
            .last()
            .filter(|e| e.percent > cfg.max_encoded_percent)
        {
            let reason = format!(
                "the full encode at {knob_name} {} measured {:.1}% of the source, above the {:.0}% limit",
                last.knob, last.percent, cfg.max_encoded_percent
            );
            return refuse(search, encodes, reason);
        }
    }
    Ok(EncodeReport {
        search,
        encodes,
        output: Some(output.to_path_buf()),
        refused: None,
    })
}
