//! Request bodies split into the values a backend reads: `application/x-www-form-urlencoded`
//! pairs, every JSON string (keys too) and number-free scalar, `multipart/form-data` field
//! names, file names and non-file field contents, and the text and attribute values of XML.
//! Other content types are not read. The caller bounds the body (`max_body_inspect`); a
//! value cut by that bound is inspected as far as it goes.

use super::{Finding, Inspector, PartKind};

pub fn inspect(
    ins: &mut Inspector<'_>,
    content_type: Option<&[u8]>,
    body: &[u8],
) -> Option<Finding> {
    if body.is_empty() {
        return None;
    }
    let ct = content_type.unwrap_or(b"application/x-www-form-urlencoded");
    let mime = ct.split(|&b| b == b';').next().unwrap_or(b"").trim_ascii();
    let is = |m: &[u8]| mime.eq_ignore_ascii_case(m);
    if is(b"application/x-www-form-urlencoded") {
        return ins.pairs("body", body);
    }
    if is(b"application/json") || ends_with_ci(mime, b"+json") {
        return json(ins, body);
    }
    if starts_with_ci(mime, b"multipart/") {
        let boundary = param(ct, b"boundary")?;
        return multipart(ins, boundary, body);
    }
    if is(b"application/xml") || is(b"text/xml") || ends_with_ci(mime, b"+xml") {
        return xml(ins, body);
    }
    None
}

fn starts_with_ci(s: &[u8], p: &[u8]) -> bool {
    s.len() >= p.len() && s[..p.len()].eq_ignore_ascii_case(p)
}

fn ends_with_ci(s: &[u8], p: &[u8]) -> bool {
    s.len() >= p.len() && s[s.len() - p.len()..].eq_ignore_ascii_case(p)
}

/// A `; name=value` parameter of a header value, quotes removed (a `;` inside quotes does
/// not split).
fn param<'a>(v: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut start = 0;
    let mut quoted = false;
    let mut first = true;
    for i in 0..=v.len() {
        let end = i == v.len();
        if !end && v[i] == b'"' {
            quoted = !quoted;
        }
        if end || (v[i] == b';' && !quoted) {
            let p = v[start..i].trim_ascii();
            start = i + 1;
            if std::mem::take(&mut first) {
                continue;
            }
            let Some(eq) = p.iter().position(|&b| b == b'=') else {
                continue;
            };
            if p[..eq].trim_ascii().eq_ignore_ascii_case(name) {
                let val = p[eq + 1..].trim_ascii();
                return Some(
                    val.strip_prefix(b"\"")
                        .and_then(|v| v.strip_suffix(b"\""))
                        .unwrap_or(val),
                );
            }
        }
    }
    None
}

/// Every string of a JSON document (keys as names), found by a linear scan of the bytes
/// (not a parse: a body cut at the bound, or not quite JSON, is still read).
fn json(ins: &mut Inspector<'_>, body: &[u8]) -> Option<Finding> {
    let mut buf = ins.split_buf();
    let mut i = 0;
    let mut found = None;
    while i < body.len() {
        if body[i] != b'"' {
            i += 1;
            continue;
        }
        buf.clear();
        i += 1;
        while i < body.len() && body[i] != b'"' {
            if body[i] == b'\\' && i + 1 < body.len() {
                // Keep escapes for the decoder (`\u003c`), but unescape `\"` and `\\`.
                match body[i + 1] {
                    b'"' | b'\\' | b'/' => buf.push(body[i + 1]),
                    b'n' => buf.push(b'\n'),
                    b'r' => buf.push(b'\r'),
                    b't' => buf.push(b'\t'),
                    other => {
                        buf.push(b'\\');
                        buf.push(other);
                    }
                }
                i += 2;
                continue;
            }
            buf.push(body[i]);
            i += 1;
        }
        i += 1;
        let key = body[i.min(body.len())..]
            .iter()
            .find(|b| !b.is_ascii_whitespace())
            == Some(&b':');
        let kind = if key {
            PartKind::ArgName
        } else {
            PartKind::Arg
        };
        if let Some(f) = ins.value("body", kind, b"json", &buf, false, false) {
            found = Some(f);
            break;
        }
    }
    ins.return_buf(buf);
    found
}

