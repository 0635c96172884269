use super::*;
use crate::features::SourceFeatures;

fn point(source: &str, bpp: f64, si: f64, knob: f64, vmaf: f64) -> TuningPoint {
    TuningPoint {
        origin: "grid".into(),
        source: source.into(),
        source_fingerprint: source.into(),
        source_codec: "h264".into(),
        features: SourceFeatures {
            si_mean: si,
            bits_per_pixel: bpp,
            height: 1080,
            fps: 24.0,
            ..Default::default()
        },
        encoder: "libx264".into(),
        encoder_version: "x".into(),
        preset: "fast".into(),
        params: String::new(),
        knob_name: "crf".into(),
        knob,
        width: 1920,
        height: 1080,
        full: false,
        samples: 1,
        sample_seconds: 1.0,
        sample_bytes: 1,
        bytes: 1,
        bit_rate: 1.0,
        percent: 1.0,
        encode_seconds: 1.0,
        vmaf_mean: vmaf,
        vmaf_harmonic: vmaf,
        vmaf_p5: vmaf,
        vmaf_p1: vmaf,
        vmaf_min: vmaf,
        metrics: Default::default(),
    }
}

#[test]
fn the_knob_at_the_target_is_read_off_each_curve() {
    // VMAF 98 at 20, 92 at 26: 95 lies halfway, at 23, and a knob step costs 1 VMAF.
    let pts = [
        point("a", 0.1, 50.0, 20.0, 98.0),
        point("a", 0.1, 50.0, 26.0, 92.0),
        point("a", 0.1, 50.0, 32.0, 85.0),
        // Never reaches 95: left out.
        point("b", 0.1, 50.0, 20.0, 90.0),
        point("b", 0.1, 50.0, 26.0, 80.0),
    ];
    let obs = observations(&pts, "libx264", "fast", TargetStat::Mean, 95.0);
    assert_eq!(obs.len(), 1);
    assert!((obs[0].knob - 23.0).abs() < 1e-9 && (obs[0].slope - 1.0).abs() < 1e-9);
    assert!(observations(&pts, "libx265", "fast", TargetStat::Mean, 95.0).is_empty());
}

#[test]
fn the_slope_near_a_source_comes_from_its_neighbours() {
    // Calm sources (low bits per pixel) lose 1 VMAF a knob unit near the target, busy ones
    // 3: a new source's slope is its neighbours'.
    let mut pts = Vec::new();
    for i in 0..8 {
        let busy = i >= 4;
        let bpp = if busy {
            1.0 + 0.05 * f64::from(i)
        } else {
            0.1 + 0.01 * f64::from(i)
        };
        let slope = if busy { 3.0 } else { 1.0 };
        let s = format!("s{i}");
        pts.push(point(&s, bpp, 50.0, 20.0, 95.0 + 2.0 * slope));
        pts.push(point(&s, bpp, 50.0, 24.0, 95.0 - 2.0 * slope));
    }
    let m = KnobModel::fit(&pts, "libx264", "fast", TargetStat::Mean, 95.0).unwrap();
    let at = |bpp: f64| {
        m.slope(&SourceFeatures {
            bits_per_pixel: bpp,
            si_mean: 50.0,
            height: 1080,
            ..Default::default()
        })
    };
    assert!((at(0.12) - 1.0).abs() < 1e-6, "{}", at(0.12));
    assert!((at(1.2) - 3.0).abs() < 1e-6, "{}", at(1.2));
}

#[test]
fn a_carry_is_fitted_as_a_line_with_three_pairs_and_an_offset_with_fewer() {
    // (pairs, offset, scale)
    type Case<'a> = (&'a [(f64, f64)], f64, f64);
    let cases: [Case<'_>; 4] = [
        (&[(30.0, 26.0)], -4.0, 1.0),
        (&[(30.0, 26.0), (40.0, 34.0)], -5.0, 1.0),
        (&[(20.0, 22.0), (30.0, 31.0), (40.0, 40.0)], 4.0, 0.9),
        // A scale beyond 0.5..2 is held at the bound.
        (&[(20.0, 0.0), (21.0, 10.0), (22.0, 20.0)], -32.0, 2.0),
    ];
    for (pairs, offset, scale) in cases {
        let (o, k, _) = fit_carry(pairs).unwrap();
        assert!((k - scale).abs() < 1e-9, "{pairs:?}: scale {k}");
        assert!((o - offset).abs() < 1e-9, "{pairs:?}: offset {o}");
    }
    assert!(fit_carry(&[]).is_none());
}

