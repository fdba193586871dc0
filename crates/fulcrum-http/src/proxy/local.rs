//! Answers Fulcrum gives itself (`respond`, `redirect`, the https redirect) and the target
//! the backend is sent.

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode, Uri};
use hyper::body::Incoming;

use crate::body::ProxyBody;
use crate::error::ProxyError;

pub(super) fn local(status: StatusCode, body: Bytes) -> Response<ProxyBody> {
    let mut resp = Response::new(ProxyBody::full(body));
    *resp.status_mut() = status;
    resp
}

/// `https_redirect`: 308 to the same URL on https (RFC 9110 §15.4.9 keeps method and body).
/// `host` is the request's validated authority.
pub(super) fn https_redirect(
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

/// The request target with its path in normal form and the query as received.
pub(super) fn normal_target(
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
