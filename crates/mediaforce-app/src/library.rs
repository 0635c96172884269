//! Library use cases: settings, scan, policy, report, listing, folder inspection, plans and the
//! campaign that chains them.

use crate::review::StagedRow;
use crate::{human_bytes, App, AppError, ErrorKind, Result};
use mediaforce::core::probe::StreamKind;
use mediaforce::manifest::{self, Manifest, ManifestItem, Ranked};
use mediaforce::policy::Policy;
use mediaforce::scan::{scan, ScanOptions, ScanProgress, ScanReport};
use mediaforce::settings::canonical_dir;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The settings in force and where each came from.
#[derive(Debug, Clone, Serialize)]
pub struct SettingsView {
    /// The data directory.
    pub data_dir: PathBuf,
    /// Where the catalog is (a file, or a database URL without its password).
    pub catalog: String,
    /// Library roots.
    pub roots: Vec<RootView>,
    /// Where encodes are staged and originals archived.
    pub transcode_root: PathBuf,
    /// Which layer set the transcode root.
    pub transcode_root_source: String,
    /// Ignore patterns.
    pub ignore: Vec<String>,
    /// Extensions scanned.
    pub extensions: Vec<String>,
}

/// A library root.
#[derive(Debug, Clone, Serialize)]
pub struct RootView {
    /// The folder.
    pub path: PathBuf,
    /// `defaults` (policy files) or `runtime` (added with `settings add-root`).
    pub source: &'static str,
    /// Whether it is there now (an unmounted disk is not).
    pub exists: bool,
}

/// The resolved policy for a path, with the layer each value came from.
#[derive(Debug, Clone, Serialize)]
pub struct PolicyView {
    /// The path resolved for.
    pub path: PathBuf,
    /// The policy.
    pub policy: Policy,
    /// Dotted key → layer.
    pub sources: BTreeMap<String, String>,
}

/// One file of a report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportRow {
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub size_bytes: u64,
    /// Its bucket.
    pub bucket: &'static str,
    /// Expected size after encoding.
    pub expected_bytes: u64,
    /// Expected saving.
    pub expected_saving_bytes: u64,
    /// Expected saving in percent.
    pub expected_saving_percent: f64,
    /// Confidence of the estimate.
    pub confidence: &'static str,
    /// Why.
    pub reason: String,
    /// Video stream summary.
    pub video: String,
}

/// Files and bytes in one bucket.
#[derive(Debug, Clone, Serialize)]
pub struct BucketRow {
    /// The bucket.
    pub bucket: &'static str,
    /// Files.
    pub files: usize,
    /// Their size.
    pub bytes: u64,
    /// Expected saving.
    pub expected_saving_bytes: u64,
}

/// What the library holds and what encoding it would save.
#[derive(Debug, Clone, Serialize)]
pub struct ReportView {
    /// Files present.
    pub files: usize,
    /// Their size.
    pub total_bytes: u64,
    /// Files worth encoding.
    pub candidates: usize,
    /// Their size.
    pub candidate_bytes: u64,
    /// Expected saving over the candidates.
    pub expected_saving_bytes: u64,
    /// Per bucket.
    pub buckets: Vec<BucketRow>,
    /// The best candidates.
    pub best: Vec<ReportRow>,
    /// Work started on the newest plan.
    pub staged: Vec<StagedRow>,
}

/// One file of a listing.
#[derive(Debug, Clone, Serialize)]
pub struct LsRow {
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub size_bytes: u64,
    /// `ok`, `error` or `gone`.
    pub status: String,
    /// Its bucket.
    pub bucket: &'static str,
    /// The state of its newest plan item.
    pub state: Option<String>,
    /// The last probe error.
    pub error: Option<String>,
}

/// A folder summary and a suggested override.
#[derive(Debug, Clone, Serialize)]
pub struct FolderSummary {
    /// The folder.
    pub prefix: PathBuf,
    /// Files present.
    pub files: usize,
    /// Their size.
    pub bytes: u64,
    /// Unreadable files.
    pub errors: usize,
    /// Video codec → files.
    pub codecs: BTreeMap<String, usize>,
    /// Resolution class → files.
    pub resolutions: BTreeMap<String, usize>,
    /// Container → files.
    pub containers: BTreeMap<String, usize>,
    /// Audio codec and channels → streams.
    pub audio: BTreeMap<String, usize>,
    /// HDR kind → files.
    pub hdr: BTreeMap<String, usize>,
    /// Lowest bit rate.
    pub bitrate_mbps_min: Option<f64>,
    /// Median bit rate.
    pub bitrate_mbps_median: Option<f64>,
    /// Highest bit rate.
    pub bitrate_mbps_max: Option<f64>,
    /// A starting `[[folder]]` block; every line says why.
    pub suggested_override: String,
}

