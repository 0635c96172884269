//! Savings without a re-encode: which files the plan does not re-encode a repack still helps,
//! and how. A file in an old container (the policy's `remux.containers`: AVI, MPEG program
//! stream, ASF/WMV) is remuxed into Matroska; audio tracks of the codecs the policy converts
//! (`audio.convert`: PCM by default) become Opus, languages it excludes
//! (`audio.drop_languages`) are left out, and with `audio.drop_second_copies` so is a later
//! track in a language an earlier one has (not a commentary or an accessibility track); never
//! the first audio track or any in its language (taken for the original language), so never
//! the last one left. The decision is a plain function of the probe record and the policy; the
//! expected size comes from the streams' declared bit rates.

use crate::core::probe::{MediaInfo, StreamKind};
use crate::core::repack::StreamAction;
use crate::item_kind::{ItemKind, StreamStep};
use crate::policy::Policy;

/// What a repack would do to a file, and what it is expected to save.
#[derive(Debug, Clone, PartialEq)]
pub struct RepackPlan {
    /// `remux` (streams copied into Matroska) or `audio` (some audio converted or dropped).
    pub kind: ItemKind,
    /// Every stream and what happens to it.
    pub steps: Vec<StreamStep>,
    /// Expected size of the result, bytes.
    pub expected_bytes: u64,
    /// `strong` when every changed stream declares its bit rate, else `maybe`.
    pub confidence: &'static str,
    /// Why, in words.
    pub reason: String,
}

/// A commentary or accessibility track, which is never taken for a second copy.
fn special_track(s: &crate::core::probe::StreamInfo) -> bool {
    let special = [
        "comment",
        "visual_impaired",
        "hearing_impaired",
        "descriptions",
    ];
    s.disposition.iter().any(|d| special.contains(&d.as_str()))
        || s.title
            .as_deref()
            .is_some_and(|t| t.to_ascii_lowercase().contains("comment"))
}

/// Matroska's own overhead, as a share of the file (cluster and block headers, cues).
const MATROSKA_OVERHEAD: f64 = 0.004;

