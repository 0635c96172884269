use super::{next_knob, Axis, Point};

fn pts(series: &[(f64, f64)]) -> Vec<Point> {
    series
        .iter()
        .map(|&(knob, score)| Point { knob, score })
        .collect()
}

#[test]
fn next_knob_over_recorded_series() {
    // x264: CRF 0..=51 in quarter steps, lower is better.
    let x264 = Axis::within(crate::codecs::find("libx264").unwrap().knob(), None, None);
    let next = |series: &[(f64, f64)]| next_knob(&x264, 95.0, 1.0, &pts(series));
    // Nothing measured: nothing to decide from.
    assert_eq!(next(&[]), None);
    // In [95, 96]: done.
    assert_eq!(next(&[(23.0, 95.4)]), None);
    // Bracketed 97.0 at 23 and 93.0 at 26: interpolate to 95.5, 62.5% of the way from the
    // failing point, 24.125, snapped to the quarter step.
    assert_eq!(next(&[(23.0, 97.0), (26.0, 93.0)]), Some(24.25));
    // A bracket one step wide: the cheaper passing point is the answer.
    assert_eq!(next(&[(24.0, 97.0), (24.25, 93.0)]), None);
    // The interpolation would land on the failing point: one step inside instead.
    assert_eq!(next(&[(23.0, 99.9), (24.0, 94.99)]), Some(23.75));
    // Below the target only: a better (lower) CRF, by the measured slope when there is one:
    // 1 point a CRF unit between 30 and 28, 2.5 points short of 95.5 -> 2.5 lower.
    assert_eq!(next(&[(30.0, 91.0), (28.0, 93.0)]), Some(25.5));
    // Above only: a cheaper (higher) CRF, at least one step, at most a quarter of the range.
    let up = next(&[(20.0, 99.9)]).unwrap();
    assert!(up > 20.0 && up <= 20.0 + 51.0 / 4.0, "{up}");
    // Pinned to one value (--min-crf X --max-crf X): the value measured, nothing next.
    let pinned = Axis::within(x264.knob, Some(28.0), Some(28.0));
    assert_eq!(next_knob(&pinned, 95.0, 1.0, &pts(&[(28.0, 91.0)])), None);
    // At the best end of the range and still short: nothing better to try.
    assert_eq!(next(&[(0.0, 90.0)]), None);
}

#[test]
fn closed_loop_corrects_on_the_whole_files_own_points() {
    // A generated season episode (bench-guess), target 93 with tolerance 1.5: the whole
    // file at crf 19.5 measured 94.69 (above the window), the first correction, stepped by
    // the samples' slope, 92.20 at crf 20.5. The second correction interpolates between
    // those two whole-file measurements (aim 93.75: 62% of the way from 20.5), landing on
    // crf 20, which measured 93.45; the old rule stepped from 19.5 again and chose crf 19
    // (95.74, the dearest of the three).
    let x264 = Axis::within(crate::codecs::find("libx264").unwrap().knob(), None, None);
    let measured = pts(&[(19.5, 94.69), (20.5, 92.20)]);
    assert_eq!(next_knob(&x264, 93.0, 1.5, &measured), Some(20.0));
}

#[test]
fn next_knob_where_higher_is_better() {
    // A knob where higher values are better quality (like a quality level): the same
    // rules, mirrored.
    let mut knob = crate::codecs::find("libx264").unwrap().knob();
    knob.better = crate::codecs::Better::Higher;
    let axis = Axis::within(knob, None, None);
    assert_eq!(
        next_knob(&axis, 95.0, 1.0, &pts(&[(26.0, 97.0), (23.0, 93.0)])),
        Some(25.0)
    );
}

#[test]
fn windows_fit_the_memory_budget_fewer_first_then_shorter() {
    use super::crf::fit_windows;
    // (windows asked, seconds, fps, reference frames the budget holds) -> (windows, seconds)
    type Asked = (usize, f64, f64, u64);
    let table: [(Asked, (usize, f64)); 5] = [
        // 16 windows of 48 frames fit in 10,000 frames: as asked.
        ((16, 2.0, 24.0, 10_000), (16, 2.0)),
        // Exactly full: as asked.
        ((10, 2.0, 24.0, 480), (10, 2.0)),
        // 30 windows need 1,440 frames, 480 fit: ten whole windows.
        ((30, 2.0, 24.0, 480), (10, 2.0)),
        // 4K: 100 frames fit two windows; six are kept, each 100/6 frames long.
        ((30, 2.0, 24.0, 100), (6, 100.0 / 24.0 / 6.0)),
        // Three asked, 50 frames: three kept, shortened.
        ((3, 2.0, 24.0, 50), (3, 50.0 / 24.0 / 3.0)),
    ];
    for ((count, seconds, fps, budget), (want_count, want_seconds)) in table {
        let (got_count, got_seconds) = fit_windows(count, seconds, fps, budget);
        assert_eq!(
            got_count, want_count,
            "{count} x {seconds} s, budget {budget}"
        );
        assert!(
            (got_seconds - want_seconds).abs() < 1e-9,
            "{count} x {seconds} s, budget {budget}: {got_seconds} s, want {want_seconds} s"
        );
    }
}

