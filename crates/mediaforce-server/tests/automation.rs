//! The service's watch, for real: inotify on a library root, a file copied in slowly (in pieces
//! over longer than the settle time) taken once, only after it stopped changing; a file
//! mediaforce wrote catalogued as its own and never planned; a root whose bind mount is taken
//! away reported as unmounted, with nothing under it marked gone.

use mediaforce_app::{App, Paths};
use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use mediaforce_server::automation::{AutoEvent, Automation};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SETTLE: f64 = 2.0;

fn clip(path: &Path) {
    let v = SyntheticVideo::new(160, 96, 24)
        .encoder("libx264", &[("preset", "ultrafast"), ("qp", "0")]);
    SyntheticClip::new(v).write(path).unwrap();
}

/// Wait (at most 30 s) for an event that `want` accepts.
fn wait_for(a: &Automation, what: &str, want: impl Fn(&AutoEvent) -> bool) -> AutoEvent {
    let start = Instant::now();
    loop {
        if let Some(e) = a.status.events().into_iter().find(|e| want(e)) {
            return e;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no {what} event in 30 s: {:#?}",
            a.status.events()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_slowly_copied_file_is_taken_once_after_it_settles_ours_is_not_planned_and_an_unmounted_root_loses_nothing(
) {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("library");
    let disk = dir.path().join("disk");
    let mnt = dir.path().join("mnt");
    for d in [&library, &disk, &mnt] {
        std::fs::create_dir_all(d).unwrap();
    }
    // A second root on a (bind) mount, with one catalogued file.
    clip(&disk.join("kept.mkv"));
    let mounted = std::process::Command::new("mount")
        .arg("--bind")
        .arg(&disk)
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(mounted.success(), "mount --bind (the test runs as root)");
    let guard = Unmount(mnt.clone());

    let data = dir.path().join("state");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("policy.toml"),
        format!(
            "[ranking]\nmin_size_mb = 0.0\n[automation]\nmode = \"plan\"\nsettle_seconds = {}\nrescan_interval = \"1s\"\n",
            SETTLE as u64
        ),
    )
    .unwrap();
    let paths = Paths {
        data_dir: data,
        config_dir: None,
        database: None,
    };
    let app = App::open(&paths).unwrap();
    app.add_root(&library).unwrap();
    app.add_root(&mnt).unwrap();
    app.set_transcode_root(&dir.path().join("transcode"))
        .unwrap();
    let kept = mnt.join("kept.mkv");
    app.scan(None, None, &|_| {}).unwrap();
    assert!(app.catalog.file_by_path(&kept).unwrap().is_some());
    let app = Arc::new(app);

    let stop = Arc::new(AtomicBool::new(false));
    let auto = Automation::start(app.clone(), "test".into(), stop.clone());
    let root = std::fs::canonicalize(&library).unwrap();
    wait_for(&auto, "watching", |e| {
        e.kind == "watching" && e.message == root.display().to_string()
    });

    // Copied in five pieces, 0.8 s apart: 3.2 s of writing, longer than the settle time.
    let staged = dir.path().join("film.mkv");
    clip(&staged);
    let bytes = std::fs::read(&staged).unwrap();
    let film = root.join("film.mkv");
    let mut out = std::fs::File::create(&film).unwrap();
    let piece = bytes.len().div_ceil(5);
    let mut last_write = Instant::now();
    for (i, chunk) in bytes.chunks(piece).enumerate() {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(800));
        }
        out.write_all(chunk).unwrap();
        out.flush().unwrap();
        last_write = Instant::now();
        let early = auto
            .status
            .events()
            .into_iter()
            .any(|e| e.kind == "arrival" && e.message.contains("film.mkv"));
        assert!(!early, "taken while still being written");
    }
    drop(out);
    let name = film.display().to_string();
    let taken = wait_for(&auto, "arrival", |e| {
        e.kind == "arrival" && e.message.starts_with(&name)
    });
    let waited = last_write.elapsed().as_secs_f64();
    assert!(
        waited >= SETTLE,
        "taken {waited:.2} s after the last write, before the settle time"
    );
    assert!(
        taken.message.ends_with("[plan]: planned"),
        "{}",
        taken.message
    );
    let row = app.catalog.file_by_path(&film).unwrap().unwrap();
    assert_eq!(row.size, bytes.len() as u64, "catalogued whole");
    let plan = mediaforce::manifest::load(
        &app.catalog,
        &mediaforce::manifest::latest(&app.catalog, &paths.data_dir).unwrap(),
    )
    .unwrap();
    assert_eq!(plan.items.len(), 1);
    assert_eq!(plan.items[0].source, film);

    // mediaforce's own output, written into the library: catalogued as its own, not planned.
    let ours = root.join("ours.mkv");
    mediaforce_app::files::transcode(
        &film,
        &ours,
        &mediaforce::core::transcode::TranscodeOptions::new("libx264"),
        &mut mediaforce_core::NoProgress,
    )
    .unwrap();
    let name = ours.display().to_string();
    let taken = wait_for(&auto, "ours", |e| {
        e.kind == "ours" && e.message.starts_with(&name)
    });
    assert!(
        taken.message.contains("skip: produced by mediaforce"),
        "{}",
        taken.message
    );

    // The disk goes away: the root is reported, its file is not marked gone.
    drop(guard);
    assert!(
        std::fs::read_dir(&mnt).unwrap().next().is_none(),
        "unmounted"
    );
    let mnt_root = std::fs::canonicalize(&mnt).unwrap().display().to_string();
    wait_for(&auto, "unmounted", |e| {
        e.kind == "unmounted" && e.message.starts_with(&mnt_root)
    });
    // Two more rescans after the report, to be sure none marked it gone.
    let rescans = |a: &Automation| {
        a.status
            .events()
            .iter()
            .filter(|e| e.kind == "rescan")
            .count()
    };
    let before = rescans(&auto);
    let start = Instant::now();
    while rescans(&auto) < before + 2 {
        assert!(start.elapsed() < Duration::from_secs(30), "no rescans");
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::SeqCst);
    let events = auto.status.events();
    auto.join();
    let row = app.catalog.file_by_path(&kept).unwrap().unwrap();
    assert_eq!(row.status, "ok", "a file on the unmounted root is not gone");
    // Each file was taken exactly once (the rescans saw them too).
    for f in [&film, &ours] {
        let name = f.display().to_string();
        let n = events
            .iter()
            .filter(|e| (e.kind == "arrival" || e.kind == "ours") && e.message.starts_with(&name))
            .count();
        assert_eq!(n, 1, "{name}: {events:#?}");
    }
}
