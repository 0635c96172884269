//! One probe: the samples encoded at one knob value, decoded and scored as they come.

use crate::codecs::CodecAdapter;
use crate::core::decode::{FrameConverter, PacketDecoder, ScaleAlgorithm};
use crate::core::encode::{EncoderOutput, VideoEncoder, VideoEncoderConfig};
use crate::core::ffmpeg_next as ff;
use crate::metrics::FrameScorer;
use std::path::Path;
use std::time::Instant;

use super::config::SearchConfig;
use super::report::{uncertainty, Probe, SearchError};
use super::samples::SampleSpan;
use crate::events::{Event, EventSink};

pub(super) struct Sample {
    pub(super) span: SampleSpan,
    pub(super) frames: Vec<ff::frame::Video>,
}

pub(super) struct Source<'a> {
    pub(super) path: &'a Path,
    /// Pixel format the samples are encoded in.
    pub(super) pixel: ff::format::Pixel,
    pub(super) width: u32,
    pub(super) height: u32,
    /// The picture size the encoder is given (the source's unless a resolution was asked).
    pub(super) encode_width: u32,
    pub(super) encode_height: u32,
    pub(super) depth: u8,
    pub(super) fps: ff::Rational,
    pub(super) total_frames: f64,
    pub(super) size_bytes: u64,
}

pub(super) fn run_probe(
    adapter: &dyn CodecAdapter,
    preset: &str,
    knob: f64,
    samples: &[Sample],
    source: &Source<'_>,
    cfg: &SearchConfig,
    events: &mut dyn EventSink,
) -> Result<Probe, SearchError> {
    let mut scorer = FrameScorer::new(
        source.width,
        source.height,
        source.depth,
        cfg.scale,
        None,
        cfg.threads,
    )?
    .with_features(&cfg.metrics)?;
    let mut sample_bytes = 0u64;
    let mut sample_sizes = Vec::new();
    let mut sample_means = Vec::new();
    let mut frames_total = 0usize;
    let mut encode_seconds = 0.0;
    let mut meter = ProbeMeter {
        started: Instant::now(),
        done: 0,
        total: samples.iter().map(|s| s.frames.len() as u64).sum(),
        last_report: Instant::now(),
    };
    for s in samples {
        let mut config = VideoEncoderConfig::new(
            adapter.libav_name(),
            source.encode_width,
            source.encode_height,
            source.pixel,
            source.fps,
        );
        config.options = adapter.options(preset, knob)?;
        config.global_header = false;
        config.source = Some(source.path.to_path_buf());
        let (bytes, seconds, got) =
            encode_and_score(config, &s.frames, &mut scorer, source, events, &mut meter)?;
        sample_bytes += bytes;
        sample_sizes.push(bytes);
        encode_seconds += seconds;
        if got != s.frames.len() {
            return Err(SearchError::FrameCount {
                encoder: adapter.id().into(),
                knob,
                sent: s.frames.len(),
                got,
            });
        }
        frames_total += got;
        sample_means.push(0.0);
    }
    let scores = scorer.finish()?;
    // Per-sample means from the per-frame scores, in push order.
    let mut offset = 0usize;
    for (mean, s) in sample_means.iter_mut().zip(samples) {
        let n = s.frames.len();
        let slice = &scores.per_frame[offset..offset + n];
        *mean = slice.iter().sum::<f64>() / n as f64;
        offset += n;
    }
    let frames = frames_total.max(1) as f64;
    let predicted_bytes = (sample_bytes as f64 / frames * source.total_frames) as u64;
    let predicted_percent = 100.0 * predicted_bytes as f64 / source.size_bytes.max(1) as f64;
    let sample_frames: Vec<usize> = samples.iter().map(|s| s.frames.len()).collect();
    Ok(Probe {
        knob,
        cached: false,
        score: cfg.score_of(&scores.vmaf),
        vmaf: scores.vmaf,
        uncertainty: uncertainty(
            &sample_means,
            &sample_sizes,
            &sample_frames,
            predicted_percent,
        ),
        sample_means,
        sample_sizes,
        sample_bytes,
        predicted_bytes,
        predicted_percent,
        predicted_encode_seconds: encode_seconds / frames * source.total_frames,
        metrics: scores.features,
    })
}

/// Counts a probe's scored frames for [`Event::ProbeProgress`].
pub(super) struct ProbeMeter {
    pub(super) started: Instant,
    pub(super) done: u64,
    pub(super) total: u64,
    pub(super) last_report: Instant,
}

impl ProbeMeter {
    /// Report `done` frames, at most twice a second.
    pub(super) fn report(&mut self, events: &mut dyn EventSink, done: u64) {
        if self.last_report.elapsed() < std::time::Duration::from_millis(500) {
            return;
        }
        self.last_report = Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        events.emit(Event::ProbeProgress {
            frames: done,
            total: self.total,
            fps: done as f64 / secs,
        });
    }
}

/// What the encoder thread of a probe sends the scoring side.
pub(super) enum EncoderMsg {
    /// The encoder is open: what a decoder of its packets needs.
    Opened(ff::codec::Parameters, ff::Rational),
    /// One compressed packet, in decode order.
    Packet(ff::Packet),
}

