//! Codec adapters: each encoder described once, behind one trait, so search, policy and
//! telemetry never special-case a codec.
//!
//! An adapter says what the encoder is called, whether this build has it, its quality knob
//! (name, range, step, which end is better), its speed presets, a default knob per source
//! height, and how (preset, knob) become encoder options.

use mediaforce_core::ffmpeg_next::format::Pixel;

mod hardware;
pub use hardware::{hardware, Hardware};
use serde::Serialize;

/// Which end of the knob gives better quality.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    /// Lower values are better quality (CRF-like).
    Lower,
    /// Higher values are better quality.
    Higher,
}

/// An encoder's quality knob.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Knob {
    /// AVOption name (`"crf"`).
    pub name: &'static str,
    /// Smallest accepted value.
    pub min: f64,
    /// Largest accepted value.
    pub max: f64,
    /// Smallest meaningful step.
    pub step: f64,
    /// Which end is better.
    pub better: Better,
    /// Typical VMAF points gained per knob unit near high-quality targets; the search's first
    /// step uses it before it has measured a slope of its own.
    pub vmaf_per_unit: f64,
}

/// An encoder's speed presets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub enum Presets {
    /// Numbered presets in `min..=max`; `faster_is_higher` says which end is faster.
    Numeric {
        /// AVOption name.
        option: &'static str,
        /// Lowest.
        min: i32,
        /// Highest.
        max: i32,
        /// Whether higher numbers are faster.
        faster_is_higher: bool,
    },
    /// Named presets, slowest first.
    Named {
        /// AVOption name.
        option: &'static str,
        /// Names, slowest first.
        names: &'static [&'static str],
    },
}

/// What values a [`Param`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ParamKind {
    /// An integer in `min..=max`.
    Int {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
    },
    /// One of these words.
    Choice(&'static [&'static str]),
    /// `0` or `1`.
    Bool,
}

impl ParamKind {
    fn accepts(&self, v: &str) -> bool {
        match self {
            ParamKind::Int { min, max } => {
                v.parse::<i64>().is_ok_and(|x| (*min..=*max).contains(&x))
            }
            ParamKind::Choice(words) => words.contains(&v),
            ParamKind::Bool => v == "0" || v == "1",
        }
    }

    fn describe(&self) -> String {
        match self {
            ParamKind::Int { min, max } => format!("{min}..={max}"),
            ParamKind::Choice(words) => words.join(", "),
            ParamKind::Bool => "0 or 1".into(),
        }
    }
}

/// A tunable encoder parameter beyond preset and quality knob.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Param {
    /// Name used by mediaforce (`"keyint"`, `"film-grain"`, `"tune"`, `"scene-detection"`).
    pub name: &'static str,
    /// Where it goes: an AVOption (`"g"`), or `"group:key"` for a key inside a params string
    /// option (`"svtav1-params:film-grain"`).
    pub option: &'static str,
    /// Accepted values.
    pub kind: ParamKind,
}

const fn param(name: &'static str, option: &'static str, kind: ParamKind) -> Param {
    Param { name, option, kind }
}

pub(crate) const KEYINT: Param = param(
    "keyint",
    "g",
    ParamKind::Int {
        min: 1,
        max: 10_000,
    },
);

/// Errors from adapters.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Knob value outside the encoder's range or step.
    #[error("{encoder}: {knob} {value} is out of range; allowed {min}..={max} in steps of {step}")]
    KnobOutOfRange {
        /// Encoder id.
        encoder: &'static str,
        /// Knob name.
        knob: &'static str,
        /// Given value.
        value: f64,
        /// Allowed minimum.
        min: f64,
        /// Allowed maximum.
        max: f64,
        /// Step.
        step: f64,
    },
    /// Preset unknown to the encoder.
    #[error("{encoder}: preset '{preset}' is not valid; allowed {allowed}")]
    BadPreset {
        /// Encoder id.
        encoder: &'static str,
        /// Given preset.
        preset: String,
        /// Allowed presets, in words.
        allowed: String,
    },
    /// A parameter value outside what the encoder takes.
    #[error("{encoder}: {param} {value} is not valid; allowed {allowed}")]
    BadParam {
        /// Encoder id.
        encoder: &'static str,
        /// Parameter name.
        param: String,
        /// Given value.
        value: String,
        /// Allowed values, in words.
        allowed: String,
    },
    /// No adapter of this name.
    #[error("unknown encoder '{0}'; see `mediaforce encoders`")]
    Unknown(String),
}

