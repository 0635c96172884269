//! Subcommands and their output.

use crate::progress::{warn_damage, Bar};
use crate::render::human_bytes;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mediaforce::search::{
    crf_search, encode_to_target, Outcome, Placement, SearchConfig, SearchReport, TargetStat,
};
use mediaforce_core::probe::{MediaInfo, StreamKind};
use mediaforce_core::transcode::{transcode, AudioMode, TranscodeOptions};
use mediaforce_metrics::{score_files, Scale, ScoreOptions};
use serde::Serialize;
use std::path::PathBuf;

/// Shrink a video library without visible quality loss.
#[derive(Debug, Parser)]
#[command(name = "mediaforce", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
    /// State directory (catalog, plans, probe cache, operator policy); default
    /// $XDG_DATA_HOME/mediaforce.
    #[arg(long, global = true, env = "MEDIAFORCE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Directory holding defaults.toml and folder-defaults.toml to use instead of the built-in
    /// copies.
    #[arg(long, global = true, env = "MEDIAFORCE_CONFIG_DIR")]
    config_dir: Option<PathBuf>,
    /// Shared store (postgres://user:password@host/db) holding the catalog, plans, job queue,
    /// probe cache and artifact records, so several hosts work one library; default:
    /// DATA_DIR/catalog.db (SQLite).
    #[arg(
        long,
        global = true,
        env = "MEDIAFORCE_DATABASE_URL",
        hide_env_values = true
    )]
    database: Option<String>,
}

/// The command line's definition, its subcommands listed in groups (see [`crate::help`]).
pub fn command() -> clap::Command {
    use clap::CommandFactory;
    crate::help::grouped(Cli::command())
}

