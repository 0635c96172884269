//! Chunked encodes: a film's picture encoded as chunks of whole scenes, each on its own (a
//! core, a job, another host), and joined frame-exact.
//!
//! [`encode_chunk`] decodes one chunk's frames (a frame-exact seek to its first frame) and
//! encodes them with a fresh encoder, so the chunk starts with a keyframe, into a NUT file that
//! keeps the source's own timestamps in the source's own time base. [`join_chunks`] muxes the
//! chunks' packets, in order, into the output with those timestamps (a variable frame rate
//! stays variable), and carries the source's audio, subtitles, attachments, chapters and tags
//! once, in step with the picture, so audio stays in sync. Decode times are made increasing
//! across the seams (each chunk's encoder starts its own reordering delay). [`check_join`]
//! proves the result: the same number of frames as the source, every frame's presentation
//! time equal to the source's, a strict decode without error, and what plays as long.
//!
//! H.264 chunks are encoded `stitchable` (x264's header parameters do not depend on the chunk's
//! content), so every chunk decodes with the first chunk's headers.

use crate::decode::{DecodeOptions, VideoDecoder};
use crate::encode::{ColorTags, VideoEncoder, VideoEncoderConfig};
use crate::error::{Error, Result};
use crate::mux::Muxer;
use crate::probe::StreamKind;
use crate::progress::{ProgressClock, ProgressSink};
use crate::scenes::Scene;
use crate::transcode::{
    carried_tags, copy_chapters, copy_stream, copy_video_side_data, output_format, partial_path,
    put_in_place, stale_tag, tick, Carried, OutStream, TranscodeOptions, PRODUCED_BY_TAG,
};
use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Added to every timestamp in a chunk file and taken off in the join: a container moves a
/// stream whose first decode time would be negative (the first chunk's, with B-frames) to
/// start at zero, which would shift that chunk against the others.
const CHUNK_OFFSET_SECONDS: i64 = 100;

/// [`CHUNK_OFFSET_SECONDS`] in ticks of `tb`.
fn offset_ticks(tb: ff::Rational) -> i64 {
    let (num, den) = (i64::from(tb.numerator()), i64::from(tb.denominator()));
    if num <= 0 {
        return 0;
    }
    CHUNK_OFFSET_SECONDS * den / num
}

/// One chunk: `frames` frames from the frame shown at `start_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ChunkSpec {
    /// Position in the film, from 0.
    pub index: usize,
    /// Index of its first frame in the film.
    pub start_frame: u64,
    /// Its first frame's time, seconds from the stream's start as decoded.
    pub start_seconds: f64,
    /// Frames in the chunk.
    pub frames: u64,
}

/// Chunks of whole consecutive `scenes`, each at least `min_seconds` long (the last one takes
/// what is left), starting at the film's first frame shown at `first_seconds`.
pub fn chunks_of(scenes: &[Scene], first_seconds: f64, min_seconds: f64) -> Vec<ChunkSpec> {
    let mut chunks: Vec<ChunkSpec> = Vec::new();
    let mut open: Option<(u64, f64, u64)> = None;
    for s in scenes {
        let (start, t, _) = *open.get_or_insert((s.start_frame, s.start_seconds, s.start_frame));
        open = Some((start, t, s.end_frame));
        if s.end_seconds - t >= min_seconds {
            chunks.push(ChunkSpec {
                index: chunks.len(),
                start_frame: start,
                start_seconds: first_seconds + t,
                frames: s.end_frame - start,
            });
            open = None;
        }
    }
    if let Some((start, t, end)) = open {
        match chunks.last_mut() {
            // A short tail joins the chunk before it.
            Some(last) if (scenes.last().map_or(0.0, |s| s.end_seconds) - t) < min_seconds => {
                last.frames = end - last.start_frame;
            }
            _ => chunks.push(ChunkSpec {
                index: chunks.len(),
                start_frame: start,
                start_seconds: first_seconds + t,
                frames: end - start,
            }),
        }
    }
    chunks
}

