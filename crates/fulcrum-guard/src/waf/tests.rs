use super::*;

fn waf(p: u8) -> Waf {
    Waf::new(p, 64 * 1024)
}

fn q(p: u8, query: &str) -> Option<Finding> {
    waf(p).inspector().query(query.as_bytes())
}

#[track_caller]
fn attack(p: u8, query: &str, class: Class) {
    match q(p, query) {
        Some(f) => assert_eq!(f.class, class, "{query}: {f:?}"),
        None => panic!("{query}: not detected at PL{p}"),
    }
}

#[track_caller]
fn clean(p: u8, query: &str) {
    assert_eq!(q(p, query), None, "{query}: false positive at PL{p}");
}

#[test]
fn sqli() {
    for a in [
        "id=1'+OR+'1'='1",
        "id=1%20UNION%20SELECT%20password%20FROM%20users",
        "id=1%2527%20or%201=1--",
        "id=1/**/UNION/**/SELECT/**/1,2,3",
        "q=admin'--",
        "id=1;DROP TABLE users",
        "id=1 AND SLEEP(5)",
        "x=%u0027%u0020or%u00201%3D1",
        "u[$ne]=1&p[$ne]=1",
    ] {
        attack(1, a, Class::Sqli);
    }
}

#[test]
fn xss() {
    for a in [
        "q=<script>alert(1)</script>",
        "q=%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E",
        "q=&lt;svg onload=alert(1)&gt;",
        "u=javascript:alert(document.cookie)",
        "q=%253Cscript%253E",
        r"q=\x3ciframe src=x\x3e",
    ] {
        attack(1, a, Class::Xss);
    }
}

#[test]
fn traversal_and_inclusion() {
    attack(1, "f=../../../../etc/passwd", Class::Lfi);
    attack(1, "f=..%2f..%2f..%2fwindows%2fwin.ini", Class::Lfi);
    attack(1, "f=%252e%252e%252f%252e%252e%252fetc", Class::Lfi);
    attack(1, "page=http://203.0.113.9/shell.txt", Class::Rfi);
    attack(1, "include=http://evil.example/x", Class::Rfi);
    assert_eq!(
        waf(1)
            .inspector()
            .path(b"/a/../../etc/passwd")
            .map(|f| f.class),
        Some(Class::Lfi)
    );
}

#[test]
fn command_and_php_injection() {
    attack(1, "ip=127.0.0.1;cat%20/tmp/x", Class::Rce);
    attack(1, "ip=1.1.1.1|id", Class::Rce);
    attack(1, "ip=$(whoami)", Class::Rce);
    attack(1, "x=;c'a't$IFS/tmp/x", Class::Rce);
    attack(1, "x=%26%20cmd.exe%20/c%20dir", Class::Rce);
    attack(1, "x=powershell -enc SQBFAFgA", Class::Rce);
    attack(1, "x=<?php system($_GET['c']); ?>", Class::Php);
    attack(
        1,
        "x=php://filter/convert.base64-encode/resource=index",
        Class::Php,
    );
}

#[test]
fn protocol_anomalies() {
    let w = waf(1);
    let mut i = w.inspector();
    assert_eq!(i.query(b"a=b%00").map(|f| f.rule), Some("920270"));
    assert_eq!(
        i.header(b"Proxy", b"http://evil").map(|f| f.rule),
        Some("920450")
    );
    assert_eq!(
        i.header(b"User-Agent", b"sqlmap/1.7").map(|f| f.class),
        Some(Class::Protocol)
    );
    assert_eq!(
        i.header(b"Content-Type", b"text/html; charset=utf-7")
            .map(|f| f.rule),
        Some("920480")
    );
    assert_eq!(
        i.header(b"Content-Type", b"application/json; charset=utf-8"),
        None
    );
    assert_eq!(i.path(b"/backup/site.sql").map(|f| f.rule), Some("920440"));
    assert_eq!(
        i.query(b"a=x%0d%0aSet-Cookie:%20s=1").map(|f| f.class),
        Some(Class::Protocol)
    );
}

#[test]
fn ordinary_requests_pass() {
    for p in [1, 2] {
        for ok in [
            "q=select+a+plan",
            "q=O%27Brien%27s+pub",
            "q=drop+off+at+union+station",
            "name=O%27Brien&city=Dublin",
            "q=rock+%26+roll",
            "redirect=https%3A%2F%2Fexample.com%2Fnext",
            "page=2&sort=price&order=desc",
            "token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl",
            "email=jane.doe%40example.com",
            "q=how+to+cat+a+file",
            "msg=I%27m+here%2C+aren%27t+you%3F",
            "date=2024-01-01&tz=Europe%2FBerlin",
        ] {
            clean(p, ok);
        }
    }
    let w = waf(1);
    let mut i = w.inspector();
    assert_eq!(i.path(b"/static/js/app.min.js"), None);
    assert_eq!(
        i.header(
            b"User-Agent",
            b"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
        ),
        None
    );
    assert_eq!(
        i.header(b"Cookie", b"_ga=GA1.2.1234; session=abc123; theme=dark"),
        None
    );
}

