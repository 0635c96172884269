//! The settle timer: a path reported by a watch event or a rescan is taken only once its size
//! and modification time have stayed the same for the settle time, so a file still being
//! copied, downloaded or written in pieces is never picked up half-written. A pure structure:
//! the caller feeds it the time and a `stat`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What `stat` says of a path: its size and modification time (nanoseconds), or `None` when it
/// does not exist (a deletion settles too, and is taken as gone).
pub type Look = Option<(u64, i64)>;

#[derive(Debug, Clone)]
struct Pending {
    /// Its folder's settle time (seconds).
    settle: f64,
    /// What it looked like when last looked at.
    look: Option<Look>,
    /// Since when it has looked that way (seconds).
    stable_since: f64,
}

/// Paths waiting to settle.
#[derive(Debug, Clone, Default)]
pub struct Settler {
    pending: BTreeMap<PathBuf, Pending>,
}

impl Settler {
    /// `path` changed at `now`: its clock starts again; it is due once unchanged for
    /// `settle` seconds (its folder's `automation.settle_seconds`).
    pub fn observe(&mut self, path: &Path, now: f64, settle: f64) {
        let p = self.pending.entry(path.to_path_buf()).or_insert(Pending {
            settle,
            look: None,
            stable_since: now,
        });
        p.stable_since = now;
        p.settle = settle.max(0.0);
    }

    /// `path` was found different from the catalog by a rescan (no event says when it last
    /// changed): it starts waiting at `now` unless it already waits, whose clock then runs on
    /// (`stat` sees any change).
    pub fn consider(&mut self, path: &Path, now: f64, settle: f64) {
        if !self.pending.contains_key(path) {
            self.observe(path, now, settle);
        }
    }

    /// Paths waiting.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// Look at every waiting path at `now` and return those that have settled (unchanged
    /// for the settle time), in path order; they stop waiting.
    pub fn due(&mut self, now: f64, stat: impl Fn(&Path) -> Look) -> Vec<PathBuf> {
        let mut out = Vec::new();
        self.pending.retain(|path, p| {
            let look = stat(path);
            match p.look {
                // The first look: the event's time stands as the last change.
                None => p.look = Some(look),
                // A change only `stat` saw (no event: a network share): the clock restarts.
                Some(before) if before != look => {
                    p.look = Some(look);
                    p.stable_since = now;
                }
                Some(_) => {}
            }
            if now - p.stable_since >= p.settle {
                out.push(path.clone());
                false
            } else {
                true
            }
        });
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    #[test]
    fn a_file_written_in_pieces_is_taken_once_after_it_stops_changing() {
        let files: RefCell<HashMap<PathBuf, (u64, i64)>> = RefCell::default();
        let stat = |p: &Path| files.borrow().get(p).copied();
        let a = Path::new("/lib/a.mkv");
        let mut s = Settler::default();
        // Written in pieces every 4 s for 20 s: never due while it grows.
        let mut taken = Vec::new();
        for step in 0..=5 {
            let t = step as f64 * 4.0;
            files
                .borrow_mut()
                .insert(a.into(), (step * 100, step as i64));
            s.observe(a, t, 10.0);
            taken.extend(s.due(t, stat));
        }
        // 20 s: the last piece. Looked at every second after.
        for t in 21..=40 {
            let due = s.due(t as f64, stat);
            if !due.is_empty() {
                taken.push(due[0].clone());
                // 10 s after the last change, not before.
                assert_eq!(t, 30, "taken at {t} s");
            }
        }
        assert_eq!(taken, vec![a.to_path_buf()], "taken exactly once");
        assert_eq!(s.waiting(), 0);
    }

    #[test]
    fn a_rescan_that_finds_a_waiting_file_again_does_not_restart_its_clock() {
        let stat = |_: &Path| Some((1, 1));
        let a = Path::new("/share/c.mkv");
        let mut s = Settler::default();
        s.consider(a, 0.0, 3.0);
        for t in [1.0, 2.0] {
            s.consider(a, t, 3.0);
            assert!(s.due(t, stat).is_empty());
        }
        assert_eq!(s.due(3.0, stat), vec![a.to_path_buf()]);
    }

    #[test]
    fn a_change_seen_only_by_stat_restarts_the_clock() {
        // A network share sends no events: the rescan reports the file once, and stat sees it
        // still growing.
        let size = RefCell::new(1u64);
        let stat = |_: &Path| Some((*size.borrow(), 0));
        let a = Path::new("/share/b.mkv");
        let mut s = Settler::default();
        s.observe(a, 0.0, 10.0);
        assert!(s.due(5.0, stat).is_empty());
        *size.borrow_mut() = 2;
        assert!(s.due(9.0, stat).is_empty());
        assert!(s.due(18.0, stat).is_empty(), "changed at 9 s: due at 19 s");
        assert_eq!(s.due(19.0, stat), vec![a.to_path_buf()]);
    }

    #[test]
    fn a_deletion_settles_and_is_reported_as_missing() {
        let stat = |_: &Path| None;
        let mut s = Settler::default();
        s.observe(Path::new("/lib/gone.mkv"), 0.0, 2.0);
        assert!(s.due(1.0, stat).is_empty());
        assert_eq!(s.due(2.0, stat), vec![PathBuf::from("/lib/gone.mkv")]);
    }
}
