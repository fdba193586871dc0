use super::*;

fn scan_all(input: &[u8]) -> Scan {
    Scanner::new().feed(input)
}

/// Feeding byte by byte must give the same verdict as feeding at once.
fn scan_bytewise(input: &[u8]) -> Scan {
    let mut s = Scanner::new();
    for (i, b) in input.iter().enumerate() {
        match s.feed(std::slice::from_ref(b)) {
            Scan::Ok | Scan::Head(_) => {}
            Scan::Violation(_, v) => return Scan::Violation(i, v),
            Scan::Pause(_) => return Scan::Pause(i),
        }
    }
    Scan::Ok
}

fn violation(input: &[u8]) -> Option<Violation> {
    let whole = scan_all(input);
    assert_eq!(
        whole,
        scan_bytewise(input),
        "bytewise differs for {input:?}"
    );
    match whole {
        Scan::Violation(_, v) => Some(v),
        _ => None,
    }
}

#[test]
fn plain_requests_pass() {
    assert_eq!(violation(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), None);
    assert_eq!(
        violation(b"\r\nGET /x?y=1 HTTP/1.1\r\nHost: a\r\nX-A:\r\n\r\n"),
        None
    );
    assert_eq!(violation(b"GET / HTTP/1.0\r\n\r\n"), None);
    let two = b"POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: b\r\n\r\n";
    assert_eq!(violation(two), None);
}

#[test]
fn chunked_bodies_and_trailers_pass() {
    let req = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\nA \r\n0123456789\r\n0\r\nX-T: 1\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    assert_eq!(violation(req), None);
}

