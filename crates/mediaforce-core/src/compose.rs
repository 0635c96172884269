//! Side-by-side review media: two videos decoded in lockstep from the same instant, stacked left
//! | right with a label burnt into each half, written as an H.264 MP4 clip or a PNG still.
//! Also a cheap scene/complexity analysis used to pick where review clips start.

use crate::decode::{DecodeOptions, VideoDecoder};
use crate::encode::{VideoEncoder, VideoEncoderConfig};
use crate::mux::Muxer;
use crate::{Error, Result};
use ff::format::Pixel;
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};

/// Fonts tried for labels, in order (Debian's fonts-dejavu-core first); fontconfig's default
/// sans face when none exists.
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// drawtext's text argument allows few characters unescaped; keep labels to safe ones.
fn clean_label(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " .-_+=()/".contains(c) {
                c
            } else {
                ' '
            }
        })
        .collect()
}

fn drawtext(label: &str, x: &str, size: u32) -> String {
    let font = FONTS
        .iter()
        .find(|f| Path::new(f).exists())
        .map_or(String::new(), |f| format!("fontfile={f}:"));
    format!(
        "drawtext={font}text='{}':x={x}:y={}:fontsize={size}:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw={}",
        clean_label(label),
        size / 2,
        size / 4
    )
}

/// A two-input graph: `[a][b]hstack`, labels, then `tail` (a pixel format conversion).
struct Stack {
    graph: ff::filter::Graph,
    path: PathBuf,
}

impl Stack {
    fn new(
        path: &Path,
        w: u32,
        h: u32,
        fps: ff::Rational,
        labels: (&str, &str),
        out_format: &str,
    ) -> Result<Self> {
        let size = (h / 22).clamp(12, 64);
        let spec = format!(
            "[a][b]hstack=inputs=2,{},{},format={out_format}",
            drawtext(labels.0, &format!("{}", size / 2), size),
            drawtext(labels.1, &format!("{}", w + size / 2), size),
        );
        let err = |e| Error::libav(path, format!("build filter graph '{spec}'"), e);
        let mut graph = ff::filter::Graph::new();
        let args = format!(
            "video_size={w}x{h}:pix_fmt={}:time_base={}/{}:pixel_aspect=1/1",
            ff::ffi::AVPixelFormat::from(Pixel::YUV420P) as i32,
            fps.denominator(),
            fps.numerator()
        );
        let (buffer, sink) = crate::decode::graph_endpoints()?;
        if ff::filter::find("drawtext").is_none() {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                reason: "this libavfilter has no drawtext filter (built without libfreetype)"
                    .into(),
            });
        }
        graph.add(&buffer, "a", &args).map_err(err)?;
        graph.add(&buffer, "b", &args).map_err(err)?;
        graph.add(&sink, "out", "").map_err(err)?;
        graph
            .output("a", 0)
            .and_then(|p| p.output("b", 0))
            .and_then(|p| p.input("out", 0))
            .and_then(|p| p.parse(&spec))
            .map_err(err)?;
        graph.validate().map_err(err)?;
        Ok(Self {
            graph,
            path: path.to_path_buf(),
        })
    }

    fn push(&mut self, a: &ff::frame::Video, b: &ff::frame::Video) -> Result<()> {
        for (name, f) in [("a", a), ("b", b)] {
            let mut src = self.graph.get(name).expect("graph has both inputs");
            crate::ffi::buffersrc_add_keep_ref(&mut src, f)
                .map_err(|e| Error::libav(&self.path, "filter frame", e))?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        for name in ["a", "b"] {
            let mut src = self.graph.get(name).expect("graph has both inputs");
            src.source()
                .flush()
                .map_err(|e| Error::libav(&self.path, "flush filter", e))?;
        }
        Ok(())
    }

    fn pull(&mut self) -> Result<Option<ff::frame::Video>> {
        crate::decode::pull_filtered(&mut self.graph, &self.path)
    }
}

