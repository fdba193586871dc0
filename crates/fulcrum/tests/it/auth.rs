//! Issue 10 part 4: authentication and authorization per route, end to end on both HTTP/1.1
//! engines (and HTTP/2 through hyper): API keys (header and query), Basic users with bcrypt
//! hashes, JWTs from a JWKS file (rotated by a reload; a bad file is refused and the old keys
//! keep serving) and from a JWKS URL served over real HTTPS by the test (rotation picked up
//! through an unknown kid, the refreshes bounded), client certificates; 401 with the challenge, 403 by `require`, the
//! identity forwarded and a forged copy stripped, a rate limit keyed by the key's name, the
//! metrics and the access log's `guard` field.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use fulcrum_testkit::tls::rcgen::SanType;
use fulcrum_testkit::tls::{client_config, Ca, TlsClient};
use fulcrum_testkit::{Backend, Client, Reply};
use sha2::{Digest, Sha256};

use crate::support::{admin_call, replace_file, Lb, TempDir};

const ENGINES: [&str; 2] = ["auto", "hyper"];

pub(crate) fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn config(engine: &str, log: &str, routes: &str, be: &Backend) -> String {
    format!(
        "[runtime]\nworkers = 2\n[access_log]\ntarget = \"{log}\"\n[admin]\nbind = \"127.0.0.1:0\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\nengine = \"{engine}\"\n{routes}\n\
         [pool.app]\nbackends = [{{ address = \"{}\" }}]\n",
        be.addr
    )
}

fn metrics(lb: &Lb) -> String {
    admin_call(lb.admin(), "GET", "/metrics", None, None).text()
}

fn decisions(lb: &Lb, route: &str, decision: &str) -> f64 {
    let series = format!(
        "fulcrum_guard_decisions_total{{listener=\"web\",route=\"{route}\",guard=\"auth\",decision=\"{decision}\"}}"
    );
    metrics(lb)
        .lines()
        .find_map(|l| l.strip_prefix(&series).and_then(|r| r.trim().parse().ok()))
        .unwrap_or(0.0)
}

fn forwarded(be: &Backend) -> Vec<String> {
    let rec = be.recorded().pop().expect("the backend saw no request");
    rec.headers
        .get_all("x-auth-subject")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
}

