//! The Pareto ladder: encode a source at several picture heights over a range of knob values
//! (on the search's in-memory samples), score each encode upscaled back to the source's size
//! (what a player on the source's display shows), take the upper convex hull of the (bit rate,
//! VMAF) points, and pick streaming rungs on it.
//!
//! Rung rules ([`RungRules`]), from the top down:
//! 1. The top rung is the cheapest hull point whose VMAF reaches `top_vmaf` (95 by default: past
//!    it viewers see no difference, so more bits are waste); when none does, the best hull point.
//! 2. Each next rung is the hull point with the highest bit rate that is at least `min_ratio`
//!    (1.5x) cheaper than the rung above and at least `min_step` VMAF (6, about one
//!    just-noticeable difference) below it. Rungs closer than that cost storage and switching
//!    without a visible step; the 1.5x floor keeps the bit-rate ladder about 1.5-2x per step
//!    where the hull is dense enough to allow it.
//! 3. Stop after `rungs` rungs or when no hull point is left that far below.

use crate::events::EventSink;
use crate::search::{crf_search, SearchConfig, SearchError};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One measured encode of the ladder.
#[derive(Debug, Clone, Serialize)]
pub struct LadderPoint {
    /// Encoded picture width.
    pub width: u32,
    /// Encoded picture height.
    pub height: u32,
    /// Knob value.
    pub knob: f64,
    /// VMAF of the encode upscaled to the source's size: mean over the sample frames.
    pub vmaf: f64,
    /// 5th percentile frame VMAF.
    pub vmaf_p5: f64,
    /// Predicted average bit rate of the whole file, bit/s.
    pub bit_rate: f64,
    /// The highest bit rate of any one sample window, bit/s (a measured peak for HLS).
    pub peak_bit_rate: f64,
    /// Predicted wall time of the whole encode, seconds.
    pub encode_seconds: f64,
    /// Whether the point is on the upper convex hull.
    pub on_hull: bool,
}

/// A chosen rung.
#[derive(Debug, Clone, Serialize)]
pub struct Rung {
    /// Index into [`Ladder::points`].
    pub point: usize,
    /// Encoded picture width.
    pub width: u32,
    /// Encoded picture height.
    pub height: u32,
    /// Knob value.
    pub knob: f64,
    /// VMAF (mean, upscaled to the source's size).
    pub vmaf: f64,
    /// Average bit rate, bit/s.
    pub bit_rate: f64,
    /// Peak sample-window bit rate, bit/s.
    pub peak_bit_rate: f64,
}

/// How rungs are picked on the hull (see the module documentation).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct RungRules {
    /// Most rungs.
    pub rungs: usize,
    /// The VMAF the top rung needs to reach (the cheapest hull point that does).
    pub top_vmaf: f64,
    /// Each rung at least this many times cheaper than the one above.
    pub min_ratio: f64,
    /// Each rung at least this much VMAF below the one above.
    pub min_step: f64,
}

