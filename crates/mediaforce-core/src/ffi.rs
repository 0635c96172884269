//! The only place the media layer touches raw libav structures.
//!
//! `ffmpeg-next` covers most of libav safely; what it lacks (codec parameter fields, stream side data
//! layouts, pixel format depth, stream side data on output) is read or written here, once, behind
//! safe functions. Every `unsafe` block states why it is sound.

use ff::ffi as sys;
use ffmpeg_next as ff;
use std::ffi::CStr;

/// Fields of `AVCodecParameters` that `ffmpeg-next` does not expose.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawParams {
    pub profile: i32,
    pub level: i32,
    pub width: i32,
    pub height: i32,
    pub format: i32,
    pub sar: (i32, i32),
    pub field_order: sys::AVFieldOrder,
    pub color_range: sys::AVColorRange,
    pub color_primaries: sys::AVColorPrimaries,
    pub color_trc: sys::AVColorTransferCharacteristic,
    pub color_space: sys::AVColorSpace,
    pub bits_per_raw_sample: i32,
    pub sample_rate: i32,
    pub channels: i32,
    pub channel_mask: u64,
    pub bit_rate: i64,
    pub extradata_size: i32,
}

pub(crate) fn raw_params(stream: &ff::format::stream::Stream<'_>) -> RawParams {
    let params = stream.parameters();
    // SAFETY: `params` wraps the stream's live AVCodecParameters (owned by the format context that
    // `stream` borrows); we only read plain fields.
    unsafe {
        let p = &*params.as_ptr();
        RawParams {
            profile: p.profile,
            level: p.level,
            width: p.width,
            height: p.height,
            format: p.format,
            sar: (p.sample_aspect_ratio.num, p.sample_aspect_ratio.den),
            field_order: p.field_order,
            color_range: p.color_range,
            color_primaries: p.color_primaries,
            color_trc: p.color_trc,
            color_space: p.color_space,
            bits_per_raw_sample: p.bits_per_raw_sample,
            sample_rate: p.sample_rate,
            channels: p.ch_layout.nb_channels,
            channel_mask: if p.ch_layout.order == sys::AVChannelOrder::AV_CHANNEL_ORDER_NATIVE {
                p.ch_layout.u.mask
            } else {
                0
            },
            bit_rate: p.bit_rate,
            extradata_size: p.extradata_size,
        }
    }
}

fn c_str(ptr: *const std::os::raw::c_char) -> Option<String> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: libav returns static, NUL-terminated names from its tables.
        Some(
            unsafe { CStr::from_ptr(ptr) }
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// libav's name for a codec profile, if it has one.
pub(crate) fn profile_name(id: ff::codec::Id, profile: i32) -> Option<String> {
    // SAFETY: pure table lookup; returns NULL or a static string.
    c_str(unsafe { sys::avcodec_profile_name(id.into(), profile) })
}

pub(crate) fn color_range_name(v: sys::AVColorRange) -> Option<String> {
    // SAFETY: pure table lookup; returns NULL or a static string.
    c_str(unsafe { sys::av_color_range_name(v) })
}
pub(crate) fn color_primaries_name(v: sys::AVColorPrimaries) -> Option<String> {
    // SAFETY: pure table lookup; returns NULL or a static string.
    c_str(unsafe { sys::av_color_primaries_name(v) })
}
pub(crate) fn color_trc_name(v: sys::AVColorTransferCharacteristic) -> Option<String> {
    // SAFETY: pure table lookup; returns NULL or a static string.
    c_str(unsafe { sys::av_color_transfer_name(v) })
}
pub(crate) fn color_space_name(v: sys::AVColorSpace) -> Option<String> {
    // SAFETY: pure table lookup; returns NULL or a static string.
    c_str(unsafe { sys::av_color_space_name(v) })
}

/// Describe a channel mask as libav would ("stereo", "5.1(side)").
pub(crate) fn channel_layout_name(channels: i32, mask: u64) -> Option<String> {
    if channels <= 0 {
        return None;
    }
    let mut buf = [0 as std::os::raw::c_char; 128];
    // SAFETY: the layout is a local, fully initialised value; the buffer is large enough and
    // libav NUL-terminates within the size we pass.
    unsafe {
        let mut layout: sys::AVChannelLayout = std::mem::zeroed();
        if mask != 0 {
            if sys::av_channel_layout_from_mask(&mut layout, mask) < 0 {
                return None;
            }
        } else {
            sys::av_channel_layout_default(&mut layout, channels);
        }
        let n = sys::av_channel_layout_describe(&layout, buf.as_mut_ptr(), buf.len());
        sys::av_channel_layout_uninit(&mut layout);
        if n < 0 {
            return None;
        }
        c_str(buf.as_ptr())
    }
}

/// Bit depth and chroma shifts of a pixel format.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PixelLayout {
    pub depth: u8,
    pub log2_chroma_w: u8,
    pub log2_chroma_h: u8,
    pub components: u8,
    pub rgb: bool,
    pub hwaccel: bool,
}

