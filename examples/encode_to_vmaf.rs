//! Encode one file to a VMAF target through the library, with progress.
//!
//! ```sh
//! cargo run --release --example encode_to_vmaf -- input.mkv output.mkv 95
//! ```

use mediaforce::core::transcode::TranscodeOptions;
use mediaforce::events::{Event, EventSink};
use mediaforce::search::{encode_to_target, SearchConfig};

/// Prints the search's probes and the encode's progress as plain lines.
struct Lines;

impl EventSink for Lines {
    fn emit(&mut self, event: Event) {
        match event {
            Event::ProbeScored {
                knob,
                score,
                predicted_percent,
                ..
            } => println!("probe crf {knob}: VMAF {score:.2}, ~{predicted_percent:.0}% of source"),
            Event::FramesDone { frames, fps, .. } if frames.is_multiple_of(100) => {
                println!("encoded {frames} frames at {fps:.1} fps")
            }
            _ => {}
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