#[test]
fn api_keys_and_basic_users_on_both_engines() {
    let dir = TempDir::new("auth-keys");
    let log = dir.0.join("access.log");
    let bcrypt_hash = bcrypt::hash("hunter2", 4).unwrap();
    let routes = format!(
        "[[listener.route]]\nname = \"keys\"\npath_prefix = \"/keys\"\npool = \"app\"\n\
         [listener.route.auth]\nkind = \"api_key\"\nheader = \"X-Api-Key\"\n\
         keys = [{{ name = \"ci\", sha256 = \"{}\" }}, {{ name = \"deploy\", sha256 = \"{}\" }}, {{ name = \"guest\", sha256 = \"{}\" }}]\n\
         require = {{ name = [\"ci\", \"deploy\"] }}\nforward_identity = \"x-auth-subject\"\n\
         [listener.route.rate_limit]\nrequests_per_second = 1\nburst = 2\nkey = \"api_key\"\n\
         [[listener.route]]\nname = \"query\"\npath_prefix = \"/query\"\npool = \"app\"\n\
         [listener.route.auth]\nkind = \"api_key\"\nquery = \"key\"\n\
         keys = [{{ name = \"ci\", sha256 = \"{}\" }}]\nforward_identity = \"x-auth-subject\"\n\
         [[listener.route]]\nname = \"basic\"\npath_prefix = \"/basic\"\npool = \"app\"\n\
         [listener.route.auth]\nkind = \"basic\"\nusers = [{{ name = \"ops\", hash = \"{bcrypt_hash}\" }}]\n\
         forward_identity = \"x-auth-subject\"\n\
         [[listener.route]]\nname = \"open\"\npool = \"app\"\n",
        sha256_hex("key-ci"),
        sha256_hex("key-deploy"),
        sha256_hex("key-guest"),
        sha256_hex("key-ci"),
    );
    for engine in ENGINES {
        let be = Backend::start("be");
        let lb = Lb::start(&config(engine, &log.display().to_string(), &routes, &be));
        let mut cl = Client::http1(lb.addr());
        let mut get = |path: &str, headers: &[(&str, &str)]| -> Reply {
            cl.get("shop.example", path, headers).unwrap()
        };
        let forged = ("x-auth-subject", "admin");

        // No key, a wrong key: 401 with the challenge; nothing reaches the backend.
        for headers in [&[][..], &[("x-api-key", "nope"), forged][..]] {
            let r = get("/keys/a", headers);
            assert_eq!(r.status, 401, "{engine}: {}", r.text());
            assert_eq!(
                r.header("www-authenticate").as_deref(),
                Some("ApiKey realm=\"fulcrum\""),
                "{engine}"
            );
            assert!(!r.text().contains("nope"), "{engine}: the key is echoed");
        }
        assert_eq!(be.request_count(), 0, "{engine}");
        // A valid key not in `require`: 403.
        let r = get("/keys/a", &[("x-api-key", "key-guest")]);
        assert_eq!(r.status, 403, "{engine}: {}", r.text());
        assert!(r.text().contains("not allowed"), "{engine}: {}", r.text());
        // The right key: served, the key's name forwarded, the client's copy dropped.
        let r = get("/keys/a", &[("x-api-key", "key-ci"), forged]);
        assert_eq!(r.status, 200, "{engine}");
        assert_eq!(forwarded(&be), ["ci"], "{engine}");
        // The rate limit counts per key name: ci's burst of 2 is spent, deploy's is not.
        assert_eq!(get("/keys/a", &[("x-api-key", "key-ci")]).status, 200);
        assert_eq!(
            get("/keys/a", &[("x-api-key", "key-ci")]).status,
            429,
            "{engine}"
        );
        let r = get("/keys/a", &[("x-api-key", "key-deploy"), forged]);
        assert_eq!(r.status, 200, "{engine}");
        assert_eq!(forwarded(&be), ["deploy"], "{engine}");

        // The key in a query parameter (percent-encoded).
        assert_eq!(get("/query?key=nope", &[]).status, 401, "{engine}");
        assert_eq!(
            get("/query?a=1&key=key%2Dci", &[forged]).status,
            200,
            "{engine}"
        );
        assert_eq!(forwarded(&be), ["ci"], "{engine}");

        // Basic, bcrypt.
        let r = get("/basic", &[]);
        assert_eq!(r.status, 401, "{engine}");
        assert_eq!(
            r.header("www-authenticate").as_deref(),
            Some("Basic realm=\"fulcrum\", charset=\"UTF-8\"")
        );
        let wrong = basic("ops", "wrong");
        assert_eq!(get("/basic", &[("authorization", &wrong)]).status, 401);
        let right = basic("ops", "hunter2");
        for _ in 0..3 {
            let r = get("/basic", &[("authorization", &right), forged]);
            assert_eq!(r.status, 200, "{engine}");
            assert_eq!(forwarded(&be), ["ops"], "{engine}");
            // Authorization is passed on as received.
            let rec = be.recorded().pop().unwrap();
            assert_eq!(rec.headers["authorization"], right.as_str());
        }
        // A route without auth lets a client's x-auth-subject through untouched.
        assert_eq!(get("/", &[forged]).status, 200);
        assert_eq!(forwarded(&be), ["admin"]);

        // HTTP/2 (hyper) meets the same checks.
        let mut h2 = Client::http2(lb.addr());
        assert_eq!(h2.get("shop.example", "/keys/b", &[]).unwrap().status, 401);
        let r = h2
            .get(
                "shop.example",
                "/keys/b",
                &[("x-api-key", "key-deploy"), forged],
            )
            .unwrap();
        assert_eq!(r.status, 200, "{engine}: h2");
        assert_eq!(forwarded(&be), ["deploy"]);

        assert!(decisions(&lb, "keys", "deny") >= 4.0, "{}", metrics(&lb));
        assert!(decisions(&lb, "keys", "allow") >= 4.0, "{}", metrics(&lb));
        assert!(decisions(&lb, "basic", "allow") >= 3.0, "{}", metrics(&lb));
    }
    // The access log names the guard that refused.
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let refused: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("\"status\":401"))
        .collect();
    assert!(!refused.is_empty(), "{text}");
    assert!(
        refused.iter().all(|l| l.contains("\"guard\":\"auth\"")),
        "{refused:#?}"
    );
    assert!(
        !text.contains("key-ci") && !text.contains("hunter2"),
        "a secret was logged"
    );
}

