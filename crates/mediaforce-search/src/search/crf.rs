//! The sample search: decode samples once, probe knob values until the target is bracketed.

use crate::codecs;
use crate::core::decode::{DecodeOptions, FrameConverter, ScaleAlgorithm, VideoDecoder};
use crate::core::ffmpeg_next as ff;
use std::path::Path;
use std::time::Instant;

use super::config::{default_sample_count, SearchConfig};
use super::knob::{next_knob, Axis, Point};
use super::probe::{run_probe, Sample, Source};
use super::report::*;
use super::samples::*;
use crate::events::{Event, EventSink};

/// Search `input` for the cheapest knob value meeting the target.
///
/// ```no_run
/// use mediaforce_search::search::{crf_search, SearchConfig};
/// use mediaforce_search::events::Quiet;
/// let report = crf_search("movie.mkv".as_ref(), &SearchConfig::new("libsvtav1", 95.0), &mut Quiet)?;
/// if let Some(p) = report.chosen() {
///     println!("crf {} -> VMAF {:.2}, ~{:.0}% of source", p.knob, p.score, p.predicted_percent);
/// }
/// # Ok::<(), mediaforce_search::search::SearchError>(())
/// ```
pub fn crf_search(
    input: &Path,
    cfg: &SearchConfig,
    events: &mut dyn EventSink,
) -> Result<SearchReport, SearchError> {
    let started = Instant::now();
    let setup = Setup::open(input, cfg)?;
    let v = &setup.video;
    let (windows, placement, budget_frames) = place_windows(input, &setup, cfg);
    // Each window as decoded: start and frame limit (a full pass is held to the budget).
    let plan: Vec<(f64, u64)> = windows
        .iter()
        .map(|&(start, len)| {
            let max_frames = len.map_or(budget_frames, |l| (l * setup.fps).round().max(1.0) as u64);
            (start, max_frames)
        })
        .collect();
    let axis = Axis::new(setup.adapter.knob(), cfg);
    let key_base = cache_key_base(input, &setup, cfg, &plan)?;
    let mut samples = Samples {
        input,
        stream: setup.stream,
        plan,
        crop: setup.cropped_to,
        decoded: None,
    };

    // Samples are decoded once, and only when something is not in the cache.
    let (spans, concealed) = samples.spans(cfg.cache.as_deref(), &format!("{key_base}|spans"))?;
    if concealed.errors > 0 {
        events.emit(Event::SourceDamaged {
            errors: concealed.errors,
            seconds: concealed.seconds.clone(),
        });
    }
    events.emit(Event::SamplesPlaced {
        samples: spans.clone(),
    });
    // "features2": packed-RGB sources were measured as flat before, and their cached
    // features are measured again.
    let features = samples.features(
        cfg.cache.as_deref(),
        &format!("{key_base}|features2"),
        &setup,
    )?;

    let mut steering = Steering::new(cfg, axis, &features);
    let start = steering.first(
        cfg.start_knob
            .unwrap_or_else(|| setup.adapter.default_knob(v.height)),
    );
    let probes = probe_knobs(
        &setup,
        cfg,
        &key_base,
        &mut samples,
        &mut steering,
        start,
        events,
    )?;

    let k = setup.adapter.knob();
    let outcome = decide(&probes, cfg, k.name, axis);
    Ok(SearchReport {
        input: input.to_path_buf(),
        encoder: setup.adapter.id().into(),
        preset: setup.preset,
        knob_name: k.name.into(),
        target: cfg.target,
        stat: cfg.stat,
        pixel_format: setup
            .source_pixel
            .descriptor()
            .map(|d| d.name().to_string())
            .unwrap_or_default(),
        samples: spans,
        placement,
        probes,
        cropped_to: setup.cropped_to,
        scaled_to: setup.scaled_to,
        source_decode_errors: concealed.errors,
        source_decode_error_seconds: concealed.seconds,
        outcome,
        seconds: started.elapsed().as_secs_f64(),
        features: Some(features),
    })
}

