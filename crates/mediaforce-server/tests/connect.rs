//! Hooks and notifications over real HTTP on loopback: Sonarr and Radarr payloads written from
//! the fields their webhook payload classes define, posted to `mediaforce serve`'s
//! `/hooks/arr` (bad token: 401 and nothing done; a missing field: 400 naming it); the rescan
//! request an Arr instance receives after a promotion; and each notification channel's exact
//! request at a receiver started here, a receiver that fails twice getting the message on the
//! third try, with a restart between attempts.

mod common;

use common::code;
use mediaforce_app::{App, Paths};
use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One request a receiver got.
#[derive(Debug, Clone)]
struct Got {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// An HTTP receiver on loopback that records every request and answers the first `fail_first`
/// with 500, the rest with 200.
struct Receiver {
    addr: String,
    got: Arc<Mutex<Vec<Got>>>,
}

impl Receiver {
    fn start(fail_first: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let got = Arc::new(Mutex::new(Vec::new()));
        let seen = AtomicUsize::new(0);
        let g = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut r = BufReader::new(stream);
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let (method, path) = (
                    parts.next().unwrap_or_default().to_string(),
                    parts.next().unwrap_or_default().to_string(),
                );
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    r.read_line(&mut h).unwrap();
                    let h = h.trim_end();
                    if h.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.push((k.trim().to_string(), v.trim().to_string()));
                    }
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, v)| v.parse().unwrap());
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                g.lock().unwrap().push(Got {
                    method,
                    path,
                    headers,
                    body,
                });
                let n = seen.fetch_add(1, Ordering::SeqCst);
                let status = if n < fail_first {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let mut s = r.into_inner();
                let _ = write!(
                    s,
                    "HTTP/1.1 {status}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
                );
            }
        });
        Self { addr, got }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn requests(&self) -> Vec<Got> {
        self.got.lock().unwrap().clone()
    }
}

fn clip(path: &Path) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let v = SyntheticVideo::new(160, 96, 24)
        .encoder("libx264", &[("preset", "ultrafast"), ("qp", "0")]);
    SyntheticClip::new(v).write(path).unwrap();
}

fn setup(dir: &Path) -> (Paths, std::path::PathBuf) {
    let library = dir.join("library");
    std::fs::create_dir_all(&library).unwrap();
    let data = dir.join("state");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("policy.toml"),
        "[ranking]\nmin_size_mb = 0.0\n[automation]\nmode = \"encode\"\n",
    )
    .unwrap();
    let paths = Paths {
        data_dir: data,
        config_dir: None,
        database: None,
    };
    let app = App::open(&paths).unwrap();
    app.add_root(&library).unwrap();
    app.set_transcode_root(&dir.join("transcode")).unwrap();
    (paths, std::fs::canonicalize(&library).unwrap())
}

fn post(url: &str, body: &serde_json::Value, auth: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = ureq::post(url).set("Content-Type", "application/json");
    if let Some(a) = auth {
        req = req.set("Authorization", a);
    }
    let (status, resp) = code(req.send_string(&body.to_string()));
    (
        status,
        serde_json::from_str(&resp.into_string().unwrap()).unwrap_or_default(),
    )
}

