//! Commands on single files, without the library: probe, verify, encoders, version, the demo,
//! and the search report as printed.

use super::args::SearchArgs;
use crate::progress::{warn_damage, Bar};
use crate::render::human_bytes;
use anyhow::{Context, Result};
use mediaforce::search::{Outcome, Placement, SearchReport};
use mediaforce_core::probe::{MediaInfo, StreamKind};
use mediaforce_core::transcode::TranscodeOptions;
use serde::Serialize;
use std::path::PathBuf;

pub(super) fn print_search(r: &SearchReport) {
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

/// Why `encode --target-vmaf` wrote nothing: the search's reason (the size guard and the knob it
/// would need, or the range searched), or the full encodes that missed the target.
pub(super) fn no_output_reason(r: &mediaforce::search::EncodeReport, knob: &str) -> String {
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

/// The quick-start job: a generated clip encoded to a VMAF target through the real search.
pub(super) fn cmd_demo(
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
    // The demo's clip is generated, under no library's policy: the adapter's defaults.
    let asked = mediaforce::policy::SearchOverrides {
        encoder: Some(encoder.to_string()),
        preset,
        target: Some(target),
        sample_seconds: Some(4.0),
        ..Default::default()
    };
    let cfg = mediaforce::policy::search_config(mediaforce::policy::SearchBase::Plain, 360, &asked);
    let knob = mediaforce::codecs::find(encoder)?.knob().name;
    let mut log = crate::progress::SearchProgress::new(!json, knob, &sample);
    let output = dir.join("encoded.mkv");
    let r = mediaforce_app::files::encode_to_target(
        &sample,
        &output,
        &cfg,
        &TranscodeOptions::new(encoder),
        &mut log,
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
pub(super) struct EncoderRow {
    pub(super) id: &'static str,
    pub(super) name: &'static str,
    pub(super) libav_encoder: &'static str,
    pub(super) version: String,
    pub(super) available: bool,
    pub(super) reason: Option<String>,
    pub(super) knob: mediaforce_codecs::Knob,
    pub(super) presets: mediaforce_codecs::Presets,
    pub(super) default_preset: &'static str,
    pub(super) default_knob_1080p: f64,
    pub(super) params: Vec<mediaforce_codecs::Param>,
    pub(super) hardware: bool,
    pub(super) pixel_formats: Vec<String>,
}

pub(super) fn cmd_encoders(json: bool) -> Result<()> {
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
pub(super) fn encode_at_knob(
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

pub(super) fn cmd_version(json: bool) -> Result<()> {
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

pub(super) fn cmd_probe(files: &[PathBuf], json: bool) -> Result<()> {
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

pub(super) fn print_info(info: &MediaInfo) {
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
pub(super) struct VerifyResult {
    #[serde(flatten)]
    pub(super) report: mediaforce_core::verify::VerifyReport,
    pub(super) ok: bool,
    pub(super) error: Option<String>,
}

pub(super) fn cmd_verify(files: &[PathBuf], threads: usize, json: bool) -> Result<()> {
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

/// `scenes FILE`: the film's scenes, detected once per content and kept in the store.
pub(super) fn cmd_scenes(
    paths: &mediaforce_app::Paths,
    file: &std::path::Path,
    options: &mediaforce_core::scenes::SceneOptions,
    fresh: bool,
    json: bool,
) -> Result<()> {
    let app = mediaforce_app::App::open(paths)?;
    let v = app.scenes(file, options, fresh, &mut Bar::new(!json))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let r = &v.report;
    println!(
        "{}: {} frames, {} scenes{}{}",
        file.display(),
        r.frames,
        r.scenes.len(),
        match r.flashes.len() {
            0 => String::new(),
            n => format!(
                ", {n} flash(es) not cut at (frames {})",
                r.flashes
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
        if v.cached { " (from the store)" } else { "" }
    );
    println!(
        "{:>5}  {:>10}  {:>10}  {:>8}  {:>15}  {:<6}  {:>5}",
        "scene", "start (s)", "end (s)", "frames", "first-last", "starts", "score"
    );
    for (i, s) in r.scenes.iter().enumerate() {
        let start = match s.start {
            mediaforce_core::scenes::SceneStart::Start => "start",
            mediaforce_core::scenes::SceneStart::Cut => "cut",
            mediaforce_core::scenes::SceneStart::Forced => "forced",
        };
        println!(
            "{i:>5}  {:>10.3}  {:>10.3}  {:>8}  {:>15}  {start:<6}  {}",
            s.start_seconds,
            s.end_seconds,
            s.frames(),
            format!("{}-{}", s.start_frame, s.end_frame.saturating_sub(1)),
            if s.score > 0.0 {
                format!("{:>5.1}", s.score)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// What `encode --chunked` was asked.
pub(super) struct Chunked<'a> {
    pub(super) encoder: &'a str,
    pub(super) knob: Option<f64>,
    pub(super) target: Option<f64>,
    pub(super) jobs: usize,
    pub(super) min_chunk_seconds: f64,
    pub(super) score: bool,
    pub(super) per_scene: Option<mediaforce_app::chunked::PerScene>,
}

/// `encode INPUT OUTPUT --chunked`: chunks of whole scenes at one knob (given, or found by the
/// search on samples), joined and checked.
pub(super) fn encode_chunked(
    paths: &mediaforce_app::Paths,
    input: &std::path::Path,
    output: &std::path::Path,
    c: &Chunked<'_>,
    search: &SearchArgs,
    opts: TranscodeOptions,
    json: bool,
) -> Result<()> {
    let app = mediaforce_app::App::open(paths)?;
    let knob = match (c.knob, c.target) {
        (Some(k), _) => k,
        (None, Some(target)) => {
            let cfg = app.search_config(input, &search.request(c.encoder, target))?;
            let knob_name = mediaforce::codecs::find(&cfg.encoder)?.knob().name;
            let mut log = crate::progress::SearchProgress::new(!json, knob_name, input);
            let r = mediaforce_app::files::crf_search(input, &cfg, &mut log)?;
            match r.chosen() {
                Some(p) => p.knob,
                None => anyhow::bail!(
                    "{}: no knob meets VMAF {target} within the limits; nothing encoded",
                    input.display()
                ),
            }
        }
        (None, None) => anyhow::bail!("--chunked needs --crf or --target-vmaf"),
    };
    let req = mediaforce_app::chunked::ChunkedRequest {
        setting: mediaforce_app::files::KnobSetting {
            encoder: c.encoder,
            preset: search.preset.as_deref(),
            knob,
        },
        base: opts,
        jobs: c.jobs,
        min_chunk_seconds: c.min_chunk_seconds,
        scenes: mediaforce_core::scenes::SceneOptions::default(),
        score: c.score,
        per_scene: c.per_scene,
        scale: search.scale(),
    };
    let v = app.encode_chunked(input, output, &req, &mut Bar::new(!json))?;
    if json {
        return crate::render::print_json(&v);
    }
    println!(
        "{}: {} scenes in {} chunks ({} encoded, {} kept from an earlier run) at {} {}, joined: {} -> {}; {}{}; {:.0} s",
        output.display(),
        v.scenes,
        v.chunks.len(),
        v.encoded,
        v.reused,
        v.knob_name,
        v.knob,
        human_bytes(std::fs::metadata(input).map_or(0, |m| m.len())),
        human_bytes(v.join.output_bytes),
        v.check.detail,
        v.vmaf.map_or(String::new(), |p| format!("; VMAF mean {:.2}, p5 {:.2}", p.mean, p.p5)),
        v.seconds
    );
    if !v.probes.is_empty() {
        println!(
            "per scene: every chunk measured at {} {}{}",
            v.knob_name,
            v.probes
                .iter()
                .map(f64::to_string)
                .collect::<Vec<_>>()
                .join(" and "),
            if v.corrected {
                "; the allocation was corrected once (the film missed its target)"
            } else {
                ""
            }
        );
        for r in &v.chunks {
            println!(
                "  chunk {:>3}: frames {}-{} at {} {}: predicted {}, measured {}, {}",
                r.spec.index,
                r.spec.start_frame,
                r.spec.start_frame + r.spec.frames - 1,
                v.knob_name,
                r.knob,
                r.predicted_vmaf.map_or("-".into(), |q| format!("{q:.2}")),
                r.vmaf.map_or("-".into(), |q| format!("{q:.2}")),
                human_bytes(r.bytes)
            );
        }
    }
    Ok(())
}
