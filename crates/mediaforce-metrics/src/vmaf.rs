//! Safe owning wrappers over libvmaf's context, model and picture (the crate's only FFI).
//!
//! Ownership follows libvmaf's documentation: [`Context::read_pictures`] hands both pictures to
//! the context, which unrefs them; a [`Picture`] not given away is unreffed on drop.

use crate::error::{Error, Result};
use std::ffi::{CStr, CString};
use vmaf_head_sys as sys;

/// libvmaf's version string (`"3.2.0"`).
pub fn version() -> String {
    // SAFETY: returns a static NUL-terminated string.
    unsafe { CStr::from_ptr(sys::vmaf_version()) }
        .to_string_lossy()
        .into_owned()
}

fn check(op: &'static str, rc: i32) -> Result<()> {
    if rc < 0 {
        Err(Error::Vmaf { op, code: rc })
    } else {
        Ok(())
    }
}

/// Chroma layout of a picture handed to libvmaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Chroma {
    /// 4:2:0.
    Yuv420,
    /// 4:2:2.
    Yuv422,
    /// 4:4:4.
    Yuv444,
}

/// A picture buffer owned by libvmaf's allocator.
pub struct Picture {
    raw: sys::VmafPicture,
    owned: bool,
}

impl std::fmt::Debug for Picture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Picture")
            .field("w", &self.raw.w[0])
            .field("h", &self.raw.h[0])
            .field("bpc", &self.raw.bpc)
            .finish()
    }
}

// SAFETY: a VmafPicture is a refcounted heap buffer with no thread affinity; we move it whole.
unsafe impl Send for Picture {}

impl Chroma {
    fn raw(self) -> sys::VmafPixelFormat {
        match self {
            Chroma::Yuv420 => sys::VmafPixelFormat_VMAF_PIX_FMT_YUV420P,
            Chroma::Yuv422 => sys::VmafPixelFormat_VMAF_PIX_FMT_YUV422P,
            Chroma::Yuv444 => sys::VmafPixelFormat_VMAF_PIX_FMT_YUV444P,
        }
    }
}

impl Picture {
    /// Allocate a `width`x`height` picture of `bpc` bits per component.
    pub fn new(chroma: Chroma, bpc: u32, width: u32, height: u32) -> Result<Self> {
        let fmt = chroma.raw();
        // SAFETY: VmafPicture is plain data; vmaf_picture_alloc fills it on success.
        let mut raw: sys::VmafPicture = unsafe { std::mem::zeroed() };
        // SAFETY: `raw` is a valid out-pointer.
        check("picture alloc", unsafe {
            sys::vmaf_picture_alloc(&mut raw, fmt, bpc, width, height)
        })?;
        Ok(Self { raw, owned: true })
    }

    /// Plane `i` (0 = Y) as rows: width in samples, height, and a writer for each row's bytes.
    pub fn plane_mut(&mut self, i: usize) -> PlaneMut<'_> {
        let bytes_per_sample = if self.raw.bpc > 8 { 2 } else { 1 };
        PlaneMut {
            data: self.raw.data[i].cast::<u8>(),
            stride: self.raw.stride[i],
            width_bytes: self.raw.w[i] as usize * bytes_per_sample,
            height: self.raw.h[i] as usize,
            _pic: std::marker::PhantomData,
        }
    }
}

impl Drop for Picture {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: the picture was allocated by vmaf_picture_alloc and not handed over.
            unsafe { sys::vmaf_picture_unref(&mut self.raw) };
        }
    }
}

/// A picture borrowed from a context's pool while [`Context::read_pooled`] fills it: its planes
/// can be written, but the picture itself cannot be moved out of the call.
#[derive(Debug)]
pub struct PooledPicture<'a>(&'a mut Picture);

impl PooledPicture<'_> {
    /// Plane `i` (0 = Y), as [`Picture::plane_mut`].
    pub fn plane_mut(&mut self, i: usize) -> PlaneMut<'_> {
        self.0.plane_mut(i)
    }
}

/// Mutable view of one plane of a [`Picture`].
#[derive(Debug)]
pub struct PlaneMut<'a> {
    data: *mut u8,
    stride: isize,
    width_bytes: usize,
    height: usize,
    _pic: std::marker::PhantomData<&'a mut Picture>,
}

