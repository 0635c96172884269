//! Workflow commands over a plan: encode items, status, validate, compare, review, approve,
//! reject, promote, rollback, run, pause, resume. Each parses, calls the application layer and
//! renders its view (text or `--json`).

use crate::progress::{Bars, SearchProgress};
use crate::render::{human_bytes, print_json, print_staged};
use anyhow::{bail, Result};
use clap::Subcommand;
use mediaforce::compare::CompareReport;
use mediaforce::domain::Decision;
use mediaforce::events::{Event, EventSink};
use mediaforce::manifest::ManifestItem;
use mediaforce::runner::Reporter;
use mediaforce::stage::StageOutcome;
use mediaforce::validate::ValidationReport;
use mediaforce_app::{App, Paths};
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
    pub fn to_app(&self) -> mediaforce_app::Selection {
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

/// `encode --index I | --all`: stage the selected items, `jobs` at a time, through the job
/// queue (as workers on other hosts will).
pub fn encode_batch(
    paths: &Paths,
    sel: &Selection,
    jobs: usize,
    retries: Option<u32>,
    json: bool,
) -> Result<()> {
    encode_with(&App::open(paths)?, sel, jobs, retries, json)
}

/// [`encode_batch`] on an open application.
pub(crate) fn encode_with(
    app: &App,
    sel: &Selection,
    jobs: usize,
    retries: Option<u32>,
    json: bool,
) -> Result<()> {
    install_ctrlc();
    let ui = BatchLines {
        json,
        detail: jobs == 1,
    };
    let results = app.encode(&sel.to_app(), jobs, retries, &CANCEL, &ui)?;
    if json {
        print_json(&results)?;
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

/// What `encode --all` and `worker` print while the queue's workers run: a line as each item
/// starts (stderr) and ends (stdout; stderr under `--json`, whose stdout is the document);
/// with one job at a time, the search's probe lines and the bars too.
pub(crate) struct BatchLines {
    pub(crate) json: bool,
    /// Show each job's probes and bars (one job at a time on a terminal).
    pub(crate) detail: bool,
}

/// One item's events as lines.
struct ItemLines {
    json: bool,
    detail: Option<crate::progress::SearchProgress>,
}

impl EventSink for ItemLines {
    fn emit(&mut self, e: Event) {
        match &e {
            Event::ItemStarted { index, source, .. } if !self.json => {
                eprintln!("[{index}] {}", source.display());
            }
            Event::ItemFinished { index, detail, .. } => {
                if self.json {
                    eprintln!("[{index}] {detail}");
                } else {
                    println!("[{index}] {detail}");
                }
            }
            _ => {}
        }
        if let Some(d) = &mut self.detail {
            d.emit(e);
        }
    }
}

impl Reporter for BatchLines {
    fn item(&self, item: &ManifestItem) -> Box<dyn EventSink + '_> {
        Box::new(ItemLines {
            json: self.json,
            detail: self
                .detail
                .then(|| crate::progress::SearchProgress::new(!self.json, "knob", &item.source)),
        })
    }

    fn event(&self, e: Event) {
        if let Event::JobFailed { cause, .. } = e {
            eprintln!("{cause}");
        }
    }
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

pub fn run(cmd: WorkflowCommand, paths: &Paths) -> Result<()> {
    let app = App::open(paths)?;
    match cmd {
        WorkflowCommand::Status { manifest, json } => {
            let v = app.status(manifest.as_deref())?;
            if json {
                return print_json(&v);
            }
            print_status(&v);
            Ok(())
        }
        WorkflowCommand::Validate { sel, json } => {
            // No Ctrl-C handler: validation stops where it is (its job's lease then expires
            // and the job returns to the queue).
            let view = app.validate(&sel.to_app(), &CANCEL, &Bars(!json), &mut |item, r| {
                if !json {
                    print_validation(item, r);
                }
            })?;
            if json {
                let stored: Vec<ValidationReport> = view
                    .done
                    .iter()
                    .cloned()
                    .map(|mut r| {
                        r.per_frame.clear();
                        r
                    })
                    .collect();
                print_json(&stored)?;
            }
            let failed = view.done.iter().filter(|r| !r.passed).count();
            if failed > 0 {
                bail!("{failed} of {} items failed validation", view.done.len());
            }
            print_notes(&view);
            Ok(view.verdict(&sel.to_app(), "validated")?)
        }
        WorkflowCommand::Compare {
            sel,
            timestamps,
            clip_seconds,
            play,
            json,
        } => {
            let view = app.compare(
                &sel.to_app(),
                &timestamps,
                clip_seconds,
                &CANCEL,
                &Bars(!json),
                &mut |item, r| {
                    if !json {
                        print_compare(item, r);
                    }
                },
            )?;
            if json {
                print_json(&view.done)?;
            }
            if play {
                if let Some(c) = view.done.first().and_then(|r| r.clips.first()) {
                    open_player(&c.path);
                }
            }
            print_notes(&view);
            Ok(view.verdict(&sel.to_app(), "compared")?)
        }
        WorkflowCommand::Review { sel, play, json } => {
            let views = app.review(&sel.to_app())?;
            for v in &views {
                if !json {
                    print!("{}", v.text);
                }
                if play {
                    if let Some(p) = v
                        .review_material
                        .as_ref()
                        .and_then(|m| m["clips"][0]["path"].as_str())
                    {
                        open_player(Path::new(p));
                    }
                }
            }
            if json {
                print_json(&views)?;
            }
            Ok(())
        }
        WorkflowCommand::Approve {
            sel,
            accept_damaged_source,
        } => decide(&app, &sel, Decision::Approved, accept_damaged_source),
        WorkflowCommand::Reject { sel } => decide(&app, &sel, Decision::Rejected, false),
        WorkflowCommand::Promote { sel, json } => {
            let view = app.promote(&sel.to_app())?;
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
                print_json(&view.done)?;
            }
            print_notes(&view);
            Ok(view.verdict(&sel.to_app(), "promoted")?)
        }
        WorkflowCommand::Rollback { sel, json } => {
            let view = app.rollback(&sel.to_app())?;
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
                print_json(&view.done)?;
            }
            print_notes(&view);
            Ok(view.verdict(&sel.to_app(), "rolled back")?)
        }
        WorkflowCommand::Run { prefix, play } => run_first(&app, &prefix, play),
        WorkflowCommand::Pause => {
            app.pause()?;
            println!("paused: running encodes hold between frames and no new one starts, until `mediaforce resume`");
            Ok(())
        }
        WorkflowCommand::Resume => {
            println!(
                "{}",
                if app.resume()? {
                    "resumed"
                } else {
                    "not paused"
                }
            );
            Ok(())
        }
    }
}

/// A plan's status for people: counts by state, the items, what the busy or failed ones said.
fn print_status(v: &mediaforce_app::review::StatusView) {
    let mut counts = std::collections::BTreeMap::<&str, usize>::new();
    for r in &v.items {
        *counts.entry(r.state.as_str()).or_default() += 1;
    }
    println!(
        "plan {}: {} items ({}){}",
        v.manifest.display(),
        v.items.len(),
        counts
            .iter()
            .map(|(k, v)| format!("{v} {k}"))
            .collect::<Vec<_>>()
            .join(", "),
        if v.paused {
            "; PAUSED (mediaforce resume)"
        } else {
            ""
        }
    );
    print_staged(&v.items);
    for r in v
        .items
        .iter()
        .filter(|r| r.state == "encoding" || r.state == "failed")
    {
        if let Some(e) = &r.last_event {
            println!("    [{}] {e}", r.index);
        }
    }
}

/// `run`: plan a folder, then encode, validate and compare its best item, and say what next.
fn run_first(app: &App, prefix: &Path, play: bool) -> Result<()> {
    let prefix = app.folder(prefix)?;
    let mpath = crate::library::campaign(app, &prefix, None, false)?;
    let m = mediaforce::manifest::load(&app.catalog, &mpath)?;
    let Some(first) = m.items.first() else {
        return Ok(());
    };
    println!();
    let sel = Selection {
        index: vec![first.index],
        all: false,
        manifest: Some(mpath.clone()),
    };
    encode_with(app, &sel, 1, None, false)?;
    let mut bars = SearchProgress::new(true, "knob", &first.source);
    let r = app.validate_item(&mpath, first, &mut bars)?;
    drop(bars);
    print_validation(first, &r);
    let c = app.compare_item(&mpath, first, &[], 4.0)?;
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

fn decide(app: &App, sel: &Selection, decision: Decision, accept_damage: bool) -> Result<()> {
    let view = app.decide(&sel.to_app(), decision, accept_damage)?;
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
