//! Rendering shared by the commands: sizes, JSON, and the views several commands print.

use anyhow::Result;
use mediaforce_app::{FolderSummary, PlanView, StagedRow};
use std::collections::BTreeMap;

pub use mediaforce_app::human_bytes;

/// Print a view as pretty JSON (the `--json` output).
pub fn print_json<T: serde::Serialize + ?Sized>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub fn print_scan(r: &mediaforce::scan::ScanReport, json: bool) -> Result<()> {
    if json {
        return print_json(r);
    }
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "scanned {} files in {:.2} s ({:.0} files/s): {} new, {} changed, {} touched (not re-probed), {} unchanged, {} moved, {} gone, {} errors, {} made by mediaforce",
        r.files, r.seconds, r.files_per_second, r.new, r.changed, r.touched, r.unchanged, r.moved, r.gone, r.errors, r.ours
    );
    Ok(())
}

fn count_line(m: &BTreeMap<String, usize>) -> String {
    let mut v: Vec<(&String, &usize)> = m.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(k, n)| format!("{k} x{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn print_inspect(s: &FolderSummary, json: bool) -> Result<()> {
    if json {
        return print_json(s);
    }
    println!(
        "{}: {} files, {} ({} unreadable)",
        s.prefix.display(),
        s.files,
        human_bytes(s.bytes),
        s.errors
    );
    println!("  video codecs: {}", count_line(&s.codecs));
    println!("  resolutions:  {}", count_line(&s.resolutions));
    println!("  containers:   {}", count_line(&s.containers));
    println!("  audio:        {}", count_line(&s.audio));
    println!("  hdr:          {}", count_line(&s.hdr));
    if let (Some(a), Some(m), Some(b)) = (
        s.bitrate_mbps_min,
        s.bitrate_mbps_median,
        s.bitrate_mbps_max,
    ) {
        println!("  bit rate:     {a:.1} / {m:.1} / {b:.1} Mb/s (min / median / max)");
    }
    println!("\nsuggested override (paste into <data dir>/folder-overrides.toml):\n");
    print!("{}", s.suggested_override);
    Ok(())
}

pub fn print_plan(v: &PlanView, json: bool) -> Result<()> {
    if json {
        return print_json(v);
    }
    let m = &v.plan;
    println!(
        "plan {}: {} items ({}), expected saving {}; {} files skipped",
        v.manifest.display(),
        m.items.len(),
        human_bytes(m.total_source_bytes),
        human_bytes(m.total_expected_saving_bytes),
        m.skipped.len()
    );
    for i in m.items.iter().take(20) {
        println!(
            "  {:>3}. {}  {} -> ~{} (-{:.0}%, {})",
            i.index,
            i.source.display(),
            human_bytes(i.source_bytes),
            human_bytes(i.expected_bytes),
            i.expected_saving_percent,
            i.bucket
        );
    }
    if m.items.len() > 20 {
        println!("  ... {} more", m.items.len() - 20);
    }
    Ok(())
}

pub fn print_staged(rows: &[StagedRow]) {
    if rows.is_empty() {
        return;
    }
    println!("staged work (newest plan):");
    for r in rows {
        println!(
            "  {:>3}. {:<12} {}  {} -> {} ({}), VMAF {} / {}{}{}",
            r.index,
            r.state,
            r.source.display(),
            r.source_bytes.map_or("-".into(), human_bytes),
            r.staged_bytes.map_or("-".into(), human_bytes),
            r.saving_percent.map_or("-".into(), |s| format!("-{s:.1}%")),
            r.predicted_vmaf
                .map_or("-".into(), |v| format!("{v:.2} predicted")),
            r.measured_vmaf
                .map_or("-".into(), |v| format!("{v:.2} measured")),
            r.validation
                .as_ref()
                .map_or(String::new(), |v| format!(", validation {v}")),
            r.decision
                .as_ref()
                .map_or(String::new(), |d| format!(", {d}")),
        );
    }
}
