//! Scoring a distorted file against its reference: decode both in lockstep on their own threads,
//! convert explicitly to one size and pixel format, and score with libvmaf on its thread pool.
//!
//! Frames are paired in presentation order, one for one; a frame-count mismatch is an error,
//! never a silent truncation. Pooled figures include the worst frames, not just the mean.

use crate::error::{Error, Result};
use crate::vmaf::{Chroma, Context, Model, Pool, PooledPicture};
use mediaforce_core::decode::{DecodeOptions, FrameConverter, ScaleAlgorithm, VideoDecoder};
use mediaforce_core::ffmpeg_next::format::Pixel;
use mediaforce_core::progress::{ProgressClock, ProgressSink};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};

/// Scoring resolution policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// vmaf_v0.6.1 models a 1080p display: sources below 1080p are upscaled (bicubic) to 1080p
    /// height for scoring; 2160p and larger use the 4K model at native size.
    #[default]
    Auto,
    /// Score at the reference's own size.
    Native,
}

/// Extra metrics libvmaf can compute beside VMAF.
pub const FEATURES: &[(&str, &str, &[&str])] = &[
    ("psnr", "psnr", &["psnr_y", "psnr_cb", "psnr_cr"]),
    ("ssim", "float_ssim", &["float_ssim"]),
    ("ms-ssim", "float_ms_ssim", &["float_ms_ssim"]),
    ("cambi", "cambi", &["Cambi_feature_cambi_score"]),
    ("ciede2000", "ciede", &["ciede2000"]),
    ("psnr-hvs", "psnr_hvs", &["psnr_hvs"]),
];

/// How to score.
#[derive(Debug, Clone)]
pub struct ScoreOptions {
    /// Model name or JSON path; `None` picks vmaf_v0.6.1, or vmaf_4k_v0.6.1 for 2160p+.
    pub model: Option<String>,
    /// Scoring resolution.
    pub scale: Scale,
    /// libvmaf threads (0: automatic, see [`thread_split`]).
    pub threads: u32,
    /// Score every n-th frame.
    pub subsample: u32,
    /// Extra features by user name (see [`FEATURES`]).
    pub features: Vec<String>,
    /// How many worst frames to report.
    pub worst: usize,
    /// Write libvmaf's JSON log here.
    pub log: Option<PathBuf>,
    /// Frames each decoder may run ahead (memory bound: queue x frame size x 2); 0: as many as
    /// fit in 20 MB, between 2 and 8 (3 at 1080p 8-bit). A deeper queue keeps libvmaf fed
    /// through the bursts of a slow decode (an intra frame of a lossless reference); at 1080p,
    /// 2, 4 and 8 frames measured within 2% of each other in wall time, 8 costing 12 MB more.
    pub queue: usize,
    /// Threads per decoder (0: automatic, see [`thread_split`]).
    pub decode_threads: usize,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        Self {
            model: None,
            scale: Scale::Auto,
            threads: 0,
            subsample: 1,
            features: Vec::new(),
            worst: 5,
            log: None,
            queue: 0,
            decode_threads: 0,
        }
    }
}

