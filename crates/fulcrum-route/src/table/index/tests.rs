//! The index against the scan it replaces: same route, and the caller's condition asked about
//! the same routes in the same order, over many random tables and requests.

use std::cell::RefCell;
use std::time::Instant;

use fastrand::Rng;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::super::merge::TooMany;
use super::super::{RouteSpec, RouteTable};
use crate::host::{request_host, HostPattern};
use crate::path::normalize_path;

/// The lookup as it was before the index: every route in order.
fn scan<A>(
    table: &RouteTable<A>,
    host: Option<&str>,
    path: &str,
    headers: &HeaderMap,
    accept: impl Fn(usize) -> bool,
) -> Option<usize> {
    let host = host.and_then(request_host);
    table
        .iter()
        .enumerate()
        .find(|(i, route)| route.matches(host, path, headers) && accept(*i))
        .map(|(i, _)| i)
}

const LABELS: [&str; 6] = ["a", "b", "ab", "c", "", "x-1"];
const PREFIXES: [&str; 10] = [
    "", "/", "/a", "/a/", "/a/b", "/ab", "/abc", "/b", "/a/b/c", "/a/bc",
];
const HEADERS: [(&str, &str); 3] = [("x-a", "1"), ("x-a", "2"), ("x-b", "1")];

/// A [`name`] in random ASCII case.
fn any_case_name(rng: &mut Rng) -> String {
    name(rng)
        .chars()
        .map(|c| match rng.bool() {
            true => c.to_ascii_uppercase(),
            false => c,
        })
        .collect()
}

/// One to three labels from a small set, so names collide and nest.
fn name(rng: &mut Rng) -> String {
    let n = rng.usize(1..=3);
    let labels: Vec<&str> = (0..n).map(|_| LABELS[rng.usize(..LABELS.len())]).collect();
    labels.join(".")
}

fn pattern(rng: &mut Rng) -> Option<HostPattern> {
    let name = any_case_name(rng);
    match rng.u8(..10) {
        0..4 => None,
        4..7 => Some(HostPattern::Exact(match rng.u8(..4) {
            0 => format!("{name}."),
            _ => name,
        })),
        _ => Some(HostPattern::Wildcard(match rng.u8(..3) {
            0 => format!("*.{name}"),
            1 => format!(".{name}"),
            _ => name,
        })),
    }
}

fn prefix(rng: &mut Rng) -> String {
    let base = PREFIXES[rng.usize(..PREFIXES.len())];
    match rng.u8(..5) {
        0 => format!("{base}{}", ["a", "/", "b"][rng.usize(..3)]),
        _ => base.to_string(),
    }
}

fn table(rng: &mut Rng) -> RouteTable<usize> {
    let n = match rng.u8(..4) {
        0 => rng.usize(30..200),
        _ => rng.usize(0..16),
    };
    let routes = (0..n)
        .map(|i| RouteSpec {
            host: pattern(rng),
            path_prefix: rng.bool().then(|| prefix(rng)),
            headers: (0..[0, 0, 0, 1, 2][rng.usize(..5)])
                .map(|_| {
                    let (k, v) = HEADERS[rng.usize(..HEADERS.len())];
                    (HeaderName::from_static(k), HeaderValue::from_static(v))
                })
                .collect(),
            action: i,
        })
        .collect();
    RouteTable::new(routes)
}

/// A request host: a name like the patterns', any case, maybe under another label, with a
/// port or a trailing dot; or none.
fn host(rng: &mut Rng) -> Option<String> {
    let mut h = any_case_name(rng);
    if rng.u8(..3) == 0 {
        h = format!("{}.{h}", name(rng));
    }
    match rng.u8(..10) {
        0 => None,
        1 => Some(format!("{h}:8080")),
        2 => Some(format!("{h}.")),
        _ => Some(h),
    }
}

fn path(rng: &mut Rng) -> String {
    let mut p = prefix(rng);
    for _ in 0..rng.usize(0..3) {
        p.push_str(["a", "/", "b", "c", "/a"][rng.usize(..5)]);
    }
    p
}

fn headers(rng: &mut Rng) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in HEADERS {
        if rng.bool() {
            map.append(k, HeaderValue::from_static(v));
        }
    }
    map
}

#[test]
fn index_finds_what_the_scan_finds() {
    let mut rng = Rng::with_seed(0x8f0c_2a61);
    let mut found = 0;
    for _ in 0..400 {
        let table = table(&mut rng);
        let refused: Vec<bool> = (0..table.len()).map(|_| rng.u8(..4) == 0).collect();
        for _ in 0..100 {
            let (host, path, headers) = (host(&mut rng), path(&mut rng), headers(&mut rng));
            let Ok(normal) = normalize_path(&path) else {
                continue;
            };
            let (asked_index, asked_scan) = (RefCell::new(Vec::new()), RefCell::new(Vec::new()));
            let accept = |asked: &RefCell<Vec<usize>>, i: usize| {
                asked.borrow_mut().push(i);
                !refused.get(i).copied().unwrap_or(true)
            };
            // The index itself, even for the short tables `find_where` scans.
            let got = table
                .find_indexed(host.as_deref(), &normal, &headers, |i| {
                    accept(&asked_index, i)
                })
                .map(|(i, a)| {
                    assert_eq!(i, *a);
                    i
                });
            let want = scan(&table, host.as_deref(), normal.as_str(), &headers, |i| {
                accept(&asked_scan, i)
            });
            let case = || format!("{host:?} {path:?} {headers:?}\n{:#?}", table.routes);
            assert_eq!(got, want, "{}", case());
            assert_eq!(
                asked_index,
                asked_scan,
                "accept asked otherwise: {}",
                case()
            );
            // These tables never need more lists than a lookup merges.
            let canonical = host.as_deref().and_then(request_host);
            assert!(
                table
                    .index
                    .first(canonical, normal.as_str(), |_| false)
                    .is_ok(),
                "fell back to the scan: {}",
                case()
            );
            found += usize::from(got.is_some());
        }
    }
    assert!(found > 5_000, "too few matches to mean much: {found}");
}

