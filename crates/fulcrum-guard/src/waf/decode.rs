//! Decoding an input the way a backend would before matching it: percent-decoding (twice,
//! for double-encoded input, with `%uXXXX`), `\uXXXX` / `\xNN` escapes, HTML entities (named
//! and numeric), null bytes dropped, ASCII case folded, whitespace runs collapsed to one
//! space; and the two views the detectors match on besides: SQL with comments (`/**/`,
//! `--`, `#`) turned into spaces, and shell with the characters a shell drops (quotes,
//! backslashes, `^`, `$@`, `${IFS}`) removed.
//!
//! Every function here is one pass over its input that writes at most as many bytes as it
//! reads (a fixed number of passes in all): linear time, output no longer than the input.
//! It must not allocate per byte or look back more than a bounded window.

/// Value of an ASCII hex digit.
fn hex(b: u8) -> Option<u32> {
    match b {
        b'0'..=b'9' => Some(u32::from(b - b'0')),
        b'a'..=b'f' => Some(u32::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u32::from(b - b'A' + 10)),
        _ => None,
    }
}

fn hex_at(s: &[u8], i: usize, n: usize) -> Option<u32> {
    let digits = s.get(i..i + n)?;
    digits
        .iter()
        .try_fold(0u32, |acc, &d| Some(acc * 16 + hex(d)?))
}

/// Append `c` as UTF-8 when it is printable or whitespace; ASCII stays ASCII. A code point
/// out of range becomes `?`; full-width ASCII forms (U+FF01..U+FF5E) fold to ASCII, as IIS
/// does.
fn push_char(out: &mut Vec<u8>, c: u32) {
    let c = if (0xff01..=0xff5e).contains(&c) {
        c - 0xff01 + 0x21
    } else {
        c
    };
    match char::from_u32(c) {
        Some(ch) => {
            let mut buf = [0u8; 4];
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
        None => out.push(b'?'),
    }
}

/// Percent-decoding (with `%uXXXX`); `+` becomes a space when `plus` (query strings, form
/// bodies). Returns whether anything was decoded.
pub fn percent(input: &[u8], plus: bool, out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut changed = false;
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        if b == b'%' {
            if let Some(v) = hex_at(input, i + 1, 2) {
                out.push(v as u8);
                i += 3;
                changed = true;
                continue;
            }
            if matches!(input.get(i + 1), Some(b'u' | b'U')) {
                if let Some(v) = hex_at(input, i + 2, 4) {
                    push_char(out, v);
                    i += 6;
                    changed = true;
                    continue;
                }
            }
        } else if b == b'+' && plus {
            out.push(b' ');
            i += 1;
            changed = true;
            continue;
        }
        out.push(b);
        i += 1;
    }
    changed
}

/// Named entities a browser or a backend decodes that matter to the detectors.
const ENTITIES: &[(&[u8], u8)] = &[
    (b"lt", b'<'),
    (b"gt", b'>'),
    (b"quot", b'"'),
    (b"apos", b'\''),
    (b"amp", b'&'),
    (b"nbsp", b' '),
    (b"tab", b'\t'),
    (b"newline", b'\n'),
    (b"colon", b':'),
    (b"lpar", b'('),
    (b"rpar", b')'),
    (b"sol", b'/'),
    (b"bsol", b'\\'),
    (b"semi", b';'),
    (b"equals", b'='),
    (b"num", b'#'),
    (b"period", b'.'),
    (b"grave", b'`'),
    (b"lsqb", b'['),
    (b"rsqb", b']'),
    (b"excl", b'!'),
];

/// `\uXXXX`, `\xNN`, HTML entities (`&#60;`, `&#x3c;`, `&lt;`, with or without the `;` for
/// numeric ones), null bytes dropped.
pub fn escapes(input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        match b {
            0 => {
                i += 1;
                continue;
            }
            // Full-width ASCII forms (U+FF01..U+FF5E) in UTF-8 fold to ASCII.
            0xef => {
                if let (Some(&b1), Some(&b2)) = (input.get(i + 1), input.get(i + 2)) {
                    let cp = match (b1, b2) {
                        (0xbc, 0x81..=0xbf) | (0xbd, 0x80..=0x9e) => {
                            Some(0xf000 | (u32::from(b1) & 0x3f) << 6 | (u32::from(b2) & 0x3f))
                        }
                        _ => None,
                    };
                    if let Some(cp) = cp {
                        out.push((cp - 0xfee0) as u8);
                        i += 3;
                        continue;
                    }
                }
            }
            b'\\' => match input.get(i + 1) {
                Some(b'u' | b'U') => {
                    if let Some(v) = hex_at(input, i + 2, 4) {
                        push_char(out, v);
                        i += 6;
                        continue;
                    }
                }
                Some(b'x' | b'X') => {
                    if let Some(v) = hex_at(input, i + 2, 2) {
                        out.push(v as u8);
                        i += 4;
                        continue;
                    }
                }
                _ => {}
            },
            b'&' => {
                if let Some((c, used)) = entity(&input[i..]) {
                    if c != 0 {
                        push_char(out, c);
                    }
                    i += used;
                    continue;
                }
            }
            _ => {}
        }
        out.push(b);
        i += 1;
    }
}