/// What encoding a chunk did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkReport {
    /// The chunk.
    pub spec: ChunkSpec,
    /// Its file.
    pub path: PathBuf,
    /// Frames encoded.
    pub frames: u64,
    /// Bytes of its video packets.
    pub video_bytes: u64,
    /// Wall seconds.
    pub seconds: f64,
}

/// Encoder options for a chunk: `options`' own, and for x264 its header parameters kept
/// independent of the content so chunks join.
fn chunk_options(options: &TranscodeOptions) -> Vec<(String, String)> {
    let mut out = options.encoder_options.clone();
    if options.encoder == "libx264" {
        match out.iter_mut().find(|(k, _)| k == "x264-params") {
            Some((_, v)) => v.push_str(":stitchable=1"),
            None => out.push(("x264-params".into(), "stitchable=1".into())),
        }
    }
    out
}

/// Encode the frames of `spec` from `source` into `output` (a NUT file: the source's time base
/// and timestamps kept) with `options`' encoder and settings. Written under a partial name and
/// renamed when complete, so a finished chunk file is always whole.
pub fn encode_chunk(
    source: &Path,
    output: &Path,
    spec: &ChunkSpec,
    options: &TranscodeOptions,
    progress: &mut dyn ProgressSink,
) -> Result<ChunkReport> {
    let started = std::time::Instant::now();
    let info = crate::probe::probe_headers(source)?;
    let vinfo = info
        .primary_video()
        .and_then(|v| v.video.clone())
        .ok_or(Error::NoStream {
            path: source.to_path_buf(),
            kind: "video",
        })?;
    let (pixel_format, crop) = output_format(source, &vinfo, options)?;
    let mut decoder = VideoDecoder::open(
        source,
        DecodeOptions {
            pixel_format: Some(pixel_format),
            crop,
            // Half a millisecond early: the seek takes the first frame at or after it.
            start_seconds: Some((spec.start_seconds - 0.0005).max(0.0)),
            max_frames: Some(spec.frames),
            ..DecodeOptions::default()
        },
    )?;
    let facts = *decoder.facts();
    let partial = partial_path(output);
    let mut mux = Muxer::create_as(&partial, "nut")?;
    let mut encoder: Option<(VideoEncoder, usize)> = None;
    let (mut frames, mut video_bytes) = (0u64, 0u64);
    progress.start("chunk", Some(spec.frames));
    let mut clock = ProgressClock::new(Some(spec.frames));
    while let Some(frame) = decoder.next_frame()? {
        if encoder.is_none() {
            let mut cfg = VideoEncoderConfig::new(
                &options.encoder,
                frame.frame.width(),
                frame.frame.height(),
                pixel_format,
                facts.frame_rate,
            );
            cfg.time_base = facts.time_base;
            cfg.frame_rate = (facts.frame_rate.numerator() > 0).then_some(facts.frame_rate);
            cfg.color = ColorTags::of_frame(&frame.frame);
            let sar = frame.frame.aspect_ratio();
            cfg.sample_aspect_ratio = (sar.numerator() > 0).then_some(sar);
            cfg.options = chunk_options(options);
            cfg.threads = options.threads;
            cfg.gop = options.gop;
            cfg.global_header = mux.wants_global_header();
            cfg.source = Some(source.to_path_buf());
            let enc = VideoEncoder::open(&cfg)?;
            let index = mux.add_stream(enc.parameters(), enc.time_base())?;
            mux.write_header()?;
            encoder = Some((enc, index));
        }
        let (enc, index) = encoder.as_mut().expect("opened above");
        let tb = enc.time_base();
        let mut f = frame.frame;
        f.set_kind(ff::picture::Type::None);
        f.set_pts(frame.pts.map(|p| p + offset_ticks(tb)));
        enc.encode(&f, |mut p| {
            video_bytes += p.size() as u64;
            mux.write(*index, &mut p, tb)
        })?;
        frames += 1;
        tick(progress, &mut clock, frames, source)?;
    }
    let Some((mut enc, index)) = encoder else {
        return Err(Error::Corrupt {
            path: source.to_path_buf(),
            at: format!("{:.3} s", spec.start_seconds),
            reason: format!("chunk {} has no frame to decode", spec.index),
        });
    };
    let tb = enc.time_base();
    enc.finish(|mut p| {
        video_bytes += p.size() as u64;
        mux.write(index, &mut p, tb)
    })?;
    mux.finish()?;
    put_in_place(&partial, output)?;
    progress.update(&clock.snapshot(frames));
    progress.finish();
    if frames != spec.frames {
        let _ = std::fs::remove_file(output);
        return Err(Error::Corrupt {
            path: source.to_path_buf(),
            at: format!("{:.3} s", spec.start_seconds),
            reason: format!(
                "chunk {} decoded {frames} of its {} frames",
                spec.index, spec.frames
            ),
        });
    }
    Ok(ChunkReport {
        spec: *spec,
        path: output.to_path_buf(),
        frames,
        video_bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What a join did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinReport {
    /// The output.
    pub output: PathBuf,
    /// Video packets written.
    pub packets: u64,
    /// Bytes of video.
    pub video_bytes: u64,
    /// Other streams carried from the source.
    pub streams_copied: usize,
    /// Size of the output.
    pub output_bytes: u64,
}

/// Join `chunks` (in order) into `output`, with the source's other streams, chapters and tags.
pub fn join_chunks(
    source: &Path,
    chunks: &[PathBuf],
    output: &Path,
    encoder_tag: &str,
) -> Result<JoinReport> {
    let first = chunks.first().ok_or_else(|| Error::InvalidArgument {
        what: "chunks",
        reason: "nothing to join".into(),
    })?;
    let info = crate::probe::probe_headers(source)?;
    let video_index = info
        .primary_video()
        .map(|v| v.index)
        .ok_or(Error::NoStream {
            path: source.to_path_buf(),
            kind: "video",
        })?;
    let mut side = crate::input::open_input(source)?;
    let partial = partial_path(output);
    let mut mux = Muxer::create_as(&partial, crate::mux::container_for(output))?;
    let start = crate::ffi::start_seconds(&side).unwrap_or(0.0);
    if start != 0.0 {
        mux.set_start_offset(start);
    }
    // The picture's stream from the first chunk (every chunk's encoder had the same settings).
    let head = crate::input::open_input(first)?;
    let chunk_stream = head.stream(0).ok_or_else(|| Error::NoStream {
        path: first.clone(),
        kind: "video",
    })?;
    let mut plan = Vec::with_capacity(info.streams.len());
    let mut out_video = 0;
    let mut copied = 0;
    for (s, st) in info.streams.iter().zip(side.streams()) {
        let mut tags: BTreeMap<String, String> = s.metadata.clone();
        tags.retain(|k, _| !stale_tag(k));
        let disposition = st.disposition().bits();
        if s.index == video_index {
            out_video = mux.add_stream(chunk_stream.parameters(), chunk_stream.time_base())?;
            mux.set_stream_metadata(out_video, &tags);
            mux.set_stream_disposition(out_video, disposition);
            plan.push(OutStream::Drop);
            continue;
        }
        let entry = match s.kind {
            StreamKind::Data | StreamKind::Unknown => OutStream::Drop,
            StreamKind::Video if !s.disposition.iter().any(|d| d == "attached_pic") => {
                OutStream::Drop
            }
            _ => {
                copied += 1;
                copy_stream(
                    &mut mux,
                    &st,
                    &tags,
                    disposition,
                    source,
                    st.parameters().id(),
                )?
            }
        };
        plan.push(entry);
    }
    drop(head);
    copy_video_side_data(&side, video_index, &mut mux, out_video, false);
    copy_chapters(&side, &mut mux)?;
    mux.set_metadata(&carried_tags(&info.metadata, PRODUCED_BY_TAG, encoder_tag));
    mux.write_header()?;
    let mut carried = Carried {
        pending: None,
        done: false,
        stop: None,
    };
    let (mut packets, mut video_bytes) = (0u64, 0u64);
    let mut last_dts: Option<i64> = None;
    // Every chunk's packets are brought to the time base the output's picture is written in
    // (each chunk file has its own), where the decode times are kept increasing.
    let out_tb = mux
        .stream_time_base(out_video)
        .expect("the picture's stream was added");
    for chunk in chunks {
        let mut input = crate::input::open_input(chunk)?;
        let chunk_tb = input
            .stream(0)
            .map(|s| s.time_base())
            .ok_or_else(|| Error::NoStream {
                path: chunk.clone(),
                kind: "video",
            })?;
        let tb = out_tb;
        loop {
            let mut p = ff::Packet::empty();
            match p.read(&mut input) {
                Ok(()) => {}
                Err(ff::Error::Eof) => break,
                Err(e) => return Err(Error::libav(chunk, "read packet", e)),
            }
            // The chunk's own time base, less the offset it was written with, to the output's.
            let off = offset_ticks(chunk_tb);
            p.set_pts(p.pts().map(|t| t - off));
            p.set_dts(p.dts().map(|t| t - off));
            p.rescale_ts(chunk_tb, out_tb);
            let pts = p.pts().ok_or_else(|| Error::Corrupt {
                path: chunk.clone(),
                at: format!("packet {packets}"),
                reason: "a chunk's packet has no presentation time".into(),
            })?;
            // Decode times increase across the seams (a chunk's encoder starts its reordering
            // delay before its first frame's time, under the previous chunk's last ones); a
            // packet the chunk's demuxer gives none (its first ones) follows the one before.
            let dts = p
                .dts()
                .unwrap_or_else(|| last_dts.map_or(pts, |l| (l + 1).min(pts)));
            let dts = last_dts.map_or(dts, |l| dts.max(l + 1));
            p.set_dts(Some(dts));
            last_dts = Some(dts);
            let until = pts as f64 * f64::from(tb) + 0.5;
            carried.pump(source, &mut side, &mut plan, &mut mux, Some(until))?;
            video_bytes += p.size() as u64;
            packets += 1;
            mux.write(out_video, &mut p, tb)?;
        }
    }
    carried.pump(source, &mut side, &mut plan, &mut mux, None)?;
    mux.finish()?;
    put_in_place(&partial, output)?;
    Ok(JoinReport {
        output: output.to_path_buf(),
        packets,
        video_bytes,
        streams_copied: copied,
        output_bytes: std::fs::metadata(output).map_or(0, |m| m.len()),
    })
}

/// Every frame's presentation time, seconds from the stream's start as decoded (strictly:
/// an error on damaged data), for `path`'s picture.
pub fn frame_times(path: &Path, progress: &mut dyn ProgressSink) -> Result<Vec<f64>> {
    let mut d = VideoDecoder::open(path, DecodeOptions::default().strict(true))?;
    let mut times = Vec::new();
    progress.start("check", None);
    let mut clock = ProgressClock::new(None);
    while let Some(f) = d.next_frame()? {
        times.push(f.seconds);
        tick(progress, &mut clock, times.len() as u64, path)?;
    }
    progress.finish();
    if d.decode_errors() > 0 {
        return Err(Error::Corrupt {
            path: path.to_path_buf(),
            at: "decode".into(),
            reason: format!("{} damaged packets or frames", d.decode_errors()),
        });
    }
    Ok(times)
}

/// A joined file checked against its source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JoinCheck {
    /// Every check held.
    pub passed: bool,
    /// Frames of the source.
    pub source_frames: u64,
    /// Frames of the output.
    pub output_frames: u64,
    /// The largest difference between a frame's time and the source's, seconds (both from the
    /// first frame).
    pub max_time_error: f64,
    /// What was found, in words.
    pub detail: String,
}

/// Check `output` against `source`: the same frame count, every frame at the source's time
/// (from the first frame, within a millisecond, the precision Matroska keeps), a strict decode.
pub fn check_join(
    source: &Path,
    output: &Path,
    progress: &mut dyn ProgressSink,
) -> Result<JoinCheck> {
    let a = frame_times(source, &mut crate::progress::NoProgress)?;
    let b = match frame_times(output, progress) {
        Ok(b) => b,
        Err(e) => {
            return Ok(JoinCheck {
                passed: false,
                source_frames: a.len() as u64,
                output_frames: 0,
                max_time_error: f64::INFINITY,
                detail: e.to_string(),
            })
        }
    };
    let (a0, b0) = (
        a.first().copied().unwrap_or(0.0),
        b.first().copied().unwrap_or(0.0),
    );
    let worst = a
        .iter()
        .zip(&b)
        .enumerate()
        .map(|(i, (x, y))| (i, ((x - a0) - (y - b0)).abs()))
        .max_by(|p, q| p.1.total_cmp(&q.1));
    let max_time_error = worst.map_or(0.0, |w| w.1);
    let same_count = a.len() == b.len();
    let passed = same_count && max_time_error <= 0.0011;
    let detail = if !same_count {
        format!("source {} frames, output {}", a.len(), b.len())
    } else if let Some((i, e)) = worst.filter(|w| w.1 > 0.0011) {
        format!("frame {i} shows {e:.4} s away from the source's")
    } else {
        format!(
            "{} frames, each within {:.4} s of the source's time, decoded without error",
            b.len(),
            max_time_error
        )
    };
    Ok(JoinCheck {
        passed,
        source_frames: a.len() as u64,
        output_frames: b.len() as u64,
        max_time_error,
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenes::SceneStart;

    fn scene(a: u64, b: u64) -> Scene {
        Scene {
            start_frame: a,
            end_frame: b,
            start_seconds: a as f64 / 24.0,
            end_seconds: b as f64 / 24.0,
            start: SceneStart::Cut,
            score: 30.0,
        }
    }

    #[test]
    fn chunks_take_whole_scenes_until_long_enough() {
        // Scenes of 1, 1, 3, 0.5 and 2 s at 24 fps; chunks of at least 2 s.
        let scenes = [
            scene(0, 24),
            scene(24, 48),
            scene(48, 120),
            scene(120, 132),
            scene(132, 180),
        ];
        let c = chunks_of(&scenes, 0.0, 2.0);
        let got: Vec<(u64, u64)> = c.iter().map(|c| (c.start_frame, c.frames)).collect();
        assert_eq!(got, [(0, 48), (48, 72), (120, 60)]);
        assert_eq!(c.iter().map(|c| c.index).collect::<Vec<_>>(), [0, 1, 2]);
        assert!((c[1].start_seconds - 2.0).abs() < 1e-9);
        // A short tail joins the chunk before it; an offset first frame moves every start.
        let c = chunks_of(&scenes[..4], 0.5, 2.0);
        let got: Vec<(u64, u64)> = c.iter().map(|c| (c.start_frame, c.frames)).collect();
        assert_eq!(got, [(0, 48), (48, 84)]);
        assert!((c[1].start_seconds - 2.5).abs() < 1e-9);
        // One short film: one chunk.
        let c = chunks_of(&[scene(0, 30)], 0.0, 10.0);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].frames, 30);
        assert!(chunks_of(&[], 0.0, 2.0).is_empty());
    }

    #[test]
    fn x264_chunks_are_stitchable() {
        let mut o = TranscodeOptions::new("libx264").option("crf", 30);
        assert!(chunk_options(&o).contains(&("x264-params".into(), "stitchable=1".into())));
        o = o.option("x264-params", "aq-mode=2");
        assert!(
            chunk_options(&o).contains(&("x264-params".into(), "aq-mode=2:stitchable=1".into()))
        );
        let svt = TranscodeOptions::new("libsvtav1").option("crf", 40);
        assert_eq!(chunk_options(&svt), svt.encoder_options);
    }
}
