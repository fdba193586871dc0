//! The tokio shell of TLS passthrough: read the ClientHello, then relay bytes both ways.
//!
//! Routing sits between the two calls and is the caller's: [`read_client_hello`] gives the
//! server name, the caller picks a backend (with `fulcrum_route::SniTable`) and connects, and
//! [`crate::relay`] sends the bytes already read, then everything else, unchanged.

use crate::client_hello::{parse_limited, Parsed};
use crate::L4Error;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Bytes asked for per read while the ClientHello is incomplete; most hellos fit in one.
const READ_CHUNK: usize = 2048;

/// Reads from `stream` until the bytes read hold a whole ClientHello, and returns those bytes
/// (which may run past the hello; they all belong to the backend) with the server name.
///
/// `timeout` bounds the whole read; `max` bounds the bytes read (a hello that needs more is
/// [`L4Error::NotTls`], as is anything that is not a ClientHello). Works on any byte stream; a
/// listener passes its `TcpStream`.
pub async fn read_client_hello<S>(
    stream: &mut S,
    timeout: Duration,
    max: usize,
) -> Result<(Vec<u8>, Option<String>), L4Error>
where
    S: AsyncRead + Unpin + ?Sized,
{
    let mut buf = Vec::with_capacity(READ_CHUNK.min(max));
    let sni = tokio::time::timeout(timeout, read_until_parsed(stream, &mut buf, max))
        .await
        .map_err(|_| L4Error::Timeout)??;
    tracing::trace!(bytes = buf.len(), sni = sni.as_deref(), "client hello read");
    Ok((buf, sni))
}

async fn read_until_parsed<S>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    max: usize,
) -> Result<Option<String>, L4Error>
where
    S: AsyncRead + Unpin + ?Sized,
{
    loop {
        match parse_limited(buf, max) {
            Parsed::Done { sni, .. } => return Ok(sni),
            Parsed::NotTls(why) => return Err(L4Error::NotTls(why)),
            Parsed::NeedMore => {}
        }
        // While the answer is NeedMore the buffer is shorter than `max`, so `room` > 0; the
        // guard is for the reader, not for the parser.
        let room = max.saturating_sub(buf.len()).min(READ_CHUNK);
        if room == 0 {
            return Err(L4Error::NotTls("client hello too large"));
        }
        let start = buf.len();
        buf.resize(start + room, 0);
        let read = stream.read(&mut buf[start..]).await;
        let n = match read {
            Ok(n) => n,
            Err(e) => {
                buf.truncate(start);
                return Err(e.into());
            }
        };
        buf.truncate(start + n);
        if n == 0 {
            return Err(L4Error::Closed(buf.len()));
        }
    }
}
