//! Ranking: how much re-encoding a file is expected to save, how sure we are, and a bucket.
//!
//! The default model compares codecs by efficiency (bits needed for the same quality, H.264 = 1)
//! and the source's bit rate with what the target encoder typically needs at that resolution for
//! a transparent encode. Once this library has three or more validated encodes of the same
//! (source codec, encoder) pair, their measured size ratios replace the model for that pair and
//! the confidence rises. Every file gets a bucket; nothing is left out silently.
//!
//! When the measured points (the shipped corpus of public clips and this store's own searches)
//! hold enough sources for the policy's encoder, preset and target, the size model
//! ([`SizeModel`]) estimates instead: the size a source of this bits per pixel and height
//! needed at the target, with a range from the model's leave-one-out spread. A file is
//! `strong` only when its saving holds at the pessimistic end of that range.

use crate::catalog::FileRecord;
use crate::core::probe::{HdrKind, MediaInfo, StreamKind};
use crate::model::SizeModel;
use crate::policy::Policy;
use serde::Serialize;
use std::sync::Arc;

/// Where a file lands in the plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Bucket {
    /// Large expected saving.
    #[serde(rename = "strong")]
    Strong,
    /// Some saving expected.
    #[serde(rename = "maybe")]
    Maybe,
    /// The expected saving is below the policy minimum.
    #[serde(rename = "skip: already efficient")]
    AlreadyEfficient,
    /// Smaller than the policy minimum size.
    #[serde(rename = "skip: too small")]
    TooSmall,
    /// The policy says to leave it (HDR or Dolby Vision handling).
    #[serde(rename = "skip: policy")]
    Policy,
    /// Cannot be re-encoded faithfully (Dolby Vision profile 5, no video stream).
    #[serde(rename = "skip: unsupported")]
    Unsupported,
    /// Written by mediaforce: never re-queued.
    #[serde(rename = "skip: produced by mediaforce")]
    Ours,
    /// Unreadable or corrupt.
    #[serde(rename = "skip: error")]
    Error,
    /// No longer on disk.
    #[serde(rename = "skip: gone")]
    Gone,
}

impl Bucket {
    /// Whether the plan includes it.
    pub fn is_candidate(self) -> bool {
        matches!(self, Bucket::Strong | Bucket::Maybe)
    }

    /// The label used in reports and JSON.
    pub fn label(self) -> &'static str {
        match self {
            Bucket::Strong => "strong",
            Bucket::Maybe => "maybe",
            Bucket::AlreadyEfficient => "skip: already efficient",
            Bucket::TooSmall => "skip: too small",
            Bucket::Policy => "skip: policy",
            Bucket::Unsupported => "skip: unsupported",
            Bucket::Ours => "skip: produced by mediaforce",
            Bucket::Error => "skip: error",
            Bucket::Gone => "skip: gone",
        }
    }
}

/// The ranking of one file.
#[derive(Debug, Clone, Serialize)]
pub struct Ranking {
    /// Bucket.
    pub bucket: Bucket,
    /// Why, in a few words.
    pub reason: String,
    /// Expected size of the re-encoded file.
    pub expected_bytes: u64,
    /// Expected saving in bytes.
    pub expected_saving_bytes: u64,
    /// Expected saving in percent of the source.
    pub expected_saving_percent: f64,
    /// `low` (model, bit rate unknown), `medium` (model) or `high` (learned from this library).
    pub confidence: &'static str,
    /// What estimated it: `size model`, `learned ratios` or `codec table` (none for a skip).
    pub estimator: &'static str,
    /// The saving at the pessimistic end of the estimate's range, percent of the source (the
    /// expected saving when the estimator has no range).
    pub pessimistic_saving_percent: f64,
    /// Priority: expected bytes saved (higher first).
    pub score: f64,
}

/// Bits needed for the same quality relative to H.264, by libav codec name.
pub fn codec_efficiency(codec: &str) -> f64 {
    match codec {
        "mpeg1video" | "mpeg2video" => 2.0,
        "mpeg4" | "msmpeg4v3" | "msmpeg4v2" | "h263" | "flv1" | "theora" => 1.6,
        "wmv1" | "wmv2" | "wmv3" | "vc1" | "vp6" | "vp6f" | "rv40" => 1.4,
        "h264" | "vp8" => 1.0,
        "vp9" => 0.72,
        "hevc" => 0.68,
        "av1" => 0.55,
        "mjpeg" | "prores" | "dnxhd" | "ffv1" | "huffyuv" | "rawvideo" | "utvideo" => 8.0,
        _ => 1.2,
    }
}

