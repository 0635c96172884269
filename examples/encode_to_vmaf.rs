//! Encode one file to a VMAF target through the library, with progress.
//!
//! ```sh
//! cargo run --release --example encode_to_vmaf -- input.mkv output.mkv 95
//! ```

use mediaforce::core::transcode::TranscodeOptions;
use mediaforce::core::{Progress, ProgressSink};
use mediaforce::search::{encode_to_target, SearchConfig, SearchEvent, SearchObserver};

/// Prints search events and encode progress as plain lines.
struct Lines;

impl SearchObserver for Lines {
    fn event(&mut self, event: &SearchEvent<'_>) {
        if let SearchEvent::ProbeScored(p) = event {
            println!(
                "probe crf {}: VMAF {:.2}, ~{:.0}% of source",
                p.knob, p.score, p.predicted_percent
            );
        }
    }
}

impl ProgressSink for Lines {
    fn update(&mut self, p: &Progress) {
        if p.frames_done.is_multiple_of(100) {
            println!("encoded {} frames at {:.1} fps", p.frames_done, p.fps);
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output, target] = args.as_slice() else {
        eprintln!("usage: encode_to_vmaf INPUT OUTPUT TARGET_VMAF");
        std::process::exit(2);
    };
    let mut config = SearchConfig::new("libsvtav1", target.parse()?);
    config.preset = Some("8".into());
    let report = encode_to_target(
        input.as_ref(),
        output.as_ref(),
        &config,
        &TranscodeOptions::new("libsvtav1"),
        &mut Lines,
        &mut Lines,
    )?;
    match report.encodes.last() {
        Some(e) if report.output.is_some() => {
            println!(
                "crf {}: VMAF {:.2}, {:.1}% of the source",
                e.knob,
                e.achieved.unwrap_or(f64::NAN),
                e.percent
            )
        }
        _ => println!("no encode met the target"),
    }
    Ok(())
}