/// What a side-by-side render produced.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SideBySide {
    /// Output file.
    pub path: PathBuf,
    /// Start time in the sources.
    pub start_seconds: f64,
    /// Frames written.
    pub frames: u64,
    /// Width of the output (two halves).
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// Decode `left` and `right` from `start` in lockstep, at `left`'s size (the right side is
/// scaled to match), and yield up to `frames` pairs.
fn pairs(
    left: &Path,
    right: &Path,
    start: f64,
    frames: u64,
    mut each: impl FnMut(
        u64,
        &ff::frame::Video,
        &ff::frame::Video,
        (u32, u32),
        ff::Rational,
    ) -> Result<()>,
) -> Result<u64> {
    let probe = VideoDecoder::open(left, DecodeOptions::default())?;
    let facts = *probe.facts();
    drop(probe);
    // Even dimensions for 4:2:0 and H.264.
    let (w, h) = (facts.width & !1, facts.height & !1);
    let fps = if facts.frame_rate.numerator() > 0 {
        facts.frame_rate
    } else {
        ff::Rational::new(25, 1)
    };
    let opts = DecodeOptions {
        start_seconds: Some(start),
        max_frames: Some(frames),
        ..DecodeOptions::default()
    }
    .pixel_format(Pixel::YUV420P)
    .size(w, h);
    let mut a = VideoDecoder::open(left, opts.clone())?;
    let mut b = VideoDecoder::open(right, opts)?;
    let mut n = 0;
    while n < frames {
        let (Some(mut fa), Some(mut fb)) = (a.next_frame()?, b.next_frame()?) else {
            break;
        };
        fa.frame.set_pts(Some(n as i64));
        fb.frame.set_pts(Some(n as i64));
        each(n, &fa.frame, &fb.frame, (w, h), fps)?;
        n += 1;
    }
    Ok(n)
}

/// Write a side-by-side H.264 clip (`.mp4`) of `seconds` from `start`: `left` on the left,
/// `right` on the right, each labelled.
pub fn side_by_side_clip(
    left: &Path,
    right: &Path,
    labels: (&str, &str),
    start: f64,
    seconds: f64,
    output: &Path,
) -> Result<SideBySide> {
    crate::init();
    let mut stack: Option<Stack> = None;
    let mut enc: Option<VideoEncoder> = None;
    let mut mux = Muxer::create(output)?;
    let mut index = 0;
    let mut enc_tb = ff::Rational::new(1, 25);
    let mut written = 0u64;
    let mut size = (0, 0);
    let probe = VideoDecoder::open(left, DecodeOptions::default())?;
    let rate = probe.facts().frame_rate;
    drop(probe);
    let max_frames = (seconds * f64::from(rate.numerator().max(1))
        / f64::from(rate.denominator().max(1)))
    .ceil() as u64;
    pairs(
        left,
        right,
        start,
        max_frames.max(1),
        |_, a, b, (w, h), fps| {
            if stack.is_none() {
                stack = Some(Stack::new(output, w, h, fps, labels, "yuv420p")?);
                let mut cfg = VideoEncoderConfig::new("libx264", w * 2, h, Pixel::YUV420P, fps)
                    .option("crf", 16)
                    .option("preset", "veryfast");
                cfg.global_header = mux.wants_global_header();
                let e = VideoEncoder::open(&cfg)?;
                index = mux.add_stream(e.parameters(), e.time_base())?;
                mux.set_stream_rate(index, fps);
                mux.write_header()?;
                enc_tb = e.time_base();
                enc = Some(e);
                size = (w * 2, h);
            }
            let (s, e) = (
                stack.as_mut().expect("set above"),
                enc.as_mut().expect("set above"),
            );
            s.push(a, b)?;
            drain(s, e, &mut mux, index, enc_tb, &mut written)
        },
    )?;
    let (Some(mut s), Some(mut e)) = (stack, enc) else {
        return Err(Error::Corrupt {
            path: left.to_path_buf(),
            at: format!("{start:.3} s"),
            reason: "no frames to compare at this time".into(),
        });
    };
    s.flush()?;
    drain(&mut s, &mut e, &mut mux, index, enc_tb, &mut written)?;
    e.finish(|mut p| mux.write(index, &mut p, enc_tb))?;
    mux.finish()?;
    Ok(SideBySide {
        path: output.to_path_buf(),
        start_seconds: start,
        frames: written,
        width: size.0,
        height: size.1,
    })
}