#[test]
fn sonarr_and_radarr_payloads_are_taken_refused_when_bad_and_the_instance_asked_to_rescan() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, library) = setup(dir.path());
    let arr = Receiver::start(0);
    let app = App::open(&paths).unwrap();
    let token = app
        .hook_add(
            "sonarr",
            &[("/data/tv".into(), library.join("TV").display().to_string())],
            Some(&arr.url("")),
            Some("arr-key"),
        )
        .unwrap();
    let (addr, _rt) = common::serve(&paths);
    let hook = format!("http://{addr}/hooks/arr");
    let with_token = format!("{hook}?token={token}");

    // A bad token: 401, and nothing is recorded or done.
    let (status, _) = post(
        &format!("{hook}?token=nope"),
        &serde_json::json!({"eventType": "Test"}),
        None,
    );
    assert_eq!(status, 401);
    assert!(app.hooks().unwrap()[0].recent.is_empty());

    // The connection test they send when the hook is saved.
    let (status, body) = post(
        &with_token,
        &serde_json::json!({"eventType": "Test", "instanceName": "Sonarr"}),
        None,
    );
    assert_eq!((status, body["event"].as_str()), (200, Some("Test")));

    // A payload missing the field its event needs: 400 naming it, nothing catalogued.
    let (status, body) = post(
        &with_token,
        &serde_json::json!({"eventType": "Download", "series": {"id": 7}, "episodeFile": {"id": 1}}),
        None,
    );
    assert_eq!(status, 400);
    assert_eq!(body["message"], "episodeFile.path: missing");
    let (status, body) = post(
        &with_token,
        &serde_json::json!({"eventType": "Download", "episodeFiles": [{"path": "/data/tv/a.mkv"}, {"path": 3}]}),
        None,
    );
    assert_eq!(
        (status, body["message"].as_str()),
        (
            400,
            Some("episodeFiles[1].path: expected a non-empty string, got 3")
        )
    );
    assert!(app.catalog.files().unwrap().is_empty());

    // Download with one file (Basic authentication, as their Username/Password fields send).
    let e1 = library.join("TV/Show/S01E01.mkv");
    clip(&e1);
    let credentials = format!("sonarr:{token}");
    let basic = format!("Basic {}", base64(credentials.as_bytes()));
    let (status, body) = post(
        &hook,
        &serde_json::json!({"eventType": "Download", "isUpgrade": false,
            "series": {"id": 7, "title": "Show", "path": "/data/tv/Show"},
            "episodes": [{"id": 70, "episodeNumber": 1, "seasonNumber": 1}],
            "episodeFile": {"id": 700, "relativePath": "Show/S01E01.mkv", "path": "/data/tv/Show/S01E01.mkv"}}),
        Some(&basic),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["arrivals"][0]["path"], e1.display().to_string());
    assert_eq!(body["arrivals"][0]["outcome"], "queued");
    let row = app.catalog.file_by_path(&e1).unwrap().unwrap();

    // Import complete with several files (a bearer token this time).
    let e2 = library.join("TV/Show/S01E02.mkv");
    let e3 = library.join("TV/Show/S01E03.mkv");
    clip(&e2);
    clip(&e3);
    let (status, body) = post(
        &hook,
        &serde_json::json!({"eventType": "Download", "series": {"id": 7},
            "episodeFiles": [{"path": "/data/tv/Show/S01E02.mkv"}, {"path": "/data/tv/Show/S01E03.mkv"}]}),
        Some(&format!("Bearer {token}")),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["arrivals"].as_array().unwrap().len(), 2);
    let queued = app.jobs_list(Some("queued"), 100).unwrap();
    assert_eq!(queued.len(), 3);
    assert!(queued
        .iter()
        .all(|j| j.priority == mediaforce_app::automation::ARRIVAL_PRIORITY));

    // An upgrade replaces the file at the same path: changed, taken again.
    clip(&library.join("TV/Show/tmp.mkv"));
    std::fs::rename(library.join("TV/Show/tmp.mkv"), &e1).unwrap();
    let (status, body) = post(
        &with_token,
        &serde_json::json!({"eventType": "Download", "isUpgrade": true, "series": {"id": 7},
            "episodeFile": {"path": "/data/tv/Show/S01E01.mkv"}}),
        None,
    );
    assert_eq!(
        (status, body["summary"].as_str()),
        (200, Some("upgrade of 1 file(s)"))
    );

    // Rename: the catalog row moves with its id.
    let renamed = library.join("TV/Show/S01E01 - Pilot.mkv");
    std::fs::rename(&e1, &renamed).unwrap();
    let (status, _) = post(
        &with_token,
        &serde_json::json!({"eventType": "Rename", "series": {"id": 7},
            "renamedEpisodeFiles": [{"previousPath": "/data/tv/Show/S01E01.mkv",
                "previousRelativePath": "Show/S01E01.mkv", "path": "/data/tv/Show/S01E01 - Pilot.mkv"}]}),
        None,
    );
    assert_eq!(status, 200);
    let moved = app.catalog.file_by_path(&renamed).unwrap().unwrap();
    assert_eq!(moved.id, row.id, "the row moved, keeping its id");
    assert!(app
        .catalog
        .file_by_path(&e1)
        .unwrap()
        .is_none_or(|r| r.status == "gone" || r.id != row.id));

    // A deleted file is marked gone.
    std::fs::remove_file(&e3).unwrap();
    let (status, _) = post(
        &with_token,
        &serde_json::json!({"eventType": "EpisodeFileDelete", "series": {"id": 7},
            "episodeFile": {"path": "/data/tv/Show/S01E03.mkv"}, "deleteReason": "manual"}),
        None,
    );
    assert_eq!(status, 200);
    assert_eq!(
        app.catalog.file_by_path(&e3).unwrap().unwrap().status,
        "gone"
    );

    // Radarr: a movie download, through a hook of its own with no mapping.
    let radarr = app.hook_add("radarr", &[], None, None).unwrap();
    let film = library.join("Movies/Film (2020)/Film.mkv");
    clip(&film);
    let (status, body) = post(
        &format!("{hook}?token={radarr}"),
        &serde_json::json!({"eventType": "Download", "movie": {"id": 3, "folderPath": library.join("Movies/Film (2020)")},
            "movieFile": {"id": 30, "path": film}, "isUpgrade": false}),
        None,
    );
    assert_eq!(
        (status, body["arrivals"][0]["outcome"].as_str()),
        (200, Some("queued")),
        "{body}"
    );

    // Fifty posts at once: every one answered and recorded.
    let threads: Vec<_> = (0..50)
        .map(|_| {
            let url = with_token.clone();
            std::thread::spawn(move || {
                post(&url, &serde_json::json!({"eventType": "Test"}), None).0
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    let stored = app.hook_deliveries("sonarr", 500).unwrap();
    assert_eq!(
        stored
            .iter()
            .filter(|d| d.1 == "Test" && d.2 == 200)
            .count(),
        51
    );
    assert_eq!(
        stored
            .iter()
            .filter(|d| d.1 == "malformed" && d.2 == 400)
            .count(),
        2
    );

    // After a promotion the instance is asked to rescan the series, with its API key.
    let said = app.tell_arr(&renamed, &renamed).unwrap();
    assert!(said.starts_with("asked "), "{said}");
    let got = arr.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].method.as_str(), got[0].path.as_str()),
        ("POST", "/api/v3/command")
    );
    assert_eq!(got[0].header("X-Api-Key"), Some("arr-key"));
    assert_eq!(
        got[0].json(),
        serde_json::json!({"name": "RescanSeries", "seriesId": 7})
    );
    // A file no hook owns: nothing asked.
    assert!(app.tell_arr(&film.with_extension("x"), &film).is_none());
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn every_channel_sends_its_documented_request_and_a_failing_receiver_gets_it_on_the_third_try() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = setup(dir.path());
    let app = App::open(&paths).unwrap();
    let r = |fail| Receiver::start(fail);
    let (web, ntfy, gotify, discord, slack, telegram, apprise) =
        (r(0), r(0), r(0), r(0), r(0), r(0), r(0));
    // The generic webhook wants every event; the others only promotions.
    let add = |name: &str, url: String, kind: &str, secret: Option<&str>| {
        let events = if kind == "webhook" {
            vec![]
        } else {
            vec!["promoted".to_string()]
        };
        app.notify_add(name, &url, Some(kind), &events, secret)
            .unwrap()
    };
    add("web", web.url("/in"), "webhook", Some("s3cret"));
    add("ntfy", ntfy.url("/films"), "ntfy", Some("tk_ntfy"));
    add("gotify", gotify.url(""), "gotify", Some("AppTok"));
    add(
        "discord",
        discord.url("/api/webhooks/1/abc"),
        "discord",
        None,
    );
    add("slack", slack.url("/services/T/B/X"), "slack", None);
    add(
        "telegram",
        telegram.url("?chat_id=-100"),
        "telegram",
        Some("123:ABC"),
    );
    add("apprise", apprise.url("/notify/key"), "apprise", None);

    // Bad input is refused, naming the field, and nothing is written.
    let before = app.notify_list().unwrap().len();
    let e = app.notify_add("x", "ftp://h", None, &[], None).unwrap_err();
    assert!(
        e.message.starts_with("url ftp://h: expected"),
        "{}",
        e.message
    );
    let e = app
        .notify_add("x", &web.url("/"), None, &["everything".into()], None)
        .unwrap_err();
    assert!(
        e.message.starts_with("events: everything is not one of"),
        "{}",
        e.message
    );
    let e = app
        .notify_add("x", &gotify.url(""), Some("gotify"), &[], None)
        .unwrap_err();
    assert!(
        e.message.starts_with("secret: a gotify channel needs"),
        "{}",
        e.message
    );
    assert_eq!(app.notify_list().unwrap().len(), before);

    let n = mediaforce_app::notify::Notification {
        event: "promoted".into(),
        title: "mediaforce: promoted film.mkv".into(),
        body: "saved 1.2 GB".into(),
    };
    assert_eq!(app.notify(&n).unwrap(), 7);
    let stop = AtomicBool::new(false);
    app.run_deliveries("test/notify", &stop, Some(Duration::from_millis(300)))
        .unwrap();

    let one = |rc: &Receiver| {
        let g = rc.requests();
        assert_eq!(g.len(), 1, "{g:?}");
        g[0].clone()
    };
    let w = one(&web);
    assert_eq!((w.method.as_str(), w.path.as_str()), ("POST", "/in"));
    assert_eq!(w.header("X-Mediaforce-Event"), Some("promoted"));
    let sig = w.header("X-Mediaforce-Signature").unwrap();
    {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(&w.body);
        let want: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sig, format!("sha256={want}"));
    }
    assert_eq!(w.json()["title"], "mediaforce: promoted film.mkv");
    let g = one(&ntfy);
    assert_eq!(
        (g.path.as_str(), g.body.as_slice()),
        ("/films", b"saved 1.2 GB".as_slice())
    );
    assert_eq!(g.header("Title"), Some("mediaforce: promoted film.mkv"));
    assert_eq!(g.header("Authorization"), Some("Bearer tk_ntfy"));
    let g = one(&gotify);
    assert_eq!(
        (g.path.as_str(), g.header("X-Gotify-Key")),
        ("/message", Some("AppTok"))
    );
    assert_eq!(g.json()["message"], "saved 1.2 GB");
    let g = one(&discord);
    assert_eq!(
        g.json(),
        serde_json::json!({"content": "**mediaforce: promoted film.mkv**\nsaved 1.2 GB"})
    );
    let g = one(&slack);
    assert_eq!(
        g.json(),
        serde_json::json!({"text": "*mediaforce: promoted film.mkv*\nsaved 1.2 GB"})
    );
    let g = one(&telegram);
    assert_eq!(g.path, "/bot123:ABC/sendMessage");
    assert_eq!(g.json()["chat_id"], "-100");
    let g = one(&apprise);
    assert_eq!(
        (g.path.as_str(), g.json()["type"].as_str()),
        ("/notify/key", Some("info"))
    );
    // The secrets are not shown.
    let shown = serde_json::to_string(&app.notify_list().unwrap()).unwrap();
    for secret in ["s3cret", "tk_ntfy", "AppTok", "123:ABC"] {
        assert!(!shown.contains(secret), "{secret} shown: {shown}");
    }

    // A receiver that fails twice: retried with backoff, with a restart after the first
    // failure, and delivered on the third attempt.
    let flaky = Receiver::start(2);
    app.notify_add(
        "flaky",
        &flaky.url("/x"),
        Some("slack"),
        &["failed".into()],
        None,
    )
    .unwrap();
    let failed = mediaforce_app::notify::Notification {
        event: "failed".into(),
        title: "mediaforce: job 9 failed".into(),
        body: "disk full".into(),
    };
    assert_eq!(
        app.notify(&failed).unwrap(),
        2,
        "web (all events) and flaky"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let runner = {
        let (paths, stop) = (paths.clone(), stop.clone());
        std::thread::spawn(move || {
            App::open(&paths)
                .unwrap()
                .run_deliveries("first/notify", &stop, None)
                .unwrap()
        })
    };
    let start = Instant::now();
    while flaky.requests().is_empty() {
        assert!(start.elapsed() < Duration::from_secs(20));
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    runner.join().unwrap();
    drop(app);
    let app = App::open(&paths).unwrap();
    app.run_deliveries(
        "second/notify",
        &AtomicBool::new(false),
        Some(Duration::from_millis(300)),
    )
    .unwrap();
    let got = flaky.requests();
    assert_eq!(got.len(), 3, "two failures, then delivered");
    assert!(got
        .iter()
        .all(|g| g.json()["text"] == "*mediaforce: job 9 failed*\ndisk full"));
    let channel = app
        .notify_list()
        .unwrap()
        .into_iter()
        .find(|c| c.name == "flaky")
        .unwrap();
    let attempts: Vec<(i64, bool)> = channel.recent.iter().rev().map(|a| (a.2, a.3)).collect();
    assert_eq!(attempts, [(1, false), (2, false), (3, true)]);
    assert_eq!(web.requests().len(), 2, "the webhook wants every event");

    // A test message goes out at once.
    let said = app.notify_test("slack").unwrap();
    assert!(said.contains("delivered"), "{said}");
    assert_eq!(slack.requests().len(), 2);
}

#[test]
fn in_a_real_browser_the_automation_page_adds_and_tests_a_channel_adds_a_hook_and_sets_a_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (paths, library) = setup(dir.path());
    let app = Arc::new(App::open(&paths).unwrap());
    app.web_set_password("correct horse").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let auto =
        mediaforce_server::automation::Automation::start(app.clone(), "test".into(), stop.clone());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (a, status, st) = (app.clone(), auto.status.clone(), stop.clone());
    runtime.spawn(async move {
        let stopped = async move {
            while !st.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        mediaforce_server::serve_until(listener, a, &[], Some(status), stopped).await
    });
    let receiver = Receiver::start(0);

    let b = common::Browser::start();
    b.go(&format!("{base}/automation"));
    b.wait_for("return location.pathname", "/login".into());
    b.type_into("#password", "correct horse");
    b.click("#sign-in");
    b.wait_for("return location.pathname", "/library".into());
    b.go(&format!("{base}/automation"));
    b.wait_for(
        "return document.querySelector('h1').textContent",
        "Automation".into(),
    );
    let message = "return (document.querySelector('#message') || {}).textContent || ''";

    // A bad address: refused with the field and the reason; nothing written.
    b.type_into("#add-channel input[name=name]", "phone");
    b.type_into("#add-channel input[name=url]", "ftp://example");
    b.click("#add-channel button");
    b.wait_for(
        "return ((document.querySelector('#message') || {}).textContent || '').slice(0, 30)",
        "refused: url ftp://example: ex".into(),
    );
    assert_eq!(
        b.eval("return document.querySelectorAll('#channels tbody tr').length"),
        0
    );
    assert!(app.notify_list().unwrap().is_empty());

    // A good one, then its Test button: the receiver gets it, the row shows the delivery.
    b.type_into("#add-channel input[name=name]", "phone");
    b.type_into("#add-channel input[name=url]", &receiver.url("/films"));
    b.eval("document.querySelector('#add-channel select[name=kind]').value = 'ntfy'; return 0");
    b.click("#add-channel button");
    b.wait_for(
        "return document.querySelectorAll('#channels tbody tr').length",
        1.into(),
    );
    b.click("#channel-phone form[action='/automation/test-channel'] button");
    b.wait_for(message, "phone: delivered (HTTP 200)".into());
    let got = receiver.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("Title"), Some("mediaforce: test"));
    b.wait_for(
        "return document.querySelectorAll('#channel-phone .delivery.ok').length",
        1.into(),
    );

    // A hook: its token is shown once; a payload posted to it shows on the page.
    b.type_into("#add-hook input[name=name]", "sonarr");
    b.type_into(
        "#add-hook input[name=map]",
        &format!("/data/tv={}", library.display()),
    );
    b.click("#add-hook button");
    b.wait_for(
        "return document.querySelectorAll('#hooks tbody tr').length",
        1.into(),
    );
    let said = b.eval(message).as_str().unwrap().to_string();
    let token = said.rsplit("token=").next().unwrap().to_string();
    assert_eq!(token.len(), 64, "{said}");
    let (status, _) = post(
        &format!("{base}/hooks/arr?token={token}"),
        &serde_json::json!({"eventType": "Test"}),
        None,
    );
    assert_eq!(status, 200);
    b.go(&format!("{base}/automation"));
    b.wait_for(
        "return document.querySelector('#hook-sonarr').textContent.includes('Test 200: connection test received')",
        true.into(),
    );

    // The root's mode and schedule; a schedule that does not parse is refused, naming it,
    // and the saved one stays.
    let root_row = "#folders tbody tr:first-child";
    b.eval(&format!(
        "document.querySelector(\"{root_row} select[name=mode]\").value = 'promote'; return 0"
    ));
    b.type_into(&format!("{root_row} input[name=schedule]"), "0 3 * * *");
    b.click(&format!(
        "{root_row} form[action='/automation/folder'] button"
    ));
    b.wait_for(
        message,
        format!("{}: automation saved", library.display()).into(),
    );
    assert_eq!(
        b.eval(&format!(
            "return document.querySelector(\"{root_row} select[name=mode]\").value"
        )),
        "promote"
    );
    let saved = std::fs::read_to_string(paths.data_dir.join("folder-overrides.toml")).unwrap();
    assert!(saved.contains("schedule = \"0 3 * * *\""), "{saved}");
    b.type_into(&format!("{root_row} input[name=schedule]"), "nope");
    b.click(&format!(
        "{root_row} form[action='/automation/folder'] button"
    ));
    b.wait_for(
        "return ((document.querySelector('#message') || {}).textContent || '').includes('automation.schedule: \"nope\"')",
        true.into(),
    );
    assert_eq!(
        std::fs::read_to_string(paths.data_dir.join("folder-overrides.toml")).unwrap(),
        saved
    );
    // What the service did is listed.
    b.wait_for(
        "return document.querySelector('#events').textContent.includes('watching')",
        true.into(),
    );
    b.screenshot("automation");
    stop.store(true, Ordering::SeqCst);
    auto.join();
}

