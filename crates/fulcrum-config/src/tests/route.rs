//! `[[listener.route]]`: names, matches and the one action.

use http::StatusCode;

use super::{error, errors, ok, with_route, POOL_API};
use crate::model::{Action, HostMatch, SplitTarget};

fn route(body: &str) -> crate::model::Route {
    ok(&with_route(body)).listeners.remove(0).routes.remove(0)
}

/// Lines 1-4 of `with_route` are the listener and the route header: route keys start at 5.
#[test]
fn names_default_to_their_index_and_are_unique() {
    let src = format!(
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8080\"\n\
         [[listener.route]]\npool = \"api\"\n\
         [[listener.route]]\nname = \"#1\"\npool = \"api\"\n{POOL_API}"
    );
    assert_eq!(
        error(&src),
        "7:8: listener \"web\": route \"#1\": duplicate route name \"#1\" in this listener"
    );
    let src = src.replace("name = \"#1\"", "name = \"second\"");
    let names: Vec<String> = ok(&src).listeners[0]
        .routes
        .iter()
        .map(|r| r.name.clone())
        .collect();
    assert_eq!(names, ["#1", "second"]);
}

#[test]
fn host_is_lowercased_exact_or_wildcard() {
    assert_eq!(
        route("host = \"Api.Example.COM\"\npool = \"api\"").host,
        Some(HostMatch::Exact("api.example.com".into()))
    );
    assert_eq!(
        route("host = \"*.Example.com\"\npool = \"api\"").host,
        Some(HostMatch::Wildcard(".example.com".into()))
    );
}

#[test]
fn host_rejects_empty_ports_and_odd_wildcards() {
    for (bad, why) in [
        ("", "must not be empty"),
        ("api.example.com:8080", "ports are not matched"),
        ("*example.com", "\"*\" is only allowed"),
        ("api.*.com", "\"*\" is only allowed"),
        ("*", "\"*\" is only allowed"),
        ("*.", "labels must be non-empty"),
        ("a..b", "labels must be non-empty"),
        ("a b", "labels must be non-empty"),
    ] {
        let err = error(&with_route(&format!("host = \"{bad}\"\npool = \"api\"")));
        let prefix =
            format!("5:8: listener \"web\": route \"#1\": host: invalid host \"{bad}\": {why}");
        assert!(err.starts_with(&prefix), "{bad:?}: {err}");
    }
}

#[test]
fn path_prefix_starts_with_a_slash() {
    assert_eq!(
        route("path_prefix = \"/api/\"\npool = \"api\"")
            .path_prefix
            .as_deref(),
        Some("/api/")
    );
    assert_eq!(
        error(&with_route("path_prefix = \"api/\"\npool = \"api\"")),
        "5:15: listener \"web\": route \"#1\": path_prefix: invalid path_prefix \"api/\": must start with \"/\""
    );
    assert!(error(&with_route("path_prefix = \"/a?b\"\npool = \"api\""))
        .contains("must be a plain path"));
}

#[test]
fn headers_are_validated_and_lowercased() {
    let r = route("headers = { \"X-Canary\" = \"1\", accept = \"text/html\" }\npool = \"api\"");
    let names: Vec<&str> = r.headers.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["x-canary", "accept"]);
    assert_eq!(
        errors(&with_route(
            "headers = { \"bad name\" = \"1\", x-a = \"line\\nbreak\", X-A = \"2\", x-n = 3 }\npool = \"api\""
        )),
        [
            "5:13: listener \"web\": route \"#1\": headers: invalid header name \"bad name\"",
            "5:37: listener \"web\": route \"#1\": headers.x-a: invalid header value \"line\\nbreak\"",
            "5:52: listener \"web\": route \"#1\": headers: header x-a is listed twice",
            "5:69: listener \"web\": route \"#1\": headers.x-n: expected a string, found an integer",
        ]
    );
}

#[test]
fn exactly_one_action() {
    assert_eq!(
        error(&with_route("name = \"none\"\nhost = \"a.com\"")),
        "4:1: listener \"web\": route \"none\": no action (expected exactly one of: pool, split, redirect, respond)"
    );
    assert_eq!(
        errors(&with_route(
            "pool = \"api\"\nrespond = { status = 200 }\nredirect = { to = \"/x\" }"
        )),
        [
            "6:1: listener \"web\": route \"#1\": more than one action (pool, redirect, respond); \
             a route takes exactly one of: pool, split, redirect, respond",
            "7:1: listener \"web\": route \"#1\": more than one action (pool, redirect, respond); \
             a route takes exactly one of: pool, split, redirect, respond",
        ]
    );
}

