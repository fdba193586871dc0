//! One accept loop: a listener's socket on one worker, until it is told to stop.
//!
//! It accepts, takes a slot of the listener's `max_connections` (at the limit it waits, and
//! further clients wait in the kernel's backlog), and serves each connection in its own task.
//! When `accept` fails for want of descriptors or memory it backs off (see
//! `fulcrum_net::accept`). Told to stop, it accepts what is already waiting in the backlog
//! (unless its socket lives on in a newer accept loop), closes the socket, gives its
//! connections the grace deadline and waits for them until then.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use fulcrum_config::model;
use fulcrum_net::accept::{classify, AcceptError, Backoff};
use tokio::net::TcpStream;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::proxy::Worker;
use crate::server;
use crate::state::ListenerState;
use crate::stop::{deadline_after, Stop, StopSwitch};
use crate::worker::WorkerListener;

/// Why an accept loop stops: until when its connections may run, and whether connections
/// waiting in its backlog are accepted first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoopStop {
    pub deadline: Instant,
    pub drain_backlog: bool,
}

/// Resolves when the loop is told to stop (or the worker is gone: then as for a shutdown).
async fn stop_requested(stopped: &mut watch::Receiver<Option<LoopStop>>) -> LoopStop {
    loop {
        if let Some(s) = *stopped.borrow_and_update() {
            return s;
        }
        if stopped.changed().await.is_err() {
            return LoopStop {
                deadline: deadline_after(Instant::now(), model::Runtime::DEFAULT_SHUTDOWN_GRACE),
                drain_backlog: true,
            };
        }
    }
}

/// On a listener that reads PROXY headers: who the client of `stream` (from `peer`) is. A
/// trusted peer must start with a header (within the header timeout), whose source is then
/// the client; `None` (the connection is dropped) when it does not. Anyone else is the client
/// themself, and may not send one.
async fn proxied(
    stream: &TcpStream,
    peer: SocketAddr,
    trusted: &[fulcrum_config::model::Cidr],
    snapshot: &ListenerState,
) -> Option<fulcrum_l4::tcp::Client> {
    let ip = peer.ip().to_canonical();
    if !trusted.iter().any(|c| c.contains(ip)) {
        return Some(fulcrum_l4::tcp::Client {
            addr: peer,
            destination: None,
            refuse_proxy_header: true,
        });
    }
    match fulcrum_l4::proxy_header::read(stream, snapshot.timeouts.header).await {
        Ok(p) => Some(fulcrum_l4::tcp::Client {
            addr: p.source.unwrap_or(peer),
            destination: p.destination,
            refuse_proxy_header: false,
        }),
        Err(e) => {
            tracing::debug!(peer = %peer, listener = %snapshot.name, error = %e, "refusing a trusted peer's connection");
            None
        }
    }
}

/// What every connection of one accept loop shares.
struct LoopCtx {
    worker: Rc<Worker>,
    state: Arc<ArcSwap<ListenerState>>,
    limit: Arc<Semaphore>,
    stop: Stop,
    /// The port this loop's socket listens on, for `X-Forwarded-Port`: made once, not read
    /// back from every accepted socket.
    local_port: Option<http::HeaderValue>,
}

pin_project_lite::pin_project! {
    /// A connection's future and what it holds until it ends (its connection-guard slot, its
    /// `max_connections` permit). An `async` block awaiting the connection would hold the
    /// connection's state twice: as captured, and moved into the `.await`.
    struct Holding<F, H> {
        #[pin]
        conn: F,
        _held: H,
    }
}

impl<F: std::future::Future, H> std::future::Future for Holding<F, H> {
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        self.project().conn.poll(cx)
    }
}

