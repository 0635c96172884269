//! indicatif progress bars behind the library's `ProgressSink`, shown only on a terminal.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mediaforce_core::{Progress, ProgressSink};
use std::io::IsTerminal;

/// A progress bar on stderr when it is a terminal and `--json` is off; silent otherwise.
pub struct Bar {
    bar: Option<ProgressBar>,
}

impl Bar {
    pub fn new(enabled: bool) -> Self {
        let on = enabled && std::io::stderr().is_terminal();
        Self {
            bar: on.then(|| {
                let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                b.set_style(
                    ProgressStyle::with_template(
                        "{prefix:>8} [{bar:40}] {pos}/{len} frames  {msg}  eta {eta}",
                    )
                    .expect("valid template")
                    .progress_chars("=> "),
                );
                b
            }),
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

/// Search events on stderr: a spinner naming the probe under way (knob, elapsed time) on a
/// terminal, and one line per scored probe; nothing when disabled (`--json`).
pub struct SearchProgress {
    on: bool,
    path: std::path::PathBuf,
    knob: &'static str,
    spinner: Option<ProgressBar>,
    probes: usize,
}

impl SearchProgress {
    pub fn new(enabled: bool, knob: &'static str, path: &std::path::Path) -> Self {
        Self {
            on: enabled,
            path: path.to_path_buf(),
            knob,
            spinner: None,
            probes: 0,
        }
    }

    fn line(&self, text: String) {
        match &self.spinner {
            Some(s) => s.println(text),
            None => eprintln!("{text}"),
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
                if std::io::stderr().is_terminal() {
                    let s = self.spinner.get_or_insert_with(|| {
                        let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                        b.set_style(
                            ProgressStyle::with_template("{spinner} {msg}  {elapsed}")
                                .expect("valid template"),
                        );
                        b.enable_steady_tick(std::time::Duration::from_millis(120));
                        b
                    });
                    s.set_message(format!(
                        "probe {}: {} {knob}: encoding, decoding and scoring the samples",
                        self.probes, self.knob
                    ));
                }
            }
            SearchEvent::SourceDamaged { .. } => {}
            SearchEvent::ProbeScored(p) => self.line(format!(
                "  {} {}: VMAF {:.2} (mean {:.2}, p5 {:.2}, min {:.2}), predicted {:.1}% of source{}",
                self.knob,
                p.knob,
                p.score,
                p.vmaf.mean,
                p.vmaf.p5,
                p.vmaf.min,
                p.predicted_percent,
                if p.cached { " (cached)" } else { "" }
            )),
        }
    }
}

impl Drop for SearchProgress {
    fn drop(&mut self) {
        if let Some(s) = self.spinner.take() {
            s.finish_and_clear();
        }
    }
}

/// The one-line warning for damage concealed while decoding `path` (in `part`: "the search
/// samples", "the whole file"): the count and where the first of it was.
pub fn damage_warning(path: &std::path::Path, part: &str, errors: u64, seconds: &[f64]) -> String {
    let at: Vec<String> = seconds
        .iter()
        .filter(|s| s.is_finite())
        .take(5)
        .map(|s| format!("{s:.2} s"))
        .collect();
    format!(
        "mediaforce: warning: {}: {errors} damaged packet(s) or frame(s) in {part}, concealed while decoding{}; `mediaforce verify` shows the first",
        path.display(),
        if at.is_empty() {
            String::new()
        } else {
            format!(" (at {})", at.join(", "))
        }
    )
}

/// Print [`damage_warning`] on stderr when there was damage.
pub fn warn_damage(path: &std::path::Path, part: &str, errors: u64, seconds: &[f64]) {
    if errors > 0 {
        eprintln!("{}", damage_warning(path, part, errors, seconds));
    }
}
