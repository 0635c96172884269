//! Repacking: a file's streams carried into another container without decoding the picture (a
//! remux), with chosen audio tracks re-encoded to Opus or left out.
//!
//! Video, subtitle, attachment and (unless told otherwise) audio packets are copied as they
//! are, with their timestamps, languages, titles, dispositions, chapters and container tags;
//! AVI and MPEG program streams leave the presentation time out of some packets, so the source
//! is read with libav's `genpts` (see [`crate::input::open_input_for_copy`]). A damaged packet
//! ends the repack with an error: a remux either carries everything or nothing. The output is
//! written under a hidden partial name and renamed into place when complete, as a transcode is.
//!
//! [`picture_prints`] and [`audio_samples`] are what proves a remux lossless: every decoded
//! picture's time and pixels, and every audio track's decoded sample count.

use crate::error::{Error, Result};
use crate::mux::Muxer;
use crate::probe::StreamKind;
use crate::progress::{ProgressClock, ProgressSink};
use crate::transcode::{
    carried_tags, copy_chapters, copy_stream, copy_video_side_data, partial_path, put_in_place,
    same_file, stale_tag, tick, AudioTranscoder, OutStream,
};
use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::hash::Hasher;
use std::path::{Path, PathBuf};

/// What a repack does with one stream of the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamAction {
    /// Carry its packets unchanged.
    #[default]
    Copy,
    /// Decode it and encode it to Opus (audio only).
    Opus,
    /// Leave it out.
    Drop,
}

/// How to repack.
#[derive(Debug, Clone, Default)]
pub struct RepackOptions {
    /// What to do with each source stream, by its index; a stream not listed is copied.
    pub actions: BTreeMap<usize, StreamAction>,
    /// Opus bit rates in bit/s by channel count (see [`crate::transcode::opus_bitrate`]).
    pub opus_bitrates: BTreeMap<u32, u32>,
}