/// What a search knows about its source and encoder before it decodes anything.
struct Setup<'a> {
    adapter: Box<dyn codecs::CodecAdapter>,
    preset: String,
    /// The video stream searched.
    stream: usize,
    video: crate::core::probe::VideoInfo,
    /// The source's own pixel format.
    source_format: ff::format::Pixel,
    /// The pixel format the samples are encoded in.
    source_pixel: ff::format::Pixel,
    fps: f64,
    duration: f64,
    /// The video stream's bit rate (or the file's), in bits a second.
    stream_bits: Option<f64>,
    cropped_to: Option<(u32, u32)>,
    scaled_to: Option<(u32, u32)>,
    source: Source<'a>,
}

impl<'a> Setup<'a> {
    /// Check the encoder and preset, and read the source's headers.
    fn open(input: &'a Path, cfg: &SearchConfig) -> Result<Self, SearchError> {
        let adapter = codecs::find(&cfg.encoder)?;
        adapter
            .availability()
            .map_err(|reason| SearchError::Unavailable {
                encoder: cfg.encoder.clone(),
                reason,
            })?;
        let preset = cfg
            .preset
            .clone()
            .unwrap_or_else(|| adapter.default_preset().to_string());
        // Validate preset and range up front, with the adapter's own error.
        adapter.options(&preset, adapter.default_knob(1080))?;

        let info = crate::core::probe::probe_headers(input)?;
        let stream = info.primary_video().ok_or_else(|| SearchError::Source {
            path: input.to_path_buf(),
            reason: "no video stream".into(),
        })?;
        let v = stream.video.clone().expect("video stream has video info");
        let source_format: ff::format::Pixel = v
            .pixel_format
            .as_deref()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| SearchError::Source {
                path: input.to_path_buf(),
                reason: "unknown pixel format".into(),
            })?;
        let fps = v.fps.unwrap_or(24.0);
        let duration = info
            .duration_seconds
            .or(stream.duration_seconds)
            .unwrap_or(0.0);
        let pixel = adapter.pick_pixel_format(source_format);
        let (width, height) =
            crate::core::encode::encodable_size(adapter.libav_name(), pixel, v.width, v.height);
        let cropped_to = ((width, height) != (v.width, v.height)).then_some((width, height));
        let scaled_to = cfg
            .resolution
            .and_then(|h| scaled_size(adapter.libav_name(), pixel, width, height, h));
        let (encode_width, encode_height) = scaled_to.unwrap_or((width, height));
        let stream_bits = stream
            .bit_rate
            .or(info.bit_rate)
            .map(|b| b as f64)
            .or_else(|| (duration > 0.0).then(|| info.size_bytes as f64 * 8.0 / duration));
        let source = Source {
            path: input,
            pixel,
            width,
            height,
            encode_width,
            encode_height,
            depth: v.bit_depth.unwrap_or(8),
            fps: ff::Rational::new((fps * 1000.0).round() as i32, 1000),
            total_frames: (duration * fps).max(1.0),
            size_bytes: info.size_bytes,
        };
        Ok(Self {
            adapter,
            preset,
            stream: stream.index,
            video: v,
            source_format,
            source_pixel: pixel,
            fps,
            duration,
            stream_bits,
            cropped_to,
            scaled_to,
            source,
        })
    }
}

/// Bytes one decoded reference frame holds: luma plus two chroma planes at the source's
/// subsampling, one or two bytes a sample.
fn reference_frame_bytes(format: ff::format::Pixel, width: u32, height: u32) -> u64 {
    let sample_bytes =
        crate::core::probe::bit_depth(format).map_or(2.0, |d| if d > 8 { 2.0 } else { 1.0 });
    let planes = match crate::core::probe::chroma_subsampling(format).as_deref() {
        Some("4:2:0") => 1.5,
        Some("4:2:2") => 2.0,
        _ => 3.0,
    };
    (sample_bytes * planes * f64::from(width) * f64::from(height)) as u64
}

/// Fit `count` windows of `seconds` at `fps` into `budget_frames` reference frames: fewer
/// windows first (they keep their length, so each still holds a few GOPs), and shorter ones
/// only when even the fewest do not fit. At 4K a frame is tens of MB: at least six windows
/// (or as many as asked, if fewer) are kept and shortened, so the spread between samples
/// still says something. Returns (windows, seconds each).
pub(super) fn fit_windows(
    count: usize,
    seconds: f64,
    fps: f64,
    budget_frames: u64,
) -> (usize, f64) {
    let window_frames = (seconds * fps).max(1.0);
    if (count as f64 * window_frames) as u64 <= budget_frames {
        return (count, seconds);
    }
    let floor = count.min(6);
    let count = ((budget_frames as f64 / window_frames) as usize).max(floor);
    if (count as f64 * window_frames) as u64 > budget_frames {
        (count, budget_frames as f64 / fps / count as f64)
    } else {
        (count, seconds)
    }
}