fn drain(
    stack: &mut Stack,
    enc: &mut VideoEncoder,
    mux: &mut Muxer,
    index: usize,
    tb: ff::Rational,
    written: &mut u64,
) -> Result<()> {
    while let Some(mut f) = stack.pull()? {
        f.set_kind(ff::picture::Type::None);
        enc.encode(&f, |mut p| mux.write(index, &mut p, tb))?;
        *written += 1;
    }
    Ok(())
}

/// Write a side-by-side PNG still of the frame at `at` seconds.
pub fn side_by_side_still(
    left: &Path,
    right: &Path,
    labels: (&str, &str),
    at: f64,
    output: &Path,
) -> Result<SideBySide> {
    crate::init();
    let mut picture: Option<ff::frame::Video> = None;
    pairs(left, right, at, 1, |_, a, b, (w, h), fps| {
        let mut s = Stack::new(output, w, h, fps, labels, "rgb24")?;
        s.push(a, b)?;
        s.flush()?;
        picture = s.pull()?;
        Ok(())
    })?;
    let Some(mut pic) = picture else {
        return Err(Error::Corrupt {
            path: left.to_path_buf(),
            at: format!("{at:.3} s"),
            reason: "no frame at this time".into(),
        });
    };
    let (w, h) = (pic.width(), pic.height());
    pic.set_pts(Some(0));
    let mut mux = Muxer::create(output)?;
    let cfg = VideoEncoderConfig::new("png", w, h, Pixel::RGB24, ff::Rational::new(1, 1));
    let mut enc = VideoEncoder::open(&cfg)?;
    let index = mux.add_stream(enc.parameters(), enc.time_base())?;
    mux.write_header()?;
    let tb = enc.time_base();
    enc.encode(&pic, |mut p| mux.write(index, &mut p, tb))?;
    enc.finish(|mut p| mux.write(index, &mut p, tb))?;
    mux.finish()?;
    Ok(SideBySide {
        path: output.to_path_buf(),
        start_seconds: at,
        frames: 1,
        width: w,
        height: h,
    })
}

/// Per-frame activity of a video at low resolution: the mean absolute luma difference from the
/// previous frame (0..255), which is high at scene cuts and in motion-heavy, hard-to-encode parts.
#[derive(Debug, Clone)]
pub struct Activity {
    /// Frame times in seconds.
    pub seconds: Vec<f64>,
    /// Mean absolute difference from the previous frame (the first frame has 0).
    pub diff: Vec<f64>,
}

/// Measure [`Activity`] of `path` on a 64x36 gray thumbnail of every frame.
pub fn activity(path: &Path) -> Result<Activity> {
    crate::init();
    let mut d = VideoDecoder::open(
        path,
        DecodeOptions::default()
            .pixel_format(Pixel::GRAY8)
            .size(64, 36),
    )?;
    let mut prev: Option<Vec<u8>> = None;
    let mut out = Activity {
        seconds: Vec::new(),
        diff: Vec::new(),
    };
    while let Some(f) = d.next_frame()? {
        let stride = f.frame.stride(0);
        let data = f.frame.data(0);
        let mut cur = Vec::with_capacity(64 * 36);
        for y in 0..36 {
            cur.extend_from_slice(&data[y * stride..y * stride + 64]);
        }
        let diff = prev.as_ref().map_or(0.0, |p| {
            p.iter()
                .zip(&cur)
                .map(|(a, b)| f64::from(a.abs_diff(*b)))
                .sum::<f64>()
                / cur.len() as f64
        });
        out.seconds.push(f.seconds);
        out.diff.push(diff);
        prev = Some(cur);
    }
    Ok(out)
}

