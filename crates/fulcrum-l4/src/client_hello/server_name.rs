//! The server_name extension (RFC 6066 §3) and the check of the name it carries.

use super::cursor::{Cursor, Stop};
use std::net::IpAddr;

const HOST_NAME: u8 = 0;
/// The longest DNS name, without the trailing dot.
const MAX_NAME: usize = 253;
const MAX_LABEL: usize = 63;

/// The host name in a server_name extension's data: `Ok(None)` for an IP literal.
///
/// Strict, as rustls and OpenSSL servers are: an empty list, two host names, an empty or
/// invalid name are refused rather than routed to the default.
pub(super) fn extension(data: &mut Cursor<'_>) -> Result<Option<String>, Stop> {
    let mut list = data.sub_u16()?;
    if data.left() != 0 || list.left() == 0 {
        return Err(Stop::NotTls("malformed server_name extension"));
    }
    let mut raw: Option<Vec<u8>> = None;
    while list.left() > 0 {
        let kind = list.u8()?;
        let len = list.u16()?;
        if kind != HOST_NAME {
            // Other name types are undefined; they share the opaque<1..2^16-1> shape.
            list.skip(len)?;
            continue;
        }
        if raw.is_some() {
            return Err(Stop::NotTls("two host names in server_name"));
        }
        let mut name = Vec::with_capacity(len);
        list.take_into(len, &mut name)?;
        raw = Some(name);
    }
    match raw {
        Some(name) => host_name(name),
        None => Ok(None),
    }
}

/// Checks a host name and puts it in canonical form: ASCII lowercase, one trailing dot removed.
/// An IP literal gives `None` (RFC 6066 forbids them; clients that send one anyway are treated
/// as sending no name). Underscores are accepted, as in many internal names.
fn host_name(mut name: Vec<u8>) -> Result<Option<String>, Stop> {
    const INVALID: Stop = Stop::NotTls("invalid server name");
    if name.last() == Some(&b'.') {
        name.pop();
    }
    let text = std::str::from_utf8(&name).map_err(|_| INVALID)?;
    if text.parse::<IpAddr>().is_ok() {
        return Ok(None);
    }
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(INVALID);
    }
    for label in name.split(|&b| b == b'.') {
        let ok_len = !label.is_empty() && label.len() <= MAX_LABEL;
        let ok_chars = label
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        let ok_ends = label.first() != Some(&b'-') && label.last() != Some(&b'-');
        if !(ok_len && ok_chars && ok_ends) {
            return Err(INVALID);
        }
    }
    name.make_ascii_lowercase();
    String::from_utf8(name).map(Some).map_err(|_| INVALID)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str) -> Result<Option<String>, Stop> {
        host_name(name.as_bytes().to_vec())
    }

    #[test]
    fn names_are_lowercased_and_lose_one_trailing_dot() {
        assert_eq!(check("App.Example.COM"), Ok(Some("app.example.com".into())));
        assert_eq!(
            check("app.example.com."),
            Ok(Some("app.example.com".into()))
        );
        assert_eq!(check("localhost"), Ok(Some("localhost".into())));
        assert_eq!(
            check("my_host.internal"),
            Ok(Some("my_host.internal".into()))
        );
    }

    #[test]
    fn ip_literals_are_no_name() {
        assert_eq!(check("127.0.0.1"), Ok(None));
        assert_eq!(check("10.0.0.1."), Ok(None));
        assert_eq!(check("::1"), Ok(None));
        assert_eq!(check("2001:db8::1"), Ok(None));
    }

    #[test]
    fn invalid_names_are_refused() {
        let bad = [
            "",
            ".",
            "a..b",
            "example.com..",
            ".example.com",
            "-a.example.com",
            "a-.example.com",
            "*.example.com",
            "exa mple.com",
            "exämple.com",
            "a:b",
            "[::1]",
        ];
        for name in bad {
            assert!(check(name).is_err(), "{name:?}");
        }
        assert!(check(&"a".repeat(64)).is_err());
        assert!(check(&format!("{}.com", "a.".repeat(126))).is_err());
        assert!(host_name(vec![0xff, b'a']).is_err());
    }
}
