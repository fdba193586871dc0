//! Reload: new files give a new server configuration, unchanged files give none, bad files
//! leave the old one serving; a replaced client CA takes effect, and old session tickets do not
//! carry a client past it.

use std::sync::Arc;
use std::time::Duration;

use fulcrum_config::model::{ClientAuthMode, ListenerTls, PoolTls};
use fulcrum_tls::{client_config, ServerTls, Stamps, TlsAcceptor, TlsError};

use crate::support::*;

struct Fixture {
    dir: TempDir,
    ca: Ca,
    old: Leaf,
    spec: ListenerTls,
    tls: ServerTls,
    acceptor: TlsAcceptor,
    server: Server,
}

async fn fixture() -> Fixture {
    let dir = TempDir::new();
    let ca = Ca::new("Test CA");
    let old = ca.server(&["site.test"]);
    let spec = listener_tls(vec![old.write(&dir, "site")]);
    let tls = ServerTls::load(&spec).unwrap();
    let acceptor = TlsAcceptor::new(tls.config(), Duration::from_secs(5));
    let server = Server::start_with(acceptor.clone()).await;
    Fixture {
        dir,
        ca,
        old,
        spec,
        tls,
        acceptor,
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
async fn a_replaced_certificate_is_a_new_configuration_and_served_once_put_in_place() {
    let mut f = fixture().await;
    assert_eq!(served(&mut f).await, f.old.der.to_vec());
    let paths = fulcrum_tls::listener_files(&f.spec);
    let before = Stamps::of(&paths);

    let new = f.ca.server(&["site.test", "new.site.test"]);
    f.dir.replace("site.key", &new.key_pem);
    f.dir.replace("site.crt", &new.cert_pem);
    assert_ne!(
        Stamps::of(&paths),
        before,
        "a poller sees the files written"
    );
    let reloaded = f.tls.reload(&f.spec).unwrap().expect("files changed");
    assert_eq!(
        reloaded.summary()[0].names,
        ["site.test".to_string(), "new.site.test".to_string()]
    );
    // Building it changed nothing serving.
    assert_eq!(served(&mut f).await, f.old.der.to_vec());
    f.acceptor.replace_config(reloaded.config());
    assert_eq!(served(&mut f).await, new.der.to_vec());
    // Reading the same bytes again builds nothing.
    assert!(reloaded.reload(&f.spec).unwrap().is_none());
}

#[tokio::test]
async fn unchanged_files_and_settings_build_nothing_even_when_touched() {
    let f = fixture().await;
    assert!(f.tls.reload(&f.spec).unwrap().is_none());
    // Same bytes, new inode and mtime.
    f.dir.replace("site.crt", &f.old.cert_pem);
    assert!(f.tls.reload(&f.spec).unwrap().is_none());
    // A setting changed: a new configuration.
    let mut spec = f.spec.clone();
    spec.min_version = fulcrum_config::model::TlsVersion::V1_3;
    assert!(f.tls.reload(&spec).unwrap().is_some());
}

#[tokio::test]
async fn a_broken_key_is_an_error_and_the_old_certificate_keeps_serving() {
    let mut f = fixture().await;
    f.dir
        .replace("site.key", "-----BEGIN PRIVATE KEY-----\nnot base64!\n");
    let err = f.tls.reload(&f.spec).unwrap_err();
    assert!(matches!(err, TlsError::Pem { .. }), "{err}");
    assert!(err.to_string().contains("site.key"), "{err}");
    assert_eq!(served(&mut f).await, f.old.der.to_vec());
}

#[tokio::test]
async fn a_key_of_another_certificate_is_an_error_until_the_certificate_arrives() {
    let mut f = fixture().await;
    let other = f.ca.server(&["site.test"]);
    f.dir.replace("site.key", &other.key_pem);
    let err = f.tls.reload(&f.spec).unwrap_err();
    assert!(matches!(err, TlsError::KeyPair { .. }), "{err}");
    assert_eq!(served(&mut f).await, f.old.der.to_vec());

    // Completing the rotation (the certificate arrives) fixes it.
    f.dir.replace("site.crt", &other.cert_pem);
    let reloaded = f.tls.reload(&f.spec).unwrap().unwrap();
    f.acceptor.replace_config(reloaded.config());
    assert_eq!(served(&mut f).await, other.der.to_vec());
}

#[tokio::test]
async fn a_missing_file_is_an_error() {
    let f = fixture().await;
    std::fs::remove_file(f.dir.path().join("site.crt")).unwrap();
    let err = f.tls.reload(&f.spec).unwrap_err();
    assert!(matches!(err, TlsError::Read { .. }), "{err}");
}

#[test]
fn load_reports_an_empty_certificate_file() {
    let dir = TempDir::new();
    let ca = Ca::new("Test CA");
    let mut pair = ca.server(&["a.test"]).write(&dir, "a");
    pair.cert = dir.write("empty.crt", "");
    let err = ServerTls::load(&listener_tls(vec![pair])).unwrap_err();
    assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
    assert!(matches!(
        ServerTls::load(&listener_tls(vec![])).unwrap_err(),
        TlsError::NoCertificates
    ));
}

/// Issue 7 item 2: the client-CA bundle is read again on reload. A client of the old CA is
/// refused by the new configuration — also when it holds a session ticket from before, which
/// it would otherwise resume without showing its certificate.
#[tokio::test]
async fn a_replaced_client_ca_refuses_the_old_ca_clients_even_resuming() {
    let dir = TempDir::new();
    let server_ca = Ca::new("Server CA");
    let (ca_a, ca_b) = (Ca::new("Client CA A"), Ca::new("Client CA B"));
    let mut spec = listener_tls(vec![server_ca.server(&["mtls.test"]).write(&dir, "site")]);
    spec.client_auth = client_auth(ca_a.write(&dir, "clients.pem"), ClientAuthMode::Required);
    let tls = ServerTls::load(&spec).unwrap();
    let acceptor = TlsAcceptor::new(tls.config(), Duration::from_secs(5));
    let mut server = Server::start_with(acceptor.clone()).await;
    let client_of = |ca: &Ca, name: &str| -> Arc<fulcrum_tls::rustls::ClientConfig> {
        client_config(&PoolTls {
            verify: true,
            ca: Some(server_ca.write(&dir, "server-ca.pem")),
            sni: None,
            client_cert: Some(ca.client("c", "Example", vec![]).write(&dir, name)),
        })
        .unwrap()
    };
    // One client configuration each, so each keeps its session tickets across connections.
    let (a, b) = (client_of(&ca_a, "a"), client_of(&ca_b, "b"));
    assert!(connect(server.addr, a.clone(), "mtls.test").await.is_ok());
    assert!(server.outcome().await.is_ok());
    assert!(connect(server.addr, b.clone(), "mtls.test").await.is_err());
    assert!(server.outcome().await.is_err());
    let resumed = connect(server.addr, a.clone(), "mtls.test").await.unwrap();
    assert!(resumed.resumed, "test premise: client A resumes");
    assert!(server.outcome().await.is_ok());

    // Swap the bundle to CA B and put the new configuration in place.
    dir.replace("clients.pem", &ca_b.pem);
    let swapped = tls.reload(&spec).unwrap().expect("the CA file changed");
    acceptor.replace_config(swapped.config());
    assert!(connect(server.addr, a.clone(), "mtls.test").await.is_err());
    assert!(server.outcome().await.is_err());
    assert!(connect(server.addr, b.clone(), "mtls.test").await.is_ok());
    assert!(server.outcome().await.is_ok());

    // And back.
    dir.replace("clients.pem", &ca_a.pem);
    let back = swapped.reload(&spec).unwrap().expect("the CA file changed");
    acceptor.replace_config(back.config());
    assert!(connect(server.addr, b, "mtls.test").await.is_err());
    assert!(server.outcome().await.is_err());
    assert!(connect(server.addr, a, "mtls.test").await.is_ok());
    assert!(server.outcome().await.is_ok());
}

/// Issue 7 item 16: a private key file that group or others may read is reported.
#[cfg(unix)]
#[test]
fn a_key_file_readable_by_others_is_reported() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new();
    let pair = Ca::new("Test CA").server(&["a.test"]).write(&dir, "a");
    let chmod =
        |mode| std::fs::set_permissions(&pair.key, std::fs::Permissions::from_mode(mode)).unwrap();
    for (mode, exposed) in [
        (0o600, None),
        (0o400, None),
        (0o640, Some(0o640)),
        (0o644, Some(0o644)),
        (0o604, Some(0o604)),
    ] {
        chmod(mode);
        assert_eq!(fulcrum_tls::exposed_mode(&pair.key), exposed, "{mode:o}");
    }
}