/// The codec an encoder produces (libav codec name).
pub fn encoder_codec(encoder: &str) -> &'static str {
    match crate::codecs::find(encoder)
        .map(|a| a.libav_name().to_string())
        .as_deref()
    {
        Ok(n) if n.contains("av1") || n == "librav1e" => "av1",
        Ok(n) if n.contains("265") || n.contains("hevc") => "hevc",
        Ok(n) if n.contains("vp9") => "vp9",
        Ok(n) if n.contains("264") => "h264",
        _ => "unknown",
    }
}

/// H.264 bits per pixel a transparent encode of typical content needs at a resolution; higher
/// resolutions need fewer bits per pixel.
fn transparent_bpp(height: u32) -> f64 {
    match height {
        0..=576 => 0.12,
        577..=720 => 0.09,
        721..=1080 => 0.07,
        _ => 0.05,
    }
}

/// What the library has measured that an estimate can use.
pub struct Evidence<'a> {
    /// The measured output/source ratios of this library's encodes for a (source codec,
    /// encoder) pair.
    pub learned: &'a dyn Fn(&str, &str) -> Vec<f64>,
    /// The size model for a policy's encoder, preset, statistic and target, when enough
    /// measured sources bracket it.
    pub sizes: &'a dyn Fn(&Policy) -> Option<Arc<SizeModel>>,
}

/// The codec table's expected video size, percent of the source's video: what the target
/// encoder typically needs for a transparent encode at this height, bounded by the codecs'
/// efficiency ratio (never more than a 70% cut beyond it: the target is relative to the
/// source, artefacts and all).
pub fn table_percent(src_codec: &str, src_bpp: f64, height: u32, encoder: &str) -> f64 {
    let target = encoder_codec(encoder);
    let ratio = (codec_efficiency(target) / codec_efficiency(src_codec)).min(1.0);
    let needed = transparent_bpp(height) * codec_efficiency(target);
    100.0 * (needed / src_bpp.max(1e-9)).clamp(ratio * 0.3, ratio)
}

/// Rank one catalogued file under `policy` from learned ratios and the codec table only (no
/// size model). `learned` gives the measured output/source ratios of this library for a
/// (source codec, encoder) pair.
pub fn rank(
    file: &FileRecord,
    policy: &Policy,
    learned: &dyn Fn(&str, &str) -> Vec<f64>,
) -> Ranking {
    rank_with(
        file,
        policy,
        &Evidence {
            learned,
            sizes: &|_| None,
        },
    )
}

impl std::fmt::Debug for Evidence<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Evidence")
    }
}

/// The size models of a store, fitted once per (encoder, preset, statistic, target) on its
/// measured points and the shipped corpus.
pub struct SizeModels<'c> {
    catalog: &'c crate::catalog::Catalog,
    points: std::cell::OnceCell<Vec<crate::point::TuningPoint>>,
    fitted: std::cell::RefCell<std::collections::HashMap<String, Option<Arc<SizeModel>>>>,
}

impl std::fmt::Debug for SizeModels<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SizeModels")
            .field("fitted", &self.fitted.borrow().len())
            .finish()
    }
}

impl<'c> SizeModels<'c> {
    /// The models of `catalog`'s points.
    pub fn new(catalog: &'c crate::catalog::Catalog) -> Self {
        Self {
            catalog,
            points: Default::default(),
            fitted: Default::default(),
        }
    }

    /// The model for `policy`'s encoder (by adapter id), preset (the adapter's default when it
    /// names none), statistic and target, when it estimates its own sources better than the
    /// codec table does (each source predicted by a model fitted on the others, against the
    /// table's estimate of the same source; see [`better_than_table`]).
    pub fn for_policy(&self, policy: &Policy) -> Option<Arc<SizeModel>> {
        self.fitted(policy).filter(|m| better_than_table(m))
    }

    /// The model fitted for `policy`, whether or not it beats the codec table (for
    /// explaining an estimate); fitted once.
    pub fn fitted(&self, policy: &Policy) -> Option<Arc<SizeModel>> {
        let adapter = crate::codecs::find(&policy.encode.encoder).ok()?;
        let preset = Some(policy.encode.preset.clone())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| adapter.default_preset().to_string());
        let (stat, target) = (policy.encode.target_stat, policy.encode.target_vmaf);
        let key = format!("{}|{preset}|{stat:?}|{target}", adapter.id());
        self.fitted
            .borrow_mut()
            .entry(key)
            .or_insert_with(|| {
                let points = self
                    .points
                    .get_or_init(|| self.catalog.all_points().unwrap_or_default());
                SizeModel::for_plan(points.clone(), adapter.id(), &preset, stat, target)
                    .map(Arc::new)
            })
            .clone()
    }
}

