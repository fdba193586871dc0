//! The proxy service: one call per request, from route lookup to the streamed response.
//!
//! By phase: admission here (authority, path, route, client address, pool, backend slot and
//! backend), then the backend's request head (`outgoing.rs`), sending with retries
//! (`send.rs`), and the response — streamed, or a tunnel after `101`. Local answers are in
//! `local.rs`; what ends with the response body in `finish.rs`.

mod finish;
mod local;
mod outgoing;
mod send;

use finish::{ConnInflight, Finisher, LogFacts};

use std::convert::Infallible;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode, Version};
use hyper::body::Incoming;

use crate::access_log::AccessLog;
use crate::admission::{self, Act};
use crate::authority;
use crate::backend::BackendInflight;
use crate::body::ProxyBody;
use crate::error::ProxyError;
use crate::forwarded;
use crate::guard::ConnActivity;
use crate::headers;
use crate::state::{ListenerState, RouteRules};
use crate::upstream::UpstreamPool;

/// What a worker thread owns: its index, its backend connection pool, its access log buffer.
pub struct Worker {
    pub id: usize,
    pub upstream: UpstreamPool,
    /// The fast path's backend connections and buffers.
    pub h1: crate::h1::Pool,
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

impl ClientCert {
    /// The subject and SANs as the authentication guard reads them.
    pub fn facts(&self) -> Option<fulcrum_guard::auth::Cert<'_>> {
        Some(fulcrum_guard::auth::Cert {
            subject: self.subject.to_str().ok()?,
            sans: self.sans.to_str().ok()?,
        })
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
    if let Some(status) = crate::guard::io::refusal(&cx.activity, req.headers()) {
        return Ok(local::refusal(status));
    }
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
        guard: None,
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
            fin.guard = e.guard();
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

async fn route_and_forward(
    cx: &Rc<ConnCtx>,
    listener: &ListenerState,
    mut req: Request<Incoming>,
    fin: &mut Finisher,
) -> Result<Response<ProxyBody>, ProxyError> {
    if req.method() == http::Method::CONNECT {
        return Err(ProxyError::ConnectNotImplemented);
    }
    // One check of the authority for HTTP/1 and HTTP/2 alike, before anything uses it.
    let host = authority::authority(req.uri(), req.headers())?;
    if let Some(port) = listener.https_redirect {
        return local::https_redirect(&req, host, port);
    }
    let peer = cx.peer.ip();
    let trusted = !listener.trusted_proxies.is_empty()
        && forwarded::is_trusted(&listener.trusted_proxies, peer);
    let client = match trusted {
        true => forwarded::client_ip(&listener.trusted_proxies, peer, req.headers()),
        false => peer,
    };
    fin.client = Some(client);
    let admitted = admission::admit(
        listener,
        admission::Connection {
            sni: cx.sni.as_deref(),
            client_cert: cx.client_cert.is_some(),
            cert: cx.client_cert.as_ref().and_then(|c| c.facts()),
            hands_over_tls_pools: false,
        },
        &admission::Request {
            method: req.method().as_str().as_bytes(),
            authority: host,
            path: req.uri().path(),
            query: req.uri().query(),
            headers: req.headers(),
            client,
            now: fin.start,
            body: !http_body::Body::is_end_stream(req.body()),
        },
        cx.worker.id,
    )
    .map_err(|r| {
        fin.route = r.route;
        r.error
    })?;
    fin.route = Some(admitted.route);
    let route = admitted.route;
    let waf_body = admitted.waf_body;
    let rules = listener.route_rules.get(admitted.route);
    // The backend is sent the path the route matched (with the query as received).
    let rewritten = admitted
        .rewritten
        .map(|t| http::uri::PathAndQuery::from_maybe_shared(Bytes::from(t)))
        .transpose()
        .map_err(|_| ProxyError::AmbiguousPath("the normalised path is not a valid target"))?;
    let pool = match admitted.act {
        Act::Respond { status, body } => return Ok(local::local(status, body.clone())),
        Act::Redirect { status, location } => {
            let mut resp = local::local(status, Bytes::new());
            resp.headers_mut()
                .insert(header::LOCATION, location.clone());
            return Ok(resp);
        }
        Act::Pool(pool) => pool,
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
    // The authority forwarded as `X-Forwarded-Host` (and `Host`, when the request had none).
    let host = match (req.headers().get(header::HOST), host) {
        (_, None) => None,
        (Some(h), Some(_)) => Some(h.clone()),
        (None, Some(a)) => HeaderValue::from_str(a).ok(),
    };
    // The framing as the client sent it (reading the WAF's prefix may end the body).
    let chunked = !http_body::Body::is_end_stream(req.body())
        && http_body::Body::size_hint(req.body()).exact().is_none();
    // The WAF reads the first `max_body_inspect` bytes before a backend is chosen.
    let prefix = match rules
        .and_then(|r| r.guards.waf.as_ref())
        .filter(|_| waf_body)
    {
        Some(w) => {
            let max = w.waf.max_body_inspect();
            let p = crate::body::read_prefix(req.body_mut(), max, deadline).await?;
            let ct = req
                .headers()
                .get(header::CONTENT_TYPE)
                .map(HeaderValue::as_bytes);
            let data = p.data.as_deref().unwrap_or(&[]);
            admission::inspect_body(listener, route, ct, data, client, cx.worker.id)?;
            Some(p)
        }
        None => None,
    };
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
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    outgoing::rewrite(
        &mut parts,
        outgoing::Outgoing {
            cx,
            listener,
            pool: &pool,
            backend: &backend,
            request_id: &fin.request_id,
            upgrade,
            host: host.as_ref(),
            client,
            trusted,
            rewritten,
            chunked,
            forward: admitted.forward,
        },
    );
    let send::Sent {
        mut resp,
        sender,
        backend,
    } = send::send(
        cx,
        &pool,
        backend,
        key,
        parts,
        body,
        prefix,
        limit,
        deadline,
        &mut fin.backend,
    )
    .await?;

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
