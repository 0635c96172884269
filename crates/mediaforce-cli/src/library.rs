//! Library commands: settings, scan, policy, report, ls, inspect-folder, plan, campaign.

use crate::commands::human_bytes;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mediaforce::manifest::{self, Manifest, Ranked};
use mediaforce::scan::{scan, ScanOptions, ScanProgress};
use mediaforce::settings::canonical_dir;
use mediaforce_core::probe::StreamKind;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

pub use mediaforce_app::{App as Library, Paths};

#[derive(Debug, Subcommand)]
pub enum LibraryCommand {
    /// Show or change the library settings (roots, transcode root, ignore patterns).
    Settings {
        #[command(subcommand)]
        action: SettingsAction,
    },
    /// Walk the library roots and record every media file (incremental: unchanged files are
    /// not probed again).
    Scan {
        /// Only this folder.
        #[arg(long)]
        prefix: Option<PathBuf>,
        /// Look at most at this many files (marks nothing gone).
        #[arg(long)]
        limit: Option<usize>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the resolved policy.
    Policy {
        #[command(subcommand)]
        action: PolicyAction,
    },
    /// Best candidates, totals per bucket and expected savings.
    Report {
        /// Show at most N candidates.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only files under this folder.
        #[arg(long)]
        prefix: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Every catalogued file with its bucket, state and last error.
    Ls {
        /// Only files under this folder.
        #[arg(long)]
        prefix: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Summarise a folder (codecs, resolutions, bit rates, audio, HDR) and suggest an override
    /// block for it.
    InspectFolder {
        /// The folder.
        prefix: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a plan (manifest) of the candidates in priority order.
    Plan {
        /// Only files under this folder.
        #[arg(long)]
        prefix: Option<PathBuf>,
        /// At most N items.
        #[arg(long)]
        limit: Option<usize>,
        /// Print the manifest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rescan a folder, summarise it, write its plan and explain the first item.
    Campaign {
        /// The folder.
        prefix: PathBuf,
        /// At most N items in the plan.
        #[arg(long)]
        limit: Option<usize>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum SettingsAction {
    /// Print the settings and where each comes from.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Add a library root.
    AddRoot { dir: PathBuf },
    /// Remove a library root (catalogued files stay, labelled by later scans).
    RemoveRoot { dir: PathBuf },
    /// Set the transcode (staging) root.
    SetTranscodeRoot { dir: PathBuf },
    /// Ignore folders by name (any depth) or by glob over the path.
    AddIgnore { pattern: String },
}

#[derive(Debug, Subcommand)]
pub enum PolicyAction {
    /// The policy for PATH and where each value came from.
    Show {
        path: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Make a user-given path absolute (without resolving links: the catalog keys paths as walked).
pub fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

pub fn run(cmd: LibraryCommand, paths: &Paths) -> Result<()> {
    let mut lib = Library::open(paths)?;
    match cmd {
        LibraryCommand::Settings { action } => cmd_settings(&mut lib, action),
        LibraryCommand::Scan {
            prefix,
            limit,
            json,
        } => {
            let prefix = lib.folder_opt(prefix.as_deref())?;
            let r = run_scan(&lib, prefix.as_deref(), limit, json)?;
            print_scan(&r, json)
        }
        LibraryCommand::Policy {
            action: PolicyAction::Show { path, json },
        } => cmd_policy_show(&lib, &lib.folder(&path)?, json),
        LibraryCommand::Report {
            limit,
            prefix,
            json,
        } => cmd_report(
            &lib,
            lib.folder_opt(prefix.as_deref())?.as_deref(),
            limit,
            json,
        ),
        LibraryCommand::Ls { prefix, json } => {
            cmd_ls(&lib, lib.folder_opt(prefix.as_deref())?.as_deref(), json)
        }
        LibraryCommand::InspectFolder { prefix, json } => {
            let s = inspect(&lib, &lib.folder(&prefix)?)?;
            print_inspect(&s, json)
        }
        LibraryCommand::Plan {
            prefix,
            limit,
            json,
        } => {
            let prefix = lib.folder_opt(prefix.as_deref())?;
            let (m, path) = write_plan(&lib, prefix.as_deref(), limit)?;
            print_plan(&m, &path, json)
        }
        LibraryCommand::Campaign {
            prefix,
            limit,
            json,
        } => campaign(&lib, &lib.folder(&prefix)?, limit, json).map(|_| ()),
    }
}

fn need_roots(lib: &Library) -> Result<()> {
    if lib.settings.roots.is_empty() {
        bail!(
            "no library roots configured in {}: add one with `mediaforce settings add-root DIR`",
            lib.paths.data_dir.display()
        );
    }
    Ok(())
}

#[derive(Serialize)]
struct SettingsView<'a> {
    data_dir: &'a Path,
    catalog: String,
    roots: Vec<RootView<'a>>,
    transcode_root: &'a Path,
    transcode_root_source: &'a str,
    ignore: &'a [String],
    extensions: &'a [String],
}

#[derive(Serialize)]
struct RootView<'a> {
    path: &'a Path,
    source: &'static str,
    exists: bool,
}

fn cmd_settings(lib: &mut Library, action: SettingsAction) -> Result<()> {
    match action {
        SettingsAction::Show { json } => {
            let s = &lib.settings;
            let view = SettingsView {
                data_dir: &s.data_dir,
                catalog: lib.catalog.location(),
                roots: s
                    .roots
                    .iter()
                    .map(|r| RootView {
                        path: r,
                        source: if s.shipped_roots.contains(r) {
                            "defaults"
                        } else {
                            "runtime"
                        },
                        exists: r.is_dir(),
                    })
                    .collect(),
                transcode_root: &s.transcode_root,
                transcode_root_source: &s.transcode_root_source,
                ignore: &s.ignore,
                extensions: &s.extensions,
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&view)?);
            } else {
                println!("data dir:        {}", view.data_dir.display());
                println!("catalog:         {}", view.catalog);
                if view.roots.is_empty() {
                    println!(
                        "roots:           (none; add one with `mediaforce settings add-root DIR`)"
                    );
                }
                for r in &view.roots {
                    println!(
                        "root:            {} ({}{})",
                        r.path.display(),
                        r.source,
                        if r.exists { "" } else { ", MISSING" }
                    );
                }
                println!(
                    "transcode root:  {} ({})",
                    view.transcode_root.display(),
                    view.transcode_root_source
                );
                println!("ignore:          {}", view.ignore.join(", "));
                println!("extensions:      {}", view.extensions.join(" "));
            }
            Ok(())
        }
        SettingsAction::AddRoot { dir } => {
            let d = canonical_dir(&dir).map_err(anyhow::Error::msg)?;
            if d.starts_with(&lib.settings.transcode_root) {
                bail!(
                    "{}: lies under the transcode root {}",
                    d.display(),
                    lib.settings.transcode_root.display()
                );
            }
            if lib.catalog.add_setting("root", &d.to_string_lossy())? {
                println!("added root {}", d.display());
            } else {
                println!("{} is already a root", d.display());
            }
            Ok(())
        }
        SettingsAction::RemoveRoot { dir } => {
            let d = std::fs::canonicalize(&dir).unwrap_or_else(|_| absolute(&dir));
            if lib.settings.shipped_roots.contains(&d) {
                bail!(
                    "{}: comes from the shipped defaults; override library.roots in {}",
                    d.display(),
                    lib.paths.data_dir.join("policy.toml").display()
                );
            }
            let removed = lib.catalog.remove_setting("root", &d.to_string_lossy())?
                || lib.catalog.remove_setting("root", &dir.to_string_lossy())?;
            if !removed {
                bail!("{}: not a configured root", dir.display());
            }
            println!("removed root {}", d.display());
            Ok(())
        }
        SettingsAction::SetTranscodeRoot { dir } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
            let d = canonical_dir(&dir).map_err(anyhow::Error::msg)?;
            lib.catalog
                .set_setting("transcode_root", &d.to_string_lossy())?;
            lib.reload_settings()?;
            println!("transcode root {}", d.display());
            Ok(())
        }
        SettingsAction::AddIgnore { pattern } => {
            mediaforce::policy::PathMatcher::new(&pattern).map_err(anyhow::Error::msg)?;
            lib.catalog.add_setting("ignore", &pattern)?;
            println!("ignoring {pattern}");
            Ok(())
        }
    }
}

/// A scan with a progress bar (files/s) on a terminal.
pub fn run_scan(
    lib: &Library,
    prefix: Option<&Path>,
    limit: Option<usize>,
    quiet: bool,
) -> Result<mediaforce::scan::ScanReport> {
    need_roots(lib)?;
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template(
                "    scan [{bar:40}] {pos}/{len} files  {per_sec}  eta {eta}",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        b
    });
    let progress = |p: ScanProgress| {
        if let Some(b) = &bar {
            match p {
                ScanProgress::Walking { found } => b.set_message(format!("{found} found")),
                ScanProgress::Probing { done, total } => {
                    b.set_length(total as u64);
                    b.set_position(done as u64);
                }
            }
        }
    };
    let opts = ScanOptions {
        prefix: prefix.map(Path::to_path_buf),
        limit,
    };
    let r = scan(&lib.catalog, &lib.settings, &opts, &progress)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    Ok(r)
}

fn print_scan(r: &mediaforce::scan::ScanReport, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(r)?);
        return Ok(());
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "scanned {} files in {:.2} s ({:.0} files/s): {} new, {} changed, {} touched (not re-probed), {} unchanged, {} moved, {} gone, {} errors, {} made by mediaforce",
        r.files, r.seconds, r.files_per_second, r.new, r.changed, r.touched, r.unchanged, r.moved, r.gone, r.errors, r.ours
    );
    Ok(())
}

#[derive(Serialize)]
struct PolicyView<'a> {
    path: &'a Path,
    policy: &'a mediaforce::policy::Policy,
    sources: &'a BTreeMap<String, String>,
}