/// The entity at the start of `s` (which starts with `&`): its code point and length. Looks
/// at most 12 bytes ahead.
fn entity(s: &[u8]) -> Option<(u32, usize)> {
    if s.get(1) == Some(&b'#') {
        let (radix, start) = match s.get(2) {
            Some(b'x' | b'X') => (16, 3),
            _ => (10, 2),
        };
        let mut v: u32 = 0;
        let mut j = start;
        while j < s.len() && j < start + 8 {
            let d = match (radix, s[j]) {
                (10, d @ b'0'..=b'9') => u32::from(d - b'0'),
                (16, d) => match hex(d) {
                    Some(d) => d,
                    None => break,
                },
                _ => break,
            };
            v = v.saturating_mul(radix).saturating_add(d);
            j += 1;
        }
        if j == start {
            return None;
        }
        if s.get(j) == Some(&b';') {
            j += 1;
        }
        return Some((v.min(0x10ffff), j));
    }
    let end = s.iter().take(12).position(|&b| b == b';')?;
    let name = &s[1..end];
    ENTITIES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, c)| (u32::from(c), end + 1))
}

/// ASCII lower case; whitespace runs as one space (one `\n` when the run holds a line
/// break, which header-injection checks look for), leading and trailing whitespace dropped.
pub fn fold(input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut space = true;
    for &b in input {
        if b.is_ascii_whitespace() || b == 0x0b || b == 0xa0 {
            let c = if b == b'\n' || b == b'\r' {
                b'\n'
            } else {
                b' '
            };
            if !space {
                out.push(c);
                space = true;
            } else if c == b'\n' && out.is_empty() {
                // A leading line break stays: header injection starts with one.
                out.push(c);
            } else if c == b'\n' {
                if let Some(last) = out.last_mut() {
                    *last = b'\n';
                }
            }
            continue;
        }
        space = false;
        out.push(b.to_ascii_lowercase());
    }
    if out.len() > 1 && matches!(out.last(), Some(b' ' | b'\n')) {
        out.pop();
    }
}

/// SQL comments (`/* .. */`, `-- ..`, `# ..` to the end of the line) as one space each;
/// MySQL's executable comments (`/*! .. */`) keep their content. Then whitespace runs again
/// as one space.
pub fn sql(input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    let push_space = |out: &mut Vec<u8>| {
        if out.last() != Some(&b' ') {
            out.push(b' ');
        }
    };
    while i < input.len() {
        let b = input[i];
        let next = input.get(i + 1).copied();
        if b == b'/' && next == Some(b'*') {
            if input.get(i + 2) == Some(&b'!') {
                // `/*!50000select*/`: the version digits go, the content stays.
                i += 3;
                while i < input.len() && input[i].is_ascii_digit() {
                    i += 1;
                }
                push_space(out);
                continue;
            }
            let end = memchr_pair(&input[i + 2..], b'*', b'/');
            i = match end {
                Some(e) => i + 2 + e + 2,
                None => input.len(),
            };
            push_space(out);
            continue;
        }
        if b == b'*' && next == Some(b'/') {
            i += 2;
            push_space(out);
            continue;
        }
        if (b == b'-' && next == Some(b'-')) || b == b'#' {
            // Keep a marker the detectors can see: a comment that ends a query.
            out.extend_from_slice(if b == b'#' { b" #" } else { b" --" });
            let end = input[i..].iter().position(|&c| c == b'\n');
            i = match end {
                Some(e) => i + e + 1,
                None => input.len(),
            };
            push_space(out);
            continue;
        }
        if b == b' ' || b == b'\n' {
            push_space(out);
        } else {
            out.push(b);
        }
        i += 1;
    }
}

/// The offset of the first `a` immediately followed by `b`.
fn memchr_pair(s: &[u8], a: u8, b: u8) -> Option<usize> {
    s.windows(2).position(|w| w[0] == a && w[1] == b)
}

