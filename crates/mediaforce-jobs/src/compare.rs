//! Review material for a staged encode: side-by-side clips (source | encode) at scene cuts in the
//! busiest parts, PNG stills of the worst-scoring frames, and a per-frame VMAF plot (SVG).
//! Everything goes to a cache directory that is pruned of material older than 14 days.

use crate::core::compose::{
    activity, review_points, side_by_side_clip, side_by_side_still, SideBySide,
};
use crate::metrics::WorstFrame;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// How much review material to make.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Clip start times; empty: chosen from scene cuts in the busiest parts.
    pub timestamps: Vec<f64>,
    /// Number of clips when choosing.
    pub clips: usize,
    /// Length of each clip in seconds.
    pub clip_seconds: f64,
    /// Number of worst frames to still.
    pub stills: usize,
    /// Remove material older than this.
    pub keep: Duration,
}

impl Default for CompareOptions {
    fn default() -> Self {
        Self {
            timestamps: Vec::new(),
            clips: 3,
            clip_seconds: 4.0,
            stills: 3,
            keep: Duration::from_secs(14 * 86_400),
        }
    }
}

/// What was made.
#[derive(Debug, Clone, Serialize)]
pub struct CompareReport {
    /// Folder holding it all.
    pub dir: PathBuf,
    /// Side-by-side clips.
    pub clips: Vec<SideBySide>,
    /// Stills of the worst frames.
    pub stills: Vec<SideBySide>,
    /// Per-frame VMAF plot, when scores were given.
    pub plot: Option<PathBuf>,
    /// How the clip times were chosen: `given`, `scene cuts` or `evenly spaced`.
    pub placement: String,
    /// Old review folders removed.
    pub pruned: usize,
}

/// The default cache directory: `$XDG_CACHE_HOME/mediaforce/compare` or
/// `~/.cache/mediaforce/compare`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MEDIAFORCE_CACHE_DIR") {
        return PathBuf::from(d);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map_or_else(|| PathBuf::from("."), PathBuf::from)
                .join(".cache")
        });
    base.join("mediaforce/compare")
}

/// Remove entries of `root` not modified within `keep`.
pub fn prune(root: &Path, keep: Duration) -> usize {
    let Ok(rd) = std::fs::read_dir(root) else {
        return 0;
    };
    let cutoff = SystemTime::now() - keep;
    let mut n = 0;
    for e in rd.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < cutoff);
        if old {
            let p = e.path();
            let removed = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
            n += usize::from(removed.is_ok());
        }
    }
    n
}

/// Make review material for `encode` against `source` in `dir` (created; old siblings pruned).
/// `per_frame` and `worst` come from validation; without them no plot and no stills are made.
#[allow(clippy::too_many_arguments)]
pub fn compare(
    source: &Path,
    encode: &Path,
    dir: &Path,
    labels: (&str, &str),
    per_frame: &[f64],
    worst: &[WorstFrame],
    target: Option<f64>,
    options: &CompareOptions,
) -> Result<CompareReport, crate::core::Error> {
    let pruned = dir.parent().map_or(0, |p| prune(p, options.keep));
    std::fs::create_dir_all(dir).map_err(|e| crate::core::Error::io(dir, e))?;
    let (times, placement) = if options.timestamps.is_empty() {
        let a = activity(source)?;
        let pts = review_points(&a, options.clips, options.clip_seconds);
        let mean = a.diff.iter().sum::<f64>() / a.diff.len().max(1) as f64;
        let cut = |t: &f64| {
            a.seconds
                .iter()
                .position(|s| s == t)
                .is_some_and(|i| a.diff[i] > 8.0 && a.diff[i] > 3.0 * mean)
        };
        let placement = if !pts.is_empty() && pts.iter().all(cut) {
            "scene cuts"
        } else if pts.iter().any(cut) {
            "scene cuts, then evenly spaced"
        } else {
            "evenly spaced"
        };
        (pts, placement.to_string())
    } else {
        (options.timestamps.clone(), "given".to_string())
    };
    let mut clips = Vec::new();
    for (i, t) in times.iter().enumerate() {
        let out = dir.join(format!("clip{}-{:.0}s.mp4", i + 1, t));
        clips.push(side_by_side_clip(
            source,
            encode,
            labels,
            *t,
            options.clip_seconds,
            &out,
        )?);
    }
    let mut stills = Vec::new();
    for w in worst.iter().take(options.stills) {
        let out = dir.join(format!("worst-frame{}-vmaf{:.1}.png", w.index, w.vmaf));
        let label_b = format!("{} VMAF {:.1}", labels.1, w.vmaf);
        stills.push(side_by_side_still(
            source,
            encode,
            (labels.0, &label_b),
            w.seconds,
            &out,
        )?);
    }
    let plot = if per_frame.is_empty() {
        None
    } else {
        let p = dir.join("vmaf-per-frame.svg");
        std::fs::write(&p, vmaf_svg(per_frame, worst, target))
            .map_err(|e| crate::core::Error::io(&p, e))?;
        Some(p)
    };
    Ok(CompareReport {
        dir: dir.to_path_buf(),
        clips,
        stills,
        plot,
        placement,
        pruned,
    })
}

/// The lowest score in each of `columns` equal runs of frames (fewer when there are fewer
/// frames), with the run's middle frame: so a single bad frame stays visible however long the
/// video.
pub fn column_minima(per_frame: &[f64], columns: usize) -> Vec<(f64, f64)> {
    let n = per_frame.len();
    let cols = columns.min(n);
    (0..cols)
        .map(|c| {
            let a = c * n / cols;
            let b = ((c + 1) * n / cols).max(a + 1).min(n);
            let v = per_frame[a..b]
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min);
            ((a + b - 1) as f64 / 2.0, v)
        })
        .collect()
}

