//! Opening a source file: the checks every operation makes before libav sees the path.
//!
//! libav's own messages for a directory, an empty file or a text file are vague ("Invalid data
//! found when processing input"), so the cheap cases are told apart here and each gets its own
//! [`Error`] variant.

use crate::error::{Error, Result};
use ffmpeg_next as ff;
use std::path::Path;

/// Demuxers that will "open" things that are not video (a `.txt` file opens as ANSI art).
const NOT_MEDIA_DEMUXERS: &[&str] = &[
    "tty",
    "lrc",
    "srt",
    "ass",
    "webvtt",
    "subviewer",
    "microdvd",
];

/// Containers whose headers declare every stream with its codec parameters, so stream
/// analysis needs only the first frame of each: Matroska/WebM and MP4/QuickTime, by extension.
const HEADER_DECLARED: &[&str] = &["mkv", "webm", "mp4", "m4v", "mov"];

/// Open `path` for a quick look at its streams (the library scan): in containers whose headers
/// declare their streams, libav's stream analysis stops after 0.1 s of media instead of its
/// default 5 s. On 1080p H.264 that is most of the CPU a probe costs (the analysis decodes the
/// frames it reads); the stream facts the catalog keeps (codec, size, pixel format, colour,
/// declared rates, audio layout) come from the headers and the first decoded frame. Other
/// containers (MPEG-TS and -PS, AVI, where streams may start late or rates are guessed from
/// timestamps) get the full analysis.
pub fn open_input_quick(path: &Path) -> Result<ff::format::context::Input> {
    let declared = path
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| HEADER_DECLARED.contains(&e.to_ascii_lowercase().as_str()));
    if !declared {
        return open_input(path);
    }
    let mut options = ff::Dictionary::new();
    options.set("analyzeduration", "100000");
    open_with(path, Some(options))
}

/// Open `path` to carry its packets into another container: with libav's `genpts`, which
/// fills in the presentation times that AVI and MPEG program streams leave out of some packets
/// (a container such as Matroska needs one on every packet).
pub fn open_input_for_copy(path: &Path) -> Result<ff::format::context::Input> {
    let mut options = ff::Dictionary::new();
    options.set("fflags", "+genpts");
    open_with(path, Some(options))
}

/// Open `path` as a media container, with clear errors for the common bad inputs.
pub fn open_input(path: &Path) -> Result<ff::format::context::Input> {
    open_with(path, None)
}

fn open_with(
    path: &Path,
    options: Option<ff::Dictionary<'_>>,
) -> Result<ff::format::context::Input> {
    crate::init();
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::IsDirectory {
            path: path.to_path_buf(),
        });
    }
    // Opening it ourselves first turns permission problems into the OS's own message.
    std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    if meta.len() == 0 {
        return Err(Error::Empty {
            path: path.to_path_buf(),
        });
    }
    let opened = match options {
        Some(o) => ff::format::input_with_dictionary(path, o),
        None => ff::format::input(path),
    };
    let input = opened.map_err(|e| Error::NotMedia {
        path: path.to_path_buf(),
        reason: describe_open_error(path, &e),
    })?;
    let demuxer = input.format().name().to_string();
    if demuxer.split(',').any(|d| NOT_MEDIA_DEMUXERS.contains(&d)) {
        return Err(Error::NotMedia {
            path: path.to_path_buf(),
            reason: format!("detected as {demuxer} (text), not audio/video"),
        });
    }
    Ok(input)
}

fn describe_open_error(path: &Path, e: &ff::Error) -> String {
    if *e != ff::Error::InvalidData {
        return e.to_string();
    }
    // Name the container when its signature is there: then the file is damaged, not foreign.
    let mut head = [0u8; 12];
    let n = std::fs::File::open(path)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .unwrap_or(0);
    let head = &head[..n];
    if head.len() >= 8 && &head[4..8] == b"ftyp" {
        "MP4/MOV file is truncated or damaged (no usable moov index)".into()
    } else if head.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        "Matroska file is truncated or damaged".into()
    } else if head.starts_with(b"RIFF") {
        "AVI file is truncated or damaged".into()
    } else {
        "not a recognised audio/video container".into()
    }
}
