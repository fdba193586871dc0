//! Collecting every error, with exact positions; syntax errors; environment variables.

use super::{error, errors, ok};

#[test]
fn every_error_is_reported_with_its_position() {
    let src = r#"[runtime]
workers = 5000

[[listener]]
name = "web"
bind = "0.0.0.0:8080"
protocl = "http"

  [[listener.route]]
  name = "api"
  pool = "apii"

[pool.api]
balance = "round-robbin"
backends = [{ address = "127.0.0.1:9001" }, { address = "db_1.internal:5432" }]
"#;
    assert_eq!(
        errors(src),
        [
            "2:11: runtime.workers: must be between 0 and 1024, found 5000",
            "7:1: listener \"web\": unknown key \"protocl\" (expected one of: name, bind, \
             protocol, pool, timeouts, limits, tls, https_redirect, https_port, hsts, route, trusted_proxies, \
             engine, proxy_protocol, rate_limit, access, auth, waf)",
            "11:10: listener \"web\": route \"api\": pool: unknown pool \"apii\" (defined pools: api)",
            "14:11: pool \"api\": unknown balance \"round-robbin\" (expected one of: round_robin, \
             least_request, random, ip_hash, ring_hash)",
            "15:57: pool \"api\": backends[1].address: invalid host name \"db_1.internal\": \
             label \"db_1\" may only contain letters, digits and \"-\" (e.g. \"app.internal:9001\")",
        ]
    );
}

#[test]
fn display_names_file_line_and_column() {
    let err = super::parse(
        "[pool.api]\nbalance = \"round-robbin\"\nbackends = [{ address = \"127.0.0.1:1\" }]\n",
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "fulcrum.toml:2:11: pool \"api\": unknown balance \"round-robbin\" (expected one of: \
         round_robin, least_request, random, ip_hash, ring_hash)"
    );
}

#[test]
fn errors_come_in_file_order_even_when_pools_are_read_first() {
    let src = "[[listener]]\nname = \"\"\nbind = \"127.0.0.1:1\"\n[pool.a]\nbackends = []\n";
    assert_eq!(
        errors(src),
        [
            "2:8: listener \"\": name: must not be empty",
            "5:12: pool \"a\": backends: must list at least one backend",
        ]
    );
}

#[test]
fn unknown_top_level_key_lists_the_valid_ones() {
    assert_eq!(
        error("[pools.api]\n"),
        "1:2: unknown key \"pools\" (expected one of: runtime, access_log, admin, listener, pool)"
    );
}

#[test]
fn wrong_types_say_what_was_expected() {
    assert_eq!(
        errors("runtime = 3\naccess_log = { sample = \"all\" }\n"),
        [
            "1:11: runtime: expected a table, found an integer",
            "2:25: access_log.sample: expected a number between 0.0 and 1.0, found a string",
        ]
    );
}

#[test]
fn syntax_error_is_one_error_with_its_position() {
    let err = error("[runtime]\nworkers = = 3\n");
    assert!(err.starts_with("2:11: invalid TOML: "), "{err}");
    let err = error("[runtime\n");
    assert!(err.starts_with("1:"), "{err}");
}