/// One encoder, described.
pub trait CodecAdapter: Send + Sync + std::fmt::Debug {
    /// Stable id (`"libsvtav1"`).
    fn id(&self) -> &'static str;
    /// Display name.
    fn display_name(&self) -> &'static str;
    /// libav encoder name.
    fn libav_name(&self) -> &'static str;
    /// The quality knob.
    fn knob(&self) -> Knob;
    /// Speed presets.
    fn presets(&self) -> Presets;
    /// Default preset.
    fn default_preset(&self) -> &'static str;
    /// The fastest preset (quick checks, benchmarks).
    fn fastest_preset(&self) -> String {
        match self.presets() {
            Presets::Numeric {
                min,
                max,
                faster_is_higher,
                ..
            } => (if faster_is_higher { max } else { min }).to_string(),
            Presets::Named { names, .. } => {
                names.last().map_or_else(String::new, |n| (*n).to_string())
            }
        }
    }
    /// Default knob value for a source of this height.
    fn default_knob(&self, height: u32) -> f64;
    /// Parameters beyond preset and knob: keyframe interval, tune, scene detection, film grain,
    /// where the encoder has them.
    fn params(&self) -> Vec<Param> {
        vec![KEYINT]
    }
    /// The hardware device the encoder needs, if any.
    fn device(&self) -> Option<mediaforce_core::hw::DeviceKind> {
        None
    }
    /// [`options`](Self::options) plus extras: known [`Param`]s are validated and routed to
    /// their AVOption or params string; any other `key=value` passes through as an AVOption
    /// (the encoder refuses names it does not know when it opens).
    fn options_with(
        &self,
        preset: &str,
        value: f64,
        extras: &[(String, String)],
    ) -> Result<Vec<(String, String)>, Error> {
        let mut opts = self.options(preset, value)?;
        let params = self.params();
        let mut grouped: Vec<(&str, Vec<String>)> = Vec::new();
        for (k, v) in extras {
            match params.iter().find(|p| p.name == k) {
                Some(p) => {
                    if !p.kind.accepts(v) {
                        return Err(Error::BadParam {
                            encoder: self.id(),
                            param: k.clone(),
                            value: v.clone(),
                            allowed: p.kind.describe(),
                        });
                    }
                    match p.option.split_once(':') {
                        Some((group, key)) => match grouped.iter_mut().find(|(g, _)| *g == group) {
                            Some((_, items)) => items.push(format!("{key}={v}")),
                            None => grouped.push((group, vec![format!("{key}={v}")])),
                        },
                        None => opts.push((p.option.to_string(), v.clone())),
                    }
                }
                None => opts.push((k.clone(), v.clone())),
            }
        }
        for (group, items) in grouped {
            let joined = items.join(":");
            match opts.iter_mut().find(|(k, _)| k == group) {
                Some((_, existing)) => *existing = format!("{existing}:{joined}"),
                None => opts.push((group.to_string(), joined)),
            }
        }
        Ok(opts)
    }
    /// Options that always apply (log silencing and the like).
    fn base_options(&self) -> Vec<(String, String)> {
        Vec::new()
    }
    /// Stem of the encoder library libavcodec loads (`"libx264"`), when it is a separate library.
    fn library(&self) -> Option<&'static str> {
        None
    }
    /// The encoder library's file name with its version (`"libSvtAv1Enc.so.1.4.1"`), read from
    /// this process's memory map; libavcodec's own version when the encoder is built in.
    fn version(&self) -> String {
        self.library()
            .and_then(mediaforce_core::version::loaded_library)
            .or_else(|| mediaforce_core::version::loaded_library("libavcodec"))
            .unwrap_or_else(|| "unknown".into())
    }
    /// A stable fingerprint of encoder, version and options, for caches and telemetry.
    fn fingerprint(&self, preset: &str, value: f64) -> Result<String, Error> {
        let opts = self.options(preset, value)?;
        let opts: Vec<String> = opts.iter().map(|(k, v)| format!("{k}={v}")).collect();
        Ok(format!(
            "{}|{}|{}",
            self.libav_name(),
            self.version(),
            opts.join(",")
        ))
    }
    /// Whether the linked FFmpeg has the encoder; `Err` gives the reason when not.
    fn availability(&self) -> Result<(), String> {
        if mediaforce_core::encode::encoder_exists(self.libav_name()) {
            Ok(())
        } else {
            Err(format!(
                "{} is not compiled into the linked FFmpeg",
                self.libav_name()
            ))
        }
    }
    /// Pixel formats the encoder accepts.
    fn pixel_formats(&self) -> Vec<Pixel> {
        mediaforce_core::encode::encoder_pixel_formats(self.libav_name())
    }
    /// Whether 8-bit sources should still be encoded at 10 bits (AV1 compresses better so, as
    /// ab-av1 and Av1an default to).
    fn prefers_10bit(&self) -> bool {
        false
    }
    /// The pixel format to encode a `source` picture in: the source's depth and chroma where the
    /// encoder takes them (10-bit stays 10-bit), and 10-bit 4:2:0 for 8-bit sources when
    /// [`prefers_10bit`](Self::prefers_10bit).
    fn pick_pixel_format(&self, source: Pixel) -> Pixel {
        let chosen = mediaforce_core::encode::choose_pixel_format(self.libav_name(), source);
        let depth = mediaforce_core::probe::bit_depth(chosen).unwrap_or(8);
        if self.prefers_10bit() && depth == 8 && self.pixel_formats().contains(&Pixel::YUV420P10LE)
        {
            Pixel::YUV420P10LE
        } else {
            chosen
        }
    }
    /// Encoder options for `preset` and knob `value`, validated.
    fn options(&self, preset: &str, value: f64) -> Result<Vec<(String, String)>, Error> {
        let k = self.knob();
        let steps = (value - k.min) / k.step;
        if !(k.min..=k.max).contains(&value) || (steps - steps.round()).abs() > 1e-6 {
            return Err(Error::KnobOutOfRange {
                encoder: self.id(),
                knob: k.name,
                value,
                min: k.min,
                max: k.max,
                step: k.step,
            });
        }
        let preset_option = match self.presets() {
            Presets::Numeric {
                option, min, max, ..
            } => {
                let ok = preset
                    .parse::<i32>()
                    .is_ok_and(|p| (min..=max).contains(&p));
                if !ok {
                    return Err(Error::BadPreset {
                        encoder: self.id(),
                        preset: preset.into(),
                        allowed: format!("{min}..={max}"),
                    });
                }
                option
            }
            Presets::Named { option, names } => {
                if !names.contains(&preset) {
                    return Err(Error::BadPreset {
                        encoder: self.id(),
                        preset: preset.into(),
                        allowed: names.join(", "),
                    });
                }
                option
            }
        };
        let mut opts = self.base_options();
        opts.push((preset_option.to_string(), preset.to_string()));
        let v = if k.step.fract() == 0.0 {
            format!("{}", value as i64)
        } else {
            format!("{value}")
        };
        opts.push((k.name.to_string(), v));
        Ok(opts)
    }
}

