//! TLS to backends: verification against a CA, the default roots, `verify = false`, backend
//! mutual TLS, and the server name sent.

use std::net::SocketAddr;

use fulcrum_config::model::{ClientAuthMode, PoolTls};
use fulcrum_tls::rustls::pki_types::ServerName;
use fulcrum_tls::{client_config, server_config, server_name, TlsError};

use crate::support::*;

struct Fixture {
    dir: TempDir,
    ca_path: std::path::PathBuf,
    server: Server,
}

/// A backend whose certificate names `backend.test` and 127.0.0.1.
async fn fixture(client_ca: Option<&Ca>) -> Fixture {
    let dir = TempDir::new();
    let ca = Ca::new("Backend CA");
    let mut tls = listener_tls(vec![ca
        .server(&["backend.test", "127.0.0.1"])
        .write(&dir, "backend")]);
    if let Some(client_ca) = client_ca {
        tls.client_auth = client_auth(
            client_ca.write(&dir, "client-ca.pem"),
            ClientAuthMode::Required,
        );
    }
    let server = Server::start(server_config(&tls).unwrap()).await;
    Fixture {
        ca_path: ca.write(&dir, "ca.pem"),
        dir,
        server,
    }
}

async fn connect_pool(f: &Fixture, tls: &PoolTls) -> Result<Seen, std::io::Error> {
    let name = match server_name(tls, f.server.addr) {
        ServerName::DnsName(name) => name.as_ref().to_owned(),
        ServerName::IpAddress(ip) => std::net::IpAddr::from(ip).to_string(),
        other => panic!("unexpected {other:?}"),
    };
    connect(f.server.addr, client_config(tls).unwrap(), &name).await
}

#[tokio::test]
async fn verifies_against_the_pool_ca() {
    let mut f = fixture(None).await;
    let by_name = PoolTls {
        ca: Some(f.ca_path.clone()),
        sni: Some("backend.test".into()),
        ..pool_tls()
    };
    let seen = connect_pool(&f, &by_name).await.unwrap();
    assert_eq!(seen.alpn.as_deref(), Some(&b"h2"[..]));
    assert_eq!(
        f.server.outcome().await.unwrap().sni.as_deref(),
        Some("backend.test")
    );

    // No `sni`: the backend's IP is verified (against the IP SAN) and no SNI is sent.
    let by_ip = PoolTls {
        ca: Some(f.ca_path.clone()),
        ..pool_tls()
    };
    connect_pool(&f, &by_ip).await.unwrap();
    assert_eq!(f.server.outcome().await.unwrap().sni, None);
}

#[tokio::test]
async fn refuses_a_backend_of_another_ca_or_name() {
    let f = fixture(None).await;
    let other_ca = Ca::new("Other CA").write(&f.dir, "other.pem");
    let wrong_ca = PoolTls {
        ca: Some(other_ca),
        sni: Some("backend.test".into()),
        ..pool_tls()
    };
    assert!(connect_pool(&f, &wrong_ca).await.is_err());

    let wrong_name = PoolTls {
        ca: Some(f.ca_path.clone()),
        sni: Some("elsewhere.test".into()),
        ..pool_tls()
    };
    assert!(connect_pool(&f, &wrong_name).await.is_err());

    // The built-in public roots do not trust a private CA.
    let public_roots = PoolTls {
        sni: Some("backend.test".into()),
        ..pool_tls()
    };
    assert!(connect_pool(&f, &public_roots).await.is_err());
}

#[tokio::test]
async fn verify_false_accepts_any_certificate() {
    let f = fixture(None).await;
    let insecure = PoolTls {
        verify: false,
        sni: Some("whatever.test".into()),
        ..pool_tls()
    };
    let seen = connect_pool(&f, &insecure).await.unwrap();
    assert_eq!(seen.cert.to_vec(), {
        // The backend's own certificate, unverified.
        let pem = std::fs::read(f.dir.path().join("backend.crt")).unwrap();
        let der: fulcrum_tls::rustls::pki_types::CertificateDer<'static> =
            fulcrum_tls::rustls::pki_types::pem::PemObject::from_pem_slice(&pem).unwrap();
        der.to_vec()
    });
}

#[tokio::test]
async fn presents_the_client_certificate_for_backend_mtls() {
    let client_ca = Ca::new("Client CA");
    let mut f = fixture(Some(&client_ca)).await;
    let without = PoolTls {
        ca: Some(f.ca_path.clone()),
        sni: Some("backend.test".into()),
        ..pool_tls()
    };
    assert!(connect_pool(&f, &without).await.is_err());
    assert!(f.server.outcome().await.is_err());

    let with = PoolTls {
        client_cert: Some(
            client_ca
                .client("fulcrum", "Proxy", vec![])
                .write(&f.dir, "proxy"),
        ),
        ..without
    };
    connect_pool(&f, &with).await.unwrap();
    let identity = f.server.outcome().await.unwrap().client.unwrap();
    assert_eq!(identity.subject, "CN=fulcrum,O=Proxy");
}

#[test]
fn config_errors_name_the_problem() {
    let dir = TempDir::new();
    let bad_sni = PoolTls {
        sni: Some("not a name!".into()),
        ..pool_tls()
    };
    assert!(matches!(
        client_config(&bad_sni),
        Err(TlsError::ServerName(_))
    ));

    let empty_ca = PoolTls {
        ca: Some(dir.write("empty.pem", "")),
        ..pool_tls()
    };
    assert!(matches!(
        client_config(&empty_ca),
        Err(TlsError::CaBundle { .. })
    ));

    let ca = Ca::new("CA");
    let mut pair = ca.client("c", "o", vec![]).write(&dir, "c");
    pair.key = ca.client("d", "o", vec![]).write(&dir, "d").key;
    let mismatched = PoolTls {
        client_cert: Some(pair),
        ..pool_tls()
    };
    assert!(matches!(
        client_config(&mismatched),
        Err(TlsError::KeyPair { .. })
    ));
}

#[test]
fn server_name_is_the_sni_or_the_backend_ip() {
    let backend: SocketAddr = "10.0.0.7:8443".parse().unwrap();
    let named = PoolTls {
        sni: Some("api.internal".into()),
        ..pool_tls()
    };
    assert_eq!(
        server_name(&named, backend),
        ServerName::try_from("api.internal").unwrap()
    );
    assert_eq!(
        server_name(&pool_tls(), backend),
        ServerName::IpAddress(backend.ip().into())
    );
}
