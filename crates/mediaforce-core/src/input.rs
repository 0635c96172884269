//! Opening a source file: the checks every operation makes before libav sees the path.
//!
//! libav's own messages for a directory, an empty file or a text file are vague ("Invalid data
//! found when processing input"), so the cheap cases are told apart here and each gets its own
//! [`Error`] variant.

use crate::error::{Error, Result};
use ffmpeg_next as ff;
use std::path::Path;

/// Demuxers that will "open" things that are not video (a `.txt` file opens as ANSI art).
const NOT_MEDIA_DEMUXERS: &[&str] = &["tty", "lrc", "srt", "ass", "webvtt", "subviewer", "microdvd"];

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
        reason: describe_open_error(&e),
    })?;
    let demuxer = input.format().name().to_string();
    if demuxer
        .split(',')
        .any(|d| NOT_MEDIA_DEMUXERS.contains(&d))
    {
        return Err(Error::NotMedia {
            path: path.to_path_buf(),
            reason: format!("detected as {demuxer} (text), not audio/video"),
        });
    }
    Ok(input)
}

fn describe_open_error(e: &ff::Error) -> String {
    match e {
        ff::Error::InvalidData => {
            "container not recognised, or damaged or truncated (libav: invalid data)".into()
        }
        other => other.to_string(),
    }
}