/// How `cores` are shared between libvmaf's pool and the two decoders: `(libvmaf threads,
/// threads per decoder)`.
///
/// libvmaf gets a thread per core, up to 8: its threads sleep while they wait for frames, so
/// sharing the cores with the decoders costs little, while fewer threads leave cores idle
/// whenever the decoders wait on a full queue. On two cores (240 frames of 1080p H.264, one
/// run) two libvmaf threads took 6.85 s against 7.44 s for one, at 242 MB peak against 213
/// MB: each libvmaf thread keeps its own ADM and VIF buffers (75 MB allocated at 1080p, about
/// 30 MB of it touched), which is also why the pool stops at 8. Decoders get frame threads
/// only from 8 cores up, where a single-threaded H.264 decode of the reference would otherwise
/// bound the whole pipeline (a lossless 1080p reference decodes at about 45 frames/s on one
/// core of this machine).
pub fn thread_split(cores: usize) -> (u32, usize) {
    let cores = cores.max(1);
    let vmaf = cores.min(8) as u32;
    let decode = if cores >= 8 { cores / 4 } else { 1 };
    (vmaf, decode)
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// libvmaf threads for a request (0: automatic, from [`thread_split`]).
fn vmaf_threads(requested: u32) -> u32 {
    if requested == 0 {
        thread_split(cores()).0
    } else {
        requested
    }
}

/// Pooled VMAF figures.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, PartialEq)]
pub struct Pooled {
    /// Arithmetic mean (libvmaf's pooling).
    pub mean: f64,
    /// Harmonic mean (libvmaf's pooling).
    pub harmonic_mean: f64,
    /// Minimum frame score.
    pub min: f64,
    /// 1st percentile (nearest rank).
    pub p1: f64,
    /// 5th percentile (nearest rank).
    pub p5: f64,
}

/// One of the worst frames.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
pub struct WorstFrame {
    /// Frame index in the reference.
    pub index: u64,
    /// Presentation time in seconds.
    pub seconds: f64,
    /// VMAF of that frame.
    pub vmaf: f64,
}

/// The result of scoring a pair.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreReport {
    /// Pooled VMAF.
    pub vmaf: Pooled,
    /// Frames scored.
    pub frames: u64,
    /// Scoring speed, frames per second, end to end (decode included).
    pub fps: f64,
    /// Model used.
    pub model: String,
    /// libvmaf version.
    pub libvmaf_version: String,
    /// Scale policy applied.
    pub scale: Scale,
    /// Size frames were scored at.
    pub scored_width: u32,
    /// Size frames were scored at.
    pub scored_height: u32,
    /// Bits per component scored at.
    pub bit_depth: u32,
    /// Pooled means of extra features.
    pub features: BTreeMap<String, f64>,
    /// Worst frames, lowest first.
    pub worst_frames: Vec<WorstFrame>,
    /// The size the reference was cropped to before scoring, when the distorted file is the
    /// reference cropped to whole chroma samples (see
    /// [`mediaforce_core::encode::encodable_size`]); `None` when scored whole.
    pub reference_cropped_to: Option<(u32, u32)>,
    /// Damaged packets or frames of the reference concealed while decoding it.
    pub reference_decode_errors: u64,
    /// Where the first of them were, in seconds.
    pub reference_decode_error_seconds: Vec<f64>,
    /// Damaged packets or frames of the distorted file concealed while decoding it.
    pub distorted_decode_errors: u64,
    /// Per-frame VMAF, in order.
    #[serde(skip)]
    pub per_frame: Vec<f64>,
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

struct Target {
    width: u32,
    height: u32,
    format: Pixel,
    bpc: u32,
    model: String,
}

/// The default model for a reference of this size: the 4K model at 2160p and above.
pub fn model_for(width: u32, height: u32) -> &'static str {
    if height >= 2160 || width >= 3840 {
        "vmaf_4k_v0.6.1"
    } else {
        "vmaf_v0.6.1"
    }
}

/// The size, format and model frames are scored at, for a reference of this shape.
fn target_for(width: u32, height: u32, depth: u8, scale: Scale, model: Option<&str>) -> Target {
    let model = model.map_or_else(|| model_for(width, height).to_string(), str::to_string);
    let (width, height) = match scale {
        Scale::Auto if height < 1080 && height > 0 => {
            let w = (f64::from(width) * 1080.0 / f64::from(height) / 2.0).round() as u32 * 2;
            (w, 1080)
        }
        _ => (width, height),
    };
    let (format, bpc) = match depth {
        0..=8 => (Pixel::YUV420P, 8),
        9..=10 => (Pixel::YUV420P10LE, 10),
        _ => (Pixel::YUV420P12LE, 12),
    };
    Target {
        width,
        height,
        format,
        bpc,
        model,
    }
}

/// The size `reference` is cropped to before scoring against `distorted`: the distorted size
/// when it is the reference less at most one column and one row, which is how an encoder that
/// needs whole chroma samples was fed (see [`mediaforce_core::encode::encodable_size`]).
fn reference_crop(reference: (u32, u32), distorted: (u32, u32)) -> Option<(u32, u32)> {
    let (rw, rh) = reference;
    let (dw, dh) = distorted;
    let close = |r: u32, d: u32| d <= r && r - d <= 1;
    (distorted != reference && close(rw, dw) && close(rh, dh)).then_some(distorted)
}

