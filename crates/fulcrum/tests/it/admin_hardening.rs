//! The admin listener, hardened (issue 7 items 3, 4 and 16): `[admin]` changes on reload
//! apply live or are refused as needing a restart; the Host check against DNS rebinding; no
//! token-less admin listener off loopback; refused requests audited; the metrics token; the
//! dashboard; warnings for private key files others may read.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fulcrum_testkit::{wait_until, Backend, Client, Reply};

use crate::support::{admin_call, bin, pool, Lb, Proc, TempDir};

/// One listener `web` routing to pool `app`; an admin listener on `admin_bind` with
/// `admin_extra` in its table.
fn config(backend: &Backend, admin_bind: &str, admin_extra: &str) -> String {
    format!(
        "[runtime]\nworkers = 1\n[access_log]\ntarget = \"off\"\n\
         [admin]\nbind = \"{admin_bind}\"\n{admin_extra}\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [[listener.route]]\npool = \"app\"\n{}",
        pool("app", "round_robin", &[backend])
    )
}

/// One request with a chosen `Host`, bearer token and `Origin`.
fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    host: &str,
    token: Option<&str>,
    origin: Option<&str>,
) -> Reply {
    let mut b = http::Request::builder()
        .method(method)
        .uri(path)
        .header("host", host);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    if let Some(o) = origin {
        b = b.header("origin", o);
    }
    Client::http1(addr)
        .send(
            b.body(http_body_util::Full::new(bytes::Bytes::new()))
                .unwrap(),
        )
        .unwrap()
}

fn reload_via_api(admin: SocketAddr, token: Option<&str>) -> Reply {
    admin_call(admin, "POST", "/api/v1/reload", token, None)
}

/// `fulcrum_config_reloads_total{result="error"}` as `/metrics` shows it.
fn failed_reloads(admin: SocketAddr) -> u64 {
    let text = admin_call(admin, "GET", "/metrics", None, None).text();
    text.lines()
        .find_map(|l| l.strip_prefix("fulcrum_config_reloads_total{result=\"error\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no failed-reload counter in:\n{text}"))
}

/// Every line of an audit log file, parsed.
fn audit_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Item 3: [admin] on reload