/// What a shell does not see: quotes, backslashes, `^` (cmd.exe), `$@` and empty `''`;
/// `${IFS}` / `$IFS` as a space.
pub fn shell(input: &[u8], out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    while i < input.len() {
        let b = input[i];
        match b {
            b'\'' | b'"' | b'\\' | b'^' => {
                i += 1;
                continue;
            }
            b'$' => {
                let rest = &input[i..];
                if rest.starts_with(b"${ifs}") {
                    out.push(b' ');
                    i += 6;
                    continue;
                }
                if rest.starts_with(b"$ifs") {
                    out.push(b' ');
                    i += 4;
                    continue;
                }
                if rest.starts_with(b"$()") {
                    i += 3;
                    continue;
                }
                if rest.starts_with(b"$@") || rest.starts_with(b"$*") || rest.starts_with(b"$!") {
                    i += 2;
                    continue;
                }
            }
            // Empty substitutions a shell drops: ``, $(), <(), >().
            b'`' if input.get(i + 1) == Some(&b'`') => {
                i += 2;
                continue;
            }
            b'<' | b'>' if input.get(i + 1..i + 3) == Some(b"()") => {
                i += 3;
                continue;
            }
            _ => {}
        }
        out.push(b);
        i += 1;
    }
}

/// Scratch buffers for [`Views::decode`], reused across the inputs of a request.
#[derive(Default)]
pub struct Views {
    a: Vec<u8>,
    b: Vec<u8>,
    /// Decoded and folded.
    pub text: Vec<u8>,
    /// `text` with SQL comments out.
    pub sql: Vec<u8>,
    /// `text` as a shell reads it.
    pub shell: Vec<u8>,
    /// Bytes all passes read, for the linear-time test.
    pub steps: u64,
}

impl Views {
    /// Decode `raw` (percent-decoded twice when `percent_decode`; `+` as space when `plus`).
    pub fn decode(&mut self, raw: &[u8], percent_decode: bool, plus: bool) {
        let mut steps = raw.len() as u64;
        let src: &[u8] = if percent_decode {
            percent(raw, plus, &mut self.a);
            if self.a.contains(&b'%') {
                steps += self.a.len() as u64;
                percent(&self.a, false, &mut self.b);
                std::mem::swap(&mut self.a, &mut self.b);
            }
            &self.a
        } else {
            raw
        };
        steps += src.len() as u64;
        escapes(src, &mut self.b);
        steps += self.b.len() as u64;
        fold(&self.b, &mut self.text);
        steps += 2 * self.text.len() as u64;
        sql(&self.text, &mut self.sql);
        shell(&self.text, &mut self.shell);
        self.steps += steps;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(raw: &str) -> String {
        let mut v = Views::default();
        v.decode(raw.as_bytes(), true, true);
        String::from_utf8_lossy(&v.text).into_owned()
    }

    #[test]
    fn percent_twice_unicode_and_plus() {
        assert_eq!(text("%2527%20OR%201=1"), "' or 1=1");
        assert_eq!(text("%u003cscript%u003E"), "<script>");
        assert_eq!(text("a+b"), "a b");
        assert_eq!(text("%zz%4"), "%zz%4");
        assert_eq!(text("%EF%BC%9Cscript"), "<script");
    }

    #[test]
    fn escapes_and_entities() {
        assert_eq!(text(r"\u003cimg\x20src"), "<img src");
        assert_eq!(text("&lt;svg&gt;&#60;&#x3C;&#0000060"), "<svg><<<");
        assert_eq!(text("java&Tab;script&colon;"), "java script:");
        assert_eq!(text("O&amp;Brien &unknown; &"), "o&brien &unknown; &");
        assert_eq!(text("a%00b"), "ab");
    }

    #[test]
    fn whitespace_and_case() {
        assert_eq!(text("  SeLeCt\t \t  1  "), "select 1");
        assert_eq!(text("a\t\r\n  b"), "a\nb");
    }

    #[test]
    fn sql_comments() {
        let mut v = Views::default();
        v.decode(b"UNION/**/SELECT/*!50000password*/ -- x\n1#y", true, false);
        assert_eq!(
            String::from_utf8_lossy(&v.sql),
            "union select password  -- 1 # "
        );
    }

    #[test]
    fn shell_view() {
        let mut v = Views::default();
        v.decode(br#"c'a't${IFS}/e"t"c/pa\ss^wd"#, false, false);
        assert_eq!(String::from_utf8_lossy(&v.shell), "cat /etc/passwd");
    }
}