/// A path under more configured prefixes of one group than a lookup merges takes the scan,
/// with the same answer.
#[test]
fn too_many_candidate_lists_fall_back_to_the_scan() {
    let mut prefix = String::new();
    let routes: Vec<RouteSpec<usize>> = (0..60)
        .map(|i| {
            prefix.push_str("/a");
            RouteSpec {
                host: None,
                path_prefix: Some(prefix.clone()),
                headers: Vec::new(),
                action: i,
            }
        })
        .collect();
    let table = RouteTable::new(routes);
    let deep = "/a".repeat(70);
    assert!(matches!(
        table.index.first(None, &deep, |_| true),
        Err(TooMany)
    ));
    let deep = normalize_path(&deep).unwrap();
    let found = table.find_where(None, &deep, &HeaderMap::new(), |i| i >= 50);
    assert_eq!(found.map(|(i, _)| i), Some(50));
    let shallow = normalize_path("/a/a/a").unwrap();
    let found = table.find_where(None, &shallow, &HeaderMap::new(), |_| true);
    assert_eq!(found.map(|(i, _)| i), Some(0));
}

/// The shape of the bench: 10,000 exact hosts, then a catch-all. The last host finds its own
/// route, a host under none finds the catch-all.
fn ten_thousand_hosts() -> RouteTable<usize> {
    let mut routes: Vec<RouteSpec<usize>> = (0..10_000)
        .map(|i| RouteSpec {
            host: Some(HostPattern::Exact(format!("host-{i}.example.com"))),
            path_prefix: None,
            headers: Vec::new(),
            action: i,
        })
        .collect();
    routes.push(RouteSpec {
        host: None,
        path_prefix: None,
        headers: Vec::new(),
        action: 10_000,
    });
    RouteTable::new(routes)
}

#[test]
fn ten_thousand_hosts_each_find_their_route() {
    let table = ten_thousand_hosts();
    let find = |host: &str| {
        table
            .find(Some(host), "/", &HeaderMap::new())
            .map(|(i, _)| i)
    };
    assert_eq!(find("host-0.example.com"), Some(0));
    assert_eq!(find("HOST-9999.example.com:80"), Some(9_999));
    assert_eq!(find("host-10000.example.com"), Some(10_000));
}

/// Build and lookup times at 10,000 routes (run with `--ignored --nocapture`; a release build
/// gives the real figures).
#[test]
#[ignore = "timing report, not a check"]
fn ten_thousand_routes_timing() {
    let started = Instant::now();
    let table = ten_thousand_hosts();
    let built = started.elapsed();
    let wild: Vec<RouteSpec<usize>> = (0..10_000)
        .map(|i| RouteSpec {
            host: Some(HostPattern::Wildcard(format!("*.host-{i}.example.com"))),
            path_prefix: Some(format!("/svc-{i}/")),
            headers: Vec::new(),
            action: i,
        })
        .collect();
    let started = Instant::now();
    let wild = RouteTable::new(wild);
    let built_wild = started.elapsed();
    let prefixes: Vec<RouteSpec<usize>> = (0..10_000)
        .map(|i| RouteSpec {
            host: None,
            path_prefix: Some(format!("/api/v{}/service-{i}/", i % 7)),
            headers: Vec::new(),
            action: i,
        })
        .collect();
    let started = Instant::now();
    let prefixes = RouteTable::new(prefixes);
    let built_prefixes = started.elapsed();
    eprintln!(
        "RouteTable::new, 10k routes: exact hosts {built:?}, wildcards with prefixes \
         {built_wild:?}, host-less prefixes {built_prefixes:?}"
    );
    let none = HeaderMap::new();
    let per_lookup = |f: &dyn Fn() -> Option<usize>| {
        let n = 200_000;
        let started = Instant::now();
        for _ in 0..n {
            std::hint::black_box(f());
        }
        started.elapsed() / n
    };
    let first = per_lookup(&|| {
        table
            .find(Some("host-0.example.com"), "/", &none)
            .map(|r| r.0)
    });
    let last = per_lookup(&|| {
        table
            .find(Some("host-9999.example.com"), "/", &none)
            .map(|r| r.0)
    });
    let wild_last = per_lookup(&|| {
        wild.find(Some("a.host-9999.example.com"), "/svc-9999/x", &none)
            .map(|r| r.0)
    });
    let prefix_last = per_lookup(&|| {
        prefixes
            .find(None, "/api/v5/service-9998/x", &none)
            .map(|r| r.0)
    });
    eprintln!(
        "lookup: first host {first:?}, last host {last:?}, last wildcard {wild_last:?}, \
         last prefix {prefix_last:?}"
    );
}
