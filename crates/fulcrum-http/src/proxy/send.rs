//! Sending a request to a backend, and the retries (RFC 9110 §9.2.2): only idempotent
//! requests, only on another backend, only when the body was not streamed, within the pool's
//! attempts and retry budget.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;

use http::request::Parts;
use http::{Method, Request, Response, Version};
use hyper::body::Incoming;

use super::ConnCtx;
use crate::backend::{BackendInflight, BackendState};
use crate::body::{BodyFate, Prefix, RequestBody};
use crate::error::ProxyError;
use crate::state::PoolState;
use crate::upstream::Sender;

/// A backend's answer, the connection it came on and the backend that gave it.
pub(super) struct Sent {
    pub resp: Response<Incoming>,
    pub sender: Sender,
    pub backend: Arc<BackendState>,
}

/// Send the request (`parts` and the client's `body`, cut at `limit` bytes) to `backend`,
/// retrying on another backend of `pool` when allowed, until `deadline`. `inflight` follows
/// the backend being tried; `key` is the client's balancing key.
#[allow(clippy::too_many_arguments)]
pub(super) async fn send(
    cx: &ConnCtx,
    pool: &PoolState,
    backend: Arc<BackendState>,
    key: u64,
    parts: Parts,
    body: Incoming,
    prefix: Option<Prefix>,
    limit: u64,
    deadline: tokio::time::Instant,
    inflight: &mut Option<BackendInflight>,
) -> Result<Sent, ProxyError> {
    let fate = Rc::new(Cell::new(BodyFate::Fine));
    // Retries (RFC 9110 §9.2.2): only idempotent requests, only on another backend, only when
    // the body was not streamed. A request refused at connect comes back unsent; one reset
    // before any response byte is rebuilt from a copy, kept only for bodiless requests.
    let idempotent = matches!(
        parts.method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    );
    let can_retry = idempotent && pool.retry.attempts > 0 && pool.backends.len() > 1;
    let spare =
        (can_retry && prefix.is_none() && http_body::Body::is_end_stream(&body)).then(|| {
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
        pool.count_request();
    }
    let body = RequestBody::with_prefix(body, prefix.unwrap_or_default(), limit, fate.clone());
    let mut req = Request::from_parts(parts, body);
    let body_error = || match fate.get() {
        BodyFate::TooLarge => Some(ProxyError::BodyTooLarge),
        BodyFate::ClientError => Some(ProxyError::BadRequestBody),
        BodyFate::Fine => None,
    };
    let mut backend = backend;
    let mut attempts = 0;
    let (resp, sender) = loop {
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
                    Some(r) if can_retry && attempts < pool.retry.attempts && pool.try_retry() => {
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
                *inflight = Some(BackendInflight::new(&b));
                backend = b;
                req = r;
            }
            Err(_elapsed) => return Err(body_error().unwrap_or(ProxyError::UpstreamTimeout)),
        }
    };

    Ok(Sent {
        resp,
        sender,
        backend,
    })
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
