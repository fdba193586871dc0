//! Body types on both sides of the proxy. Both stream: a frame is forwarded as soon as it
//! arrives and the next one is not read before the other side has taken it (backpressure).

use std::cell::{Cell, RefCell};
use std::pin::Pin;
use std::rc::{Rc, Weak};
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
    /// What was read before the backend was chosen (the WAF's look at the body), sent
    /// first; then its trailers, if the body ended with them while being read.
    prefix: Option<Bytes>,
    trailers: Option<http::HeaderMap>,
    /// `None`: an empty body (a retry of a bodiless request).
    inner: Option<Incoming>,
    limit: u64,
    seen: u64,
    fate: Rc<Cell<BodyFate>>,
}

impl RequestBody {
    pub fn new(inner: Incoming, limit: u64, fate: Rc<Cell<BodyFate>>) -> Self {
        Self::with_prefix(inner, Prefix::default(), limit, fate)
    }

    /// `inner` after `prefix` (what was read of it first).
    pub fn with_prefix(
        inner: Incoming,
        prefix: Prefix,
        limit: u64,
        fate: Rc<Cell<BodyFate>>,
    ) -> Self {
        RequestBody {
            prefix: prefix.data.filter(|d| !d.is_empty()),
            trailers: prefix.trailers,
            inner: Some(inner),
            limit,
            seen: 0,
            fate,
        }
    }

    /// An empty body.
    pub fn empty(fate: Rc<Cell<BodyFate>>) -> Self {
        RequestBody {
            prefix: None,
            trailers: None,
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
        if let Some(d) = this.prefix.take() {
            this.seen += d.len() as u64;
            if this.seen > this.limit {
                this.fate.set(BodyFate::TooLarge);
                return Poll::Ready(Some(Err(BodyError::TooLarge(this.limit))));
            }
            return Poll::Ready(Some(Ok(Frame::data(d))));
        }
        if let Some(t) = this.trailers.take() {
            return Poll::Ready(Some(Ok(Frame::trailers(t))));
        }
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
        self.prefix.is_none()
            && self.trailers.is_none()
            && self.inner.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        let hint = self
            .inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), Body::size_hint);
        let extra = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        let mut h = SizeHint::new();
        h.set_lower(hint.lower() + extra);
        if let Some(u) = hint.upper() {
            h.set_upper(u + extra);
        }
        h
    }
}

/// The first bytes of a request body, read before its backend was chosen.
#[derive(Default)]
pub struct Prefix {
    pub data: Option<Bytes>,
    pub trailers: Option<http::HeaderMap>,
}

/// Read `body` until `max` bytes, its end or `deadline`.
pub async fn read_prefix(
    body: &mut Incoming,
    max: usize,
    deadline: tokio::time::Instant,
) -> Result<Prefix, crate::error::ProxyError> {
    use http_body_util::BodyExt;
    let mut buf = bytes::BytesMut::new();
    let mut trailers = None;
    while buf.len() < max && !body.is_end_stream() {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .map_err(|_| crate::error::ProxyError::BadRequestBody)?;
        match frame {
            None => break,
            Some(Err(_)) => return Err(crate::error::ProxyError::BadRequestBody),
            Some(Ok(f)) => match f.into_data() {
                Ok(d) => buf.extend_from_slice(&d),
                Err(f) => {
                    trailers = f.into_trailers().ok();
                    break;
                }
            },
        }
    }
    Ok(Prefix {
        data: Some(buf.freeze()),
        trailers,
    })
}

/// Work to do when a response body is finished (or abandoned): return the backend connection
/// to the pool, release in-flight counters, write the access log line.
pub trait OnEnd {
    /// `complete` is true when the body reached its end without error.
    fn on_end(&mut self, complete: bool, bytes: u64);

    /// Called just before `on_end(false, ..)` when the body was dropped unfinished: the client
    /// reset the stream or closed the connection (not a backend error, not a stall cut).
    fn abandoned(&mut self) {}
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
    /// An HTTP/2 stream's backend body, shared with its connection's stall registry.
    Watched(Rc<Watched>),
}

/// An HTTP/2 stream's backend body and what ends with it, shared between the stream's
/// [`ProxyBody`] and the connection's stall registry (`h2conn.rs`).
///
/// hyper pulls a response body only while the stream has flow-control credit and send-buffer
/// room, so a stream whose client does not read is simply never polled again: the body cannot
/// notice that itself. It records instead whether it handed hyper a frame that hyper has not
/// followed with a request for the next one (`held`): the watchdog, scanning from outside,
/// tells a client that does not read (held) from a backend that is slow to send (polled and
/// waiting), and cuts the first kind ([`Watched::cut`]).
pub struct Watched {
    live: RefCell<Option<Live>>,
    /// Frames handed to hyper so far.
    frames: Cell<u64>,
    /// A frame was handed over and hyper has not asked for the next one since.
    held: Cell<bool>,
    cut: Cell<bool>,
}

