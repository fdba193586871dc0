//! Bodies both ways, framed again by us: data is copied, framing never is (a chunk-size line
//! or a trailer from one side never reaches the other). Request bodies are read with the
//! client connection's scanner (the guard's chunk rules); response bodies by length, by a
//! chunked scanner of their own (the same grammar), or until the backend closes.

use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::client::Client;
use super::response::Framing;
use super::ClientIo;
use crate::guard::scan::{Scanner, Violation};

/// The last chunk, with an empty trailer section.
pub(super) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Append `data` as one chunk.
pub(super) fn chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut hex = [0u8; 16];
    let mut n = data.len();
    let mut i = hex.len();
    loop {
        i -= 1;
        hex[i] = b"0123456789abcdef"[n & 0xf];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&hex[i..]);
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// What moving the client's pending body bytes found.
pub(super) struct Taken {
    pub(super) done: bool,
    /// Data bytes (framing excluded).
    pub(super) data: u64,
}

/// Move the request body bytes waiting in the client's buffer into `out` (as they are for a
/// length, as chunks for a chunked body), consuming them.
pub(super) fn take_request_body<IO: ClientIo>(
    c: &mut Client<IO>,
    chunked: bool,
    out: &mut Vec<u8>,
) -> Result<Taken, Violation> {
    let mut data = 0u64;
    loop {
        let pending = c.buf.get(c.start..c.end).unwrap_or_default();
        let step = c.scanner.body(pending).map_err(|(_, v)| v)?;
        if let Some((a, b)) = step.data {
            let bytes = &c.pending()[a..b];
            data += bytes.len() as u64;
            match chunked {
                true => chunk(out, bytes),
                false => out.extend_from_slice(bytes),
            }
        }
        c.consume(step.used);
        if step.done {
            if chunked {
                out.extend_from_slice(LAST_CHUNK);
            }
            return Ok(Taken { done: true, data });
        }
        if step.used == 0 {
            return Ok(Taken { done: false, data });
        }
    }
}

/// A backend connection with its read buffer (`buf[start..end]` read, not yet used).
pub(super) struct Upstream {
    pub(super) stream: TcpStream,
    pub(super) buf: Vec<u8>,
    pub(super) start: usize,
    pub(super) end: usize,
}

impl Upstream {
    pub(super) fn pending(&self) -> &[u8] {
        self.buf.get(self.start..self.end).unwrap_or_default()
    }

    pub(super) fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Read more within `limit`; 0 at the end of the stream (or when the buffer is full of
    /// a head that does not fit).
    pub(super) async fn read(&mut self, limit: Duration) -> std::io::Result<usize> {
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let Some(spare) = self.buf.get_mut(self.end..).filter(|s| !s.is_empty()) else {
            return Ok(0);
        };
        match tokio::time::timeout(limit, self.stream.read(spare)).await {
            Ok(Ok(n)) => {
                self.end += n;
                Ok(n)
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
        }
    }
}

/// A response body being relayed.
pub enum RespBody {
    Empty,
    Length(u64),
    Chunked(Box<Scanner>),
    Close,
}

impl RespBody {
    pub fn new(framing: Framing) -> Self {
        match framing {
            Framing::Empty | Framing::Length(0) => RespBody::Empty,
            Framing::Length(n) => RespBody::Length(n),
            Framing::Chunked => RespBody::Chunked(Box::new(Scanner::chunked_body())),
            Framing::Close => RespBody::Close,
        }
    }

    /// Move what `data` holds of the body into `out` (framed for the client). Returns the
    /// bytes used, the data bytes, and whether the body ended.
    pub fn take(
        &mut self,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(usize, u64, bool), Violation> {
        match self {
            RespBody::Empty => Ok((0, 0, true)),
            RespBody::Length(rem) => {
                let take = (*rem).min(data.len() as u64);
                out.extend_from_slice(&data[..take as usize]);
                *rem -= take;
                Ok((take as usize, take, *rem == 0))
            }
            RespBody::Close => {
                chunk(out, data);
                Ok((data.len(), data.len() as u64, false))
            }
            RespBody::Chunked(s) => {
                let mut used = 0;
                let mut bytes = 0u64;
                loop {
                    let step = s.body(&data[used..]).map_err(|(_, v)| v)?;
                    if let Some((a, b)) = step.data {
                        chunk(out, &data[used + a..used + b]);
                        bytes += (b - a) as u64;
                    }
                    used += step.used;
                    if step.done {
                        out.extend_from_slice(LAST_CHUNK);
                        return Ok((used, bytes, true));
                    }
                    if step.used == 0 {
                        return Ok((used, bytes, false));
                    }
                }
            }
        }
    }

    /// The backend closed: whether that ends the body properly.
    pub(super) fn at_close(&self, out: &mut Vec<u8>) -> bool {
        match self {
            RespBody::Close => {
                out.extend_from_slice(LAST_CHUNK);
                true
            }
            RespBody::Empty => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_framed_by_us() {
        let mut out = Vec::new();
        chunk(&mut out, &[b'x'; 26]);
        assert_eq!(out, [b"1a\r\n".as_slice(), &[b'x'; 26], b"\r\n"].concat());
        let mut body = RespBody::new(Framing::Chunked);
        let mut out = Vec::new();
        let wire = b"3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\nNEXT";
        let (used, bytes, done) = body.take(wire, &mut out).unwrap();
        assert_eq!((used, bytes, done), (wire.len() - 4, 3, true));
        assert_eq!(out, b"3\r\nabc\r\n0\r\n\r\n");
        let mut body = RespBody::new(Framing::Chunked);
        assert!(body.take(b"3\r\nabcX\r\n", &mut Vec::new()).is_err());
        let mut body = RespBody::new(Framing::Chunked);
        assert!(body.take(b"-3\r\n", &mut Vec::new()).is_err());
    }
}
