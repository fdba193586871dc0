//! Path normalisation (RFC 3986 §6.2.2): the one form of a request path that routes match
//! and that the backend is sent, so `/%61dmin`, `//admin` and `/x/../admin` cannot slip past a
//! `/admin` route, and a backend never reads a path differently from the route that let it in.
//!
//! Spellings that backends disagree on are refused instead of guessed ([`PathError`]): a
//! backslash (a separator to IIS and some frameworks, a plain byte to others), a `.`/`..`
//! segment with `;` parameters (`..;` is `..` to servlet containers), and — unless the caller
//! allows them — the encoded separators `%2F` and `%5C` (decoded by some backends before they
//! resolve `..`, kept by others; see [`NormalPath::has_encoded_slash`]).

use std::borrow::Cow;

/// Why a request path is refused (answered 400): each is a spelling that backends read in
/// different ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathError {
    /// A raw `\`.
    Backslash,
    /// A `.` or `..` segment with `;` parameters (`/..;/admin`).
    DotSegmentParams,
}

impl PathError {
    pub fn as_str(self) -> &'static str {
        match self {
            PathError::Backslash => "backslash in the path",
            PathError::DotSegmentParams => "dot segment with parameters in the path",
        }
    }
}

/// A request path in normal form: percent-encoded unreserved characters decoded (other
/// escapes kept, in upper case), empty segments merged, `.` and `..` segments resolved (never
/// above the root). Only [`normalize_path`] makes one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NormalPath<'a> {
    path: Cow<'a, str>,
    encoded_slash: bool,
}

impl<'a> NormalPath<'a> {
    /// The normal form.
    pub fn as_str(&self) -> &str {
        &self.path
    }

    /// Whether the normal form differs from the path as received (the request must then be
    /// forwarded with the normal form).
    pub fn is_rewritten(&self) -> bool {
        matches!(self.path, Cow::Owned(_))
    }

    /// Whether the path contains an encoded separator, `%2F` or `%5C` (kept encoded here).
    /// Callers refuse such paths unless the route allows them.
    pub fn has_encoded_slash(&self) -> bool {
        self.encoded_slash
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Whether the path is already in normal form (the common case: no allocation). One pass:
/// anything that might need work (`%`, `\`, `//`, a `.` or `..` segment, with or without
/// `;` parameters) sends the path to the full normaliser, which may still find it normal.
/// Names that merely start with a dot (`/.well-known`, `/..b`) stay on the fast path.
fn is_normal(b: &[u8]) -> bool {
    if b.first() != Some(&b'/') {
        return false;
    }
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'%' | b'\\' => return false,
            b'/' => {
                let rest = &b[i + 1..];
                if rest.first() == Some(&b'/') {
                    return false;
                }
                let dots = rest.iter().take(2).take_while(|&&d| d == b'.').count();
                if dots > 0 && matches!(rest.get(dots), None | Some(b'/' | b';')) {
                    return false;
                }
            }
            _ => {}
        }
    }
    true
}

