//! A strict, incremental HTTP/1.1 request-framing scanner.
//!
//! It reads the client's byte stream exactly as the server will (heads, `Content-Length` and
//! chunked bodies, trailers, one message after another) and stops at the first byte that breaks
//! a framing rule. It keeps no copy of the stream: a few counters and two small buffers for the
//! header name and the framing-relevant values. hyper then parses the same bytes; the scanner's
//! job is to refuse everything hyper (or a backend) might read differently from us, which is
//! what request smuggling feeds on.
//!
//! Each rule names the RFC 9112 / RFC 9110 section it enforces.

/// Why a request stream was refused. Every variant is answered 400 (but see
/// [`Violation::status`]) and the connection closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    /// RFC 9112 §3: method is a token.
    InvalidMethod,
    /// RFC 9112 §3.2: request-target has no whitespace or control bytes.
    InvalidTarget,
    /// RFC 9112 §2.3: `HTTP-version = "HTTP/" DIGIT "." DIGIT`; of major version 1, only
    /// HTTP/1.0 and HTTP/1.1 are spoken here (HTTP/2 by prior knowledge is detected earlier).
    InvalidVersion,
    /// A well-formed version of another major number (`HTTP/2.0`, `HTTP/3.0`, `HTTP/0.9`):
    /// answered `505 HTTP Version Not Supported` (RFC 9110 §15.6.6), not 400.
    VersionNotSupported,
    /// RFC 9112 §3: request-line = method SP request-target SP HTTP-version CRLF, single spaces.
    MalformedRequestLine,
    /// Request lines longer than [`MAX_REQUEST_LINE`] (RFC 9112 §3: servers must be prepared
    /// for 8000 octets; beyond that we refuse, as NGINX does).
    RequestLineTooLong,
    /// RFC 9112 §2.2: a bare CR (not followed by LF) is invalid anywhere in the head; we also
    /// refuse a bare LF as a line terminator, which RFC 9112 §2.2 permits but proxies disagree on.
    BareLineBreak,
    /// RFC 9110 §5.5 and RFC 9112 §5: field values carry no NUL or other control bytes.
    ControlInValue,
    /// RFC 9110 §5.1: field names are tokens.
    InvalidHeaderName,
    /// RFC 9112 §5.1: no whitespace between the field name and the colon; must be 400.
    SpaceBeforeColon,
    /// RFC 9112 §5.2: obsolete line folding in a request; we reject with 400.
    ObsFold,
    /// RFC 9110 §8.6: Content-Length is 1*DIGIT; differing duplicates are an error.
    InvalidContentLength,
    /// RFC 9112 §6.3 rule 3: both Transfer-Encoding and Content-Length. We reject rather than
    /// pick one (RFC 9112 §6.1 permits rejecting).
    ContentLengthWithTransferEncoding,
    /// RFC 9112 §6.1 and §7: the only transfer coding accepted is a single `chunked`; anything
    /// else leaves the body length undeterminable (RFC 9112 §6.3 rule 4).
    UnsupportedTransferEncoding,
    /// RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding has faulty framing.
    TransferEncodingInHttp10,
    /// RFC 9112 §3.2: exactly one Host in HTTP/1.1 requests, none duplicated.
    InvalidHost,
    /// RFC 9112 §7.1: chunk-size = 1*HEXDIG, fitting in 64 bits, then optional extensions.
    InvalidChunkSize,
    /// RFC 9112 §7.1: chunk-data is followed by exactly CRLF.
    InvalidChunkTerminator,
    /// RFC 9112 §7.1.1: chunk extensions are bounded here (4 KiB) to cap work per chunk.
    ChunkExtensionTooLong,
}

impl Violation {
    /// The status a refusal answers with: 505 for a version not spoken, else 400.
    pub fn status(self) -> u16 {
        match self {
            Violation::VersionNotSupported => 505,
            _ => 400,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Violation::InvalidMethod => "invalid method",
            Violation::InvalidTarget => "invalid request target",
            Violation::InvalidVersion => "invalid HTTP version",
            Violation::VersionNotSupported => "HTTP version not supported",
            Violation::MalformedRequestLine => "malformed request line",
            Violation::RequestLineTooLong => "request line too long",
            Violation::BareLineBreak => "bare CR or LF",
            Violation::ControlInValue => "control character in header value",
            Violation::InvalidHeaderName => "invalid header name",
            Violation::SpaceBeforeColon => "whitespace before colon",
            Violation::ObsFold => "obsolete line folding",
            Violation::InvalidContentLength => "invalid content-length",
            Violation::ContentLengthWithTransferEncoding => "content-length with transfer-encoding",
            Violation::UnsupportedTransferEncoding => "unsupported transfer-encoding",
            Violation::TransferEncodingInHttp10 => "transfer-encoding in HTTP/1.0",
            Violation::InvalidHost => "missing or duplicate host",
            Violation::InvalidChunkSize => "invalid chunk size",
            Violation::InvalidChunkTerminator => "invalid chunk terminator",
            Violation::ChunkExtensionTooLong => "chunk extension too long",
        }
    }
}

