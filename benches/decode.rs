//! Decode throughput of the media layer on a generated 720p clip (frames/s), with and without
//! conversion to 10-bit, so regressions in the frame pipeline show.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mediaforce::core::decode::{DecodeOptions, VideoDecoder};
use mediaforce::core::ffmpeg_next::format::Pixel;
use mediaforce::core::synth::{SyntheticClip, SyntheticVideo};

const FRAMES: u32 = 48;

fn decode(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench720.mkv");
    SyntheticClip::new(
        SyntheticVideo::new(1280, 720, FRAMES)
            .encoder("libx264", &[("preset", "veryfast"), ("crf", "18")]),
    )
    .write(&path)
    .expect("write clip");
    let mut g = c.benchmark_group("decode_720p");
    g.throughput(Throughput::Elements(u64::from(FRAMES)));
    g.sample_size(10);
    g.bench_function("h264_native", |b| {
        b.iter(|| {
            let n = VideoDecoder::open(&path, DecodeOptions::default())
                .expect("open")
                .count();
            assert_eq!(n, FRAMES as usize);
        })
    });
    g.bench_function("h264_to_yuv420p10le", |b| {
        b.iter(|| {
            let n = VideoDecoder::open(
                &path,
                DecodeOptions::default().pixel_format(Pixel::YUV420P10LE),
            )
            .expect("open")
            .count();
            assert_eq!(n, FRAMES as usize);
        })
    });
    g.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