impl LoopCtx {
    /// Serve one accepted connection in `conns`. Without a `permit` (the loop was stopped while
    /// it waited for one), the connection waits for its slot itself, until the grace deadline.
    fn spawn(
        &self,
        conns: &mut JoinSet<()>,
        stream: TcpStream,
        peer: SocketAddr,
        permit: Option<OwnedSemaphorePermit>,
    ) {
        // The usual case — an HTTP connection with its slot, nothing to read first — is the
        // connection's own future, with no wrapper holding room for the others.
        if let Some(permit) = permit {
            let l = self.state.load();
            if l.l4_pool.is_some() && l.proxy_trusted.is_none() {
                let l = arc_swap::Guard::into_inner(l);
                // A tcp connection is its relay's future alone: no room held for an HTTP
                // connection's state, no second allocation.
                let Ok(slot) = crate::conn_guard::admit(&l, peer.ip(), self.worker.id) else {
                    return;
                };
                let who = fulcrum_l4::tcp::Client {
                    addr: peer,
                    destination: None,
                    refuse_proxy_header: false,
                };
                // Made before the task's block, which then holds it alone (not its inputs as
                // well).
                let conn = crate::layer4::serve_tcp(
                    self.worker.clone(),
                    l,
                    stream,
                    who,
                    self.stop.clone(),
                );
                conns.spawn_local(Holding {
                    conn,
                    _held: (slot, permit),
                });
                return;
            }
            let plain = {
                let l = l;
                let plain =
                    l.proxy_trusted.is_none() && l.l4_pool.is_none() && l.passthrough.is_none();
                match plain {
                    // The connection guards, before anything is read (a TLS handshake
                    // included); a refused connection is closed here.
                    true => match crate::conn_guard::admit(&l, peer.ip(), self.worker.id) {
                        Ok(slot) => Some(slot),
                        Err(()) => return,
                    },
                    false => None,
                }
            };
            if let Some(slot) = plain {
                let conn = server::serve(
                    self.worker.clone(),
                    self.state.clone(),
                    stream,
                    peer,
                    self.local_port.clone(),
                    self.stop.clone(),
                    permit,
                );
                match slot {
                    None => conns.spawn_local(conn),
                    Some(slot) => conns.spawn_local(Holding { conn, _held: slot }),
                };
                return;
            }
            return self.spawn_general(conns, stream, peer, Some(permit));
        }
        self.spawn_general(conns, stream, peer, None);
    }

    /// [`LoopCtx::spawn`] for connections that wait for a slot, read a PROXY header, or are
    /// layer 4.
    fn spawn_general(
        &self,
        conns: &mut JoinSet<()>,
        stream: TcpStream,
        peer: SocketAddr,
        permit: Option<OwnedSemaphorePermit>,
    ) {
        let (worker, state, limit, stop, port) = (
            self.worker.clone(),
            self.state.clone(),
            self.limit.clone(),
            self.stop.clone(),
            self.local_port.clone(),
        );
        let task = async move {
            let permit = match permit {
                Some(p) => p,
                None => tokio::select! {
                    p = limit.acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => return,
                    },
                    _ = stop.clone().cut() => return,
                },
            };
            let snapshot = state.load_full();
            let who = match snapshot.proxy_trusted.as_deref() {
                None => fulcrum_l4::tcp::Client {
                    addr: peer,
                    destination: None,
                    refuse_proxy_header: false,
                },
                Some(trusted) => match Box::pin(proxied(&stream, peer, trusted, &snapshot)).await {
                    Some(who) => who,
                    None => return,
                },
            };
            // The connection guards on the client (a PROXY header's source when trusted).
            let Ok(_slot) = crate::conn_guard::admit(&snapshot, who.addr.ip(), worker.id) else {
                return;
            };
            if snapshot.l4_pool.is_some() {
                // Boxed like the other branches (see below).
                Box::pin(crate::layer4::serve_tcp(
                    worker, snapshot, stream, who, stop,
                ))
                .await;
                drop(permit);
            } else if snapshot.passthrough.is_some() {
                // Boxed, as the TLS and hyper branches are: the HTTP/1.1 fast path's task
                // holds room for its own state only. A forged PROXY header is no ClientHello:
                // it is refused as one.
                Box::pin(fulcrum_l4::passthrough::serve(
                    worker.id,
                    snapshot,
                    stream,
                    who,
                    stop.cut(),
                ))
                .await;
                drop(permit);
            } else {
                drop(snapshot);
                // The slot is held until the connection ends, including any tunnel it was
                // upgraded into. A forged PROXY header is no request line: the engines
                // answer it 400 (http) or fail its handshake (https).
                server::serve(worker, state, stream, who.addr, port, stop, permit).await;
            }
        };
        conns.spawn_local(task);
    }
}

