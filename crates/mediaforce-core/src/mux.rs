//! Muxing: packets into a container file, with stream metadata, dispositions, side data,
//! chapters and attachments.
//!
//! A [`Muxer`] owns the output file until [`Muxer::finish`] writes the trailer. Dropped before
//! that (an error, a cancelled job), it closes and removes the partial file, so a failed encode
//! never leaves a plausible-looking but broken output behind.

use crate::error::{Error, Result};
use ffmpeg_next as ff;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// An output container being written.
pub struct Muxer {
    ctx: Option<ff::format::context::Output>,
    path: PathBuf,
    time_bases: Vec<ff::Rational>,
    header_written: bool,
    finished: bool,
    /// Subtracted from every packet's timestamps (microseconds): the source's start time, so
    /// the output starts at zero with every stream keeping its relation to the others.
    start_offset_us: i64,
}

impl std::fmt::Debug for Muxer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Muxer")
            .field("path", &self.path)
            .field("streams", &self.time_bases.len())
            .field("header_written", &self.header_written)
            .finish()
    }
}

/// The container libav would pick for `path`, defaulting to Matroska when the extension names
/// none.
pub fn container_for(path: &Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("mp4" | "m4v") => "mp4",
        Some("mov") => "mov",
        Some("avi") => "avi",
        Some("ts" | "m2ts" | "mts") => "mpegts",
        Some("mpg" | "mpeg") => "mpeg",
        Some("webm") => "webm",
        Some("nut") => "nut",
        Some("png" | "jpg" | "jpeg" | "bmp" | "tif" | "tiff") => "image2",
        _ => "matroska",
    }
}

impl Muxer {
    /// Create `path` for writing, in the container its extension names (Matroska otherwise).
    pub fn create(path: &Path) -> Result<Self> {
        Self::create_as(path, container_for(path))
    }

    /// Create `path` for writing in the named libav container (`"matroska"`, `"mp4"`...).
    pub fn create_as(path: &Path, format: &str) -> Result<Self> {
        crate::init();
        let ctx = ff::format::output_as(path, format)
            .map_err(|e| Error::libav(path, "create output", e))?;
        Ok(Self {
            ctx: Some(ctx),
            path: path.to_path_buf(),
            time_bases: Vec::new(),
            header_written: false,
            finished: false,
            start_offset_us: 0,
        })
    }

    fn ctx(&mut self) -> &mut ff::format::context::Output {
        self.ctx.as_mut().expect("muxer context lives until drop")
    }

    /// The output path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The container's short name (`"matroska"`, `"mp4"`).
    pub fn format_name(&self) -> String {
        self.ctx
            .as_ref()
            .map(|c| c.format().name().to_string())
            .unwrap_or_default()
    }

    /// Whether encoders feeding this container must put their headers in extradata.
    pub fn wants_global_header(&self) -> bool {
        self.ctx.as_ref().is_some_and(|c| {
            c.format()
                .flags()
                .contains(ff::format::Flags::GLOBAL_HEADER)
        })
    }

    /// Whether this container can store streams of codec `id` (of kind `medium`).
    pub fn accepts(&self, id: ff::codec::Id, medium: ff::media::Type) -> bool {
        let Some(ctx) = self.ctx.as_ref() else {
            return false;
        };
        if medium == ff::media::Type::Attachment {
            // Only Matroska stores attachments; libav's codec tables do not list them.
            return ctx.format().name() == "matroska";
        }
        crate::ffi::muxer_accepts(ctx, id).unwrap_or(true)
    }

    /// Add a stream with these codec parameters; packets for it will come in `time_base`.
    pub fn add_stream(
        &mut self,
        params: ff::codec::Parameters,
        time_base: ff::Rational,
    ) -> Result<usize> {
        let path = self.path.clone();
        let mut st = self
            .ctx()
            .add_stream(ff::encoder::find(ff::codec::Id::None))
            .map_err(|e| Error::libav(&path, "add stream", e))?;
        st.set_parameters(params);
        crate::ffi::clear_codec_tag(&mut st);
        st.set_time_base(time_base);
        let index = st.index();
        self.time_bases.push(time_base);
        Ok(index)
    }

    /// Set a stream's metadata tags (language, title, filename...).
    pub fn set_stream_metadata(&mut self, index: usize, tags: &BTreeMap<String, String>) {
        let mut dict = ff::Dictionary::new();
        for (k, v) in tags {
            dict.set(k, v);
        }
        if let Some(mut st) = self.ctx().stream_mut(index) {
            st.set_metadata(dict);
        }
    }

    /// Set a stream's disposition flags (libav's bit values).
    pub fn set_stream_disposition(&mut self, index: usize, bits: i32) {
        if let Some(mut st) = self.ctx().stream_mut(index) {
            crate::ffi::set_stream_disposition(&mut st, bits);
        }
    }

    /// Set a stream's frame rate hints.
    pub fn set_stream_rate(&mut self, index: usize, rate: ff::Rational) {
        if let Some(mut st) = self.ctx().stream_mut(index) {
            st.set_rate(rate);
            st.set_avg_frame_rate(rate);
        }
    }

    /// Attach stream-level side data (HDR mastering display, content light, display matrix).
    pub fn add_stream_side_data(
        &mut self,
        index: usize,
        kind: ff::codec::packet::side_data::Type,
        bytes: &[u8],
    ) -> bool {
        match self.ctx().stream_mut(index) {
            Some(mut st) => crate::ffi::add_stream_side_data(&mut st, kind, bytes),
            None => false,
        }
    }

