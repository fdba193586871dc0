//! Protocol anomalies (after CRS groups 920 and 921) that are about the shape of a request
//! rather than a pattern in a value: null bytes and control characters in parameters,
//! restricted file extensions and headers, malformed or unusual `Content-Type`s, charsets,
//! methods. The request line and framing themselves are the HTTP parser's (a malformed one
//! never reaches the WAF).

use super::{escape, Class, Finding, PartKind};

fn finding(rule: &'static str, part: &'static str, name: &[u8], input: &[u8]) -> Finding {
    Finding {
        class: Class::Protocol,
        rule,
        part,
        name: escape(name, 64),
        excerpt: escape(input, 80),
    }
}

/// Fields a paranoia-3 header scan leaves alone: framing and content negotiation.
pub fn framing_header(name: &[u8]) -> bool {
    const SKIP: &[&[u8]] = &[
        b"host",
        b"content-length",
        b"content-type",
        b"transfer-encoding",
        b"connection",
        b"accept",
        b"accept-encoding",
        b"accept-language",
        b"cache-control",
        b"pragma",
        b"upgrade-insecure-requests",
        b"authorization",
        b"x-forwarded-for",
        b"x-forwarded-proto",
        b"x-forwarded-host",
        b"forwarded",
        b"traceparent",
        b"tracestate",
        b"if-none-match",
        b"if-modified-since",
        b"keep-alive",
        b"te",
    ];
    SKIP.iter().any(|s| s.eq_ignore_ascii_case(name)) || name.starts_with(b"sec-")
}

/// TRACE, TRACK and DEBUG reflect or expose the request (cross-site tracing; 911100's
/// spirit), refused at every level.
pub fn method(_paranoia: u8, m: &[u8]) -> Option<Finding> {
    (m == b"TRACE" || m == b"TRACK" || m == b"DEBUG").then(|| finding("920100", "method", b"", m))
}

/// Extensions of backups, databases, keys and configuration (920440).
const RESTRICTED_EXT: &[&str] = &[
    "asa",
    "asax",
    "backup",
    "bak",
    "bat",
    "cdx",
    "cer",
    "cfg",
    "cmd",
    "com",
    "config",
    "conf",
    "cs",
    "csproj",
    "csr",
    "dat",
    "db",
    "dbf",
    "dll",
    "dos",
    "htr",
    "htw",
    "ida",
    "idc",
    "idq",
    "inc",
    "ini",
    "key",
    "licx",
    "lnk",
    "log",
    "mdb",
    "old",
    "pass",
    "pdb",
    "pol",
    "printer",
    "pwd",
    "rdb",
    "resources",
    "resx",
    "sql",
    "swp",
    "sys",
    "vb",
    "vbs",
    "vbproj",
    "vsdisco",
    "webinfo",
    "xsd",
    "xsx",
    "sqlite",
    "sqlite3",
    "kdbx",
    "pem",
    "p12",
    "pfx",
    "jks",
    "env",
];