/// Start times for up to `count` non-overlapping review clips of `clip` seconds: scene cuts
/// (activity spikes) that open the busiest stretches first; evenly spaced when the video has too
/// few cuts.
pub fn review_points(a: &Activity, count: usize, clip: f64) -> Vec<f64> {
    let n = a.diff.len();
    let duration = a.seconds.last().copied().unwrap_or(0.0);
    if n < 2 || count == 0 {
        return Vec::new();
    }
    let mean = a.diff.iter().sum::<f64>() / n as f64;
    let sd = (a.diff.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / n as f64).sqrt();
    // Busyness of the clip-long window after each frame.
    let window = |i: usize| -> f64 {
        let end = a.seconds[i] + clip;
        a.diff[i + 1..]
            .iter()
            .zip(&a.seconds[i + 1..])
            .take_while(|(_, t)| **t < end)
            .map(|(d, _)| d)
            .sum()
    };
    let latest_start = (duration - clip).max(0.0);
    // Clips never overlap: a short video gets fewer of them.
    let count = count.min(((duration + 1e-6) / clip).floor().max(1.0) as usize);
    if count == 1 && latest_start < clip {
        return vec![0.0];
    }
    let mut cuts: Vec<(usize, f64)> = (1..n)
        .filter(|&i| a.diff[i] > mean + 3.0 * sd && a.diff[i] > 8.0 && a.seconds[i] <= latest_start)
        .map(|i| (i, window(i)))
        .collect();
    cuts.sort_by(|x, y| y.1.total_cmp(&x.1));
    let mut chosen: Vec<f64> = Vec::new();
    for (i, _) in cuts {
        let t = a.seconds[i];
        if chosen.iter().all(|c| (c - t).abs() >= clip) {
            chosen.push(t);
        }
        if chosen.len() == count {
            break;
        }
    }
    // Fill with evenly spaced points clear of the ones found (finer grids when crowded).
    for m in [count, 2 * count, 4 * count, 8 * count] {
        for j in 0..m {
            let t = latest_start * j as f64 / (m - 1).max(1) as f64;
            if chosen.len() < count && chosen.iter().all(|c| (c - t).abs() >= clip) {
                chosen.push(t);
            }
        }
    }
    chosen.sort_by(f64::total_cmp);
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity_with_cuts(seconds: usize, cuts: &[(usize, f64)]) -> Activity {
        let fps = 10;
        let n = seconds * fps;
        let mut a = Activity {
            seconds: (0..n).map(|i| i as f64 / fps as f64).collect(),
            diff: vec![1.0; n],
        };
        for &(at, busy) in cuts {
            a.diff[at * fps] = 60.0;
            for d in &mut a.diff[at * fps + 1..(at * fps + 40).min(n)] {
                *d = busy;
            }
        }
        a
    }

    #[test]
    fn clips_start_at_the_busiest_cuts_without_overlap() {
        let a = activity_with_cuts(60, &[(10, 2.0), (30, 9.0), (32, 8.0), (50, 6.0)]);
        // 30 is busiest; 32 overlaps it; then 50, then 10.
        assert_eq!(review_points(&a, 3, 4.0), vec![10.0, 30.0, 50.0]);
        assert_eq!(review_points(&a, 1, 4.0), vec![30.0]);
    }

    #[test]
    fn no_cuts_means_evenly_spaced_and_short_videos_get_fewer_clips() {
        let flat = activity_with_cuts(60, &[]);
        let p = review_points(&flat, 3, 4.0);
        assert_eq!(p.len(), 3);
        assert!(p.windows(2).all(|w| w[1] - w[0] >= 4.0), "{p:?}");
        let short = activity_with_cuts(9, &[]);
        let p = review_points(&short, 3, 4.0);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[1] - p[0] >= 4.0);
        assert_eq!(
            review_points(&activity_with_cuts(3, &[]), 3, 4.0),
            vec![0.0]
        );
    }
}