/// Longest accepted request line, CRLF excluded.
pub const MAX_REQUEST_LINE: usize = 8 * 1024;
const MAX_CHUNK_EXT: usize = 4 * 1024;
const NAME_BUF: usize = 24;
const VALUE_BUF: usize = 32;

/// What the stream is, as far as the scanner has seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// HTTP/1 messages are being checked.
    Http1,
    /// The connection is HTTP/2 (prior knowledge preface): nothing more to check here.
    Http2,
    /// A request asked to upgrade and the response status is not known yet: reading pauses.
    AwaitingUpgrade,
    /// The connection was upgraded (101): opaque bytes from now on.
    Tunnel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Preface(u8),
    LineStart,
    LeadingLf,
    Method,
    Target,
    Version(u8),
    RequestLineLf,
    FieldStart,
    Name,
    ValueStart,
    Value,
    FieldLf,
    HeadEndLf,
    Body(u64),
    ChunkSizeStart,
    ChunkSize { digits: u8 },
    ChunkSizeWs,
    ChunkExt,
    ChunkSizeLf,
    ChunkData(u64),
    ChunkDataCr,
    ChunkDataLf,
    TrailerStart,
    TrailerName,
    TrailerValue,
    TrailerLf,
    TrailerEndLf,
    Upgraded,
    Passthrough,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Other,
    ContentLength,
    TransferEncoding,
    Host,
    Upgrade,
}

const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const HTTP_PREFIX: &[u8; 5] = b"HTTP/";

/// Per-message facts gathered from the head.
#[derive(Debug, Default, Clone, Copy)]
struct Message {
    http10: bool,
    /// The version's major number is not 1 (so far well-formed: 505 at its end).
    other_major: bool,
    /// The request target has reached its query (a `?` was seen).
    in_query: bool,
    content_length: Option<u64>,
    transfer_encoding: bool,
    te_invalid: bool,
    hosts: u8,
    upgrade: bool,
}

/// The scanner. Feed it every byte the client sends, in order.
#[derive(Debug, Clone)]
pub struct Scanner {
    state: State,
    line_len: usize,
    target_len: usize,
    ext_len: usize,
    name: [u8; NAME_BUF],
    name_len: usize,
    field: Field,
    value: [u8; VALUE_BUF],
    value_len: usize,
    value_overflow: bool,
    msg: Message,
    /// Set when a message that asked to upgrade has been read completely.
    awaiting_upgrade: bool,
    /// Where the byte being stepped is, as an index into the caller's buffer (see
    /// [`Scanner::rebase`]); only kept up to date while recording.
    at: usize,
    /// Where (as `at` counts) the request line of the message being read began.
    msg_start: usize,
    /// What the fast path learns from a head as it is scanned (`None`: the guard only judges).
    rec: Option<Box<HeadSpans>>,
}

impl Default for Scanner {
    fn default() -> Self {
        Self::new()
    }
}

/// The result of feeding one buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scan {
    /// Recording scanners: bytes up to this offset completed a request head (see
    /// [`Scanner::head`]); its body, if any, is read with [`Scanner::body`].
    Head(usize),
    /// All bytes are fine.
    Ok,
    /// Bytes before this offset are fine; the byte at the offset breaks the named rule.
    Violation(usize, Violation),
    /// Bytes up to this offset completed a request that asked to upgrade; the bytes after it
    /// must not be judged until the response status is known (see [`Scanner::upgrade_result`]).
    Pause(usize),
}

/// Byte classes, looked up once per byte: the long runs of a head (target, names, values)
/// cost a load and a test each.
const TCHAR: u8 = 1;
const VALUE: u8 = 2;
const TARGET: u8 = 4;

static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        let mut c = 0;
        if matches!(b,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
            | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
        {
            c |= TCHAR;
        }
        if b == b'\t' || b == b' ' || (b >= 0x21 && b <= 0x7e) || b >= 0x80 {
            c |= VALUE;
        }
        if b >= 0x21 && b <= 0x7e {
            c |= TARGET;
        }
        t[i] = c;
        i += 1;
    }
    t
};

fn is_tchar(b: u8) -> bool {
    CLASS[usize::from(b)] & TCHAR != 0
}

fn is_value_byte(b: u8) -> bool {
    CLASS[usize::from(b)] & VALUE != 0
}

/// How many bytes at the start of `buf` are all of class `class`.
fn run_of(buf: &[u8], class: u8) -> usize {
    buf.iter()
        .position(|&b| CLASS[usize::from(b)] & class == 0)
        .unwrap_or(buf.len())
}

fn hex_value(b: u8) -> Option<u64> {
    match b {
        b'0'..=b'9' => Some(u64::from(b - b'0')),
        b'a'..=b'f' => Some(u64::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u64::from(b - b'A' + 10)),
        _ => None,
    }
}

