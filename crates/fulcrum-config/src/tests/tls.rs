//! TLS: https listeners (`[listener.tls]`, certificates, minimum version, client auth),
//! `https_redirect`, `hsts`, tls_passthrough listeners and their `sni` routes, the
//! `client_cert` route match, and `[pool.NAME.tls]`.
//!
//! `${TLS}` is a directory of existing files (see `tls_dir`): `cert.pem`, `key.pem`, `ca.pem`,
//! `other.pem`, `other.key`, `client.pem`, `client.key`; `nope.pem` does not exist.

use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;

use super::{error, errors, ok, tls_dir, POOL_API};
use crate::model::{
    Action, CertKey, ClientAuth, ClientAuthMode, HostMatch, Hsts, Listener, PoolTls, Protocol,
    TlsVersion,
};

fn file(name: &str) -> PathBuf {
    PathBuf::from(tls_dir()).join(name)
}

fn cert_key(cert: &str, key: &str) -> CertKey {
    CertKey {
        cert: file(cert),
        key: file(key),
    }
}

/// An https listener `web`; `tls` lines go in `[listener.tls]` (from line 6), then one
/// certificate (`cert.pem` + `key.pem`), then `extra`, then the pool `api`.
fn https(tls: &str, extra: &str) -> String {
    format!(
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8443\"\nprotocol = \"https\"\n\
         [listener.tls]\n{tls}[[listener.tls.cert]]\ncert = \"${{TLS}}/cert.pem\"\n\
         key = \"${{TLS}}/key.pem\"\n{extra}{POOL_API}"
    )
}

/// A listener `web` of `protocol`; `extra` starts at line 5.
fn listener(protocol: &str, extra: &str) -> String {
    format!(
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8443\"\nprotocol = \"{protocol}\"\n\
         {extra}{POOL_API}"
    )
}

fn first_listener(src: &str) -> Listener {
    ok(src).listeners.remove(0)
}

// ---------------------------------------------------------------------------------------------
// https listeners and [listener.tls]

#[test]
fn https_listener_defaults() {
    let l = first_listener(&https("", ""));
    assert_eq!(l.protocol, Protocol::Https);
    let tls = l.tls.expect("https listeners have tls");
    assert_eq!(tls.certs, [cert_key("cert.pem", "key.pem")]);
    assert_eq!(tls.min_version, TlsVersion::V1_2);
    assert_eq!(tls.client_auth, None);
    assert_eq!((l.https_redirect, l.hsts), (None, None));
    assert!(l.routes.is_empty());
}

#[test]
fn several_certs_keep_file_order_and_min_version_13() {
    let l = first_listener(&https(
        "min_version = \"1.3\"\n",
        "[[listener.tls.cert]]\ncert = \"${TLS}/other.pem\"\nkey = \"${TLS}/other.key\"\n",
    ));
    let tls = l.tls.unwrap();
    assert_eq!(
        tls.certs,
        [
            cert_key("cert.pem", "key.pem"),
            cert_key("other.pem", "other.key")
        ]
    );
    assert_eq!(tls.min_version, TlsVersion::V1_3);
    // Inline tables work as well, and absolute paths are kept as written.
    let dir = tls_dir();
    let l = first_listener(&listener(
        "https",
        &format!(
            "tls = {{ cert = [{{ cert = \"{dir}/other.pem\", key = \"{dir}/other.key\" }}] }}\n"
        ),
    ));
    assert_eq!(l.tls.unwrap().certs, [cert_key("other.pem", "other.key")]);
}

#[test]
fn https_needs_a_tls_table() {
    assert_eq!(
        error(&listener("https", "")),
        "4:12: listener \"web\": protocol \"https\" needs a [listener.tls] table with at least \
         one [[listener.tls.cert]] (cert and key files)"
    );
    assert_eq!(
        error(&listener(
            "https",
            "[listener.tls]\nmin_version = \"1.2\"\n"
        )),
        "5:1: listener \"web\": tls: missing required key \"cert\" (at least one \
         [[listener.tls.cert]] with cert and key files)"
    );
    assert_eq!(
        error(&listener("https", "[listener.tls]\ncert = []\n")),
        "6:8: listener \"web\": tls.cert: must list at least one { cert, key }"
    );
    assert_eq!(
        error(&listener("https", "[listener.tls]\ncert = \"a.pem\"\n")),
        "6:8: listener \"web\": tls.cert: expected an array of tables ([[listener.tls.cert]]) \
         with cert and key, found a string"
    );
}