pub fn path(_paranoia: u8, raw: &[u8]) -> Option<Finding> {
    let last = raw.rsplit(|&b| b == b'/').next().unwrap_or(raw);
    if let Some(dot) = last.iter().rposition(|&b| b == b'.') {
        let ext = &last[dot + 1..];
        if RESTRICTED_EXT
            .iter()
            .any(|e| e.as_bytes().eq_ignore_ascii_case(ext))
        {
            return Some(finding("920440", "path", b"", raw));
        }
    }
    if raw.contains(&0) || contains_ci(raw, b"%00") {
        return Some(finding("920270", "path", b"", raw));
    }
    if raw.contains(&b'#') {
        return Some(finding("920610", "path", b"", raw));
    }
    None
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// Headers a client has no business sending (920450): httpoxy's `Proxy`, WebDAV's
/// `Lock-Token`/`If`/`Translate`, method overrides, `Content-Range` on a request.
const RESTRICTED_HEADERS: &[&[u8]] = &[
    b"proxy",
    b"lock-token",
    b"request-range",
    b"content-range",
    b"if",
    b"translate",
    b"x-http-method-override",
    b"x-http-method",
    b"x-method-override",
    b"back-end-server",
    b"x-forwarded-server",
];

pub fn header(paranoia: u8, name: &[u8], value: &[u8]) -> Option<Finding> {
    if RESTRICTED_HEADERS
        .iter()
        .any(|h| h.eq_ignore_ascii_case(name))
    {
        return Some(finding("920450", "header", name, value));
    }
    if name.eq_ignore_ascii_case(b"content-type") {
        return content_type(paranoia, value).map(|r| finding(r, "header", name, value));
    }
    if name.eq_ignore_ascii_case(b"content-encoding") && paranoia >= 1 {
        let v = value.trim_ascii();
        if !(v.eq_ignore_ascii_case(b"identity") || v.is_empty()) {
            return Some(finding("920640", "header", name, value));
        }
    }
    let v = value.trim_ascii();
    if name.eq_ignore_ascii_case(b"accept") && paranoia >= 2 && !v.is_empty() && !v.contains(&b'/')
    {
        return Some(finding("920600", "header", name, value));
    }
    if name.eq_ignore_ascii_case(b"range") {
        // More than a few ranges, or one starting at 0 of a huge span: range abuse (920200).
        let count = value.iter().filter(|&&b| b == b',').count();
        if count >= if paranoia >= 2 { 5 } else { 63 } {
            return Some(finding("920200", "header", name, value));
        }
    }
    if value.iter().any(|&b| b == 0 || (b < 0x20 && b != b'\t')) {
        return Some(finding("920274", "header", name, value));
    }
    None
}

/// A `Content-Type` that is `type/subtype` with well-formed parameters and, when it names
/// a charset, a usual one (920470, 920480).
fn content_type(paranoia: u8, v: &[u8]) -> Option<&'static str> {
    let mut parts = v.split(|&b| b == b';');
    let mime = parts.next().unwrap_or(b"").trim_ascii();
    let token = |s: &[u8]| {
        !s.is_empty()
            && s.iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"!#$&^_.+-".contains(&b))
    };
    let ok = match mime.iter().position(|&b| b == b'/') {
        Some(i) => token(&mime[..i]) && token(&mime[i + 1..]),
        None => false,
    };
    if !ok {
        return Some("920470");
    }
    // Multipart kinds a form or an API sends (920420).
    let lower = mime.to_ascii_lowercase();
    if let Some(sub) = lower.strip_prefix(b"multipart/") {
        const OK: &[&[u8]] = &[
            b"form-data",
            b"related",
            b"mixed",
            b"alternative",
            b"byteranges",
        ];
        if !OK.contains(&sub) {
            return Some("920420");
        }
    }
    let mut charsets = 0;
    for p in parts {
        let p = p.trim_ascii();
        if p.is_empty() {
            continue;
        }
        let Some(eq) = p.iter().position(|&b| b == b'=') else {
            return Some("920470");
        };
        let (k, val) = (p[..eq].trim_ascii(), p[eq + 1..].trim_ascii());
        if !token(k) {
            return Some("920470");
        }
        if k.eq_ignore_ascii_case(b"charset") {
            charsets += 1;
            let val = val
                .strip_prefix(b"\"")
                .and_then(|v| v.strip_suffix(b"\""))
                .or_else(|| val.strip_prefix(b"'").and_then(|v| v.strip_suffix(b"'")))
                .unwrap_or(val);
            const OK: &[&[u8]] = &[
                b"utf-8",
                b"iso-8859-1",
                b"iso-8859-15",
                b"windows-1252",
                b"us-ascii",
                b"utf8",
            ];
            if !OK.iter().any(|c| c.eq_ignore_ascii_case(val)) {
                return Some("920480");
            }
        }
    }
    if charsets > 1 || (paranoia >= 1 && contains_ci(v, b"charset") && charsets == 0) {
        return Some("920480");
    }
    None
}

/// A parameter's raw bytes: null bytes (920270), other control characters at paranoia 2
/// (920271).
pub fn value(
    paranoia: u8,
    part: &'static str,
    kind: PartKind,
    name: &[u8],
    raw: &[u8],
    percent: bool,
) -> Option<Finding> {
    if matches!(kind, PartKind::Header) {
        return None;
    }
    let nul = raw.contains(&0) || (percent && contains_ci(raw, b"%00"));
    if nul {
        return Some(finding("920270", part, name, raw));
    }
    if percent && !matches!(kind, PartKind::Path) {
        // Full-width forms through %u (IIS), and \uXXXX escapes in a query or a form: ways
        // past filters, not ways to write text (920260, 920540).
        let fullwidth = raw.windows(4).any(|w| {
            w[0] == b'%' && (w[1] | 0x20) == b'u' && (w[2] | 0x20) == b'f' && (w[3] | 0x20) == b'f'
        });
        let escaped = raw.windows(2).any(|w| w == b"\\u") || contains_ci(raw, b"%5cu");
        if fullwidth || escaped {
            return Some(finding(
                if fullwidth { "920260" } else { "920540" },
                part,
                name,
                raw,
            ));
        }
        // What percent-decodes to bytes that are not UTF-8 (920250).
        let mut buf = Vec::new();
        super::decode::percent(raw, true, &mut buf);
        if std::str::from_utf8(&buf).is_err() {
            return Some(finding("920250", part, name, raw));
        }
        if paranoia >= 2
            && buf
                .windows(3)
                .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
        {
            return Some(finding("920230", part, name, raw));
        }
    }
    if paranoia >= 2 && percent {
        let mut i = 0;
        while let Some(p) = raw[i..].iter().position(|&b| b == b'%') {
            let at = i + p;
            if let (Some(&a), Some(&b)) = (raw.get(at + 1), raw.get(at + 2)) {
                if a == b'0' || a == b'1' {
                    let ctrl = matches!(b, b'0'..=b'8' | b'b' | b'B' | b'c' | b'C' | b'e'..=b'f' | b'E'..=b'F')
                        || a == b'1';
                    if ctrl {
                        return Some(finding("920271", part, name, raw));
                    }
                }
                if a == b'7' && (b == b'f' || b == b'F') {
                    return Some(finding("920271", part, name, raw));
                }
            }
            i = at + 1;
        }
    }
    None
}

