//! The splicing relay over real loopback sockets, on a current-thread runtime so that the
//! pipe pool seen by the test is the relay's own.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;

/// Open descriptors of this process.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// A connected pair: (what the test holds, what the relay holds).
async fn pair() -> (TcpStream, TcpStream) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let a = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
    let (b, _) = l.accept().await.unwrap();
    (a, b)
}

/// Relay between two fresh pairs on this task; returns the test's ends (client, backend) and
/// the relay's future.
async fn relayed(idle: Option<Duration>) -> (TcpStream, TcpStream, impl Future<Output = Relayed>) {
    let (client, client_relay) = pair().await;
    let (backend_relay, backend) = pair().await;
    let fut =
        async move { relay(&client_relay, b"", &backend_relay, idle, crate::NoCut, None).await };
    (client, backend, fut)
}

#[tokio::test(flavor = "current_thread")]
async fn short_connections_reuse_pooled_pipes_instead_of_making_new_ones() {
    assert!(available());
    let before = open_fds();
    let made_before = made();
    for i in 0..200u32 {
        let (mut client, mut backend, fut) = relayed(None).await;
        let io = async {
            let msg = i.to_be_bytes();
            client.write_all(&msg).await.unwrap();
            let mut got = [0u8; 4];
            backend.read_exact(&mut got).await.unwrap();
            assert_eq!(got, msg);
            backend.write_all(b"reply").await.unwrap();
            backend.shutdown().await.unwrap();
            let mut reply = Vec::new();
            client.read_to_end(&mut reply).await.unwrap();
            assert_eq!(reply, b"reply");
            client.shutdown().await.unwrap();
            let mut rest = Vec::new();
            backend.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty());
        };
        let (r, ()) = tokio::join!(fut, io);
        assert!(matches!(r.end, RelayEnd::Closed), "{:?}", r.end);
        assert_eq!((r.up, r.down), (4, 5));
    }
    // Sequential connections need at most one pipe per direction at a time: the pool holds
    // that many, and no descriptor leaked (the test's own sockets are all closed by now).
    assert!(pooled() <= 2, "pooled {}", pooled());
    assert!(
        made() - made_before <= 2,
        "{} pipes made for 200 connections",
        made() - made_before
    );
    assert!(
        open_fds() <= before + 4,
        "descriptors grew from {before} to {}",
        open_fds()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_idle_relay_holds_no_pipe() {
    assert!(available());
    let (mut client, mut backend, fut) = relayed(Some(Duration::from_millis(300))).await;
    let pooled_at_start = pooled();
    let io = async {
        client.write_all(b"hello").await.unwrap();
        let mut got = [0u8; 5];
        backend.read_exact(&mut got).await.unwrap();
        // The burst is over: its pipe is back in the pool while the connection sits idle.
        assert_eq!(pooled(), pooled_at_start);
    };
    let (r, ()) = tokio::join!(fut, io);
    assert!(matches!(r.end, RelayEnd::Idle), "{:?}", r.end);
    assert_eq!(pooled(), pooled_at_start);
}

#[tokio::test(flavor = "current_thread")]
async fn a_large_transfer_and_half_close_come_through_whole() {
    let (mut client, mut backend, fut) = relayed(None).await;
    let data: Vec<u8> = (0..4 * 1024 * 1024u32)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let io = async {
        let send = async {
            client.write_all(&data).await.unwrap();
            client.shutdown().await.unwrap();
            // Half-closed: the reply still arrives, whole.
            let mut reply = Vec::new();
            client.read_to_end(&mut reply).await.unwrap();
            reply
        };
        let recv = async {
            let mut got = Vec::new();
            backend.read_to_end(&mut got).await.unwrap();
            backend.write_all(&got[..1000]).await.unwrap();
            backend.shutdown().await.unwrap();
            got
        };
        tokio::join!(send, recv)
    };
    let (r, (reply, got)) = tokio::join!(fut, io);
    assert!(matches!(r.end, RelayEnd::Closed), "{:?}", r.end);
    assert_eq!(got.len(), data.len());
    assert!(got == data, "the bytes changed on the way");
    assert_eq!(reply, &data[..1000]);
    assert_eq!((r.up, r.down), (data.len() as u64, 1000));
}

#[tokio::test(flavor = "current_thread")]
async fn a_cut_relay_closes_a_pipe_that_still_holds_bytes() {
    // The backend never reads: the up direction's pipe fills and stays leased until the
    // relay is cut; it must not come back to the pool with bytes in it.
    let (mut client, _backend, fut) = relayed(Some(Duration::from_millis(500))).await;
    let start = pooled();
    let io = async {
        let junk = vec![1u8; 8 * 1024 * 1024];
        let _ = tokio::time::timeout(Duration::from_secs(2), client.write_all(&junk)).await;
    };
    let (r, ()) = tokio::join!(fut, io);
    assert!(matches!(r.end, RelayEnd::Idle), "{:?}", r.end);
    // The up pipe (full) was closed; whatever else is pooled is empty.
    assert!(pooled() <= start, "pooled {} > {start}", pooled());
    for _ in 0..pooled() {
        let p = lease().unwrap();
        let mut probe = [0u8; 1];
        // An empty pipe has nothing to read (EAGAIN), never stale bytes.
        let n = nix_read(&p, &mut probe);
        assert!(n.is_err(), "a pooled pipe held bytes");
        give_back(p);
    }
}

/// Read from a pipe's read end without blocking.
fn nix_read(p: &Pipe, buf: &mut [u8]) -> io::Result<usize> {
    use std::io::Read;
    let fd = p.read.try_clone()?;
    let mut f = std::fs::File::from(fd);
    f.read(buf)
}

/// What an idle spliced connection costs is mostly this state: one hand-written future with the
/// two directions, one timer and the stop signal (the copying fallback boxed). 232 bytes on
/// x86-64 with rustc 1.95 (it was 744 as an `async fn` of pinned futures); the bound leaves
/// room for compilers, not for a second timer or a future moved by value.
#[tokio::test(flavor = "current_thread")]
async fn an_idle_relay_state_stays_small() {
    let (_client, client_relay) = pair().await;
    let (backend_relay, _backend) = pair().await;
    let idle = Some(Duration::from_secs(1));
    let f = relay(&client_relay, b"", &backend_relay, idle, crate::NoCut, None);
    let size = std::mem::size_of_val(&f);
    assert!(size <= 320, "the relay's state grew to {size} bytes");
}

/// A cut that gives `first` at once, then `later` (an earlier time) once `switch` is set.
struct TwoCuts {
    first: Instant,
    later: Instant,
    switch: std::rc::Rc<std::cell::Cell<bool>>,
}

impl crate::Cut for TwoCuts {
    fn poll_cut(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Instant> {
        if self.switch.get() {
            return std::task::Poll::Ready(self.later);
        }
        // Woken again soon to look at the switch.
        let waker = cx.waker().clone();
        tokio::task::spawn_local(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            waker.wake();
        });
        std::task::Poll::Ready(self.first)
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_cut_ends_the_relay_at_its_time_and_a_sooner_one_replaces_it() {
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async {
            // Cut 300 ms from now: the relay ends Stopped then, not before, although its idle
            // timeout (10 s) is far off.
            let (client, client_relay) = pair().await;
            let (backend_relay, backend) = pair().await;
            let start = Instant::now();
            let switch = std::rc::Rc::new(std::cell::Cell::new(false));
            let cut = TwoCuts {
                first: start + Duration::from_millis(300),
                later: start + Duration::from_secs(60),
                switch: switch.clone(),
            };
            let idle = Some(Duration::from_secs(10));
            let r = relay(&client_relay, b"", &backend_relay, idle, cut, None).await;
            assert!(matches!(r.end, RelayEnd::Stopped), "{:?}", r.end);
            let took = start.elapsed();
            assert!(
                took >= Duration::from_millis(300),
                "cut early, after {took:?}"
            );
            assert!(took < Duration::from_secs(5), "cut late, after {took:?}");
            drop((client, backend));

            // Cut 60 s from now at first, then (the switch set after 100 ms) at once.
            let (client, client_relay) = pair().await;
            let (backend_relay, backend) = pair().await;
            let start = Instant::now();
            switch.set(false);
            let cut = TwoCuts {
                first: start + Duration::from_secs(60),
                later: start,
                switch: switch.clone(),
            };
            let flip = async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                switch.set(true);
            };
            let relayed = relay(&client_relay, b"", &backend_relay, idle, cut, None);
            let bounded = tokio::time::timeout(Duration::from_secs(5), relayed);
            let (r, ()) = tokio::join!(bounded, flip);
            let r = r.expect("the sooner cut was not taken");
            assert!(matches!(r.end, RelayEnd::Stopped), "{:?}", r.end);
            drop((client, backend));
        })
        .await;
}
