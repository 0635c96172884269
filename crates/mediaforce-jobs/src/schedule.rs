//! When a host may take new jobs: `always`, `never`, or weekly windows in the host's local time,
//! `DAYS HH:MM-HH:MM` separated by `;` (`mon-fri 22:00-07:00; sat,sun 00:00-24:00`). Days are
//! `mon`..`sun`, ranges (`mon-fri`, wrapping: `fri-mon`), lists, or `daily`. A window that
//! ends before it starts runs past midnight into the next day, and belongs to the day it
//! starts on. Evaluation is a pure function of (weekday, minute of day) with table tests; the
//! worker asks it with its clock before each claim.

use serde::Serialize;

/// A host's schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Schedule {
    /// Any time.
    Always,
    /// Never: the host takes no new job.
    Never,
    /// Weekly windows.
    Windows(Vec<Window>),
}

/// One weekly window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Window {
    /// Days it starts on, bit 0 = Monday.
    pub days: u8,
    /// Start, minutes after midnight.
    pub start: u32,
    /// End, minutes after midnight (at most 1440); at or before `start`: the next day.
    pub end: u32,
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day(s: &str) -> Result<u8, String> {
    DAYS.iter()
        .position(|d| *d == s)
        .map(|i| i as u8)
        .ok_or_else(|| format!("unknown day '{s}' (mon, tue, wed, thu, fri, sat, sun)"))
}

fn days(s: &str) -> Result<u8, String> {
    if s == "daily" {
        return Ok(0x7f);
    }
    let mut mask = 0u8;
    for part in s.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut d = a;
                loop {
                    mask |= 1 << d;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => mask |= 1 << day(part)?,
        }
    }
    Ok(mask)
}

fn minutes(s: &str) -> Result<u32, String> {
    let (h, m) = s
        .split_once(':')
        .ok_or_else(|| format!("'{s}': expected HH:MM"))?;
    let (h, m): (u32, u32) = (
        h.parse().map_err(|_| format!("'{s}': expected HH:MM"))?,
        m.parse().map_err(|_| format!("'{s}': expected HH:MM"))?,
    );
    if m > 59 || h > 24 || (h == 24 && m > 0) {
        return Err(format!("'{s}': not a time of day"));
    }
    Ok(h * 60 + m)
}

impl std::str::FromStr for Schedule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim().to_ascii_lowercase();
        match s.as_str() {
            "always" => return Ok(Schedule::Always),
            "never" => return Ok(Schedule::Never),
            _ => {}
        }
        let mut windows = Vec::new();
        for w in s.split(';').map(str::trim).filter(|w| !w.is_empty()) {
            let (d, t) = w
                .split_once(' ')
                .ok_or_else(|| format!("'{w}': expected DAYS HH:MM-HH:MM"))?;
            let (a, b) = t
                .trim()
                .split_once('-')
                .ok_or_else(|| format!("'{w}': expected DAYS HH:MM-HH:MM"))?;
            let mask = days(d.trim())?;
            let (start, end) = (minutes(a)?, minutes(b)?);
            if start == 1440 {
                return Err(format!("'{w}': a window cannot start at 24:00"));
            }
            windows.push(Window {
                days: mask,
                start,
                end,
            });
        }
        if windows.is_empty() {
            return Err("an empty schedule: say always, never, or DAYS HH:MM-HH:MM".into());
        }
        Ok(Schedule::Windows(windows))
    }
}

impl std::fmt::Display for Schedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Schedule::Always => f.write_str("always"),
            Schedule::Never => f.write_str("never"),
            Schedule::Windows(ws) => {
                let text: Vec<String> = ws
                    .iter()
                    .map(|w| {
                        let days: Vec<&str> = (0..7)
                            .filter(|d| w.days & (1 << d) != 0)
                            .map(|d| DAYS[d])
                            .collect();
                        format!(
                            "{} {:02}:{:02}-{:02}:{:02}",
                            days.join(","),
                            w.start / 60,
                            w.start % 60,
                            w.end / 60,
                            w.end % 60
                        )
                    })
                    .collect();
                f.write_str(&text.join("; "))
            }
        }
    }
}

impl Schedule {
    /// Whether a new job may start at `minute` (after midnight) of `weekday` (0 = Monday).
    pub fn allows(&self, weekday: u8, minute: u32) -> bool {
        match self {
            Schedule::Always => true,
            Schedule::Never => false,
            Schedule::Windows(ws) => ws.iter().any(|w| {
                let on = |d: u8| w.days & (1 << (d % 7)) != 0;
                if w.start < w.end {
                    on(weekday) && (w.start..w.end).contains(&minute)
                } else {
                    // Past midnight: the evening of a window day, or the morning after one.
                    (on(weekday) && minute >= w.start) || (on(weekday + 6) && minute < w.end)
                }
            }),
        }
    }

    /// Whether a new job may start now, in this host's local time.
    pub fn allows_now(&self) -> bool {
        use chrono::{Datelike, Timelike};
        let now = chrono::Local::now();
        self.allows(
            now.weekday().num_days_from_monday() as u8,
            now.hour() * 60 + now.minute(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_allow_exactly_their_minutes() {
        let nights: Schedule = "mon-fri 22:00-07:00; sat,sun 00:00-24:00".parse().unwrap();
        let (mon, tue, fri, sat, sun) = (0, 1, 4, 5, 6);
        let cases = [
            (mon, 21 * 60 + 59, false),
            (mon, 22 * 60, true),
            (tue, 6 * 60 + 59, true), // Monday night runs into Tuesday
            (tue, 7 * 60, false),
            (mon, 3 * 60, false), // Sunday's window ends at 24:00; Monday's starts at 22:00
            (fri, 23 * 60, true),
            (sat, 6 * 60, true), // Friday night into Saturday, and Saturday all day
            (sun, 12 * 60, true),
        ];
        for (d, m, want) in cases {
            assert_eq!(nights.allows(d, m), want, "day {d} minute {m}");
        }
        assert!(Schedule::Always.allows(3, 0));
        assert!(!Schedule::Never.allows(3, 0));
        let wrap: Schedule = "fri-mon 09:00-17:00".parse().unwrap();
        assert!(wrap.allows(sun, 10 * 60) && wrap.allows(mon, 10 * 60));
        assert!(!wrap.allows(tue, 10 * 60));
        assert_eq!(wrap.to_string(), "mon,fri,sat,sun 09:00-17:00");
        let daily: Schedule = "daily 01:30-02:00".parse().unwrap();
        assert!(daily.allows(3, 90) && !daily.allows(3, 120));
    }

    #[test]
    fn bad_schedules_say_what_is_wrong() {
        for (text, says) in [
            ("", "empty"),
            ("mon 22:00", "DAYS HH:MM-HH:MM"),
            ("moon 01:00-02:00", "unknown day 'moon'"),
            ("mon 25:00-26:00", "not a time of day"),
            ("mon 24:00-02:00", "cannot start at 24:00"),
            ("mon 1-2", "expected HH:MM"),
        ] {
            let e = text.parse::<Schedule>().unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }
}
