//! TLS end to end (issue 4): https listeners (SNI certificates, versions and suites, HTTP/1.1
//! and HTTP/2), HSTS and the https redirect, mutual TLS, certificate reload, TLS and HTTP/2 to
//! backends (gRPC-shaped trailers end to end), and SNI pass-through.
//!
//! Every certificate is made by rcgen at test time; everything is on loopback.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fulcrum_testkit::tls::rcgen::SanType;
use fulcrum_testkit::tls::rustls::{self, ClientConfig, ProtocolVersion};
use fulcrum_testkit::tls::{
    client_config, handshake, insecure_client_config, raw_tls_exchange, Ca, Leaf, TlsBackend,
    TlsBackendOpts, TlsClient,
};
use fulcrum_testkit::{raw_exchange, Backend, Client};
use http::Method;

use crate::support::{pool, Lb, TempDir};

const H2_H1: &[&[u8]] = &[b"h2", b"http/1.1"];
const H1: &[&[u8]] = &[b"http/1.1"];
const TLS12: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS12];
const TLS13: &[&rustls::SupportedProtocolVersion] = &[&rustls::version::TLS13];

pub(crate) fn head() -> String {
    "[runtime]\nworkers = 2\n[access_log]\ntarget = \"off\"\n".to_string()
}

/// A path as a TOML literal string.
pub(crate) fn lit(p: &Path) -> String {
    let s = p.display().to_string();
    assert!(
        !s.contains('\''),
        "path {s} cannot be a TOML literal string"
    );
    format!("'{s}'")
}

/// `[[listener.tls.cert]]` entries for `pairs` (the first is the default certificate).
fn cert_entries(pairs: &[(PathBuf, PathBuf)]) -> String {
    pairs
        .iter()
        .map(|(c, k)| {
            format!(
                "  [[listener.tls.cert]]\n  cert = {}\n  key = {}\n",
                lit(c),
                lit(k)
            )
        })
        .collect()
}

/// A pool of one backend at `addr` with `[pool.NAME.tls]` = `tls` (TOML lines).
fn tls_pool(name: &str, addr: std::net::SocketAddr, tls: &str) -> String {
    format!("[pool.{name}]\nbackends = [{{ address = \"{addr}\" }}]\n[pool.{name}.tls]\n{tls}\n")
}

fn arc(c: ClientConfig) -> Arc<ClientConfig> {
    Arc::new(c)
}