#[test]
fn an_email_channel_delivers_to_an_smtp_server_and_one_that_requires_starttls_never_sends_in_the_clear(
) {
    let dir = tempfile::tempdir().unwrap();
    let (paths, _) = setup(dir.path());
    let app = App::open(&paths).unwrap();
    // Debian's python3-aiosmtpd, keeping what it receives in a Maildir.
    let maildir = dir.path().join("mail");
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut smtpd = std::process::Command::new("/usr/bin/python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")])
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .spawn()
        .expect("python3-aiosmtpd (scripts/install-deps.sh installs it)");
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the SMTP server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let plain = format!(
        "smtp+insecure://127.0.0.1:{port}?from=mediaforce@example.lan&to=owner@example.lan"
    );
    let c = app
        .notify_add("mail", &plain, None, &["promoted".into()], None)
        .unwrap();
    assert_eq!(c.kind, "email");
    // A channel that requires STARTTLS (`smtp://`) against a server that offers none.
    let strict =
        format!("smtp://127.0.0.1:{port}?from=mediaforce@example.lan&to=owner@example.lan");
    app.notify_add("strict", &strict, None, &["failed".into()], None)
        .unwrap();
    // Bad addresses are refused, naming the part.
    let e = app
        .notify_add(
            "bad",
            &format!("smtp://127.0.0.1:{port}?from=me&to=x@y"),
            None,
            &[],
            None,
        )
        .unwrap_err();
    assert!(
        e.message.contains("from=\"me\" is not an email address"),
        "{}",
        e.message
    );

    let n = mediaforce_app::notify::Notification {
        event: "promoted".into(),
        title: "mediaforce: promoted film.mkv".into(),
        body: "saved 1.2 GB".into(),
    };
    assert_eq!(app.notify(&n).unwrap(), 1);
    app.run_deliveries(
        "test/notify",
        &AtomicBool::new(false),
        Some(Duration::from_millis(300)),
    )
    .unwrap();
    let read_mail = || -> Vec<String> {
        std::fs::read_dir(maildir.join("new"))
            .map(|d| {
                d.flatten()
                    .map(|e| std::fs::read_to_string(e.path()).unwrap())
                    .collect()
            })
            .unwrap_or_default()
    };
    let mail = read_mail();
    assert_eq!(mail.len(), 1, "{mail:?}");
    for want in [
        "Subject: mediaforce: promoted film.mkv",
        "From: mediaforce@example.lan",
        "To: owner@example.lan",
        "saved 1.2 GB",
    ] {
        assert!(mail[0].contains(want), "{want} not in:\n{}", mail[0]);
    }
    let e = app.notify_test("strict").unwrap_err();
    assert!(!e.message.is_empty());
    assert_eq!(
        read_mail().len(),
        1,
        "nothing was sent without TLS: {}",
        e.message
    );
    let _ = smtpd.kill();
    let _ = smtpd.wait();
}
