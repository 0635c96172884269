use super::*;

fn load(data: &Path, env: &[(&str, &str)]) -> Result<PolicySet, PolicyError> {
    PolicySet::load(
        None,
        data,
        env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
    )
}

#[test]
fn a_folder_override_is_validated_saved_replaced_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    let file = data.join(FOLDER_OVERRIDES);
    let shows = Path::new("/lib/Shows");
    std::fs::write(
        &file,
        "# my own rule\n[[folder]]\nmatch = \"/lib/Films\"\n[folder.encode]\ntarget_vmaf = 97.0\n",
    )
    .unwrap();
    // Refused, naming the problem, and nothing written.
    for (bad, says) in [
        ("[encode]\ntarget_vmaf = \"high\"", "target_vmaf"),
        ("[encode]\ntarget_stat = \"median\"", "target_stat"),
        ("[encode]\nno_such_key = 1", "no_such_key"),
        ("[library]\nignore = []", "only the sections"),
        ("[encode\n", "override for /lib/Shows"),
    ] {
        let e = save_folder_override(data, shows, bad, "test").unwrap_err();
        assert!(e.to_string().contains(says), "{bad:?}: {e}");
        assert!(!e.to_string().contains('\n'), "one line: {e}");
    }
    assert!(std::fs::read_to_string(&file)
        .unwrap()
        .starts_with("# my own rule"));
    assert_eq!(folder_override(data, shows).unwrap(), None);

    let saved =
        "[encode]\ntarget_vmaf = 96.5\n[audio]\nmode = \"opus\"\n[knob.libx264]\nsd = 19.0\n";
    assert!(save_folder_override(data, shows, saved, "saved from the web page").unwrap());
    let r = load(data, &[]).unwrap().resolve(&shows.join("S01/e1.mkv"));
    assert_eq!(r.policy.encode.target_vmaf, 96.5);
    assert_eq!(r.policy.audio.mode, AudioMode::Opus);
    assert_eq!(r.policy.start_knob("libx264", 480), Some(19.0));
    assert!(r.sources["encode.target_vmaf"].contains("match \"/lib/Shows\""));
    assert!(r.sources["knob.libx264.sd"].contains("match \"/lib/Shows\""));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.starts_with("# my own rule"), "{text}");
    assert!(text.contains("# saved from the web page"), "{text}");
    let back = folder_override(data, shows).unwrap().unwrap();
    assert!(back.contains("target_vmaf = 96.5"), "{back}");

    // Saving again replaces the rule; the other folder keeps its own.
    save_folder_override(data, shows, "[encode]\ntarget_vmaf = 94.0", "again").unwrap();
    let set = load(data, &[]).unwrap();
    assert_eq!(
        set.resolve(&shows.join("e.mkv")).policy.encode.target_vmaf,
        94.0
    );
    assert_eq!(
        set.resolve(&shows.join("e.mkv")).policy.audio.mode,
        set.global().audio.mode
    );
    assert_eq!(
        set.resolve(Path::new("/lib/Films/f.mkv"))
            .policy
            .encode
            .target_vmaf,
        97.0
    );
    assert_eq!(
        std::fs::read_to_string(&file)
            .unwrap()
            .matches("/lib/Shows")
            .count(),
        1
    );

    // No settings: the rule goes.
    assert!(!save_folder_override(data, shows, "# nothing\n", "cleared").unwrap());
    assert_eq!(folder_override(data, shows).unwrap(), None);
    let set = load(data, &[]).unwrap();
    assert_eq!(
        set.resolve(&shows.join("e.mkv")).policy.encode.target_vmaf,
        set.global().encode.target_vmaf
    );
}

#[test]
fn shipped_defaults_set_every_key() {
    // Every field of the typed policy must come from defaults.toml, not from Rust defaults.
    let set = load(Path::new("/nonexistent"), &[]).unwrap();
    let mut from_file = Vec::new();
    leaves(&set.base, "", &mut from_file);
    let typed = toml::Table::try_from(Policy::default()).unwrap();
    let mut schema = Vec::new();
    leaves(&typed, "", &mut schema);
    for (k, _) in schema {
        assert!(
            from_file.iter().any(|(f, _)| *f == k),
            "{k} missing from defaults.toml"
        );
    }
    let g = set.global();
    assert_eq!(g.encode.target_vmaf, 95.0);
    assert_eq!(g.encode.min_savings_percent, 5.0);
    assert!(g.library.ignore.contains(&"downloads".to_string()));
    assert_eq!(g.opus_bitrates()[&2], 96_000);
}

