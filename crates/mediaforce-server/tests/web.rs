//! The web page through its router on a real listener: sign-in, the session cookie, CSRF,
//! `Host` and `Origin` checks, and the library page filtered, sorted and exported by the store.

mod common;

use common::{code, Browser};
use mediaforce_app::{App, Paths};
use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};

struct Site {
    paths: Paths,
    base: String,
    host: String,
    agent: ureq::Agent,
    _dir: tempfile::TempDir,
    library: std::path::PathBuf,
    _runtime: tokio::runtime::Runtime,
}

fn site() -> Site {
    // The only test in this binary: nothing else reads the environment meanwhile.
    std::env::set_var("MEDIAFORCE_POLICY_RANKING_MIN_SIZE_MB", "0");
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("library");
    for (name, w, h, enc) in [
        ("Films/a.mkv", 320, 180, "libx264"),
        ("Films/b.mkv", 640, 360, "mpeg4"),
        ("Shows/c.mkv", 320, 240, "libx264"),
    ] {
        let path = library.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        SyntheticClip::new(SyntheticVideo::new(w, h, 6).encoder(enc, &[]))
            .write(&path)
            .unwrap();
    }
    let paths = Paths {
        data_dir: dir.path().join("state"),
        config_dir: None,
        database: None,
    };
    let app = App::open(&paths).unwrap();
    app.add_root(&library).unwrap();
    app.set_transcode_root(&dir.path().join("transcode"))
        .unwrap();
    app.scan(None, None, &|_| {}).unwrap();
    app.web_set_password("correct horse").unwrap();
    assert!(app.web_set_password("short").is_err());
    drop(app);
    let (addr, runtime) = common::serve(&paths);
    Site {
        paths,
        base: format!("http://{addr}"),
        host: addr,
        agent: ureq::AgentBuilder::new().redirects(0).build(),
        _dir: dir,
        library,
        _runtime: runtime,
    }
}

impl Site {
    fn get(&self, path: &str, cookie: Option<&str>) -> (u16, ureq::Response) {
        let mut r = self.agent.get(&format!("{}{path}", self.base));
        if let Some(c) = cookie {
            r = r.set("cookie", &format!("mf_session={c}"));
        }
        code(r.call())
    }

    fn post(
        &self,
        path: &str,
        cookie: Option<&str>,
        origin: Option<&str>,
        form: &[(&str, &str)],
    ) -> (u16, ureq::Response) {
        let mut r = self.agent.post(&format!("{}{path}", self.base));
        if let Some(c) = cookie {
            r = r.set("cookie", &format!("mf_session={c}"));
        }
        if let Some(o) = origin {
            r = r.set("origin", o);
        }
        code(r.send_form(form))
    }

    fn sign_in(&self) -> String {
        let origin = format!("http://{}", self.host);
        let (status, r) = self.post(
            "/login",
            None,
            Some(&origin),
            &[("password", "correct horse")],
        );
        assert_eq!(status, 303);
        assert_eq!(r.header("location"), Some("/library"));
        let cookie = r.header("set-cookie").unwrap().to_string();
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
        cookie
            .split(';')
            .next()
            .and_then(|kv| kv.strip_prefix("mf_session="))
            .unwrap()
            .to_string()
    }
}

fn body(r: ureq::Response) -> String {
    r.into_string().unwrap()
}

