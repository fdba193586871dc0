//! The validated configuration model: what the rest of Fulcrum consumes.
//!
//! Every value here has already been checked; nothing downstream re-validates. Types are plain
//! data (no I/O handles) so a model can be diffed, printed and swapped atomically.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, HeaderValue, StatusCode};

pub use crate::cidr::Cidr;

/// A whole, valid configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub runtime: Runtime,
    pub access_log: AccessLog,
    /// `None` when the file has no `[admin]` table: no admin listener at all.
    pub admin: Option<Admin>,
    /// In file order.
    pub listeners: Vec<Listener>,
    /// In file order (TOML table order).
    pub pools: Vec<Pool>,
    /// Values that came from `${ENV_VAR}`: errors about this configuration (a failed bind, a
    /// bad certificate file) print the reference, never the value.
    pub redactions: crate::Redactions,
}

impl Config {
    /// Pool `name`: a scan of the pools, for one lookup at a time (a loop over backends or
    /// routes should make a map once, as the control plane's `pools_by_name` does).
    pub fn pool(&self, name: &str) -> Option<&Pool> {
        self.pools.iter().find(|p| p.name == name)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Runtime {
    /// Worker threads; already resolved: 0 in the file becomes the CPUs this process may use.
    pub workers: usize,
    /// `drain_delay` (default 5s): after SIGTERM, how long `/ready` answers 503 while every
    /// listener still accepts and serves as before, so that load balancers and endpoint
    /// controllers in front stop sending new clients; only then does Fulcrum stop accepting.
    pub drain_delay: Duration,
    /// `shutdown_grace` (default 25s): once accepting stopped (shutdown, or a listener removed
    /// by a reload), how long open connections, WebSocket tunnels and passthrough relays may
    /// finish their work before they are cut.
    pub shutdown_grace: Duration,
}

impl Runtime {
    /// `drain_delay` when the file leaves it out: the few seconds Kubernetes needs to take an
    /// endpoint out of rotation after it sent SIGTERM.
    pub const DEFAULT_DRAIN_DELAY: Duration = Duration::from_secs(5);
    /// `shutdown_grace` when the file leaves it out: with the drain delay, within Kubernetes'
    /// default `terminationGracePeriodSeconds` (30 s).
    pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(25);
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccessLog {
    pub target: LogTarget,
    /// Fraction of requests logged, 0.0..=1.0.
    pub sample: f64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    Stderr,
    Off,
    File(PathBuf),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Admin {
    /// Where the admin listener listens (default 127.0.0.1:9900). An address other than
    /// loopback needs a `token`.
    pub bind: SocketAddr,
    /// Required as `Authorization: Bearer ...` on `/api/*` when set.
    pub token: Option<String>,
    /// `metrics_token`: when set, `/metrics` requires `Authorization: Bearer ...` with it (or
    /// with `token`); otherwise `/metrics` is open.
    pub metrics_token: Option<String>,
    /// `watch_config = true`: reload when the configuration file changes (default false).
    pub watch_config: bool,
    /// Where audit lines go (every change through the API or a reload): `audit_log`, default
    /// stderr; "off" or a file path.
    pub audit_log: LogTarget,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub name: String,
    /// At least one.
    pub binds: Vec<SocketAddr>,
    pub protocol: Protocol,
    pub timeouts: Timeouts,
    pub limits: Limits,
    /// First match wins, in file order.
    pub routes: Vec<Route>,
    /// `[listener.tls]`: required for `https`, refused for other protocols.
    pub tls: Option<ListenerTls>,
    /// `https_redirect = true` (http listeners): answer every request with a 308 to the same
    /// URL on https (routes are not consulted). `https_port` (default 443) is the port in the
    /// `Location` (omitted when 443).
    pub https_redirect: Option<u16>,
    /// `[listener.hsts]` (https listeners): add `Strict-Transport-Security` to responses.
    pub hsts: Option<Hsts>,
    /// `trusted_proxies` (http and https listeners; default none): peers whose
    /// `X-Forwarded-For` chain (and `X-Forwarded-Proto/-Host/-Port/-Prefix`) is believed and
    /// kept. From anyone else those headers are replaced, and the client address is the peer.
    pub trusted_proxies: Vec<Cidr>,
    /// `engine` (http and https listeners): which HTTP/1.1 engine serves the connections.
    pub engine: Engine,
    /// `pool` (tcp and udp listeners, required there; refused elsewhere): every connection
    /// (tcp) or client flow (udp) is relayed to a backend of this pool.
    pub pool: Option<String>,
    /// `[listener.proxy_protocol]`: read a PROXY protocol header (v1 or v2) from these front
    /// load balancers before anything else; `None`: PROXY headers are not read.
    pub proxy_protocol: Option<ProxyProtocolIn>,
    /// `[listener.rate_limit]` and `[listener.access]`: for every route that has none of its
    /// own (tcp and tls_passthrough listeners: `access`, checked at accept).
    pub guards: Guards,
}

/// The protections of a listener or a route. A route's replace the listener's, each kind on
/// its own (a route with only `access` keeps the listener's `rate_limit`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Guards {
    pub rate_limit: Option<RateLimit>,
    pub access: Option<Access>,
    pub auth: Option<Auth>,
    /// `[listener.waf]` / `[listener.route.waf]`.
    pub waf: Option<Waf>,
}

/// `[listener.auth]`: who may send requests (401 with `WWW-Authenticate` when credentials
/// are missing or not valid, 403 when `require` refuses the identity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Auth {
    pub kind: AuthKind,
    /// `require = { ... }`.
    pub require: AuthRequire,
    /// `forward_identity = "x-auth-subject"`: the identity goes to the backend in this field;
    /// a copy the client sent is always removed.
    pub forward_identity: Option<HeaderName>,
}

/// `kind` and its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthKind {
    /// `kind = "api_key"`: `header = "NAME"` or `query = "NAME"`, `keys = [{ name, sha256 }]`.
    ApiKey {
        source: ApiKeySource,
        keys: Vec<ApiKey>,
    },
    /// `kind = "basic"`: `users = [{ name, hash }]` (argon2id/argon2i PHC or bcrypt).
    Basic { users: Vec<BasicUser> },
    /// `kind = "jwt"`: `jwks` (a URL) or `jwks_file`, `issuer`, `audience`, `clock_skew`
    /// (default 60s).
    Jwt {
        jwks: JwksSource,
        issuer: Option<String>,
        audience: Option<String>,
        clock_skew: Duration,
    },
    /// `kind = "mtls"`: the verified client certificate (`[listener.tls.client_auth]`).
    Mtls,
}

impl AuthKind {
    pub fn name(&self) -> &'static str {
        match self {
            AuthKind::ApiKey { .. } => "api_key",
            AuthKind::Basic { .. } => "basic",
            AuthKind::Jwt { .. } => "jwt",
            AuthKind::Mtls => "mtls",
        }
    }
}