    /// Set the field order of a video stream.
    pub fn set_stream_field_order(&mut self, index: usize, order: ff::ffi::AVFieldOrder) {
        if let Some(mut st) = self.ctx().stream_mut(index) {
            crate::ffi::set_stream_field_order(&mut st, order);
        }
    }

    /// Shift everything written from now on back by `seconds` (packets and chapters): a
    /// source that starts at a non-zero time (MPEG program and transport streams, an MP4 whose
    /// edit list delays it) is written starting at zero, every stream keeping its distance
    /// from the others, as FFmpeg does by default. Call before the first packet.
    pub fn set_start_offset(&mut self, seconds: f64) {
        self.start_offset_us = (seconds * 1e6).round() as i64;
    }

    /// `ts` (in `tb`) less the start offset.
    fn shifted(&self, ts: i64, tb: ff::Rational) -> i64 {
        if self.start_offset_us == 0 {
            return ts;
        }
        ts - offset_in(self.start_offset_us, tb)
    }

    /// Add a chapter (its times as the source has them; the start offset is applied).
    pub fn add_chapter(
        &mut self,
        id: i64,
        time_base: ff::Rational,
        start: i64,
        end: i64,
        title: &str,
    ) -> Result<()> {
        let path = self.path.clone();
        let start = self.shifted(start, time_base).max(0);
        let end = self.shifted(end, time_base).max(start);
        self.ctx()
            .add_chapter(id, time_base, start, end, title)
            .map(|_| ())
            .map_err(|e| Error::libav(&path, "add chapter", e))
    }

    /// Set container metadata tags.
    pub fn set_metadata(&mut self, tags: &BTreeMap<String, String>) {
        let mut dict = ff::Dictionary::new();
        for (k, v) in tags {
            dict.set(k, v);
        }
        self.ctx().set_metadata(dict);
    }

    /// Write the container header; call after every stream has been added.
    pub fn write_header(&mut self) -> Result<()> {
        let path = self.path.clone();
        self.ctx()
            .write_header()
            .map_err(|e| Error::libav(&path, "write header", e))?;
        self.header_written = true;
        Ok(())
    }

    /// Write one packet of stream `index`, its timestamps in `packet_time_base`.
    pub fn write(
        &mut self,
        index: usize,
        packet: &mut ff::Packet,
        packet_time_base: ff::Rational,
    ) -> Result<()> {
        let path = self.path.clone();
        let ctx = self.ctx.as_mut().expect("muxer context lives until drop");
        let stream_tb =
            ctx.stream(index)
                .map(|s| s.time_base())
                .ok_or_else(|| Error::InvalidArgument {
                    what: "stream index",
                    reason: format!("{index} is not an output stream"),
                })?;
        packet.rescale_ts(packet_time_base, stream_tb);
        if self.start_offset_us != 0 {
            let off = offset_in(self.start_offset_us, stream_tb);
            packet.set_pts(packet.pts().map(|t| t - off));
            packet.set_dts(packet.dts().map(|t| t - off));
        }
        packet.set_stream(index);
        packet.set_position(-1);
        packet
            .write_interleaved(ctx)
            .map_err(|e| Error::libav(&path, "write packet", e))
    }

    /// The time base stream `index` is written in (the container's choice once the header is
    /// written).
    pub fn stream_time_base(&self, index: usize) -> Option<ff::Rational> {
        self.ctx.as_ref()?.stream(index).map(|s| s.time_base())
    }

    /// Write the trailer and close the file.
    pub fn finish(mut self) -> Result<()> {
        let path = self.path.clone();
        if !self.header_written {
            self.write_header()?;
        }
        self.ctx()
            .write_trailer()
            .map_err(|e| Error::libav(&path, "write trailer", e))?;
        self.finished = true;
        // Dropping the context closes the file.
        self.ctx = None;
        Ok(())
    }
}

/// `us` microseconds in ticks of `tb`, rounded to the nearest tick.
fn offset_in(us: i64, tb: ff::Rational) -> i64 {
    let (num, den) = (f64::from(tb.numerator()), f64::from(tb.denominator()));
    if num <= 0.0 || den <= 0.0 {
        return 0;
    }
    (us as f64 / 1e6 * den / num).round() as i64
}

impl Drop for Muxer {
    fn drop(&mut self) {
        // Close first, then remove: the half-written file is ours and useless.
        self.ctx = None;
        if !self.finished {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_offset_is_converted_to_each_time_base_to_the_nearest_tick() {
        for (us, tb, ticks) in [
            (0, (1, 1000), 0),
            (540_000, (1, 1000), 540),
            (540_000, (1, 90_000), 48_600),
            (1_400_000, (1, 25), 35),
            (1_000_000, (1001, 24_000), 24),
            (-500_000, (1, 1000), -500),
            (20_000, (1, 48_000), 960),
            (123, (0, 1), 0),
        ] {
            assert_eq!(
                offset_in(us, ff::Rational::new(tb.0, tb.1)),
                ticks,
                "{us} us in {tb:?}"
            );
        }
    }

    #[test]
    fn containers_follow_the_extension() {
        for (name, format) in [
            ("a.mkv", "matroska"),
            ("a.mpg", "mpeg"),
            ("a.MPEG", "mpeg"),
            ("a.ts", "mpegts"),
            ("a.mp4", "mp4"),
            ("a", "matroska"),
        ] {
            assert_eq!(container_for(Path::new(name)), format, "{name}");
        }
    }
}
