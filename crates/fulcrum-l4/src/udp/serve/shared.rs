//! What a loop and its flows' reply tasks share (one worker thread: `Rc` and `RefCell`, never
//! borrowed across an `.await`): the flow table with what each flow holds, the listener's
//! socket and metric handles; a batch of client datagrams (each one's way is in `forward.rs`),
//! the expiry timer, limits changed by a reload, stopping. How flows end is in `ending.rs`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use fulcrum_dataplane::{BackendInflight, BackendState, ListenerState, PoolState, UdpMetrics};
use fulcrum_telemetry::Counter;
use tokio::net::UdpSocket;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use super::replies::Replies;
use super::{FlowDone, FlowEnd};
use crate::udp::flows::Traffic;
use crate::udp::{FlowTable, RecvBatch};

/// A flow's backend: its address (the table's `B`).
type Backend = SocketAddr;

pub(super) struct Shared {
    pub(super) worker: usize,
    pub(super) name: String,
    pub(super) socket: UdpSocket,
    /// The listener's address, for PROXY headers.
    pub(super) local: SocketAddr,
    pub(super) state: Arc<ArcSwap<ListenerState>>,
    pub(super) limit: Arc<Semaphore>,
    metrics: Option<Metrics>,
    pub(super) flows: RefCell<Flows>,
    pub(super) replies: RefCell<Replies>,
    pub(super) on_end: Box<dyn Fn(&FlowDone<'_>)>,
}

/// The listener's handles, taken once (the series stay the same for the listener's name).
struct Metrics {
    udp: Option<UdpMetrics>,
    bytes_in: Counter,
    bytes_out: Counter,
}

pub(super) struct Flows {
    pub(super) table: FlowTable<Backend>,
    /// By [`FlowId`](crate::udp::FlowId): what each flow holds now.
    pub(super) slots: Vec<Option<Slot>>,
    pub(super) members: Members,
}

/// A flow's backend socket and what goes with it; replaced when the flow moves.
pub(super) struct Slot {
    pub(super) socket: Rc<UdpSocket>,
    pub(super) backend: Arc<BackendState>,
    pub(super) pool: Arc<PoolState>,
    /// The PROXY v2 header each datagram starts with (empty: none), made once.
    pub(super) header: Vec<u8>,
    pub(super) since: Instant,
    /// The flow's counters when this socket took over.
    pub(super) base: (Traffic, Traffic),
    pub(super) task: JoinHandle<()>,
    /// The flow's share of `max_flows` (none when this worker had no flow to give one up).
    pub(super) permit: Option<OwnedSemaphorePermit>,
    pub(super) _inflight: BackendInflight,
}

/// The current pool's backends by address, rebuilt when the snapshot's pool changes.
#[derive(Default)]
pub(super) struct Members {
    pool: Option<Arc<PoolState>>,
    by_addr: HashMap<SocketAddr, Arc<BackendState>>,
}

impl Members {
    fn refresh(&mut self, pool: &Arc<PoolState>) {
        if self.pool.as_ref().is_some_and(|p| Arc::ptr_eq(p, pool)) {
            return;
        }
        self.by_addr = pool.backends.iter().map(|b| (b.addr, b.clone())).collect();
        self.pool = Some(pool.clone());
    }

