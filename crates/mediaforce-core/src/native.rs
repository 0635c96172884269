//! Encoders that run in-process without libavcodec: rav1e, through its Rust API.
//!
//! `encode::VideoEncoder` picks this path for the encoder name `"rav1e"`, so callers
//! (transcode, the target search) treat it like any libav encoder: frames in, packets out, codec
//! parameters (with the `av1C` record) for the muxer.

use crate::error::{Error, Result};
use crate::video_config::{ColorTags, EncoderOutput, VideoEncoderConfig};
use ff::format::Pixel;
use ffmpeg_next as ff;
use rav1e::prelude as r;
use std::collections::VecDeque;
use std::path::PathBuf;

/// The libav-style name that selects rav1e.
pub const RAV1E: &str = "rav1e";

/// Options rav1e accepts through [`VideoEncoderConfig::options`].
pub const RAV1E_OPTIONS: &[&str] = &["speed", "qp", "min-qp", "tiles", "threads", "keyint"];

/// Pixel formats rav1e takes.
pub fn rav1e_pixel_formats() -> Vec<Pixel> {
    vec![
        Pixel::YUV420P,
        Pixel::YUV420P10LE,
        Pixel::YUV420P12LE,
        Pixel::YUV422P,
        Pixel::YUV422P10LE,
        Pixel::YUV444P,
        Pixel::YUV444P10LE,
    ]
}

/// rav1e's version (`"0.8.1 (...)"`).
pub fn rav1e_version() -> String {
    format!("rav1e {}", rav1e::version::short())
}

enum Ctx {
    Eight(r::Context<u8>),
    High(r::Context<u16>),
}

/// A rav1e encoder.
pub(crate) struct Rav1eEncoder {
    ctx: Ctx,
    label: PathBuf,
    pts: VecDeque<(u64, Option<i64>)>,
    sent: u64,
    params: ff::codec::Parameters,
    time_base: ff::Rational,
    flushed: bool,
    frame_duration: i64,
}

fn bad(what: &'static str, reason: String) -> Error {
    Error::InvalidArgument { what, reason }
}

fn color_description(c: &ColorTags) -> Option<r::ColorDescription> {
    use ff::color::{Primaries as P, Space as S, TransferCharacteristic as T};
    let color_primaries = match c.primaries {
        P::BT709 => r::ColorPrimaries::BT709,
        P::BT2020 => r::ColorPrimaries::BT2020,
        _ => return None,
    };
    let transfer_characteristics = match c.transfer {
        T::BT709 => r::TransferCharacteristics::BT709,
        T::SMPTE2084 => r::TransferCharacteristics::SMPTE2084,
        T::ARIB_STD_B67 => r::TransferCharacteristics::HLG,
        _ => return None,
    };
    let matrix_coefficients = match c.matrix {
        S::BT709 => r::MatrixCoefficients::BT709,
        S::BT2020NCL => r::MatrixCoefficients::BT2020NCL,
        _ => return None,
    };
    Some(r::ColorDescription {
        color_primaries,
        transfer_characteristics,
        matrix_coefficients,
    })
}

