//! Issue 7: what the proxy forwards — `path_prefix` in normal form, `allow_encoded_slashes`,
//! the `upgrades` allow-list and `trusted_proxies`.

use super::{error, ok, with_route, POOL_API};

fn route(body: &str) -> crate::model::Route {
    ok(&with_route(body)).listeners.remove(0).routes.remove(0)
}

/// Issue 7 item 8: a `path_prefix` that is not in the normal form requests are matched in
/// could never match (`"/a//b"` was accepted): it is refused with its position and the form to
/// write.
#[test]
fn path_prefix_not_in_normal_form_is_refused_with_the_normal_form() {
    for (bad, want) in [
        ("/a//b", "/a/b"),
        ("/a/./b", "/a/b"),
        ("/a/../b", "/b"),
        ("/%61dmin", "/admin"),
        ("/a/.", "/a/"),
    ] {
        let err = error(&with_route(&format!(
            "path_prefix = \"{bad}\"\npool = \"api\""
        )));
        let prefix = format!(
            "5:15: listener \"web\": route \"#1\": path_prefix: invalid path_prefix \"{bad}\": \
             requests are matched in normal form"
        );
        assert!(err.starts_with(&prefix), "{bad}: {err}");
        assert!(err.ends_with(&format!("write \"{want}\"")), "{bad}: {err}");
    }
    for (bad, why) in [
        ("/a\\\\b", "backslash in the path is refused in requests"),
        ("/..;/a", "dot segment with parameters"),
        (
            "/a%2Fb",
            "unless the route has allow_encoded_slashes = true",
        ),
    ] {
        let err = error(&with_route(&format!(
            "path_prefix = \"{bad}\"\npool = \"api\""
        )));
        assert!(err.contains(why), "{bad}: {err}");
    }
    for good in ["/", "/api/", "/a.b/c", "/.well-known/", "/a%20b"] {
        let r = route(&format!("path_prefix = \"{good}\"\npool = \"api\""));
        assert_eq!(r.path_prefix.as_deref(), Some(good));
    }
    let r = route("path_prefix = \"/repos/a%2Fb\"\nallow_encoded_slashes = true\npool = \"api\"");
    assert_eq!(r.path_prefix.as_deref(), Some("/repos/a%2Fb"));
    assert!(r.allow_encoded_slashes);
    assert!(!route("pool = \"api\"").allow_encoded_slashes);
}

/// Issue 7 item 9: routes tunnel `websocket` unless they say otherwise; `h2c` never.
#[test]
fn upgrades_default_to_websocket_and_refuse_h2c() {
    assert_eq!(route("pool = \"api\"").upgrades, ["websocket"]);
    assert!(route("upgrades = []\npool = \"api\"").upgrades.is_empty());
    assert_eq!(
        route("upgrades = [\"WebSocket\", \"foo/2\"]\npool = \"api\"").upgrades,
        ["websocket", "foo/2"]
    );
    let err = error(&with_route(
        "upgrades = [\"websocket\", \"H2C\"]\npool = \"api\"",
    ));
    assert!(
        err.starts_with(
            "5:26: listener \"web\": route \"#1\": upgrades[1]: invalid upgrade \"H2C\": h2c is never tunnelled"
        ),
        "{err}"
    );
    for (bad, why) in [
        ("\"a b\"", "expected a protocol name"),
        ("\"\"", "expected a protocol name"),
        ("\"x/\"", "expected a protocol name"),
        ("\"websocket\", \"WEBSOCKET\"", "listed twice"),
    ] {
        let err = error(&with_route(&format!("upgrades = [{bad}]\npool = \"api\"")));
        assert!(err.contains(why), "{bad}: {err}");
    }
    let err = error(&with_route("upgrades = \"websocket\"\npool = \"api\""));
    assert!(err.contains("expected an array of protocol names"), "{err}");
}

/// Issue 7 item 7: `trusted_proxies` is a list of CIDRs, IPv4 and IPv6, each error at its
/// element.
#[test]
fn trusted_proxies_are_cidrs() {
    let src = |list: &str| {
        format!(
            "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:8080\"\ntrusted_proxies = {list}\n\
             [[listener.route]]\npool = \"api\"\n{POOL_API}"
        )
    };
    let l = ok(&src("[\"10.0.0.0/8\", \"2001:db8::/32\", \"192.0.2.7\"]"))
        .listeners
        .remove(0);
    let shown: Vec<String> = l.trusted_proxies.iter().map(ToString::to_string).collect();
    assert_eq!(shown, ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"]);
    assert!(ok(&src("[]")).listeners[0].trusted_proxies.is_empty());
    assert_eq!(
        error(&src("[\"10.0.0.0/8\", \"10.1.2.3/8\"]")),
        "4:34: listener \"web\": trusted_proxies[1]: invalid CIDR \"10.1.2.3/8\": host bits are \
         set (the network is 10.0.0.0/8) (expected e.g. \"10.0.0.0/8\", \"2001:db8::/32\" or one \
         address)"
    );
    assert!(error(&src("[\"::/200\"]")).contains("the prefix length must be 0 to 128"));
    assert!(error(&src("\"10.0.0.0/8\"")).contains("expected an array of CIDR strings"));
    let passthrough = "[[listener]]\nname = \"pt\"\nbind = \"127.0.0.1:8443\"\n\
                       protocol = \"tls_passthrough\"\ntrusted_proxies = [\"10.0.0.0/8\"]\n\
                       [[listener.route]]\npool = \"api\"\n";
    let err = error(&format!("{passthrough}{POOL_API}"));
    assert!(
        err.starts_with(
            "5:1: listener \"pt\": trusted_proxies: trusted_proxies is for http and https"
        ),
        "{err}"
    );
}