#[test]
fn layers_apply_in_order_with_sources() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[encode]\ntarget_vmaf = 94\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("folder-overrides.toml"),
        "[[folder]]\nmatch = \"/lib/TV/**\"\n[folder.encode]\npreset = \"6\"\n[folder.audio]\nmode = \"opus\"\n",
    )
    .unwrap();
    let set = load(dir.path(), &[("MEDIAFORCE_POLICY_ENCODE_TOLERANCE", "0.5")]).unwrap();
    let r = set.resolve(Path::new("/lib/tv/Show/S01E01.mkv"));
    assert_eq!(r.policy.encode.target_vmaf, 94.0);
    assert_eq!(r.policy.encode.preset, "6");
    assert_eq!(r.policy.audio.mode, AudioMode::Opus);
    assert_eq!(r.policy.encode.tolerance, 0.5);
    assert_eq!(r.policy.encode.encoder, "libsvtav1");
    assert!(r.sources["encode.target_vmaf"].ends_with("policy.toml"));
    assert!(r.sources["encode.preset"].contains("[[folder]] #1"));
    assert_eq!(
        r.sources["encode.tolerance"],
        "environment MEDIAFORCE_POLICY_ENCODE_TOLERANCE"
    );
    assert_eq!(r.sources["encode.encoder"], "defaults.toml");
    // The shipped anime rule matches a folder name at any depth, ignoring case.
    let a = set.resolve(Path::new("/lib/ANIME/x/ep1.mkv"));
    assert_eq!(a.policy.encode.target_vmaf, 96.0);
    assert_eq!(a.policy.encode.gates, vec!["p5>=92".to_string()]);
    let other = set.resolve(Path::new("/lib/Films/x.mkv"));
    assert_eq!(other.policy.encode.preset, "8");
}

#[test]
fn bad_files_name_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("policy.toml");
    std::fs::write(&p, "[encode]\ntarget_vmaf = 94\ntarget_vmfa = 93\n").unwrap();
    let e = load(dir.path(), &[]).unwrap_err().to_string();
    assert!(
        e.contains("policy.toml") && e.contains("line 3") && e.contains("target_vmfa"),
        "{e}"
    );
    assert!(!e.contains('\n'), "{e}");
    std::fs::write(&p, "[encode]\ntarget_vmaf = \"high\"\n").unwrap();
    let e = load(dir.path(), &[]).unwrap_err().to_string();
    assert!(e.contains("line 2"), "{e}");
    std::fs::write(&p, "[audio]\nmode = \"mp3\"\n").unwrap();
    let e = load(dir.path(), &[]).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("audio.mode"), "{e}");
    std::fs::write(&p, "[encode\n").unwrap();
    let e = load(dir.path(), &[]).unwrap_err().to_string();
    assert!(e.contains("line 1"), "{e}");
    std::fs::remove_file(&p).unwrap();
    std::fs::write(
        dir.path().join("folder-overrides.toml"),
        "[[folder]]\nmatch = \"x\"\n[folder.encode]\nbogus = 1\n",
    )
    .unwrap();
    let e = load(dir.path(), &[]).unwrap_err().to_string();
    assert!(
        e.contains("folder-overrides.toml") && e.contains("bogus"),
        "{e}"
    );
    std::fs::remove_file(dir.path().join("folder-overrides.toml")).unwrap();
    let e = load(dir.path(), &[("MEDIAFORCE_POLICY_ENCODE_NOPE", "1")]).unwrap_err();
    assert!(e.to_string().contains("MEDIAFORCE_POLICY_ENCODE_NOPE"));
    let e = load(
        dir.path(),
        &[("MEDIAFORCE_POLICY_ENCODE_TARGET_VMAF", "high")],
    )
    .unwrap_err();
    assert!(e.to_string().contains("expected a float"), "{e}");
    // Modes are typed once, when loaded: a good value is its variant, a bad one an error
    // naming where it came from.
    let set = load(dir.path(), &[("MEDIAFORCE_POLICY_HDR_HLG", "skip")]).unwrap();
    let p = set.resolve(Path::new("/x/y.mkv")).policy;
    assert_eq!(p.hdr.hlg, HdrAction::Skip);
    assert_eq!(p.hdr.hdr10, HdrAction::Encode);
    let e = load(dir.path(), &[("MEDIAFORCE_POLICY_HDR_HLG", "maybe")]).unwrap_err();
    assert!(
        e.to_string().contains("MEDIAFORCE_POLICY_HDR_HLG")
            && e.to_string().contains("encode, skip"),
        "{e}"
    );
}

#[test]
fn matcher_kinds() {
    let names = PathMatcher::new("Home Videos").unwrap();
    assert!(names.matches(Path::new("/m/home videos/2019/a.mp4")));
    assert!(!names.matches(Path::new("/m/home/videos/a.mp4")));
    let prefix = PathMatcher::new("/m/TV").unwrap();
    assert!(prefix.matches(Path::new("/m/tv/a.mkv")));
    assert!(!prefix.matches(Path::new("/m/tvshows/a.mkv")));
    let glob = PathMatcher::new("/m/*/extras/**").unwrap();
    assert!(glob.matches(Path::new("/m/Film/Extras/b.mkv")));
    assert!(!glob.matches(Path::new("/m/a/b/extras/c.mkv")));
}

