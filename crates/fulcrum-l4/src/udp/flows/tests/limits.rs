//! What a shell needs beyond one datagram at a time: a bound shared with other tables
//! (`evict_oldest`, `is_live`) and limits changed by a reload (`set_idle`, `set_max_flows`).
//! Time passed in, no sockets.

use super::*;

#[test]
fn is_live_says_whether_the_next_datagram_continues_a_flow() {
    let t0 = Instant::now();
    let mut table = table(4);
    assert!(!table.is_live(v4(1, 53), t0));
    arrive(&mut table, v4(1, 53), t0, 7);
    assert!(table.is_live(v4(1, 53), t0 + Duration::from_secs(9)));
    // Idle for exactly `idle` has expired, as everywhere else.
    assert!(!table.is_live(v4(1, 53), t0 + Duration::from_secs(10)));
    assert!(
        !table.is_live(v4(1, 54), t0),
        "another port is another client"
    );
    assert_eq!(table.len(), 1, "asking changes nothing");
}

#[test]
fn evict_oldest_takes_the_least_recently_active_flow() {
    let t0 = Instant::now();
    let mut table = table(8);
    assert_eq!(table.evict_oldest(t0), None, "nothing to take");
    for (i, last) in [1u8, 2, 3].into_iter().enumerate() {
        arrive(
            &mut table,
            v4(last, 53),
            t0 + Duration::from_secs(i as u64),
            0,
        );
    }
    // The first client is refreshed: the second is now the least recently active.
    arrive(&mut table, v4(1, 53), t0 + Duration::from_secs(3), 0);
    let out = table.evict_oldest(t0 + Duration::from_secs(4)).unwrap();
    assert_eq!((out.flow.client, out.reason), (v4(2, 53), Reason::Evicted));
    // Past its deadline it counts as expired.
    let out = table.evict_oldest(t0 + Duration::from_secs(13)).unwrap();
    assert_eq!((out.flow.client, out.reason), (v4(3, 53), Reason::Expired));
    let stats = table.stats();
    assert_eq!((stats.active, stats.evicted, stats.expired), (1, 1, 1));
}

#[test]
fn a_shorter_idle_applies_to_flows_already_there() {
    let t0 = Instant::now();
    let mut table = table(4);
    arrive(&mut table, v4(1, 53), t0, 0);
    arrive(&mut table, v4(2, 53), t0 + Duration::from_secs(2), 0);
    table.set_idle(Duration::from_secs(3));
    assert_eq!(table.idle(), Duration::from_secs(3));
    assert_eq!(table.next_expiry(), Some(t0 + Duration::from_secs(3)));
    let gone: Vec<SocketAddr> = table
        .expire(t0 + Duration::from_secs(4))
        .map(|r| r.flow.client)
        .collect();
    assert_eq!(gone, [v4(1, 53)]);
    // A longer one keeps the rest longer.
    table.set_idle(Duration::from_secs(60));
    assert_eq!(table.expire(t0 + Duration::from_secs(30)).count(), 0);
}

#[test]
fn lowering_max_flows_evicts_the_least_recently_active_and_raising_it_makes_room() {
    let t0 = Instant::now();
    let mut table = table(4);
    for last in 1..=4u8 {
        arrive(
            &mut table,
            v4(last, 53),
            t0 + Duration::from_secs(last.into()),
            0,
        );
    }
    let out: Vec<(SocketAddr, Reason)> = table
        .set_max_flows(max(2), t0 + Duration::from_secs(5))
        .map(|r| (r.flow.client, r.reason))
        .collect();
    assert_eq!(
        out,
        [(v4(1, 53), Reason::Evicted), (v4(2, 53), Reason::Evicted)]
    );
    assert_eq!((table.len(), table.max_flows()), (2, 2));
    // At the new bound a new client evicts as before.
    let out = datagram(&mut table, v4(5, 53), t0 + Duration::from_secs(6), 0);
    assert_eq!(out.removed.map(|r| r.flow.client), Some(v4(3, 53)));
    // Raised again, the table grows past the old bound without evicting.
    assert_eq!(
        table
            .set_max_flows(max(6), t0 + Duration::from_secs(7))
            .count(),
        0
    );
    for last in 6..=9u8 {
        let out = datagram(&mut table, v4(last, 53), t0 + Duration::from_secs(8), 0);
        assert_eq!(out.removed, None, "client {last}");
    }
    assert_eq!(table.len(), 6);
    assert_eq!(table.stats().evicted, 3);
}
