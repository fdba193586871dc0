//! Certificate reload: new files are picked up, bad files leave the old certificate serving.

use std::sync::Arc;

use fulcrum_tls::{server_config_with_store, CertStore, TlsError};

use crate::support::*;

struct Fixture {
    dir: TempDir,
    ca: Ca,
    old: Leaf,
    store: Arc<CertStore>,
    server: Server,
}

async fn fixture() -> Fixture {
    let dir = TempDir::new();
    let ca = Ca::new("Test CA");
    let old = ca.server(&["site.test"]);
    let tls = listener_tls(vec![old.write(&dir, "site")]);
    let store = CertStore::load(&tls.certs).unwrap();
    let server = Server::start(server_config_with_store(&tls, &store).unwrap()).await;
    Fixture {
        dir,
        ca,
        old,
        store,
        server,
    }
}

async fn served(f: &mut Fixture) -> Vec<u8> {
    let client = rustls_client(&f.ca.pem, &[&fulcrum_tls::rustls::version::TLS13], &[]);
    let seen = connect(f.server.addr, client, "site.test").await.unwrap();
    f.server.outcome().await.unwrap();
    seen.cert.to_vec()
}

#[tokio::test]
async fn a_replaced_certificate_is_served_after_reload() {
    let mut f = fixture().await;
    assert!(!f.store.changed());
    assert_eq!(served(&mut f).await, f.old.der.to_vec());

    let new = f.ca.server(&["site.test", "new.site.test"]);
    f.dir.replace("site.key", &new.key_pem);
    f.dir.replace("site.crt", &new.cert_pem);
    assert!(f.store.changed());
    f.store.reload().unwrap();
    assert!(!f.store.changed());

    assert_eq!(served(&mut f).await, new.der.to_vec());
    assert_eq!(
        f.store.summary()[0].names,
        ["site.test".to_string(), "new.site.test".to_string()]
    );
}

#[tokio::test]
async fn a_broken_key_keeps_the_old_certificate() {
    let mut f = fixture().await;
    f.dir
        .replace("site.key", "-----BEGIN PRIVATE KEY-----\nnot base64!\n");
    assert!(f.store.changed());
    let err = f.store.reload().unwrap_err();
    assert!(matches!(err, TlsError::Pem { .. }), "{err}");
    assert!(err.to_string().contains("site.key"), "{err}");
    assert_eq!(served(&mut f).await, f.old.der.to_vec());
    // Reported once: the poller sees no change until the files are written again.
    assert!(!f.store.changed());
}

#[tokio::test]
async fn a_key_of_another_certificate_keeps_the_old_certificate() {
    let mut f = fixture().await;
    let other = f.ca.server(&["site.test"]);
    f.dir.replace("site.key", &other.key_pem);
    let err = f.store.reload().unwrap_err();
    assert!(matches!(err, TlsError::KeyPair { .. }), "{err}");
    assert_eq!(served(&mut f).await, f.old.der.to_vec());

    // Completing the rotation (the certificate arrives) fixes it.
    f.dir.replace("site.crt", &other.cert_pem);
    assert!(f.store.changed());
    f.store.reload().unwrap();
    assert_eq!(served(&mut f).await, other.der.to_vec());
}

#[tokio::test]
async fn a_missing_file_keeps_the_old_certificate() {
    let mut f = fixture().await;
    std::fs::remove_file(f.dir.path().join("site.crt")).unwrap();
    assert!(f.store.changed());
    let err = f.store.reload().unwrap_err();
    assert!(matches!(err, TlsError::Read { .. }), "{err}");
    assert_eq!(served(&mut f).await, f.old.der.to_vec());
}

#[test]
fn load_reports_an_empty_certificate_file() {
    let dir = TempDir::new();
    let ca = Ca::new("Test CA");
    let mut pair = ca.server(&["a.test"]).write(&dir, "a");
    pair.cert = dir.write("empty.crt", "");
    let err = CertStore::load(&[pair]).unwrap_err();
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
    assert!(matches!(
        CertStore::load(&[]).unwrap_err(),
        TlsError::NoCertificates
    ));
}
