//! Verification in the same pass: score a full encode while it is being made.
//!
//! [`crate::core::transcode::transcode_tapped`] shows each frame it hands the encoder and each
//! packet the encoder returns to a [`VideoTap`]. [`PassVerifier`] passes them to a thread of its
//! own, which decodes the packets as they come, pairs each decoded frame with the reference frame
//! of the same index (encoders return frames in the order they were given, after their lookahead)
//! and scores the pair with libvmaf. The source is decoded once, for the encode; the separate
//! verification pass (decode the source again, decode the output, score) is gone.
//!
//! The reference is the picture the encoder was given (after deinterlacing or cropping to an
//! encodable size), so the score measures what the encoder lost.

use crate::core::decode::PacketDecoder;
use crate::core::ffmpeg_next as ff;
use crate::core::transcode::VideoTap;
use crate::metrics::{FrameScorer, Pooled, Scale};
use std::collections::VecDeque;
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;

/// Messages queued to the scoring thread. Bounded, so a scorer slower than the encoder slows the
/// encode instead of piling up frames.
const QUEUE: usize = 16;

enum Msg {
    Opened(ff::codec::Parameters, ff::Rational),
    Frame(ff::frame::Video),
    Packet(ff::Packet),
}

/// What the same-pass verification measured.
#[derive(Debug, Clone)]
pub struct PassScore {
    /// Pooled VMAF of the output against the frames the encoder was given.
    pub vmaf: Pooled,
    /// Frames paired (every frame; every n-th of them scored).
    pub frames: u64,
    /// Means of the extra metrics asked for, by libvmaf's output name.
    pub metrics: std::collections::BTreeMap<String, f64>,
}

/// A [`VideoTap`] that scores the encoder's output against its input on a thread of its own.
pub struct PassVerifier {
    tx: Option<SyncSender<Msg>>,
    worker: Option<JoinHandle<Result<PassScore, String>>>,
}

impl std::fmt::Debug for PassVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassVerifier").finish_non_exhaustive()
    }
}

/// The scoring thread's state.
struct Pairing {
    metrics: Vec<String>,
    scale: Scale,
    depth: Option<u8>,
    threads: u32,
    every: u32,
    scorer: Option<FrameScorer>,
    references: VecDeque<ff::frame::Video>,
    given: u64,
    decoded: u64,
    failure: Option<String>,
}

impl Pairing {
    fn reference(&mut self, frame: ff::frame::Video) {
        if self.failure.is_some() {
            return;
        }
        if self.scorer.is_none() {
            let depth = self
                .depth
                .or_else(|| crate::core::probe::bit_depth(frame.format()))
                .unwrap_or(8);
            match FrameScorer::every(
                frame.width(),
                frame.height(),
                depth,
                self.scale,
                None,
                self.threads,
                self.every,
            )
            .and_then(|s| s.with_features(&self.metrics))
            {
                Ok(s) => self.scorer = Some(s),
                Err(e) => {
                    self.failure = Some(e.to_string());
                    return;
                }
            }
        }
        self.given += 1;
        self.references.push_back(frame);
    }

    fn decoded(&mut self, frame: ff::frame::Video) {
        self.decoded += 1;
        if self.failure.is_some() {
            return;
        }
        let Some(reference) = self.references.pop_front() else {
            self.failure = Some(format!(
                "the encoder returned frame {} before it was given that many",
                self.decoded
            ));
            return;
        };
        if let Some(s) = self.scorer.as_mut() {
            if let Err(e) = s.push(&reference, &frame) {
                self.failure = Some(e.to_string());
            }
        }
    }

    fn finish(self) -> Result<PassScore, String> {
        if let Some(f) = self.failure {
            return Err(f);
        }
        if self.decoded != self.given {
            return Err(format!(
                "the output decoded to {} frames, the encoder was given {}",
                self.decoded, self.given
            ));
        }
        let scorer = self
            .scorer
            .ok_or_else(|| "the encoder was given no frame".to_string())?;
        let scores = scorer.finish().map_err(|e| e.to_string())?;
        Ok(PassScore {
            vmaf: scores.vmaf,
            frames: self.decoded,
            metrics: scores.features,
        })
    }
}

impl PassVerifier {
    /// Start the scoring thread: `scale` and `threads` as for the search's probes, scoring every
    /// `every`-th frame at `depth` bits (the source's; `None`: the encoder's input's), with the
    /// extra `metrics` (user names: `psnr`, `ssim`...).
    pub fn start(
        scale: Scale,
        threads: u32,
        every: u32,
        depth: Option<u8>,
        metrics: Vec<String>,
    ) -> Self {
        let (tx, rx) = sync_channel::<Msg>(QUEUE);
        let worker = std::thread::spawn(move || -> Result<PassScore, String> {
            let mut pairing = Pairing {
                metrics,
                scale,
                depth,
                threads,
                every: every.max(1),
                scorer: None,
                references: VecDeque::new(),
                given: 0,
                decoded: 0,
                failure: None,
            };
            let mut decoder: Option<PacketDecoder> = None;
            for msg in rx {
                match msg {
                    Msg::Opened(parameters, time_base) => {
                        decoder = Some(
                            PacketDecoder::new(parameters, time_base, 0)
                                .map_err(|e| e.to_string())?,
                        );
                    }
                    Msg::Frame(f) => pairing.reference(f),
                    Msg::Packet(p) => {
                        let d = decoder
                            .as_mut()
                            .ok_or("a packet came before the encoder opened")?;
                        d.decode(&p, |f| pairing.decoded(f))
                            .map_err(|e| e.to_string())?;
                    }
                }
            }
            if let Some(d) = decoder.as_mut() {
                d.finish(|f| pairing.decoded(f))
                    .map_err(|e| e.to_string())?;
            }
            pairing.finish()
        });
        Self {
            tx: Some(tx),
            worker: Some(worker),
        }
    }