#[test]
fn tls_is_only_for_https_listeners() {
    let tls = "[listener.tls]\n[[listener.tls.cert]]\ncert = \"${TLS}/cert.pem\"\nkey = \"${TLS}/key.pem\"\n";
    assert_eq!(
        error(&listener("http", tls)),
        "5:11: listener \"web\": [listener.tls] is only for https listeners (this one is http); \
         set protocol = \"https\" to terminate TLS here"
    );
    assert_eq!(
        error(&listener("tls_passthrough", tls)),
        "5:11: listener \"web\": [listener.tls] is only for https listeners (this one is \
         tls_passthrough); tls_passthrough listeners do not terminate TLS: the backends present \
         their own certificates"
    );
    // No protocol key: http, the default.
    let src = format!("[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:80\"\n{tls}");
    assert!(error(&src).starts_with("4:11: listener \"web\": [listener.tls] is only for https"));
    // A listener whose protocol is wrong still has its tls table checked, with no extra error.
    assert_eq!(
        errors(&listener(
            "htps",
            "[listener.tls]\nmin_version = \"1.1\"\n[[listener.tls.cert]]\ncert = \"${TLS}/cert.pem\"\nkey = \"${TLS}/key.pem\"\n"
        )),
        [
            "4:12: listener \"web\": unknown protocol \"htps\" (expected one of: http, https, tcp, \
             udp, tls_passthrough)",
            "6:15: listener \"web\": tls.min_version: unsupported TLS version \"1.1\" (expected one \
             of: 1.2, 1.3; TLS 1.0 and 1.1 are insecure and never accepted)",
        ]
    );
}

#[test]
fn cert_and_key_are_required_existing_files() {
    assert_eq!(
        errors(&https(
            "",
            "[[listener.tls.cert]]\ncert = \"${TLS}/nope.pem\"\nkey = \"\"\n\
             [[listener.tls.cert]]\nkey = \"${TLS}\"\n[[listener.tls.cert]]\ncert = 42\nkey = \"${TLS}/key.pem\"\n"
        )),
        [
            "10:8: listener \"web\": tls.cert[1].cert: file \"${TLS}/nope.pem\" does not exist".to_owned(),
            "11:7: listener \"web\": tls.cert[1].key: must not be empty".to_owned(),
            "12:1: listener \"web\": tls.cert[2]: missing required key \"cert\"".to_owned(),
            "13:7: listener \"web\": tls.cert[2].key: \"${TLS}\" is a directory, not a file".to_owned(),
            "15:8: listener \"web\": tls.cert[3].cert: expected a string, found an integer".to_owned(),
        ]
    );
}

#[test]
fn relative_paths_are_from_the_working_directory() {
    let err = error(&https(
        "",
        "[[listener.tls.cert]]\ncert = \"certs/nope.pem\"\nkey = \"${TLS}/key.pem\"\n",
    ));
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(
        err,
        format!(
            "10:8: listener \"web\": tls.cert[1].cert: file \"certs/nope.pem\" does not exist \
             (relative to the working directory {})",
            cwd.display()
        )
    );
}

#[test]
fn unknown_tls_keys_list_the_valid_ones() {
    assert_eq!(
        errors(&https(
            "ciphers = \"ALL\"\nclient_auth = { ca = \"${TLS}/ca.pem\", verify = true }\n",
            "chain = \"x\"\n"
        )),
        [
            "6:1: listener \"web\": tls: unknown key \"ciphers\" (expected one of: cert, \
             min_version, client_auth)",
            "7:39: listener \"web\": tls.client_auth: unknown key \"verify\" (expected one of: ca, \
             mode, subject_header, san_header)",
            "11:1: listener \"web\": tls.cert[0]: unknown key \"chain\" (expected one of: cert, key)",
        ]
    );
}

