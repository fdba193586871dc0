//! Issue 7 item 8: the backend is sent the path the route matched, and spellings backends read
//! differently (encoded slashes, backslashes, `..;`) are refused instead of guessed.

use std::time::Duration;

use fulcrum_testkit::{raw_exchange, Backend, RawReply};

use crate::support::Lb;

/// `/admin` is refused locally, `/repos/` may carry encoded slashes, everything else goes to
/// `be`.
fn start(be: &Backend, repos: &Backend) -> Lb {
    Lb::start(&format!(
        "[access_log]\ntarget = \"off\"\n[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [[listener.route]]\npath_prefix = \"/admin\"\nrespond = {{ status = 403, body = \"denied\" }}\n\
         [[listener.route]]\npath_prefix = \"/repos/\"\nallow_encoded_slashes = true\npool = \"repos\"\n\
         [[listener.route]]\npool = \"app\"\n\
         [pool.app]\nbackends = [{{ address = \"{}\" }}]\n\
         [pool.repos]\nbackends = [{{ address = \"{}\" }}]\n",
        be.addr, repos.addr
    ))
}

fn send(lb: &Lb, target: &str) -> RawReply {
    raw_exchange(
        lb.addr(),
        format!("GET {target} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes(),
        Duration::from_secs(5),
    )
}

/// Issue 7 item 8: `/public/..%2Fadmin/x` and `/public/..\admin/x` reached the `/` pool
/// (where a backend that decodes `%2F` or reads `\` as `/` serves `/admin/x`) while `/admin`
/// was refused; now they are answered 400.
#[test]
fn encoded_slash_and_backslash_traversal_is_refused() {
    let (be, repos) = (Backend::start("be"), Backend::start("repos"));
    let lb = start(&be, &repos);
    for target in [
        "/public/..%2Fadmin/x",
        "/public/..%2fadmin/x",
        "/public/..%5Cadmin/x",
        "/public/..\\admin/x",
        "/public/..;/admin/x",
        "/public/%2e%2e;/admin/x",
    ] {
        let r = send(&lb, target);
        assert_eq!(r.status(), Some(400), "{target}: {}", r.text());
        assert!(r.text().contains("ambiguous"), "{target}: {}", r.text());
    }
    assert_eq!(send(&lb, "/admin/x").status(), Some(403));
    assert_eq!(be.request_count() + repos.request_count(), 0);
}

/// The backend acts on the path the route was chosen for: the normal form (with the query
/// as sent), not the raw spelling.
#[test]
fn the_backend_is_sent_the_path_the_route_matched() {
    let (be, repos) = (Backend::start("be"), Backend::start("repos"));
    let lb = start(&be, &repos);
    for (target, want) in [
        (
            "/x/../public/%61.css?q=%2e%2e/&r=1",
            "/public/a.css?q=%2e%2e/&r=1",
        ),
        ("//public///a", "/public/a"),
        ("/public/./a/..", "/public/"),
        ("/public/a?x", "/public/a?x"),
    ] {
        let r = send(&lb, target);
        assert_eq!(r.status(), Some(200), "{target}: {}", r.text());
        assert_eq!(be.recorded().last().unwrap().uri, want, "{target}");
    }
    // A route that allows encoded slashes gets them, still encoded.
    let r = send(&lb, "/repos/group%2fproject/../tree");
    assert_eq!(r.status(), Some(200), "{}", r.text());
    assert_eq!(repos.recorded()[0].uri, "/repos/tree");
    let r = send(&lb, "/repos/group%2Fproject/tree");
    assert_eq!(r.status(), Some(200), "{}", r.text());
    assert_eq!(repos.recorded()[1].uri, "/repos/group%2Fproject/tree");
}
