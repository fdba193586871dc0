//! The admin listener: health and readiness, Prometheus metrics, the admin API and the
//! dashboard (see SPEC "Admin API").
//!
//! Off the data path: everything it shows or changes goes through [`AdminOps`], implemented by
//! the control plane; it never reaches into connections. When a token is configured, `/api/*`
//! requires `Authorization: Bearer TOKEN` (compared in constant time); `/metrics` requires the
//! metrics token when one is configured; probes stay open. Without a token, requests must name
//! this listener in `Host` (the `access` module has the rules against DNS rebinding). Every 401 and
//! 403 is reported through [`AdminOps::denied`] for the audit log.

mod access;
mod dashboard;

pub use access::{token_matches, Access};

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// What the admin endpoints need from the rest of Fulcrum.
pub trait AdminOps: Send + Sync + 'static {
    /// The tokens in force; read for every request, so a reload that changes them applies
    /// from the next request on.
    fn access(&self) -> Access;
    /// A request answered 401 or 403, for the audit log: who (`client`), what (`request`:
    /// method and path) and why. The presented token is never passed.
    fn denied(&self, client: &str, request: &str, status: u16, reason: &str);
    /// Every listener is bound and the configuration loaded.
    fn ready(&self) -> bool;
    /// `GET /api/v1/pools`.
    fn pools(&self) -> Value;
    /// `GET /api/v1/guards`: every listener's and route's protections and their counts.
    fn guards(&self) -> Value;
    /// `POST /api/v1/reload`: `Err` carries the validation errors.
    fn reload(&self, client: &str) -> Result<(), String>;
    /// `POST /api/v1/pools/{pool}/backends`: `Err((status, message))`.
    fn add_backend(
        &self,
        client: &str,
        pool: &str,
        address: &str,
        weight: u32,
    ) -> Result<(), (u16, String)>;
    /// `DELETE /api/v1/pools/{pool}/backends/{address}`.
    fn remove_backend(&self, client: &str, pool: &str, address: &str) -> Result<(), (u16, String)>;
    /// `GET /metrics`, Prometheus text format.
    fn metrics(&self) -> String;
}

/// Largest request body the API reads.
const MAX_BODY: usize = 64 * 1024;

type Resp = Response<Full<Bytes>>;

fn text(status: StatusCode, body: impl Into<Bytes>, content_type: &'static str) -> Resp {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn plain(status: StatusCode, body: &'static str) -> Resp {
    text(
        status,
        Bytes::from_static(body.as_bytes()),
        "text/plain; charset=utf-8",
    )
}

fn json_resp(status: StatusCode, v: &Value) -> Resp {
    let mut body = serde_json::to_vec_pretty(v).unwrap_or_default();
    body.push(b'\n');
    text(status, body, "application/json")
}

fn error(status: u16, message: &str) -> Resp {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_resp(status, &json!({ "error": message }))
}

/// No `Origin`, or one naming this very host.
fn same_origin(req: &Request<Incoming>) -> bool {
    let Some(origin) = req.headers().get(header::ORIGIN) else {
        return true;
    };
    let host = req.headers().get(header::HOST).map(|h| h.as_bytes());
    let origin = origin.as_bytes();
    let authority = origin
        .strip_prefix(b"http://")
        .or_else(|| origin.strip_prefix(b"https://"));
    matches!((authority, host), (Some(a), Some(h)) if a == h)
}

