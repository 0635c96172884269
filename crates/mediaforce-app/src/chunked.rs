//! A single file encoded as chunks of whole scenes, several at once, then joined and checked
//! (`mediaforce encode --chunked`).
//!
//! The scenes come from [`App::scenes`] (detected once per content); chunks of at least
//! `min_chunk_seconds` are encoded by `jobs` threads into the cache directory
//! (`<cache dir>/chunks/<key>/`, the key naming the source's content and the settings). A chunk
//! is written under a partial name and renamed when whole, so a chunk file that is there is
//! finished: a run that stops (a crash, Ctrl-C, a failed join) keeps them, and the next run
//! with the same source and settings encodes only what is missing. The join carries the
//! source's other streams; the result is checked frame by frame against the source (count,
//! every frame's time, a strict decode) before the chunks are removed.

use crate::files::KnobSetting;
use crate::{App, AppError, ErrorKind, Result};
use mediaforce::core::chunk::{
    check_join, chunks_of, encode_chunk, join_chunks, ChunkSpec, JoinCheck, JoinReport,
};
use mediaforce::core::progress::{Progress, ProgressClock};
use mediaforce::core::scenes::SceneOptions;
use mediaforce::core::transcode::{AudioMode, TranscodeOptions};
use mediaforce::core::ProgressSink;
use mediaforce::metrics::Pooled;
use serde::Serialize;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

/// How to encode in chunks.
#[derive(Debug, Clone)]
pub struct ChunkedRequest<'a> {
    /// Encoder, preset and knob (every chunk at this knob).
    pub setting: KnobSetting<'a>,
    /// Extra encoder options and the other streams' handling (audio is copied).
    pub base: TranscodeOptions,
    /// Chunks encoded at once.
    pub jobs: usize,
    /// Shortest chunk, in seconds of whole scenes.
    pub min_chunk_seconds: f64,
    /// How the scenes are found.
    pub scenes: SceneOptions,
    /// Score the joined file with VMAF against the source.
    pub score: bool,
}

/// One chunk as the run saw it.
#[derive(Debug, Clone, Serialize)]
pub struct ChunkRow {
    /// The chunk.
    #[serde(flatten)]
    pub spec: ChunkSpec,
    /// Its file was there from an earlier run: not encoded again.
    pub reused: bool,
    /// Bytes of its file.
    pub bytes: u64,
    /// Wall seconds its encode took (0 when reused).
    pub seconds: f64,
}

/// A chunked encode.
#[derive(Debug, Clone, Serialize)]
pub struct ChunkedView {
    /// Source.
    pub input: PathBuf,
    /// Output.
    pub output: PathBuf,
    /// The adapter.
    pub encoder: &'static str,
    /// The knob's name.
    pub knob_name: &'static str,
    /// Its value.
    pub knob: f64,
    /// Scenes found.
    pub scenes: usize,
    /// The chunks, in order.
    pub chunks: Vec<ChunkRow>,
    /// Chunks encoded by this run.
    pub encoded: usize,
    /// Chunks kept from an earlier run.
    pub reused: usize,
    /// The join.
    pub join: JoinReport,
    /// The joined file against the source.
    pub check: JoinCheck,
    /// VMAF of the joined file (frames paired by index), when scored.
    pub vmaf: Option<Pooled>,
    /// Wall seconds of the whole run.
    pub seconds: f64,
}

fn invalid(e: impl std::fmt::Display) -> AppError {
    AppError::new(ErrorKind::Invalid, e.to_string())
}

/// The chunks' directory: one per source content and settings.
fn chunk_dir(fingerprint: &str, options: &TranscodeOptions, specs: &[ChunkSpec]) -> PathBuf {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    fingerprint.hash(&mut h);
    options.encoder.hash(&mut h);
    options.encoder_options.hash(&mut h);
    format!("{:?}", options.pixel_format).hash(&mut h);
    for s in specs {
        (s.start_frame, s.frames).hash(&mut h);
    }
    mediaforce::compare::default_cache_dir()
        .join("chunks")
        .join(format!("{:016x}", h.finish()))
}

impl App {
    /// Encode `input` into `output` in chunks of whole scenes (see the module).
    pub fn encode_chunked(
        &self,
        input: &Path,
        output: &Path,
        req: &ChunkedRequest<'_>,
        progress: &mut dyn ProgressSink,
    ) -> Result<ChunkedView> {
        let started = std::time::Instant::now();
        if req.base.audio == AudioMode::Opus {
            return Err(invalid(
                "a chunked encode copies the audio; convert it with a repack (or encode without --chunked)",
            ));
        }
        if let Some(dir) = output.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.is_dir() {
                return Err(invalid(format!(
                    "{}: the output's folder does not exist",
                    dir.display()
                )));
            }
        }
        let adapter = mediaforce::codecs::find(req.setting.encoder).map_err(invalid)?;
        let preset = req
            .setting
            .preset
            .map_or_else(|| adapter.default_preset().to_string(), str::to_string);
        let mut options = req.base.clone();
        options.encoder = adapter.libav_name().to_string();
        options.encoder_options = adapter
            .options_with(&preset, req.setting.knob, &req.base.encoder_options)
            .map_err(invalid)?;
        let info = mediaforce::core::probe::probe_headers(input).map_err(invalid)?;
        options.pixel_format = info
            .primary_video()
            .and_then(|s| s.video.as_ref())
            .and_then(|v| v.pixel_format.as_deref())
            .and_then(|n| n.parse().ok())
            .map(|f| adapter.pick_pixel_format(f));

