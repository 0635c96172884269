//! Scaling across hosts: N worker processes, each in a network namespace of its own (run by
//! `scripts/bench-hosts.sh`), claim jobs of a fixed, known duration from one PostgreSQL queue
//! and hold each under a real lease (the product's heartbeat keeper) for that long. What is
//! measured is the queue: with perfect scaling N workers finish N times as many jobs a second
//! as one.
//!
//! Usage: `hosts_bench enqueue URL JOBS` or `hosts_bench worker URL NAME HOLD_MS`; a worker
//! prints how many jobs it ran and exits when the queue is empty.

use mediaforce::control::{Fence, JobControl};
use mediaforce::store::{JobStore, NewJob, SqlStore};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| {
        args.get(i)
            .cloned()
            .expect("usage: hosts_bench enqueue URL JOBS | worker URL NAME HOLD_MS")
    };
    let mut store = SqlStore::open(&arg(1)).expect("connect");
    match arg(0).as_str() {
        "enqueue" => {
            let jobs: usize = arg(2).parse().expect("JOBS");
            for i in 0..jobs {
                store
                    .enqueue(&NewJob::new("timed", serde_json::json!({ "i": i })))
                    .expect("enqueue");
            }
        }
        "worker" => {
            let (url, name) = (arg(1), arg(2));
            let hold = Duration::from_millis(arg(3).parse().expect("HOLD_MS"));
            let cancel = AtomicBool::new(false);
            let mut ran = 0;
            while let Some(lease) = store
                .claim(
                    &format!("{name}/0"),
                    &["timed"],
                    mediaforce::batch::lease_length(),
                )
                .expect("claim")
            {
                let control = JobControl::fenced(Fence {
                    job: lease.job,
                    epoch: lease.epoch,
                });
                mediaforce::batch::hold_lease(&url, &lease, &cancel, &control, None, || {
                    std::thread::sleep(hold)
                });
                store
                    .complete(&lease, &serde_json::json!({ "host": name }))
                    .expect("complete");
                ran += 1;
            }
            println!("{name} {ran}");
        }
        other => panic!("unknown mode {other}"),
    }
}