#[test]
fn min_version_is_12_or_13() {
    for bad in ["1.0", "1.1"] {
        assert_eq!(
            error(&https(&format!("min_version = \"{bad}\"\n"), "")),
            format!(
                "6:15: listener \"web\": tls.min_version: unsupported TLS version \"{bad}\" \
                 (expected one of: 1.2, 1.3; TLS 1.0 and 1.1 are insecure and never accepted)"
            )
        );
    }
    assert_eq!(
        error(&https("min_version = \"TLSv1.3\"\n", "")),
        "6:15: listener \"web\": tls.min_version: unsupported TLS version \"TLSv1.3\" (expected \
         one of: 1.2, 1.3)"
    );
    assert_eq!(
        error(&https("min_version = 1.3\n", "")),
        "6:15: listener \"web\": tls.min_version: expected a string, \"1.2\" or \"1.3\" (quoted), \
         found a float"
    );
}

// ---------------------------------------------------------------------------------------------
// [listener.tls.client_auth]

#[test]
fn client_auth_defaults_to_required() {
    let l = first_listener(&https("client_auth = { ca = \"${TLS}/ca.pem\" }\n", ""));
    assert_eq!(
        l.tls.unwrap().client_auth,
        Some(ClientAuth {
            ca: file("ca.pem"),
            mode: ClientAuthMode::Required,
            subject_header: None,
            san_header: None,
        })
    );
}

#[test]
fn client_auth_optional_with_headers_lowercased() {
    let l = first_listener(&https(
        "[listener.tls.client_auth]\nca = \"${TLS}/ca.pem\"\nmode = \"optional\"\n\
         subject_header = \"X-Client-Subject\"\nsan_header = \"x-client-san\"\n",
        "",
    ));
    assert_eq!(
        l.tls.unwrap().client_auth,
        Some(ClientAuth {
            ca: file("ca.pem"),
            mode: ClientAuthMode::Optional,
            subject_header: Some(HeaderName::from_static("x-client-subject")),
            san_header: Some(HeaderName::from_static("x-client-san")),
        })
    );
}

#[test]
fn client_auth_errors() {
    assert_eq!(
        errors(&https(
            "[listener.tls.client_auth]\nca = \"${TLS}/nope.pem\"\nmode = \"request\"\n\
             subject_header = \"x client\"\nsan_header = \"\"\n",
            ""
        )),
        [
            "7:6: listener \"web\": tls.client_auth.ca: file \"${TLS}/nope.pem\" does not exist"
                .to_owned(),
            "8:8: listener \"web\": tls.client_auth.mode: unknown mode \"request\" (expected one \
             of: required, optional)"
                .to_owned(),
            "9:18: listener \"web\": tls.client_auth.subject_header: invalid header name \
             \"x client\" (letters, digits and \"-\", e.g. \"x-client-subject\")"
                .to_owned(),
            "10:14: listener \"web\": tls.client_auth.san_header: must not be empty".to_owned(),
        ]
    );
    assert_eq!(
        error(&https(
            "[listener.tls.client_auth]\nmode = \"optional\"\n",
            ""
        )),
        "6:1: listener \"web\": tls.client_auth: missing required key \"ca\""
    );
    assert_eq!(
        error(&https(
            "[listener.tls.client_auth]\nca = \"${TLS}/ca.pem\"\nsubject_header = \"X-Client\"\n\
             san_header = \"x-client\"\n",
            ""
        )),
        "9:14: listener \"web\": tls.client_auth.san_header: must differ from subject_header \
         (both are x-client)"
    );
}

// ---------------------------------------------------------------------------------------------
// https_redirect

#[test]
fn https_redirect_defaults_to_port_443() {
    let l = first_listener(&listener("http", "https_redirect = true\n"));
    assert_eq!(l.https_redirect, Some(443));
    assert!(
        l.routes.is_empty(),
        "a redirecting listener needs no routes"
    );
    let l = first_listener(&listener(
        "http",
        "https_redirect = true\nhttps_port = 8443\n[[listener.route]]\npool = \"api\"\n",
    ));
    assert_eq!(l.https_redirect, Some(8443));
    assert_eq!(l.routes.len(), 1, "routes are allowed (and unused)");
    let l = first_listener(&listener("http", "https_redirect = false\n"));
    assert_eq!(l.https_redirect, None);
    assert_eq!(first_listener(&listener("http", "")).https_redirect, None);
}