/// The scoring target for a reference (cropped to `crop` when set), and its expected frame
/// count (for progress).
fn plan(
    reference: &Path,
    options: &ScoreOptions,
    crop: Option<(u32, u32)>,
) -> Result<(Target, Option<u64>)> {
    let info = mediaforce_core::probe::probe_headers(reference)?;
    let stream = info
        .primary_video()
        .ok_or(mediaforce_core::Error::NoStream {
            path: reference.to_path_buf(),
            kind: "video",
        })?;
    let v = stream.video.clone().expect("video stream has video info");
    let total = stream.frames.or_else(|| {
        let d = stream.duration_seconds.or(info.duration_seconds)?;
        Some((d * v.fps?).round() as u64)
    });
    let (width, height) = crop.unwrap_or((v.width, v.height));
    let target = target_for(
        width,
        height,
        v.bit_depth.unwrap_or(8),
        options.scale,
        options.model.as_deref(),
    );
    Ok((target, total))
}

/// Register the extra features asked for by user name (see [`FEATURES`]); returns the
/// libvmaf outputs to read back.
fn use_features(ctx: &mut Context, names: &[String]) -> Result<Vec<&'static str>> {
    let mut extracted: Vec<&'static str> = Vec::new();
    for f in names {
        let (_, extractor, outputs) = FEATURES
            .iter()
            .find(|(user, extractor, _)| user == f || extractor == f)
            .ok_or_else(|| Error::Feature { name: f.clone() })?;
        ctx.use_feature(extractor)?;
        extracted.extend_from_slice(outputs);
    }
    Ok(extracted)
}

/// The mean of each extracted feature over the scored frames of a flushed context.
fn pool_features(
    ctx: &mut Context,
    extracted: &[&str],
    scored: &[u64],
    target: &Target,
) -> Result<BTreeMap<String, f64>> {
    let mut features = BTreeMap::new();
    for &name in extracted {
        let vals: Vec<f64> = scored
            .iter()
            .filter_map(|&i| ctx.feature_at(name, i as u32))
            .collect();
        if vals.is_empty() {
            // libvmaf drops an extractor that cannot run (MS-SSIM on pictures under 176 pixels)
            // without failing the context; asked-for figures must not silently go missing.
            return Err(Error::Feature {
                name: format!(
                    "{name} (no scores for {}x{} pictures)",
                    target.width, target.height
                ),
            });
        }
        // Report under libvmaf's output alias (its JSON log calls this one "cambi").
        let report_name = if name == "Cambi_feature_cambi_score" {
            "cambi"
        } else {
            name
        };
        features.insert(
            report_name.to_string(),
            vals.iter().sum::<f64>() / vals.len() as f64,
        );
    }
    Ok(features)
}

/// Per-frame scores and their pooling, read back from a flushed context.
fn pool(
    ctx: &mut Context,
    model: &Model,
    n: u64,
    subsample: u32,
) -> Result<(Pooled, Vec<u64>, Vec<f64>)> {
    let step = subsample.max(1) as usize;
    let scored: Vec<u64> = (0..n).step_by(step).collect();
    let mut per_frame = Vec::with_capacity(scored.len());
    for &i in &scored {
        per_frame.push(ctx.score_at(model, i as u32)?);
    }
    let last = (n - 1) as u32;
    let mean = ctx.pooled(model, Pool::Mean, 0, last)?;
    let harmonic_mean = ctx.pooled(model, Pool::HarmonicMean, 0, last)?;
    let mut sorted = per_frame.clone();
    sorted.sort_by(f64::total_cmp);
    let pooled = Pooled {
        mean,
        harmonic_mean,
        min: sorted[0],
        p1: percentile(&sorted, 1.0),
        p5: percentile(&sorted, 5.0),
    };
    Ok((pooled, scored, per_frame))
}

/// Scores pairs of frames held in memory (an in-memory encode against its source), converting
/// both explicitly to the scoring size and format.
pub struct FrameScorer {
    ctx: Context,
    model: Model,
    target: Target,
    reference: FrameConverter,
    distorted: FrameConverter,
    frames: u64,
    subsample: u32,
    extracted: Vec<&'static str>,
}

impl std::fmt::Debug for FrameScorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameScorer")
            .field("model", &self.model)
            .field("size", &(self.target.width, self.target.height))
            .field("frames", &self.frames)
            .finish()
    }
}

