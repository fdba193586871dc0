//! TLS for tests: certificates made at test time (rcgen), rustls client configurations,
//! blocking TLS clients (a bare handshake, raw bytes with a split first flight, and an HTTPS
//! client speaking HTTP/1.1 or HTTP/2 by ALPN that keeps trailers), and a TLS backend (hyper
//! over tokio-rustls, HTTP/1.1 or HTTP/2 by ALPN) that records what every connection
//! negotiated.
//!
//! Everything runs on loopback; the crypto provider is aws-lc-rs, as in Fulcrum.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, ProtocolVersion, ServerConfig};

pub use rcgen;
pub use rustls;
pub use tokio_rustls;

/// How long any single TLS operation of these helpers may take before the test fails.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The crypto provider used by every helper here (rustls' aws-lc-rs defaults).
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

// ---------------------------------------------------------------------------------------------
// Certificates

/// A test certificate authority.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, PEM.
    pub pem: String,
}

/// A certificate and its private key.
#[derive(Clone)]
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl Leaf {
    /// Writes `NAME.crt` and `NAME.key` into `dir`; returns their paths.
    pub fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let cert = dir.join(format!("{name}.crt"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, &self.cert_pem).unwrap();
        std::fs::write(&key, &self.key_pem).unwrap();
        (cert, key)
    }

    /// The subject alternative names of this certificate, as [`sans`] prints them.
    pub fn sans(&self) -> Vec<String> {
        sans(&self.der)
    }
}

impl Ca {
    /// A self-signed CA named `name` (ECDSA P-256).
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

    fn sign(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }

    /// A server certificate for `names`: DNS names (wildcards allowed) or IP addresses.
    pub fn server(&self, names: &[&str]) -> Leaf {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "test server");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.sign(params)
    }

    /// A client certificate with subject `O=org, CN=cn` (printed `CN=cn,O=org` in RFC 4514)
    /// and the given SANs.
    pub fn client(&self, cn: &str, org: &str, sans: Vec<SanType>) -> Leaf {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::OrganizationName, org);
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = sans;
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(params)
    }

    /// Writes the CA certificate to `dir/name`; returns the path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, &self.pem).unwrap();
        p
    }
}

/// The SANs of a DER certificate: `DNS:name`, `IP:addr`, `URI:..`, `email:..`.
pub fn sans(der: &CertificateDer<'_>) -> Vec<String> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der.as_ref()).unwrap();
    let Some(san) = cert.subject_alternative_name().unwrap() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .map(|g| match g {
            GeneralName::DNSName(n) => format!("DNS:{n}"),
            GeneralName::URI(u) => format!("URI:{u}"),
            GeneralName::RFC822Name(e) => format!("email:{e}"),
            GeneralName::IPAddress(b) => match b.len() {
                4 => format!(
                    "IP:{}",
                    std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*b).unwrap())
                ),
                16 => format!(
                    "IP:{}",
                    std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*b).unwrap())
                ),
                _ => format!("IP:{b:?}"),
            },
            other => format!("{other:?}"),
        })
        .collect()
}

fn roots(ca_pem: &str) -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    roots
}

fn chain_and_key(leaf: &Leaf) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let chain = CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
    (chain, key)
}

// ---------------------------------------------------------------------------------------------
// Clients

/// A client configuration trusting `ca_pem`, for `versions` (empty: TLS 1.3 and 1.2), offering
/// `alpn`, presenting `identity` when the server asks for a client certificate.
///
/// Returned unshared so a test can change it (e.g. `enable_sni = false`) before wrapping it.
pub fn client_config(
    ca_pem: &str,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&[u8]],
    identity: Option<&Leaf>,
) -> ClientConfig {
    let versions = if versions.is_empty() {
        rustls::ALL_VERSIONS
    } else {
        versions
    };
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots(ca_pem));
    let mut config = match identity {
        Some(leaf) => {
            let (chain, key) = chain_and_key(leaf);
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

/// A client configuration that accepts **any** server certificate for any name (to see which
/// certificate a server picks whatever the name), offering `alpn`.
pub fn insecure_client_config(alpn: &[&[u8]]) -> ClientConfig {
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServerCert(provider())))
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    config
}

#[derive(Debug)]
struct AnyServerCert(Arc<CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What a client saw of a completed handshake.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The server's leaf certificate.
    pub cert: CertificateDer<'static>,
    /// Its SANs (see [`sans`]).
    pub sans: Vec<String>,
    pub version: Option<ProtocolVersion>,
    pub alpn: Option<Vec<u8>>,
}

