//! l4conn: new TCP connections per second, for `bench/l4`.
//!
//! ```text
//! l4conn serve  ADDR [THREADS]                 accept, read one message, echo it, close
//! l4conn client ADDR THREADS SECONDS [BYTES]   connect, write, read the echo, close; repeat
//! l4conn check  ADDR [SECONDS]                 one round trip, retried until it works
//! l4conn udp-serve  ADDR [THREADS]              echo every datagram to its sender
//! l4conn udp-client ADDR THREADS SECONDS [BYTES [WINDOW]]
//!                                              a flow per thread, WINDOW datagrams in flight
//! l4conn udp-check  ADDR [SECONDS]              one datagram echoed, retried until it works
//! ```
//!
//! The client reads the reply up to the end of the stream, so the server's side closes first:
//! its sockets (and a proxy's), not the client's, hold the `TIME_WAIT` states, and the client
//! does not run out of ephemeral ports on loopback. A connection counts as completed when the
//! whole message came back and then the end of the stream; anything else is an error. Every
//! connect, read and write has a timeout, and the client stops starting connections after
//! SECONDS. It prints one line: `connections=N errors=N elapsed=S`.
//!
//! The UDP client runs one flow (its own socket, so its own source port) per thread, each
//! keeping WINDOW datagrams of BYTES bytes in flight and sending the next when a reply comes
//! back whole; when nothing comes back for 200 ms, what is in flight counts as lost. It prints
//! `datagrams=N sent=N lost=N elapsed=S`, N datagrams being the replies received (each one a
//! datagram the proxy relayed both ways).

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::ExitCode;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// For connect, each read and each write.
const TIMEOUT: Duration = Duration::from_secs(5);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let r = match args.first().map(String::as_str) {
        Some("serve") => serve(&args[1..]),
        Some("client") => client(&args[1..]),
        Some("check") => check(&args[1..]),
        Some("udp-serve") => udp_serve(&args[1..]),
        Some("udp-client") => udp_client(&args[1..]),
        Some("udp-check") => udp_check(&args[1..]),
        _ => Err("usage: l4conn serve ADDR [THREADS] | client ADDR THREADS SECONDS [BYTES] | check ADDR [SECONDS] \
                  | udp-serve ADDR [THREADS] | udp-client ADDR THREADS SECONDS [BYTES [WINDOW]] | udp-check ADDR [SECONDS]"
            .into()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("l4conn: {e}");
            ExitCode::FAILURE
        }
    }
}

fn arg<T: std::str::FromStr>(
    args: &[String],
    i: usize,
    name: &str,
    default: Option<T>,
) -> Result<T, String> {
    match (args.get(i), default) {
        (Some(s), _) => s.parse().map_err(|_| format!("bad {name}: {s:?}")),
        (None, Some(d)) => Ok(d),
        (None, None) => Err(format!("missing {name}")),
    }
}

// ---- serve ---------------------------------------------------------------------------------

