//! Keeping encoder threads at normal scheduling.
//!
//! SVT-AV1 creates its worker threads under the real-time `SCHED_FIFO` policy whenever the
//! process may (running as root, in a container say). Real-time threads run before every normal
//! thread of the machine: while such an encode runs, the web page, the worker's heartbeats and
//! anything else the user runs wait behind it (the page's 99th percentile latency went from 4 ms
//! to 800 ms on two cores). After an encoder opens, the threads it made real-time are put back
//! to the normal policy, keeping the nice value they inherited, so a job's nice setting governs
//! them like every other thread.

/// Put every thread of this process that runs under `SCHED_FIFO` or `SCHED_RR` back on
/// `SCHED_OTHER`; returns how many were moved. Threads that exit meanwhile are skipped.
pub fn demote_realtime_threads() -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut moved = 0;
    for tid in tasks
        .flatten()
        .filter_map(|t| t.file_name().to_str()?.parse::<libc::pid_t>().ok())
    {
        if is_realtime(tid) {
            let param = libc::sched_param { sched_priority: 0 };
            // SAFETY: `param` is a valid, initialised sched_param that outlives the call; the
            // kernel only reads it. A tid that no longer exists gives ESRCH, which is ignored.
            if unsafe { libc::sched_setscheduler(tid, libc::SCHED_OTHER, &param) } == 0 {
                moved += 1;
            }
        }
    }
    moved
}

/// Whether thread `tid` of this process runs under a real-time policy.
pub fn is_realtime(tid: i32) -> bool {
    // SAFETY: sched_getscheduler takes a plain integer and returns the policy or -1; no memory
    // is shared with the kernel.
    let policy = unsafe { libc::sched_getscheduler(tid) };
    policy == libc::SCHED_FIFO || policy == libc::SCHED_RR
}

/// The ids of this process's threads.
pub fn threads() -> Vec<i32> {
    std::fs::read_dir("/proc/self/task")
        .map(|d| {
            d.flatten()
                .filter_map(|t| t.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Needs the privilege to make a thread real-time (root; CI runs the suite as root).
    #[test]
    fn a_real_time_thread_is_put_back_on_normal_scheduling() {
        let (tx, rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let t = std::thread::spawn(move || {
            // SAFETY: gettid has no arguments and cannot fail.
            let tid = unsafe { libc::gettid() };
            let param = libc::sched_param { sched_priority: 1 };
            // SAFETY: as in demote_realtime_threads; the calling thread changes itself.
            let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
            tx.send((tid, rc)).unwrap();
            stop_rx.recv().ok();
        });
        let (tid, rc) = rx.recv().unwrap();
        assert_eq!(
            rc, 0,
            "making a thread real-time needs root (or CAP_SYS_NICE)"
        );
        assert!(is_realtime(tid));
        assert!(threads().contains(&tid));
        assert!(demote_realtime_threads() >= 1);
        assert!(!is_realtime(tid));
        assert!(threads().iter().all(|&t| !is_realtime(t)));
        stop_tx.send(()).unwrap();
        t.join().unwrap();
    }
}
