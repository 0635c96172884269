//! The hosts that run jobs. The registry itself (names, heartbeats, the operator's settings,
//! tokens) is the store's ([`crate::store::hosts`], re-exported here); this module adds what
//! needs the machine or the job layer: describing this machine, and checking a host's
//! schedule before it is stored.

pub use crate::store::hosts::*;

/// This machine, named `name`: its OS, cores, memory and the encoders its adapters find.
pub fn this_machine(name: &str) -> HostInfo {
    let memory_bytes = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024);
    HostInfo {
        name: name.to_string(),
        instance: format!("{}@{}:{}", std::process::id(), host_name(), now_ms()),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        memory_bytes,
        encoders: crate::codecs::all()
            .iter()
            .filter(|a| a.availability().is_ok())
            .map(|a| a.id().to_string())
            .collect(),
    }
}

/// This machine's host name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

/// `change` with its schedule parsed and written the canonical way; a schedule that does not
/// parse is refused naming the host.
pub fn checked(name: &str, change: &HostSettings) -> Result<HostSettings, HostError> {
    let mut change = change.clone();
    if let Some(s) = &change.schedule {
        let parsed = s
            .parse::<crate::schedule::Schedule>()
            .map_err(|e| HostError::Invalid(format!("host {name}: schedule {e}")))?;
        change.schedule = Some(parsed.to_string());
    }
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_is_checked_and_written_the_canonical_way() {
        let with = |s: &str| HostSettings {
            schedule: Some(s.into()),
            ..HostSettings::default()
        };
        let e = checked("nas", &with("moon 1-2")).unwrap_err();
        assert!(
            e.to_string().contains("host nas: schedule") && e.to_string().contains("unknown day"),
            "{e}"
        );
        let c = checked("nas", &with("Mon-Fri 22:00-07:00")).unwrap();
        assert_eq!(
            c.schedule.as_deref(),
            Some("mon,tue,wed,thu,fri 22:00-07:00")
        );
        assert_eq!(
            checked("nas", &HostSettings::default()).unwrap().schedule,
            None
        );
    }
}