pub(crate) fn by_height(height: u32, values: [f64; 5]) -> f64 {
    match height {
        0..=576 => values[0],
        577..=720 => values[1],
        721..=1080 => values[2],
        1081..=1440 => values[3],
        _ => values[4],
    }
}

macro_rules! adapter {
    ($ty:ident, $id:literal, $display:literal, $lib:literal, $knob:expr, $presets:expr, $default_preset:literal, $defaults:expr, $base:expr, $ten_bit:literal, $params:expr) => {
        #[doc = concat!("Adapter for ", $display, ".")]
        #[derive(Debug, Default, Clone, Copy)]
        pub struct $ty;
        impl CodecAdapter for $ty {
            fn id(&self) -> &'static str {
                $id
            }
            fn display_name(&self) -> &'static str {
                $display
            }
            fn libav_name(&self) -> &'static str {
                $id
            }
            fn knob(&self) -> Knob {
                $knob
            }
            fn presets(&self) -> Presets {
                $presets
            }
            fn default_preset(&self) -> &'static str {
                $default_preset
            }
            fn default_knob(&self, height: u32) -> f64 {
                by_height(height, $defaults)
            }
            fn base_options(&self) -> Vec<(String, String)> {
                let base: &[(&str, &str)] = $base;
                base.iter()
                    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                    .collect()
            }
            fn prefers_10bit(&self) -> bool {
                $ten_bit
            }
            fn library(&self) -> Option<&'static str> {
                Some($lib)
            }
            fn params(&self) -> Vec<Param> {
                $params
            }
        }
    };
}

