//! An incremental, socket-free reader of a TLS ClientHello's server name (SNI) and ALPN list.
//!
//! The caller buffers what the client has sent so far and calls [`parse`] again after each read:
//! the answer is [`Parsed::NeedMore`] until the whole ClientHello is buffered, then
//! [`Parsed::Done`] or [`Parsed::NotTls`]. The answer depends only on the bytes, read front to
//! back, so once it is not `NeedMore` more bytes never change it. The ClientHello may arrive in
//! any number of TCP segments and be fragmented over several handshake records; the fragments
//! are read in place (see [`cursor`]), so nothing is allocated but the returned name and
//! protocols.
//!
//! Every length is checked against the structure that holds it; a malformed hello is refused
//! rather than guessed at. No input makes this module panic.

mod cursor;
mod server_name;
#[cfg(test)]
mod tests;

use cursor::{Cursor, Stop};

/// The most bytes [`parse`] reads: a handshake message of up to 16 KiB plus up to 2 KiB of record
/// headers. A ClientHello that needs more is refused as too large.
pub const MAX_CLIENT_HELLO: usize = 18 * 1024;

/// The longest ClientHello handshake message accepted (body and 4-byte header).
const MAX_HANDSHAKE: usize = 16 * 1024;

const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const EXT_SERVER_NAME: usize = 0;
const EXT_ALPN: usize = 16;

/// What the bytes buffered so far say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// Not enough bytes yet: read more and call again with all of them.
    NeedMore,
    /// A complete, well-formed ClientHello.
    Done {
        /// The `host_name` from the server_name extension: ASCII, lowercase, without a trailing
        /// dot. `None` when the client sent none, or sent an IP literal (not allowed by RFC 6066).
        sni: Option<String>,
        /// The ALPN protocol names offered, in the client's order; empty without the extension.
        alpn: Vec<Vec<u8>>,
    },
    /// These bytes are not (or can never become) a ClientHello we accept; the text says why.
    NotTls(&'static str),
}

/// Reads the ClientHello at the start of `buf`, reading no more than [`MAX_CLIENT_HELLO`] bytes.
pub fn parse(buf: &[u8]) -> Parsed {
    parse_limited(buf, MAX_CLIENT_HELLO)
}

/// [`parse`] with a smaller byte cap: a ClientHello that needs more than `max` bytes (records
/// included, capped at [`MAX_CLIENT_HELLO`]) is `NotTls("client hello too large")`. So while the
/// answer is `NeedMore`, `buf` is shorter than `max`.
pub fn parse_limited(buf: &[u8], max: usize) -> Parsed {
    match client_hello(buf, max.min(MAX_CLIENT_HELLO)) {
        Ok((sni, alpn)) => Parsed::Done { sni, alpn },
        Err(Stop::NeedMore) => Parsed::NeedMore,
        Err(Stop::NotTls(why)) => Parsed::NotTls(why),
    }
}

type Hello = (Option<String>, Vec<Vec<u8>>);

fn client_hello(buf: &[u8], cap: usize) -> Result<Hello, Stop> {
    let mut msg = Cursor::new(buf, 4, cap);
    if msg.u8()? != HANDSHAKE_CLIENT_HELLO {
        return Err(Stop::NotTls(
            "first handshake message is not a client hello",
        ));
    }
    let len = msg.u24()?;
    if len + 4 > MAX_HANDSHAKE {
        return Err(Stop::NotTls("client hello too large"));
    }
    msg.limit(len);
    // Wait for the whole message before looking inside, so that a truncated hello is NeedMore.
    let mut body = msg.sub(len)?;

    let version = body.u16()?;
    if !(0x0301..=0x0304).contains(&version) {
        return Err(Stop::NotTls("unsupported client version"));
    }
    body.skip(32)?; // random
    if body.sub_u8()?.left() > 32 {
        return Err(Stop::NotTls("session id too long"));
    }
    let suites = body.sub_u16()?.left();
    if suites == 0 || suites % 2 != 0 {
        return Err(Stop::NotTls("bad cipher suite list"));
    }
    if body.sub_u8()?.left() == 0 {
        return Err(Stop::NotTls("no compression methods"));
    }
    if body.left() == 0 {
        // A hello without extensions (TLS 1.0–1.2 allow it).
        return Ok((None, Vec::new()));
    }
    let mut exts = body.sub_u16()?;
    if body.left() != 0 {
        return Err(Stop::NotTls("bytes after the extensions"));
    }
    extensions(&mut exts)
}

fn extensions(exts: &mut Cursor<'_>) -> Result<Hello, Stop> {
    let mut sni = None;
    let mut alpn = None;
    while exts.left() > 0 {
        let kind = exts.u16()?;
        let mut data = exts.sub_u16()?;
        match kind {
            EXT_SERVER_NAME if sni.is_some() => {
                return Err(Stop::NotTls("duplicate server_name extension"))
            }
            EXT_SERVER_NAME => sni = Some(server_name::extension(&mut data)?),
            EXT_ALPN if alpn.is_some() => return Err(Stop::NotTls("duplicate ALPN extension")),
            EXT_ALPN => alpn = Some(alpn_extension(&mut data)?),
            _ => {}
        }
    }
    Ok((sni.flatten(), alpn.unwrap_or_default()))
}

/// RFC 7301 §3.1: a non-empty list of non-empty protocol names.
fn alpn_extension(data: &mut Cursor<'_>) -> Result<Vec<Vec<u8>>, Stop> {
    let mut list = data.sub_u16()?;
    if data.left() != 0 || list.left() == 0 {
        return Err(Stop::NotTls("malformed ALPN extension"));
    }
    let mut names = Vec::new();
    while list.left() > 0 {
        let len = usize::from(list.u8()?);
        if len == 0 {
            return Err(Stop::NotTls("empty ALPN protocol name"));
        }
        let mut name = Vec::with_capacity(len);
        list.take_into(len, &mut name)?;
        names.push(name);
    }
    Ok(names)
}