/// Wait until `f` returns `Some`, or fail with `what` after `timeout`.
fn poll<T>(timeout: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------------------------
// 1. SNI certificates, HTTP/1.1 and HTTP/2 to clients

#[test]
fn sni_picks_certificate_and_proxies_http1_and_http2() {
    let dir = TempDir::new("tls-sni");
    let ca = Ca::new("sni ca");
    let default = ca.server(&["default.test"]);
    let wild = ca.server(&["*.example.com"]);
    let api = ca.server(&["api.example.com"]);
    let backend = Backend::start("plain");
    // The wildcard comes before the exact name: the exact name must still win.
    let cfg = format!(
        "{}[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\nprotocol = \"https\"\n{}\
         [[listener.route]]\npool = \"app\"\n{}",
        head(),
        cert_entries(&[
            default.write(&dir.0, "default"),
            wild.write(&dir.0, "wild"),
            api.write(&dir.0, "api"),
        ]),
        pool("app", "round_robin", &[&backend])
    );
    let lb = Lb::start(&cfg);
    let addr = lb.addr();
    let verifying = arc(client_config(&ca.pem, &[], H2_H1, None));

    let sans = |name: &str| handshake(addr, verifying.clone(), name).unwrap().sans;
    assert_eq!(sans("api.example.com"), ["DNS:api.example.com"]);
    assert_eq!(sans("www.example.com"), ["DNS:*.example.com"]);
    assert_eq!(sans("default.test"), ["DNS:default.test"]);

    // No SNI at all: the default (first) certificate.
    let mut no_sni = client_config(&ca.pem, &[], H2_H1, None);
    no_sni.enable_sni = false;
    assert_eq!(
        handshake(addr, arc(no_sni), "default.test").unwrap().sans,
        ["DNS:default.test"]
    );
    // A name no certificate covers (a wildcard covers one label only): the default too.
    let any = arc(insecure_client_config(H2_H1));
    for name in ["unknown.test", "a.b.example.com", "example.com"] {
        assert_eq!(
            handshake(addr, any.clone(), name).unwrap().sans,
            ["DNS:default.test"],
            "{name}"
        );
    }

    // HTTP/1.1 (the client offers only http/1.1).
    let mut h1 = TlsClient::connect(
        addr,
        arc(client_config(&ca.pem, &[], H1, None)),
        "api.example.com",
    )
    .unwrap();
    assert!(!h1.is_h2());
    let r = h1.get("api.example.com", "/one", &[]).unwrap();
    assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "plain"));
    assert_eq!(r.version, http::Version::HTTP_11);

    // HTTP/2 by ALPN.
    let mut h2 = TlsClient::connect(addr, verifying.clone(), "www.example.com").unwrap();
    assert_eq!(h2.handshake.alpn.as_deref(), Some(&b"h2"[..]));
    assert!(h2.is_h2());
    for i in 0..3 {
        let r = h2
            .get("www.example.com", &format!("/two/{i}"), &[])
            .unwrap();
        assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "plain"));
        assert_eq!(r.version, http::Version::HTTP_2);
    }

    let rec = backend.recorded();
    assert_eq!(rec.len(), 4);
    for r in &rec {
        assert_eq!(
            r.headers.get("x-forwarded-proto").map(|v| v.as_bytes()),
            Some(&b"https"[..]),
            "{r:?}"
        );
    }
    assert_eq!(
        rec[1].headers.get("host").map(|v| v.as_bytes()),
        Some(&b"www.example.com"[..])
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Versions and cipher suites

/// `openssl s_client` against `addr` with `args`: whether a handshake completed, and what it
/// printed.
fn s_client(addr: std::net::SocketAddr, args: &[&str]) -> (bool, String) {
    let mut child = Command::new("openssl")
        .arg("s_client")
        .arg("-connect")
        .arg(addr.to_string())
        .args(["-servername", "default.test"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `openssl` ({e}): these tests need the openssl CLI \
                 (scripts/test installs it; on Debian: apt-get install openssl)"
            )
        });
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("openssl s_client {args:?} did not finish within 10s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}\n--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ok = status.success() && text.contains("Cipher is ") && !text.contains("Cipher is (NONE)");
    (ok, text)
}

#[test]
fn versions_and_cipher_suites() {
    let dir = TempDir::new("tls-versions");
    let ca = Ca::new("versions ca");
    let cert = ca.server(&["default.test"]).write(&dir.0, "default");
    let backend = Backend::start("plain");
    let certs = cert_entries(std::slice::from_ref(&cert));
    let cfg = format!(
        "{}[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\nprotocol = \"https\"\n{certs}\
         [[listener.route]]\npool = \"app\"\n\
         [[listener]]\nname = \"strict\"\nbind = \"127.0.0.1:0\"\nprotocol = \"https\"\n\
         [listener.tls]\nmin_version = \"1.3\"\n{certs}\
         [[listener.route]]\npool = \"app\"\n{}",
        head(),
        pool("app", "round_robin", &[&backend])
    );
    let lb = Lb::start(&cfg);
    let (web, strict) = (lb.addr(), lb.listener("strict"));

    let tls12 = arc(client_config(&ca.pem, TLS12, H1, None));
    let tls13 = arc(client_config(&ca.pem, TLS13, H1, None));
    // The default accepts TLS 1.2 (and 1.3).
    let h = handshake(web, tls12.clone(), "default.test").unwrap();
    assert_eq!(h.version, Some(ProtocolVersion::TLSv1_2));
    let h = handshake(web, tls13.clone(), "default.test").unwrap();
    assert_eq!(h.version, Some(ProtocolVersion::TLSv1_3));
    // TLS 1.2 really carries requests.
    let mut c = TlsClient::connect(web, tls12.clone(), "default.test").unwrap();
    assert_eq!(c.get("default.test", "/", &[]).unwrap().status, 200);
    // min_version = "1.3" refuses a TLS 1.2-only client.
    let e = handshake(strict, tls12, "default.test").unwrap_err();
    assert!(
        e.to_lowercase().contains("protocol") || e.to_lowercase().contains("version"),
        "{e}"
    );
    let h = handshake(strict, tls13, "default.test").unwrap();
    assert_eq!(h.version, Some(ProtocolVersion::TLSv1_3));

    // The openssl CLI: a control that succeeds, so the refusals below mean something.
    let (ok, out) = s_client(
        web,
        &["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"],
    );
    assert!(ok, "TLS 1.2 with an AEAD suite must work:\n{out}");
    // TLS 1.0 and 1.1: refused (SECLEVEL=0 lets openssl itself offer them).
    for v in ["-tls1", "-tls1_1"] {
        let (ok, out) = s_client(web, &[v, "-cipher", "DEFAULT@SECLEVEL=0"]);
        assert!(!ok, "{v} must be refused:\n{out}");
        assert!(
            out.contains("SSL alert number"),
            "{v}: expected a TLS alert from the server:\n{out}"
        );
    }
    // Non-AEAD (CBC) suites over TLS 1.2: refused, both the RSA one and the ECDSA one that the
    // listener's (ECDSA) certificate could otherwise serve.
    for suite in [
        "AES128-SHA",
        "ECDHE-ECDSA-AES128-SHA",
        "ECDHE-ECDSA-AES256-SHA384",
    ] {
        let (ok, out) = s_client(web, &["-tls1_2", "-cipher", suite]);
        assert!(!ok, "{suite} must be refused:\n{out}");
        assert!(
            out.contains("SSL alert number"),
            "{suite}: expected a TLS alert from the server:\n{out}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. HSTS and the https redirect

#[test]
fn hsts_header_and_https_redirect() {
    let dir = TempDir::new("tls-hsts");
    let ca = Ca::new("hsts ca");
    let cert = ca.server(&["site.test"]).write(&dir.0, "site");
    let backend = Backend::start("plain");
    let cfg = format!(
        "{}[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\nprotocol = \"https\"\n{}\
         [listener.hsts]\nmax_age = \"1h\"\ninclude_subdomains = true\npreload = true\n\
         [[listener.route]]\npath_prefix = \"/app/\"\npool = \"app\"\n\
         [[listener.route]]\npath_prefix = \"/here\"\nrespond = {{ status = 200, body = \"here\" }}\n\
         [[listener]]\nname = \"redirect\"\nbind = \"127.0.0.1:0\"\nhttps_redirect = true\n\
         [[listener]]\nname = \"redirect8443\"\nbind = \"127.0.0.1:0\"\nhttps_redirect = true\nhttps_port = 8443\n\
         [[listener]]\nname = \"plain\"\nbind = \"127.0.0.1:0\"\n\
         [[listener.route]]\npool = \"app\"\n{}",
        head(),
        cert_entries(&[cert]),
        pool("app", "round_robin", &[&backend])
    );
    let lb = Lb::start(&cfg);
    let hsts = "max-age=3600; includeSubDomains; preload";

    for alpn in [H1, H2_H1] {
        let mut c = TlsClient::connect(
            lb.addr(),
            arc(client_config(&ca.pem, &[], alpn, None)),
            "site.test",
        )
        .unwrap();
        // Proxied, local and error responses all carry it.
        for (path, status) in [("/app/x", 200), ("/here", 200), ("/nothing", 404)] {
            let r = c.get("site.test", path, &[]).unwrap();
            assert_eq!(r.status, status, "{path}");
            assert_eq!(
                r.header("strict-transport-security").as_deref(),
                Some(hsts),
                "{path} over {:?}",
                r.version
            );
        }
    }
    // Never on plain http.
    let r = Client::http1(lb.listener("plain"))
        .get("site.test", "/", &[])
        .unwrap();
    assert_eq!(r.status, 200);
    assert!(r.header("strict-transport-security").is_none());

    let before = backend.request_count();
    // https_port 443 (the default) is left out of the Location; the request's port is dropped.
    for (method, host) in [("GET", "site.test:8080"), ("POST", "site.test")] {
        let req = format!(
            "{method} /a/b?x=1&y=2 HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let r = raw_exchange(
            lb.listener("redirect"),
            req.as_bytes(),
            Duration::from_secs(5),
        );
        assert_eq!(r.status(), Some(308), "{}", r.text());
        assert!(
            r.text()
                .to_lowercase()
                .contains("\r\nlocation: https://site.test/a/b?x=1&y=2\r\n"),
            "{}",
            r.text()
        );
    }
    let r = Client::http1(lb.listener("redirect8443"))
        .get("site.test:8080", "/a/b?x=1", &[])
        .unwrap();
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location").as_deref(),
        Some("https://site.test:8443/a/b?x=1")
    );
    // HTTP/2 (prior knowledge) on the redirect listener: `:authority` is the host.
    let r = Client::http2(lb.listener("redirect"))
        .get("site.test", "/h2", &[])
        .unwrap();
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location").as_deref(),
        Some("https://site.test/h2")
    );
    assert_eq!(
        backend.request_count(),
        before,
        "a redirect never reaches a backend"
    );
}

// ---------------------------------------------------------------------------------------------
// 4. Mutual TLS

fn ia5(s: &str) -> fulcrum_testkit::tls::rcgen::string::Ia5String {
    s.try_into().unwrap()
}

#[test]
fn mutual_tls_required_and_optional() {
    let dir = TempDir::new("tls-mtls");
    let ca = Ca::new("server ca");
    let clients = Ca::new("clients ca");
    let strangers = Ca::new("other ca");
    let cert = ca.server(&["mtls.test"]).write(&dir.0, "site");
    let client_ca = clients.write(&dir.0, "clients.pem");
    let good = clients.client(
        "client1",
        "Acme Corp",
        vec![
            SanType::DnsName(ia5("client1.example")),
            SanType::URI(ia5("spiffe://acme/client1")),
        ],
    );
    let stranger = strangers.client("client1", "Acme Corp", vec![]);
    let (app, admin) = (Backend::start("app"), Backend::start("admin"));
    let certs = cert_entries(&[cert]);
    let client_auth = |mode: &str| {
        format!(
            "[listener.tls.client_auth]\nca = {}\nmode = \"{mode}\"\n\
             subject_header = \"X-Client-Subject\"\nsan_header = \"x-client-san\"\n",
            lit(&client_ca)
        )
    };
    let cfg = format!(
        "{}[[listener]]\nname = \"required\"\nbind = \"127.0.0.1:0\"\nprotocol = \"https\"\n{certs}{}\
         [[listener.route]]\npool = \"app\"\n\
         [[listener]]\nname = \"optional\"\nbind = \"127.0.0.1:0\"\nprotocol = \"https\"\n{certs}{}\
         [[listener.route]]\nname = \"admin\"\npath_prefix = \"/admin/\"\nclient_cert = true\npool = \"admin\"\n\
         [[listener.route]]\nname = \"admin-refused\"\npath_prefix = \"/admin/\"\nrespond = {{ status = 403, body = \"certificate needed\" }}\n\
         [[listener.route]]\nname = \"private\"\npath_prefix = \"/private/\"\nclient_cert = true\npool = \"admin\"\n\
         [[listener.route]]\nname = \"rest\"\npath_prefix = \"/app/\"\npool = \"app\"\n{}{}",
        head(),
        client_auth("required"),
        client_auth("optional"),
        pool("app", "round_robin", &[&app]),
        pool("admin", "round_robin", &[&admin]),
    );
    let lb = Lb::start(&cfg);
    let (required, optional) = (lb.listener("required"), lb.listener("optional"));
    let subject = "CN=client1,O=Acme Corp";
    let san = "DNS:client1.example, URI:spiffe://acme/client1";
    let spoof: &[(&str, &str)] = &[
        ("x-client-subject", "CN=admin"),
        ("X-Client-San", "DNS:evil"),
    ];
    let values = |h: &http::HeaderMap, name: &str| -> Vec<String> {
        h.get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    };

    // Required, no certificate or one from another CA: no request gets through.
    for (what, identity) in [("no certificate", None), ("a stranger's", Some(&stranger))] {
        for alpn in [H1, H2_H1] {
            let cfg = arc(client_config(&ca.pem, &[], alpn, identity));
            let outcome = TlsClient::connect(required, cfg, "mtls.test")
                .and_then(|mut c| c.get("mtls.test", "/app/", &[]).map(|r| r.status));
            assert!(outcome.is_err(), "{what}: {outcome:?}");
        }
    }
    assert_eq!(app.request_count(), 0);

    // Required, the right certificate: the identity headers carry the verified values, and
    // the client's own copies of them are dropped.
    for alpn in [H1, H2_H1] {
        let cfg = arc(client_config(&ca.pem, &[], alpn, Some(&good)));
        let mut c = TlsClient::connect(required, cfg, "mtls.test").unwrap();
        let r = c.get("mtls.test", "/app/x", spoof).unwrap();
        assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "app"));
        let rec = app.recorded().pop().unwrap();
        assert_eq!(values(&rec.headers, "x-client-subject"), [subject]);
        assert_eq!(values(&rec.headers, "x-client-san"), [san]);
    }

    // Optional, no certificate: ordinary routes work, client_cert routes are skipped, and
    // spoofed identity headers are removed.
    let cfg = arc(client_config(&ca.pem, &[], H2_H1, None));
    let mut c = TlsClient::connect(optional, cfg, "mtls.test").unwrap();
    let r = c.get("mtls.test", "/app/y", spoof).unwrap();
    assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "app"));
    let rec = app.recorded().pop().unwrap();
    assert!(
        values(&rec.headers, "x-client-subject").is_empty(),
        "{rec:?}"
    );
    assert!(values(&rec.headers, "x-client-san").is_empty(), "{rec:?}");
    let r = c.get("mtls.test", "/admin/panel", spoof).unwrap();
    assert_eq!(
        (r.status.as_u16(), r.text().as_str()),
        (403, "certificate needed")
    );
    let r = c.get("mtls.test", "/private/x", &[]).unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(admin.request_count(), 0);

    // Optional, a stranger's certificate: still refused.
    let cfg = arc(client_config(&ca.pem, &[], H1, Some(&stranger)));
    let outcome = TlsClient::connect(optional, cfg, "mtls.test")
        .and_then(|mut c| c.get("mtls.test", "/app/", &[]).map(|r| r.status));
    assert!(outcome.is_err(), "{outcome:?}");

    // Optional, the right certificate: the client_cert routes match, with the identity.
    for alpn in [H1, H2_H1] {
        let cfg = arc(client_config(&ca.pem, &[], alpn, Some(&good)));
        let mut c = TlsClient::connect(optional, cfg, "mtls.test").unwrap();
        for path in ["/admin/panel", "/private/x"] {
            let r = c.get("mtls.test", path, spoof).unwrap();
            assert_eq!(
                (r.status.as_u16(), r.text().as_str()),
                (200, "admin"),
                "{path}"
            );
            let rec = admin.recorded().pop().unwrap();
            assert_eq!(values(&rec.headers, "x-client-subject"), [subject]);
            assert_eq!(values(&rec.headers, "x-client-san"), [san]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 5. Certificate reload

/// A new certificate for `names` whose PEM has exactly `len` bytes (ECDSA signatures vary by a
/// byte or two), so that rewriting a file with it keeps the file's size.
pub(crate) fn cert_of_len(ca: &Ca, names: &[&str], len: usize) -> Leaf {
    for _ in 0..200 {
        let leaf = ca.server(names);
        if leaf.cert_pem.len() == len {
            return leaf;
        }
    }
    panic!("no certificate of {len} bytes in 200 tries");
}

#[test]
fn certificates_reload_when_files_change_and_on_reload() {
    let dir = TempDir::new("tls-reload");
    let ca = Ca::new("reload ca");
    let v1 = ca.server(&["reload.test"]);
    let (cert, key) = v1.write(&dir.0, "site");
    let backend = Backend::start("plain");
    let cfg = format!(
        "{}[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\nprotocol = \"https\"\n{}\
         [[listener.route]]\npool = \"app\"\n{}",
        head(),
        cert_entries(&[(cert.clone(), key.clone())]),
        pool("app", "round_robin", &[&backend])
    );
    let path = dir.write("fulcrum.toml", &cfg);
    let lb = Lb::start_file(&path);
    let client = arc(client_config(&ca.pem, &[], H1, None));
    let served = || {
        handshake(lb.addr(), client.clone(), "reload.test")
            .unwrap()
            .cert
    };
    assert_eq!(served(), v1.der);

    // The files are overwritten in place: new handshakes get the new certificate within ~3s.
    let v2 = ca.server(&["reload.test"]);
    std::fs::write(&cert, &v2.cert_pem).unwrap();
    std::fs::write(&key, &v2.key_pem).unwrap();
    poll(Duration::from_secs(3), "the new certificate", || {
        (served() == v2.der).then_some(())
    });
    // A connection made before is unaffected; HTTP still works on new ones.
    let mut c = TlsClient::connect(lb.addr(), client.clone(), "reload.test").unwrap();
    assert_eq!(c.get("reload.test", "/", &[]).unwrap().status, 200);

    // A certificate with a key that does not load: the old one keeps serving.
    let v3 = ca.server(&["reload.test"]);
    std::fs::write(&cert, &v3.cert_pem).unwrap();
    std::fs::write(
        &key,
        "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let watch_until = Instant::now() + Duration::from_millis(2500);
    while Instant::now() < watch_until {
        assert_eq!(
            served(),
            v2.der,
            "a broken key must not replace the serving certificate"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // A configuration reload re-reads the files too, and refuses them.
    assert!(lb.reload().is_err(), "reload with a broken key must fail");
    assert_eq!(served(), v2.der);
    assert_eq!(c.get("reload.test", "/", &[]).unwrap().status, 200);

    // Fixing the key: picked up by the file watch.
    std::fs::write(&key, &v3.key_pem).unwrap();
    poll(Duration::from_secs(3), "the repaired certificate", || {
        (served() == v3.der).then_some(())
    });

    // `reload()` re-reads the files itself: rewrite them in place with the same sizes and
    // modification times, which the file watch cannot notice...
    let v4 = cert_of_len(&ca, &["reload.test"], v3.cert_pem.len());
    assert_eq!(
        v4.key_pem.len(),
        v3.key_pem.len(),
        "P-256 keys have one size"
    );
    let stamp = |p: &Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let (cert_mtime, key_mtime) = (stamp(&cert), stamp(&key));
    for (p, text, mtime) in [
        (&cert, &v4.cert_pem, cert_mtime),
        (&key, &v4.key_pem, key_mtime),
    ] {
        let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
        std::io::Write::write_all(&mut &f, text.as_bytes()).unwrap();
        f.set_modified(mtime).unwrap();
    }
    let watch_until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < watch_until {
        assert_eq!(
            served(),
            v3.der,
            "test premise: the file watch must not see this"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // ...and a reload serves them at once.
    lb.reload().unwrap();
    assert_eq!(served(), v4.der);
}

// ---------------------------------------------------------------------------------------------
// 6. TLS to backends

#[test]
fn backend_tls_verification_sni_and_http2() {
    let dir = TempDir::new("tls-upstream");
    let ca = Ca::new("backend ca");
    let wrong = Ca::new("wrong ca");
    let ca_path = ca.write(&dir.0, "ca.pem");
    let wrong_path = wrong.write(&dir.0, "wrong.pem");
    let by_ip = ca.server(&["127.0.0.1"]);
    // Each pool has its own backend, so no connection can be shared between them.
    let ok = TlsBackend::start("ok", &by_ip);
    let h1_only = TlsBackend::start_with(
        "h1only",
        TlsBackendOpts {
            alpn: vec![b"http/1.1".to_vec()],
            ..TlsBackendOpts::new(&by_ip)
        },
    );
    let untrusted = TlsBackend::start("untrusted", &by_ip);
    let unverified = TlsBackend::start("unverified", &wrong.server(&["elsewhere.invalid"]));
    let named = TlsBackend::start("named", &ca.server(&["backend.internal"]));
    let listeners = ["ok", "h1only", "untrusted", "unverified", "named"]
        .iter()
        .map(|n| {
            format!(
                "[[listener]]\nname = \"{n}\"\nbind = \"127.0.0.1:0\"\n\
                 [[listener.route]]\npool = \"{n}\"\n"
            )
        })
        .collect::<String>();
    let ca_line = format!("ca = {}", lit(&ca_path));
    let cfg = format!(
        "{}{listeners}{}{}{}{}{}",
        head(),
        tls_pool("ok", ok.addr, &ca_line),
        tls_pool("h1only", h1_only.addr, &ca_line),
        tls_pool(
            "untrusted",
            untrusted.addr,
            &format!("ca = {}", lit(&wrong_path))
        ),
        tls_pool("unverified", unverified.addr, "verify = false"),
        tls_pool(
            "named",
            named.addr,
            &format!("{ca_line}\nsni = \"backend.internal\"")
        ),
    );
    let lb = Lb::start(&cfg);
    let get = |listener: &str, path: &str| {
        Client::http1(lb.listener(listener))
            .get("app.test", path, &[])
            .unwrap()
    };

    // Verified against `ca`, by IP (no SNI sent), HTTP/2 by ALPN.
    for i in 0..3 {
        let r = get("ok", &format!("/x/{i}"));
        assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "ok"));
        assert_eq!(r.header("x-version").as_deref(), Some("HTTP/2.0"));
    }
    let rec = ok.recorded();
    assert_eq!(rec.len(), 3);
    assert!(rec.iter().all(|r| r.version == http::Version::HTTP_2));
    assert_eq!(rec[0].uri, "https://app.test/x/0");
    assert_eq!(
        rec[0]
            .headers
            .get("x-forwarded-proto")
            .map(|v| v.as_bytes()),
        Some(&b"http"[..])
    );
    let hs = ok.handshakes();
    assert_eq!(hs[0].sni, None, "no SNI for an IP address");
    assert_eq!(hs[0].alpn.as_deref(), Some(&b"h2"[..]));

    // A backend that speaks only HTTP/1.1: HTTP/1.1 over TLS.
    let r = get("h1only", "/");
    assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "h1only"));
    assert_eq!(r.header("x-version").as_deref(), Some("HTTP/1.1"));

    // verify = true (default) against the wrong CA: 502, and the backend saw the handshake
    // fail.
    let r = get("untrusted", "/");
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(untrusted.request_count(), 0);
    assert!(untrusted.handshakes().is_empty());
    poll(
        Duration::from_secs(5),
        "the backend's failed handshake",
        || (untrusted.failed_handshakes() >= 1).then_some(()),
    );

    // verify = false: any certificate (another CA, another name) is accepted.
    let r = get("unverified", "/");
    assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "unverified"));

    // sni = "backend.internal": sent, and verified against the certificate.
    let r = get("named", "/");
    assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "named"));
    assert_eq!(r.header("x-sni").as_deref(), Some("backend.internal"));
    assert_eq!(
        named.handshakes()[0].sni.as_deref(),
        Some("backend.internal")
    );
}