/// The codec table's accuracy on a size model's own sources: its expected saving for each
/// against the saving measured at the target.
pub fn table_accuracy(model: &SizeModel) -> Option<crate::model::SizeAccuracy> {
    let pairs: Vec<(f64, f64)> = model
        .observations
        .iter()
        .map(|o| {
            let t = table_percent(&o.codec, o.bits_per_pixel, o.height, &model.encoder);
            (100.0 - t, 100.0 - o.percent)
        })
        .collect();
    crate::model::accuracy(&pairs)
}

/// Whether a size model's leave-one-out error (percentage points of the source) is below the
/// codec table's on the same sources: a plan uses the model only then.
pub fn better_than_table(model: &SizeModel) -> bool {
    table_accuracy(model)
        .is_some_and(|t| model.leave_one_out.mean_abs_error_points < t.mean_abs_error_points)
}

/// Rank one catalogued file under `policy` with what the library has measured.
pub fn rank_with(file: &FileRecord, policy: &Policy, evidence: &Evidence<'_>) -> Ranking {
    let skip = |bucket: Bucket, reason: String| Ranking {
        bucket,
        reason,
        expected_bytes: file.size,
        expected_saving_bytes: 0,
        expected_saving_percent: 0.0,
        confidence: "high",
        estimator: "none",
        pessimistic_saving_percent: 0.0,
        score: 0.0,
    };
    if file.status == "gone" {
        return skip(Bucket::Gone, "no longer on disk".into());
    }
    if file.ours {
        return skip(Bucket::Ours, "already encoded by mediaforce".into());
    }
    if file.status == "error" {
        return skip(
            Bucket::Error,
            file.error.clone().unwrap_or_else(|| "unreadable".into()),
        );
    }
    let Some(info) = file.probe() else {
        return skip(Bucket::Error, "no probe record".into());
    };
    let Some(video) = info
        .primary_video()
        .and_then(|s| s.video.as_ref().map(|v| (s, v)))
    else {
        return skip(Bucket::Unsupported, "no video stream".into());
    };
    let (vstream, v) = video;
    if let Some(dv) = &v.dolby_vision {
        if dv.profile == 5 {
            return skip(
                Bucket::Unsupported,
                "Dolby Vision profile 5 (colours need the RPU, which an encode would lose)".into(),
            );
        }
        if policy.hdr.dolby_vision == crate::policy::HdrAction::Skip {
            return skip(
                Bucket::Policy,
                format!(
                    "Dolby Vision profile {} (policy hdr.dolby_vision = skip)",
                    dv.profile
                ),
            );
        }
    }
    match v.hdr {
        Some(HdrKind::Pq) if policy.hdr.hdr10 == crate::policy::HdrAction::Skip => {
            return skip(Bucket::Policy, "HDR10 (policy hdr.hdr10 = skip)".into())
        }
        Some(HdrKind::Hlg) if policy.hdr.hlg == crate::policy::HdrAction::Skip => {
            return skip(Bucket::Policy, "HLG (policy hdr.hlg = skip)".into())
        }
        _ => {}
    }
    let min_bytes = (policy.ranking.min_size_mb * 1e6) as u64;
    if file.size < min_bytes {
        return skip(
            Bucket::TooSmall,
            format!(
                "{:.1} MB < {} MB minimum",
                file.size as f64 / 1e6,
                policy.ranking.min_size_mb
            ),
        );
    }

    let estimate = estimate_output(file, &info, vstream, v, policy, evidence);
    let saving = file.size.saturating_sub(estimate.bytes);
    let percent = 100.0 * saving as f64 / file.size.max(1) as f64;
    let pessimistic =
        100.0 * file.size.saturating_sub(estimate.high_bytes) as f64 / file.size.max(1) as f64;
    let (bucket, reason) = if percent < policy.encode.min_savings_percent {
        (
            Bucket::AlreadyEfficient,
            format!(
                "expected saving {percent:.0}% < {}% minimum ({})",
                policy.encode.min_savings_percent, estimate.why
            ),
        )
    } else if pessimistic >= policy.ranking.strong_savings_percent {
        (Bucket::Strong, estimate.why)
    } else {
        (Bucket::Maybe, estimate.why)
    };
    Ranking {
        bucket,
        reason,
        expected_bytes: estimate.bytes,
        expected_saving_bytes: saving,
        expected_saving_percent: percent,
        confidence: estimate.confidence,
        estimator: estimate.estimator,
        pessimistic_saving_percent: pessimistic,
        score: saving as f64,
    }
}

