//! The SPEC metrics render as valid exposition text, checked by a small validator.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fulcrum_telemetry::{names, Direction, FulcrumMetrics, Registry, ReloadResult};

/// The SPEC's list: family name → (type, label names).
fn spec() -> BTreeMap<&'static str, (&'static str, Vec<&'static str>)> {
    BTreeMap::from([
        (
            "fulcrum_requests_total",
            ("counter", vec!["listener", "route", "pool", "code"]),
        ),
        (
            "fulcrum_request_duration_seconds",
            ("histogram", vec!["listener", "route", "pool"]),
        ),
        ("fulcrum_backend_up", ("gauge", vec!["pool", "backend"])),
        (
            "fulcrum_backend_inflight",
            ("gauge", vec!["pool", "backend"]),
        ),
        ("fulcrum_connections_active", ("gauge", vec!["listener"])),
        ("fulcrum_connections_total", ("counter", vec!["listener"])),
        (
            "fulcrum_bytes_total",
            ("counter", vec!["listener", "direction"]),
        ),
        ("fulcrum_config_reloads_total", ("counter", vec!["result"])),
        ("fulcrum_udp_flows_active", ("gauge", vec!["listener"])),
        (
            "fulcrum_udp_flows_evicted_total",
            ("counter", vec!["listener"]),
        ),
        (
            "fulcrum_udp_datagrams_dropped_total",
            ("counter", vec!["listener"]),
        ),
        (
            "fulcrum_guard_decisions_total",
            ("counter", vec!["listener", "route", "guard", "decision"]),
        ),
    ])
}

type Labels = Vec<(String, String)>;

/// Parses `{a="x",b="y"}` (with `\\`, `\"`, `\n` escapes); returns the pairs and the rest.
fn parse_labels(s: &str) -> Result<(Labels, &str), String> {
    let Some(mut rest) = s.strip_prefix('{') else {
        return Ok((Vec::new(), s));
    };
    let mut pairs = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return Ok((pairs, after));
        }
        let eq = rest.find("=\"").ok_or("label without =\"")?;
        let name = &rest[..eq];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("bad label name {name:?}"));
        }
        let mut value = String::new();
        let mut chars = rest[eq + 2..].char_indices();
        let end = loop {
            match chars.next().ok_or("unterminated label value")? {
                (_, '\\') => match chars.next().ok_or("dangling escape")?.1 {
                    '\\' => value.push('\\'),
                    '"' => value.push('"'),
                    'n' => value.push('\n'),
                    c => return Err(format!("bad escape \\{c}")),
                },
                (i, '"') => break eq + 2 + i + 1,
                (_, '\n') => return Err("raw newline in label value".into()),
                (_, c) => value.push(c),
            }
        };
        pairs.push((name.to_owned(), value));
        rest = &rest[end..];
        rest = rest.strip_prefix(',').unwrap_or(rest);
    }
}

/// Checks every line; returns the number of samples per family.
fn validate(text: &str) -> Result<BTreeMap<String, usize>, String> {
    let spec = spec();
    let mut typed: BTreeMap<String, &str> = BTreeMap::new();
    let mut samples: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen_series = HashSet::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap_or("");
            if !spec.contains_key(name) {
                return Err(format!("HELP for unknown {name}"));
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').ok_or("TYPE without kind")?;
            let (want, _) = spec.get(name).ok_or(format!("TYPE for unknown {name}"))?;
            if kind != *want || typed.insert(name.to_owned(), kind).is_some() {
                return Err(format!("bad or repeated TYPE line {line:?}"));
            }
            continue;
        }
        let end = line.find(['{', ' ']).ok_or(format!("no value: {line:?}"))?;
        let sample_name = &line[..end];
        let (labels, rest) = parse_labels(&line[end..])?;
        let value = rest
            .strip_prefix(' ')
            .ok_or(format!("no space: {line:?}"))?;
        value.parse::<f64>().map_err(|e| format!("{line:?}: {e}"))?;
        // The family: the sample name itself, or a histogram's name minus its suffix.
        let family = [sample_name, "_bucket", "_sum", "_count"]
            .iter()
            .skip(1)
            .filter_map(|suffix| sample_name.strip_suffix(suffix))
            .find(|f| typed.get(*f) == Some(&"histogram"))
            .unwrap_or(sample_name);
        let kind = typed
            .get(family)
            .ok_or(format!("sample before TYPE: {line:?}"))?;
        let (_, want_labels) = &spec[family];
        let mut got: Vec<&str> = labels.iter().map(|(n, _)| n.as_str()).collect();
        let is_bucket = *kind == "histogram" && sample_name.ends_with("_bucket");
        if is_bucket && got.pop() != Some("le") {
            return Err(format!("bucket without trailing le: {line:?}"));
        }
        if got != *want_labels {
            return Err(format!("labels {got:?} != {want_labels:?} in {line:?}"));
        }
        if !seen_series.insert((sample_name.to_owned(), labels)) {
            return Err(format!("duplicate series {line:?}"));
        }
        *samples.entry(family.to_owned()).or_default() += 1;
    }
    Ok(samples)
}

