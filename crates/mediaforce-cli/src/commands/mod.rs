//! Subcommands and their output.

use crate::progress::{warn_damage, Bar};
use crate::render::human_bytes;
use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use mediaforce_core::transcode::{AudioMode, TranscodeOptions};
use mediaforce_metrics::{score_files, Scale, ScoreOptions};
use std::path::PathBuf;

mod args;
mod media;

use args::*;
use media::*;

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

// Parsed once per run and matched at once: the size of its largest variant (`encode`, with
// every flag) costs nothing worth boxing for.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Library(crate::library::LibraryCommand),
    #[command(flatten)]
    Workflow(crate::workflow::WorkflowCommand),
    #[command(flatten)]
    Hosts(crate::hosts::HostsCommand),
    #[command(flatten)]
    Connect(crate::connect::ConnectCommand),
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
    /// List the scenes of a film: where the picture cuts (not at flashes), with times and frame
    /// numbers. Detected on the decoded picture once per content, then read from the store.
    Scenes {
        /// The film.
        file: PathBuf,
        /// Shortest scene, in frames: a cut closer to the previous one is dropped.
        #[arg(long, default_value_t = 24)]
        min_frames: u64,
        /// Longest scene, in seconds: a longer one is split evenly (marked `forced`); 0: never.
        #[arg(long, default_value_t = 10.0)]
        max_seconds: f64,
        /// Smallest difference from the frame before that is a cut (mean absolute difference
        /// of 64x36 grey thumbnails, 0-255).
        #[arg(long, default_value_t = 12.0)]
        threshold: f64,
        /// Detect again even when the store has this content's scenes.
        #[arg(long)]
        fresh: bool,
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
        /// Stage this many plan items (with --chunked: encode this many chunks) at once.
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
        /// Encode in chunks of whole scenes, --jobs at once, then join them and check the result
        /// frame by frame against the source (with --crf, or --target-vmaf: its search first).
        /// Finished chunks survive a stopped run; the next one encodes only what is missing.
        #[arg(long)]
        chunked: bool,
        /// With --chunked: the shortest chunk, in seconds of whole scenes.
        #[arg(long, default_value_t = 10.0)]
        min_chunk_seconds: f64,
        /// With --chunked and --target-vmaf: each chunk's knob from three encodes of every chunk
        /// (at the searched knob, and --scene-spread below and above it) scored frame by frame: `optimal` (the default) meets the film's mean at the fewest
        /// bytes, `target` makes every chunk meet it, `off` encodes every chunk at the searched
        /// knob.
        #[arg(long, value_parser = ["off", "target", "optimal"], default_value = "optimal")]
        per_scene: String,
        /// With --per-scene optimal: no chunk predicted below this VMAF (default: the target
        /// less 6).
        #[arg(long)]
        scene_floor: Option<f64>,
        /// With --per-scene: the knob distance of the outer measured encodes from the searched
        /// knob.
        #[arg(long, default_value_t = 4.0)]
        scene_spread: f64,
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
        Command::Connect(cmd) => crate::connect::run(cmd, &paths),
        Command::Probe { files, json } => cmd_probe(&files, json),
        Command::Verify {
            files,
            threads,
            json,
        } => cmd_verify(&files, threads, json),
        Command::Scenes {
            file,
            min_frames,
            max_seconds,
            threshold,
            fresh,
            json,
        } => {
            let options = mediaforce_core::scenes::SceneOptions {
                min_frames,
                max_seconds: (max_seconds > 0.0).then_some(max_seconds),
                threshold,
                ..Default::default()
            };
            media::cmd_scenes(&paths, &file, &options, fresh, json)
        }
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
            chunked,
            min_chunk_seconds,
            per_scene,
            scene_floor,
            scene_spread,
            jobs,
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
            if chunked {
                let per_scene = match (per_scene.as_str(), target_vmaf) {
                    ("off", _) | (_, None) => None,
                    (mode, Some(target)) => Some(mediaforce_app::chunked::PerScene {
                        mode: if mode == "target" {
                            mediaforce::allocate::Mode::Target
                        } else {
                            mediaforce::allocate::Mode::Optimal
                        },
                        target,
                        floor: scene_floor.unwrap_or(target - 6.0),
                        spread: scene_spread,
                    }),
                };
                let chunks = media::Chunked {
                    encoder: &encoder,
                    knob: crf,
                    target: target_vmaf,
                    jobs,
                    min_chunk_seconds,
                    score: !no_verify,
                    per_scene,
                };
                return media::encode_chunked(
                    &paths, &input, &output, &chunks, &search, opts, json,
                );
            }
            if let Some(crf) = crf {
                return encode_at_knob(
                    &input, &output, &encoder, crf, &search, opts, !no_verify, json,
                );
            }
            match target_vmaf {
                Some(target) => {
                    let app = mediaforce_app::App::open(&paths)?;
                    let mut cfg = app.search_config(&input, &search.request(&encoder, target))?;
                    drop(app);
                    cfg.verify = !no_verify;
                    encode_target(&input, &output, &cfg, &opts, json)
                }
                None => transcode_plain(&input, &output, &opts, json),
            }
        }
        Command::Sample {
            output,
            width,
            height,
            frames,
            audio,
        } => cmd_sample(&output, width, height, frames, audio),
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
            cmd_score(&reference, &distorted, &opts, json)
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
        } => cmd_crf_search(&paths, &input, &search.request(&encoder, target_vmaf), json),
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

