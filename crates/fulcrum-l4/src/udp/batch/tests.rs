//! The batches on real loopback sockets, IPv4 and IPv6: every byte and sender checked, sends
//! to several destinations, refusals, truncation. The same suite runs over the Linux batches
//! (`recvmmsg` / `sendmmsg`) and the portable ones. Waits poll readiness under a deadline; no
//! test sleeps.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use tokio::net::UdpSocket;
use tokio::time::{timeout_at, Duration, Instant};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

async fn bind(ip: IpAddr) -> UdpSocket {
    match UdpSocket::bind((ip, 0)).await {
        Ok(socket) => socket,
        Err(e) if ip.is_ipv6() => panic!(
            "cannot bind [::1]:0 ({e}): this machine has no IPv6 loopback, which the IPv6 \
             batch tests need; this is not a bug in the batches"
        ),
        Err(e) => panic!("cannot bind {ip}:0: {e}"),
    }
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

/// The bytes of datagram `seq` from client `client`, `len` long.
fn payload(client: usize, seq: usize, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i * 31 + seq * 7 + client * 101) as u8)
        .collect()
}

macro_rules! suite {
    ($name:ident, $recv:ty, $send:ty) => {
        mod $name {
            use super::*;
            type RecvBatch = $recv;
            type SendBatch = $send;

            /// Receives at least one datagram: the count, after awaiting readiness as needed.
            async fn recv_some(socket: &UdpSocket, batch: &mut RecvBatch, until: Instant) -> usize {
                loop {
                    match batch.recv(socket) {
                        Ok(n) => return n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            timeout_at(until, socket.readable())
                                .await
                                .expect("no datagram before the deadline")
                                .unwrap();
                        }
                        Err(e) => panic!("recv: {e}"),
                    }
                }
            }

            /// Flushes until nothing is queued: the datagrams sent and refused.
            async fn flush_all(
                socket: &UdpSocket,
                batch: &mut SendBatch,
            ) -> (usize, usize, Option<SocketAddr>) {
                let until = deadline();
                let (mut sent, mut failed, mut first) = (0, 0, None);
                loop {
                    let flushed = batch.flush(socket);
                    sent += flushed.sent;
                    failed += flushed.failed;
                    if first.is_none() {
                        first = flushed.first_error.map(|(dest, _)| dest);
                    }
                    if batch.is_empty() {
                        return (sent, failed, first);
                    }
                    timeout_at(until, socket.writable())
                        .await
                        .expect("never writable")
                        .unwrap();
                }
            }

            /// 200 datagrams of sizes 0..=2048 from five clients, sent in rounds of 20 (so the
            /// receive buffer never overflows) and received in batches: each client's arrive
            /// whole, in order, from that client.
            async fn two_hundred_from_five_clients(ip: IpAddr) {
                let server = bind(ip).await;
                let to = server.local_addr().unwrap();
                let mut clients = Vec::new();
                for _ in 0..5 {
                    clients.push(bind(ip).await);
                }
                let senders: Vec<SocketAddr> =
                    clients.iter().map(|c| c.local_addr().unwrap()).collect();
                let mut batch = RecvBatch::new(64, 2048);
                assert_eq!((batch.count(), batch.size()), (64, 2048));
                let mut got: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 5];
                let (mut total, mut largest_batch, mut seq) = (0, 0, 0);
                let sizes = |seq: usize| match seq % 10 {
                    0 => 0,
                    1 => 1,
                    2 => 2048,
                    _ => (seq * 397) % 2049,
                };
                for _round in 0..10 {
                    for _ in 0..4 {
                        for (c, client) in clients.iter().enumerate() {
                            client
                                .send_to(&payload(c, seq, sizes(seq)), to)
                                .await
                                .unwrap();
                        }
                        seq += 1;
                    }
                    let until = deadline();
                    let want = total + 20;
                    while total < want {
                        let n = recv_some(&server, &mut batch, until).await;
                        assert_eq!(batch.len(), n);
                        largest_batch = largest_batch.max(n);
                        for datagram in batch.iter() {
                            assert!(!datagram.truncated);
                            let c = senders
                                .iter()
                                .position(|&s| s == datagram.peer)
                                .expect("a known sender");
                            got[c].push(datagram.data.to_vec());
                            total += 1;
                        }
                    }
                }
                assert_eq!(total, 200);
                for (c, datagrams) in got.iter().enumerate() {
                    let expected: Vec<Vec<u8>> = (0..40).map(|s| payload(c, s, sizes(s))).collect();
                    assert!(*datagrams == expected, "client {c}: bytes or order differ");
                }
                assert!(largest_batch > 1, "20 waiting datagrams came one per call");
                let drained = batch.recv(&server).unwrap_err();
                assert_eq!(drained.kind(), io::ErrorKind::WouldBlock, "never blocks");
                assert!(batch.is_empty());
            }

            #[tokio::test]
            async fn two_hundred_mixed_datagrams_from_five_clients_v4() {
                two_hundred_from_five_clients(V4).await;
            }

            #[tokio::test]
            async fn two_hundred_mixed_datagrams_from_five_clients_v6() {
                two_hundred_from_five_clients(V6).await;
            }

            /// 30 datagrams for three destinations, interleaved, in one batch.
            async fn one_batch_to_three_destinations(ip: IpAddr) {
                let sender = bind(ip).await;
                let mut receivers = Vec::new();
                for _ in 0..3 {
                    receivers.push(bind(ip).await);
                }
                let mut batch = SendBatch::new(64);
                for seq in 0..30 {
                    let r = seq % 3;
                    let dest = receivers[r].local_addr().unwrap();
                    assert!(batch.push(dest, &payload(r, seq, seq * 50)));
                }
                assert_eq!(batch.len(), 30);
                assert_eq!(flush_all(&sender, &mut batch).await, (30, 0, None));

                let from = sender.local_addr().unwrap();
                let mut rx = RecvBatch::new(16, 2048);
                for (r, receiver) in receivers.iter().enumerate() {
                    let until = deadline();
                    let mut got = Vec::new();
                    while got.len() < 10 {
                        recv_some(receiver, &mut rx, until).await;
                        for datagram in rx.iter() {
                            assert_eq!(datagram.peer, from);
                            got.push(datagram.data.to_vec());
                        }
                    }
                    let expected: Vec<Vec<u8>> = (0..30)
                        .filter(|s| s % 3 == r)
                        .map(|s| payload(r, s, s * 50))
                        .collect();
                    assert!(got == expected, "receiver {r}: bytes or order differ");
                }
            }

            #[tokio::test]
            async fn one_batch_reaches_three_destinations_intact_v4() {
                one_batch_to_three_destinations(V4).await;
            }

            #[tokio::test]
            async fn one_batch_reaches_three_destinations_intact_v6() {
                one_batch_to_three_destinations(V6).await;
            }

            /// An IPv6 destination on an IPv4 socket and a datagram over 64 KiB are refused;
            /// the datagrams around them still go, in order.
            #[tokio::test]
            async fn refused_datagrams_are_dropped_and_counted_and_the_rest_still_go() {
                let sender = bind(V4).await;
                let receiver = bind(V4).await;
                let to = receiver.local_addr().unwrap();
                let wrong_family: SocketAddr = "[::1]:9".parse().unwrap();
                let mut batch = SendBatch::new(8);
                assert!(batch.push(to, b"one"));
                assert!(batch.push(to, b"two"));
                assert!(batch.push(wrong_family, b"nowhere"));
                assert!(batch.push(to, b"three"));
                assert!(batch.push(to, &vec![0; 70_000]));
                assert!(batch.push(to, b"four"));
                assert_eq!(
                    flush_all(&sender, &mut batch).await,
                    (4, 2, Some(wrong_family))
                );

                let mut rx = RecvBatch::new(8, 64);
                let until = deadline();
                let mut got = Vec::new();
                while got.len() < 4 {
                    recv_some(&receiver, &mut rx, until).await;
                    got.extend(rx.iter().map(|d| d.data.to_vec()));
                }
                assert_eq!(got, [&b"one"[..], b"two", b"three", b"four"]);
            }

            #[tokio::test]
            async fn a_full_batch_queues_nothing_more() {
                let mut batch = SendBatch::new(2);
                let to: SocketAddr = "127.0.0.1:9".parse().unwrap();
                assert!(batch.push(to, b"a") && batch.push(to, b"b"));
                assert!(batch.is_full());
                assert!(!batch.push(to, b"c"));
                assert_eq!(batch.len(), 2);
            }

            /// Datagrams longer than the buffer arrive cut to it and say so; one exactly as long
            /// does not.
            #[tokio::test]
            async fn an_oversized_datagram_is_reported_truncated() {
                let receiver = bind(V4).await;
                let client = bind(V4).await;
                let to = receiver.local_addr().unwrap();
                let sizes = [63, 64, 65, 1000];
                for (seq, len) in sizes.into_iter().enumerate() {
                    client.send_to(&payload(0, seq, len), to).await.unwrap();
                }
                let mut rx = RecvBatch::new(8, 64);
                let until = deadline();
                let mut got = Vec::new();
                while got.len() < sizes.len() {
                    recv_some(&receiver, &mut rx, until).await;
                    got.extend(rx.iter().map(|d| (d.data.to_vec(), d.truncated)));
                }
                for (seq, len) in sizes.into_iter().enumerate() {
                    let mut expected = payload(0, seq, len);
                    expected.truncate(64);
                    assert_eq!(got[seq], (expected, len > 64), "{len} bytes");
                }
            }
        }
    };
}