impl Scanner {
    /// A scanner for a new connection, which may still turn out to be HTTP/2.
    pub fn new() -> Self {
        Scanner {
            state: State::Preface(0),
            line_len: 0,
            target_len: 0,
            ext_len: 0,
            name: [0; NAME_BUF],
            name_len: 0,
            field: Field::Other,
            value: [0; VALUE_BUF],
            value_len: 0,
            value_overflow: false,
            msg: Message::default(),
            awaiting_upgrade: false,
            at: 0,
            msg_start: 0,
            rec: None,
        }
    }

    /// A scanner that also records where each part of a head is (for the HTTP/1.1 fast path,
    /// which parses with the guard's own rules: one scan, not two). Positions are indexes
    /// into the caller's buffer, counted from [`Scanner::rebase`]. [`Scanner::feed`] stops
    /// after each complete head with [`Scan::Head`]; the body is then read with
    /// [`Scanner::body`].
    pub fn recording() -> Self {
        Scanner {
            rec: Some(Box::default()),
            ..Scanner::new()
        }
    }

    /// A recording scanner for a chunked body alone (a backend's response), in the same
    /// grammar as a request's.
    pub fn chunked_body() -> Self {
        Scanner {
            state: State::ChunkSizeStart,
            ..Scanner::recording()
        }
    }

    /// The next byte fed will be at index `at` of the caller's buffer.
    pub fn rebase(&mut self, at: usize) {
        self.at = at;
    }

    /// Where the next byte fed is, as this scanner counts (from 0, or from
    /// [`Scanner::rebase`]).
    pub fn position(&self) -> usize {
        self.at
    }

    /// Where the request line of the message being read began, as [`Scanner::position`]
    /// counts.
    pub fn message_start(&self) -> usize {
        self.msg_start
    }

    /// The head recorded last (recording scanners only).
    pub fn head(&self) -> Option<&HeadSpans> {
        self.rec.as_deref()
    }

    pub fn mode(&self) -> Mode {
        match self.state {
            State::Passthrough => Mode::Http2,
            State::Upgraded => Mode::Tunnel,
            _ if self.awaiting_upgrade => Mode::AwaitingUpgrade,
            _ => Mode::Http1,
        }
    }

    /// True while part of a request head has been received but not all of it.
    pub fn in_head(&self) -> bool {
        !matches!(
            self.state,
            State::Preface(0)
                | State::LineStart
                | State::Body(_)
                | State::ChunkSizeStart
                | State::ChunkSize { .. }
                | State::ChunkSizeWs
                | State::ChunkExt
                | State::ChunkSizeLf
                | State::ChunkData(_)
                | State::ChunkDataCr
                | State::ChunkDataLf
                | State::TrailerStart
                | State::TrailerName
                | State::TrailerValue
                | State::TrailerLf
                | State::TrailerEndLf
                | State::Upgraded
                | State::Passthrough
        )
    }

    /// The server answered the upgrade request: 101 turns the stream into a tunnel, anything
    /// else resumes HTTP/1 checking.
    pub fn upgrade_result(&mut self, switched: bool) {
        if self.awaiting_upgrade {
            self.awaiting_upgrade = false;
            if switched {
                self.state = State::Upgraded;
            }
        }
    }

