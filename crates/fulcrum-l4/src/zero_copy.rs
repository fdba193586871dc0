//! The relay between two TCP sockets without copying through user space (Linux): each
//! direction splices socket → pipe → socket, so the bytes stay in the kernel. Same contract as
//! [`crate::relay`]: half-close carried through, an idle timeout, a stop future, the bytes
//! each way and how it ended.
//!
//! A direction only reads into its pipe when the pipe is empty (and asks for no more than a
//! pipe holds), so an `EAGAIN` from a read splice is always the socket's and from a write
//! splice always the destination socket's: tokio's readiness is cleared for the right one.

use std::future::Future;
use std::io;
use std::net::Shutdown;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::relay::{idle_expired, Activity};
use crate::sys::splice::{splice, Pipe};
use crate::{RelayEnd, Relayed};

/// Bytes asked for per splice: the default pipe capacity (16 pages), so a read into an empty
/// pipe never finds it full.
const CHUNK: usize = 64 * 1024;

/// The two pipes of one relay (one per direction).
pub struct Pipes {
    up: Pipe,
    down: Pipe,
}

impl Pipes {
    /// `Err` when no pipe can be made (descriptors exhausted): relay by copying instead.
    pub fn new() -> io::Result<Pipes> {
        Ok(Pipes {
            up: Pipe::new()?,
            down: Pipe::new()?,
        })
    }
}

/// A test of the client's first bytes (what one peek finds when it first sends): `true`
/// ends the relay, failed, before they reach the backend.
pub type FirstBytes = fn(&[u8]) -> bool;

/// Relay `client` ↔ `backend` (after `initial` is written to the backend) through `pipes`
/// until both directions ended, nothing moved for `idle`, or `stop` resolves. `refuse`, when
/// given, looks at the client's first bytes before any is relayed.
pub async fn relay(
    pipes: Pipes,
    client: &TcpStream,
    initial: &[u8],
    backend: &TcpStream,
    idle: Option<std::time::Duration>,
    stop: impl Future<Output = ()>,
    refuse: Option<FirstBytes>,
) -> Relayed {
    let Pipes {
        up: up_pipe,
        down: down_pipe,
    } = pipes;
    let activity = Activity::new();
    let (up, down) = (AtomicU64::new(0), AtomicU64::new(0));
    let end = {
        let both = async {
            write_all(backend, initial, &activity).await?;
            up.fetch_add(initial.len() as u64, Ordering::Relaxed);
            // The first failure ends both directions (a reset on one side ends the relay).
            tokio::try_join!(
                pump(client, backend, &up_pipe, &activity, &up, refuse),
                pump(backend, client, &down_pipe, &activity, &down, None),
            )
        };
        tokio::select! {
            r = both => match r {
                Ok(_) => RelayEnd::Closed,
                Err(e) => RelayEnd::Failed(e),
            },
            _ = idle_expired(&activity, idle) => RelayEnd::Idle,
            _ = stop => RelayEnd::Stopped,
        }
    };
    Relayed {
        up: up.into_inner(),
        down: down.into_inner(),
        end,
    }
}

/// One direction: splice `from` → pipe → `to` until `from` ends, then shut `to` down for
/// writing. Bytes written to `to` are added to `moved` as they go.
async fn pump(
    from: &TcpStream,
    to: &TcpStream,
    pipe: &Pipe,
    activity: &Activity,
    moved: &AtomicU64,
    mut refuse: Option<FirstBytes>,
) -> io::Result<()> {
    loop {
        from.readable().await?;
        if let Some(test) = refuse.take() {
            let mut first = [0u8; 16];
            let n = from.peek(&mut first).await?;
            if test(first.get(..n).unwrap_or_default()) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "refused the client's first bytes",
                ));
            }
        }
        let n = match from.try_io(Interest::READABLE, || {
            splice(from.as_fd(), pipe.write.as_fd(), CHUNK)
        }) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        };
        activity.touch();
        let mut left = n;
        while left > 0 {
            to.writable().await?;
            match to.try_io(Interest::WRITABLE, || {
                splice(pipe.read.as_fd(), to.as_fd(), left)
            }) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(w) => {
                    left -= w.min(left);
                    moved.fetch_add(w as u64, Ordering::Relaxed);
                    activity.touch();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    }
    // The end of `from`'s stream is passed on; the other direction goes on (half-close).
    match socket2::SockRef::from(to).shutdown(Shutdown::Write) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
        Err(e) => Err(e),
    }
}

/// Write all of `data` to `to` (the bytes read before relaying began).
async fn write_all(to: &TcpStream, mut data: &[u8], activity: &Activity) -> io::Result<()> {
    while !data.is_empty() {
        to.writable().await?;
        match to.try_write(data) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                data = data.get(n..).unwrap_or_default();
                activity.touch();
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