struct Signer {
    key: jsonwebtoken::EncodingKey,
    jwk: serde_json::Value,
}

fn ed25519(kid: &str) -> Signer {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    Signer {
        key: jsonwebtoken::EncodingKey::from_ed_der(&kp.serialize_der()),
        jwk: serde_json::json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "alg": "EdDSA",
                                "x": URL_SAFE_NO_PAD.encode(kp.public_key_raw())}),
    }
}

fn jwks(keys: &[&Signer]) -> String {
    let keys: Vec<_> = keys.iter().map(|s| s.jwk.clone()).collect();
    serde_json::json!({ "keys": keys }).to_string()
}

fn token(s: &Signer, kid: &str, sub: &str, scope: &str, exp_in: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    h.kid = Some(kid.to_owned());
    let claims = serde_json::json!({"sub": sub, "iss": "https://id.test/", "aud": "orders",
                                    "scope": scope, "exp": now + exp_in});
    jsonwebtoken::encode(&h, &claims, &s.key).unwrap()
}

#[test]
fn jwt_from_a_jwks_file_with_rotation_by_reload() {
    let dir = TempDir::new("auth-jwt");
    let (k1, k2) = (ed25519("k1"), ed25519("k2"));
    let set = dir.write("jwks.json", &jwks(&[&k1]));
    let routes = format!(
        "[[listener.route]]\nname = \"orders\"\npool = \"app\"\n\
         [listener.route.auth]\nkind = \"jwt\"\njwks_file = '{}'\nissuer = \"https://id.test/\"\n\
         audience = \"orders\"\nrequire = {{ scope = \"orders:write\" }}\nforward_identity = \"x-auth-subject\"\n\
         [listener.route.rate_limit]\nrequests_per_second = 1\nburst = 2\nkey = \"jwt:sub\"\n",
        set.display()
    );
    for engine in ENGINES {
        replace_file(&set, &jwks(&[&k1]));
        let be = Backend::start("be");
        let path = dir.write("fulcrum.toml", &config(engine, "off", &routes, &be));
        let lb = Lb::start_file(&path);
        let mut cl = Client::http1(lb.addr());
        let mut get = |t: &str| -> Reply {
            let auth = format!("Bearer {t}");
            cl.get(
                "shop.example",
                "/o",
                &[("authorization", &auth), ("x-auth-subject", "root")],
            )
            .unwrap()
        };
        let r = Client::http1(lb.addr())
            .get("shop.example", "/o", &[])
            .unwrap();
        assert_eq!(r.status, 401, "{engine}");
        let challenge = r.header("www-authenticate").unwrap();
        assert!(
            challenge.starts_with(
                "Bearer realm=\"fulcrum\", error=\"invalid_token\", error_description=\""
            ),
            "{challenge}"
        );
        let good = token(&k1, "k1", "alice", "orders:read orders:write", 300);
        let r = get(&good);
        assert_eq!(r.status, 200, "{engine}: {}", r.text());
        assert_eq!(forwarded(&be), ["alice"], "{engine}");
        // Expired, a stranger's key under a known kid, an unknown kid: 401, the token not echoed.
        for (t, why) in [
            (token(&k1, "k1", "alice", "orders:write", -120), "expired"),
            (token(&k2, "k1", "alice", "orders:write", 300), "signature"),
            (token(&k2, "k2", "alice", "orders:write", 300), "key id"),
        ] {
            let r = get(&t);
            assert_eq!(r.status, 401, "{engine}: {why}");
            assert!(r.text().contains(why), "{engine}: {}", r.text());
            assert!(!r.text().contains(&t), "{engine}: token echoed");
        }
        // Authenticated, without the scope: 403.
        let r = get(&token(&k1, "k1", "bob", "orders:read", 300));
        assert_eq!(r.status, 403, "{engine}: {}", r.text());
        // Rate limited by `sub`: alice's burst is spent, carol's is not.
        assert_eq!(get(&good).status, 200);
        assert_eq!(get(&good).status, 429, "{engine}");
        assert_eq!(
            get(&token(&k1, "k1", "carol", "orders:write", 300)).status,
            200
        );

        // Rotation: the file now holds k2 only; a reload reads it.
        replace_file(&set, &jwks(&[&k2]));
        lb.reload().unwrap();
        let dave = token(&k2, "k2", "dave", "orders:write", 300);
        assert_eq!(
            get(&dave).status,
            200,
            "{engine}: the new key after the reload"
        );
        assert_eq!(
            get(&token(&k1, "k1", "erin", "orders:write", 300)).status,
            401
        );
        // A key set that does not parse is refused, and the old keys keep serving.
        replace_file(&set, "{\"keys\": [");
        let e = lb.reload().unwrap_err();
        assert!(
            e.contains("jwks_file") && e.contains("not a JWKS document"),
            "{e}"
        );
        assert_eq!(
            get(&token(&k2, "k2", "frank", "orders:write", 300)).status,
            200
        );
    }
}