#[test]
fn https_redirect_errors() {
    assert_eq!(
        errors(&listener("http", "https_redirect = \"yes\"\nhttps_port = 0\n")),
        [
            "5:18: listener \"web\": https_redirect: expected a boolean (true or false), found a string",
            "6:14: listener \"web\": https_port: must be between 1 and 65535, found 0",
        ]
    );
    assert_eq!(
        error(&listener(
            "http",
            "https_redirect = true\nhttps_port = 65536\n"
        )),
        "6:14: listener \"web\": https_port: must be between 1 and 65535, found 65536"
    );
    assert_eq!(
        error(&listener("http", "https_port = 8443\n")),
        "5:1: listener \"web\": https_port is only used with https_redirect = true"
    );
    let src = listener("tls_passthrough", "https_redirect = true\n");
    assert_eq!(
        error(&src),
        "5:1: listener \"web\": https_redirect is only for http listeners (this one is tls_passthrough)"
    );
}

#[test]
fn https_redirect_on_an_https_listener_is_an_error() {
    let src = "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8443\"\nprotocol = \"https\"\n\
               https_redirect = true\n[[listener.tls.cert]]\ncert = \"${TLS}/cert.pem\"\n\
               key = \"${TLS}/key.pem\"\n";
    assert_eq!(
        error(src),
        "5:1: listener \"web\": https_redirect is only for http listeners (this one is https)"
    );
}

// ---------------------------------------------------------------------------------------------
// [listener.hsts]

#[test]
fn hsts_defaults_to_one_year() {
    let l = first_listener(&https("", "[listener.hsts]\n"));
    assert_eq!(
        l.hsts,
        Some(Hsts {
            max_age: Duration::from_secs(8760 * 3600),
            include_subdomains: false,
            preload: false,
        })
    );
    let l = first_listener(&https(
        "",
        "[listener.hsts]\nmax_age = \"1h\"\ninclude_subdomains = true\npreload = true\n",
    ));
    assert_eq!(
        l.hsts,
        Some(Hsts {
            max_age: Duration::from_secs(3600),
            include_subdomains: true,
            preload: true,
        })
    );
}

#[test]
fn hsts_errors() {
    assert_eq!(
        errors(&https(
            "",
            "[listener.hsts]\nmax_age = \"0s\"\npreload = 1\nsubdomains = true\n"
        )),
        [
            "10:11: listener \"web\": hsts.max_age: must be greater than 0",
            "11:11: listener \"web\": hsts.preload: expected a boolean (true or false), found an integer",
            "12:1: listener \"web\": hsts: unknown key \"subdomains\" (expected one of: max_age, \
             include_subdomains, preload)",
        ]
    );
    assert_eq!(
        error(&https("", "[listener.hsts]\nmax_age = \"1500ms\"\n")),
        "10:11: listener \"web\": hsts.max_age: must be a whole number of seconds (max-age is \
         sent in seconds)"
    );
    assert_eq!(
        error(&listener("http", "[listener.hsts]\n")),
        "5:11: listener \"web\": [listener.hsts] is only for https listeners (this one is http); \
         browsers ignore Strict-Transport-Security over plain http"
    );
    assert_eq!(
        error(&listener("tls_passthrough", "hsts = {}\n")),
        "5:1: listener \"web\": [listener.hsts] is only for https listeners (this one is \
         tls_passthrough); a tls_passthrough listener does not see the HTTP inside; the backends \
         send their own headers"
    );
}

// ---------------------------------------------------------------------------------------------
// tls_passthrough listeners and sni routes

