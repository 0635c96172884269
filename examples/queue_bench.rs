//! Queue overhead on PostgreSQL: claims plus completions per second of empty jobs with N
//! concurrent workers (each its own connection, as hosts would be), and the claim latency's
//! 50th and 99th percentiles. `scripts/bench-queue.sh` starts a throwaway cluster and runs it.
//!
//! Usage: `queue_bench ADMIN_URL [WORKERS...]` (default 1 8 32 64).

use mediaforce::store::{create_database, JobStore, NewJob, SqlStore};
use std::time::{Duration, Instant};

fn main() {
    let mut args = std::env::args().skip(1);
    let admin = args
        .next()
        .expect("usage: queue_bench ADMIN_URL [WORKERS...]");
    let mut counts: Vec<usize> = args.filter_map(|a| a.parse().ok()).collect();
    if counts.is_empty() {
        counts = vec![1, 8, 32, 64];
    }
    println!("| workers | jobs | wall | claims+completions/s | claim p50 | claim p99 |");
    println!("|---|---|---|---|---|---|");
    for workers in counts {
        let url = create_database(&admin, &format!("mf_queue_bench_{workers}")).unwrap();
        let jobs = (workers * 100).clamp(1000, 6400);
        let mut s = SqlStore::open(&url).unwrap();
        for i in 0..jobs {
            s.enqueue(&NewJob::new("empty", serde_json::json!({ "i": i })))
                .unwrap();
        }
        let started = Instant::now();
        let latencies: Vec<Duration> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let url = url.clone();
                    scope.spawn(move || {
                        let mut s = SqlStore::open(&url).unwrap();
                        let mut lat = Vec::new();
                        loop {
                            let t = Instant::now();
                            let Some(lease) = s
                                .claim(&format!("w{w}"), &["empty"], Duration::from_secs(60))
                                .unwrap()
                            else {
                                break;
                            };
                            lat.push(t.elapsed());
                            s.complete(&lease, &serde_json::json!({})).unwrap();
                        }
                        lat
                    })
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap())
                .collect()
        });
        let wall = started.elapsed().as_secs_f64();
        let mut lat = latencies;
        assert_eq!(lat.len(), jobs, "every job claimed once");
        lat.sort();
        let pct = |p: f64| lat[((lat.len() - 1) as f64 * p) as usize].as_secs_f64() * 1000.0;
        println!(
            "| {workers} | {jobs} | {wall:.2} s | {:.0} | {:.2} ms | {:.2} ms |",
            jobs as f64 / wall,
            pct(0.5),
            pct(0.99)
        );
    }
}
