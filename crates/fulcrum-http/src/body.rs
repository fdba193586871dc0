//! Body types on both sides of the proxy. Both stream: a frame is forwarded as soon as it
//! arrives and the next one is not read before the other side has taken it (backpressure).

use std::cell::Cell;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use crate::backend::BackendState;

/// How the client's request body ended, for choosing the error response when forwarding
/// failed because of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BodyFate {
    #[default]
    Fine,
    TooLarge,
    ClientError,
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("request body larger than {0} bytes")]
    TooLarge(u64),
    #[error("request body: {0}")]
    Client(#[source] hyper::Error),
}

/// The client's request body on its way to the backend, cut off past `limit` bytes (this is
/// what enforces `max_body_bytes` for chunked bodies, whose size is not announced).
pub struct RequestBody {
    /// `None`: an empty body (a retry of a bodiless request).
    inner: Option<Incoming>,
    limit: u64,
    seen: u64,
    fate: Rc<Cell<BodyFate>>,
}

impl RequestBody {
    pub fn new(inner: Incoming, limit: u64, fate: Rc<Cell<BodyFate>>) -> Self {
        RequestBody {
            inner: Some(inner),
            limit,
            seen: 0,
            fate,
        }
    }

    /// An empty body.
    pub fn empty(fate: Rc<Cell<BodyFate>>) -> Self {
        RequestBody {
            inner: None,
            limit: 0,
            seen: 0,
            fate,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = &mut *self;
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match ready!(Pin::new(inner).poll_frame(cx)) {
            Some(Ok(frame)) => {
                if let Some(d) = frame.data_ref() {
                    this.seen += d.len() as u64;
                    if this.seen > this.limit {
                        this.fate.set(BodyFate::TooLarge);
                        return Poll::Ready(Some(Err(BodyError::TooLarge(this.limit))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Some(Err(e)) => {
                this.fate.set(BodyFate::ClientError);
                Poll::Ready(Some(Err(BodyError::Client(e))))
            }
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint)
    }
}

/// Work to do when a response body is finished (or abandoned): return the backend connection
/// to the pool, release in-flight counters, write the access log line.
pub trait OnEnd {
    /// `complete` is true when the body reached its end without error.
    fn on_end(&mut self, complete: bool, bytes: u64);
}

/// The response body sent to the client: a local body, or the backend's, streamed.
pub struct ProxyBody {
    kind: Kind,
    bytes: u64,
    end: Option<Box<dyn OnEnd>>,
    /// The backend streaming this body: when its drain times out, the body is cut off.
    backend: Option<Arc<BackendState>>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

enum Kind {
    Full(Option<Bytes>),
    Upstream(Incoming),
}

impl ProxyBody {
    pub fn full(b: Bytes) -> Self {
        ProxyBody {
            kind: Kind::Full((!b.is_empty()).then_some(b)),
            bytes: 0,
            end: None,
            backend: None,
        }
    }

    pub fn upstream(b: Incoming, backend: Arc<BackendState>) -> Self {
        ProxyBody {
            kind: Kind::Upstream(b),
            bytes: 0,
            end: None,
            backend: Some(backend),
        }
    }

    pub fn set_on_end(&mut self, end: Box<dyn OnEnd>) {
        self.end = Some(end);
    }

    fn finish(&mut self, complete: bool) {
        if let Some(mut end) = self.end.take() {
            end.on_end(complete, self.bytes);
        }
    }
}

impl From<Bytes> for ProxyBody {
    fn from(b: Bytes) -> Self {
        ProxyBody::full(b)
    }
}

impl Drop for ProxyBody {
    fn drop(&mut self) {
        // A body dropped at its end (hyper does not poll a body that says it is empty) is
        // complete; anything else was abandoned, e.g. the client went away.
        let complete = self.is_end_stream();
        self.finish(complete);
    }
}

impl Body for ProxyBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this
            .backend
            .as_ref()
            .is_some_and(|b| b.drain_expired.load(Ordering::Relaxed))
        {
            this.finish(false);
            return Poll::Ready(Some(Err("backend drain timed out".into())));
        }
        let polled: Option<Result<Frame<Bytes>, BoxError>> = match &mut this.kind {
            Kind::Full(b) => b.take().map(|b| Ok(Frame::data(b))),
            Kind::Upstream(inner) => {
                ready!(Pin::new(inner).poll_frame(cx)).map(|r| r.map_err(BoxError::from))
            }
        };
        match &polled {
            Some(Ok(frame)) => {
                if let Some(d) = frame.data_ref() {
                    this.bytes += d.len() as u64;
                }
                if this.is_end_stream() {
                    this.finish(true);
                }
            }
            Some(Err(_)) => this.finish(false),
            None => this.finish(true),
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        match &self.kind {
            Kind::Full(b) => b.is_none(),
            Kind::Upstream(inner) => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Upstream(inner) => inner.size_hint(),
        }
    }
}