/// Where a JWT route's keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// `jwks_file`: read when the configuration is.
    File {
        path: PathBuf,
        /// The file's content, checked to hold at least one usable key.
        json: String,
    },
    /// `jwks = "https://..."` (plain `http://` only to a loopback address): fetched by the
    /// control plane in the background, every `refresh` (default 5m), on failure again
    /// with exponential backoff (1 s doubling up to `refresh`), and when a token names an
    /// unknown key, no more often than `min_refresh` (default 10s).
    Url {
        url: String,
        /// `jwks_ca`: the CA bundle to verify the server with, instead of the built-in roots.
        ca: Option<PathBuf>,
        refresh: Duration,
        min_refresh: Duration,
    },
}

/// Where an API key is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiKeySource {
    /// `header = "x-api-key"`: the field's first value.
    Header(HeaderName),
    /// `query = "key"`: the first query parameter of this name, percent-decoded.
    Query(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub name: String,
    pub sha256: [u8; 32],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicUser {
    pub name: String,
    pub hash: String,
}

/// `require`: names (api_key, basic), claims (jwt), subjects and SANs (mtls); each list a
/// set of allowed values, empty when not given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthRequire {
    pub names: Vec<String>,
    pub claims: Vec<(String, Vec<String>)>,
    pub subjects: Vec<String>,
    pub sans: Vec<String>,
}

