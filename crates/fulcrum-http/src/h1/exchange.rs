//! One request on the fast path. Admission reads the request view (authority, normal path,
//! route, pool, backend) and writes the backend's head; then the backend exchange (a pooled
//! connection or a new one, the body, the response head, retries within the pool's budget),
//! then the response body; last the backend connection's return, metrics and the log line.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderValue;
use tokio::net::TcpStream;

use super::client::Client;
use super::local::{self, RequestId, Tail};
use super::names::Kind;
use super::relay::{self, RespBody, Upstream};
use super::request::{self, BodyOut, Outgoing, View};
use super::response::{self, ClientSide, Parsed};
use super::ClientIo;
use crate::access_log::{self, Entry};
use crate::admission::Act;
use crate::backend::{BackendInflight, BackendState};
use crate::error::ProxyError;
use crate::server::Accepted;
use crate::state::{ListenerState, PoolState};

/// What the connection does after a request.
pub(super) enum Next {
    KeepAlive,
    Close,
    /// The request is for hyper; nothing of it was served.
    HandOver,
}

/// What admission decided.
enum Decision {
    HandOver,
    Local {
        status: u16,
        body: Bytes,
        location: Option<HeaderValue>,
    },
    Error(ProxyError),
    Forward {
        pool: Arc<PoolState>,
        backend: Arc<BackendState>,
        key: u64,
    },
}

/// What is kept of the request head once its bytes are consumed.
struct Facts {
    id: RequestId,
    head_request: bool,
    idempotent: bool,
    client_close: bool,
    body: BodyOut,
    route: Option<usize>,
    pool: Option<Arc<PoolState>>,
    log: Option<LogFacts>,
}

struct LogFacts {
    method: String,
    host: Option<String>,
    path: String,
}

/// Serve the request whose head the client connection holds.
pub(super) async fn exchange<IO: ClientIo>(
    conn: &Accepted,
    listener: &Arc<ListenerState>,
    c: &mut Client<IO>,
    peer_ip: &HeaderValue,
    start: Instant,
) -> (Next, Instant) {
    let worker = &*conn.worker;
    let mut out = worker.h1.take_out();
    let (decision, mut facts) = {
        let Some(head) = c.head() else {
            return (Next::Close, start);
        };
        let v = View { buf: &c.buf, head };
        if hands_over(conn, listener, v) {
            worker.h1.give_out(out);
            return (Next::HandOver, start);
        }
        let method = v.method();
        let mut facts = Facts {
            id: RequestId::new(v.first(Kind::RequestId)),
            head_request: method == b"HEAD",
            idempotent: matches!(method, b"GET" | b"HEAD" | b"OPTIONS" | b"PUT" | b"DELETE"),
            client_close: v.connection_lists(b"close"),
            body: match (head.chunked, head.content_length) {
                (true, _) => BodyOut::Chunked,
                (false, Some(n)) => BodyOut::Length(n),
                (false, None) => BodyOut::None,
            },
            route: None,
            pool: None,
            log: worker.access_log.sampled().then(|| LogFacts {
                method: String::from_utf8_lossy(method).into_owned(),
                host: v
                    .first(Kind::Host)
                    .map(|h| String::from_utf8_lossy(h).into_owned()),
                path: {
                    let t = v.target();
                    let p = t.iter().position(|&b| b == b'?').map_or(t, |i| &t[..i]);
                    String::from_utf8_lossy(p).into_owned()
                },
            }),
        };
        let d = admit(conn, listener, v, &mut facts, peer_ip, &mut out, start);
        (d, facts)
    };
    if matches!(decision, Decision::HandOver) {
        worker.h1.give_out(out);
        return (Next::HandOver, start);
    }
    let head_end = c.head_end();
    c.consume(head_end.saturating_sub(c.start));
    let hsts = listener.hsts.as_ref().map(HeaderValue::as_bytes);
    let next = match decision {
        Decision::HandOver => (Next::HandOver, start),
        Decision::Local {
            status,
            body,
            location,
        } => {
            let close = !discard_body(c, &facts) || facts.client_close || stopping(conn);
            out.clear();
            let extra: &[(&[u8], &[u8])] = match &location {
                Some(l) => &[(b"location", l.as_bytes())],
                None => &[],
            };
            local::write(&mut out, status, extra, &body, &Tail { close, hsts });
            let at = record(conn, listener, &facts, status, start);
            let ok = c.write(&out, listener.timeouts.send).await.is_ok();
            log(
                conn,
                listener,
                &facts,
                status,
                start,
                None,
                body.len() as u64,
                ok,
                None,
            );
            (keep(ok && !close), at)
        }
        Decision::Error(e) => {
            let consumed = discard_body(c, &facts);
            fail(conn, listener, c, &facts, e, start, &mut out, consumed).await
        }
        Decision::Forward { pool, backend, key } => {
            forward(
                conn, listener, c, &mut facts, pool, backend, key, start, &mut out,
            )
            .await
        }
    };
    worker.h1.give_out(out);
    flush_counters(conn, c);
    next
}

