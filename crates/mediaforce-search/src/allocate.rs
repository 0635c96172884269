//! Per-scene allocation: each chunk's knob from its own measured points, so the whole film
//! meets its target at the fewest bits.
//!
//! A chunk's curve is the points measured on its own frames (knob, mean VMAF, bytes), read
//! between and beyond them piecewise: VMAF linearly, size log-linearly. Two modes:
//! - [`Mode::Target`]: every chunk meets the target on its own (as Av1an's target quality does);
//! - [`Mode::Optimal`]: the frame-weighted mean over the film meets the target, reached by
//!   buying, step by step, the most VMAF per byte anywhere in the film (the equal-slope
//!   allocation of Netflix's Dynamic Optimizer, in discrete steps), with no chunk under a floor.

use serde::{Deserialize, Serialize};

/// What one chunk measured: its frames and its points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChunkCurve {
    /// Frames in the chunk (its weight in the film's mean).
    pub frames: u64,
    /// Measured points: (knob, mean VMAF, bytes); at least one.
    pub points: Vec<(f64, f64, f64)>,
}

/// How knobs are allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Every chunk meets the target.
    Target,
    /// The film's frame-weighted mean meets the target at the fewest bytes.
    Optimal,
}

/// The knob's range and the targets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AllocOptions {
    /// Mode.
    pub mode: Mode,
    /// Target (mean VMAF: each chunk's in `Target` mode, the film's in `Optimal`).
    pub target: f64,
    /// No chunk predicted below this (`Optimal`).
    pub floor: f64,
    /// Smallest knob value.
    pub min: f64,
    /// Largest knob value.
    pub max: f64,
    /// Step between knob values tried.
    pub step: f64,
    /// A lower knob gives a better picture (CRF-like knobs).
    pub lower_is_better: bool,
}

/// `curve`'s predicted (VMAF, bytes) at `knob`: from the two measured points nearest to it
/// (VMAF linear, size log-linear; VMAF kept within 0-100); a single point says the same at
/// every knob.
pub fn predict(curve: &ChunkCurve, knob: f64) -> (f64, f64) {
    let mut p = curve.points.clone();
    p.sort_by(|a, b| a.0.total_cmp(&b.0));
    p.dedup_by(|a, b| a.0 == b.0);
    match p.len() {
        0 => (0.0, 0.0),
        1 => (p[0].1, p[0].2),
        n => {
            // The segment holding the knob, or the end one beyond it.
            let i = p.windows(2).position(|w| knob <= w[1].0).unwrap_or(n - 2);
            let (a, b) = (p[i], p[i + 1]);
            let t = (knob - a.0) / (b.0 - a.0);
            let vmaf = (a.1 + t * (b.1 - a.1)).clamp(0.0, 100.0);
            let bytes = (a.2.max(1.0).ln() + t * (b.2.max(1.0).ln() - a.2.max(1.0).ln())).exp();
            (vmaf, bytes)
        }
    }
}

/// The knobs tried, best picture first.
fn grid(o: &AllocOptions) -> Vec<f64> {
    let n = ((o.max - o.min) / o.step.max(1e-9)).round() as usize;
    let mut g: Vec<f64> = (0..=n).map(|i| o.min + i as f64 * o.step).collect();
    if !o.lower_is_better {
        g.reverse();
    }
    g
}

/// Each chunk's knob.
pub fn allocate(curves: &[ChunkCurve], o: &AllocOptions) -> Vec<f64> {
    let g = grid(o);
    if g.is_empty() {
        return Vec::new();
    }
    let at = |c: &ChunkCurve, i: usize| predict(c, g[i]);
    // The cheapest grid position (largest index) still at or above `q`, else the best.
    let cheapest_meeting =
        |c: &ChunkCurve, q: f64| (0..g.len()).rev().find(|&i| at(c, i).0 >= q).unwrap_or(0);
    match o.mode {
        Mode::Target => curves
            .iter()
            .map(|c| g[cheapest_meeting(c, o.target)])
            .collect(),
        Mode::Optimal => {
            let mut pos: Vec<usize> = curves
                .iter()
                .map(|c| cheapest_meeting(c, o.floor))
                .collect();
            let weight: f64 = curves.iter().map(|c| c.frames as f64).sum::<f64>().max(1.0);
            let mean = |pos: &[usize]| {
                curves
                    .iter()
                    .zip(pos)
                    .map(|(c, &i)| c.frames as f64 * at(c, i).0)
                    .sum::<f64>()
                    / weight
            };
            while mean(&pos) < o.target {
                // The step that buys the most weighted VMAF per byte, anywhere.
                let best = curves
                    .iter()
                    .enumerate()
                    .filter(|(k, _)| pos[*k] > 0)
                    .filter_map(|(k, c)| {
                        let (q0, b0) = at(c, pos[k]);
                        let (q1, b1) = at(c, pos[k] - 1);
                        let gain = c.frames as f64 * (q1 - q0);
                        (gain > 0.0).then(|| (k, gain / (b1 - b0).max(1.0)))
                    })
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                match best {
                    Some((k, _)) => pos[k] -= 1,
                    None => break,
                }
            }
            pos.iter().map(|&i| g[i]).collect()
        }
    }
}