#[test]
fn a_preset_with_few_sources_borrows_another_presets_through_their_shared_ones() {
    // "medium" is measured on 8 sources (knob at 95 = 30 + 2 ln bpp); "veryfast" on 3 of
    // them, where it needs 4 + 0.9 x medium's knob.
    let medium = |bpp: f64| 30.0 + 2.0 * f64::ln(bpp);
    let fast = |bpp: f64| 4.0 + 0.9 * medium(bpp);
    let mut pts = Vec::new();
    for i in 0..8 {
        let bpp = 0.05 * f64::from(i + 1);
        let s = format!("s{i}");
        let k = medium(bpp);
        pts.push(point(&s, bpp, 50.0, k - 2.0, 97.0));
        pts.push(point(&s, bpp, 50.0, k + 2.0, 93.0));
        if i % 3 == 0 {
            let k = fast(bpp);
            // A knob step costs 1/0.9 as much VMAF here.
            for (knob, vmaf) in [(k - 1.8, 97.0), (k + 1.8, 93.0)] {
                let mut p = point(&s, bpp, 50.0, knob, vmaf);
                p.preset = "veryfast".into();
                pts.push(p);
            }
        }
    }
    let (own, none) = observations_for(&pts, "libx264", "fast", TargetStat::Mean, 95.0);
    assert_eq!(
        (own.len(), none),
        (8, None),
        "enough of its own: nothing carried"
    );
    let (obs, carry) = observations_for(&pts, "libx264", "veryfast", TargetStat::Mean, 95.0);
    let carry = carry.unwrap();
    assert_eq!(carry.from_preset, "fast");
    assert_eq!((carry.pairs, carry.carried_sources, obs.len()), (3, 5, 8));
    assert!((carry.scale - 0.9).abs() < 1e-6 && (carry.offset - 4.0).abs() < 1e-6);
    // (Fitted without the shipped corpus, which measures x264 presets of its own.)
    let m = KnobModel::fit(&pts, "libx264", "veryfast", TargetStat::Mean, 95.0).unwrap();
    assert!(m.sources >= MIN_SOURCES, "8 sources with the carried ones");
    assert_eq!(m.carried.as_ref().unwrap().from_preset, "fast");
    let f = SourceFeatures {
        bits_per_pixel: 0.33,
        si_mean: 50.0,
        height: 1080,
        ..Default::default()
    };
    let (k, _) = m.predict(&f);
    assert!((k - fast(0.33)).abs() < 0.3, "{k} vs {}", fast(0.33));
    // A knob step of the fast preset costs 1/0.9 of the other's VMAF per unit.
    assert!((m.slope(&f) - 1.0 / 0.9).abs() < 1e-6, "{}", m.slope(&f));
    // Without a source measured at both presets, nothing is carried.
    let apart: Vec<TuningPoint> = pts
        .iter()
        .filter(|p| p.preset == "fast" || p.source_fingerprint != "s0")
        .cloned()
        .map(|mut p| {
            if p.preset == "veryfast" {
                p.source_fingerprint = format!("{}-elsewhere", p.source_fingerprint);
            }
            p
        })
        .collect();
    let (obs, carry) = observations_for(&apart, "libx264", "veryfast", TargetStat::Mean, 95.0);
    assert_eq!((obs.len(), carry), (2, None));
    let m = KnobModel::fit(&apart, "libx264", "veryfast", TargetStat::Mean, 95.0).unwrap();
    assert_eq!((m.sources, m.carried), (2, None), "too few to search with");
}