impl Handshake {
    fn of(conn: &ClientConnection) -> Handshake {
        let cert = conn
            .peer_certificates()
            .and_then(|c| c.first())
            .expect("no server certificate")
            .clone()
            .into_owned();
        Handshake {
            sans: sans(&cert),
            cert,
            version: conn.protocol_version(),
            alpn: conn.alpn_protocol().map(<[u8]>::to_vec),
        }
    }
}

fn tcp(addr: SocketAddr) -> Result<TcpStream, String> {
    let sock = TcpStream::connect_timeout(&addr, IO_TIMEOUT).map_err(|e| e.to_string())?;
    sock.set_nodelay(true).unwrap();
    sock.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    sock.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    Ok(sock)
}

fn server_name(name: &str) -> ServerName<'static> {
    ServerName::try_from(name.to_string()).unwrap()
}

/// One full handshake with `addr` as `name` (a DNS name is sent as SNI unless the config
/// says `enable_sni = false`; an IP address is never sent). `Err` when it fails.
///
/// With TLS 1.3 the client finishes before the server has checked the client's certificate:
/// to see a client certificate refused, send a request (e.g. [`TlsClient`]).
pub fn handshake(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    name: &str,
) -> Result<Handshake, String> {
    let mut sock = tcp(addr)?;
    let mut conn = ClientConnection::new(config, server_name(name)).map_err(|e| e.to_string())?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
    }
    Ok(Handshake::of(&conn))
}

/// A TLS connection whose first flight (the ClientHello) is written in pieces, cut at
/// `cuts` (byte offsets, increasing), with `pause` between pieces; then the handshake
/// completes, `request` is written and everything up to the end of the stream is read.
pub fn raw_tls_exchange(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    name: &str,
    cuts: &[usize],
    pause: Duration,
    request: &[u8],
) -> Result<(Handshake, Vec<u8>), String> {
    let mut sock = tcp(addr)?;
    let mut conn = ClientConnection::new(config, server_name(name)).map_err(|e| e.to_string())?;
    let mut hello = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut hello).map_err(|e| e.to_string())?;
    }
    let mut from = 0;
    for &cut in cuts.iter().chain(std::iter::once(&hello.len())) {
        let cut = cut.min(hello.len());
        if cut <= from {
            continue;
        }
        if from > 0 {
            std::thread::sleep(pause);
        }
        sock.write_all(&hello[from..cut])
            .map_err(|e| e.to_string())?;
        sock.flush().map_err(|e| e.to_string())?;
        from = cut;
    }
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(|e| e.to_string())?;
    }
    let seen = Handshake::of(&conn);
    let mut stream = rustls::Stream::new(&mut conn, &mut sock);
    stream.write_all(request).map_err(|e| e.to_string())?;
    stream.flush().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    match stream.read_to_end(&mut out) {
        Ok(_) => {}
        // A peer closing without close_notify: what came before still counts.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => return Err(format!("{e} (after {} bytes)", out.len())),
    }
    Ok((seen, out))
}

/// A response read whole, with its trailers.
#[derive(Debug)]
pub struct TlsReply {
    pub status: StatusCode,
    pub version: Version,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub trailers: Option<HeaderMap>,
}

impl TlsReply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    }
}

