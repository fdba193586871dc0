//! The web application firewall: detectors for SQL injection, cross-site scripting, path
//! traversal / local and remote file inclusion, command injection (unix and windows shells),
//! PHP injection and protocol anomalies, after the OWASP Core Rule Set's rule groups and
//! paranoia levels (a higher level adds stricter checks, and more false positives).
//!
//! An engine hands an [`Inspector`] the parts of a request one by one — the path, the query,
//! each header, a bounded body — and stops at the first [`Finding`]. Each input is decoded
//! as a backend would (`decode.rs`), then matched by finite-automaton regexes (`rules.rs`)
//! and a few structural checks (`protocol.rs`), so the work on an input is linear in its
//! size. Form, JSON, multipart and XML bodies are split into their values (`body.rs`).
//!
//! What it must not do: read sockets or the clock, echo an input unescaped (a finding's
//! [`Finding::excerpt`] is truncated and escaped), panic on any input.

mod body;
mod decode;
mod protocol;
mod rules;

use std::fmt::Write as _;
use std::sync::{Arc, OnceLock};

use regex::bytes::{RegexSet, RegexSetBuilder};

pub use decode::Views;

/// An attack class, as named in logs and in the 403 body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    Sqli,
    Xss,
    Lfi,
    Rfi,
    Rce,
    Php,
    Protocol,
}

impl Class {
    pub const ALL: [Class; 7] = [
        Class::Sqli,
        Class::Xss,
        Class::Lfi,
        Class::Rfi,
        Class::Rce,
        Class::Php,
        Class::Protocol,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Class::Sqli => "sqli",
            Class::Xss => "xss",
            Class::Lfi => "lfi",
            Class::Rfi => "rfi",
            Class::Rce => "rce",
            Class::Php => "php",
            Class::Protocol => "protocol",
        }
    }
}

/// Where in a request an input comes from (a rule's `parts` is a mask of these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum PartKind {
    Path = 1,
    /// A query or body parameter's value.
    Arg = 2,
    /// A query or body parameter's name (a JSON key).
    ArgName = 4,
    Header = 8,
    Cookie = 16,
    /// A multipart file name.
    FileName = 32,
    /// A header field other than `User-Agent`, `Referer` and `Cookie` below paranoia 3:
    /// only the unambiguous patterns (script tags, PHP tags, shellshock) read it.
    OtherHeader = 64,
}

const KINDS: [PartKind; 7] = [
    PartKind::Path,
    PartKind::Arg,
    PartKind::ArgName,
    PartKind::Header,
    PartKind::Cookie,
    PartKind::FileName,
    PartKind::OtherHeader,
];

/// What matched, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub class: Class,
    /// The detector's id (a CRS-like rule number).
    pub rule: &'static str,
    /// The part inspected: `path`, `query`, `header`, `cookie`, `body`.
    pub part: &'static str,
    /// The parameter, header or cookie name (escaped, at most 64 bytes), if any.
    pub name: String,
    /// The decoded input that matched, escaped and cut to 80 bytes: for logs only.
    pub excerpt: String,
}

/// `s` as printable ASCII (`\xNN` for the rest, `\"` and `\\` escaped), at most `max`
/// bytes of input.
pub fn escape(s: &[u8], max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max) + 8);
    for &b in s.iter().take(max) {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    if s.len() > max {
        out.push_str("...");
    }
    out
}

/// The patterns of one paranoia level, one set per (view, part kind).
struct Compiled {
    sets: Vec<(RegexSet, Vec<usize>)>,
}

impl Compiled {
    fn build(paranoia: u8) -> Compiled {
        let mut sets = Vec::with_capacity(3 * KINDS.len());
        for view in [rules::View::Text, rules::View::Sql, rules::View::Shell] {
            for kind in KINDS {
                let idx: Vec<usize> = rules::RULES
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| {
                        r.view == view && r.paranoia <= paranoia && r.parts & kind as u8 != 0
                    })
                    .map(|(i, _)| i)
                    .collect();
                let set = RegexSetBuilder::new(idx.iter().map(|&i| rules::RULES[i].pattern))
                    .unicode(false)
                    .size_limit(256 << 20)
                    .dfa_size_limit(64 << 20)
                    .build()
                    .unwrap_or_else(|e| panic!("a WAF pattern does not compile: {e}"));
                sets.push((set, idx));
            }
        }
        Compiled { sets }
    }

    fn set(&self, view: rules::View, kind: PartKind) -> &(RegexSet, Vec<usize>) {
        let v = view as usize;
        let k = KINDS.iter().position(|&x| x == kind).unwrap_or(0);
        &self.sets[v * KINDS.len() + k]
    }
}

