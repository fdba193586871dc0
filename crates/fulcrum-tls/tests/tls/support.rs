//! Test certificates, temporary files, a TLS echo server and a TLS client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fulcrum_config::model::{
    CertKey, ClientAuth, ClientAuthMode, ListenerTls, PoolTls, TlsVersion,
};
use fulcrum_tls::rustls::pki_types::{CertificateDer, ServerName};
use fulcrum_tls::rustls::{self, ClientConfig, ProtocolVersion, ServerConfig};
use fulcrum_tls::{HandshakeInfo, TlsAcceptor, TlsError};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A directory removed when dropped.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "fulcrum-tls-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir { path }
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Replaces a file the way certificate tools should: write aside, then rename over.
    pub fn replace(&self, name: &str, contents: &str) -> PathBuf {
        let tmp = self.write(&format!(".{name}.tmp"), contents);
        let path = self.path.join(name);
        std::fs::rename(tmp, &path).unwrap();
        path
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A test certificate authority.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

/// A certificate and its key, PEM.
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl Leaf {
    /// Writes `NAME.crt` and `NAME.key` into `dir`.
    pub fn write(&self, dir: &TempDir, name: &str) -> CertKey {
        CertKey {
            cert: dir.write(&format!("{name}.crt"), &self.cert_pem),
            key: dir.write(&format!("{name}.key"), &self.key_pem),
        }
    }
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    fn sign(&self, params: CertificateParams, key: KeyPair) -> Leaf {
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    /// A server certificate for `names` (DNS names or IPs), ECDSA P-256.
    pub fn server(&self, names: &[&str]) -> Leaf {
        self.server_with_key(names, KeyPair::generate().unwrap())
    }

    pub fn server_with_key(&self, names: &[&str], key: KeyPair) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, "server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params, key)
    }

    /// A client certificate with subject `O=org, CN=cn` and the given SANs.
    pub fn client(&self, cn: &str, org: &str, sans: Vec<SanType>) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        // Encoded O then CN, as most CAs do; RFC 4514 prints the last RDN first.
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, org);
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params, KeyPair::generate().unwrap())
    }

    pub fn write(&self, dir: &TempDir, name: &str) -> PathBuf {
        dir.write(name, &self.pem)
    }
}

pub fn listener_tls(certs: Vec<CertKey>) -> ListenerTls {
    ListenerTls {
        certs,
        min_version: TlsVersion::V1_2,
        client_auth: None,
    }
}

pub fn client_auth(ca: PathBuf, mode: ClientAuthMode) -> Option<ClientAuth> {
    Some(ClientAuth {
        ca,
        mode,
        subject_header: None,
        san_header: None,
    })
}

pub fn pool_tls() -> PoolTls {
    PoolTls {
        verify: true,
        ca: None,
        sni: None,
        client_cert: None,
    }
}

/// A TLS server on 127.0.0.1:0 that handshakes each connection with [`TlsAcceptor`], reports
/// the outcome, writes `hi` and closes.
pub struct Server {
    pub addr: SocketAddr,
    outcomes: mpsc::UnboundedReceiver<Result<HandshakeInfo, TlsError>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start(config: Arc<ServerConfig>) -> Server {
        Self::start_with(TlsAcceptor::new(config, Duration::from_secs(5))).await
    }

    /// A server handshaking with `acceptor` (a clone shares its configuration, so the test
    /// can replace it).
    pub async fn start_with(acceptor: TlsAcceptor) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, outcomes) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    match acceptor.accept(tcp).await {
                        Ok((mut tls, info)) => {
                            let _ = tx.send(Ok(info));
                            let _ = tls.write_all(b"hi").await;
                            let _ = tls.shutdown().await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e));
                        }
                    }
                });
            }
        });
        Server {
            addr,
            outcomes,
            task,
        }
    }

    /// The server's view of the next handshake.
    pub async fn outcome(&mut self) -> Result<HandshakeInfo, TlsError> {
        tokio::time::timeout(Duration::from_secs(10), self.outcomes.recv())
            .await
            .expect("server reported no handshake")
            .expect("server task ended")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the client saw of a successful connection.
#[derive(Debug)]
pub struct Seen {
    pub cert: CertificateDer<'static>,
    pub version: Option<ProtocolVersion>,
    pub alpn: Option<Vec<u8>>,
    pub resumed: bool,
}

/// Connects, handshakes as `name` (a DNS name sends SNI; an IP sends none) and reads the
/// server's `hi` (so a certificate refused after the client's side of the handshake counts as
/// a failure).
pub async fn connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    name: &str,
) -> Result<Seen, std::io::Error> {
    let name = ServerName::try_from(name.to_owned()).unwrap();
    let tcp = TcpStream::connect(addr).await?;
    let connector = tokio_rustls::TlsConnector::from(config);
    let mut tls = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp))
        .await
        .expect("client handshake hung")?;
    let mut buf = [0u8; 2];
    tls.read_exact(&mut buf).await?;
    assert_eq!(&buf, b"hi");
    let (_, conn) = tls.get_ref();
    Ok(Seen {
        cert: conn.peer_certificates().unwrap()[0].clone(),
        version: conn.protocol_version(),
        alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        resumed: conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed),
    })
}

/// A plain rustls client trusting `ca_pem`, for the given protocol versions, offering `alpn`.
pub fn rustls_client(
    ca_pem: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
) -> Arc<ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::pem::PemObject::pem_slice_iter(ca_pem.as_bytes()) {
        let cert: CertificateDer<'static> = cert.unwrap();
        roots.add(cert).unwrap();
    }
    let mut config = ClientConfig::builder_with_provider(fulcrum_tls::provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A client that accepts any server certificate (the crate's `verify = false`).
pub fn any_cert_client() -> Arc<ClientConfig> {
    fulcrum_tls::client_config(&PoolTls {
        verify: false,
        ..pool_tls()
    })
    .unwrap()
}
