//! Reloads end to end where the suite had none (issue 7 item 25): a reload refused because a
//! new address cannot be bound, backends added through the API surviving reloads under load,
//! and reloads by SIGHUP (a `fulcrum run` process) and by the file watcher under load, each
//! with no failed request. Every load loop is bounded in time and count.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fulcrum_testkit::{get, wait_until, Backend};

use crate::support::{
    admin_call, backend_field, backends_list, field, post_backend, replace_file, Lb, Load,
    LoadOpts, Outcome, Proc, TempDir,
};

/// Generation `gen` of a file: `/gen` answers `gen-<gen>` (so a test sees which file is in
/// force), everything else goes to pool `app` over `app`; `admin`: an `[admin]` table on a
/// free port with these extra lines.
fn generation(gen: usize, app: &[&Backend], admin: Option<&str>) -> String {
    let admin = admin.map_or(String::new(), |extra| {
        format!("[admin]\nbind = \"127.0.0.1:0\"\naudit_log = \"off\"\n{extra}\n")
    });
    format!(
        "[runtime]\nworkers = 2\n[access_log]\ntarget = \"off\"\n{admin}\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [[listener.route]]\npath_prefix = \"/gen\"\nrespond = {{ body = \"gen-{gen}\" }}\n\
         [[listener.route]]\npool = \"app\"\n\
         [pool.app]\nbackends = {}\n",
        backends_list(app)
    )
}

/// The backends of generation `gen` of the reload-under-load files: backends come and go, and
/// some changes only remove one (so every request then goes to backends that were kept).
fn backend_set(bs: &[Backend], gen: usize) -> Vec<&Backend> {
    match gen % 3 {
        0 => vec![&bs[0], &bs[1]],
        1 => vec![&bs[1], &bs[2]],
        _ => vec![&bs[0], &bs[1], &bs[2]],
    }
}

/// A streamed body of this many bytes is one of the load's requests, and one that takes
/// about 80 ms (`/drip`): removed backends must finish them (drain), not cut them.
const STREAMED: usize = 256 * 1024;
const DRIP: &str = "/drip/5/20";
const DRIPPED: usize = 5 * 1024;

fn load(addr: SocketAddr) -> Load {
    Load::start(
        addr,
        LoadOpts {
            threads: 4,
            paths: vec![
                "/".into(),
                "/sleep/5".into(),
                format!("/bytes/{STREAMED}"),
                DRIP.into(),
            ],
            pace: None,
            max_time: Duration::from_secs(30),
            max_requests: 200_000,
        },
    )
}

/// Every outcome is a whole 200 from one of `names`.
fn assert_all_served(outcomes: &[Outcome], names: &[&str], what: &str) {
    let whole = |o: &Outcome| {
        if o.path.starts_with("/bytes/") {
            o.body.len() == STREAMED
        } else if o.path == DRIP {
            o.body.len() == DRIPPED
        } else {
            o.backend.as_deref() == Some(o.body.as_str())
        }
    };
    let failed: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| {
            o.status != 200
                || !o.backend.as_deref().is_some_and(|b| names.contains(&b))
                || !whole(o)
        })
        .collect();
    eprintln!(
        "{what}: {} requests, {} failed",
        outcomes.len(),
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{what}: {} of {} requests failed; first ones: {:#?}",
        failed.len(),
        outcomes.len(),
        &failed[..failed.len().min(5)]
    );
}

/// A new listener address that is taken refuses the whole reload, with the address in the
/// error; the running configuration (including a route change in the same file) stays.
#[test]
fn reload_is_refused_when_a_new_address_cannot_be_bound() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = TempDir::new("reload-bind");
    let path = dir.write("fulcrum.toml", &generation(1, &[&a], None));
    let lb = Lb::start_file(&path);
    let addr = lb.addr();
    replace_file(
        &path,
        &(generation(2, &[&b], None)
            + &format!(
                "[[listener]]\nname = \"extra\"\nbind = \"127.0.0.1:{port}\"\n\
                 [[listener.route]]\npool = \"app\"\n"
            )),
    );
    let err = lb
        .reload()
        .expect_err("a reload binding a taken address succeeded");
    assert!(
        err.contains(&format!("127.0.0.1:{port}")),
        "the error does not name the address: {err}"
    );
    assert!(
        lb.running().addr("extra").is_none(),
        "the new listener is listed"
    );
    assert_eq!(lb.addr(), addr);
    assert_eq!(
        get(addr, "/gen").text(),
        "gen-1",
        "part of the refused file was applied"
    );
    assert_eq!(
        get(addr, "/").text(),
        "a",
        "part of the refused file was applied"
    );
    // Once the address is free, the same file applies.
    drop(taken);
    lb.reload().unwrap();
    assert_eq!(get(addr, "/gen").text(), "gen-2");
    assert_eq!(get(lb.listener("extra"), "/").text(), "b");
}