/// A plan made and stored.
#[derive(Debug, Clone, Serialize)]
pub struct PlanView {
    /// Its key (the path of its JSON export).
    pub manifest: PathBuf,
    /// The plan.
    #[serde(flatten)]
    pub plan: Manifest,
}

/// A campaign: rescan, folder summary, plan, and the first item in words.
#[derive(Debug, Clone, Serialize)]
pub struct CampaignView {
    /// The rescan.
    pub scan: ScanReport,
    /// The folder.
    pub folder: FolderSummary,
    /// The plan's key.
    pub manifest: PathBuf,
    /// Items planned.
    pub items: usize,
    /// Expected saving.
    pub expected_saving_bytes: u64,
    /// The first item.
    pub first: Option<ManifestItem>,
    /// The plan (not part of the JSON view, which names it by `manifest`).
    #[serde(skip)]
    pub plan: Manifest,
}

impl App {
    pub(crate) fn need_roots(&self) -> Result<()> {
        if self.settings().roots.is_empty() {
            return Err(AppError::new(
                ErrorKind::Invalid,
                format!(
                    "no library roots configured in {}: add one with `mediaforce settings add-root DIR`",
                    self.paths.data_dir.display()
                ),
            ));
        }
        Ok(())
    }

    /// The settings in force.
    pub fn settings_view(&self) -> SettingsView {
        let s = self.settings();
        SettingsView {
            data_dir: s.data_dir.clone(),
            catalog: self.catalog.location(),
            roots: s
                .roots
                .iter()
                .map(|r| RootView {
                    path: r.clone(),
                    source: if s.shipped_roots.contains(r) {
                        "defaults"
                    } else {
                        "runtime"
                    },
                    exists: r.is_dir(),
                })
                .collect(),
            transcode_root: s.transcode_root.clone(),
            transcode_root_source: s.transcode_root_source.clone(),
            ignore: s.ignore.clone(),
            extensions: s.extensions.clone(),
        }
    }

    /// Add a library root; returns the folder and whether it was new.
    pub fn add_root(&self, dir: &Path) -> Result<(PathBuf, bool)> {
        let d = canonical_dir(dir).map_err(|m| AppError::new(ErrorKind::NotFound, m))?;
        if d.starts_with(&self.settings().transcode_root) {
            return Err(AppError::new(
                ErrorKind::Invalid,
                format!(
                    "{}: lies under the transcode root {}",
                    d.display(),
                    self.settings().transcode_root.display()
                ),
            ));
        }
        let added = self.catalog.add_setting("root", &d.to_string_lossy())?;
        self.reload_settings()?;
        Ok((d, added))
    }

