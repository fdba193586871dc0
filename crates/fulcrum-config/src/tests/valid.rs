use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};

use super::{ok, POOL_API};
use crate::model::*;

/// The SPEC example, with every table it shows (and a few values changed from their defaults).
const SPEC_EXAMPLE: &str = r#"
[runtime]
workers = 2                      # worker threads; 0 = one per CPU this process may run on

[access_log]
target = "/var/log/fulcrum/access.log"
sample = 0.5

[admin]
bind = "127.0.0.1:9900"
token = "${ADMIN_TOKEN}"

[[listener]]
name = "web"
bind = ["0.0.0.0:8080", "[::]:8080"]
protocol = "http"

  [listener.timeouts]
  header = "10s"
  idle = "90s"
  request = "250ms"

  [listener.limits]
  max_header_bytes = "16KiB"
  max_body_bytes = "10MiB"
  max_connections = 5000

  [[listener.route]]
  name = "api"
  host = "API.example.com"
  path_prefix = "/api/"
  headers = { "X-Canary" = "1" }
  pool = "api"

  [[listener.route]]
  host = "*.example.com"
  split = [{ pool = "api-v1", weight = 90 }, { pool = "api-v2", weight = 10 }]

  [[listener.route]]
  redirect = { to = "https://example.com/" }

  [[listener.route]]
  name = "down"
  respond = { status = 503, body = "maintenance" }

[pool.api]
balance = "round_robin"
backends = [
  { address = "127.0.0.1:9001", weight = 2 },
  { address = "127.0.0.1:9002" },
  { address = "[::1]:9003" },
]
connect_timeout = "2s"
drain_timeout = "30s"
slow_start = "0s"

  [pool.api.health]
  path = "/healthz"
  interval = "2s"
  timeout = "1s"
  healthy_threshold = 2
  unhealthy_threshold = 3

[pool.api-v1]
balance = "least_request"
backends = [{ address = "10.0.0.1:${API_PORT}" }]
connect_timeout = "500ms"
drain_timeout = "1m"

slow_start = "30s"

  [pool.api-v1.outlier]
  consecutive_failures = 3
  base_ejection_time = "5s"
  max_ejection_time = "1m"
  max_ejection_percent = 25

  [pool.api-v1.retry]
  attempts = 2
  budget_percent = 10

