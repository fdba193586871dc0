//! A client's datagram: its flow (new, kept, moved, or making room at `max_flows`), the
//! flow's backend socket (opened with its reply task when the flow is new or moved), the send.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use fulcrum_dataplane::{BackendInflight, BackendState, PoolState};
use tokio::net::UdpSocket;
use tokio::sync::OwnedSemaphorePermit;

use super::ending::{backend_failure, since};
use super::shared::{Flows, Shared, Slot};
use super::{FlowDone, FlowEnd};
use crate::udp::flows::{Traffic, Verdict};
use crate::udp::Datagram;

impl Shared {
    /// One client datagram to its flow's backend; false when it was dropped.
    pub(super) fn forward(
        self: &Rc<Self>,
        flows: &mut Flows,
        pool: &Arc<PoolState>,
        datagram: &Datagram<'_>,
        now: Instant,
        scratch: &mut Vec<u8>,
    ) -> bool {
        let (client, local, data) = (datagram.peer, datagram.local, datagram.data);
        let Flows {
            table,
            slots,
            members,
        } = flows;
        // At max_flows (all workers together) a new client here takes the place, and the
        // permit, of this worker's least recently active flow.
        let mut spare = None;
        if self.limit.available_permits() == 0 && !table.is_live(client, now) {
            if let Some(r) = table.evict_oldest(now) {
                spare = self.gone(slots, r, None, None, now);
            }
        }
        let key = fulcrum_balance::hash_ip(client.ip());
        let mut picked = None;
        let outcome = table.lookup_or_insert(
            client,
            now,
            data.len(),
            |addr| members.usable(addr),
            || {
                let b = pool.pick(self.worker, key)?;
                picked = Some(b.clone());
                Some(b.addr)
            },
        );
        if let Some(r) = outcome.removed {
            let permit = self.gone(slots, r, None, None, now);
            spare = spare.or(permit);
        }
        let id = match outcome.verdict {
            Verdict::Kept { id, .. } => id,
            Verdict::New { id, .. } => {
                if let Some(u) = self.udp_metrics() {
                    u.flows_active.inc();
                }
                id
            }
            Verdict::Moved { id, .. } => {
                if let Some(flow) = table.flow(id).copied() {
                    let permit = self.close_slot(slots, id, &flow, FlowEnd::Moved, None, now);
                    spare = spare.or(permit);
                }
                id
            }
            Verdict::NoBackend => return false,
        };
        if slots.get(id.index()).is_none_or(Option::is_none) {
            let Some(b) = picked else {
                // A kept flow without a socket cannot happen; start it again.
                self.end(
                    table,
                    slots,
                    client,
                    FlowEnd::Failed,
                    Some("no backend socket"),
                    now,
                );
                return false;
            };
            let flow = table.flow(id).copied();
            // This datagram is the new socket's first.
            let base = flow
                .map(|f| {
                    let from = Traffic {
                        datagrams: f.from_client.datagrams.saturating_sub(1),
                        bytes: f.from_client.bytes.saturating_sub(data.len() as u64),
                    };
                    (from, f.to_client)
                })
                .unwrap_or_default();
            let permit = spare
                .take()
                .or_else(|| self.limit.clone().try_acquire_owned().ok());
            match self.open(client, local, pool, &b, base, permit, now) {
                Ok(slot) => {
                    if slots.len() <= id.index() {
                        slots.resize_with(id.index() + 1, || None);
                    }
                    if let Some(s) = slots.get_mut(id.index()) {
                        *s = Some(slot);
                    }
                }
                Err(e) => {
                    let error = format!("cannot open a socket to {}: {e}", b.label);
                    tracing::debug!(listener = %self.name, client = %client, "udp: {error}");
                    if let Some(r) = table.remove(client) {
                        self.gone(slots, r, None, None, now);
                        (self.on_end)(&FlowDone {
                            listener: &self.name,
                            client,
                            pool: &pool.name,
                            backend: &b,
                            from_client: since(r.flow.from_client, base.0),
                            to_client: Traffic::default(),
                            duration: std::time::Duration::ZERO,
                            end: FlowEnd::Failed,
                            error: Some(&error),
                        });
                    }
                    return false;
                }
            }
        }
        let Some(slot) = slots.get(id.index()).and_then(Option::as_ref) else {
            return false;
        };
        let payload: &[u8] = if slot.header.is_empty() {
            data
        } else {
            scratch.clear();
            scratch.extend_from_slice(&slot.header);
            scratch.extend_from_slice(data);
            scratch
        };
        // send(2) itself, not tokio's `try_send`: a socket registered a moment ago has no
        // write readiness yet (the reactor has not run), and `try_send` would call that
        // `WouldBlock` without trying — every flow's first datagram lost. Nothing here waits
        // for `writable()`, so there is no readiness to keep in step.
        match socket2::SockRef::from(&*slot.socket).send(payload) {
            Ok(_) => true,
            Err(e) => {
                if let Some(end) = backend_failure(&e) {
                    // What an ICMP error said of an earlier datagram: the backend failed, and
                    // the flow starts afresh on the client's next datagram.
                    slot.pool.report(&slot.backend, true);
                    let error = e.to_string();
                    self.end(table, slots, client, end, Some(&error), now);
                } else if e.kind() != io::ErrorKind::WouldBlock {
                    // Too long with its PROXY header, no buffer space: this datagram only.
                    tracing::debug!(listener = %self.name, client = %client, error = %e, "udp: datagram not sent");
                }
                false
            }
        }
    }

    /// A backend socket, its reply task and its share of the limit.
    /// `local`: the address `client` sent to, when the listener's socket is a wildcard's.
    #[allow(clippy::too_many_arguments)]
    fn open(
        self: &Rc<Self>,
        client: SocketAddr,
        local: Option<IpAddr>,
        pool: &Arc<PoolState>,
        backend: &Arc<BackendState>,
        base: (Traffic, Traffic),
        permit: Option<OwnedSemaphorePermit>,
        now: Instant,
    ) -> io::Result<Slot> {
        let socket = Rc::new(UdpSocket::from_std(fulcrum_net::connect_udp(
            backend.addr,
        )?)?);
        let mut header = Vec::new();
        if pool.proxy_protocol.is_some() {
            // The address the client sent to, as the client knows it.
            let dest = local.map_or(self.local, |ip| SocketAddr::new(ip, self.local.port()));
            crate::proxy_header::encode_datagram(client, dest, &mut header);
        }
        let task = tokio::task::spawn_local(super::replies::run(
            self.clone(),
            client,
            local,
            socket.clone(),
            backend.clone(),
            pool.clone(),
        ));
        Ok(Slot {
            socket,
            backend: backend.clone(),
            pool: pool.clone(),
            header,
            since: now,
            base,
            task,
            permit,
            _inflight: BackendInflight::new(backend),
        })
    }
}
