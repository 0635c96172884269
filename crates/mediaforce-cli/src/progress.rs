//! indicatif progress bars behind the library's `ProgressSink`, shown only on a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mediaforce::events::Event;
use mediaforce_core::{Progress, ProgressSink};
use std::io::IsTerminal;

/// A progress bar on stderr when it is a terminal and `--json` is off; silent otherwise.
pub struct Bar {
    bar: Option<ProgressBar>,
}

/// A bar on stderr drawn with `template`, when `enabled` and stderr is a terminal.
fn stderr_bar(enabled: bool, template: &str) -> Option<ProgressBar> {
    (enabled && std::io::stderr().is_terminal()).then(|| {
        let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        b.set_style(
            ProgressStyle::with_template(template)
                .expect("valid template")
                .progress_chars("=> "),
        );
        b
    })
}

impl Bar {
    pub fn new(enabled: bool) -> Self {
        Self {
            bar: stderr_bar(
                enabled,
                "{prefix:>8} [{bar:40}] {pos}/{len} frames  {msg}  eta {eta}",
            ),
        }
    }
}

impl ProgressSink for Bar {
    fn start(&mut self, label: &str, total: Option<u64>) {
        if let Some(b) = &self.bar {
            b.set_prefix(label.to_string());
            if let Some(t) = total {
                b.set_length(t);
            }
        }
    }

    fn update(&mut self, p: &Progress) {
        if let Some(b) = &self.bar {
            if let Some(t) = p.frames_total {
                b.set_length(t.max(p.frames_done));
            }
            b.set_position(p.frames_done);
            b.set_message(format!("{:.1} fps", p.fps));
        }
    }

