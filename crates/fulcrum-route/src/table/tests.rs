use super::*;

fn route(
    host: Option<HostPattern>,
    prefix: Option<&str>,
    action: &'static str,
) -> RouteSpec<&'static str> {
    RouteSpec {
        host,
        path_prefix: prefix.map(String::from),
        headers: Vec::new(),
        action,
    }
}

fn exact(name: &str) -> Option<HostPattern> {
    Some(HostPattern::Exact(name.into()))
}

fn wild(suffix: &str) -> Option<HostPattern> {
    Some(HostPattern::Wildcard(suffix.into()))
}

fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for &(name, value) in pairs {
        map.append(name, HeaderValue::from_static(value));
    }
    map
}

fn find<'a>(
    table: &'a RouteTable<&'static str>,
    host: Option<&str>,
    path: &str,
) -> Option<&'a str> {
    table.find(host, path, &HeaderMap::new()).map(|(_, a)| *a)
}

#[test]
fn exact_host_ignores_case_port_and_trailing_dot() {
    let table = RouteTable::new(vec![route(exact("API.example.com"), None, "api")]);
    for host in [
        "api.example.com",
        "API.EXAMPLE.COM",
        "Api.Example.Com:8443",
        "api.example.com.",
        "api.example.com.:80",
    ] {
        assert_eq!(find(&table, Some(host), "/"), Some("api"), "{host}");
    }
    for host in [
        "example.com",
        "api.example.com.evil",
        "xapi.example.com",
        "api.example.co",
    ] {
        assert_eq!(find(&table, Some(host), "/"), None, "{host}");
    }
}

#[test]
fn wildcard_host() {
    let table = RouteTable::new(vec![route(wild(".example.com"), None, "wild")]);
    for host in [
        "a.example.com",
        "a.b.example.com",
        "A.EXAMPLE.com:8080",
        "a.example.com.",
    ] {
        assert_eq!(find(&table, Some(host), "/"), Some("wild"), "{host}");
    }
    for host in [
        "example.com",
        "example.com:80",
        "aexample.com",
        "a.example.org",
    ] {
        assert_eq!(find(&table, Some(host), "/"), None, "{host}");
    }
}

#[test]
fn ipv6_literals_keep_their_colons() {
    let table = RouteTable::new(vec![
        route(exact("[::1]"), None, "loopback"),
        route(exact("2001:db8::1"), None, "doc"),
    ]);
    assert_eq!(find(&table, Some("[::1]:8080"), "/"), Some("loopback"));
    assert_eq!(find(&table, Some("[::1]"), "/"), Some("loopback"));
    assert_eq!(find(&table, Some("[2001:DB8::1]:443"), "/"), Some("doc"));
    assert_eq!(find(&table, Some("[::2]:8080"), "/"), None);
}

#[test]
fn host_route_needs_a_host() {
    let table = RouteTable::new(vec![
        route(exact("a.example"), None, "a"),
        route(wild(".example"), None, "w"),
    ]);
    assert_eq!(find(&table, None, "/"), None);
    assert_eq!(find(&table, Some(""), "/"), None);
    assert_eq!(find(&table, Some(":8080"), "/"), None);
}

#[test]
fn path_prefix_is_bytewise_and_case_sensitive() {
    let table = RouteTable::new(vec![route(None, Some("/api"), "api")]);
    assert_eq!(find(&table, None, "/api"), Some("api"));
    assert_eq!(find(&table, None, "/api/v1/users"), Some("api"));
    assert_eq!(find(&table, None, "/apiary"), Some("api"));
    assert_eq!(find(&table, None, "/API"), None);
    assert_eq!(find(&table, None, "/ap"), None);
    assert_eq!(find(&table, None, "/"), None);
    assert_eq!(find(&table, None, ""), None);
}

