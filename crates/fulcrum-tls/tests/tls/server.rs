//! Protocol versions, cipher suites, ALPN, resumption and the handshake timeout.

use std::time::Duration;

use fulcrum_config::model::TlsVersion;
use fulcrum_tls::rustls::version::{TLS12, TLS13};
use fulcrum_tls::rustls::ProtocolVersion;
use fulcrum_tls::{server_config, TlsAcceptor, TlsError};
use tokio::net::{TcpListener, TcpStream};

use crate::support::*;

struct Fixture {
    _dir: TempDir,
    ca: Ca,
    server: Server,
}

async fn fixture(min_version: TlsVersion) -> Fixture {
    let dir = TempDir::new();
    let ca = Ca::new("Test CA");
    let cert = ca.server(&["www.test"]).write(&dir, "www");
    let mut tls = listener_tls(vec![cert]);
    tls.min_version = min_version;
    let server = Server::start(server_config(&tls).unwrap()).await;
    Fixture {
        _dir: dir,
        ca,
        server,
    }
}

#[tokio::test]
async fn handshakes_with_tls13_and_tls12() {
    let mut f = fixture(TlsVersion::V1_2).await;

    let client = rustls_client(&f.ca.pem, &[&TLS13], &[]);
    let seen = connect(f.server.addr, client, "www.test").await.unwrap();
    assert_eq!(seen.version, Some(ProtocolVersion::TLSv1_3));
    let info = f.server.outcome().await.unwrap();
    assert_eq!(info.sni.as_deref(), Some("www.test"));
    assert_eq!(info.client, None);

    let client = rustls_client(&f.ca.pem, &[&TLS12], &[]);
    let seen = connect(f.server.addr, client, "www.test").await.unwrap();
    assert_eq!(seen.version, Some(ProtocolVersion::TLSv1_2));
    f.server.outcome().await.unwrap();
}

#[tokio::test]
async fn min_version_1_3_refuses_a_tls12_only_client() {
    let mut f = fixture(TlsVersion::V1_3).await;

    let client = rustls_client(&f.ca.pem, &[&TLS12], &[]);
    assert!(connect(f.server.addr, client, "www.test").await.is_err());
    assert!(matches!(
        f.server.outcome().await,
        Err(TlsError::Handshake(_))
    ));

    let client = rustls_client(&f.ca.pem, &[&TLS13, &TLS12], &[]);
    let seen = connect(f.server.addr, client, "www.test").await.unwrap();
    assert_eq!(seen.version, Some(ProtocolVersion::TLSv1_3));
}

#[tokio::test]
async fn rsa_certificate_serves_tls12() {
    let dir = TempDir::new();
    let ca = Ca::new("Test CA");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).unwrap();
    let cert = ca.server_with_key(&["rsa.test"], key).write(&dir, "rsa");
    let server = Server::start(server_config(&listener_tls(vec![cert])).unwrap()).await;

    for version in [&TLS12, &TLS13] {
        let client = rustls_client(&ca.pem, &[version], &[]);
        connect(server.addr, client, "rsa.test").await.unwrap();
    }
}

#[tokio::test]
async fn alpn_prefers_h2_and_falls_back() {
    let mut f = fixture(TlsVersion::V1_2).await;

    let client = rustls_client(&f.ca.pem, &[&TLS13], &[b"http/1.1", b"h2"]);
    let seen = connect(f.server.addr, client, "www.test").await.unwrap();
    assert_eq!(seen.alpn.as_deref(), Some(&b"h2"[..]));
    let info = f.server.outcome().await.unwrap();
    assert!(info.is_h2());

    let client = rustls_client(&f.ca.pem, &[&TLS12], &[b"http/1.1"]);
    let seen = connect(f.server.addr, client, "www.test").await.unwrap();
    assert_eq!(seen.alpn.as_deref(), Some(&b"http/1.1"[..]));
    assert_eq!(
        f.server.outcome().await.unwrap().alpn.as_deref(),
        Some(&b"http/1.1"[..])
    );

    let client = rustls_client(&f.ca.pem, &[&TLS13], &[]);
    let seen = connect(f.server.addr, client, "www.test").await.unwrap();
    assert_eq!(seen.alpn, None);
}

#[tokio::test]
async fn sessions_resume_on_tls13_and_tls12() {
    let f = fixture(TlsVersion::V1_2).await;
    for version in [&TLS13, &TLS12] {
        let client = rustls_client(&f.ca.pem, &[version], &[]);
        let first = connect(f.server.addr, client.clone(), "www.test")
            .await
            .unwrap();
        assert!(!first.resumed);
        let second = connect(f.server.addr, client, "www.test").await.unwrap();
        assert!(second.resumed, "{version:?} did not resume");
    }
}

#[test]
fn only_aead_suites_with_forward_secrecy() {
    let provider = fulcrum_tls::provider();
    assert_eq!(provider.cipher_suites.len(), 9);
    for suite in &provider.cipher_suites {
        let name = format!("{:?}", suite.suite());
        assert!(
            name.contains("GCM") || name.contains("CHACHA20_POLY1305"),
            "{name}"
        );
        assert!(
            name.starts_with("TLS13_") || name.starts_with("TLS_ECDHE_"),
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_silent_client_times_out() {
    let dir = TempDir::new();
    let ca = Ca::new("Test CA");
    let cert = ca.server(&["www.test"]).write(&dir, "www");
    let config = server_config(&listener_tls(vec![cert])).unwrap();
    let acceptor = TlsAcceptor::new(config, Duration::from_millis(200));

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let _client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (tcp, _) = listener.accept().await.unwrap();
    let err = acceptor.accept(tcp).await.unwrap_err();
    assert!(matches!(err, TlsError::HandshakeTimeout(_)), "{err}");
}