    /// Check `buf`, the next bytes of the stream.
    pub fn feed(&mut self, buf: &[u8]) -> Scan {
        let base = self.at;
        let mut i = 0;
        while i < buf.len() {
            if self.awaiting_upgrade {
                self.at = base + i;
                return Scan::Pause(i);
            }
            match self.state {
                State::Upgraded | State::Passthrough => return Scan::Ok,
                State::Body(remaining) => {
                    let take = remaining.min((buf.len() - i) as u64);
                    i += take as usize;
                    let left = remaining - take;
                    if left == 0 {
                        self.message_done();
                    } else {
                        self.state = State::Body(left);
                    }
                    continue;
                }
                State::ChunkData(remaining) => {
                    let take = remaining.min((buf.len() - i) as u64);
                    i += take as usize;
                    let left = remaining - take;
                    self.state = if left == 0 {
                        State::ChunkDataCr
                    } else {
                        State::ChunkData(left)
                    };
                    continue;
                }
                // The space after a colon, in one step.
                State::ValueStart if buf[i] == b' ' => {
                    i += 1;
                    continue;
                }
                // A head ends only here: a recording scanner stops after it.
                State::HeadEndLf => {
                    self.at = base + i;
                    if let Err(v) = self.step(buf[i]) {
                        return Scan::Violation(i, v);
                    }
                    i += 1;
                    if let Some(r) = self.rec.as_deref_mut() {
                        if r.done {
                            r.done = false;
                            self.at = base + i;
                            return Scan::Head(i);
                        }
                    }
                    continue;
                }
                // Fast paths for the long runs of plain bytes in a head: the request target and
                // the values of fields the scanner does not interpret. Each byte still gets the
                // same check `step` would make; this only skips the state dispatch.
                State::Target if self.target_len > 0 => {
                    let run = run_of(&buf[i..], TARGET);
                    if run > 0 {
                        if self.line_len + run > MAX_REQUEST_LINE {
                            // The first byte past the limit, as `step` would report it.
                            let at = i + MAX_REQUEST_LINE.saturating_sub(self.line_len);
                            return Scan::Violation(at, Violation::RequestLineTooLong);
                        }
                        if !self.msg.in_query {
                            self.msg.in_query = buf[i..i + run].contains(&b'?');
                        }
                        self.line_len += run;
                        self.target_len += run;
                        i += run;
                        continue;
                    }
                    self.at = base + i;
                    if let Err(v) = self.step(buf[i]) {
                        return Scan::Violation(i, v);
                    }
                }
                // The common versions in one comparison.
                State::Version(0)
                    if buf.len() - i >= 9
                        && buf[i + 8] == b'\r'
                        && (buf[i..i + 8] == *b"HTTP/1.1" || buf[i..i + 8] == *b"HTTP/1.0") =>
                {
                    if self.line_len + 9 > MAX_REQUEST_LINE {
                        let at = i + MAX_REQUEST_LINE.saturating_sub(self.line_len);
                        return Scan::Violation(at, Violation::RequestLineTooLong);
                    }
                    self.line_len += 9;
                    self.msg.http10 = buf[i + 7] == b'0';
                    self.state = State::RequestLineLf;
                    i += 9;
                    continue;
                }
                State::Value
                    if !matches!(self.field, Field::ContentLength | Field::TransferEncoding) =>
                {
                    let run = run_of(&buf[i..], VALUE);
                    if run > 0 {
                        i += run;
                        continue;
                    }
                    self.at = base + i;
                    if let Err(v) = self.step(buf[i]) {
                        return Scan::Violation(i, v);
                    }
                }
                State::Method | State::Name => {
                    let run = run_of(&buf[i..], TCHAR);
                    if run > 0 {
                        if self.state == State::Method {
                            if self.line_len + run > MAX_REQUEST_LINE {
                                let at = i + MAX_REQUEST_LINE.saturating_sub(self.line_len);
                                return Scan::Violation(at, Violation::RequestLineTooLong);
                            }
                            self.line_len += run;
                        } else {
                            // Only the first NAME_BUF bytes are kept (lowercased): enough to
                            // tell every name the scanner or the fast path acts on.
                            let at = self.name_len.min(NAME_BUF);
                            let keep = run.min(NAME_BUF - at);
                            for (d, &b) in
                                self.name[at..at + keep].iter_mut().zip(&buf[i..i + keep])
                            {
                                *d = b.to_ascii_lowercase();
                            }
                            self.name_len += run;
                        }
                        i += run;
                        continue;
                    }
                    self.at = base + i;
                    if let Err(v) = self.step(buf[i]) {
                        return Scan::Violation(i, v);
                    }
                }
                // A whole plain field line in one pass (see `field_line`); anything else is
                // stepped byte by byte, as before.
                State::FieldStart if is_tchar(buf[i]) => {
                    if let Some(next) = self.field_line(buf, i, base) {
                        i = next;
                        continue;
                    }
                    self.at = base + i;
                    if let Err(v) = self.step(buf[i]) {
                        return Scan::Violation(i, v);
                    }
                }
                State::Preface(n) => {
                    self.at = base + i;
                    if let Err(v) = self.preface(n, buf[i]) {
                        return Scan::Violation(i, v);
                    }
                }
                _ => {
                    self.at = base + i;
                    if let Err(v) = self.step(buf[i]) {
                        return Scan::Violation(i, v);
                    }
                }
            }
            i += 1;
        }
        self.at = base + i;
        Scan::Ok
    }

    fn preface(&mut self, n: u8, b: u8) -> Result<(), Violation> {
        let n = usize::from(n);
        if PREFACE.get(n) == Some(&b) {
            self.state = if n + 1 == PREFACE.len() {
                State::Passthrough
            } else {
                State::Preface((n + 1) as u8)
            };
            return Ok(());
        }
        // Not HTTP/2: replay the bytes that looked like the preface as HTTP/1.
        self.state = State::LineStart;
        let at = self.at;
        for (k, &p) in PREFACE[..n].iter().enumerate() {
            self.at = (at + k).saturating_sub(n);
            self.step(p)?;
        }
        self.at = at;
        self.step(b)
    }

    fn start_message(&mut self) {
        self.msg = Message::default();
        self.line_len = 0;
    }

    fn message_done(&mut self) {
        self.state = State::LineStart;
        if self.msg.upgrade {
            self.awaiting_upgrade = true;
        }
    }