impl Default for RungRules {
    fn default() -> Self {
        Self {
            rungs: 5,
            top_vmaf: 95.0,
            min_ratio: 1.5,
            min_step: 6.0,
        }
    }
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct LadderConfig {
    /// The search settings the points are measured with (encoder, preset, samples, scale,
    /// cache); `knobs` is the knob range.
    pub search: SearchConfig,
    /// Picture heights; heights at or above the source's are measured at the source's size.
    pub resolutions: Vec<u32>,
    /// Rung picking.
    pub rules: RungRules,
}

/// The result of [`ladder`].
#[derive(Debug, Clone, Serialize)]
pub struct Ladder {
    /// The source.
    pub input: PathBuf,
    /// Encoder adapter id.
    pub encoder: String,
    /// Preset.
    pub preset: String,
    /// The knob's name.
    pub knob_name: String,
    /// The source's picture size (scores are at this size).
    pub display_width: u32,
    /// The source's picture height.
    pub display_height: u32,
    /// Frames per second.
    pub fps: f64,
    /// The source's duration in seconds.
    pub duration_seconds: f64,
    /// Samples encoded per point and the seconds of source they cover.
    pub samples: usize,
    /// Seconds of source the samples cover.
    pub sample_seconds: f64,
    /// Every measured point, by height (highest first) then knob.
    pub points: Vec<LadderPoint>,
    /// The hull, as indices into `points`, by rising bit rate.
    pub hull: Vec<usize>,
    /// The rules the rungs were picked by.
    pub rules: RungRules,
    /// The rungs, by rising bit rate.
    pub rungs: Vec<Rung>,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// The upper convex hull of (rate, quality) points, as indices by rising rate: the points no
/// mix of two others beats. Points beaten outright (another costs no more and scores at least
/// as well) are dropped first.
pub fn upper_hull(points: &[(f64, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len())
        .filter(|&i| points[i].0.is_finite() && points[i].1.is_finite())
        .collect();
    order.sort_by(|&a, &b| {
        points[a]
            .0
            .total_cmp(&points[b].0)
            .then(points[b].1.total_cmp(&points[a].1))
    });
    // Pareto front: each kept point scores better than every cheaper one.
    let mut front: Vec<usize> = Vec::new();
    for i in order {
        if front.last().is_none_or(|&j| points[i].1 > points[j].1) {
            front.push(i);
        }
    }
    let mut hull: Vec<usize> = Vec::new();
    for i in front {
        while hull.len() >= 2 {
            let (a, b, c) = (
                points[hull[hull.len() - 2]],
                points[hull[hull.len() - 1]],
                points[i],
            );
            // Keep b only if a -> b -> c turns clockwise (b lies above the chord a-c).
            let cross = (b.0 - a.0) * (c.1 - a.1) - (b.1 - a.1) * (c.0 - a.0);
            if cross >= 0.0 {
                hull.pop();
            } else {
                break;
            }
        }
        hull.push(i);
    }
    hull
}

/// Pick rungs among hull points given as (rate, quality) by rising rate; returns their
/// positions in `hull`, by rising rate.
pub fn pick_rungs(hull: &[(f64, f64)], rules: &RungRules) -> Vec<usize> {
    if hull.is_empty() || rules.rungs == 0 {
        return Vec::new();
    }
    let top = hull
        .iter()
        .position(|&(_, q)| q >= rules.top_vmaf)
        .unwrap_or(hull.len() - 1);
    let mut picked = vec![top];
    while picked.len() < rules.rungs {
        let (rate, quality) = hull[*picked.last().expect("one rung")];
        let next = (0..hull.len()).rev().find(|&i| {
            hull[i].0 * rules.min_ratio <= rate && hull[i].1 <= quality - rules.min_step
        });
        match next {
            Some(i) => picked.push(i),
            None => break,
        }
    }
    picked.reverse();
    picked
}

/// Measure the ladder of `input`: every (resolution, knob) on the samples, the hull, the rungs.
pub fn ladder(
    input: &Path,
    cfg: &LadderConfig,
    events: &mut dyn EventSink,
) -> Result<Ladder, SearchError> {
    let started = std::time::Instant::now();
    let mut heights = cfg.resolutions.clone();
    heights.sort_unstable_by(|a, b| b.cmp(a));
    heights.dedup();
    if heights.is_empty() {
        heights.push(u32::MAX);
    }
    let mut points: Vec<LadderPoint> = Vec::new();
    let mut seen_sizes: Vec<(u32, u32)> = Vec::new();
    let mut head: Option<crate::search::SearchReport> = None;
    for h in heights {
        let mut search = cfg.search.clone();
        search.resolution = Some(h);
        search.max_encoded_percent = f64::INFINITY;
        let report = crf_search(input, &search, events)?;
        let features = report.features.unwrap_or_default();
        let (w, hh) = report
            .scaled_to
            .or(report.cropped_to)
            .unwrap_or((features.width, features.height));
        // Heights at or above the source's all come to its own size: measure it once.
        if seen_sizes.contains(&(w, hh)) {
            continue;
        }
        seen_sizes.push((w, hh));
        let fps = features.fps.max(1.0);
        let duration = features.duration_seconds;
        for p in &report.probes {
            let peak = p
                .sample_sizes
                .iter()
                .zip(&report.samples)
                .filter(|(_, s)| s.frames > 0)
                .map(|(&bytes, s)| bytes as f64 * 8.0 * fps / s.frames as f64)
                .fold(0.0, f64::max);
            points.push(LadderPoint {
                width: w,
                height: hh,
                knob: p.knob,
                vmaf: p.vmaf.mean,
                vmaf_p5: p.vmaf.p5,
                bit_rate: if duration > 0.0 {
                    p.predicted_bytes as f64 * 8.0 / duration
                } else {
                    p.sample_bytes as f64 * 8.0 * fps
                        / report.samples.iter().map(|s| s.frames).sum::<u64>().max(1) as f64
                },
                peak_bit_rate: peak,
                encode_seconds: p.predicted_encode_seconds,
                on_hull: false,
            });
        }
        if head.is_none() {
            head = Some(report);
        }
    }
    let head = head.expect("at least one resolution was measured");
    let features = head.features.unwrap_or_default();
    let rate_quality: Vec<(f64, f64)> = points.iter().map(|p| (p.bit_rate, p.vmaf)).collect();
    let hull = upper_hull(&rate_quality);
    for &i in &hull {
        points[i].on_hull = true;
    }
    let on_hull: Vec<(f64, f64)> = hull.iter().map(|&i| rate_quality[i]).collect();
    let rungs = pick_rungs(&on_hull, &cfg.rules)
        .into_iter()
        .map(|r| {
            let i = hull[r];
            let p = &points[i];
            Rung {
                point: i,
                width: p.width,
                height: p.height,
                knob: p.knob,
                vmaf: p.vmaf,
                bit_rate: p.bit_rate,
                peak_bit_rate: p.peak_bit_rate,
            }
        })
        .collect();
    let frames: u64 = head.samples.iter().map(|s| s.frames).sum();
    Ok(Ladder {
        input: input.to_path_buf(),
        encoder: head.encoder.clone(),
        preset: head.preset.clone(),
        knob_name: head.knob_name.clone(),
        display_width: features.width,
        display_height: features.height,
        fps: features.fps,
        duration_seconds: features.duration_seconds,
        samples: head.samples.len(),
        sample_seconds: frames as f64 / features.fps.max(1.0),
        points,
        hull,
        rules: cfg.rules,
        rungs,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The usual streaming heights at and below a source of `source_height` lines: the source's
/// own, then 2160, 1440, 1080, 720, 540 and 360 below it (at most five).
pub fn default_resolutions(source_height: u32) -> Vec<u32> {
    let mut out = vec![source_height];
    out.extend(
        [2160, 1440, 1080, 720, 540, 360]
            .into_iter()
            .filter(|&h| h < source_height && h * 10 < source_height * 9),
    );
    out.truncate(5);
    out
}

/// Six knob values around the encoder's default for `height`, from 8 better to 12 worse in
/// steps of 4 (snapped to the knob's range and step): wide enough for a ladder's top and bottom.
pub fn default_knobs(knob: &crate::codecs::Knob, default: f64) -> Vec<f64> {
    let dir = match knob.better {
        crate::codecs::Better::Lower => 1.0,
        crate::codecs::Better::Higher => -1.0,
    };
    let step = knob.step.max(f64::MIN_POSITIVE);
    let mut out: Vec<f64> = (0..6)
        .map(|i| {
            let v = default + dir * (-8.0 + 4.0 * f64::from(i));
            ((v / step).round() * step).clamp(knob.min, knob.max)
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out.dedup();
    out
}

/// The files [`Ladder::write`] makes.
#[derive(Debug, Clone, Serialize)]
pub struct LadderFiles {
    /// Every point, the hull and the rungs.
    pub json: PathBuf,
    /// The HLS master playlist skeleton.
    pub playlist: PathBuf,
    /// The plot.
    pub svg: PathBuf,
}

/// The nominal RFC 6381 codec string of an encoder's output for an HLS `CODECS` attribute (a
/// packager sets the exact profile and level).
fn codecs_attribute(encoder: &str, ten_bit: bool) -> &'static str {
    match (encoder, ten_bit) {
        ("libsvtav1" | "libaom-av1" | "librav1e", false) => "av01.0.08M.08",
        ("libsvtav1" | "libaom-av1" | "librav1e", true) => "av01.0.08M.10",
        ("libx264", _) => "avc1.640028",
        ("libx265", false) => "hvc1.1.6.L120.90",
        ("libx265", true) => "hvc1.2.4.L120.90",
        ("libvpx-vp9", false) => "vp09.00.40.08",
        ("libvpx-vp9", true) => "vp09.02.40.10",
        _ => "",
    }
}

impl Ladder {
    /// Write `ladder.json`, `master.m3u8` and `ladder.svg` into `dir` (made if missing).
    pub fn write(&self, dir: &Path) -> std::io::Result<LadderFiles> {
        std::fs::create_dir_all(dir)?;
        let files = LadderFiles {
            json: dir.join("ladder.json"),
            playlist: dir.join("master.m3u8"),
            svg: dir.join("ladder.svg"),
        };
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(&files.json, json + "\n")?;
        std::fs::write(&files.playlist, self.hls_master())?;
        std::fs::write(&files.svg, self.svg())?;
        Ok(files)
    }

    /// An HLS master playlist skeleton: one variant per rung, highest first, with the measured
    /// average and peak bit rates; the variant URIs (`720p-crf30/index.m3u8`) are placeholders
    /// for the packager's media playlists.
    pub fn hls_master(&self) -> String {
        let ten_bit = false;
        let codecs = codecs_attribute(&self.encoder, ten_bit);
        let mut out = String::from("#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");
        out.push_str(&format!(
            "# mediaforce ladder of {}: {} preset {}; bit rates measured on {} sample(s), {:.0} s\n",
            self.input
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            self.encoder,
            self.preset,
            self.samples,
            self.sample_seconds
        ));
        for r in self.rungs.iter().rev() {
            let mut attrs = format!(
                "BANDWIDTH={},AVERAGE-BANDWIDTH={},RESOLUTION={}x{},FRAME-RATE={:.3}",
                r.peak_bit_rate.max(r.bit_rate).ceil() as u64,
                r.bit_rate.ceil() as u64,
                r.width,
                r.height,
                self.fps
            );
            if !codecs.is_empty() {
                attrs.push_str(&format!(",CODECS=\"{codecs}\""));
            }
            out.push_str(&format!(
                "#EXT-X-STREAM-INF:{attrs}\n{}p-{}{}/index.m3u8\n",
                r.height, self.knob_name, r.knob
            ));
        }
        out
    }

    /// A plot of every point (by resolution), the hull and the rungs: bit rate on a log scale
    /// against VMAF, as a standalone SVG document.
    pub fn svg(&self) -> String {
        const W: f64 = 760.0;
        const H: f64 = 460.0;
        const L: f64 = 64.0;
        const R: f64 = 150.0;
        const T: f64 = 40.0;
        const B: f64 = 52.0;
        const COLORS: [&str; 6] = [
            "#1f5fa8", "#c2571a", "#2e8b57", "#8e3c9e", "#b8860b", "#555555",
        ];
        let rates: Vec<f64> = self
            .points
            .iter()
            .map(|p| p.bit_rate / 1000.0)
            .filter(|r| *r > 0.0)
            .collect();
        let (lo, hi) = rates
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(a, b), &r| (a.min(r), b.max(r)));
        let (lo, hi) = if lo.is_finite() && hi > lo {
            (lo.log10().floor(), hi.log10().ceil())
        } else {
            (0.0, 1.0)
        };
        let qmin = self.points.iter().map(|p| p.vmaf).fold(100.0f64, f64::min);
        let qlo = ((qmin / 10.0).floor() * 10.0).clamp(0.0, 90.0);
        let x = |kbps: f64| L + (kbps.max(1e-9).log10() - lo) / (hi - lo) * (W - L - R);
        let y = |q: f64| T + (100.0 - q) / (100.0 - qlo) * (H - T - B);
        let mut s = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"{W}\" height=\"{H}\" fill=\"#ffffff\"/>\n"
        );
        s.push_str(&format!(
            "<text x=\"{L}\" y=\"22\" font-size=\"14\" font-weight=\"bold\">{} {} preset {}: VMAF at {}x{} against bit rate</text>\n",
            xml(&self
                .input
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned())),
            xml(&self.encoder),
            xml(&self.preset),
            self.display_width,
            self.display_height
        ));
        // Axes and grid.
        let (x0, x1, y0, y1) = (L, W - R, T, H - B);
        s.push_str(&format!(
            "<rect x=\"{x0}\" y=\"{y0}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n",
            x1 - x0,
            y1 - y0
        ));
        s.push_str(&grid_lines((lo, hi), qlo, (x0, x1, y0, y1), &x, &y));
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">bit rate (bit/s, log scale)</text>\n<text transform=\"translate(18 {:.1}) rotate(-90)\" text-anchor=\"middle\">VMAF</text>\n",
            (x0 + x1) / 2.0,
            H - 12.0,
            (y0 + y1) / 2.0
        ));
        // Points, one colour per height.
        let mut heights: Vec<u32> = self.points.iter().map(|p| p.height).collect();
        heights.sort_unstable_by(|a, b| b.cmp(a));
        heights.dedup();
        for (n, h) in heights.iter().enumerate() {
            let color = COLORS[n % COLORS.len()];
            for p in self.points.iter().filter(|p| p.height == *h) {
                s.push_str(&format!(
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3.5\" fill=\"{color}\"><title>{}p {} {}: VMAF {:.2}, {:.0} kb/s</title></circle>\n",
                    x(p.bit_rate / 1000.0),
                    y(p.vmaf),
                    h,
                    xml(&self.knob_name),
                    p.knob,
                    p.vmaf,
                    p.bit_rate / 1000.0
                ));
            }
            let ly = T + 20.0 + 20.0 * n as f64;
            s.push_str(&format!(
                "<circle cx=\"{:.1}\" cy=\"{ly:.1}\" r=\"4\" fill=\"{color}\"/><text x=\"{:.1}\" y=\"{:.1}\">{h}p</text>\n",
                x1 + 20.0,
                x1 + 30.0,
                ly + 4.0
            ));
        }
        // The hull.
        let hull: Vec<String> = self
            .hull
            .iter()
            .map(|&i| {
                let p = &self.points[i];
                format!("{:.1},{:.1}", x(p.bit_rate / 1000.0), y(p.vmaf))
            })
            .collect();
        s.push_str(&format!(
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#222\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\"/>\n",
            hull.join(" ")
        ));
        let ly = T + 20.0 + 20.0 * heights.len() as f64;
        s.push_str(&format!(
            "<line x1=\"{:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"#222\" stroke-dasharray=\"5 3\"/><text x=\"{:.1}\" y=\"{:.1}\">hull</text>\n",
            x1 + 12.0,
            x1 + 28.0,
            x1 + 30.0,
            ly + 4.0
        ));
        // The rungs.
        for r in &self.rungs {
            let (cx, cy) = (x(r.bit_rate / 1000.0), y(r.vmaf));
            // Labels near the right edge go to the left of their mark, clear of the legend.
            let (lx, anchor) = if cx > x1 - 100.0 {
                (cx - 10.0, "end")
            } else {
                (cx + 10.0, "start")
            };
            s.push_str(&format!(
                "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"8\" fill=\"none\" stroke=\"#d01c1c\" stroke-width=\"2\"/><text x=\"{lx:.1}\" y=\"{:.1}\" fill=\"#d01c1c\" text-anchor=\"{anchor}\">{}p {} {}</text>\n",
                cy + 16.0,
                r.height,
                xml(&self.knob_name),
                r.knob
            ));
        }
        let ly = ly + 20.0;
        s.push_str(&format!(
            "<circle cx=\"{:.1}\" cy=\"{ly:.1}\" r=\"7\" fill=\"none\" stroke=\"#d01c1c\" stroke-width=\"2\"/><text x=\"{:.1}\" y=\"{:.1}\">rung</text>\n</svg>\n",
            x1 + 20.0,
            x1 + 30.0,
            ly + 4.0
        ));
        s
    }
}

/// The plot's grid: a line and a label every 10 VMAF from `qlo`, and at 1, 2 and 5 of every
/// bit-rate decade between `decades` (log10 of kb/s), inside the frame `(x0, x1, y0, y1)`.
fn grid_lines(
    decades: (f64, f64),
    qlo: f64,
    (x0, x1, y0, y1): (f64, f64, f64, f64),
    x: &dyn Fn(f64) -> f64,
    y: &dyn Fn(f64) -> f64,
) -> String {
    let (lo, hi) = decades;
    let mut s = String::new();
    let mut q = qlo;
    while q <= 100.0 + 1e-9 {
        let yy = y(q);
        s.push_str(&format!(
            "<line x1=\"{x0}\" y1=\"{yy:.1}\" x2=\"{x1}\" y2=\"{yy:.1}\" stroke=\"#e4e4e4\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{q:.0}</text>\n",
            x0 - 6.0,
            yy + 4.0
        ));
        q += 10.0;
    }
    let mut decade = lo;
    while decade <= hi + 1e-9 {
        for m in [1.0, 2.0, 5.0] {
            let kbps = m * 10f64.powf(decade);
            if kbps.log10() > hi + 1e-9 {
                break;
            }
            let xx = x(kbps);
            s.push_str(&format!(
                "<line x1=\"{xx:.1}\" y1=\"{y0}\" x2=\"{xx:.1}\" y2=\"{y1}\" stroke=\"#e4e4e4\"/><text x=\"{xx:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
                y1 + 16.0,
                if kbps >= 1000.0 {
                    format!("{}M", kbps / 1000.0)
                } else {
                    format!("{kbps}k")
                }
            ));
        }
        decade += 1.0;
    }
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::{default_knobs, default_resolutions, pick_rungs, upper_hull, RungRules};

    #[test]
    fn default_heights_and_knobs() {
        assert_eq!(default_resolutions(1080), [1080, 720, 540, 360]);
        assert_eq!(default_resolutions(2160), [2160, 1440, 1080, 720, 540]);
        // 1000 lines: 1080 is above it and 720 well below.
        assert_eq!(default_resolutions(1000), [1000, 720, 540, 360]);
        assert_eq!(default_resolutions(240), [240]);
        let crf = crate::codecs::Knob {
            name: "crf",
            min: 0.0,
            max: 51.0,
            step: 1.0,
            better: crate::codecs::Better::Lower,
            vmaf_per_unit: 1.0,
        };
        assert_eq!(
            default_knobs(&crf, 23.0),
            [15.0, 19.0, 23.0, 27.0, 31.0, 35.0]
        );
        assert_eq!(default_knobs(&crf, 45.0), [37.0, 41.0, 45.0, 49.0, 51.0]);
        let quality = crate::codecs::Knob {
            better: crate::codecs::Better::Higher,
            ..crf
        };
        assert_eq!(
            default_knobs(&quality, 30.0),
            [18.0, 22.0, 26.0, 30.0, 34.0, 38.0]
        );
    }

    #[test]
    fn hull_keeps_the_upper_left_envelope() {
        // (rate, quality): 2 is beaten outright by 1; 3 lies under the chord 1-4.
        let pts = [
            (100.0, 50.0),
            (200.0, 70.0),
            (300.0, 65.0),
            (400.0, 75.0),
            (800.0, 90.0),
            (1600.0, 95.0),
        ];
        assert_eq!(upper_hull(&pts), [0, 1, 4, 5]);
        // Collinear middle points are dropped; NaN is ignored; order of input does not matter.
        let pts = [
            (300.0, 30.0),
            (100.0, 10.0),
            (f64::NAN, 99.0),
            (200.0, 20.0),
        ];
        assert_eq!(upper_hull(&pts), [1, 0]);
        assert!(upper_hull(&[]).is_empty());
        assert_eq!(upper_hull(&[(5.0, 5.0)]), [0]);
        // Equal rates: the better point wins.
        assert_eq!(upper_hull(&[(100.0, 40.0), (100.0, 60.0)]), [1]);
    }

    #[test]
    fn rungs_follow_the_documented_rules() {
        let rules = RungRules::default();
        let hull = [
            (300.0, 60.0),
            (500.0, 72.0),
            (800.0, 82.0),
            (1300.0, 89.0),
            (2000.0, 94.0),
            (3000.0, 96.0),
            (6000.0, 98.0),
        ];
        // Top: the cheapest reaching 95 (3000). Then <= 2000 and <= 90: 1300 (89). Then
        // <= 866 and <= 83: 800 (82). Then <= 533 and <= 76: 500. Then <= 333, <= 66: 300.
        assert_eq!(pick_rungs(&hull, &rules), [0, 1, 2, 3, 5]);
        // At most `rungs`.
        let three = RungRules { rungs: 3, ..rules };
        assert_eq!(pick_rungs(&hull, &three), [2, 3, 5]);
        // Nothing reaches the top target: the best point tops the ladder.
        let high = RungRules {
            top_vmaf: 99.5,
            ..rules
        };
        assert_eq!(pick_rungs(&hull, &high)[..].last(), Some(&6));
        // A hull too flat for a just-noticeable step gives one rung.
        let flat = [(100.0, 95.0), (200.0, 96.0), (400.0, 97.0)];
        assert_eq!(pick_rungs(&flat, &rules), [0]);
        assert!(pick_rungs(&[], &rules).is_empty());
    }
}
