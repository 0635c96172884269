//! Hardware device detection for hardware encoders (NVENC through CUDA, Quick Sync, VA-API).

/// A hardware device family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// NVIDIA, for NVENC.
    Cuda,
    /// Intel Quick Sync.
    Qsv,
    /// VA-API (Intel, AMD on Linux).
    Vaapi,
}

impl DeviceKind {
    /// libav's name for the device type.
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Cuda => "cuda",
            DeviceKind::Qsv => "qsv",
            DeviceKind::Vaapi => "vaapi",
        }
    }
}

/// Whether a device of this kind can be opened on this machine now; `Err` says why not.
pub fn device_available(kind: DeviceKind) -> Result<(), String> {
    crate::init();
    crate::ffi::hw_device_probe(kind.name())
}
