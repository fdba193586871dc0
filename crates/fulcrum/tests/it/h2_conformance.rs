//! Issue 7 item 18: HTTP/2 connection errors carry the error code RFC 9113 names for them.
//! Each case sends one bad frame over h2c (prior knowledge) and reads the GOAWAY back.
//! Before the fix (in the h2 crate, patched in `vendor/h2`) every one was PROTOCOL_ERROR.

use std::net::SocketAddr;
use std::time::Duration;

use fulcrum_testkit::Backend;

use crate::h2_frames::{self as h2, Conn};
use crate::support::{simple, Lb};

/// Open a connection with a valid SETTINGS, send `bad`, return the GOAWAY's code.
fn goaway_after(addr: SocketAddr, bad: &[u8]) -> Option<u32> {
    let mut c = Conn::open(addr, &h2::settings(&[]));
    c.send(bad).unwrap();
    c.goaway_code(Duration::from_secs(5))
}

fn assert_code(addr: SocketAddr, what: &str, bad: &[u8], want: u32) {
    let got = goaway_after(addr, bad);
    assert_eq!(
        h2::code_name(got),
        h2::code_name(Some(want)),
        "{what}: wrong GOAWAY error code"
    );
}

/// Issue 7 item 18: frames of the wrong fixed length are FRAME_SIZE_ERROR (RFC 9113 §6.5,
/// §6.7, §6.9), not PROTOCOL_ERROR.
#[test]
fn h2_frames_of_the_wrong_length_get_frame_size_error() {
    let be = Backend::start("be");
    let lb = Lb::start(&simple(&[&be], ""));
    let addr = lb.addr();
    assert_code(
        addr,
        "SETTINGS of 5 octets (not a multiple of 6)",
        &h2::frame(h2::SETTINGS, 0, 0, &[0, 3, 0, 0, 1]),
        h2::FRAME_SIZE_ERROR,
    );
    assert_code(
        addr,
        "SETTINGS ACK with a payload",
        &h2::frame(h2::SETTINGS, h2::ACK, 0, &[0, 3, 0, 0, 0, 1]),
        h2::FRAME_SIZE_ERROR,
    );
    assert_code(
        addr,
        "PING of 7 octets",
        &h2::frame(h2::PING, 0, 0, &[0; 7]),
        h2::FRAME_SIZE_ERROR,
    );
    assert_code(
        addr,
        "WINDOW_UPDATE of 3 octets on the connection",
        &h2::frame(h2::WINDOW_UPDATE, 0, 0, &[0, 0, 1]),
        h2::FRAME_SIZE_ERROR,
    );
    assert_code(
        addr,
        "WINDOW_UPDATE of 5 octets on a stream",
        &[
            h2::get(1, "a", "/sleep/2000"),
            h2::frame(h2::WINDOW_UPDATE, 0, 1, &[0, 0, 0, 0, 1]),
        ]
        .concat(),
        h2::FRAME_SIZE_ERROR,
    );
    // What must stay PROTOCOL_ERROR does: a PING on a stream, a zero connection window
    // increment.
    assert_code(
        addr,
        "PING on stream 1",
        &h2::frame(h2::PING, 0, 1, &[0; 8]),
        h2::PROTOCOL_ERROR,
    );
    assert_code(
        addr,
        "WINDOW_UPDATE of 0 on the connection",
        &h2::window_update(0, 0),
        h2::PROTOCOL_ERROR,
    );
    // And the proxy still serves.
    let r = fulcrum_testkit::Client::http2(addr)
        .get("a", "/", &[])
        .unwrap();
    assert_eq!(r.status, 200);
}

/// Issue 7 item 18: a field block that does not decode is COMPRESSION_ERROR (RFC 9113 §4.3).
#[test]
fn h2_undecodable_header_block_gets_compression_error() {
    let be = Backend::start("be");
    let lb = Lb::start(&simple(&[&be], ""));
    let headers = |block: &[u8]| h2::frame(h2::HEADERS, h2::END_HEADERS | h2::END_STREAM, 1, block);
    // Index 62: past the static table, and the dynamic table is empty.
    assert_code(
        lb.addr(),
        "indexed field 62 with an empty dynamic table",
        &headers(&[0x82, 0x86, 0xbe]),
        h2::COMPRESSION_ERROR,
    );
    // Index 0 is not a valid index at all (RFC 7541 §6.1).
    assert_code(
        lb.addr(),
        "indexed field 0",
        &headers(&[0x80]),
        h2::COMPRESSION_ERROR,
    );
    // A block cut off in the middle of a string literal.
    assert_code(
        lb.addr(),
        "truncated literal",
        &headers(&[0x82, 0x86, 0x04, 0x10, b'/']),
        h2::COMPRESSION_ERROR,
    );
}

/// Issue 7 item 18: SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 is FLOW_CONTROL_ERROR
/// (RFC 9113 §6.5.2).
#[test]
fn h2_initial_window_size_above_the_maximum_gets_flow_control_error() {
    let be = Backend::start("be");
    let lb = Lb::start(&simple(&[&be], ""));
    assert_code(
        lb.addr(),
        "SETTINGS_INITIAL_WINDOW_SIZE = 2^31",
        &h2::settings(&[(h2::SETTINGS_INITIAL_WINDOW_SIZE, 1 << 31)]),
        h2::FLOW_CONTROL_ERROR,
    );
    // The largest allowed value is accepted: the connection serves a request.
    let mut c = Conn::open(
        lb.addr(),
        &h2::settings(&[(h2::SETTINGS_INITIAL_WINDOW_SIZE, (1 << 31) - 1)]),
    );
    c.send(&h2::get(1, "a", "/")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut ended = false;
    while let Some(f) = c.next_frame(deadline) {
        assert_ne!(f.kind, h2::GOAWAY, "GOAWAY for a valid window size");
        if f.stream == 1 && f.flags & h2::END_STREAM != 0 {
            ended = true;
            break;
        }
    }
    assert!(ended, "the request on a valid window size never finished");
}
