//! Proxy errors and the one place where they become HTTP responses.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

/// `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers).
pub const RATELIMIT_POLICY: http::HeaderName = http::HeaderName::from_static("ratelimit-policy");
pub const RATELIMIT: http::HeaderName = http::HeaderName::from_static("ratelimit");

/// Which side of the proxy an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    /// The client sent something we refuse.
    Downstream,
    /// The backend failed.
    Upstream,
    /// Fulcrum itself (configuration, no route, no backend).
    Internal,
}

/// Everything that can end a proxied request early.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("no route matches this request")]
    NoRoute,
    #[error("no healthy backend in the pool")]
    NoBackend,
    #[error("the backend refused the connection")]
    ConnectRefused(#[source] std::io::Error),
    #[error("the backend did not accept the connection in time")]
    ConnectTimeout,
    #[error("the TLS handshake with the backend failed")]
    TlsHandshake(#[source] std::io::Error),
    #[error("the backend closed or reset the connection")]
    UpstreamReset(#[source] hyper::Error),
    #[error("the backend closed or reset the connection")]
    BackendClosed(#[source] std::io::Error),
    #[error("the backend's response is malformed")]
    BadResponse(&'static str),
    #[error("the backend did not respond in time")]
    UpstreamTimeout,
    #[error("the request body is larger than allowed")]
    BodyTooLarge,
    #[error("the request body is malformed or was cut short")]
    BadRequestBody,
    #[error("the request's host is not a valid host name or address")]
    InvalidHost,
    #[error("the request path is ambiguous: {0}")]
    AmbiguousPath(&'static str),
    #[error("the backend switched protocols for a request that did not ask to")]
    UnexpectedUpgrade,
    #[error("this connection's TLS certificate is not the one for the request's host")]
    Misdirected,
    #[error("this HTTP/2 connection is closing: it reset too many streams early")]
    ConnectionClosing,
    /// An access list refused the client (`[listener.access]`); says why.
    #[error("{0}")]
    Forbidden(&'static str),
    /// The web application firewall refused the request (`[listener.waf]`, `mode =
    /// "block"`): the attack class and the part of the request it was found in (never the
    /// input itself).
    #[error("the web application firewall refused this request ({class} in the {part})")]
    WafBlocked {
        class: &'static str,
        part: &'static str,
    },
    /// A rate limit refused the request (`[listener.rate_limit]`).
    #[error("too many requests: the rate limit was reached; retry after {} s", .0.retry_after)]
    RateLimited(Box<Throttled>),
    /// Authentication found no valid credentials (`[listener.auth]`): 401 with the challenge.
    #[error("authentication is required: {}", .0.reason)]
    Unauthorized(Box<Challenge>),
    /// Authenticated, but the route's `require` does not let this identity in.
    #[error("{reason}")]
    AuthForbidden {
        kind: &'static str,
        reason: &'static str,
    },
    /// `CONNECT`: a reverse proxy tunnels nothing (RFC 9110 §9.3.6 lets it answer 501).
    #[error("CONNECT is not supported: this is a reverse proxy")]
    ConnectNotImplemented,
}

/// What a 401 tells the client.
#[derive(Debug)]
pub struct Challenge {
    /// The authentication kind (`api_key`, `basic`, `jwt`, `mtls`), for the log.
    pub kind: &'static str,
    /// Why, in words that never hold the credential.
    pub reason: &'static str,
    /// `WWW-Authenticate`.
    pub www_authenticate: HeaderValue,
}

/// What a 429 tells the client (draft-ietf-httpapi-ratelimit-headers).
#[derive(Debug)]
pub struct Throttled {
    /// Whole seconds, at least 1 (`Retry-After`).
    pub retry_after: u64,
    /// `RateLimit-Policy`.
    pub policy: HeaderValue,
    /// `RateLimit`: `"NAME";r=0;t=SECONDS`.
    pub ratelimit: HeaderValue,
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::NoRoute => StatusCode::NOT_FOUND,
            ProxyError::NoBackend => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::ConnectRefused(_)
            | ProxyError::UpstreamReset(_)
            | ProxyError::BackendClosed(_)
            | ProxyError::BadResponse(_)
            | ProxyError::TlsHandshake(_) => StatusCode::BAD_GATEWAY,
            ProxyError::ConnectTimeout | ProxyError::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::BadRequestBody | ProxyError::InvalidHost | ProxyError::AmbiguousPath(_) => {
                StatusCode::BAD_REQUEST
            }
            ProxyError::UnexpectedUpgrade => StatusCode::BAD_GATEWAY,
            ProxyError::Misdirected => StatusCode::MISDIRECTED_REQUEST,
            ProxyError::ConnectionClosing => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::Forbidden(_)
            | ProxyError::AuthForbidden { .. }
            | ProxyError::WafBlocked { .. } => StatusCode::FORBIDDEN,
            ProxyError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ProxyError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ProxyError::ConnectNotImplemented => StatusCode::NOT_IMPLEMENTED,
        }
    }

    pub fn source_side(&self) -> ErrorSource {
        match self {
            ProxyError::NoRoute | ProxyError::NoBackend => ErrorSource::Internal,
            ProxyError::BodyTooLarge
            | ProxyError::BadRequestBody
            | ProxyError::InvalidHost
            | ProxyError::AmbiguousPath(_)
            | ProxyError::Misdirected
            | ProxyError::ConnectionClosing
            | ProxyError::Forbidden(_)
            | ProxyError::Unauthorized(_)
            | ProxyError::AuthForbidden { .. }
            | ProxyError::WafBlocked { .. }
            | ProxyError::RateLimited(_)
            | ProxyError::ConnectNotImplemented => ErrorSource::Downstream,
            ProxyError::ConnectRefused(_)
            | ProxyError::UnexpectedUpgrade
            | ProxyError::ConnectTimeout
            | ProxyError::TlsHandshake(_)
            | ProxyError::UpstreamReset(_)
            | ProxyError::BackendClosed(_)
            | ProxyError::BadResponse(_)
            | ProxyError::UpstreamTimeout => ErrorSource::Upstream,
        }
    }

    /// The guard that refused the request, for the access log's `guard` field.
    pub fn guard(&self) -> Option<fulcrum_guard::GuardKind> {
        match self {
            ProxyError::Forbidden(_) => Some(fulcrum_guard::GuardKind::Access),
            ProxyError::RateLimited(_) => Some(fulcrum_guard::GuardKind::RateLimit),
            ProxyError::Unauthorized(_) | ProxyError::AuthForbidden { .. } => {
                Some(fulcrum_guard::GuardKind::Auth)
            }
            ProxyError::WafBlocked { .. } => Some(fulcrum_guard::GuardKind::Waf),
            _ => None,
        }
    }

    /// An authentication refusal's kind and reason (for its log line).
    pub fn auth_failure(&self) -> Option<(&'static str, &'static str)> {
        match self {
            ProxyError::Unauthorized(c) => Some((c.kind, c.reason)),
            ProxyError::AuthForbidden { kind, reason } => Some((kind, reason)),
            _ => None,
        }
    }

    /// Whether another backend could be tried (when the request allows it): the request never
    /// reached a backend's application.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            ProxyError::ConnectRefused(_) | ProxyError::ConnectTimeout
        )
    }

    /// The response for this error: a short text body naming the reason and the request id,
    /// never internal addresses or a stack trace.
    pub fn to_response<B: From<Bytes>>(&self, request_id: &HeaderValue) -> Response<B> {
        let status = self.status();
        let id = String::from_utf8_lossy(request_id.as_bytes());
        let body = format!(
            "{} {}: {}\nrequest id: {}\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            self,
            id
        );
        let mut resp = Response::new(B::from(Bytes::from(body)));
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        h.insert(crate::headers::X_REQUEST_ID, request_id.clone());
        if let ProxyError::RateLimited(t) = self {
            h.insert(header::RETRY_AFTER, HeaderValue::from(t.retry_after));
            h.insert(RATELIMIT_POLICY, t.policy.clone());
            h.insert(RATELIMIT, t.ratelimit.clone());
        }
        if let ProxyError::Unauthorized(c) = self {
            h.insert(header::WWW_AUTHENTICATE, c.www_authenticate.clone());
        }
        // A refusal by a guard is an answer like any other: the connection stays usable.
        if self.source_side() == ErrorSource::Downstream && self.guard().is_none() {
            h.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_name_reason_and_request_id() {
        let id = HeaderValue::from_static("rid-1");
        let cases: [(ProxyError, u16, &str); 4] = [
            (ProxyError::NoRoute, 404, "no route"),
            (ProxyError::NoBackend, 503, "no healthy backend"),
            (ProxyError::UpstreamTimeout, 504, "did not respond in time"),
            (ProxyError::BodyTooLarge, 413, "larger than allowed"),
        ];
        for (e, status, text) in cases {
            let r: Response<Bytes> = e.to_response(&id);
            assert_eq!(r.status().as_u16(), status);
            let body = String::from_utf8_lossy(r.body()).into_owned();
            assert!(body.contains(text) && body.contains("rid-1"), "{body}");
            assert_eq!(r.headers()["x-request-id"], "rid-1");
        }
    }
}