    fn step(&mut self, b: u8) -> Result<(), Violation> {
        match self.state {
            // RFC 9112 §2.2: empty lines before a request-line are ignored.
            State::LineStart => match b {
                b'\r' => self.state = State::LeadingLf,
                b'\n' => return Err(Violation::BareLineBreak),
                _ if is_tchar(b) => {
                    self.start_message();
                    self.msg_start = self.at;
                    self.line_len = 1;
                    self.state = State::Method;
                    if let Some(r) = self.rec.as_deref_mut() {
                        r.begin(self.at);
                    }
                }
                _ => return Err(Violation::InvalidMethod),
            },
            State::LeadingLf => {
                if b != b'\n' {
                    return Err(Violation::BareLineBreak);
                }
                self.state = State::LineStart;
            }
            State::Method => {
                self.request_line_byte()?;
                match b {
                    b' ' => {
                        self.target_len = 0;
                        self.state = State::Target;
                        if let Some(r) = self.rec.as_deref_mut() {
                            r.method.end = span_at(self.at);
                            r.target.start = span_at(self.at + 1);
                        }
                    }
                    _ if is_tchar(b) => {}
                    b'\r' | b'\n' => return Err(Violation::MalformedRequestLine),
                    _ => return Err(Violation::InvalidMethod),
                }
            }
            State::Target => {
                self.request_line_byte()?;
                match b {
                    b' ' if self.target_len == 0 => return Err(Violation::MalformedRequestLine),
                    b' ' => {
                        self.state = State::Version(0);
                        if let Some(r) = self.rec.as_deref_mut() {
                            r.target.end = span_at(self.at);
                        }
                    }
                    0x21..=0x7e => {
                        self.target_len += 1;
                        self.msg.in_query |= b == b'?';
                    }
                    // obs-text in a query, as NGINX and HAProxy take it (browsers send UTF-8
                    // there raw); never in the path, which routes the request.
                    0x80..=0xff if self.msg.in_query => self.target_len += 1,
                    b'\r' | b'\n' => return Err(Violation::MalformedRequestLine),
                    _ => return Err(Violation::InvalidTarget),
                }
            }
            State::Version(n) => {
                self.request_line_byte()?;
                let n = usize::from(n);
                let bad = || match b {
                    b' ' => Violation::MalformedRequestLine,
                    _ => Violation::InvalidVersion,
                };
                match n {
                    0..=4 if b != HTTP_PREFIX[n] => return Err(bad()),
                    0..=4 => {}
                    // The major version: 1, or another digit (refused with 505 once the
                    // version proves well-formed).
                    5 => match b {
                        b'1' => {}
                        b'0'..=b'9' => self.msg.other_major = true,
                        _ => return Err(bad()),
                    },
                    6 if b != b'.' => return Err(bad()),
                    6 => {}
                    7 => match b {
                        b'0' if !self.msg.other_major => self.msg.http10 = true,
                        b'1' if !self.msg.other_major => self.msg.http10 = false,
                        b'0'..=b'9' if self.msg.other_major => {}
                        _ => return Err(Violation::InvalidVersion),
                    },
                    _ => match b {
                        b'\r' if self.msg.other_major => {
                            return Err(Violation::VersionNotSupported)
                        }
                        b'\r' => self.state = State::RequestLineLf,
                        b'\n' => return Err(Violation::BareLineBreak),
                        _ => return Err(bad()),
                    },
                }
                if n < 8 {
                    self.state = State::Version((n + 1) as u8);
                }
            }
            State::RequestLineLf => {
                if b != b'\n' {
                    return Err(Violation::BareLineBreak);
                }
                self.state = State::FieldStart;
            }
            State::FieldStart => match b {
                b'\r' => self.state = State::HeadEndLf,
                b'\n' => return Err(Violation::BareLineBreak),
                b' ' | b'\t' => return Err(Violation::ObsFold),
                _ if is_tchar(b) => {
                    self.name[0] = b.to_ascii_lowercase();
                    self.name_len = 1;
                    self.state = State::Name;
                    if let Some(r) = self.rec.as_deref_mut() {
                        r.cur.name.start = span_at(self.at);
                    }
                }
                _ => return Err(Violation::InvalidHeaderName),
            },
            State::Name => match b {
                b':' => {
                    self.field = self.classify_name();
                    self.value_len = 0;
                    self.value_overflow = false;
                    self.state = State::ValueStart;
                    if let Some(r) = self.rec.as_deref_mut() {
                        r.cur.name.end = span_at(self.at);
                        r.cur.kind = match self.name_len <= NAME_BUF {
                            true => FieldKind::of_lowercase(&self.name[..self.name_len]),
                            false => FieldKind::Other,
                        };
                    }
                }
                b' ' | b'\t' => return Err(Violation::SpaceBeforeColon),
                _ if is_tchar(b) => {
                    if self.name_len < NAME_BUF {
                        self.name[self.name_len] = b.to_ascii_lowercase();
                    }
                    self.name_len += 1;
                }
                b'\r' | b'\n' => return Err(Violation::InvalidHeaderName),
                _ => return Err(Violation::InvalidHeaderName),
            },
            State::ValueStart | State::Value => match b {
                b' ' | b'\t' if self.state == State::ValueStart => {
                    if b == b'\t' {
                        self.framing_tab();
                    }
                }
                b'\r' => {
                    if let Some(r) = self.rec.as_deref_mut() {
                        if self.state == State::ValueStart {
                            r.cur.value.start = span_at(self.at);
                        }
                        r.cur.value.end = span_at(self.at);
                    }
                    self.state = State::FieldLf;
                }
                b'\n' => return Err(Violation::BareLineBreak),
                _ if is_value_byte(b) => {
                    if self.state == State::ValueStart {
                        if let Some(r) = self.rec.as_deref_mut() {
                            r.cur.value.start = span_at(self.at);
                        }
                    }
                    self.state = State::Value;
                    self.push_value(b);
                }
                _ => return Err(Violation::ControlInValue),
            },
            State::FieldLf => {
                if b != b'\n' {
                    return Err(Violation::BareLineBreak);
                }
                self.field_done()?;
                self.state = State::FieldStart;
                if let Some(r) = self.rec.as_deref_mut() {
                    r.push_field();
                }
            }
            State::HeadEndLf => {
                if b != b'\n' {
                    return Err(Violation::BareLineBreak);
                }
                self.head_done()?;
            }
            State::ChunkSizeStart => match hex_value(b) {
                Some(v) => self.state = self.chunk_digit(0, 0, v)?,
                None => return Err(Violation::InvalidChunkSize),
            },
            State::ChunkSize { digits } => match (hex_value(b), b) {
                (Some(v), _) => self.state = self.chunk_digit(digits, self.pending_size(), v)?,
                (None, b'\r') => self.state = State::ChunkSizeLf,
                (None, b';') => {
                    self.ext_len = 1;
                    self.state = State::ChunkExt;
                }
                // RFC 9112 §7.1.1: BWS is allowed before the `;` of an extension.
                (None, b' ' | b'\t') => self.state = State::ChunkSizeWs,
                (None, b'\n') => return Err(Violation::BareLineBreak),
                _ => return Err(Violation::InvalidChunkSize),
            },
            State::ChunkSizeWs => match b {
                b' ' | b'\t' => {}
                b';' => {
                    self.ext_len = 1;
                    self.state = State::ChunkExt;
                }
                b'\r' => self.state = State::ChunkSizeLf,
                b'\n' => return Err(Violation::BareLineBreak),
                _ => return Err(Violation::InvalidChunkSize),
            },
            State::ChunkExt => match b {
                b'\r' => self.state = State::ChunkSizeLf,
                b'\n' => return Err(Violation::BareLineBreak),
                _ if is_value_byte(b) => {
                    self.ext_len += 1;
                    if self.ext_len > MAX_CHUNK_EXT {
                        return Err(Violation::ChunkExtensionTooLong);
                    }
                }
                _ => return Err(Violation::InvalidChunkSize),
            },
            State::ChunkSizeLf => {
                if b != b'\n' {
                    return Err(Violation::BareLineBreak);
                }
                let size = self.pending_size();
                self.state = if size == 0 {
                    State::TrailerStart
                } else {
                    State::ChunkData(size)
                };
            }
            State::ChunkDataCr => {
                if b != b'\r' {
                    return Err(Violation::InvalidChunkTerminator);
                }
                self.state = State::ChunkDataLf;
            }
            State::ChunkDataLf => {
                if b != b'\n' {
                    return Err(Violation::InvalidChunkTerminator);
                }
                self.state = State::ChunkSizeStart;
            }
            // RFC 9112 §7.1.2: the trailer section has the same syntax as header fields.
            State::TrailerStart => match b {
                b'\r' => self.state = State::TrailerEndLf,
                b'\n' => return Err(Violation::BareLineBreak),
                b' ' | b'\t' => return Err(Violation::ObsFold),
                _ if is_tchar(b) => self.state = State::TrailerName,
                _ => return Err(Violation::InvalidHeaderName),
            },
            State::TrailerName => match b {
                b':' => self.state = State::TrailerValue,
                b' ' | b'\t' => return Err(Violation::SpaceBeforeColon),
                _ if is_tchar(b) => {}
                _ => return Err(Violation::InvalidHeaderName),
            },
            State::TrailerValue => match b {
                b'\r' => self.state = State::TrailerLf,
                b'\n' => return Err(Violation::BareLineBreak),
                _ if is_value_byte(b) => {}
                _ => return Err(Violation::ControlInValue),
            },
            State::TrailerLf => {
                if b != b'\n' {
                    return Err(Violation::BareLineBreak);
                }
                self.state = State::TrailerStart;
            }
            State::TrailerEndLf => {
                if b != b'\n' {
                    return Err(Violation::BareLineBreak);
                }
                self.message_done();
            }
            State::Preface(_)
            | State::Body(_)
            | State::ChunkData(_)
            | State::Upgraded
            | State::Passthrough => {}
        }
        Ok(())
    }

