//! TLS on reload (issue 7 items 2 and 17): a replaced client-CA bundle takes effect on reload
//! and through the file poll, and a reload that fails changes no listener's certificate.
//!
//! Certificates are made by rcgen at test time; everything is on loopback.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fulcrum_testkit::tls::{client_config, handshake, rustls, Ca, Leaf, TlsClient};
use fulcrum_testkit::{wait_until, Backend};

use super::tls::{cert_of_len, head, lit};
use crate::support::{pool, replace_file, Lb, TempDir};

const H1: &[&[u8]] = &[b"http/1.1"];

/// An https listener `name` on a free loopback port serving `pair`, routing to pool `app`;
/// `extra` goes into its `[listener.tls]` table.
fn https_listener(name: &str, pair: &(PathBuf, PathBuf), extra: &str) -> String {
    format!(
        "[[listener]]\nname = \"{name}\"\nbind = \"127.0.0.1:0\"\nprotocol = \"https\"\n\
         [listener.tls]\n{extra}\
         [[listener.tls.cert]]\ncert = {}\nkey = {}\n\
         [[listener.route]]\npool = \"app\"\n",
        lit(&pair.0),
        lit(&pair.1)
    )
}

/// Whether a client presenting `identity` gets a 200 through `addr` (`false`: the handshake
/// or the request failed — with TLS 1.3 a refused client certificate shows on the request).
fn passes(addr: std::net::SocketAddr, client: &Arc<rustls::ClientConfig>) -> bool {
    TlsClient::connect(addr, client.clone(), "mtls.test")
        .and_then(|mut c| c.get("mtls.test", "/", &[]))
        .is_ok_and(|r| r.status == 200)
}

struct MtlsSetup {
    dir: TempDir,
    clients_pem: PathBuf,
    lb: Lb,
    a: Arc<rustls::ClientConfig>,
    b: Arc<rustls::ClientConfig>,
    ca_a: Ca,
    ca_b: Ca,
    _backend: Backend,
}

/// An https listener requiring client certificates of the CA in `clients.pem` (CA A at
/// first), and one client of CA A and one of CA B. Each client keeps one configuration, so it
/// resumes sessions across connections where the server lets it.
fn mtls_setup(tag: &str) -> MtlsSetup {
    let dir = TempDir::new(tag);
    let server_ca = Ca::new("server ca");
    let (ca_a, ca_b) = (Ca::new("client ca A"), Ca::new("client ca B"));
    let site = server_ca.server(&["mtls.test"]).write(&dir.0, "site");
    let clients_pem = ca_a.write(&dir.0, "clients.pem");
    let backend = Backend::start("app");
    let cfg = format!(
        "{}{}{}",
        head(),
        https_listener(
            "web",
            &site,
            &format!("client_auth = {{ ca = {} }}\n", lit(&clients_pem))
        ),
        pool("app", "round_robin", &[&backend])
    );
    let lb = Lb::start_file(&dir.write("fulcrum.toml", &cfg));
    let client = |ca: &Ca| {
        let leaf = ca.client("client", "Example", vec![]);
        Arc::new(client_config(&server_ca.pem, &[], H1, Some(&leaf)))
    };
    MtlsSetup {
        a: client(&ca_a),
        b: client(&ca_b),
        dir,
        clients_pem,
        lb,
        ca_a,
        ca_b,
        _backend: backend,
    }
}

/// Issue 7 item 2: replacing the `client_auth` CA file and reloading refuses the clients of
/// the old CA (also those holding session tickets from before) and admits the new CA's; and
/// back again.
#[test]
fn reload_applies_a_replaced_client_ca_bundle() {
    let s = mtls_setup("ca-reload");
    let addr = s.lb.addr();
    assert!(passes(addr, &s.a), "CA A's client before the swap");
    assert!(passes(addr, &s.a), "CA A's client, resuming");
    assert!(!passes(addr, &s.b), "CA B's client before the swap");

    replace_file(&s.clients_pem, &s.ca_b.pem);
    s.lb.reload().unwrap();
    assert!(!passes(addr, &s.a), "CA A's client after the swap to B");
    assert!(passes(addr, &s.b), "CA B's client after the swap to B");

    replace_file(&s.clients_pem, &s.ca_a.pem);
    s.lb.reload().unwrap();
    assert!(!passes(addr, &s.b), "CA B's client after the swap back");
    assert!(passes(addr, &s.a), "CA A's client after the swap back");
    drop(s.dir);
}