pub(crate) fn pixel_layout(fmt: ff::format::Pixel) -> Option<PixelLayout> {
    let raw: sys::AVPixelFormat = fmt.into();
    // SAFETY: av_pix_fmt_desc_get returns NULL or a pointer into libav's static descriptor table.
    unsafe {
        let d = sys::av_pix_fmt_desc_get(raw);
        if d.is_null() {
            return None;
        }
        let d = &*d;
        Some(PixelLayout {
            depth: d.comp[0].depth as u8,
            log2_chroma_w: d.log2_chroma_w,
            log2_chroma_h: d.log2_chroma_h,
            components: d.nb_components,
            rgb: d.flags & (sys::AV_PIX_FMT_FLAG_RGB as u64) != 0,
            hwaccel: d.flags & (sys::AV_PIX_FMT_FLAG_HWACCEL as u64) != 0,
        })
    }
}

/// Bytes of picture in one row of `plane` of a `width`-pixel-wide image in `fmt` (no padding).
pub(crate) fn image_row_bytes(fmt: ff::format::Pixel, width: u32, plane: usize) -> Option<usize> {
    let raw: sys::AVPixelFormat = fmt.into();
    let (width, plane) = (i32::try_from(width).ok()?, i32::try_from(plane).ok()?);
    // SAFETY: av_image_get_linesize only reads libav's static descriptor table for `raw` and
    // returns a negative error code for an unknown format or plane.
    let n = unsafe { sys::av_image_get_linesize(raw, width, plane) };
    usize::try_from(n).ok().filter(|n| *n > 0)
}

/// HDR mastering display metadata, in SI-like units (chromaticities as CIE xy, luminance in nits).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MasteringDisplay {
    /// Red, green, blue primaries as CIE 1931 (x, y).
    pub primaries: [[f64; 2]; 3],
    /// White point as CIE 1931 (x, y).
    pub white_point: [f64; 2],
    /// Minimum luminance in cd/m².
    pub min_luminance: f64,
    /// Maximum luminance in cd/m².
    pub max_luminance: f64,
}

/// HDR content light level (CTA-861.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContentLightLevel {
    /// Maximum content light level, cd/m².
    pub max_cll: u32,
    /// Maximum frame-average light level, cd/m².
    pub max_fall: u32,
}

/// Dolby Vision decoder configuration record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DolbyVision {
    /// Dolby Vision profile.
    pub profile: u8,
    /// Dolby Vision level.
    pub level: u8,
    /// Whether an RPU is present.
    pub rpu_present: bool,
    /// Whether an enhancement layer is present.
    pub el_present: bool,
    /// Whether a base layer is present.
    pub bl_present: bool,
    /// Base-layer signal compatibility id.
    pub bl_compatibility_id: u8,
}

// Layouts of libavutil's mastering_display_metadata.h and dovi_meta.h, which the generated
// bindings do not include. These structs are part of libavutil's stable ABI.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_snake_case)]
struct AVMasteringDisplayMetadata {
    display_primaries: [[sys::AVRational; 2]; 3],
    white_point: [sys::AVRational; 2],
    min_luminance: sys::AVRational,
    max_luminance: sys::AVRational,
    has_primaries: i32,
    has_luminance: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_snake_case)]