fn probe(knob: f64, score: f64, percent: f64, size_se: Option<f64>) -> super::Probe {
    serde_json::from_value(serde_json::json!({
        "knob": knob,
        "score": score,
        "vmaf": {"mean": score, "harmonic_mean": score, "min": score - 5.0, "p1": score - 4.0, "p5": score - 3.0},
        "sample_means": [score - 1.0, score + 1.0],
        "sample_bytes": 1000,
        "predicted_bytes": 10_000,
        "predicted_percent": percent,
        "predicted_encode_seconds": 1.0,
        "uncertainty": size_se.map(|p| serde_json::json!({"vmaf": 0.5, "percent": p})),
    }))
    .expect("a probe")
}

#[test]
fn the_outcome_is_the_cheapest_passing_probe_within_the_size_guard() {
    use super::crf::decide;
    use super::{Outcome, SearchConfig};
    let x264 = crate::codecs::find("libx264").unwrap().knob();
    let axis = Axis::within(x264, None, None);
    let cfg = SearchConfig::new("libx264", 95.0); // size guard 80%
    let found = |o: &Outcome| match o {
        Outcome::Found { chosen } => Some(("found", chosen.knob)),
        Outcome::Uncertain { chosen, .. } => Some(("uncertain", chosen.knob)),
        Outcome::NotFound { best, .. } => best.as_ref().map(|b| ("not found", b.knob)),
    };
    // (probes) -> (result, knob of the chosen or best probe)
    let table = [
        // One passes, one fails: the passing one.
        (
            vec![probe(23.0, 95.4, 40.0, None), probe(26.0, 93.0, 30.0, None)],
            ("found", 23.0),
        ),
        // Two pass: the cheaper (the higher CRF: lower is better for x264).
        (
            vec![probe(23.0, 96.5, 40.0, None), probe(24.0, 95.2, 35.0, None)],
            ("found", 24.0),
        ),
        // Passes at 90% of the source, the samples disagree by 8 points: a full encode decides.
        (
            vec![probe(20.0, 95.5, 90.0, Some(8.0))],
            ("uncertain", 20.0),
        ),
        // Passes at 90%, the samples agree: refused, the probe kept as the best attempt.
        (
            vec![probe(20.0, 95.5, 90.0, Some(1.0))],
            ("not found", 20.0),
        ),
        (vec![probe(20.0, 95.5, 90.0, None)], ("not found", 20.0)),
        // Nothing passes: the best score is the best attempt.
        (
            vec![probe(30.0, 90.0, 10.0, None), probe(18.0, 94.0, 60.0, None)],
            ("not found", 18.0),
        ),
        // Short of the target and already over the guard: refused (cheaply, see below).
        (
            vec![probe(30.0, 92.0, 104.0, Some(3.0))],
            ("not found", 30.0),
        ),
    ];
    for (probes, want) in table {
        let got = decide(&probes, &cfg, x264.name, axis);
        assert_eq!(found(&got), Some(want), "{got:?}");
    }
    let Outcome::NotFound { reason, .. } =
        decide(&[probe(30.0, 90.0, 10.0, None)], &cfg, "crf", axis)
    else {
        panic!("nothing passed")
    };
    assert_eq!(reason, "no crf in 0..=51 reached VMAF 95");
    let Outcome::NotFound { reason, .. } =
        decide(&[probe(20.0, 95.5, 90.0, None)], &cfg, "crf", axis)
    else {
        panic!("over the guard")
    };
    assert!(
        reason.contains("predicted at 90.0% of the source, above the 80% limit"),
        "{reason}"
    );
    assert_eq!(found(&decide(&[], &cfg, "crf", axis)), None);
    let Outcome::NotFound { reason, .. } =
        decide(&[probe(30.0, 92.0, 104.0, Some(3.0))], &cfg, "crf", axis)
    else {
        panic!("beyond the guard")
    };
    assert!(
        reason.contains(
            "VMAF 92.00 at crf 30 already needs 104.0% of the source, above the 80% limit"
        ) && reason.contains("no full encode (1 probes)"),
        "{reason}"
    );
}

#[test]
fn a_probe_short_of_the_target_and_surely_over_the_guard_ends_the_search() {
    use super::crf::beyond_guard;
    use super::SearchConfig;
    let cfg = SearchConfig::new("libx264", 95.0); // size guard 80%
    let mut unguarded = cfg.clone();
    unguarded.max_encoded_percent = f64::INFINITY;
    // (probe, config) -> hopeless
    let table = [
        (probe(30.0, 92.0, 104.0, None), &cfg, true),
        // The samples' doubt reaches below the guard: a later probe may still decide.
        (probe(30.0, 92.0, 104.0, Some(15.0)), &cfg, false),
        (probe(30.0, 92.0, 90.0, Some(4.0)), &cfg, true),
        // Under the guard: more probes can find a knob that fits.
        (probe(30.0, 92.0, 60.0, None), &cfg, false),
        // It met the target: the outcome, not the search, applies the guard.
        (probe(30.0, 95.5, 104.0, None), &cfg, false),
        // No guard, no refusal.
        (probe(30.0, 92.0, 104.0, None), &unguarded, false),
    ];
    for (p, cfg, want) in table {
        assert_eq!(beyond_guard(&p, cfg), want, "{p:?}");
    }
}