/// A tls_passthrough listener with pools `api` and `db`; `routes` start at line 5.
fn passthrough(routes: &str) -> String {
    format!(
        "[[listener]]\nname = \"tls\"\nbind = \"127.0.0.1:443\"\nprotocol = \"tls_passthrough\"\n\
         {routes}{POOL_API}[pool.db]\nbackends = [{{ address = \"127.0.0.1:5432\" }}]\n"
    )
}

#[test]
fn passthrough_routes_by_sni_with_a_default() {
    let l = first_listener(&passthrough(
        "[[listener.route]]\nname = \"db\"\nsni = \"DB.Example.com\"\npool = \"db\"\n\
         [[listener.route]]\nsni = \"*.Example.com\"\npool = \"api\"\n\
         [[listener.route]]\nname = \"rest\"\npool = \"api\"\n",
    ));
    assert_eq!(l.protocol, Protocol::TlsPassthrough);
    assert_eq!(
        (l.tls.as_ref(), l.hsts, l.https_redirect),
        (None, None, None)
    );
    let routes: Vec<(&str, Option<HostMatch>, Action)> = l
        .routes
        .iter()
        .map(|r| (r.name.as_str(), r.sni.clone(), r.action.clone()))
        .collect();
    assert_eq!(
        routes,
        [
            (
                "db",
                Some(HostMatch::Exact("db.example.com".into())),
                Action::Pool("db".into())
            ),
            (
                "#2",
                Some(HostMatch::Wildcard(".example.com".into())),
                Action::Pool("api".into())
            ),
            ("rest", None, Action::Pool("api".into())),
        ]
    );
    for r in &l.routes {
        assert_eq!(
            (&r.host, &r.path_prefix, r.client_cert),
            (&None, &None, false)
        );
        assert!(r.headers.is_empty());
    }
    // No routes at all is valid (every connection is closed).
    assert!(first_listener(&passthrough("")).routes.is_empty());
}

#[test]
fn passthrough_routes_only_take_name_sni_and_pool() {
    let why =
        "not allowed here: passthrough routes only route by sni to a pool (keys: name, sni, pool)";
    assert_eq!(
        errors(&passthrough(
            "[[listener.route]]\nsni = \"a.example.com\"\nhost = \"a.example.com\"\n\
             path_prefix = \"/\"\nheaders = { x = \"1\" }\nclient_cert = true\npool = \"api\"\n"
        )),
        [
            format!("7:1: listener \"tls\": route \"#1\": host: {why}"),
            format!("8:1: listener \"tls\": route \"#1\": path_prefix: {why}"),
            format!("9:1: listener \"tls\": route \"#1\": headers: {why}"),
            format!("10:1: listener \"tls\": route \"#1\": client_cert: {why}"),
        ]
    );
    for action in [
        "split = [{ pool = \"api\", weight = 1 }]",
        "redirect = { to = \"https://x/\" }",
        "respond = {}",
    ] {
        let key = action.split(' ').next().unwrap();
        assert_eq!(
            error(&passthrough(&format!(
                "[[listener.route]]\nsni = \"a.example.com\"\n{action}\n"
            ))),
            format!("7:1: listener \"tls\": route \"#1\": {key}: {why}"),
            "no second error about the missing pool"
        );
    }
    assert_eq!(
        error(&passthrough(
            "[[listener.route]]\nname = \"x\"\nsni = \"a.example.com\"\n"
        )),
        "5:1: listener \"tls\": route \"x\": missing required key \"pool\" (passthrough routes \
         only route by sni to a pool (keys: name, sni, pool))"
    );
    assert_eq!(
        error(&passthrough(
            "[[listener.route]]\nservername = \"a\"\npool = \"api\"\n"
        )),
        "6:1: listener \"tls\": route \"#1\": unknown key \"servername\" (expected one of: name, \
         sni, pool)"
    );
    assert_eq!(
        error(&passthrough("[[listener.route]]\npool = \"web\"\n")),
        "6:8: listener \"tls\": route \"#1\": pool: unknown pool \"web\" (defined pools: api, db)"
    );
}