    fn send(&mut self, msg: Msg) {
        // A closed channel means the scoring thread stopped on an error; `finish` reports it.
        if let Some(tx) = &self.tx {
            if tx.send(msg).is_err() {
                self.tx = None;
            }
        }
    }

    /// Wait for the last frames to be scored and pool them.
    pub fn finish(mut self) -> Result<PassScore, String> {
        self.tx = None;
        self.worker
            .take()
            .expect("the worker is joined once")
            .join()
            .map_err(|_| "the scoring thread panicked".to_string())?
    }
}

impl Drop for PassVerifier {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}

impl VideoTap for PassVerifier {
    fn opened(&mut self, parameters: ff::codec::Parameters, time_base: ff::Rational) {
        self.send(Msg::Opened(parameters, time_base));
    }

    fn frame(&mut self, frame: &ff::frame::Video) {
        self.send(Msg::Frame(frame.clone()));
    }

    fn packet(&mut self, packet: &ff::Packet) {
        self.send(Msg::Packet(packet.clone()));
    }
}

/// How [`transcode_verified`] verifies its output.
#[derive(Debug, Clone, Copy)]
pub struct Verify {
    /// Scoring resolution policy.
    pub scale: Scale,
    /// libvmaf threads (0: one per core).
    pub threads: u32,
    /// Score every n-th frame.
    pub every: u32,
    /// Decode the source again after the encode instead of scoring in the same pass.
    pub separately: bool,
    /// The source's bit depth, which the same-pass score is measured at (as the search's probes
    /// are); `None`: the depth of the frames the encoder is given.
    pub depth: Option<u8>,
}

impl Verify {
    /// Every frame at `scale` and the source's `depth`, in the same pass, libvmaf choosing its
    /// threads.
    pub fn at(scale: Scale, depth: Option<u8>) -> Self {
        Self {
            scale,
            threads: 0,
            every: 1,
            separately: false,
            depth,
        }
    }
}

/// What [`transcode_verified`] measured.
#[derive(Debug, Clone)]
pub struct Verified {
    /// Pooled VMAF of the output.
    pub vmaf: Pooled,
    /// `same_pass` or `separate`.
    pub by: &'static str,
    /// Why the same-pass score could not be used, when the output was then scored separately.
    pub same_pass_error: Option<String>,
    /// Wall seconds of the separate scoring (0 in the same pass).
    pub seconds: f64,
    /// Means of the extra metrics asked for, by libvmaf's output name.
    pub metrics: std::collections::BTreeMap<String, f64>,
}

/// Why an encode with verification failed: the encode or the scoring.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PassError {
    /// Media layer.
    #[error(transparent)]
    Media(#[from] crate::core::Error),
    /// Metrics layer.
    #[error(transparent)]
    Metrics(#[from] crate::metrics::Error),
}

/// Transcode `input` to `output` and, unless `verify` is `None`, score the output against the
/// source: in the same pass by default, or (when asked, or when the same-pass pairing failed)
/// by decoding both files afterwards. Both report to `progress`.
pub fn transcode_verified(
    input: &std::path::Path,
    output: &std::path::Path,
    options: &crate::core::transcode::TranscodeOptions,
    progress: &mut dyn crate::core::ProgressSink,
    verify: Option<Verify>,
) -> Result<(crate::core::transcode::TranscodeReport, Option<Verified>), PassError> {
    transcode_measured(input, output, options, progress, verify, &[])
}

/// [`transcode_verified`], also measuring the extra `metrics` (user names: `psnr`, `ssim`...)
/// on the same frames.
pub fn transcode_measured(
    input: &std::path::Path,
    output: &std::path::Path,
    options: &crate::core::transcode::TranscodeOptions,
    progress: &mut dyn crate::core::ProgressSink,
    verify: Option<Verify>,
    metrics: &[String],
) -> Result<(crate::core::transcode::TranscodeReport, Option<Verified>), PassError> {
    let mut tap = verify
        .filter(|v| !v.separately)
        .map(|v| PassVerifier::start(v.scale, v.threads, v.every, v.depth, metrics.to_vec()));
    let report = crate::core::transcode::transcode_tapped(
        input,
        output,
        options,
        progress,
        tap.as_mut().map(|t| t as &mut dyn VideoTap),
    )?;
    let Some(v) = verify else {
        return Ok((report, None));
    };
    let same_pass_error = match tap.map(PassVerifier::finish) {
        Some(Ok(score)) => {
            let verified = Verified {
                vmaf: score.vmaf,
                by: "same_pass",
                same_pass_error: None,
                seconds: 0.0,
                metrics: score.metrics,
            };
            return Ok((report, Some(verified)));
        }
        Some(Err(e)) => Some(e),
        None => None,
    };
    let options = crate::metrics::ScoreOptions {
        scale: v.scale,
        threads: v.threads,
        subsample: v.every.max(1),
        features: metrics.to_vec(),
        ..Default::default()
    };
    let t0 = std::time::Instant::now();
    let scored = crate::metrics::score_files(input, output, &options, progress)?;
    let verified = Verified {
        vmaf: scored.vmaf,
        by: "separate",
        same_pass_error,
        seconds: t0.elapsed().as_secs_f64(),
        metrics: scored.features,
    };
    Ok((report, Some(verified)))
}
