//! The analyzers on generated files, on both backends: a byte copy of a film in another
//! folder is a duplicate confirmed by duration and decoded frames, the original suggested to
//! keep; a starved encode among a folder's episodes is a quality gap; six alike episodes are a
//! batch worth a calibrate; a file of garbage is unreadable with its cause. Nothing changes.

use mediaforce_app::{App, Paths};
use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use std::path::Path;

fn clip(path: &Path, encoder: &str, options: &[(&str, &str)], texture: u16) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut v = SyntheticVideo::new(320, 180, 24).encoder(encoder, options);
    v.texture = texture;
    SyntheticClip::new(v).write(path).unwrap();
}

#[test]
fn the_analyzers_find_duplicates_gaps_batches_and_unreadable_files_on_both_backends() {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("library");
    let film = library.join("Films/a.mkv");
    clip(&film, "mpeg4", &[], 4);
    let copy = library.join("Extras/old copies/a.mkv");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::copy(&film, &copy).unwrap();
    for i in 0..5 {
        clip(
            &library.join(format!("Show/e{i}.mkv")),
            "libx264",
            &[("qp", "4"), ("preset", "ultrafast")],
            12 + i,
        );
    }
    let starved = library.join("Show/e5.mkv");
    clip(
        &starved,
        "libx264",
        &[("qp", "51"), ("preset", "ultrafast")],
        0,
    );
    let broken = library.join("Films/broken.mkv");
    std::fs::write(&broken, vec![0x5a; 4096]).unwrap();
    let before: Vec<(std::path::PathBuf, Vec<u8>)> = [&film, &copy, &starved, &broken]
        .iter()
        .map(|p| (p.to_path_buf(), std::fs::read(p).unwrap()))
        .collect();

    let admin = std::env::var("MEDIAFORCE_TEST_DATABASE_URL").expect(
        "MEDIAFORCE_TEST_DATABASE_URL must name the test PostgreSQL cluster (scripts/test.sh starts one)",
    );
    let url = mediaforce_store::create_database(
        &admin,
        &format!("mf_app_analyze_{}", std::process::id()),
    )
    .unwrap();
    for (backend, database) in [("sqlite", None), ("postgres", Some(url))] {
        let paths = Paths {
            data_dir: dir.path().join(format!("state-{backend}")),
            config_dir: None,
            database,
        };
        let app = App::open(&paths).unwrap();
        let (root, _) = app.add_root(&library).unwrap();
        app.scan(None, None, &|_| {}).unwrap();
        let v = app.analyze().unwrap();

        assert_eq!(v.duplicates.len(), 1, "{backend}: {:?}", v.duplicates);
        let d = &v.duplicates[0];
        assert!(d.confirmed, "{backend}: {d:?}");
        assert_eq!(d.keep, root.join("Films/a.mkv"), "{backend}");
        assert_eq!(d.reclaimable_bytes, std::fs::metadata(&film).unwrap().len());
        assert!(d.detail.contains("3 frames alike"), "{}", d.detail);

        assert_eq!(
            v.quality_gaps
                .iter()
                .map(|g| g.path.clone())
                .collect::<Vec<_>>(),
            [root.join("Show/e5.mkv")],
            "{backend}: {:?}",
            v.quality_gaps
        );
        assert!(v.quality_gaps[0].ratio < 0.25);

        assert_eq!(v.batches.len(), 1, "{backend}: {:?}", v.batches);
        let b = &v.batches[0];
        assert_eq!(
            (
                b.folder.clone(),
                b.codec.as_str(),
                b.resolution.as_str(),
                b.files
            ),
            (root.join("Show"), "h264", "SD", 6)
        );

        // The scan keeps each file's folder: the analytics' folders follow it.
        let stats = app.stats("all").unwrap();
        let show = stats
            .folders
            .iter()
            .find(|f| f.folder == root.join("Show"))
            .unwrap_or_else(|| panic!("{backend}: {:?}", stats.folders));
        assert_eq!(show.files, 6);
        assert_eq!(show.health.parts.files, 6);
        // Asked again with nothing changed, the same view is served (computed once); a new
        // file changes the store, and the figures follow at once.
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let again = app.stats("all").unwrap();
        assert_eq!(again.generated_at, stats.generated_at, "{backend}");
        let extra = library.join("Show/e6.mkv");
        clip(
            &extra,
            "libx264",
            &[("qp", "4"), ("preset", "ultrafast")],
            20,
        );
        app.scan(None, None, &|_| {}).unwrap();
        let after = app.stats("all").unwrap();
        std::fs::remove_file(&extra).unwrap();
        assert!(after.generated_at > stats.generated_at, "{backend}");
        let show = after
            .folders
            .iter()
            .find(|f| f.folder == root.join("Show"))
            .unwrap();
        assert_eq!((show.files, show.health.parts.files), (7, 7), "{backend}");

        assert_eq!(v.unreadable.len(), 1, "{backend}: {:?}", v.unreadable);
        assert_eq!(v.unreadable[0].0, root.join("Films/broken.mkv"));
        assert!(!v.unreadable[0].1.is_empty());
    }
    // Looking changed nothing.
    for (p, bytes) in before {
        assert_eq!(std::fs::read(&p).unwrap(), bytes, "{}", p.display());
    }
}