struct Live {
    body: Incoming,
    end: Option<Box<dyn OnEnd>>,
    bytes: u64,
}

impl Watched {
    /// Frames handed to hyper so far.
    pub fn frames(&self) -> u64 {
        self.frames.get()
    }

    /// Still streaming, and waiting for hyper to pull again (not for the backend).
    pub fn held(&self) -> bool {
        self.held.get() && !self.is_done()
    }

    /// Finished, abandoned or cut: nothing left to watch.
    pub fn is_done(&self) -> bool {
        self.live.borrow().is_none()
    }

    /// Release what the stream holds now (its backend connection, in-flight counts, backend
    /// slot): the client is not reading. If hyper ever polls the body again, it fails.
    pub fn cut(&self) {
        self.cut.set(true);
        self.finish(false);
    }

    fn finish(&self, complete: bool) {
        let live = self.live.borrow_mut().take();
        if let Some(Live { body, end, bytes }) = live {
            drop(body);
            if let Some(mut end) = end {
                end.on_end(complete, bytes);
            }
        }
    }

    fn poll_frame(&self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.held.set(false);
        if self.cut.get() {
            return Poll::Ready(Some(Err(
                "stream cut: the client did not take the response".into(),
            )));
        }
        let (polled, end_stream) = {
            let mut live = self.live.borrow_mut();
            let Some(l) = live.as_mut() else {
                return Poll::Ready(None);
            };
            let polled: Option<Result<Frame<Bytes>, BoxError>> =
                ready!(Pin::new(&mut l.body).poll_frame(cx)).map(|r| r.map_err(BoxError::from));
            if let Some(d) = polled.as_ref().and_then(|r| r.as_ref().ok()?.data_ref()) {
                l.bytes += d.len() as u64;
            }
            (polled, l.body.is_end_stream())
        };
        match &polled {
            Some(Ok(_)) if end_stream => self.finish(true),
            Some(Ok(_)) => {
                self.frames.set(self.frames.get() + 1);
                self.held.set(true);
            }
            Some(Err(_)) => self.finish(false),
            None => self.finish(true),
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        match &*self.live.borrow() {
            Some(l) => l.body.is_end_stream(),
            // Finished: the end. Cut: not the end, so that a poll reports the error.
            None => !self.cut.get(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        self.live
            .borrow()
            .as_ref()
            .map_or_else(SizeHint::default, |l| l.body.size_hint())
    }

    fn abandon(&self) {
        if let Some(end) = self.live.borrow_mut().as_mut().and_then(|l| l.end.as_mut()) {
            end.abandoned();
        }
        self.finish(false);
    }
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

    /// Make a streamed backend body watchable by the connection's stall registry (HTTP/2
    /// streams); `None` for a local body. Call before [`ProxyBody::set_on_end`].
    pub fn watch(&mut self) -> Option<Weak<Watched>> {
        if !matches!(self.kind, Kind::Upstream(_)) {
            return None;
        }
        let Kind::Upstream(body) = std::mem::replace(&mut self.kind, Kind::Full(None)) else {
            return None;
        };
        let w = Rc::new(Watched {
            live: RefCell::new(Some(Live {
                body,
                end: self.end.take(),
                bytes: self.bytes,
            })),
            frames: Cell::new(0),
            held: Cell::new(false),
            cut: Cell::new(false),
        });
        let weak = Rc::downgrade(&w);
        self.kind = Kind::Watched(w);
        Some(weak)
    }

    pub fn set_on_end(&mut self, end: Box<dyn OnEnd>) {
        match &self.kind {
            Kind::Watched(w) => {
                if let Some(l) = w.live.borrow_mut().as_mut() {
                    l.end = Some(end);
                }
            }
            _ => self.end = Some(end),
        }
    }

    fn finish(&mut self, complete: bool) {
        if let Kind::Watched(w) = &self.kind {
            w.finish(complete);
        } else if let Some(mut end) = self.end.take() {
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
        if self.is_end_stream() {
            self.finish(true);
            return;
        }
        match &self.kind {
            Kind::Watched(w) => w.abandon(),
            _ => {
                if let Some(end) = self.end.as_mut() {
                    end.abandoned();
                }
                self.finish(false);
            }
        }
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
        if this.backend.as_ref().is_some_and(|b| b.is_drain_expired()) {
            this.finish(false);
            return Poll::Ready(Some(Err("backend drain timed out".into())));
        }
        let polled: Option<Result<Frame<Bytes>, BoxError>> = match &mut this.kind {
            Kind::Full(b) => b.take().map(|b| Ok(Frame::data(b))),
            Kind::Upstream(inner) => {
                ready!(Pin::new(inner).poll_frame(cx)).map(|r| r.map_err(BoxError::from))
            }
            Kind::Watched(w) => return w.poll_frame(cx),
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
            Kind::Watched(w) => w.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Kind::Full(None) => SizeHint::with_exact(0),
            Kind::Upstream(inner) => inner.size_hint(),
            Kind::Watched(w) => w.size_hint(),
        }
    }
}
