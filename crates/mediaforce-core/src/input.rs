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

/// Open `path` as a media container, with clear errors for the common bad inputs.
pub fn open_input(path: &Path) -> Result<ff::format::context::Input> {
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
    let input = ff::format::input(path).map_err(|e| Error::NotMedia {
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