    /// The pool still has it, and it may take traffic.
    pub(super) fn usable(&self, addr: SocketAddr) -> bool {
        self.by_addr.get(&addr).is_some_and(|b| b.usable())
    }
}

impl Shared {
    pub(super) fn new(
        worker: usize,
        socket: UdpSocket,
        state: Arc<ArcSwap<ListenerState>>,
        limit: Arc<Semaphore>,
        on_end: Box<dyn Fn(&FlowDone<'_>)>,
    ) -> Self {
        let snapshot = state.load_full();
        let local = socket
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let max = NonZeroU32::new(snapshot.limits.max_flows).unwrap_or(NonZeroU32::MIN);
        Shared {
            worker,
            name: snapshot.name.clone(),
            socket,
            local,
            limit,
            metrics: snapshot.metrics.as_ref().map(|m| Metrics {
                udp: m.udp.clone(),
                bytes_in: m.bytes_in.clone(),
                bytes_out: m.bytes_out.clone(),
            }),
            flows: RefCell::new(Flows {
                table: FlowTable::new(max, snapshot.timeouts.idle),
                slots: Vec::new(),
                members: Members::default(),
            }),
            replies: RefCell::new(Replies::new()),
            state,
            on_end,
        }
    }

    pub(super) fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    pub(super) fn next_expiry(&self) -> Option<Instant> {
        self.flows.borrow().table.next_expiry()
    }

    pub(super) fn flows(&self) -> std::cell::RefMut<'_, Flows> {
        self.flows.borrow_mut()
    }

    /// A batch from clients: each datagram to its flow's backend.
    pub(super) fn client_datagrams(self: &Rc<Self>, rx: &RecvBatch, scratch: &mut Vec<u8>) {
        let snapshot = self.state.load();
        let now = Instant::now();
        let mut flows = self.flows.borrow_mut();
        self.sync(&mut flows, &snapshot, now);
        let (mut bytes, mut dropped) = (0, 0);
        for d in rx.iter() {
            bytes += d.data.len() as u64;
            let sent = match (&snapshot.l4_pool, d.truncated) {
                (Some(pool), false) => self.forward(&mut flows, pool, &d, now, scratch),
                _ => false,
            };
            if !sent {
                dropped += 1;
            }
        }
        if let Some(m) = &self.metrics {
            m.bytes_in.add(self.worker, bytes);
        }
        self.dropped(dropped);
    }

    /// The expiry timer fired.
    pub(super) fn expire(&self, now: Instant) {
        let snapshot = self.state.load();
        let mut flows = self.flows.borrow_mut();
        self.sync(&mut flows, &snapshot, now);
        let Flows { table, slots, .. } = &mut *flows;
        for r in table.expire(now) {
            self.gone(slots, r, None, None, now);
        }
    }

    /// Close every flow: the loop is stopping.
    pub(super) fn stop_all(&self, now: Instant) {
        let Ok(mut flows) = self.flows.try_borrow_mut() else {
            return;
        };
        let Flows { table, slots, .. } = &mut *flows;
        let clients: Vec<SocketAddr> = table.iter().map(|(_, f)| f.client).collect();
        for client in clients {
            if let Some(r) = table.remove(client) {
                self.gone(slots, r, Some(FlowEnd::Stopped), None, now);
            }
        }
    }

    /// Bring the table's limits and the pool's members to the snapshot's.
    fn sync(&self, flows: &mut Flows, snapshot: &ListenerState, now: Instant) {
        let Flows {
            table,
            slots,
            members,
        } = flows;
        if let Some(pool) = &snapshot.l4_pool {
            members.refresh(pool);
        }
        if table.idle() != snapshot.timeouts.idle {
            table.set_idle(snapshot.timeouts.idle);
        }
        let max = NonZeroU32::new(snapshot.limits.max_flows).unwrap_or(NonZeroU32::MIN);
        if table.max_flows() != max.get() {
            for r in table.set_max_flows(max, now) {
                self.gone(slots, r, None, None, now);
            }
        }
    }

    pub(super) fn dropped(&self, n: u64) {
        if n > 0 {
            if let Some(u) = self.udp_metrics() {
                u.datagrams_dropped.add(self.worker, n);
            }
        }
    }

    pub(super) fn sent_to_clients(&self, bytes: u64) {
        if let Some(m) = &self.metrics {
            m.bytes_out.add(self.worker, bytes);
        }
    }

    pub(super) fn udp_metrics(&self) -> Option<&UdpMetrics> {
        self.metrics.as_ref().and_then(|m| m.udp.as_ref())
    }
}