pub(crate) async fn accept_loop(
    worker: Rc<Worker>,
    l: WorkerListener,
    mut stopped: watch::Receiver<Option<LoopStop>>,
) {
    let fulcrum_dataplane::ListenSocket::Tcp(socket) = l.socket else {
        tracing::error!(listener = %l.name, "a udp socket given to an accept loop");
        return;
    };
    let listener = match tokio::net::TcpListener::from_std(socket) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot register listening socket");
            return;
        }
    };
    let listener_name = l.name;
    let (switch, stop) = StopSwitch::new();
    let cx = LoopCtx {
        worker,
        state: l.state,
        limit: l.limit,
        stop,
        local_port: listener
            .local_addr()
            .ok()
            .map(|a| http::HeaderValue::from(a.port())),
    };
    let mut conns = JoinSet::new();
    let mut backoff = Backoff::default();
    let why = loop {
        // Reap finished connection tasks without waiting.
        while conns.try_join_next().is_some() {}
        let accepted = tokio::select! {
            a = listener.accept() => a,
            s = stop_requested(&mut stopped) => break s,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff.reset();
                // `max_connections` is shared by all workers. At the limit, the connection
                // just accepted waits for a slot and this worker stops accepting: further
                // clients queue in the kernel's backlog (as HAProxy's maxconn), none is
                // refused.
                let permit = tokio::select! {
                    p = cx.limit.clone().acquire_owned() => p.ok(),
                    _ = stop_requested(&mut stopped) => None,
                };
                cx.spawn(&mut conns, stream, peer, permit);
            }
            Err(e) => {
                let kind = classify(&e);
                if kind == AcceptError::Connection {
                    tracing::debug!(listener = %listener_name, error = %e, "accept: connection lost");
                    continue;
                }
                if let Some(held) = l.accept_log.allow(Instant::now()) {
                    let hint = match kind {
                        AcceptError::Exhausted => {
                            "out of file descriptors or memory: open connections are served, \
                             new ones wait in the backlog"
                        }
                        _ => "retrying",
                    };
                    tracing::warn!(
                        listener = %listener_name,
                        error = %e,
                        suppressed = held,
                        "accept failed: {hint}"
                    );
                }
                // Back off without spinning; a connection of ours ending frees a descriptor,
                // so try again then.
                let pause = backoff.next_pause();
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                    s = stop_requested(&mut stopped) => break s,
                }
            }
        }
    };
    if why.drain_backlog {
        for (stream, peer) in drain_backlog(listener) {
            cx.spawn(&mut conns, stream, peer, None);
        }
    } else {
        drop(listener);
    }
    // Open connections finish (idle keep-alive ones close) until the deadline; what is left
    // then is cut.
    switch.stop(why.deadline);
    let _ = tokio::time::timeout_at(why.deadline.into(), async {
        while conns.join_next().await.is_some() {}
    })
    .await;
}

/// Accept, without waiting, every connection already in `listener`'s backlog, then close it:
/// a listener that stops must not reset clients the kernel already accepted for it.
fn drain_backlog(listener: tokio::net::TcpListener) -> Vec<(TcpStream, SocketAddr)> {
    let mut out = Vec::new();
    let Ok(listener) = listener.into_std() else {
        return out;
    };
    // The socket is non-blocking (see `fulcrum_net::bind_one`): accept returns WouldBlock once
    // the backlog is empty. Bounded by the backlog's size.
    let max = usize::try_from(fulcrum_net::BACKLOG).unwrap_or(4096);
    for _ in 0..max {
        match listener.accept() {
            Ok((s, peer)) => {
                let s = s
                    .set_nonblocking(true)
                    .and_then(|()| TcpStream::from_std(s));
                if let Ok(s) = s {
                    out.push((s, peer));
                }
            }
            Err(e)
                if classify(&e) == AcceptError::Connection
                    && e.kind() != io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
    }
    out
}