/// The compiled patterns of each paranoia level: built once, on first use, and shared
/// (immutable, so not global mutable state).
fn compiled(paranoia: u8) -> Arc<Compiled> {
    static LEVELS: [OnceLock<Arc<Compiled>>; 4] = [
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
        OnceLock::new(),
    ];
    let p = paranoia.clamp(1, 4);
    LEVELS[usize::from(p - 1)]
        .get_or_init(|| Arc::new(Compiled::build(p)))
        .clone()
}

/// `mode` of `[listener.waf]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WafMode {
    Block,
    Detect,
    Off,
}

impl WafMode {
    pub fn as_str(self) -> &'static str {
        match self {
            WafMode::Block => "block",
            WafMode::Detect => "detect",
            WafMode::Off => "off",
        }
    }
}

/// A configured firewall: its paranoia level and body bound, the compiled patterns.
pub struct Waf {
    paranoia: u8,
    max_body_inspect: usize,
    compiled: Arc<Compiled>,
}

impl std::fmt::Debug for Waf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waf")
            .field("paranoia", &self.paranoia)
            .field("max_body_inspect", &self.max_body_inspect)
            .finish()
    }
}

impl Waf {
    /// `paranoia` is clamped to 1..=4. Compiles the level's patterns on its first use.
    pub fn new(paranoia: u8, max_body_inspect: usize) -> Waf {
        let paranoia = paranoia.clamp(1, 4);
        Waf {
            paranoia,
            max_body_inspect,
            compiled: compiled(paranoia),
        }
    }

    pub fn paranoia(&self) -> u8 {
        self.paranoia
    }

    pub fn max_body_inspect(&self) -> usize {
        self.max_body_inspect
    }

    pub fn same(&self, paranoia: u8, max_body_inspect: usize) -> bool {
        self.paranoia == paranoia && self.max_body_inspect == max_body_inspect
    }

    pub fn inspector(&self) -> Inspector<'_> {
        Inspector {
            waf: self,
            views: Views::default(),
            split: Vec::new(),
        }
    }
}

/// One request's inspection: scratch buffers reused across its parts.
pub struct Inspector<'w> {
    waf: &'w Waf,
    views: Views,
    split: Vec<u8>,
}