#[test]
fn referenced_pools_must_exist() {
    assert_eq!(
        error(&with_route("pool = \"web\"")),
        "5:8: listener \"web\": route \"#1\": pool: unknown pool \"web\" (defined pools: api)"
    );
    assert_eq!(
        error("[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8080\"\n[[listener.route]]\npool = \"api\"\n"),
        "5:8: listener \"web\": route \"#1\": pool: unknown pool \"api\" (no pools are defined)"
    );
    // A pool with its own errors still counts as defined: one error, not two.
    let src = "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8080\"\n[[listener.route]]\npool = \"api\"\n[pool.api]\nbackends = []\n";
    assert_eq!(
        error(src),
        "7:12: pool \"api\": backends: must list at least one backend"
    );
}

#[test]
fn split_weights() {
    let src = format!(
        "{}\n[pool.b]\nbackends = [{{ address = \"127.0.0.1:2\" }}]\n",
        with_route("split = [{ pool = \"api\", weight = 3 }, { pool = \"b\", weight = 0 }]")
    );
    assert_eq!(
        ok(&src).listeners[0].routes[0].action,
        Action::Split(vec![SplitTarget {
            pool: "api".into(),
            weight: 3
        }]),
        "zero-weight targets are validated, then left out"
    );
    assert_eq!(
        error(&with_route("split = [{ pool = \"api\", weight = 0 }]")),
        "5:9: listener \"web\": route \"#1\": split: weights must not all be 0"
    );
    assert_eq!(
        errors(&with_route("split = [{ pool = \"api\", weight = -1 }, { pool = \"nope\", weight = 1 }, { pool = \"api\" }, []]")),
        [
            "5:35: listener \"web\": route \"#1\": split[0].weight: must be between 0 and 4294967295, found -1",
            "5:50: listener \"web\": route \"#1\": split[1].pool: unknown pool \"nope\" (defined pools: api)",
            "5:72: listener \"web\": route \"#1\": split[2]: missing required key \"weight\"",
            "5:81: listener \"web\": route \"#1\": split[2].pool: pool \"api\" is listed twice in this split",
            "5:90: listener \"web\": route \"#1\": split[3]: expected a table, found an array",
        ]
    );
    assert_eq!(
        error(&with_route("split = []")),
        "5:9: listener \"web\": route \"#1\": split: must list at least one { pool, weight }"
    );
}

#[test]
fn redirect_status_defaults_to_301() {
    assert_eq!(
        route("redirect = { to = \"https://example.com/\" }").action,
        Action::Redirect {
            to: "https://example.com/".into(),
            status: StatusCode::MOVED_PERMANENTLY
        }
    );
    assert_eq!(
        route("redirect = { to = \"/new\", status = 308 }").action,
        Action::Redirect {
            to: "/new".into(),
            status: StatusCode::PERMANENT_REDIRECT
        }
    );
    assert_eq!(
        errors(&with_route("redirect = { to = \"\", status = 200, code = 1 }")),
        [
            "5:19: listener \"web\": route \"#1\": redirect.to: must not be empty",
            "5:32: listener \"web\": route \"#1\": redirect.status: invalid redirect status 200 \
             (expected one of: 301, 302, 303, 307, 308)",
            "5:37: listener \"web\": route \"#1\": redirect: unknown key \"code\" (expected one of: to, status)",
        ]
    );
    assert_eq!(
        error(&with_route("redirect = { status = 302 }")),
        "5:12: listener \"web\": route \"#1\": redirect: missing required key \"to\""
    );
}

#[test]
fn respond_defaults_and_status_range() {
    assert_eq!(
        route("respond = {}").action,
        Action::Respond {
            status: StatusCode::OK,
            body: String::new()
        }
    );
    assert_eq!(
        error(&with_route("respond = { status = 600, body = \"x\" }")),
        "5:22: listener \"web\": route \"#1\": respond.status: must be between 100 and 599, found 600"
    );
    assert_eq!(
        error(&with_route("respond = \"ok\"")),
        "5:11: listener \"web\": route \"#1\": respond: expected a table, found a string"
    );
}