#[test]
fn sni_must_be_a_server_name_or_wildcard() {
    let eg = "(expected a server name such as \"db.example.com\" or a wildcard such as \"*.example.com\")";
    for (bad, why) in [
        ("", "must not be empty"),
        (
            "db.example.com:443",
            "ports are not matched; remove the port",
        ),
        (
            "db.*.com",
            "\"*\" is only allowed as a whole first label, as in \"*.example.com\"",
        ),
        (
            "10.0.0.1",
            "clients never send an IP address as SNI; a route without sni catches connections \
             that send none",
        ),
        (
            "::1",
            "clients never send an IP address as SNI; a route without sni catches connections \
             that send none",
        ),
    ] {
        assert_eq!(
            error(&passthrough(&format!(
                "[[listener.route]]\nsni = \"{bad}\"\npool = \"api\"\n"
            ))),
            format!("6:7: listener \"tls\": route \"#1\": sni: invalid sni \"{bad}\": {why} {eg}")
        );
    }
}

#[test]
fn passthrough_sni_and_default_routes_are_unique() {
    assert_eq!(
        errors(&passthrough(
            "[[listener.route]]\nsni = \"*.example.com\"\npool = \"api\"\n\
             [[listener.route]]\nname = \"again\"\nsni = \"*.EXAMPLE.com\"\npool = \"db\"\n\
             [[listener.route]]\nname = \"default\"\npool = \"api\"\n\
             [[listener.route]]\npool = \"db\"\n"
        )),
        [
            "10:7: listener \"tls\": route \"again\": sni *.example.com is already routed by \
             route \"#1\"; this route would never match",
            "15:1: listener \"tls\": route \"#4\": route \"default\" is already the default route \
             (no sni); only one passthrough route may leave out sni",
        ]
    );
}

#[test]
fn sni_is_only_for_passthrough_routes() {
    let route = "[[listener.route]]\nsni = \"a.example.com\"\npool = \"api\"\n";
    let msg = |line: u32, protocol: &str| {
        format!(
            "{line}:1: listener \"web\": route \"#1\": sni: sni is only for routes of \
             tls_passthrough listeners (this one is {protocol}); match the Host header with host"
        )
    };
    assert_eq!(error(&listener("http", route)), msg(6, "http"));
    assert_eq!(error(&https("", route)), msg(10, "https"));
}

// ---------------------------------------------------------------------------------------------
// client_cert route match

#[test]
fn client_cert_needs_client_auth() {
    for mode in ["optional", "required"] {
        let l = first_listener(&https(
            &format!("client_auth = {{ ca = \"${{TLS}}/ca.pem\", mode = \"{mode}\" }}\n"),
            "[[listener.route]]\nname = \"admin\"\nclient_cert = true\npool = \"api\"\n\
             [[listener.route]]\nclient_cert = false\npool = \"api\"\n",
        ));
        assert!(l.routes[0].client_cert, "{mode}");
        assert!(!l.routes[1].client_cert, "{mode}");
    }
    assert_eq!(
        error(&https(
            "",
            "[[listener.route]]\nclient_cert = true\npool = \"api\"\n"
        )),
        "10:1: listener \"web\": route \"#1\": client_cert: client_cert = true needs \
         [listener.tls.client_auth] on this listener (mode \"optional\" lets clients without a \
         certificate use other routes)"
    );
    assert_eq!(
        error(&listener(
            "http",
            "[[listener.route]]\nclient_cert = true\npool = \"api\"\n"
        )),
        "6:1: listener \"web\": route \"#1\": client_cert: client_cert = true is only for https \
         listeners with [listener.tls.client_auth] (this one is http)"
    );
    // false is the default and means "any connection": harmless anywhere HTTP is routed.
    let l = first_listener(&listener(
        "http",
        "[[listener.route]]\nclient_cert = false\npool = \"api\"\n",
    ));
    assert!(!l.routes[0].client_cert);
    assert_eq!(
        error(&listener(
            "http",
            "[[listener.route]]\nclient_cert = \"yes\"\npool = \"api\"\n"
        )),
        "6:15: listener \"web\": route \"#1\": client_cert: expected a boolean (true or false), \
         found a string"
    );
}

// ---------------------------------------------------------------------------------------------
// [pool.NAME.tls]

