//! What plays: each stream's span from its first presentation time to the end of its last
//! packet, read from the packets (no decode). Containers disagree on what their duration field
//! means (Matroska counts from zero, MPEG program streams from their first timestamp), so a
//! source that starts late and its encode can differ there while both play the same span.

use crate::error::{Error, Result};
use crate::probe::StreamKind;
use ffmpeg_next as ff;
use serde::Serialize;
use std::path::Path;

/// One stream's span.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct StreamSpan {
    /// The stream's index in its container.
    pub index: usize,
    /// What kind of stream.
    pub kind: StreamKind,
    /// The earliest presentation time, in seconds on the container's clock.
    pub first_seconds: f64,
    /// The end of the last packet (its presentation time plus its duration), in seconds.
    pub end_seconds: f64,
    /// Packets read.
    pub packets: u64,
}

impl StreamSpan {
    /// How long it plays.
    pub fn seconds(&self) -> f64 {
        self.end_seconds - self.first_seconds
    }
}

/// Every stream's span in `path`, in container order (a stream without a timed packet is left
/// out). Damaged packets are skipped, as players skip them. Presentation times that AVI and
/// MPEG program streams leave out are generated (libav's `genpts`), so a video with B-frames
/// starts where its first picture shows, as it does once remuxed, not at its first decode time.
pub fn played_spans(path: &Path) -> Result<Vec<StreamSpan>> {
    let mut input = crate::input::open_input_for_copy(path)?;
    let mut spans: Vec<Option<StreamSpan>> = Vec::new();
    let mut frame_seconds = Vec::new();
    for st in input.streams() {
        spans.push(None);
        let rate = st.avg_frame_rate();
        frame_seconds.push(if rate.numerator() > 0 && rate.denominator() > 0 {
            f64::from(rate.invert())
        } else {
            0.0
        });
    }
    let kinds: Vec<(StreamKind, ff::Rational)> = input
        .streams()
        .map(|s| (StreamKind::from(s.parameters().medium()), s.time_base()))
        .collect();
    loop {
        let mut p = ff::Packet::empty();
        match p.read(&mut input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(ff::Error::InvalidData) => continue,
            Err(e) => return Err(Error::libav(path, "read packet", e)),
        }
        let i = p.stream();
        let Some(&(kind, tb)) = kinds.get(i) else {
            continue;
        };
        let Some(ts) = p.pts().or(p.dts()) else {
            continue;
        };
        let start = ts as f64 * f64::from(tb);
        let length = if p.duration() > 0 {
            p.duration() as f64 * f64::from(tb)
        } else {
            frame_seconds[i]
        };
        let span = spans[i].get_or_insert(StreamSpan {
            index: i,
            kind,
            first_seconds: start,
            end_seconds: start + length,
            packets: 0,
        });
        span.first_seconds = span.first_seconds.min(start);
        span.end_seconds = span.end_seconds.max(start + length);
        span.packets += 1;
    }
    Ok(spans.into_iter().flatten().collect())
}

/// The stream of `kind` that carries the most packets (the main picture rather than a cover
/// image; the first when several tie).
pub fn main_of(spans: &[StreamSpan], kind: StreamKind) -> Option<&StreamSpan> {
    spans
        .iter()
        .filter(|s| s.kind == kind)
        .fold(None, |best: Option<&StreamSpan>, s| match best {
            Some(b) if b.packets >= s.packets => Some(b),
            _ => Some(s),
        })
}