/// Issue 7 item 3: a token added by a reload closes `/api` at once.
#[test]
fn reload_adding_a_token_closes_the_api() {
    let be = Backend::start("a");
    let dir = TempDir::new("admin-add-token");
    let path = dir.write("fulcrum.toml", &config(&be, "127.0.0.1:0", ""));
    let lb = Lb::start_file(&path);
    let admin = lb.admin();
    assert_eq!(
        admin_call(admin, "GET", "/api/v1/pools", None, None).status,
        200
    );

    std::fs::write(&path, config(&be, "127.0.0.1:0", "token = \"new-token\"")).unwrap();
    let r = reload_via_api(admin, None);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = admin_call(admin, "GET", "/api/v1/pools", None, None);
    assert_eq!(
        r.status,
        401,
        "the added token must be required: {}",
        r.text()
    );
    let r = admin_call(admin, "GET", "/api/v1/pools", Some("new-token"), None);
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Issue 7 item 3: a rotated token takes over on reload: the old one is refused.
#[test]
fn reload_rotating_the_token_refuses_the_old_one() {
    let be = Backend::start("a");
    let dir = TempDir::new("admin-rotate");
    let path = dir.write(
        "fulcrum.toml",
        &config(&be, "127.0.0.1:0", "token = \"old\""),
    );
    let lb = Lb::start_file(&path);
    let admin = lb.admin();
    std::fs::write(&path, config(&be, "127.0.0.1:0", "token = \"new\"")).unwrap();
    let r = reload_via_api(admin, Some("old"));
    assert_eq!(r.status, 200, "{}", r.text());
    for (token, want) in [(Some("old"), 401), (None, 401), (Some("new"), 200)] {
        let r = admin_call(admin, "GET", "/api/v1/pools", token, None);
        assert_eq!(r.status, want, "token {token:?}: {}", r.text());
    }
    // And back again by SIGHUP's path.
    std::fs::write(&path, config(&be, "127.0.0.1:0", "token = \"old\"")).unwrap();
    lb.reload().unwrap();
    assert_eq!(
        admin_call(admin, "GET", "/api/v1/pools", Some("new"), None).status,
        401
    );
    assert_eq!(
        admin_call(admin, "GET", "/api/v1/pools", Some("old"), None).status,
        200
    );
}

/// Issue 7 item 3: moving the admin listener (or adding or removing it) is refused with a
/// "needs a restart" error, counted as a failed reload, and nothing else of the file applies.
#[test]
fn reload_moving_the_admin_listener_is_refused_as_needing_a_restart() {
    let (a, b) = (Backend::start("a"), Backend::start("b"));
    let dir = TempDir::new("admin-move");
    let path = dir.write("fulcrum.toml", &config(&a, "127.0.0.1:0", ""));
    let lb = Lb::start_file(&path);
    let admin = lb.admin();
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let before = failed_reloads(admin);

    // Moved, with a pool change in the same file that must not apply either.
    std::fs::write(&path, config(&b, &free.to_string(), "")).unwrap();
    let r = reload_via_api(admin, None);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("needs a restart"), "{}", r.text());
    assert!(r.text().contains(&free.to_string()), "{}", r.text());
    assert_eq!(failed_reloads(admin), before + 1);
    assert!(
        std::net::TcpStream::connect(free).is_err(),
        "nothing listens on {free}"
    );
    let r = Client::http1(lb.addr()).get("x", "/", &[]).unwrap();
    assert_eq!(
        r.header("x-backend").as_deref(),
        Some("a"),
        "the old pool still serves"
    );

    // Removed.
    let no_admin = config(&a, "127.0.0.1:0", "");
    let start = no_admin.find("[admin]").unwrap();
    let end = no_admin.find("[[listener]]").unwrap();
    std::fs::write(&path, format!("{}{}", &no_admin[..start], &no_admin[end..])).unwrap();
    let err = lb.reload().unwrap_err();
    assert!(err.contains("needs a restart"), "{err}");
    assert_eq!(failed_reloads(admin), before + 2);
    assert_eq!(admin_call(admin, "GET", "/healthz", None, None).status, 200);
}

/// Issue 7 item 3: `audit_log` and `watch_config` changed by a reload apply at once.
#[test]
fn reload_switches_the_audit_log_and_the_file_watch_live() {
    let be = Backend::start("a");
    let dir = TempDir::new("admin-live");
    let (first, second) = (dir.0.join("first.log"), dir.0.join("second.log"));
    let extra = |log: &Path, watch: bool| {
        format!("audit_log = '{}'\nwatch_config = {watch}\n", log.display())
    };
    let path = dir.write(
        "fulcrum.toml",
        &config(&be, "127.0.0.1:0", &extra(&first, false)),
    );
    let lb = Lb::start_file(&path);
    let admin = lb.admin();

    std::fs::write(&path, config(&be, "127.0.0.1:0", &extra(&second, true))).unwrap();
    assert_eq!(reload_via_api(admin, None).status, 200);
    assert_eq!(
        audit_lines(&first).len(),
        0,
        "nothing audited before the switch"
    );
    let second_lines = audit_lines(&second);
    assert_eq!(
        second_lines.len(),
        1,
        "the reload's own line goes to the new log"
    );
    assert_eq!(second_lines[0]["action"], "reload");

    // The file watch is on now: a change to the file is picked up without being asked.
    let added = Backend::start("added");
    // (A different length too, so the change shows whatever the clock's granularity.)
    let watched = config(
        &be,
        "127.0.0.1:0",
        &format!("{}# watched\n", extra(&second, true)),
    )
    .replace(&format!("\"{}\"", be.addr), &format!("\"{}\"", added.addr));
    std::fs::write(&path, watched).unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || {
            audit_lines(&second)
                .iter()
                .any(|l| l["client"] == "file-watch")
        }),
        "watch_config = true set by a reload did not start watching the file"
    );
}

// ---------------------------------------------------------------------------------------------
// Item 4: DNS rebinding