/// `[pool.api]` with `[pool.api.tls]` holding `tls` (from line 4).
fn pool_tls(tls: &str) -> String {
    format!("[pool.api]\nbackends = [{{ address = \"10.0.0.1:443\" }}]\n[pool.api.tls]\n{tls}")
}

#[test]
fn empty_pool_tls_table_is_tls_with_defaults() {
    let p = ok(&pool_tls("")).pools.remove(0);
    assert_eq!(
        p.tls,
        Some(PoolTls {
            verify: true,
            ca: None,
            sni: None,
            client_cert: None,
        })
    );
    assert_eq!(ok(POOL_API).pools[0].tls, None, "no table: cleartext");
    let p = ok("[pool.api]\nbackends = [{ address = \"10.0.0.1:443\" }]\ntls = {}\n")
        .pools
        .remove(0);
    assert!(p.tls.is_some());
}

#[test]
fn pool_tls_with_everything() {
    let p = ok(&pool_tls(
        "verify = false\nca = \"${TLS}/ca.pem\"\nsni = \"API.Internal\"\n\
         cert = \"${TLS}/client.pem\"\nkey = \"${TLS}/client.key\"\n",
    ))
    .pools
    .remove(0);
    assert_eq!(
        p.tls,
        Some(PoolTls {
            verify: false,
            ca: Some(file("ca.pem")),
            sni: Some("api.internal".into()),
            client_cert: Some(cert_key("client.pem", "client.key")),
        })
    );
    for ip in ["10.0.0.1", "::1"] {
        let p = ok(&pool_tls(&format!("sni = \"{ip}\"\n"))).pools.remove(0);
        assert_eq!(p.tls.unwrap().sni.as_deref(), Some(ip));
    }
}

#[test]
fn pool_tls_cert_and_key_go_together() {
    let tail = "a client certificate for the backends takes both cert and key, or neither";
    assert_eq!(
        error(&pool_tls("cert = \"${TLS}/client.pem\"\n")),
        format!("4:1: pool \"api\": tls.cert: needs key as well: {tail}")
    );
    assert_eq!(
        error(&pool_tls("key = \"${TLS}/client.key\"\n")),
        format!("4:1: pool \"api\": tls.key: needs cert as well: {tail}")
    );
}

#[test]
fn pool_tls_errors() {
    assert_eq!(
        errors(&pool_tls(
            "verify = \"no\"\nca = \"${TLS}/nope.pem\"\nsni = \"api_internal\"\n\
             cert = \"${TLS}/nope.pem\"\nkey = \"${TLS}/client.key\"\nalpn = \"h2\"\n"
        )),
        [
            "4:10: pool \"api\": tls.verify: expected a boolean (true or false), found a string"
                .to_owned(),
            "5:6: pool \"api\": tls.ca: file \"${TLS}/nope.pem\" does not exist".to_owned(),
            "6:7: pool \"api\": tls.sni: invalid sni \"api_internal\": label \"api_internal\" may \
             only contain letters, digits and \"-\" (expected a DNS name such as \"api.internal\" \
             or an IP address)"
                .to_owned(),
            "7:8: pool \"api\": tls.cert: file \"${TLS}/nope.pem\" does not exist".to_owned(),
            "9:1: pool \"api\": tls: unknown key \"alpn\" (expected one of: verify, ca, sni, cert, \
             key)"
                .to_owned(),
        ]
    );
    for (bad, why) in [
        ("", "must not be empty"),
        ("api.internal:443", "no port or scheme, only the name"),
        ("10.0.0.256", "is not a valid IP address"),
        (
            "*.internal",
            "label \"*\" may only contain letters, digits and \"-\"",
        ),
    ] {
        assert_eq!(
            error(&pool_tls(&format!("sni = \"{bad}\"\n"))),
            format!(
                "4:7: pool \"api\": tls.sni: invalid sni \"{bad}\": {why} (expected a DNS name \
                 such as \"api.internal\" or an IP address)"
            )
        );
    }
    assert_eq!(
        error("[pool.api]\nbackends = [{ address = \"10.0.0.1:443\" }]\ntls = true\n"),
        "3:7: pool \"api\": tls: expected a table, found a boolean"
    );
}

