//! Tests of the ClientHello reader: real hellos from rustls, hand-built and fragmented ones,
//! every split, malformed input, and a seeded mutation run (the in-tree stand-in for a fuzz
//! target).

use super::*;
use std::sync::Arc;

/// The bytes a rustls client sends first: its ClientHello, in one record.
fn rustls_hello(server_name: &str, alpn: &[&[u8]]) -> Vec<u8> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let name = rustls::pki_types::ServerName::try_from(server_name.to_owned()).unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut out = Vec::new();
    while conn.wants_write() {
        conn.write_tls(&mut out).unwrap();
    }
    out
}

fn done(sni: Option<&str>, alpn: &[&[u8]]) -> Parsed {
    Parsed::Done {
        sni: sni.map(str::to_owned),
        alpn: alpn.iter().map(|p| p.to_vec()).collect(),
    }
}

/// The handshake message inside a single-record hello.
fn handshake_of(records: &[u8]) -> &[u8] {
    assert_eq!(records[0], 22);
    let len = usize::from(records[3]) << 8 | usize::from(records[4]);
    assert_eq!(records.len(), 5 + len, "expected exactly one record");
    &records[5..]
}

/// `msg` fragmented into handshake records of the given payload sizes (the last takes the rest).
fn fragment(msg: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = msg;
    for (i, &size) in sizes.iter().enumerate() {
        let size = if i + 1 == sizes.len() {
            rest.len()
        } else {
            size
        };
        let (chunk, tail) = rest.split_at(size);
        out.extend_from_slice(&[22, 3, 1]);
        out.extend_from_slice(&u16::try_from(chunk.len()).unwrap().to_be_bytes());
        out.extend_from_slice(chunk);
        rest = tail;
    }
    out
}

