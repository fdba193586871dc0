//! The guards a connection meets at accept, before any byte of it is read (before the TLS
//! handshake): per-address connection limits (`max_connections_per_ip`,
//! `new_connections_per_ip`) and, on tcp and tls_passthrough listeners, the access list. A
//! refused connection is closed at once and counted in `fulcrum_guard_decisions_total`.

use std::net::IpAddr;
use std::time::Instant;

use fulcrum_guard::{ConnRefusal, ConnSlot};

use crate::state::ListenerState;

/// Whether the connection of `ip` may go on: `Ok(Some(slot))` holds its place in the
/// address's count until dropped (with the connection), `Ok(None)` when nothing counts it,
/// `Err(())` when it must be closed.
pub(crate) fn admit(l: &ListenerState, ip: IpAddr, worker: usize) -> Result<Option<ConnSlot>, ()> {
    let g = &l.conn_guards;
    let counters = g.counters.as_ref();
    if let Some(list) = &g.access {
        let verdict = list.check(ip);
        if let Some([c, _, _]) = counters {
            c.record(worker, verdict.allowed());
        }
        if !verdict.allowed() {
            tracing::debug!(listener = %l.name, client = %ip, why = verdict.reason(), "connection refused");
            return Err(());
        }
    }
    let Some(limits) = &g.limits else {
        return Ok(None);
    };
    match limits.admit(ip, Instant::now()) {
        Ok(slot) => {
            if let Some([_, open, new]) = counters {
                if limits.limits_open() {
                    open.record(worker, true);
                }
                if limits.limits_new() {
                    new.record(worker, true);
                }
            }
            Ok(Some(slot))
        }
        Err(why) => {
            if let Some([_, open, new]) = counters {
                match why {
                    ConnRefusal::TooMany => open.record(worker, false),
                    ConnRefusal::TooFast => new.record(worker, false),
                }
            }
            tracing::debug!(listener = %l.name, client = %ip, refusal = ?why, "connection refused");
            Err(())
        }
    }
}