/// Pooled result of a [`FrameScorer`].
#[derive(Debug, Clone)]
pub struct FrameScores {
    /// Pooled VMAF.
    pub vmaf: Pooled,
    /// Per-frame VMAF in push order.
    pub per_frame: Vec<f64>,
    /// Means of the extra features asked for ([`FrameScorer::with_features`]).
    pub features: BTreeMap<String, f64>,
}

impl FrameScorer {
    /// A scorer for a reference of `width`x`height` at `depth` bits, with the scale policy and
    /// model choice of [`ScoreOptions`] and `threads` libvmaf threads (0: one per core).
    pub fn new(
        width: u32,
        height: u32,
        depth: u8,
        scale: Scale,
        model: Option<&str>,
        threads: u32,
    ) -> Result<Self> {
        Self::every(width, height, depth, scale, model, threads, 1)
    }

    /// [`FrameScorer::new`] scoring every `subsample`-th pushed pair (libvmaf still reads every
    /// pair, so its motion feature sees consecutive frames).
    pub fn every(
        width: u32,
        height: u32,
        depth: u8,
        scale: Scale,
        model: Option<&str>,
        threads: u32,
        subsample: u32,
    ) -> Result<Self> {
        let subsample = subsample.max(1);
        let target = target_for(width, height, depth, scale, model);
        let model = Model::load(&target.model)?;
        let threads = vmaf_threads(threads);
        let mut ctx = Context::new(threads, subsample)?;
        ctx.use_model(&model)?;
        preallocate(&mut ctx, &target, threads)?;
        let conv = || {
            FrameConverter::new(
                target.width,
                target.height,
                target.format,
                ScaleAlgorithm::Bicubic,
            )
        };
        Ok(Self {
            reference: conv(),
            distorted: conv(),
            ctx,
            model,
            target,
            frames: 0,
            subsample,
            extracted: Vec::new(),
        })
    }

    /// Also compute these extra features (user names of [`FEATURES`]: `psnr`, `ssim`...);
    /// their means come back in [`FrameScores::features`]. Call before the first push.
    pub fn with_features(mut self, names: &[String]) -> Result<Self> {
        let extracted = use_features(&mut self.ctx, names)?;
        self.extracted.extend(extracted);
        Ok(self)
    }

    /// Pairs pushed so far.
    pub fn pushed(&self) -> u64 {
        self.frames
    }

    /// The model scoring with (name or path).
    pub fn model_name(&self) -> &str {
        &self.target.model
    }

    /// Score one pair.
    pub fn push(
        &mut self,
        reference: &mediaforce_core::ffmpeg_next::frame::Video,
        distorted: &mediaforce_core::ffmpeg_next::frame::Video,
    ) -> Result<()> {
        let r = self.reference.convert(reference)?;
        let d = self.distorted.convert(distorted)?;
        read_frames(&mut self.ctx, self.frames as u32, &r, &d)?;
        self.frames += 1;
        Ok(())
    }

    /// Finish and pool.
    pub fn finish(mut self) -> Result<FrameScores> {
        if self.frames == 0 {
            return Err(Error::NoFrames {
                path: PathBuf::from("in-memory frames"),
            });
        }
        self.ctx.flush()?;
        let (vmaf, scored, per_frame) =
            pool(&mut self.ctx, &self.model, self.frames, self.subsample)?;
        let features = pool_features(&mut self.ctx, &self.extracted, &scored, &self.target)?;
        Ok(FrameScores {
            vmaf,
            per_frame,
            features,
        })
    }
}

type Item = Result<(Frame, f64)>;

/// What a decoder thread concealed: the error count and the first error times in seconds.
type Concealed = (u64, Vec<f64>);

/// A decoded frame, already at the scoring size and format.
type Frame = mediaforce_core::ffmpeg_next::frame::Video;