/// Where the samples go: the windows (start, length; `None` for a full pass), how they were
/// placed, and how many reference frames the memory budget holds.
fn place_windows(
    input: &Path,
    setup: &Setup<'_>,
    cfg: &SearchConfig,
) -> (Vec<(f64, Option<f64>)>, Placement, u64) {
    let v = &setup.video;
    let count = cfg
        .samples
        .unwrap_or_else(|| default_sample_count(setup.duration));
    let frame_bytes = reference_frame_bytes(setup.source_format, v.width, v.height);
    let budget_frames = (cfg.memory_budget / frame_bytes.max(1)).max(1);
    let (count, seconds) = fit_windows(count, cfg.sample_seconds, setup.fps, budget_frames);
    // The index is an optimisation: a container without one gets the even placement.
    let index = crate::core::probe::keyframe_index(input, setup.stream).unwrap_or_default();
    let (windows, placement) = place_samples_indexed(setup.duration, count, seconds, &index);
    (windows, placement, budget_frames)
}

/// The part of every cache key a search shares: keyed by the planned windows, not the decoded
/// frames, so that a rerun answered from the cache decodes nothing; the decoder's version is
/// in it, as the samples' frames come from it.
fn cache_key_base(
    input: &Path,
    setup: &Setup<'_>,
    cfg: &SearchConfig,
    plan: &[(f64, u64)],
) -> Result<String, SearchError> {
    let v = &setup.video;
    Ok(format!(
        "v3|{}|{}|{}|{:?}|{:?}|{}|{}|{}|{:?}",
        crate::core::version::ffmpeg()
            .libraries
            .iter()
            .find(|(name, _)| name == "libavcodec")
            .map_or_else(String::new, |(_, v)| v.clone()),
        crate::cache::source_fingerprint(input).map_err(|e| SearchError::Source {
            path: input.to_path_buf(),
            reason: e.to_string(),
        })?,
        plan.iter()
            .map(|(start, frames)| format!("{start:.3}+{frames}"))
            .collect::<Vec<_>>()
            .join(","),
        cfg.scale,
        setup.source_pixel,
        crate::metrics::score::model_for(v.width, v.height),
        crate::metrics::vmaf::version(),
        setup.source.size_bytes,
        setup.cropped_to,
    ))
}

/// The samples' reference frames, decoded on first need (a search answered from the cache
/// decodes nothing).
struct Samples<'a> {
    input: &'a Path,
    stream: usize,
    plan: Vec<(f64, u64)>,
    crop: Option<(u32, u32)>,
    decoded: Option<Vec<Sample>>,
}