/// A file's duration, audio bytes and video bytes (the video stream's own bit rate when the
/// container says, else what the audio leaves).
fn shares(
    file: &FileRecord,
    info: &MediaInfo,
    vstream: &crate::core::probe::StreamInfo,
) -> (f64, f64, f64) {
    let duration = info.duration_seconds.unwrap_or(0.0);
    let audio_bits: f64 = info
        .streams_of(StreamKind::Audio)
        .map(|a| a.bit_rate.unwrap_or(192_000) as f64)
        .sum();
    let audio_bytes = (audio_bits * duration / 8.0).min(file.size as f64 * 0.9);
    let video_bytes = match vstream.bit_rate {
        Some(b) if duration > 0.0 => (b as f64 * duration / 8.0).min(file.size as f64),
        _ => file.size as f64 - audio_bytes,
    };
    (duration, audio_bytes, video_bytes)
}

/// The video's bit rate (bit/s) and bits per pixel.
fn video_rate(v: &crate::core::probe::VideoInfo, duration: f64, video_bytes: f64) -> (f64, f64) {
    let fps = v.fps.unwrap_or(24.0).max(1.0);
    let pixels = f64::from(v.width) * f64::from(v.height);
    let rate = if duration > 0.0 {
        video_bytes * 8.0 / duration
    } else {
        0.0
    };
    (rate, rate / (pixels * fps).max(1.0))
}

/// What an estimate of `file` rests on: its video codec, height and bits per pixel (`None`
/// without a readable video stream).
pub fn estimate_inputs(file: &FileRecord) -> Option<(String, u32, f64)> {
    let info = file.probe()?;
    let vstream = info.primary_video()?;
    let v = vstream.video.as_ref()?;
    let (duration, _, video_bytes) = shares(file, &info, vstream);
    let (_, bpp) = video_rate(v, duration, video_bytes);
    Some((vstream.codec.clone(), v.height, bpp))
}

struct Estimate {
    bytes: u64,
    /// The pessimistic end of the estimate's range (`bytes` when it has none).
    high_bytes: u64,
    confidence: &'static str,
    estimator: &'static str,
    why: String,
}

