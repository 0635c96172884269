//! `mediaforce mcp` driven as an agent's client would: JSON-RPC lines over the child's standard
//! input and output (written here, not with the server's own library): `initialize`,
//! `tools/list`, then `tools/call` of `crf_search` on a generated clip, with progress.

#[allow(dead_code)] // this test uses one helper of the shared module
mod common;

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

struct Client {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: BufReader<std::process::ChildStdout>,
    /// Notifications received while waiting for answers.
    notes: Vec<Value>,
}

impl Client {
    fn start(data: &std::path::Path) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_mediaforce"))
            .arg("mcp")
            .env("MEDIAFORCE_DATA_DIR", data)
            .env("MEDIAFORCE_CACHE_DIR", data.join("cache"))
            .env_remove("MEDIAFORCE_DATABASE_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start mediaforce mcp");
        let input = child.stdin.take().unwrap();
        let output = BufReader::new(child.stdout.take().unwrap());
        Self {
            child,
            input,
            output,
            notes: Vec::new(),
        }
    }

    fn send(&mut self, msg: Value) {
        writeln!(self.input, "{msg}").unwrap();
        self.input.flush().unwrap();
    }

    /// Send request `id` and read until its answer, keeping notifications.
    fn call(&mut self, id: u64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        loop {
            let mut line = String::new();
            assert!(
                self.output.read_line(&mut line).unwrap() > 0,
                "the server closed its output"
            );
            let msg: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
            if msg["id"] == id {
                return msg;
            }
            self.notes.push(msg);
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_agent_lists_the_tools_and_searches_a_knob_with_progress() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mkv");
    common::lossless_source(&clip, 24, 48);
    let mut c = Client::start(&dir.path().join("state"));

    let init = c.call(
        1,
        "initialize",
        json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "mediaforce-test", "version": "1"}
        }),
    );
    let result = &init["result"];
    assert_eq!(result["serverInfo"]["name"], "mediaforce", "{init}");
    assert!(result["capabilities"]["tools"].is_object(), "{init}");
    assert!(result["protocolVersion"].is_string(), "{init}");
    c.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));

    let list = c.call(2, "tools/list", json!({}));
    let tools = list["result"]["tools"].as_array().unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "crf_search",
            "encode_to_target",
            "ladder",
            "probe",
            "recommend_knob",
            "score"
        ],
        "{list}"
    );
    for t in tools {
        assert!(!t["description"].as_str().unwrap().is_empty(), "{t}");
        assert_eq!(t["inputSchema"]["type"], "object", "{t}");
    }
    let search = tools.iter().find(|t| t["name"] == "crf_search").unwrap();
    let schema = &search["inputSchema"];
    assert!(schema["required"]
        .as_array()
        .unwrap()
        .contains(&json!("path")));
    for p in ["path", "encoder", "target_vmaf", "preset", "samples"] {
        assert!(schema["properties"][p].is_object(), "{p}: {schema}");
    }

    // A search on the clip, with a progress token: progress arrives before the answer, and
    // the answer is the search report, its chosen probe meeting the target.
    let call = c.call(
        3,
        "tools/call",
        json!({
            "name": "crf_search",
            "arguments": {
                "path": clip,
                "encoder": "libx264",
                "preset": "ultrafast",
                "target_vmaf": 90.0
            },
            "_meta": {"progressToken": "search-1"}
        }),
    );
    let report = &call["result"]["structuredContent"];
    assert_ne!(call["result"]["isError"], true, "{call}");
    assert_eq!(report["encoder"], "libx264", "{call}");
    assert_eq!(report["target"], 90.0);
    let probes = report["probes"].as_array().unwrap();
    assert!(!probes.is_empty());
    let chosen = &report["outcome"]["chosen"];
    let score = chosen["score"].as_f64().unwrap();
    assert!((90.0..=95.0).contains(&score), "{chosen}");
    assert!(probes.iter().any(|p| p["knob"] == chosen["knob"]));
    let progress: Vec<&Value> = c
        .notes
        .iter()
        .filter(|n| n["method"] == "notifications/progress")
        .collect();
    assert!(progress.len() >= 2, "{:?}", c.notes);
    assert!(progress
        .iter()
        .all(|n| n["params"]["progressToken"] == "search-1"));
    let steps: Vec<f64> = progress
        .iter()
        .map(|n| n["params"]["progress"].as_f64().unwrap())
        .collect();
    assert!(steps.windows(2).all(|w| w[0] < w[1]), "{steps:?}");
    assert!(progress
        .iter()
        .any(|n| n["params"]["message"].as_str().unwrap().contains("scored")));

    // The ladder at two heights and two knobs: four points, rungs among them.
    let ladder = c.call(
        7,
        "tools/call",
        json!({
            "name": "ladder",
            "arguments": {
                "path": clip,
                "encoder": "libx264",
                "preset": "ultrafast",
                "resolutions": [180, 90],
                "knobs": [20.0, 35.0],
                "samples": 1
            }
        }),
    );
    let l = &ladder["result"]["structuredContent"];
    assert_ne!(ladder["result"]["isError"], true, "{ladder}");
    assert_eq!(l["points"].as_array().unwrap().len(), 4, "{ladder}");
    assert!(!l["rungs"].as_array().unwrap().is_empty(), "{ladder}");
    assert!(l["points"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["height"] == 90 && p["width"] == 160));

    // The other tools answer too; a missing file is an error naming it.
    let probe = c.call(
        4,
        "tools/call",
        json!({"name": "probe", "arguments": {"path": clip}}),
    );
    let info = &probe["result"]["structuredContent"];
    assert_eq!(info["streams"][0]["codec"], "h264", "{probe}");
    let rec = c.call(
        5,
        "tools/call",
        json!({"name": "recommend_knob", "arguments": {"path": clip}}),
    );
    let r = &rec["result"]["structuredContent"];
    assert_eq!(r["resolution_class"], "sd", "{rec}");
    assert!(r["knob"].as_f64().is_some(), "{rec}");
    assert_eq!(r["knob_source"], "defaults.toml", "{rec}");
    let missing = c.call(
        6,
        "tools/call",
        json!({"name": "probe", "arguments": {"path": "/no/such/file.mkv"}}),
    );
    let said = missing.to_string();
    assert!(said.contains("/no/such/file.mkv"), "{said}");
    assert!(
        missing["error"].is_object() || missing["result"]["isError"] == true,
        "{said}"
    );
}
