//! Quality tuning: per-folder calibration of the search's first guess.

use crate::{App, AppError, ErrorKind, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One file a calibration searched.
#[derive(Debug, Clone, Serialize)]
pub struct CalibratedFile {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size_bytes: u64,
    /// Its picture height.
    pub height: u32,
    /// The knob its search chose (`None`: no knob met the target).
    pub knob: Option<f64>,
    /// The chosen probe's predicted VMAF (the target statistic).
    pub vmaf: Option<f64>,
    /// The chosen probe's predicted size, in percent of the source.
    pub predicted_percent: Option<f64>,
    /// How many probes the search ran.
    pub probes: usize,
    /// Why no knob was chosen, when none was.
    pub note: Option<String>,
}

/// What `calibrate` measured and saved, per resolution class.
#[derive(Debug, Clone, Serialize)]
pub struct CalibrationView {
    /// The folder.
    pub folder: PathBuf,
    /// The encoder its policy names.
    pub encoder: String,
    /// The VMAF target searched for.
    pub target_vmaf: f64,
    /// Every file searched.
    pub files: Vec<CalibratedFile>,
    /// (resolution class, median knob, spread) saved as the folder's first guesses.
    pub saved: Vec<(String, f64, f64)>,
    /// The folder's override as saved (policy TOML).
    pub override_text: String,
}

impl App {
    /// Calibrate `folder` (under a library root): search `files` representative files of it
    /// (spread over its size range) on samples, as the plan would, and save the median knob
    /// of each resolution class as the folder's first guess (`[knob.ENCODER]` in its
    /// override, beside what the override already sets), with a note of what it was made
    /// from. `policy show` then names the rule as the value's source. `on_file` hears of each
    /// file as its search starts.
    pub fn calibrate(
        &self,
        folder: &Path,
        files: usize,
        on_file: &mut dyn FnMut(&Path, usize, usize),
    ) -> Result<CalibrationView> {
        let folder = self.folder(folder)?;
        if !self.settings().roots.iter().any(|r| folder.starts_with(r)) {
            return Err(AppError::new(
                ErrorKind::NotFound,
                format!("{}: not under a library root", folder.display()),
            ));
        }
        let (all, _) = self
            .catalog
            .library_page(&mediaforce::catalog::LibraryQuery {
                folder: Some(folder.display().to_string()),
                sort: Some("size".into()),
                limit: Some(1000),
                ..Default::default()
            })?;
        let all: Vec<_> = all
            .into_iter()
            .filter(|f| f.file.status == "ok" && f.media.height.is_some())
            .collect();
        if all.is_empty() {
            return Err(AppError::new(
                ErrorKind::NotFound,
                format!(
                    "{}: no catalogued video files (mediaforce scan)",
                    folder.display()
                ),
            ));
        }
        let picks = spread_picks(all.len(), files.max(1));
        let policy = self.policies().resolve(&folder.join("x.mkv")).policy;
        let mut searched = Vec::new();
        for (n, &i) in picks.iter().enumerate() {
            let f = &all[i];
            on_file(&f.file.path, n + 1, picks.len());
            searched.push(self.calibrate_file(f)?);
        }
        let mut classes: std::collections::BTreeMap<&str, Vec<f64>> = Default::default();
        for f in &searched {
            if let Some(k) = f.knob {
                classes
                    .entry(mediaforce::policy::resolution_class(f.height))
                    .or_default()
                    .push(k);
            }
        }
        if classes.is_empty() {
            return Err(AppError::new(
                ErrorKind::Refused,
                format!(
                    "{}: no search met the target {} on the files tried; nothing saved",
                    folder.display(),
                    policy.encode.target_vmaf
                ),
            ));
        }
        let current =
            mediaforce::policy::folder_override(&self.paths.data_dir, &folder)?.unwrap_or_default();
        let (text, saved) = with_first_guesses(&current, &policy.encode.encoder, &classes)?;
        let summary = saved
            .iter()
            .map(|(c, m, s)| format!("{c} {m} (spread {s})"))
            .collect::<Vec<_>>()
            .join(", ");
        let note = format!(
            "calibrated by mediaforce calibrate on {}: {} for VMAF {} from {} of {} files: {summary}",
            mediaforce::manifest::utc_timestamp(mediaforce::db::now()),
            policy.encode.encoder,
            policy.encode.target_vmaf,
            searched.iter().filter(|f| f.knob.is_some()).count(),
            all.len(),
        );
        self.set_folder_override(&folder, &text, &note)?;
        Ok(CalibrationView {
            folder,
            encoder: policy.encode.encoder,
            target_vmaf: policy.encode.target_vmaf,
            files: searched,
            saved,
            override_text: text,
        })
    }

    /// One file of a calibration: the search its policy asks for, measured afresh, its points
    /// recorded; a failed search is a file without a knob, with the reason.
    fn calibrate_file(&self, f: &mediaforce::catalog::LibraryFile) -> Result<CalibratedFile> {
        let height = f.media.height.unwrap_or(1080) as u32;
        // The file's policy as an encode would search it, measured afresh.
        let cfg = self.search_config_at(
            &f.file.path,
            height,
            &crate::search::SearchRequest {
                cache: false,
                learned_guess: Some(false),
                ..Default::default()
            },
        )?;
        let report =
            mediaforce::search::crf_search(&f.file.path, &cfg, &mut mediaforce::events::Quiet);
        if let (Ok(r), Ok(fp)) = (&report, mediaforce::cache::source_fingerprint(&f.file.path)) {
            let codec = f.media.video_codec.clone().unwrap_or_default();
            self.catalog.record_points(&mediaforce::tuning::points_of(
                r,
                "calibrate",
                &fp,
                &codec,
                false,
            ))?;
        }
        let (knob, vmaf, percent, probes, note) = match report {
            Ok(r) => {
                let c = r.chosen();
                (
                    c.map(|p| p.knob),
                    c.map(|p| p.score),
                    c.map(|p| p.predicted_percent),
                    r.probes.len(),
                    match &r.outcome {
                        mediaforce::search::Outcome::NotFound { reason, .. } => {
                            Some(reason.clone())
                        }
                        _ => None,
                    },
                )
            }
            Err(e) => (None, None, None, 0, Some(e.to_string())),
        };
        Ok(CalibratedFile {
            path: f.file.path.clone(),
            size_bytes: f.file.size,
            height,
            knob,
            vmaf,
            predicted_percent: percent,
            probes,
            note,
        })
    }
}

/// A first guess saved by a calibration: the resolution class, its knob and the spread of the
/// knobs it came from.
type SavedGuess = (String, f64, f64);

/// The folder override `current` with the median knob of each resolution class set as
/// `encoder`'s first guess; returns the new text and, per class, the knob and its spread.
fn with_first_guesses(
    current: &str,
    encoder: &str,
    classes: &std::collections::BTreeMap<&str, Vec<f64>>,
) -> Result<(String, Vec<SavedGuess>)> {
    let mut table: toml::Table = toml::from_str(current).unwrap_or_default();
    let knob = table
        .entry("knob")
        .or_insert_with(|| toml::Value::Table(Default::default()));
    let per_encoder = knob
        .as_table_mut()
        .expect("knob is a table")
        .entry(encoder.to_string())
        .or_insert_with(|| toml::Value::Table(Default::default()));
    let mut saved = Vec::new();
    for (class, knobs) in classes {
        let (median, spread) = mediaforce::stage::folder_guess(knobs).unwrap_or((knobs[0], 0.0));
        if let Some(t) = per_encoder.as_table_mut() {
            t.insert(class.to_string(), toml::Value::Float(median));
        }
        saved.push((class.to_string(), median, spread));
    }
    let text =
        toml::to_string(&table).map_err(|e| AppError::new(ErrorKind::Internal, e.to_string()))?;
    Ok((text, saved))
}

/// `want` indexes spread evenly over `0..n` (the smallest, the largest and between), without
/// repeats.
pub fn spread_picks(n: usize, want: usize) -> Vec<usize> {
    if n == 0 {
        return Vec::new();
    }
    let want = want.min(n);
    if want == 1 {
        return vec![n / 2];
    }
    let mut out: Vec<usize> = (0..want)
        .map(|i| ((i * (n - 1)) as f64 / (want - 1) as f64).round() as usize)
        .collect();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::spread_picks;

    #[test]
    fn picks_spread_over_the_range() {
        for (n, want, picks) in [
            (0, 3, vec![]),
            (1, 3, vec![0]),
            (5, 1, vec![2]),
            (5, 3, vec![0, 2, 4]),
            (10, 3, vec![0, 5, 9]),
            (2, 5, vec![0, 1]),
            (100, 4, vec![0, 33, 66, 99]),
        ] {
            assert_eq!(spread_picks(n, want), picks, "{n} {want}");
        }
    }
}

/// What `grid` encodes.
#[derive(Debug, Clone)]
pub struct GridOptions {
    /// Encoder adapter id.
    pub encoder: String,
    /// Presets (the adapter's default when empty).
    pub presets: Vec<String>,
    /// Knob values.
    pub knobs: Vec<f64>,
    /// Number of samples (the search's default when `None`).
    pub samples: Option<usize>,
    /// Sample length in seconds (the search's default when `None`).
    pub sample_seconds: Option<f64>,
    /// Picture heights to encode at (scaled down, scored upscaled to the source's size); empty:
    /// the source's own size only.
    pub resolutions: Vec<u32>,
    /// Extra metrics per row (`psnr`, `ssim`, `ms-ssim`...); a held row without them is
    /// measured again.
    pub metrics: Vec<String>,
    /// Encode and score the whole file for each row instead of the samples (at the source's
    /// size only).
    pub full: bool,
}

/// What a grid run did.
#[derive(Debug, Clone, Serialize)]
pub struct GridView {
    /// The JSON Lines file.
    pub out: PathBuf,
    /// Rows appended this run.
    pub written: usize,
    /// Rows the file already held (not measured again).
    pub skipped: usize,
    /// Rows new to the store.
    pub stored: usize,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// Parse `A..B:STEP` (both ends included) into knob values.
pub fn parse_knob_range(s: &str) -> std::result::Result<Vec<f64>, String> {
    let bad = || format!("{s:?}: expected A..B:STEP, like 20..40:2");
    let (range, step) = s.split_once(':').ok_or_else(bad)?;
    let (a, b) = range.split_once("..").ok_or_else(bad)?;
    let (a, b, step): (f64, f64, f64) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
        step.trim().parse().map_err(|_| bad())?,
    );
    if !(step > 0.0 && a <= b && (b - a) / step <= 1000.0) {
        return Err(bad());
    }
    let n = ((b - a) / step + 1e-9).floor() as usize;
    Ok((0..=n).map(|i| a + step * i as f64).collect())
}

impl App {
    /// The corpus harness: encode every (input, preset, knob) on the search's in-memory
    /// samples, score it, and append one JSON Lines row per encode to `out` (source
    /// fingerprint and features, encoder and its version, preset and params, knob, size, bit
    /// rate, encode time, VMAF mean/harmonic/p5/p1/min). Resumable: rows `out` already holds
    /// are not measured again. Rows are also kept in the store. `on_row` hears of each new row.
    pub fn grid(
        &self,
        inputs: &[PathBuf],
        opts: &GridOptions,
        out: &Path,
        on_row: &mut dyn FnMut(&mediaforce::tuning::TuningPoint),
    ) -> Result<GridView> {
        use std::io::Write;
        let started = std::time::Instant::now();
        let io = |e: std::io::Error| {
            AppError::new(ErrorKind::Invalid, format!("{}: {e}", out.display()))
        };
        let mut held = held_rows(out)?;
        let wanted = metric_outputs(&opts.metrics)?;
        let has_all = |have: &std::collections::BTreeSet<String>| {
            wanted.iter().all(|w| {
                have.contains(*w) || (*w == "Cambi_feature_cambi_score" && have.contains("cambi"))
            })
        };
        let adapter = mediaforce::codecs::find(&opts.encoder)
            .map_err(|e| AppError::new(ErrorKind::Invalid, e.to_string()))?;
        if opts.full && !opts.resolutions.is_empty() {
            return Err(AppError::new(
                ErrorKind::Invalid,
                "--full encodes whole files at the source's size; --resolution works on samples",
            ));
        }
        let version = adapter.version();
        let presets = if opts.presets.is_empty() {
            vec![adapter.default_preset().to_string()]
        } else {
            opts.presets.clone()
        };
        let cache = self.probe_cache()?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(out)
            .map_err(io)?;
        let (mut written, mut skipped, mut stored) = (0, 0, 0);
        for input in inputs {
            let fingerprint = mediaforce::cache::source_fingerprint(input).map_err(|e| {
                AppError::new(ErrorKind::NotFound, format!("{}: {e}", input.display()))
            })?;
            let info = mediaforce_core_probe(input)?;
            let video = info.primary_video().ok_or_else(|| {
                AppError::new(
                    ErrorKind::Invalid,
                    format!("{}: no video stream", input.display()),
                )
            })?;
            let codec = video.codec.clone();
            let v = video.video.clone().ok_or_else(|| {
                AppError::new(
                    ErrorKind::Invalid,
                    format!("{}: no video stream", input.display()),
                )
            })?;
            let resolutions = grid_heights(adapter.as_ref(), &v, &opts.resolutions);
            for preset in &presets {
                for &(resolution, height) in &resolutions {
                    let missing: Vec<f64> = opts
                        .knobs
                        .iter()
                        .copied()
                        .filter(|&k| {
                            !held
                                .get(&(
                                    fingerprint.clone(),
                                    adapter.id().to_string(),
                                    version.clone(),
                                    preset.clone(),
                                    k.to_bits(),
                                    opts.full,
                                    height,
                                ))
                                .is_some_and(has_all)
                        })
                        .collect();
                    skipped += opts.knobs.len() - missing.len();
                    if missing.is_empty() {
                        continue;
                    }
                    let mut cfg = grid_config(adapter.id(), preset, resolution, opts);
                    cfg.cache = Some(cache.clone());
                    let source = GridSource {
                        input,
                        fingerprint: &fingerprint,
                        codec: &codec,
                        size_bytes: info.size_bytes,
                    };
                    let points = if opts.full {
                        // The features come from the samples; no probe is encoded.
                        cfg.max_probes = 0;
                        let scratch = out.parent().filter(|d| !d.as_os_str().is_empty());
                        full_rows(
                            &source,
                            &cfg,
                            adapter.as_ref(),
                            &missing,
                            &opts.metrics,
                            scratch.unwrap_or(Path::new(".")),
                        )?
                    } else {
                        cfg.knobs = missing;
                        let report = mediaforce::search::crf_search(
                            input,
                            &cfg,
                            &mut mediaforce::events::Quiet,
                        )
                        .map_err(|e| {
                            AppError::new(ErrorKind::Invalid, format!("{}: {e}", input.display()))
                        })?;
                        mediaforce::tuning::points_of(&report, "grid", &fingerprint, &codec, false)
                    };
                    for p in &points {
                        let have: std::collections::BTreeSet<String> =
                            p.metrics.keys().cloned().collect();
                        if !held.get(&p.key()).is_some_and(|h| h.is_superset(&have)) {
                            held.insert(p.key(), have);
                            let line = serde_json::to_string(p)
                                .map_err(|e| AppError::new(ErrorKind::Internal, e.to_string()))?;
                            writeln!(file, "{line}").map_err(io)?;
                            written += 1;
                            on_row(p);
                        }
                    }
                    file.flush().map_err(io)?;
                    stored += self.catalog.record_points(&points)?;
                }
            }
        }
        Ok(GridView {
            out: out.to_path_buf(),
            written,
            skipped,
            stored,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// The rows a grid file already holds, by key, with the metrics each carries.
fn held_rows(
    out: &Path,
) -> Result<
    std::collections::HashMap<mediaforce::point::PointKey, std::collections::BTreeSet<String>>,
> {
    let mut held = std::collections::HashMap::new();
    let Ok(text) = std::fs::read_to_string(out) else {
        return Ok(held);
    };
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let p: mediaforce::tuning::TuningPoint = serde_json::from_str(line).map_err(|e| {
            AppError::new(
                ErrorKind::Invalid,
                format!("{}: line {}: not a grid row ({e})", out.display(), n + 1),
            )
        })?;
        held.insert(p.key(), p.metrics.keys().cloned().collect());
    }
    Ok(held)
}

/// The libvmaf outputs the asked metrics come back as; an unknown metric is refused with the
/// known ones.
fn metric_outputs(metrics: &[String]) -> Result<Vec<&'static str>> {
    let mut wanted = Vec::new();
    for m in metrics {
        let (_, _, outputs) = mediaforce::metrics::score::FEATURES
            .iter()
            .find(|(user, extractor, _)| user == m || extractor == m)
            .ok_or_else(|| {
                AppError::new(
                    ErrorKind::Invalid,
                    format!(
                        "unknown metric {m:?} (known: {})",
                        mediaforce::metrics::score::FEATURES
                            .iter()
                            .map(|f| f.0)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?;
        wanted.extend_from_slice(outputs);
    }
    Ok(wanted)
}

/// Each asked resolution (`None`: the source's) with the encoded height it comes to, as the
/// search computes it, so that rows already held are recognised.
fn grid_heights(
    adapter: &dyn mediaforce::codecs::CodecAdapter,
    v: &mediaforce::core::probe::VideoInfo,
    asked: &[u32],
) -> Vec<(Option<u32>, u32)> {
    let pixel = v
        .pixel_format
        .as_deref()
        .and_then(|n| n.parse().ok())
        .map(|f| adapter.pick_pixel_format(f));
    let native = pixel.map_or(v.height, |p| {
        mediaforce::core::encode::encodable_size(adapter.libav_name(), p, v.width, v.height).1
    });
    if asked.is_empty() {
        return vec![(None, native)];
    }
    asked
        .iter()
        .map(|&r| {
            let h = pixel
                .and_then(|p| {
                    mediaforce::search::scaled_size(adapter.libav_name(), p, v.width, native, r)
                })
                .map_or(native, |(_, h)| h);
            (Some(r), h)
        })
        .collect()
}

/// A grid's search: exactly the asked knobs at `preset` (set by the caller), no target and
/// no size guard, the asked samples, resolution and metrics.
fn grid_config(
    encoder: &str,
    preset: &str,
    resolution: Option<u32>,
    opts: &GridOptions,
) -> mediaforce::search::SearchConfig {
    let asked = mediaforce::policy::SearchOverrides {
        encoder: Some(encoder.to_string()),
        preset: Some(preset.to_string()),
        samples: opts.samples,
        sample_seconds: opts.sample_seconds,
        resolution,
        metrics: opts.metrics.clone(),
        max_encoded_percent: Some(f64::INFINITY),
        ..Default::default()
    };
    mediaforce::policy::search_config(mediaforce::policy::SearchBase::Plain, 0, &asked)
}

/// What `ladder` measures.
#[derive(Debug, Clone)]
pub struct LadderOptions {
    /// Encoder adapter id.
    pub encoder: String,
    /// Preset (the adapter's default when `None`).
    pub preset: Option<String>,
    /// Picture heights (the source's and the usual streaming heights below it when empty).
    pub resolutions: Vec<u32>,
    /// Knob values (six around the encoder's default when empty).
    pub knobs: Vec<f64>,
    /// How rungs are picked.
    pub rules: mediaforce::ladder::RungRules,
    /// Number of samples (the search's default when `None`).
    pub samples: Option<usize>,
    /// Sample length in seconds (the search's default when `None`).
    pub sample_seconds: Option<f64>,
    /// Write ladder.json, master.m3u8 and ladder.svg here.
    pub out: Option<PathBuf>,
}

/// A measured ladder and where it was written.
#[derive(Debug, Clone, Serialize)]
pub struct LadderView {
    /// The ladder.
    #[serde(flatten)]
    pub ladder: mediaforce::ladder::Ladder,
    /// The files written, when asked.
    pub files: Option<mediaforce::ladder::LadderFiles>,
}

impl App {
    /// The Pareto ladder of `input`: each (resolution, knob) encoded on the search's samples,
    /// scored upscaled to the source's size, the hull and the rungs on it (see
    /// [`mediaforce::ladder`]); written to `opts.out` when given. Probes are cached like a
    /// search's, so a rerun with other rung rules encodes nothing.
    pub fn ladder(
        &self,
        input: &Path,
        opts: &LadderOptions,
        events: &mut dyn mediaforce::events::EventSink,
    ) -> Result<LadderView> {
        let invalid = |e: &dyn std::fmt::Display| {
            AppError::new(ErrorKind::Invalid, format!("{}: {e}", input.display()))
        };
        let adapter = mediaforce::codecs::find(&opts.encoder).map_err(|e| invalid(&e))?;
        let info = mediaforce_core_probe(input)?;
        let height = info
            .primary_video()
            .and_then(|s| s.video.as_ref().map(|v| v.height))
            .ok_or_else(|| invalid(&"no video stream"))?;
        let asked = mediaforce::policy::SearchOverrides {
            encoder: Some(adapter.id().to_string()),
            preset: opts.preset.clone(),
            knobs: if opts.knobs.is_empty() {
                mediaforce::ladder::default_knobs(&adapter.knob(), adapter.default_knob(height))
            } else {
                opts.knobs.clone()
            },
            samples: opts.samples,
            sample_seconds: opts.sample_seconds,
            ..Default::default()
        };
        let request = crate::search::SearchRequest {
            overrides: asked,
            plain: true,
            ..Default::default()
        };
        let search = self.search_config_at(input, height, &request)?;
        let cfg = mediaforce::ladder::LadderConfig {
            search,
            resolutions: if opts.resolutions.is_empty() {
                mediaforce::ladder::default_resolutions(height)
            } else {
                opts.resolutions.clone()
            },
            rules: opts.rules,
        };
        let ladder = mediaforce::ladder::ladder(input, &cfg, events).map_err(|e| invalid(&e))?;
        let files = match &opts.out {
            Some(dir) => Some(ladder.write(dir).map_err(|e| {
                AppError::new(ErrorKind::Invalid, format!("{}: {e}", dir.display()))
            })?),
            None => None,
        };
        Ok(LadderView { ladder, files })
    }
}

/// A grid's source, as its rows name it.
struct GridSource<'a> {
    input: &'a Path,
    fingerprint: &'a str,
    codec: &'a str,
    size_bytes: u64,
}

/// `grid --full`: each knob encoded over the whole file (to a hidden scratch directory in
/// `scratch_in`, beside the grid's file, removed at once) and scored in the same pass; the row's
/// sizes are the video stream's own.
fn full_rows(
    source: &GridSource<'_>,
    cfg: &mediaforce::search::SearchConfig,
    adapter: &dyn mediaforce::codecs::CodecAdapter,
    knobs: &[f64],
    metrics: &[String],
    scratch_in: &Path,
) -> Result<Vec<mediaforce::tuning::TuningPoint>> {
    let input = source.input;
    let invalid = |e: &dyn std::fmt::Display| {
        AppError::new(ErrorKind::Invalid, format!("{}: {e}", input.display()))
    };
    let report = mediaforce::search::crf_search(input, cfg, &mut mediaforce::events::Quiet)
        .map_err(|e| invalid(&e))?;
    let features = report
        .features
        .ok_or_else(|| invalid(&"no features measured"))?;
    let (width, height) = report
        .cropped_to
        .unwrap_or((features.width, features.height));
    let scratch = tempfile::Builder::new()
        .prefix(".mediaforce-grid-")
        .tempdir_in(scratch_in)
        .map_err(|e| invalid(&e))?;
    let duration = features.duration_seconds.max(1e-9);
    let mut rows = Vec::new();
    for &knob in knobs {
        let out = scratch.path().join("full.mkv");
        let (encode, verified) = crate::files::encode_knob_measured(
            input,
            &out,
            crate::files::KnobSetting {
                encoder: adapter.id(),
                preset: Some(&report.preset),
                knob,
            },
            mediaforce::core::transcode::TranscodeOptions::new(adapter.libav_name()),
            Some(cfg.scale),
            metrics,
            &mut || Box::new(mediaforce::core::NoProgress),
        )?;
        let _ = std::fs::remove_file(&out);
        let verified = verified.ok_or_else(|| invalid(&"the full encode was not scored"))?;
        let bytes = encode.transcode.video_bytes;
        rows.push(mediaforce::tuning::TuningPoint {
            origin: "grid".into(),
            source: input.to_path_buf(),
            source_fingerprint: source.fingerprint.to_string(),
            source_codec: source.codec.to_string(),
            features,
            encoder: adapter.id().to_string(),
            encoder_version: adapter.version(),
            preset: report.preset.clone(),
            params: mediaforce::tuning::params_of(adapter, &report.preset, knob),
            knob_name: adapter.knob().name.to_string(),
            knob,
            width,
            height,
            full: true,
            samples: 0,
            sample_seconds: features.duration_seconds,
            sample_bytes: bytes,
            bytes,
            bit_rate: bytes as f64 * 8.0 / duration,
            percent: 100.0 * bytes as f64 / source.size_bytes.max(1) as f64,
            encode_seconds: encode.transcode.seconds,
            vmaf_mean: verified.vmaf.mean,
            vmaf_harmonic: verified.vmaf.harmonic_mean,
            vmaf_p5: verified.vmaf.p5,
            vmaf_p1: verified.vmaf.p1,
            vmaf_min: verified.vmaf.min,
            metrics: verified.metrics,
        });
    }
    Ok(rows)
}

fn mediaforce_core_probe(input: &Path) -> Result<mediaforce::core::probe::MediaInfo> {
    mediaforce::core::probe::probe_headers(input)
        .map_err(|e| AppError::new(ErrorKind::Invalid, format!("{}: {e}", input.display())))
}

#[cfg(test)]
mod grid_tests {
    use super::{parse_knob_range, with_first_guesses};

    #[test]
    fn calibration_sets_each_class_median_beside_what_the_override_held() {
        let classes: std::collections::BTreeMap<&str, Vec<f64>> =
            [("1080p", vec![30.0, 34.0, 32.0]), ("sd", vec![28.0])]
                .into_iter()
                .collect();
        let current = "[encode]\ntarget_vmaf = 94.0\n[knob.libsvtav1]\n720p = 31.0\n";
        let (text, saved) = with_first_guesses(current, "libsvtav1", &classes).unwrap();
        assert_eq!(
            saved,
            vec![
                ("1080p".to_string(), 32.0, 4.0),
                ("sd".to_string(), 28.0, 0.0)
            ]
        );
        let t: toml::Table = toml::from_str(&text).unwrap();
        assert_eq!(t["encode"]["target_vmaf"].as_float(), Some(94.0));
        let k = &t["knob"]["libsvtav1"];
        let got: Vec<(&str, Option<f64>)> = ["720p", "1080p", "sd"]
            .iter()
            .map(|c| (*c, k.get(c).and_then(toml::Value::as_float)))
            .collect();
        assert_eq!(
            got,
            vec![
                ("720p", Some(31.0)),
                ("1080p", Some(32.0)),
                ("sd", Some(28.0))
            ]
        );
    }

    #[test]
    fn knob_ranges_parse_with_both_ends() {
        assert_eq!(
            parse_knob_range("20..26:2").unwrap(),
            [20.0, 22.0, 24.0, 26.0]
        );
        assert_eq!(parse_knob_range("30..31:0.5").unwrap(), [30.0, 30.5, 31.0]);
        assert_eq!(parse_knob_range("30..30:1").unwrap(), [30.0]);
        for bad in ["20..26", "26..20:2", "a..b:1", "20..26:0", "0..100000:1"] {
            assert!(parse_knob_range(bad).is_err(), "{bad}");
        }
    }
}

/// The knob model the store's points give, and how well it predicts its own sources.
#[derive(Debug, Clone, Serialize)]
pub struct ModelView {
    /// The fitted model (`None`: no source's points bracket the target).
    pub model: Option<mediaforce::model::KnobModel>,
    /// The terms the coefficients multiply.
    pub terms: Vec<&'static str>,
    /// Leave-one-out accuracy of each kind (none with fewer than three sources).
    pub leave_one_out: Vec<mediaforce::model::Accuracy>,
    /// Whether the search uses it for first probes (enough sources).
    pub used: bool,
    /// Points in the store.
    pub points: usize,
    /// Points of the shipped corpus (public clips) it was fitted on besides.
    pub shipped_points: usize,
}

impl App {
    /// Fit the knob model for `encoder`, `preset`, `stat` and `target` (the defaults policy's
    /// where not given) on every point in the store and the shipped corpus's.
    pub fn knob_model(
        &self,
        encoder: Option<&str>,
        preset: Option<&str>,
        target: Option<f64>,
    ) -> Result<ModelView> {
        let global = self.policies().defaults();
        let encoder = encoder.unwrap_or(&global.encode.encoder).to_string();
        let adapter = mediaforce::codecs::find(&encoder)
            .map_err(|e| AppError::new(ErrorKind::Invalid, e.to_string()))?;
        let preset = preset
            .map(str::to_string)
            .filter(|p| !p.is_empty())
            .or_else(|| Some(global.encode.preset.clone()).filter(|p| !p.is_empty()))
            .unwrap_or_else(|| adapter.default_preset().to_string());
        let target = target.unwrap_or(global.encode.target_vmaf);
        let stat = global.encode.target_stat;
        let own_points = self.catalog.all_points()?;
        let own = own_points.len();
        let points = mediaforce::model::with_shipped(own_points);
        let (obs, _) =
            mediaforce::model::observations_for(&points, adapter.id(), &preset, stat, target);
        let model = mediaforce::model::KnobModel::fit(&points, adapter.id(), &preset, stat, target);
        Ok(ModelView {
            used: model
                .as_ref()
                .is_some_and(|m| m.sources >= mediaforce::model::MIN_SOURCES),
            model,
            terms: mediaforce::model::TERMS.to_vec(),
            leave_one_out: [
                mediaforce::model::ModelKind::Linear,
                mediaforce::model::ModelKind::Neighbours,
                mediaforce::model::ModelKind::Mean,
            ]
            .into_iter()
            .filter_map(|k| mediaforce::model::leave_one_out(&obs, k))
            .collect(),
            points: own,
            shipped_points: points.len() - own,
        })
    }
}