fn estimate_output(
    file: &FileRecord,
    info: &MediaInfo,
    vstream: &crate::core::probe::StreamInfo,
    v: &crate::core::probe::VideoInfo,
    policy: &Policy,
    evidence: &Evidence<'_>,
) -> Estimate {
    let (duration, audio_bytes, video_bytes) = shares(file, info, vstream);
    let other_bytes = (file.size as f64 - video_bytes).max(0.0);
    let target = encoder_codec(&policy.encode.encoder);
    let src = vstream.codec.as_str();
    let ratio_model = (codec_efficiency(target) / codec_efficiency(src)).min(1.0);

    let (video_bitrate, src_bpp) = video_rate(v, duration, video_bytes);
    let model = (video_bitrate > 0.0)
        .then(|| (evidence.sizes)(policy))
        .flatten();
    let ratios = (evidence.learned)(src, &policy.encode.encoder);
    let mut video_high = None;
    let (video_out, confidence, estimator, why) = if let Some(m) = model {
        let e = m.predict(src_bpp, v.height);
        video_high = Some(video_bytes * e.high_percent / 100.0);
        (
            video_bytes * e.percent / 100.0,
            "medium",
            "size model",
            format!(
                "{src} {}p at {src_bpp:.3} bit/pixel -> {} preset {} at {:?} VMAF {}: {:.0}% of the video ({:.0}-{:.0}%), size model on {} sources ({} public clips)",
                v.height,
                m.encoder,
                m.preset,
                m.stat,
                m.target,
                e.percent,
                e.low_percent,
                e.high_percent,
                m.sources,
                m.shipped_sources
            ),
        )
    } else if ratios.len() >= 3 {
        let mut r = ratios.clone();
        r.sort_by(f64::total_cmp);
        let median = r[r.len() / 2];
        // Learned ratios are of whole files; apply them to the whole file.
        let whole = file.size as f64 * median;
        (
            (whole - other_bytes).max(0.0),
            "high",
            "learned ratios",
            format!(
                "{src} -> {target}: learned ratio {median:.2} from {} encodes here",
                r.len()
            ),
        )
    } else {
        let out_bitrate =
            video_bitrate * table_percent(src, src_bpp, v.height, &policy.encode.encoder) / 100.0;
        let confidence = if duration > 0.0 && video_bitrate > 0.0 {
            "medium"
        } else {
            "low"
        };
        (
            out_bitrate * duration / 8.0,
            confidence,
            "codec table",
            format!(
                "{src} {}p at {:.1} Mb/s ({src_bpp:.3} bit/pixel) -> {target}, codec ratio {ratio_model:.2} (codec table)",
                v.height,
                video_bitrate / 1e6
            ),
        )
    };
    let audio_out = if policy.audio.mode == crate::policy::AudioMode::Opus {
        let opus: f64 = info
            .streams_of(StreamKind::Audio)
            .map(|a| {
                let ch = a.audio.as_ref().map_or(2, |x| x.channels);
                f64::from(
                    policy
                        .opus_bitrates()
                        .get(&ch)
                        .copied()
                        .unwrap_or_else(|| crate::core::transcode::opus_bitrate(ch)),
                )
            })
            .sum();
        (opus * duration / 8.0).min(audio_bytes)
    } else {
        audio_bytes
    };
    let non_av = (other_bytes - audio_bytes).max(0.0);
    let total = |video: f64| (video + audio_out + non_av).round().max(0.0) as u64;
    Estimate {
        bytes: total(video_out),
        high_bytes: total(video_high.unwrap_or(video_out)),
        confidence,
        estimator,
        why,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::synth::{SyntheticClip, SyntheticVideo};

    fn record(dir: &std::path::Path) -> FileRecord {
        let p = dir.join("a.mkv");
        let v = SyntheticVideo::new(320, 180, 48)
            .encoder("libx264", &[("preset", "ultrafast"), ("qp", "0")]);
        SyntheticClip::new(v).write(&p).unwrap();
        let info = crate::core::probe::probe_headers(&p).unwrap();
        FileRecord {
            id: 1,
            path: p.clone(),
            root: dir.to_path_buf(),
            size: info.size_bytes,
            mtime_ns: 0,
            dev: 0,
            inode: 0,
            fingerprint: String::new(),
            status: "ok".into(),
            error: None,
            probe_json: Some(serde_json::to_string(&info).unwrap()),
            ours: false,
            scanned_at: 0,
        }
    }

    fn policy() -> Policy {
        crate::policy::PolicySet::load(None, std::path::Path::new("/nonexistent"), [])
            .unwrap()
            .global()
    }

    #[test]
    fn learned_ratios_replace_the_model_after_three_encodes() {
        let d = tempfile::tempdir().unwrap();
        let f = record(d.path());
        let mut p = policy();
        p.ranking.min_size_mb = 0.0;
        let model = rank(&f, &p, &|_, _| Vec::new());
        assert_eq!(model.confidence, "medium");
        assert!(model.bucket.is_candidate(), "{model:?}");
        let two = rank(&f, &p, &|_, _| vec![0.5, 0.5]);
        assert_eq!(two.confidence, "medium", "two encodes are not enough");
        let learned = rank(&f, &p, &|src, enc| {
            assert_eq!((src, enc), ("h264", "libsvtav1"));
            vec![0.40, 0.30, 0.35]
        });
        assert_eq!(learned.confidence, "high");
        assert!(
            learned.reason.contains("learned ratio 0.35"),
            "{}",
            learned.reason
        );
        let expected = (f.size as f64 * 0.35) as i64;
        assert!(
            (learned.expected_bytes as i64 - expected).abs() <= 2,
            "{learned:?}"
        );
        // Too small, ours, gone, DV-less policy skips are labelled, never dropped.
        p.ranking.min_size_mb = 1e6;
        assert_eq!(rank(&f, &p, &|_, _| Vec::new()).bucket, Bucket::TooSmall);
        let mut ours = f.clone();
        ours.ours = true;
        assert_eq!(rank(&ours, &p, &|_, _| Vec::new()).bucket, Bucket::Ours);
    }

    /// Points of SVT-AV1 preset 8 for sources whose size at VMAF 95 is `percent` of the
    /// source at every knob (so the size at the target is exactly that).
    fn points(sources: &[(f64, f64)]) -> Vec<crate::point::TuningPoint> {
        let base = crate::model::shipped_points()[0].clone();
        let mut out = Vec::new();
        for (i, &(bpp, percent)) in sources.iter().enumerate() {
            for k in 0..4 {
                let mut p = base.clone();
                p.origin = "search".into();
                p.source_fingerprint = format!("src{i}");
                p.source_codec = "h264".into();
                p.encoder = "libsvtav1".into();
                p.preset = "8".into();
                p.features.bits_per_pixel = bpp;
                p.features.height = 180;
                p.height = 180;
                p.knob = 20.0 + 10.0 * k as f64;
                p.percent = percent;
                p.vmaf_mean = 99.0 - 3.0 * k as f64;
                out.push(p);
            }
        }
        out
    }

    #[test]
    fn the_size_model_estimates_and_strong_needs_the_pessimistic_end() {
        let d = tempfile::tempdir().unwrap();
        let f = record(d.path());
        let mut p = policy();
        p.ranking.min_size_mb = 0.0;
        // Sizes that follow the bits per pixel exactly (140% at 1 bit/pixel, falling with its
        // square root): the test file, at about 5.7 bit/pixel, needs about 59% of its video.
        let law = |bpp: f64| 140.0 * bpp.powf(-0.5);
        let clean: Vec<(f64, f64)> = [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
            .iter()
            .map(|&b| (b, law(b)))
            .collect();
        let model = SizeModel::fit(
            &points(&clean),
            "libsvtav1",
            "8",
            crate::search::TargetStat::Mean,
            95.0,
        )
        .unwrap();
        assert!(better_than_table(&model), "{:?}", model.leave_one_out);
        let model = Arc::new(model);
        let by = |m: &Arc<SizeModel>| {
            let m = m.clone();
            rank_with(
                &f,
                &p,
                &Evidence {
                    learned: &|_, _| Vec::new(),
                    sizes: &move |_| Some(m.clone()),
                },
            )
        };
        let r = by(&model);
        assert_eq!(r.estimator, "size model");
        assert!(r.reason.contains("size model on 7 sources"), "{}", r.reason);
        // The file's own bits per pixel, through the law: its video shrinks to law(bpp).
        let info = f.probe().unwrap();
        let v = info.primary_video().unwrap().video.clone().unwrap();
        let bpp = info.bit_rate.unwrap() as f64
            / (f64::from(v.width) * f64::from(v.height) * v.fps.unwrap());
        assert!(
            (r.expected_saving_percent - (100.0 - law(bpp))).abs() < 3.0,
            "{r:?} (bpp {bpp})"
        );
        assert_eq!(r.bucket, Bucket::Strong, "{r:?}");
        // The same expectation with sources scattered around the law (each at half or twice
        // it): the range is wide, the pessimistic end misses the strong threshold.
        let noisy: Vec<(f64, f64)> = clean
            .iter()
            .enumerate()
            .map(|(i, &(b, s))| (b, if i % 2 == 0 { s * 2.0 } else { s / 2.0 }))
            .collect();
        let wide = SizeModel::fit(
            &points(&noisy),
            "libsvtav1",
            "8",
            crate::search::TargetStat::Mean,
            95.0,
        )
        .unwrap();
        assert!(
            wide.leave_one_out.rms_ln_error > 0.5,
            "{:?}",
            wide.leave_one_out
        );
        let r = by(&Arc::new(wide));
        assert!(
            r.expected_saving_percent >= p.ranking.strong_savings_percent,
            "{r:?}"
        );
        assert!(
            r.pessimistic_saving_percent < p.ranking.strong_savings_percent,
            "{r:?}"
        );
        assert_eq!(r.bucket, Bucket::Maybe, "{r:?}");
        // Without a model, the codec table, and the ranking says so.
        let t = rank(&f, &p, &|_, _| Vec::new());
        assert_eq!(t.estimator, "codec table");
        assert!(t.reason.contains("(codec table)"), "{}", t.reason);
    }

    #[test]
    fn efficiency_orders_codecs() {
        assert!(codec_efficiency("mpeg2video") > codec_efficiency("h264"));
        assert!(codec_efficiency("h264") > codec_efficiency("hevc"));
        assert!(codec_efficiency("hevc") > codec_efficiency("av1"));
        assert_eq!(encoder_codec("libsvtav1"), "av1");
        assert_eq!(encoder_codec("libx265"), "hevc");
    }
}
