//! Scene detection on the decoded picture, in-process.
//!
//! Every frame is decoded, scaled to a 64x36 grey thumbnail and compared with the four before
//! it (the mean absolute difference of their pixels, 0-255). A frame is a cut when it differs
//! from the one before by at least [`SceneOptions::threshold`] and by at least three times
//! what the frames before it moved (the median of the last eight differences), so fast motion
//! is not taken for a cut. A flash (a frame or up to [`SceneOptions::flash_frames`] frames
//! after which the picture comes back to what it was before) is not a cut. Cuts closer than
//! [`SceneOptions::min_frames`] to the previous one are dropped; scenes longer than
//! [`SceneOptions::max_seconds`] are split evenly (those splits are marked `forced`). The
//! decision ([`place_scenes`]) is a plain function of the per-frame differences.

use crate::decode::{DecodeOptions, VideoDecoder};
use crate::error::Result;
use crate::progress::{ProgressClock, ProgressSink};
use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};

/// Thumbnail size the frames are compared at.
const THUMB: (u32, u32) = (64, 36);

/// How many frames back each frame is compared with (the longest flash, plus one).
pub const LOOK_BACK: usize = 4;

/// How to detect scenes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneOptions {
    /// Shortest scene, in frames (24 by default): a cut closer to the previous one is dropped.
    pub min_frames: u64,
    /// Longest scene, in seconds: a longer one is split evenly (`None`: never).
    pub max_seconds: Option<f64>,
    /// Smallest difference from the frame before (mean absolute difference of grey
    /// thumbnails, 0-255) that is a cut (12 by default).
    pub threshold: f64,
    /// Longest flash, in frames (1 to 3; 3 by default).
    pub flash_frames: usize,
}

impl Default for SceneOptions {
    fn default() -> Self {
        Self {
            min_frames: 24,
            max_seconds: Some(10.0),
            threshold: 12.0,
            flash_frames: 3,
        }
    }
}

/// Why a scene starts where it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SceneStart {
    /// The first frame.
    Start,
    /// A cut in the picture.
    Cut,
    /// An even split of a scene longer than the maximum.
    Forced,
}

/// One scene: frames `start_frame..end_frame`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    /// First frame (decode order of presentation, from 0).
    pub start_frame: u64,
    /// One past the last frame.
    pub end_frame: u64,
    /// When the first frame shows, seconds from the first frame of the file.
    pub start_seconds: f64,
    /// When the scene ends: the next scene's start, or the last frame's time plus its duration.
    pub end_seconds: f64,
    /// Why it starts here.
    pub start: SceneStart,
    /// The difference that made the cut (0 for the start and forced splits).
    pub score: f64,
}

impl Scene {
    /// Frames in the scene.
    pub fn frames(&self) -> u64 {
        self.end_frame - self.start_frame
    }
}

/// The scenes of a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SceneReport {
    /// The file.
    pub path: PathBuf,
    /// Frames decoded.
    pub frames: u64,
    /// When the first frame shows, seconds from the stream's start as decoded (the scenes'
    /// times count from it).
    #[serde(default)]
    pub first_seconds: f64,
    /// The scenes, in order, covering every frame.
    pub scenes: Vec<Scene>,
    /// First frames of flashes seen and not cut at.
    pub flashes: Vec<u64>,
    /// The options used.
    pub options: SceneOptions,
}

/// One frame as the decision sees it: its time and its difference from each of the
/// [`LOOK_BACK`] frames before it (`NaN` where there is no such frame).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameDiff {
    /// Presentation time, seconds from the first frame.
    pub seconds: f64,
    /// `back[j]`: mean absolute difference from frame `i - 1 - j`.
    pub back: [f64; LOOK_BACK],
}

/// Decode `path`'s picture and find its scenes.
pub fn detect_scenes(
    path: &Path,
    options: &SceneOptions,
    progress: &mut dyn ProgressSink,
) -> Result<SceneReport> {
    let total = crate::probe::probe_headers(path).ok().and_then(|i| {
        let v = i.primary_video()?;
        v.frames.or_else(|| {
            let fps = v.video.as_ref()?.fps?;
            Some((i.duration_seconds? * fps).round() as u64)
        })
    });
    let mut d = VideoDecoder::open(
        path,
        DecodeOptions::default()
            .pixel_format(ff::format::Pixel::GRAY8)
            .size(THUMB.0, THUMB.1),
    )?;
    progress.start("scenes", total);
    let mut clock = ProgressClock::new(total);
    let mut recent: VecDeque<Vec<u8>> = VecDeque::with_capacity(LOOK_BACK);
    let mut diffs = Vec::new();
    let mut first: Option<f64> = None;
    let mut last_step = 0.0;
    while let Some(f) = d.next_frame()? {
        let thumb = grey_rows(&f.frame);
        let t0 = *first.get_or_insert(f.seconds);
        let mut back = [f64::NAN; LOOK_BACK];
        for (j, prev) in recent.iter().rev().enumerate() {
            back[j] = mean_abs_diff(&thumb, prev);
        }
        let seconds = f.seconds - t0;
        if let Some(prev) = diffs.last().map(|p: &FrameDiff| p.seconds) {
            last_step = seconds - prev;
        }
        diffs.push(FrameDiff { seconds, back });
        if recent.len() == LOOK_BACK {
            recent.pop_front();
        }
        recent.push_back(thumb);
        if let Some(p) = clock.tick(diffs.len() as u64) {
            progress.update(&p);
            if progress.cancelled() {
                progress.finish();
                return Err(crate::error::Error::Cancelled {
                    path: path.to_path_buf(),
                });
            }
        }
    }
    progress.update(&clock.snapshot(diffs.len() as u64));
    progress.finish();
    let end = diffs.last().map_or(0.0, |d| d.seconds + last_step.max(0.0));
    let (scenes, flashes) = place_scenes(&diffs, end, options);
    Ok(SceneReport {
        path: path.to_path_buf(),
        frames: diffs.len() as u64,
        first_seconds: first.unwrap_or(0.0),
        scenes,
        flashes,
        options: options.clone(),
    })
}

