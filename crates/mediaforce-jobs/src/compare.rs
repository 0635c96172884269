//! Review material for a staged encode: side-by-side clips (source | encode) at scene cuts in the
//! busiest parts, PNG stills of the worst-scoring frames, and a per-frame VMAF plot (SVG).
//! Everything goes to a cache directory that is pruned of material older than 14 days.

use crate::core::compose::{
    activity, review_points, side_by_side_clip, side_by_side_still, SideBySide,
};
use crate::metrics::WorstFrame;
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

/// An SVG plot of per-frame VMAF: the lowest score of each pixel column (so dips stay visible
/// on long videos), the target as a dashed line, worst frames marked.
pub fn vmaf_svg(per_frame: &[f64], worst: &[WorstFrame], target: Option<f64>) -> String {
    let (w, h, left, bottom, top) = (1000.0, 320.0, 50.0, 30.0, 20.0);
    let plot_w = w - left - 10.0;
    let plot_h = h - bottom - top;
    let lo = per_frame
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .min(target.unwrap_or(100.0))
        .clamp(0.0, 100.0);
    let lo = (lo / 10.0).floor() * 10.0;
    let lo = if lo >= 100.0 { 90.0 } else { lo };
    let y = |v: f64| top + plot_h * (1.0 - (v - lo) / (100.0 - lo));
    let n = per_frame.len();
    let cols = (plot_w as usize).min(n).max(1);
    let mut points = String::new();
    for c in 0..cols {
        let a = c * n / cols;
        let b = ((c + 1) * n / cols).max(a + 1).min(n);
        let v = per_frame[a..b]
            .iter()
            .copied()
            .fold(f64::INFINITY, f64::min);
        let x = left + plot_w * (c as f64 + 0.5) / cols as f64;
        points += &format!("{x:.1},{:.1} ", y(v));
    }
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let mut v = lo;
    while v <= 100.0 {
        s += &format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{v:.0}</text>\n",
            w - 10.0,
            left - 6.0,
            y(v) + 4.0,
            y = y(v)
        );
        v += if 100.0 - lo > 40.0 { 20.0 } else { 10.0 };
    }
    if let Some(t) = target {
        s += &format!(
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#c00\" stroke-dasharray=\"6 4\"/><text x=\"{}\" y=\"{:.1}\" fill=\"#c00\" text-anchor=\"end\">target {t}</text>\n",
            w - 10.0,
            w - 12.0,
            y(t) - 4.0,
            y = y(t)
        );
    }
    s += &format!(
        "<polyline fill=\"none\" stroke=\"#1f5fbf\" stroke-width=\"1.2\" points=\"{points}\"/>\n"
    );
    for wf in worst {
        let x = left + plot_w * (wf.index as f64 + 0.5) / n.max(1) as f64;
        s += &format!(
            "<circle cx=\"{x:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"none\" stroke=\"#c00\"/>\n",
            y(wf.vmaf)
        );
    }
    s += &format!(
        "<text x=\"{left}\" y=\"{}\">frame 0</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">frame {}</text>\n<text x=\"{left}\" y=\"14\">VMAF per frame (lowest per column), {n} frames</text>\n</svg>\n",
        h - 8.0,
        w - 10.0,
        h - 8.0,
        n.saturating_sub(1)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plot_keeps_dips_and_marks_target() {
        let mut v = vec![97.0; 5000];
        v[2500] = 61.0;
        let svg = vmaf_svg(&v, &[], Some(95.0));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("target 95"));
        // The single bad frame survives the per-column minimum: some point sits at y(61).
        let lo = 60.0;
        let y61 = 20.0 + 270.0 * (1.0 - (61.0 - lo) / (100.0 - lo));
        assert!(svg.contains(&format!(",{y61:.1} ")), "dip missing");
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