#[test]
fn backend_mutual_tls() {
    let dir = TempDir::new("tls-upstream-mtls");
    let ca = Ca::new("backend ca");
    let clients = Ca::new("backend clients ca");
    let ca_path = ca.write(&dir.0, "ca.pem");
    let identity = clients.client(
        "fulcrum",
        "Edge",
        vec![SanType::DnsName(ia5("fulcrum.internal"))],
    );
    let (id_cert, id_key) = identity.write(&dir.0, "fulcrum-client");
    let strict = |name: &str| {
        TlsBackend::start_with(
            name,
            TlsBackendOpts {
                client_ca: Some(clients.pem.clone()),
                ..TlsBackendOpts::new(&ca.server(&["127.0.0.1"]))
            },
        )
    };
    let (with_cert, without_cert) = (strict("with"), strict("without"));
    let cfg = format!(
        "{}[[listener]]\nname = \"with\"\nbind = \"127.0.0.1:0\"\n[[listener.route]]\npool = \"with\"\n\
         [[listener]]\nname = \"without\"\nbind = \"127.0.0.1:0\"\n[[listener.route]]\npool = \"without\"\n{}{}",
        head(),
        tls_pool(
            "with",
            with_cert.addr,
            &format!(
                "ca = {}\ncert = {}\nkey = {}",
                lit(&ca_path),
                lit(&id_cert),
                lit(&id_key)
            )
        ),
        tls_pool("without", without_cert.addr, &format!("ca = {}", lit(&ca_path))),
    );
    let lb = Lb::start(&cfg);
    let r = Client::http1(lb.listener("with"))
        .get("app.test", "/", &[])
        .unwrap();
    assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "with"));
    assert_eq!(r.header("x-version").as_deref(), Some("HTTP/2.0"));
    assert_eq!(
        with_cert.handshakes()[0].client_sans.as_deref(),
        Some(&["DNS:fulcrum.internal".to_string()][..])
    );
    // Without a client certificate the backend refuses the connection.
    let r = Client::http1(lb.listener("without"))
        .get("app.test", "/", &[])
        .unwrap();
    assert_eq!(r.status, 502, "{}", r.text());
    assert_eq!(without_cert.request_count(), 0);
}

