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