#[test]
fn a_carry_between_measured_presets_is_interpolated_by_their_order() {
    // (position, offset, scale, residual, name): medium lends (identity), veryfast -6.
    let known = [
        (5.0, 0.0, 1.0, 0.0, "medium"),
        (2.0, -6.0, 1.0, 1.0, "veryfast"),
    ];
    // (at, offset, below, above)
    for (at, offset, below, above) in [
        (5.0, 0.0, "medium", "medium"),
        (2.0, -6.0, "veryfast", "veryfast"),
        (3.0, -4.0, "veryfast", "medium"),
        (4.0, -2.0, "veryfast", "medium"),
        // Beyond the ends: the nearest measured preset's carry.
        (8.0, 0.0, "medium", "medium"),
        (0.0, -6.0, "veryfast", "veryfast"),
    ] {
        let (o, k, _, b, a) = interpolate_carry(&known, at);
        assert!((o - offset).abs() < 1e-9, "{at}: {o}");
        assert!((k - 1.0).abs() < 1e-9);
        assert_eq!((b, a), (below, above), "{at}");
    }
    // Between two presets that disagree by 6, the carry is less sure by 3; beyond the
    // last one by half the offsets' spread; at a measured one not at all.
    assert!((interpolate_carry(&known, 3.0).2 - 4.0).abs() < 1e-9);
    assert!((interpolate_carry(&known, 8.0).2 - 3.0).abs() < 1e-9);
    assert!((interpolate_carry(&known, 0.0).2 - 4.0).abs() < 1e-9);
    assert!((interpolate_carry(&known, 2.0).2 - 1.0).abs() < 1e-9);
    assert_eq!(preset_position("libx264", "medium"), Some(4.0));
    assert_eq!(preset_position("libx264", "veryfast"), Some(7.0));
    assert_eq!(preset_position("libsvtav1", "10"), Some(10.0));
    assert_eq!(preset_position("libx264", "nonsense"), None);
}

#[test]
fn a_preset_measured_on_no_clip_borrows_through_the_presets_around_it() {
    // medium (position 4 of x264's presets) on 8 sources; veryfast (7) on 3 of them, at
    // medium's knob - 6.
    let mut pts = Vec::new();
    for i in 0..8 {
        let bpp = 0.05 * f64::from(i + 1);
        let s = format!("s{i}");
        let k = 30.0 + 2.0 * f64::ln(bpp);
        for (preset, shift, on) in [("medium", 0.0, true), ("veryfast", -6.0, i % 3 == 0)] {
            if !on {
                continue;
            }
            for (knob, vmaf) in [(k + shift - 2.0, 97.0), (k + shift + 2.0, 93.0)] {
                let mut p = point(&s, bpp, 50.0, knob, vmaf);
                p.encoder = "libx264".into();
                p.preset = preset.into();
                pts.push(p);
            }
        }
    }
    // faster (6) lies two thirds of the way from medium to veryfast: -4.
    let m = KnobModel::fit(&pts, "libx264", "faster", TargetStat::Mean, 95.0)
        .expect("borrowed from medium");
    assert_eq!(m.sources, 8);
    let c = m.carried.clone().unwrap();
    assert_eq!(c.from_preset, "medium");
    assert_eq!(
        c.between,
        Some(("medium".to_string(), "veryfast".to_string()))
    );
    assert!((c.offset + 4.0).abs() < 1e-6, "{}", c.offset);
    let f = SourceFeatures {
        bits_per_pixel: 0.2,
        si_mean: 50.0,
        height: 1080,
        ..Default::default()
    };
    let (k, _) = m.predict(&f);
    let want = 30.0 + 2.0 * f64::ln(0.2) - 4.0;
    assert!((k - want).abs() < 0.3, "{k} vs {want}");
    // An encoder that knows no such preset gets no model; nor does one whose only
    // measured preset cannot tell how presets move the knob.
    assert!(KnobModel::fit(&pts, "libx264", "turbo", TargetStat::Mean, 95.0).is_none());
    let medium_only: Vec<TuningPoint> = pts
        .iter()
        .filter(|p| p.preset == "medium")
        .cloned()
        .collect();
    assert!(KnobModel::fit(&medium_only, "libx264", "faster", TargetStat::Mean, 95.0).is_none());
}

