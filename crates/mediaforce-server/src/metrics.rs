//! `GET /metrics` in the Prometheus text formats, through `prometheus-client`: queue depth by
//! state and kind, bytes saved, promotions and rollbacks, encodes and mean fps per encoder and
//! host, host liveness and notification delivery attempts.
//!
//! `prometheus-client` writes OpenMetrics, which a scraper that asks for it gets. Anything else
//! (`curl`, `promtool check metrics`, a scraper without the header) gets the classic text
//! format (0.0.4), where a counter's family carries its `_total` name and there is no `# EOF`.

use mediaforce_app::stats::MetricsView;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    state: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EncoderLabels {
    encoder: String,
    host: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HostLabels {
    host: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    channel: String,
    outcome: String,
}

/// The figures as the text a Prometheus scrape reads.
pub fn encode(m: &MetricsView) -> String {
    let mut reg = Registry::with_prefix("mediaforce");
    let jobs = Family::<JobLabels, Gauge>::default();
    reg.register("jobs", "Jobs in the queue by state and kind", jobs.clone());
    for (state, kind, n) in &m.jobs {
        jobs.get_or_create(&JobLabels {
            state: state.clone(),
            kind: kind.clone(),
        })
        .set(*n as i64);
    }
    let saved = Gauge::<i64>::default();
    saved.set(m.saved_bytes);
    reg.register(
        "saved_bytes",
        "Bytes saved in the library (promotions less rollbacks)",
        saved,
    );
    let promotions = Counter::<u64>::default();
    promotions.inc_by(m.promotions.max(0) as u64);
    reg.register("promotions", "Promotions made", promotions);
    let rollbacks = Counter::<u64>::default();
    rollbacks.inc_by(m.rollbacks.max(0) as u64);
    reg.register("rollbacks", "Promotions rolled back", rollbacks);
    let encodes = Family::<EncoderLabels, Counter>::default();
    let fps = Family::<EncoderLabels, Gauge<f64, AtomicU64>>::default();
    let seconds = Family::<EncoderLabels, Counter<f64, AtomicU64>>::default();
    reg.register(
        "encodes",
        "Encodes finished by encoder and host",
        encodes.clone(),
    );
    reg.register(
        "encode_fps",
        "Mean encode frames per second by encoder and host",
        fps.clone(),
    );
    reg.register(
        "encode_seconds",
        "Wall seconds of search and encode by encoder and host",
        seconds.clone(),
    );
    for e in &m.encoders {
        let l = EncoderLabels {
            encoder: e.encoder.clone(),
            host: e.host.clone(),
        };
        encodes.get_or_create(&l).inc_by(e.encodes.max(0) as u64);
        fps.get_or_create(&l).set(e.mean_fps);
        seconds.get_or_create(&l).inc_by(e.seconds.max(0.0));
    }
    let up = Family::<HostLabels, Gauge>::default();
    reg.register(
        "host_up",
        "1 while a worker host's heartbeat is current",
        up.clone(),
    );
    for (host, alive) in &m.hosts {
        up.get_or_create(&HostLabels { host: host.clone() })
            .set(i64::from(*alive));
    }
    let deliveries = Family::<DeliveryLabels, Gauge>::default();
    reg.register(
        "notify_attempts",
        "Notification delivery attempts kept (the newest 200 per channel) by outcome",
        deliveries.clone(),
    );
    for (channel, ok, n) in &m.deliveries {
        deliveries
            .get_or_create(&DeliveryLabels {
                channel: channel.clone(),
                outcome: if *ok { "delivered" } else { "failed" }.into(),
            })
            .set(*n);
    }
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = prometheus_client::encoding::text::encode(&mut out, &reg);
    out
}

/// OpenMetrics text (as [`encode`] writes it) in the classic Prometheus text format (0.0.4): a
/// counter family is named as its samples are (with `_total`), `# UNIT` and `# EOF` lines go.
pub fn classic_text(openmetrics: &str) -> String {
    let lines: Vec<&str> = openmetrics.lines().collect();
    let mut counters = std::collections::HashSet::new();
    for l in &lines {
        if let Some(rest) = l.strip_prefix("# TYPE ") {
            if let Some(name) = rest.strip_suffix(" counter") {
                counters.insert(name.to_string());
            }
        }
    }
    let mut out = String::with_capacity(openmetrics.len());
    for l in lines {
        if l == "# EOF" || l.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = l.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            (counters.contains(name) && !name.ends_with("_total"))
                .then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(l));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::classic_text;

    #[test]
    fn counters_take_their_total_name_in_the_classic_format() {
        let open = "# HELP m_saved Bytes.\n# TYPE m_saved gauge\nm_saved 5\n\
                    # HELP m_runs Runs made.\n# TYPE m_runs counter\n# UNIT m_runs runs\n\
                    m_runs_total{host=\"a b\"} 2\n# EOF\n";
        assert_eq!(
            classic_text(open),
            "# HELP m_saved Bytes.\n# TYPE m_saved gauge\nm_saved 5\n\
             # HELP m_runs_total Runs made.\n# TYPE m_runs_total counter\n\
             m_runs_total{host=\"a b\"} 2\n"
        );
    }
}