/// What a repack did.
#[derive(Debug, Clone, Serialize)]
pub struct RepackReport {
    /// Source path.
    pub input: PathBuf,
    /// Output path.
    pub output: PathBuf,
    /// Source size in bytes.
    pub input_bytes: u64,
    /// Output size in bytes.
    pub output_bytes: u64,
    /// Packets of the primary video stream carried.
    pub video_packets: u64,
    /// Streams copied unchanged.
    pub streams_copied: usize,
    /// Audio streams re-encoded to Opus.
    pub audio_converted: usize,
    /// Streams left out.
    pub streams_dropped: usize,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Metadata tag written on every repacked file: the version that repacked it.
pub const REPACKED_BY_TAG: &str = "MEDIAFORCE_REPACK";

/// Repack `input` into `output` (the container follows `output`'s extension, Matroska when it
/// names none). Progress counts the primary video's packets.
pub fn repack(
    input: &Path,
    output: &Path,
    options: &RepackOptions,
    progress: &mut dyn ProgressSink,
) -> Result<RepackReport> {
    let started = std::time::Instant::now();
    let info = crate::probe::probe_headers(input)?;
    if same_file(input, output) {
        return Err(Error::InvalidArgument {
            what: "output",
            reason: format!("{} is the input file", output.display()),
        });
    }
    let video_index = info.primary_video().map(|s| s.index);
    let total = info.primary_video().and_then(|s| {
        s.frames.or_else(|| {
            let fps = s.video.as_ref()?.fps?;
            Some((info.duration_seconds? * fps).round() as u64)
        })
    });
    let mut source = crate::input::open_input_for_copy(input)?;
    let partial = partial_path(output);
    let mut mux = Muxer::create_as(&partial, crate::mux::container_for(output))?;
    // A source that starts late (MPEG-PS) is written starting at zero, every stream alike.
    let start = crate::ffi::start_seconds(&source).unwrap_or(0.0);
    if start != 0.0 {
        mux.set_start_offset(start);
    }
    let mut plan = Vec::with_capacity(info.streams.len());
    let (mut copied, mut converted, mut dropped) = (0, 0, 0);
    for (s, st) in info.streams.iter().zip(source.streams()) {
        let action = options.actions.get(&s.index).copied().unwrap_or_default();
        let mut tags: BTreeMap<String, String> = s.metadata.clone();
        tags.retain(|k, _| !stale_tag(k));
        let disposition = st.disposition().bits();
        let entry = match (s.kind, action) {
            (_, StreamAction::Drop) | (StreamKind::Data | StreamKind::Unknown, _) => {
                OutStream::Drop
            }
            (StreamKind::Audio, StreamAction::Opus) => {
                let a = AudioTranscoder::new(input, &st, &mut mux, &options.opus_bitrates)?;
                mux.set_stream_metadata(a.out_index, &tags);
                mux.set_stream_disposition(a.out_index, disposition);
                OutStream::Audio(Box::new(a))
            }
            (kind, StreamAction::Opus) => {
                return Err(Error::InvalidArgument {
                    what: "stream action",
                    reason: format!(
                        "{}: stream {} is {kind:?}, and only audio converts to Opus",
                        input.display(),
                        s.index
                    ),
                })
            }
            _ => {
                let out = copy_stream(
                    &mut mux,
                    &st,
                    &tags,
                    disposition,
                    input,
                    st.parameters().id(),
                )?;
                if let (OutStream::Copy(i), StreamKind::Video) = (&out, s.kind) {
                    let rate = st.avg_frame_rate();
                    if rate.numerator() > 0 && rate.denominator() > 0 {
                        mux.set_stream_rate(*i, rate);
                    }
                }
                out
            }
        };
        match entry {
            OutStream::Drop => dropped += 1,
            OutStream::Audio(_) => converted += 1,
            _ => copied += 1,
        }
        plan.push(entry);
    }
    if let Some(v) = video_index {
        if let Some(OutStream::Copy(out)) = plan.get(v) {
            copy_video_side_data(&source, v, &mut mux, *out, false);
        }
    }
    copy_chapters(&source, &mut mux)?;
    mux.set_metadata(&carried_tags(&info.metadata, REPACKED_BY_TAG, ""));
    mux.write_header()?;

    progress.start("remux", total);
    let mut clock = ProgressClock::new(total);
    let mut video_packets = 0u64;
    loop {
        let mut packet = ff::Packet::empty();
        match packet.read(&mut source) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(e) => return Err(Error::libav(input, "read packet", e)),
        }
        let si = packet.stream();
        let Some(tb) = source.stream(si).map(|s| s.time_base()) else {
            continue;
        };
        match plan.get_mut(si) {
            Some(OutStream::Copy(out)) => {
                // What genpts could not fill (a lone packet without either time) takes its
                // decode time, which is its presentation time when frames are not reordered.
                if packet.pts().is_none() {
                    packet.set_pts(packet.dts());
                }
                mux.write(*out, &mut packet, tb)?;
                if Some(si) == video_index {
                    video_packets += 1;
                    tick(progress, &mut clock, video_packets, input)?;
                }
            }
            Some(OutStream::Audio(a)) => a.push(&packet, tb, &mut mux)?,
            _ => {}
        }
    }
    for p in plan.iter_mut() {
        if let OutStream::Audio(a) = p {
            a.finish(&mut mux)?;
        }
    }
    mux.finish()?;
    put_in_place(&partial, output)?;
    progress.update(&clock.snapshot(video_packets));
    progress.finish();
    Ok(RepackReport {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        input_bytes: std::fs::metadata(input).map_or(0, |m| m.len()),
        output_bytes: std::fs::metadata(output).map_or(0, |m| m.len()),
        video_packets,
        streams_copied: copied,
        audio_converted: converted,
        streams_dropped: dropped,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// One decoded picture: its presentation time from the first picture's, and a digest of its
/// pixels (every plane's visible rows, not the padding).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PicturePrint {
    /// Seconds after the first picture.
    pub seconds: f64,
    /// 64-bit digest of the pixels (and the picture's size and format).
    pub digest: u64,
}

/// Every picture of `path`'s primary video, decoded in its own pixel format, as a print.
/// Two files whose prints are equal show the same pictures at the same times.
pub fn picture_prints(path: &Path, progress: &mut dyn ProgressSink) -> Result<Vec<PicturePrint>> {
    let mut d = crate::decode::VideoDecoder::open(path, crate::decode::DecodeOptions::default())?;
    let mut prints = Vec::new();
    let mut first: Option<f64> = None;
    let total = crate::probe::probe_headers(path)
        .ok()
        .and_then(|i| i.primary_video().and_then(|s| s.frames));
    progress.start("compare", total);
    let mut clock = ProgressClock::new(total);
    while let Some(f) = d.next_frame()? {
        let t0 = *first.get_or_insert(f.seconds);
        prints.push(PicturePrint {
            seconds: f.seconds - t0,
            digest: picture_digest(&f.frame),
        });
        tick(progress, &mut clock, prints.len() as u64, path)?;
    }
    progress.finish();
    Ok(prints)
}

/// A digest of a picture's visible pixels.
fn picture_digest(frame: &ff::frame::Video) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write_u32(frame.width());
    h.write_u32(frame.height());
    h.write_i32(ff::ffi::AVPixelFormat::from(frame.format()) as i32);
    for plane in 0..frame.planes() {
        let stride = frame.stride(plane);
        let rows = frame.plane_height(plane) as usize;
        let row = crate::ffi::image_row_bytes(frame.format(), frame.width(), plane)
            .unwrap_or(stride)
            .min(stride);
        let data = frame.data(plane);
        for r in 0..rows {
            let at = r * stride;
            if let Some(bytes) = data.get(at..at + row) {
                h.write(bytes);
            }
        }
    }
    h.finish()
}

/// One audio track as decoded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AudioTrackSamples {
    /// Stream index in the file.
    pub index: usize,
    /// Language tag (`und` when untagged).
    pub language: String,
    /// Codec name.
    pub codec: String,
    /// Samples per channel decoded.
    pub samples: u64,
    /// Sample rate in Hz.
    pub sample_rate: u32,
}

