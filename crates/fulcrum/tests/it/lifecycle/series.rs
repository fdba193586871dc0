//! Item 14: metric series of removed backends, routes and listeners go away (they used to be
//! exported forever: a removed backend as "down", an alert that never clears).

use std::time::Duration;

use fulcrum_testkit::{get, wait_until, Backend};

use crate::support::{admin_call, delete_backend, post_backend, Lb, TempDir};

fn config(a: &Backend, extra_route: &str, extra_listener: &str) -> String {
    format!(
        "[runtime]\nworkers = 1\n[access_log]\ntarget = \"off\"\n\
         [admin]\nbind = \"127.0.0.1:0\"\naudit_log = \"off\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n{extra_route}\
         [[listener.route]]\nname = \"main\"\npool = \"app\"\n{extra_listener}\
         [pool.app]\nbackends = [{{ address = \"{}\" }}]\ndrain_timeout = \"2s\"\n",
        a.addr
    )
}

fn metrics(lb: &Lb) -> String {
    let r = admin_call(lb.admin(), "GET", "/metrics", None, None);
    assert_eq!(r.status, 200);
    r.text()
}

/// Issue 7 item 14: a backend added through the API and removed again leaves `/metrics` once
/// its drain ended; added again later, it gets fresh series.
#[test]
fn removed_backend_series_leave_metrics_after_the_drain_and_return_fresh() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let dir = TempDir::new("series-backend");
    let lb = Lb::start_file(&dir.write("fulcrum.toml", &config(&a, "", "")));
    let up = format!("fulcrum_backend_up{{pool=\"app\",backend=\"{}\"}}", b.addr);
    let inflight = format!(
        "fulcrum_backend_inflight{{pool=\"app\",backend=\"{}\"}}",
        b.addr
    );
    let add = || {
        let body = format!("{{\"address\": \"{}\"}}", b.addr);
        let r = post_backend(lb.admin(), "app", &body);
        assert!(
            r.status == 200 || r.status == 201,
            "{}: {}",
            r.status,
            r.text()
        );
    };
    add();
    let text = metrics(&lb);
    assert!(text.contains(&format!("{up} 1\n")), "{text}");
    assert!(text.contains(&format!("{inflight} 0\n")), "{text}");

    let r = delete_backend(lb.admin(), "app", &b.addr.to_string());
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(
        wait_until(Duration::from_secs(10), || !metrics(&lb)
            .contains(&b.addr.to_string())),
        "the removed backend is still exported:\n{}",
        metrics(&lb)
    );
    // The backend that stays is still there.
    assert!(metrics(&lb).contains(&format!("backend=\"{}\"", a.addr)));

    add();
    let text = metrics(&lb);
    assert!(text.contains(&format!("{up} 1\n")), "{text}");
    assert!(text.contains(&format!("{inflight} 0\n")), "{text}");
}

/// Issue 7 item 14: a reload that removes a route and a listener drops their request,
/// connection and byte series; what stays keeps counting.
#[test]
fn reload_drops_the_series_of_removed_routes_and_listeners() {
    let a = Backend::start("a");
    let dir = TempDir::new("series-routes");
    let legacy =
        "[[listener.route]]\nname = \"legacy\"\npath_prefix = \"/legacy\"\npool = \"app\"\n";
    let old = "[[listener]]\nname = \"old\"\nbind = \"127.0.0.1:0\"\n\
               [[listener.route]]\nname = \"o\"\npool = \"app\"\n";
    let path = dir.write("fulcrum.toml", &config(&a, legacy, old));
    let lb = Lb::start_file(&path);
    assert_eq!(get(lb.addr(), "/legacy/x").status, 200);
    assert_eq!(get(lb.addr(), "/").status, 200);
    assert_eq!(get(lb.listener("old"), "/").status, 200);
    let text = metrics(&lb);
    assert!(text.contains("route=\"legacy\""), "{text}");
    assert!(text.contains("listener=\"old\""), "{text}");

    std::fs::write(&path, config(&a, "", "")).unwrap();
    lb.reload().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || {
            let t = metrics(&lb);
            !t.contains("route=\"legacy\"") && !t.contains("listener=\"old\"")
        }),
        "series of removed things still exported:\n{}",
        metrics(&lb)
    );
    let text = metrics(&lb);
    assert!(
        text.contains(
            "fulcrum_requests_total{listener=\"web\",route=\"main\",pool=\"app\",code=\"200\"} 1\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("fulcrum_connections_total{listener=\"web\"}"),
        "{text}"
    );
}