struct AVContentLightMetadata {
    MaxCLL: u32,
    MaxFALL: u32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct AVDOVIDecoderConfigurationRecord {
    dv_version_major: u8,
    dv_version_minor: u8,
    dv_profile: u8,
    dv_level: u8,
    rpu_present_flag: u8,
    el_present_flag: u8,
    bl_present_flag: u8,
    dv_bl_signal_compatibility_id: u8,
}

fn q(r: sys::AVRational) -> f64 {
    if r.den == 0 {
        0.0
    } else {
        f64::from(r.num) / f64::from(r.den)
    }
}

fn read_struct<T: Copy>(bytes: &[u8]) -> Option<T> {
    if bytes.len() < std::mem::size_of::<T>() {
        return None;
    }
    // SAFETY: length checked above; read_unaligned copes with any alignment; T is a plain C struct
    // of integers, for which every bit pattern is valid.
    Some(unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<T>()) })
}

pub(crate) fn parse_mastering(bytes: &[u8]) -> Option<MasteringDisplay> {
    let m: AVMasteringDisplayMetadata = read_struct(bytes)?;
    if m.has_primaries == 0 && m.has_luminance == 0 {
        return None;
    }
    Some(MasteringDisplay {
        primaries: [
            [q(m.display_primaries[0][0]), q(m.display_primaries[0][1])],
            [q(m.display_primaries[1][0]), q(m.display_primaries[1][1])],
            [q(m.display_primaries[2][0]), q(m.display_primaries[2][1])],
        ],
        white_point: [q(m.white_point[0]), q(m.white_point[1])],
        min_luminance: q(m.min_luminance),
        max_luminance: q(m.max_luminance),
    })
}

pub(crate) fn parse_content_light(bytes: &[u8]) -> Option<ContentLightLevel> {
    let c: AVContentLightMetadata = read_struct(bytes)?;
    Some(ContentLightLevel {
        max_cll: c.MaxCLL,
        max_fall: c.MaxFALL,
    })
}

pub(crate) fn parse_dovi(bytes: &[u8]) -> Option<DolbyVision> {
    let d: AVDOVIDecoderConfigurationRecord = read_struct(bytes)?;
    Some(DolbyVision {
        profile: d.dv_profile,
        level: d.dv_level,
        rpu_present: d.rpu_present_flag != 0,
        el_present: d.el_present_flag != 0,
        bl_present: d.bl_present_flag != 0,
        bl_compatibility_id: d.dv_bl_signal_compatibility_id,
    })
}

/// Rotation in degrees (counter-clockwise, as libav reports it) from a display matrix.
pub(crate) fn parse_rotation(bytes: &[u8]) -> Option<f64> {
    let m: [i32; 9] = read_struct(bytes)?;
    // SAFETY: `m` is a local 3x3 matrix; libav only reads it.
    let r = unsafe { sys::av_display_rotation_get(m.as_ptr()) };
    if r.is_nan() {
        None
    } else {
        Some(r)
    }
}

fn to_q(v: f64, den: i32) -> sys::AVRational {
    sys::AVRational {
        num: (v * f64::from(den)).round() as i32,
        den,
    }
}

/// Serialise mastering display metadata into libav's side-data layout.
pub(crate) fn mastering_bytes(m: &MasteringDisplay) -> Vec<u8> {
    // SAFETY: AVMasteringDisplayMetadata is a plain C struct of integers; all-zero is valid.
    let mut raw: AVMasteringDisplayMetadata = unsafe { std::mem::zeroed() };
    for (i, p) in m.primaries.iter().enumerate() {
        raw.display_primaries[i][0] = to_q(p[0], 50000);
        raw.display_primaries[i][1] = to_q(p[1], 50000);
    }
    raw.white_point[0] = to_q(m.white_point[0], 50000);
    raw.white_point[1] = to_q(m.white_point[1], 50000);
    raw.min_luminance = to_q(m.min_luminance, 10000);
    raw.max_luminance = to_q(m.max_luminance, 10000);
    raw.has_primaries = 1;
    raw.has_luminance = 1;
    struct_bytes(&raw)
}