impl AudioTrackSamples {
    /// Seconds of sound decoded.
    pub fn seconds(&self) -> f64 {
        self.samples as f64 / f64::from(self.sample_rate.max(1))
    }
}

/// Decode every audio track of `path` in one pass and count its samples.
pub fn audio_samples(path: &Path) -> Result<Vec<AudioTrackSamples>> {
    let info = crate::probe::probe_headers(path)?;
    let mut input = crate::input::open_input(path)?;
    let mut decoders: BTreeMap<usize, (ff::decoder::Audio, AudioTrackSamples)> = BTreeMap::new();
    for s in info.streams_of(StreamKind::Audio) {
        let Some(st) = input.stream(s.index) else {
            continue;
        };
        let ctx = ff::codec::Context::from_parameters(st.parameters())
            .map_err(|e| Error::libav(path, format!("stream {} decoder setup", s.index), e))?;
        let dec = ctx
            .decoder()
            .audio()
            .map_err(|e| Error::libav(path, format!("stream {} open decoder", s.index), e))?;
        let track = AudioTrackSamples {
            index: s.index,
            language: s.language.clone().unwrap_or_else(|| "und".into()),
            codec: s.codec.clone(),
            samples: 0,
            sample_rate: s.audio.as_ref().map_or(0, |a| a.sample_rate),
        };
        decoders.insert(s.index, (dec, track));
    }
    let drain = |dec: &mut ff::decoder::Audio, t: &mut AudioTrackSamples| {
        let mut frame = ff::frame::Audio::empty();
        while dec.receive_frame(&mut frame).is_ok() {
            t.samples += frame.samples() as u64;
            if t.sample_rate == 0 {
                t.sample_rate = frame.rate();
            }
        }
    };
    loop {
        let mut packet = ff::Packet::empty();
        match packet.read(&mut input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(e) => return Err(Error::libav(path, "read packet", e)),
        }
        if let Some((dec, t)) = decoders.get_mut(&packet.stream()) {
            if dec.send_packet(&packet).is_ok() {
                drain(dec, t);
            }
        }
    }
    Ok(decoders
        .into_values()
        .map(|(mut dec, mut t)| {
            let _ = dec.send_eof();
            drain(&mut dec, &mut t);
            t
        })
        .collect())
}
