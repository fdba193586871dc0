//! `[listener.auth]` and `[listener.route.auth]`: each kind, `require`, `forward_identity`,
//! the rate limit keys that need authentication, and errors at their line:column.

use super::{error, errors, ok, POOL_API};
use crate::model::{ApiKeySource, AuthKind, JwksSource, RateKey};

/// Listener `web` (lines 1-3), its route (4-5), then `extra` from line 6.
fn with(extra: &str) -> String {
    format!(
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8080\"\n[[listener.route]]\npool = \"api\"\n{extra}\n{POOL_API}"
    )
}

const HASH: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
const ARGON: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
const BCRYPT: &str = "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";

fn jwks_file(name: &str, content: &str) -> String {
    let dir = std::env::temp_dir().join(format!("fulcrum-config-auth-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p.display().to_string()
}

#[test]
fn every_kind_parses() {
    let cfg = ok(&with(&format!(
        "[listener.route.auth]\nkind = \"api_key\"\nheader = \"X-Api-Key\"\n\
         keys = [{{ name = \"ci\", sha256 = \"{HASH}\" }}, {{ name = \"deploy\", sha256 = \"{}\" }}]\n\
         require = {{ name = [\"ci\"] }}\nforward_identity = \"x-auth-subject\"\n\
         [listener.route.rate_limit]\nrequests_per_second = 5\nkey = \"api_key\"\n\
         [listener.auth]\nkind = \"basic\"\nusers = [{{ name = \"ops\", hash = \"{ARGON}\" }}, {{ name = \"dev\", hash = \"{BCRYPT}\" }}]",
        HASH.to_uppercase()
    )));
    let l = &cfg.listeners[0];
    let r = l.routes[0].guards.auth.as_ref().unwrap();
    match &r.kind {
        AuthKind::ApiKey { source, keys } => {
            assert_eq!(
                *source,
                ApiKeySource::Header(http::HeaderName::from_static("x-api-key"))
            );
            assert_eq!(keys[0].name, "ci");
            assert_eq!(keys[0].sha256[..2], [0x9f, 0x86]);
            assert_eq!(keys[0].sha256, keys[1].sha256, "hex digits of either case");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(r.require.names, ["ci"]);
    assert_eq!(r.forward_identity.as_ref().unwrap(), "x-auth-subject");
    assert_eq!(
        l.routes[0].guards.rate_limit.as_ref().unwrap().key,
        RateKey::ApiKey
    );
    assert!(
        matches!(&l.guards.auth.as_ref().unwrap().kind, AuthKind::Basic { users } if users.len() == 2)
    );

    let jwks = jwks_file(
        "ok.json",
        r#"{"keys":[{"kty":"oct","kid":"a","k":"c2VjcmV0LXNlY3JldA"}]}"#,
    );
    let cfg = ok(&with(&format!(
        "[listener.auth]\nkind = \"jwt\"\njwks_file = \"{jwks}\"\nissuer = \"https://id/\"\n\
         audience = \"orders\"\nclock_skew = \"30s\"\n\
         require = {{ \"scope\" = \"orders:write\", groups = [\"a\", \"b\"] }}\n\
         [listener.rate_limit]\nrequests_per_second = 5\nkey = \"jwt:sub\""
    )));
    let a = cfg.listeners[0].guards.auth.as_ref().unwrap();
    match &a.kind {
        AuthKind::Jwt {
            issuer,
            clock_skew,
            jwks: JwksSource::File { json, .. },
            ..
        } => {
            assert_eq!(issuer.as_deref(), Some("https://id/"));
            assert_eq!(clock_skew.as_secs(), 30);
            assert!(json.contains("oct"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        a.require.claims[0],
        ("scope".into(), vec!["orders:write".into()])
    );
    assert_eq!(a.require.claims[1].1, ["a", "b"]);
    assert_eq!(
        cfg.listeners[0].guards.rate_limit.as_ref().unwrap().key,
        RateKey::Jwt("sub".into())
    );
    // A route's rate limit may use the listener's authentication.
    ok(&with(&format!(
        "[listener.route.rate_limit]\nrequests_per_second = 5\nkey = \"jwt:tenant\"\n\
         [listener.auth]\nkind = \"jwt\"\njwks_file = \"{jwks}\""
    )));
}

#[test]
fn bad_auth_is_refused_at_its_place() {
    let jwks = jwks_file(
        "ok2.json",
        r#"{"keys":[{"kty":"oct","kid":"a","k":"c2VjcmV0LXNlY3JldA"}]}"#,
    );
    assert_eq!(
        error(&with("[listener.auth]\nkind = \"oauth\"")),
        "7:8: listener \"web\": auth.kind: unknown kind \"oauth\" (expected one of: api_key, basic, jwt, mtls)"
    );
    let all = errors(&with(&format!(
        "[listener.auth]\nkind = \"api_key\"\nheader = \"X-Api-Key\"\n\
         keys = [{{ name = \"ci\", sha256 = \"abc\" }}, {{ name = \"ci\", sha256 = \"{HASH}\" }}]"
    )));
    assert_eq!(
        all,
        [
            "9:33: listener \"web\": auth.keys[0].sha256: expected the key's SHA-256 as 64 hexadecimal digits",
            "9:51: listener \"web\": auth.keys[1].name: duplicate name \"ci\" (also [0])",
        ]
    );
    assert_eq!(
        error(&with(
            "[listener.auth]\nkind = \"api_key\"\nquery = \"key\"\nkeys = []"
        )),
        "9:8: listener \"web\": auth.keys: must list at least one entry"
    );
    assert_eq!(
        error(&with(&format!("[listener.auth]\nkind = \"api_key\"\nkeys = [{{ name = \"ci\", sha256 = \"{HASH}\" }}]"))),
        "6:1: listener \"web\": auth: kind = \"api_key\" needs header = \"NAME\" or query = \"NAME\""
    );
    assert_eq!(
        error(&with("[listener.auth]\nkind = \"basic\"\nusers = [{ name = \"ops\", hash = \"$2b$04$short\" }]")),
        "8:33: listener \"web\": auth.users[0].hash: not a valid bcrypt hash"
    );
    assert_eq!(
        error(&with("[listener.auth]\nkind = \"basic\"\nusers = [{ name = \"ops\", hash = \"secret\" }]")),
        "8:33: listener \"web\": auth.users[0].hash: not an argon2 ($argon2id$...) or bcrypt ($2b$...) hash"
    );
    assert_eq!(
        error(&with("[listener.auth]\nkind = \"basic\"\nusers = [{ name = \"ops\", hash = \"$argon2id$v=19$garbage\" }]")),
        "8:33: listener \"web\": auth.users[0].hash: not a valid argon2 PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash)"
    );
    assert_eq!(
        error(&with("[listener.auth]\nkind = \"basic\"\nheader = \"x\"\nusers = [{ name = \"ops\", hash = \"$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW\" }]")),
        "8:1: listener \"web\": auth.header: \"header\" is not a key of kind = \"basic\""
    );
    let bad = jwks_file(
        "bad.json",
        r#"{"keys":[{"kty":"RSA","kid":"a","n":"AQAB","e":"AQAB","alg":"HS256"}]}"#,
    );
    let e = error(&with(&format!(
        "[listener.auth]\nkind = \"jwt\"\njwks_file = \"{bad}\""
    )));
    assert!(e.starts_with("8:13: listener \"web\": auth.jwks_file: ") && e.ends_with("none of its 1 keys is usable (expected oct/HS256, RSA/RS256, EC P-256/ES256 or OKP Ed25519/EdDSA keys)"), "{e}");
    let all = errors(&with(
        "[listener.auth]\nkind = \"jwt\"\njwks = \"http://id.example.com/jwks.json\"\n\
         [listener.route.auth]\nkind = \"jwt\"\njwks = \"ftp://x/j\"\njwks_refresh = \"0s\"",
    ));
    assert_eq!(
        all,
        [
            "8:8: listener \"web\": auth.jwks: \"http://id.example.com/jwks.json\": plain http is only for loopback addresses (127.0.0.1, [::1], localhost): use https",
            "11:8: listener \"web\": route \"#1\": auth.jwks: \"ftp://x/j\": unsupported scheme \"ftp\" (expected https)",
        ]
    );
    let e = error(&with(
        "[listener.auth]\nkind = \"jwt\"\njwks = \"https://id.test/j\"\njwks_refresh = \"0s\"",
    ));
    assert!(
        e.starts_with("9:16: listener \"web\": auth.jwks_refresh:"),
        "{e}"
    );
    let e = error(&with(&format!(
        "[listener.auth]\nkind = \"jwt\"\njwks_file = \"{jwks}\"\njwks_refresh = \"1m\""
    )));
    assert_eq!(
        e,
        "9:1: listener \"web\": auth.jwks_refresh: jwks_refresh is for jwks (a URL)"
    );
    let cfg = ok(&with(
        "[listener.auth]\nkind = \"jwt\"\njwks = \"http://127.0.0.1:9/jwks\"\njwks_refresh = \"1m\"",
    ));
    match &cfg.listeners[0].guards.auth.as_ref().unwrap().kind {
        AuthKind::Jwt {
            jwks:
                JwksSource::Url {
                    url,
                    refresh,
                    min_refresh,
                    ca,
                },
            ..
        } => {
            assert_eq!(url, "http://127.0.0.1:9/jwks");
            assert_eq!(
                (refresh.as_secs(), min_refresh.as_secs(), ca),
                (60, 10, &None)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        error(&with("[listener.auth]\nkind = \"mtls\"")),
        "6:1: listener \"web\": auth: kind = \"mtls\" needs an https listener with [listener.tls.client_auth]"
    );
    let all = errors(&with(
        "[listener.auth]\nkind = \"mtls\"\nrequire = { name = \"x\" }",
    ));
    assert!(all.iter().any(|e| e == "8:13: listener \"web\": auth.require: unknown key \"name\" (expected one of: subject, san)"), "{all:#?}");
    let all = errors(&with(
        "[listener.auth]\nkind = \"mtls\"\nforward_identity = \"bad name\"",
    ));
    assert!(all.iter().any(|e| e == "8:20: listener \"web\": auth.forward_identity: \"bad name\" is not a valid header name"), "{all:#?}");
}

#[test]
fn rate_keys_need_their_authentication() {
    assert_eq!(
        error(&with(
            "[listener.rate_limit]\nrequests_per_second = 1\nkey = \"jwt:sub\""
        )),
        "8:1: listener \"web\": rate_limit.key: this key needs authentication of kind = \"jwt\" \
         on the route or its listener ([listener.auth] or [listener.route.auth])"
    );
    let e = error(&with(&format!(
        "[listener.route.rate_limit]\nrequests_per_second = 1\nkey = \"api_key\"\n\
         [listener.auth]\nkind = \"basic\"\nusers = [{{ name = \"ops\", hash = \"{BCRYPT}\" }}]"
    )));
    assert!(e.starts_with("8:1: listener \"web\": route \"#1\": rate_limit.key: this key needs authentication of kind = \"api_key\""), "{e}");
    assert_eq!(
        error(&with("[listener.rate_limit]\nrequests_per_second = 1\nkey = \"jwt:\"")),
        "8:7: listener \"web\": rate_limit.key: key \"jwt:\" names no claim (expected \"jwt:CLAIM\", e.g. \"jwt:sub\")"
    );
}
