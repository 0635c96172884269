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
    /// Score the joined file with VMAF against the source (always with `per_scene`).
    pub score: bool,
    /// Give each chunk its own knob from its own measured points (see [`PerScene`]).
    pub per_scene: Option<PerScene>,
    /// The resolution VMAF is measured at (the search's own).
    pub scale: mediaforce::metrics::Scale,
}

/// Per-scene allocation: every chunk encoded at `setting.knob`, and at it less and plus
/// `spread`, the three joined films scored frame by frame, each chunk's knob chosen from its
/// own three points
/// ([`mediaforce::allocate`]), then the film encoded at those knobs, scored, and corrected
/// once if it missed.
#[derive(Debug, Clone, Copy)]
pub struct PerScene {
    /// Every chunk to the target, or the film's mean at the fewest bytes.
    pub mode: mediaforce::allocate::Mode,
    /// Target mean VMAF.
    pub target: f64,
    /// No chunk predicted below this (`optimal`).
    pub floor: f64,
    /// Knob distance of the outer measured points from the middle knob.
    pub spread: f64,
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
    /// Its knob.
    pub knob: f64,
    /// Its VMAF as its measured points predicted it (per-scene allocation).
    pub predicted_vmaf: Option<f64>,
    /// Its frames' mean VMAF in the joined film, when scored.
    pub vmaf: Option<f64>,
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
    /// Per-scene allocation: the knobs measured on every chunk, and whether the allocation was
    /// corrected once because the film missed its target.
    pub probes: Vec<f64>,
    /// The allocation was corrected once.
    pub corrected: bool,
    /// Wall seconds of the whole run.
    pub seconds: f64,
}

fn invalid(e: impl std::fmt::Display) -> AppError {
    AppError::new(ErrorKind::Invalid, e.to_string())
}

/// The chunks' directory for one knob's settings: one per source content and settings.
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

/// What a run needs to encode chunks: the source, its chunks, the adapter and settings.
struct Film<'a> {
    input: &'a Path,
    specs: Vec<ChunkSpec>,
    fingerprint: String,
    adapter: Box<dyn mediaforce::codecs::CodecAdapter>,
    preset: String,
    base: TranscodeOptions,
    jobs: usize,
    /// Every chunk directory used (removed once the film is checked).
    dirs: std::cell::RefCell<std::collections::BTreeSet<PathBuf>>,
}

/// One chunk to have: where, with what settings.
struct Wanted {
    spec: ChunkSpec,
    path: PathBuf,
    options: TranscodeOptions,
    knob: f64,
}

impl Film<'_> {
    /// The encoder settings at `knob`.
    fn options_at(&self, knob: f64) -> Result<TranscodeOptions> {
        let mut o = self.base.clone();
        o.encoder = self.adapter.libav_name().to_string();
        o.encoder_options = self
            .adapter
            .options_with(&self.preset, knob, &self.base.encoder_options)
            .map_err(invalid)?;
        Ok(o)
    }

    /// Every chunk at its knob: encoded unless a finished file is there; the rows.
    fn ensure(&self, knobs: &[f64], progress: &mut dyn ProgressSink) -> Result<Vec<ChunkRow>> {
        let mut wanted = Vec::new();
        for (spec, &knob) in self.specs.iter().zip(knobs) {
            let options = self.options_at(knob)?;
            let dir = chunk_dir(&self.fingerprint, &options, &self.specs);
            std::fs::create_dir_all(&dir)
                .map_err(|e| invalid(format!("{}: {e}", dir.display())))?;
            self.dirs.borrow_mut().insert(dir.clone());
            wanted.push(Wanted {
                spec: *spec,
                path: dir.join(format!("chunk-{:05}.nut", spec.index)),
                options,
                knob,
            });
        }
        let mut rows: Vec<ChunkRow> = wanted
            .iter()
            .map(|w| ChunkRow {
                spec: w.spec,
                reused: w.path.is_file(),
                bytes: 0,
                seconds: 0.0,
                knob: w.knob,
                predicted_vmaf: None,
                vmaf: None,
            })
            .collect();
        let todo: Vec<&Wanted> = wanted.iter().filter(|w| !w.path.is_file()).collect();
        for r in encode_all(self.input, &todo, self.jobs, progress)? {
            if let Some(row) = rows.iter_mut().find(|row| row.spec.index == r.spec.index) {
                row.seconds = r.seconds;
            }
        }
        for (row, w) in rows.iter_mut().zip(&wanted) {
            row.bytes = std::fs::metadata(&w.path).map_or(0, |m| m.len());
        }
        Ok(rows)
    }

    /// The chunk files of `rows`, in order.
    fn files(&self, rows: &[ChunkRow]) -> Result<Vec<PathBuf>> {
        rows.iter()
            .map(|r| {
                let o = self.options_at(r.knob)?;
                Ok(chunk_dir(&self.fingerprint, &o, &self.specs)
                    .join(format!("chunk-{:05}.nut", r.spec.index)))
            })
            .collect()
    }
}

