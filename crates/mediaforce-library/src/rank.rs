//! Ranking: how much re-encoding a file is expected to save, how sure we are, and a bucket.
//!
//! The default model compares codecs by efficiency (bits needed for the same quality, H.264 = 1)
//! and the source's bit rate with what the target encoder typically needs at that resolution for
//! a transparent encode. Once this library has three or more validated encodes of the same
//! (source codec, encoder) pair, their measured size ratios replace the model for that pair and
//! the confidence rises. Every file gets a bucket; nothing is left out silently.

use crate::catalog::FileRecord;
use crate::core::probe::{HdrKind, MediaInfo, StreamKind};
use crate::policy::Policy;
use serde::Serialize;

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

/// Rank one catalogued file under `policy`. `learned` gives the measured output/source ratios
/// of this library for a (source codec, encoder) pair.
pub fn rank(
    file: &FileRecord,
    policy: &Policy,
    learned: &dyn Fn(&str, &str) -> Vec<f64>,
) -> Ranking {
    let skip = |bucket: Bucket, reason: String| Ranking {
        bucket,
        reason,
        expected_bytes: file.size,
        expected_saving_bytes: 0,
        expected_saving_percent: 0.0,
        confidence: "high",
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

    let estimate = estimate_output(file, &info, vstream, v, policy, learned);
    let saving = file.size.saturating_sub(estimate.bytes);
    let percent = 100.0 * saving as f64 / file.size.max(1) as f64;
    let (bucket, reason) = if percent < policy.encode.min_savings_percent {
        (
            Bucket::AlreadyEfficient,
            format!(
                "expected saving {percent:.0}% < {}% minimum ({})",
                policy.encode.min_savings_percent, estimate.why
            ),
        )
    } else if percent >= policy.ranking.strong_savings_percent {
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
        score: saving as f64,
    }
}

struct Estimate {
    bytes: u64,
    confidence: &'static str,
    why: String,
}

fn estimate_output(
    file: &FileRecord,
    info: &MediaInfo,
    vstream: &crate::core::probe::StreamInfo,
    v: &crate::core::probe::VideoInfo,
    policy: &Policy,
    learned: &dyn Fn(&str, &str) -> Vec<f64>,
) -> Estimate {
    let duration = info.duration_seconds.unwrap_or(0.0);
    let audio_bits: f64 = info
        .streams_of(StreamKind::Audio)
        .map(|a| a.bit_rate.unwrap_or(192_000) as f64)
        .sum();
    let audio_bytes = (audio_bits * duration / 8.0).min(file.size as f64 * 0.9);
    // Video bytes: the stream's own bit rate when the container says, else what audio leaves.
    let video_bytes = match vstream.bit_rate {
        Some(b) if duration > 0.0 => (b as f64 * duration / 8.0).min(file.size as f64),
        _ => file.size as f64 - audio_bytes,
    };
    let other_bytes = (file.size as f64 - video_bytes).max(0.0);
    let target = encoder_codec(&policy.encode.encoder);
    let src = vstream.codec.as_str();
    let ratio_model = (codec_efficiency(target) / codec_efficiency(src)).min(1.0);

    let ratios = learned(src, &policy.encode.encoder);
    let (video_out, confidence, why) = if ratios.len() >= 3 {
        let mut r = ratios.clone();
        r.sort_by(f64::total_cmp);
        let median = r[r.len() / 2];
        // Learned ratios are of whole files; apply them to the whole file.
        let whole = file.size as f64 * median;
        (
            (whole - other_bytes).max(0.0),
            "high",
            format!(
                "{src} -> {target}: learned ratio {median:.2} from {} encodes here",
                r.len()
            ),
        )
    } else {
        let fps = v.fps.unwrap_or(24.0).max(1.0);
        let pixels = f64::from(v.width) * f64::from(v.height);
        let video_bitrate = if duration > 0.0 {
            video_bytes * 8.0 / duration
        } else {
            0.0
        };
        let needed = transparent_bpp(v.height) * codec_efficiency(target) * pixels * fps;
        let by_codec = video_bitrate * ratio_model;
        // A bloated source shrinks to what the encoder needs, but we never assume more than a
        // 70% cut beyond the codec gain: the target is relative to the source, artefacts and all.
        let out_bitrate = needed.clamp(by_codec * 0.3, by_codec.max(1.0));
        let src_bpp = video_bitrate / (pixels * fps).max(1.0);
        let confidence = if duration > 0.0 && video_bitrate > 0.0 {
            "medium"
        } else {
            "low"
        };
        (
            out_bitrate * duration / 8.0,
            confidence,
            format!(
                "{src} {}p at {:.1} Mb/s ({src_bpp:.3} bit/pixel) -> {target}, codec ratio {ratio_model:.2}",
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
    Estimate {
        bytes: (video_out + audio_out + non_av).round().max(0.0) as u64,
        confidence,
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

    #[test]
    fn efficiency_orders_codecs() {
        assert!(codec_efficiency("mpeg2video") > codec_efficiency("h264"));
        assert!(codec_efficiency("h264") > codec_efficiency("hevc"));
        assert!(codec_efficiency("hevc") > codec_efficiency("av1"));
        assert_eq!(encoder_codec("libsvtav1"), "av1");
        assert_eq!(encoder_codec("libx265"), "hevc");
    }
}