fn cmd_policy_show(lib: &Library, path: &Path, json: bool) -> Result<()> {
    let r = lib.policies.resolve(path);
    if json {
        let v = PolicyView {
            path,
            policy: &r.policy,
            sources: &r.sources,
        };
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("# policy for {}", path.display());
    let table = toml::Table::try_from(&r.policy)?;
    let mut section = String::new();
    let mut leaves = Vec::new();
    mediaforce::policy::leaves(&table, "", &mut leaves);
    for (key, value) in leaves {
        let (sec, name) = key.rsplit_once('.').unwrap_or(("", &key));
        if sec != section {
            println!("\n[{sec}]");
            section = sec.to_string();
        }
        let src = r.sources.get(&key).map_or("defaults.toml", String::as_str);
        let name = if name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            name.to_string()
        } else {
            format!("{name:?}")
        };
        println!("{name} = {value}    # {src}");
    }
    Ok(())
}

#[derive(Serialize)]
struct ReportRow<'a> {
    path: &'a Path,
    size_bytes: u64,
    bucket: &'static str,
    expected_bytes: u64,
    expected_saving_bytes: u64,
    expected_saving_percent: f64,
    confidence: &'static str,
    reason: &'a str,
    video: String,
}

#[derive(Serialize)]
struct BucketRow {
    bucket: &'static str,
    files: usize,
    bytes: u64,
    expected_saving_bytes: u64,
}