impl Samples<'_> {
    /// Decode every planned window.
    fn decode(&self) -> Result<(Vec<Sample>, Concealed), SearchError> {
        let mut samples = Vec::new();
        let mut concealed = Concealed::default();
        for &(start, max_frames) in &self.plan {
            let mut decoder = VideoDecoder::open(
                self.input,
                DecodeOptions {
                    stream: Some(self.stream),
                    start_seconds: (start > 0.0).then_some(start),
                    max_frames: Some(max_frames),
                    crop: self.crop,
                    ..DecodeOptions::default()
                },
            )?;
            let mut frames: Vec<ff::frame::Video> = Vec::new();
            while let Some(f) = decoder.next_frame()? {
                frames.push(f.frame);
            }
            concealed.errors += decoder.decode_errors();
            let room = crate::core::decode::MAX_ERROR_TIMES.saturating_sub(concealed.seconds.len());
            concealed
                .seconds
                .extend(decoder.decode_error_seconds().iter().take(room));
            if frames.is_empty() {
                continue;
            }
            samples.push(Sample {
                span: SampleSpan {
                    start_seconds: start,
                    frames: frames.len() as u64,
                },
                frames,
            });
        }
        if samples.is_empty() {
            return Err(SearchError::Source {
                path: self.input.to_path_buf(),
                reason: "no frames could be decoded for samples".into(),
            });
        }
        Ok((samples, concealed))
    }

    /// The decoded samples, decoding them now if no one has.
    fn frames(&mut self) -> Result<&[Sample], SearchError> {
        if self.decoded.is_none() {
            self.decoded = Some(self.decode()?.0);
        }
        Ok(self.decoded.as_deref().expect("decoded above"))
    }

    /// Where the samples lie and what damage decoding them concealed: from the cache, or
    /// decoded now (and kept for the probes).
    fn spans(
        &mut self,
        cache: Option<&crate::cache::ProbeCache>,
        key: &str,
    ) -> Result<(Vec<SampleSpan>, Concealed), SearchError> {
        if let Some(c) = cache
            .map(|c| c.get_json::<CachedSpans>(key))
            .transpose()?
            .flatten()
        {
            return Ok((c.spans, c.concealed));
        }
        let (decoded, concealed) = self.decode()?;
        let spans: Vec<SampleSpan> = decoded.iter().map(|s| s.span).collect();
        if let Some(c) = cache {
            c.put_json(
                key,
                &CachedSpans {
                    spans: spans.clone(),
                    concealed: concealed.clone(),
                },
            )?;
        }
        self.decoded = Some(decoded);
        Ok((spans, concealed))
    }

    /// The source's features: from the cache, or measured on the samples now.
    fn features(
        &mut self,
        cache: Option<&crate::cache::ProbeCache>,
        key: &str,
        setup: &Setup<'_>,
    ) -> Result<crate::features::SourceFeatures, SearchError> {
        if let Some(f) = cache.map(|c| c.get_json(key)).transpose()?.flatten() {
            return Ok(f);
        }
        let f = measure_features(self.frames()?, setup);
        if let Some(c) = cache {
            c.put_json(key, &f)?;
        }
        Ok(f)
    }
}

/// Spatial and temporal information measured on the samples' luma, with the header figures.
fn measure_features(samples: &[Sample], setup: &Setup<'_>) -> crate::features::SourceFeatures {
    let v = &setup.video;
    let depth = u32::from(v.bit_depth.unwrap_or(8));
    let planar = samples
        .first()
        .and_then(|s| s.frames.first())
        .is_some_and(|f| f.planes() >= 2);
    // Packed pictures (RGB, palettes: old animation and screen captures) are measured on
    // their luma, converted to 8-bit 4:2:0 (limited range, like the planar sources').
    let converted: Vec<Vec<ff::frame::Video>> = if planar {
        Vec::new()
    } else {
        let mut to_yuv = FrameConverter::new(
            v.width,
            v.height,
            ff::format::Pixel::YUV420P,
            ScaleAlgorithm::Bicubic,
        );
        samples
            .iter()
            .map(|s| {
                s.frames
                    .iter()
                    .filter_map(|f| to_yuv.convert(f).ok())
                    .collect()
            })
            .collect()
    };
    fn luma(f: &ff::frame::Video, depth: u32) -> crate::features::Luma<'_> {
        crate::features::Luma {
            data: f.data(0),
            stride: f.stride(0),
            width: f.width() as usize,
            height: f.height() as usize,
            depth,
        }
    }
    let runs: Vec<Vec<crate::features::Luma<'_>>> = if planar {
        samples
            .iter()
            .map(|s| s.frames.iter().map(|f| luma(f, depth)).collect())
            .collect()
    } else {
        converted
            .iter()
            .map(|run| run.iter().map(|f| luma(f, 8)).collect())
            .collect()
    };
    let (si, si_mean, ti, ti_mean, frames) = crate::features::si_ti(&runs, FEATURE_FRAMES);
    crate::features::SourceFeatures {
        si,
        si_mean,
        ti,
        ti_mean,
        frames,
        bits_per_pixel: setup.stream_bits.map_or(0.0, |b| {
            b / (f64::from(v.width) * f64::from(v.height) * setup.fps.max(1.0))
        }),
        width: v.width,
        height: v.height,
        fps: setup.fps,
        duration_seconds: setup.duration,
        bit_depth: depth,
        hdr: v.hdr.is_some(),
    }
}

