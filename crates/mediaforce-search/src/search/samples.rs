//! Where samples lie in the source, how many fit the memory budget, and the encoder's
//! picture size when the search scales down.

use crate::core::ffmpeg_next as ff;
use serde::Serialize;

/// Where a sample lies in the source.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct SampleSpan {
    /// Start in seconds.
    pub start_seconds: f64,
    /// Frames in the sample.
    pub frames: u64,
}

/// How the samples of a search were placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Placement {
    /// One sample covering the whole source (the windows would have covered 85% of it).
    FullPass,
    /// Windows at typical byte rate starting on keyframes, from the container's index.
    KeyframeIndex,
    /// Windows spread evenly (no usable index).
    Even,
}

/// Place samples: `count` windows of `len` seconds spread evenly, or one full pass when the
/// windows would cover 85% of the source anyway.
pub fn place_samples(duration: f64, count: usize, len: f64) -> Vec<(f64, Option<f64>)> {
    let count = count.max(1);
    if duration <= 0.0 || count as f64 * len >= 0.85 * duration {
        return vec![(0.0, None)];
    }
    (0..count)
        .map(|i| {
            let centre = (i as f64 + 0.5) / count as f64 * duration;
            let start = (centre - len / 2.0).clamp(0.0, (duration - len).max(0.0));
            (start, Some(len))
        })
        .collect()
}

/// Place samples where the content is typical, using the container's keyframe index (see
/// [`crate::core::probe::keyframe_index`]) instead of reading the media.
///
/// The source encoder spent bits where the picture was hard, so the bytes between keyframes
/// measure difficulty for free. The source is split into `count` equal regions as in
/// [`place_samples`]; in each, the window of `len` seconds that starts on a keyframe (a scene
/// cut, when the source encoder placed keyframes at cuts) and whose byte rate is nearest the
/// median window of the whole source is chosen. That keeps samples off credits, black and
/// static stretches, and off the odd burst, and the decode starts on a keyframe instead of
/// decoding up to a GOP of frames it throws away. Windows never overlap. Without a usable index
/// (fewer than three keyframes, or no keyframe in a region), the even placement is used.
pub fn place_samples_indexed(
    duration: f64,
    count: usize,
    len: f64,
    index: &[crate::core::probe::SeekPoint],
) -> (Vec<(f64, Option<f64>)>, Placement) {
    let even = place_samples(duration, count, len);
    if even.len() == 1 && even[0].1.is_none() {
        return (even, Placement::FullPass);
    }
    let last = index.last().map_or(0.0, |p| p.seconds);
    // A partial index (a stream without one gets a few entries from the probe's first
    // seconds) would make the opening minutes look typical: only a complete one is used.
    if index.len() < 3 || last < 0.75 * duration {
        return (even, Placement::Even);
    }
    // Bytes from the start to `t`, interpolated between keyframes; unknown past the last one.
    let bytes_at = |t: f64| -> Option<f64> {
        let i = index.partition_point(|p| p.seconds <= t);
        if i == 0 || i == index.len() {
            return (i == index.len() && (t - last).abs() < 1e-9)
                .then(|| index[index.len() - 1].byte_offset as f64);
        }
        let (a, b) = (index[i - 1], index[i]);
        let f = (t - a.seconds) / (b.seconds - a.seconds).max(1e-9);
        Some(a.byte_offset as f64 + f * (b.byte_offset as f64 - a.byte_offset as f64))
    };
    let rate = |start: f64| -> Option<f64> {
        let end = start + len;
        if end > duration.min(last) + 1e-9 {
            return None;
        }
        Some((bytes_at(end)? - bytes_at(start)?) / len)
    };
    let windows: Vec<(f64, f64)> = index
        .iter()
        .filter_map(|p| rate(p.seconds).map(|r| (p.seconds, r)))
        .filter(|(_, r)| *r > 0.0)
        .collect();
    if windows.is_empty() {
        return (even, Placement::Even);
    }
    let region = duration / even.len() as f64;
    let mut placed = Vec::with_capacity(even.len());
    let mut free_from = 0.0f64;
    for (i, &(even_start, _)) in even.iter().enumerate() {
        let (lo, hi) = (i as f64 * region, (i + 1) as f64 * region);
        let here: Vec<&(f64, f64)> = windows
            .iter()
            .filter(|(s, _)| *s >= lo && *s < hi && *s >= free_from - 1e-9)
            .collect();
        // Typical of this region, not of the whole source: each region stands for its own
        // stretch of the film, so a hard stretch is sampled as hard.
        let mut rates: Vec<f64> = here.iter().map(|w| w.1).collect();
        rates.sort_by(f64::total_cmp);
        let typical = rates.get(rates.len() / 2).copied().unwrap_or(1.0);
        let best = here.into_iter().min_by(|a, b| {
            // Nearest the typical rate; among equals, nearest the even placement.
            let da = (a.1 / typical).ln().abs() + 1e-6 * (a.0 - even_start).abs() / region;
            let db = (b.1 / typical).ln().abs() + 1e-6 * (b.0 - even_start).abs() / region;
            da.total_cmp(&db)
        });
        let start = match best {
            Some(&(s, _)) => s,
            None if even_start >= free_from - 1e-9 => even_start,
            None => continue,
        };
        placed.push((start, Some(len)));
        free_from = start + len;
    }
    if placed.is_empty() {
        (even, Placement::Even)
    } else {
        (placed, Placement::KeyframeIndex)
    }
}

/// The encoder's picture size for `height` lines from a `width`x`source_height` source: the
/// width keeps the aspect ratio, both rounded to even and to what the encoder takes. `None` when
/// `height` is not below the source's (nothing to scale).
pub fn scaled_size(
    encoder: &str,
    pixel: ff::format::Pixel,
    width: u32,
    source_height: u32,
    height: u32,
) -> Option<(u32, u32)> {
    if height >= source_height || height < 16 {
        return None;
    }
    let even = |x: f64| ((x / 2.0).round() as u32 * 2).max(2);
    let w = even(f64::from(width) * f64::from(height) / f64::from(source_height));
    let h = even(f64::from(height));
    Some(crate::core::encode::encodable_size(encoder, pixel, w, h))
}

/// Frames whose spatial and temporal information a search measures (spread over its samples).
pub const FEATURE_FRAMES: usize = 48;