fn keep(ok: bool) -> Next {
    match ok {
        true => Next::KeepAlive,
        false => Next::Close,
    }
}

fn stopping(conn: &Accepted) -> bool {
    conn.hold.stop.deadline().is_some()
}

/// Whether this request is one for hyper (decided before anything is sent anywhere).
fn hands_over(conn: &Accepted, listener: &ListenerState, v: View<'_>) -> bool {
    let head = v.head;
    // CONNECT is answered here (501), whatever else its head says.
    if v.method() == b"CONNECT" {
        return false;
    }
    head.http10
        || head.upgrade
        || v.target().first() != Some(&b'/')
        || v.first(Kind::Expect).is_some()
        || listener.https_redirect.is_some()
        || (!listener.trusted_proxies.is_empty()
            && crate::forwarded::is_trusted(&listener.trusted_proxies, conn.peer.ip()))
}

/// Admission: authority, path, route, action; for a pool, the backend and its head (in `out`).
fn admit(
    conn: &Accepted,
    listener: &ListenerState,
    v: View<'_>,
    facts: &mut Facts,
    peer_ip: &HeaderValue,
    out: &mut Vec<u8>,
    start: Instant,
) -> Decision {
    if v.method() == b"CONNECT" {
        return Decision::Error(ProxyError::ConnectNotImplemented);
    }
    // HTTP/1.1 has exactly one Host (the guard saw to it); an empty one is no authority.
    let host = match v.first(Kind::Host) {
        Some(h) if crate::authority::is_valid(h) => std::str::from_utf8(h).ok(),
        Some(_) => return Decision::Error(ProxyError::InvalidHost),
        None => None,
    }
    .filter(|h| !h.is_empty());
    // The guard lets obs-text into a query only; what is not UTF-8 there is refused, as
    // hyper refuses it (the target is routed and forwarded as text).
    let Ok(target) = std::str::from_utf8(v.target()) else {
        return Decision::Error(ProxyError::AmbiguousPath("the request target is not UTF-8"));
    };
    let (path, query) = match target.as_bytes().iter().position(|&b| b == b'?') {
        Some(i) => (&target[..i], Some(&target[i + 1..])),
        None => (target, None),
    };
    let admitted = crate::admission::admit(
        listener,
        crate::admission::Connection {
            sni: conn.facts.sni.as_deref(),
            client_cert: conn.facts.client_cert.is_some(),
            cert: conn.facts.client_cert.as_ref().and_then(|c| c.facts()),
            hands_over_tls_pools: true,
        },
        &crate::admission::Request {
            method: v.method(),
            authority: host,
            path,
            query,
            headers: &v,
            // The fast path never serves a trusted front proxy's connection (it goes to
            // hyper), so the client is the peer (a PROXY header's source already).
            client: conn.peer.ip(),
            now: start,
            body: v.head.chunked || v.head.content_length.is_some_and(|n| n > 0),
        },
        conn.worker.id,
    );
    let admitted = match admitted {
        Ok(a) => a,
        Err(r) => {
            facts.route = r.route;
            return Decision::Error(r.error);
        }
    };
    facts.route = Some(admitted.route);
    let waf_body = admitted.waf_body;
    let pool = match admitted.act {
        Act::Respond { status, body } => {
            return Decision::Local {
                status: status.as_u16(),
                body: body.clone(),
                location: None,
            }
        }
        Act::Redirect { status, location } => {
            return Decision::Local {
                status: status.as_u16(),
                body: Bytes::new(),
                location: Some(location.clone()),
            }
        }
        Act::Pool(pool) => pool,
    };
    // hyper reads bodies the WAF inspects (the fast path streams them as they come).
    if pool.tls.is_some() || waf_body {
        return Decision::HandOver;
    }
    facts.pool = Some(pool.clone());
    if let BodyOut::Length(n) = facts.body {
        if n > listener.limits.max_body_bytes {
            return Decision::Error(ProxyError::BodyTooLarge);
        }
    }
    let key = fulcrum_balance::hash_ip(conn.peer.ip());
    let Some(backend) = pool.pick(conn.worker.id, key).cloned() else {
        return Decision::Error(ProxyError::NoBackend);
    };
    let rewritten = admitted.rewritten;
    let forward = admitted.forward;
    let cert = conn.facts.client_cert.as_ref();
    request::write_head(
        v,
        &Outgoing {
            target: rewritten.as_deref().unwrap_or(target).as_bytes(),
            host: host.map(str::as_bytes),
            backend: &backend.label,
            peer: peer_ip.as_bytes(),
            proto: listener.proto.as_bytes(),
            port: conn.facts.local_port.as_ref().map(HeaderValue::as_bytes),
            identity: [
                (
                    listener.client_subject_header.as_ref(),
                    cert.map(|c| c.subject.as_bytes()),
                ),
                (
                    listener.client_san_header.as_ref(),
                    cert.map(|c| c.sans.as_bytes()),
                ),
                match &forward {
                    Some((name, value)) => (Some(*name), value.as_ref().map(|v| v.as_bytes())),
                    None => (None, None),
                },
            ],
            request_id: facts.id.as_bytes(),
            body: facts.body,
        },
        out,
    );
    Decision::Forward { pool, backend, key }
}