/// A URL given to a parameter named for inclusion (`include=http://...`, 931110): paranoia 1
/// for `include`/`require` and Mambo's `mosConfig_*`, 2 for `file`, `page`, `path`,
/// `template` and the like too.
pub fn include_param(
    paranoia: u8,
    part: &'static str,
    name: &[u8],
    value: &[u8],
) -> Option<Finding> {
    let full = name.to_ascii_lowercase();
    // `_CONF[path]`: the innermost key names it.
    let n = match full.iter().rposition(|&b| b == b'[') {
        Some(i) => full[i + 1..]
            .strip_suffix(b"]")
            .unwrap_or(&full[i + 1..])
            .to_vec(),
        None => full,
    };
    let strong =
        n.starts_with(b"include") || n.starts_with(b"require") || n.starts_with(b"mosconfig");
    const WEAK: &[&[u8]] = &[
        b"file",
        b"page",
        b"path",
        b"template",
        b"inc",
        b"doc",
        b"document",
        b"root",
        b"dir",
        b"module",
        b"load",
    ];
    let weak = paranoia >= 2 && WEAK.iter().any(|w| n == *w);
    if !(strong || weak) {
        return None;
    }
    let mut v = Vec::with_capacity(value.len().min(16));
    super::decode::percent(&value[..value.len().min(64)], true, &mut v);
    let v = v.trim_ascii().to_ascii_lowercase();
    let url = [
        &b"http://"[..],
        b"https://",
        b"ftp://",
        b"ftps://",
        b"file://",
    ]
    .iter()
    .any(|s| v.starts_with(s));
    url.then(|| super::Finding {
        class: Class::Rfi,
        rule: "931110",
        part,
        name: escape(name, 64),
        excerpt: escape(&v, 80),
    })
}

/// Fields upload clients name a file in (`X-Filename` and its spellings).
pub fn file_name_header(name: &[u8]) -> bool {
    [
        &b"x-filename"[..],
        b"x_filename",
        b"x-file-name",
        b"x.filename",
        b"x-upload-filename",
    ]
    .iter()
    .any(|h| h.eq_ignore_ascii_case(name))
}

/// A parameter that overrides the method (`_method=DELETE`, 920650).
pub fn method_override(part: &'static str, name: &[u8], value: &[u8]) -> Option<Finding> {
    if !name.eq_ignore_ascii_case(b"_method") {
        return None;
    }
    const METHODS: &[&[u8]] = &[
        b"get", b"post", b"put", b"delete", b"patch", b"head", b"options", b"connect", b"trace",
    ];
    let v = value.trim_ascii().to_ascii_lowercase();
    METHODS
        .contains(&v.as_slice())
        .then(|| finding("920650", part, name, value))
}

/// A multipart file name with characters no file name needs (`'`, `"`, `=`, `;` outside an
/// entity), after CRS 920120.
pub fn file_name(name: &[u8], file: &[u8]) -> Option<Finding> {
    let mut bad = false;
    for (i, &b) in file.iter().enumerate() {
        match b {
            b'\'' | b'"' | b'=' => bad = true,
            b';' => {
                // `&auml;` and the like are fine.
                let start = file[..i].iter().rposition(|&c| c == b'&');
                let entity = start.is_some_and(|s| {
                    i - s <= 8 && file[s + 1..i].iter().all(u8::is_ascii_alphanumeric)
                });
                bad |= !entity;
            }
            _ => {}
        }
    }
    bad.then(|| finding("920120", "file name", name, file))
}
