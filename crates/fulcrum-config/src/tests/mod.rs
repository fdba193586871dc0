//! Whole-file tests: parse text, compare the model or the exact errors.

mod auth;
mod errors;
mod guard;
mod health;
mod hygiene;
mod listener;
mod pool;
mod root;
mod route;
mod tls;
mod udp;
mod valid;

use std::sync::OnceLock;

use crate::model::Config;
use crate::{parse_str, ConfigErrors};

/// The environment seen by tests.
fn env(name: &str) -> Option<String> {
    match name {
        "ADMIN_TOKEN" => Some("t0ken".into()),
        "API_PORT" => Some("9001".into()),
        "EMPTY" => Some(String::new()),
        "SECRET_BIND" => Some("s3cret-not-an-address".into()),
        "SECRET_IDLE" => Some("5parsecs".into()),
        "SECRET_NAME" => Some("web-s3cret".into()),
        "SECRET_CIDR" => Some("supersecret/8".into()),
        "SECRET_PATH" => Some("/secret-path//x".into()),
        "SECRET_SIZE" => Some("10SecretUnits".into()),
        "SECRET_HEADER" => Some("hunter2-secret-key".into()),
        "TLS" => Some(tls_dir().to_owned()),
        _ => None,
    }
}

fn parse(src: &str) -> Result<Config, ConfigErrors> {
    parse_str(src, "fulcrum.toml", &env)
}

fn ok(src: &str) -> Config {
    match parse(src) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid configuration, got:\n{e}"),
    }
}

/// Every error as `line:column: message`.
fn errors(src: &str) -> Vec<String> {
    match parse(src) {
        Ok(c) => panic!("expected errors, got a valid configuration: {c:#?}"),
        Err(e) => e
            .errors
            .iter()
            .map(|e| {
                assert_eq!(e.file, "fulcrum.toml");
                format!("{}:{}: {}", e.line, e.column, e.message)
            })
            .collect(),
    }
}

/// The only error, as `line:column: message`.
fn error(src: &str) -> String {
    let mut all = errors(src);
    assert_eq!(all.len(), 1, "expected exactly one error, got {all:#?}");
    all.remove(0)
}

/// A valid pool named `api`, to append to listener tests.
const POOL_API: &str = r#"
[pool.api]
backends = [{ address = "127.0.0.1:9001" }]
"#;

/// A listener `web` on 127.0.0.1:8080 followed by `route` (its TOML, without the header).
fn with_route(route: &str) -> String {
    format!(
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8080\"\n[[listener.route]]\n{route}\n{POOL_API}"
    )
}

/// A directory holding the files TLS settings name (`${TLS}/cert.pem` in test files): only
/// their existence is checked, so any content does. `cert.pem`, `key.pem`, `ca.pem`,
/// `other.pem`, `other.key`, `client.pem` and `client.key`; `nope.pem` never exists.
fn tls_dir() -> &'static str {
    static DIR: OnceLock<String> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join("fulcrum-config-tests-tls");
        std::fs::create_dir_all(&dir).unwrap();
        for f in [
            "cert.pem",
            "key.pem",
            "ca.pem",
            "other.pem",
            "other.key",
            "client.pem",
            "client.key",
        ] {
            std::fs::write(dir.join(f), "not parsed by fulcrum-config\n").unwrap();
        }
        dir.to_str().unwrap().to_owned()
    })
}
