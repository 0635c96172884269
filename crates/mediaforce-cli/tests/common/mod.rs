//! Helpers the CLI's integration tests share.

use mediaforce_core::synth::{SyntheticAudio, SyntheticClip, SyntheticVideo};
use std::path::{Path, PathBuf};

/// Every file under `dir`, depth first (nothing when it does not exist).
pub fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// A big (lossless) 320x180 source of `frames` frames with an English AAC track; more
/// `texture`, more bytes.
pub fn lossless_source(path: &Path, texture: u16, frames: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut v = SyntheticVideo::new(320, 180, frames)
        .encoder("libx264", &[("preset", "ultrafast"), ("qp", "0")]);
    v.texture = texture;
    let mut c = SyntheticClip::new(v);
    c.audio.push(SyntheticAudio::new("aac", "eng"));
    c.write(path).unwrap();
}