/// `[listener.waf]`: the web application firewall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waf {
    /// `mode` (default `block`): `block` answers 403 to a request that matches; `detect`
    /// lets it through and logs and counts the decision; `off` inspects nothing.
    pub mode: WafMode,
    /// `paranoia` (1..=4, default 1): as the OWASP Core Rule Set's paranoia levels, each
    /// adds stricter checks (and more false positives).
    pub paranoia: u8,
    /// `max_body_inspect` (default 64KiB, at most 16MiB): bytes of a request body read and
    /// inspected before it is forwarded; the rest is forwarded uninspected.
    pub max_body_inspect: usize,
}

impl Waf {
    pub const DEFAULT_MAX_BODY_INSPECT: usize = 64 * 1024;
}

/// `mode` of `[listener.waf]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WafMode {
    Block,
    Detect,
    Off,
}

/// `[listener.rate_limit]`: GCRA per key; a request over the limit gets 429.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimit {
    /// `requests_per_second` (1..=10^9): the steady rate per key.
    pub requests_per_second: u32,
    /// `burst` (default: `requests_per_second`): requests a key may send at once, after
    /// which it gets one every `1/requests_per_second` seconds.
    pub burst: u32,
    /// `key` (default `client_ip`).
    pub key: RateKey,
    /// `max_keys` (default 100000): keys the table holds; past it, idle keys are dropped and
    /// then the oldest entries are evicted (evicted keys start afresh).
    pub max_keys: usize,
}

impl RateLimit {
    pub const DEFAULT_MAX_KEYS: usize = 100_000;
}

/// What a rate limit counts by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RateKey {
    /// The client address: the PROXY header's source from a trusted front balancer, else
    /// (behind `trusted_proxies`) the right-most untrusted `X-Forwarded-For` address, else
    /// the peer.
    ClientIp,
    /// `header:NAME`: the first value of this field; a request without it is counted by its
    /// client address.
    Header(HeaderName),
    /// `api_key`: the name of the request's API key (auth `kind = "api_key"`); a request
    /// without one is counted by its client address.
    ApiKey,
    /// `jwt:CLAIM`: this claim of the request's token (auth `kind = "jwt"`), else the client
    /// address.
    Jwt(String),
}

/// `[listener.access]`: CIDR allow/deny; the longest matching prefix decides, an address no
/// entry contains is allowed only when `allow` is empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub allow: Vec<Cidr>,
    pub deny: Vec<Cidr>,
}

/// `[listener.proxy_protocol]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyProtocolIn {
    /// Peers that must send the header (and whose header is believed: its source address is
    /// the client's). A header from any other peer is refused.
    pub trusted: Vec<Cidr>,
}

/// `proxy_protocol` of a pool: the PROXY protocol header its backends are sent first on each
/// connection, naming the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersion {
    /// The text form: `PROXY TCP4 src dst sport dport\r\n`.
    V1,
    /// The binary form.
    V2,
}

/// `engine = "auto" | "hyper"`: `auto` (the default) serves HTTP/1.1 with Fulcrum's own lean
/// engine and hands to hyper what it does not handle itself (HTTP/2, upgrades, HTTP/1.0,
/// `Expect`, TLS pools, trusted front proxies); `hyper` serves every request with hyper.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Engine {
    #[default]
    Auto,
    Hyper,
}

impl Engine {
    pub const NAMES: &'static [&'static str] = &["auto", "hyper"];

    pub fn from_name(s: &str) -> Option<Engine> {
        match s {
            "auto" => Some(Engine::Auto),
            "hyper" => Some(Engine::Hyper),
            _ => None,
        }
    }
}

/// A listener's protocol: what its sockets are and what it does with what arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Http,
    /// HTTP over TLS terminated here.
    Https,
    /// TLS routed by the ClientHello's SNI without decrypting; routes use `sni` and `pool`.
    TlsPassthrough,
    /// Bytes relayed to a backend of the listener's `pool` (layer 4; no routes).
    Tcp,
    /// Datagrams relayed to a backend of the listener's `pool`, per client flow (layer 4; no
    /// routes). The only protocol whose sockets are UDP.
    Udp,
}

impl Protocol {
    /// Whether the listener speaks HTTP (has routes, engines, HTTP timeouts).
    pub fn is_http(self) -> bool {
        matches!(self, Protocol::Http | Protocol::Https)
    }