/// Which knob values to probe: a fixed grid in order, or the search's own steps, steered by a
/// knob model when there is one.
pub(super) enum Steering {
    /// Exactly these values, in order (`mediaforce grid`).
    Grid(std::collections::VecDeque<f64>),
    /// Bracket the target along the axis.
    Search {
        /// The knob's axis.
        axis: Axis,
        /// With a knob model: the axis with the slope measured on the sources nearest this
        /// one, the predicted knob and its uncertainty.
        learned: Option<(Axis, f64, f64)>,
    },
}

impl Steering {
    fn new(cfg: &SearchConfig, axis: Axis, features: &crate::features::SourceFeatures) -> Self {
        if !cfg.knobs.is_empty() {
            return Self::Grid(cfg.knobs.iter().map(|&k| axis.snap(k)).collect());
        }
        // With a knob model, a first probe that misses is corrected by the slope measured on
        // the sources nearest this one, and the next probe stays within twice the model's
        // uncertainty of its prediction (where the truth lies for nearly every source it knows).
        let learned = cfg.model.as_ref().map(|m| {
            let (knob, sd) = m.predict(features);
            let mut steer = axis;
            let slope = m.slope(features);
            if slope.is_finite() && slope > 0.01 {
                steer.knob.vmaf_per_unit = slope;
            }
            (steer, knob, sd)
        });
        Self::Search { axis, learned }
    }

    /// The first knob value: the grid's first, the model's prediction, else `fallback`.
    pub(super) fn first(&mut self, fallback: f64) -> Option<f64> {
        match self {
            Self::Grid(fixed) => fixed.pop_front(),
            Self::Search { axis, learned } => {
                Some(axis.snap(learned.map_or(fallback, |(_, knob, _)| knob)))
            }
        }
    }

    /// The knob value after `probes`, or `None` when done.
    pub(super) fn after(&mut self, target: f64, tolerance: f64, probes: &[Point]) -> Option<f64> {
        match self {
            Self::Grid(fixed) => fixed.pop_front(),
            Self::Search {
                learned: Some((steer, predicted, sd)),
                ..
            } if probes.len() == 1 => next_knob(steer, target, tolerance, probes).map(|k| {
                let reach = (2.0 * *sd).max(steer.knob.step);
                steer.snap(k.clamp(*predicted - reach, *predicted + reach))
            }),
            Self::Search { axis, .. } => next_knob(axis, target, tolerance, probes),
        }
    }

    fn is_grid(&self) -> bool {
        matches!(self, Self::Grid(_))
    }
}

/// Probe knob values from `start` as `steering` says, each from the cache or measured on the
/// samples, until the steering is done, a value repeats, or the probe limit is reached.
fn probe_knobs(
    setup: &Setup<'_>,
    cfg: &SearchConfig,
    key_base: &str,
    samples: &mut Samples<'_>,
    steering: &mut Steering,
    start: Option<f64>,
    events: &mut dyn EventSink,
) -> Result<Vec<Probe>, SearchError> {
    let mut probes: Vec<Probe> = Vec::new();
    let mut next = start;
    while let Some(knob) = next.take() {
        let seen = probes.iter().any(|p| p.knob == knob);
        if steering.is_grid() {
            if seen {
                next = steering.after(cfg.target, cfg.tolerance, &[]);
                continue;
            }
        } else if probes.len() >= cfg.max_probes || seen {
            break;
        }
        if events.cancelled() {
            return Err(SearchError::Cancelled {
                path: samples.input.to_path_buf(),
            });
        }
        events.emit(Event::ProbeStarted { knob });
        let p = probe_at(setup, cfg, key_base, samples, knob, events)?;
        events.emit(Event::probe_scored(&p));
        // Cheap refusal: the target needs more bytes than this probe, which is already over
        // the size guard beyond the samples' doubt; no further probe can change the verdict.
        let hopeless = !steering.is_grid() && beyond_guard(&p, cfg);
        probes.push(p);
        if hopeless {
            break;
        }
        let points: Vec<Point> = probes.iter().map(Point::of).collect();
        next = steering.after(cfg.target, cfg.tolerance, &points);
    }
    Ok(probes)
}

