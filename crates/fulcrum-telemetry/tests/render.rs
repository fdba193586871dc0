//! The exact text a small registry renders.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use fulcrum_telemetry::{Buckets, MetricError, Registry};

#[test]
fn renders_exact_text_in_stable_order() {
    let r = Registry::new();
    // Registered out of order: families render sorted by name, children by label values.
    let h = r
        .histogram_vec(
            "lat_seconds",
            "Latency.",
            ["route"],
            Buckets::try_new(&[0.1, 1.0]).unwrap(),
            2,
        )
        .unwrap();
    let c = r
        .counter_vec("hits_total", "Hits, with \\ and\nnewline.", ["path"], 4)
        .unwrap();
    let g = r.gauge("temp", "A gauge.").unwrap();
    let empty = r
        .counter_vec("unused_total", "Never used.", ["x"], 1)
        .unwrap();

    c.with(&["/b"]).add(3, 2);
    c.with(&["/a \"q\"\n\\"]).inc(0);
    g.set(-7);
    let api = h.with(&["api"]);
    api.observe(0, 0.05);
    api.observe(1, 0.1);
    api.observe(1, 0.5);
    api.observe(0, 3.0);

    let expected = "\
# HELP hits_total Hits, with \\\\ and\\nnewline.
# TYPE hits_total counter
hits_total{path=\"/a \\\"q\\\"\\n\\\\\"} 1
hits_total{path=\"/b\"} 2
# HELP lat_seconds Latency.
# TYPE lat_seconds histogram
lat_seconds_bucket{route=\"api\",le=\"0.1\"} 2
lat_seconds_bucket{route=\"api\",le=\"1\"} 3
lat_seconds_bucket{route=\"api\",le=\"+Inf\"} 4
lat_seconds_sum{route=\"api\"} 3.65
lat_seconds_count{route=\"api\"} 4
# HELP temp A gauge.
# TYPE temp gauge
temp -7
";
    assert_eq!(r.render(), expected);
    assert!(empty.is_empty());
    assert_eq!(
        r.names(),
        ["hits_total", "lat_seconds", "temp", "unused_total"]
    );
}

#[test]
fn callback_gauges_removal_and_duplicates() {
    let r = Arc::new(Registry::new());
    let g = r.gauge_vec("inflight", "In flight.", ["backend"]).unwrap();
    let owned_elsewhere = Arc::new(std::sync::atomic::AtomicI64::new(5));
    let seen = owned_elsewhere.clone();
    g.with_fn(&["b1"], move || {
        seen.load(std::sync::atomic::Ordering::Relaxed)
    });
    g.with(&["b2"]).inc();
    assert_eq!(g.value(&["b1"]), Some(5));
    owned_elsewhere.store(9, std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        r.render(),
        "# HELP inflight In flight.\n# TYPE inflight gauge\n\
         inflight{backend=\"b1\"} 9\ninflight{backend=\"b2\"} 1\n"
    );

    // A stored gauge replaces a callback (last writer wins), and removal stops export.
    g.with(&["b1"]).set(2);
    assert_eq!(g.value(&["b1"]), Some(2));
    assert!(g.remove(&["b2"]));
    assert!(!g.remove(&["b2"]));
    assert!(r.render().ends_with("inflight{backend=\"b1\"} 2\n"));

    assert_eq!(
        r.gauge("inflight", "again").err(),
        Some(MetricError::AlreadyRegistered("inflight".into()))
    );
    assert!(r.counter("bad-name", "", 1).is_err());
    assert!(r.unregister("inflight"));
    assert_eq!(r.render(), "");
}