    fn request_line_byte(&mut self) -> Result<(), Violation> {
        self.line_len += 1;
        if self.line_len > MAX_REQUEST_LINE {
            return Err(Violation::RequestLineTooLong);
        }
        Ok(())
    }

    // The chunk size being accumulated lives in `content_length` of the message, which is
    // unused once a chunked body has started.
    fn pending_size(&self) -> u64 {
        self.msg.content_length.unwrap_or(0)
    }

    fn chunk_digit(&mut self, digits: u8, acc: u64, v: u64) -> Result<State, Violation> {
        // 16 hex digits fill 64 bits; leading zeros beyond that are still refused.
        if digits >= 16 {
            return Err(Violation::InvalidChunkSize);
        }
        self.msg.content_length = Some((acc << 4) | v);
        Ok(State::ChunkSize { digits: digits + 1 })
    }

    /// One whole field line starting at `buf[i]` (a tchar, in state `FieldStart`), when it
    /// is all in `buf` and plainly valid: a token name, a colon, optional spaces or tabs, a
    /// value of field-value bytes, CRLF. Returns the index after its LF, having changed the
    /// scanner exactly as stepping each of its bytes would. Lines the scanner reads byte by
    /// byte (Content-Length and Transfer-Encoding values, a second Host) and every line that
    /// is incomplete or breaks a rule get `None` with nothing changed: the steps then judge
    /// them and report any violation at the byte they always did.
    fn field_line(&mut self, buf: &[u8], i: usize, base: usize) -> Option<usize> {
        let line = buf.get(i..)?;
        let name_len = run_of(line, TCHAR);
        if name_len == 0 || line.get(name_len) != Some(&b':') {
            return None;
        }
        let mut name = [0u8; NAME_BUF];
        let keep = name_len.min(NAME_BUF);
        for (d, &b) in name[..keep].iter_mut().zip(line) {
            *d = b.to_ascii_lowercase();
        }
        let field = classify(&name[..keep], name_len);
        match field {
            Field::ContentLength | Field::TransferEncoding => return None,
            Field::Host if self.msg.hosts > 0 => return None,
            _ => {}
        }
        let mut start = name_len + 1;
        while matches!(line.get(start), Some(b' ' | b'\t')) {
            start += 1;
        }
        let end = start + run_of(line.get(start..)?, VALUE);
        if line.get(end) != Some(&b'\r') || line.get(end + 1) != Some(&b'\n') {
            return None;
        }
        self.name = name;
        self.name_len = name_len;
        self.field = field;
        self.value_len = 0;
        self.value_overflow = false;
        if self.field_done().is_err() {
            // Unreachable: only Host can fail here, and a second Host was left to the steps.
            debug_assert!(false, "field_done failed on a line field_line accepted");
            return None;
        }
        if let Some(r) = self.rec.as_deref_mut() {
            let at = base + i;
            r.cur.name = Span {
                start: span_at(at),
                end: span_at(at + name_len),
            };
            r.cur.kind = match name_len <= NAME_BUF {
                true => FieldKind::of_lowercase(&name[..name_len]),
                false => FieldKind::Other,
            };
            // An empty value is an empty span at the CR, as the steps record it.
            let value_start = if start == end { end } else { start };
            r.cur.value = Span {
                start: span_at(at + value_start),
                end: span_at(at + end),
            };
            r.push_field();
        }
        self.state = State::FieldStart;
        Some(i + end + 2)
    }

