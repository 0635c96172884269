//! Writes N generated sources (640x360, 10 s, each with its own texture) into a folder: the
//! library `scripts/bench-web.sh` encodes while it loads the dashboard's API.
//!
//! Usage: `web_fixture DIR N [FIRST [STEP]]`: textures FIRST, FIRST+STEP, ... (6 and 3 by
//! default).

use mediaforce_core::synth::{SyntheticAudio, SyntheticClip, SyntheticVideo};

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().expect("usage: web_fixture DIR N"));
    let n: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(6);
    let first: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(6);
    let step: u16 = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..n {
        let mut v = SyntheticVideo::new(640, 360, 240)
            .encoder("libx264", &[("preset", "veryfast"), ("crf", "8")]);
        v.texture = first + step * i;
        let mut clip = SyntheticClip::new(v);
        clip.audio.push(SyntheticAudio::new("aac", "eng"));
        let path = dir.join(format!("film{i}.mkv"));
        clip.write(&path).unwrap();
        println!("{}", path.display());
    }
}