impl PlaneMut<'_> {
    /// Rows in the plane.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Bytes in one row (width times bytes per sample).
    pub fn width_bytes(&self) -> usize {
        self.width_bytes
    }

    /// Row `y` as bytes.
    pub fn row(&mut self, y: usize) -> &mut [u8] {
        assert!(y < self.height, "row {y} out of {}", self.height);
        // SAFETY: libvmaf allocated `height` rows of `stride` bytes each, at least `width_bytes`
        // wide; `y` is checked; the borrow of the picture keeps the buffer alive and unaliased.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.data.offset(self.stride * y as isize),
                self.width_bytes,
            )
        }
    }
}

/// A built-in or file model.
pub struct Model {
    raw: *mut sys::VmafModel,
    name: String,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("name", &self.name).finish()
    }
}

// SAFETY: a loaded model is immutable data; libvmaf reads it from any thread.
unsafe impl Send for Model {}

impl Model {
    /// Load a built-in model by version name (`"vmaf_v0.6.1"`, `"vmaf_v0.6.1neg"`,
    /// `"vmaf_4k_v0.6.1"`), or a JSON model file when `name` is a path that exists.
    pub fn load(name: &str) -> Result<Self> {
        let cname = CString::new(name).map_err(|_| Error::Model {
            name: name.into(),
            reason: "contains NUL".into(),
        })?;
        let key = CString::new("vmaf").expect("static");
        let mut cfg = sys::VmafModelConfig {
            name: key.as_ptr(),
            flags: 0,
        };
        let mut raw = std::ptr::null_mut();
        let is_path = std::path::Path::new(name).is_file();
        // SAFETY: all pointers are valid for the call; libvmaf copies what it keeps.
        let rc = unsafe {
            if is_path {
                sys::vmaf_model_load_from_path(&mut raw, &mut cfg, cname.as_ptr())
            } else {
                sys::vmaf_model_load(&mut raw, &mut cfg, cname.as_ptr())
            }
        };
        if rc < 0 || raw.is_null() {
            return Err(Error::Model {
                name: name.into(),
                reason: if is_path {
                    "not a valid VMAF model file".into()
                } else {
                    "no such built-in model".into()
                },
            });
        }
        Ok(Self {
            raw,
            name: name.into(),
        })
    }

    /// The model's name or path.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: loaded by vmaf_model_load*, destroyed once.
        unsafe { sys::vmaf_model_destroy(self.raw) };
    }
}

/// A libvmaf scoring context.
pub struct Context {
    raw: *mut sys::VmafContext,
    flushed: bool,
    pooled: bool,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("flushed", &self.flushed)
            .finish()
    }
}

// SAFETY: libvmaf contexts may be used from any one thread at a time; &mut self enforces that.
unsafe impl Send for Context {}

/// Pooling method for pooled scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pool {
    /// Arithmetic mean.
    Mean,
    /// Harmonic mean.
    HarmonicMean,
    /// Minimum.
    Min,
}

impl Context {
    /// A context with `threads` feature-extraction threads (0: libvmaf's default) scoring every
    /// `subsample`-th frame.
    pub fn new(threads: u32, subsample: u32) -> Result<Self> {
        let cfg = sys::VmafConfiguration {
            log_level: sys::VmafLogLevel_VMAF_LOG_LEVEL_NONE,
            n_threads: threads,
            n_subsample: subsample.max(1),
            cpumask: 0,
            gpumask: 0,
        };
        let mut raw = std::ptr::null_mut();
        // SAFETY: valid out-pointer; cfg passed by value.
        check("init", unsafe { sys::vmaf_init(&mut raw, cfg) })?;
        Ok(Self {
            raw,
            flushed: false,
            pooled: false,
        })
    }

    /// Register the features `model` needs.
    pub fn use_model(&mut self, model: &Model) -> Result<()> {
        // SAFETY: both pointers live; libvmaf registers extractors and keeps no model pointer.
        check("use model", unsafe {
            sys::vmaf_use_features_from_model(self.raw, model.raw)
        })
    }

    /// Register an extra feature extractor by libvmaf name (`"psnr"`, `"float_ssim"`, `"cambi"`...).
    pub fn use_feature(&mut self, name: &str) -> Result<()> {
        let c = CString::new(name).map_err(|_| Error::Feature { name: name.into() })?;
        // SAFETY: valid context and C string; NULL options dictionary is allowed.
        let rc = unsafe { sys::vmaf_use_feature(self.raw, c.as_ptr(), std::ptr::null_mut()) };
        if rc < 0 {
            return Err(Error::Feature { name: name.into() });
        }
        Ok(())
    }