#[test]
fn client_certificates_are_the_identity() {
    let dir = TempDir::new("auth-mtls");
    let ca = Ca::new("server ca");
    let clients = Ca::new("clients ca");
    let (cert, key) = ca.server(&["mtls.test"]).write(&dir.0, "site");
    let client_ca = clients.write(&dir.0, "clients.pem");
    let ia5 = |s: &str| -> fulcrum_testkit::tls::rcgen::string::Ia5String { s.try_into().unwrap() };
    let ops = clients.client(
        "ops",
        "Example",
        vec![SanType::URI(ia5("spiffe://example/ops"))],
    );
    let dev = clients.client(
        "dev",
        "Example",
        vec![SanType::URI(ia5("spiffe://example/dev"))],
    );
    for engine in ENGINES {
        let be = Backend::start("be");
        let cfg = format!(
            "[runtime]\nworkers = 2\n[access_log]\ntarget = \"off\"\n\
             [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\nprotocol = \"https\"\nengine = \"{engine}\"\n\
             [listener.tls]\n[[listener.tls.cert]]\ncert = '{}'\nkey = '{}'\n\
             [listener.tls.client_auth]\nca = '{}'\nmode = \"optional\"\n\
             [[listener.route]]\npool = \"app\"\n\
             [listener.route.auth]\nkind = \"mtls\"\nrequire = {{ san = \"URI:spiffe://example/ops\" }}\n\
             forward_identity = \"x-auth-subject\"\n\
             [pool.app]\nbackends = [{{ address = \"{}\" }}]\n",
            cert.display(),
            key.display(),
            client_ca.display(),
            be.addr
        );
        let lb = Lb::start(&cfg);
        let forged = [("x-auth-subject", "CN=root")];
        let get = |leaf: Option<&fulcrum_testkit::tls::Leaf>| {
            let c = Arc::new(client_config(&ca.pem, &[], &[b"http/1.1"], leaf));
            let mut cl = TlsClient::connect(lb.addr(), c, "mtls.test").unwrap();
            cl.get("mtls.test", "/x", &forged).unwrap()
        };
        let r = get(None);
        assert_eq!(r.status, 401, "{engine}: {}", r.text());
        assert_eq!(
            r.header("www-authenticate").as_deref(),
            Some("Mutual realm=\"fulcrum\"")
        );
        let r = get(Some(&dev));
        assert_eq!(r.status, 403, "{engine}: {}", r.text());
        let r = get(Some(&ops));
        assert_eq!(r.status, 200, "{engine}: {}", r.text());
        assert_eq!(forwarded(&be), ["CN=ops,O=Example"], "{engine}");
        assert_eq!(be.request_count(), 1, "{engine}");
    }
}