/// Parse the process's arguments (exits with clap's message on an error, or after printing
/// help or the version).
pub fn parse() -> Cli {
    use clap::FromArgMatches;
    Cli::from_arg_matches(&command().get_matches()).unwrap_or_else(|e| e.exit())
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Library(crate::library::LibraryCommand),
    #[command(flatten)]
    Workflow(crate::workflow::WorkflowCommand),
    #[command(flatten)]
    Hosts(crate::hosts::HostsCommand),
    /// Show what media files contain: container, streams, colour, HDR, chapters, attachments.
    Probe {
        /// Files to probe.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print JSON (an array, one object per file).
        #[arg(long)]
        json: bool,
    },
    /// Decode every video frame of each file and report damage (exit 1 on any).
    Verify {
        /// Files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Decoder threads per file (0: libav's choice).
        #[arg(long, default_value_t = 0)]
        threads: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Re-encode the video of INPUT into OUTPUT, carrying every other stream over, or stage plan
    /// items (--index I | --all). Outputs are written under a temporary name and renamed when
    /// complete.
    Encode {
        /// Source file.
        #[arg(required_unless_present_any = ["index", "all"])]
        input: Option<PathBuf>,
        #[command(flatten)]
        plan: crate::workflow::Selection,
        /// Stage this many plan items at once.
        #[arg(long, default_value_t = 1)]
        jobs: usize,
        /// Retries after a failed item (default: the policy's encode.retries).
        #[arg(long)]
        retries: Option<u32>,
        /// Output file; the container follows the extension (.mkv by default).
        output: Option<PathBuf>,
        /// Output file (alternative to the positional OUTPUT).
        #[arg(short = 'o', long = "output", conflicts_with = "output")]
        output_flag: Option<PathBuf>,
        /// Encode at this quality-knob value (the encoder must be a codec adapter).
        #[arg(long, conflicts_with = "target_vmaf")]
        crf: Option<f64>,
        /// Do not score the output (with --crf), or skip the closed-loop check (with --target-vmaf).
        #[arg(long)]
        no_verify: bool,
        /// libav encoder name (libsvtav1, libaom-av1, libx264, libx265, libvpx-vp9...).
        #[arg(long, default_value = "libsvtav1")]
        encoder: String,
        /// Encoder option KEY=VALUE (crf=30, preset=8...); repeatable.
        #[arg(long = "opt", value_parser = parse_kv)]
        options: Vec<(String, String)>,
        /// Re-encode audio to Opus instead of copying it.
        #[arg(long)]
        opus: bool,
        /// Deinterlace interlaced sources.
        #[arg(long)]
        deinterlace: bool,
        /// Encode only the first SECONDS.
        #[arg(long)]
        seconds: Option<f64>,
        /// Search the encoder's quality knob for this VMAF first, then encode, verify the whole
        /// output and correct the knob if it missed (the encoder must be a codec adapter).
        #[arg(long)]
        target_vmaf: Option<f64>,
        #[command(flatten)]
        search: SearchArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Find the cheapest quality-knob value whose encode meets a VMAF target, on in-memory
    /// samples; prints predicted VMAF, size and encode time.
    CrfSearch {
        /// Source file.
        input: PathBuf,
        /// Codec adapter id.
        #[arg(long, default_value = "libsvtav1")]
        encoder: String,
        /// Target VMAF.
        #[arg(long)]
        target_vmaf: f64,
        #[command(flatten)]
        search: SearchArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a synthetic test clip (moving pattern, optional audio) generated in-process.
    Sample {
        /// Output file.
        output: PathBuf,
        /// Width.
        #[arg(long, default_value_t = 1280)]
        width: u32,
        /// Height.
        #[arg(long, default_value_t = 720)]
        height: u32,
        /// Frames.
        #[arg(long, default_value_t = 120)]
        frames: u32,
        /// Add a stereo AAC track.
        #[arg(long)]
        audio: bool,
    },
    /// Score DISTORTED against REFERENCE with VMAF (and optional extra metrics).
    Score {
        /// Reference (original) file.
        reference: PathBuf,
        /// Distorted (encoded) file.
        distorted: PathBuf,
        /// Model name (vmaf_v0.6.1, vmaf_v0.6.1neg, vmaf_4k_v0.6.1) or JSON model path.
        #[arg(long)]
        model: Option<String>,
        /// auto: upscale sub-1080p to 1080p and use the 4K model for 2160p; native: source size.
        #[arg(long, value_enum, default_value = "auto")]
        scale: ScaleArg,
        /// libvmaf threads (0: one per core).
        #[arg(long, default_value_t = 0)]
        threads: u32,
        /// Score every N-th frame.
        #[arg(long, default_value_t = 1)]
        subsample: u32,
        /// Extra metric: psnr, ssim, ms-ssim, cambi, ciede2000, psnr-hvs; repeatable.
        #[arg(long = "feature")]
        features: Vec<String>,
        /// Write libvmaf's JSON log to FILE.
        #[arg(long)]
        log: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the encoder adapters, their availability, quality knob and presets.
    Encoders {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The quick-start job: generate a sample clip in-process, search the quality knob for the
    /// target VMAF on in-memory samples, encode the whole clip at the chosen value, score it, and
    /// print what was chosen, predicted and achieved.
    Demo {
        /// Target mean VMAF.
        #[arg(long, default_value_t = 93.0)]
        target_vmaf: f64,
        /// Encoder adapter id.
        #[arg(long, default_value = "libsvtav1")]
        encoder: String,
        /// Encoder preset (adapter default when omitted).
        #[arg(long)]
        preset: Option<String>,
        /// Directory for the sample and the chosen encode (a temporary one when omitted).
        #[arg(long)]
        out_dir: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Then serve the web page on a small generated library with one item encoded,
        /// validated and with review clips, waiting for approval (until Ctrl-C); prints the
        /// address and a one-time password.
        #[arg(long)]
        serve: bool,
        /// Where the page listens with --serve.
        #[arg(long, default_value = "127.0.0.1:8777")]
        bind: String,
    },
    /// Show the linked FFmpeg and libvmaf versions.
    Version {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Serve the tools (probe, score, crf_search, recommend_knob, encode_to_target) to agents
    /// as a Model Context Protocol server on standard input and output.
    Mcp,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) to standard output.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Write man pages: mediaforce(1) and one per subcommand (mediaforce-crf-search(1)...),
    /// into DIR, or mediaforce(1) alone to standard output.
    Man {
        /// Directory to write the pages into.
        #[arg(long)]
        out_dir: Option<PathBuf>,
    },
}

/// Options shared by `crf-search` and `encode --target-vmaf`.
#[derive(Debug, clap::Args)]
struct SearchArgs {
    /// Encoder preset (the adapter's default when omitted).
    #[arg(long)]
    preset: Option<String>,
    /// Statistic that must meet the target.
    #[arg(long, value_enum, default_value = "mean")]
    target_stat: StatArg,
    /// Also require STAT>=VALUE (mean, harmonic, p5, p1, min), e.g. --gate p5>=90 --gate min>=80.
    #[arg(long = "gate", value_parser = mediaforce::search::parse_gate)]
    gates: Vec<(TargetStat, f64)>,
    /// Accept results within this much above the target.
    #[arg(long, default_value_t = 1.0)]
    tolerance: f64,
    /// Number of samples (default: one every 8 s of the source, 1 to 30).
    #[arg(long)]
    samples: Option<usize>,
    /// Sample length in seconds.
    #[arg(long, default_value_t = mediaforce::search::DEFAULT_SAMPLE_SECONDS)]
    sample_duration: f64,
    /// Refuse results predicted above this percentage of the source size.
    #[arg(long, default_value_t = 80.0)]
    max_encoded_percent: f64,
    /// Lowest knob value to try.
    #[arg(long)]
    min_crf: Option<f64>,
    /// Highest knob value to try.
    #[arg(long)]
    max_crf: Option<f64>,
    /// Scoring resolution policy.
    #[arg(long, value_enum, default_value = "auto")]
    scale: ScaleArg,
    /// Do not read or write the probe cache.
    #[arg(long)]
    no_cache: bool,
    /// Memory for reference frames held by the search, in MiB; when the samples do not fit,
    /// fewer are taken (30 samples of 2 s of 1080p 8-bit at 24 fps need about 4.2 GiB; the
    /// default holds 14 of them).
    #[arg(long, default_value_t = 2048)]
    memory_budget: u64,
    /// Closed loop of `encode --target-vmaf`: score every N-th frame of the output (1: all;
    /// above 1 is cheaper, but libvmaf's subsampled scores read 0.3-0.8 VMAF high).
    #[arg(long, default_value_t = 1)]
    verify_every: u32,
    /// Closed loop: decode the source again after the encode to score it, instead of scoring
    /// the output in the same pass as it is encoded.
    #[arg(long)]
    verify_separately: bool,
    /// First probe from the knob model fitted on the store's measured points and the shipped
    /// corpus of public clips (as library encodes do), instead of the adapter's default.
    #[arg(long)]
    learned_guess: bool,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum StatArg {
    Mean,
    Harmonic,
    P5,
    P1,
}

impl SearchArgs {
    fn config(
        &self,
        encoder: &str,
        target: f64,
        data_dir: &std::path::Path,
        database: Option<&str>,
    ) -> Result<SearchConfig> {
        let mut c = SearchConfig::new(encoder, target);
        c.preset = self.preset.clone();
        c.stat = match self.target_stat {
            StatArg::Mean => TargetStat::Mean,
            StatArg::Harmonic => TargetStat::Harmonic,
            StatArg::P5 => TargetStat::P5,
            StatArg::P1 => TargetStat::P1,
        };
        c.gates = self.gates.clone();
        c.tolerance = self.tolerance;
        c.samples = self.samples;
        c.sample_seconds = self.sample_duration;
        c.max_encoded_percent = self.max_encoded_percent;
        c.min_knob = self.min_crf;
        c.max_knob = self.max_crf;
        c.scale = self.scale();
        if !self.no_cache {
            let location = mediaforce::cache::ProbeCache::location(data_dir, database);
            c.cache = Some(std::sync::Arc::new(
                mediaforce::cache::ProbeCache::open(&location)
                    .with_context(|| "cannot open the probe cache".to_string())?,
            ));
        }
        c.verify_every = self.verify_every.max(1);
        c.verify_separately = self.verify_separately;
        c.memory_budget = self.memory_budget.max(16) << 20;
        if self.learned_guess {
            let adapter = mediaforce::codecs::find(encoder)?;
            let preset = self
                .preset
                .clone()
                .unwrap_or_else(|| adapter.default_preset().to_string());
            let own = mediaforce::catalog::Catalog::open_in(data_dir, database)
                .and_then(|c| c.all_points())
                .with_context(|| "cannot read the store's measured points".to_string())?;
            c.model = mediaforce::model::KnobModel::for_search(
                own,
                adapter.id(),
                &preset,
                c.stat,
                target,
            )
            .map(std::sync::Arc::new);
        }
        Ok(c)
    }

    fn scale(&self) -> Scale {
        match self.scale {
            ScaleArg::Auto => Scale::Auto,
            ScaleArg::Native => Scale::Native,
        }
    }
}

fn print_search(r: &SearchReport) {
    let placement = match r.placement {
        Placement::FullPass => "one full pass".to_string(),
        Placement::KeyframeIndex => "placed from the keyframe index".to_string(),
        Placement::Even => "spread evenly".to_string(),
    };
    let starts: Vec<String> = r
        .samples
        .iter()
        .map(|s| format!("{:.1} s", s.start_seconds))
        .collect();
    println!(
        "samples: {} ({placement}; starting at {})",
        r.samples.len(),
        starts.join(", ")
    );
    let describe = |chosen: &mediaforce::search::Probe| {
        let spread = chosen
            .sample_means
            .iter()
            .copied()
            .fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
        let uncertainty = chosen.uncertainty.map_or(String::new(), |u| {
            format!(
                " (+/- {:.2} VMAF, +/- {:.1} points of size)",
                u.vmaf, u.percent
            )
        });
        println!(
            "{} {} {}: predicted VMAF mean {:.2}, p5 {:.2}, min {:.2} (sample means {:.2}..{:.2}), size {} ({:.1}% of source){uncertainty}, encode ~{:.0} s; {} probes in {:.1} s",
            r.encoder, r.knob_name, chosen.knob, chosen.vmaf.mean, chosen.vmaf.p5, chosen.vmaf.min, spread.0, spread.1,
            human_bytes(chosen.predicted_bytes), chosen.predicted_percent,
            chosen.predicted_encode_seconds, r.probes.len(), r.seconds
        );
    };
    match &r.outcome {
        Outcome::Found { chosen } => describe(chosen),
        Outcome::Uncertain { chosen, reason } => {
            describe(chosen);
            println!("uncertain: {reason}");
        }
        Outcome::NotFound { reason, best } => {
            println!("no result: {reason}");
            if let Some(b) = best {
                println!(
                    "  best attempt: {} {} -> VMAF {:.2}, {:.1}% of source",
                    r.knob_name, b.knob, b.score, b.predicted_percent
                );
            }
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum ScaleArg {
    Auto,
    Native,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got '{s}'"))
}

pub fn run(cli: Cli) -> Result<()> {
    let data_dir = cli
        .data_dir
        .clone()
        .unwrap_or_else(mediaforce::cache::default_data_dir);
    let paths = mediaforce_app::Paths {
        data_dir: data_dir.clone(),
        config_dir: cli.config_dir.clone(),
        database: cli.database.clone(),
    };
    match cli.command {
        Command::Library(cmd) => crate::library::run(cmd, &paths),
        Command::Workflow(cmd) => crate::workflow::run(cmd, &paths),
        Command::Hosts(cmd) => crate::hosts::run(cmd, &paths),
        Command::Probe { files, json } => cmd_probe(&files, json),
        Command::Verify {
            files,
            threads,
            json,
        } => cmd_verify(&files, threads, json),
        Command::Encode {
            plan,
            jobs,
            retries,
            input: _,
            json,
            ..
        } if plan.all || !plan.index.is_empty() => {
            crate::workflow::encode_batch(&paths, &plan, jobs, retries, json)
        }
        Command::Encode {
            input,
            output,
            output_flag,
            crf,
            no_verify,
            encoder,
            options,
            opus,
            deinterlace,
            seconds,
            target_vmaf,
            search,
            json,
            ..
        } => {
            let input =
                input.context("an input file is needed (or --index I / --all for plan items)")?;
            let mut opts = TranscodeOptions::new(&encoder);
            opts.encoder_options = options;
            opts.audio = if opus {
                AudioMode::Opus
            } else {
                AudioMode::Copy
            };
            opts.deinterlace = deinterlace;
            opts.max_seconds = seconds;
            let output = output
                .or(output_flag)
                .context("an output path is needed (OUTPUT or -o OUTPUT)")?;
            let mut bar = Bar::new(!json);
            if let Some(crf) = crf {
                return encode_at_knob(
                    &input, &output, &encoder, crf, &search, opts, !no_verify, json,
                );
            }
            if let Some(target) = target_vmaf {
                let mut cfg =
                    search.config(&encoder, target, &data_dir, cli.database.as_deref())?;
                cfg.verify = !no_verify;
                let knob = mediaforce::codecs::find(&encoder)?.knob().name;
                let mut log = crate::progress::SearchProgress::new(!json, knob, &input);
                let r = encode_to_target(&input, &output, &cfg, &opts, &mut log, &mut bar)?;
                if let Some(e) = r.encodes.last() {
                    warn_damage(
                        &input,
                        "the whole file",
                        e.source_decode_errors,
                        &e.source_decode_error_seconds,
                    );
                }
                if json {
                    println!("{}", serde_json::to_string_pretty(&r)?);
                } else {
                    print_search(&r.search);
                    for e in &r.encodes {
                        println!(
                            "  full encode {} {}: VMAF {:.2} ({:?}), {} ({:.1}% of source) in {:.1} s",
                            knob, e.knob, e.achieved.unwrap_or(f64::NAN), cfg.stat, human_bytes(e.bytes), e.percent, e.encode_seconds
                        );
                    }
                }
                return match &r.output {
                    Some(o) => {
                        if !json {
                            println!("wrote {}", o.display());
                        }
                        Ok(())
                    }
                    None => Err(anyhow::anyhow!(
                        "{}: nothing written: {}",
                        input.display(),
                        no_output_reason(&r, knob)
                    )),
                };
            }
            let report = transcode(&input, &output, &opts, &mut bar)?;
            warn_damage(
                &input,
                "the whole file",
                report.decode_errors,
                &report.decode_error_seconds,
            );
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{} -> {}: {} frames with {} ({}), {:.1} fps, {} -> {} ({:.1}% of source)",
                    input.display(),
                    output.display(),
                    report.frames,
                    report.encoder,
                    report.pixel_format,
                    report.fps,
                    human_bytes(report.input_bytes),
                    human_bytes(report.output_bytes),
                    100.0 * report.output_bytes as f64 / report.input_bytes.max(1) as f64
                );
            }
            Ok(())
        }
        Command::Sample {
            output,
            width,
            height,
            frames,
            audio,
        } => {
            use mediaforce_core::synth::{SyntheticAudio, SyntheticClip, SyntheticVideo};
            let mut v = SyntheticVideo::new(width, height, frames)
                .encoder("libx264", &[("preset", "veryfast"), ("crf", "12")]);
            v.gop = Some(48);
            let mut clip = SyntheticClip::new(v);
            if audio {
                clip.audio.push(SyntheticAudio::new("aac", "eng"));
            }
            clip.write(&output)?;
            println!(
                "{}: {}x{}, {} frames",
                output.display(),
                width,
                height,
                frames
            );
            Ok(())
        }
        Command::Version { json } => cmd_version(json),
        Command::Score {
            reference,
            distorted,
            model,
            scale,
            threads,
            subsample,
            features,
            log,
            json,
        } => {
            let opts = ScoreOptions {
                model,
                scale: match scale {
                    ScaleArg::Auto => Scale::Auto,
                    ScaleArg::Native => Scale::Native,
                },
                threads,
                subsample,
                features,
                log,
                ..ScoreOptions::default()
            };
            let mut bar = Bar::new(!json);
            let r = score_files(&reference, &distorted, &opts, &mut bar)?;
            warn_damage(
                &reference,
                "the reference",
                r.reference_decode_errors,
                &r.reference_decode_error_seconds,
            );
            warn_damage(
                &distorted,
                "the distorted file",
                r.distorted_decode_errors,
                &[],
            );
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "VMAF mean {:.3}  harmonic {:.3}  min {:.3}  p1 {:.3}  p5 {:.3}  ({} frames at {}x{}, {}-bit, {}, {:.1} fps)",
                    r.vmaf.mean, r.vmaf.harmonic_mean, r.vmaf.min, r.vmaf.p1, r.vmaf.p5, r.frames,
                    r.scored_width, r.scored_height, r.bit_depth, r.model, r.fps
                );
                for (k, v) in &r.features {
                    println!("  {k} {v:.4}");
                }
                for w in &r.worst_frames {
                    println!(
                        "  worst: frame {} at {:.3}s VMAF {:.3}",
                        w.index, w.seconds, w.vmaf
                    );
                }
            }
            Ok(())
        }
        Command::Encoders { json } => cmd_encoders(json),
        Command::Completions { shell } => {
            let mut cmd = command();
            clap_complete::generate(shell, &mut cmd, "mediaforce", &mut std::io::stdout());
            Ok(())
        }
        Command::Man { out_dir } => cmd_man(out_dir.as_deref()),
        Command::Mcp => crate::mcp::serve(&paths),
        Command::CrfSearch {
            input,
            encoder,
            target_vmaf,
            search,
            json,
        } => {
            let cfg = search.config(&encoder, target_vmaf, &data_dir, cli.database.as_deref())?;
            let knob = mediaforce::codecs::find(&encoder)?.knob().name;
            let mut log = crate::progress::SearchProgress::new(!json, knob, &input);
            let r = crf_search(&input, &cfg, &mut log)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print_search(&r);
            }
            Ok(())
        }
        Command::Demo {
            target_vmaf,
            encoder,
            preset,
            out_dir,
            json,
            serve,
            bind,
        } => {
            cmd_demo(target_vmaf, &encoder, preset, out_dir.clone(), json)?;
            if serve {
                crate::demo_web::serve(out_dir.as_deref(), &bind)?;
            }
            Ok(())
        }
    }
}

/// Why `encode --target-vmaf` wrote nothing: the search's reason (the size guard and the knob it
/// would need, or the range searched), or the full encodes that missed the target.
fn no_output_reason(r: &mediaforce::search::EncodeReport, knob: &str) -> String {
    if let Some(refused) = &r.refused {
        return refused.clone();
    }
    match &r.search.outcome {
        Outcome::NotFound { reason, .. } => reason.clone(),
        Outcome::Found { .. } | Outcome::Uncertain { .. } => format!(
            "no full encode met {:?} VMAF {}: {}",
            r.search.stat,
            r.search.target,
            r.encodes
                .iter()
                .map(|e| format!(
                    "{knob} {} measured {:.2}",
                    e.knob,
                    e.achieved.unwrap_or(f64::NAN)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `man`: roff pages rendered from the same definitions as `--help`.
fn cmd_man(out_dir: Option<&std::path::Path>) -> Result<()> {
    let cmd = command();
    let Some(dir) = out_dir else {
        clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
        return Ok(());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let mut written = 0;
    let mut write = |name: String, c: clap::Command| -> Result<()> {
        let path = dir.join(format!("{name}.1"));
        let mut out = Vec::new();
        clap_mangen::Man::new(c).render(&mut out)?;
        std::fs::write(&path, out).with_context(|| format!("{}: cannot write", path.display()))?;
        written += 1;
        Ok(())
    };
    for sub in cmd.get_subcommands() {
        let name = format!("mediaforce-{}", sub.get_name());
        write(
            name.clone(),
            sub.clone().display_name(name.clone()).bin_name(name),
        )?;
    }
    write("mediaforce".into(), cmd)?;
    println!("wrote {written} man pages to {}", dir.display());
    Ok(())
}

/// The quick-start job: a generated clip encoded to a VMAF target through the real search.
fn cmd_demo(
    target: f64,
    encoder: &str,
    preset: Option<String>,
    out_dir: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    use mediaforce_core::synth::{SyntheticAudio, SyntheticClip, SyntheticVideo};
    let tmp = tempfile::tempdir()?;
    let dir = out_dir.unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir).with_context(|| format!("{}: cannot create", dir.display()))?;
    let sample = dir.join("sample.mkv");
    // 10 s of 640x360 at 24 fps: long enough for one 4-second sample rather than a full pass.
    let mut v = SyntheticVideo::new(640, 360, 240)
        .encoder("libx264", &[("preset", "veryfast"), ("crf", "8")]);
    v.gop = Some(48);
    let mut clip = SyntheticClip::new(v);
    clip.audio.push(SyntheticAudio::new("aac", "eng"));
    clip.write(&sample)?;
    let mut cfg = SearchConfig::new(encoder, target);
    cfg.preset = preset;
    cfg.sample_seconds = 4.0;
    let knob = mediaforce::codecs::find(encoder)?.knob().name;
    let mut log = crate::progress::SearchProgress::new(!json, knob, &sample);
    let output = dir.join("encoded.mkv");
    let r = encode_to_target(
        &sample,
        &output,
        &cfg,
        &TranscodeOptions::new(encoder),
        &mut log,
        &mut Bar::new(!json),
    )?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    print_search(&r.search);
    match (r.search.chosen(), r.encodes.last()) {
        (Some(p), Some(e)) => println!(
            "chose {} {} {} for VMAF >= {target}: predicted {:.2}, achieved {:.2} on the whole clip; {} -> {} ({:.1}% of source)",
            r.search.encoder, knob, e.knob, p.score, e.achieved.unwrap_or(f64::NAN),
            human_bytes(std::fs::metadata(&sample)?.len()), human_bytes(e.bytes), e.percent
        ),
        _ => println!("no {knob} met VMAF {target}"),
    }
    Ok(())
}

#[derive(Serialize)]
struct EncoderRow {
    id: &'static str,
    name: &'static str,
    libav_encoder: &'static str,
    version: String,
    available: bool,
    reason: Option<String>,
    knob: mediaforce_codecs::Knob,
    presets: mediaforce_codecs::Presets,
    default_preset: &'static str,
    default_knob_1080p: f64,
    params: Vec<mediaforce_codecs::Param>,
    hardware: bool,
    pixel_formats: Vec<String>,
}

fn cmd_encoders(json: bool) -> Result<()> {
    let rows: Vec<EncoderRow> = mediaforce_codecs::all()
        .iter()
        .map(|a| {
            let avail = a.availability();
            EncoderRow {
                id: a.id(),
                name: a.display_name(),
                libav_encoder: a.libav_name(),
                version: a.version(),
                available: avail.is_ok(),
                reason: avail.err(),
                knob: a.knob(),
                presets: a.presets(),
                default_preset: a.default_preset(),
                default_knob_1080p: a.default_knob(1080),
                params: a.params(),
                hardware: a.device().is_some(),
                pixel_formats: a
                    .pixel_formats()
                    .iter()
                    .filter_map(|p| p.descriptor().map(|d| d.name().to_string()))
                    .collect(),
            }
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        for r in &rows {
            println!(
                "{:<12} {:<16} {:<23} {:<9} {} {}..={} step {} ({} is better), preset {}",
                r.id,
                r.name,
                r.version,
                if r.available { "available" } else { "missing" },
                r.knob.name,
                r.knob.min,
                r.knob.max,
                r.knob.step,
                match r.knob.better {
                    mediaforce_codecs::Better::Lower => "lower",
                    mediaforce_codecs::Better::Higher => "higher",
                },
                r.default_preset
            );
            if let Some(reason) = &r.reason {
                println!("{:13}{reason}", "");
            }
        }
    }
    Ok(())
}

/// `encode --crf X`: one encode at a knob value through the adapter, scored unless told not to.
#[allow(clippy::too_many_arguments)]
fn encode_at_knob(
    input: &std::path::Path,
    output: &std::path::Path,
    encoder: &str,
    knob: f64,
    search: &SearchArgs,
    opts: TranscodeOptions,
    verify: bool,
    json: bool,
) -> Result<()> {
    let scale = verify.then(|| search.scale());
    let r = mediaforce_app::files::encode_at_knob(
        input,
        output,
        mediaforce_app::files::KnobSetting {
            encoder,
            preset: search.preset.as_deref(),
            knob,
        },
        opts,
        scale,
        &mut || Box::new(Bar::new(!json)),
    )?;
    warn_damage(
        input,
        "the whole file",
        r.transcode.decode_errors,
        &r.transcode.decode_error_seconds,
    );
    if json {
        return crate::render::print_json(&r);
    }
    let t = &r.transcode;
    println!(
        "{} -> {}: {} {} {knob}, {} frames, {} -> {} ({:.1}% of source){}",
        input.display(),
        output.display(),
        r.encoder,
        r.knob_name,
        t.frames,
        human_bytes(t.input_bytes),
        human_bytes(t.output_bytes),
        100.0 * t.output_bytes as f64 / t.input_bytes.max(1) as f64,
        r.vmaf.map_or(String::new(), |v| format!(
            ", VMAF {:.2} (p5 {:.2}, min {:.2})",
            v.mean, v.p5, v.min
        ))
    );
    Ok(())
}

fn cmd_version(json: bool) -> Result<()> {
    let ff = mediaforce_core::version::ffmpeg();
    #[derive(Serialize)]
    struct V {
        mediaforce: &'static str,
        libvmaf: String,
        ffmpeg: mediaforce_core::version::FfmpegVersions,
    }
    let v = V {
        mediaforce: env!("CARGO_PKG_VERSION"),
        libvmaf: mediaforce_metrics::vmaf::version(),
        ffmpeg: ff,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!("mediaforce {}", v.mediaforce);
        println!("libvmaf {}", v.libvmaf);
        println!("FFmpeg {}", v.ffmpeg.release);
        for (n, ver) in &v.ffmpeg.libraries {
            println!("  {n} {ver}");
        }
    }
    Ok(())
}

fn cmd_probe(files: &[PathBuf], json: bool) -> Result<()> {
    let mut infos = Vec::new();
    for f in files {
        infos.push(mediaforce_core::probe(f)?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&infos)?);
    } else {
        for info in &infos {
            print_info(info);
        }
    }
    Ok(())
}

fn print_info(info: &MediaInfo) {
    println!("{}", info.path.display());
    println!(
        "  {} | {} | {} | {}",
        info.container_long,
        info.duration_seconds
            .map_or("?".into(), |d| format!("{d:.3} s")),
        human_bytes(info.size_bytes),
        info.bit_rate
            .map_or("?".into(), |b| format!("{:.0} kb/s", b as f64 / 1000.0)),
    );
    for s in &info.streams {
        let mut line = format!(
            "  #{:<2} {:<10} {:<10}",
            s.index,
            format!("{:?}", s.kind).to_lowercase(),
            s.codec
        );
        if let Some(p) = &s.profile {
            line.push_str(&format!(" {p}"));
        }
        if let Some(v) = &s.video {
            line.push_str(&format!(
                " {}x{} {} {}-bit {}",
                v.width,
                v.height,
                v.pixel_format.as_deref().unwrap_or("?"),
                v.bit_depth.unwrap_or(0),
                v.fps.map_or("?".into(), |f| format!("{f:.3} fps")),
            ));
            if v.variable_frame_rate {
                line.push_str(" VFR");
            }
            if v.interlaced {
                line.push_str(&format!(
                    " interlaced({})",
                    v.field_order.as_deref().unwrap_or("?")
                ));
            }
            let colour: Vec<&str> = [
                &v.color_range,
                &v.color_primaries,
                &v.color_transfer,
                &v.color_matrix,
            ]
            .iter()
            .filter_map(|c| c.as_deref())
            .collect();
            if !colour.is_empty() {
                line.push_str(&format!(" [{}]", colour.join("/")));
            }
            if let Some(h) = v.hdr {
                line.push_str(&format!(" HDR:{h:?}"));
            }
            if v.mastering_display.is_some() {
                line.push_str(" +mastering");
            }
            if let Some(c) = v.content_light {
                line.push_str(&format!(" MaxCLL={} MaxFALL={}", c.max_cll, c.max_fall));
            }
            if v.dolby_vision.is_some() {
                line.push_str(" DolbyVision");
            }
            if let Some(r) = v.rotation {
                line.push_str(&format!(" rotate={r}"));
            }
        }
        if let Some(a) = &s.audio {
            line.push_str(&format!(
                " {} Hz {} ({} ch)",
                a.sample_rate,
                a.channel_layout.as_deref().unwrap_or("?"),
                a.channels
            ));
        }
        if let Some(a) = &s.attachment {
            line.push_str(&format!(
                " {} {}",
                a.filename.as_deref().unwrap_or("?"),
                human_bytes(a.size_bytes)
            ));
        }
        if let Some(l) = &s.language {
            line.push_str(&format!(" lang={l}"));
        }
        if let Some(t) = &s.title {
            line.push_str(&format!(" \"{t}\""));
        }
        if !s.disposition.is_empty() {
            line.push_str(&format!(" ({})", s.disposition.join(",")));
        }
        println!("{line}");
    }
    for c in &info.chapters {
        println!(
            "  chapter {:>3} {:>9.3}-{:<9.3} {}",
            c.id,
            c.start_seconds,
            c.end_seconds,
            c.title.as_deref().unwrap_or("")
        );
    }
    let _ = StreamKind::Video;
}

#[derive(Serialize)]
struct VerifyResult {
    #[serde(flatten)]
    report: mediaforce_core::verify::VerifyReport,
    ok: bool,
    error: Option<String>,
}

fn cmd_verify(files: &[PathBuf], threads: usize, json: bool) -> Result<()> {
    let mut results = Vec::new();
    for f in files {
        let (report, outcome) = mediaforce_core::verify::verify_file(f, threads);
        results.push(VerifyResult {
            report,
            ok: outcome.is_ok(),
            error: outcome.err().map(|e| e.to_string()),
        });
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&results)?);
    } else {
        for r in &results {
            match &r.error {
                None => println!(
                    "{}: ok, {} frames, {:.2} s",
                    r.report.path.display(),
                    r.report.frames,
                    r.report.decoded_seconds
                ),
                Some(e) => println!("{e}"),
            }
        }
    }
    if let Some(bad) = results.iter().find(|r| !r.ok) {
        return Err(anyhow::anyhow!(bad.error.clone().unwrap_or_default())).context(format!(
            "{} of {} files failed verification",
            results.iter().filter(|r| !r.ok).count(),
            results.len()
        ));
    }
    Ok(())
}
