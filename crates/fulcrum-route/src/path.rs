//! Path normalisation for matching (RFC 3986 §6.2.2): routes see the path a backend would
//! act on, so `/%61dmin`, `//admin` and `/x/../admin` cannot slip past a `/admin` route.
//! The request itself is forwarded unchanged.

use std::borrow::Cow;

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

/// Whether the path is already in normal form (the common case: no allocation).
fn is_normal(path: &str) -> bool {
    let b = path.as_bytes();
    if b.first() != Some(&b'/') {
        return false;
    }
    !path.contains('%')
        && !path.contains("//")
        && !path.contains("/./")
        && !path.contains("/../")
        && !path.ends_with("/.")
        && !path.ends_with("/..")
}

/// The path to match routes against: percent-encoded unreserved characters decoded, empty
/// segments merged, `.` and `..` segments resolved (never above the root).
pub fn normalize_path(path: &str) -> Cow<'_, str> {
    if is_normal(path) {
        return Cow::Borrowed(path);
    }
    // 1. Decode %XX only where XX is an unreserved character (other escapes stay escaped,
    //    with upper-case hex, as RFC 3986 §6.2.2.1 normalises them).
    let b = path.as_bytes();
    let mut decoded = Vec::with_capacity(b.len() + 1);
    if b.first() != Some(&b'/') {
        decoded.push(b'/');
    }
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                let c = h * 16 + l;
                if is_unreserved(c) {
                    decoded.push(c);
                } else {
                    decoded.push(b'%');
                    decoded.push(b[i + 1].to_ascii_uppercase());
                    decoded.push(b[i + 2].to_ascii_uppercase());
                }
                i += 3;
                continue;
            }
        }
        decoded.push(b[i]);
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
            s => out.push(s),
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
    // Only ASCII was rewritten; other bytes came from a `&str` unchanged.
    Cow::Owned(String::from_utf8_lossy(&joined).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_paths_are_borrowed() {
        for p in ["/", "/api/v1/users", "/a.b/c-d_e~f", "/x?"] {
            assert!(matches!(normalize_path(p), Cow::Borrowed(_)), "{p}");
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
        ];
        for (input, want) in cases {
            assert_eq!(normalize_path(input), want, "{input}");
        }
    }
}