    /// Whether the listener relays to one `pool` of its own (tcp, udp) instead of routing.
    pub fn has_pool(self) -> bool {
        matches!(self, Protocol::Tcp | Protocol::Udp)
    }
}

/// TLS termination settings of an `https` listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerTls {
    /// At least one. The certificate whose names (SAN, read from the certificate itself) match
    /// the client's SNI is served; the first is the default (no SNI, or no match).
    pub certs: Vec<CertKey>,
    /// Lowest TLS version accepted (default 1.2; 1.3 allowed). Never below 1.2.
    pub min_version: TlsVersion,
    /// Mutual TLS: verify client certificates against a CA bundle.
    pub client_auth: Option<ClientAuth>,
}

/// A PEM certificate chain and its private key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertKey {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TlsVersion {
    V1_2,
    V1_3,
}

/// `[listener.tls.client_auth]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAuth {
    /// PEM bundle of CA certificates that client certificates must chain to.
    pub ca: PathBuf,
    /// `required` (default): handshake fails without a valid certificate; `optional`: a
    /// client without one is let through (routes may require one with `client_cert = true`).
    pub mode: ClientAuthMode,
    /// Header carrying the verified client's subject DN to backends (e.g. `x-client-subject`).
    pub subject_header: Option<HeaderName>,
    /// Header carrying the verified client's SAN entries, comma-separated.
    pub san_header: Option<HeaderName>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthMode {
    Required,
    Optional,
}

/// `[listener.hsts]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hsts {
    /// `max_age` (default 1 year, > 0).
    pub max_age: Duration,
    pub include_subdomains: bool,
    pub preload: bool,
}

/// `[pool.NAME.tls]`: TLS to the backends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolTls {
    /// Verify the backend's certificate (default true).
    pub verify: bool,
    /// CA bundle to verify against (default: the system's roots).
    pub ca: Option<PathBuf>,
    /// Server name to send and verify (default: the backend's host name or IP).
    pub sni: Option<String>,
    /// Client certificate for backend mTLS (both or neither).
    pub client_cert: Option<CertKey>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The whole request head must arrive within this (default 10s).
    pub header: Duration,
    /// Keep-alive idle (default 60s).
    pub idle: Duration,
    /// The upstream response must begin within this (default 60s).
    pub request: Duration,
    /// The client must take response bytes within this (default 15s): a connection whose
    /// writes stay blocked this long is closed, and an HTTP/2 stream the client gives no
    /// flow-control credit for this long (while the connection could send) is cut. A backend
    /// that is slow to send never trips it.
    pub send: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: Duration::from_secs(10),
            idle: Duration::from_secs(60),
            request: Duration::from_secs(60),
            send: Duration::from_secs(15),
        }
    }
}

impl Timeouts {
    /// A tcp listener's idle default: a connection that moves no byte either way for ten
    /// minutes is closed (NGINX stream's `proxy_timeout`; database pools idle for minutes).
    pub const TCP_IDLE: Duration = Duration::from_secs(600);
    /// A udp listener's idle default: a flow with no datagram either way for 30 s expires
    /// (NGINX stream's `proxy_timeout` is 10 min, but a UDP flow holds a backend socket and
    /// request/reply protocols — DNS, syslog, game and VPN keep-alives — are done in seconds).
    pub const UDP_IDLE: Duration = Duration::from_secs(30);

