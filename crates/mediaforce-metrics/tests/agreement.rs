//! VMAF agreement with FFmpeg's libvmaf filter on the same decoded frames.
//!
//! Reference values were obtained with the static FFmpeg 9 (libvmaf filter) that the PyPI wheel
//! `imageio-ffmpeg` 0.8.1 ships, on the exact files this test generates (run it with
//! `MEDIAFORCE_KEEP_PAIR=/some/dir` to keep them), with:
//!
//! ```text
//! native: ffmpeg -i dist.mkv -i ref.mkv -lavfi "[0:v][1:v]libvmaf=model=version=vmaf_v0.6.1" -f null -
//! 1080p:  ffmpeg -i dist.mkv -i ref.mkv -lavfi "[0:v]scale=1920:1080:flags=bicubic+accurate_rnd+full_chroma_int[d];
//!         [1:v]scale=1920:1080:flags=bicubic+accurate_rnd+full_chroma_int[r];[d][r]libvmaf=model=version=vmaf_v0.6.1" -f null -
//! ```
//!
//! libvmaf's own `vmaf` tool, built from the same vendored libvmaf 3.2.0 source
//! (`meson setup build -Denable_tools=true && ninja -C build tools/vmaf` in vmaf-head-sys's
//! `vendored/vmaf/libvmaf`), run on the same frames written as Y4M
//! (`vmaf -r ref.y4m -d dist.y4m --model version=vmaf_v0.6.1 --json`), reports the same three
//! figures to its six decimals: mean 95.106593, harmonic mean 95.082098, min 88.99862.
//!
//! The encodes use one x264 thread so the bitstreams, and so the frames, are the same on every
//! machine.

use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use mediaforce_core::transcode::{transcode, TranscodeOptions};
use mediaforce_core::NoProgress;
use mediaforce_metrics::{score_files, Scale, ScoreOptions};

const FFMPEG_NATIVE_MEAN: f64 = 95.106593;
const FFMPEG_NATIVE_HARMONIC: f64 = 95.082098;
const FFMPEG_NATIVE_MIN: f64 = 88.998620;
const FFMPEG_1080P_MEAN: f64 = 66.809444;

#[test]
fn vmaf_matches_ffmpeg_libvmaf_native_and_upscaled() {
    let dir = tempfile::tempdir().unwrap();
    let keep = std::env::var_os("MEDIAFORCE_KEEP_PAIR").map(std::path::PathBuf::from);
    let base = keep.clone().unwrap_or_else(|| dir.path().to_path_buf());
    std::fs::create_dir_all(&base).unwrap();
    let reference = base.join("ref.mkv");
    let distorted = base.join("dist.mkv");
    let mut v = SyntheticVideo::new(480, 270, 30).encoder(
        "libx264",
        &[("qp", "0"), ("preset", "ultrafast"), ("threads", "1")],
    );
    v.gop = Some(30);
    SyntheticClip::new(v).write(&reference).unwrap();
    let opts = TranscodeOptions::new("libx264")
        .option("crf", 30)
        .option("preset", "fast")
        .option("threads", 1);
    transcode(&reference, &distorted, &opts, &mut NoProgress).unwrap();

    let native = score_files(
        &reference,
        &distorted,
        &ScoreOptions {
            scale: Scale::Native,
            ..Default::default()
        },
        &mut NoProgress,
    )
    .unwrap();
    let upscaled = score_files(
        &reference,
        &distorted,
        &ScoreOptions::default(),
        &mut NoProgress,
    )
    .unwrap();
    println!(
        "native mean {:.6} harmonic {:.6} min {:.6}; 1080p mean {:.6}",
        native.vmaf.mean, native.vmaf.harmonic_mean, native.vmaf.min, upscaled.vmaf.mean
    );
    assert_eq!(native.frames, 30);
    // FFmpeg prints six decimals; agreement is to its precision.
    assert!(
        (native.vmaf.mean - FFMPEG_NATIVE_MEAN).abs() < 2e-6,
        "native mean {}",
        native.vmaf.mean
    );
    assert!((native.vmaf.harmonic_mean - FFMPEG_NATIVE_HARMONIC).abs() < 2e-6);
    assert!((native.vmaf.min - FFMPEG_NATIVE_MIN).abs() < 2e-6);
    assert_eq!(
        (upscaled.scored_width, upscaled.scored_height),
        (1920, 1080)
    );
    assert!(
        (upscaled.vmaf.mean - FFMPEG_1080P_MEAN).abs() < 2e-6,
        "1080p mean {}",
        upscaled.vmaf.mean
    );
}
