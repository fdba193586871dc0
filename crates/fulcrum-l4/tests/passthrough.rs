//! End to end over loopback: a rustls client reaches a rustls backend through a passthrough
//! listener built from this crate's functions, and verifies the backend's own certificate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use fulcrum_l4::client_hello::MAX_CLIENT_HELLO;
use fulcrum_l4::{read_client_hello, relay, L4Error, RelayEnd, Relayed};
use fulcrum_route::{SniPattern, SniTable};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const PAYLOAD: usize = 1 << 20;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn pattern_bytes(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ salt).collect()
}

/// A TLS backend for `name` with a fresh self-signed certificate: per connection it answers
/// `ping` with `pong`, sends PAYLOAD bytes, reads PAYLOAD bytes and expects the client to close.
async fn tls_backend(name: &str) -> (SocketAddr, CertificateDer<'static>) {
    let certified = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let mut tls = acceptor.accept(tcp).await.unwrap();
                let mut ping = [0; 4];
                tls.read_exact(&mut ping).await.unwrap();
                assert_eq!(&ping, b"ping");
                tls.write_all(b"pong").await.unwrap();
                tls.write_all(&pattern_bytes(PAYLOAD, 0x55)).await.unwrap();
                let mut up = vec![0; PAYLOAD];
                tls.read_exact(&mut up).await.unwrap();
                assert_eq!(up, pattern_bytes(PAYLOAD, 0xaa));
                let mut rest = Vec::new();
                tls.read_to_end(&mut rest).await.unwrap();
                assert!(rest.is_empty());
                tls.shutdown().await.unwrap();
            });
        }
    });
    (addr, cert)
}

/// What the passthrough listener reports per connection: the SNI and the relay's outcome.
type Report = (Option<String>, Result<(u64, u64), String>);

/// A passthrough listener: ClientHello → SNI → route → connect → relay, one task per connection.
async fn passthrough(table: SniTable<SocketAddr>) -> (SocketAddr, mpsc::UnboundedReceiver<Report>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let table = Arc::new(table);
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (mut client, _) = listener.accept().await.unwrap();
            let (table, tx) = (table.clone(), tx.clone());
            tokio::spawn(async move {
                let read = read_client_hello(&mut client, Duration::from_secs(5), MAX_CLIENT_HELLO);
                let (initial, sni) = match read.await {
                    Ok(hello) => hello,
                    Err(e) => return tx.send((None, Err(e.to_string()))).unwrap(),
                };
                let Some(&backend) = table.find(sni.as_deref()) else {
                    return tx.send((sni, Err("no route".into()))).unwrap();
                };
                let backend = TcpStream::connect(backend).await.unwrap();
                let outcome =
                    match relay(client, &initial, backend, None, std::future::pending()).await {
                        Relayed {
                            up,
                            down,
                            end: RelayEnd::Closed,
                        } => Ok((up, down)),
                        other => Err(format!("{other:?}")),
                    };
                tx.send((sni, outcome)).unwrap();
            });
        }
    });
    (addr, rx)
}

fn client_config(trusted: CertificateDer<'static>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}

#[tokio::test]
async fn tls_passes_through_to_the_backend_chosen_by_sni() {
    let (backend, cert) = tls_backend("app.example.com").await;
    let (decoy, _) = tls_backend("other.example.com").await;
    let table = SniTable::new([
        (Some(SniPattern::Exact("app.example.com".into())), backend),
        (Some(SniPattern::Wildcard("*.example.com".into())), decoy),
        (None, decoy),
    ]);
    let (proxy, mut reports) = passthrough(table).await;

    let connector = tokio_rustls::TlsConnector::from(client_config(cert));
    let tcp = TcpStream::connect(proxy).await.unwrap();
    let name = ServerName::try_from("app.example.com").unwrap();
    // The handshake succeeds only if the client sees the backend's own certificate.
    let mut tls = connector.connect(name, tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));

    tls.write_all(b"ping").await.unwrap();
    let mut pong = [0; 4];
    tls.read_exact(&mut pong).await.unwrap();
    assert_eq!(&pong, b"pong");
    let upload = tokio::spawn(async move {
        let (mut read, mut write) = tokio::io::split(tls);
        let writer = async {
            write
                .write_all(&pattern_bytes(PAYLOAD, 0xaa))
                .await
                .unwrap();
            write.shutdown().await.unwrap();
        };
        let reader = async {
            let mut down = Vec::new();
            read.read_to_end(&mut down).await.unwrap();
            down
        };
        tokio::join!(writer, reader).1
    });
    let down = upload.await.unwrap();
    assert_eq!(down, pattern_bytes(PAYLOAD, 0x55));

    let (sni, outcome) = reports.recv().await.unwrap();
    assert_eq!(sni.as_deref(), Some("app.example.com"));
    let (up, down) = outcome.unwrap();
    // TLS adds record overhead both ways; the payloads bound the counts from below.
    assert!(up > PAYLOAD as u64 && down > PAYLOAD as u64, "{up} {down}");
}