#[test]
fn a_linear_law_is_recovered_and_predicts_unseen_sources() {
    // knob at 95 = 30 + 2 ln(bpp) - 4 si/100: each source's curve crosses 95 there.
    let law = |bpp: f64, si: f64| 30.0 + 2.0 * bpp.ln() - 4.0 * si / 100.0;
    let mut pts = Vec::new();
    let mut n = 0;
    for &bpp in &[0.05, 0.1, 0.2, 0.4] {
        for &si in &[20.0, 60.0, 100.0] {
            n += 1;
            let k = law(bpp, si);
            let s = format!("s{n}");
            pts.push(point(&s, bpp, si, k - 3.0, 98.0));
            pts.push(point(&s, bpp, si, k + 3.0, 92.0));
        }
    }
    let m = KnobModel::fit(&pts, "libx264", "fast", TargetStat::Mean, 95.0).unwrap();
    assert_eq!(m.sources, 12);
    let f = SourceFeatures {
        bits_per_pixel: 0.3,
        si_mean: 40.0,
        height: 1080,
        ..Default::default()
    };
    let (k, sd) = m.predict(&f);
    assert!(
        (k - law(0.3, 40.0)).abs() < 0.2,
        "{k} vs {}",
        law(0.3, 40.0)
    );
    assert!(sd < 0.3, "{sd}");
    let acc = leave_one_out(
        &observations(&pts, "libx264", "fast", TargetStat::Mean, 95.0),
        ModelKind::Linear,
    )
    .unwrap();
    assert_eq!(
        m.kind,
        ModelKind::Linear,
        "a linear law is best fitted linearly"
    );
    assert!(acc.mean_abs_knob_error < 0.3, "{acc:?}");
    assert_eq!(acc.within_1_vmaf, 1.0);
    // A curved law (the knob falls steeply past a bits-per-pixel threshold, as the
    // generated corpus of `scripts/bench-guess.sh` does): the neighbours fit wins.
    let curved = |bpp: f64| 20.0 + 8.0 / (1.0 + ((bpp - 0.9) * 10.0).exp());
    let mut pts = Vec::new();
    for i in 0..16 {
        let bpp = 0.3 + 0.08 * f64::from(i);
        let k = curved(bpp);
        let s = format!("c{i}");
        pts.push(point(&s, bpp, 50.0, k - 2.0, 98.0));
        pts.push(point(&s, bpp, 50.0, k + 2.0, 92.0));
    }
    let m = KnobModel::fit(&pts, "libx264", "fast", TargetStat::Mean, 95.0).unwrap();
    assert_eq!(m.kind, ModelKind::Neighbours);
    let obs = observations(&pts, "libx264", "fast", TargetStat::Mean, 95.0);
    let (l, n) = (
        leave_one_out(&obs, ModelKind::Linear).unwrap(),
        leave_one_out(&obs, ModelKind::Neighbours).unwrap(),
    );
    assert!(n.rms_knob_error < l.rms_knob_error, "{n:?} {l:?}");
    assert_eq!(m.residual_sd, n.rms_knob_error);
    // Too few sources for five terms: the mean knob.
    let few = &pts[..4];
    let m = KnobModel::fit(few, "libx264", "fast", TargetStat::Mean, 95.0).unwrap();
    let mean = (curved(0.3) + curved(0.38)) / 2.0;
    assert!((m.predict(&f).0 - mean).abs() < 1e-9);
}

