//! A flow's replies: one small task per flow waits for its backend socket, takes what came in
//! a batch and sends it to the client from the listener's socket, in a batch too.
//!
//! The receive and send batches are the loop's, shared by all its flows' tasks (they run on
//! one thread and never hold them across an `.await`), so a flow costs a task and a socket,
//! not buffers.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use fulcrum_dataplane::{BackendState, PoolState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use super::shared::Shared;
use super::{BATCH, MAX_DATAGRAM, ROUNDS};
use crate::udp::{RecvBatch, SendBatch};

pub(crate) struct Replies {
    rx: RecvBatch,
    tx: SendBatch,
}

impl Replies {
    pub(crate) fn new() -> Self {
        Replies {
            rx: RecvBatch::new(BATCH, MAX_DATAGRAM),
            tx: SendBatch::new(BATCH),
        }
    }
}

/// What one wakeup relayed.
struct Relayed {
    /// Replies read from the backend.
    got: usize,
    /// The socket may have more: yield before reading again.
    more: bool,
}

/// Until the flow's socket fails or the task is aborted (its flow ended or moved).
pub(super) async fn run(
    shared: Rc<Shared>,
    client: SocketAddr,
    local: Option<IpAddr>,
    socket: Rc<UdpSocket>,
    backend: Arc<BackendState>,
    pool: Arc<PoolState>,
) {
    let mut answered = false;
    loop {
        // An ICMP error on a connected UDP socket is only "error" readiness, not readable.
        let Ok(ready) = socket.ready(Interest::READABLE | Interest::ERROR).await else {
            return;
        };
        if ready.is_error() {
            let error = socket.take_error().ok().flatten();
            shared.backend_failed(client, &backend, &pool, error);
            return;
        }
        match relay(&shared, client, local, &socket) {
            Ok(r) => {
                if r.got > 0 && !answered {
                    // The backend answers: a success for passive health, once per flow.
                    answered = true;
                    pool.report(&backend, false);
                }
                if r.more {
                    tokio::task::yield_now().await;
                }
            }
            Err(e) => {
                shared.backend_failed(client, &backend, &pool, Some(e));
                return;
            }
        }
    }
}

/// Up to [`ROUNDS`] batches of replies from `socket` to `client`, sent from `local` when the
/// listener's socket is a wildcard's (the address the client sent to).
fn relay(
    shared: &Shared,
    client: SocketAddr,
    local: Option<IpAddr>,
    socket: &UdpSocket,
) -> io::Result<Relayed> {
    let mut io = shared.replies.borrow_mut();
    let Replies { rx, tx } = &mut *io;
    let mut got = 0;
    for _ in 0..ROUNDS {
        match rx.recv(socket) {
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                return Ok(Relayed { got, more: false })
            }
            Err(e) => return Err(e),
        }
        let now = Instant::now();
        let (mut dropped, mut bytes) = (0, 0);
        {
            let mut flows = shared.flows();
            for d in rx.iter() {
                // A cut datagram is not passed on; nor a reply to a flow that has expired.
                if d.truncated || !flows.table.touch_reply(client, now, d.data.len()) {
                    dropped += 1;
                } else if tx.push_from(client, local, d.data) {
                    bytes += d.data.len() as u64;
                } else {
                    dropped += 1;
                }
            }
        }
        let flushed = tx.flush(shared.socket());
        // What the listener's socket did not take at once is dropped, not queued.
        let (left, left_bytes) = tx.clear();
        dropped += (flushed.failed + left) as u64;
        shared.dropped(dropped);
        shared.sent_to_clients(bytes.saturating_sub(left_bytes as u64));
    }
    Ok(Relayed { got, more: true })
}