#[derive(Serialize)]
struct ReportView<'a> {
    files: usize,
    total_bytes: u64,
    candidates: usize,
    candidate_bytes: u64,
    expected_saving_bytes: u64,
    buckets: Vec<BucketRow>,
    best: Vec<ReportRow<'a>>,
    staged: Vec<crate::workflow::StagedRow>,
}

fn report_row(r: &Ranked) -> ReportRow<'_> {
    ReportRow {
        path: &r.file.path,
        size_bytes: r.file.size,
        bucket: r.ranking.bucket.label(),
        expected_bytes: r.ranking.expected_bytes,
        expected_saving_bytes: r.ranking.expected_saving_bytes,
        expected_saving_percent: r.ranking.expected_saving_percent,
        confidence: r.ranking.confidence,
        reason: &r.ranking.reason,
        video: manifest::stream_summaries(&r.file).0,
    }
}

fn cmd_report(lib: &Library, prefix: Option<&Path>, limit: usize, json: bool) -> Result<()> {
    let ranked = manifest::rank_files(&lib.catalog, &lib.policies, prefix)?;
    let live: Vec<&Ranked> = ranked.iter().filter(|r| r.file.status != "gone").collect();
    let candidates: Vec<&Ranked> = live
        .iter()
        .copied()
        .filter(|r| r.ranking.bucket.is_candidate())
        .collect();
    let view = ReportView {
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
            .map(|r| report_row(r))
            .collect(),
        staged: crate::workflow::staged_rows(lib, prefix)?,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&view)?);
        return Ok(());
    }
    println!(
        "{} files, {}; {} candidates ({}), expected saving {}",
        view.files,
        human_bytes(view.total_bytes),
        view.candidates,
        human_bytes(view.candidate_bytes),
        human_bytes(view.expected_saving_bytes)
    );
    for b in &view.buckets {
        println!(
            "  {:<30} {:>6} files  {:>10}  saving {:>10}",
            b.bucket,
            b.files,
            human_bytes(b.bytes),
            human_bytes(b.expected_saving_bytes)
        );
    }
    if !view.best.is_empty() {
        println!("best candidates:");
    }
    for (i, r) in view.best.iter().enumerate() {
        println!(
            "  {i:>3}. {}  {} -> ~{} (-{:.0}%, {} confidence, {})",
            r.path.display(),
            human_bytes(r.size_bytes),
            human_bytes(r.expected_bytes),
            r.expected_saving_percent,
            r.confidence,
            r.bucket
        );
    }
    crate::workflow::print_staged(&view.staged);
    Ok(())
}