/// Backends added through the API stay through file reloads (an autoscaler's additions must
/// not vanish on an unrelated reload) while load runs, and no request fails.
#[test]
fn api_added_backend_survives_reloads_under_load() {
    let (a, b, c) = (
        Backend::start("a"),
        Backend::start("b"),
        Backend::start("c"),
    );
    let dir = TempDir::new("reload-api-added");
    let path = dir.write("fulcrum.toml", &generation(0, &[&a, &b], Some("")));
    let lb = Lb::start_file(&path);
    let admin = lb.admin();
    let c_addr = c.addr.to_string();
    let body = format!("{{\"address\": \"{c_addr}\"}}");
    let r = post_backend(admin, "app", &body);
    assert_eq!(r.status, 201, "{}", r.text());

    let load = load(lb.addr());
    assert!(load.wait_more(100, Duration::from_secs(5)), "no load");
    for gen in 1..=8 {
        // The file's own backends change too (b comes and goes); c is in none of them.
        let own: Vec<&Backend> = if gen % 2 == 0 { vec![&a, &b] } else { vec![&a] };
        replace_file(&path, &generation(gen, &own, Some("")));
        lb.reload().unwrap_or_else(|e| panic!("reload {gen}: {e}"));
        assert_eq!(get(lb.addr(), "/gen").text(), format!("gen-{gen}"));
        assert_eq!(
            backend_field(admin, "app", &c_addr, "state"),
            "active",
            "reload {gen}"
        );
        let before = c.request_count();
        assert!(
            load.wait_more(40, Duration::from_secs(5)),
            "load stalled after reload {gen}"
        );
        assert!(
            wait_until(Duration::from_secs(5), || c.request_count() > before),
            "the API-added backend got no traffic after reload {gen}"
        );
    }
    let outcomes = load.finish();
    assert_all_served(
        &outcomes,
        &["a", "b", "c"],
        "API-added backend, 8 reloads under load",
    );
}

/// SIGHUP to a `fulcrum run` process, ten times under load, each file changing the backends and
/// a route: every reload is in force once `/gen` says so, and no request fails.
#[test]
fn sighup_reloads_under_load_fail_no_request() {
    let bs: Vec<Backend> = (0..3).map(|i| Backend::start(&format!("b{i}"))).collect();
    let dir = TempDir::new("reload-hup-load");
    let set = |gen: usize| backend_set(&bs, gen);
    let path = dir.write("fulcrum.toml", &generation(0, &set(0), None));
    let p = Proc::run(&path);
    let line = p
        .wait_for_line("listening", Duration::from_secs(10))
        .expect("never listened");
    let addr: SocketAddr = field(&line, "address").unwrap().parse().unwrap();
    let load = load(addr);
    assert!(load.wait_more(100, Duration::from_secs(5)), "no load");
    for gen in 1..=10 {
        replace_file(&path, &generation(gen, &set(gen), None));
        p.signal("HUP");
        let want = format!("gen-{gen}");
        assert!(
            wait_until(Duration::from_secs(10), || get(addr, "/gen").text() == want),
            "reload {gen} by SIGHUP never applied"
        );
        assert!(
            load.wait_more(40, Duration::from_secs(5)),
            "load stalled after reload {gen}"
        );
    }
    let outcomes = load.finish();
    assert_all_served(
        &outcomes,
        &["b0", "b1", "b2"],
        "SIGHUP, 10 reloads under load",
    );
}

/// `watch_config`: five changes of the file under load, each picked up (the watcher looks once
/// a second), and no request fails.
#[test]
fn file_watch_reloads_under_load_fail_no_request() {
    let bs: Vec<Backend> = (0..3).map(|i| Backend::start(&format!("b{i}"))).collect();
    let dir = TempDir::new("reload-watch-load");
    let set = |gen: usize| backend_set(&bs, gen);
    let path = dir.write(
        "fulcrum.toml",
        &generation(0, &set(0), Some("watch_config = true")),
    );
    let lb = Lb::start_file(&path);
    let addr = lb.addr();
    // The admin listener answering means the watcher has taken its first look.
    assert_eq!(
        admin_call(lb.admin(), "GET", "/healthz", None, None).status,
        200
    );
    let load = load(addr);
    assert!(load.wait_more(100, Duration::from_secs(5)), "no load");
    let started = Instant::now();
    for gen in 1..=5 {
        replace_file(
            &path,
            &generation(gen, &set(gen), Some("watch_config = true")),
        );
        let want = format!("gen-{gen}");
        assert!(
            wait_until(Duration::from_secs(10), || get(addr, "/gen").text() == want),
            "change {gen} never picked up by the file watcher"
        );
    }
    eprintln!("file watch: 5 changes picked up in {:?}", started.elapsed());
    let outcomes = load.finish();
    assert_all_served(
        &outcomes,
        &["b0", "b1", "b2"],
        "file watch, 5 reloads under load",
    );
}