    /// Remove a library root added at run time; returns the folder.
    pub fn remove_root(&self, dir: &Path) -> Result<PathBuf> {
        let d = std::fs::canonicalize(dir)
            .unwrap_or_else(|_| std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf()));
        if self.settings().shipped_roots.contains(&d) {
            return Err(AppError::new(
                ErrorKind::Refused,
                format!(
                    "{}: comes from the shipped defaults; override library.roots in {}",
                    d.display(),
                    self.paths.data_dir.join("policy.toml").display()
                ),
            ));
        }
        let removed = self.catalog.remove_setting("root", &d.to_string_lossy())?
            || self
                .catalog
                .remove_setting("root", &dir.to_string_lossy())?;
        if !removed {
            return Err(AppError::new(
                ErrorKind::NotFound,
                format!("{}: not a configured root", dir.display()),
            ));
        }
        self.reload_settings()?;
        Ok(d)
    }

    /// Set the transcode root (created when missing); returns the folder.
    pub fn set_transcode_root(&self, dir: &Path) -> Result<PathBuf> {
        std::fs::create_dir_all(dir)
            .map_err(|e| AppError::new(ErrorKind::Invalid, format!("{}: {e}", dir.display())))?;
        let d = canonical_dir(dir).map_err(|m| AppError::new(ErrorKind::Invalid, m))?;
        self.catalog
            .set_setting("transcode_root", &d.to_string_lossy())?;
        self.reload_settings()?;
        Ok(d)
    }

    /// Add an ignore pattern (checked first).
    pub fn add_ignore(&self, pattern: &str) -> Result<()> {
        mediaforce::policy::PathMatcher::new(pattern)
            .map_err(|m| AppError::new(ErrorKind::Invalid, m))?;
        self.catalog.add_setting("ignore", pattern)?;
        self.reload_settings()
    }

    /// Remove an ignore pattern; whether it was there.
    pub fn remove_ignore(&self, pattern: &str) -> Result<bool> {
        let removed = self.catalog.remove_setting("ignore", pattern)?;
        self.reload_settings()?;
        Ok(removed)
    }

    /// Scan the roots (or the folder `prefix`) and record what is there; `progress` hears of
    /// files found and probed.
    pub fn scan(
        &self,
        prefix: Option<&Path>,
        limit: Option<usize>,
        progress: &(dyn Fn(ScanProgress) + Sync),
    ) -> Result<ScanReport> {
        self.need_roots()?;
        let opts = ScanOptions {
            prefix: prefix.map(Path::to_path_buf),
            limit,
            files: Vec::new(),
        };
        Ok(scan(&self.catalog, &self.settings(), &opts, progress)?)
    }

    /// The policy in force for `path`, with the layer of each value.
    pub fn policy(&self, path: &Path) -> PolicyView {
        let r = self.policies().resolve(path);
        PolicyView {
            path: path.to_path_buf(),
            policy: r.policy,
            sources: r.sources,
        }
    }

    /// What the library holds, the best `limit` candidates and the work started.
    pub fn report(&self, prefix: Option<&Path>, limit: usize) -> Result<ReportView> {
        let ranked = manifest::rank_files(&self.catalog, &self.policies(), prefix)?;
        let live: Vec<&Ranked> = ranked.iter().filter(|r| r.file.status != "gone").collect();
        let candidates: Vec<&Ranked> = live
            .iter()
            .copied()
            .filter(|r| r.ranking.bucket.is_candidate())
            .collect();
        Ok(ReportView {
            files: live.len(),
            total_bytes: live.iter().map(|r| r.file.size).sum(),
            candidates: candidates.len(),
            candidate_bytes: candidates.iter().map(|r| r.file.size).sum(),
            expected_saving_bytes: candidates
                .iter()
                .map(|r| r.ranking.expected_saving_bytes)
                .sum(),
            buckets: manifest::bucket_totals(&ranked)
                .into_iter()
                .map(|(b, n, bytes, x)| BucketRow {
                    bucket: b.label(),
                    files: n,
                    bytes,
                    expected_saving_bytes: x,
                })
                .collect(),
            best: candidates
                .iter()
                .take(limit)
                .map(|r| ReportRow {
                    path: r.file.path.clone(),
                    size_bytes: r.file.size,
                    bucket: r.ranking.bucket.label(),
                    expected_bytes: r.ranking.expected_bytes,
                    expected_saving_bytes: r.ranking.expected_saving_bytes,
                    expected_saving_percent: r.ranking.expected_saving_percent,
                    confidence: r.ranking.confidence,
                    reason: r.ranking.reason.clone(),
                    video: manifest::stream_summaries(&r.file).0,
                })
                .collect(),
            staged: self.staged_rows(prefix)?,
        })
    }

    /// Every catalogued file under `prefix`, by path, with its bucket and state.
    pub fn ls(&self, prefix: Option<&Path>) -> Result<Vec<LsRow>> {
        let ranked = manifest::rank_files(&self.catalog, &self.policies(), prefix)?;
        let states = self.catalog.latest_item_states()?;
        let mut rows: Vec<LsRow> = ranked
            .iter()
            .map(|r| LsRow {
                path: r.file.path.clone(),
                size_bytes: r.file.size,
                status: r.file.status.clone(),
                bucket: r.ranking.bucket.label(),
                state: states.get(&r.file.id).cloned(),
                error: r.file.error.clone(),
            })
            .collect();
        rows.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(rows)
    }

    /// A folder's content in numbers and a suggested override.
    pub fn inspect_folder(&self, prefix: &Path) -> Result<FolderSummary> {
        let files: Vec<_> = self
            .catalog
            .files_under(Some(prefix))?
            .into_iter()
            .filter(|f| f.status != "gone")
            .collect();
        let mut s = FolderSummary {
            prefix: prefix.to_path_buf(),
            files: files.len(),
            bytes: files.iter().map(|f| f.size).sum(),
            errors: files.iter().filter(|f| f.status == "error").count(),
            codecs: BTreeMap::new(),
            resolutions: BTreeMap::new(),
            containers: BTreeMap::new(),
            audio: BTreeMap::new(),
            hdr: BTreeMap::new(),
            bitrate_mbps_min: None,
            bitrate_mbps_median: None,
            bitrate_mbps_max: None,
            suggested_override: String::new(),
        };
        let mut rates = Vec::new();
        let mut lossless_audio = 0;
        for f in &files {
            let Some(info) = f.probe() else { continue };
            *s.containers.entry(info.container.clone()).or_default() += 1;
            if let Some(vs) = info.primary_video() {
                *s.codecs.entry(vs.codec.clone()).or_default() += 1;
                if let Some(v) = &vs.video {
                    *s.resolutions
                        .entry(mediaforce::policy::resolution_class(v.height).to_string())
                        .or_default() += 1;
                    let hdr = match (&v.dolby_vision, v.hdr) {
                        (Some(dv), _) => format!("dolby vision p{}", dv.profile),
                        (None, Some(h)) => format!("{h:?}").to_lowercase(),
                        (None, None) => "sdr".into(),
                    };
                    *s.hdr.entry(hdr).or_default() += 1;
                }
            }
            if let (Some(d), true) = (info.duration_seconds, f.size > 0) {
                if d > 0.0 {
                    rates.push(f.size as f64 * 8.0 / d / 1e6);
                }
            }
            for a in info.streams_of(StreamKind::Audio) {
                let ch = a.audio.as_ref().map_or(0, |x| x.channels);
                *s.audio.entry(format!("{} {ch} ch", a.codec)).or_default() += 1;
                if matches!(a.codec.as_str(), "flac" | "truehd" | "mlp")
                    || a.codec.starts_with("pcm_")
                {
                    lossless_audio += 1;
                }
            }
        }
        rates.sort_by(f64::total_cmp);
        if !rates.is_empty() {
            s.bitrate_mbps_min = rates.first().copied();
            s.bitrate_mbps_max = rates.last().copied();
            s.bitrate_mbps_median = Some(rates[rates.len() / 2]);
        }
        s.suggested_override = self.suggest(&s, prefix, lossless_audio);
        Ok(s)
    }

    /// A starting override block derived from the folder's content; every line says why.
    fn suggest(&self, s: &FolderSummary, prefix: &Path, lossless_audio: usize) -> String {
        let current = self.policies().resolve(&prefix.join("x.mkv")).policy;
        let mut out = format!("[[folder]]\nmatch = {:?}\n", prefix.display().to_string());
        let mut encode = Vec::new();
        let n = s.files.max(1);
        let sd = s.resolutions.get("sd").copied().unwrap_or(0);
        let uhd = s.resolutions.get("2160p").copied().unwrap_or(0);
        let efficient = s
            .codecs
            .iter()
            .filter(|(c, _)| matches!(c.as_str(), "hevc" | "av1" | "vp9"))
            .map(|(_, n)| n)
            .sum::<usize>();
        if sd * 2 > n {
            encode.push("# mostly SD: scored after upscaling to 1080p, where artefacts show more\ntarget_vmaf = 96.0".to_string());
        }
        if uhd * 2 > n {
            encode.push(format!(
                "# mostly 2160p: a slower preset pays off on large files\npreset = \"{}\"",
                current
                    .encode
                    .preset
                    .parse::<i32>()
                    .map_or(current.encode.preset.clone(), |p| (p - 2)
                        .max(0)
                        .to_string())
            ));
        }
        if efficient * 2 > n {
            encode.push(format!(
                "# mostly HEVC/AV1/VP9 already: demand a larger saving before swapping\nmin_savings_percent = {:.1}",
                (current.encode.min_savings_percent * 3.0).max(15.0)
            ));
        }
        if !encode.is_empty() {
            out += "[folder.encode]\n";
            out += &encode.join("\n");
            out += "\n";
        }
        if lossless_audio > 0 && current.audio.mode == mediaforce::policy::AudioMode::Copy {
            out += &format!(
                "[folder.audio]\n# {lossless_audio} lossless audio streams: Opus at 96-320 kb/s is transparent and far smaller\nmode = \"opus\"\n"
            );
        }
        let dv = s.hdr.keys().filter(|k| k.starts_with("dolby")).count();
        if dv > 0 {
            out += "[folder.hdr]\n# Dolby Vision here: skipped by default (the RPU would be lost)\ndolby_vision = \"skip\"\n";
        }
        if encode.is_empty() && lossless_audio == 0 && dv == 0 {
            out += "# the defaults fit this folder; nothing to override\n";
        }
        out
    }

    /// Plan the candidates under `prefix` (at most `limit`), store the plan and export it.
    pub fn plan(&self, prefix: Option<&Path>, limit: Option<usize>) -> Result<PlanView> {
        let m = manifest::plan(
            &self.catalog,
            &self.settings(),
            &self.policies(),
            prefix,
            limit,
        )?;
        let path = manifest::write(&m, &self.paths.data_dir, &self.catalog)?;
        Ok(PlanView {
            manifest: path,
            plan: m,
        })
    }

    /// Rescan `prefix`, summarise it, plan it; the view carries the first item.
    pub fn campaign(
        &self,
        prefix: &Path,
        limit: Option<usize>,
        progress: &(dyn Fn(ScanProgress) + Sync),
    ) -> Result<CampaignView> {
        let scan = self.scan(Some(prefix), None, progress)?;
        let folder = self.inspect_folder(prefix)?;
        let plan = self.plan(Some(prefix), limit)?;
        Ok(CampaignView {
            scan,
            folder,
            manifest: plan.manifest,
            items: plan.plan.items.len(),
            expected_saving_bytes: plan.plan.total_expected_saving_bytes,
            first: plan.plan.items.first().cloned(),
            plan: plan.plan,
        })
    }
}

