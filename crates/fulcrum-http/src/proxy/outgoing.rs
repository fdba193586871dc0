//! The request a backend is sent: the client's head with hop-by-hop fields removed, our own
//! framing, `Host`, the forwarding headers, the mTLS and authenticated identity headers, the
//! request id, and the normal path the route matched; always HTTP/1.1 on the wire (or HTTP/2
//! by ALPN).

use std::net::IpAddr;

use http::request::Parts;
use http::uri::PathAndQuery;
use http::{header, HeaderValue, Uri, Version};

use super::ConnCtx;
use crate::backend::BackendState;
use crate::forwarded;
use crate::headers;
use crate::state::{ListenerState, PoolState};

/// What the backend's request is made from, besides the client's head.
pub(super) struct Outgoing<'a> {
    pub cx: &'a ConnCtx,
    pub listener: &'a ListenerState,
    pub pool: &'a PoolState,
    pub backend: &'a BackendState,
    pub request_id: &'a HeaderValue,
    /// The upgrade is allowed: `Upgrade` and `Connection: upgrade` go on.
    pub upgrade: bool,
    /// The request's authority, forwarded as `X-Forwarded-Host` (and `Host` when it had none).
    pub host: Option<&'a HeaderValue>,
    /// The client's address ([`forwarded::client_ip`]) and whether the peer is trusted.
    pub client: IpAddr,
    pub trusted: bool,
    /// The normal path the route matched, when it differs from the target as received.
    pub rewritten: Option<PathAndQuery>,
    /// The body has no known length: it goes on chunked.
    pub chunked: bool,
    /// `forward_identity`: the field and the authenticated identity (see `admission`).
    pub forward: Option<(&'a http::HeaderName, Option<HeaderValue>)>,
}

/// Turn the client's request head into the backend's.
pub(super) fn rewrite(parts: &mut Parts, o: Outgoing<'_>) {
    // gRPC needs `te: trailers` end to end; it is hop-by-hop, so it is re-added explicitly
    // for TLS pools, where the backend connection may be HTTP/2 (RFC 9113 §8.2.2 allows it).
    let te_trailers = o.pool.tls.is_some()
        && parts
            .headers
            .get(header::TE)
            .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    headers::strip_hop_by_hop(&mut parts.headers, o.upgrade);
    if te_trailers {
        parts
            .headers
            .insert(header::TE, HeaderValue::from_static("trailers"));
    }
    parts.headers.remove(header::EXPECT);
    // A body of unknown length goes on chunked, whatever the method: hyper's client would
    // otherwise send a GET's body as empty (it frames by method when no length is given),
    // silently dropping the client's body and hiding a malformed chunk behind a 200.
    if o.chunked {
        parts.headers.insert(
            header::TRANSFER_ENCODING,
            HeaderValue::from_static("chunked"),
        );
    }
    match o.host {
        Some(h) => {
            if !parts.headers.contains_key(header::HOST) {
                parts.headers.insert(header::HOST, h.clone());
            }
        }
        // HTTP/1.0 clients may omit Host, but the request goes on as HTTP/1.1, which
        // requires it (RFC 9112 §3.2): name the backend, as NGINX does with its upstream.
        None => {
            if let Ok(v) = HeaderValue::from_str(&o.backend.label) {
                parts.headers.insert(header::HOST, v);
            }
        }
    }
    let cx = o.cx;
    let client_value = match o.client == cx.peer.ip() {
        true => cx.peer_ip.clone(),
        false => headers::ip_value(o.client),
    };
    forwarded::rewrite(
        &mut parts.headers,
        &forwarded::Hop {
            peer: &cx.peer_ip,
            trusted: o.trusted,
            client: &client_value,
            proto: &cx.proto,
            host: o.host,
            port: cx.local_port.as_ref(),
        },
    );
    // mTLS identity headers: only Fulcrum sets them, never the client.
    for (name, value) in [
        (
            &o.listener.client_subject_header,
            cx.client_cert.as_ref().map(|c| &c.subject),
        ),
        (
            &o.listener.client_san_header,
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
    // The authenticated identity: only Fulcrum sets it, never the client.
    if let Some((name, value)) = o.forward {
        parts.headers.remove(name);
        if let Some(v) = value {
            parts.headers.insert(name.clone(), v);
        }
    }
    parts
        .headers
        .insert(headers::X_REQUEST_ID, o.request_id.clone());
    parts.uri = match (o.rewritten, parts.uri.path_and_query()) {
        (Some(pq), _) => Uri::from(pq),
        (None, Some(pq)) => Uri::from(pq.clone()),
        (None, None) => Uri::from_static("/"),
    };
    parts.version = Version::HTTP_11;
}