/// Encode one sample's frames on a thread of their own while this thread decodes the packets as
/// they come and scores each decoded frame against its reference, so encoding, decoding and
/// scoring overlap instead of running one after another. Returns (compressed bytes, encoder
/// wall seconds, frames decoded). The encoder's wall time is measured while scoring shares the
/// cores, so on a small machine it overstates a lone encode.
pub(super) fn encode_and_score(
    config: VideoEncoderConfig,
    frames: &[ff::frame::Video],
    scorer: &mut FrameScorer,
    source: &Source<'_>,
    events: &mut dyn EventSink,
    meter: &mut ProbeMeter,
) -> Result<(u64, f64, usize), SearchError> {
    let (tx, rx) = std::sync::mpsc::channel::<EncoderMsg>();
    let (width, height, pixel) = (source.encode_width, source.encode_height, source.pixel);
    // Set by the scoring side when it stops early (cancelled or failed); the encoder checks it
    // every frame, as an encoder with a long lookahead may not emit a packet for many frames.
    let stop = std::sync::atomic::AtomicBool::new(false);
    let stop = &stop;
    std::thread::scope(|scope| {
        let encoder = scope.spawn(move || -> Result<f64, SearchError> {
            let t0 = Instant::now();
            let mut enc = VideoEncoder::open(&config)?;
            let mut to_encoder = FrameConverter::new(width, height, pixel, ScaleAlgorithm::Bicubic);
            // A failed send means the scoring side gave up (cancelled or failed): stop quietly.
            if tx
                .send(EncoderMsg::Opened(enc.parameters(), enc.time_base()))
                .is_err()
            {
                return Ok(t0.elapsed().as_secs_f64());
            }
            let mut gone = false;
            for (i, f) in frames.iter().enumerate() {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    return Ok(t0.elapsed().as_secs_f64());
                }
                let mut f = to_encoder.convert(f)?;
                f.set_pts(Some(i as i64));
                f.set_kind(ff::picture::Type::None);
                enc.encode(&f, |p| {
                    gone |= tx.send(EncoderMsg::Packet(p)).is_err();
                    Ok(())
                })?;
                if gone {
                    return Ok(t0.elapsed().as_secs_f64());
                }
            }
            enc.send_eof()?;
            while let EncoderOutput::Packet(p) = enc.receive()? {
                if tx.send(EncoderMsg::Packet(p)).is_err() {
                    break;
                }
            }
            Ok(t0.elapsed().as_secs_f64())
        });
        // `rx` is moved in, so it is dropped (and the encoder told to stop) on any early return.
        let scored = (move || -> Result<(u64, usize), SearchError> {
            struct StopOnExit<'a>(&'a std::sync::atomic::AtomicBool);
            impl Drop for StopOnExit<'_> {
                fn drop(&mut self) {
                    self.0.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            let _stop_on_exit = StopOnExit(stop);
            let mut decoder: Option<PacketDecoder> = None;
            let mut bytes = 0u64;
            let got = std::cell::Cell::new(0usize);
            let mut failure: Option<crate::metrics::Error> = None;
            let mut push = |d: ff::frame::Video| {
                if failure.is_some() {
                    return;
                }
                if let Some(r) = frames.get(got.get()) {
                    if let Err(e) = scorer.push(r, &d) {
                        failure = Some(e);
                    }
                }
                got.set(got.get() + 1);
            };
            loop {
                // Ctrl-C is honoured inside a probe too: at 1080p one probe takes many seconds,
                // so the wait for the next packet wakes to check it.
                if events.cancelled() {
                    return Err(SearchError::Cancelled {
                        path: source.path.to_path_buf(),
                    });
                }
                let msg = match rx.recv_timeout(std::time::Duration::from_millis(100)) {
                    Ok(msg) => msg,
                    Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                };
                match msg {
                    EncoderMsg::Opened(parameters, time_base) => {
                        decoder = Some(PacketDecoder::new(parameters, time_base, 0)?);
                    }
                    EncoderMsg::Packet(p) => {
                        bytes += p.size() as u64;
                        if let Some(d) = decoder.as_mut() {
                            d.decode(&p, &mut push)?;
                        }
                    }
                }
                meter.report(events, meter.done + got.get() as u64);
            }
            if let Some(d) = decoder.as_mut() {
                d.finish(&mut push)?;
            }
            meter.done += got.get() as u64;
            if let Some(e) = failure {
                return Err(e.into());
            }
            Ok((bytes, got.get()))
        })();
        let encoded = encoder.join().map_err(|_| SearchError::Source {
            path: source.path.to_path_buf(),
            reason: "the probe's encoder thread panicked".into(),
        })?;
        // An encoder failure explains a short decode better than the decode side's own error,
        // but a cancellation is reported as such.
        match (scored, encoded) {
            (Err(e @ SearchError::Cancelled { .. }), _) => Err(e),
            (_, Err(e)) => Err(e),
            (Err(e), Ok(_)) => Err(e),
            (Ok((bytes, got)), Ok(seconds)) => Ok((bytes, seconds, got)),
        }
    })
}
