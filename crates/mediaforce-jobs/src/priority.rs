//! CPU and I/O priority of the calling thread, for a host's encodes (`hosts set --nice
//! --ionice`): set on a worker's job thread before each job, so the encoder's threads, created
//! during the job, inherit them. On Linux both are per thread.

pub use crate::store::hosts::IoPriority;

/// The raw `ioprio` value of a class and level (the kernel's IOPRIO_PRIO_VALUE); none is the
/// kernel's default class (the level follows the nice value).
fn ioprio_value(p: IoPriority) -> i32 {
    const CLASS_SHIFT: i32 = 13;
    match p {
        IoPriority::None => 0,
        IoPriority::BestEffort(n) => (2 << CLASS_SHIFT) | i32::from(n.min(7)),
        IoPriority::Idle => 3 << CLASS_SHIFT,
    }
}

/// `ioprio_set`/`ioprio_get` on one thread: the one system call the standard library and
/// rustix do not wrap.
fn ioprio(set: Option<i32>, tid: i32) -> std::io::Result<i32> {
    const WHO_PROCESS: libc::c_long = 1;
    // SAFETY: both calls take plain integers (who, which thread, and for set the new value)
    // and touch no memory of ours; a bad thread id is an error return, not undefined.
    let r = unsafe {
        match set {
            Some(v) => libc::syscall(
                libc::SYS_ioprio_set,
                WHO_PROCESS,
                libc::c_long::from(tid),
                libc::c_long::from(v),
            ),
            None => libc::syscall(libc::SYS_ioprio_get, WHO_PROCESS, libc::c_long::from(tid)),
        }
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r as i32)
    }
}

/// Give the calling thread (and the threads it starts from now on) `nice` (-20..19; lowering
/// it below its present value needs privileges) and the I/O class `io`.
pub fn apply_to_this_thread(nice: i32, io: IoPriority) -> Result<(), String> {
    let tid = rustix::thread::gettid();
    rustix::process::setpriority_process(Some(tid), nice)
        .map_err(|e| format!("nice {nice}: {e}"))?;
    ioprio(Some(ioprio_value(io)), tid.as_raw_nonzero().get())
        .map_err(|e| format!("ionice {io}: {e}"))?;
    Ok(())
}

/// The calling thread's nice value and raw I/O priority.
pub fn this_thread() -> std::io::Result<(i32, i32)> {
    let tid = rustix::thread::gettid();
    let nice = rustix::process::getpriority_process(Some(tid))?;
    Ok((nice, ioprio(None, tid.as_raw_nonzero().get())?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_classes_parse_and_print() {
        for (s, want) in [
            ("none", Ok(IoPriority::None)),
            ("idle", Ok(IoPriority::Idle)),
            ("best-effort", Ok(IoPriority::BestEffort(4))),
            ("Best-Effort:7", Ok(IoPriority::BestEffort(7))),
            ("best-effort:8", Err(())),
            ("realtime", Err(())),
        ] {
            assert_eq!(s.parse::<IoPriority>().map_err(|_| ()), want, "{s}");
        }
        assert_eq!(IoPriority::BestEffort(3).to_string(), "best-effort:3");
    }

    #[test]
    fn a_thread_and_the_threads_it_starts_take_the_priorities() {
        let base = this_thread().unwrap().0;
        let lower = (base + 7).min(19);
        std::thread::spawn(move || {
            apply_to_this_thread(lower, IoPriority::Idle).unwrap();
            let (nice, io) = this_thread().unwrap();
            assert_eq!(nice, lower);
            assert_eq!(io, 3 << 13, "idle class");
            // A thread started afterwards (as an encoder's would be) inherits both.
            let child = std::thread::spawn(this_thread).join().unwrap().unwrap();
            assert_eq!(child, (lower, 3 << 13));
        })
        .join()
        .unwrap();
        // Other threads are untouched.
        assert_eq!(this_thread().unwrap().0, base);
    }
}
