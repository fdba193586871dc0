//! The proxy service: one call per request, from route lookup to the streamed response.

use std::cell::Cell;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use hyper::body::Incoming;

use crate::access_log::{self, AccessLog, Entry};
use crate::authority;
use crate::backend::BackendInflight;
use crate::body::{BodyFate, OnEnd, ProxyBody, RequestBody};
use crate::error::ProxyError;
use crate::forwarded;
use crate::guard::ConnActivity;
use crate::headers;
use crate::state::{ListenerState, PoolState, RouteAction, RouteRules};
use crate::upstream::{Sender, UpstreamPool};

/// What a worker thread owns: its index, its backend connection pool, its access log buffer.
pub struct Worker {
    pub id: usize,
    pub upstream: UpstreamPool,
    pub access_log: AccessLog,
}

/// One client connection's context, shared by its requests.
pub struct ConnCtx {
    pub worker: Rc<Worker>,
    pub listener: Arc<ArcSwap<ListenerState>>,
    pub peer: SocketAddr,
    /// `peer`'s address as a header value, for `X-Forwarded-For`.
    pub peer_ip: HeaderValue,
    pub activity: Arc<ConnActivity>,
    /// `http` or `https`, for `X-Forwarded-Proto`.
    pub proto: HeaderValue,
    /// The port the client connected to, for `X-Forwarded-Port`.
    pub local_port: Option<HeaderValue>,
    /// The verified client certificate of a mutual-TLS connection.
    pub client_cert: Option<ClientCert>,
    /// The server name the client sent in its TLS handshake (https listeners).
    pub sni: Option<Box<str>>,
    /// The connection's slot, stop signal and parked tunnel (see `tunnel.rs`).
    pub hold: Rc<crate::server::ConnHold>,
    /// HTTP/2 connections: backend slots, stall registry, premature resets (`h2conn.rs`);
    /// made at the first HTTP/2 request.
    pub h2: std::cell::OnceCell<Rc<crate::h2conn::H2Conn>>,
}

/// What a verified client certificate says, ready to forward in headers.
#[derive(Debug, Clone)]
pub struct ClientCert {
    pub subject: HeaderValue,
    pub sans: HeaderValue,
}

/// Decrements the connection's in-flight count when the response is done or abandoned.
struct ConnInflight(Arc<ConnActivity>);

impl ConnInflight {
    fn new(a: &Arc<ConnActivity>) -> Self {
        a.request_started();
        ConnInflight(a.clone())
    }
}