/// Read and drop a request body answered locally, if all of it is here; false when some of
/// it is still to come (the connection then closes).
fn discard_body<IO: ClientIo>(c: &mut Client<IO>, facts: &Facts) -> bool {
    if facts.body == BodyOut::None {
        return true;
    }
    let mut sink = Vec::new();
    matches!(
        relay::take_request_body(c, facts.body == BodyOut::Chunked, &mut sink),
        Ok(t) if t.done
    )
}

/// How waiting for a response head ended badly.
enum HeadError {
    /// The backend closed or reset; `received`: after sending part of a response.
    Closed {
        error: std::io::Error,
        received: bool,
    },
    Timeout,
    Bad(ProxyError),
}

/// Forward the request to `backend` of `pool` (or, on a retry, another), then relay the
/// response.
#[allow(clippy::too_many_arguments)]
async fn forward<IO: ClientIo>(
    conn: &Accepted,
    listener: &ListenerState,
    c: &mut Client<IO>,
    facts: &mut Facts,
    pool: Arc<PoolState>,
    backend: Arc<BackendState>,
    key: u64,
    start: Instant,
    out: &mut Vec<u8>,
) -> (Next, Instant) {
    let worker = &*conn.worker;
    let timeouts = listener.timeouts;
    let stall = timeouts.idle.max(timeouts.request);
    let limit = listener.limits.max_body_bytes;
    let deadline = fulcrum_core::time::later(start, timeouts.request);
    let chunked = facts.body == BodyOut::Chunked;
    // The body bytes already read go in the same write as the head.
    let mut body_done = facts.body == BodyOut::None;
    let mut body_bytes = 0u64;
    if !body_done {
        match relay::take_request_body(c, chunked, out) {
            Ok(t) => {
                body_done = t.done;
                body_bytes = t.data;
            }
            Err(_) => {
                return fail(
                    conn,
                    listener,
                    c,
                    facts,
                    ProxyError::BadRequestBody,
                    start,
                    out,
                    false,
                )
                .await
            }
        }
        if body_bytes > limit {
            return fail(
                conn,
                listener,
                c,
                facts,
                ProxyError::BodyTooLarge,
                start,
                out,
                false,
            )
            .await;
        }
    }
    // The whole request is in `out`: it can be sent again (retries, a stale connection).
    let whole = body_done;
    let can_retry = facts.idempotent && pool.retry.attempts > 0 && pool.backends.len() > 1;
    if pool.retry.attempts > 0 && pool.backends.len() > 1 {
        pool.count_request();
    }
    let mut backend = backend;
    let mut inflight = BackendInflight::new(&backend);
    let mut attempts = 0;
    let mut stale = 0;
    // The client's body was read to its end (sent to some backend).
    let mut body_read = body_done;
    let mut rout = worker.h1.take_out();
    let close_client = facts.client_close;
    let side = |stopping: bool| ClientSide {
        head_request: facts.head_request,
        hsts: listener.hsts.as_ref().map(HeaderValue::as_bytes),
        close: close_client || stopping,
    };
    let (mut up, parsed) = loop {
        let pooled = worker.h1.checkout(backend.addr, start);
        let reused = pooled.is_some();
        let stream = match pooled {
            Some(s) => s,
            None => match Box::pin(connect(backend.addr, pool.connect_timeout, deadline)).await {
                Ok(s) => s,
                Err(e) => {
                    pool.report(&backend, true);
                    tracing::debug!(backend = %backend.label, error = %e, "backend failed");
                    match retry_on(&pool, worker, key, &backend, can_retry, &mut attempts) {
                        Some(b) => {
                            inflight = BackendInflight::new(&b);
                            backend = b;
                            continue;
                        }
                        None => {
                            worker.h1.give_out(rout);
                            return fail(conn, listener, c, facts, e, start, out, body_done).await;
                        }
                    }
                }
            },
        };
        let mut up = Upstream {
            stream,
            buf: worker.h1.buf(),
            start: 0,
            end: 0,
        };
        let sent = send(
            &mut up, c, out, body_done, chunked, limit, body_bytes, stall,
        )
        .await;
        let got = match sent {
            Err(SendError::Client(e)) => {
                worker.h1.give(up.buf);
                worker.h1.give_out(rout);
                return fail(conn, listener, c, facts, e, start, out, false).await;
            }
            Err(SendError::Backend(error)) => Err(HeadError::Closed {
                error,
                received: false,
            }),
            Ok(()) => {
                body_read = true;
                rout.clear();
                read_head(
                    &mut up,
                    deadline,
                    &side(stopping(conn)),
                    &mut rout,
                    &mut c.timer,
                )
                .await
            }
        };
        match got {
            Ok(p) => break (up, p),
            Err(err) => {
                worker.h1.give(std::mem::take(&mut up.buf));
                let error = match err {
                    HeadError::Timeout => ProxyError::UpstreamTimeout,
                    HeadError::Bad(e) => {
                        pool.report(&backend, true);
                        e
                    }
                    HeadError::Closed { error, received } => {
                        // A pooled connection the backend closed before answering costs no
                        // request: the same request again on a new connection.
                        if reused && !received && whole && stale < 8 {
                            stale += 1;
                            continue;
                        }
                        pool.report(&backend, true);
                        tracing::debug!(backend = %backend.label, error = %error, "backend failed");
                        if whole && !received {
                            if let Some(b) =
                                retry_on(&pool, worker, key, &backend, can_retry, &mut attempts)
                            {
                                inflight = BackendInflight::new(&b);
                                backend = b;
                                continue;
                            }
                        }
                        ProxyError::BackendClosed(error)
                    }
                };
                worker.h1.give_out(rout);
                // A body that was streamed may have been cut short: the connection closes.
                return fail(conn, listener, c, facts, error, start, out, body_read).await;
            }
        }
    };
    pool.report(&backend, parsed.status >= 500);
    let at = record(conn, listener, facts, parsed.status, start);
    let (complete, bytes, streamed) =
        relay_response(conn, c, &mut up, &parsed, &mut rout, &backend, &timeouts).await;
    let ended = match streamed {
        true => Instant::now(),
        false => at,
    };
    // The connection is reused only at the exact end of a response to a request sent whole.
    let reusable = complete && parsed.reusable && up.pending().is_empty() && !backend.is_draining();
    worker.h1.give(std::mem::take(&mut up.buf));
    if reusable {
        worker
            .h1
            .put(backend.addr, up.stream, ended, crate::upstream::IDLE_EXPIRY);
    }
    worker.h1.give_out(rout);
    log(
        conn,
        listener,
        facts,
        parsed.status,
        start,
        Some(&backend),
        bytes,
        complete,
        None,
    );
    drop(inflight);
    (keep(complete && !close_client && !stopping(conn)), ended)
}