/// The shipped corpus parses, covers the default presets of SVT-AV1 and x264 with public
/// clips whose curves cross the usual targets, and the model chosen on it predicts left-out
/// clips best of the three kinds.
#[test]
fn the_shipped_corpus_fits_a_usable_model_for_the_default_encoders() {
    let shipped = shipped_points();
    assert!(shipped.len() > 100, "{}", shipped.len());
    assert!(shipped.iter().all(|p| p.origin == SHIPPED_ORIGIN
        && p.features.si_mean > 0.0
        && p.features.bits_per_pixel > 0.0
        && p.source.to_string_lossy().contains(':')));
    for (encoder, preset, knobs) in [
        ("libsvtav1", "8", 4.0..=56.0),
        ("libx264", "medium", 12.0..=36.0),
    ] {
        for target in [90.0, 93.0, 95.0] {
            let m = KnobModel::fit(
                &with_shipped(Vec::new()),
                encoder,
                preset,
                TargetStat::Mean,
                target,
            )
            .unwrap_or_else(|| panic!("{encoder} {preset} {target}"));
            assert!(
                m.sources >= MIN_SOURCES,
                "{encoder} {target}: {}",
                m.sources
            );
            assert_eq!(m.shipped_sources, m.sources);
            let obs = observations(
                &with_shipped(Vec::new()),
                encoder,
                preset,
                TargetStat::Mean,
                target,
            );
            assert!(obs.iter().all(|o| o.shipped && knobs.contains(&o.knob)));
            // The kind chosen predicts left-out clips best of the three (so never worse
            // than the other clips' mean knob), and its guesses stay among the clips' knobs.
            let chosen = leave_one_out(&obs, m.kind).unwrap();
            for kind in [ModelKind::Linear, ModelKind::Neighbours, ModelKind::Mean] {
                let other = leave_one_out(&obs, kind).unwrap();
                assert!(
                    chosen.rms_knob_error <= other.rms_knob_error,
                    "{chosen:?} {other:?}"
                );
            }
            let mean = obs.iter().map(|o| o.knob).sum::<f64>() / obs.len() as f64;
            let by_mean = leave_one_out(&obs, ModelKind::Mean).unwrap();
            let n = obs.len() as f64;
            let by_hand = obs
                .iter()
                .map(|o| (o.knob - (mean * n - o.knob) / (n - 1.0)).abs())
                .sum::<f64>()
                / n;
            assert!((by_mean.mean_abs_knob_error - by_hand).abs() < 1e-9);
            assert_eq!(m.residual_sd, chosen.rms_knob_error);
        }
    }
    // A preset the corpus never measured borrows through the presets around it; an
    // encoder it never measured has no model.
    let shipped = with_shipped(Vec::new());
    let m = KnobModel::fit(&shipped, "libx264", "superfast", TargetStat::Mean, 95.0)
        .expect("superfast from the measured x264 presets");
    let c = m.carried.unwrap();
    assert!(c.between.is_some(), "{c:?}");
    assert!(m.sources >= MIN_SOURCES);
    assert!(KnobModel::fit(&shipped, "rav1e", "6", TargetStat::Mean, 95.0).is_none());
}

/// Far outside the corpus (a 4K source, ten times the bits per pixel of any clip) the
/// prediction stays within the knobs the clips measured.
#[test]
fn predictions_stay_within_the_measured_knobs() {
    let m = KnobModel::fit(
        &with_shipped(Vec::new()),
        "libsvtav1",
        "8",
        TargetStat::Mean,
        95.0,
    )
    .unwrap();
    let obs = observations(
        &with_shipped(Vec::new()),
        "libsvtav1",
        "8",
        TargetStat::Mean,
        95.0,
    );
    let lo = obs.iter().map(|o| o.knob).fold(f64::INFINITY, f64::min);
    let hi = obs.iter().map(|o| o.knob).fold(f64::NEG_INFINITY, f64::max);
    for (height, bpp, si) in [(2160, 30.0, 300.0), (2160, 1e-4, 0.0), (90, 1e-4, 300.0)] {
        let f = SourceFeatures {
            height,
            bits_per_pixel: bpp,
            si_mean: si,
            ti_mean: si / 5.0,
            ..Default::default()
        };
        let k = m.predict(&f).0;
        assert!((lo..=hi).contains(&k), "{k} outside {lo}..{hi}");
    }
}

/// A library's own points of a clip replace the shipped ones of the same clip.
#[test]
fn the_stores_own_points_win_over_the_shipped_ones() {
    let shipped = shipped_points();
    let clip = shipped[0].source_fingerprint.clone();
    let shipped_rows = shipped
        .iter()
        .filter(|p| p.source_fingerprint == clip)
        .count();
    assert!(shipped_rows > 1);
    let mut own = point(&clip, 0.1, 50.0, 30.0, 90.0);
    own.encoder = shipped[0].encoder.clone();
    let all = with_shipped(vec![own.clone()]);
    assert_eq!(all.len(), shipped.len() - shipped_rows + 1);
    let of_clip: Vec<_> = all
        .iter()
        .filter(|p| p.source_fingerprint == clip)
        .collect();
    assert_eq!(of_clip, vec![&own]);
}