/// The film's predicted frame-weighted mean VMAF and bytes at `knobs`.
pub fn predicted(curves: &[ChunkCurve], knobs: &[f64]) -> (f64, f64) {
    let frames: f64 = curves.iter().map(|c| c.frames as f64).sum::<f64>().max(1.0);
    let (q, b) = curves
        .iter()
        .zip(knobs)
        .map(|(c, k)| {
            let (q, b) = predict(c, *k);
            (c.frames as f64 * q, b)
        })
        .fold((0.0, 0.0), |a, x| (a.0 + x.0, a.1 + x.1));
    (q / frames, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk of `frames` frames measured at crf 24 and 36.
    fn chunk(frames: u64, at24: (f64, f64), at36: (f64, f64)) -> ChunkCurve {
        ChunkCurve {
            frames,
            points: vec![(24.0, at24.0, at24.1), (36.0, at36.0, at36.1)],
        }
    }

    fn options(mode: Mode, target: f64) -> AllocOptions {
        AllocOptions {
            mode,
            target,
            floor: target - 6.0,
            min: 10.0,
            max: 50.0,
            step: 1.0,
            lower_is_better: true,
        }
    }

    #[test]
    fn predictions_follow_the_measured_points() {
        let c = chunk(10, (96.0, 4000.0), (90.0, 1000.0));
        let (q, b) = predict(&c, 24.0);
        assert!(
            (q - 96.0).abs() < 1e-9 && (b - 4000.0).abs() < 1e-6,
            "{q} {b}"
        );
        let (q, b) = predict(&c, 30.0);
        assert!(
            (q - 93.0).abs() < 1e-9 && (b - 2000.0).abs() < 1e-6,
            "{q} {b}"
        );
        // Beyond the points: the end segment carried on, VMAF within 0-100.
        let (q, b) = predict(&c, 18.0);
        assert!(
            (q - 99.0).abs() < 1e-9 && (b - 8000.0).abs() < 1e-6,
            "{q} {b}"
        );
        assert_eq!(predict(&c, 0.0).0, 100.0);
        let one = ChunkCurve {
            frames: 1,
            points: vec![(30.0, 91.0, 500.0)],
        };
        assert_eq!(predict(&one, 12.0), (91.0, 500.0));
    }

    #[test]
    fn knobs_are_allocated_per_chunk() {
        // An easy chunk (high VMAF cheaply) and a hard one of the same length.
        let easy = chunk(100, (99.0, 2000.0), (96.0, 500.0));
        let hard = chunk(100, (92.0, 20000.0), (84.0, 5000.0));
        type Row = (&'static str, Vec<ChunkCurve>, AllocOptions, Vec<f64>);
        let table: Vec<Row> = vec![
            // Each meets 95 alone: the easy one (0.25 a step) up to crf 40 (95.0), the hard
            // one (2/3 a step) up to 19 (95.3).
            (
                "target",
                vec![easy.clone(), hard.clone()],
                options(Mode::Target, 95.0),
                vec![40.0, 19.0],
            ),
            // The mean meets 92 (floor 86): both start at their cheapest above the floor (50:
            // 92.5, and 33: 86.0); a step buys 25 weighted points on the easy chunk for about
            // 12% of its bytes, 67 on the hard one for 12% of its ten times larger bytes, so
            // the easy one climbs alone, to 28 (98.0): the mean is (98 + 86) / 2 = 92.
            (
                "optimal",
                vec![easy.clone(), hard.clone()],
                options(Mode::Optimal, 92.0),
                vec![28.0, 33.0],
            ),
            // One chunk: optimal is the target.
            (
                "one chunk",
                vec![hard.clone()],
                options(Mode::Optimal, 90.0),
                vec![27.0],
            ),
            // Out of reach: the best knob.
            (
                "out of reach",
                vec![chunk(10, (60.0, 100.0), (50.0, 50.0))],
                options(Mode::Target, 95.0),
                vec![10.0],
            ),
        ];
        for (what, curves, o, want) in table {
            let got = allocate(&curves, &o);
            assert_eq!(
                got,
                want,
                "{what}: predicted {:?}",
                predicted(&curves, &got)
            );
            if o.mode == Mode::Optimal {
                assert!(predicted(&curves, &got).0 >= o.target, "{what}");
            }
        }
    }

    #[test]
    fn optimal_is_smaller_than_one_knob_at_the_same_mean() {
        let easy = chunk(100, (99.0, 2000.0), (96.0, 500.0));
        let hard = chunk(100, (92.0, 20000.0), (84.0, 5000.0));
        let curves = [easy, hard];
        let knobs = allocate(&curves, &options(Mode::Optimal, 92.0));
        let (q, bytes) = predicted(&curves, &knobs);
        // The one knob meeting the same mean.
        let one = (10..=50)
            .rev()
            .map(f64::from)
            .find(|k| predicted(&curves, &[*k, *k]).0 >= q)
            .unwrap();
        let (_, one_bytes) = predicted(&curves, &[one, one]);
        // 1,260 + 7,071 bytes against 9,800 at crf 31 for both: 15% less.
        assert!(
            bytes < 0.9 * one_bytes,
            "{bytes} vs {one_bytes} at crf {one}"
        );
    }

    #[test]
    fn a_higher_is_better_knob_runs_the_other_way() {
        // A quality knob where higher is better (as some encoders' "quality" options).
        let c = ChunkCurve {
            frames: 10,
            points: vec![(20.0, 80.0, 1000.0), (40.0, 96.0, 4000.0)],
        };
        let o = AllocOptions {
            lower_is_better: false,
            ..options(Mode::Target, 90.0)
        };
        // 90 is reached at 32.5: the cheapest knob meeting it is 33.
        assert_eq!(allocate(&[c], &o), vec![33.0]);
    }
}