/// Another backend for a retry, when the request, the pool's attempts and its budget allow.
fn retry_on(
    pool: &PoolState,
    worker: &crate::proxy::Worker,
    key: u64,
    failed: &BackendState,
    can_retry: bool,
    attempts: &mut u32,
) -> Option<Arc<BackendState>> {
    if !can_retry || *attempts >= pool.retry.attempts || !pool.try_retry() {
        return None;
    }
    let b = pool.pick_other(worker.id, key, failed)?.clone();
    tracing::debug!(from = %failed.label, to = %b.label, "retrying on another backend");
    *attempts += 1;
    Some(b)
}

/// A new connection to a backend, within its pool's connect timeout and the request's deadline.
async fn connect(
    addr: SocketAddr,
    timeout: Duration,
    deadline: Instant,
) -> Result<TcpStream, ProxyError> {
    let until = deadline.min(fulcrum_core::time::later(Instant::now(), timeout));
    match tokio::time::timeout_at(until.into(), TcpStream::connect(addr)).await {
        Ok(Ok(s)) => {
            fulcrum_net::tune_stream(&s);
            Ok(s)
        }
        Ok(Err(e)) => Err(ProxyError::ConnectRefused(e)),
        Err(_) if until < deadline => Err(ProxyError::ConnectTimeout),
        Err(_) => Err(ProxyError::UpstreamTimeout),
    }
}