#[test]
fn headers_must_all_match_exactly() {
    let table = RouteTable::new(vec![RouteSpec {
        host: None,
        path_prefix: None,
        headers: vec![
            (
                HeaderName::from_static("x-canary"),
                HeaderValue::from_static("1"),
            ),
            (
                HeaderName::from_static("x-team"),
                HeaderValue::from_static("blue"),
            ),
        ],
        action: "canary",
    }]);
    let find = |pairs: &[(&'static str, &'static str)]| {
        table.find(None, "/", &headers(pairs)).map(|(i, _)| i)
    };
    assert_eq!(find(&[("x-canary", "1"), ("x-team", "blue")]), Some(0));
    assert_eq!(
        find(&[("X-Canary", "1"), ("x-team", "blue")]),
        Some(0),
        "names are case-insensitive"
    );
    assert_eq!(find(&[("x-canary", "1")]), None, "every header is required");
    assert_eq!(
        find(&[("x-canary", "1"), ("x-team", "Blue")]),
        None,
        "values are exact"
    );
    assert_eq!(
        find(&[("x-canary", "1"), ("x-team", "blue, red")]),
        None,
        "lists are not split"
    );
    assert_eq!(
        find(&[("x-canary", "0"), ("x-canary", "1"), ("x-team", "blue")]),
        Some(0),
        "any of several lines"
    );
    assert_eq!(find(&[]), None);
}

#[test]
fn route_without_matchers_matches_everything() {
    let table = RouteTable::new(vec![route(None, None, "all")]);
    assert_eq!(find(&table, None, ""), Some("all"));
    assert_eq!(find(&table, Some("any.host:1"), "/x"), Some("all"));
    assert_eq!(
        table
            .find(None, "/", &headers(&[("x", "y")]))
            .map(|(i, _)| i),
        Some(0)
    );
}

#[test]
fn first_match_wins_in_order() {
    let table = RouteTable::new(vec![
        route(exact("api.example.com"), Some("/v2"), "api-v2"),
        route(exact("api.example.com"), None, "api"),
        route(wild(".example.com"), None, "wild"),
        route(None, Some("/static"), "static"),
        route(None, None, "default"),
        route(exact("never.example"), None, "shadowed"),
    ]);
    let hit = |host, path| table.find(host, path, &HeaderMap::new());
    assert_eq!(
        hit(Some("API.example.com:443"), "/v2/x"),
        Some((0, &"api-v2"))
    );
    assert_eq!(hit(Some("api.example.com"), "/v1/x"), Some((1, &"api")));
    assert_eq!(
        hit(Some("www.example.com"), "/static/a.css"),
        Some((2, &"wild"))
    );
    assert_eq!(
        hit(Some("other.org"), "/static/a.css"),
        Some((3, &"static"))
    );
    assert_eq!(hit(None, "/"), Some((4, &"default")));
    assert_eq!(hit(Some("never.example"), "/"), Some((4, &"default")));
}

#[test]
fn all_matchers_combine() {
    let mut spec = route(wild("*.example.com"), Some("/admin"), "admin");
    spec.headers.push((
        HeaderName::from_static("x-admin"),
        HeaderValue::from_static("yes"),
    ));
    let table = RouteTable::new(vec![spec]);
    let ok = headers(&[("x-admin", "yes")]);
    assert!(table
        .find(Some("a.EXAMPLE.com:1"), "/admin/x", &ok)
        .is_some());
    assert!(table.find(Some("example.com"), "/admin/x", &ok).is_none());
    assert!(table.find(Some("a.example.com"), "/user", &ok).is_none());
    assert!(table
        .find(Some("a.example.com"), "/admin", &HeaderMap::new())
        .is_none());
}

#[test]
fn empty_table_and_accessors() {
    let empty: RouteTable<()> = RouteTable::new(Vec::new());
    assert!(empty.is_empty());
    assert_eq!(empty.len(), 0);
    assert_eq!(empty.find(Some("a"), "/", &HeaderMap::new()), None);

    let table = RouteTable::new(vec![
        route(exact("A.Example."), None, "a"),
        route(None, None, "b"),
    ]);
    assert_eq!(table.len(), 2);
    assert!(!table.is_empty());
    assert_eq!(table.get(1), Some(&"b"));
    assert_eq!(table.get(2), None);
    let hosts: Vec<_> = table.iter().map(|r| r.host.clone()).collect();
    assert_eq!(hosts, [exact("a.example"), None], "stored canonical");
}
