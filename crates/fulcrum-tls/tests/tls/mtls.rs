//! Mutual TLS on a listener: required and optional client certificates, and the identity read
//! from them.

use fulcrum_config::model::{CertKey, ClientAuthMode, PoolTls};
use fulcrum_tls::{client_config, server_config, ClientIdentity};
use rcgen::SanType;

use crate::support::*;

struct Fixture {
    dir: TempDir,
    server_ca: std::path::PathBuf,
    client_ca: Ca,
    server: Server,
}

async fn fixture(mode: ClientAuthMode) -> Fixture {
    let dir = TempDir::new();
    let ca = Ca::new("Server CA");
    let client_ca = Ca::new("Client CA");
    let mut tls = listener_tls(vec![ca.server(&["mtls.test"]).write(&dir, "server")]);
    tls.client_auth = client_auth(client_ca.write(&dir, "client-ca.pem"), mode);
    let server = Server::start(server_config(&tls).unwrap()).await;
    Fixture {
        server_ca: ca.write(&dir, "server-ca.pem"),
        dir,
        client_ca,
        server,
    }
}

fn client1(ca: &Ca) -> Leaf {
    ca.client(
        "client1",
        "Example",
        vec![
            SanType::DnsName("client1.example".try_into().unwrap()),
            SanType::URI("spiffe://example.org/client1".try_into().unwrap()),
            SanType::IpAddress("10.1.2.3".parse().unwrap()),
        ],
    )
}

fn client(f: &Fixture, cert: Option<CertKey>) -> std::sync::Arc<fulcrum_tls::rustls::ClientConfig> {
    client_config(&PoolTls {
        verify: true,
        ca: Some(f.server_ca.clone()),
        sni: None,
        client_cert: cert,
    })
    .unwrap()
}

#[tokio::test]
async fn required_refuses_a_client_without_certificate() {
    let mut f = fixture(ClientAuthMode::Required).await;
    assert!(connect(f.server.addr, client(&f, None), "mtls.test")
        .await
        .is_err());
    assert!(f.server.outcome().await.is_err());
}

#[tokio::test]
async fn required_refuses_a_certificate_from_another_ca() {
    let mut f = fixture(ClientAuthMode::Required).await;
    let stranger = client1(&Ca::new("Other CA")).write(&f.dir, "stranger");
    assert!(
        connect(f.server.addr, client(&f, Some(stranger)), "mtls.test")
            .await
            .is_err()
    );
    assert!(f.server.outcome().await.is_err());
}

#[tokio::test]
async fn required_accepts_a_valid_certificate_and_reads_its_identity() {
    let mut f = fixture(ClientAuthMode::Required).await;
    let cert = client1(&f.client_ca).write(&f.dir, "client1");
    connect(f.server.addr, client(&f, Some(cert)), "mtls.test")
        .await
        .unwrap();
    let identity = f.server.outcome().await.unwrap().client.unwrap();
    assert_eq!(identity.subject, "CN=client1,O=Example");
    assert_eq!(
        identity.sans,
        [
            "DNS:client1.example",
            "URI:spiffe://example.org/client1",
            "IP:10.1.2.3"
        ]
    );
    assert_eq!(
        identity.san_string(),
        "DNS:client1.example, URI:spiffe://example.org/client1, IP:10.1.2.3"
    );
}

#[tokio::test]
async fn optional_lets_a_client_without_certificate_through() {
    let mut f = fixture(ClientAuthMode::Optional).await;
    connect(f.server.addr, client(&f, None), "mtls.test")
        .await
        .unwrap();
    assert_eq!(f.server.outcome().await.unwrap().client, None);

    let cert = client1(&f.client_ca).write(&f.dir, "client1");
    connect(f.server.addr, client(&f, Some(cert)), "mtls.test")
        .await
        .unwrap();
    let identity = f.server.outcome().await.unwrap().client.unwrap();
    assert_eq!(identity.subject, "CN=client1,O=Example");
}

#[tokio::test]
async fn optional_still_refuses_an_invalid_certificate() {
    let mut f = fixture(ClientAuthMode::Optional).await;
    let stranger = client1(&Ca::new("Other CA")).write(&f.dir, "stranger");
    assert!(
        connect(f.server.addr, client(&f, Some(stranger)), "mtls.test")
            .await
            .is_err()
    );
    assert!(f.server.outcome().await.is_err());
}

#[test]
fn identity_escapes_special_characters() {
    let ca = Ca::new("CA");
    let leaf = ca.client("Smith, John+Jr", "A \"quoted\" org", vec![]);
    let identity = ClientIdentity::from_der(&leaf.der).unwrap();
    assert_eq!(
        identity.subject,
        "CN=Smith\\, John\\+Jr,O=A \\\"quoted\\\" org"
    );
    assert!(identity.sans.is_empty());
}