#[tokio::test]
async fn a_name_without_a_route_is_not_relayed() {
    let (backend, cert) = tls_backend("app.example.com").await;
    let table = SniTable::new([(Some(SniPattern::Exact("app.example.com".into())), backend)]);
    let (proxy, mut reports) = passthrough(table).await;
    let connector = tokio_rustls::TlsConnector::from(client_config(cert));
    let tcp = TcpStream::connect(proxy).await.unwrap();
    let name = ServerName::try_from("nope.example.org").unwrap();
    assert!(connector.connect(name, tcp).await.is_err());
    let (sni, outcome) = reports.recv().await.unwrap();
    assert_eq!(sni.as_deref(), Some("nope.example.org"));
    assert_eq!(outcome.unwrap_err(), "no route");
}

#[tokio::test]
async fn plain_http_is_refused() {
    let (proxy, mut reports) = passthrough(SniTable::new([])).await;
    let mut tcp = TcpStream::connect(proxy).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let (_, outcome) = reports.recv().await.unwrap();
    assert!(outcome.unwrap_err().starts_with("not a TLS client hello"));
}

/// The bytes a rustls client sends first.
fn client_hello_bytes(name: &str) -> Vec<u8> {
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let roots = rustls::RootCertStore::empty();
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

/// A connected pair of loopback sockets.
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let (server, _) = listener.accept().await.unwrap();
    client.set_nodelay(true).unwrap();
    (client, server)
}