/// `crf-search`: the cheapest knob meeting the target, on samples; nothing written.
fn cmd_crf_search(
    paths: &mediaforce_app::Paths,
    input: &std::path::Path,
    request: &mediaforce_app::search::SearchRequest,
    json: bool,
) -> Result<()> {
    let app = mediaforce_app::App::open(paths)?;
    let cfg = app.search_config(input, request)?;
    drop(app);
    let knob = mediaforce::codecs::find(&cfg.encoder)?.knob().name;
    let mut log = crate::progress::SearchProgress::new(!json, knob, input);
    let r = mediaforce_app::files::crf_search(input, &cfg, &mut log)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print_search(&r);
    }
    Ok(())
}

/// `score`: VMAF of a distorted file against its reference, frames paired by index.
fn cmd_score(
    reference: &std::path::Path,
    distorted: &std::path::Path,
    opts: &ScoreOptions,
    json: bool,
) -> Result<()> {
    let mut bar = Bar::new(!json);
    let r = score_files(reference, distorted, opts, &mut bar)?;
    warn_damage(
        reference,
        "the reference",
        r.reference_decode_errors,
        &r.reference_decode_error_seconds,
    );
    warn_damage(
        distorted,
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

/// `sample`: a generated test clip.
fn cmd_sample(
    output: &std::path::Path,
    width: u32,
    height: u32,
    frames: u32,
    audio: bool,
) -> Result<()> {
    use mediaforce_core::synth::{SyntheticAudio, SyntheticClip, SyntheticVideo};
    let mut v = SyntheticVideo::new(width, height, frames)
        .encoder("libx264", &[("preset", "veryfast"), ("crf", "12")]);
    v.gop = Some(48);
    let mut clip = SyntheticClip::new(v);
    if audio {
        clip.audio.push(SyntheticAudio::new("aac", "eng"));
    }
    clip.write(output)?;
    println!(
        "{}: {}x{}, {} frames",
        output.display(),
        width,
        height,
        frames
    );
    Ok(())
}

/// `encode --target-vmaf`: search, encode, verify and correct; prints what each full encode
/// measured.
fn encode_target(
    input: &std::path::Path,
    output: &std::path::Path,
    cfg: &mediaforce::search::SearchConfig,
    opts: &TranscodeOptions,
    json: bool,
) -> Result<()> {
    let knob = mediaforce::codecs::find(&cfg.encoder)?.knob().name;
    let mut log = crate::progress::SearchProgress::new(!json, knob, input);
    let r = mediaforce_app::files::encode_to_target(input, output, cfg, opts, &mut log)?;
    if let Some(e) = r.encodes.last() {
        warn_damage(
            input,
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
                knob,
                e.knob,
                e.achieved.unwrap_or(f64::NAN),
                cfg.stat,
                human_bytes(e.bytes),
                e.percent,
                e.encode_seconds
            );
        }
    }
    match &r.output {
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
    }
}

/// `encode` without a target or a knob: the encoder's options as given.
fn transcode_plain(
    input: &std::path::Path,
    output: &std::path::Path,
    opts: &TranscodeOptions,
    json: bool,
) -> Result<()> {
    let report = mediaforce_app::files::transcode(input, output, opts, &mut Bar::new(!json))?;
    warn_damage(
        input,
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