enum Conn {
    H1(hyper::client::conn::http1::SendRequest<Full<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

/// One HTTPS client connection with its own runtime; blocking calls. HTTP/2 when the server
/// picked `h2` by ALPN, HTTP/1.1 otherwise.
pub struct TlsClient {
    rt: tokio::runtime::Runtime,
    conn: Conn,
    /// The handshake as the client saw it.
    pub handshake: Handshake,
}

impl TlsClient {
    /// Connect and handshake with `addr` as `name` (see [`handshake`] about SNI).
    pub fn connect(
        addr: SocketAddr,
        config: Arc<ClientConfig>,
        name: &str,
    ) -> Result<TlsClient, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let name = server_name(name);
        let (conn, handshake) = rt.block_on(async {
            tokio::time::timeout(IO_TIMEOUT, async {
                let tcp = tokio::net::TcpStream::connect(addr)
                    .await
                    .map_err(|e| e.to_string())?;
                tcp.set_nodelay(true).unwrap();
                let tls = tokio_rustls::TlsConnector::from(config)
                    .connect(name, tcp)
                    .await
                    .map_err(|e| e.to_string())?;
                let handshake = Handshake::of(tls.get_ref().1);
                let io = TokioIo::new(tls);
                let conn = if handshake.alpn.as_deref() == Some(b"h2") {
                    let (send, conn) =
                        hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                            .await
                            .map_err(|e| e.to_string())?;
                    tokio::spawn(conn);
                    Conn::H2(send)
                } else {
                    let (send, conn) = hyper::client::conn::http1::handshake(io)
                        .await
                        .map_err(|e| e.to_string())?;
                    tokio::spawn(conn);
                    Conn::H1(send)
                };
                Ok::<_, String>((conn, handshake))
            })
            .await
            .map_err(|_| "TLS connect timed out".to_string())?
        })?;
        Ok(TlsClient {
            rt,
            conn,
            handshake,
        })
    }

    pub fn is_h2(&self) -> bool {
        matches!(self.conn, Conn::H2(_))
    }

    /// Send a request and read the whole response with its trailers; `Err` carries the
    /// error text (e.g. the server closed the connection or refused the client certificate).
    pub fn send(&mut self, req: Request<Full<Bytes>>) -> Result<TlsReply, String> {
        let TlsClient { rt, conn, .. } = self;
        rt.block_on(async {
            tokio::time::timeout(IO_TIMEOUT, async {
                let resp = match conn {
                    Conn::H1(s) => {
                        s.ready().await.map_err(|e| e.to_string())?;
                        s.send_request(req).await
                    }
                    Conn::H2(s) => {
                        s.ready().await.map_err(|e| e.to_string())?;
                        s.send_request(req).await
                    }
                }
                .map_err(|e| e.to_string())?;
                let (parts, body) = resp.into_parts();
                let collected = body.collect().await.map_err(|e| e.to_string())?;
                let trailers = collected.trailers().cloned();
                Ok(TlsReply {
                    status: parts.status,
                    version: parts.version,
                    headers: parts.headers,
                    body: collected.to_bytes(),
                    trailers,
                })
            })
            .await
            .map_err(|_| "request timed out".to_string())?
        })
    }

    /// A request for `https://host/path` with extra headers, shaped for the connection's
    /// protocol (HTTP/2: absolute URI; HTTP/1.1: `Host` header).
    pub fn request(
        &self,
        method: Method,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Request<Full<Bytes>> {
        let mut b = Request::builder().method(method);
        b = if self.is_h2() {
            b.uri(format!("https://{host}{path}"))
        } else {
            b.uri(path).header("host", host)
        };
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Full::new(Bytes::from(body.to_string()))).unwrap()
    }

    /// GET `path` on `host`.
    pub fn get(
        &mut self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<TlsReply, String> {
        let req = self.request(Method::GET, host, path, headers, "");
        self.send(req)
    }
}

// ---------------------------------------------------------------------------------------------
// TLS backend

/// One TLS connection as a [`TlsBackend`] saw it.
#[derive(Debug, Clone)]
pub struct TlsConnInfo {
    /// The SNI the client sent.
    pub sni: Option<String>,
    pub alpn: Option<Vec<u8>>,
    /// The SANs of the client certificate, when one was presented (and verified).
    pub client_sans: Option<Vec<String>>,
}

/// A request as a [`TlsBackend`] saw it.
#[derive(Debug, Clone)]
pub struct TlsRecorded {
    pub version: Version,
    pub method: Method,
    pub uri: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub conn: TlsConnInfo,
}

/// A TLS backend: HTTP/1.1 or HTTP/2 chosen by ALPN.
///
/// Paths:
/// - `/grpc`: a gRPC-shaped answer: `content-type: application/grpc`, the body
///   `grpc-payload:` followed by the request body, then the trailers `grpc-status: 0` and
///   `grpc-message: ok`.
/// - anything else: the backend's name as the body.
///
/// Every response carries `x-backend: NAME`, `x-version: HTTP/1.1|HTTP/2.0` (the protocol the
/// backend spoke) and `x-sni: NAME|-`.
pub struct TlsBackend {
    pub addr: SocketAddr,
    pub name: String,
    conns: Arc<Mutex<Vec<TlsConnInfo>>>,
    recorded: Arc<Mutex<Vec<TlsRecorded>>>,
    failed: Arc<AtomicUsize>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How a [`TlsBackend`] is set up.
#[derive(Clone)]
pub struct TlsBackendOpts {
    /// Its certificate.
    pub cert: Leaf,
    /// Require client certificates chaining to this CA (PEM).
    pub client_ca: Option<String>,
    /// ALPN protocols it accepts, in preference order.
    pub alpn: Vec<Vec<u8>>,
}

impl TlsBackendOpts {
    /// `cert`, no client certificates, ALPN `h2` then `http/1.1`.
    pub fn new(cert: &Leaf) -> TlsBackendOpts {
        TlsBackendOpts {
            cert: cert.clone(),
            client_ca: None,
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        }
    }
}

type BoxBody = http_body_util::combinators::BoxBody<Bytes, Infallible>;

impl TlsBackend {
    /// A backend named `name` serving `cert`, offering h2 and http/1.1.
    pub fn start(name: &str, cert: &Leaf) -> TlsBackend {
        Self::start_with(name, TlsBackendOpts::new(cert))
    }

    pub fn start_with(name: &str, opts: TlsBackendOpts) -> TlsBackend {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap();
        let builder = match &opts.client_ca {
            Some(ca) => {
                let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots(ca)),
                    provider(),
                )
                .build()
                .unwrap();
                builder.with_client_cert_verifier(verifier)
            }
            None => builder.with_no_client_auth(),
        };
        let (chain, key) = chain_and_key(&opts.cert);
        let mut config = builder.with_single_cert(chain, key).unwrap();
        config.alpn_protocols = opts.alpn.clone();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        std_listener.set_nonblocking(true).unwrap();
        let addr = std_listener.local_addr().unwrap();
        let conns = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let failed = Arc::new(AtomicUsize::new(0));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let (c2, r2, f2, nm) = (
            conns.clone(),
            recorded.clone(),
            failed.clone(),
            name.to_string(),
        );
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
                loop {
                    let (stream, _) = tokio::select! {
                        a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                        _ = &mut stopped => return,
                    };
                    let (acceptor, conns, rec, failed, nm) = (
                        acceptor.clone(),
                        c2.clone(),
                        r2.clone(),
                        f2.clone(),
                        nm.clone(),
                    );
                    tokio::spawn(async move {
                        let tls =
                            match tokio::time::timeout(IO_TIMEOUT, acceptor.accept(stream)).await {
                                Ok(Ok(tls)) => tls,
                                _ => {
                                    failed.fetch_add(1, Ordering::SeqCst);
                                    return;
                                }
                            };
                        let (_, sc) = tls.get_ref();
                        let info = TlsConnInfo {
                            sni: sc.server_name().map(str::to_owned),
                            alpn: sc.alpn_protocol().map(<[u8]>::to_vec),
                            client_sans: sc
                                .peer_certificates()
                                .and_then(|c| c.first())
                                .map(|c| sans(c)),
                        };
                        conns.lock().unwrap().push(info.clone());
                        let h2 = info.alpn.as_deref() == Some(b"h2");
                        let svc = service_fn(move |req| {
                            handle(nm.clone(), info.clone(), rec.clone(), req)
                        });
                        let io = TokioIo::new(tls);
                        if h2 {
                            let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                                .serve_connection(io, svc)
                                .await;
                        } else {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(io, svc)
                                .await;
                        }
                    });
                }
            });
        });
        TlsBackend {
            addr,
            name: name.to_string(),
            conns,
            recorded,
            failed,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Every completed handshake so far.
    pub fn handshakes(&self) -> Vec<TlsConnInfo> {
        self.conns.lock().unwrap().clone()
    }

    /// Handshakes that failed (or did not finish in time).
    pub fn failed_handshakes(&self) -> usize {
        self.failed.load(Ordering::SeqCst)
    }

    /// Every request received so far.
    pub fn recorded(&self) -> Vec<TlsRecorded> {
        self.recorded.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.recorded.lock().unwrap().len()
    }

    /// Wait until at least `n` handshakes completed (true) or `timeout` passed (false).
    pub fn wait_handshakes(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.handshakes().len() >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TlsBackend {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn handle(
    name: String,
    conn: TlsConnInfo,
    rec: Arc<Mutex<Vec<TlsRecorded>>>,
    req: Request<Incoming>,
) -> Result<Response<BoxBody>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match body.collect().await {
        Ok(c) => c.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let version = parts.version;
    rec.lock().unwrap().push(TlsRecorded {
        version,
        method: parts.method.clone(),
        uri: parts.uri.to_string(),
        headers: parts.headers.clone(),
        body: body.clone(),
        conn: conn.clone(),
    });
    let mut frames = VecDeque::new();
    let mut resp = Response::builder()
        .header("x-backend", name.as_str())
        .header("x-version", format!("{version:?}"))
        .header("x-sni", conn.sni.as_deref().unwrap_or("-"));
    if parts.uri.path() == "/grpc" {
        resp = resp.header("content-type", "application/grpc");
        let mut payload = b"grpc-payload:".to_vec();
        payload.extend_from_slice(&body);
        frames.push_back(Frame::data(Bytes::from(payload)));
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        trailers.insert("grpc-message", "ok".parse().unwrap());
        frames.push_back(Frame::trailers(trailers));
    } else {
        frames.push_back(Frame::data(Bytes::from(name)));
    }
    Ok(resp.body(FramesBody(frames).boxed()).unwrap())
}

/// A body made of a fixed list of frames (data and trailers).
struct FramesBody(VecDeque<Frame<Bytes>>);

impl http_body::Body for FramesBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(self.0.pop_front().map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
}
