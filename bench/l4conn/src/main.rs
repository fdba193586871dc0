//! l4conn: new TCP connections per second, for `bench/l4`.
//!
//! ```text
//! l4conn serve  ADDR [THREADS]                 accept, read one message, echo it, close
//! l4conn client ADDR THREADS SECONDS [BYTES]   connect, write, read the echo, close; repeat
//! l4conn check  ADDR [SECONDS]                 one round trip, retried until it works
//! ```
//!
//! The client reads the reply up to the end of the stream, so the server's side closes first:
//! its sockets (and a proxy's), not the client's, hold the `TIME_WAIT` states, and the client
//! does not run out of ephemeral ports on loopback. A connection counts as completed when the
//! whole message came back and then the end of the stream; anything else is an error. Every
//! connect, read and write has a timeout, and the client stops starting connections after
//! SECONDS. It prints one line: `connections=N errors=N elapsed=S`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
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
        _ => Err("usage: l4conn serve ADDR [THREADS] | client ADDR THREADS SECONDS [BYTES] | check ADDR [SECONDS]".into()),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("l4conn: {e}");
            ExitCode::FAILURE
        }
    }
}

fn arg<T: std::str::FromStr>(args: &[String], i: usize, name: &str, default: Option<T>) -> Result<T, String> {
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
    if !(1..=1024).contains(&threads) || !(0.1..=3600.0).contains(&seconds) || !(1..=4096).contains(&bytes) {
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
    println!("connections={done} errors={errors} elapsed={:.3}", start.elapsed().as_secs_f64());
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
        return Err(io::Error::other(format!("reply of {} bytes, not the {} sent", got.len(), msg.len())));
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