[pool.api-v2]
backends = [{ address = "10.0.0.2:80" }, { address = "app.internal:8080", weight = 3 }]
dns_refresh = "30s"
health = {}
"#;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn spec_example_parses_into_the_model() {
    let cfg = ok(SPEC_EXAMPLE);
    let expected = Config {
        runtime: Runtime {
            workers: 2,
            drain_delay: Runtime::DEFAULT_DRAIN_DELAY,
            shutdown_grace: Runtime::DEFAULT_SHUTDOWN_GRACE,
        },
        access_log: AccessLog {
            target: LogTarget::File(PathBuf::from("/var/log/fulcrum/access.log")),
            sample: 0.5,
        },
        admin: Some(Admin {
            bind: addr("127.0.0.1:9900"),
            token: Some("t0ken".into()),
            metrics_token: None,
            watch_config: false,
            audit_log: LogTarget::Stderr,
        }),
        listeners: vec![Listener {
            name: "web".into(),
            binds: vec![addr("0.0.0.0:8080"), addr("[::]:8080")],
            protocol: Protocol::Http,
            timeouts: Timeouts {
                header: Duration::from_secs(10),
                idle: Duration::from_secs(90),
                request: Duration::from_millis(250),
                send: Duration::from_secs(15),
            },
            limits: Limits {
                max_header_bytes: 16 * 1024,
                max_body_bytes: 10 * 1024 * 1024,
                max_connections: 5000,
                ..Limits::default()
            },
            routes: vec![
                Route {
                    name: "api".into(),
                    host: Some(HostMatch::Exact("api.example.com".into())),
                    path_prefix: Some("/api/".into()),
                    headers: vec![(
                        HeaderName::from_static("x-canary"),
                        HeaderValue::from_static("1"),
                    )],
                    sni: None,
                    client_cert: false,
                    upgrades: vec!["websocket".into()],
                    allow_encoded_slashes: false,
                    guards: Default::default(),
                    action: Action::Pool("api".into()),
                },
                Route {
                    name: "#2".into(),
                    host: Some(HostMatch::Wildcard(".example.com".into())),
                    path_prefix: None,
                    headers: vec![],
                    sni: None,
                    client_cert: false,
                    upgrades: vec!["websocket".into()],
                    allow_encoded_slashes: false,
                    guards: Default::default(),
                    action: Action::Split(vec![
                        SplitTarget {
                            pool: "api-v1".into(),
                            weight: 90,
                        },
                        SplitTarget {
                            pool: "api-v2".into(),
                            weight: 10,
                        },
                    ]),
                },
                Route {
                    name: "#3".into(),
                    host: None,
                    path_prefix: None,
                    headers: vec![],
                    sni: None,
                    client_cert: false,
                    upgrades: vec!["websocket".into()],
                    allow_encoded_slashes: false,
                    guards: Default::default(),
                    action: Action::Redirect {
                        to: "https://example.com/".into(),
                        status: StatusCode::MOVED_PERMANENTLY,
                    },
                },
                Route {
                    name: "down".into(),
                    host: None,
                    path_prefix: None,
                    headers: vec![],
                    sni: None,
                    client_cert: false,
                    upgrades: vec!["websocket".into()],
                    allow_encoded_slashes: false,
                    guards: Default::default(),
                    action: Action::Respond {
                        status: StatusCode::SERVICE_UNAVAILABLE,
                        body: "maintenance".into(),
                    },
                },
            ],
            tls: None,
            https_redirect: None,
            hsts: None,
            trusted_proxies: vec![],
            engine: Engine::Auto,
            pool: None,
            proxy_protocol: None,
            guards: Default::default(),
        }],
        pools: vec![
            Pool {
                name: "api".into(),
                balance: Balance::RoundRobin,
                backends: vec![
                    Backend {
                        address: addr("127.0.0.1:9001"),
                        weight: 2,
                    },
                    Backend {
                        address: addr("127.0.0.1:9002"),
                        weight: 1,
                    },
                    Backend {
                        address: addr("[::1]:9003"),
                        weight: 1,
                    },
                ],
                dns: vec![],
                dns_refresh: Duration::from_secs(5),
                connect_timeout: Duration::from_secs(2),
                drain_timeout: Duration::from_secs(30),
                slow_start: Duration::ZERO,
                health: Some(HealthCheck {
                    probe: Probe::Http {
                        path: "/healthz".into(),
                    },
                    port: None,
                    interval: Duration::from_secs(2),
                    timeout: Duration::from_secs(1),
                    healthy_threshold: 2,
                    unhealthy_threshold: 3,
                }),
                outlier: Outlier::default(),
                retry: Retry::default(),
                tls: None,
                proxy_protocol: None,
            },
            Pool {
                name: "api-v1".into(),
                balance: Balance::LeastRequest,
                backends: vec![Backend {
                    address: addr("10.0.0.1:9001"),
                    weight: 1,
                }],
                dns: vec![],
                dns_refresh: Duration::from_secs(5),
                connect_timeout: Duration::from_millis(500),
                drain_timeout: Duration::from_secs(60),
                slow_start: Duration::from_secs(30),
                health: None,
                outlier: Outlier {
                    consecutive_failures: 3,
                    base_ejection_time: Duration::from_secs(5),
                    max_ejection_time: Duration::from_secs(60),
                    max_ejection_percent: 25,
                },
                retry: Retry {
                    attempts: 2,
                    budget_percent: 10,
                },
                tls: None,
                proxy_protocol: None,
            },
            Pool {
                name: "api-v2".into(),
                balance: Balance::RoundRobin,
                backends: vec![Backend {
                    address: addr("10.0.0.2:80"),
                    weight: 1,
                }],
                dns: vec![DnsBackend {
                    host: "app.internal".into(),
                    port: 8080,
                    weight: 3,
                }],
                dns_refresh: Duration::from_secs(30),
                connect_timeout: Duration::from_secs(2),
                drain_timeout: Duration::from_secs(30),
                slow_start: Duration::ZERO,
                health: Some(HealthCheck {
                    probe: Probe::Tcp,
                    port: None,
                    interval: Duration::from_secs(2),
                    timeout: Duration::from_secs(1),
                    healthy_threshold: 2,
                    unhealthy_threshold: 3,
                }),
                outlier: Outlier::default(),
                retry: Retry::default(),
                tls: None,
                proxy_protocol: None,
            },
        ],
        // The admin token came from ${FULCRUM_ADMIN_TOKEN}; checked by the errors tests.
        redactions: cfg.redactions.clone(),
    };
    assert_eq!(cfg, expected);
    assert_eq!(cfg.redactions.apply("token t0ken"), "token ${ADMIN_TOKEN}");
}