    /// The defaults for a listener of `protocol`.
    pub fn defaults_for(protocol: Option<Protocol>) -> Self {
        match protocol {
            Some(Protocol::Tcp) => Timeouts {
                idle: Self::TCP_IDLE,
                ..Timeouts::default()
            },
            Some(Protocol::Udp) => Timeouts {
                idle: Self::UDP_IDLE,
                ..Timeouts::default()
            },
            _ => Timeouts::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Request head size limit (default 32 KiB; at least 8 KiB).
    pub max_header_bytes: usize,
    /// Request body size limit (default 10 MiB).
    pub max_body_bytes: u64,
    /// Concurrent client connections on this listener (default 100000).
    pub max_connections: usize,
    /// Concurrent streams one HTTP/2 client connection may open (default 100), advertised as
    /// `SETTINGS_MAX_CONCURRENT_STREAMS`.
    pub h2_max_concurrent_streams: u32,
    /// Backend connections one HTTP/2 client connection may hold at once (default 32); its
    /// further streams wait for one, within `timeouts.request`.
    pub h2_max_backend_connections: usize,
    /// udp listeners: flows (clients by address and port) each worker's flow table holds
    /// (default 100000, 1..=u32::MAX); a new flow beyond it evicts the least recently active.
    pub max_flows: u32,
    /// `max_connections_per_ip` (not udp): open connections one client address may hold;
    /// a further one is closed at accept. `None`: no limit.
    pub max_connections_per_ip: Option<u32>,
    /// `new_connections_per_ip = "N/s"` (not udp): connections one client address may open
    /// per second (N at once, then one every 1/N s); a further one is closed at accept.
    pub new_connections_per_ip: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 32 * 1024,
            max_body_bytes: 10 * 1024 * 1024,
            max_connections: 100_000,
            h2_max_concurrent_streams: 100,
            h2_max_backend_connections: 32,
            max_flows: 100_000,
            max_connections_per_ip: None,
            new_connections_per_ip: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// From the file, or `"#<index>"` when unnamed.
    pub name: String,
    pub host: Option<HostMatch>,
    pub path_prefix: Option<String>,
    /// Exact value matches; names are lowercase (as `HeaderName` is).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// `tls_passthrough` listeners: match the ClientHello's SNI (exact or `*.` wildcard). Only
    /// `sni` and `pool` are allowed in passthrough routes; a route without `sni` is the default.
    pub sni: Option<HostMatch>,
    /// `client_cert = true` (https listeners with optional client auth): match only requests
    /// whose connection presented a verified client certificate.
    pub client_cert: bool,
    /// `upgrades`: the `Upgrade` protocols tunnelled for this route, lowercase (default
    /// [`DEFAULT_UPGRADES`]; empty: none). Any other upgrade request is forwarded as a plain
    /// request without its `Upgrade`. Never `h2c`.
    pub upgrades: Vec<String>,
    /// `allow_encoded_slashes = true`: requests whose path contains `%2F` or `%5C` may take
    /// this route (forwarded with them still encoded); by default they are refused with 400.
    pub allow_encoded_slashes: bool,
    pub action: Action,
    /// `[listener.route.rate_limit]`, `[listener.route.access]`: replace the listener's.
    pub guards: Guards,
}

/// The `Upgrade` protocols a route tunnels when it does not say.
pub const DEFAULT_UPGRADES: &[&str] = &["websocket"];

/// Host matching is case-insensitive and ignores the port; the stored names are lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HostMatch {
    /// `api.example.com`
    Exact(String),
    /// `*.example.com`, stored as the suffix `.example.com`; matches `a.example.com` and
    /// `a.b.example.com`, not `example.com`.
    Wildcard(String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Forward to this pool (the name is known to exist).
    Pool(String),
    /// Weighted choice between pools; every weight > 0.
    Split(Vec<SplitTarget>),
    Redirect {
        to: String,
        status: StatusCode,
    },
    Respond {
        status: StatusCode,
        body: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitTarget {
    pub pool: String,
    pub weight: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pool {
    pub name: String,
    pub balance: Balance,
    /// Backends given by IP address. With `dns` empty, at least one.
    pub backends: Vec<Backend>,
    /// Backends given by host name (`address = "app.internal:8080"`), re-resolved every
    /// `dns_refresh`; each resolved address becomes a backend with the entry's weight.
    pub dns: Vec<DnsBackend>,
    /// How often DNS backends are re-resolved (default 5s, > 0).
    pub dns_refresh: Duration,
    pub connect_timeout: Duration,
    pub drain_timeout: Duration,
    pub slow_start: Duration,
    /// `[pool.X.health]`: active checks; `None` without the table.
    pub health: Option<HealthCheck>,
    /// `[pool.X.outlier]`: passive health (always on unless `consecutive_failures = 0`).
    pub outlier: Outlier,
    /// `[pool.X.retry]`.
    pub retry: Retry,
    /// `[pool.X.tls]`: TLS (and HTTP/2 by ALPN) to the backends; `None` is cleartext HTTP/1.1.
    pub tls: Option<PoolTls>,
    /// `proxy_protocol`: send this PROXY header to the backends (pools of tcp and
    /// tls_passthrough listeners).
    pub proxy_protocol: Option<ProxyVersion>,
}

/// Active health checks of every backend of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheck {
    /// What one check does: a TCP connect (the default, no `path` or `udp_*` key), an HTTP
    /// `GET path`, or a UDP probe (`udp_send`/`udp_send_hex`, `udp_expect`/`udp_expect_hex`).
    pub probe: Probe,
    /// `port`: check this port of the backend's IP address instead of the backend's own port
    /// (a TCP side of a UDP service, a sidecar health port); applies to every probe.
    pub port: Option<u16>,
    /// Default 2s, > 0; each check is jittered by up to 10% of it.
    pub interval: Duration,
    /// Default 1s, > 0.
    pub timeout: Duration,
    /// Consecutive successes to turn healthy (default 2, >= 1).
    pub healthy_threshold: u32,
    /// Consecutive failures to turn unhealthy (default 3, >= 1).
    pub unhealthy_threshold: u32,
}

/// What one active check of a backend does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// Connect over TCP (healthy once connected), then close.
    Tcp,
    /// HTTP/1.1 `GET path`; a 2xx or 3xx answer is healthy. `path` starts with `/`.
    Http { path: String },
    /// Send `send` as one datagram from a fresh connected UDP socket; healthy if the one reply
    /// starts with `expect` (any reply when `expect` is empty). An ICMP port unreachable fails
    /// at once. `send` is 1..=[`Probe::MAX_UDP_SEND`] bytes, `expect` at most
    /// [`Probe::MAX_UDP_EXPECT`].
    Udp { send: Vec<u8>, expect: Vec<u8> },
}

impl Probe {
    /// The largest probe datagram: what fits one Ethernet frame over IPv4 unfragmented
    /// (1500 − 20 IP − 8 UDP).
    pub const MAX_UDP_SEND: usize = 1472;
    /// The longest expected reply prefix.
    pub const MAX_UDP_EXPECT: usize = 512;
}

/// Passive health: eject a backend after consecutive failures seen on real traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outlier {
    /// Consecutive connect failures / resets / 5xx that eject (default 5; 0 turns it off).
    pub consecutive_failures: u32,
    /// First ejection lasts this long (default 10s, > 0); each repeat doubles it, up to
    /// `max_ejection_time`.
    pub base_ejection_time: Duration,
    /// Default 5m, >= base.
    pub max_ejection_time: Duration,
    /// Never more than this share of a pool ejected at once (default 50, 0..=100).
    pub max_ejection_percent: u32,
}

impl Default for Outlier {
    fn default() -> Self {
        Outlier {
            consecutive_failures: 5,
            base_ejection_time: Duration::from_secs(10),
            max_ejection_time: Duration::from_secs(300),
            max_ejection_percent: 50,
        }
    }
}

/// Retries of requests that never reached a backend's application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    /// Further attempts on a different backend (default 1; 0 turns retries off; at most 5).
    pub attempts: u32,
    /// Retries may add at most this percentage of recent requests (default 20, 0..=100).
    pub budget_percent: u32,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 1,
            budget_percent: 20,
        }
    }
}

/// A backend named by DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsBackend {
    pub host: String,
    pub port: u16,
    pub weight: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Balance {
    #[default]
    RoundRobin,
    LeastRequest,
    Random,
    IpHash,
    RingHash,
}

impl Balance {
    pub const NAMES: &'static [&'static str] = &[
        "round_robin",
        "least_request",
        "random",
        "ip_hash",
        "ring_hash",
    ];

    /// The balance named `name` in the file (one of [`Balance::NAMES`]).
    pub fn from_name(name: &str) -> Option<Balance> {
        Some(match name {
            "round_robin" => Balance::RoundRobin,
            "least_request" => Balance::LeastRequest,
            "random" => Balance::Random,
            "ip_hash" => Balance::IpHash,
            "ring_hash" => Balance::RingHash,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Balance::RoundRobin => "round_robin",
            Balance::LeastRequest => "least_request",
            Balance::Random => "random",
            Balance::IpHash => "ip_hash",
            Balance::RingHash => "ring_hash",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backend {
    pub address: SocketAddr,
    /// > 0; default 1.
    pub weight: u32,
}