/// A plan item in plain English: what will be done to it and what is expected.
pub fn explain(i: &ManifestItem) -> String {
    let p = &i.policy;
    let mut s = format!(
        "Item {}: {} ({}), {}.\n",
        i.index,
        i.source.display(),
        human_bytes(i.source_bytes),
        i.video
    );
    if !i.kind.is_encode() {
        s += &format!(
            "{} it: the picture is copied, not re-encoded, into Matroska, expected ~{} (-{:.1}%, {} confidence: {}).\n",
            if i.kind == mediaforce::manifest::ItemKind::Remux { "Remux" } else { "Repack the audio of" },
            human_bytes(i.expected_bytes),
            i.expected_saving_percent,
            i.confidence,
            i.reason
        );
        for step in &i.streams {
            s += &format!("  stream {}: {}\n", step.index, step.what);
        }
        s += &format!(
            "Validation compares every picture and audio sample with the source's. Stage it at {}; nothing in the library changes until you approve and promote it.\n",
            i.staging.display()
        );
        return s;
    }
    s += &format!(
        "Re-encode the video with {} preset {} at the smallest size whose VMAF {} reaches {}{}, expected ~{} (-{:.0}%, {} confidence: {}).\n",
        p.encode.encoder,
        p.encode.preset,
        p.encode.target_stat,
        p.encode.target_vmaf,
        if p.encode.gates.is_empty() { String::new() } else { format!(" with {}", p.encode.gates.join(", ")) },
        human_bytes(i.expected_bytes),
        i.expected_saving_percent,
        i.confidence,
        i.reason
    );
    let streams = |what: &str, lines: &[String], verb: &str| {
        if lines.is_empty() {
            format!("no {what}")
        } else {
            format!("{what} {verb} ({})", lines.join("; "))
        }
    };
    let audio = streams(
        "audio",
        &i.audio,
        if p.audio.mode == mediaforce::policy::AudioMode::Opus {
            "re-encoded to Opus"
        } else {
            "copied"
        },
    );
    let subs = streams(
        "subtitles",
        &i.subtitles,
        if p.subtitles.mode == mediaforce::policy::SubtitleMode::Drop {
            "dropped"
        } else {
            "copied"
        },
    );
    s += &format!("Keep {audio}; {subs}.\n");
    s += &format!(
        "Stage it at {}; nothing in the library changes until you approve and promote it.\n",
        i.staging.display()
    );
    s
}