#[test]
fn steering_walks_a_grid_in_order_and_holds_a_learned_guess_near_its_prediction() {
    use super::crf::Steering;
    let x264 = crate::codecs::find("libx264").unwrap().knob();
    let axis = Axis::within(x264, None, None);
    // A grid: its values in order, whatever was measured.
    let mut grid = Steering::Grid([20.0, 30.0, 40.0].into_iter().collect());
    assert_eq!(grid.first(23.0), Some(20.0));
    assert_eq!(grid.after(95.0, 1.0, &pts(&[(20.0, 99.0)])), Some(30.0));
    assert_eq!(
        grid.after(95.0, 1.0, &pts(&[(20.0, 99.0), (30.0, 90.0)])),
        Some(40.0)
    );
    assert_eq!(grid.after(95.0, 1.0, &[]), None);
    // No model: start at the fallback, then the plain search step.
    let mut plain = Steering::Search {
        axis,
        learned: None,
    };
    assert_eq!(plain.first(23.1), Some(23.0));
    let after = pts(&[(23.0, 97.0), (26.0, 93.0)]);
    assert_eq!(
        plain.after(95.0, 1.0, &after),
        next_knob(&axis, 95.0, 1.0, &after)
    );
    // A model predicting crf 30 with a spread of 1: it starts there, and a first probe that
    // misses by far moves at most two spreads from the prediction.
    let mut learned = Steering::Search {
        axis,
        learned: Some((axis, 30.0, 1.0)),
    };
    assert_eq!(learned.first(23.0), Some(30.0));
    assert_eq!(learned.after(95.0, 1.0, &pts(&[(30.0, 80.0)])), Some(28.0));
    // The next step is the plain search's again.
    let two = pts(&[(30.0, 80.0), (28.0, 83.0)]);
    assert_eq!(
        learned.after(95.0, 1.0, &two),
        next_knob(&axis, 95.0, 1.0, &two)
    );
}

fn encoded(knob: f64, achieved: f64) -> super::FullEncode {
    super::FullEncode {
        knob,
        achieved: Some(achieved),
        vmaf: None,
        verified_by: Some("same_pass"),
        same_pass_error: None,
        verify_seconds: 0.0,
        bytes: 1000,
        percent: 10.0,
        encode_seconds: 1.0,
        source_decode_errors: 0,
        source_decode_error_seconds: Vec::new(),
        kept_from: None,
    }
}

#[test]
fn the_closed_loop_corrects_by_the_samples_slope_then_on_the_files_own_curve() {
    use super::full::correction;
    use super::SearchConfig;
    let axis = Axis::within(crate::codecs::find("libx264").unwrap().knob(), None, None);
    let cfg = SearchConfig::new("libx264", 95.0); // tolerance 1
                                                  // The samples: 95.5 at crf 24 (chosen), 93.5 at 26: two points of VMAF a crf step of 1.
    let probes = [probe(24.0, 95.5, 30.0, None), probe(26.0, 93.5, 25.0, None)];
    let chosen = &probes[0];
    let next = |encodes: &[super::FullEncode]| {
        let last = encodes.last().unwrap();
        correction(
            &axis,
            &cfg,
            &probes,
            chosen,
            encodes,
            last.knob,
            last.achieved.unwrap(),
        )
    };
    // Met within the tolerance: done.
    assert_eq!(next(&[encoded(24.0, 95.5)]), None);
    // 2.5 short of the aim (95.5) at one point a crf: 2.5 crf better.
    assert_eq!(next(&[encoded(24.0, 93.0)]), Some(21.5));
    // Overshot by 4.4: 4.4 crf cheaper, snapped to the quarter step.
    assert_eq!(next(&[encoded(24.0, 99.9)]), Some(28.5));
    // Short by 35.5: a quarter of the range (12.75) at most.
    assert_eq!(next(&[encoded(24.0, 60.0)]), Some(11.25));
    // Two whole-file points: interpolated on the file's own curve, inside the bracket.
    let two = [encoded(24.0, 93.0), encoded(21.5, 96.8)];
    let n = next(&two).expect("a knob inside the bracket");
    assert!(n > 21.5 && n < 24.0, "{n}");
    assert_eq!(
        Some(n),
        next_knob(&axis, 95.0, 1.0, &pts(&[(24.0, 93.0), (21.5, 96.8)]))
    );
    // A knob already encoded is never encoded again.
    let again = [encoded(22.0, 96.8), encoded(23.0, 93.0)];
    let n = next(&again);
    assert!(n.is_none_or(|n| n != 22.0 && n != 23.0), "{n:?}");
}