#[test]
fn http2_preface_is_passed_through() {
    let mut s = Scanner::new();
    assert_eq!(
        s.feed(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04"),
        Scan::Ok
    );
    assert_eq!(s.mode(), Mode::Http2);
}

#[test]
fn partial_preface_that_turns_out_http1_is_checked() {
    // Not the preface after all: an HTTP/2.0 request line over HTTP/1, answered 505.
    assert_eq!(
        violation(b"PRI * HTTP/2.0\r\n\r\nXX"),
        Some(Violation::VersionNotSupported)
    );
    assert_eq!(violation(b"PRINT / HTTP/1.1\r\nHost: a\r\n\r\n"), None);
}

#[test]
fn framing_conflicts_are_refused() {
    use Violation::*;
    let cases: &[(&[u8], Violation)] = &[
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", ContentLengthWithTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", ContentLengthWithTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", InvalidContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +3\r\n\r\n", InvalidContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n", InvalidContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", InvalidContentLength),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", UnsupportedTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", UnsupportedTransferEncoding),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", UnsupportedTransferEncoding),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", TransferEncodingInHttp10),
        (b"GET / HTTP/1.1\r\n\r\n", InvalidHost),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", InvalidHost),
    ];
    for (input, expected) in cases {
        assert_eq!(
            violation(input),
            Some(*expected),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn identical_duplicate_content_length_is_accepted() {
    let req = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nhi";
    assert_eq!(violation(req), None);
}

#[test]
fn head_syntax_errors_are_refused() {
    use Violation::*;
    let cases: &[(&[u8], Violation)] = &[
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", ObsFold),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
            BareLineBreak,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\nY: b\r\n\r\n",
            BareLineBreak,
        ),
        (b"GET / HTTP/1.1\nHost: a\r\n\r\n", BareLineBreak),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
            ControlInValue,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n",
            SpaceBeforeColon,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
            SpaceBeforeColon,
        ),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\n: a\r\n\r\n",
            InvalidHeaderName,
        ),
        (b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", InvalidMethod),
        (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", InvalidVersion),
        (b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", MalformedRequestLine),
        (b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", MalformedRequestLine),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", VersionNotSupported),
        (b"GET / HTTP/0.9\r\nHost: a\r\n\r\n", VersionNotSupported),
        (b"GET / HTTP/2\r\nHost: a\r\n\r\n", InvalidVersion),
        (b"GET / HTTP/2.x\r\nHost: a\r\n\r\n", InvalidVersion),
        (b"GET / HTTP/1.2\r\nHost: a\r\n\r\n", InvalidVersion),
        (b"GET / HTTP/2.0 \r\nHost: a\r\n\r\n", MalformedRequestLine),
        (b"GET / HTTP/2.0\nHost: a\r\n\r\n", BareLineBreak),
        (b"GET /a\x80 HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (
            b"GET /\xc3\xa9?q=1 HTTP/1.1\r\nHost: a\r\n\r\n",
            InvalidTarget,
        ),
        (b"GET /?q=\x7f HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (b"GET /?q=\x00 HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (b"GET /?q=\x1b HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (b"GET /?q=\ta HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
        (
            b"GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n",
            ControlInValue,
        ),
        (b"GET /\x01 HTTP/1.1\r\nHost: a\r\n\r\n", InvalidTarget),
    ];
    for (input, expected) in cases {
        assert_eq!(
            violation(input),
            Some(*expected),
            "{}",
            String::from_utf8_lossy(input)
        );
    }
}

/// What browsers send raw in a query passes (issue 10 item 5): the printable bytes NGINX
/// and HAProxy take, and obs-text (UTF-8) after the `?`.
#[test]
fn raw_query_characters_pass() {
    for target in [
        &b"/s?q=<script>&a=\"x\""[..],
        b"/q?j={\"a\":[1]}&p=a|b&w=c\\d&x=^&y=`z`&gt=>",
        b"/q?u=\xc3\xa9\xe2\x82\xac",
        b"/p?\xff",
    ] {
        let mut req = b"GET ".to_vec();
        req.extend_from_slice(target);
        req.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_eq!(violation(&req), None, "{}", String::from_utf8_lossy(&req));
    }
}

#[test]
fn overlong_request_line_is_refused() {
    let mut req = b"GET /".to_vec();
    req.extend(std::iter::repeat_n(b'a', MAX_REQUEST_LINE));
    req.extend_from_slice(b" HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(violation(&req), Some(Violation::RequestLineTooLong));
}

#[test]
fn bad_chunks_are_refused() {
    use Violation::*;
    let head = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
    let cases: &[(&[u8], Violation)] = &[
        (b"x\r\n", InvalidChunkSize),
        (b"-1\r\n", InvalidChunkSize),
        (b"0x5\r\nhello\r\n0\r\n\r\n", InvalidChunkSize),
        (b"5 x\r\nhello\r\n0\r\n\r\n", InvalidChunkSize),
        (b"11111111111111111\r\n", InvalidChunkSize),
        (b"3\r\nhello\r\n0\r\n\r\n", InvalidChunkTerminator),
        (b"5\nhello\r\n0\r\n\r\n", BareLineBreak),
        (b"5\r\nhello\r\n0\r\nX : y\r\n\r\n", SpaceBeforeColon),
    ];
    for (body, expected) in cases {
        let mut req = head.to_vec();
        req.extend_from_slice(body);
        assert_eq!(
            violation(&req),
            Some(*expected),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn violation_offset_points_at_the_bad_byte() {
    let req = b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00\r\n\r\n";
    let at = req.iter().position(|&b| b == 0).unwrap();
    assert_eq!(
        scan_all(req),
        Scan::Violation(at, Violation::ControlInValue)
    );
}

#[test]
fn upgrade_pauses_until_the_status_is_known() {
    let req = b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
    let mut s = Scanner::new();
    let mut input = req.to_vec();
    input.extend_from_slice(b"\x81\x05hello");
    assert_eq!(s.feed(&input), Scan::Pause(req.len()));
    assert_eq!(s.mode(), Mode::AwaitingUpgrade);
    s.upgrade_result(true);
    assert_eq!(s.mode(), Mode::Tunnel);
    assert_eq!(s.feed(b"\x81\x05hello\x00\x00"), Scan::Ok);

    let mut refused = Scanner::new();
    assert_eq!(refused.feed(req), Scan::Ok);
    refused.upgrade_result(false);
    assert_eq!(refused.mode(), Mode::Http1);
    assert!(matches!(
        refused.feed(b"\x81\x05hello"),
        Scan::Violation(0, _)
    ));
}

#[test]
fn in_head_tracks_partial_heads() {
    let mut s = Scanner::new();
    assert!(!s.in_head());
    s.feed(b"GET / HT");
    assert!(s.in_head());
    s.feed(b"TP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nh");
    assert!(!s.in_head());
    s.feed(b"i");
    assert!(!s.in_head());
    s.feed(b"G");
    assert!(s.in_head());
}

/// Randomised differential check against httparse (hyper's parser): whatever head the scanner
/// accepts, httparse must read as a complete head of exactly the same length, with the same
/// header count. Feeding byte by byte must agree with feeding at once. Seeded: repeatable.
#[test]
fn accepted_heads_parse_identically_in_httparse() {
    const PIECES: &[&[u8]] = &[
        b"GET",
        b"POST",
        b" ",
        b"  ",
        b"/",
        b"/a?b=c",
        b" HTTP/1.1",
        b" HTTP/1.0",
        b"\r\n",
        b"\n",
        b"\r",
        b"Host: a",
        b"Host:a",
        b"Content-Length: 0",
        b"Content-Length: 00",
        b"Transfer-Encoding: chunked",
        b"X: y",
        b"X:\ty \t",
        b" ",
        b"\t",
        b":",
        b"\x00",
        b"\x7f",
        b"\xff",
        b"X-Long: ",
        b"a",
        b"-",
        b"Upgrade: x",
    ];
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    let mut accepted = 0;
    for _ in 0..200_000 {
        let mut input = b"GET / HTTP/1.1\r\n".to_vec();
        if rng.bool() {
            input.clear();
        }
        for _ in 0..rng.usize(1..12) {
            input.extend_from_slice(PIECES[rng.usize(..PIECES.len())]);
        }
        input.extend_from_slice(b"\r\n\r\n");
        let whole = Scanner::new().feed(&input);
        assert_eq!(whole, scan_bytewise(&input), "bytewise differs: {input:?}");
        if whole != Scan::Ok {
            continue;
        }
        // The scanner accepted: find where it thinks the head ended.
        let mut s = Scanner::new();
        let mut head_len = None;
        let mut started = false;
        for i in 0..input.len() {
            // Empty lines before a request line are skipped, not a head.
            started |= !matches!(input[i], b'\r' | b'\n');
            s.feed(&input[i..=i]);
            if started && !s.in_head() && s.mode() != Mode::Http2 {
                head_len = Some(i + 1);
                break;
            }
        }
        let Some(head_len) = head_len else { continue };
        accepted += 1;
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&input) {
            Ok(httparse::Status::Complete(n)) => {
                assert_eq!(
                    n,
                    head_len,
                    "head length differs for {:?}",
                    String::from_utf8_lossy(&input)
                )
            }
            other => panic!(
                "scanner accepted what httparse does not: {other:?} for {:?}",
                String::from_utf8_lossy(&input)
            ),
        }
    }
    assert!(
        accepted > 1000,
        "too few accepted inputs to mean anything: {accepted}"
    );
}

/// What a recording scanner reports for `input` fed in the pieces `cuts` makes (the offsets
/// rebased to the whole input), with the spans of every head it completed.
fn record_in_pieces(input: &[u8], cuts: &[usize]) -> (Vec<Scan>, Vec<String>) {
    let mut s = Scanner::recording();
    let (mut verdicts, mut heads) = (Vec::new(), Vec::new());
    let mut from = 0;
    for &to in cuts.iter().chain(std::iter::once(&input.len())) {
        while from < to {
            match s.feed(&input[from..to]) {
                Scan::Head(n) => {
                    from += n;
                    verdicts.push(Scan::Head(from));
                    heads.push(format!("{:?}", s.head()));
                    // The body, if any, as the fast path reads it.
                    loop {
                        match s.body(&input[from..to]) {
                            Ok(b) => {
                                from += b.used;
                                if b.done || b.used == 0 {
                                    break;
                                }
                            }
                            Err((at, v)) => {
                                verdicts.push(Scan::Violation(from + at, v));
                                return (verdicts, heads);
                            }
                        }
                    }
                }
                Scan::Violation(at, v) => {
                    verdicts.push(Scan::Violation(from + at, v));
                    return (verdicts, heads);
                }
                Scan::Ok => from = to,
                other => {
                    verdicts.push(other);
                    from = to;
                }
            }
        }
    }
    (verdicts, heads)
}

/// The whole-line fast path for field lines must change nothing: a head split at every byte
/// offset (which cuts lines, so the byte-by-byte steps read them) and fed byte by byte gives
/// the same verdicts, at the same offsets, and the same recorded spans as fed at once.
#[test]
fn heads_split_at_every_offset_give_the_same_result() {
    let cases: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n",
        b"POST /a?b=c HTTP/1.1\r\nHost:a\r\nX-Empty:\r\nX-Ws: \t \r\nX:\tv \t\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: b\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nHost: a\r\nUpgrade-Insecure-Requests: 1\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nA-Very-Long-Header-Name-Beyond-The-Buffer: x\r\nContent-Length\t: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX : a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\nY: b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: \xff\xfe\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX(: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
    ];
    for input in cases {
        let whole = record_in_pieces(input, &[]);
        let bytewise: Vec<usize> = (1..input.len()).collect();
        assert_eq!(
            whole,
            record_in_pieces(input, &bytewise),
            "bytewise differs for {:?}",
            String::from_utf8_lossy(input)
        );
        for cut in 1..input.len() {
            assert_eq!(
                whole,
                record_in_pieces(input, &[cut]),
                "split at {cut} differs for {:?}",
                String::from_utf8_lossy(input)
            );
        }
    }
}
