//! Library commands: settings, scan, policy, report, ls, inspect-folder, plan, campaign. Each
//! parses, calls the application layer and renders its view (text or `--json`).

use crate::render::{self, human_bytes, print_json};
use anyhow::Result;
use clap::Subcommand;
use mediaforce_app::{App, Paths};
use std::path::{Path, PathBuf};

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
    /// What the library holds and what was saved: savings per day, week and month, encoding
    /// hours and speed, quality against the targets, the codec and container mix now and
    /// before, per-root backlog and health, a forecast and the best opportunities.
    Stats {
        /// The time range: 7d, 30d, 90d, 1y or all.
        #[arg(long, default_value = "30d")]
        since: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Findings that need no encode: the same content in two places (confirmed by duration
    /// and decoded frames), files far below their folder's bit rate, groups of alike files
    /// worth a `calibrate` first, unreadable files. Nothing is changed.
    Analyze {
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
    /// Search a few representative files of a folder (spread over its sizes) on samples and
    /// save the median knob per resolution class as the folder's first guess (its override,
    /// shown by `policy show` with its provenance).
    Calibrate {
        /// The folder.
        folder: PathBuf,
        /// How many files to search.
        #[arg(long, default_value_t = 3)]
        files: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The corpus harness: encode each input at each preset and knob on the search's
    /// samples, score it, and append one JSON Lines row per encode to FILE (resumable: rows
    /// already there are skipped); the rows are kept in the store too.
    Grid {
        /// Sources.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// Encoder adapter (libsvtav1, libx264, libx265, ...).
        #[arg(long)]
        encoder: String,
        /// Preset; repeatable (the adapter's default when none).
        #[arg(long = "preset")]
        presets: Vec<String>,
        /// Knob values as A..B:STEP, both ends included (20..40:2).
        #[arg(long, value_parser = mediaforce_app::tuning::parse_knob_range)]
        knob: std::vec::Vec<f64>,
        /// Samples per input (the search's default when omitted).
        #[arg(long)]
        samples: Option<usize>,
        /// Sample length in seconds.
        #[arg(long)]
        sample_seconds: Option<f64>,
        /// Picture height to encode at, scaled down and scored upscaled to the source's size;
        /// repeatable (the source's own size when none).
        #[arg(long = "resolution")]
        resolutions: Vec<u32>,
        /// Also measure this metric on the same frames (psnr, ssim, ms-ssim, cambi, ciede2000,
        /// psnr-hvs); repeatable.
        #[arg(long = "metric")]
        metrics: Vec<String>,
        /// Encode and score the whole file for each row (at the source's size) instead of the
        /// samples.
        #[arg(long)]
        full: bool,
        /// The JSON Lines file rows are appended to.
        #[arg(long)]
        out: PathBuf,
        /// Print a JSON summary.
        #[arg(long)]
        json: bool,
    },
    /// The Pareto ladder: encode the source at several heights over a knob range (on samples
    /// held in memory), score each encode upscaled to the source's size, take the upper
    /// convex hull in (bit rate, VMAF) and pick streaming rungs on it. With --out, writes
    /// ladder.json, master.m3u8 (an HLS master playlist skeleton) and ladder.svg.
    Ladder {
        /// The source.
        input: PathBuf,
        /// Encoder adapter (libsvtav1, libx264, libx265, ...).
        #[arg(long)]
        encoder: String,
        /// Preset (the adapter's default when omitted).
        #[arg(long)]
        preset: Option<String>,
        /// Picture height; repeatable (the source's and 2160/1440/1080/720/540/360 below it
        /// when none).
        #[arg(long = "resolution")]
        resolutions: Vec<u32>,
        /// Knob values as A..B:STEP (six around the encoder's default when omitted).
        #[arg(long, value_parser = mediaforce_app::tuning::parse_knob_range)]
        knob: Option<std::vec::Vec<f64>>,
        /// Most rungs.
        #[arg(long, default_value_t = 5)]
        rungs: usize,
        /// The VMAF the top rung must reach (the cheapest hull point that does).
        #[arg(long, default_value_t = 95.0)]
        top_vmaf: f64,
        /// Each rung at least this many times cheaper than the one above.
        #[arg(long, default_value_t = 1.5)]
        min_ratio: f64,
        /// Each rung at least this much VMAF below the one above (about one JND).
        #[arg(long, default_value_t = 6.0)]
        min_step: f64,
        /// Samples (the search's default when omitted).
        #[arg(long)]
        samples: Option<usize>,
        /// Sample length in seconds.
        #[arg(long)]
        sample_seconds: Option<f64>,
        /// Directory for ladder.json, master.m3u8 and ladder.svg.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Fit the knob model on every measured point in the store (searches, calibrations,
    /// grid rows) and report its coefficients and leave-one-out accuracy.
    Model {
        /// Encoder adapter (the defaults policy's when omitted).
        #[arg(long)]
        encoder: Option<String>,
        /// Preset (the policy's or the adapter's default when omitted).
        #[arg(long)]
        preset: Option<String>,
        /// VMAF target (the policy's when omitted).
        #[arg(long)]
        target: Option<f64>,
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
        /// Explain the latest plan's item N instead: what its expected saving rests on (the
        /// estimator, the file's bits per pixel, the size model's coefficients, accuracy and
        /// nearest measured sources).
        #[arg(long, value_name = "N")]
        explain: Option<usize>,
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
    /// Stop ignoring a pattern (a file skipped from the queue is ignored by its path).
    RemoveIgnore { pattern: String },
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
pub fn run(cmd: LibraryCommand, paths: &Paths) -> Result<()> {
    let mut app = App::open(paths)?;
    match cmd {
        LibraryCommand::Settings { action } => settings(&mut app, action),
        LibraryCommand::Scan {
            prefix,
            limit,
            json,
        } => {
            let prefix = app.folder_opt(prefix.as_deref())?;
            let bar = crate::progress::ScanBar::new(!json);
            let r = app.scan(prefix.as_deref(), limit, &|p| bar.update(p))?;
            drop(bar);
            render::print_scan(&r, json)
        }
        LibraryCommand::Policy {
            action: PolicyAction::Show { path, json },
        } => policy_show(&app.policy(&app.folder(&path)?), json),
        LibraryCommand::Report {
            limit,
            prefix,
            json,
        } => {
            let prefix = app.folder_opt(prefix.as_deref())?;
            report(&app.report(prefix.as_deref(), limit)?, json)
        }
        LibraryCommand::Stats { since, json } => {
            let v = app.stats(&since)?;
            if json {
                return print_json(&v);
            }
            print!("{}", stats_text(&v));
            Ok(())
        }
        LibraryCommand::Analyze { json } => {
            let v = app.analyze()?;
            if json {
                return print_json(&v);
            }
            print!("{}", analysis_text(&v));
            Ok(())
        }
        LibraryCommand::Ls { prefix, json } => {
            let prefix = app.folder_opt(prefix.as_deref())?;
            ls(&app.ls(prefix.as_deref())?, json)
        }
        LibraryCommand::InspectFolder { prefix, json } => {
            render::print_inspect(&app.inspect_folder(&app.folder(&prefix)?)?, json)
        }
        LibraryCommand::Calibrate {
            folder,
            files,
            json,
        } => {
            let v = app.calibrate(&folder, files, &mut |path, n, of| {
                if !json {
                    eprintln!("searching {n}/{of}: {}", path.display());
                }
            })?;
            if json {
                return print_json(&v);
            }
            print_calibration(&v);
            Ok(())
        }
        LibraryCommand::Grid {
            inputs,
            encoder,
            presets,
            knob,
            samples,
            sample_seconds,
            resolutions,
            metrics,
            full,
            out,
            json,
        } => {
            let opts = mediaforce_app::tuning::GridOptions {
                metrics,
                full,
                encoder,
                presets,
                knobs: knob,
                samples,
                sample_seconds,
                resolutions,
            };
            let v = app.grid(&inputs, &opts, &out, &mut |p| {
                if !json {
                    print_grid_row(p);
                }
            })?;
            if json {
                return print_json(&v);
            }
            println!(
                "{} rows written, {} already in {}, {} new to the store, {:.1} s",
                v.written,
                v.skipped,
                v.out.display(),
                v.stored,
                v.seconds
            );
            Ok(())
        }
        LibraryCommand::Ladder {
            input,
            encoder,
            preset,
            resolutions,
            knob,
            rungs,
            top_vmaf,
            min_ratio,
            min_step,
            samples,
            sample_seconds,
            out,
            json,
        } => {
            let opts = mediaforce_app::tuning::LadderOptions {
                knobs: knob.unwrap_or_default(),
                encoder,
                preset,
                resolutions,
                rules: mediaforce::ladder::RungRules {
                    rungs,
                    top_vmaf,
                    min_ratio,
                    min_step,
                },
                samples,
                sample_seconds,
                out,
            };
            cmd_ladder(&app, &input, &opts, json)
        }
        LibraryCommand::Model {
            encoder,
            preset,
            target,
            json,
        } => {
            let v = app.knob_model(encoder.as_deref(), preset.as_deref(), target)?;
            if json {
                return print_json(&v);
            }
            print_model(&v);
            Ok(())
        }
        LibraryCommand::Plan {
            prefix,
            limit,
            json,
            explain,
        } => plan(&app, prefix.as_deref(), limit, json, explain),
        LibraryCommand::Campaign {
            prefix,
            limit,
            json,
        } => campaign(&app, &app.folder(&prefix)?, limit, json).map(|_| ()),
    }
}

/// `plan`: write the plan of the library (or of `prefix`), or explain item `explain` of the
/// latest one.
fn plan(
    app: &App,
    prefix: Option<&std::path::Path>,
    limit: Option<usize>,
    json: bool,
    explain: Option<usize>,
) -> Result<()> {
    if let Some(index) = explain {
        return print_explanation(&app.explain_estimate(None, index)?, json);
    }
    let prefix = app.folder_opt(prefix)?;
    render::print_plan(&app.plan(prefix.as_deref(), limit)?, json)
}

/// `plan --explain N`: what item N's expected saving rests on.
fn print_explanation(v: &mediaforce_app::estimate::EstimateView, json: bool) -> Result<()> {
    if json {
        return print_json(v);
    }
    println!("[{}] {}", v.index, v.source.display());
    for line in v.lines() {
        println!("  {line}");
    }
    Ok(())
}

/// `ladder`: measure the encoding ladder of `input`, showing the probes as they run.
fn cmd_ladder(
    app: &App,
    input: &std::path::Path,
    opts: &mediaforce_app::tuning::LadderOptions,
    json: bool,
) -> Result<()> {
    let knob_name = mediaforce::codecs::find(&opts.encoder)?.knob().name;
    let mut log = crate::progress::SearchProgress::new(!json, knob_name, input);
    let v = app.ladder(input, opts, &mut log)?;
    drop(log);
    if json {
        return print_json(&v);
    }
    ladder(&v);
    Ok(())
}

/// What `calibrate` found, for people.
fn print_calibration(v: &mediaforce_app::tuning::CalibrationView) {
    for f in &v.files {
        match f.knob {
            Some(k) => println!(
                "{}: {}p, knob {k} -> VMAF {:.2}, ~{:.0}% of {} ({} probes)",
                f.path.display(),
                f.height,
                f.vmaf.unwrap_or_default(),
                f.predicted_percent.unwrap_or_default(),
                human_bytes(f.size_bytes),
                f.probes
            ),
            None => println!(
                "{}: no knob ({})",
                f.path.display(),
                f.note.as_deref().unwrap_or("-")
            ),
        }
    }
    for (class, knob, spread) in &v.saved {
        println!(
            "saved: {} {class} first guess {knob} (spread {spread}) for {}",
            v.encoder,
            v.folder.display()
        );
    }
}

/// The knob model, its terms and its leave-one-out accuracy, for people.
fn print_model(v: &mediaforce_app::tuning::ModelView) {
    let Some(m) = &v.model else {
        println!(
            "no model: none of the {} points in the store (and {} shipped) brackets the target",
            v.points, v.shipped_points
        );
        return;
    };
    println!(
        "{} {} {:?} {}: fitted on {} sources ({} of them shipped public clips; {} points in the store), residual spread {:.2}{}",
        m.encoder,
        m.preset,
        m.stat,
        m.target,
        m.sources,
        m.shipped_sources,
        v.points,
        m.residual_sd,
        if v.used {
            ""
        } else {
            " (too few sources: searches do not use it yet)"
        }
    );
    if let Some(c) = &m.carried {
        let how = match &c.between {
            Some((a, b)) if a == b => {
                format!("the carry of preset {a}, the nearest measured")
            }
            Some((a, b)) => format!("interpolated between presets {a} and {b}"),
            None => format!("fitted on {} sources measured at both", c.pairs),
        };
        println!(
            "  {} of them carried from preset {}: knob = {:+.2} + {:.3} x its knob, {how} (residual {:.2})",
            c.carried_sources, c.from_preset, c.offset, c.scale, c.residual_sd
        );
    }
    for (t, c) in v.terms.iter().zip(&m.coefficients) {
        println!("  {t:<16} {c:+.4}");
    }
    for a in &v.leave_one_out {
        println!(
            "leave-one-out, {:?}, over {} sources: mean |knob error| {:.2} (rms {:.2}), mean VMAF miss {:.2}, {:.0}% within 1 VMAF{}",
            a.kind,
            a.sources,
            a.mean_abs_knob_error,
            a.rms_knob_error,
            a.mean_abs_vmaf_miss,
            a.within_1_vmaf * 100.0,
            if a.kind == m.kind { " (used)" } else { "" }
        );
    }
}

/// One measured grid row, for people.
fn print_grid_row(p: &mediaforce::point::TuningPoint) {
    println!(
        "{} {}p {} {} {}: VMAF {:.2} (p5 {:.2}){}, {:.0} kb/s, ~{:.1}% of the source",
        p.source.display(),
        p.height,
        p.preset,
        p.knob_name,
        p.knob,
        p.vmaf_mean,
        p.vmaf_p5,
        p.metrics
            .iter()
            .map(|(k, v)| format!(", {k} {v:.4}"))
            .collect::<String>(),
        p.bit_rate / 1000.0,
        p.percent
    );
}

fn ladder(v: &mediaforce_app::tuning::LadderView) {
    let l = &v.ladder;
    println!(
        "{}: {} preset {}, {} points on {} samples ({:.0} s), scored at {}x{}, {:.1} s",
        l.input.display(),
        l.encoder,
        l.preset,
        l.points.len(),
        l.samples,
        l.sample_seconds,
        l.display_width,
        l.display_height,
        l.seconds
    );
    println!(
        "  {:>9} {:>5}  {:>6} {:>6}  {:>9}",
        "size", l.knob_name, "VMAF", "p5", "kb/s"
    );
    for (i, p) in l.points.iter().enumerate() {
        let mark = if l.rungs.iter().any(|r| r.point == i) {
            "  rung"
        } else if p.on_hull {
            "  hull"
        } else {
            ""
        };
        println!(
            "  {:>9} {:>5}  {:>6.2} {:>6.2}  {:>9.0}{mark}",
            format!("{}x{}", p.width, p.height),
            p.knob,
            p.vmaf,
            p.vmaf_p5,
            p.bit_rate / 1000.0
        );
    }
    println!("rungs (by rising bit rate):");
    for r in &l.rungs {
        println!(
            "  {}p {} {}: VMAF {:.2}, {:.0} kb/s (peak {:.0})",
            r.height,
            l.knob_name,
            r.knob,
            r.vmaf,
            r.bit_rate / 1000.0,
            r.peak_bit_rate / 1000.0
        );
    }
    if let Some(f) = &v.files {
        println!(
            "wrote {}, {}, {}",
            f.json.display(),
            f.playlist.display(),
            f.svg.display()
        );
    }
}

fn settings(app: &mut App, action: SettingsAction) -> Result<()> {
    match action {
        SettingsAction::Show { json } => {
            let view = app.settings_view();
            if json {
                return print_json(&view);
            }
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
        SettingsAction::AddRoot { dir } => match app.add_root(&dir)? {
            (d, true) => println!("added root {}", d.display()),
            (d, false) => println!("{} is already a root", d.display()),
        },
        SettingsAction::RemoveRoot { dir } => {
            println!("removed root {}", app.remove_root(&dir)?.display());
        }
        SettingsAction::SetTranscodeRoot { dir } => {
            println!("transcode root {}", app.set_transcode_root(&dir)?.display());
        }
        SettingsAction::AddIgnore { pattern } => {
            app.add_ignore(&pattern)?;
            println!("ignoring {pattern}");
        }
        SettingsAction::RemoveIgnore { pattern } => {
            if app.remove_ignore(&pattern)? {
                println!("no longer ignoring {pattern}");
            } else {
                println!("{pattern} was not ignored");
            }
        }
    }
    Ok(())
}

fn policy_show(v: &mediaforce_app::PolicyView, json: bool) -> Result<()> {
    if json {
        return print_json(v);
    }
    println!("# policy for {}", v.path.display());
    let table = toml::Table::try_from(&v.policy)?;
    let mut section = String::new();
    let mut leaves = Vec::new();
    mediaforce::policy::leaves(&table, "", &mut leaves);
    for (key, value) in leaves {
        let (sec, name) = key.rsplit_once('.').unwrap_or(("", &key));
        if sec != section {
            println!("\n[{sec}]");
            section = sec.to_string();
        }
        let src = v.sources.get(&key).map_or("defaults.toml", String::as_str);
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

/// `analyze` in words.
fn analysis_text(v: &mediaforce_app::stats::AnalysisView) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "Duplicates: {} group(s).", v.duplicates.len());
    for d in &v.duplicates {
        let _ = writeln!(
            s,
            "  keep {} ({}); {} could go ({} {})",
            d.keep.display(),
            if d.confirmed {
                "confirmed"
            } else {
                "unconfirmed"
            },
            human_bytes(d.reclaimable_bytes),
            d.files
                .iter()
                .filter(|(p, _)| *p != d.keep)
                .map(|(p, _)| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            d.detail
        );
    }
    let _ = writeln!(
        s,
        "Quality gaps (under a quarter of the folder's median bit rate): {}.",
        v.quality_gaps.len()
    );
    for g in &v.quality_gaps {
        let _ = writeln!(
            s,
            "  {}: {} at {:.2} Mb/s, the folder's median {:.2} Mb/s ({:.0}%)",
            g.path.display(),
            g.resolution,
            g.bit_rate as f64 / 1e6,
            g.folder_median as f64 / 1e6,
            g.ratio * 100.0
        );
    }
    let _ = writeln!(s, "Batches worth a calibrate first: {}.", v.batches.len());
    for b in &v.batches {
        let _ = writeln!(
            s,
            "  {}: {} {} {} file(s), {} (mediaforce calibrate {:?})",
            b.folder.display(),
            b.files,
            b.codec,
            b.resolution,
            human_bytes(b.bytes.max(0) as u64),
            b.folder.display().to_string()
        );
    }
    let _ = writeln!(s, "Unreadable files: {}.", v.unreadable.len());
    for (p, e) in &v.unreadable {
        let _ = writeln!(s, "  {}: {e}", p.display());
    }
    s
}

/// `stats` in words.
fn stats_text(v: &mediaforce_app::stats::StatsView) -> String {
    use std::fmt::Write;
    let b = |n: i64| {
        if n < 0 {
            format!("-{}", human_bytes(n.unsigned_abs()))
        } else {
            human_bytes(n as u64)
        }
    };
    let pct = |part: i64, all: i64| {
        if all > 0 {
            100.0 * part as f64 / all as f64
        } else {
            0.0
        }
    };
    let mut s = String::new();
    let range = if v.range == "all" {
        "all time".to_string()
    } else {
        format!("the last {}", v.range)
    };
    let _ = writeln!(
        s,
        "Saved: {} in all; {} in {range} ({} promotion(s), {} rollback(s)).",
        b(v.saved.total_bytes),
        b(v.saved.range_bytes),
        v.saved.promotions,
        v.saved.rollbacks
    );
    for m in &v.saved.months {
        let _ = writeln!(
            s,
            "  {}: {} saved by {} promotion(s), {} rollback(s); {} in all by its end",
            m.start,
            b(m.saved_bytes),
            m.promoted,
            m.rolled_back,
            b(m.cumulative_bytes)
        );
    }
    let f = &v.forecast;
    let _ = writeln!(
        s,
        "Forecast at {}/day (measured over {} day(s)): {} in 30 days, {} in 90, {} in 365.",
        b(f.daily_bytes.round() as i64),
        f.days_measured,
        b(f.in_30_days),
        b(f.in_90_days),
        b(f.in_365_days)
    );
    let e = &v.encoding;
    let _ = writeln!(
        s,
        "Encoding: {} encode(s), {:.1} h, {} of source.",
        e.encodes,
        e.hours,
        b(e.source_bytes)
    );
    for x in &e.by_encoder_host {
        let _ = writeln!(
            s,
            "  {} on {}: {} encode(s), mean {:.1} fps, {:.1} h",
            x.encoder,
            x.host,
            x.encodes,
            x.mean_fps,
            x.seconds / 3600.0
        );
    }
    let q = &v.quality;
    let _ = writeln!(
        s,
        "Quality: {} of {} encode(s) measured against their target met it; {} closed-loop correction(s).",
        q.met, q.measured, q.corrections
    );
    if !q.bands.is_empty() {
        let bands: Vec<String> = q
            .bands
            .iter()
            .map(|x| format!("{} {}", x.band, x.encodes))
            .collect();
        let _ = writeln!(s, "  points above the target: {}", bands.join(", "));
    }
    let total_now: i64 = v.mix.now.codec.iter().map(|x| x.bytes).sum();
    let total_before: i64 = v.mix.before.codec.iter().map(|x| x.bytes).sum();
    let shares = |now: &[mediaforce_app::stats::Share], before: &[mediaforce_app::stats::Share]| {
        now.iter()
            .map(|x| {
                let was = before
                    .iter()
                    .find(|y| y.name == x.name)
                    .map_or(0, |y| y.bytes);
                format!(
                    "{} {:.0}% (was {:.0}%)",
                    x.name,
                    pct(x.bytes, total_now),
                    pct(was, total_before)
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let _ = writeln!(s, "Mix by bytes, now (before mediaforce):");
    for (name, now, before) in v.mix.dimensions() {
        let _ = writeln!(s, "  {name}: {}", shares(now, before));
    }
    for r in &v.roots {
        let _ = writeln!(
            s,
            "Root {}: {} file(s), {}; {} promoted, saving {}; {} plan item(s) waiting, expecting {} (high confidence {}){}; health {:.0}/100 (codec {:.0}, bit rate {:.0}, container {:.0}, audio {:.0}).",
            r.root.display(),
            r.files,
            b(r.bytes),
            r.promoted,
            b(r.saved_bytes),
            r.candidates,
            b(r.expected_saving_bytes),
            b(r.expected_by_confidence.high),
            r.backlog_days.map_or_else(String::new, |d| format!(", about {d:.1} day(s) of encoding at the measured rate")),
            r.health.score,
            r.health.parts.codec,
            r.health.parts.bit_rate.min(100.0),
            r.health.parts.container,
            r.health.parts.audio
        );
    }
    let h = &v.health;
    let _ = writeln!(
        s,
        "Health: {:.0}/100; {} failed validation(s), {} damaged source(s), {} unreadable file(s), {} without a result, {} failed encode(s).",
        h.score,
        h.counts.failed_validations,
        h.counts.damaged_sources,
        h.counts.unreadable_files,
        h.counts.no_result,
        h.counts.failed_items
    );
    for j in &h.failed_jobs {
        let worker = if j.worker.is_empty() { "-" } else { &j.worker };
        let _ = writeln!(
            s,
            "  {} {} job(s) failed on {worker}: {}",
            j.jobs, j.kind, j.cause
        );
    }
    if !v.opportunities.is_empty() {
        let _ = writeln!(s, "Best opportunities not started:");
        for o in &v.opportunities {
            let _ = writeln!(
                s,
                "  {} ({}): expected -{} ({:.0}%, {}, {} confidence)",
                o.path.display(),
                human_bytes(o.bytes),
                human_bytes(o.expected_saving_bytes),
                o.expected_saving_percent,
                o.bucket,
                o.confidence
            );
        }
    }
    s
}

fn report(view: &mediaforce_app::ReportView, json: bool) -> Result<()> {
    if json {
        return print_json(view);
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
    render::print_staged(&view.staged);
    Ok(())
}

fn ls(rows: &[mediaforce_app::LsRow], json: bool) -> Result<()> {
    if json {
        return print_json(&rows);
    }
    for r in rows {
        let mut line = format!(
            "{:<28} {:>10}  {}",
            r.bucket,
            human_bytes(r.size_bytes),
            r.path.display()
        );
        if let Some(s) = &r.state {
            line += &format!("  [{s}]");
        }
        if let Some(e) = &r.error {
            line += &format!("  error: {e}");
        }
        println!("{line}");
    }
    Ok(())
}

/// Rescan, summarise, plan and explain the first item; returns the plan's key.
pub fn campaign(app: &App, prefix: &Path, limit: Option<usize>, json: bool) -> Result<PathBuf> {
    let bar = crate::progress::ScanBar::new(!json);
    let v = app.campaign(prefix, limit, &|p| bar.update(p))?;
    drop(bar);
    if json {
        print_json(&v)?;
        return Ok(v.manifest);
    }
    render::print_scan(&v.scan, false)?;
    println!();
    render::print_inspect(&v.folder, false)?;
    println!();
    render::print_plan(
        &mediaforce_app::PlanView {
            manifest: v.manifest.clone(),
            plan: v.plan.clone(),
        },
        false,
    )?;
    match &v.first {
        Some(i) => {
            println!();
            print!("{}", mediaforce_app::explain(i));
            println!("Next: mediaforce encode --index 0");
        }
        None => println!("nothing to do under {}", prefix.display()),
    }
    Ok(v.manifest)
}
