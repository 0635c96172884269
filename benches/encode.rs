//! Encode throughput per available software adapter on a fixed generated 720p clip (frames/s),
//! at each adapter's fastest preset and default knob, so regressions in an adapter or in the
//! frame pipeline show.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mediaforce::codecs::all;
use mediaforce::core::encode::{VideoEncoder, VideoEncoderConfig};
use mediaforce::core::ffmpeg_next::{format::Pixel, Rational};
use mediaforce::core::synth::Painter;

const FRAMES: u32 = 24;

fn encode(c: &mut Criterion) {
    let mut painter = Painter::new(1280, 720, Pixel::YUV420P, 24).expect("painter");
    let frames: Vec<_> = (0..FRAMES)
        .map(|i| painter.paint(i).expect("paint"))
        .collect();
    let mut g = c.benchmark_group("encode_720p");
    g.sample_size(10);
    g.throughput(Throughput::Elements(u64::from(FRAMES)));
    for a in all() {
        if a.availability().is_err() || a.device().is_some() {
            continue; // hardware encoders are benchmarked where the device exists
        }
        let preset = a.fastest_preset();
        let options = a.options(&preset, a.default_knob(720)).expect("options");
        g.bench_function(a.id(), |b| {
            b.iter(|| {
                let mut cfg = VideoEncoderConfig::new(
                    a.libav_name(),
                    1280,
                    720,
                    Pixel::YUV420P,
                    Rational::new(24, 1),
                );
                cfg.options = options.clone();
                cfg.global_header = false;
                let mut enc = VideoEncoder::open(&cfg).expect("open");
                let mut bytes = 0usize;
                for (i, f) in frames.iter().enumerate() {
                    let mut f = f.clone();
                    f.set_pts(Some(i as i64));
                    enc.encode(&f, |p| {
                        bytes += p.size();
                        Ok(())
                    })
                    .expect("encode");
                }
                enc.finish(|p| {
                    bytes += p.size();
                    Ok(())
                })
                .expect("flush");
                assert!(bytes > 0);
            })
        });
    }
    g.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