/// Serialise content light level into libav's side-data layout.
pub(crate) fn content_light_bytes(c: &ContentLightLevel) -> Vec<u8> {
    let raw = AVContentLightMetadata {
        MaxCLL: c.max_cll,
        MaxFALL: c.max_fall,
    };
    struct_bytes(&raw)
}

fn struct_bytes<T: Copy>(v: &T) -> Vec<u8> {
    let n = std::mem::size_of::<T>();
    let mut out = vec![0u8; n];
    // SAFETY: copies exactly size_of::<T>() bytes from a valid T into a buffer of that size.
    unsafe { std::ptr::copy_nonoverlapping((v as *const T).cast::<u8>(), out.as_mut_ptr(), n) };
    out
}

/// Attach side data to an output stream before the header is written (muxers read it there,
/// e.g. Matroska's Colour/MasteringMetadata elements).
pub(crate) fn add_stream_side_data(
    stream: &mut ff::format::stream::StreamMut<'_>,
    kind: ff::codec::packet::side_data::Type,
    bytes: &[u8],
) -> bool {
    // SAFETY: the stream pointer is live for the borrow; av_stream_new_side_data allocates a
    // buffer of `bytes.len()` owned by the stream, which we fill completely.
    unsafe {
        let st = stream.as_mut_ptr();
        #[allow(deprecated)]
        let dst = sys::av_stream_new_side_data(st, kind.into(), bytes.len());
        if dst.is_null() {
            return false;
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst, bytes.len());
        true
    }
}

/// Set the field order on an output stream's parameters (ffmpeg-next has no setter).
pub(crate) fn set_stream_field_order(
    stream: &mut ff::format::stream::StreamMut<'_>,
    order: sys::AVFieldOrder,
) {
    // SAFETY: the stream and its codecpar are live for the borrow; plain field write.
    unsafe { (*(*stream.as_mut_ptr()).codecpar).field_order = order };
}

/// Copy the stream-level disposition flags (ffmpeg-next has a getter only).
pub(crate) fn set_stream_disposition(stream: &mut ff::format::stream::StreamMut<'_>, bits: i32) {
    // SAFETY: plain field write on a live stream.
    unsafe { (*stream.as_mut_ptr()).disposition = bits };
}

/// Reset the codec tag so the output muxer picks its own (a tag valid in AVI is not in MKV).
pub(crate) fn clear_codec_tag(stream: &mut ff::format::stream::StreamMut<'_>) {
    // SAFETY: plain field write on a live stream's codecpar.
    unsafe { (*(*stream.as_mut_ptr()).codecpar).codec_tag = 0 };
}

/// Probe score of an opened input (how sure libav is of the container).
pub(crate) fn format_long_name(input: &ff::format::context::Input) -> String {
    input.format().description().to_string()
}

/// When an opened input starts, in seconds (libav's `start_time`: the earliest presentation
/// time of its streams), when it knows.
pub(crate) fn start_seconds(input: &ff::format::context::Input) -> Option<f64> {
    // SAFETY: `as_ptr` points at the live format context `input` owns; `start_time` is a plain
    // integer field, read without mutation.
    let t = unsafe { (*input.as_ptr()).start_time };
    (t != sys::AV_NOPTS_VALUE).then(|| t as f64 / f64::from(sys::AV_TIME_BASE))
}