#[derive(Serialize)]
struct LsRow<'a> {
    path: &'a Path,
    size_bytes: u64,
    status: &'a str,
    bucket: &'static str,
    state: Option<String>,
    error: Option<&'a str>,
}

fn cmd_ls(lib: &Library, prefix: Option<&Path>, json: bool) -> Result<()> {
    let ranked = manifest::rank_files(&lib.catalog, &lib.policies, prefix)?;
    let states = lib.catalog.latest_item_states()?;
    let mut rows: Vec<LsRow<'_>> = ranked
        .iter()
        .map(|r| LsRow {
            path: &r.file.path,
            size_bytes: r.file.size,
            status: &r.file.status,
            bucket: r.ranking.bucket.label(),
            state: states.get(&r.file.id).cloned(),
            error: r.file.error.as_deref(),
        })
        .collect();
    rows.sort_by(|a, b| a.path.cmp(b.path));
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for r in &rows {
        let mut line = format!(
            "{:<28} {:>10}  {}",
            r.bucket,
            human_bytes(r.size_bytes),
            r.path.display()
        );
        if let Some(s) = &r.state {
            line += &format!("  [{s}]");
        }
        if let Some(e) = r.error {
            line += &format!("  error: {e}");
        }
        println!("{line}");
    }
    Ok(())
}

/// A folder summary.
#[derive(Debug, Serialize)]
pub struct FolderSummary {
    pub prefix: PathBuf,
    pub files: usize,
    pub bytes: u64,
    pub errors: usize,
    pub codecs: BTreeMap<String, usize>,
    pub resolutions: BTreeMap<String, usize>,
    pub containers: BTreeMap<String, usize>,
    pub audio: BTreeMap<String, usize>,
    pub hdr: BTreeMap<String, usize>,
    pub bitrate_mbps_min: Option<f64>,
    pub bitrate_mbps_median: Option<f64>,
    pub bitrate_mbps_max: Option<f64>,
    pub suggested_override: String,
}

pub fn inspect(lib: &Library, prefix: &Path) -> Result<FolderSummary> {
    let files: Vec<_> = lib
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
            if matches!(a.codec.as_str(), "flac" | "truehd" | "mlp") || a.codec.starts_with("pcm_")
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
    s.suggested_override = suggest(&s, lib, prefix, lossless_audio);
    Ok(s)
}