fn spawn_decoder(
    path: PathBuf,
    target: &Target,
    crop: Option<(u32, u32)>,
    queue: usize,
    decode_threads: usize,
) -> (Receiver<Item>, std::thread::JoinHandle<Concealed>) {
    let (tx, rx) = sync_channel::<Item>(queue.max(1));
    let (w, h, format) = (target.width, target.height, target.format);
    let handle = std::thread::spawn(move || {
        let opts = DecodeOptions {
            threads: decode_threads,
            pixel_format: Some(format),
            size: Some((w, h)),
            crop,
            scaler: ScaleAlgorithm::Bicubic,
            ..DecodeOptions::default()
        };
        let mut decoder = match VideoDecoder::open(&path, opts) {
            Ok(d) => d,
            Err(e) => {
                let _ = tx.send(Err(e.into()));
                return (0, Vec::new());
            }
        };
        loop {
            let item = match decoder.next_frame() {
                Ok(Some(f)) => Ok((f.frame, f.seconds)),
                Ok(None) => break,
                Err(e) => Err(e.into()),
            };
            let stop = item.is_err();
            if tx.send(item).is_err() || stop {
                break;
            }
        }
        (
            decoder.decode_errors(),
            decoder.decode_error_seconds().to_vec(),
        )
    });
    (rx, handle)
}

/// Give the context a picture pool big enough that no thread waits on it in steady state:
/// libvmaf holds up to two pairs a thread (one queued, one being scored) plus the two previous
/// references its motion feature keeps, and the caller fills one pair.
fn preallocate(ctx: &mut Context, target: &Target, threads: u32) -> Result<()> {
    ctx.preallocate(
        4 * threads + 4,
        Chroma::Yuv420,
        target.bpc,
        target.width,
        target.height,
    )
}

/// Hand a converted reference/distorted pair to libvmaf as frame `index`, through its pool.
fn read_frames(ctx: &mut Context, index: u32, reference: &Frame, distorted: &Frame) -> Result<()> {
    ctx.read_pooled(index, |r, d| {
        fill_picture(reference, r);
        fill_picture(distorted, d);
        Ok(())
    })
}

/// Copy a decoded yuv420p/yuv420p10le/yuv420p12le frame into a libvmaf picture of its size.
fn fill_picture(frame: &Frame, pic: &mut PooledPicture<'_>) {
    for plane in 0..3 {
        let src = frame.data(plane);
        let stride = frame.stride(plane);
        let mut dst = pic.plane_mut(plane);
        let n = dst.width_bytes();
        for y in 0..dst.height() {
            dst.row(y).copy_from_slice(&src[y * stride..y * stride + n]);
        }
    }
}