#[tokio::test]
async fn client_hello_over_many_segments() {
    let hello = client_hello_bytes("app.example.com");
    let (mut client, mut server) = tcp_pair().await;
    let sent = hello.clone();
    tokio::spawn(async move {
        for chunk in sent.chunks(97) {
            client.write_all(chunk).await.unwrap();
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        client.write_all(b"more").await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    let (bytes, sni) = read_client_hello(&mut server, Duration::from_secs(5), MAX_CLIENT_HELLO)
        .await
        .unwrap();
    assert_eq!(sni.as_deref(), Some("app.example.com"));
    assert_eq!(&bytes[..hello.len()], &hello[..]);
}

#[tokio::test]
async fn a_stalled_or_closed_client_is_an_error() {
    let hello = client_hello_bytes("app.example.com");
    let (mut client, mut server) = tcp_pair().await;
    client.write_all(&hello[..100]).await.unwrap();
    let read = read_client_hello(&mut server, Duration::from_millis(100), MAX_CLIENT_HELLO);
    assert!(matches!(read.await, Err(L4Error::Timeout)));

    let (mut client, mut server) = tcp_pair().await;
    client.write_all(&hello[..100]).await.unwrap();
    drop(client);
    let read = read_client_hello(&mut server, Duration::from_secs(5), MAX_CLIENT_HELLO);
    assert!(matches!(read.await, Err(L4Error::Closed(100))));

    let (mut client, mut server) = tcp_pair().await;
    client.write_all(&hello).await.unwrap();
    let read = read_client_hello(&mut server, Duration::from_secs(5), 200);
    assert!(matches!(read.await, Err(L4Error::NotTls(_))));
}

#[tokio::test]
async fn relay_handles_half_close() {
    let (mut client, proxy_side) = tcp_pair().await;
    let (backend_side, mut backend) = tcp_pair().await;
    let relayed = tokio::spawn(async move {
        relay(
            proxy_side,
            b"hello ",
            backend_side,
            None,
            std::future::pending(),
        )
        .await
    });

    // The client sends and closes its side; the backend sees EOF, then answers.
    client.write_all(b"world").await.unwrap();
    client.shutdown().await.unwrap();
    let mut got = Vec::new();
    backend.read_to_end(&mut got).await.unwrap();
    assert_eq!(got, b"hello world");
    backend.write_all(b"answer after half-close").await.unwrap();
    drop(backend);
    let mut answer = Vec::new();
    client.read_to_end(&mut answer).await.unwrap();
    assert_eq!(answer, b"answer after half-close");
    let relayed = relayed.await.unwrap();
    assert!(matches!(relayed.end, RelayEnd::Closed), "{relayed:?}");
    assert_eq!((relayed.up, relayed.down), (11, 23));
}

/// Issue 7 item 5: a relay with no byte either way for its idle timeout is closed (both
/// sides see EOF), and says so.
#[tokio::test]
async fn relay_closes_an_idle_connection() {
    let (mut client, proxy_side) = tcp_pair().await;
    let (backend_side, mut backend) = tcp_pair().await;
    let idle = Duration::from_millis(200);
    let relayed = tokio::spawn(async move {
        relay(
            proxy_side,
            b"",
            backend_side,
            Some(idle),
            std::future::pending(),
        )
        .await
    });
    let mut buf = [0u8; 16];
    let n = tokio::time::timeout(Duration::from_secs(10), client.read(&mut buf))
        .await
        .expect("idle relay never closed the client side")
        .unwrap_or(0);
    assert_eq!(n, 0);
    let n = backend.read(&mut buf).await.unwrap_or(0);
    assert_eq!(n, 0);
    let relayed = relayed.await.unwrap();
    assert!(matches!(relayed.end, RelayEnd::Idle), "{relayed:?}");
}

/// Issue 7 item 5: bytes moving in either direction keep a relay open past its idle timeout.
#[tokio::test]
async fn relay_keeps_an_active_connection_past_the_idle_timeout() {
    let (mut client, proxy_side) = tcp_pair().await;
    let (backend_side, mut backend) = tcp_pair().await;
    let idle = Duration::from_millis(300);
    let relayed = tokio::spawn(async move {
        relay(
            proxy_side,
            b"",
            backend_side,
            Some(idle),
            std::future::pending(),
        )
        .await
    });
    // Ten rounds of 100 ms, alternating directions: over three idle timeouts in all, never
    // more than a third of one without a byte.
    let mut buf = [0u8; 1];
    for i in 0..10u8 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if i % 2 == 0 {
            client.write_all(&[i]).await.unwrap();
            backend.read_exact(&mut buf).await.unwrap();
        } else {
            backend.write_all(&[i]).await.unwrap();
            client.read_exact(&mut buf).await.unwrap();
        }
        assert_eq!(buf[0], i);
    }
    assert!(!relayed.is_finished());
    drop(client);
    drop(backend);
    let relayed = relayed.await.unwrap();
    assert!(matches!(relayed.end, RelayEnd::Closed), "{relayed:?}");
    assert_eq!((relayed.up, relayed.down), (5, 5));
}

/// Issue 7 item 5: the stop future cuts a relay that is still busy.
#[tokio::test]
async fn relay_ends_when_told_to_stop() {
    let (mut client, proxy_side) = tcp_pair().await;
    let (backend_side, _backend) = tcp_pair().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let relayed = tokio::spawn(async move {
        relay(proxy_side, b"x", backend_side, None, async {
            let _ = stopped.await;
        })
        .await
    });
    client.write_all(b"abc").await.unwrap();
    stop.send(()).unwrap();
    let relayed = relayed.await.unwrap();
    assert!(matches!(relayed.end, RelayEnd::Stopped), "{relayed:?}");
    let mut buf = [0u8; 4];
    let n = client.read(&mut buf).await.unwrap_or(0);
    assert_eq!(n, 0, "the client side is closed");
}