/// A starting override block derived from the folder's content; every line says why.
fn suggest(s: &FolderSummary, lib: &Library, prefix: &Path, lossless_audio: usize) -> String {
    let current = lib.policies.resolve(&prefix.join("x.mkv")).policy;
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
    if lossless_audio > 0 && current.audio.mode == "copy" {
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

fn count_line(m: &BTreeMap<String, usize>) -> String {
    let mut v: Vec<(&String, &usize)> = m.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(k, n)| format!("{k} x{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn print_inspect(s: &FolderSummary, json: bool) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(s)?);
        return Ok(());
    }
    println!(
        "{}: {} files, {} ({} unreadable)",
        s.prefix.display(),
        s.files,
        human_bytes(s.bytes),
        s.errors
    );
    println!("  video codecs: {}", count_line(&s.codecs));
    println!("  resolutions:  {}", count_line(&s.resolutions));
    println!("  containers:   {}", count_line(&s.containers));
    println!("  audio:        {}", count_line(&s.audio));
    println!("  hdr:          {}", count_line(&s.hdr));
    if let (Some(a), Some(m), Some(b)) = (
        s.bitrate_mbps_min,
        s.bitrate_mbps_median,
        s.bitrate_mbps_max,
    ) {
        println!("  bit rate:     {a:.1} / {m:.1} / {b:.1} Mb/s (min / median / max)");
    }
    println!("\nsuggested override (paste into <data dir>/folder-overrides.toml):\n");
    print!("{}", s.suggested_override);
    Ok(())
}

pub fn write_plan(
    lib: &Library,
    prefix: Option<&Path>,
    limit: Option<usize>,
) -> Result<(Manifest, PathBuf)> {
    let m = manifest::plan(&lib.catalog, &lib.settings, &lib.policies, prefix, limit)?;
    let path = manifest::write(&m, &lib.paths.data_dir, &lib.catalog)?;
    Ok((m, path))
}

fn print_plan(m: &Manifest, path: &Path, json: bool) -> Result<()> {
    if json {
        #[derive(Serialize)]
        struct V<'a> {
            manifest: &'a Path,
            #[serde(flatten)]
            plan: &'a Manifest,
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&V {
                manifest: path,
                plan: m
            })?
        );
        return Ok(());
    }
    println!(
        "plan {}: {} items ({}), expected saving {}; {} files skipped",
        path.display(),
        m.items.len(),
        human_bytes(m.total_source_bytes),
        human_bytes(m.total_expected_saving_bytes),
        m.skipped.len()
    );
    for i in m.items.iter().take(20) {
        println!(
            "  {:>3}. {}  {} -> ~{} (-{:.0}%, {})",
            i.index,
            i.source.display(),
            human_bytes(i.source_bytes),
            human_bytes(i.expected_bytes),
            i.expected_saving_percent,
            i.bucket
        );
    }
    if m.items.len() > 20 {
        println!("  ... {} more", m.items.len() - 20);
    }
    Ok(())
}

/// The first item's plan in plain English.
pub fn explain(i: &mediaforce::manifest::ManifestItem) -> String {
    let p = &i.policy;
    let mut s = format!(
        "Item {}: {} ({}), {}.\n",
        i.index,
        i.source.display(),
        human_bytes(i.source_bytes),
        i.video
    );
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
        if p.audio.mode == "opus" {
            "re-encoded to Opus"
        } else {
            "copied"
        },
    );
    let subs = streams(
        "subtitles",
        &i.subtitles,
        if p.subtitles.mode == "drop" {
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

#[derive(Serialize)]
struct CampaignView<'a> {
    scan: &'a mediaforce::scan::ScanReport,
    folder: &'a FolderSummary,
    manifest: &'a Path,
    items: usize,
    expected_saving_bytes: u64,
    first: Option<&'a mediaforce::manifest::ManifestItem>,
}

/// Rescan, summarise, plan and explain the first item; returns the manifest path.
pub fn campaign(lib: &Library, prefix: &Path, limit: Option<usize>, json: bool) -> Result<PathBuf> {
    let r = run_scan(lib, Some(prefix), None, json)?;
    let folder = inspect(lib, prefix)?;
    let (m, path) = write_plan(lib, Some(prefix), limit)?;
    if json {
        let v = CampaignView {
            scan: &r,
            folder: &folder,
            manifest: &path,
            items: m.items.len(),
            expected_saving_bytes: m.total_expected_saving_bytes,
            first: m.items.first(),
        };
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(path);
    }
    print_scan(&r, false)?;
    println!();
    print_inspect(&folder, false)?;
    println!();
    print_plan(&m, &path, false)?;
    match m.items.first() {
        Some(i) => {
            println!();
            print!("{}", explain(i));
            println!("Next: mediaforce encode --index 0");
        }
        None => println!("nothing to do under {}", prefix.display()),
    }
    Ok(path)
}
