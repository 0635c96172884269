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
            let height = f.media.height.unwrap_or(1080) as u32;
            let file_policy = self.policies().resolve(&f.file.path).policy;
            let cfg = file_policy.search_config(height);
            let report =
                mediaforce::search::crf_search(&f.file.path, &cfg, &mut mediaforce::search::Quiet);
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
            searched.push(CalibratedFile {
                path: f.file.path.clone(),
                size_bytes: f.file.size,
                height,
                knob,
                vmaf,
                predicted_percent: percent,
                probes,
                note,
            });
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
        let mut saved = Vec::new();
        let current =
            mediaforce::policy::folder_override(&self.paths.data_dir, &folder)?.unwrap_or_default();
        let mut table: toml::Table = toml::from_str(&current).unwrap_or_default();
        let knob = table
            .entry("knob")
            .or_insert_with(|| toml::Value::Table(Default::default()));
        let per_encoder = knob
            .as_table_mut()
            .expect("knob is a table")
            .entry(policy.encode.encoder.clone())
            .or_insert_with(|| toml::Value::Table(Default::default()));
        for (class, knobs) in &classes {
            let (median, spread) =
                mediaforce::stage::folder_guess(knobs).unwrap_or((knobs[0], 0.0));
            if let Some(t) = per_encoder.as_table_mut() {
                t.insert(class.to_string(), toml::Value::Float(median));
            }
            saved.push((class.to_string(), median, spread));
        }
        let text = toml::to_string(&table)
            .map_err(|e| AppError::new(ErrorKind::Internal, e.to_string()))?;
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