/// An HTTPS server of one JWKS document (replaceable), counting the requests it answers.
struct JwksServer {
    addr: std::net::SocketAddr,
    body: Arc<std::sync::Mutex<String>>,
    hits: Arc<std::sync::atomic::AtomicUsize>,
}

impl JwksServer {
    fn start(leaf: &fulcrum_testkit::tls::Leaf, body: String) -> JwksServer {
        use fulcrum_testkit::tls::rustls;
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::PrivateKeyDer;
        use std::io::{Read, Write};
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
        let config = Arc::new(
            rustls::ServerConfig::builder_with_provider(fulcrum_testkit::tls::provider())
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![leaf.der.clone()], key)
                .unwrap(),
        );
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let body = Arc::new(std::sync::Mutex::new(body));
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (b, h) = (body.clone(), hits.clone());
        std::thread::spawn(move || {
            for sock in listener.incoming() {
                let Ok(sock) = sock else { return };
                sock.set_read_timeout(Some(std::time::Duration::from_secs(5)))
                    .unwrap();
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, sock);
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                if !head.starts_with(b"GET /jwks.json HTTP/1.0\r\n") {
                    continue;
                }
                h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let body = b.lock().unwrap().clone();
                let resp = format!(
                    "HTTP/1.0 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(resp.as_bytes());
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        JwksServer { addr, body, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[test]
fn jwks_fetched_over_https_rotated_by_unknown_kid_with_bounded_refreshes() {
    let dir = TempDir::new("auth-jwks-url");
    let ca = Ca::new("jwks ca");
    let ca_path = ca.write(&dir.0, "ca.pem");
    let leaf = ca.server(&["127.0.0.1"]);
    let (k1, k2) = (ed25519("k1"), ed25519("k2"));
    for engine in ENGINES {
        let server = JwksServer::start(&leaf, jwks(&[&k1]));
        let be = Backend::start("be");
        let routes = format!(
            "[[listener.route]]\nname = \"api\"\npool = \"app\"\n\
             [listener.route.auth]\nkind = \"jwt\"\njwks = \"https://{}/jwks.json\"\njwks_ca = '{}'\n\
             jwks_min_refresh = \"1s\"\nissuer = \"https://id.test/\"\naudience = \"orders\"\n",
            server.addr,
            ca_path.display()
        );
        let lb = Lb::start(&config(engine, "off", &routes, &be));
        let status = |t: &str| {
            let auth = format!("Bearer {t}");
            Client::http1(lb.addr())
                .get("shop.example", "/", &[("authorization", &auth)])
                .unwrap()
                .status
                .as_u16()
        };
        let t1 = token(&k1, "k1", "alice", "", 300);
        assert!(
            fulcrum_testkit::wait_until(Duration::from_secs(10), || status(&t1) == 200),
            "{engine}: the key set never arrived"
        );
        assert_eq!(server.hits(), 1, "{engine}: one fetch at start");

        // Rotation: the server now has k2 only; a k2 token asks for a refresh, which comes.
        *server.body.lock().unwrap() = jwks(&[&k2]);
        let t2 = token(&k2, "k2", "bob", "", 300);
        assert!(
            fulcrum_testkit::wait_until(Duration::from_secs(10), || status(&t2) == 200),
            "{engine}: the rotated key was never fetched"
        );
        assert_eq!(status(&t1), 401, "{engine}: the old key is gone");

        // A flood of made-up key ids: at most one fetch per jwks_min_refresh (1 s).
        let before = server.hits();
        let start = std::time::Instant::now();
        let mut sent = 0;
        while start.elapsed() < Duration::from_millis(2500) {
            let t = token(&k2, &format!("rand-{sent}"), "mallory", "", 300);
            assert_eq!(status(&t), 401);
            sent += 1;
        }
        std::thread::sleep(Duration::from_millis(200));
        let fetched = server.hits() - before;
        assert!(sent > 20, "{engine}: only {sent} requests");
        assert!(
            (1..=4).contains(&fetched),
            "{engine}: {fetched} fetches for {sent} unknown kids in 2.5 s"
        );
    }
}