fn vec16(body: &[u8]) -> Vec<u8> {
    let mut out = u16::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

fn ext(kind: u16, data: &[u8]) -> Vec<u8> {
    let mut out = kind.to_be_bytes().to_vec();
    out.extend(vec16(data));
    out
}

fn sni_ext(names: &[(u8, &[u8])]) -> Vec<u8> {
    let mut list = Vec::new();
    for (kind, name) in names {
        list.push(*kind);
        list.extend(vec16(name));
    }
    ext(0, &vec16(&list))
}

fn alpn_ext(protocols: &[&[u8]]) -> Vec<u8> {
    let mut list = Vec::new();
    for p in protocols {
        list.push(u8::try_from(p.len()).unwrap());
        list.extend_from_slice(p);
    }
    ext(16, &vec16(&list))
}

/// A TLS 1.2-style ClientHello handshake message with these extensions (`None`: no extensions
/// block at all).
fn hello_msg(extensions: Option<&[Vec<u8>]>) -> Vec<u8> {
    let mut body = vec![3, 3];
    body.extend_from_slice(&[7; 32]); // random
    body.push(0); // session id
    body.extend(vec16(&[0x13, 0x01, 0xc0, 0x2f])); // two suites
    body.extend_from_slice(&[1, 0]); // null compression
    if let Some(exts) = extensions {
        body.extend(vec16(&exts.concat()));
    }
    let mut msg = vec![1];
    msg.extend_from_slice(&u32::try_from(body.len()).unwrap().to_be_bytes()[1..]);
    msg.extend(body);
    msg
}

fn hello(extensions: &[Vec<u8>]) -> Vec<u8> {
    fragment(&hello_msg(Some(extensions)), &[usize::MAX])
}

/// Feeds `bytes` as a reader would see them, cut at `cuts` (sorted, within bounds): every
/// prefix must answer NeedMore or the whole buffer's answer, and once an answer is not NeedMore
/// it must not change. Returns the whole buffer's answer.
fn check_prefixes(bytes: &[u8], cuts: impl IntoIterator<Item = usize>) -> Parsed {
    let whole = parse(bytes);
    let mut settled = false;
    for cut in cuts.into_iter().chain([bytes.len()]) {
        let got = parse(&bytes[..cut]);
        if got == Parsed::NeedMore {
            assert!(
                !settled,
                "NeedMore after an answer, at {cut} of {}",
                bytes.len()
            );
        } else {
            assert_eq!(got, whole, "prefix of {cut} of {} bytes", bytes.len());
            settled = true;
        }
    }
    whole
}

fn random_cuts(rng: &mut fastrand::Rng, len: usize, count: usize) -> Vec<usize> {
    let mut cuts: Vec<usize> = (0..count).map(|_| rng.usize(0..=len)).collect();
    cuts.sort_unstable();
    cuts
}

#[test]
fn rustls_hello_gives_sni_and_alpn() {
    let bytes = rustls_hello("App.Example.com", &[b"h2", b"http/1.1"]);
    assert_eq!(
        parse(&bytes),
        done(Some("app.example.com"), &[b"h2", b"http/1.1"])
    );
    let bytes = rustls_hello("localhost", &[]);
    assert_eq!(parse(&bytes), done(Some("localhost"), &[]));
}

#[test]
fn rustls_hello_to_an_ip_address_has_no_sni() {
    let bytes = rustls_hello("127.0.0.1", &[b"h2"]);
    assert_eq!(parse(&bytes), done(None, &[b"h2"]));
}

#[test]
fn rustls_hello_one_byte_at_a_time() {
    let bytes = rustls_hello("app.example.com", &[b"h2"]);
    let want = done(Some("app.example.com"), &[b"h2"]);
    for cut in 0..bytes.len() {
        assert_eq!(parse(&bytes[..cut]), Parsed::NeedMore, "at {cut}");
    }
    assert_eq!(check_prefixes(&bytes, 0..bytes.len()), want);
}

#[test]
fn rustls_hello_in_random_splits() {
    let bytes = rustls_hello("a.b.example.com", &[b"http/1.1"]);
    let want = done(Some("a.b.example.com"), &[b"http/1.1"]);
    let mut rng = fastrand::Rng::with_seed(4);
    for _ in 0..200 {
        let cuts = random_cuts(&mut rng, bytes.len(), 4);
        assert_eq!(check_prefixes(&bytes, cuts), want);
    }
}

#[test]
fn bytes_after_the_hello_do_not_change_the_answer() {
    let mut bytes = rustls_hello("app.example.com", &[]);
    bytes.extend_from_slice(&[23, 3, 3, 0, 5, 1, 2, 3, 4, 5]); // early data
    bytes.extend_from_slice(b"garbage");
    assert_eq!(parse(&bytes), done(Some("app.example.com"), &[]));
}

#[test]
fn hello_fragmented_over_three_records() {
    let real = rustls_hello("app.example.com", &[b"h2"]);
    let msg = handshake_of(&real);
    let want = done(Some("app.example.com"), &[b"h2"]);
    // Splits inside the handshake header, inside the SNI name and at odd places.
    for sizes in [[2, 3], [100, 200], [msg.len() / 3, msg.len() / 3], [1, 1]] {
        let bytes = fragment(msg, &[sizes[0], sizes[1], usize::MAX]);
        assert_eq!(check_prefixes(&bytes, 0..bytes.len()), want, "{sizes:?}");
    }
    // A hand-built hello whose server name straddles all three records.
    let msg = hello_msg(Some(&[
        sni_ext(&[(0, b"app.example.com")]),
        alpn_ext(&[b"h2"]),
    ]));
    let name_at = msg.len() - 21 - 9; // inside "app.example.com"
    let bytes = fragment(&msg, &[name_at, 4, usize::MAX]);
    assert_eq!(check_prefixes(&bytes, 0..bytes.len()), want);
}

#[test]
fn hello_fragmented_into_one_byte_records() {
    let msg = hello_msg(Some(&[sni_ext(&[(0, b"x.test")])]));
    let bytes = fragment(&msg, &vec![1; msg.len()]);
    assert_eq!(parse(&bytes), done(Some("x.test"), &[]));
}

#[test]
fn hand_built_hellos() {
    assert_eq!(parse(&hello(&[])), done(None, &[]));
    let no_block = fragment(&hello_msg(None), &[usize::MAX]);
    assert_eq!(parse(&no_block), done(None, &[]));
    let unknown_name_type = hello(&[sni_ext(&[(7, b"ignored"), (0, b"b.test.")])]);
    assert_eq!(parse(&unknown_name_type), done(Some("b.test"), &[]));
    let ip = hello(&[sni_ext(&[(0, b"192.0.2.1")]), alpn_ext(&[b"h2"])]);
    assert_eq!(parse(&ip), done(None, &[b"h2"]));
    let other_exts = hello(&[
        ext(0xff01, &[0]),
        sni_ext(&[(0, b"a.test")]),
        ext(43, &[2, 3, 4]),
    ]);
    assert_eq!(parse(&other_exts), done(Some("a.test"), &[]));
}

#[test]
fn malformed_hellos_are_refused() {
    let cases: [(&str, Vec<u8>); 8] = [
        (
            "two host names",
            hello(&[sni_ext(&[(0, b"a.test"), (0, b"b.test")])]),
        ),
        (
            "duplicate sni",
            hello(&[sni_ext(&[(0, b"a.test")]), sni_ext(&[(0, b"a.test")])]),
        ),
        ("invalid name", hello(&[sni_ext(&[(0, b"a b.test")])])),
        ("empty name", hello(&[sni_ext(&[(0, b"")])])),
        ("empty sni list", hello(&[ext(0, &vec16(&[]))])),
        ("empty alpn name", hello(&[alpn_ext(&[b"h2", b""])])),
        (
            "duplicate alpn",
            hello(&[alpn_ext(&[b"h2"]), alpn_ext(&[b"h2"])]),
        ),
        (
            "sni list shorter than ext",
            hello(&[ext(0, &[0, 3, 0, 0, 0, 9])]),
        ),
    ];
    for (what, bytes) in cases {
        assert!(
            matches!(parse(&bytes), Parsed::NotTls(_)),
            "{what}: {:?}",
            parse(&bytes)
        );
    }
}

#[test]
fn garbage_is_not_tls_at_once() {
    assert_eq!(parse(b""), Parsed::NeedMore);
    assert!(matches!(parse(b"G"), Parsed::NotTls(_)));
    assert!(matches!(
        parse(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"),
        Parsed::NotTls(_)
    ));
    assert!(matches!(
        parse(b"SSH-2.0-OpenSSH_9.2\r\n"),
        Parsed::NotTls(_)
    ));
    // An SSLv2-compatible hello: 2-byte length with the top bit set, then msg type 1.
    assert_eq!(
        parse(&[0x80, 0x2e, 0x01, 0x03, 0x01]),
        Parsed::NotTls("SSLv2-style client hello")
    );
    // Record versions: SSL 3.0 and unknown majors are refused; 0x0301..=0x0304 accepted.
    assert!(matches!(parse(&[22, 3, 0]), Parsed::NotTls(_)));
    assert!(matches!(parse(&[22, 2, 1]), Parsed::NotTls(_)));
    assert!(matches!(parse(&[22, 3, 5]), Parsed::NotTls(_)));
    for minor in 1..=4 {
        assert_eq!(parse(&[22, 3, minor, 0, 10, 1]), Parsed::NeedMore);
    }
    // Another handshake message first (a ServerHello), an alert, an empty record.
    assert!(matches!(
        parse(&[22, 3, 3, 0, 4, 2, 0, 0, 0]),
        Parsed::NotTls(_)
    ));
    assert!(matches!(parse(&[21, 3, 3, 0, 2, 2, 40]), Parsed::NotTls(_)));
    assert!(matches!(parse(&[22, 3, 1, 0, 0]), Parsed::NotTls(_)));
}

#[test]
fn lengths_past_the_end_are_need_more_or_refused() {
    let bytes = hello(&[sni_ext(&[(0, b"a.test")])]);
    // The handshake length claims more than the record holds: more records must follow.
    let mut longer = bytes.clone();
    longer[8] += 1;
    assert_eq!(parse(&longer), Parsed::NeedMore);
    // The record claims more than was sent: the hello inside is whole, which is what counts
    // (the rest of the record is the backend's to judge).
    let mut record = bytes.clone();
    record[4] += 10;
    assert_eq!(parse(&record), done(Some("a.test"), &[]));
    // The extension block claims more than the handshake message holds.
    let ext_len_at = 5 + 4 + 2 + 32 + 1 + 6 + 2;
    let mut exts = bytes.clone();
    exts[ext_len_at + 1] += 1;
    assert!(matches!(parse(&exts), Parsed::NotTls(_)));
    // A record header other than a handshake's between fragments.
    let msg = hello_msg(Some(&[]));
    let mut mixed = fragment(&msg, &[10, usize::MAX]);
    mixed[15] = 23;
    assert!(matches!(parse(&mixed), Parsed::NotTls(_)));
    // Truncated everywhere: never a wrong answer.
    for cut in 0..bytes.len() {
        assert_eq!(parse(&bytes[..cut]), Parsed::NeedMore);
    }
}

#[test]
fn too_large_is_refused() {
    // A handshake message claiming 64 KiB is refused from its header alone.
    assert_eq!(
        parse(&[22, 3, 1, 0, 100, 1, 1, 0, 0]),
        Parsed::NotTls("client hello too large")
    );
    // An acceptable message in records too small: the record headers push it past the cap.
    let padding = ext(21, &vec![0; 9000]);
    let msg = hello_msg(Some(&[sni_ext(&[(0, b"a.test")]), padding]));
    assert_eq!(
        parse(&fragment(&msg, &[usize::MAX])),
        done(Some("a.test"), &[])
    );
    let tiny_records = fragment(&msg, &vec![4; msg.len() / 4 + 1]);
    assert_eq!(
        parse(&tiny_records),
        Parsed::NotTls("client hello too large")
    );
    // A smaller cap for the caller.
    let bytes = rustls_hello("app.example.com", &[]);
    assert_eq!(
        parse_limited(&bytes, 100),
        Parsed::NotTls("client hello too large")
    );
    // Refused as soon as the lengths say so, not when the bytes arrive.
    assert_eq!(parse_limited(&bytes[..5], 100), Parsed::NeedMore);
    assert_eq!(
        parse_limited(&bytes[..9], 100),
        Parsed::NotTls("client hello too large")
    );
    assert_eq!(
        parse_limited(&bytes, bytes.len()),
        done(Some("app.example.com"), &[])
    );
}

/// The fuzz-style run: 100k seeded mutations of real and hand-built hellos never panic, and the
/// answer for the whole buffer is the answer a reader gets from random splits of it.
#[test]
fn mutations_never_panic_and_splits_agree() {
    let real = rustls_hello("app.example.com", &[b"h2", b"http/1.1"]);
    let msg = handshake_of(&real).to_vec();
    let seeds = [
        real.clone(),
        fragment(&msg, &[3, 200, usize::MAX]),
        hello(&[sni_ext(&[(0, b"a.test")]), alpn_ext(&[b"h2"])]),
    ];
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut answers = [0usize; 3];
    for round in 0..100_000 {
        let mut bytes = seeds[round % seeds.len()].clone();
        for _ in 0..rng.usize(1..=4) {
            let at = rng.usize(0..bytes.len().max(1));
            match rng.u8(0..4) {
                0 if !bytes.is_empty() => bytes[at] ^= 1 << rng.u8(0..8),
                1 if !bytes.is_empty() => bytes[at] = rng.u8(..),
                2 => bytes.insert(at.min(bytes.len()), rng.u8(..)),
                _ if !bytes.is_empty() => {
                    bytes.remove(at);
                }
                _ => {}
            }
        }
        let cuts = random_cuts(&mut rng, bytes.len(), 3);
        let answer = check_prefixes(&bytes, cuts);
        answers[match answer {
            Parsed::NeedMore => 0,
            Parsed::Done { .. } => 1,
            Parsed::NotTls(_) => 2,
        }] += 1;
    }
    // The mutations reach every outcome, so the run exercises the whole parser.
    assert!(answers.iter().all(|&n| n > 1000), "{answers:?}");
}
