//! In-process VMAF scoring throughput (frames/s, decode included) at 720p and 1080p on
//! generated clips: a lossless-ish reference against an x264 encode of it.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mediaforce::core::synth::{SyntheticClip, SyntheticVideo};
use mediaforce::core::transcode::{transcode, TranscodeOptions};
use mediaforce::core::NoProgress;
use mediaforce::metrics::{score_files, Scale, ScoreOptions};

const FRAMES: u32 = 24;

fn score(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut g = c.benchmark_group("score");
    g.sample_size(10);
    g.throughput(Throughput::Elements(u64::from(FRAMES)));
    for (w, h) in [(1280u32, 720u32), (1920, 1080)] {
        let reference = dir.path().join(format!("ref{h}.mkv"));
        let distorted = dir.path().join(format!("dist{h}.mkv"));
        SyntheticClip::new(
            SyntheticVideo::new(w, h, FRAMES)
                .encoder("libx264", &[("qp", "0"), ("preset", "ultrafast")]),
        )
        .write(&reference)
        .expect("write reference");
        let opts = TranscodeOptions::new("libx264")
            .option("crf", 28)
            .option("preset", "veryfast");
        transcode(&reference, &distorted, &opts, &mut NoProgress).expect("encode");
        let so = ScoreOptions {
            scale: Scale::Native,
            ..Default::default()
        };
        g.bench_function(format!("vmaf_{h}p"), |b| {
            b.iter(|| {
                let r = score_files(&reference, &distorted, &so, &mut NoProgress).expect("score");
                assert_eq!(r.frames, u64::from(FRAMES));
            })
        });
    }
    g.finish();
}

criterion_group!(benches, score);
criterion_main!(benches);
