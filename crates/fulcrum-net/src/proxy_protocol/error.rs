//! Why a PROXY header was refused (or could not be written), in words an operator can act on.
//!
//! Every refusal is the sender's doing (downstream) and none is retryable: the connection
//! is closed. Parts of the offending header are kept in a small inline copy ([`Text`]), so an
//! error costs no allocation.

use std::fmt;

/// Which address or port of a header an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Source,
    Destination,
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Source => "source",
            Side::Destination => "destination",
        })
    }
}

/// Up to [`Text::CAP`] bytes of a header field, shown quoted and escaped (`"1.2.3\x00"`),
/// with `...` when the field was longer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Text {
    bytes: [u8; Text::CAP],
    len: u8,
    cut: bool,
}

impl Text {
    pub const CAP: usize = 40;

    pub(crate) fn new(field: &[u8]) -> Self {
        let mut bytes = [0; Text::CAP];
        let len = field.len().min(Text::CAP);
        if let (Some(to), Some(from)) = (bytes.get_mut(..len), field.get(..len)) {
            to.copy_from_slice(from);
        }
        Text {
            bytes,
            len: len as u8,
            cut: field.len() > Text::CAP,
        }
    }

    /// The bytes kept.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or_default()
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let more = if self.cut { "..." } else { "" };
        write!(f, "\"{}{more}\"", self.as_bytes().escape_ascii())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A PROXY header refused by [`parse`](super::parse), or one the encoders cannot write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// The bytes start neither with `PROXY ` nor with the v2 signature: the peer sent no
    /// PROXY header (it may be speaking the application protocol directly).
    #[error(
        "no PROXY header: the connection starts with neither \"PROXY \" (v1) nor the v2 signature"
    )]
    NotProxy,

    #[error("PROXY v1 header: no CRLF within the first 107 bytes")]
    V1TooLong,
    #[error("PROXY v1 header: the line ends in a lone CR or LF, not CRLF")]
    V1LineEnd,
    #[error("PROXY v1 header: protocol {0} is none of TCP4, TCP6, UNKNOWN")]
    V1Protocol(Text),
    /// After `TCP4`/`TCP6`: not exactly four fields separated by single spaces.
    #[error("PROXY v1 header: expected \"{0} <source> <destination> <source port> <destination port>\" with single spaces, got {1}")]
    V1Fields(&'static str, Text),
    #[error("PROXY v1 header: {0} address {2} is not an {1} address")]
    V1Address(Side, &'static str, Text),
    #[error(
        "PROXY v1 header: {0} port {1} out of range (decimal 0-65535, no sign, no leading zero)"
    )]
    V1Port(Side, Text),

    #[error("PROXY v2 header: version {0}, only 2 exists")]
    V2Version(u8),
    #[error("PROXY v2 header: command {0}, only 0 (LOCAL) and 1 (PROXY) exist")]
    V2Command(u8),
    #[error(
        "PROXY v2 header: address family and protocol byte 0x{0:02x} is not one the spec defines"
    )]
    V2Family(u8),
    #[error("PROXY v2 header: {len} bytes long, over the limit of {max}")]
    V2TooLong { len: usize, max: usize },
    #[error("PROXY v2 header: {len} bytes of address block for {family}, which needs {need}")]
    V2Addresses {
        family: &'static str,
        len: usize,
        need: usize,
    },
    #[error("PROXY v2 header: the TLV at byte {0} runs past the end of the header")]
    V2TlvOverrun(usize),
    /// A TLV whose length its type does not allow (CRC32C: 4; unique id: at most 128).
    #[error("PROXY v2 header: TLV type 0x{kind:02x} of {len} bytes, which must be {must}")]
    V2TlvLength {
        kind: u8,
        len: usize,
        must: &'static str,
    },
    #[error("PROXY v2 header: more than one CRC32C TLV")]
    V2CrcTwice,
    #[error("PROXY v2 header: CRC32C checksum 0x{sent:08x} does not match the header's, 0x{computed:08x}")]
    V2Crc { sent: u32, computed: u32 },
    #[error("PROXY v2 header: the authority TLV is not UTF-8")]
    V2Authority,

    /// [`encode_v2`](super::encode_v2) was given addresses with
    /// [`Transport::Unspec`](super::Transport::Unspec): the spec has no family/protocol byte
    /// for that.
    #[error("cannot write a PROXY v2 header with addresses but no transport (stream or datagram)")]
    EncodeNoTransport,
    #[error("cannot write a PROXY v2 header of {0} bytes: the most is 16 + 65535")]
    EncodeTooLong(usize),
    #[error("cannot write a PROXY v2 header: a TLV of type 0x{0:02x} longer than 65535 bytes")]
    EncodeTlvTooLong(u8),
    #[error("cannot write a PROXY v2 header: a CRC32C TLV must be 4 bytes")]
    EncodeCrcLength,
    #[error("cannot write a PROXY v2 header: more than one CRC32C TLV")]
    EncodeCrcTwice,
}