impl Rav1eEncoder {
    pub(crate) fn open(config: &VideoEncoderConfig) -> Result<Self> {
        let label = PathBuf::from("encoder rav1e");
        let layout = crate::ffi::pixel_layout(config.pixel_format)
            .filter(|_| rav1e_pixel_formats().contains(&config.pixel_format))
            .ok_or_else(|| {
                bad(
                    "pixel format",
                    format!("rav1e does not take {:?}", config.pixel_format),
                )
            })?;
        let chroma = match (layout.log2_chroma_w, layout.log2_chroma_h) {
            (1, 1) => r::ChromaSampling::Cs420,
            (1, 0) => r::ChromaSampling::Cs422,
            _ => r::ChromaSampling::Cs444,
        };
        let mut enc = r::EncoderConfig {
            width: config.width as usize,
            height: config.height as usize,
            bit_depth: usize::from(layout.depth),
            chroma_sampling: chroma,
            time_base: r::Rational {
                num: config.time_base.numerator().max(1) as u64,
                den: config.time_base.denominator().max(1) as u64,
            },
            pixel_range: if config.color.range == ff::color::Range::JPEG {
                r::PixelRange::Full
            } else {
                r::PixelRange::Limited
            },
            color_description: color_description(&config.color),
            max_key_frame_interval: u64::from(config.gop.unwrap_or(240)),
            ..r::EncoderConfig::with_speed_preset(6)
        };
        let mut threads = config.threads.unwrap_or(0);
        for (key, value) in &config.options {
            let num = |max: u64| -> Result<u64> {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|v| *v <= max)
                    .ok_or_else(|| {
                        bad(
                            "encoder option",
                            format!("rav1e {key}={value}: expected 0..={max}"),
                        )
                    })
            };
            match key.as_str() {
                "speed" => enc.speed_settings = r::SpeedSettings::from_preset(num(10)? as u8),
                "qp" => enc.quantizer = num(255)? as usize,
                "min-qp" => enc.min_quantizer = num(255)? as u8,
                "tiles" => enc.tiles = num(64)? as usize,
                "threads" => threads = num(256)? as usize,
                "keyint" => enc.max_key_frame_interval = num(10_000)?,
                _ => {
                    return Err(bad(
                        "encoder option",
                        format!(
                            "rav1e has no option '{key}' (it takes {})",
                            RAV1E_OPTIONS.join(", ")
                        ),
                    ))
                }
            }
        }
        let cfg = r::Config::new()
            .with_encoder_config(enc)
            .with_threads(threads);
        let invalid = |e: r::InvalidConfig| bad("rav1e configuration", e.to_string());
        let ctx = if layout.depth > 8 {
            Ctx::High(cfg.new_context().map_err(invalid)?)
        } else {
            Ctx::Eight(cfg.new_context().map_err(invalid)?)
        };
        let header = match &ctx {
            Ctx::Eight(c) => c.container_sequence_header(),
            Ctx::High(c) => c.container_sequence_header(),
        };
        let mut params = ff::codec::Parameters::new();
        crate::ffi::set_video_parameters(&mut params, ff::codec::Id::AV1, config, &header);
        Ok(Self {
            ctx,
            label,
            pts: VecDeque::new(),
            sent: 0,
            params,
            time_base: config.time_base,
            flushed: false,
            frame_duration: config.frame_rate.map_or(0, |r| {
                use ff::Rescale;
                1i64.rescale(r.invert(), config.time_base).max(1)
            }),
        })
    }

    pub(crate) fn parameters(&self) -> ff::codec::Parameters {
        self.params.clone()
    }

    pub(crate) fn time_base(&self) -> ff::Rational {
        self.time_base
    }

    pub(crate) fn send(&mut self, frame: &ff::frame::Video) -> Result<()> {
        fn fill<T: r::Pixel>(
            ctx: &mut r::Context<T>,
            frame: &ff::frame::Video,
            bytes: usize,
        ) -> r::Frame<T> {
            let mut f = ctx.new_frame();
            for (i, plane) in f.planes.iter_mut().enumerate() {
                let rows = frame.plane_height(i) as usize;
                let stride = frame.stride(i);
                let data = &frame.data(i)[..stride * rows];
                plane.copy_from_raw_u8(data, stride, bytes);
            }
            f
        }
        let status = match &mut self.ctx {
            Ctx::Eight(c) => {
                let f = fill(c, frame, 1);
                c.send_frame(f)
            }
            Ctx::High(c) => {
                let f = fill(c, frame, 2);
                c.send_frame(f)
            }
        };
        status.map_err(|e| Error::Libav {
            path: self.label.clone(),
            op: format!("encode frame ({e})"),
            source: ff::Error::Bug,
        })?;
        self.pts.push_back((self.sent, frame.pts()));
        self.sent += 1;
        Ok(())
    }

    pub(crate) fn send_eof(&mut self) {
        if !self.flushed {
            self.flushed = true;
            match &mut self.ctx {
                Ctx::Eight(c) => c.flush(),
                Ctx::High(c) => c.flush(),
            }
        }
    }

    pub(crate) fn receive(&mut self) -> Result<EncoderOutput> {
        loop {
            let result = match &mut self.ctx {
                Ctx::Eight(c) => c
                    .receive_packet()
                    .map(|p| (p.data, p.input_frameno, p.frame_type)),
                Ctx::High(c) => c
                    .receive_packet()
                    .map(|p| (p.data, p.input_frameno, p.frame_type)),
            };
            match result {
                Ok((data, frameno, kind)) => {
                    while self.pts.front().is_some_and(|(n, _)| *n < frameno) {
                        self.pts.pop_front();
                    }
                    let pts = self
                        .pts
                        .front()
                        .and_then(|(n, p)| (*n == frameno).then_some(*p))
                        .flatten();
                    let mut packet = ff::Packet::copy(&data);
                    packet.set_pts(pts);
                    packet.set_dts(pts);
                    packet.set_duration(self.frame_duration);
                    if kind == r::FrameType::KEY {
                        packet.set_flags(ff::codec::packet::Flags::KEY);
                    }
                    return Ok(EncoderOutput::Packet(packet));
                }
                Err(r::EncoderStatus::Encoded) => continue,
                Err(r::EncoderStatus::NeedMoreData) => return Ok(EncoderOutput::NeedInput),
                Err(r::EncoderStatus::LimitReached) => return Ok(EncoderOutput::Finished),
                Err(e) => {
                    return Err(Error::Libav {
                        path: self.label.clone(),
                        op: format!("receive packet ({e})"),
                        source: ff::Error::Bug,
                    })
                }
            }
        }
    }
}
