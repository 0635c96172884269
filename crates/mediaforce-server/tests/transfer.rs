//! The file endpoint through its router, on a real listener: a planned, queued encode of a
//! generated source; a host's token; the lease held as a worker would hold it.

mod common;

use mediaforce::control::Fence;
use mediaforce::transfer::{hash_file, TransferClient, TransferError, EPOCH, OFFSET, RECEIVED};
use mediaforce_app::{App, Paths, Selection};
use mediaforce_core::synth::{SyntheticClip, SyntheticVideo};
use std::time::Duration;

fn status(r: Result<ureq::Response, ureq::Error>) -> u16 {
    common::code(r).0
}

#[test]
fn the_file_endpoint_serves_only_the_lease_holder_and_checks_what_it_receives() {
    // The only test in this binary: nothing else reads the environment meanwhile.
    for (k, v) in [
        ("MEDIAFORCE_POLICY_RANKING_MIN_SIZE_MB", "0"),
        ("MEDIAFORCE_POLICY_ENCODE_ENCODER", "libx264"),
    ] {
        std::env::set_var(k, v);
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("library");
    let troot = dir.path().join("transcode");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::create_dir_all(&troot).unwrap();
    let source = root.join("a.mkv");
    let mut v = SyntheticVideo::new(320, 180, 24)
        .encoder("libx264", &[("preset", "ultrafast"), ("qp", "0")]);
    v.texture = 12;
    SyntheticClip::new(v).write(&source).unwrap();
    let paths = Paths {
        data_dir: dir.path().join("state"),
        config_dir: None,
        database: None,
    };
    let app = App::open(&paths).unwrap();
    app.add_root(&root).unwrap();
    app.set_transcode_root(&troot).unwrap();
    let plan = app.campaign(&root, None, &|_| {}).unwrap();
    let staging = plan
        .first
        .as_ref()
        .expect("one item planned")
        .staging
        .clone();
    let ids = app
        .enqueue(&Selection {
            all: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids.len(), 1);
    let token = app.host_token("desk").unwrap();
    let other = app.host_token("laptop").unwrap();
    let mut store = app.queue().unwrap();
    let lease = store
        .claim("desk/0", &[], Duration::from_secs(600))
        .unwrap()
        .expect("the job");
    let fence = Fence {
        job: lease.job,
        epoch: lease.epoch,
    };

    let (addr, _runtime) = common::serve(&paths);
    let base = format!("http://{addr}");

    // The lease holder downloads the source, hash-checked.
    let client = TransferClient::new(&base, &token);
    let local = dir.path().join("copy.mkv");
    let got = client.download(fence, &local, &|| false).unwrap();
    assert_eq!(
        std::fs::read(&local).unwrap(),
        std::fs::read(&source).unwrap()
    );
    assert_eq!(got.hash, hash_file(&source).unwrap());
    assert_eq!(got.bytes, std::fs::metadata(&source).unwrap().len());

    // A range, as a resumed download asks for it.
    let url = format!("{base}/transfer/v1/jobs/{}/source", fence.job);
    let bytes = std::fs::read(&source).unwrap();
    let r = ureq::get(&url)
        .set("authorization", &format!("Bearer {token}"))
        .set(EPOCH, &fence.epoch.to_string())
        .set("range", "bytes=10-19")
        .call()
        .unwrap();
    assert_eq!(r.status(), 206);
    assert_eq!(
        r.header("content-range").unwrap(),
        format!("bytes 10-19/{}", bytes.len())
    );
    let mut body = Vec::new();
    std::io::Read::read_to_end(&mut r.into_reader(), &mut body).unwrap();
    assert_eq!(body, bytes[10..20]);
    let past = ureq::get(&url)
        .set("authorization", &format!("Bearer {token}"))
        .set(EPOCH, &fence.epoch.to_string())
        .set("range", &format!("bytes={}-", bytes.len()))
        .call();
    assert_eq!(status(past), 416);

    // Who may not: no token, another host's token, a stale epoch, a job that is not there,
    // a path-like job id.
    let req = |token: &str, epoch: i64, job: &str| {
        status(
            ureq::get(&format!("{base}/transfer/v1/jobs/{job}/source"))
                .set("authorization", &format!("Bearer {token}"))
                .set(EPOCH, &epoch.to_string())
                .call(),
        )
    };
    let job = fence.job.to_string();
    assert_eq!(req("", fence.epoch, &job), 401);
    assert_eq!(req("0123", fence.epoch, &job), 401);
    assert_eq!(req(&other, fence.epoch, &job), 403);
    assert_eq!(req(&token, fence.epoch + 1, &job), 409);
    assert_eq!(req(&token, fence.epoch, "9999"), 404);
    for bad in ["..%2F..%2Fetc%2Fpasswd", "..", "1%2F..%2F2"] {
        let code = req(&token, fence.epoch, bad);
        assert!(code == 400 || code == 404, "{bad}: {code}");
    }
    let stranger = TransferClient::new(&base, &other);
    assert!(matches!(
        stranger.download(fence, &dir.path().join("no.mkv"), &|| false),
        Err(TransferError::Refused(_))
    ));
    assert!(!dir.path().join("no.mkv").exists());

    // An upload cut after 1000 bytes resumes from what the receiver holds.
    let result = dir.path().join("result.mkv");
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&result, &payload).unwrap();
    let put_url = format!("{base}/transfer/v1/jobs/{}/result", fence.job);
    let first = ureq::put(&put_url)
        .set("authorization", &format!("Bearer {token}"))
        .set(EPOCH, &fence.epoch.to_string())
        .set(OFFSET, "0")
        .send_bytes(&payload[..1000])
        .unwrap();
    assert_eq!(first.header(RECEIVED), Some("1000"));
    assert_eq!(client.result_state(fence).unwrap(), (1000, None));
    let sent = client.upload(fence, &result, &|| false).unwrap();
    assert_eq!(sent.moved, 300_000 - 1000, "only the rest was sent");
    assert_eq!(std::fs::read(&staging).unwrap(), payload);
    let leftovers: Vec<_> = std::fs::read_dir(staging.parent().unwrap())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".upload-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // A damaged upload is caught by the receiver's hash check and discarded; the staged file
    // stays as it was.
    let commit = |hash: &str, len: usize| {
        status(
            ureq::post(&format!(
                "{base}/transfer/v1/jobs/{}/result/commit",
                fence.job
            ))
            .set("authorization", &format!("Bearer {token}"))
            .set(EPOCH, &fence.epoch.to_string())
            .set(mediaforce::transfer::HASH, hash)
            .set(mediaforce::transfer::LENGTH, &len.to_string())
            .call(),
        )
    };
    let mut damaged = payload.clone();
    damaged[5000] ^= 1;
    ureq::put(&put_url)
        .set("authorization", &format!("Bearer {token}"))
        .set(EPOCH, &fence.epoch.to_string())
        .set(OFFSET, "0")
        .send_bytes(&damaged)
        .unwrap();
    let honest = hash_file(&result).unwrap();
    assert_eq!(commit(&honest, payload.len()), 422);
    assert_eq!(client.result_state(fence).unwrap().0, 0, "discarded");
    assert_eq!(std::fs::read(&staging).unwrap(), payload);

    // The source's hash, from its own endpoint.
    let r = ureq::get(&format!("{url}/hash"))
        .set("authorization", &format!("Bearer {token}"))
        .set(EPOCH, &fence.epoch.to_string())
        .call()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.header(mediaforce::transfer::HASH).unwrap(),
        hash_file(&source).unwrap()
    );
    // A plan forged in the database (every worker can write it) to name a file outside the
    // library is not served.
    let catalog_db = paths.data_dir.join("catalog.db");
    let mut db = mediaforce::store::sql::Db::open(
        catalog_db.to_str().unwrap(),
        &mediaforce::catalog::SCHEMA,
    )
    .unwrap();
    let swap = |db: &mut mediaforce::store::sql::Db, from: &str, to: &str| {
        let n = db
            .execute(
                "UPDATE plan SET body = replace(body, ?1, ?2)",
                &[from.into(), to.into()],
            )
            .unwrap();
        assert_eq!(n, 1);
    };
    let secret = catalog_db.to_str().unwrap().to_string();
    swap(&mut db, source.to_str().unwrap(), &secret);
    assert_eq!(req(&token, fence.epoch, &job), 403);
    swap(&mut db, &secret, source.to_str().unwrap());
    assert_eq!(req(&token, fence.epoch, &job), 200);

    // Once the lease is lost, nothing of this host's is put in place: not by a request that
    // arrives afterwards, nor by a commit that was let in just before.
    let other_result = dir.path().join("late.mkv");
    std::fs::write(&other_result, b"a late result").unwrap();
    let in_flight = app.transfer_target(&token, fence.job, fence.epoch).unwrap();
    let upload = app.transfer_prepare_upload(&in_flight).unwrap();
    std::fs::write(&upload, b"a late result").unwrap();
    store.release(&lease, Duration::ZERO).unwrap();
    let late_hash = hash_file(&upload).unwrap();
    let e = app.transfer_commit(&in_flight, &late_hash, 13).unwrap_err();
    assert_eq!(e.kind, mediaforce_app::ErrorKind::Conflict, "{e}");
    assert!(!upload.exists(), "a fenced upload is discarded");
    let late = client.upload(fence, &other_result, &|| false);
    assert!(matches!(late, Err(TransferError::Fenced(_))), "{late:?}");
    assert_eq!(std::fs::read(&staging).unwrap(), payload);
    assert!(matches!(
        client.download(fence, &dir.path().join("late-copy.mkv"), &|| false),
        Err(TransferError::Fenced(_))
    ));
}

#[test]
fn the_server_refuses_a_network_address_until_a_web_password_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let paths = Paths {
        data_dir: dir.path().join("state"),
        config_dir: None,
        database: None,
    };
    let app = std::sync::Arc::new(App::open(&paths).unwrap());
    let runtime = tokio::runtime::Runtime::new().unwrap();
    // On every address (not loopback): refused while no password is set, by the server
    // itself, not only by the command line.
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("0.0.0.0:0"))
        .unwrap();
    let e = runtime
        .block_on(mediaforce_server::serve(listener, app.clone(), &[]))
        .unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(e.to_string().contains("web password"), "{e}");
    // Loopback is served without one (a sign-in page nobody else can reach).
    let addr: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    runtime
        .block_on(mediaforce_server::refuse_unprotected(addr, &app))
        .unwrap();
    // With a password, the network address is served.
    app.web_set_password("correct horse").unwrap();
    let any: std::net::SocketAddr = "0.0.0.0:0".parse().unwrap();
    runtime
        .block_on(mediaforce_server::refuse_unprotected(any, &app))
        .unwrap();
}