/// One probe at `knob`: from the cache when it holds it, else measured (and cached).
fn probe_at(
    setup: &Setup<'_>,
    cfg: &SearchConfig,
    key_base: &str,
    samples: &mut Samples<'_>,
    knob: f64,
    events: &mut dyn EventSink,
) -> Result<Probe, SearchError> {
    let mut key = format!(
        "{key_base}|{}",
        setup.adapter.fingerprint(&setup.preset, knob)?
    );
    if let Some((w, h)) = setup.scaled_to {
        key.push_str(&format!("|to{w}x{h}"));
    }
    if !cfg.metrics.is_empty() {
        key.push_str(&format!("|m:{}", cfg.metrics.join(",")));
    }
    let cache = cfg.cache.as_deref();
    if let Some(mut p) = cache
        .map(|c| c.get_json::<Probe>(&key))
        .transpose()?
        .flatten()
    {
        p.cached = true;
        p.score = cfg.score_of(&p.vmaf);
        return Ok(p);
    }
    let p = run_probe(
        setup.adapter.as_ref(),
        &setup.preset,
        knob,
        samples.frames()?,
        &setup.source,
        cfg,
        events,
    )?;
    if let Some(c) = cache {
        c.put_json(&key, &p)?;
    }
    Ok(p)
}

/// How the search ended, from its probes: the cheapest passing probe within the size guard;
/// one over the guard by less than the samples disagree is left to a full encode; else the
/// closest attempt with the reason.
/// Whether a probe shows the target cannot be met within the size guard: it missed the
/// target, so meeting it takes more quality and so more bytes, and its own predicted size is
/// already above the guard by more than two standard errors of the samples' disagreement.
pub(super) fn beyond_guard(p: &Probe, cfg: &SearchConfig) -> bool {
    let doubt = 2.0 * p.uncertainty.map_or(0.0, |u| u.percent);
    p.score < cfg.target
        && cfg.max_encoded_percent.is_finite()
        && p.predicted_percent - doubt > cfg.max_encoded_percent
}

pub(super) fn decide(probes: &[Probe], cfg: &SearchConfig, knob_name: &str, axis: Axis) -> Outcome {
    let passing = probes
        .iter()
        .filter(|p| p.score >= cfg.target)
        .min_by(|a, b| axis.to_u(a.knob).total_cmp(&axis.to_u(b.knob)))
        .cloned();
    match passing {
        Some(p) if p.predicted_percent <= cfg.max_encoded_percent => Outcome::Found { chosen: p },
        Some(p) if p.size_uncertain(cfg.max_encoded_percent) => Outcome::Uncertain {
            reason: format!(
                "VMAF {:.2} needs {} {}, predicted at {:.1}% of the source (above the {:.0}% limit), but the samples disagree (standard error {:.1} points of size, {:.2} of VMAF; sample means {:.1}..{:.1}): a full encode decides",
                p.score,
                knob_name,
                p.knob,
                p.predicted_percent,
                cfg.max_encoded_percent,
                p.uncertainty.map_or(0.0, |u| u.percent),
                p.uncertainty.map_or(0.0, |u| u.vmaf),
                p.sample_means.iter().copied().fold(f64::INFINITY, f64::min),
                p.sample_means.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            ),
            chosen: p,
        },
        Some(p) => Outcome::NotFound {
            reason: format!(
                "VMAF {:.2} needs {} {}, predicted at {:.1}% of the source, above the {:.0}% limit",
                p.score, knob_name, p.knob, p.predicted_percent, cfg.max_encoded_percent
            ),
            best: Some(p),
        },
        None if probes.iter().any(|p| beyond_guard(p, cfg)) => {
            let p = probes
                .iter()
                .filter(|p| beyond_guard(p, cfg))
                .max_by(|a, b| a.score.total_cmp(&b.score))
                .cloned()
                .expect("one is");
            Outcome::NotFound {
                reason: format!(
                    "VMAF {:.2} at {} {} already needs {:.1}% of the source, above the {:.0}% limit beyond the samples' doubt; VMAF {} needs more: no full encode ({} probes)",
                    p.score,
                    knob_name,
                    p.knob,
                    p.predicted_percent,
                    cfg.max_encoded_percent,
                    cfg.target,
                    probes.len()
                ),
                best: Some(p),
            }
        }
        None => Outcome::NotFound {
            reason: format!(
                "no {} in {}..={} reached VMAF {}",
                knob_name, axis.lo, axis.hi, cfg.target
            ),
            best: probes
                .iter()
                .max_by(|a, b| a.score.total_cmp(&b.score))
                .cloned(),
        },
    }
}
