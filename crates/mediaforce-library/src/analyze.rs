//! Analyzers that find work and problems without encoding anything: the same content in two
//! places, files whose bit rate is far below their folder's (poor sources, poor candidates),
//! groups of alike files worth a `calibrate` first, and files that cannot be read. The
//! grouping is pure (table-tested); only a duplicate's confirmation decodes a few frames.

use crate::catalog::FileFacts;
use crate::core::decode::{DecodeOptions, VideoDecoder};
use crate::core::ffmpeg_next::format::Pixel;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The height class a file is grouped by (`2160p` ... `SD`, `unknown`).
pub fn resolution_class(height: Option<i64>) -> &'static str {
    match height {
        None => "unknown",
        Some(h) if h >= 1800 => "2160p",
        Some(h) if h >= 1300 => "1440p",
        Some(h) if h >= 1000 => "1080p",
        Some(h) if h >= 700 => "720p",
        Some(h) if h >= 540 => "576p",
        Some(h) if h >= 460 => "480p",
        Some(_) => "SD",
    }
}

fn folder_of(path: &str) -> PathBuf {
    Path::new(path)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// Files that share a content fingerprint: candidate duplicates (each group at least two
/// readable files), largest first.
pub fn duplicate_candidates(files: &[FileFacts]) -> Vec<Vec<&FileFacts>> {
    let mut by: BTreeMap<&str, Vec<&FileFacts>> = BTreeMap::new();
    for f in files.iter().filter(|f| f.status == "ok") {
        by.entry(&f.fingerprint).or_default().push(f);
    }
    let mut groups: Vec<Vec<&FileFacts>> = by.into_values().filter(|g| g.len() > 1).collect();
    groups.sort_by(|a, b| b[0].size.cmp(&a[0].size).then(a[0].path.cmp(&b[0].path)));
    groups
}

/// A file whose bit rate is far below its folder's for its resolution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityGap {
    /// The file.
    pub path: PathBuf,
    /// Its resolution class.
    pub resolution: String,
    /// Its bit rate, bits per second.
    pub bit_rate: i64,
    /// The median bit rate of its folder's files of that class.
    pub folder_median: i64,
    /// Its bit rate over the median.
    pub ratio: f64,
}

/// Files whose bit rate is under `ratio` of the median of their folder's files of the same
/// resolution class (at least `min_peers` files, itself included): likely poor sources, and
/// poor candidates for a re-encode. Flagged, never queued.
pub fn quality_gaps(files: &[FileFacts], ratio: f64, min_peers: usize) -> Vec<QualityGap> {
    let mut by: BTreeMap<(PathBuf, &str), Vec<&FileFacts>> = BTreeMap::new();
    for f in files
        .iter()
        .filter(|f| f.status == "ok" && !f.ours && f.bit_rate.is_some_and(|b| b > 0))
    {
        by.entry((folder_of(&f.path), resolution_class(f.height)))
            .or_default()
            .push(f);
    }
    let mut out = Vec::new();
    for ((_, class), group) in by {
        if group.len() < min_peers {
            continue;
        }
        let mut rates: Vec<i64> = group.iter().filter_map(|f| f.bit_rate).collect();
        rates.sort_unstable();
        let median = rates[rates.len() / 2];
        for f in group {
            let b = f.bit_rate.unwrap_or(0);
            let r = b as f64 / median as f64;
            if r < ratio {
                out.push(QualityGap {
                    path: PathBuf::from(&f.path),
                    resolution: class.to_string(),
                    bit_rate: b,
                    folder_median: median,
                    ratio: r,
                });
            }
        }
    }
    out.sort_by(|a, b| a.ratio.total_cmp(&b.ratio).then(a.path.cmp(&b.path)));
    out
}

/// A group of alike files (same folder, codec and resolution class), worth a `calibrate` of
/// the folder before its plan: one measured knob then serves them all.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Batch {
    /// The folder.
    pub folder: PathBuf,
    /// Their video codec.
    pub codec: String,
    /// Their resolution class.
    pub resolution: String,
    /// Files.
    pub files: usize,
    /// Their bytes.
    pub bytes: i64,
}

