//! Version 1: what is accepted at the edges, and every refusal.

use super::*;
use crate::proxy_protocol::error::Text;

fn line(s: &str) -> Vec<u8> {
    format!("{s}\r\n").into_bytes()
}

#[test]
fn accepts_the_edges() {
    for (text, src, dst) in [
        ("PROXY TCP4 0.0.0.0 0.0.0.0 0 0", "0.0.0.0:0", "0.0.0.0:0"),
        (
            "PROXY TCP4 10.1.2.3 10.0.0.1 65535 1",
            "10.1.2.3:65535",
            "10.0.0.1:1",
        ),
        ("PROXY TCP6 :: ::1 0 443", "[::]:0", "[::1]:443"),
        (
            "PROXY TCP6 2001:DB8::A 2001:0db8:0000:0000:0000:0000:0000:000b 1 2",
            "[2001:db8::a]:1",
            "[2001:db8::b]:2",
        ),
        // inet_ntop writes an IPv4-mapped address with a dotted tail; HAProxy sends mixed
        // families so.
        (
            "PROXY TCP6 ::ffff:192.0.2.1 2001:db8::1 5000 80",
            "[::ffff:192.0.2.1]:5000",
            "[2001:db8::1]:80",
        ),
    ] {
        let buf = line(text);
        let (h, len) = complete(&buf);
        assert_eq!(len, text.len() + 2);
        assert_eq!(h.addresses, Some((sa(src), sa(dst))), "{text}");
        assert_eq!(h.transport, Transport::Stream);
    }
}

#[test]
fn refuses_a_line_not_ended_by_crlf() {
    for bad in [
        &b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"[..],
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\rX",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\r\n",
        b"PROXY TCP4 1.2.3.4\n5.6.7.8 1 2\r\n",
        b"PROXY UNKNOWN\n\r\n",
        b"PROXY \r\n",
    ] {
        let want = if bad == b"PROXY \r\n" {
            ProxyError::V1Protocol(Text::new(b""))
        } else {
            ProxyError::V1LineEnd
        };
        assert_eq!(refused(bad), want, "{:?}", bad.escape_ascii().to_string());
    }
}

/// No CRLF within 107 bytes: refused as soon as byte 106 arrives without a CR, whatever
/// comes after.
#[test]
fn refuses_a_line_over_107_bytes_early() {
    let mut long = b"PROXY UNKNOWN ".to_vec();
    long.resize(106, b'x');
    assert_eq!(parse(&long), Err(ProxyError::V1TooLong));
    assert_eq!(parse(&long[..105]), Ok(Parse::Incomplete { needed: 107 }));
    long.extend_from_slice(b"\r\n");
    assert_eq!(refused(&long), ProxyError::V1TooLong);
    // A CR at byte 106 (its LF at 107) still fits.
    let mut fits = b"PROXY UNKNOWN ".to_vec();
    fits.resize(105, b'x');
    fits.extend_from_slice(b"\r\n");
    assert_eq!(complete(&fits).1, 107);
}

#[test]
fn refuses_unknown_protocols() {
    for (bad, proto) in [
        ("PROXY TCP5 1.2.3.4 5.6.7.8 1 2", "TCP5"),
        ("PROXY tcp4 1.2.3.4 5.6.7.8 1 2", "tcp4"),
        ("PROXY UDP4 1.2.3.4 5.6.7.8 1 2", "UDP4"),
        ("PROXY TCP 1.2.3.4 5.6.7.8 1 2", "TCP"),
        ("PROXY UNKNOWNX", "UNKNOWNX"),
        ("PROXY  TCP4 1.2.3.4 5.6.7.8 1 2", ""),
    ] {
        let want = ProxyError::V1Protocol(Text::new(proto.as_bytes()));
        assert_eq!(refused(&line(bad)), want, "{bad}");
    }
}