    /// Hand a reference/distorted pair to libvmaf as frame `index`; the context takes both.
    pub fn read_pictures(
        &mut self,
        mut reference: Picture,
        mut distorted: Picture,
        index: u32,
    ) -> Result<()> {
        // SAFETY: both pictures were allocated by libvmaf and are handed over exactly once.
        let rc = unsafe {
            sys::vmaf_read_pictures(self.raw, &mut reference.raw, &mut distorted.raw, index)
        };
        // libvmaf zeroes a picture it takes (its unref clears the struct). One it refused (a
        // failed check or extraction) still holds its reference: ours to drop, which returns a
        // pooled picture to the pool instead of leaving the pool's close waiting for it.
        reference.owned = !reference.raw.ref_.is_null();
        distorted.owned = !distorted.raw.ref_.is_null();
        check("read pictures", rc)
    }

    /// Give the context a pool of `count` pictures of one shape, so that
    /// [`read_pooled`](Self::read_pooled) reuses buffers instead of allocating (and
    /// page-faulting) two fresh ones a frame. Call once, before the first pair.
    pub fn preallocate(
        &mut self,
        count: u32,
        chroma: Chroma,
        bpc: u32,
        width: u32,
        height: u32,
    ) -> Result<()> {
        if self.pooled {
            return Ok(());
        }
        let cfg = sys::VmafPictureConfiguration {
            pic_params: sys::VmafPictureConfiguration__bindgen_ty_1 {
                w: width,
                h: height,
                bpc,
                pix_fmt: chroma.raw(),
            },
            // The context keeps two previous references and each read fetches two pictures:
            // fewer than four would wait for ever.
            pic_cnt: count.max(4),
        };
        // SAFETY: valid context; cfg passed by value; the pool lives until vmaf_close.
        check("preallocate pictures", unsafe {
            sys::vmaf_preallocate_pictures(self.raw, cfg)
        })?;
        self.pooled = true;
        Ok(())
    }

    /// Take two pictures from the pool set up by [`preallocate`](Self::preallocate), let `fill`
    /// write them, and hand them to libvmaf as frame `index`. Waits while libvmaf still holds
    /// every pooled picture. The pictures never leave this call, so none can outlive the pool.
    pub fn read_pooled(
        &mut self,
        index: u32,
        fill: impl FnOnce(&mut PooledPicture<'_>, &mut PooledPicture<'_>) -> Result<()>,
    ) -> Result<()> {
        if !self.pooled {
            return Err(Error::Vmaf {
                op: "read pooled pictures (no pool)",
                code: -22,
            });
        }
        let mut reference = self.fetch()?;
        let mut distorted = self.fetch()?;
        fill(
            &mut PooledPicture(&mut reference),
            &mut PooledPicture(&mut distorted),
        )?;
        self.read_pictures(reference, distorted, index)
    }

    fn fetch(&mut self) -> Result<Picture> {
        // SAFETY: VmafPicture is plain data; the fetch fills it on success.
        let mut raw: sys::VmafPicture = unsafe { std::mem::zeroed() };
        // SAFETY: the pool exists (checked by the caller); `raw` is a valid out-pointer. An
        // unref (ours on drop, or libvmaf's after scoring) returns the buffer to the pool.
        check("fetch pooled picture", unsafe {
            sys::vmaf_fetch_preallocated_picture(self.raw, &mut raw)
        })?;
        Ok(Picture { raw, owned: true })
    }

    /// Finish feature extraction; call once after the last pair.
    pub fn flush(&mut self) -> Result<()> {
        if self.flushed {
            return Ok(());
        }
        self.flushed = true;
        // SAFETY: NULL pictures mean "flush" in libvmaf's API.
        check("flush", unsafe {
            sys::vmaf_read_pictures(self.raw, std::ptr::null_mut(), std::ptr::null_mut(), 0)
        })
    }

    /// The model's score for frame `index` (after [`flush`](Self::flush)).
    pub fn score_at(&mut self, model: &Model, index: u32) -> Result<f64> {
        let mut s = 0.0;
        // SAFETY: valid pointers; out-parameter is a local.
        check("score at index", unsafe {
            sys::vmaf_score_at_index(self.raw, model.raw, &mut s, index)
        })?;
        Ok(s)
    }

    /// A feature's score for frame `index` (after [`flush`](Self::flush)).
    pub fn feature_at(&mut self, feature: &str, index: u32) -> Option<f64> {
        let c = CString::new(feature).ok()?;
        let mut s = 0.0;
        // SAFETY: valid pointers; out-parameter is a local.
        let rc = unsafe { sys::vmaf_feature_score_at_index(self.raw, c.as_ptr(), &mut s, index) };
        (rc >= 0).then_some(s)
    }