// ---------------------------------------------------------------------------------------------
// summary

#[test]
fn summary_shows_tls() {
    let src = format!(
        "{}\n{}\n{}{}",
        https(
            "min_version = \"1.3\"\n[listener.tls.client_auth]\nca = \"${TLS}/ca.pem\"\n\
             mode = \"optional\"\nsubject_header = \"x-client-subject\"\n",
            "[listener.hsts]\ninclude_subdomains = true\n\
             [[listener.route]]\nname = \"admin\"\nclient_cert = true\npool = \"api\"\n"
        ),
        "[[listener]]\nname = \"redirect\"\nbind = \"127.0.0.1:8080\"\nhttps_redirect = true\n",
        "[[listener]]\nname = \"tls\"\nbind = \"127.0.0.1:9443\"\nprotocol = \"tls_passthrough\"\n\
         [[listener.route]]\nsni = \"*.example.com\"\npool = \"x\"\n\
         [[listener.route]]\nname = \"rest\"\npool = \"x\"\n\
         [pool.x]\nbackends = [{ address = \"127.0.0.1:1\" }]\n\
         tls = { verify = false }\n\
         [pool.y]\nbackends = [{ address = \"127.0.0.1:2\" }]\n\
         tls = { ca = \"${TLS}/ca.pem\", sni = \"y.internal\", cert = \"${TLS}/client.pem\", key = \"${TLS}/client.key\" }\n",
        "[pool.z]\nbackends = [{ address = \"127.0.0.1:3\" }]\ntls = {}\n"
    );
    let text = crate::summary(&ok(&src));
    for expected in [
        "listener \"web\" https on 127.0.0.1:8443\n".to_owned(),
        "  tls: min version 1.3; certs ${TLS}/cert.pem + ${TLS}/key.pem\n".to_owned(),
        "  client auth: optional, ca ${TLS}/ca.pem; subject -> x-client-subject\n".to_owned(),
        "  hsts: max-age 8760h, includeSubDomains\n".to_owned(),
        "  route \"admin\": client certificate -> pool api\n".to_owned(),
        "listener \"redirect\" http on 127.0.0.1:8080\n".to_owned(),
        "  https_redirect: every request -> 308 to https port 443 (routes unused)\n".to_owned(),
        "listener \"tls\" tls_passthrough on 127.0.0.1:9443\n".to_owned(),
        "  route \"#1\": sni *.example.com -> pool x\n".to_owned(),
        "  route \"rest\": any other sni (default) -> pool x\n".to_owned(),
        "  tls: verify off\n".to_owned(),
        "  tls: verify against ${TLS}/ca.pem, sni y.internal, client cert ${TLS}/client.pem + ${TLS}/client.key\n"
            .to_owned(),
        "  tls: verify against the system roots\n".to_owned(),
    ] {
        assert!(text.contains(&expected), "missing {expected:?} in:\n{text}");
    }
    assert!(
        !text.contains("every request gets 404"),
        "a redirecting listener has no 404 line:\n{text}"
    );
    let plain = crate::summary(&ok(&https("", "")));
    assert!(plain.contains("  client auth: off\n"), "{plain}");
    let empty = crate::summary(&ok(&passthrough("")));
    assert!(
        empty.contains("  no routes: every connection is closed\n"),
        "{empty}"
    );
}

/// Issue 7 item 11: HSTS `max_age` takes up to two years (preload lists want one or more);
/// beyond is an error like every other duration past its cap.
#[test]
fn hsts_max_age_is_capped_at_two_years() {
    let l = first_listener(&https("", "[listener.hsts]\nmax_age = \"17520h\"\n"));
    assert_eq!(
        l.hsts.map(|h| h.max_age),
        Some(Duration::from_secs(17_520 * 3600))
    );
    let err = super::error(&https("", "[listener.hsts]\nmax_age = \"17521h\"\n"));
    assert!(
        err.ends_with("listener \"web\": hsts.max_age: must be at most 17520h, found \"17521h\""),
        "{err}"
    );
}