#[test]
fn empty_file_is_all_defaults() {
    let cfg = ok("");
    assert!(cfg.runtime.workers >= 1);
    assert_eq!(
        cfg.access_log,
        AccessLog {
            target: LogTarget::Stderr,
            sample: 1.0
        }
    );
    assert_eq!(cfg.admin, None);
    assert!(cfg.listeners.is_empty() && cfg.pools.is_empty());
}

#[test]
fn listener_defaults() {
    let cfg = ok("[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8080\"\n");
    let l = &cfg.listeners[0];
    assert_eq!(l.binds, vec![addr("127.0.0.1:8080")]);
    assert_eq!(l.protocol, Protocol::Http);
    assert_eq!(l.timeouts, Timeouts::default());
    assert_eq!(l.limits, Limits::default());
    assert_eq!(l.limits.max_header_bytes, 32 * 1024);
    assert!(l.routes.is_empty(), "a listener without routes is valid");
}

#[test]
fn pools_keep_file_order_and_unreferenced_pools_are_fine() {
    let src = format!(
        "[pool.zeta]\nbackends = [{{ address = \"127.0.0.1:1\" }}]\n{POOL_API}\
         [pool.alpha]\nbackends = [{{ address = \"127.0.0.1:2\" }}]\n"
    );
    let names: Vec<String> = ok(&src).pools.into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["zeta", "api", "alpha"]);
}

#[test]
fn summary_shows_listeners_routes_and_pools() {
    let text = crate::summary(&ok(SPEC_EXAMPLE));
    for expected in [
        "runtime: 2 workers",
        "admin: 127.0.0.1:9900 (token required)",
        "listener \"web\" http on 0.0.0.0:8080, [::]:8080",
        "timeouts: header 10s, idle 90s, request 250ms; limits: header 16KiB, body 10MiB, 5000 connections",
        "route \"api\": host api.example.com, path /api/*, header x-canary: 1 -> pool api",
        "route \"#2\": host *.example.com -> split api-v1 90, api-v2 10",
        "route \"#3\": any request -> redirect 301 https://example.com/",
        "route \"down\": any request -> respond 503 (11 byte body)",
        "pool \"api\" round_robin (connect 2s, drain 30s, slow start 0s)",
        "  127.0.0.1:9001 weight 2",
        "  [::1]:9003 weight 1",
        "  audit log: stderr; watch config file: off",
        "pool \"api-v1\" least_request (connect 500ms, drain 1m, slow start 30s)",
        "  health: GET /healthz every 2s (timeout 1s, up 2, down 3)\n",
        "  outlier: eject after 5 failures for 10s to 5m, at most 50%; retry: 1 more attempt, budget 20%\n",
        "  health: no active checks\n",
        "  outlier: eject after 3 failures for 5s to 1m, at most 25%; retry: 2 more attempts, budget 10%\n",
        "  10.0.0.2:80 weight 1\n  app.internal:8080 (dns, refresh 30s) weight 3\n  health: tcp every 2s (timeout 1s, up 2, down 3)\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let no_routes = crate::summary(&ok("[[listener]]\nname = \"a\"\nbind = \"127.0.0.1:1\"\n"));
    assert!(
        no_routes.contains("no routes: every request gets 404"),
        "{no_routes}"
    );
    let off = crate::summary(&ok(
        "[admin]\nwatch_config = true\naudit_log = \"/var/log/audit.log\"\n\
         [pool.a]\nbackends = [{ address = \"127.0.0.1:1\" }]\n\
         outlier = { consecutive_failures = 0 }\nretry = { attempts = 0 }\n",
    ));
    for expected in [
        "admin: 127.0.0.1:9900 (no token)\n  audit log: /var/log/audit.log; watch config file: on\n",
        "  outlier: off; retry: off\n",
    ] {
        assert!(off.contains(expected), "missing {expected:?} in:\n{off}");
    }
}
