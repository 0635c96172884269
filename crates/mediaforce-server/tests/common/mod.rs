//! What the server's browser tests share: a small WebDriver client for Debian's
//! chromedriver.
#![allow(dead_code)]

use std::sync::Arc;

/// A response's status and the response, whether the status is an error or not.
pub fn code(r: Result<ureq::Response, ureq::Error>) -> (u16, ureq::Response) {
    match r {
        Ok(r) => (r.status(), r),
        Err(ureq::Error::Status(c, r)) => (c, r),
        Err(e) => panic!("{e}"),
    }
}

/// Every file under `dir`, depth first.
pub fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// `mediaforce serve` in-process on a loopback port for the state at `paths`: its address
/// (`127.0.0.1:port`) and the runtime that runs it (dropped, it stops).
pub fn serve(paths: &mediaforce_app::Paths) -> (String, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let served = Arc::new(mediaforce_app::App::open(paths).unwrap());
    runtime.spawn(async move { mediaforce_server::serve(listener, served, &[]).await });
    (addr, runtime)
}

/// A minimal WebDriver client (the W3C protocol over HTTP/JSON) for Debian's chromedriver.
pub struct Browser {
    base: String,
    session: String,
    driver: std::process::Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = std::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver; scripts/install-deps.sh installs it)");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while ureq::get(&format!("{base}/status")).call().is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "chromedriver did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-background-networking", "--disable-component-update",
                         "--disable-sync", "--no-first-run", "--window-size=1400,900",
                         format!("--user-data-dir={}", profile.path().display())]
            }
        }}});
        let v: serde_json::Value = ureq::post(&format!("{base}/session"))
            .send_json(caps)
            .expect("a Chromium session")
            .into_json()
            .unwrap();
        let session = v["value"]["sessionId"].as_str().unwrap().to_string();
        Self {
            base,
            session,
            driver,
            _profile: profile,
        }
    }

    pub fn call(&self, method: &str, path: &str, body: serde_json::Value) -> serde_json::Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let r = match method {
            "GET" => ureq::get(&url).call(),
            _ => ureq::post(&url).send_json(body),
        };
        match r {
            Ok(r) => r.into_json::<serde_json::Value>().unwrap()["value"].take(),
            Err(ureq::Error::Status(c, r)) => {
                panic!("{method} {path}: {c} {}", r.into_string().unwrap())
            }
            Err(e) => panic!("{method} {path}: {e}"),
        }
    }

    pub fn go(&self, url: &str) {
        self.call("POST", "/url", serde_json::json!({ "url": url }));
    }

    pub fn find(&self, css: &str) -> String {
        let v = self.call(
            "POST",
            "/element",
            serde_json::json!({"using": "css selector", "value": css}),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(|e| e.as_str())
            .unwrap()
            .to_string()
    }

    pub fn type_into(&self, css: &str, text: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &format!("/element/{e}/clear"),
            serde_json::json!({}),
        );
        self.call(
            "POST",
            &format!("/element/{e}/value"),
            serde_json::json!({ "text": text }),
        );
    }

    pub fn click(&self, css: &str) {
        let e = self.find(css);
        self.call(
            "POST",
            &format!("/element/{e}/click"),
            serde_json::json!({}),
        );
    }

    pub fn eval(&self, script: &str) -> serde_json::Value {
        self.call(
            "POST",
            "/execute/sync",
            serde_json::json!({"script": script, "args": []}),
        )
    }

    /// Wait until `script` returns `want`.
    pub fn wait_for(&self, script: &str, want: serde_json::Value) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let got = self.eval(script);
            if got == want {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{script}: {got} (want {want})"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Save a screenshot under `target/screenshots/` (looked at by the developer).
    pub fn screenshot(&self, name: &str) -> std::path::PathBuf {
        use base64_decode::decode;
        let png = decode(
            self.call("GET", "/screenshot", serde_json::Value::Null)
                .as_str()
                .unwrap(),
        );
        assert_eq!(&png[1..4], b"PNG");
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = ureq::delete(&format!("{}/session/{}", self.base, self.session)).call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64, decoded (screenshots arrive so).
mod base64_decode {
    pub fn decode(s: &str) -> Vec<u8> {
        let val = |c: u8| -> u32 {
            match c {
                b'A'..=b'Z' => u32::from(c - b'A'),
                b'a'..=b'z' => u32::from(c - b'a') + 26,
                b'0'..=b'9' => u32::from(c - b'0') + 52,
                b'+' => 62,
                b'/' => 63,
                _ => 0,
            }
        };
        let bytes: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
        let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
        for chunk in bytes.chunks(4) {
            let pad = chunk.iter().filter(|&&c| c == b'=').count();
            let n = chunk.iter().fold(0u32, |acc, &c| {
                (acc << 6) | if c == b'=' { 0 } else { val(c) }
            });
            let n = n << (6 * (4 - chunk.len()));
            let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.extend_from_slice(&three[..3 - pad.min(3)]);
        }
        out
    }
}
