//! Throughput of the file endpoint on loopback (run by `scripts/bench-transfer.sh`): a job's
//! source of SIZE MiB downloaded by the transfer client (which also hashes it) against `curl` fetching the same file from the same endpoint, and an upload (the
//! client's resumable PUT, with the hash checked on both sides and the rename under the
//! lease) against `curl -T` of the same file. Each is run RUNS times, alternating; medians.
//!
//! Usage: `transfer_bench [SIZE_MIB] [RUNS]` (default 1024, 5).

use mediaforce::control::Fence;
use mediaforce::transfer::{TransferClient, EPOCH, OFFSET};
use mediaforce_app::{App, Paths, Selection};
use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use std::io::Write;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn curl(args: &[&str]) -> f64 {
    let t = Instant::now();
    let out = Command::new("curl")
        .args(["-sS", "--fail"])
        .args(args)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed().as_secs_f64()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mib: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1024);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(5);
    std::env::set_var("MEDIAFORCE_POLICY_RANKING_MIN_SIZE_MB", "0");
    let dir = tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| ".".into()))
        .expect("scratch directory");
    let root = dir.path().join("library");
    let troot = dir.path().join("transcode");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&troot).unwrap();
    let source = root.join("big.mkv");
    SyntheticClip::new(SyntheticVideo::new(64, 64, 4))
        .write(&source)
        .unwrap();
    let paths = Paths {
        data_dir: dir.path().join("state"),
        config_dir: None,
        database: None,
    };
    let app = App::open(&paths).unwrap();
    app.add_root(&root).unwrap();
    app.set_transcode_root(&troot).unwrap();
    app.campaign(&root, None, &|_| {}).unwrap();
    app.enqueue(&Selection {
        all: true,
        ..Default::default()
    })
    .unwrap();
    let token = app.host_token("bench").unwrap();
    let lease = app
        .queue()
        .unwrap()
        .claim("bench/0", &[], Duration::from_secs(3600))
        .unwrap()
        .expect("the job");
    let fence = Fence {
        job: lease.job,
        epoch: lease.epoch,
    };
    // The planned file replaced by SIZE MiB of incompressible bytes: the endpoint serves the
    // job's path whatever it holds.
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&source).unwrap());
        let mut xof = blake3::Hasher::new().update(b"bench").finalize_xof();
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..mib {
            xof.fill(&mut buf);
            f.write_all(&buf).unwrap();
        }
    }
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = Arc::new(App::open(&paths).unwrap());
    runtime.spawn(async move { mediaforce_server::serve(listener, served, &[]).await });
    let client = TransferClient::new(&base, &token);
    let url = format!("{base}/transfer/v1/jobs/{}/source", fence.job);
    let put = format!("{base}/transfer/v1/jobs/{}/result", fence.job);
    let auth = format!("authorization: Bearer {token}");
    let epoch = format!("{EPOCH}: {}", fence.epoch);
    let copy = dir.path().join("copy.bin");
    // Warm: the endpoint hashes the source once, and the page cache holds it.
    client.download(fence, &copy, &|| false).unwrap();
    let (mut ours_down, mut curl_down, mut ours_up, mut curl_up) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        let _ = std::fs::remove_file(&copy);
        let t = Instant::now();
        client.download(fence, &copy, &|| false).unwrap();
        ours_down.push(t.elapsed().as_secs_f64());
        let out = dir.path().join("curl.bin");
        curl_down.push(curl(&[
            "-H",
            &auth,
            "-H",
            &epoch,
            &url,
            "-o",
            out.to_str().unwrap(),
        ]));
        let _ = std::fs::remove_file(&out);
        let t = Instant::now();
        client.upload(fence, &copy, &|| false).unwrap();
        ours_up.push(t.elapsed().as_secs_f64());
        curl_up.push(curl(&[
            "-H",
            &auth,
            "-H",
            &epoch,
            "-H",
            &format!("{OFFSET}: 0"),
            "-T",
            copy.to_str().unwrap(),
            &put,
            "-o",
            "/dev/null",
        ]));
        // curl's upload is left uncommitted: empty it, so the next upload starts from zero.
        ureq::put(&put)
            .set("authorization", &format!("Bearer {token}"))
            .set(EPOCH, &fence.epoch.to_string())
            .set(OFFSET, "0")
            .send_bytes(&[])
            .unwrap();
    }
    let mb = (mib << 20) as f64 / 1e6;
    let rate = |s: f64| mb / s;
    let (od, cd, ou, cu) = (
        median(ours_down),
        median(curl_down),
        median(ours_up),
        median(curl_up),
    );
    println!("| {mib} MiB on loopback | mediaforce | curl | ratio |");
    println!("|---|---|---|---|");
    println!(
        "| download (ours: hash-checked as it arrives) | {:.0} MB/s | {:.0} MB/s | {:.2}x |",
        rate(od),
        rate(cd),
        cd / od
    );
    println!(
        "| upload (ours: hashed both sides, renamed under the lease) | {:.0} MB/s | {:.0} MB/s | {:.2}x |",
        rate(ou),
        rate(cu),
        cu / ou
    );
}