impl Drop for ConnInflight {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

/// Facts about the request kept for its log line (only when it is sampled).
struct LogFacts {
    method: http::Method,
    host: Option<String>,
    path: String,
}

/// Everything that ends with the response body.
struct Finisher {
    cx: Rc<ConnCtx>,
    _conn: ConnInflight,
    backend: Option<BackendInflight>,
    sender: Option<Sender>,
    start: Instant,
    status: StatusCode,
    request_id: HeaderValue,
    listener: Arc<ListenerState>,
    route: Option<usize>,
    pool: Option<Arc<PoolState>>,
    /// The client's address, once known (see [`crate::forwarded::client_ip`]).
    client: Option<std::net::IpAddr>,
    error: Option<String>,
    log: Option<LogFacts>,
    /// HTTP/2: how the stream ends counts toward premature resets.
    stream: Option<crate::h2conn::StreamGuard>,
    /// HTTP/2: the stream's backend slot (`h2_max_backend_connections`).
    slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl OnEnd for Finisher {
    fn abandoned(&mut self) {
        if let Some(s) = &mut self.stream {
            s.abandoned();
        }
    }

    fn on_end(&mut self, complete: bool, bytes: u64) {
        if let Some(s) = &mut self.stream {
            s.ended();
        }
        self.slot = None;
        if let (Some(sender), Some(b)) = (self.sender.take(), &self.backend) {
            // A draining backend's connections are not pooled again.
            if complete && !b.0.draining.load(Ordering::Relaxed) {
                let tls = self.pool.as_ref().and_then(|p| p.tls.as_ref());
                self.cx.worker.upstream.release(b.0.addr, tls, sender);
            }
        }
        if let Some(facts) = &self.log {
            let entry = Entry {
                ts: access_log::now_ts(),
                listener: &self.listener.name,
                route: self
                    .route
                    .and_then(|i| self.listener.route_names.get(i))
                    .map(String::as_str),
                pool: self.pool.as_ref().map(|p| p.name.as_str()),
                backend: self.backend.as_ref().map(|b| b.0.label.as_str()),
                client: self.client.unwrap_or(self.cx.peer.ip()).to_string(),
                method: facts.method.as_str(),
                host: facts.host.as_deref(),
                path: &facts.path,
                status: self.status.as_u16(),
                bytes_out: bytes,
                duration_ms: self.start.elapsed().as_secs_f64() * 1000.0,
                request_id: self.request_id.to_str().unwrap_or(""),
                error: self.error.take(),
                complete,
            };
            self.cx.worker.access_log.record(&entry);
        }
    }
}

/// The request's authority for its log line: `Host`, else the URI's (unchecked: a refused
/// host is logged as sent).
fn logged_authority(req: &Request<Incoming>) -> Option<&str> {
    match req.headers().get(header::HOST) {
        Some(h) => h.to_str().ok(),
        None => req.uri().authority().map(|a| a.as_str()),
    }
}

/// Whether the request asks to upgrade to a protocol the route tunnels. An upgrade it does not
/// allow (`h2c`, anything unlisted) goes on as a plain request: `Upgrade` and `Connection` are
/// hop-by-hop and removed (RFC 9110 §7.8 lets a server ignore an upgrade).
fn is_upgrade(req: &Request<Incoming>, rules: Option<&RouteRules>) -> bool {
    req.version() == Version::HTTP_11
        && req.headers().contains_key(header::UPGRADE)
        && headers::connection_has(req.headers(), "upgrade")
        && rules.is_some_and(|r| r.allows_upgrade(req.headers().get_all(header::UPGRADE).iter()))
}

/// Serve one request.
pub async fn handle(
    cx: Rc<ConnCtx>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let start = Instant::now();
    let listener = cx.listener.load_full();
    let conn = ConnInflight::new(&cx.activity);
    let h2 = (req.version() == Version::HTTP_2).then(|| {
        cx.h2
            .get_or_init(|| Rc::new(crate::h2conn::H2Conn::new(&listener.limits)))
            .clone()
    });
    let request_id = headers::request_id(req.headers());
    let log = cx.worker.access_log.sampled().then(|| LogFacts {
        method: req.method().clone(),
        host: logged_authority(&req).map(str::to_owned),
        path: req.uri().path().to_owned(),
    });
    let mut fin = Finisher {
        cx: cx.clone(),
        _conn: conn,
        backend: None,
        sender: None,
        start,
        status: StatusCode::OK,
        request_id: request_id.clone(),
        listener: listener.clone(),
        route: None,
        pool: None,
        client: None,
        error: None,
        log,
        stream: h2.as_ref().map(|h| h.stream_started(start)),
        slot: None,
    };
    let mut resp = match route_and_forward(&cx, &listener, req, &mut fin).await {
        Ok(resp) => resp,
        Err(e) => {
            if e.source_side() != crate::error::ErrorSource::Downstream {
                tracing::debug!(error = %e, request_id = ?request_id, "request failed");
            }
            fin.error = Some(e.to_string());
            e.to_response(&request_id)
        }
    };
    fin.status = resp.status();
    if let Some(hsts) = &listener.hsts {
        resp.headers_mut()
            .insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    if let Some(m) = &listener.metrics {
        let series = m.series(fin.route, fin.pool.as_ref());
        series.status.inc(cx.worker.id, fin.status.as_u16());
        series
            .duration
            .observe_duration(cx.worker.id, start.elapsed());
    }
    // HTTP/2 only: the stall registry can cut the stream's body from outside.
    if let Some(h2) = &h2 {
        if let Some(body) = resp.body_mut().watch() {
            h2.register(body);
        }
    }
    resp.body_mut().set_on_end(Box::new(fin));
    Ok(resp)
}

fn local(status: StatusCode, body: Bytes) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::full(body));
    *resp.status_mut() = status;
    resp
}

/// `https_redirect`: 308 to the same URL on https (RFC 9110 §15.4.9 keeps method and body).
/// `host` is the request's validated authority.
fn https_redirect(
    req: &Request<Incoming>,
    host: Option<&str>,
    port: u16,
) -> Result<Response<ProxyBody>, ProxyError> {
    let host = host.ok_or_else(|| ProxyError::NoRoute)?;
    // The host without its port (IPv6 literals keep their brackets).
    let name = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => &host[..i],
        _ => host,
    };
    let path = req.uri().path_and_query().map_or("/", |pq| pq.as_str());
    let location = if port == 443 {
        format!("https://{name}{path}")
    } else {
        format!("https://{name}:{port}{path}")
    };
    let location = HeaderValue::from_str(&location).map_err(|_| ProxyError::NoRoute)?;
    let mut resp = local(StatusCode::PERMANENT_REDIRECT, Bytes::new());
    resp.headers_mut().insert(header::LOCATION, location);
    Ok(resp)
}

