//! `mediaforce demo --serve`: the web page on a small generated library, with one item
//! encoded, validated and given review clips, waiting for approval. Everything lives in a
//! directory of its own (a temporary one unless `--out-dir`), never in the user's data.

use anyhow::{bail, Context, Result};
use mediaforce_app::{App, Paths, Selection};
use mediaforce_core::synth::{SyntheticAudio, SyntheticClip, SyntheticVideo};
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// Build the demo library under `dir` (or a temporary directory) and serve it on `bind`.
pub fn serve(dir: Option<&Path>, bind: &str) -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = dir.map_or_else(|| tmp.path().to_path_buf(), |d| d.join("web-demo"));
    let library = dir.join("library");
    eprintln!(
        "web demo: generating a small library in {}",
        library.display()
    );
    for (name, texture, frames) in [
        ("Films/Harbour (2019).mkv", 12, 96),
        ("Films/Lighthouse (2021).mkv", 20, 72),
        ("Shows/Coast/S01E01.mkv", 8, 72),
    ] {
        let path = library.join(name);
        std::fs::create_dir_all(path.parent().expect("a folder"))?;
        let mut v = SyntheticVideo::new(320, 180, frames)
            .encoder("libx264", &[("preset", "ultrafast"), ("qp", "0")]);
        v.texture = texture;
        let mut clip = SyntheticClip::new(v);
        clip.audio.push(SyntheticAudio::new("aac", "eng"));
        clip.write(&path)
            .with_context(|| format!("{}: cannot write", path.display()))?;
    }
    // A quick encoder for the demo, and every file a candidate however small.
    for (k, v) in [
        ("MEDIAFORCE_POLICY_RANKING_MIN_SIZE_MB", "0"),
        ("MEDIAFORCE_POLICY_ENCODE_ENCODER", "libx264"),
        ("MEDIAFORCE_POLICY_ENCODE_PRESET", "ultrafast"),
        ("MEDIAFORCE_POLICY_ENCODE_TARGET_VMAF", "92"),
        ("MEDIAFORCE_POLICY_ENCODE_TOLERANCE", "3"),
    ] {
        // Set before anything reads the environment, on this one thread.
        std::env::set_var(k, v);
    }
    let paths = Paths {
        data_dir: dir.join("state"),
        config_dir: None,
        database: None,
    };
    let app = App::open(&paths)?;
    app.add_root(&library)?;
    app.set_transcode_root(&dir.join("transcode"))?;
    app.campaign(&library, None, &|_| {})?;
    let first = Selection {
        index: vec![0],
        ..Default::default()
    };
    let stop = AtomicBool::new(false);
    eprintln!("web demo: encoding, validating and comparing the first item");
    let ui = crate::workflow::BatchLines {
        json: false,
        detail: true,
    };
    app.encode(&first, 1, None, &stop, &ui)?;
    app.validate(
        &first,
        &stop,
        &mediaforce::runner::Unreported,
        &mut |_, _| {},
    )?
    .verdict(&first, "validated")?;
    app.compare(
        &first,
        &[],
        1.5,
        &stop,
        &mediaforce::runner::Unreported,
        &mut |_, _| {},
    )?
    .verdict(&first, "compared")?;
    let password = mediaforce::transfer::new_token()[..16].to_string();
    app.web_set_password(&password)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let app = std::sync::Arc::new(app);
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {bind}: {e}"))?;
        let addr = listener.local_addr()?;
        if !addr.ip().is_loopback() {
            bail!("the web demo serves on loopback only, not {addr}");
        }
        println!("web page: http://{addr}/  (sign in with the password {password}; Ctrl-C stops)");
        println!("one item is encoded, validated and has review clips: open it from the Library page and approve it");
        mediaforce_server::serve(listener, app, &[]).await?;
        anyhow::Ok(())
    })
}