/// Issue 7 item 4: without a token, a request whose Host is not localhost or the listener's
/// address is refused (reads of `/api`, changes, `/metrics`, the dashboard); probes answer.
#[test]
fn foreign_host_is_refused_without_a_token() {
    let be = Backend::start("a");
    let dir = TempDir::new("admin-rebind");
    let audit = dir.0.join("audit.log");
    let extra = format!("audit_log = '{}'", audit.display());
    let lb = Lb::start_file(&dir.write("fulcrum.toml", &config(&be, "127.0.0.1:0", &extra)));
    let admin = lb.admin();
    let port = admin.port();
    let evil = format!("rebind.evil.example:{port}");
    // A rebinding page controls Origin too: it matches Host.
    let evil_origin = format!("http://{evil}");
    for (method, path) in [
        ("GET", "/api/v1/pools"),
        ("POST", "/api/v1/reload"),
        (
            "DELETE",
            &*format!("/api/v1/pools/app/backends/{}", be.addr),
        ),
        ("GET", "/metrics"),
        ("GET", "/"),
    ] {
        let r = call(admin, method, path, &evil, None, Some(&evil_origin));
        assert_eq!(r.status, 403, "{method} {path}: {}", r.text());
        assert!(r.text().contains("DNS rebinding"), "{}", r.text());
    }
    assert_eq!(
        Client::http1(lb.addr()).get("x", "/", &[]).unwrap().status,
        200,
        "the backend was not removed"
    );
    for path in ["/healthz", "/ready"] {
        assert_eq!(
            call(admin, "GET", path, &evil, None, None).status,
            200,
            "{path}"
        );
    }
    for host in [
        format!("localhost:{port}"),
        "localhost".to_string(),
        format!("127.0.0.1:{port}"),
        "127.0.0.1".to_string(),
    ] {
        let r = call(admin, "GET", "/api/v1/pools", &host, None, None);
        assert_eq!(r.status, 200, "Host {host}: {}", r.text());
    }
    for host in [
        "127.0.0.2",
        "[::1]",
        "localhost.evil.example",
        "127.0.0.1:x",
    ] {
        let r = call(admin, "GET", "/api/v1/pools", host, None, None);
        assert_eq!(r.status, 403, "Host {host}: {}", r.text());
    }
    // Each refusal is audited (issue 7 item 16).
    let denied: Vec<_> = audit_lines(&audit)
        .into_iter()
        .filter(|l| l["action"] == "access")
        .collect();
    assert_eq!(denied.len(), 9, "{denied:#?}");
    assert!(denied
        .iter()
        .all(|l| l["result"] == "denied"
            && l["detail"].as_str().is_some_and(|d| d.starts_with("403 "))));
}

/// Issue 7 item 4: on `[::1]`, the bracketed IPv6 literal and localhost pass.
#[test]
fn ipv6_admin_listener_accepts_its_bracketed_literal() {
    let be = Backend::start("a");
    let dir = TempDir::new("admin-rebind6");
    let lb = Lb::start_file(&dir.write("fulcrum.toml", &config(&be, "[::1]:0", "")));
    let admin = lb.admin();
    let port = admin.port();
    for (host, want) in [
        (format!("[::1]:{port}"), 200),
        ("[::1]".to_string(), 200),
        (format!("localhost:{port}"), 200),
        (format!("127.0.0.1:{port}"), 403),
        (format!("evil.example:{port}"), 403),
    ] {
        let r = call(admin, "GET", "/api/v1/pools", &host, None, None);
        assert_eq!(r.status, want, "Host {host}: {}", r.text());
    }
}