/// Percent-decode one path segment (`%5B%3A%3A1%5D%3A9003` → `[::1]:9003`).
fn decode_segment(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The longest path an audit line quotes.
const AUDIT_PATH: usize = 200;

/// Answer 401 or 403 with `reason`, and report it for the audit log.
fn deny(
    ops: &dyn AdminOps,
    client: SocketAddr,
    req: &Request<Incoming>,
    status: u16,
    reason: &str,
) -> Resp {
    let path = req.uri().path();
    let cut = (0..=path.len().min(AUDIT_PATH))
        .rev()
        .find(|&i| path.is_char_boundary(i))
        .unwrap_or(0);
    let request = format!("{} {}", req.method(), &path[..cut]);
    ops.denied(&client.to_string(), &request, status, reason);
    let mut r = error(status, reason);
    if status == 401 {
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    r
}

/// Answer one admin request that came in on `local` from `client`.
pub async fn respond(
    ops: &dyn AdminOps,
    client: SocketAddr,
    local: SocketAddr,
    req: Request<Incoming>,
) -> Resp {
    let path = req.uri().path().to_string();
    let method = req.method().clone();
    let get = method == Method::GET || method == Method::HEAD;
    // Probes carry no data and need no credential: load balancers and kubelets name the host
    // as they like.
    let probe = matches!(path.as_str(), "/healthz" | "/ready");
    if !probe {
        let access = ops.access();
        let tokens = access.tokens_for(&path);
        if !tokens.is_empty() && !access::bearer_matches(&req, &tokens) {
            return deny(ops, client, &req, 401, "missing or wrong bearer token");
        }
        // Without a token, being unreachable from elsewhere is the only protection: a page
        // that rebinds its own name to this address must not get through.
        let unauthenticated = tokens.is_empty();
        let guarded = local.ip().to_canonical().is_loopback() || access.token.is_none();
        if unauthenticated && guarded && !access::names_this_listener(&req, local) {
            return deny(
                ops,
                client,
                &req,
                403,
                "Host must be localhost or this listener's address (DNS rebinding protection)",
            );
        }
    }
    match path.as_str() {
        "/healthz" if get => return plain(StatusCode::OK, "ok\n"),
        "/ready" if get => {
            return if ops.ready() {
                plain(StatusCode::OK, "ready\n")
            } else {
                plain(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")
            }
        }
        "/metrics" if get => {
            return text(
                StatusCode::OK,
                ops.metrics(),
                "text/plain; version=0.0.4; charset=utf-8",
            )
        }
        "/" if get => return text(StatusCode::OK, dashboard::PAGE, "text/html; charset=utf-8"),
        "/healthz" | "/ready" | "/metrics" | "/" => {
            return plain(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
        }
        _ => {}
    }
    let Some(api) = path.strip_prefix("/api/v1/") else {
        return plain(StatusCode::NOT_FOUND, "not found\n");
    };
    // A browser on another site can send "simple" cross-site requests to a loopback admin
    // port: changes are refused when they come with a foreign Origin.
    if method != Method::GET && method != Method::HEAD && !same_origin(&req) {
        return deny(ops, client, &req, 403, "cross-origin request refused");
    }
    let who = client.to_string();
    let segments: Vec<&str> = api.split('/').collect();
    match (&method, segments.as_slice()) {
        (&Method::GET, ["pools"]) => json_resp(StatusCode::OK, &ops.pools()),
        (&Method::GET, ["guards"]) => json_resp(StatusCode::OK, &ops.guards()),
        (&Method::POST, ["reload"]) => match ops.reload(&who) {
            Ok(()) => json_resp(StatusCode::OK, &json!({ "result": "reloaded" })),
            Err(e) => error(400, &e),
        },
        (&Method::POST, ["pools", pool, "backends"]) => {
            let pool = decode_segment(pool).unwrap_or_default();
            let json = req
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.trim_start().starts_with("application/json"));
            if !json {
                return error(
                    415,
                    "send the backend as JSON, with Content-Type: application/json",
                );
            }
            let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return error(413, "request body too large or cut short"),
            };
            #[derive(serde::Deserialize)]
            #[serde(deny_unknown_fields)]
            struct Add {
                address: String,
                #[serde(default = "one")]
                weight: u32,
            }
            fn one() -> u32 {
                1
            }
            let add: Add = match serde_json::from_slice(&body) {
                Ok(a) => a,
                Err(e) => {
                    return error(
                        400,
                        &format!("expected {{\"address\": \"IP:PORT\", \"weight\": 1}}: {e}"),
                    )
                }
            };
            match ops.add_backend(&who, &pool, &add.address, add.weight) {
                Ok(()) => json_resp(
                    StatusCode::CREATED,
                    &json!({ "pool": pool, "address": add.address, "weight": add.weight }),
                ),
                Err((status, msg)) => error(status, &msg),
            }
        }
        (&Method::DELETE, ["pools", pool, "backends", address]) => {
            let pool = decode_segment(pool).unwrap_or_default();
            let address = decode_segment(address).unwrap_or_default();
            match ops.remove_backend(&who, &pool, &address) {
                Ok(()) => json_resp(
                    StatusCode::ACCEPTED,
                    &json!({ "pool": pool, "address": address, "state": "draining" }),
                ),
                Err((status, msg)) => error(status, &msg),
            }
        }
        (_, ["pools"] | ["reload"] | ["pools", _, "backends"] | ["pools", _, "backends", _]) => {
            error(405, "method not allowed")
        }
        _ => error(404, "no such API path"),
    }
}

/// Serve the admin endpoints on `listener` until `shutdown` turns true. The tokens are read
/// from `ops` for every request.
pub async fn serve(
    listener: TcpListener,
    ops: Arc<dyn AdminOps>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let (stream, peer) = tokio::select! {
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "admin accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let Ok(local) = stream.local_addr() else {
            continue;
        };
        let ops = ops.clone();
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let ops = ops.clone();
                async move { Ok::<_, Infallible>(respond(&*ops, peer, local, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_decode() {
        assert_eq!(
            decode_segment("%5B%3A%3A1%5D%3A9003").unwrap(),
            "[::1]:9003"
        );
        assert_eq!(decode_segment("127.0.0.1:80").unwrap(), "127.0.0.1:80");
        assert!(decode_segment("%zz").is_none());
    }
}