const X26X_PRESETS: &[&str] = &[
    "placebo",
    "veryslow",
    "slower",
    "slow",
    "medium",
    "fast",
    "faster",
    "veryfast",
    "superfast",
    "ultrafast",
];

adapter!(
    SvtAv1,
    "libsvtav1",
    "SVT-AV1",
    "libSvtAv1Enc",
    Knob {
        name: "crf",
        min: 1.0,
        max: 63.0,
        step: 1.0,
        better: Better::Lower,
        vmaf_per_unit: 0.4
    },
    Presets::Numeric {
        option: "preset",
        min: 0,
        max: 13,
        faster_is_higher: true
    },
    "8",
    [30.0, 32.0, 34.0, 35.0, 36.0],
    &[],
    true,
    vec![
        KEYINT,
        param(
            "film-grain",
            "svtav1-params:film-grain",
            ParamKind::Int { min: 0, max: 50 }
        ),
        param("tune", "svtav1-params:tune", ParamKind::Choice(&["0", "1"])),
        param("scene-detection", "sc_detection", ParamKind::Bool),
    ]
);
adapter!(
    AomAv1,
    "libaom-av1",
    "libaom AV1",
    "libaom",
    Knob {
        name: "crf",
        min: 0.0,
        max: 63.0,
        step: 1.0,
        better: Better::Lower,
        vmaf_per_unit: 0.4
    },
    Presets::Numeric {
        option: "cpu-used",
        min: 0,
        max: 8,
        faster_is_higher: true
    },
    "6",
    [30.0, 32.0, 34.0, 35.0, 36.0],
    &[("row-mt", "1")],
    true,
    vec![
        KEYINT,
        param(
            "film-grain",
            "denoise-noise-level",
            ParamKind::Int { min: 0, max: 50 }
        ),
        param("tune", "tune", ParamKind::Choice(&["psnr", "ssim"])),
    ]
);
adapter!(
    X264,
    "libx264",
    "x264 (H.264)",
    "libx264",
    Knob {
        name: "crf",
        min: 0.0,
        max: 51.0,
        step: 0.25,
        better: Better::Lower,
        vmaf_per_unit: 1.0
    },
    Presets::Named {
        option: "preset",
        names: X26X_PRESETS
    },
    "medium",
    [20.0, 21.0, 22.0, 23.0, 23.0],
    &[],
    false,
    vec![
        KEYINT,
        param(
            "tune",
            "tune",
            ParamKind::Choice(&[
                "film",
                "animation",
                "grain",
                "stillimage",
                "psnr",
                "ssim",
                "fastdecode",
                "zerolatency"
            ])
        ),
        param(
            "scene-detection",
            "sc_threshold",
            ParamKind::Int { min: 0, max: 100 }
        ),
    ]
);
adapter!(
    X265,
    "libx265",
    "x265 (HEVC)",
    "libx265",
    Knob {
        name: "crf",
        min: 0.0,
        max: 51.0,
        step: 0.25,
        better: Better::Lower,
        vmaf_per_unit: 1.0
    },
    Presets::Named {
        option: "preset",
        names: X26X_PRESETS
    },
    "medium",
    [22.0, 23.0, 24.0, 25.0, 26.0],
    &[("x265-params", "log-level=error")],
    false,
    vec![
        KEYINT,
        param(
            "tune",
            "tune",
            ParamKind::Choice(&[
                "psnr",
                "ssim",
                "grain",
                "fastdecode",
                "zerolatency",
                "animation"
            ])
        ),
        param(
            "scene-detection",
            "x265-params:scenecut",
            ParamKind::Int { min: 0, max: 100 }
        ),
    ]
);
adapter!(
    Vp9,
    "libvpx-vp9",
    "libvpx VP9",
    "libvpx",
    Knob {
        name: "crf",
        min: 0.0,
        max: 63.0,
        step: 1.0,
        better: Better::Lower,
        vmaf_per_unit: 0.4
    },
    Presets::Numeric {
        option: "cpu-used",
        min: -8,
        max: 8,
        faster_is_higher: true
    },
    "4",
    [32.0, 33.0, 34.0, 35.0, 36.0],
    &[("b", "0"), ("row-mt", "1")],
    false,
    vec![
        KEYINT,
        param(
            "tune",
            "tune-content",
            ParamKind::Choice(&["default", "screen", "film"])
        ),
    ]
);

