//! The open-file limit (`RLIMIT_NOFILE`): raised to its hard limit at startup, and compared
//! with what the listeners may need.
//!
//! Every client connection is a file descriptor and so is every backend connection it opens,
//! so a listener's `max_connections` needs about twice as many descriptors. Systemd and most
//! shells start services with a soft limit of 1024 (the hard one is usually far higher); a
//! proxy left there stops accepting at about 500 clients. Like NGINX's
//! `worker_rlimit_nofile` and HAProxy (which sets it from `maxconn`), Fulcrum raises its own
//! soft limit as far as the hard one allows and warns when that is still not enough.

use std::io;

/// Descriptors kept aside for everything that is not a proxied connection: listening sockets,
/// the admin listener, log files, health checks, DNS, the runtime's own.
pub const HEADROOM: u64 = 256;

/// The soft and hard `RLIMIT_NOFILE` of this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoFile {
    pub soft: u64,
    pub hard: u64,
}

/// The current limits.
pub fn current() -> io::Result<NoFile> {
    let (soft, hard) = rlimit::Resource::NOFILE.get()?;
    Ok(NoFile { soft, hard })
}

/// Raise the soft limit to the hard one; returns the limits in force afterwards.
pub fn raise_to_hard() -> io::Result<NoFile> {
    rlimit::increase_nofile_limit(u64::MAX)?;
    current()
}

/// Descriptors an HTTP connection holds: the client's and one backend's.
pub const PER_CONNECTION: u64 = 2;
/// Descriptors a `tcp` listener's connection holds at worst while spliced: the two sockets and the
/// two ends of a pipe per direction, both moving bytes at once. Pipes are leased per burst from
/// the worker's pool, so an idle connection holds two; the budget counts the worst case. (Without
/// a pipe to spare a burst is copied instead.)
pub const PER_SPLICED_CONNECTION: u64 = 6;
/// Descriptors a `udp` listener's flow holds: its connected backend socket (the clients share
/// the listener's sockets, one per worker and address).
pub const PER_FLOW: u64 = 1;

/// Descriptors that listeners may use at once, given each one's `max_connections` (or
/// `max_flows`) and descriptors per connection ([`PER_CONNECTION`],
/// [`PER_SPLICED_CONNECTION`], [`PER_FLOW`]), plus [`HEADROOM`].
pub fn needed(listeners: impl IntoIterator<Item = (usize, u64)>) -> u64 {
    listeners
        .into_iter()
        .map(|(n, per)| u64::try_from(n).unwrap_or(u64::MAX).saturating_mul(per))
        .fold(HEADROOM, u64::saturating_add)
}

/// The warning to log when `need` descriptors exceed the soft limit, if they do.
pub fn shortfall(need: u64, limit: NoFile) -> Option<String> {
    (need > limit.soft).then(|| {
        format!(
            "the listeners' max_connections and max_flows may need {need} file descriptors \
             (two per connection, client and backend, six per tcp connection relayed through \
             pipes, one per udp flow and udp socket, plus {HEADROOM}) but the open-file limit \
             is {} \
             (hard limit {}): past it new clients wait in the accept backlog; raise the hard \
             limit (systemd LimitNOFILE=, ulimit -Hn, docker --ulimit nofile=) or lower \
             max_connections and max_flows (past max_flows, udp flows are evicted)",
            limit.soft, limit.hard
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn need_is_two_per_connection_six_per_spliced_one_plus_headroom() {
        assert_eq!(needed([]), HEADROOM);
        assert_eq!(
            needed([(100, PER_CONNECTION), (50, PER_CONNECTION)]),
            300 + HEADROOM
        );
        assert_eq!(needed([(10, PER_SPLICED_CONNECTION)]), 60 + HEADROOM);
        assert_eq!(needed([(100, PER_FLOW), (4, 1)]), 104 + HEADROOM);
        assert_eq!(needed([(usize::MAX, PER_CONNECTION)]), u64::MAX);
    }

    #[test]
    fn shortfall_only_past_the_soft_limit() {
        let limit = NoFile {
            soft: 1024,
            hard: 4096,
        };
        assert_eq!(shortfall(1024, limit), None);
        let w = shortfall(200_256, limit).unwrap();
        assert!(
            w.contains("200256") && w.contains("1024") && w.contains("4096"),
            "{w}"
        );
    }

    #[test]
    fn raising_reaches_the_hard_limit() {
        let after = raise_to_hard().unwrap();
        assert_eq!(after.soft, after.hard);
        assert_eq!(current().unwrap(), after);
    }
}