#[cfg(target_os = "linux")]
suite!(
    linux,
    crate::sys::mmsg::RecvBatch,
    crate::sys::mmsg::SendBatch
);
suite!(
    portable,
    super::super::portable::RecvBatch,
    super::super::portable::SendBatch
);

/// A socket bound to the wildcard learns which address each datagram was sent to, and answers
/// from it: 127.0.0.2 is a loopback address like 127.0.0.1, so a reply the kernel sources
/// itself comes from 127.0.0.1, which a client connected to 127.0.0.2 never sees.
#[cfg(target_os = "linux")]
mod destination {
    use super::*;
    use crate::sys::mmsg::{ask_destination, RecvBatch, SendBatch};

    async fn one(socket: &UdpSocket, batch: &mut RecvBatch) -> (SocketAddr, Option<IpAddr>) {
        loop {
            match batch.recv(socket) {
                Ok(_) => {
                    let d = batch.get(0).expect("a datagram");
                    return (d.peer, d.local);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    timeout_at(deadline(), socket.readable())
                        .await
                        .unwrap()
                        .unwrap();
                }
                Err(e) => panic!("recv: {e}"),
            }
        }
    }

    async fn answer(socket: &UdpSocket, to: SocketAddr, from: Option<IpAddr>, what: &[u8]) {
        let mut tx = SendBatch::new(4);
        assert!(tx.push_from(to, from, what));
        while !tx.is_empty() {
            timeout_at(deadline(), socket.writable())
                .await
                .unwrap()
                .unwrap();
            let flushed = tx.flush(socket);
            assert_eq!(flushed.failed, 0, "{:?}", flushed.first_error);
        }
    }