#[test]
fn refuses_anything_but_four_fields_with_single_spaces() {
    for bad in [
        "PROXY TCP4",
        "PROXY TCP4 ",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3",
        "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 ",
        "PROXY TCP4 1.2.3.4  5.6.7.8 1 2",
        "PROXY TCP4  1.2.3.4 5.6.7.8 1 2",
        "PROXY TCP6 ::1 ::1 1  2",
    ] {
        assert!(
            matches!(refused(&line(bad)), ProxyError::V1Fields(..)),
            "{bad}"
        );
    }
    // A tab is no separator: it makes the address invalid.
    assert!(matches!(
        refused(&line("PROXY TCP4 1.2.3.4\t5.6.7.8 1 2 3")),
        ProxyError::V1Address(Side::Source, ..)
    ));
}

#[test]
fn refuses_addresses_of_the_wrong_form_or_family() {
    for (bad, side, family) in [
        ("PROXY TCP4 ::1 5.6.7.8 1 2", Side::Source, "IPv4"),
        (
            "PROXY TCP4 1.2.3.4 ::ffff:5.6.7.8 1 2",
            Side::Destination,
            "IPv4",
        ),
        ("PROXY TCP6 1.2.3.4 ::1 1 2", Side::Source, "IPv6"),
        ("PROXY TCP6 ::1 5.6.7.8 1 2", Side::Destination, "IPv6"),
        // Leading zeros (octal-looking) and short or long quads.
        ("PROXY TCP4 01.2.3.4 5.6.7.8 1 2", Side::Source, "IPv4"),
        ("PROXY TCP4 1.2.3.4 5.6.7.08 1 2", Side::Destination, "IPv4"),
        ("PROXY TCP4 1.2.3 5.6.7.8 1 2", Side::Source, "IPv4"),
        ("PROXY TCP4 1.2.3.4.5 5.6.7.8 1 2", Side::Source, "IPv4"),
        ("PROXY TCP4 256.2.3.4 5.6.7.8 1 2", Side::Source, "IPv4"),
        ("PROXY TCP4 0x7f.0.0.1 5.6.7.8 1 2", Side::Source, "IPv4"),
        ("PROXY TCP4 localhost 5.6.7.8 1 2", Side::Source, "IPv4"),
        // No zones, no brackets, no second `::`, no 5-digit groups.
        ("PROXY TCP6 fe80::1%eth0 ::1 1 2", Side::Source, "IPv6"),
        ("PROXY TCP6 [::1] ::1 1 2", Side::Source, "IPv6"),
        ("PROXY TCP6 ::1 1::2::3 1 2", Side::Destination, "IPv6"),
        ("PROXY TCP6 00000::1 ::1 1 2", Side::Source, "IPv6"),
        ("PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2", Side::Source, "IPv6"),
    ] {
        match refused(&line(bad)) {
            ProxyError::V1Address(s, f, _) => assert_eq!((s, f), (side, family), "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    // Not UTF-8 at all.
    let bytes = b"PROXY TCP4 1.2.3.\xff 5.6.7.8 1 2\r\n";
    assert!(matches!(
        refused(bytes),
        ProxyError::V1Address(Side::Source, ..)
    ));
}

#[test]
fn refuses_ports_out_of_range_or_not_plain_decimal() {
    for (port, side) in [
        ("99999 80", Side::Source),
        ("65536 80", Side::Source),
        ("80 100000", Side::Destination),
        ("+80 80", Side::Source),
        ("-1 80", Side::Source),
        ("080 80", Side::Source),
        ("80 00", Side::Destination),
        ("0x50 80", Side::Source),
        ("8a 80", Side::Source),
        ("80 ８０", Side::Destination),
        ("4294967376 80", Side::Source),
    ] {
        let bad = format!("PROXY TCP4 1.2.3.4 5.6.7.8 {port}");
        match refused(&line(&bad)) {
            ProxyError::V1Port(s, _) => assert_eq!(s, side, "{bad}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
}

/// The address is checked before the ports, the source before the destination: one
/// answer for a line with several faults.
#[test]
fn reports_the_first_fault_in_line_order() {
    let bad = line("PROXY TCP4 1.2.3 5.6.7 99999 99999");
    assert!(matches!(
        refused(&bad),
        ProxyError::V1Address(Side::Source, ..)
    ));
}