enum SendError {
    /// The client's body was refused (malformed, too large) or cut short.
    Client(ProxyError),
    Backend(std::io::Error),
}

/// Send `out` (the head and what is here of the body), then the rest of the body as it comes.
#[allow(clippy::too_many_arguments)]
async fn send<IO: ClientIo>(
    up: &mut Upstream,
    c: &mut Client<IO>,
    out: &[u8],
    done: bool,
    chunked: bool,
    limit: u64,
    bytes: u64,
    stall: Duration,
) -> Result<(), SendError> {
    write_up(up, out, stall).await.map_err(SendError::Backend)?;
    if done {
        return Ok(());
    }
    // The worker's spare output buffer, not a new one per streamed body.
    let mut part = c.worker.h1.take_out();
    let sent = send_rest(up, c, &mut part, chunked, limit, bytes, stall).await;
    c.worker.h1.give_out(part);
    sent
}

/// The body after what came with the head, as it arrives.
async fn send_rest<IO: ClientIo>(
    up: &mut Upstream,
    c: &mut Client<IO>,
    part: &mut Vec<u8>,
    chunked: bool,
    limit: u64,
    mut bytes: u64,
    stall: Duration,
) -> Result<(), SendError> {
    let mut done = false;
    while !done {
        match c.read_more(stall).await {
            Ok(0) | Err(_) => return Err(SendError::Client(ProxyError::BadRequestBody)),
            Ok(_) => {}
        }
        part.clear();
        let t = relay::take_request_body(c, chunked, part)
            .map_err(|_| SendError::Client(ProxyError::BadRequestBody))?;
        bytes += t.data;
        if bytes > limit {
            return Err(SendError::Client(ProxyError::BodyTooLarge));
        }
        done = t.done;
        write_up(up, part, stall)
            .await
            .map_err(SendError::Backend)?;
    }
    Ok(())
}

