//! Workflow commands over a plan: encode items, status, validate, compare, review, approve,
//! reject, promote, rollback, run, pause, resume.

use crate::commands::human_bytes;
use crate::library::{absolute, campaign, Library, Paths};
use crate::progress::Bar;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use mediaforce::catalog::ItemRecord;
use mediaforce::compare::{compare, default_cache_dir, CompareOptions, CompareReport};
use mediaforce::domain::{Decision, ItemState};
use mediaforce::manifest::{self, Manifest, ManifestItem};
use mediaforce::search::{Quiet, SearchObserver};
use mediaforce::stage::{pause_file, StageOptions, StageOutcome};
use mediaforce::validate::{validate, ValidationReport};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set by Ctrl-C; encodes stop at the next frame and leave nothing that looks finished.
static CANCEL: AtomicBool = AtomicBool::new(false);

fn install_ctrlc() {
    let _ = ctrlc::set_handler(|| {
        if CANCEL.swap(true, Ordering::SeqCst) {
            // Second Ctrl-C: stop now. Partial files are hidden and removed by the next run.
            std::process::exit(130);
        }
        eprintln!("\nmediaforce: stopping after cleaning up (Ctrl-C again to quit at once)");
    });
}

/// Which items of a plan.
#[derive(Debug, Clone, clap::Args)]
pub struct Selection {
    /// Item index in the plan (repeatable).
    #[arg(long = "index")]
    pub index: Vec<usize>,
    /// Every item of the plan.
    #[arg(long)]
    pub all: bool,
    /// Plan file (default: the newest in the data directory).
    #[arg(long)]
    pub manifest: Option<PathBuf>,
}

