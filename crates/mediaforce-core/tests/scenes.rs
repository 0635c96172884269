//! Scene detection on a generated film of distinct shots, with flashes.

use mediaforce_core::scenes::{detect_scenes, SceneOptions, SceneStart};
use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use mediaforce_core::NoProgress;

#[test]
fn a_film_of_distinct_shots_splits_where_they_change_and_not_at_the_flashes() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("film.mkv");
    let mut v = SyntheticVideo::new(192, 108, 264);
    v.looks = vec![(0, 0), (60, 1), (130, 2), (190, 3), (230, 4)];
    v.scenes = vec![(0, 8), (60, 30), (130, 0), (190, 50), (230, 16)];
    v.flashes = vec![100, 160, 161];
    SyntheticClip::new(v).write(&src).unwrap();
    let r = detect_scenes(&src, &SceneOptions::default(), &mut NoProgress).unwrap();
    let starts: Vec<(u64, SceneStart)> =
        r.scenes.iter().map(|s| (s.start_frame, s.start)).collect();
    assert_eq!(
        starts,
        [
            (0, SceneStart::Start),
            (60, SceneStart::Cut),
            (130, SceneStart::Cut),
            (190, SceneStart::Cut),
            (230, SceneStart::Cut)
        ],
        "{r:#?}"
    );
    assert_eq!(r.flashes, [100, 160], "{r:#?}");
    assert_eq!(r.frames, 264);
    assert_eq!(r.scenes.last().unwrap().end_frame, 264);
    assert!(
        (r.scenes[1].start_seconds - 2.5).abs() < 0.002,
        "{:?}",
        r.scenes[1]
    );
    assert!((r.scenes.last().unwrap().end_seconds - 11.0).abs() < 0.002);

    // A 2 s maximum splits the long shots evenly, marked as forced.
    let short = SceneOptions {
        max_seconds: Some(2.0),
        ..Default::default()
    };
    let r = detect_scenes(&src, &short, &mut NoProgress).unwrap();
    assert!(
        r.scenes
            .iter()
            .all(|s| s.end_seconds - s.start_seconds <= 2.0 + 1e-6),
        "{r:#?}"
    );
    let forced = r
        .scenes
        .iter()
        .filter(|s| s.start == SceneStart::Forced)
        .count();
    assert!(forced >= 3, "{r:#?}");
}