    fn classify_name(&self) -> Field {
        classify(&self.name[..self.name_len.min(NAME_BUF)], self.name_len)
    }
}

/// What the scanner makes of a field whose name is `len` bytes long and starts with `lower`
/// (its first [`NAME_BUF`] bytes, lowercased).
fn classify(lower: &[u8], len: usize) -> Field {
    if len > NAME_BUF {
        return Field::Other;
    }
    match lower {
        b"content-length" => Field::ContentLength,
        b"transfer-encoding" => Field::TransferEncoding,
        b"host" => Field::Host,
        b"upgrade" => Field::Upgrade,
        _ => Field::Other,
    }
}

impl Scanner {
    /// A tab in a Content-Length or Transfer-Encoding value, even as the whitespace around
    /// it, makes the value unacceptable: `chunked\t` and `\tchunked` are read as `chunked` by
    /// some parsers and not by others (RFC 9110 §5.5 calls it OWS; framing is too important
    /// to trust every hop to trim it). Spaces stay allowed.
    fn framing_tab(&mut self) {
        if matches!(self.field, Field::ContentLength | Field::TransferEncoding) {
            self.value_overflow = true;
        }
    }

    fn push_value(&mut self, b: u8) {
        // Only Content-Length and Transfer-Encoding values are interpreted.
        if !matches!(self.field, Field::ContentLength | Field::TransferEncoding) {
            return;
        }
        if b == b'\t' {
            self.value_overflow = true;
        }
        if self.value_len < VALUE_BUF {
            self.value[self.value_len] = b;
            self.value_len += 1;
        } else {
            self.value_overflow = true;
        }
    }