    fn finish(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// The scan's bar (files probed of those to probe, files/s, ETA) on a terminal.
pub struct ScanBar {
    bar: Option<ProgressBar>,
}

impl ScanBar {
    pub fn new(enabled: bool) -> Self {
        Self {
            bar: stderr_bar(
                enabled,
                "    scan [{bar:40}] {pos}/{len} files  {per_sec}  eta {eta}",
            ),
        }
    }

    pub fn update(&self, p: mediaforce::scan::ScanProgress) {
        use mediaforce::scan::ScanProgress;
        if let Some(b) = &self.bar {
            match p {
                ScanProgress::Walking { found } => b.set_message(format!("{found} found")),
                ScanProgress::Probing { done, total } => {
                    b.set_length(total as u64);
                    b.set_position(done as u64);
                }
            }
        }
    }
}

impl Drop for ScanBar {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// The terminal reporter of one job's events on stderr: while a probe runs, a bar naming it
/// (knob, frames scored of the samples', fps, ETA); one line per scored probe; a bar for the
/// full encode's frames (fps, ETA). With `--json` (disabled) nothing but damage warnings.
/// A bar is gone once what it counts is over, so the next one starts clean.
pub struct SearchProgress {
    on: bool,
    path: std::path::PathBuf,
    knob: String,
    bar: Option<ProgressBar>,
    /// Draw bars (stderr is a terminal); tests draw to a hidden target.
    draw: Option<fn() -> ProgressDrawTarget>,
    probes: usize,
    /// What the bar counts: a probe, or the label of a full pass (`encode`, `score`).
    counting: Option<String>,
}

impl SearchProgress {
    pub fn new(enabled: bool, knob: &str, path: &std::path::Path) -> Self {
        let draw = std::io::stderr()
            .is_terminal()
            .then_some(ProgressDrawTarget::stderr as fn() -> ProgressDrawTarget);
        Self {
            on: enabled,
            path: path.to_path_buf(),
            knob: knob.to_string(),
            bar: None,
            draw,
            probes: 0,
            counting: None,
        }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(s) => s.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn clear_bar(&mut self) {
        self.counting = None;
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }

    /// A new bar counting `what`, with `prefix`.
    fn start_bar(&mut self, what: String, prefix: String) {
        self.clear_bar();
        if let Some(draw) = self.draw {
            let b = ProgressBar::with_draw_target(None, draw());
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} frames  {msg}  eta {eta}  ({elapsed})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_prefix(prefix);
            b.set_message("starting");
            b.enable_steady_tick(std::time::Duration::from_millis(250));
            self.bar = Some(b);
        }
        self.counting = Some(what);
    }

    fn count(&self, frames: u64, total: Option<u64>, fps: f64) {
        if let Some(b) = &self.bar {
            if let Some(t) = total {
                b.set_length(t.max(frames));
            }
            b.set_position(frames);
            b.set_message(format!("{fps:.1} fps"));
        }
    }
}

impl mediaforce::events::EventSink for SearchProgress {
    fn emit(&mut self, e: Event) {
        // Damage in the source is a warning even under --json (stderr, not the document).
        if let Event::SourceDamaged { errors, seconds } = &e {
            let text = damage_warning(&self.path, "the search samples", *errors, seconds);
            self.line(text);
            return;
        }
        if !self.on {
            return;
        }
        match &e {
            Event::ItemStarted { knob, source, .. } => {
                self.knob.clone_from(knob);
                self.path.clone_from(source);
                self.probes = 0;
            }
            Event::SamplesPlaced { samples } => self.line(format!(
                "samples: {} ({} frames)",
                samples.len(),
                samples.iter().map(|x| x.frames).sum::<u64>()
            )),
            Event::ProbeStarted { knob } => {
                self.probes += 1;
                let prefix = format!("probe {} {} {knob}", self.probes, self.knob);
                self.start_bar("probe".into(), prefix);
            }
            Event::ProbeProgress { frames, total, fps } => self.count(*frames, Some(*total), *fps),
            Event::ProbeScored { .. } => {
                self.clear_bar();
                if let Some(text) = e.describe_probe(&self.knob) {
                    self.line(format!("  {text}"));
                }
            }
            Event::FramesDone {
                label,
                frames,
                total,
                fps,
                ..
            } => {
                if self.counting.as_deref() != Some(label) {
                    self.start_bar(label.clone(), format!("{label:>8}"));
                }
                self.count(*frames, *total, *fps);
            }
            Event::ItemFinished { .. } => self.clear_bar(),
            _ => {}
        }
    }
}

/// A reporter that draws each job's bars (probes, encode, score) on a terminal and prints no
/// lines of its own: the command prints each item's result.
pub struct Bars(pub bool);

impl mediaforce::runner::Reporter for Bars {
    fn item(
        &self,
        item: &mediaforce::manifest::ManifestItem,
    ) -> Box<dyn mediaforce::events::EventSink + '_> {
        Box::new(SearchProgress::new(self.0, "knob", &item.source))
    }
}

impl Drop for SearchProgress {
    fn drop(&mut self) {
        self.clear_bar();
    }
}

/// The one-line warning for damage concealed while decoding `path` (in `part`: "the search
/// samples", "the whole file"): the count and where the first of it was.
pub fn damage_warning(path: &std::path::Path, part: &str, errors: u64, seconds: &[f64]) -> String {
    format!(
        "mediaforce: warning: {}: {} in {part}, concealed while decoding; `mediaforce verify` shows the first",
        path.display(),
        mediaforce_core::decode::describe_damage(errors, seconds)
    )
}

/// Print [`damage_warning`] on stderr when there was damage.
pub fn warn_damage(path: &std::path::Path, part: &str, errors: u64, seconds: &[f64]) {
    if errors > 0 {
        eprintln!("{}", damage_warning(path, part, errors, seconds));
    }
}

#[cfg(test)]
mod tests {
    use super::SearchProgress;
    use indicatif::ProgressDrawTarget;
    use mediaforce::events::{Event, EventSink};

    #[test]
    fn the_probe_bar_counts_frames_and_is_gone_once_the_probe_is_scored() {
        let mut p = SearchProgress::new(true, "crf", std::path::Path::new("x.mkv"));
        p.draw = Some(ProgressDrawTarget::hidden);
        p.emit(Event::ProbeStarted { knob: 30.0 });
        p.emit(Event::ProbeProgress {
            frames: 120,
            total: 480,
            fps: 40.0,
        });
        let bar = p.bar.as_ref().expect("a bar while the probe runs");
        assert_eq!((bar.position(), bar.length()), (120, Some(480)));
        assert_eq!(bar.message(), "40.0 fps");
        assert_eq!(bar.prefix(), "probe 1 crf 30");
        p.emit(Event::ProbeScored {
            knob: 30.0,
            score: 93.0,
            mean: 93.0,
            p5: 91.0,
            min: 90.0,
            predicted_percent: 40.0,
            cached: false,
        });
        assert!(p.bar.is_none(), "nothing left counting after the probe");
        // The full encode's frames get a bar of their own, gone when the item ends.
        p.emit(Event::FramesDone {
            label: "encode".into(),
            frames: 50,
            total: Some(200),
            fps: 25.0,
            eta_seconds: Some(6.0),
        });
        let bar = p.bar.as_ref().expect("a bar while the encode runs");
        assert_eq!((bar.position(), bar.length()), (50, Some(200)));
        assert_eq!(bar.prefix(), "  encode");
        p.emit(Event::ItemFinished {
            index: 0,
            source: "x.mkv".into(),
            outcome: "staged".into(),
            detail: String::new(),
        });
        assert!(p.bar.is_none());
    }
}
