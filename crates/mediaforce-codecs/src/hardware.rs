//! Hardware encoders (NVENC, Quick Sync, VA-API): described like the software ones, available
//! only when the linked FFmpeg has the encoder and the machine has the device.

use crate::{by_height, Better, CodecAdapter, Knob, Param, Presets};
use mediaforce_core::encode::{VideoEncoder, VideoEncoderConfig};
use mediaforce_core::ffmpeg_next::{format::Pixel, Rational};
use mediaforce_core::hw::DeviceKind;

/// A hardware encoder: the same description as a software one, plus the device it needs.
#[derive(Debug, Clone, Copy)]
pub struct Hardware {
    id: &'static str,
    display: &'static str,
    device: DeviceKind,
    knob: Knob,
    presets: Presets,
    default_preset: &'static str,
    defaults: [f64; 5],
    base: &'static [(&'static str, &'static str)],
    /// Encoders that take only device frames, which the frame pipeline does not upload yet.
    needs_upload: bool,
}

impl CodecAdapter for Hardware {
    fn id(&self) -> &'static str {
        self.id
    }
    fn display_name(&self) -> &'static str {
        self.display
    }
    fn libav_name(&self) -> &'static str {
        self.id
    }
    fn knob(&self) -> Knob {
        self.knob
    }
    fn presets(&self) -> Presets {
        self.presets
    }
    fn default_preset(&self) -> &'static str {
        self.default_preset
    }
    fn default_knob(&self, height: u32) -> f64 {
        by_height(height, self.defaults)
    }
    fn base_options(&self) -> Vec<(String, String)> {
        self.base
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect()
    }
    fn device(&self) -> Option<DeviceKind> {
        Some(self.device)
    }
    fn params(&self) -> Vec<Param> {
        vec![crate::KEYINT]
    }
    fn availability(&self) -> Result<(), String> {
        if !mediaforce_core::encode::encoder_exists(self.id) {
            return Err(format!(
                "{} is not compiled into the linked FFmpeg",
                self.id
            ));
        }
        mediaforce_core::hw::device_available(self.device)?;
        if self.needs_upload {
            return Err(format!(
                "{} needs frames uploaded to the {} device, which mediaforce does not do yet",
                self.id,
                self.device.name()
            ));
        }
        // A device can exist without an encoder engine (data-centre GPUs have no NVENC): open
        // the encoder once on a small picture to be sure.
        let config =
            VideoEncoderConfig::new(self.id, 256, 144, Pixel::YUV420P, Rational::new(25, 1));
        VideoEncoder::open(&config)
            .map(|_| ())
            .map_err(|e| format!("{} did not open on this machine: {e}", self.id))
    }
}

const NVENC_PRESETS: Presets = Presets::Named {
    option: "preset",
    names: &["p7", "p6", "p5", "p4", "p3", "p2", "p1"],
};
const QSV_PRESETS: Presets = Presets::Named {
    option: "preset",
    names: &[
        "veryslow", "slower", "slow", "medium", "fast", "faster", "veryfast",
    ],
};
const VAAPI_PRESETS: Presets = Presets::Numeric {
    option: "compression_level",
    min: 0,
    max: 7,
    faster_is_higher: true,
};

const fn knob(name: &'static str) -> Knob {
    Knob {
        name,
        min: 1.0,
        max: 51.0,
        step: 1.0,
        better: Better::Lower,
        vmaf_per_unit: 1.0,
    }
}

/// The hardware encoders mediaforce knows, available or not.
pub fn hardware() -> Vec<Hardware> {
    let nvenc = |id, display| Hardware {
        id,
        display,
        device: DeviceKind::Cuda,
        // Constant quality in VBR mode with no bit-rate cap.
        knob: knob("cq"),
        presets: NVENC_PRESETS,
        default_preset: "p5",
        defaults: [24.0, 25.0, 26.0, 27.0, 28.0],
        base: &[("rc", "vbr"), ("b", "0")],
        needs_upload: false,
    };
    let qsv = |id, display| Hardware {
        id,
        display,
        device: DeviceKind::Qsv,
        // global_quality selects ICQ rate control.
        knob: knob("global_quality"),
        presets: QSV_PRESETS,
        default_preset: "medium",
        defaults: [23.0, 24.0, 25.0, 26.0, 27.0],
        base: &[],
        needs_upload: false,
    };
    let vaapi = |id, display| Hardware {
        id,
        display,
        device: DeviceKind::Vaapi,
        knob: knob("qp"),
        presets: VAAPI_PRESETS,
        default_preset: "4",
        defaults: [23.0, 24.0, 25.0, 26.0, 27.0],
        base: &[("rc_mode", "CQP")],
        needs_upload: true,
    };
    vec![
        nvenc("h264_nvenc", "NVENC H.264"),
        nvenc("hevc_nvenc", "NVENC HEVC"),
        nvenc("av1_nvenc", "NVENC AV1"),
        qsv("h264_qsv", "Quick Sync H.264"),
        qsv("hevc_qsv", "Quick Sync HEVC"),
        qsv("av1_qsv", "Quick Sync AV1"),
        vaapi("h264_vaapi", "VA-API H.264"),
        vaapi("hevc_vaapi", "VA-API HEVC"),
        vaapi("av1_vaapi", "VA-API AV1"),
    ]
}
