//! How a flow's backend socket closes: the flow left the table (expired, evicted, refused,
//! stopped) or moved; each writes its line through `on_end` and gives back its permit.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use fulcrum_dataplane::{BackendState, PoolState};
use tokio::sync::OwnedSemaphorePermit;

use super::shared::{Flows, Shared, Slot};
use super::{FlowDone, FlowEnd};
use crate::udp::flows::{Flow, FlowId, Reason, Removed, Traffic};
use crate::udp::FlowTable;

/// A flow's backend: its address (the table's `B`).
type Backend = SocketAddr;

/// Whether `e`, from a flow's connected backend socket, is the backend's failure (an ICMP
/// error the kernel reports on the socket), and how the flow ends then.
pub(super) fn backend_failure(e: &io::Error) -> Option<FlowEnd> {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        return Some(FlowEnd::Refused);
    }
    match e.raw_os_error() {
        Some(libc::EHOSTUNREACH | libc::ENETUNREACH | libc::EHOSTDOWN) => Some(FlowEnd::Failed),
        _ => None,
    }
}

pub(super) fn since(now: Traffic, base: Traffic) -> Traffic {
    Traffic {
        datagrams: now.datagrams.saturating_sub(base.datagrams),
        bytes: now.bytes.saturating_sub(base.bytes),
    }
}

impl Shared {
    /// Take `client`'s flow out of the table for `end` (a failure of its backend socket).
    pub(super) fn end(
        &self,
        table: &mut FlowTable<Backend>,
        slots: &mut [Option<Slot>],
        client: SocketAddr,
        end: FlowEnd,
        error: Option<&str>,
        now: Instant,
    ) {
        if let Some(r) = table.remove(client) {
            self.gone(slots, r, Some(end), error, now);
        }
    }

    /// A flow left the table (`end` says why when the table's reason does not): count it and
    /// close its socket. Returns its permit, for a flow taking its place.
    pub(super) fn gone(
        &self,
        slots: &mut [Option<Slot>],
        r: Removed<Backend>,
        end: Option<FlowEnd>,
        error: Option<&str>,
        now: Instant,
    ) -> Option<OwnedSemaphorePermit> {
        let end = end.unwrap_or(match r.reason {
            Reason::Expired => FlowEnd::Expired,
            Reason::Evicted => FlowEnd::Evicted,
            Reason::Removed => FlowEnd::Stopped,
        });
        if let Some(u) = self.udp_metrics() {
            u.flows_active.dec();
            if end == FlowEnd::Evicted {
                u.flows_evicted.inc(self.worker);
            }
        }
        self.close_slot(slots, r.id, &r.flow, end, error, now)
    }

    /// Close what flow `id` holds and write its line; the flow itself may go on (moved).
    pub(super) fn close_slot(
        &self,
        slots: &mut [Option<Slot>],
        id: FlowId,
        flow: &Flow<Backend>,
        end: FlowEnd,
        error: Option<&str>,
        now: Instant,
    ) -> Option<OwnedSemaphorePermit> {
        let slot = slots.get_mut(id.index())?.take()?;
        slot.task.abort();
        (self.on_end)(&FlowDone {
            listener: &self.name,
            client: flow.client,
            pool: &slot.pool.name,
            backend: &slot.backend,
            from_client: since(flow.from_client, slot.base.0),
            to_client: since(flow.to_client, slot.base.1),
            duration: now.saturating_duration_since(slot.since),
            end,
            error,
        });
        slot.permit
    }

    /// A reply task's backend socket failed: the flow ends, and the backend is reported when
    /// the error is its own (ICMP).
    pub(super) fn backend_failed(
        &self,
        client: SocketAddr,
        backend: &Arc<BackendState>,
        pool: &PoolState,
        error: Option<io::Error>,
    ) {
        let failure = error.as_ref().and_then(backend_failure);
        if failure.is_some() {
            pool.report(backend, true);
        }
        let end = failure.unwrap_or(FlowEnd::Failed);
        let error = error.map_or_else(|| "socket error".to_owned(), |e| e.to_string());
        tracing::debug!(listener = %self.name, client = %client, backend = %backend.label, error = %error, "udp: backend socket failed");
        let mut flows = self.flows.borrow_mut();
        let Flows { table, slots, .. } = &mut *flows;
        // Only if the flow is still on this backend (a moved flow's old task may run once
        // more before its abort takes effect).
        let current = table
            .get(client)
            .and_then(|(id, _)| slots.get(id.index()))
            .and_then(Option::as_ref)
            .is_some_and(|s| Arc::ptr_eq(&s.backend, backend));
        if current {
            self.end(table, slots, client, end, Some(&error), Instant::now());
        }
    }
}