/// An SVG plot of per-frame VMAF, drawn with plotters (its SVG backend: no fonts loaded, text
/// left to the browser): the lowest score of each pixel column ([`column_minima`]), the
/// target as a dashed line, worst frames ringed.
pub fn vmaf_svg(per_frame: &[f64], worst: &[WorstFrame], target: Option<f64>) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 320)).into_drawing_area();
        let _ = draw_vmaf(&root, per_frame, worst, target);
        let _ = root.present();
    }
    svg
}

fn draw_vmaf(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    per_frame: &[f64],
    worst: &[WorstFrame],
    target: Option<f64>,
) -> Result<(), String> {
    let text = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|e| text(&e))?;
    let n = per_frame.len();
    let lowest = per_frame
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .min(target.unwrap_or(100.0))
        .clamp(0.0, 100.0);
    let lo = ((lowest / 10.0).floor() * 10.0).min(90.0);
    let mut chart = ChartBuilder::on(root)
        .caption(
            format!("VMAF per frame (lowest per column), {n} frames"),
            ("sans-serif", 14),
        )
        .margin(10)
        // Room for the last frame's label.
        .margin_right(36)
        .x_label_area_size(26)
        .y_label_area_size(40)
        .build_cartesian_2d(0.0..(n.max(1) as f64), lo..100.0)
        .map_err(|e| text(&e))?;
    chart
        .configure_mesh()
        .x_labels(6)
        .y_labels(if 100.0 - lo > 40.0 { 6 } else { 11 })
        .x_label_formatter(&|x| format!("frame {x:.0}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .light_line_style(WHITE)
        .draw()
        .map_err(|e| text(&e))?;
    if let Some(t) = target {
        let red = RGBColor(0xcc, 0, 0);
        chart
            .draw_series(DashedLineSeries::new(
                [(0.0, t), (n.max(1) as f64, t)],
                6,
                4,
                red.stroke_width(1),
            ))
            .map_err(|e| text(&e))?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("target {t}"),
                (n.max(1) as f64 * 0.995, t),
                ("sans-serif", 12)
                    .into_font()
                    .color(&red)
                    .pos(Pos::new(HPos::Right, VPos::Bottom)),
            )))
            .map_err(|e| text(&e))?;
    }
    chart
        .draw_series(LineSeries::new(
            column_minima(per_frame, 940),
            RGBColor(0x1f, 0x5f, 0xbf).stroke_width(1),
        ))
        .map_err(|e| text(&e))?;
    chart
        .draw_series(worst.iter().map(|w| {
            Circle::new(
                (w.index as f64 + 0.5, w.vmaf.clamp(lo, 100.0)),
                4,
                RGBColor(0xcc, 0, 0).stroke_width(1),
            )
        }))
        .map_err(|e| text(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_bad_frame_survives_the_column_minima() {
        let mut v = vec![97.0; 5000];
        v[2500] = 61.0;
        let m = column_minima(&v, 940);
        assert_eq!(m.len(), 940);
        let low: Vec<&(f64, f64)> = m.iter().filter(|(_, y)| *y < 97.0).collect();
        assert_eq!(low.len(), 1, "{low:?}");
        assert_eq!(low[0].1, 61.0);
        assert!((low[0].0 - 2500.0).abs() < 5.0, "{low:?}");
        // Fewer frames than columns: one point each, at the frame.
        assert_eq!(
            column_minima(&[90.0, 80.0, 70.0], 940),
            [(0.0, 90.0), (1.0, 80.0), (2.0, 70.0)]
        );
        assert!(column_minima(&[], 940).is_empty());
    }

    #[test]
    fn the_plot_is_one_svg_with_the_dip_the_target_and_the_worst_frames() {
        let mut v = vec![97.0; 5000];
        v[2500] = 61.0;
        let worst = [WorstFrame {
            index: 2500,
            seconds: 104.2,
            vmaf: 61.0,
        }];
        let svg = vmaf_svg(&v, &worst, Some(95.0));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<svg").count(), 1);
        assert!(svg.contains("target 95") && svg.contains("5000 frames"));
        // The curve: one polyline of 940 points, whose lowest point (largest y) is the dip.
        let line = svg
            .lines()
            .find(|l| l.contains("<polyline") && l.contains("#1F5FBF"))
            .unwrap_or_else(|| panic!("no curve in {svg}"));
        let ys: Vec<f64> = line
            .split("points=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .split_whitespace()
            .map(|p| p.split(',').nth(1).unwrap().parse().unwrap())
            .collect();
        assert_eq!(ys.len(), 940);
        let top = ys.iter().copied().fold(f64::INFINITY, f64::min);
        let dip = ys.iter().copied().fold(0.0, f64::max);
        assert_eq!(ys.iter().filter(|y| **y > top + 1.0).count(), 1, "one dip");
        assert!(dip - top > 100.0, "the dip reaches far down: {top} {dip}");
        // The worst frame is ringed, at the dip's height.
        let ring = svg
            .lines()
            .find(|l| l.contains("<circle"))
            .unwrap_or_else(|| panic!("no ring in {svg}"));
        let cy: f64 = ring
            .split("cy=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((cy - dip).abs() < 1.5, "{cy} vs {dip}");
    }

    #[test]
    fn prune_removes_only_old_entries() {
        let d = tempfile::tempdir().unwrap();
        let old = d.path().join("old");
        let new = d.path().join("new");
        std::fs::create_dir(&old).unwrap();
        std::fs::create_dir(&new).unwrap();
        let f = std::fs::File::open(&old).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(15 * 86_400))
            .unwrap();
        assert_eq!(prune(d.path(), Duration::from_secs(14 * 86_400)), 1);
        assert!(!old.exists() && new.exists());
    }
}