/// Multipart parts: each one's field name, file name, and the content of non-file fields.
fn multipart(ins: &mut Inspector<'_>, boundary: &[u8], body: &[u8]) -> Option<Finding> {
    if boundary.is_empty() {
        return None;
    }
    let mut delim = Vec::with_capacity(boundary.len() + 2);
    delim.extend_from_slice(b"--");
    delim.extend_from_slice(boundary);
    let finder = memchr::memmem::Finder::new(&delim);
    let starts: Vec<usize> = finder.find_iter(body).collect();
    for w in 0..starts.len() {
        let from = starts[w] + delim.len();
        let to = starts.get(w + 1).copied().unwrap_or(body.len());
        let part = &body[from.min(to)..to];
        if part.starts_with(b"--") {
            break;
        }
        let (head, content) = match memchr::memmem::find(part, b"\r\n\r\n") {
            Some(e) => (&part[..e], &part[e + 4..]),
            None => match memchr::memmem::find(part, b"\n\n") {
                Some(e) => (&part[..e], &part[e + 2..]),
                None => (part, &b""[..]),
            },
        };
        let content = content
            .strip_suffix(b"\r\n")
            .or_else(|| content.strip_suffix(b"\n"))
            .unwrap_or(content);
        let mut name: &[u8] = b"";
        let mut file = None;
        for line in head.split(|&b| b == b'\n') {
            let line = line.trim_ascii();
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (h, v) = (line[..colon].trim_ascii(), line[colon + 1..].trim_ascii());
            if h.eq_ignore_ascii_case(b"content-disposition") {
                name = param(v, b"name").unwrap_or(b"");
                file = param(v, b"filename");
            } else if let Some(f) = ins.header(h, v) {
                return Some(f);
            }
        }
        if let Some(f) = ins.value("body", PartKind::ArgName, name, name, false, false) {
            return Some(f);
        }
        match file {
            Some(fname) => {
                let bad = super::protocol::file_name(name, fname)
                    .or_else(|| super::protocol::file_name(b"", name));
                if let Some(f) = bad {
                    return Some(f);
                }
                if let Some(f) = ins.value("body", PartKind::FileName, name, fname, false, false) {
                    return Some(f);
                }
            }
            None => {
                if let Some(f) = ins.value("body", PartKind::Arg, name, content, false, false) {
                    return Some(f);
                }
            }
        }
    }
    None
}

/// XML: the text between tags and the attribute values inside them (entities decoded by
/// the value decoder).
fn xml(ins: &mut Inspector<'_>, body: &[u8]) -> Option<Finding> {
    let mut i = 0;
    while i < body.len() {
        let lt = body[i..]
            .iter()
            .position(|&b| b == b'<')
            .map_or(body.len(), |p| i + p);
        let text = body[i..lt].trim_ascii();
        if let Some(f) = ins.value("body", PartKind::Arg, b"xml", text, false, false) {
            return Some(f);
        }
        if lt >= body.len() {
            break;
        }
        let gt = body[lt..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(body.len(), |p| lt + p);
        let tag = &body[lt..gt];
        if tag.starts_with(b"<!") || tag.starts_with(b"<?") {
            // Declarations and processing instructions (`<!ENTITY`, `<?php`) as a whole.
            if let Some(f) = ins.value("body", PartKind::Arg, b"xml", tag, false, false) {
                return Some(f);
            }
        } else {
            for (n, q) in tag.split(|&b| b == b'"' || b == b'\'').enumerate() {
                if n % 2 == 1 {
                    if let Some(f) = ins.value("body", PartKind::Arg, b"xml", q, false, false) {
                        return Some(f);
                    }
                }
            }
        }
        i = gt + 1;
    }
    None
}