/// rav1e, native: encoded in-process through the `rav1e` crate, no libav encoder involved.
#[derive(Debug, Default, Clone, Copy)]
pub struct Rav1e;

impl CodecAdapter for Rav1e {
    fn id(&self) -> &'static str {
        "rav1e"
    }
    fn display_name(&self) -> &'static str {
        "rav1e (native)"
    }
    fn libav_name(&self) -> &'static str {
        mediaforce_core::native::RAV1E
    }
    fn knob(&self) -> Knob {
        Knob {
            name: "qp",
            min: 0.0,
            max: 255.0,
            step: 1.0,
            better: Better::Lower,
            vmaf_per_unit: 0.1,
        }
    }
    fn presets(&self) -> Presets {
        Presets::Numeric {
            option: "speed",
            min: 0,
            max: 10,
            faster_is_higher: true,
        }
    }
    fn default_preset(&self) -> &'static str {
        "6"
    }
    fn default_knob(&self, height: u32) -> f64 {
        by_height(height, [90.0, 95.0, 100.0, 105.0, 110.0])
    }
    fn prefers_10bit(&self) -> bool {
        true
    }
    fn version(&self) -> String {
        mediaforce_core::native::rav1e_version()
    }
    fn params(&self) -> Vec<Param> {
        vec![
            param(
                "keyint",
                "keyint",
                ParamKind::Int {
                    min: 1,
                    max: 10_000,
                },
            ),
            param("tiles", "tiles", ParamKind::Int { min: 1, max: 64 }),
        ]
    }
}

/// Every adapter this build knows: the software encoders, then the hardware ones.
pub fn all() -> Vec<Box<dyn CodecAdapter>> {
    let mut all: Vec<Box<dyn CodecAdapter>> = vec![
        Box::new(SvtAv1),
        Box::new(AomAv1),
        Box::new(X264),
        Box::new(X265),
        Box::new(Vp9),
        Box::new(Rav1e),
    ];
    all.extend(
        hardware()
            .into_iter()
            .map(|h| Box::new(h) as Box<dyn CodecAdapter>),
    );
    all
}

/// The adapter with this id.
pub fn find(id: &str) -> Result<Box<dyn CodecAdapter>, Error> {
    all()
        .into_iter()
        .find(|a| a.id() == id)
        .ok_or_else(|| Error::Unknown(id.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_validate_knob_and_preset() {
        let x = X264;
        assert_eq!(
            x.options("fast", 23.5).unwrap(),
            vec![
                ("preset".into(), "fast".into()),
                ("crf".into(), "23.5".into())
            ]
        );
        let e = x.options("fast", 23.3).unwrap_err().to_string();
        assert!(e.contains("allowed 0..=51 in steps of 0.25"), "{e}");
        let e = SvtAv1.options("14", 30.0).unwrap_err().to_string();
        assert!(e.contains("allowed 0..=13"), "{e}");
        assert_eq!(
            SvtAv1.options("8", 30.0).unwrap()[1],
            ("crf".into(), "30".into())
        );
        assert!(find("nope").is_err());
    }
}
