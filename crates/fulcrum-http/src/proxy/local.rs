//! Answers Fulcrum gives itself (`respond`, `redirect`, the https redirect).

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
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

/// A request the guard refused with another status than 400 (see `guard::io::refusal`): no
/// body, and the connection closes, as for hyper's own 400.
pub(crate) fn refusal(status: StatusCode) -> Response<ProxyBody> {
    let mut resp = local(status, Bytes::new());
    resp.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    resp
}