        let scenes = self.scenes(input, &req.scenes, false, progress)?.report;
        let specs = chunks_of(&scenes.scenes, scenes.first_seconds, req.min_chunk_seconds);
        let fingerprint = mediaforce::cache::source_fingerprint(input)
            .map_err(|e| invalid(format!("{}: {e}", input.display())))?;
        let dir = chunk_dir(&fingerprint, &options, &specs);
        std::fs::create_dir_all(&dir).map_err(|e| invalid(format!("{}: {e}", dir.display())))?;
        let path_of = |s: &ChunkSpec| dir.join(format!("chunk-{:05}.nut", s.index));
        let mut rows: Vec<ChunkRow> = specs
            .iter()
            .map(|s| ChunkRow {
                spec: *s,
                reused: path_of(s).is_file(),
                bytes: 0,
                seconds: 0.0,
            })
            .collect();
        let todo: Vec<ChunkSpec> = rows.iter().filter(|r| !r.reused).map(|r| r.spec).collect();
        let reports = encode_all(input, &todo, &path_of, &options, req.jobs, progress)?;
        for r in reports {
            if let Some(row) = rows.iter_mut().find(|row| row.spec.index == r.spec.index) {
                row.seconds = r.seconds;
            }
        }
        for row in &mut rows {
            row.bytes = std::fs::metadata(path_of(&row.spec)).map_or(0, |m| m.len());
        }
        let files: Vec<PathBuf> = specs.iter().map(path_of).collect();
        let join = join_chunks(input, &files, output, adapter.libav_name()).map_err(invalid)?;
        let check = check_join(input, output, progress).map_err(invalid)?;
        if !check.passed {
            let _ = std::fs::remove_file(output);
            return Err(AppError::new(
                ErrorKind::Internal,
                format!(
                    "{}: the joined file does not match its source ({}); removed, the chunks kept in {}",
                    output.display(),
                    check.detail,
                    dir.display()
                ),
            ));
        }
        let vmaf = if req.score {
            let r = mediaforce::metrics::score_files(
                input,
                output,
                &mediaforce::metrics::ScoreOptions::default(),
                progress,
            )
            .map_err(invalid)?;
            Some(r.vmaf)
        } else {
            None
        };
        let _ = std::fs::remove_dir_all(&dir);
        let encoded = rows.iter().filter(|r| !r.reused).count();
        Ok(ChunkedView {
            input: input.to_path_buf(),
            output: output.to_path_buf(),
            encoder: adapter.id(),
            knob_name: adapter.knob().name,
            knob: req.setting.knob,
            scenes: scenes.scenes.len(),
            reused: rows.len() - encoded,
            encoded,
            chunks: rows,
            join,
            check,
            vmaf,
            seconds: started.elapsed().as_secs_f64(),
        })
    }
}

/// Encode `todo` with `jobs` threads (each encoder given its share of the cores); the frames
/// done go to `progress` from this thread. The first failure stops the others.
fn encode_all(
    input: &Path,
    todo: &[ChunkSpec],
    path_of: &(dyn Fn(&ChunkSpec) -> PathBuf + Sync),
    options: &TranscodeOptions,
    jobs: usize,
    progress: &mut dyn ProgressSink,
) -> Result<Vec<mediaforce::core::chunk::ChunkReport>> {
    if todo.is_empty() {
        return Ok(Vec::new());
    }
    let jobs = jobs.clamp(1, todo.len());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut options = options.clone();
    if jobs > 1 {
        options.threads = Some((cores / jobs).max(1));
    }
    let total: u64 = todo.iter().map(|s| s.frames).sum();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<u64>();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..jobs)
            .map(|_| {
                let tx = tx.clone();
                let (next, stop, options) = (&next, &stop, &options);
                scope.spawn(
                    move || -> Result<Vec<mediaforce::core::chunk::ChunkReport>> {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::SeqCst);
                            let Some(spec) = todo.get(i) else {
                                return Ok(done);
                            };
                            if stop.load(Ordering::SeqCst) {
                                return Ok(done);
                            }
                            let mut sink = Frames {
                                tx: tx.clone(),
                                sent: 0,
                                stop,
                            };
                            match encode_chunk(input, &path_of(spec), spec, options, &mut sink) {
                                Ok(r) => done.push(r),
                                Err(e) => {
                                    stop.store(true, Ordering::SeqCst);
                                    return Err(invalid(format!("chunk {}: {e}", spec.index)));
                                }
                            }
                        }
                    },
                )
            })
            .collect();
        drop(tx);
        progress.start("chunks", Some(total));
        let mut clock = ProgressClock::new(Some(total));
        let mut frames = 0u64;
        for n in rx.iter() {
            frames += n;
            if let Some(p) = clock.tick(frames) {
                progress.update(&p);
            }
            if progress.cancelled() {
                stop.store(true, Ordering::SeqCst);
            }
        }
        progress.update(&clock.snapshot(frames));
        progress.finish();
        let mut all = Vec::new();
        for h in handles {
            all.extend(
                h.join().map_err(|_| {
                    AppError::new(ErrorKind::Internal, "a chunk's thread panicked")
                })??,
            );
        }
        if stop.load(Ordering::SeqCst) && all.len() < todo.len() {
            return Err(AppError::new(
                ErrorKind::Refused,
                "stopped; the chunks done are kept for the next run",
            ));
        }
        Ok(all)
    })
}

/// A chunk's frame progress, sent as increments to the thread that reports.
struct Frames<'a> {
    tx: mpsc::Sender<u64>,
    sent: u64,
    stop: &'a AtomicBool,
}

impl ProgressSink for Frames<'_> {
    fn start(&mut self, _label: &str, _total: Option<u64>) {}

    fn update(&mut self, p: &Progress) {
        let _ = self.tx.send(p.frames_done.saturating_sub(self.sent));
        self.sent = self.sent.max(p.frames_done);
    }

    fn cancelled(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
}