/// Score `distorted` against `reference`.
pub fn score_files(
    reference: &Path,
    distorted: &Path,
    options: &ScoreOptions,
    progress: &mut dyn ProgressSink,
) -> Result<ScoreReport> {
    // Check the distorted file before spending threads on it.
    let dist_info = mediaforce_core::probe::probe_headers(distorted)?;
    let ref_info = mediaforce_core::probe::probe_headers(reference)?;
    let size = |i: &mediaforce_core::MediaInfo| {
        i.primary_video()
            .and_then(|s| s.video.as_ref())
            .map(|v| (v.width, v.height))
    };
    let crop = size(&ref_info)
        .zip(size(&dist_info))
        .and_then(|(r, d)| reference_crop(r, d));
    let (target, total) = plan(reference, options, crop)?;
    let model = Model::load(&target.model)?;
    let threads = vmaf_threads(options.threads);
    let queue = if options.queue == 0 {
        let frame_bytes = target.width as usize * target.height as usize * 3 / 2
            * if target.bpc > 8 { 2 } else { 1 };
        ((20 << 20) / (2 * frame_bytes.max(1))).clamp(2, 8)
    } else {
        options.queue
    };
    let decode_threads = if options.decode_threads == 0 {
        thread_split(cores()).1
    } else {
        options.decode_threads
    };
    let mut ctx = Context::new(threads, options.subsample)?;
    ctx.use_model(&model)?;
    preallocate(&mut ctx, &target, threads)?;
    let extracted = use_features(&mut ctx, &options.features)?;

    progress.start("score", total);
    let mut clock = ProgressClock::new(total);

    let (ref_rx, ref_thread) = spawn_decoder(
        reference.to_path_buf(),
        &target,
        crop,
        queue,
        decode_threads,
    );
    let (dist_rx, dist_thread) = spawn_decoder(
        distorted.to_path_buf(),
        &target,
        None,
        queue,
        decode_threads,
    );
    let mut times = Vec::new();
    let mut n: u64 = 0;
    let outcome = loop {
        let r = ref_rx.recv().ok();
        let d = dist_rx.recv().ok();
        match (r, d) {
            (None, None) => break Ok(()),
            (Some(Err(e)), _) | (_, Some(Err(e))) => break Err(e),
            (Some(Ok((rf, t))), Some(Ok((df, _)))) => {
                if let Err(e) = read_frames(&mut ctx, n as u32, &rf, &df) {
                    break Err(e);
                }
                times.push(t);
                n += 1;
                if let Some(p) = clock.tick(n) {
                    progress.update(&p);
                }
            }
            (Some(Ok(_)), None) => {
                let extra = 1 + ref_rx.iter().filter(|i| i.is_ok()).count() as u64;
                break Err(Error::FrameCountMismatch {
                    reference_path: reference.to_path_buf(),
                    distorted_path: distorted.to_path_buf(),
                    reference: n + extra,
                    distorted: n,
                });
            }
            (None, Some(Ok(_))) => {
                let extra = 1 + dist_rx.iter().filter(|i| i.is_ok()).count() as u64;
                break Err(Error::FrameCountMismatch {
                    reference_path: reference.to_path_buf(),
                    distorted_path: distorted.to_path_buf(),
                    reference: n,
                    distorted: n + extra,
                });
            }
        }
    };
    drop(ref_rx);
    drop(dist_rx);
    let (reference_decode_errors, reference_decode_error_seconds) =
        ref_thread.join().unwrap_or_default();
    let (distorted_decode_errors, _) = dist_thread.join().unwrap_or_default();
    progress.finish();
    outcome?;
    if n == 0 {
        return Err(Error::NoFrames {
            path: reference.to_path_buf(),
        });
    }
    ctx.flush()?;

    let (vmaf, scored, per_frame) = pool(&mut ctx, &model, n, options.subsample)?;
    let mut order: Vec<usize> = (0..per_frame.len()).collect();
    order.sort_by(|a, b| per_frame[*a].total_cmp(&per_frame[*b]));
    let worst_frames = order
        .iter()
        .take(options.worst)
        .map(|&k| WorstFrame {
            index: scored[k],
            seconds: times[scored[k] as usize],
            vmaf: per_frame[k],
        })
        .collect();
    let features = pool_features(&mut ctx, &extracted, &scored, &target)?;
    if let Some(log) = &options.log {
        ctx.write_json_log(log)?;
    }
    let elapsed = clock.snapshot(n);
    Ok(ScoreReport {
        vmaf,
        frames: n,
        fps: elapsed.fps,
        model: model.name().to_string(),
        libvmaf_version: crate::vmaf::version(),
        scale: options.scale,
        scored_width: target.width,
        scored_height: target.height,
        bit_depth: target.bpc,
        features,
        worst_frames,
        reference_cropped_to: crop,
        reference_decode_errors,
        reference_decode_error_seconds,
        distorted_decode_errors,
        per_frame,
    })
}

#[cfg(test)]
mod tests {
    use super::{percentile, reference_crop, thread_split};

    #[test]
    fn the_reference_is_cropped_only_to_a_chroma_grid_crop_of_itself() {
        assert_eq!(reference_crop((720, 405), (720, 404)), Some((720, 404)));
        assert_eq!(reference_crop((641, 465), (640, 464)), Some((640, 464)));
        assert_eq!(reference_crop((720, 404), (720, 404)), None);
        // A real rescale is scored by scaling, not cropping.
        assert_eq!(reference_crop((1920, 1080), (1280, 720)), None);
        assert_eq!(reference_crop((720, 404), (720, 405)), None);
        assert_eq!(reference_crop((720, 406), (720, 404)), None);
    }

    #[test]
    fn cores_are_split_between_libvmaf_and_the_decoders() {
        assert_eq!(thread_split(1), (1, 1));
        assert_eq!(thread_split(2), (2, 1));
        assert_eq!(thread_split(4), (4, 1));
        assert_eq!(thread_split(16), (8, 4));
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=200).map(f64::from).collect();
        assert_eq!(percentile(&v, 1.0), 2.0);
        assert_eq!(percentile(&v, 5.0), 10.0);
        assert_eq!(percentile(&[42.0], 5.0), 42.0);
    }
}