/// The repack `policy` asks for on a file of `size` bytes probed as `info`; `None` when it
/// asks for none (a modern container and no audio to change) or the file has no picture.
pub fn repack_plan(info: &MediaInfo, size: u64, policy: &Policy) -> Option<RepackPlan> {
    info.primary_video()?;
    let demuxer = info.container.split(',').next().unwrap_or_default();
    let old_container = policy
        .remux
        .containers
        .iter()
        .any(|c| c.eq_ignore_ascii_case(demuxer));
    let seconds = info.duration_seconds.unwrap_or(0.0);
    let bytes_of = |bit_rate: Option<u64>| bit_rate.map(|b| b as f64 * seconds / 8.0);
    let audio: Vec<_> = info.streams_of(StreamKind::Audio).collect();
    let opus_rates = policy.opus_bitrates();
    // The first audio track is taken for the original language, which is never dropped.
    let original = audio
        .first()
        .and_then(|s| s.language.clone())
        .unwrap_or_else(|| "und".into());
    let mut kept_languages: Vec<String> = Vec::new();
    let actions: Vec<StreamAction> = audio
        .iter()
        .enumerate()
        .map(|(n, s)| {
            let lang = s.language.as_deref().unwrap_or("und");
            let second_copy = policy.audio.drop_second_copies
                && lang != "und"
                && kept_languages.iter().any(|l| l.eq_ignore_ascii_case(lang))
                && !special_track(s);
            let excluded = !lang.eq_ignore_ascii_case(&original)
                && policy
                    .audio
                    .drop_languages
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case(lang));
            if n > 0 && (excluded || second_copy) {
                StreamAction::Drop
            } else if policy
                .audio
                .convert
                .iter()
                .any(|c| !c.is_empty() && s.codec.starts_with(c.as_str()))
            {
                kept_languages.push(lang.to_string());
                StreamAction::Opus
            } else {
                kept_languages.push(lang.to_string());
                StreamAction::Copy
            }
        })
        .collect();
    // The first track is never dropped, so the last one left is never dropped either.
    let changes_audio = actions.iter().any(|a| *a != StreamAction::Copy);
    if !old_container && !changes_audio {
        return None;
    }
    let mut saved = 0.0;
    let mut known = true;
    let mut steps = Vec::new();
    for s in &info.streams {
        let audio_n = audio.iter().position(|a| a.index == s.index);
        let action = audio_n.map_or(StreamAction::Copy, |n| actions[n]);
        let channels = s.audio.as_ref().map_or(2, |a| a.channels);
        let opus = opus_rates
            .get(&channels)
            .copied()
            .unwrap_or_else(|| crate::core::transcode::opus_bitrate(channels));
        let kbps = |b: Option<u64>| b.map_or(String::new(), |b| format!(" {} kb/s", b / 1000));
        let name = format!(
            "{} {}{}{}",
            s.language.as_deref().unwrap_or("und"),
            s.codec,
            s.audio
                .as_ref()
                .map_or(String::new(), |a| format!(" {} ch", a.channels)),
            kbps(s.bit_rate)
        );
        let what = match action {
            StreamAction::Copy => format!("{name}: copied"),
            StreamAction::Opus => {
                match bytes_of(s.bit_rate) {
                    Some(b) => saved += b - f64::from(opus) * seconds / 8.0,
                    None => known = false,
                }
                format!("{name}: to Opus {} kb/s", opus / 1000)
            }
            StreamAction::Drop => {
                match bytes_of(s.bit_rate) {
                    Some(b) => saved += b,
                    None => known = false,
                }
                let lang = s.language.as_deref().unwrap_or("und");
                let why = if policy
                    .audio
                    .drop_languages
                    .iter()
                    .any(|l| l.eq_ignore_ascii_case(lang))
                {
                    "audio.drop_languages"
                } else {
                    "a second copy of its language: audio.drop_second_copies"
                };
                format!("{name}: left out ({why})")
            }
        };
        steps.push(StreamStep {
            index: s.index,
            action,
            what,
        });
    }
    // What the old container spends beyond its streams' own bytes, less Matroska's own; only
    // when every audio and video stream declares its rate.
    let av: Vec<_> = info
        .streams
        .iter()
        .filter(|s| matches!(s.kind, StreamKind::Video | StreamKind::Audio))
        .collect();
    let overhead = if old_container && seconds > 0.0 {
        av.iter()
            .map(|s| bytes_of(s.bit_rate))
            .sum::<Option<f64>>()
            .map(|streams| (size as f64 - streams - MATROSKA_OVERHEAD * size as f64).max(0.0))
    } else {
        None
    };
    saved += overhead.unwrap_or(0.0);
    let saved = saved.clamp(0.0, size as f64);
    let kind = if changes_audio {
        ItemKind::Audio
    } else {
        ItemKind::Remux
    };
    let mut why = Vec::new();
    if old_container {
        why.push(format!(
            "{demuxer} container remuxed to Matroska{}",
            overhead.map_or(String::new(), |o| format!(
                " ({:.1}% container overhead)",
                100.0 * o / size.max(1) as f64
            ))
        ));
    }
    let converted = actions.iter().filter(|a| **a == StreamAction::Opus).count();
    let dropped = actions.iter().filter(|a| **a == StreamAction::Drop).count();
    if converted > 0 {
        why.push(format!("{converted} audio track(s) to Opus"));
    }
    if dropped > 0 {
        why.push(format!("{dropped} audio track(s) left out"));
    }
    Some(RepackPlan {
        kind,
        steps,
        expected_bytes: size - saved as u64,
        confidence: if known && (changes_audio || overhead.is_some()) {
            "strong"
        } else {
            "maybe"
        },
        reason: format!("{}; the picture is copied, not re-encoded", why.join(", ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::probe::{AudioInfo, StreamInfo};

    fn stream(index: usize, kind: StreamKind, codec: &str, lang: &str, kbps: u64) -> StreamInfo {
        let mut s: StreamInfo = serde_json::from_value(serde_json::json!({
            "index": index, "kind": "video", "codec": codec, "bit_rate": kbps * 1000,
            "language": lang, "disposition": [], "metadata": {}
        }))
        .expect("a stream record");
        s.kind = kind;
        if kind == StreamKind::Audio {
            s.audio = Some(AudioInfo {
                channels: 2,
                channel_layout: None,
                sample_rate: 48_000,
                sample_format: None,
            });
        }
        s
    }

    /// A 100-second file whose size is its streams' bytes plus 1% of container overhead.
    fn file(container: &str, streams: Vec<StreamInfo>) -> (MediaInfo, u64) {
        let declared: u64 = streams
            .iter()
            .map(|s| s.bit_rate.unwrap_or(0) / 8 * 100)
            .sum();
        let size = declared * 101 / 100;
        let mut m: MediaInfo = serde_json::from_value(serde_json::json!({
            "path": "/lib/a", "container": container, "container_long": "",
            "duration_seconds": 100.0, "size_bytes": size,
            "streams": [], "metadata": {}, "chapters": []
        }))
        .expect("a file record");
        m.streams = streams;
        (m, size)
    }

    fn policy(convert: &[&str], drop: &[&str]) -> Policy {
        let mut p = Policy::default();
        p.audio.drop_second_copies = drop.contains(&"second copies");
        p.remux.containers = vec!["avi".into(), "mpeg".into(), "asf".into()];
        p.audio.convert = convert.iter().map(|s| s.to_string()).collect();
        p.audio.drop_languages = drop.iter().map(|s| s.to_string()).collect();
        p
    }

    #[test]
    fn the_repack_follows_container_and_audio_policy() {
        use StreamAction::{Copy, Drop, Opus};
        let v = || stream(0, StreamKind::Video, "h264", "und", 2000);
        let a = |i, codec, lang, kbps| stream(i, StreamKind::Audio, codec, lang, kbps);
        let commentary = |i| {
            let mut s = stream(i, StreamKind::Audio, "ac3", "eng", 192);
            s.title = Some("Director's Commentary".into());
            s
        };
        type Row = (
            &'static str,
            Vec<StreamInfo>,
            &'static [&'static str],
            &'static [&'static str],
            Option<(ItemKind, Vec<StreamAction>, f64)>,
        );
        // (container, streams, convert, drop, expected kind, actions and saving in kB)
        let table: Vec<Row> = vec![
            // A modern container with efficient audio: nothing to do.
            (
                "matroska,webm",
                vec![v(), a(1, "aac", "eng", 128)],
                &["pcm"],
                &[],
                None,
            ),
            // An AVI: remuxed; its 1% of overhead beyond the streams less Matroska's 0.4%.
            (
                "avi",
                vec![v(), a(1, "mp3", "eng", 128)],
                &["pcm"],
                &[],
                Some((ItemKind::Remux, vec![Copy, Copy], 266.0 - 107.464)),
            ),
            // PCM in Matroska: converted (1536 - 96 kb/s for 100 s = 18,000 kB).
            (
                "matroska,webm",
                vec![v(), a(1, "pcm_s16le", "eng", 1536)],
                &["pcm"],
                &[],
                Some((ItemKind::Audio, vec![Copy, Opus], 18_000.0)),
            ),
            // A dropped language.
            (
                "matroska,webm",
                vec![
                    v(),
                    a(1, "ac3", "eng", 448),
                    a(2, "ac3", "ger", 448),
                    a(3, "aac", "ger", 128),
                ],
                &[],
                &["ger"],
                Some((ItemKind::Audio, vec![Copy, Copy, Drop, Drop], 7_200.0)),
            ),
            // Never the original language (the first track's), whatever the list says.
            (
                "matroska,webm",
                vec![v(), a(1, "ac3", "ger", 448), a(2, "ac3", "ger", 448)],
                &[],
                &["ger"],
                None,
            ),
            // Second copies: the English AC-3 beside the TrueHD goes, the commentary and the
            // French stay.
            (
                "matroska,webm",
                vec![
                    v(),
                    a(1, "truehd", "eng", 4000),
                    a(2, "ac3", "eng", 640),
                    commentary(3),
                    a(4, "ac3", "fre", 640),
                ],
                &[],
                &["second copies"],
                Some((ItemKind::Audio, vec![Copy, Copy, Drop, Copy, Copy], 8_000.0)),
            ),
            // Conversions off: an efficient file in Matroska stays as it is.
            (
                "matroska,webm",
                vec![v(), a(1, "pcm_s16le", "eng", 1536)],
                &[],
                &[],
                None,
            ),
        ];
        for (container, streams, convert, drop, want) in table {
            let (info, size) = file(container, streams);
            let got = repack_plan(&info, size, &policy(convert, drop));
            match (got, want) {
                (None, None) => {}
                (Some(g), Some((kind, actions, saved_kb))) => {
                    assert_eq!(g.kind, kind, "{container}: {}", g.reason);
                    let got_actions: Vec<StreamAction> = g.steps.iter().map(|s| s.action).collect();
                    assert_eq!(got_actions, actions, "{container}: {}", g.reason);
                    let saved = (size - g.expected_bytes) as f64 / 1000.0;
                    assert!(
                        (saved - saved_kb).abs() <= 1.0,
                        "{container}: saved {saved} kB, expected {saved_kb} kB ({})",
                        g.reason
                    );
                    assert_eq!(g.confidence, "strong", "{container}");
                }
                (g, w) => panic!("{container}: got {g:?}, expected {w:?}"),
            }
        }
    }

    #[test]
    fn a_file_without_a_picture_gets_no_repack() {
        let (info, size) = file(
            "avi",
            vec![stream(0, StreamKind::Audio, "pcm_s16le", "eng", 1536)],
        );
        assert_eq!(repack_plan(&info, size, &policy(&["pcm"], &[])), None);
    }
}
