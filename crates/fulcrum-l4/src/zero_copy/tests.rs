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
    let fut = async move {
        relay(
            &client_relay,
            b"",
            &backend_relay,
            idle,
            std::future::pending(),
            None,
        )
        .await
    };
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

/// What an idle spliced connection costs is mostly this state: its futures are pinned in place
/// (not moved into a select), readiness is polled without stored futures and the copying
/// fallback is boxed. 744 bytes on x86-64 with rustc 1.95; the bound leaves room for
/// compilers, not for a future moved by value.
#[tokio::test(flavor = "current_thread")]
async fn an_idle_relay_state_stays_small() {
    let (_client, client_relay) = pair().await;
    let (backend_relay, _backend) = pair().await;
    let idle = Some(Duration::from_secs(1));
    let never = std::future::pending::<()>();
    let f = relay(&client_relay, b"", &backend_relay, idle, never, None);
    let size = std::mem::size_of_val(&f);
    assert!(size <= 1024, "the relay's state grew to {size} bytes");
}
