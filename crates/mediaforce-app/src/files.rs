//! Use cases on single files, outside any library: one encode at a knob value through the
//! encoder's adapter, scored against its source unless told not to.

use crate::{AppError, ErrorKind, Result};
use mediaforce::core::transcode::{TranscodeOptions, TranscodeReport};
use mediaforce::core::ProgressSink;
use mediaforce::metrics::{Pooled, Scale};
use serde::Serialize;
use std::path::Path;

/// An encode at a knob value, and its score.
#[derive(Debug, Clone, Serialize)]
pub struct KnobEncode {
    /// What the transcode did.
    pub transcode: TranscodeReport,
    /// The knob's name (`crf`, `qp`...).
    pub knob_name: &'static str,
    /// Its value.
    pub knob: f64,
    /// VMAF of the output against the input, when scored.
    pub vmaf: Option<Pooled>,
    /// The adapter used.
    pub encoder: &'static str,
}

fn failed(e: impl std::fmt::Display) -> AppError {
    AppError::new(ErrorKind::Invalid, e.to_string())
}

/// Which encoder, preset and knob value.
#[derive(Debug, Clone, Copy)]
pub struct KnobSetting<'a> {
    /// The adapter's id.
    pub encoder: &'a str,
    /// The preset; the adapter's default when `None`.
    pub preset: Option<&'a str>,
    /// The knob's value.
    pub knob: f64,
}

/// Encode `input` to `output` as `setting` says, every other stream carried as `opts` says;
/// score the result at `score` scale (in the same pass) unless `None`. `progress` is given to
/// the encode.
pub fn encode_at_knob(
    input: &Path,
    output: &Path,
    setting: KnobSetting<'_>,
    opts: TranscodeOptions,
    score: Option<Scale>,
    progress: &mut dyn FnMut() -> Box<dyn ProgressSink>,
) -> Result<KnobEncode> {
    encode_knob_measured(input, output, setting, opts, score, &[], progress)
        .map(|(encode, _)| encode)
}

/// [`encode_at_knob`], with extra `metrics` (`psnr`, `ssim`...) measured on the same frames;
/// returns the verification's figures too.
pub fn encode_knob_measured(
    input: &Path,
    output: &Path,
    setting: KnobSetting<'_>,
    mut opts: TranscodeOptions,
    score: Option<Scale>,
    metrics: &[String],
    progress: &mut dyn FnMut() -> Box<dyn ProgressSink>,
) -> Result<(KnobEncode, Option<mediaforce::passverify::Verified>)> {
    let KnobSetting {
        encoder,
        preset,
        knob,
    } = setting;
    let adapter = mediaforce::codecs::find(encoder).map_err(failed)?;
    let preset = preset.map_or_else(|| adapter.default_preset().to_string(), str::to_string);
    let extra = std::mem::take(&mut opts.encoder_options);
    opts.encoder_options = adapter
        .options_with(&preset, knob, &extra)
        .map_err(failed)?;
    let info = mediaforce::core::probe::probe_headers(input).map_err(failed)?;
    let video = info.primary_video().and_then(|s| s.video.as_ref());
    opts.pixel_format = video
        .and_then(|v| v.pixel_format.as_deref())
        .and_then(|n| n.parse().ok())
        .map(|f| adapter.pick_pixel_format(f));
    // Scored at the source's bit depth, as the search's probes are.
    let verify = score
        .map(|scale| mediaforce::passverify::Verify::at(scale, video.and_then(|v| v.bit_depth)));
    let (report, verified) = mediaforce::passverify::transcode_measured(
        input,
        output,
        &opts,
        progress().as_mut(),
        verify,
        metrics,
    )
    .map_err(failed)?;
    let encode = KnobEncode {
        transcode: report,
        knob_name: adapter.knob().name,
        knob,
        vmaf: verified.as_ref().map(|v| v.vmaf),
        encoder: adapter.id(),
    };
    Ok((encode, verified))
}

/// Search `input` for the cheapest knob meeting `cfg`'s target, encode the whole file at it
/// (every other stream as `base` says), score the output in the same pass and correct the
/// knob when it missed; nothing is written without a result. `events` hears the probes and
/// the encode's frames.
pub fn encode_to_target(
    input: &Path,
    output: &Path,
    cfg: &mediaforce::search::SearchConfig,
    base: &TranscodeOptions,
    events: &mut dyn mediaforce::events::EventSink,
) -> Result<mediaforce::search::EncodeReport> {
    mediaforce::search::encode_to_target(input, output, cfg, base, events).map_err(failed)
}

/// Search `input` for the cheapest knob meeting `cfg`'s target on samples (nothing written).
pub fn crf_search(
    input: &Path,
    cfg: &mediaforce::search::SearchConfig,
    events: &mut dyn mediaforce::events::EventSink,
) -> Result<mediaforce::search::SearchReport> {
    mediaforce::search::crf_search(input, cfg, events).map_err(failed)
}

/// Re-encode `input` to `output` exactly as `opts` say (no search, no score).
pub fn transcode(
    input: &Path,
    output: &Path,
    opts: &TranscodeOptions,
    progress: &mut dyn ProgressSink,
) -> Result<TranscodeReport> {
    mediaforce::core::transcode::transcode(input, output, opts, progress).map_err(failed)
}