    /// The field value without trailing whitespace (leading whitespace was never stored).
    fn trimmed_value(&self) -> &[u8] {
        let mut v = &self.value[..self.value_len];
        while let [rest @ .., b' ' | b'\t'] = v {
            v = rest;
        }
        v
    }

    fn field_done(&mut self) -> Result<(), Violation> {
        match self.field {
            Field::Other => {}
            Field::Host => {
                self.msg.hosts = self.msg.hosts.saturating_add(1);
                if self.msg.hosts > 1 {
                    return Err(Violation::InvalidHost);
                }
            }
            Field::Upgrade => self.msg.upgrade = true,
            Field::ContentLength => {
                let v = self.trimmed_value();
                if self.value_overflow || v.is_empty() || v.len() > 19 {
                    return Err(Violation::InvalidContentLength);
                }
                let mut n: u64 = 0;
                for &d in v {
                    if !d.is_ascii_digit() {
                        return Err(Violation::InvalidContentLength);
                    }
                    n = n * 10 + u64::from(d - b'0');
                }
                match self.msg.content_length {
                    Some(prev) if prev != n => return Err(Violation::InvalidContentLength),
                    _ => self.msg.content_length = Some(n),
                }
            }
            Field::TransferEncoding => {
                // Only one `chunked`, alone: anything else (other codings, a repeated
                // `chunked`, or a second Transfer-Encoding line) is refused.
                if self.msg.transfer_encoding
                    || self.value_overflow
                    || !self.trimmed_value().eq_ignore_ascii_case(b"chunked")
                {
                    self.msg.te_invalid = true;
                }
                self.msg.transfer_encoding = true;
            }
        }
        Ok(())
    }

    fn head_done(&mut self) -> Result<(), Violation> {
        let msg = self.msg;
        if let Some(r) = self.rec.as_deref_mut() {
            r.finish(
                self.at + 1,
                msg.http10,
                msg.content_length,
                msg.transfer_encoding,
                msg.upgrade,
            );
        }
        if msg.transfer_encoding {
            if msg.http10 {
                return Err(Violation::TransferEncodingInHttp10);
            }
            if msg.content_length.is_some() {
                return Err(Violation::ContentLengthWithTransferEncoding);
            }
            if msg.te_invalid {
                return Err(Violation::UnsupportedTransferEncoding);
            }
        }
        if !msg.http10 && msg.hosts != 1 {
            return Err(Violation::InvalidHost);
        }
        if msg.transfer_encoding {
            self.msg.content_length = None;
            self.state = State::ChunkSizeStart;
        } else {
            match msg.content_length {
                Some(n) if n > 0 => self.state = State::Body(n),
                _ => self.message_done(),
            }
        }
        Ok(())
    }
}

pub use super::spans::{span_at, BodyScan, FieldKind, FieldSpan, HeadSpans, Span};

impl Scanner {
    /// Read body bytes of the message whose head [`Scan::Head`] announced (or of the chunked
    /// body of [`Scanner::chunked_body`]): each call consumes framing and at most one run of
    /// data, and says where that data is in `buf`. Chunk-size lines, extensions and trailers
    /// are checked and consumed, never handed on: the caller frames the data again.
    pub fn body(&mut self, buf: &[u8]) -> Result<BodyScan, (usize, Violation)> {
        let base = self.at;
        let mut i = 0;
        let out = |s: &mut Self, used: usize, data: Option<(usize, usize)>, done: bool| {
            s.at = base + used;
            Ok(BodyScan { used, data, done })
        };
        loop {
            match self.state {
                State::LineStart => return out(self, i, None, true),
                _ if i == buf.len() => return out(self, i, None, false),
                State::Body(remaining) => {
                    let take = remaining.min((buf.len() - i) as u64);
                    let end = i + take as usize;
                    let left = remaining - take;
                    let done = left == 0;
                    if done {
                        self.message_done();
                    } else {
                        self.state = State::Body(left);
                    }
                    return out(self, end, Some((i, end)), done);
                }
                State::ChunkData(remaining) => {
                    let take = remaining.min((buf.len() - i) as u64);
                    let end = i + take as usize;
                    let left = remaining - take;
                    self.state = if left == 0 {
                        State::ChunkDataCr
                    } else {
                        State::ChunkData(left)
                    };
                    return out(self, end, Some((i, end)), false);
                }
                State::Upgraded | State::Passthrough => return out(self, i, None, true),
                _ => {
                    self.at = base + i;
                    self.step(buf[i]).map_err(|v| (i, v))?;
                    i += 1;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