/// Each chunk's frames' mean of `per_frame` (the film's per-frame scores).
fn chunk_means(specs: &[ChunkSpec], per_frame: &[f64]) -> Vec<Option<f64>> {
    specs
        .iter()
        .map(|s| {
            let (a, b) = (s.start_frame as usize, (s.start_frame + s.frames) as usize);
            per_frame
                .get(a..b.min(per_frame.len()))
                .filter(|v| !v.is_empty())
                .map(|v| v.iter().sum::<f64>() / v.len() as f64)
        })
        .collect()
}

/// Score `output` against `input` at `scale`: the pooled figures and every frame's score.
fn score(
    input: &Path,
    output: &Path,
    scale: mediaforce::metrics::Scale,
    progress: &mut dyn ProgressSink,
) -> Result<(Pooled, Vec<f64>)> {
    let r = mediaforce::metrics::score_files(
        input,
        output,
        &mediaforce::metrics::ScoreOptions {
            scale,
            ..Default::default()
        },
        progress,
    )
    .map_err(invalid)?;
    Ok((r.vmaf, r.per_frame))
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
        let info = mediaforce::core::probe::probe_headers(input).map_err(invalid)?;
        let mut base = req.base.clone();
        base.pixel_format = info
            .primary_video()
            .and_then(|s| s.video.as_ref())
            .and_then(|v| v.pixel_format.as_deref())
            .and_then(|n| n.parse().ok())
            .map(|f| adapter.pick_pixel_format(f));
        let scenes = self.scenes(input, &req.scenes, false, progress)?.report;
        let film = Film {
            input,
            specs: chunks_of(&scenes.scenes, scenes.first_seconds, req.min_chunk_seconds),
            fingerprint: mediaforce::cache::source_fingerprint(input)
                .map_err(|e| invalid(format!("{}: {e}", input.display())))?,
            adapter,
            preset,
            base,
            jobs: req.jobs,
            dirs: Default::default(),
        };
        let n = film.specs.len();
        let knob = film.adapter.knob();
        let snap = |k: f64| {
            (((k - knob.min) / knob.step).round() * knob.step + knob.min).clamp(knob.min, knob.max)
        };
        let (mut knobs, mut curves, mut probes) =
            (vec![snap(req.setting.knob); n], Vec::new(), Vec::new());
        if let Some(ps) = &req.per_scene {
            // Two measured points on every chunk: the film at each knob, scored frame by frame.
            probes = vec![
                snap(req.setting.knob - ps.spread),
                snap(req.setting.knob),
                snap(req.setting.knob + ps.spread),
            ];
            probes.dedup();
            curves = (0..n)
                .map(|i| mediaforce::allocate::ChunkCurve {
                    frames: film.specs[i].frames,
                    points: Vec::new(),
                })
                .collect::<Vec<_>>();
            for &k in &probes {
                let rows = film.ensure(&vec![k; n], progress)?;
                let probe = chunk_dir(&film.fingerprint, &film.options_at(k)?, &film.specs)
                    .join(format!("probe-{k}.mkv"));
                join_chunks(
                    input,
                    &film.files(&rows)?,
                    &probe,
                    film.adapter.libav_name(),
                )
                .map_err(invalid)?;
                let (_, per_frame) = score(input, &probe, req.scale, progress)?;
                let _ = std::fs::remove_file(&probe);
                for ((c, mean), row) in curves
                    .iter_mut()
                    .zip(chunk_means(&film.specs, &per_frame))
                    .zip(&rows)
                {
                    if let Some(q) = mean {
                        c.points.push((k, q, row.bytes as f64));
                    }
                }
            }
            knobs = mediaforce::allocate::allocate(
                &curves,
                &alloc_options(ps, ps.target, knob, &probes),
            );
        }
        let mut corrected = false;
        let (mut rows, mut join, mut check, mut vmaf) = self.finish_film(
            &film,
            &knobs,
            output,
            (req.score || req.per_scene.is_some()).then_some(req.scale),
            progress,
        )?;
        if let (Some(ps), Some((pooled, _))) = (&req.per_scene, &vmaf) {
            // The closed loop: a film that missed its target is allocated again once, aiming
            // higher by what it missed.
            if pooled.mean < ps.target {
                let aim = ps.target + (ps.target - pooled.mean);
                let again =
                    mediaforce::allocate::allocate(&curves, &alloc_options(ps, aim, knob, &probes));
                if again != knobs {
                    knobs = again;
                    corrected = true;
                    (rows, join, check, vmaf) =
                        self.finish_film(&film, &knobs, output, Some(req.scale), progress)?;
                }
            }
        }
        if let Some((_, per_frame)) = &vmaf {
            for (row, mean) in rows.iter_mut().zip(chunk_means(&film.specs, per_frame)) {
                row.vmaf = mean;
            }
        }
        for (row, c) in rows.iter_mut().zip(&curves) {
            row.predicted_vmaf = Some(mediaforce::allocate::predict(c, row.knob).0);
        }
        for d in film.dirs.borrow().iter() {
            let _ = std::fs::remove_dir_all(d);
        }
        let encoded = rows.iter().filter(|r| !r.reused).count();
        Ok(ChunkedView {
            input: input.to_path_buf(),
            output: output.to_path_buf(),
            encoder: film.adapter.id(),
            knob_name: knob.name,
            knob: req.setting.knob,
            scenes: scenes.scenes.len(),
            reused: rows.len() - encoded,
            encoded,
            chunks: rows,
            join,
            check,
            vmaf: vmaf.map(|v| v.0),
            probes,
            corrected,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Have every chunk at `knobs`, join them into `output`, check it against the source
    /// (removing it when it does not match) and score it when asked.
    #[allow(clippy::type_complexity)]
    fn finish_film(
        &self,
        film: &Film<'_>,
        knobs: &[f64],
        output: &Path,
        scored: Option<mediaforce::metrics::Scale>,
        progress: &mut dyn ProgressSink,
    ) -> Result<(
        Vec<ChunkRow>,
        JoinReport,
        JoinCheck,
        Option<(Pooled, Vec<f64>)>,
    )> {
        let rows = film.ensure(knobs, progress)?;
        let join = join_chunks(
            film.input,
            &film.files(&rows)?,
            output,
            film.adapter.libav_name(),
        )
        .map_err(invalid)?;
        let check = check_join(film.input, output, progress).map_err(invalid)?;
        if !check.passed {
            let _ = std::fs::remove_file(output);
            return Err(AppError::new(
                ErrorKind::Internal,
                format!(
                    "{}: the joined file does not match its source ({}); removed, the chunks kept",
                    output.display(),
                    check.detail
                ),
            ));
        }
        let vmaf = match scored {
            Some(scale) => Some(score(film.input, output, scale, progress)?),
            None => None,
        };
        Ok((rows, join, check, vmaf))
    }
}

/// The allocation's settings: knobs no further from the measured ones (`probes`) than one
/// more spread, where the measured points still say something (read far beyond them, a curve
/// sent chunks to the knob's end, where an encoder may change its stream: x264 at CRF 0 is
/// lossless, another profile, and such a chunk does not join).
fn alloc_options(
    ps: &PerScene,
    target: f64,
    knob: mediaforce::codecs::Knob,
    probes: &[f64],
) -> mediaforce::allocate::AllocOptions {
    let lo = probes.iter().copied().fold(f64::INFINITY, f64::min) - ps.spread;
    let hi = probes.iter().copied().fold(f64::NEG_INFINITY, f64::max) + ps.spread;
    let snap = |k: f64| ((k - knob.min) / knob.step).round() * knob.step + knob.min;
    mediaforce::allocate::AllocOptions {
        mode: ps.mode,
        target,
        floor: ps.floor,
        min: snap(lo.max(knob.min + knob.step)).min(knob.max),
        max: snap(hi.min(knob.max)).max(knob.min),
        step: knob.step,
        lower_is_better: knob.better == mediaforce::codecs::Better::Lower,
    }
}

/// Encode `todo` with `jobs` threads (each encoder given its share of the cores); the frames
/// done go to `progress` from this thread. The first failure stops the others.
fn encode_all(
    input: &Path,
    todo: &[&Wanted],
    jobs: usize,
    progress: &mut dyn ProgressSink,
) -> Result<Vec<mediaforce::core::chunk::ChunkReport>> {
    if todo.is_empty() {
        return Ok(Vec::new());
    }
    let jobs = jobs.clamp(1, todo.len());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = (jobs > 1).then(|| (cores / jobs).max(1));
    let total: u64 = todo.iter().map(|w| w.spec.frames).sum();
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<u64>();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..jobs)
            .map(|_| {
                let tx = tx.clone();
                let (next, stop) = (&next, &stop);
                scope.spawn(
                    move || -> Result<Vec<mediaforce::core::chunk::ChunkReport>> {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::SeqCst);
                            let Some(w) = todo.get(i) else {
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
                            let mut options = w.options.clone();
                            if threads.is_some() {
                                options.threads = threads;
                            }
                            match encode_chunk(input, &w.path, &w.spec, &options, &mut sink) {
                                Ok(r) => done.push(r),
                                Err(e) => {
                                    stop.store(true, Ordering::SeqCst);
                                    return Err(invalid(format!("chunk {}: {e}", w.spec.index)));
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