    async fn received_from(client: &UdpSocket) -> (Vec<u8>, SocketAddr) {
        let mut buf = [0u8; 64];
        let (n, from) = timeout_at(deadline(), client.recv_from(&mut buf))
            .await
            .expect("no reply")
            .unwrap();
        (buf[..n].to_vec(), from)
    }

    #[tokio::test]
    async fn a_wildcard_socket_answers_from_the_address_it_was_sent_to_v4() {
        let server = UdpSocket::bind("0.0.0.0:0").await.unwrap();
        let port = server.local_addr().unwrap().port();
        ask_destination(&server).unwrap();
        let mut rx = RecvBatch::new(4, 64).with_destination();
        let client = bind(V4).await;
        let second: IpAddr = "127.0.0.2".parse().unwrap();

        client.send_to(b"hi", (second, port)).await.unwrap();
        let (peer, local) = one(&server, &mut rx).await;
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(local, Some(second), "the destination is reported");
        answer(&server, peer, local, b"from .2").await;
        assert_eq!(
            received_from(&client).await,
            (b"from .2".to_vec(), SocketAddr::new(second, port))
        );
        // Without a source the kernel picks its own: what the option is for.
        answer(&server, peer, None, b"kernel's").await;
        let (_, from) = received_from(&client).await;
        assert_ne!(from.ip(), second, "the kernel answered from {from} anyway");

        // A batch that was not asked reports nothing.
        let mut plain = RecvBatch::new(4, 64);
        client.send_to(b"hi", (second, port)).await.unwrap();
        assert_eq!(one(&server, &mut plain).await.1, None);
    }

    #[tokio::test]
    async fn a_wildcard_socket_answers_from_the_address_it_was_sent_to_v6() {
        let server = UdpSocket::bind("[::]:0").await.unwrap();
        let port = server.local_addr().unwrap().port();
        ask_destination(&server).unwrap();
        let mut rx = RecvBatch::new(4, 64).with_destination();
        let client = bind(V6).await;
        client.send_to(b"hi", (V6, port)).await.unwrap();
        let (peer, local) = one(&server, &mut rx).await;
        assert_eq!(local, Some(V6));
        answer(&server, peer, local, b"from ::1").await;
        assert_eq!(
            received_from(&client).await,
            (b"from ::1".to_vec(), SocketAddr::new(V6, port))
        );
    }
}