/// The thumbnail's pixels, row by row without padding.
fn grey_rows(frame: &ff::frame::Video) -> Vec<u8> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let stride = frame.stride(0);
    let data = frame.data(0);
    let mut out = Vec::with_capacity(w * h);
    for y in 0..h {
        out.extend_from_slice(&data[y * stride..y * stride + w]);
    }
    out
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    let n = a.len().min(b.len()).max(1);
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / n as f64
}

/// The scenes of a file whose frames differ as `diffs` says (`end`: when the last frame
/// ends), and the first frames of the flashes that were not cut at.
pub fn place_scenes(
    diffs: &[FrameDiff],
    end: f64,
    options: &SceneOptions,
) -> (Vec<Scene>, Vec<u64>) {
    let n = diffs.len();
    let flash_max = options.flash_frames.clamp(1, LOOK_BACK - 1);
    let mut cuts: Vec<(usize, f64)> = Vec::new();
    let mut flashes = Vec::new();
    let mut skip_until = 0usize;
    for i in 1..n {
        let d = diffs[i].back[0];
        if i < skip_until || d.is_nan() || d < options.threshold {
            continue;
        }
        // What the frames before moved: the median of the last eight differences.
        let mut before: Vec<f64> = diffs[i.saturating_sub(8).max(1)..i]
            .iter()
            .map(|f| f.back[0])
            .filter(|v| v.is_finite())
            .collect();
        before.sort_by(f64::total_cmp);
        let motion = before.get(before.len() / 2).copied().unwrap_or(0.0);
        if d < 3.0 * motion {
            continue;
        }
        // A flash: within a few frames the picture is back to the frame before it.
        let back_to = (1..=flash_max).find(|&k| {
            diffs
                .get(i + k)
                .map(|f| f.back[k])
                .is_some_and(|v| v < (d / 3.0).max(options.threshold / 2.0) && v < d)
        });
        if let Some(k) = back_to {
            flashes.push(i as u64);
            skip_until = i + k + 1;
            continue;
        }
        cuts.push((i, d));
    }
    // The shortest scene: a cut too close to the one before is dropped.
    let mut kept: Vec<(usize, f64)> = Vec::new();
    let min = options.min_frames.max(1) as usize;
    for (i, d) in cuts {
        let since = kept.last().map_or(i, |(p, _)| i - p);
        if since >= min && n - i >= min.min(n) {
            kept.push((i, d));
        }
    }
    let time = |i: usize| diffs.get(i).map_or(end, |f| f.seconds);
    let mut starts: Vec<(usize, SceneStart, f64)> = vec![(0, SceneStart::Start, 0.0)];
    starts.extend(kept.iter().map(|(i, d)| (*i, SceneStart::Cut, *d)));
    let mut scenes = Vec::new();
    for (k, &(s, why, score)) in starts.iter().enumerate() {
        let e = starts.get(k + 1).map_or(n, |x| x.0);
        if e <= s {
            continue;
        }
        // The longest scene: split evenly into parts no longer than the maximum.
        let parts = options
            .max_seconds
            .filter(|m| *m > 0.0)
            .map_or(1, |m| ((time(e) - time(s)) / m).ceil().max(1.0) as usize)
            .min(e - s);
        for p in 0..parts {
            let a = s + (e - s) * p / parts;
            let b = s + (e - s) * (p + 1) / parts;
            scenes.push(Scene {
                start_frame: a as u64,
                end_frame: b as u64,
                start_seconds: time(a),
                end_seconds: time(b),
                start: if p == 0 { why } else { SceneStart::Forced },
                score: if p == 0 { score } else { 0.0 },
            });
        }
    }
    (scenes, flashes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames at 24 fps whose pictures sit at `p[i]` on a line: the difference between two
    /// frames is their distance (motion moves along it, a cut jumps, a flash jumps and comes
    /// back).
    fn frames(p: &[f64]) -> Vec<FrameDiff> {
        (0..p.len())
            .map(|i| {
                let mut back = [f64::NAN; LOOK_BACK];
                for (j, b) in back.iter_mut().enumerate() {
                    if let Some(k) = i.checked_sub(j + 1) {
                        *b = (p[i] - p[k]).abs();
                    }
                }
                FrameDiff {
                    seconds: i as f64 / 24.0,
                    back,
                }
            })
            .collect()
    }

    /// `n` frames moving `m` a frame, with a jump of `j` from each frame of `jumps` on and
    /// frames of `flashed` lifted by 60.
    fn film(n: usize, m: f64, jumps: &[(usize, f64)], flashed: &[usize]) -> Vec<f64> {
        (0..n)
            .map(|i| {
                let jumped: f64 = jumps
                    .iter()
                    .filter(|(at, _)| *at <= i)
                    .map(|(_, j)| j)
                    .sum();
                m * i as f64 + jumped + if flashed.contains(&i) { 60.0 } else { 0.0 }
            })
            .collect()
    }

    fn starts(diffs: &[FrameDiff], options: &SceneOptions) -> (Vec<(u64, SceneStart)>, Vec<u64>) {
        let end = diffs.len() as f64 / 24.0;
        let (s, f) = place_scenes(diffs, end, options);
        (s.iter().map(|s| (s.start_frame, s.start)).collect(), f)
    }

    #[test]
    fn cuts_flashes_motion_and_scene_lengths() {
        use SceneStart::{Cut, Forced, Start};
        let opts = SceneOptions {
            max_seconds: None,
            ..Default::default()
        };
        // (what, picture positions, options, scene starts, flashes)
        type Row = (
            &'static str,
            Vec<f64>,
            SceneOptions,
            Vec<(u64, SceneStart)>,
            Vec<u64>,
        );
        let table: Vec<Row> = vec![
            (
                "no cut",
                film(100, 2.0, &[], &[]),
                opts.clone(),
                vec![(0, Start)],
                vec![],
            ),
            (
                "one cut",
                film(100, 2.0, &[(50, 40.0)], &[]),
                opts.clone(),
                vec![(0, Start), (50, Cut)],
                vec![],
            ),
            (
                // Fast motion all along (20 a frame) is no cut; a jump of 50 more is.
                "motion",
                film(100, 20.0, &[(50, 50.0)], &[]),
                opts.clone(),
                vec![(0, Start), (50, Cut)],
                vec![],
            ),
            (
                // A cut must stand out three times over the motion: 20 + 30 = 50 < 60.
                "lost in motion",
                film(100, 20.0, &[(50, 30.0)], &[]),
                opts.clone(),
                vec![(0, Start)],
                vec![],
            ),
            (
                "one-frame flash",
                film(100, 2.0, &[], &[50]),
                opts.clone(),
                vec![(0, Start)],
                vec![50],
            ),
            (
                "three-frame flash",
                film(100, 2.0, &[], &[50, 51, 52]),
                opts.clone(),
                vec![(0, Start)],
                vec![50],
            ),
            (
                // Four frames lit is no flash: a cut there and back, the second too close.
                "four frames lit",
                film(100, 2.0, &[], &[50, 51, 52, 53]),
                opts.clone(),
                vec![(0, Start), (50, Cut)],
                vec![],
            ),
            (
                // A flash right after a cut: the cut stays, the flash is not cut at.
                "cut then flash",
                film(120, 2.0, &[(40, 40.0)], &[80]),
                opts.clone(),
                vec![(0, Start), (40, Cut)],
                vec![80],
            ),
            (
                // Two cuts 10 frames apart: the second is too close (24 frames at least).
                "too close",
                film(100, 2.0, &[(50, 40.0), (60, 40.0)], &[]),
                opts.clone(),
                vec![(0, Start), (50, Cut)],
                vec![],
            ),
            (
                // 30 s at 24 fps with a 10 s maximum: split evenly in three.
                "forced",
                film(720, 2.0, &[], &[]),
                SceneOptions::default(),
                vec![(0, Start), (240, Forced), (480, Forced)],
                vec![],
            ),
            (
                // Under the threshold, however still the frames before.
                "soft",
                film(100, 0.5, &[(50, 8.5)], &[]),
                opts.clone(),
                vec![(0, Start)],
                vec![],
            ),
        ];
        for (what, p, o, want, want_flashes) in table {
            let (got, flashes) = starts(&frames(&p), &o);
            assert_eq!(got, want, "{what}");
            assert_eq!(flashes, want_flashes, "{what}");
        }
    }

    #[test]
    fn scenes_cover_every_frame_with_their_times() {
        let diffs = frames(&film(100, 2.0, &[(50, 40.0)], &[]));
        let (s, _) = place_scenes(&diffs, 100.0 / 24.0, &SceneOptions::default());
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].start_frame, s[0].end_frame), (0, 50));
        assert_eq!((s[1].start_frame, s[1].end_frame), (50, 100));
        assert!((s[1].start_seconds - 50.0 / 24.0).abs() < 1e-9);
        assert!((s[1].end_seconds - 100.0 / 24.0).abs() < 1e-9);
        assert_eq!(s[1].score, 42.0);
        assert!(place_scenes(&[], 0.0, &SceneOptions::default())
            .0
            .is_empty());
    }
}
