//! Certificate selection by SNI, over real handshakes.

use fulcrum_tls::ServerTls;

use crate::support::*;

struct Fixture {
    _dir: TempDir,
    default: Leaf,
    exact: Leaf,
    wildcard: Leaf,
    legacy: Leaf,
    tls: ServerTls,
    server: Server,
}

async fn fixture() -> Fixture {
    let dir = TempDir::new();
    let ca = Ca::new("Test CA");
    let default = ca.server(&["default.test"]);
    let exact = ca.server(&["api.example.com"]);
    let wildcard = ca.server(&["*.example.com", "www.example.org"]);
    // No SAN at all: the name comes from the CN.
    let legacy = {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "Legacy.Test");
        let cert = params.self_signed(&key).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    };
    let tls = listener_tls(vec![
        default.write(&dir, "default"),
        exact.write(&dir, "exact"),
        wildcard.write(&dir, "wildcard"),
        legacy.write(&dir, "legacy"),
    ]);
    let tls = ServerTls::load(&tls).unwrap();
    let server = Server::start(tls.config()).await;
    Fixture {
        _dir: dir,
        default,
        exact,
        wildcard,
        legacy,
        tls,
        server,
    }
}

async fn served(f: &mut Fixture, name: &str) -> Vec<u8> {
    let seen = connect(f.server.addr, any_cert_client(), name)
        .await
        .unwrap();
    f.server.outcome().await.unwrap();
    seen.cert.to_vec()
}

#[tokio::test]
async fn exact_wildcard_and_default() {
    let mut f = fixture().await;
    let default = f.default.der.to_vec();
    let exact = f.exact.der.to_vec();
    let wildcard = f.wildcard.der.to_vec();

    assert_eq!(served(&mut f, "api.example.com").await, exact);
    assert_eq!(served(&mut f, "API.Example.Com").await, exact);
    assert_eq!(served(&mut f, "www.example.com").await, wildcard);
    assert_eq!(served(&mut f, "www.example.org").await, wildcard);
    assert_eq!(served(&mut f, "default.test").await, default);
    assert_eq!(served(&mut f, "legacy.test").await, f.legacy.der.to_vec());
}

#[tokio::test]
async fn default_without_sni_or_match() {
    let mut f = fixture().await;
    let default = f.default.der.to_vec();

    // An IP address as the server name: rustls sends no SNI.
    let seen = connect(f.server.addr, any_cert_client(), "127.0.0.1")
        .await
        .unwrap();
    assert_eq!(seen.cert.to_vec(), default);
    assert_eq!(f.server.outcome().await.unwrap().sni, None);

    assert_eq!(served(&mut f, "unknown.test").await, default);
}

#[tokio::test]
async fn wildcard_covers_exactly_one_label() {
    let mut f = fixture().await;
    let default = f.default.der.to_vec();
    assert_eq!(served(&mut f, "example.com").await, default);
    assert_eq!(served(&mut f, "a.b.example.com").await, default);
}

#[tokio::test]
async fn names_come_from_the_certificates() {
    let f = fixture().await;
    let names: Vec<Vec<String>> = f.tls.summary().into_iter().map(|c| c.names).collect();
    assert_eq!(
        names,
        [
            vec!["default.test".to_string()],
            vec!["api.example.com".to_string()],
            vec!["*.example.com".to_string(), "www.example.org".to_string()],
            vec!["legacy.test".to_string()],
        ]
    );
    assert!(f.tls.summary()[0].not_after > 0);
}