/// Issue 7 item 2: the once-a-second file poll covers the client CA file too.
#[test]
fn file_poll_picks_up_a_replaced_client_ca_bundle() {
    let s = mtls_setup("ca-poll");
    let addr = s.lb.addr();
    assert!(passes(addr, &s.a));
    replace_file(&s.clients_pem, &s.ca_b.pem);
    assert!(
        wait_until(Duration::from_secs(5), || !passes(addr, &s.a)),
        "CA A's client still admitted 5 s after the CA file was replaced"
    );
    assert!(passes(addr, &s.b));
}

/// Rewrites `pair`'s files in place with `leaf`, keeping sizes and modification times: the
/// file poll cannot see it, only a reload (which reads the files) can.
fn rewrite_unnoticed(pair: &(PathBuf, PathBuf), leaf: &Leaf) {
    for (p, text) in [(&pair.0, &leaf.cert_pem), (&pair.1, &leaf.key_pem)] {
        let meta = std::fs::metadata(p).unwrap();
        assert_eq!(meta.len() as usize, text.len(), "test premise: same size");
        let f = std::fs::OpenOptions::new().write(true).open(p).unwrap();
        std::io::Write::write_all(&mut &f, text.as_bytes()).unwrap();
        f.set_modified(meta.modified().unwrap()).unwrap();
    }
}

/// Issue 7 item 17: a reload that changes two listeners' certificate file contents and then
/// fails — on a bad pool CA, or on a new address that cannot be bound — leaves both listeners
/// serving their old certificates; the same reload once fixed serves the new ones.
#[test]
fn failed_reload_leaves_every_listener_on_its_old_certificate() {
    let dir = TempDir::new("tls-atomic");
    let ca = Ca::new("atomic ca");
    let (old_a, old_b) = (ca.server(&["a.test"]), ca.server(&["b.test"]));
    let (pair_a, pair_b) = (old_a.write(&dir.0, "a"), old_b.write(&dir.0, "b"));
    let backend = Backend::start("app");
    let good = format!(
        "{}{}{}{}",
        head(),
        https_listener("a", &pair_a, ""),
        https_listener("b", &pair_b, ""),
        pool("app", "round_robin", &[&backend])
    );
    let path = dir.write("fulcrum.toml", &good);
    let lb = Lb::start_file(&path);
    let client = Arc::new(client_config(&ca.pem, &[], H1, None));
    let served = |listener: &str, name: &str| {
        handshake(lb.listener(listener), client.clone(), name)
            .unwrap()
            .cert
    };
    assert_eq!(served("a", "a.test"), old_a.der);
    assert_eq!(served("b", "b.test"), old_b.der);

    let new_a = cert_of_len(&ca, &["a.test"], old_a.cert_pem.len());
    let new_b = cert_of_len(&ca, &["b.test"], old_b.cert_pem.len());
    rewrite_unnoticed(&pair_a, &new_a);
    rewrite_unnoticed(&pair_b, &new_b);

    // (1) A pool whose CA bundle is not PEM.
    let bad_ca = dir.write("bad-ca.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n");
    let bad_pool = format!(
        "{good}[pool.tls_app]\nbackends = [{{ address = \"{}\" }}]\n[pool.tls_app.tls]\nca = {}\n",
        backend.addr,
        lit(&bad_ca)
    );
    std::fs::write(&path, &bad_pool).unwrap();
    let err = lb.reload().unwrap_err();
    assert!(err.contains("bad-ca.pem"), "{err}");
    assert_eq!(served("a", "a.test"), old_a.der, "after a bad pool CA");
    assert_eq!(served("b", "b.test"), old_b.der, "after a bad pool CA");

    // (2) A new listener on an address another socket holds.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let unbindable = format!(
        "{good}[[listener]]\nname = \"late\"\nbind = \"{}\"\n[[listener.route]]\npool = \"app\"\n",
        taken.local_addr().unwrap()
    );
    std::fs::write(&path, &unbindable).unwrap();
    let err = lb.reload().unwrap_err();
    assert!(err.contains("late"), "{err}");
    assert_eq!(
        served("a", "a.test"),
        old_a.der,
        "after an unbindable address"
    );
    assert_eq!(
        served("b", "b.test"),
        old_b.der,
        "after an unbindable address"
    );
    // Still nothing changed a moment later (the poll cannot see the in-place rewrite).
    let until = Instant::now() + Duration::from_millis(1500);
    while Instant::now() < until {
        assert_eq!(served("a", "a.test"), old_a.der);
        std::thread::sleep(Duration::from_millis(100));
    }

    // The good file again: now the new certificates serve.
    std::fs::write(&path, &good).unwrap();
    lb.reload().unwrap();
    assert_eq!(served("a", "a.test"), new_a.der);
    assert_eq!(served("b", "b.test"), new_b.der);
}