/// Versions of the linked libav libraries, as "major.minor.micro".
pub(crate) fn lib_versions() -> [(&'static str, u32); 5] {
    // SAFETY: version queries have no preconditions.
    unsafe {
        [
            ("libavcodec", sys::avcodec_version()),
            ("libavformat", sys::avformat_version()),
            ("libavutil", sys::avutil_version()),
            ("libavfilter", sys::avfilter_version()),
            ("libswscale", sys::swscale_version()),
        ]
    }
}

/// FFmpeg's own release string ("5.1.6-0+deb12u1").
pub(crate) fn ffmpeg_release() -> String {
    // SAFETY: returns a static string.
    c_str(unsafe { sys::av_version_info() }).unwrap_or_default()
}

thread_local! {
    /// Error-level lines libav logged on this thread since [`take_logged_errors`] last ran.
    static LOGGED_ERRORS: std::cell::RefCell<Vec<String>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Whether libav's own lines also go to stderr (`MEDIAFORCE_LIBAV_LOG`).
static ECHO_LIBAV_LOG: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// libav's log callback: keeps error-level lines (an encoder saying what it refused, in its own
/// words) for the thread that logged them, and echoes lines to stderr only when asked. The
/// `va_list` argument's type differs between targets; the bindings' x86-64 Linux form is the
/// one this is written for (elsewhere libav's log is simply silenced).
#[cfg(all(target_arch = "x86_64", target_os = "linux"))]
unsafe extern "C" fn log_callback(
    avcl: *mut std::ffi::c_void,
    level: std::ffi::c_int,
    fmt: *const std::ffi::c_char,
    vl: *mut sys::__va_list_tag,
) {
    // av_vlog hands a custom callback every line, debug ones included: drop what is below the
    // level asked for before paying for the formatting.
    // SAFETY: reads a global integer in libavutil.
    if level > unsafe { sys::av_log_get_level() } {
        return;
    }
    let mut buf = [0 as std::ffi::c_char; 1024];
    // No `[name @ 0x...]` prefix: addresses mean nothing in an error message.
    let mut prefix: std::ffi::c_int = 0;
    // SAFETY: libav passes a valid format string and argument list; av_log_format_line2
    // writes at most `buf.len()` bytes, NUL-terminated, and consumes the list once.
    unsafe {
        sys::av_log_format_line2(
            avcl,
            level,
            fmt,
            vl,
            buf.as_mut_ptr(),
            buf.len() as std::ffi::c_int,
            &mut prefix,
        );
    }
    // SAFETY: av_log_format_line2 always NUL-terminates within the buffer.
    let line = unsafe { CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .trim()
        .to_string();
    if line.is_empty() {
        return;
    }
    if ECHO_LIBAV_LOG.load(std::sync::atomic::Ordering::Relaxed)
        && level <= sys::AV_LOG_WARNING as std::ffi::c_int
    {
        eprintln!("{line}");
    }
    if level <= sys::AV_LOG_ERROR as std::ffi::c_int {
        let _ = LOGGED_ERRORS.try_with(|l| {
            let mut l = l.borrow_mut();
            // Bounded: only the latest lines explain a failure.
            if l.len() >= 16 {
                l.remove(0);
            }
            l.push(line);
        });
    }
}

/// Route libav's log through [`log_callback`]: error lines are kept for error messages, and
/// echoed to stderr (warnings too) only when `echo` is set.
pub(crate) fn install_log_capture(echo: bool) {
    ECHO_LIBAV_LOG.store(echo, std::sync::atomic::Ordering::Relaxed);
    let level = if echo {
        sys::AV_LOG_WARNING
    } else {
        sys::AV_LOG_ERROR
    };
    #[cfg(all(target_arch = "x86_64", target_os = "linux"))]
    // SAFETY: the callback is a plain function valid for the program's life and safe to call
    // from any thread; the level is a global integer.
    unsafe {
        sys::av_log_set_callback(Some(log_callback));
        sys::av_log_set_level(level as std::ffi::c_int);
    }
    #[cfg(not(all(target_arch = "x86_64", target_os = "linux")))]
    // SAFETY: sets a global integer in libavutil.
    unsafe {
        let _ = level;
        sys::av_log_set_level(sys::AV_LOG_QUIET);
    }
}

/// The error lines libav logged on this thread since the last call, oldest first.
pub(crate) fn take_logged_errors() -> Vec<String> {
    LOGGED_ERRORS
        .try_with(|l| std::mem::take(&mut *l.borrow_mut()))
        .unwrap_or_default()
}

/// Convert a raw `AVPixelFormat` integer (as stored in codec parameters and frames) to the enum.
pub(crate) fn pixel_format_from_raw(v: i32) -> Option<ff::format::Pixel> {
    if v < 0 || v >= sys::AVPixelFormat::AV_PIX_FMT_NB as i32 {
        return None;
    }
    // SAFETY: AVPixelFormat is a C enum with contiguous values 0..AV_PIX_FMT_NB; range checked.
    let f: sys::AVPixelFormat = unsafe { std::mem::transmute::<i32, sys::AVPixelFormat>(v) };
    Some(ff::format::Pixel::from(f))
}

/// Convert a raw `AVSampleFormat` integer to the enum.
pub(crate) fn sample_format_from_raw(v: i32) -> Option<ff::format::Sample> {
    if v < 0 || v >= sys::AVSampleFormat::AV_SAMPLE_FMT_NB as i32 {
        return None;
    }
    // SAFETY: AVSampleFormat is a C enum with contiguous values 0..AV_SAMPLE_FMT_NB; range checked.
    let f: sys::AVSampleFormat = unsafe { std::mem::transmute::<i32, sys::AVSampleFormat>(v) };
    Some(ff::format::Sample::from(f))
}

/// Whether an encoder accepts an AVOption of this name (private or generic codec option).
pub(crate) fn encoder_has_option(codec: &ff::Codec, name: &str) -> bool {
    let Ok(cname) = std::ffi::CString::new(name) else {
        return false;
    };
    // SAFETY: av_opt_find with AV_OPT_SEARCH_FAKE_OBJ takes a pointer to an AVClass pointer and
    // only reads the static option tables; both class pointers come from libav.
    unsafe {
        let c = codec.as_ptr();
        let search = |class: *const sys::AVClass| -> bool {
            if class.is_null() {
                return false;
            }
            let mut cls = class;
            !sys::av_opt_find(
                (&mut cls as *mut *const sys::AVClass).cast(),
                cname.as_ptr(),
                std::ptr::null(),
                0,
                sys::AV_OPT_SEARCH_FAKE_OBJ,
            )
            .is_null()
        };
        search((*c).priv_class) || search(sys::avcodec_get_class())
    }
}

/// Replace the extradata of codec parameters (attachments carry their file there).
pub(crate) fn set_extradata(params: &mut ff::codec::Parameters, bytes: &[u8]) -> bool {
    // SAFETY: libav requires extradata allocated with av_malloc plus zeroed padding; we free any
    // previous buffer the same way and fill the new one completely.
    unsafe {
        let p = &mut *params.as_mut_ptr();
        let pad = sys::AV_INPUT_BUFFER_PADDING_SIZE as usize;
        let buf = sys::av_mallocz(bytes.len() + pad).cast::<u8>();
        if buf.is_null() {
            return false;
        }
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf, bytes.len());
        sys::av_freep((&mut p.extradata as *mut *mut u8).cast());
        p.extradata = buf;
        p.extradata_size = bytes.len() as i32;
        true
    }
}

/// A display matrix for a clockwise rotation in degrees (libav's layout).
pub(crate) fn rotation_matrix_bytes(clockwise_degrees: f64) -> Vec<u8> {
    let mut m = [0i32; 9];
    // av_display_rotation_set takes the angle clockwise while av_display_rotation_get reports it
    // counter-clockwise; players rotate by -get, so this is the angle a player will apply.
    // SAFETY: writes exactly nine int32 values into the local matrix.
    unsafe { sys::av_display_rotation_set(m.as_mut_ptr(), clockwise_degrees) };
    struct_bytes(&m)
}

/// Whether the output container can store a stream of this codec, by libav's own table:
/// `Some(true)`, `Some(false)`, or `None` when the muxer does not say.
pub(crate) fn muxer_accepts(
    output: &ff::format::context::Output,
    id: ff::codec::Id,
) -> Option<bool> {
    // SAFETY: the output context and its oformat are live for the borrow; the call only reads.
    let r = unsafe {
        let of = (*output.as_ptr()).oformat;
        sys::avformat_query_codec(of, id.into(), sys::FF_COMPLIANCE_NORMAL)
    };
    (r >= 0).then_some(r == 1)
}

/// Feed a frame to a buffer source without giving up the caller's frame.
///
/// `ffmpeg-next`'s `Source::add` takes `&Frame` but calls `av_buffersrc_add_frame`, which moves
/// the frame's buffers into the graph and resets the caller's frame: a shared reference gets
/// emptied. Here the graph takes a new reference instead (no pixel copy).
pub(crate) fn buffersrc_add_keep_ref(
    ctx: &mut ff::filter::Context,
    frame: &ff::frame::Video,
) -> Result<(), ff::Error> {
    // SAFETY: both pointers are live for the call; with AV_BUFFERSRC_FLAG_KEEP_REF libav only
    // adds a reference to `frame` and leaves it untouched.
    let rc = unsafe {
        sys::av_buffersrc_add_frame_flags(
            ctx.as_mut_ptr(),
            frame.as_ptr() as *mut sys::AVFrame,
            sys::AV_BUFFERSRC_FLAG_KEEP_REF as i32,
        )
    };
    if rc < 0 {
        Err(ff::Error::from(rc))
    } else {
        Ok(())
    }
}

/// Try to open a hardware device of this kind (`"cuda"`, `"vaapi"`, `"qsv"`) and close it again.
/// `Err` carries libav's reason: no such device, driver library missing, or type not built in.
pub(crate) fn hw_device_probe(kind: &str) -> Result<(), String> {
    let name = std::ffi::CString::new(kind).map_err(|_| "bad device name".to_string())?;
    // SAFETY: name lookup reads a static table; ctx_create either fills `buf` with a new
    // reference, which we release at once, or leaves it NULL and returns an error.
    unsafe {
        let t = sys::av_hwdevice_find_type_by_name(name.as_ptr());
        if t == sys::AVHWDeviceType::AV_HWDEVICE_TYPE_NONE {
            return Err(format!("the linked FFmpeg has no {kind} device support"));
        }
        let mut buf: *mut sys::AVBufferRef = std::ptr::null_mut();
        let rc =
            sys::av_hwdevice_ctx_create(&mut buf, t, std::ptr::null(), std::ptr::null_mut(), 0);
        if rc < 0 {
            return Err(format!("no usable {kind} device ({})", ff::Error::from(rc)));
        }
        sys::av_buffer_unref(&mut buf);
        Ok(())
    }
}

/// Fill codec parameters for a video stream produced outside libavcodec (rav1e): codec, size,
/// pixel format, colour tags, and the codec's configuration record as extradata.
pub(crate) fn set_video_parameters(
    params: &mut ff::codec::Parameters,
    id: ff::codec::Id,
    config: &crate::video_config::VideoEncoderConfig,
    extradata: &[u8],
) {
    params.set_medium(ff::media::Type::Video);
    params.set_id(id);
    // SAFETY: plain field writes on parameters we own.
    unsafe {
        let p = &mut *params.as_mut_ptr();
        p.width = config.width as i32;
        p.height = config.height as i32;
        p.format = sys::AVPixelFormat::from(config.pixel_format) as i32;
        p.color_range = config.color.range.into();
        p.color_primaries = config.color.primaries.into();
        p.color_trc = config.color.transfer.into();
        p.color_space = config.color.matrix.into();
        if let Some(sar) = config.sample_aspect_ratio {
            p.sample_aspect_ratio = sar.into();
        }
    }
    if !extradata.is_empty() {
        set_extradata(params, extradata);
    }
}

/// `(timestamp, byte position)` of every keyframe entry in the stream's index, in index order.
/// The container's index is what libavformat has loaded: MP4's sample tables at open, Matroska's
/// cues after the first seek.
pub(crate) fn keyframe_index_entries(stream: &ff::format::stream::Stream<'_>) -> Vec<(i64, i64)> {
    // SAFETY: the stream pointer is live for the borrow of its format context; the index is
    // read through libavformat's accessors, and each entry is copied out before the next call
    // (the documented validity of the returned pointer).
    unsafe {
        let st = stream.as_ptr() as *mut sys::AVStream;
        let n = sys::avformat_index_get_entries_count(st);
        let mut out = Vec::with_capacity(n.max(0) as usize);
        for i in 0..n {
            let e = sys::avformat_index_get_entry(st, i);
            if e.is_null() {
                break;
            }
            let e = &*e;
            // Entries marked discard are pre-roll an edit list trims away (MP4 cut mid-GOP).
            let flags = e.flags();
            if flags & sys::AVINDEX_KEYFRAME != 0
                && flags & sys::AVINDEX_DISCARD_FRAME == 0
                && e.pos >= 0
            {
                out.push((e.timestamp, e.pos));
            }
        }
        out
    }
}
