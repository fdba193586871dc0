//! The JWKS fetchers: one task per JWKS URL cell in the snapshots (`[listener.auth] kind =
//! "jwt"` with `jwks = "https://..."`), started by the control task's tick, ended when the
//! snapshots holding the cell are gone. Each fetches at once, then every `jwks_refresh`;
//! after a failure again in 1 s, doubling up to `jwks_refresh`; and sooner when a request
//! asked (a token named an unknown key, or the set has not arrived), but never twice within
//! `jwks_min_refresh`, so a flood of made-up key ids costs at most one fetch per that interval.
//!
//! HTTP/1.0 over TLS (the built-in roots, or `jwks_ca` instead), the body read to the end up
//! to 1 MiB within 10 s; plain http only to loopback (the configuration checks). What it must
//! not do: run on the data path, or hold the control lock while fetching.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use fulcrum_dataplane::{JwksRemote, ListenerState};
use fulcrum_guard::auth::{JwksCell, JwtKeys};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::Control;

/// Running fetchers by cell (its address), with the cell to see when it is gone.
pub(crate) type Fetchers = HashMap<usize, Weak<JwksCell>>;

const MAX_BODY: usize = 1 << 20;
const TIMEOUT: Duration = Duration::from_secs(10);
/// How often a fetcher looks at its cell's "wanted" flag.
const POLL: Duration = Duration::from_millis(100);

fn remotes(l: &ListenerState, out: &mut Vec<JwksRemote>) {
    let routes = l.route_rules.iter().map(|r| &r.guards);
    for g in std::iter::once(&l.guards).chain(routes) {
        if let Some(r) = g.auth.as_ref().and_then(|a| a.jwks.as_ref()) {
            out.push(r.clone());
        }
    }
}

impl Control {
    /// Start a fetcher for every JWKS cell of the current snapshots without one; forget
    /// those whose cell is gone. Must run inside the control runtime.
    pub(crate) fn reconcile_jwks(&self) {
        let mut found = Vec::new();
        {
            let inner = self.lock();
            for rt in inner.listeners.values() {
                remotes(&rt.state.load(), &mut found);
            }
        }
        let mut fetchers = crate::locked(&self.jwks);
        fetchers.retain(|_, cell| cell.strong_count() > 0);
        for r in found {
            let key = Arc::as_ptr(&r.cell) as usize;
            if fetchers.contains_key(&key) {
                continue;
            }
            fetchers.insert(key, Arc::downgrade(&r.cell));
            tokio::spawn(run(
                r.url,
                r.ca,
                r.refresh,
                r.min_refresh,
                Arc::downgrade(&r.cell),
            ));
        }
    }
}

async fn run(
    url: String,
    ca: Option<std::path::PathBuf>,
    refresh: Duration,
    min_refresh: Duration,
    cell: Weak<JwksCell>,
) {
    let mut next = Instant::now();
    let mut last: Option<Instant> = None;
    let mut backoff = Duration::from_secs(1);
    loop {
        let Some(c) = cell.upgrade() else { return };
        let now = Instant::now();
        let asked = c.wanted() && last.is_none_or(|t| now.duration_since(t) >= min_refresh);
        if now >= next || asked {
            last = Some(now);
            c.clear_wanted();
            match tokio::time::timeout(TIMEOUT, fetch(&url, ca.as_deref())).await {
                Ok(Ok(keys)) => {
                    tracing::debug!(url = %url, keys = keys.len(), "JWKS fetched");
                    c.set(keys);
                    next = now + refresh;
                    backoff = Duration::from_secs(1);
                }
                outcome => {
                    let error = match outcome {
                        Ok(Err(e)) => e,
                        _ => "timed out".to_owned(),
                    };
                    tracing::warn!(url = %url, error = %error, retry_in = ?backoff, "JWKS fetch failed");
                    next = now + backoff;
                    backoff = (backoff * 2).min(refresh);
                }
            }
        }
        drop(c);
        tokio::time::sleep(POLL).await;
    }
}

/// GET `url`, parse its body as a JWKS.
async fn fetch(url: &str, ca: Option<&std::path::Path>) -> Result<JwtKeys, String> {
    let uri: http::Uri = url.parse().map_err(|_| "not a valid URL".to_owned())?;
    let tls = uri.scheme_str() == Some("https");
    let host = uri.host().ok_or("no host")?.to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let bare = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let tcp = tokio::net::TcpStream::connect((bare.as_str(), port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let authority = uri.authority().map_or(host.as_str(), |a| a.as_str());
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: application/json\r\n\
         User-Agent: fulcrum\r\n\r\n"
    );
    let raw = if tls {
        let spec = fulcrum_config::model::PoolTls {
            verify: true,
            ca: ca.map(std::path::Path::to_path_buf),
            sni: None,
            client_cert: None,
        };
        let config = fulcrum_tls::client_config(&spec).map_err(|e| format!("TLS: {e}"))?;
        let mut config = (*config).clone();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let name = fulcrum_tls::rustls::pki_types::ServerName::try_from(bare.clone())
            .map_err(|_| format!("{bare:?} is not a server name"))?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        exchange(stream, &request).await?
    } else {
        exchange(tcp, &request).await?
    };
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut headers);
    let head = match resp.parse(&raw) {
        Ok(httparse::Status::Complete(n)) => n,
        _ => return Err("malformed response".to_owned()),
    };
    if resp.code != Some(200) {
        return Err(format!("status {}", resp.code.unwrap_or(0)));
    }
    let body = std::str::from_utf8(raw.get(head..).unwrap_or_default())
        .map_err(|_| "the body is not UTF-8".to_owned())?;
    JwtKeys::parse(body)
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    request: &str,
) -> Result<Vec<u8>, String> {
    s.write_all(request.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = match s.read(&mut buf).await {
            Ok(n) => n,
            // A server that closes without close_notify: what came is the response.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return Err(format!("read: {e}")),
        };
        if n == 0 {
            return Ok(out);
        }
        if out.len() + n > MAX_BODY {
            return Err("the response is larger than 1 MiB".to_owned());
        }
        out.extend_from_slice(&buf[..n]);
    }
}
