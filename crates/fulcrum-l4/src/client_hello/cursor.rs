//! A cursor over the handshake bytes carried by a run of TLS records.
//!
//! A ClientHello may be fragmented over several handshake records (content type 22), and those
//! records over several TCP segments. Rather than copying the fragments into one buffer, the
//! cursor reads the handshake stream in place and hops over each record header as it reaches
//! it, checking the header then. Reads stop with [`Stop::NeedMore`] at the end of what the
//! caller has buffered, and with [`Stop::NotTls`] on a bad header, a length that runs past the
//! structure it sits in, or a position past the byte cap.

/// Why a read stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// The bytes are not buffered yet.
    NeedMore,
    /// The bytes can never form a ClientHello.
    NotTls(&'static str),
}

/// The most payload a TLS record may carry (RFC 8446 §5.1).
const MAX_RECORD_PAYLOAD: usize = 1 << 14;
const RECORD_HEADER: usize = 5;
const CONTENT_HANDSHAKE: u8 = 22;

/// A position in the handshake stream, limited to one length-delimited structure.
///
/// `Copy`, so that [`Cursor::sub`] can hand out a cursor over a nested structure while this one
/// moves past it.
#[derive(Debug, Clone, Copy)]
pub(super) struct Cursor<'a> {
    buf: &'a [u8],
    /// Index in `buf` of the next byte: a record header when `in_record` is 0.
    pos: usize,
    /// Payload bytes left in the current record.
    in_record: usize,
    /// Bytes left in the current structure.
    left: usize,
    /// No byte at or past this index is ever read.
    cap: usize,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `buf`, which must begin with a record header, allowed to read
    /// `left` handshake bytes and no byte of `buf` at or past `cap`.
    pub(super) fn new(buf: &'a [u8], left: usize, cap: usize) -> Self {
        Cursor {
            buf,
            pos: 0,
            in_record: 0,
            left,
            cap,
        }
    }

    /// Handshake bytes left in the current structure.
    pub(super) fn left(&self) -> usize {
        self.left
    }

    /// Limits this cursor to the next `len` bytes (used once the handshake length is known).
    pub(super) fn limit(&mut self, len: usize) {
        self.left = len;
    }

    pub(super) fn u8(&mut self) -> Result<u8, Stop> {
        if self.left == 0 {
            return Err(Stop::NotTls("length runs past its structure"));
        }
        self.enter_record()?;
        let byte = self.byte_at(self.pos)?;
        self.pos += 1;
        self.in_record -= 1;
        self.left -= 1;
        Ok(byte)
    }

    pub(super) fn u16(&mut self) -> Result<usize, Stop> {
        Ok(usize::from(self.u8()?) << 8 | usize::from(self.u8()?))
    }

    pub(super) fn u24(&mut self) -> Result<usize, Stop> {
        Ok(self.u16()? << 8 | usize::from(self.u8()?))
    }

    /// Moves past `len` bytes, which must all be buffered.
    pub(super) fn skip(&mut self, len: usize) -> Result<(), Stop> {
        self.each_chunk(len, |_| ())
    }

    /// Appends the next `len` bytes to `out`.
    pub(super) fn take_into(&mut self, len: usize, out: &mut Vec<u8>) -> Result<(), Stop> {
        self.each_chunk(len, |chunk| out.extend_from_slice(chunk))
    }

    /// A cursor over the next `len` bytes; this one moves past them (so they must be buffered).
    pub(super) fn sub(&mut self, len: usize) -> Result<Cursor<'a>, Stop> {
        let mut sub = *self;
        self.skip(len)?;
        sub.left = len;
        Ok(sub)
    }

    /// Reads a `u8` length, then a cursor over that many bytes.
    pub(super) fn sub_u8(&mut self) -> Result<Cursor<'a>, Stop> {
        let len = usize::from(self.u8()?);
        self.sub(len)
    }

    /// Reads a `u16` length, then a cursor over that many bytes.
    pub(super) fn sub_u16(&mut self) -> Result<Cursor<'a>, Stop> {
        let len = self.u16()?;
        self.sub(len)
    }

    fn each_chunk(&mut self, len: usize, mut f: impl FnMut(&'a [u8])) -> Result<(), Stop> {
        if len > self.left {
            return Err(Stop::NotTls("length runs past its structure"));
        }
        let mut rest = len;
        while rest > 0 {
            self.enter_record()?;
            let n = rest.min(self.in_record);
            let end = self.pos + n;
            if end > self.cap {
                return Err(Stop::NotTls("client hello too large"));
            }
            let chunk = self.buf.get(self.pos..end).ok_or(Stop::NeedMore)?;
            f(chunk);
            self.pos = end;
            self.in_record -= n;
            self.left -= n;
            rest -= n;
        }
        Ok(())
    }

    fn byte_at(&self, index: usize) -> Result<u8, Stop> {
        if index >= self.cap {
            return Err(Stop::NotTls("client hello too large"));
        }
        self.buf.get(index).copied().ok_or(Stop::NeedMore)
    }

    /// When the current record is used up, checks the next record header and moves past it.
    fn enter_record(&mut self) -> Result<(), Stop> {
        if self.in_record > 0 {
            return Ok(());
        }
        let first = self.pos == 0;
        let at = self.pos;
        // Each byte is checked as soon as it is buffered, so that plain text (an HTTP request,
        // say) is refused on its first byte rather than after five.
        match self.byte_at(at)? {
            CONTENT_HANDSHAKE => {}
            b if first && b & 0x80 != 0 => return Err(Stop::NotTls("SSLv2-style client hello")),
            _ if first => return Err(Stop::NotTls("not a TLS handshake record")),
            _ => {
                return Err(Stop::NotTls(
                    "client hello interleaved with another record type",
                ))
            }
        }
        if self.byte_at(at + 1)? != 3 || !(1..=4).contains(&self.byte_at(at + 2)?) {
            return Err(Stop::NotTls("unsupported record version"));
        }
        let len = usize::from(self.byte_at(at + 3)?) << 8 | usize::from(self.byte_at(at + 4)?);
        if len == 0 {
            return Err(Stop::NotTls("empty handshake record"));
        }
        if len > MAX_RECORD_PAYLOAD {
            return Err(Stop::NotTls("record too large"));
        }
        self.pos = at + RECORD_HEADER;
        self.in_record = len;
        Ok(())
    }
}
