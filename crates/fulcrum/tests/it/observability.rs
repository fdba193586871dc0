//! `/metrics` exports every metric SPEC names, with values that follow the traffic; the
//! dashboard page is served and drives the admin API.

use fulcrum_testkit::{Backend, Client};

use crate::support::{admin_call, Lb};

fn config(be: &Backend) -> String {
    format!(
        "[runtime]\nworkers = 2\n[access_log]\ntarget = \"off\"\n\
         [admin]\nbind = \"127.0.0.1:0\"\naudit_log = \"off\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [[listener.route]]\nname = \"all\"\npool = \"app\"\n\
         [pool.app]\nbackends = [{{ address = \"{}\" }}]\n",
        be.addr
    )
}

/// The value of the sample `series` (name with labels, exactly as rendered).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)
            .and_then(|rest| rest.trim().parse().ok())
    })
}

#[test]
fn metrics_follow_the_traffic_with_the_spec_names() {
    let be = Backend::start("be");
    let lb = Lb::start(&config(&be));
    let mut cl = Client::http1(lb.addr());
    for _ in 0..5 {
        assert_eq!(cl.get("a", "/", &[]).unwrap().status, 200);
    }
    assert_eq!(cl.get("a", "/status/503", &[]).unwrap().status, 503);
    drop(cl);
    let text = admin_call(lb.admin(), "GET", "/metrics", None, None).text();
    for name in [
        "fulcrum_requests_total",
        "fulcrum_request_duration_seconds",
        "fulcrum_backend_up",
        "fulcrum_backend_inflight",
        "fulcrum_connections_active",
        "fulcrum_connections_total",
        "fulcrum_bytes_total",
        "fulcrum_config_reloads_total",
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} ")),
            "{name} missing:\n{text}"
        );
    }
    let ok = sample(
        &text,
        "fulcrum_requests_total{listener=\"web\",route=\"all\",pool=\"app\",code=\"200\"}",
    );
    assert_eq!(ok, Some(5.0), "{text}");
    let err = sample(
        &text,
        "fulcrum_requests_total{listener=\"web\",route=\"all\",pool=\"app\",code=\"503\"}",
    );
    assert_eq!(err, Some(1.0), "{text}");
    let count = sample(
        &text,
        "fulcrum_request_duration_seconds_count{listener=\"web\",route=\"all\",pool=\"app\"}",
    );
    assert_eq!(count, Some(6.0));
    let up = sample(
        &text,
        &format!("fulcrum_backend_up{{pool=\"app\",backend=\"{}\"}}", be.addr),
    );
    assert_eq!(up, Some(1.0));
    assert_eq!(
        sample(&text, "fulcrum_connections_total{listener=\"web\"}"),
        Some(1.0)
    );
    let bytes_in = sample(
        &text,
        "fulcrum_bytes_total{listener=\"web\",direction=\"in\"}",
    )
    .unwrap();
    assert!(bytes_in > 100.0, "{bytes_in}");
}

#[test]
fn dashboard_page_is_served_and_uses_the_api() {
    let be = Backend::start("be");
    let lb = Lb::start(&config(&be));
    // Host: the admin address, as a browser pointed at it sends (issue 7 item 4 refuses
    // other names on a token-less admin listener).
    let r = admin_call(lb.admin(), "GET", "/", None, None);
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let page = r.text();
    assert!(
        page.contains("<title>Fulcrum</title>") && page.contains("/api/v1/pools"),
        "{page}"
    );
}
