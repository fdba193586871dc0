//! Issue 7 item 13: a request's authority (HTTP/1 `Host` or absolute-form target, HTTP/2
//! `:authority`) is checked before it is routed, forwarded as `X-Forwarded-Host` or written
//! into the https redirect's `Location`.

use std::time::Duration;

use bytes::Bytes;
use fulcrum_testkit::{raw_exchange, Backend, Client};
use http::Request;
use http_body_util::Full;

use crate::support::{simple, Lb};

fn head(host: &str) -> Vec<u8> {
    format!("GET /x HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").into_bytes()
}

/// Issue 7 item 13: `evil.com/x?` and `x"><script>` were forwarded as `X-Forwarded-Host` and
/// put into the redirect's `Location`; now they are answered 400 and reach nothing.
#[test]
fn invalid_host_is_refused_before_routing_and_redirects() {
    let be = Backend::start("be");
    let lb = Lb::start(&simple(&[&be], ""));
    let redirect = Lb::start(&simple(&[&be], "https_redirect = true"));
    for bad in [
        "evil.com/x?",
        "x\"><script>",
        "a.example:8x",
        "user@a.example",
        "a b",
    ] {
        for lb in [&lb, &redirect] {
            let r = raw_exchange(lb.addr(), &head(bad), Duration::from_secs(5));
            assert_eq!(r.status(), Some(400), "{bad:?}: {}", r.text());
            assert!(
                !r.text().to_lowercase().contains("location:"),
                "{}",
                r.text()
            );
        }
    }
    assert_eq!(be.request_count(), 0);
    // A valid host still works both ways.
    let r = raw_exchange(
        lb.addr(),
        &head("shop.example:8080"),
        Duration::from_secs(5),
    );
    assert_eq!(r.status(), Some(200), "{}", r.text());
    let r = raw_exchange(
        redirect.addr(),
        &head("shop.example"),
        Duration::from_secs(5),
    );
    assert_eq!(r.status(), Some(308), "{}", r.text());
    assert!(
        r.text().contains("location: https://shop.example/x"),
        "{}",
        r.text()
    );
    assert_eq!(
        be.recorded()[0].headers["x-forwarded-host"],
        "shop.example:8080"
    );
}

/// The same rules hold for an HTTP/1 absolute-form target and an HTTP/2 `:authority`, and a
/// `Host` that disagrees with either is refused (the backend could believe the other one).
#[test]
fn uri_authority_is_checked_like_host() {
    let be = Backend::start("be");
    let lb = Lb::start(&simple(&[&be], ""));
    let r = raw_exchange(
        lb.addr(),
        b"GET http://a.example/x HTTP/1.1\r\nHost: b.example\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(r.status(), Some(400), "{}", r.text());
    let r = raw_exchange(
        lb.addr(),
        b"GET http://a.example/x HTTP/1.1\r\nHost: A.example\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    );
    assert_eq!(r.status(), Some(200), "{}", r.text());

    let mut h2 = Client::http2(lb.addr());
    let send = |h2: &mut Client, uri: &str, host: Option<&str>| {
        let mut b = Request::get(uri);
        if let Some(host) = host {
            b = b.header("host", host);
        }
        h2.send(b.body(Full::new(Bytes::new())).unwrap())
            .unwrap()
            .status
    };
    assert_eq!(send(&mut h2, "http://user@evil.example/x", None), 400);
    assert_eq!(send(&mut h2, "http://a.example/x", Some("b.example")), 400);
    assert_eq!(send(&mut h2, "http://a.example/x", None), 200);
    assert_eq!(be.request_count(), 2);
    assert_eq!(be.recorded()[1].headers["x-forwarded-host"], "a.example");
}

/// On an https listener with several certificates, a request for a host whose certificate is
/// not the one the handshake's SNI chose is answered 421 Misdirected Request (RFC 9110 §15.5.20):
/// the connection was never authenticated for that host (HTTP/2 connection reuse, domain
/// fronting). Names the same certificate covers, and connections without SNI, are served.
#[test]
fn host_of_another_certificate_than_the_sni_is_misdirected() {
    use fulcrum_testkit::tls::{client_config, Ca, TlsClient};

    let dir = crate::support::TempDir::new("misdirected");
    let ca = Ca::new("421 ca");
    let entries: String = [
        ca.server(&["a.test"]).write(&dir.0, "a"),
        ca.server(&["*.b.test"]).write(&dir.0, "b"),
    ]
    .iter()
    .map(|(c, k)| {
        format!(
            "  [[listener.tls.cert]]\n  cert = '{}'\n  key = '{}'\n",
            c.display(),
            k.display()
        )
    })
    .collect();
    let be = Backend::start("be");
    let lb = Lb::start(&format!(
        "[access_log]\ntarget = \"off\"\n[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         protocol = \"https\"\n{entries}[[listener.route]]\npool = \"app\"\n\
         [pool.app]\nbackends = [{{ address = \"{}\" }}]\n",
        be.addr
    ));
    for alpn in [&[&b"h2"[..], b"http/1.1"][..], &[b"http/1.1"]] {
        let cfg = std::sync::Arc::new(client_config(&ca.pem, &[], alpn, None));
        let mut c = TlsClient::connect(lb.addr(), cfg.clone(), "a.test").unwrap();
        assert_eq!(c.is_h2(), alpn.len() == 2);
        assert_eq!(c.get("a.test", "/", &[]).unwrap().status, 200);
        assert_eq!(c.get("A.TEST.:443", "/", &[]).unwrap().status, 200);
        let r = c.get("x.b.test", "/", &[]).unwrap();
        assert_eq!(r.status, 421, "{}", r.text());
        if c.is_h2() {
            // The stream is refused, not the connection.
            assert_eq!(c.get("a.test", "/", &[]).unwrap().status, 200);
        }
        let mut c = TlsClient::connect(lb.addr(), cfg.clone(), "x.b.test").unwrap();
        assert_eq!(c.get("y.b.test", "/", &[]).unwrap().status, 200);
        let mut no_sni = client_config(&ca.pem, &[], alpn, None);
        no_sni.enable_sni = false;
        let mut c = TlsClient::connect(lb.addr(), std::sync::Arc::new(no_sni), "a.test").unwrap();
        assert_eq!(c.get("x.b.test", "/", &[]).unwrap().status, 200);
    }
    assert_eq!(be.request_count(), 2 * 4 + 1);
}