/// The path to match routes against and to forward; `Err` for a path that backends read in
/// different ways.
pub fn normalize_path(path: &str) -> Result<NormalPath<'_>, PathError> {
    let b = path.as_bytes();
    if is_normal(b) {
        return Ok(NormalPath {
            path: Cow::Borrowed(path),
            encoded_slash: false,
        });
    }
    // 1. Decode %XX only where XX is an unreserved character (other escapes stay escaped,
    //    with upper-case hex, as RFC 3986 §6.2.2.1 normalises them).
    let mut decoded = Vec::with_capacity(b.len() + 1);
    let mut encoded_slash = false;
    if b.first() != Some(&b'/') {
        decoded.push(b'/');
    }
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => return Err(PathError::Backslash),
            b'%' => {
                if let (Some(h), Some(l)) = (
                    b.get(i + 1).copied().and_then(hex),
                    b.get(i + 2).copied().and_then(hex),
                ) {
                    let c = h * 16 + l;
                    if is_unreserved(c) {
                        decoded.push(c);
                    } else {
                        encoded_slash |= c == b'/' || c == b'\\';
                        decoded.push(b'%');
                        decoded.push(b[i + 1].to_ascii_uppercase());
                        decoded.push(b[i + 2].to_ascii_uppercase());
                    }
                    i += 3;
                    continue;
                }
                decoded.push(b'%');
            }
            c => decoded.push(c),
        }
        i += 1;
    }
    // 2. Segments: drop empty and `.`, pop on `..`.
    let mut out: Vec<&[u8]> = Vec::new();
    let trailing = decoded.ends_with(b"/") || decoded.ends_with(b"/.") || decoded.ends_with(b"/..");
    for seg in decoded.split(|&c| c == b'/') {
        match seg {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            s => {
                if s.starts_with(b".") {
                    let name = s.split(|&c| c == b';').next().unwrap_or(s);
                    if name.len() < s.len() && matches!(name, b"." | b"..") {
                        return Err(PathError::DotSegmentParams);
                    }
                }
                out.push(s);
            }
        }
    }
    let mut joined = Vec::with_capacity(decoded.len());
    for s in &out {
        joined.push(b'/');
        joined.extend_from_slice(s);
    }
    if joined.is_empty() || trailing {
        joined.push(b'/');
    }
    let path = if joined == b {
        Cow::Borrowed(path)
    } else {
        // Only ASCII was rewritten; other bytes came from a `&str` unchanged.
        Cow::Owned(
            String::from_utf8(joined)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        )
    };
    Ok(NormalPath {
        path,
        encoded_slash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> String {
        normalize_path(p).unwrap().as_str().to_owned()
    }

    /// Names that only start with a dot take the no-allocation path; dot segments do not.
    #[test]
    fn fast_path_takes_dotted_names_not_dot_segments() {
        for p in [
            "/",
            "/api/v1",
            "/.well-known/acme",
            "/a/..b",
            "/a/.b;c",
            "/x.",
        ] {
            assert!(is_normal(p.as_bytes()), "{p}");
        }
        for p in [
            "/.",
            "/..",
            "/a/./b",
            "/a/../b",
            "/a/.;x",
            "/a/..;x/b",
            "//a",
            "/a%41",
            "/a\\b",
        ] {
            assert!(!is_normal(p.as_bytes()), "{p}");
        }
    }

    #[test]
    fn normal_paths_are_borrowed() {
        for p in [
            "/",
            "/api/v1/users",
            "/a.b/c-d_e~f",
            "/x?",
            "/.well-known/acme",
            "/a/..b",
        ] {
            let n = normalize_path(p).unwrap();
            assert!(!n.is_rewritten(), "{p}");
            assert_eq!(n.as_str(), p);
        }
    }

    #[test]
    fn tricks_normalise_to_what_a_backend_sees() {
        let cases = [
            ("/%61dmin", "/admin"),
            ("/%41DMIN/x", "/ADMIN/x"),
            ("//admin", "/admin"),
            ("/x/../admin", "/admin"),
            ("/x/./admin", "/x/admin"),
            ("/../../admin", "/admin"),
            ("/a/b/..", "/a/"),
            ("/a/.", "/a/"),
            ("/a//b///c/", "/a/b/c/"),
            ("/a%2fb", "/a%2Fb"),
            ("/%zz", "/%zz"),
            ("/%", "/%"),
            ("", "/"),
            ("/%2e%2e/admin", "/admin"),
            ("/public/%2E%2E/admin/x", "/admin/x"),
        ];
        for (input, want) in cases {
            assert_eq!(norm(input), want, "{input}");
            assert_eq!(
                normalize_path(input).unwrap().is_rewritten(),
                input != want,
                "{input}"
            );
        }
    }

    /// Issue 7 item 8: the spellings backends disagree on are flagged or refused.
    #[test]
    fn encoded_slashes_are_flagged_backslashes_and_dot_params_refused() {
        for p in ["/public/..%2Fadmin/x", "/a%2fb", "/a%5Cb", "/a%5c..%5cb"] {
            assert!(normalize_path(p).unwrap().has_encoded_slash(), "{p}");
        }
        for p in ["/a%2Eb", "/a%20b", "/admin"] {
            assert!(!normalize_path(p).unwrap().has_encoded_slash(), "{p}");
        }
        for p in ["/public/..\\admin/x", "\\admin", "/a\\b"] {
            assert_eq!(normalize_path(p), Err(PathError::Backslash), "{p}");
        }
        for p in ["/public/..;/admin", "/.;x=1/admin", "/a/%2e%2e;/b"] {
            assert_eq!(normalize_path(p), Err(PathError::DotSegmentParams), "{p}");
        }
        // Parameters on ordinary segments are nobody's business here.
        assert_eq!(norm("/a;v=1/b"), "/a;v=1/b");
        assert_eq!(norm("/.a;v=1/b"), "/.a;v=1/b");
    }
}