#[test]
fn bodies() {
    let w = waf(1);
    let mut i = w.inspector();
    let json = br#"{"user":{"name":"O'Brien","bio":"x"},"q":"1' OR '1'='1"}"#;
    assert_eq!(
        i.body(Some(b"application/json"), json).map(|f| f.class),
        Some(Class::Sqli)
    );
    assert_eq!(
        i.body(
            Some(b"application/json"),
            br#"{"name":"O'Brien","tags":["a","b"]}"#
        ),
        None
    );
    assert_eq!(
        i.body(
            Some(b"application/x-www-form-urlencoded"),
            b"a=1&b=%3Cscript%3E"
        )
        .map(|f| f.class),
        Some(Class::Xss)
    );
    let mp = b"--xx\r\nContent-Disposition: form-data; name=\"f\"; filename=\"shell.php\"\r\n\r\n<?php ?>\r\n--xx--\r\n";
    assert_eq!(
        i.body(Some(b"multipart/form-data; boundary=xx"), mp)
            .map(|f| f.class),
        Some(Class::Php)
    );
    assert_eq!(
        i.body(
            Some(b"text/xml"),
            b"<a><b>1 UNION SELECT pass FROM users</b></a>"
        )
        .map(|f| f.class),
        Some(Class::Sqli)
    );
    // Past the bound, nothing is read.
    let w = Waf::new(1, 8);
    let mut i = w.inspector();
    assert_eq!(i.body(None, b"a=1234567&b=%3Cscript%3E"), None);
}

#[test]
fn findings_are_escaped_and_cut() {
    let f = q(1, "q=%3Cscript%3E%22%0a%01alert(1)%3C/script%3E%3C/script%3E%3C/script%3E%3C/script%3E%3C/script%3E%3C/script%3E%3C/script%3E")
        .expect("detected");
    assert!(!f.excerpt.contains('"') || f.excerpt.contains("\\\""));
    assert!(f.excerpt.bytes().all(|b| (0x20..0x7f).contains(&b)));
    assert!(f.excerpt.len() <= 80 * 4 + 3);
}

/// Work on 1 MiB adversarial inputs against 64 KiB ones: decoding steps are counted (the
/// ratio must be 16), matching is timed with a generous bound (the ratio stays far below
/// the 256 a quadratic detector would show).
#[test]
fn linear_in_input_size() {
    let w = waf(4);
    let seeds: [&[u8]; 7] = [b"'", b"<", b"%25", b"/*", b"../", b"$(", b"a' or "];
    for seed in seeds {
        let make = |n: usize| seed.iter().copied().cycle().take(n).collect::<Vec<u8>>();
        let measure = |n: usize| {
            let input = make(n);
            let mut i = w.inspector();
            let t = std::time::Instant::now();
            for _ in 0..2 {
                let _ = i.value("query", PartKind::Arg, b"x", &input, true, true);
                let _ = i.header(b"User-Agent", &input);
                let _ = i.body(Some(b"application/json"), &input);
            }
            (i.steps(), t.elapsed())
        };
        let _ = measure(64 << 10);
        let (s_small, t_small) = measure(64 << 10);
        let (s_big, t_big) = measure(1 << 20);
        let steps = s_big as f64 / s_small.max(1) as f64;
        assert!(
            (15.0..=17.0).contains(&steps),
            "{seed:?}: steps ratio {steps}"
        );
        let time = t_big.as_secs_f64() / t_small.as_secs_f64().max(1e-6);
        assert!(
            time < 64.0,
            "{seed:?}: time ratio {time} ({t_small:?} vs {t_big:?})"
        );
    }
}

mod corpus;

#[test]
fn ordinary_bodies_pass() {
    let bodies: [(&[u8], &[u8]); 10] = [
        (
            b"application/json",
            br#"{"name":"O'Brien","comment":"It's great, isn't it?"}"#,
        ),
        (
            b"application/json",
            br#"{"query":"query { user(id: 1) { name orders(first: 10) { id total } } }"}"#,
        ),
        (
            b"application/json",
            br#"{"items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"coupon":"SPRING24"}"#,
        ),
        (
            b"application/json",
            br#"{"text":"Select a plan and drop off the keys at union station."}"#,
        ),
        (
            b"application/json",
            br#"{"url":"https://example.com/next","redirect":"/account"}"#,
        ),
        (
            b"application/x-www-form-urlencoded",
            b"name=Jane+O%27Brien&message=Hello%2C+I%27d+like+a+quote.",
        ),
        (
            b"application/x-www-form-urlencoded",
            b"q=select+from+our+plans&sort=asc",
        ),
        (
            b"application/x-www-form-urlencoded",
            b"title=My+post&body=**bold**+and+_italic_+and+a+%5Blink%5D(https%3A%2F%2Fexample.com)",
        ),
        (
            b"application/x-www-form-urlencoded",
            b"comment=I+love+it+%3A-)+5%2F5",
        ),
        (
            b"application/json",
            br#"{"note":"Meeting at 10am - bring the Q1 report (final).","tags":["work","q1"]}"#,
        ),
    ];
    for p in [1, 2] {
        let w = waf(p);
        for (ct, b) in bodies {
            assert_eq!(
                w.inspector().body(Some(ct), b),
                None,
                "PL{p}: {}",
                String::from_utf8_lossy(b)
            );
        }
    }
}

/// Every level's patterns compile (they are built on first use, on the control plane).
#[test]
fn every_paranoia_level_compiles() {
    for p in 1..=4 {
        let w = Waf::new(p, 1024);
        assert_eq!(w.paranoia(), p);
        assert_eq!(w.inspector().query(b"a=b"), None);
    }
}