fn serve(args: &[String]) -> Result<(), String> {
    let addr: SocketAddr = arg(args, 0, "ADDR", None)?;
    let threads: usize = arg(args, 1, "THREADS", Some(4))?;
    let listener = TcpListener::bind(addr).map_err(|e| format!("bind {addr}: {e}"))?;
    let mut handles = Vec::new();
    for _ in 0..threads.max(1) {
        let l = listener.try_clone().map_err(|e| format!("listener: {e}"))?;
        handles.push(thread::spawn(move || loop {
            match l.accept() {
                // A client that misbehaves only loses its own connection.
                Ok((s, _)) => drop(echo_once(s)),
                Err(e) => {
                    eprintln!("l4conn serve: accept: {e}");
                    thread::sleep(Duration::from_millis(10));
                }
            }
        }));
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

/// Read what the client sent (one small message: one read), send it back, close.
fn echo_once(mut s: TcpStream) -> io::Result<()> {
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf)?;
    s.write_all(&buf[..n])?;
    Ok(())
}

// ---- client --------------------------------------------------------------------------------

fn client(args: &[String]) -> Result<(), String> {
    let addr: SocketAddr = arg(args, 0, "ADDR", None)?;
    let threads: usize = arg(args, 1, "THREADS", None)?;
    let seconds: f64 = arg(args, 2, "SECONDS", None)?;
    let bytes: usize = arg(args, 3, "BYTES", Some(64))?;
    if !(1..=1024).contains(&threads)
        || !(0.1..=3600.0).contains(&seconds)
        || !(1..=4096).contains(&bytes)
    {
        return Err("THREADS 1..1024, SECONDS 0.1..3600, BYTES 1..4096".into());
    }
    let msg: Arc<Vec<u8>> = Arc::new((0..bytes).map(|i| b'a' + (i % 26) as u8).collect());
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let msg = Arc::clone(&msg);
            thread::spawn(move || {
                let (mut done, mut errors, mut first) = (0u64, 0u64, None);
                while Instant::now() < deadline {
                    match round_trip(addr, &msg) {
                        Ok(()) => done += 1,
                        Err(e) => {
                            errors += 1;
                            first.get_or_insert(e.to_string());
                            thread::sleep(Duration::from_millis(1)); // no spinning on refusals
                        }
                    }
                }
                (done, errors, first)
            })
        })
        .collect();
    let (mut done, mut errors) = (0u64, 0u64);
    for h in handles {
        let (d, e, first) = h.join().map_err(|_| "a client thread panicked")?;
        done += d;
        errors += e;
        if let Some(f) = first {
            eprintln!("l4conn client: first error of a thread: {f}");
        }
    }
    println!(
        "connections={done} errors={errors} elapsed={:.3}",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One short connection: connect, write `msg`, read it back and then the end of the stream.
fn round_trip(addr: SocketAddr, msg: &[u8]) -> io::Result<()> {
    let mut s = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(TIMEOUT))?;
    s.set_write_timeout(Some(TIMEOUT))?;
    s.write_all(msg)?;
    let mut got = Vec::with_capacity(msg.len());
    let mut buf = [0u8; 4096];
    loop {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.len() > msg.len() {
            break;
        }
    }
    if got != msg {
        return Err(io::Error::other(format!(
            "reply of {} bytes, not the {} sent",
            got.len(),
            msg.len()
        )));
    }
    Ok(())
}

// ---- check ---------------------------------------------------------------------------------

fn check(args: &[String]) -> Result<(), String> {
    let addr: SocketAddr = arg(args, 0, "ADDR", None)?;
    let seconds: f64 = arg(args, 1, "SECONDS", Some(15.0))?;
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    loop {
        match round_trip(addr, b"l4conn check\n") {
            Ok(()) => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(format!("{addr}: {e}")),
            Err(_) => thread::sleep(Duration::from_millis(100)),
        }
    }
}

// ---- udp-serve -----------------------------------------------------------------------------