/// A bodiless request again, from the copy kept for retries.
fn rebuild(
    copy: &http::request::Builder,
    fate: &Rc<Cell<BodyFate>>,
) -> Option<Request<RequestBody>> {
    let mut b = Request::builder()
        .method(copy.method_ref()?.clone())
        .uri(copy.uri_ref()?.clone())
        .version(copy.version_ref().copied().unwrap_or(Version::HTTP_11));
    if let (Some(dst), Some(src)) = (b.headers_mut(), copy.headers_ref()) {
        *dst = src.clone();
    }
    b.body(RequestBody::empty(fate.clone())).ok()
}

/// The request target with its path in normal form and the query as received.
fn normal_target(
    path: &fulcrum_route::NormalPath<'_>,
    uri: &Uri,
) -> Result<http::uri::PathAndQuery, ProxyError> {
    let mut target =
        String::with_capacity(path.as_str().len() + 1 + uri.query().map_or(0, str::len));
    target.push_str(path.as_str());
    if let Some(q) = uri.query() {
        target.push('?');
        target.push_str(q);
    }
    http::uri::PathAndQuery::from_maybe_shared(Bytes::from(target))
        .map_err(|_| ProxyError::AmbiguousPath("the normalised path is not a valid target"))
}

async fn route_and_forward(
    cx: &Rc<ConnCtx>,
    listener: &ListenerState,
    mut req: Request<Incoming>,
    fin: &mut Finisher,
) -> Result<Response<ProxyBody>, ProxyError> {
    // One check of the authority for HTTP/1 and HTTP/2 alike, before anything uses it.
    let host = authority::authority(req.uri(), req.headers())?;
    // (`ok_or_else` below: an eager `ok_or` builds and drops a `ProxyError` per request.)
    if let (Some(sni), Some(host), Some(tls)) = (cx.sni.as_deref(), host, &listener.tls) {
        if authority::misdirected(tls, sni, host) {
            return Err(ProxyError::Misdirected);
        }
    }
    if let Some(port) = listener.https_redirect {
        return https_redirect(&req, host, port);
    }
    let path = fulcrum_route::normalize_path(req.uri().path())
        .map_err(|e| ProxyError::AmbiguousPath(e.as_str()))?;
    let has_cert = cx.client_cert.is_some();
    let (index, action) = listener
        .routes
        .find_where(host, &path, req.headers(), |i| {
            has_cert
                || !listener
                    .route_needs_client_cert
                    .get(i)
                    .copied()
                    .unwrap_or(false)
        })
        .ok_or_else(|| ProxyError::NoRoute)?;
    fin.route = Some(index);
    let rules = listener.route_rules.get(index);
    if path.has_encoded_slash() && !rules.is_some_and(|r| r.allow_encoded_slashes) {
        return Err(ProxyError::AmbiguousPath("encoded slash in the path"));
    }
    // The backend is sent the path the route matched (with the query as received); a target
    // that is not a path (`OPTIONS *`) goes on as it came.
    let rewritten = match path.is_rewritten() && req.uri().path().starts_with('/') {
        true => Some(normal_target(&path, req.uri())?),
        false => None,
    };
    let peer = cx.peer.ip();
    let trusted = !listener.trusted_proxies.is_empty()
        && forwarded::is_trusted(&listener.trusted_proxies, peer);
    let client = match trusted {
        true => forwarded::client_ip(&listener.trusted_proxies, peer, req.headers()),
        false => peer,
    };
    fin.client = Some(client);
    let pool = match action {
        RouteAction::Respond { status, body } => return Ok(local(*status, body.clone())),
        RouteAction::Redirect { location, status } => {
            let mut resp = local(*status, Bytes::new());
            resp.headers_mut()
                .insert(header::LOCATION, location.clone());
            return Ok(resp);
        }
        RouteAction::Pool(_) | RouteAction::Split { .. } => {
            action.pool().ok_or_else(|| ProxyError::NoBackend)?.clone()
        }
    };
    fin.pool = Some(pool.clone());

    let limit = listener.limits.max_body_bytes;
    if http_body::Body::size_hint(req.body()).lower() > limit {
        return Err(ProxyError::BodyTooLarge);
    }
    let deadline = tokio::time::Instant::from_std(fulcrum_core::time::later(
        Instant::now(),
        listener.timeouts.request,
    ));
    // An HTTP/2 stream waits for one of its connection's backend slots first.
    if let Some(h2) = cx.h2.get() {
        fin.slot = Some(h2.backend_slot(deadline).await?);
    }
    let key = fulcrum_balance::hash_ip(client);
    let backend = pool
        .pick(cx.worker.id, key)
        .ok_or_else(|| ProxyError::NoBackend)?
        .clone();
    fin.backend = Some(BackendInflight::new(&backend));

    let upgrade = is_upgrade(&req, rules);
    // The authority forwarded as `X-Forwarded-Host` (and `Host`, when the request had none).
    let host = match (req.headers().get(header::HOST), host) {
        (_, None) => None,
        (Some(h), Some(_)) => Some(h.clone()),
        (None, Some(a)) => HeaderValue::from_str(a).ok(),
    };
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    // gRPC needs `te: trailers` end to end; it is hop-by-hop, so it is re-added explicitly
    // for TLS pools, where the backend connection may be HTTP/2 (RFC 9113 §8.2.2 allows it).
    let te_trailers = pool.tls.is_some()
        && parts
            .headers
            .get(header::TE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    headers::strip_hop_by_hop(&mut parts.headers, upgrade);
    if te_trailers {
        parts
            .headers
            .insert(header::TE, HeaderValue::from_static("trailers"));
    }
    parts.headers.remove(header::EXPECT);
    // A body of unknown length goes on chunked, whatever the method: hyper's client would
    // otherwise send a GET's body as empty (it frames by method when no length is given),
    // silently dropping the client's body and hiding a malformed chunk behind a 200.
    if !http_body::Body::is_end_stream(&body) && http_body::Body::size_hint(&body).exact().is_none()
    {
        parts.headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
    }
    match &host {
        Some(h) => {
            if !parts.headers.contains_key(header::HOST) {
                parts.headers.insert(header::HOST, h.clone());
            }
        }
        // HTTP/1.0 clients may omit Host, but the request goes on as HTTP/1.1, which
        // requires it (RFC 9112 §3.2): name the backend, as NGINX does with its upstream.
        None => {
            if let Ok(v) = HeaderValue::from_str(&backend.label) {
                parts.headers.insert(header::HOST, v);
            }
        }
    }
    let client_value = match client == peer {
        true => cx.peer_ip.clone(),
        false => headers::ip_value(client),
    };
    forwarded::rewrite(
        &mut parts.headers,
        &forwarded::Hop {
            peer: &cx.peer_ip,
            trusted,
            client: &client_value,
            proto: &cx.proto,
            host: host.as_ref(),
            port: cx.local_port.as_ref(),
        },
    );
    // mTLS identity headers: only Fulcrum sets them, never the client.
    for (name, value) in [
        (
            &listener.client_subject_header,
            cx.client_cert.as_ref().map(|c| &c.subject),
        ),
        (
            &listener.client_san_header,
            cx.client_cert.as_ref().map(|c| &c.sans),
        ),
    ] {
        if let Some(name) = name {
            parts.headers.remove(name);
            if let Some(v) = value {
                parts.headers.insert(name.clone(), v.clone());
            }
        }
    }
    parts
        .headers
        .insert(headers::X_REQUEST_ID, fin.request_id.clone());
    parts.uri = match (rewritten, parts.uri.path_and_query()) {
        (Some(pq), _) => Uri::from(pq),
        (None, Some(pq)) => Uri::from(pq.clone()),
        (None, None) => Uri::from_static("/"),
    };
    parts.version = Version::HTTP_11;
    let fate = Rc::new(Cell::new(BodyFate::Fine));
    // Retries (RFC 9110 §9.2.2): only idempotent requests, only on another backend, only when
    // the body was not streamed. A request refused at connect comes back unsent; one reset
    // before any response byte is rebuilt from a copy, kept only for bodiless requests.
    let idempotent = matches!(
        parts.method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    );
    let can_retry = idempotent && pool.retry.attempts > 0 && pool.backends.len() > 1;
    let spare = (can_retry && http_body::Body::is_end_stream(&body)).then(|| {
        let mut b = Request::builder()
            .method(parts.method.clone())
            .uri(parts.uri.clone())
            .version(parts.version);
        if let Some(h) = b.headers_mut() {
            *h = parts.headers.clone();
        }
        b
    });
    // The retry budget's window counts the requests of pools that can retry at all.
    if pool.retry.attempts > 0 && pool.backends.len() > 1 {
        pool.shared
            .recent_requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let mut req = Request::from_parts(parts, RequestBody::new(body, limit, fate.clone()));
    let body_error = || match fate.get() {
        BodyFate::TooLarge => Some(ProxyError::BodyTooLarge),
        BodyFate::ClientError => Some(ProxyError::BadRequestBody),
        BodyFate::Fine => None,
    };
    let mut backend = backend;
    let mut attempts = 0;
    let (mut resp, sender) = loop {
        let sent = tokio::time::timeout_at(
            deadline,
            cx.worker.upstream.send(
                backend.addr,
                backend.host.as_deref(),
                pool.connect_timeout,
                pool.tls.as_ref(),
                req,
            ),
        )
        .await;
        match sent {
            Ok(Ok((resp, sender))) => {
                pool.report(&backend, resp.status().is_server_error());
                break (resp, sender);
            }
            Ok(Err(failed)) => {
                if let Some(e) = body_error() {
                    return Err(e);
                }
                pool.report(&backend, true);
                tracing::debug!(backend = %backend.label, error = %failed.error, "backend failed");
                let again = match (failed.unsent, &spare) {
                    (Some(unsent), _) => Some(unsent),
                    (None, Some(copy)) if matches!(failed.error, ProxyError::UpstreamReset(_)) => {
                        rebuild(copy, &fate)
                    }
                    _ => None,
                };
                let next = match again {
                    Some(r)
                        if can_retry
                            && attempts < pool.retry.attempts
                            && pool.shared.try_retry(pool.retry.budget_percent) =>
                    {
                        pool.pick_other(cx.worker.id, key, &backend)
                            .cloned()
                            .map(|b| (r, b))
                    }
                    _ => None,
                };
                let Some((r, b)) = next else {
                    return Err(failed.error);
                };
                tracing::debug!(from = %backend.label, to = %b.label, "retrying on another backend");
                attempts += 1;
                fin.backend = Some(BackendInflight::new(&b));
                backend = b;
                req = r;
            }
            Err(_elapsed) => return Err(body_error().unwrap_or(ProxyError::UpstreamTimeout)),
        }
    };

    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        // A backend that switches protocols for a request that did not ask to (or whose
        // upgrade the route does not allow) would leave the client and the backend speaking
        // different protocols on one connection.
        let Some(client_upgrade) = client_upgrade else {
            return Err(ProxyError::UnexpectedUpgrade);
        };
        {
            let backend_upgrade = hyper::upgrade::on(&mut resp);
            crate::tunnel::park(cx, client_upgrade, backend_upgrade, fin.backend.take());
            let (mut parts, _) = resp.into_parts();
            headers::strip_hop_by_hop(&mut parts.headers, true);
            return Ok(Response::from_parts(parts, ProxyBody::full(Bytes::new())));
        }
    }
    let (mut parts, incoming) = resp.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers, false);
    fin.sender = Some(sender);
    Ok(Response::from_parts(
        parts,
        ProxyBody::upstream(incoming, backend),
    ))
}
