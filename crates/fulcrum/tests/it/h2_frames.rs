//! Raw HTTP/2 frames over a plain TCP socket (h2c prior knowledge), for tests that need what no
//! well-behaved client library does: wrong frame lengths, a client that never reads, thousands
//! of HEADERS+RST_STREAM pairs.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;

pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

pub const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;

/// RFC 9113 §7 error codes.
pub const NO_ERROR: u32 = 0x0;
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const FLOW_CONTROL_ERROR: u32 = 0x3;
pub const FRAME_SIZE_ERROR: u32 = 0x6;
pub const CANCEL: u32 = 0x8;
pub const COMPRESSION_ERROR: u32 = 0x9;

/// One frame: 9-byte header then the payload.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).unwrap();
    assert!(len < 1 << 24);
    let mut f = Vec::with_capacity(9 + payload.len());
    f.extend_from_slice(&len.to_be_bytes()[1..]);
    f.push(kind);
    f.push(flags);
    f.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A SETTINGS payload from (id, value) pairs.
pub fn settings(pairs: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::new();
    for (id, v) in pairs {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&v.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &p)
}

pub fn window_update(stream: u32, increment: u32) -> Vec<u8> {
    frame(WINDOW_UPDATE, 0, stream, &increment.to_be_bytes())
}

pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// An HPACK string literal, not Huffman-coded (lengths under 127).
fn literal(out: &mut Vec<u8>, s: &str) {
    let len = u8::try_from(s.len()).unwrap();
    assert!(len < 127);
    out.push(len);
    out.extend_from_slice(s.as_bytes());
}

/// The header block of `GET path` on `authority`: static-table `:method GET` and
/// `:scheme http`, literal-without-indexing `:path` and `:authority` (so the block does not
/// depend on the dynamic table and can be sent any number of times).
pub fn get_block(authority: &str, path: &str) -> Vec<u8> {
    let mut b = vec![0x82, 0x86];
    b.push(0x04); // literal without indexing, name = static index 4 (:path)
    literal(&mut b, path);
    b.push(0x01); // literal without indexing, name = static index 1 (:authority)
    literal(&mut b, authority);
    b
}

/// HEADERS for `GET path`, ending the stream (no request body).
pub fn get(stream: u32, authority: &str, path: &str) -> Vec<u8> {
    frame(
        HEADERS,
        END_HEADERS | END_STREAM,
        stream,
        &get_block(authority, path),
    )
}

/// A raw h2c connection.
pub struct Conn {
    pub s: TcpStream,
    buf: Vec<u8>,
}

/// A frame as read back.
#[derive(Debug)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Conn {
    /// Connect and send the preface followed by `first` (usually a SETTINGS frame).
    pub fn open(addr: SocketAddr, first: &[u8]) -> Conn {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_nodelay(true).unwrap();
        let mut hello = PREFACE.to_vec();
        hello.extend_from_slice(first);
        s.write_all(&hello).unwrap();
        Conn { s, buf: Vec::new() }
    }

    pub fn send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.s.write_all(bytes)
    }

    /// The next frame, or `None` when the connection closed or `deadline` passed.
    pub fn next_frame(&mut self, deadline: Instant) -> Option<Frame> {
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let f = Frame {
                        kind: self.buf[3],
                        flags: self.buf[4],
                        stream: u32::from_be_bytes([
                            self.buf[5],
                            self.buf[6],
                            self.buf[7],
                            self.buf[8],
                        ]) & 0x7fff_ffff,
                        payload: self.buf[9..9 + len].to_vec(),
                    };
                    self.buf.drain(..9 + len);
                    return Some(f);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.s.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 16 * 1024];
            match self.s.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Read until a GOAWAY arrives; its error code. `None`: closed or timed out without one.
    pub fn goaway_code(&mut self, timeout: Duration) -> Option<u32> {
        let deadline = Instant::now() + timeout;
        while let Some(f) = self.next_frame(deadline) {
            if f.kind == GOAWAY && f.payload.len() >= 8 {
                let p = &f.payload;
                return Some(u32::from_be_bytes([p[4], p[5], p[6], p[7]]));
            }
        }
        None
    }
}

/// An error code's name, for assertion messages.
pub fn code_name(code: Option<u32>) -> String {
    match code {
        Some(NO_ERROR) => "NO_ERROR".into(),
        Some(PROTOCOL_ERROR) => "PROTOCOL_ERROR".into(),
        Some(FLOW_CONTROL_ERROR) => "FLOW_CONTROL_ERROR".into(),
        Some(FRAME_SIZE_ERROR) => "FRAME_SIZE_ERROR".into(),
        Some(COMPRESSION_ERROR) => "COMPRESSION_ERROR".into(),
        Some(0xb) => "ENHANCE_YOUR_CALM".into(),
        Some(c) => format!("error code {c:#x}"),
        None => "no GOAWAY".into(),
    }
}