fn udp_serve(args: &[String]) -> Result<(), String> {
    let addr: SocketAddr = arg(args, 0, "ADDR", None)?;
    let threads: usize = arg(args, 1, "THREADS", Some(2))?;
    let sock = UdpSocket::bind(addr).map_err(|e| format!("bind udp {addr}: {e}"))?;
    let mut handles = Vec::new();
    for _ in 0..threads.max(1) {
        let s = sock.try_clone().map_err(|e| format!("udp socket: {e}"))?;
        handles.push(thread::spawn(move || {
            let mut buf = [0u8; 65536];
            loop {
                match s.recv_from(&mut buf) {
                    // A reply that cannot be sent is a lost datagram: the client counts it.
                    Ok((n, from)) => drop(s.send_to(&buf[..n], from)),
                    Err(e) => {
                        eprintln!("l4conn udp-serve: recv: {e}");
                        thread::sleep(Duration::from_millis(10));
                    }
                }
            }
        }));
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}

// ---- udp-client ----------------------------------------------------------------------------

/// How long a thread waits for any reply before it counts what is in flight as lost.
const UDP_LOSS_WAIT: Duration = Duration::from_millis(200);

fn udp_client(args: &[String]) -> Result<(), String> {
    let addr: SocketAddr = arg(args, 0, "ADDR", None)?;
    let threads: usize = arg(args, 1, "THREADS", None)?;
    let seconds: f64 = arg(args, 2, "SECONDS", None)?;
    let bytes: usize = arg(args, 3, "BYTES", Some(64))?;
    let window: u64 = arg(args, 4, "WINDOW", Some(8))?;
    if !(1..=1024).contains(&threads)
        || !(0.1..=3600.0).contains(&seconds)
        || !(16..=8192).contains(&bytes)
        || !(1..=1024).contains(&window)
    {
        return Err("THREADS 1..1024, SECONDS 0.1..3600, BYTES 16..8192, WINDOW 1..1024".into());
    }
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let handles: Vec<_> = (0..threads)
        .map(|_| thread::spawn(move || udp_flow(addr, bytes, window, deadline)))
        .collect();
    let (mut replies, mut sent, mut lost) = (0u64, 0u64, 0u64);
    for h in handles {
        let t = h.join().map_err(|_| "a client thread panicked")??;
        replies += t.replies;
        sent += t.sent;
        lost += t.lost;
    }
    println!(
        "datagrams={replies} sent={sent} lost={lost} elapsed={:.3}",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

struct FlowCount {
    replies: u64,
    sent: u64,
    lost: u64,
}

/// One flow (one socket, so one source port): WINDOW datagrams in flight, each carrying its
/// sequence number; a reply whose number and contents match sends the next. When nothing comes
/// back for [`UDP_LOSS_WAIT`], what is in flight counts as lost and a fresh window goes out;
/// replies to datagrams already counted lost are ignored.
fn udp_flow(
    addr: SocketAddr,
    bytes: usize,
    window: u64,
    deadline: Instant,
) -> Result<FlowCount, String> {
    let local: SocketAddr = if addr.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    }
    .parse()
    .map_err(|e| format!("{e}"))?;
    let s = UdpSocket::bind(local).map_err(|e| format!("bind udp: {e}"))?;
    s.connect(addr)
        .map_err(|e| format!("connect udp {addr}: {e}"))?;
    s.set_read_timeout(Some(UDP_LOSS_WAIT))
        .map_err(|e| format!("{e}"))?;
    let mut msg: Vec<u8> = (0..bytes).map(|i| b'a' + (i % 26) as u8).collect();
    let tail = msg[8..].to_vec(); // what every reply must carry after its sequence number
    let mut buf = vec![0u8; bytes + 64];
    let mut c = FlowCount {
        replies: 0,
        sent: 0,
        lost: 0,
    };
    // Sequence numbers below `valid_from` were counted lost; `next` is the next to send.
    let (mut valid_from, mut next, mut in_flight) = (0u64, 0u64, 0u64);
    let mut send = |s: &UdpSocket, seq: u64, c: &mut FlowCount| {
        msg[..8].copy_from_slice(&seq.to_be_bytes());
        // A send the kernel refuses (buffer full) is a datagram lost like any other.
        if s.send(&msg).is_ok() {
            c.sent += 1;
        }
    };
    while Instant::now() < deadline {
        while in_flight < window {
            send(&s, next, &mut c);
            next += 1;
            in_flight += 1;
        }
        match s.recv(&mut buf) {
            Ok(n) => {
                let seq = buf
                    .get(..8)
                    .and_then(|b| b.try_into().ok())
                    .map(u64::from_be_bytes);
                match seq {
                    Some(seq)
                        if seq >= valid_from
                            && seq < next
                            && n == bytes
                            && buf[8..n] == tail[..] =>
                    {
                        c.replies += 1;
                        in_flight -= 1;
                    }
                    _ => {} // late (already counted lost) or not ours
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                c.lost += in_flight;
                in_flight = 0;
                valid_from = next;
            }
            // ECONNREFUSED from an ICMP port unreachable: nobody listens (yet); lost too.
            Err(_) => {
                c.lost += in_flight;
                in_flight = 0;
                valid_from = next;
                thread::sleep(Duration::from_millis(1));
            }
        }
    }
    // Replies still in flight when the time is up are neither counted nor lost.
    Ok(c)
}

// ---- udp-check -----------------------------------------------------------------------------

fn udp_check(args: &[String]) -> Result<(), String> {
    let addr: SocketAddr = arg(args, 0, "ADDR", None)?;
    let seconds: f64 = arg(args, 1, "SECONDS", Some(15.0))?;
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let local = if addr.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    };
    let s = UdpSocket::bind(local).map_err(|e| format!("bind udp: {e}"))?;
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(|e| format!("{e}"))?;
    let mut buf = [0u8; 64];
    loop {
        let _ = s.send_to(b"l4conn udp-check", addr);
        if let Ok((n, _)) = s.recv_from(&mut buf) {
            if &buf[..n] == b"l4conn udp-check" {
                return Ok(());
            }
        }
        if Instant::now() >= deadline {
            return Err(format!("{addr}: no echo over udp"));
        }
    }
}