#[test]
fn env_variables_are_interpolated_in_any_string() {
    let cfg = ok(r#"
[admin]
token = "Bearer-${ADMIN_TOKEN}"
[[listener]]
name = "web-${API_PORT}"
bind = "127.0.0.1:${API_PORT}"
[[listener.route]]
headers = { "x-port" = "${API_PORT}" }
respond = { body = "port ${API_PORT}, literal $${API_PORT}" }
"#);
    assert_eq!(cfg.admin.unwrap().token.as_deref(), Some("Bearer-t0ken"));
    let l = &cfg.listeners[0];
    assert_eq!(l.name, "web-9001");
    assert_eq!(l.binds[0].port(), 9001);
    assert_eq!(l.routes[0].headers[0].1, "9001");
    assert_eq!(
        l.routes[0].action,
        crate::model::Action::Respond {
            status: http::StatusCode::OK,
            body: "port 9001, literal ${API_PORT}".into()
        }
    );
}

#[test]
fn missing_env_variable_is_an_error_at_the_value() {
    let src = "[admin]\nbind = \"127.0.0.1:9900\"\ntoken = \"${NOT_SET}\"\n\n[pool.a]\nbackends = [{ address = \"${ALSO_MISSING}:80\" }]\n";
    assert_eq!(
        errors(src),
        [
            "3:9: admin.token: environment variable NOT_SET is not set",
            "6:25: pool \"a\": backends[0].address: environment variable ALSO_MISSING is not set",
        ]
    );
}

/// Issue 7 item 10: `${VAR}` values were echoed in validation errors (stderr, a reload's 400
/// body, the audit log). Errors print the reference, never the value.
#[test]
fn env_values_are_never_echoed_in_errors() {
    let all = errors(
        r#"
[[listener]]
name = "${SECRET_NAME}"
bind = "${SECRET_BIND}"
timeouts = { idle = "${SECRET_IDLE}" }
[[listener.route]]
pool = "missing"
"#,
    );
    assert_eq!(all.len(), 3, "{all:#?}");
    for e in &all {
        for secret in ["s3cret", "parsecs"] {
            assert!(!e.contains(secret), "{e}");
        }
    }
    assert!(
        all[0].contains("invalid address \"${SECRET_BIND}\""),
        "{all:#?}"
    );
    assert!(all[1].contains("duration \"${SECRET_IDLE}\""), "{all:#?}");
    assert!(
        all[2].starts_with("7:8: listener \"${SECRET_NAME}\": "),
        "{all:#?}"
    );
}

/// Issue 7 item 10 (review): errors that quote a piece of a value, or a corrected form of it
/// (a CIDR's address, a suggested path, a size's unit), leak no part of an environment
/// value; `fulcrum check`'s summary shows such values as written.
#[test]
fn pieces_of_env_values_are_never_echoed() {
    let all = errors(
        r#"
[[listener]]
name = "web"
bind = "127.0.0.1:8080"
trusted_proxies = ["${SECRET_CIDR}"]
limits = { max_body_bytes = "${SECRET_SIZE}" }
[[listener.route]]
path_prefix = "${SECRET_PATH}"
respond = { body = "x" }
"#,
    );
    assert_eq!(all.len(), 3, "{all:#?}");
    for e in &all {
        for secret in ["supersecret", "secret-path", "SecretUnits", "ecret"] {
            assert!(!e.contains(secret), "{e}");
        }
    }
    let cfg = ok(r#"
[[listener]]
name = "web"
bind = "127.0.0.1:8080"
[[listener.route]]
headers = { "x-internal-key" = "${SECRET_HEADER}" }
respond = { body = "x" }
"#);
    let summary = crate::summary(&cfg);
    assert!(!summary.contains("hunter2"), "{summary}");
    assert!(summary.contains("${SECRET_HEADER}"), "{summary}");
}

#[test]
fn malformed_env_reference_is_an_error() {
    let err = error("[access_log]\ntarget = \"/var/log/${bad-name}\"\n");
    assert!(
        err.starts_with("2:10: access_log.target: invalid environment variable reference"),
        "{err}"
    );
}

#[test]
fn load_file_reads_and_names_the_file() {
    let dir = std::env::temp_dir().join(format!("fulcrum-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("fulcrum.toml");
    std::fs::write(&path, "[runtime]\nworkers = 3\n").unwrap();
    assert_eq!(crate::load_file(&path).unwrap().runtime.workers, 3);

    std::fs::write(&path, "[runtime]\nworkers = -1\n").unwrap();
    let err = crate::load_file(&path).unwrap_err();
    assert_eq!(err.errors[0].file, path.display().to_string());
    assert_eq!((err.errors[0].line, err.errors[0].column), (2, 11));
    std::fs::remove_dir_all(&dir).unwrap();

    let err = crate::load_file(&dir.join("missing.toml")).unwrap_err();
    assert_eq!(err.errors.len(), 1);
    let e = &err.errors[0];
    assert_eq!((e.line, e.column), (0, 0));
    assert!(e.message.starts_with("cannot read: "), "{}", e.message);
}