impl Selection {
    fn to_app(&self) -> mediaforce_app::Selection {
        mediaforce_app::Selection {
            index: self.index.clone(),
            all: self.all,
            manifest: self.manifest.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum WorkflowCommand {
    /// Queue, progress and results of the plan's items.
    Status {
        /// Plan file (default: the newest).
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Check staged encodes: full decode, duration, frames, streams, size saving, VMAF.
    Validate {
        #[command(flatten)]
        sel: Selection,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make side-by-side review clips, stills of the worst frames and a per-frame VMAF plot.
    Compare {
        #[command(flatten)]
        sel: Selection,
        /// Clip start time in seconds (repeatable; default: scene cuts in the busiest parts).
        #[arg(long = "timestamp")]
        timestamps: Vec<f64>,
        /// Clip length in seconds.
        #[arg(long, default_value_t = 4.0)]
        clip_seconds: f64,
        /// Open the first clip with the system's player.
        #[arg(long)]
        play: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Describe an item in plain English: sizes, scores, worst scenes, review material.
    Review {
        #[command(flatten)]
        sel: Selection,
        /// Open the first clip with the system's player.
        #[arg(long)]
        play: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Approve a validated item for promotion (--all: every validated item not yet decided).
    Approve {
        #[command(flatten)]
        sel: Selection,
        /// Also accept promoting an encode whose source had damaged data (concealed in the
        /// encode; see `mediaforce review`).
        #[arg(long)]
        accept_damaged_source: bool,
    },
    /// Reject an item: it will not be promoted.
    Reject {
        #[command(flatten)]
        sel: Selection,
    },
    /// Swap approved, validated encodes into the library; originals go to _replaced under the transcode root.
    Promote {
        #[command(flatten)]
        sel: Selection,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put the original back and the encode back into staging.
    Rollback {
        #[command(flatten)]
        sel: Selection,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Campaign over PREFIX, then encode, validate and compare its first item.
    Run {
        /// The folder.
        prefix: PathBuf,
        /// Open the first clip with the system's player.
        #[arg(long)]
        play: bool,
    },
    /// Pause running encodes (they wait between frames) until `mediaforce resume`.
    Pause,
    /// Resume paused encodes.
    Resume,
}

fn plan_path(lib: &Library, manifest: Option<&Path>) -> Result<PathBuf> {
    match manifest {
        Some(m) => Ok(absolute(m)),
        None => Ok(manifest::latest(&lib.catalog, &lib.paths.data_dir)?),
    }
}

fn selected<'a>(m: &'a Manifest, sel: &Selection, path: &Path) -> Result<Vec<&'a ManifestItem>> {
    if sel.all {
        return Ok(m.items.iter().collect());
    }
    if sel.index.is_empty() {
        bail!("say which items: --index I (repeatable) or --all");
    }
    sel.index
        .iter()
        .map(|&i| {
            m.items.get(i).with_context(|| {
                format!(
                    "{}: no item {i} (the plan has {})",
                    path.display(),
                    m.items.len()
                )
            })
        })
        .collect()
}

/// Why an item has no staged encode to work on (its state), or `None` when it has one.
fn not_staged(lib: &Library, manifest: &Path, item: &ManifestItem) -> Result<Option<String>> {
    let state = lib.catalog.item(manifest, item.index)?.map(|i| i.state);
    let staged = state.is_some_and(|s| s.has_encode() && item.staging.is_file());
    Ok((!staged).then(|| match state {
        Some(s) => format!("no staged encode (state {s})"),
        None => format!("not encoded yet (mediaforce encode --index {})", item.index),
    }))
}

fn item_record(lib: &Library, manifest: &Path, item: &ManifestItem) -> Result<ItemRecord> {
    lib.catalog.item(manifest, item.index)?.with_context(|| {
        format!(
            "{}: item {} has not been encoded yet (mediaforce encode --index {})",
            item.source.display(),
            item.index,
            item.index
        )
    })
}

#[derive(Serialize)]
struct EncodeResult<'a> {
    index: usize,
    source: &'a Path,
    #[serde(flatten)]
    outcome: StageOutcome,
}

/// `encode --index I | --all`: stage the selected items, `jobs` at a time.
pub fn encode_batch(
    paths: &Paths,
    sel: &Selection,
    jobs: usize,
    retries: Option<u32>,
    json: bool,
) -> Result<()> {
    let lib = Library::open(paths)?;
    let mpath = plan_path(&lib, sel.manifest.as_deref())?;
    let m = manifest::load(&lib.catalog, &mpath)?;
    let items: Vec<ManifestItem> = selected(&m, sel, &mpath)?.into_iter().cloned().collect();
    install_ctrlc();
    let mut options = StageOptions::new(&paths.data_dir);
    options.retries = retries;
    options.database = paths.database.clone();
    let jobs = jobs.max(1).min(items.len().max(1));
    let ui = BatchLines { json, jobs };
    // Through the job queue (<data dir>/jobs.db), as workers on other hosts will.
    let outcomes = mediaforce::batch::run(&mpath, &m.items, &items, &options, jobs, &CANCEL, &ui)?;
    let results: Vec<EncodeResult<'_>> = outcomes
        .into_iter()
        .filter_map(|(index, outcome)| {
            let item = m.items.iter().find(|i| i.index == index)?;
            Some(EncodeResult {
                index,
                source: &item.source,
                outcome,
            })
        })
        .collect();
    let mut results = results;
    results.sort_by_key(|r| r.index);
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    }
    if CANCEL.load(Ordering::Relaxed) {
        bail!("stopped by Ctrl-C; run the same command again to resume");
    }
    let failed = results
        .iter()
        .filter(|r| matches!(r.outcome, StageOutcome::Failed { .. }))
        .count();
    if failed > 0 {
        bail!(
            "{failed} of {} items failed (see `mediaforce status`)",
            results.len()
        );
    }
    Ok(())
}

/// What `encode --all` prints while the queue's workers run: a line as each item starts and
/// ends; with one worker, the search's probe lines and the encode's progress bar too.
struct BatchLines {
    json: bool,
    jobs: usize,
}

impl mediaforce::batch::BatchUi for BatchLines {
    fn started(&self, item: &ManifestItem) {
        if !self.json {
            eprintln!("[{}] {}", item.index, item.source.display());
        }
    }

    fn finished(&self, item: &ManifestItem, outcome: &StageOutcome) {
        if !self.json {
            println!("[{}] {}", item.index, describe_outcome(outcome));
        }
    }

    fn observer(&self, item: &ManifestItem) -> Box<dyn SearchObserver + '_> {
        if self.jobs > 1 {
            return Box::new(Quiet);
        }
        let knob =
            mediaforce::codecs::find(&item.policy.encode.encoder).map_or("knob", |a| a.knob().name);
        Box::new(crate::progress::SearchProgress::new(
            !self.json,
            knob,
            &item.source,
        ))
    }

    fn progress(&self, _item: &ManifestItem) -> Box<dyn mediaforce_core::ProgressSink + '_> {
        Box::new(Bar::new(!self.json && self.jobs == 1))
    }
}

fn describe_outcome(o: &StageOutcome) -> String {
    match o {
        StageOutcome::AlreadyStaged { staging } => format!("already staged: {}", staging.display()),
        StageOutcome::Staged {
            staging,
            knob,
            predicted_vmaf,
            measured_vmaf,
            source_bytes,
            output_bytes,
            seconds,
            source_damage,
        } => format!(
            "staged {} (knob {knob}): VMAF predicted {predicted_vmaf:.2}, measured {}; {} -> {} ({:+.1}%) in {seconds:.0} s{}",
            staging.display(),
            measured_vmaf.map_or("-".into(), |v| format!("{v:.2}")),
            human_bytes(*source_bytes),
            human_bytes(*output_bytes),
            100.0 * (*output_bytes as f64 - *source_bytes as f64) / (*source_bytes).max(1) as f64,
            if *source_damage > 0 {
                format!("; WARNING: the source has {source_damage} damaged packet(s) or frame(s), concealed in the encode: it is promoted only after `approve --accept-damaged-source`")
            } else {
                String::new()
            }
        ),
        StageOutcome::NoResult { reason } => format!("no result: {reason}"),
        StageOutcome::Failed { error, attempts } => format!("failed after {attempts} attempts: {error}"),
        StageOutcome::Cancelled => "stopped".into(),
        StageOutcome::Busy { holder } => format!("left alone: {holder} is encoding it"),
        StageOutcome::Refused { reason } => format!("left as it is: {reason}"),
    }
}

/// A staged item as report/status show it.
#[derive(Debug, Clone, Serialize)]
pub struct StagedRow {
    pub index: usize,
    pub source: PathBuf,
    pub staging: PathBuf,
    pub state: String,
    pub decision: Option<String>,
    pub source_bytes: Option<u64>,
    pub staged_bytes: Option<u64>,
    pub saving_percent: Option<f64>,
    pub predicted_vmaf: Option<f64>,
    pub measured_vmaf: Option<f64>,
    pub validation: Option<String>,
    pub last_event: Option<String>,
    /// Damaged packets or frames of the source concealed in the encode.
    pub source_damage: u64,
    /// The operator accepted promoting despite the damage.
    pub damage_accepted: bool,
}

/// Items of the newest plan that work has started on, under `prefix`.
pub fn staged_rows(lib: &Library, prefix: Option<&Path>) -> Result<Vec<StagedRow>> {
    let Ok(mpath) = manifest::latest(&lib.catalog, &lib.paths.data_dir) else {
        return Ok(Vec::new());
    };
    let mut rows = Vec::new();
    for it in lib.catalog.items(&mpath)? {
        if prefix.is_some_and(|p| !it.source.starts_with(p)) {
            continue;
        }
        rows.push(staged_row(lib, &it)?);
    }
    Ok(rows)
}

fn staged_row(lib: &Library, it: &ItemRecord) -> Result<StagedRow> {
    let enc = lib.catalog.last_encode(it.id)?;
    let val = lib.catalog.last_validation(it.id)?;
    let events = lib.catalog.item_events(it.id)?;
    let (source_bytes, staged_bytes) = match &enc {
        Some(e) => (Some(e.source_bytes), Some(e.output_bytes)),
        None => (None, None),
    };
    Ok(StagedRow {
        index: it.index,
        source: it.source.clone(),
        staging: it.staging.clone(),
        state: it.state.to_string(),
        decision: it.decision.map(|d| d.to_string()),
        source_bytes,
        staged_bytes,
        saving_percent: source_bytes
            .zip(staged_bytes)
            .map(|(s, o)| 100.0 * (s as f64 - o as f64) / s.max(1) as f64),
        predicted_vmaf: enc.as_ref().and_then(|e| e.predicted_vmaf),
        measured_vmaf: enc.as_ref().and_then(|e| e.measured_vmaf),
        validation: val.map(|(ok, _)| if ok { "passed".into() } else { "failed".into() }),
        source_damage: it.source_damage,
        damage_accepted: it.damage_accepted,
        last_event: events.last().map(|(_, k, d)| match d {
            Some(d) => format!("{k}: {d}"),
            None => k.clone(),
        }),
    })
}

pub fn print_staged(rows: &[StagedRow]) {
    if rows.is_empty() {
        return;
    }
    println!("staged work (newest plan):");
    for r in rows {
        println!(
            "  {:>3}. {:<12} {}  {} -> {} ({}), VMAF {} / {}{}{}",
            r.index,
            r.state,
            r.source.display(),
            r.source_bytes.map_or("-".into(), human_bytes),
            r.staged_bytes.map_or("-".into(), human_bytes),
            r.saving_percent.map_or("-".into(), |s| format!("-{s:.1}%")),
            r.predicted_vmaf
                .map_or("-".into(), |v| format!("{v:.2} predicted")),
            r.measured_vmaf
                .map_or("-".into(), |v| format!("{v:.2} measured")),
            r.validation
                .as_ref()
                .map_or(String::new(), |v| format!(", validation {v}")),
            r.decision
                .as_ref()
                .map_or(String::new(), |d| format!(", {d}")),
        );
    }
}

fn scores_path(data_dir: &Path, item: i64) -> PathBuf {
    data_dir.join("scores").join(format!("item-{item}.json"))
}

fn compare_dir(item: i64) -> PathBuf {
    default_cache_dir().join(format!("item-{item}"))
}

fn load_validation(lib: &Library, it: &ItemRecord) -> Result<Option<ValidationReport>> {
    let Some((_, json)) = lib.catalog.last_validation(it.id)? else {
        return Ok(None);
    };
    let mut r: ValidationReport = serde_json::from_str(&json)?;
    if let Ok(text) = std::fs::read_to_string(scores_path(&lib.paths.data_dir, it.id)) {
        r.per_frame = serde_json::from_str(&text).unwrap_or_default();
    }
    Ok(Some(r))
}

fn run_validate(
    lib: &Library,
    mpath: &Path,
    item: &ManifestItem,
    quiet: bool,
) -> Result<ValidationReport> {
    let it = item_record(lib, mpath, item)?;
    let mut bar = Bar::new(!quiet);
    let report = validate(&item.source, &item.staging, &item.policy, &mut bar);
    let scores = scores_path(&lib.paths.data_dir, it.id);
    if !report.per_frame.is_empty() {
        std::fs::create_dir_all(scores.parent().expect("has parent"))?;
        std::fs::write(&scores, serde_json::to_string(&report.per_frame)?)?;
    }
    let mut stored = report.clone();
    stored.per_frame.clear();
    lib.catalog
        .record_validation(it.id, report.passed, &serde_json::to_string(&stored)?)?;
    if !it.state.moving() {
        let failed: Vec<&str> = report
            .checks
            .iter()
            .filter(|c| !c.passed)
            .map(|c| c.name.as_str())
            .collect();
        let detail = if failed.is_empty() {
            format!("saving {:.1}%", report.saving_percent)
        } else {
            format!("failed: {}", failed.join(", "))
        };
        lib.catalog.set_state(
            it.id,
            if report.passed {
                ItemState::Validated
            } else {
                ItemState::Invalid
            },
            Some(&detail),
        )?;
    }
    Ok(report)
}

fn print_validation(item: &ManifestItem, r: &ValidationReport) {
    println!(
        "[{}] {}: {}  ({} -> {}, {:+.1}%)",
        item.index,
        item.source.display(),
        if r.passed { "PASSED" } else { "FAILED" },
        human_bytes(r.source_bytes),
        human_bytes(r.staged_bytes),
        -r.saving_percent
    );
    for c in &r.checks {
        println!(
            "    {} {:<9} {}",
            if c.passed { "ok  " } else { "FAIL" },
            c.name,
            c.detail
        );
    }
}

fn open_player(path: &Path) {
    // Playback is the user's player's job; this is not media processing.
    for player in ["xdg-open", "mpv", "vlc", "open"] {
        let found = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(player).is_file()));
        if found {
            let _ = std::process::Command::new(player)
                .arg(path)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn();
            return;
        }
    }
    eprintln!("no video player found; open {} yourself", path.display());
}

fn run_compare(
    lib: &Library,
    mpath: &Path,
    item: &ManifestItem,
    timestamps: &[f64],
    clip_seconds: f64,
) -> Result<CompareReport> {
    let it = item_record(lib, mpath, item)?;
    if !item.staging.is_file() {
        bail!(
            "{}: not staged (state {})",
            item.staging.display(),
            it.state
        );
    }
    let val = load_validation(lib, &it)?;
    let (per_frame, worst) = val
        .as_ref()
        .map(|v| (v.per_frame.clone(), v.worst_frames.clone()))
        .unwrap_or_default();
    let enc = lib.catalog.last_encode(it.id)?;
    let label_b = match &enc {
        Some(e) => format!("ENCODE {} {}", e.encoder, e.knob),
        None => "ENCODE".into(),
    };
    let opts = CompareOptions {
        timestamps: timestamps.to_vec(),
        clip_seconds,
        ..CompareOptions::default()
    };
    let report = compare(
        &item.source,
        &item.staging,
        &compare_dir(it.id),
        ("SOURCE", &label_b),
        &per_frame,
        &worst,
        Some(item.policy.encode.target_vmaf),
        &opts,
    )?;
    std::fs::write(
        report.dir.join("report.json"),
        serde_json::to_string_pretty(&report)?,
    )?;
    lib.catalog
        .event(it.id, "compared", Some(&report.dir.to_string_lossy()))?;
    Ok(report)
}

fn print_compare(item: &ManifestItem, r: &CompareReport) {
    println!(
        "[{}] review material in {} (clips at {}):",
        item.index,
        r.dir.display(),
        r.placement
    );
    for c in &r.clips {
        println!(
            "    clip  {} ({} frames from {:.1} s, {}x{})",
            c.path.display(),
            c.frames,
            c.start_seconds,
            c.width,
            c.height
        );
    }
    for s in &r.stills {
        println!("    still {}", s.path.display());
    }
    if let Some(p) = &r.plot {
        println!("    plot  {}", p.display());
    }
}

#[derive(Serialize)]
struct ReviewView {
    #[serde(flatten)]
    row: StagedRow,
    validation: Option<ValidationReport>,
    review_material: Option<serde_json::Value>,
    text: String,
}

fn review_text(
    item: &ManifestItem,
    row: &StagedRow,
    val: Option<&ValidationReport>,
    material: Option<&serde_json::Value>,
) -> String {
    let mut s = format!("Item {}: {}\n", item.index, item.source.display());
    match (row.source_bytes, row.staged_bytes) {
        (Some(a), Some(b)) => {
            s += &format!(
                "The encode at {} is {} against {} for the original: {} {}.\n",
                item.staging.display(),
                human_bytes(b),
                human_bytes(a),
                if b < a { "it saves" } else { "it is LARGER by" },
                human_bytes(a.abs_diff(b))
            );
        }
        _ => s += &format!("Not encoded yet (state {}).\n", row.state),
    }
    if row.source_damage > 0 {
        s += &format!(
            "The SOURCE IS DAMAGED: {} damaged packet(s) or frame(s) were concealed while encoding it{}; the encode carries the concealment. Promote it only if the clips look right: mediaforce approve --index {} --accept-damaged-source\n",
            row.source_damage,
            if row.damage_accepted { " (accepted)" } else { "" },
            item.index
        );
    }
    if let Some(v) = val {
        if let Some(p) = &v.vmaf {
            s += &format!(
                "Against the original it scores VMAF {:.2} on average; 5% of frames score below {:.2} and the worst frame {:.2} (target: {} {}).\n",
                p.mean, p.p5, p.min, item.policy.encode.target_stat, item.policy.encode.target_vmaf
            );
        }
        if !v.worst_frames.is_empty() {
            let w: Vec<String> = v
                .worst_frames
                .iter()
                .take(3)
                .map(|w| format!("{:.1} s ({:.1})", w.seconds, w.vmaf))
                .collect();
            s += &format!("Worst moments: {}.\n", w.join(", "));
        }
        if v.passed {
            s += "Machine validation passed: every frame decodes, duration, frame count and streams match, and the saving meets the policy.\n";
        } else {
            let failed: Vec<String> = v
                .checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| format!("{} ({})", c.name, c.detail))
                .collect();
            s += &format!("Machine validation FAILED: {}.\n", failed.join("; "));
        }
    } else {
        s += &format!(
            "Not validated yet: mediaforce validate --index {}\n",
            item.index
        );
    }
    match material {
        Some(m) => {
            let clips: Vec<String> = m["clips"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|c| c["path"].as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            s += &format!("Look at the side-by-side clips: {}.\n", clips.join(", "));
            if let Some(p) = m["plot"].as_str() {
                s += &format!("Per-frame VMAF plot: {p}\n");
            }
        }
        None => {
            s += &format!(
                "No review clips yet: mediaforce compare --index {}\n",
                item.index
            )
        }
    }
    s += &match (row.decision.as_deref(), row.state.as_str()) {
        (_, "promoted") => format!(
            "It is promoted; undo with: mediaforce rollback --index {}\n",
            item.index
        ),
        (Some("approved"), _) => format!(
            "Approved. Next: mediaforce promote --index {}\n",
            item.index
        ),
        (Some("rejected"), _) => "Rejected: it will not be promoted.\n".to_string(),
        _ if val.is_some_and(|v| v.passed) => format!(
            "Decide: mediaforce approve --index {i}  or  mediaforce reject --index {i}\n",
            i = item.index
        ),
        _ => String::new(),
    };
    s
}

pub fn run(cmd: WorkflowCommand, paths: &Paths) -> Result<()> {
    let lib = Library::open(paths)?;
    match cmd {
        WorkflowCommand::Status { manifest, json } => {
            let mpath = plan_path(&lib, manifest.as_deref())?;
            let m = manifest::load(&lib.catalog, &mpath)?;
            let mut rows = Vec::new();
            for item in &m.items {
                match lib.catalog.item(&mpath, item.index)? {
                    Some(it) => rows.push(staged_row(&lib, &it)?),
                    None => rows.push(StagedRow {
                        index: item.index,
                        source: item.source.clone(),
                        staging: item.staging.clone(),
                        state: "queued".into(),
                        decision: None,
                        source_bytes: Some(item.source_bytes),
                        staged_bytes: None,
                        saving_percent: None,
                        predicted_vmaf: None,
                        measured_vmaf: None,
                        validation: None,
                        last_event: None,
                        source_damage: 0,
                        damage_accepted: false,
                    }),
                }
            }
            let paused = pause_file(&paths.data_dir).exists();
            if json {
                #[derive(Serialize)]
                struct V<'a> {
                    manifest: &'a Path,
                    paused: bool,
                    items: &'a [StagedRow],
                }
                println!(
                    "{}",
                    serde_json::to_string_pretty(&V {
                        manifest: &mpath,
                        paused,
                        items: &rows
                    })?
                );
                return Ok(());
            }
            let mut counts = std::collections::BTreeMap::<&str, usize>::new();
            for r in &rows {
                *counts.entry(r.state.as_str()).or_default() += 1;
            }
            println!(
                "plan {}: {} items ({}){}",
                mpath.display(),
                rows.len(),
                counts
                    .iter()
                    .map(|(k, v)| format!("{v} {k}"))
                    .collect::<Vec<_>>()
                    .join(", "),
                if paused {
                    "; PAUSED (mediaforce resume)"
                } else {
                    ""
                }
            );
            print_staged(&rows);
            for r in rows
                .iter()
                .filter(|r| r.state == "encoding" || r.state == "failed")
            {
                if let Some(e) = &r.last_event {
                    println!("    [{}] {e}", r.index);
                }
            }
            Ok(())
        }
        WorkflowCommand::Validate { sel, json } => {
            let mpath = plan_path(&lib, sel.manifest.as_deref())?;
            let m = manifest::load(&lib.catalog, &mpath)?;
            let mut reports = Vec::new();
            let items = selected(&m, &sel, &mpath)?;
            let mut left = mediaforce_app::BatchView::<()>::new(items.len());
            for item in &items {
                // What has no encode is listed with its state, and the others still run.
                if let Some(reason) = not_staged(&lib, &mpath, item)? {
                    left.skip(item, reason);
                    continue;
                }
                match run_validate(&lib, &mpath, item, json) {
                    Ok(r) => {
                        if !json {
                            print_validation(item, &r);
                        }
                        reports.push(r);
                    }
                    Err(e) => left.fail(
                        item,
                        mediaforce_app::AppError::new(
                            mediaforce_app::ErrorKind::Internal,
                            format!("{e:#}"),
                        ),
                    ),
                }
            }
            if json {
                let stored: Vec<ValidationReport> = reports
                    .iter()
                    .cloned()
                    .map(|mut r| {
                        r.per_frame.clear();
                        r
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&stored)?);
            }
            let failed = reports.iter().filter(|r| !r.passed).count();
            if failed > 0 {
                bail!("{failed} of {} items failed validation", reports.len());
            }
            print_notes(&left);
            Ok(left.verdict(&sel.to_app(), "validated")?)
        }
        WorkflowCommand::Compare {
            sel,
            timestamps,
            clip_seconds,
            play,
            json,
        } => {
            let mpath = plan_path(&lib, sel.manifest.as_deref())?;
            let m = manifest::load(&lib.catalog, &mpath)?;
            let mut out = Vec::new();
            let items = selected(&m, &sel, &mpath)?;
            let mut left = mediaforce_app::BatchView::<()>::new(items.len());
            for item in &items {
                if let Some(reason) = not_staged(&lib, &mpath, item)? {
                    left.skip(item, reason);
                    continue;
                }
                match run_compare(&lib, &mpath, item, &timestamps, clip_seconds) {
                    Ok(r) => {
                        if !json {
                            print_compare(item, &r);
                        }
                        out.push(r);
                    }
                    Err(e) => left.fail(
                        item,
                        mediaforce_app::AppError::new(
                            mediaforce_app::ErrorKind::Internal,
                            format!("{e:#}"),
                        ),
                    ),
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&out)?);
            }
            if play {
                if let Some(c) = out.first().and_then(|r| r.clips.first()) {
                    open_player(&c.path);
                }
            }
            print_notes(&left);
            Ok(left.verdict(&sel.to_app(), "compared")?)
        }
        WorkflowCommand::Review { sel, play, json } => {
            let mpath = plan_path(&lib, sel.manifest.as_deref())?;
            let m = manifest::load(&lib.catalog, &mpath)?;
            let mut sel = sel.clone();
            if sel.index.is_empty() && !sel.all {
                sel.index.push(0);
            }
            let mut views = Vec::new();
            for item in selected(&m, &sel, &mpath)? {
                let it = item_record(&lib, &mpath, item)?;
                let row = staged_row(&lib, &it)?;
                let mut val = load_validation(&lib, &it)?;
                let material: Option<serde_json::Value> =
                    std::fs::read_to_string(compare_dir(it.id).join("report.json"))
                        .ok()
                        .and_then(|t| serde_json::from_str(&t).ok());
                let text = review_text(item, &row, val.as_ref(), material.as_ref());
                if let Some(v) = val.as_mut() {
                    v.per_frame.clear();
                }
                if !json {
                    print!("{text}");
                }
                if play {
                    if let Some(p) = material
                        .as_ref()
                        .and_then(|m| m["clips"][0]["path"].as_str())
                    {
                        open_player(Path::new(p));
                    }
                }
                views.push(ReviewView {
                    row,
                    validation: val,
                    review_material: material,
                    text,
                });
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&views)?);
            }
            Ok(())
        }
        WorkflowCommand::Approve {
            sel,
            accept_damaged_source,
        } => decide(&lib, &sel, Decision::Approved, accept_damaged_source),
        WorkflowCommand::Reject { sel } => decide(&lib, &sel, Decision::Rejected, false),
        WorkflowCommand::Promote { sel, json } => {
            let view = lib.promote(&sel.to_app())?;
            for o in &view.done {
                if !json {
                    println!(
                        "[{}] promoted {} (original kept at {}), saved {}",
                        o.index,
                        o.outcome.library.display(),
                        o.outcome.original.display(),
                        human_bytes(o.outcome.saved_bytes.max(0) as u64)
                    );
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&view.done)?);
            }
            print_notes(&view);
            Ok(view.verdict(&sel.to_app(), "promoted")?)
        }
        WorkflowCommand::Rollback { sel, json } => {
            let view = lib.rollback(&sel.to_app())?;
            for o in &view.done {
                if !json {
                    println!(
                        "[{}] restored {}; the encode is back at {}",
                        o.index,
                        o.outcome.library.display(),
                        o.outcome.encode.display()
                    );
                }
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&view.done)?);
            }
            print_notes(&view);
            Ok(view.verdict(&sel.to_app(), "rolled back")?)
        }
        WorkflowCommand::Run { prefix, play } => {
            let prefix = lib.folder(&prefix)?;
            let mpath = campaign(&lib, &prefix, None, false)?;
            let m = manifest::load(&lib.catalog, &mpath)?;
            let Some(first) = m.items.first() else {
                return Ok(());
            };
            println!();
            let sel = Selection {
                index: vec![first.index],
                all: false,
                manifest: Some(mpath.clone()),
            };
            drop(lib);
            encode_batch(paths, &sel, 1, None, false)?;
            let lib = Library::open(paths)?;
            let r = run_validate(&lib, &mpath, first, false)?;
            print_validation(first, &r);
            let c = run_compare(&lib, &mpath, first, &[], 4.0)?;
            print_compare(first, &c);
            if play {
                if let Some(clip) = c.clips.first() {
                    open_player(&clip.path);
                }
            }
            println!();
            if r.passed {
                println!(
                    "Next: look at the clips, then `mediaforce review --index {i}`, `mediaforce approve --index {i}` and `mediaforce promote --index {i}`.",
                    i = first.index
                );
            } else {
                println!("The encode failed validation; it will not be promoted. See `mediaforce review --index {}`.", first.index);
            }
            Ok(())
        }
        WorkflowCommand::Pause => {
            std::fs::create_dir_all(&paths.data_dir)?;
            std::fs::write(
                pause_file(&paths.data_dir),
                b"paused by `mediaforce pause`\n",
            )?;
            println!("paused: running encodes wait until `mediaforce resume`");
            Ok(())
        }
        WorkflowCommand::Resume => {
            match std::fs::remove_file(pause_file(&paths.data_dir)) {
                Ok(()) => println!("resumed"),
                Err(_) => println!("not paused"),
            }
            Ok(())
        }
    }
}

fn decide(lib: &Library, sel: &Selection, decision: Decision, accept_damage: bool) -> Result<()> {
    let view = lib.decide(&sel.to_app(), decision, accept_damage)?;
    for d in &view.done {
        println!("[{}] {}: {}", d.index, d.decision, d.source.display());
    }
    print_notes(&view);
    Ok(view.verdict(&sel.to_app(), decision.as_str())?)
}

/// The items a batch use case skipped or failed, one line each on stderr.
fn print_notes<T>(view: &mediaforce_app::BatchView<T>) {
    for n in &view.skipped {
        eprintln!(
            "[{}] {}: skipped: {}",
            n.index,
            n.source.display(),
            n.reason
        );
    }
    for n in &view.failed {
        eprintln!("{n}");
    }
}