/// Groups of at least `min_files` alike files not written by mediaforce, largest first.
pub fn batches(files: &[FileFacts], min_files: usize) -> Vec<Batch> {
    let mut by: BTreeMap<(PathBuf, String, &str), (usize, i64)> = BTreeMap::new();
    for f in files.iter().filter(|f| f.status == "ok" && !f.ours) {
        let Some(codec) = &f.codec else { continue };
        let e = by
            .entry((
                folder_of(&f.path),
                codec.clone(),
                resolution_class(f.height),
            ))
            .or_default();
        e.0 += 1;
        e.1 += f.size;
    }
    let mut out: Vec<Batch> = by
        .into_iter()
        .filter(|(_, (n, _))| *n >= min_files)
        .map(|((folder, codec, res), (files, bytes))| Batch {
            folder,
            codec,
            resolution: res.to_string(),
            files,
            bytes,
        })
        .collect();
    out.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.folder.cmp(&b.folder)));
    out
}

/// The copy of a duplicate group to keep: the one in the shortest path (a library's main
/// folder rather than a copy under `Extras/` or `Downloads/`), then the first by path. Copies
/// with the same fingerprint hold the same bytes, so no copy is better by its picture.
pub fn keep_of<'a>(group: &[&'a FileFacts]) -> &'a FileFacts {
    group
        .iter()
        .min_by(|a, b| {
            a.path
                .matches('/')
                .count()
                .cmp(&b.path.matches('/').count())
                .then(a.path.cmp(&b.path))
        })
        .copied()
        .expect("a group is never empty")
}

/// Width and height of the frames compared.
const THUMB: (u32, u32) = (64, 36);

/// Grey thumbnails of the frames at `fractions` of `duration` seconds.
fn thumbnails(path: &Path, duration: f64, fractions: &[f64]) -> crate::core::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for f in fractions {
        let mut d = VideoDecoder::open(
            path,
            DecodeOptions::default()
                .pixel_format(Pixel::GRAY8)
                .size(THUMB.0, THUMB.1)
                .start(duration * f),
        )?;
        let Some(frame) = d.next_frame()? else {
            break;
        };
        let (stride, data) = (frame.frame.stride(0), frame.frame.data(0));
        let mut luma = Vec::with_capacity((THUMB.0 * THUMB.1) as usize);
        for row in 0..THUMB.1 as usize {
            luma.extend_from_slice(&data[row * stride..row * stride + THUMB.0 as usize]);
        }
        out.push(luma);
    }
    Ok(out)
}

/// Mean absolute difference of two thumbnails, 0-255.
pub fn thumb_difference(a: &[u8], b: &[u8]) -> f64 {
    if a.len() != b.len() || a.is_empty() {
        return f64::INFINITY;
    }
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(x.abs_diff(*y)))
        .sum::<f64>()
        / a.len() as f64
}

