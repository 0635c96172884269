//! indicatif progress bars behind the library's `ProgressSink`, shown only on a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
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

/// Search events on stderr: while a probe runs, a bar naming it (knob, frames scored of the
/// samples', fps, ETA) on a terminal; one line per scored probe; nothing when disabled
/// (`--json`) but damage warnings. The bar is gone once its probe is scored, so the full
/// encode that may follow shows its own.
pub struct SearchProgress {
    on: bool,
    path: std::path::PathBuf,
    knob: &'static str,
    bar: Option<ProgressBar>,
    /// Draw bars (stderr is a terminal); tests draw to a hidden target.
    draw: Option<fn() -> ProgressDrawTarget>,
    probes: usize,
}

impl SearchProgress {
    pub fn new(enabled: bool, knob: &'static str, path: &std::path::Path) -> Self {
        let draw = std::io::stderr()
            .is_terminal()
            .then_some(ProgressDrawTarget::stderr as fn() -> ProgressDrawTarget);
        Self {
            on: enabled,
            path: path.to_path_buf(),
            knob,
            bar: None,
            draw,
            probes: 0,
        }
    }

    fn line(&self, text: String) {
        match &self.bar {
            Some(s) => s.println(text),
            None => eprintln!("{text}"),
        }
    }

    fn clear_bar(&mut self) {
        if let Some(b) = self.bar.take() {
            b.finish_and_clear();
        }
    }
}

impl mediaforce::search::SearchObserver for SearchProgress {
    fn event(&mut self, e: &mediaforce::search::SearchEvent<'_>) {
        use mediaforce::search::SearchEvent;
        // Damage in the source is a warning even under --json (stderr, not the document).
        if let SearchEvent::SourceDamaged { errors, seconds } = e {
            let text = damage_warning(&self.path, "the search samples", *errors, seconds);
            self.line(text);
            return;
        }
        if !self.on {
            return;
        }
        match e {
            SearchEvent::SamplesReady(s) => self.line(format!(
                "samples: {} ({} frames)",
                s.len(),
                s.iter().map(|x| x.frames).sum::<u64>()
            )),
            SearchEvent::ProbeStarted(knob) => {
                self.probes += 1;
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
                    b.set_prefix(format!("probe {} {} {knob}", self.probes, self.knob));
                    b.set_message("starting");
                    b.enable_steady_tick(std::time::Duration::from_millis(250));
                    self.bar = Some(b);
                }
            }
            SearchEvent::ProbeProgress { frames, total, fps } => {
                if let Some(b) = &self.bar {
                    b.set_length(*total);
                    b.set_position(*frames);
                    b.set_message(format!("{fps:.1} fps"));
                }
            }
            SearchEvent::SourceDamaged { .. } => {}
            SearchEvent::ProbeScored(p) => {
                self.clear_bar();
                self.line(format!("  {}", p.describe(self.knob)))
            }
        }
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
    use mediaforce::search::{SearchEvent, SearchObserver};

    #[test]
    fn the_probe_bar_counts_frames_and_is_gone_once_the_probe_is_scored() {
        let mut p = SearchProgress::new(true, "crf", std::path::Path::new("x.mkv"));
        p.draw = Some(ProgressDrawTarget::hidden);
        p.event(&SearchEvent::ProbeStarted(30.0));
        p.event(&SearchEvent::ProbeProgress {
            frames: 120,
            total: 480,
            fps: 40.0,
        });
        let bar = p.bar.as_ref().expect("a bar while the probe runs");
        assert_eq!((bar.position(), bar.length()), (120, Some(480)));
        assert_eq!(bar.message(), "40.0 fps");
        let probe: mediaforce::search::Probe = serde_json::from_value(serde_json::json!({
            "knob": 30.0, "score": 93.0,
            "vmaf": {"mean": 93.0, "harmonic_mean": 92.9, "min": 90.0, "p1": 90.5, "p5": 91.0},
            "sample_means": [93.0], "sample_bytes": 1000, "predicted_bytes": 10000,
            "predicted_percent": 40.0, "predicted_encode_seconds": 3.0
        }))
        .unwrap();
        p.event(&SearchEvent::ProbeScored(&probe));
        assert!(
            p.bar.is_none(),
            "nothing left counting through the full encode"
        );
    }
}