impl Inspector<'_> {
    /// Bytes the decoders read so far (the linear-time test counts them).
    pub fn steps(&self) -> u64 {
        self.views.steps
    }

    pub fn paranoia(&self) -> u8 {
        self.waf.paranoia
    }

    /// The request line's method and target (protocol checks), then the path.
    pub fn request_line(&mut self, method: &[u8], path: &[u8]) -> Option<Finding> {
        if let Some(f) = protocol::method(self.waf.paranoia, method) {
            return Some(f);
        }
        self.path(path)
    }

    pub fn path(&mut self, raw: &[u8]) -> Option<Finding> {
        if let Some(f) = protocol::path(self.waf.paranoia, raw) {
            return Some(f);
        }
        self.value("path", PartKind::Path, b"", raw, true, false)
    }

    /// A query string: each parameter's name and value (`+` as space).
    pub fn query(&mut self, raw: &[u8]) -> Option<Finding> {
        self.pairs("query", raw)
    }

    /// `a=1&b=2` pairs (a query or a form body).
    pub fn pairs(&mut self, part: &'static str, raw: &[u8]) -> Option<Finding> {
        for pair in raw.split(|&b| b == b'&') {
            if pair.is_empty() {
                continue;
            }
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &b""[..]),
            };
            if let Some(f) = self.value(part, PartKind::ArgName, name, name, true, true) {
                return Some(f);
            }
            if let Some(f) = self.value(part, PartKind::Arg, name, value, true, true) {
                return Some(f);
            }
            if let Some(f) = protocol::include_param(self.waf.paranoia, part, name, value) {
                return Some(f);
            }
            if let Some(f) = protocol::method_override(part, name, value) {
                return Some(f);
            }
        }
        None
    }

    /// A header field. Paranoia 1 and 2 read `User-Agent`, `Referer` and each cookie (name
    /// and value); 3 and up every field but a few framing ones; protocol checks apply to all.
    pub fn header(&mut self, name: &[u8], value: &[u8]) -> Option<Finding> {
        if let Some(f) = protocol::header(self.waf.paranoia, name, value) {
            return Some(f);
        }
        if name.eq_ignore_ascii_case(b"cookie") {
            for c in value.split(|&b| b == b';') {
                let c = c.trim_ascii();
                let (n, v) = match c.iter().position(|&b| b == b'=') {
                    Some(i) => (&c[..i], &c[i + 1..]),
                    None => (c, &b""[..]),
                };
                if let Some(f) = self.value("cookie", PartKind::Cookie, n, n, true, false) {
                    return Some(f);
                }
                if let Some(f) = self.value("cookie", PartKind::Cookie, n, v, true, false) {
                    return Some(f);
                }
            }
            return None;
        }
        let read = name.eq_ignore_ascii_case(b"user-agent")
            || name.eq_ignore_ascii_case(b"referer")
            || (self.waf.paranoia >= 3 && !protocol::framing_header(name));
        if read {
            return self.value("header", PartKind::Header, name, value, true, false);
        }
        if protocol::file_name_header(name) {
            if let Some(f) = protocol::file_name(name, value) {
                return Some(f);
            }
            return self.value("header", PartKind::FileName, name, value, true, false);
        }
        if protocol::framing_header(name) {
            return None;
        }
        self.value("header", PartKind::OtherHeader, name, value, true, false)
    }

    /// A whole request head: its method, path, query and every header field, in that
    /// order; the first finding.
    pub fn head<'h>(
        &mut self,
        method: &[u8],
        path: &[u8],
        query: Option<&[u8]>,
        headers: impl IntoIterator<Item = (&'h [u8], &'h [u8])>,
    ) -> Option<Finding> {
        if let Some(f) = self.request_line(method, path) {
            return Some(f);
        }
        if let Some(f) = query.and_then(|q| self.query(q)) {
            return Some(f);
        }
        for (n, v) in headers {
            if let Some(f) = self.header(n, v) {
                return Some(f);
            }
        }
        None
    }

    /// A request body (at most `max_body_inspect` bytes of it) of `content_type`: form,
    /// JSON, multipart and XML bodies are split into their values; others are not read.
    pub fn body(&mut self, content_type: Option<&[u8]>, body: &[u8]) -> Option<Finding> {
        let body = &body[..body.len().min(self.waf.max_body_inspect)];
        body::inspect(self, content_type, body)
    }

    /// Decode `raw` and match it against the rules for `kind`.
    pub fn value(
        &mut self,
        part: &'static str,
        kind: PartKind,
        name: &[u8],
        raw: &[u8],
        percent: bool,
        plus: bool,
    ) -> Option<Finding> {
        if raw.is_empty() {
            return None;
        }
        if let Some(f) = protocol::value(self.waf.paranoia, part, kind, name, raw, percent) {
            return Some(f);
        }
        self.views.decode(raw, percent, plus);
        let c = &self.waf.compiled;
        for (view, input) in [
            (rules::View::Text, &self.views.text),
            (rules::View::Sql, &self.views.sql),
            (rules::View::Shell, &self.views.shell),
        ] {
            let (set, idx) = c.set(view, kind);
            if !set.is_match(input) {
                continue;
            }
            let first = set.matches(input).into_iter().next()?;
            let rule = &rules::RULES[*idx.get(first)?];
            return Some(Finding {
                class: rule.class,
                rule: rule.id,
                part,
                name: escape(name, 64),
                excerpt: escape(input, 80),
            });
        }
        None
    }

    fn split_buf(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.split)
    }

    fn return_buf(&mut self, b: Vec<u8>) {
        self.split = b;
    }
}

#[cfg(test)]
mod tests;