#[test]
fn fulcrum_metrics_render_valid_text() {
    let registry = Arc::new(Registry::new());
    let m = FulcrumMetrics::register(&registry, 4).unwrap();
    assert_eq!(registry.names(), spec().keys().copied().collect::<Vec<_>>());
    assert_eq!(names::ALL.len(), 12);

    let status = m.status_counters("web", "api", "api-pool");
    status.inc(0, 200);
    status.inc(1, 200);
    status.add(2, 503, 2);
    m.status_counters("web", "static \"v2\"", "files")
        .inc(3, 404);
    let lat = m.request_duration_seconds.with(&["web", "api", "api-pool"]);
    lat.observe_duration(0, Duration::from_micros(1200));
    lat.observe(1, 0.3);
    m.backend_up.with(&["api-pool", "10.0.0.1:80"]).set(1);
    m.backend_up.with(&["api-pool", "10.0.0.2:80"]).set(0);
    let inflight = Arc::new(AtomicI64::new(3));
    let read = inflight.clone();
    m.backend_inflight
        .with_fn(&["api-pool", "10.0.0.1:80"], move || {
            read.load(Ordering::Relaxed)
        });
    m.connections_active.with(&["web"]).inc();
    m.connections_total.with(&["web"]).inc(2);
    m.bytes_total
        .with(&["web", Direction::In.as_str()])
        .add(0, 512);
    m.bytes_total
        .with(&["web", Direction::Out.as_str()])
        .add(1, 4096);
    m.config_reloads_total
        .with(&[ReloadResult::Success.as_str()])
        .inc(0);
    m.config_reloads_total
        .with(&[ReloadResult::Failure.as_str()])
        .inc(0);
    m.udp_flows_active.with(&["dns"]).add(3);
    m.udp_flows_evicted_total.with(&["dns"]).inc(1);
    m.udp_datagrams_dropped_total.with(&["dns"]).add(0, 2);

    let text = registry.render();
    let samples = validate(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(samples.len(), 11, "every family rendered:\n{text}");
    assert!(text.contains("fulcrum_udp_flows_active{listener=\"dns\"} 3\n"));
    assert!(text.contains("fulcrum_udp_datagrams_dropped_total{listener=\"dns\"} 2\n"));
    assert_eq!(samples["fulcrum_requests_total"], 3);
    assert_eq!(samples["fulcrum_request_duration_seconds"], 17);
    assert!(text.contains(
        "fulcrum_requests_total{listener=\"web\",route=\"api\",pool=\"api-pool\",code=\"200\"} 2\n"
    ));
    assert!(
        text.contains("fulcrum_backend_inflight{pool=\"api-pool\",backend=\"10.0.0.1:80\"} 3\n")
    );
    assert!(text.contains("fulcrum_request_duration_seconds_sum{listener=\"web\",route=\"api\",pool=\"api-pool\"} 0.3012\n"));

    // A backend that goes away stops being exported.
    m.remove_backend("api-pool", "10.0.0.1:80");
    let text = registry.render();
    assert!(!text.contains("10.0.0.1:80"));
    validate(&text).unwrap();

    // The validator does reject what it should.
    for bad in [
        "fulcrum_backend_up{pool=\"p\",backend=\"b\"} 1\n",
        "# TYPE fulcrum_backend_up gauge\nfulcrum_backend_up{pool=\"p\"} 1\n",
        "# TYPE fulcrum_backend_up gauge\nfulcrum_backend_up{pool=\"p\",backend=\"b\"} x\n",
        "# TYPE fulcrum_nope gauge\n",
    ] {
        assert!(validate(bad).is_err(), "{bad}");
    }

    // Registering twice in one registry is an error.
    assert!(FulcrumMetrics::register(&registry, 4).is_err());
}

/// Issue 7 item 14: the series of removed routes, pools and listeners can be dropped, and
/// only those.
#[test]
fn series_of_removed_routes_and_listeners_can_be_dropped() {
    let registry = Registry::new();
    let m = FulcrumMetrics::register(&registry, 2).unwrap();
    m.status_counters("web", "api", "p1").inc(0, 200);
    m.status_counters("web", "api", "p1").inc(0, 503);
    m.status_counters("web", "old", "p2").inc(0, 200);
    m.status_counters("admin", "x", "p1").inc(0, 200);
    m.request_duration_seconds
        .with(&["web", "old", "p2"])
        .observe(0, 0.1);
    m.request_duration_seconds
        .with(&["web", "api", "p1"])
        .observe(0, 0.1);
    m.connections_total.with(&["web"]).inc(0);
    m.connections_total.with(&["gone"]).inc(0);
    m.connections_active.with(&["gone"]).inc();
    m.bytes_total.with(&["gone", "in"]).add(0, 5);
    m.bytes_total.with(&["gone", "out"]).add(0, 5);
    m.udp_flows_active.with(&["gone"]).set(0);
    m.udp_flows_evicted_total.with(&["gone"]).inc(0);
    m.udp_datagrams_dropped_total.with(&["gone"]).inc(0);

    let removed = m.retain_routes(|l, r, _| !(l == "web" && r == "old"));
    assert_eq!(removed, 2);
    m.remove_listener("gone");
    let text = registry.render();
    assert!(!text.contains("route=\"old\""), "{text}");
    assert!(!text.contains("\"gone\""), "{text}");
    assert!(
        text.contains("route=\"api\",pool=\"p1\",code=\"503\""),
        "{text}"
    );
    assert!(text.contains("listener=\"admin\""), "{text}");
    assert!(
        text.contains("fulcrum_connections_total{listener=\"web\"} 1"),
        "{text}"
    );
    // A later handle for a dropped series starts again from zero.
    m.status_counters("web", "old", "p2").inc(1, 200);
    assert!(registry.render().contains(
        "fulcrum_requests_total{listener=\"web\",route=\"old\",pool=\"p2\",code=\"200\"} 1\n"
    ));
}
