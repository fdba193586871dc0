//! What the fuzz targets share: the split plan a target reads from its input's first byte,
//! and the small bits of RFC 9110 grammar the targets check results against (written here
//! from the RFC, not taken from the code under test).

/// Where a target cuts its input into reads, from one byte of the input: its top two bits
/// pick the largest read (1 byte: byte by byte; 3, 17 or 700 bytes), the rest seed the sizes
/// (a xorshift sequence, so each seed is one repeatable plan).
pub struct Splits {
    state: u32,
    max: usize,
}

impl Splits {
    pub fn new(seed: u8) -> Self {
        Splits {
            state: 0x9e37_79b9 ^ u32::from(seed),
            max: [1, 3, 17, 700][usize::from(seed >> 6)],
        }
    }

    /// The size of the next read: 1 to the plan's largest.
    pub fn next_len(&mut self) -> usize {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.state = x;
        1 + (x as usize) % self.max
    }
}

/// RFC 9110 §5.6.2 tchar.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `v` without leading and trailing spaces and tabs (RFC 9110 §5.6.3 OWS).
pub fn trim_ows(mut v: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = v {
        v = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = v {
        v = rest;
    }
    v
}

/// Whether a comma-separated token list (a `Connection` value) names `token`.
pub fn lists(list: &[u8], token: &[u8]) -> bool {
    list.split(|&b| b == b',')
        .any(|t| trim_ows(t).eq_ignore_ascii_case(token))
}

/// Hop-by-hop fields (RFC 9110 §7.6.1, with `Keep-Alive`, `Proxy-Connection` and the
/// `Proxy-Authenticate`/`-Authorization` pair), never passed from one hop to the next.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "transfer-encoding",
    "upgrade",
];

/// `Content-Length` as RFC 9110 §8.6 writes it: 1*DIGIT, here at most 19 digits (fits u64).
pub fn content_length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(v.iter().fold(0, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Headers parsed by httparse, as (name, value) pairs.
pub fn fields<'a>(headers: &[httparse::Header<'a>]) -> Vec<(&'a str, &'a [u8])> {
    headers.iter().map(|h| (h.name, h.value)).collect()
}

/// How many of `fields` are named `name` (ASCII case-insensitive).
pub fn count(fields: &[(&str, &[u8])], name: &str) -> usize {
    fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .count()
}

/// The values of `fields` named `name`.
pub fn values<'a>(fields: &[(&str, &'a [u8])], name: &str) -> Vec<&'a [u8]> {
    fields
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
        .collect()
}