/// Issue 7 item 4: with a token, the token is what proves the caller: any Host passes with
/// it (the listener may be reached by name), none without it.
#[test]
fn token_holders_may_use_any_host_name() {
    let be = Backend::start("a");
    let dir = TempDir::new("admin-token-host");
    let lb =
        Lb::start_file(&dir.write("fulcrum.toml", &config(&be, "127.0.0.1:0", "token = \"t\"")));
    let admin = lb.admin();
    let r = call(
        admin,
        "GET",
        "/api/v1/pools",
        "lb1.internal:9900",
        Some("t"),
        None,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = call(
        admin,
        "GET",
        "/api/v1/pools",
        "lb1.internal:9900",
        None,
        None,
    );
    assert_eq!(r.status, 401, "{}", r.text());
    // Unauthenticated paths on a loopback listener still need a local Host.
    let r = call(admin, "GET", "/metrics", "lb1.internal:9900", None, None);
    assert_eq!(r.status, 403, "{}", r.text());
}

/// Issue 7 item 4: `fulcrum check` (and so `run`) refuses a token-less admin listener on a
/// non-loopback address, with file:line:column.
#[test]
fn check_refuses_a_non_loopback_admin_listener_without_a_token() {
    let be = Backend::start("a");
    let dir = TempDir::new("admin-open");
    let path = dir.write("fulcrum.toml", &config(&be, "0.0.0.0:9900", ""));
    let out = Command::new(bin())
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let want = format!(
        "{}:6:8: admin.bind: 0.0.0.0:9900 is not a loopback address",
        path.display()
    );
    assert!(stderr.contains(&want), "{stderr}");
    let fixed = dir.write("ok.toml", &config(&be, "0.0.0.0:9900", "token = \"t\""));
    let out = Command::new(bin())
        .args(["check", "-c"])
        .arg(&fixed)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

// ---------------------------------------------------------------------------------------------
// Item 16: audit, metrics token, dashboard, key files

/// Issue 7 item 16: 401 and 403 answers are audited with the client address and the reason,
/// never the presented token.
#[test]
fn refused_admin_requests_are_audited_without_the_token() {
    let be = Backend::start("a");
    let dir = TempDir::new("admin-audit-denied");
    let audit = dir.0.join("audit.log");
    let extra = format!("token = \"right-token\"\naudit_log = '{}'", audit.display());
    let lb = Lb::start_file(&dir.write("fulcrum.toml", &config(&be, "127.0.0.1:0", &extra)));
    let admin = lb.admin();
    let host = admin.to_string();
    let wrong = "wrong-token-b4d5e6";
    assert_eq!(
        call(admin, "GET", "/api/v1/pools", &host, Some(wrong), None).status,
        401
    );
    assert_eq!(
        call(admin, "POST", "/api/v1/reload", &host, None, None).status,
        401
    );
    let r = call(
        admin,
        "POST",
        "/api/v1/reload",
        &host,
        Some("right-token"),
        Some("http://elsewhere.example"),
    );
    assert_eq!(r.status, 403, "{}", r.text());

    let text = std::fs::read_to_string(&audit).unwrap();
    assert!(
        !text.contains(wrong),
        "the presented token was logged:\n{text}"
    );
    assert!(!text.contains("right-token"), "a token was logged:\n{text}");
    let lines = audit_lines(&audit);
    let got: Vec<(String, String, String)> = lines
        .iter()
        .map(|l| {
            assert!(
                l["client"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("127.0.0.1:")),
                "{l}"
            );
            (
                l["action"].as_str().unwrap().to_string(),
                l["object"].as_str().unwrap().to_string(),
                l["detail"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(got.len(), 3, "{text}");
    assert_eq!(got[0].0, "access");
    assert_eq!(got[0].1, "GET /api/v1/pools");
    assert!(got[0].2.starts_with("401 "), "{got:?}");
    assert_eq!(got[1].1, "POST /api/v1/reload");
    assert!(got[1].2.starts_with("401 "), "{got:?}");
    assert!(got[2].2.starts_with("403 cross-origin"), "{got:?}");
    assert!(lines.iter().all(|l| l["result"] == "denied"));
}

/// Issue 7 item 16: `metrics_token` closes `/metrics` (the admin token opens it too); it
/// does not open the API.
#[test]
fn metrics_token_guards_metrics() {
    let be = Backend::start("a");
    let dir = TempDir::new("admin-metrics-token");
    let extra = "token = \"admin-t\"\nmetrics_token = \"scrape-t\"";
    let lb = Lb::start_file(&dir.write("fulcrum.toml", &config(&be, "127.0.0.1:0", extra)));
    let admin = lb.admin();
    for (token, want) in [
        (None, 401),
        (Some("wrong"), 401),
        (Some("scrape-t"), 200),
        (Some("admin-t"), 200),
    ] {
        let r = admin_call(admin, "GET", "/metrics", token, None);
        assert_eq!(r.status, want, "token {token:?}: {}", r.text());
        if want == 401 {
            assert_eq!(r.header("www-authenticate").as_deref(), Some("Bearer"));
        } else {
            assert!(
                r.text().contains("fulcrum_config_reloads_total"),
                "{}",
                r.text()
            );
        }
    }
    assert_eq!(
        admin_call(admin, "GET", "/api/v1/pools", Some("scrape-t"), None).status,
        401
    );
    assert_eq!(admin_call(admin, "GET", "/healthz", None, None).status, 200);
}

/// Issue 7 item 16: the dashboard page holds no data and is served without the token; the
/// data it shows needs the token, which the page keeps in sessionStorage only.
#[test]
fn dashboard_data_needs_the_token_and_the_page_keeps_it_per_tab() {
    let be = Backend::start("a");
    let dir = TempDir::new("admin-dashboard");
    let lb =
        Lb::start_file(&dir.write("fulcrum.toml", &config(&be, "127.0.0.1:0", "token = \"t\"")));
    let admin = lb.admin();
    let page = admin_call(admin, "GET", "/", None, None);
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(
        !html.contains(&be.addr.to_string()),
        "the page itself holds no data"
    );
    assert!(
        html.contains("/api/v1/pools") && html.contains("Authorization"),
        "{html}"
    );
    assert!(
        html.contains("sessionStorage") && !html.contains("localStorage"),
        "{html}"
    );
    assert_eq!(
        admin_call(admin, "GET", "/api/v1/pools", None, None).status,
        401
    );
}

fn chmod(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// An https listener and a TLS pool with a client certificate, their keys at `mode`; returns
/// the config path and the two key paths.
fn keyed_config(dir: &TempDir, mode: u32) -> (PathBuf, PathBuf, PathBuf) {
    use fulcrum_testkit::tls::Ca;
    let ca = Ca::new("key ca");
    let (cert, key) = ca.server(&["keys.test"]).write(&dir.0, "site");
    let (ccert, ckey) = ca.client("lb", "Example", vec![]).write(&dir.0, "client");
    chmod(&key, mode);
    chmod(&ckey, mode);
    let be = Backend::start("a");
    let cfg = format!(
        "[runtime]\nworkers = 1\n[access_log]\ntarget = \"off\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\nprotocol = \"https\"\n\
         [[listener.tls.cert]]\ncert = '{}'\nkey = '{}'\n\
         [[listener.route]]\npool = \"app\"\n\
         [pool.app]\nbackends = [{{ address = \"{}\" }}]\n\
         [pool.app.tls]\nca = '{}'\ncert = '{}'\nkey = '{}'\n",
        cert.display(),
        key.display(),
        be.addr,
        ca.write(&dir.0, "ca.pem").display(),
        ccert.display(),
        ckey.display()
    );
    (dir.write("fulcrum.toml", &cfg), key, ckey)
}

/// The stderr lines of `fulcrum run` up to its first "listening" line.
fn startup_lines(config: &Path) -> Vec<String> {
    let p = Proc::run(config);
    let mut lines = Vec::new();
    loop {
        let line = p
            .stderr_lines
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("never listened; stderr so far:\n{}", lines.join("\n")));
        let done = line.contains("listening");
        lines.push(line);
        if done {
            return lines;
        }
    }
}

/// Issue 7 item 16: a listener key and a pool client key that group or others may read are
/// each warned about at load, naming the file; keys only their owner reads are not.
#[test]
fn private_keys_readable_by_others_are_warned_about() {
    let dir = TempDir::new("key-modes");
    let (config, key, ckey) = keyed_config(&dir, 0o644);
    let lines = startup_lines(&config);
    for k in [&key, &ckey] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains("readable by group or others")
                    && l.contains(&k.display().to_string())),
            "no warning for {}:\n{}",
            k.display(),
            lines.join("\n")
        );
    }
    let dir = TempDir::new("key-modes-ok");
    let (config, _, _) = keyed_config(&dir, 0o600);
    let lines = startup_lines(&config);
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("readable by group or others")),
        "{}",
        lines.join("\n")
    );
}