async fn write_up(up: &mut Upstream, data: &[u8], limit: Duration) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    match tokio::time::timeout(limit, up.stream.write_all(data)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// Read the response head (skipping `1xx`), writing the client's head into `rout`.
async fn read_head(
    up: &mut Upstream,
    deadline: Instant,
    side: &ClientSide<'_>,
    rout: &mut Vec<u8>,
    timer: &mut super::timer::Timer,
) -> Result<Parsed, HeadError> {
    use tokio::io::AsyncReadExt;
    let mut received = false;
    loop {
        if !up.pending().is_empty() {
            match response::parse(up.pending(), side, rout) {
                Ok(Some(p)) if p.status < 200 => {
                    up.consume(p.head_len);
                    continue;
                }
                Ok(Some(p)) => {
                    up.consume(p.head_len);
                    return Ok(p);
                }
                Ok(None) => {}
                Err(e) => return Err(HeadError::Bad(e)),
            }
        }
        if up.end == up.buf.len() {
            if up.start == 0 {
                return Err(HeadError::Bad(ProxyError::BadResponse(
                    "response head too large",
                )));
            }
            up.buf.copy_within(up.start..up.end, 0);
            up.end -= up.start;
            up.start = 0;
        }
        let read = up.stream.read(&mut up.buf[up.end..]);
        match timer.within(deadline, read).await {
            Ok(Ok(0)) => {
                return Err(HeadError::Closed {
                    error: std::io::ErrorKind::UnexpectedEof.into(),
                    received,
                })
            }
            Ok(Ok(n)) => {
                received = true;
                up.end += n;
            }
            Ok(Err(error)) => return Err(HeadError::Closed { error, received }),
            Err(_) => return Err(HeadError::Timeout),
        }
    }
}

/// Relay the response body to the client (its head is in `rout`, sent with the first body
/// bytes). Returns whether it was complete and its data bytes.
async fn relay_response<IO: ClientIo>(
    conn: &Accepted,
    c: &mut Client<IO>,
    up: &mut Upstream,
    parsed: &Parsed,
    rout: &mut Vec<u8>,
    backend: &BackendState,
    timeouts: &fulcrum_config::model::Timeouts,
) -> (bool, u64, bool) {
    let mut body = RespBody::new(parsed.framing);
    let mut total = 0u64;
    let Ok((used, bytes, done)) = body.take(up.pending(), rout) else {
        return (false, 0, false);
    };
    up.consume(used);
    total += bytes;
    if c.write(rout, timeouts.send).await.is_err() {
        return (false, total, false);
    }
    if done {
        return (true, total, false);
    }
    // A body that streams on (rare for small responses) runs boxed, so the connection's
    // task does not hold room for it while it idles.
    let streamed = Box::pin(stream_rest(conn, c, up, &mut body, rout, backend, timeouts));
    let (complete, more) = streamed.await;
    (complete, total + more, true)
}

/// The rest of a response body after the first write; returns whether it ended properly
/// and its data bytes.
async fn stream_rest<IO: ClientIo>(
    conn: &Accepted,
    c: &mut Client<IO>,
    up: &mut Upstream,
    body: &mut RespBody,
    rout: &mut Vec<u8>,
    backend: &BackendState,
    timeouts: &fulcrum_config::model::Timeouts,
) -> (bool, u64) {
    let stall = timeouts.idle.max(timeouts.request);
    let mut total = 0u64;
    let stop = conn.hold.stop.clone();
    let cut = async {
        tokio::select! {
            _ = backend.drain_expired() => {}
            _ = stop.cut() => {}
        }
    };
    tokio::pin!(cut);
    loop {
        rout.clear();
        let n = tokio::select! {
            n = up.read(stall) => n,
            _ = &mut cut => return (false, total),
        };
        match n {
            Ok(0) | Err(_) => {
                let done = body.at_close(rout);
                if done {
                    let _ = c.write(rout, timeouts.send).await;
                }
                return (done, total);
            }
            Ok(_) => {}
        }
        let Ok((used, bytes, done)) = body.take(up.pending(), rout) else {
            return (false, total);
        };
        up.consume(used);
        total += bytes;
        if c.write(rout, timeouts.send).await.is_err() {
            return (false, total);
        }
        if done {
            return (true, total);
        }
    }
}

/// Answer with `e`'s response. The connection stays open (as on the hyper path) unless the
/// client was at fault, the request body was not read to its end (`consumed`), the client
/// asked to close or stopping began.
#[allow(clippy::too_many_arguments)]
async fn fail<IO: ClientIo>(
    conn: &Accepted,
    listener: &ListenerState,
    c: &mut Client<IO>,
    facts: &Facts,
    e: ProxyError,
    start: Instant,
    out: &mut Vec<u8>,
    consumed: bool,
) -> (Next, Instant) {
    let downstream = e.source_side() == crate::error::ErrorSource::Downstream;
    if !downstream {
        tracing::debug!(error = %e, request_id = facts.id.as_str(), "request failed");
    }
    // A guard's refusal (403, 429) keeps the connection, as any answer of ours does.
    let close =
        (downstream && e.guard().is_none()) || !consumed || facts.client_close || stopping(conn);
    out.clear();
    let hsts = listener.hsts.as_ref().map(HeaderValue::as_bytes);
    let status = local::error(out, &e, &facts.id, &Tail { close, hsts });
    let at = record(conn, listener, facts, status, start);
    let ok = c.write(out, listener.timeouts.send).await.is_ok();
    let n = out.len() as u64;
    log(
        conn,
        listener,
        facts,
        status,
        start,
        None,
        n,
        ok,
        Some((e.to_string(), e.guard())),
    );
    (keep(ok && !close), at)
}

/// `fulcrum_requests_total` and `fulcrum_request_duration_seconds` (as the response head goes).
/// Returns when that was.
fn record(
    conn: &Accepted,
    listener: &ListenerState,
    facts: &Facts,
    status: u16,
    start: Instant,
) -> Instant {
    let now = Instant::now();
    if let Some(m) = &listener.metrics {
        let s = m.series(facts.route, facts.pool.as_ref());
        s.status.inc(conn.worker.id, status);
        s.duration
            .observe_duration(conn.worker.id, now.saturating_duration_since(start));
    }
    now
}

/// The access log line, when this request is sampled.
#[allow(clippy::too_many_arguments)]
fn log(
    conn: &Accepted,
    listener: &ListenerState,
    facts: &Facts,
    status: u16,
    start: Instant,
    backend: Option<&BackendState>,
    bytes: u64,
    complete: bool,
    error: Option<(String, Option<fulcrum_guard::GuardKind>)>,
) {
    let Some(l) = &facts.log else { return };
    let (error, guard) = match error {
        Some((e, g)) => (Some(e), g.map(fulcrum_guard::GuardKind::as_str)),
        None => (None, None),
    };
    let entry = Entry {
        ts: access_log::now_ts(),
        listener: &listener.name,
        route: facts
            .route
            .and_then(|i| listener.route_names.get(i))
            .map(String::as_str),
        pool: facts.pool.as_ref().map(|p| p.name.as_str()),
        backend: backend.map(|b| b.label.as_str()),
        client: conn.peer.ip().to_string(),
        method: &l.method,
        host: l.host.as_deref(),
        path: &l.path,
        status,
        bytes_out: bytes,
        duration_ms: start.elapsed().as_secs_f64() * 1000.0,
        request_id: facts.id.as_str(),
        error,
        guard,
        complete,
        engine: "h1",
    };
    conn.worker.access_log.record(&entry);
}

/// `fulcrum_bytes_total` for what this exchange moved on the client connection.
fn flush_counters<IO: ClientIo>(conn: &Accepted, c: &mut Client<IO>) {
    let (bytes_in, bytes_out) = c.take_bytes();
    if let Some(k) = &conn.counters {
        if bytes_in > 0 {
            k.bytes_in.add(k.worker, bytes_in);
        }
        if bytes_out > 0 {
            k.bytes_out.add(k.worker, bytes_out);
        }
    }
}