/// Backend connections are kept per backend address; two pools that reach the same backend
/// with different TLS settings must not share them (a connection verified for one name, or
/// not verified at all, must not carry another pool's requests).
#[test]
fn backend_connections_are_not_shared_across_tls_settings() {
    let dir = TempDir::new("tls-upstream-share");
    let ca = Ca::new("backend ca");
    let wrong = Ca::new("wrong ca");
    let ca_path = ca.write(&dir.0, "ca.pem");
    let wrong_path = wrong.write(&dir.0, "wrong.pem");
    let shared = TlsBackend::start("shared", &ca.server(&["a.internal", "b.internal"]));
    let cfg = format!(
        "[runtime]\nworkers = 1\n[access_log]\ntarget = \"off\"\n\
         [[listener]]\nname = \"a\"\nbind = \"127.0.0.1:0\"\n[[listener.route]]\npool = \"a\"\n\
         [[listener]]\nname = \"b\"\nbind = \"127.0.0.1:0\"\n[[listener.route]]\npool = \"b\"\n\
         [[listener]]\nname = \"insecure\"\nbind = \"127.0.0.1:0\"\n[[listener.route]]\npool = \"insecure\"\n\
         [[listener]]\nname = \"strict\"\nbind = \"127.0.0.1:0\"\n[[listener.route]]\npool = \"strict\"\n\
         {}{}{}{}",
        tls_pool(
            "a",
            shared.addr,
            &format!("ca = {}\nsni = \"a.internal\"", lit(&ca_path))
        ),
        tls_pool(
            "b",
            shared.addr,
            &format!("ca = {}\nsni = \"b.internal\"", lit(&ca_path))
        ),
        tls_pool("insecure", shared.addr, "verify = false"),
        tls_pool(
            "strict",
            shared.addr,
            &format!("ca = {}\nsni = \"a.internal\"", lit(&wrong_path))
        ),
    );
    let lb = Lb::start(&cfg);
    let get = |listener: &str| {
        Client::http1(lb.listener(listener))
            .get("app.test", "/", &[])
            .unwrap()
    };
    let mut wrong = Vec::new();
    // Each pool's requests arrive on a connection made with that pool's name.
    for l in ["a", "b", "a", "b"] {
        let r = get(l);
        let sni = r.header("x-sni");
        if r.status != 200 || sni.as_deref() != Some(&format!("{l}.internal")) {
            wrong.push(format!(
                "pool {l}: status {}, sent over a connection with SNI {sni:?}",
                r.status
            ));
        }
    }
    // A connection made without verification must not serve a pool that verifies (against a
    // CA that does not trust this backend): that pool must get 502.
    assert_eq!(get("insecure").status, 200);
    let r = get("strict");
    if r.status != 502 {
        wrong.push(format!(
            "pool strict (CA that does not trust the backend): {} instead of 502, served over \
             another pool's connection",
            r.status
        ));
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

/// Without `sni`, the name sent and verified is the backend's host name when the backend is
/// given by name (docs/configuration.md, `[pool.NAME.tls]` `sni`).
#[test]
fn backend_tls_default_sni_is_the_backend_host_name() {
    struct Names(std::net::SocketAddr);
    impl fulcrum_control::Resolve for Names {
        fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<std::net::SocketAddr>> {
            assert_eq!(host, "backend.internal");
            Ok(vec![std::net::SocketAddr::new(self.0.ip(), port)])
        }
    }
    let dir = TempDir::new("tls-upstream-host");
    let ca = Ca::new("backend ca");
    let ca_path = ca.write(&dir.0, "ca.pem");
    let backend = TlsBackend::start("named", &ca.server(&["backend.internal"]));
    let cfg = format!(
        "{}[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n[[listener.route]]\npool = \"named\"\n\
         [pool.named]\nbackends = [{{ address = \"backend.internal:{}\" }}]\n\
         [pool.named.tls]\nca = {}\n",
        head(),
        backend.addr.port(),
        lit(&ca_path)
    );
    let cfg = fulcrum_config::parse_str(&cfg, "test.toml", &|_| None).unwrap();
    let running =
        fulcrum::running::Running::start_with_resolver(&cfg, None, Arc::new(Names(backend.addr)))
            .unwrap();
    let r = Client::http1(running.addr("web").unwrap())
        .get("app.test", "/", &[])
        .unwrap();
    let handshakes = backend.handshakes();
    running.shutdown();
    assert_eq!(
        (r.status.as_u16(), r.header("x-sni")),
        (200, Some("backend.internal".to_string())),
        "{}",
        r.text()
    );
    assert_eq!(handshakes[0].sni.as_deref(), Some("backend.internal"));
}

// ---------------------------------------------------------------------------------------------
// 7. gRPC-shaped traffic end to end: HTTP/2 both sides, trailers

#[test]
fn grpc_style_trailers_end_to_end() {
    let dir = TempDir::new("tls-grpc");
    let ca = Ca::new("grpc ca");
    let ca_path = ca.write(&dir.0, "ca.pem");
    let front = ca.server(&["grpc.example.com"]).write(&dir.0, "front");
    let grpc = TlsBackend::start("grpc", &ca.server(&["127.0.0.1"]));
    let cfg = format!(
        "{}[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\nprotocol = \"https\"\n{}\
         [[listener.route]]\npool = \"grpc\"\n{}",
        head(),
        cert_entries(&[front]),
        tls_pool("grpc", grpc.addr, &format!("ca = {}", lit(&ca_path)))
    );
    let lb = Lb::start(&cfg);
    let mut c = TlsClient::connect(
        lb.addr(),
        arc(client_config(&ca.pem, &[], &[b"h2"], None)),
        "grpc.example.com",
    )
    .unwrap();
    assert!(c.is_h2());
    for i in 0..3 {
        let msg = format!("\0\0\0\0\x05hello{i}");
        let req = c.request(
            Method::POST,
            "grpc.example.com",
            "/grpc",
            &[("te", "trailers"), ("content-type", "application/grpc")],
            &msg,
        );
        let r = c.send(req).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.version, http::Version::HTTP_2);
        assert_eq!(
            r.header("content-type").as_deref(),
            Some("application/grpc")
        );
        assert_eq!(r.text(), format!("grpc-payload:{msg}"));
        let trailers = r.trailers.expect("trailers must reach the client");
        assert_eq!(trailers.get("grpc-status").unwrap(), "0");
        assert_eq!(trailers.get("grpc-message").unwrap(), "ok");
    }
    let rec = grpc.recorded();
    assert_eq!(rec.len(), 3);
    for r in &rec {
        assert_eq!(r.version, http::Version::HTTP_2);
        assert_eq!(r.method, Method::POST);
        assert_eq!(r.headers.get("te").unwrap(), "trailers");
        assert_eq!(r.headers.get("content-type").unwrap(), "application/grpc");
    }
    assert_eq!(grpc.handshakes().len(), 1, "one multiplexed h2 connection");
}

// ---------------------------------------------------------------------------------------------
// 8. tls_passthrough

#[test]
fn tls_passthrough_routes_by_sni() {
    let ca = Ca::new("backends' own ca");
    let a = TlsBackend::start("a", &ca.server(&["app.example.com"]));
    // The route's wildcard matches any depth; the certificate must too, for the client.
    let b = TlsBackend::start("b", &ca.server(&["*.other.test", "*.x.other.test"]));
    let c = TlsBackend::start("c", &ca.server(&["default.test"]));
    let pt_pool = |name: &str, be: &TlsBackend| {
        format!(
            "[pool.{name}]\nbackends = [{{ address = \"{}\" }}]\n",
            be.addr
        )
    };
    let cfg = format!(
        "{}[[listener]]\nname = \"pt\"\nbind = \"127.0.0.1:0\"\nprotocol = \"tls_passthrough\"\n\
         [[listener.route]]\nsni = \"app.example.com\"\npool = \"a\"\n\
         [[listener.route]]\nsni = \"*.other.test\"\npool = \"b\"\n\
         [[listener.route]]\nname = \"default\"\npool = \"c\"\n\
         [[listener]]\nname = \"strict\"\nbind = \"127.0.0.1:0\"\nprotocol = \"tls_passthrough\"\n\
         [[listener.route]]\nsni = \"app.example.com\"\npool = \"a\"\n{}{}{}",
        head(),
        pt_pool("a", &a),
        pt_pool("b", &b),
        pt_pool("c", &c),
    );
    let lb = Lb::start(&cfg);
    let (pt, strict) = (lb.listener("pt"), lb.listener("strict"));
    // The client trusts only the backends' CA and checks the backend's name: completing the
    // handshake proves the backend's own certificate came through, and the bytes with it.
    let client = arc(client_config(&ca.pem, &[], H1, None));
    let exchange = |addr, client: Arc<ClientConfig>, name: &str, cuts: &[usize]| {
        let req = format!("GET /via HTTP/1.1\r\nHost: {name}\r\nConnection: close\r\n\r\n");
        raw_tls_exchange(
            addr,
            client,
            name,
            cuts,
            Duration::from_millis(50),
            req.as_bytes(),
        )
    };
    let answered_by = |out: &[u8]| {
        let text = String::from_utf8_lossy(out).into_owned();
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        text.lines()
            .find_map(|l| l.strip_prefix("x-backend: "))
            .unwrap_or_else(|| panic!("no x-backend header: {text}"))
            .to_string()
    };

    let cases: [(&str, &TlsBackend, &str); 4] = [
        ("app.example.com", &a, "a"),
        ("x.other.test", &b, "b"),
        ("deep.x.other.test", &b, "b"),
        // A name no route has: the default route.
        ("default.test", &c, "c"),
    ];
    for (name, be, who) in cases {
        let before = be.handshakes().len();
        let (seen, out) = exchange(pt, client.clone(), name, &[]).unwrap();
        assert_eq!(answered_by(&out), who, "{name}");
        assert_eq!(seen.version, Some(ProtocolVersion::TLSv1_3));
        let hs = be.handshakes();
        assert_eq!(hs.len(), before + 1);
        assert_eq!(hs[before].sni.as_deref(), Some(name), "{name}");
    }
    assert_eq!(a.recorded()[0].uri, "/via");

    // No SNI at all: the default route.
    let mut no_sni = client_config(&ca.pem, &[], H1, None);
    no_sni.enable_sni = false;
    let (_, out) = exchange(pt, arc(no_sni), "default.test", &[]).unwrap();
    assert_eq!(answered_by(&out), "c");
    assert_eq!(c.handshakes().last().unwrap().sni, None);

    // The ClientHello in several TCP segments (inside the record header, then inside the
    // handshake message, then the rest) still routes by its SNI.
    for cuts in [&[3usize, 40][..], &[1, 5, 9, 120]] {
        let before = a.handshakes().len();
        let (_, out) = exchange(pt, client.clone(), "app.example.com", cuts).unwrap();
        assert_eq!(answered_by(&out), "a", "cuts {cuts:?}");
        assert_eq!(a.handshakes().len(), before + 1);
    }

    // No route for the name and no default route: the connection is closed, nothing is
    // forwarded.
    let counts = |bs: &[&TlsBackend]| -> usize {
        bs.iter()
            .map(|b| b.handshakes().len() + b.failed_handshakes())
            .sum()
    };
    let before = counts(&[&a, &b, &c]);
    let e = exchange(strict, client.clone(), "x.other.test", &[]).unwrap_err();
    assert!(!e.is_empty());
    let mut s = std::net::TcpStream::connect(strict).unwrap();
    // A ClientHello for a name the strict listener does not route, by hand.
    let mut conn =
        rustls::ClientConnection::new(client.clone(), "nobody.test".try_into().unwrap()).unwrap();
    let mut hello = Vec::new();
    conn.write_tls(&mut hello).unwrap();
    std::io::Write::write_all(&mut s, &hello).unwrap();
    let r = fulcrum_testkit::read_until_close(&mut s, Duration::from_secs(5));
    assert!(r.closed && r.bytes.is_empty(), "{r:?}");
    assert_eq!(counts(&[&a, &b, &c]), before);
    // The strict listener still routes the name it knows.
    let (_, out) = exchange(strict, client, "app.example.com", &[7]).unwrap();
    assert_eq!(answered_by(&out), "a");
}