#[test]
fn the_library_page_is_signed_in_filtered_by_the_store_and_refuses_forged_requests() {
    let site = site();
    // Nothing without a session: pages send to the sign-in, the API says 401.
    let (status, r) = site.get("/library", None);
    assert_eq!(status, 303);
    assert_eq!(r.header("location"), Some("/login"));
    assert_eq!(site.get("/api/library", None).0, 401);
    assert_eq!(site.get("/library.csv", None).0, 401);
    assert_eq!(site.get("/api/library", Some("forged")).0, 401);
    // Authentication comes before the body is read: a POST with no session and no form
    // (or a body the handler could not parse) is 401 on every state-changing route, and a
    // query the handler would refuse is not looked at either.
    for path in [
        "/queue/1/cancel",
        "/queue/retry",
        "/items/1/approve",
        "/folders/queue",
        "/hosts/x/state",
        "/logout",
    ] {
        let no_body = code(site.agent.post(&format!("{}{path}", site.base)).call());
        assert_eq!(no_body.0, 401, "POST {path} without a session or a body");
        let json = code(
            site.agent
                .post(&format!("{}{path}", site.base))
                .set("content-type", "application/json")
                .send_string("{not json"),
        );
        assert_eq!(
            json.0, 401,
            "POST {path} without a session, with a bad body"
        );
    }
    assert_eq!(site.get("/api/library?sort=%ZZ", None).0, 401);
    let (status, r) = site.get("/login", None);
    assert_eq!(status, 200);
    assert!(body(r).contains("name=\"password\""));
    // A wrong password is refused with the form again.
    let origin = format!("http://{}", site.host);
    let (status, r) = site.post(
        "/login",
        None,
        Some(&origin),
        &[("password", "wrong horse")],
    );
    assert_eq!(status, 401);
    assert!(body(r).contains("wrong password"));
    let session = site.sign_in();

    // The page lists the library, with what the probe said, and security headers.
    let (status, r) = site.get("/library", Some(&session));
    assert_eq!(status, 200);
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert!(r
        .header("content-security-policy")
        .unwrap()
        .contains("default-src 'self'"));
    let html = body(r);
    assert!(html.contains("3 files"), "{html}");
    // Paths below their root, the root named once.
    for f in ["Films/a.mkv", "Films/b.mkv", "Shows/c.mkv"] {
        assert!(html.contains(&format!(">{f}</")), "{f}: {html}");
    }
    let root = site.library.display().to_string();
    assert_eq!(html.matches(&root).count(), 1, "{html}");
    assert!(html.contains("id=\"roots\""), "{html}");
    assert!(html.contains("640×360") && html.contains("mpeg4"), "{html}");
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    assert_eq!(csrf.len(), 64);

    // Filters narrow it, in the database.
    let json = |q: &str| -> serde_json::Value {
        let (status, r) = site.get(&format!("/api/library?{q}"), Some(&session));
        assert_eq!(status, 200, "{q}");
        serde_json::from_str(&body(r)).unwrap()
    };
    let paths = |v: &serde_json::Value| -> Vec<String> {
        v["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let p = r["path"].as_str().unwrap();
                p.rsplit('/')
                    .take(2)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .collect()
    };
    let h264 = json("codec=h264");
    assert_eq!(h264["total"], 2);
    assert_eq!(paths(&h264), ["Films/a.mkv", "Shows/c.mkv"]);
    assert_eq!(h264["rows"][0]["video_codec"], "h264");
    assert_eq!(h264["rows"][0]["height"], 180);
    let films = json(&format!("folder={}", site.library.join("Films").display()));
    assert_eq!(paths(&films), ["Films/a.mkv", "Films/b.mkv"]);
    assert_eq!(
        paths(&json("min_height=200&max_height=300")),
        ["Shows/c.mkv"]
    );
    assert_eq!(json("dynamic_range=hdr")["total"], 0);
    assert_eq!(json("state=none")["total"], 3, "never planned");
    let by_size = json("sort=height&desc=true");
    assert_eq!(paths(&by_size)[0], "Films/b.mkv");
    let paged = json("limit=2");
    assert_eq!(
        (
            paged["total"].as_u64(),
            paged["rows"].as_array().unwrap().len()
        ),
        (Some(3), 2)
    );
    assert_eq!(paths(&json("limit=2&offset=2")), ["Shows/c.mkv"]);
    // The HTML page filters the same way and links the next page.
    let (_, r) = site.get("/library?codec=mpeg4", Some(&session));
    let html = body(r);
    assert!(
        html.contains(">1 file<") && html.contains("Films/b.mkv") && !html.contains("Films/a.mkv")
    );
    let (_, r) = site.get("/library?limit=2", Some(&session));
    assert!(body(r).contains("id=\"next\""));
    // CSV export of the filtered view.
    let (status, r) = site.get("/library.csv?codec=h264", Some(&session));
    assert_eq!(status, 200);
    let csv = body(r);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert!(lines[0].starts_with("path,codec,width,height"));
    assert!(lines[1].contains(",h264,320,180,"), "{csv}");

    // A request naming another host (DNS rebinding) is refused.
    let (status, _) = code(
        site.agent
            .get(&format!("{}/library", site.base))
            .set("host", "attacker.example:80")
            .set("cookie", &format!("mf_session={session}"))
            .call(),
    );
    assert_eq!(status, 421);
    // A state-changing request from another origin, or without the session's CSRF token, is
    // refused; with both it goes through.
    let (status, _) = site.post(
        "/logout",
        Some(&session),
        Some("http://attacker.example"),
        &[("csrf", &csrf)],
    );
    assert_eq!(status, 403);
    let (status, _) = site.post(
        "/logout",
        Some(&session),
        Some(&origin),
        &[("csrf", "forged")],
    );
    assert_eq!(status, 403);
    assert_eq!(
        site.get("/api/library", Some(&session)).0,
        200,
        "still signed in"
    );
    let (status, r) = site.post("/logout", Some(&session), Some(&origin), &[("csrf", &csrf)]);
    assert_eq!(status, 303);
    assert!(r.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(
        site.get("/api/library", Some(&session)).0,
        401,
        "signed out"
    );
    // The OpenAPI document names every API path, and each is routed (no 404 for a path it
    // names, with its parameters filled in).
    let (status, r) = site.get("/api/openapi.json", None);
    assert_eq!(status, 200);
    let doc: serde_json::Value = serde_json::from_str(&body(r)).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let session = site.sign_in();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        let concrete = path
            .replace("{id}", "1")
            .replace("{action}", "x")
            .replace("{name}", "nohost");
        for method in ops.as_object().unwrap().keys() {
            let url = format!("{}{concrete}", site.base);
            let req = site
                .agent
                .request(&method.to_uppercase(), &url)
                .set("cookie", &format!("mf_session={session}"))
                .set("origin", &origin);
            if method == "get" && concrete == "/events" {
                assert_eq!(req.call().unwrap().status(), 200);
                continue;
            }
            let (status, r) = code(req.call());
            // An unrouted path is axum's bare 404; a routed one answers in its own words.
            let text = r.into_string().unwrap_or_default();
            let routed = status != 405 && !(status == 404 && text.is_empty());
            assert!(routed, "{method} {path}: {status}");
        }
    }
    // The style sheet is built in.
    let (status, r) = site.get("/assets/app.css", None);
    assert_eq!(status, 200);
    assert!(body(r).contains("table.files"));
}

#[test]
fn in_a_real_browser_one_signs_in_and_filters_the_library() {
    let site = site();
    let b = Browser::start();
    b.go(&format!("{}/library", site.base));
    // Sent to the sign-in page.
    b.wait_for("return location.pathname", "/login".into());
    b.screenshot("login");
    b.type_into("#password", "correct horse");
    b.click("#sign-in");
    b.wait_for("return location.pathname", "/library".into());
    b.wait_for(
        "return document.querySelectorAll('#files tbody tr').length",
        3.into(),
    );
    assert_eq!(
        b.eval("return document.querySelector('#total').textContent"),
        "3 files"
    );
    // The session cookie is not readable by scripts.
    assert_eq!(b.eval("return document.cookie"), "");
    b.screenshot("library");
    // A filter narrows the table.
    b.type_into("input[name=codec]", "mpeg4");
    b.click("#apply");
    b.wait_for(
        "return document.querySelectorAll('#files tbody tr').length",
        1.into(),
    );
    let row = b.eval("return document.querySelector('#files tbody tr').textContent");
    assert!(row.as_str().unwrap().contains("Films/b.mkv"), "{row}");
    assert!(row.as_str().unwrap().contains("640×360"), "{row}");
    let shot = b.screenshot("library-filtered");
    assert!(std::fs::metadata(shot).unwrap().len() > 10_000);
}

impl Site {
    /// The state as another process (a worker, the CLI) sees it.
    fn app(&self) -> App {
        App::open(&self.paths).unwrap()
    }

    /// Plan the library and queue its encodes; the job ids.
    fn queue_jobs(&self) -> Vec<i64> {
        let app = self.app();
        app.campaign(&self.library, None, &|_| {}).unwrap();
        app.enqueue(&mediaforce_app::Selection {
            all: true,
            ..Default::default()
        })
        .unwrap()
    }
}

/// A job's progress as its worker stores it.
fn frames(done: u64, total: u64) -> String {
    serde_json::json!({"event": "frames_done", "label": "encode", "frames": done, "total": total,
        "fps": 24.0, "eta_seconds": (total - done) as f64 / 24.0})
    .to_string()
}

#[test]
fn the_queue_hosts_dashboard_and_live_stream_follow_the_store() {
    use mediaforce::store::JobState;
    let site = site();
    let session = site.sign_in();
    let origin = format!("http://{}", site.host);
    let jobs = site.queue_jobs();
    assert_eq!(jobs.len(), 3);
    let app = site.app();
    let mut store = app.queue().unwrap();
    // A worker on another host holds the first job and reports progress.
    let lease = store
        .claim("desk/0", &[], std::time::Duration::from_secs(600))
        .unwrap()
        .unwrap();
    store
        .event(&lease, "frames_done", &frames(10, 100))
        .unwrap();
    let hosts =
        mediaforce::hosts::Hosts::open(site.paths.data_dir.join("catalog.db").to_str().unwrap())
            .unwrap();
    hosts
        .register(&mediaforce::hosts::this_machine("desk"))
        .unwrap();

    // The dashboard: counts, the running job with its progress and host, the hosts.
    let (status, r) = site.get("/api/dashboard", Some(&session));
    assert_eq!(status, 200);
    let d: serde_json::Value = serde_json::from_str(&body(r)).unwrap();
    assert_eq!(
        (
            d["counts"]["queued"].as_u64(),
            d["counts"]["running"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(d["running"][0]["worker"], "desk/0");
    // Described as a person would: what it does to which file (below its root), the host
    // by name.
    assert_eq!(d["running"][0]["host"], "desk");
    let what = d["running"][0]["what"].as_str().unwrap().to_string();
    assert!(
        what.starts_with("Encode Films/") || what.starts_with("Encode Shows/"),
        "{what}"
    );
    assert!(what.ends_with(".mkv"), "{what}");
    assert_eq!(d["running"][0]["progress"]["frames"], 10);
    assert_eq!(d["hosts"][0]["name"], "desk");
    let (status, r) = site.get("/dashboard", Some(&session));
    assert_eq!(status, 200);
    let html = body(r);
    assert!(
        html.contains(&format!("id=\"job-{}\"", lease.job)),
        "{html}"
    );
    assert!(html.contains("10/100") && html.contains(&what), "{html}");
    assert!(
        !html.contains("desk/0"),
        "the worker's slot, not its host: {html}"
    );
    let library = site.library.display().to_string();
    assert!(!html.contains(&library), "absolute paths: {html}");

    // The live stream: events from the store, resumable from the last id.
    let stream = |after: Option<&str>, last_id: Option<&str>| {
        let mut r = site.agent.get(&format!(
            "{}/events{}",
            site.base,
            after.map_or(String::new(), |a| format!("?after={a}"))
        ));
        r = r.set("cookie", &format!("mf_session={session}"));
        if let Some(id) = last_id {
            r = r.set("last-event-id", id);
        }
        let resp = r.call().unwrap();
        assert_eq!(resp.header("content-type"), Some("text/event-stream"));
        std::io::BufReader::new(resp.into_reader())
    };
    let read_event = |lines: &mut dyn std::io::BufRead| -> (i64, serde_json::Value) {
        let (mut id, mut data) = (0, serde_json::Value::Null);
        loop {
            let mut line = String::new();
            lines.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if let Some(v) = line
                .strip_prefix("id: ")
                .or_else(|| line.strip_prefix("id:"))
            {
                id = v.trim().parse().unwrap();
            } else if let Some(v) = line
                .strip_prefix("data: ")
                .or_else(|| line.strip_prefix("data:"))
            {
                data = serde_json::from_str(v.trim()).unwrap();
            } else if line.is_empty() && id > 0 {
                return (id, data);
            }
        }
    };
    let mut all = stream(None, None);
    let (first_id, first) = read_event(&mut all);
    assert_eq!(first["kind"], "claimed", "{first}");
    let (progress_id, progress) = read_event(&mut all);
    assert_eq!(progress["kind"], "frames_done");
    assert_eq!(progress["job"], lease.job);
    // A new event reaches an open stream.
    store
        .event(&lease, "frames_done", &frames(20, 100))
        .unwrap();
    let (next_id, next) = read_event(&mut all);
    assert!(next_id > progress_id);
    assert!(
        next["detail"].as_str().unwrap().contains("\"frames\":20"),
        "{next}"
    );
    // A reconnect resumes after the last id it saw (Last-Event-ID wins over ?after=).
    let mut resumed = stream(Some("0"), Some(&progress_id.to_string()));
    assert_eq!(read_event(&mut resumed).0, next_id);
    let mut from_start = stream(Some(&(first_id - 1).to_string()), None);
    assert_eq!(read_event(&mut from_start).0, first_id);
    drop((all, resumed, from_start));

    // The queue page lists every job with its actions; the actions need the CSRF token.
    let (status, r) = site.get("/queue", Some(&session));
    assert_eq!(status, 200);
    let html = body(r);
    for j in &jobs {
        assert!(html.contains(&format!("id=\"job-{j}\"")), "{html}");
    }
    // Each job in words, each file below its root; no plan paths, kinds or worker ids.
    for name in ["Films/a.mkv", "Films/b.mkv", "Shows/c.mkv"] {
        assert!(html.contains(&format!("Encode {name}")), "{name}: {html}");
    }
    assert!(html.contains("<td>desk</td>"), "{html}");
    for internal in [
        library.as_str(),
        "plan-",
        "stage:",
        "desk/0",
        "encode of item",
    ] {
        assert!(!html.contains(internal), "{internal}: {html}");
    }
    let csrf = html
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string();
    let queued = jobs.iter().copied().find(|j| *j != lease.job).unwrap();
    let path = format!("/queue/{queued}/cancel");
    assert_eq!(
        site.post(&path, Some(&session), Some(&origin), &[("csrf", "forged")])
            .0,
        403
    );
    assert_eq!(
        site.post(&path, None, Some(&origin), &[("csrf", &csrf)]).0,
        401
    );
    assert_eq!(
        store.job(queued).unwrap().state,
        JobState::Queued,
        "untouched"
    );
    let (status, r) = site.post(&path, Some(&session), Some(&origin), &[("csrf", &csrf)]);
    assert_eq!(status, 303);
    assert!(r.header("location").unwrap().starts_with("/queue?message="));
    assert_eq!(store.job(queued).unwrap().state, JobState::Cancelled);
    let retry = format!("/queue/{queued}/retry");
    assert_eq!(
        site.post(&retry, Some(&session), Some(&origin), &[("csrf", &csrf)])
            .0,
        303
    );
    assert_eq!(store.job(queued).unwrap().state, JobState::Queued);
    let now = format!("/queue/{queued}/run-now");
    assert_eq!(
        site.post(&now, Some(&session), Some(&origin), &[("csrf", &csrf)])
            .0,
        303
    );
    assert_eq!(
        store.job(queued).unwrap().priority,
        mediaforce::store::URGENT
    );
    assert_eq!(
        site.post(
            &format!("/queue/{queued}/explode"),
            Some(&session),
            Some(&origin),
            &[("csrf", &csrf)]
        )
        .0,
        404
    );
    let (_, r) = site.get("/queue?state=cancelled", Some(&session));
    assert!(!body(r).contains(&format!("id=\"job-{queued}\"")));

    // The folder page: its summary, suggested override and policy; plan it from there.
    let films = site.library.join("Films").display().to_string();
    let folder_q = serde_urlencoded_path(&films);
    let (status, r) = site.get(&format!("/folders?path={folder_q}"), Some(&session));
    assert_eq!(status, 200);
    let html = body(r);
    assert!(html.contains(">2 files<"), "{html}");
    assert!(
        html.contains("h264 ×1") && html.contains("mpeg4 ×1"),
        "{html}"
    );
    assert!(
        html.contains("id=\"override\"") && html.contains("encode.target_vmaf"),
        "{html}"
    );
    let (status, r) = site.post(
        "/folders/plan",
        Some(&session),
        Some(&origin),
        &[("csrf", &csrf), ("path", &films)],
    );
    assert_eq!(status, 303);
    assert!(
        r.header("location").unwrap().contains("planned+2+items"),
        "{:?}",
        r.header("location")
    );
    assert_eq!(
        site.post(
            "/folders/plan",
            Some(&session),
            Some(&origin),
            &[("csrf", "x"), ("path", &films)]
        )
        .0,
        403
    );
    let (status, _) = site.get(
        "/folders?path=%2Fnot%2Fa%2Flibrary%2Ffolder",
        Some(&session),
    );
    assert_eq!(status, 404);
    // The folder's override: refused text comes back with the reason and nothing is written;
    // saved text is the policy in force, with its provenance; empty text removes it.
    let overrides = site.paths.data_dir.join("folder-overrides.toml");
    let save = |text: &str, csrf: &str| {
        site.post(
            "/folders/override",
            Some(&session),
            Some(&origin),
            &[("csrf", csrf), ("path", &films), ("text", text)],
        )
    };
    let (status, r) = save("[encode]\r\ntarget_vmaf = 250\r\n", &csrf);
    assert_eq!(status, 422);
    let html = body(r);
    assert!(
        html.contains("id=\"override-error\"") && html.contains("target_vmaf"),
        "{html}"
    );
    assert!(
        textarea(&html).contains("target_vmaf = 250"),
        "the draft is kept: {html}"
    );
    assert!(!overrides.exists());
    assert_eq!(save("[encode]\ntarget_vmaf = 97.5", "x").0, 403);
    assert!(!overrides.exists());
    let (status, r) = save("[encode]\r\ntarget_vmaf = 97.5\r\n", &csrf);
    assert_eq!(status, 303);
    assert!(r.header("location").unwrap().contains("override+saved"));
    let (_, r) = site.get(&format!("/folders?path={folder_q}"), Some(&session));
    let html = body(r);
    let row = html
        .split("<tr>")
        .find(|r| r.contains("<td>encode.target_vmaf</td>"))
        .unwrap_or_default()
        .to_string();
    assert!(
        row.contains("<td>97.5</td>") && row.contains("folder-overrides.toml"),
        "{row}"
    );
    assert!(textarea(&html).contains("target_vmaf = 97.5"), "{html}");
    let saved = std::fs::read_to_string(&overrides).unwrap();
    assert!(saved.contains(&format!("match = {films:?}")), "{saved}");
    assert!(saved.contains("# saved from the web page"), "{saved}");
    // The policy read from the files now has it.
    assert_eq!(
        site.app()
            .policy(&site.library.join("Films/a.mkv"))
            .policy
            .encode
            .target_vmaf,
        97.5
    );
    let (_, r) = site.get(&format!("/api/folders?path={folder_q}"), Some(&session));
    let v: serde_json::Value = serde_json::from_str(&body(r)).unwrap();
    assert!(v["override_text"].as_str().unwrap().contains("97.5"), "{v}");
    let (status, r) = save("", &csrf);
    assert_eq!(status, 303);
    assert!(r.header("location").unwrap().contains("override+removed"));
    assert!(!std::fs::read_to_string(&overrides)
        .unwrap()
        .contains("97.5"));
    // Encodes of the folder's plan in the queue: set a priority, skip a file for good,
    // encode one again.
    let jobs = app
        .enqueue(&mediaforce_app::Selection {
            all: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(jobs.len(), 2);
    let act = |job: i64, action: &str, extra: &[(&str, &str)]| {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(extra);
        let (status, r) = site.post(
            &format!("/queue/{job}/{action}"),
            Some(&session),
            Some(&origin),
            &form,
        );
        assert_eq!(status, 303, "{action}");
        let said = r.header("location").unwrap_or_default().to_string();
        serde_urlencoded::from_str::<Vec<(String, String)>>(said.split_once('?').unwrap().1)
            .unwrap()[0]
            .1
            .clone()
    };
    let (_, r) = site.get("/queue?state=queued", Some(&session));
    let html = body(r);
    assert!(
        html.contains(&format!("action=\"/queue/{}/priority\"", jobs[0])),
        "{html}"
    );
    assert!(act(jobs[0], "priority", &[("priority", "42")]).contains("priority 42"));
    assert_eq!(store.job(jobs[0]).unwrap().priority, 42);
    assert!(act(jobs[0], "priority", &[("priority", "")]).contains("whole number"));
    assert_eq!(store.job(jobs[0]).unwrap().priority, 42);
    let skipped = act(jobs[1], "skip", &[]);
    assert!(skipped.contains("skipped"), "{skipped}");
    assert_eq!(store.job(jobs[1]).unwrap().state, JobState::Cancelled);
    let skipped_file = store.job(jobs[1]).unwrap().payload["index"]
        .as_u64()
        .unwrap();
    let plan = site
        .app()
        .plan(Some(&site.library.join("Films")), None)
        .unwrap();
    assert_eq!(
        plan.plan.items.len(),
        1,
        "the skipped file is not planned again"
    );
    assert!(site
        .app()
        .settings()
        .ignore
        .iter()
        .any(|p| skipped.contains(p.as_str())));
    // A cancelled encode runs again from the start as a new job; a live one is not doubled.
    let again = act(jobs[1], "re-encode", &[]);
    assert!(again.contains("encoded again"), "{again}");
    let newest = store.list(Some(JobState::Queued), 10).unwrap();
    assert!(newest
        .iter()
        .any(|j| j.id > jobs[1] && j.payload["index"].as_u64() == Some(skipped_file)));
    let doubled = act(jobs[0], "skip", &[]);
    assert!(doubled.contains("skipped"), "{doubled}");
    let live = newest.iter().find(|j| j.id > jobs[1]).unwrap().id;
    let refused = act(jobs[1], "re-encode", &[]);
    assert!(
        refused.contains(&format!("job {live} for it is queued")),
        "{refused}"
    );
    // The settings page.
    let (status, r) = site.get("/settings", Some(&session));
    assert_eq!(status, 200);
    let html = body(r);
    assert!(html.contains(&site.library.display().to_string()), "{html}");
    assert!(html.contains("encode.encoder"), "{html}");

    // API tokens: a read-only one reads and may not change anything; a write one may, with
    // no session or CSRF token (nothing ambient to forge); an unknown one is refused.
    let reader = app
        .api_token_create("dashboards", mediaforce_app::web::Scope::Read)
        .unwrap();
    let writer = app
        .api_token_create("automation", mediaforce_app::web::Scope::Write)
        .unwrap();
    let bearer = |token: &str, method: &str, path: &str| {
        code(
            site.agent
                .request(method, &format!("{}{path}", site.base))
                .set("authorization", &format!("Bearer {token}"))
                .send_form(&[]),
        )
        .0
    };
    assert_eq!(bearer(&reader, "GET", "/api/dashboard"), 200);
    assert_eq!(bearer("0000", "GET", "/api/dashboard"), 401);
    let cancel = format!("/queue/{queued}/cancel");
    assert_eq!(bearer(&reader, "POST", &cancel), 403);
    assert_eq!(store.job(queued).unwrap().state, JobState::Queued);
    assert_eq!(bearer(&writer, "POST", &cancel), 303);
    assert_eq!(store.job(queued).unwrap().state, JobState::Cancelled);
    let listed = app.api_tokens().unwrap();
    assert_eq!(listed.len(), 2);
    app.api_token_revoke("automation").unwrap();
    assert_eq!(bearer(&writer, "GET", "/api/dashboard"), 401);

    // The hosts page changes what workers read.
    let (status, r) = site.get("/hosts", Some(&session));
    assert_eq!(status, 200);
    assert!(body(r).contains("id=\"host-desk\""));
    let (status, _) = site.post(
        "/hosts/desk/state",
        Some(&session),
        Some(&origin),
        &[("csrf", &csrf), ("state", "draining")],
    );
    assert_eq!(status, 303);
    assert_eq!(
        hosts.get("desk").unwrap().state,
        mediaforce::hosts::HostState::Draining
    );
    let save = |fields: &[(&str, &str)]| {
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        site.post("/hosts/desk/settings", Some(&session), Some(&origin), &form)
    };
    let (status, r) = save(&[
        ("max_jobs", "3"),
        ("schedule", "mon-fri 22:00-07:00"),
        ("nice", "5"),
        ("ionice", "idle"),
    ]);
    assert_eq!(status, 303);
    assert!(r.header("location").unwrap().contains("settings+saved"));
    let row = hosts.get("desk").unwrap();
    assert_eq!(
        (row.max_jobs, row.nice, row.ionice.to_string()),
        (3, 5, "idle".to_string())
    );
    assert_eq!(row.schedule, "mon,tue,wed,thu,fri 22:00-07:00");
    // A schedule that does not parse is refused with the cause; nothing changes.
    let (status, r) = save(&[("schedule", "moon 1-2")]);
    assert_eq!(status, 303);
    assert!(
        r.header("location").unwrap().contains("unknown+day"),
        "{:?}",
        r.header("location")
    );
    assert_eq!(
        hosts.get("desk").unwrap().schedule,
        "mon,tue,wed,thu,fri 22:00-07:00"
    );
    assert_eq!(save(&[("max_jobs", "0")]).0, 303);
    assert_eq!(hosts.get("desk").unwrap().max_jobs, 3);
    assert_eq!(
        site.post(
            "/hosts/nohost/settings",
            Some(&session),
            Some(&origin),
            &[("csrf", &csrf), ("nice", "1")]
        )
        .0,
        404
    );
    assert_eq!(
        site.post(
            "/hosts/desk/state",
            Some(&session),
            Some(&origin),
            &[("csrf", &csrf), ("state", "asleep")],
        )
        .0,
        422
    );
}

#[test]
fn in_a_real_browser_the_dashboard_shows_progress_arriving_without_a_reload() {
    let site = site();
    site.queue_jobs();
    let app = site.app();
    let mut store = app.queue().unwrap();
    let lease = store
        .claim("desk/0", &[], std::time::Duration::from_secs(600))
        .unwrap()
        .unwrap();
    store
        .event(&lease, "frames_done", &frames(10, 100))
        .unwrap();
    let b = Browser::start();
    b.go(&format!("{}/login", site.base));
    b.type_into("#password", "correct horse");
    b.click("#sign-in");
    b.wait_for("return location.pathname", "/library".into());
    b.go(&format!("{}/dashboard", site.base));
    let bar = format!(
        "return document.querySelector('#job-{} progress').value",
        lease.job
    );
    b.wait_for(&bar, 10.into());
    // Mark the page: a reload would lose the mark.
    b.eval("window.notReloaded = true; return 1");
    for done in [35, 70] {
        store
            .event(&lease, "frames_done", &frames(done, 100))
            .unwrap();
        b.wait_for(&bar, done.into());
    }
    assert_eq!(b.eval("return window.notReloaded === true"), true);
    let fps = b.eval(&format!(
        "return document.querySelector('#job-{} .fps').textContent",
        lease.job
    ));
    assert_eq!(fps, "24.0");
    b.screenshot("dashboard");
    // The job ends: its row goes and the counts follow, still without a reload.
    let done_before = b.eval("return document.getElementById('count-done').textContent");
    assert_eq!(done_before, "0");
    store.complete(&lease, &serde_json::json!({})).unwrap();
    b.wait_for(
        &format!(
            "return document.querySelectorAll('#job-{}').length",
            lease.job
        ),
        0.into(),
    );
    b.wait_for(
        "return document.getElementById('count-done').textContent",
        "1".into(),
    );
    b.wait_for(
        "return document.getElementById('count-running').textContent",
        "0".into(),
    );
    assert_eq!(b.eval("return window.notReloaded === true"), true);
    b.go(&format!("{}/queue", site.base));
    b.wait_for(
        "return document.querySelectorAll('#jobs tbody tr').length",
        3.into(),
    );
    b.screenshot("queue");
    mediaforce::hosts::Hosts::open(site.paths.data_dir.join("catalog.db").to_str().unwrap())
        .unwrap()
        .register(&mediaforce::hosts::this_machine("desk"))
        .unwrap();
    b.go(&format!("{}/hosts", site.base));
    b.wait_for(
        "return document.querySelectorAll('#host-desk').length",
        1.into(),
    );
    b.screenshot("hosts");
    b.go(&format!("{}/settings", site.base));
    b.wait_for(
        "return document.querySelectorAll('#roots tbody tr').length",
        1.into(),
    );
    b.screenshot("settings");
    b.click("#roots a");
    b.wait_for(
        "return document.querySelector('#files').textContent",
        "3 files".into(),
    );
    b.screenshot("folder");
}

/// A path as a query-string value.
fn serde_urlencoded_path(p: &str) -> String {
    p.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What a page's override editor holds.
fn textarea(html: &str) -> String {
    html.split("id=\"override-text\"")
        .nth(1)
        .and_then(|r| r.split_once('>'))
        .and_then(|(_, r)| r.split_once("</textarea>"))
        .map(|(t, _)| t.to_string())
        .unwrap_or_default()
}