    /// The model's pooled score over frames `low..=high`, as libvmaf computes it.
    pub fn pooled(&mut self, model: &Model, pool: Pool, low: u32, high: u32) -> Result<f64> {
        let method = match pool {
            Pool::Mean => sys::VmafPoolingMethod_VMAF_POOL_METHOD_MEAN,
            Pool::HarmonicMean => sys::VmafPoolingMethod_VMAF_POOL_METHOD_HARMONIC_MEAN,
            Pool::Min => sys::VmafPoolingMethod_VMAF_POOL_METHOD_MIN,
        };
        let mut s = 0.0;
        // SAFETY: valid pointers; out-parameter is a local.
        check("pooled score", unsafe {
            sys::vmaf_score_pooled(self.raw, model.raw, method, &mut s, low, high)
        })?;
        Ok(s)
    }

    /// Write libvmaf's own JSON log (the format its `vmaf` tool writes).
    pub fn write_json_log(&mut self, path: &std::path::Path) -> Result<()> {
        let c = CString::new(path.to_string_lossy().as_bytes()).map_err(|_| Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains NUL"),
        })?;
        // SAFETY: valid context and C string.
        check("write log", unsafe {
            sys::vmaf_write_output(
                self.raw,
                c.as_ptr(),
                sys::VmafOutputFormat_VMAF_OUTPUT_FORMAT_JSON,
            )
        })
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: created by vmaf_init, closed once; libvmaf frees queued pictures itself.
        unsafe { sys::vmaf_close(self.raw) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flat(pic: &mut PooledPicture<'_>, value: u8) {
        for plane in 0..3 {
            let mut p = pic.plane_mut(plane);
            for y in 0..p.height() {
                p.row(y).fill(value);
            }
        }
    }

    /// Pooled pictures go back to the pool whether `fill` fails or libvmaf scores them: with a
    /// pool of 4 and 2 threads, 20 failed fills then 20 scored pairs must neither leak a buffer
    /// (the next fetch would wait for ever) nor score wrongly.
    #[test]
    fn pooled_pictures_return_to_the_pool() {
        let model = Model::load("vmaf_v0.6.1").unwrap();
        let mut ctx = Context::new(2, 1).unwrap();
        ctx.use_model(&model).unwrap();
        ctx.preallocate(6, Chroma::Yuv420, 8, 64, 64).unwrap();
        for _ in 0..20 {
            let err = ctx.read_pooled(0, |_, _| {
                Err(Error::Feature {
                    name: "test failure".into(),
                })
            });
            assert!(err.is_err());
        }
        for i in 0..20u32 {
            ctx.read_pooled(i, |r, d| {
                flat(r, 100 + i as u8);
                flat(d, 100 + i as u8);
                Ok(())
            })
            .unwrap();
        }
        ctx.flush().unwrap();
        // Identical pictures: VMAF of every frame is at the model's ceiling, well above 95.
        for i in 0..20 {
            let s = ctx.score_at(&model, i).unwrap();
            assert!(s > 95.0, "frame {i} scored {s}");
        }
    }

    /// A pooled pair libvmaf refuses (its size differs from the first pair's) stays ours and
    /// goes back to the pool. Were it leaked, the third of these reads would wait for ever on a
    /// pool of four, and so would the pool's close at drop: the work runs on a thread and must
    /// finish within the timeout.
    #[test]
    fn refused_pooled_pictures_return_to_the_pool() {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let model = Model::load("vmaf_v0.6.1").unwrap();
            let mut ctx = Context::new(1, 1).unwrap();
            ctx.use_model(&model).unwrap();
            ctx.preallocate(4, Chroma::Yuv420, 8, 64, 64).unwrap();
            // The first pair fixes the size at 32x32; every 64x64 pooled pair is then refused.
            let r = Picture::new(Chroma::Yuv420, 8, 32, 32).unwrap();
            let d = Picture::new(Chroma::Yuv420, 8, 32, 32).unwrap();
            ctx.read_pictures(r, d, 0).unwrap();
            let refused = (1..8)
                .filter(|&i| {
                    ctx.read_pooled(i, |r, d| {
                        flat(r, 80);
                        flat(d, 80);
                        Ok(())
                    })
                    .is_err()
                })
                .count();
            ctx.flush().unwrap();
            drop(ctx);
            tx.send(refused).unwrap();
        });
        let refused = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("a refused pooled pair was not returned to the pool");
        assert_eq!(refused, 7);
    }

    #[test]
    fn reading_pooled_without_a_pool_is_an_error() {
        let mut ctx = Context::new(1, 1).unwrap();
        assert!(ctx.read_pooled(0, |_, _| Ok(())).is_err());
    }
}