#[test]
fn a_search_is_built_from_its_base_then_what_the_command_asked() {
    let dir = tempfile::tempdir().unwrap();
    let set = load(dir.path(), &[]).unwrap();
    let policy = set.resolve(Path::new("/lib/Films/a.mkv")).policy;
    let plain = SearchOverrides::default();
    let x264 = SearchOverrides {
        encoder: Some("libx264".into()),
        ..Default::default()
    };
    let asked = SearchOverrides {
        preset: Some("4".into()),
        target: Some(97.0),
        tolerance: Some(0.5),
        gates: Some(vec![(crate::search::TargetStat::P5, 90.0)]),
        samples: Some(3),
        start_knob: Some(40.0),
        max_encoded_percent: Some(f64::INFINITY),
        verify_every: Some(0),
        knobs: vec![20.0, 30.0],
        ..Default::default()
    };
    // (base, height, overrides) -> (encoder, preset, target, tolerance, start knob, samples,
    // size guard, gates, verify every, knobs)
    type Want<'a> = (
        &'a str,
        Option<&'a str>,
        f64,
        f64,
        Option<f64>,
        Option<usize>,
        f64,
        usize,
        u32,
        usize,
    );
    let table: [(SearchBase<'_>, u32, &SearchOverrides, Want<'_>); 5] = [
        (
            SearchBase::Policy(&policy),
            1080,
            &plain,
            (
                "libsvtav1",
                Some("8"),
                95.0,
                1.0,
                policy.start_knob("libsvtav1", 1080),
                None,
                80.0,
                0,
                1,
                0,
            ),
        ),
        // Another encoder: not the policy's preset, but the policy's first guess for it.
        (
            SearchBase::Policy(&policy),
            480,
            &x264,
            (
                "libx264",
                None,
                95.0,
                1.0,
                policy.start_knob("libx264", 480),
                None,
                80.0,
                0,
                1,
                0,
            ),
        ),
        (
            SearchBase::Policy(&policy),
            1080,
            &asked,
            (
                "libsvtav1",
                Some("4"),
                97.0,
                0.5,
                Some(40.0),
                Some(3),
                f64::INFINITY,
                1,
                1,
                2,
            ),
        ),
        (
            SearchBase::Plain,
            1080,
            &x264,
            ("libx264", None, 0.0, 1.0, None, None, 80.0, 0, 1, 0),
        ),
        (
            SearchBase::Plain,
            720,
            &asked,
            (
                "",
                Some("4"),
                97.0,
                0.5,
                Some(40.0),
                Some(3),
                f64::INFINITY,
                1,
                1,
                2,
            ),
        ),
    ];
    assert!(policy.start_knob("libx264", 480).is_some());
    for (i, (base, height, o, want)) in table.into_iter().enumerate() {
        let c = search_config(base, height, o);
        let got = (
            c.encoder.as_str(),
            c.preset.as_deref(),
            c.target,
            c.tolerance,
            c.start_knob,
            c.samples,
            c.max_encoded_percent,
            c.gates.len(),
            c.verify_every,
            c.knobs.len(),
        );
        assert_eq!(got, want, "row {i}");
    }
}

#[test]
fn cron_schedules_name_their_next_run_and_bad_ones_are_refused_with_the_line() {
    // 2026-12-05 03:20:00 UTC.
    let t0 = 1_796_440_800;
    let table = [
        ("0 3 * * *", t0 + 23 * 3600 + 40 * 60), // tomorrow 03:00
        ("*/15 * * * *", t0 + 10 * 60),          // 03:30
        ("*/2 * * * * *", t0 + 2),               // every 2 s (seconds field)
        ("0 0 * * 0", t0 + 20 * 3600 + 40 * 60), // Sunday 2026-12-06 00:00
    ];
    for (expr, want) in table {
        assert_eq!(super::next_run(expr, t0), Ok(want), "{expr}");
    }
    assert!(super::next_run("61 * * * *", t0).is_err());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        "[automation]\nschedule = \"nope\"\n",
    )
    .unwrap();
    let e = PolicySet::load(None, dir.path(), Vec::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2: automation.schedule: \"nope\""), "{e}");
    std::fs::write(
        dir.path().join("policy.toml"),
        "[automation]\nschedule_action = \"encode\"\n",
    )
    .unwrap();
    let e = PolicySet::load(None, dir.path(), Vec::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("expected one of rescan, plan, queue"), "{e}");
}