/// Whether two files hold the same picture: their durations (seconds) within half a second,
/// and the frames at 10%, 50% and 90% of it alike (a mean grey difference under 2 of 255 on
/// 64x36 thumbnails). `Ok(None)` when they differ; otherwise what was compared, in words.
pub fn same_picture(a: (&Path, f64), b: (&Path, f64)) -> crate::core::Result<Option<String>> {
    if (a.1 - b.1).abs() > 0.5 {
        return Ok(None);
    }
    let at = [0.1, 0.5, 0.9];
    let (ta, tb) = (thumbnails(a.0, a.1, &at)?, thumbnails(b.0, b.1, &at)?);
    if ta.len() != tb.len() || ta.is_empty() {
        return Ok(None);
    }
    let worst = ta
        .iter()
        .zip(&tb)
        .map(|(x, y)| thumb_difference(x, y))
        .fold(0.0, f64::max);
    Ok((worst < 2.0).then(|| {
        format!(
            "same fingerprint, durations {:.1} s and {:.1} s, {} frames alike (largest mean difference {worst:.2})",
            a.1,
            b.1,
            ta.len()
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(path: &str, size: i64, codec: &str, height: i64, rate: i64, fp: &str) -> FileFacts {
        FileFacts {
            id: 0,
            path: path.into(),
            root: "/lib".into(),
            size,
            codec: Some(codec.into()),
            width: None,
            height: Some(height),
            bit_rate: Some(rate),
            fingerprint: fp.into(),
            status: "ok".into(),
            error: None,
            ours: false,
        }
    }

    #[test]
    fn duplicates_are_readable_files_sharing_a_fingerprint() {
        let mut unreadable = f("/lib/x/bad.mkv", 10, "h264", 1080, 1, "same");
        unreadable.status = "error".into();
        let files = [
            f("/lib/Films/a.mkv", 100, "h264", 1080, 1, "same"),
            f("/lib/Downloads/new/a.mkv", 100, "h264", 1080, 1, "same"),
            f("/lib/Films/b.mkv", 500, "h264", 1080, 1, "other"),
            unreadable,
        ];
        let groups = duplicate_candidates(&files);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].len(), 2, "the unreadable copy is not one");
        assert_eq!(keep_of(&groups[0]).path, "/lib/Films/a.mkv");
    }

    #[test]
    fn a_quality_gap_is_far_below_its_folders_median_for_its_resolution() {
        let files = [
            f("/lib/S/e1.mkv", 1, "h264", 1080, 8_000_000, "1"),
            f("/lib/S/e2.mkv", 1, "h264", 1080, 7_000_000, "2"),
            f("/lib/S/e3.mkv", 1, "h264", 1080, 900_000, "3"),
            f("/lib/S/e4.mkv", 1, "h264", 1080, 6_000_000, "4"),
            // Another class in the same folder is its own group (too few to judge).
            f("/lib/S/sd.mkv", 1, "h264", 360, 100_000, "5"),
        ];
        let gaps = quality_gaps(&files, 0.25, 3);
        assert_eq!(gaps.len(), 1, "{gaps:?}");
        assert_eq!(gaps[0].path, Path::new("/lib/S/e3.mkv"));
        assert_eq!(gaps[0].folder_median, 7_000_000);
        assert!((gaps[0].ratio - 0.9 / 7.0).abs() < 1e-9);
        assert!(quality_gaps(&files, 0.25, 6).is_empty(), "too few peers");
    }

    #[test]
    fn batches_group_five_or_more_alike_files() {
        let mut files: Vec<FileFacts> = (0..5)
            .map(|i| {
                f(
                    &format!("/lib/S/e{i}.mkv"),
                    10,
                    "mpeg4",
                    576,
                    1,
                    &i.to_string(),
                )
            })
            .collect();
        files.push(f("/lib/S/hd.mkv", 10, "mpeg4", 1080, 1, "x"));
        files.push(f("/lib/T/e.mkv", 10, "mpeg4", 576, 1, "y"));
        let b = batches(&files, 5);
        assert_eq!(
            b,
            [Batch {
                folder: "/lib/S".into(),
                codec: "mpeg4".into(),
                resolution: "576p".into(),
                files: 5,
                bytes: 50
            }]
        );
        files[0].ours = true;
        assert!(
            batches(&files, 5).is_empty(),
            "mediaforce's own encodes are not a batch"
        );
    }

    #[test]
    fn resolution_classes_and_thumbnail_differences() {
        for (h, class) in [
            (None, "unknown"),
            (Some(2160), "2160p"),
            (Some(1080), "1080p"),
            (Some(800), "720p"),
            (Some(576), "576p"),
            (Some(480), "480p"),
            (Some(240), "SD"),
        ] {
            assert_eq!(resolution_class(h), class, "{h:?}");
        }
        assert_eq!(thumb_difference(&[10, 20], &[12, 16]), 3.0);
        assert_eq!(thumb_difference(&[1], &[1, 2]), f64::INFINITY);
    }
}
