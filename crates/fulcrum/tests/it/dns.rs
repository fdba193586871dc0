//! Backends named by DNS: re-resolved periodically, new addresses join, vanished ones drain.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fulcrum::running::Running;
use fulcrum_testkit::{wait_until, Backend, Client};

/// A resolver the test controls: a name → addresses table, and how often it was asked.
#[derive(Default)]
struct TableResolver(Mutex<HashMap<String, Vec<SocketAddr>>>, AtomicUsize);

impl TableResolver {
    fn calls(&self) -> usize {
        self.1.load(Ordering::SeqCst)
    }

    /// Wait until the resolver has been asked `n` more times than now.
    fn wait_calls(&self, n: usize) {
        let target = self.calls() + n;
        assert!(
            wait_until(Duration::from_secs(5), || self.calls() >= target),
            "the name was not resolved again: {} calls, waited for {target}",
            self.calls()
        );
    }
}

impl fulcrum_control::Resolve for TableResolver {
    fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        if host == "app.internal" {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
        let table = self.0.lock().unwrap();
        match table.get(host) {
            Some(list) => Ok(list.iter().map(|a| SocketAddr::new(a.ip(), port)).collect()),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such name",
            )),
        }
    }
}

fn who(addr: SocketAddr, n: usize) -> HashMap<String, usize> {
    let mut cl = Client::http1(addr);
    let mut m = HashMap::new();
    for _ in 0..n {
        let r = cl.get("a", "/", &[]).unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        *m.entry(r.header("x-backend").unwrap()).or_insert(0) += 1;
    }
    m
}

/// Issue 7 item 22: also checks that each refresh calls the resolver (it never did).
#[test]
fn dns_backends_follow_the_names_answers() {
    // Two backends on the same port of different loopback addresses, so one name with one
    // port can point at either.
    let a = Backend::start_on("a", "127.0.0.1:0".parse().unwrap());
    let port = a.addr.port();
    let b = Backend::start_on("b", SocketAddr::new("127.0.0.2".parse().unwrap(), port));
    let resolver = Arc::new(TableResolver::default());
    resolver
        .0
        .lock()
        .unwrap()
        .insert("app.internal".into(), vec![a.addr]);
    let cfg = format!(
        "[runtime]\nworkers = 1\n[access_log]\ntarget = \"off\"\n[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [[listener.route]]\npool = \"app\"\n[pool.app]\ndns_refresh = \"200ms\"\n\
         backends = [{{ address = \"app.internal:{port}\" }}]\n"
    );
    let cfg = fulcrum_config::parse_str(&cfg, "dns.toml", &|_| None).unwrap();
    let running = Running::start_with_resolver(&cfg, None, resolver.clone()).unwrap();
    let lb = running.addr("web").unwrap();
    assert_eq!(who(lb, 4).get("a"), Some(&4));
    // Issue 7 item 22: the refresh really asks the resolver again (every `dns_refresh`).
    assert!(resolver.calls() >= 1, "the name was never resolved");
    resolver.wait_calls(2);

    // The name now has two addresses: both serve.
    resolver
        .0
        .lock()
        .unwrap()
        .insert("app.internal".into(), vec![a.addr, b.addr]);
    assert!(
        wait_until(Duration::from_secs(5), || who(lb, 4).len() == 2),
        "the second address never joined"
    );

    // The first address disappears: it drains and gets no more traffic.
    resolver
        .0
        .lock()
        .unwrap()
        .insert("app.internal".into(), vec![b.addr]);
    assert!(
        wait_until(Duration::from_secs(5), || who(lb, 6)
            .keys()
            .all(|k| k == "b")),
        "the vanished address still gets traffic"
    );
    let pools = running.control.pools_json();
    let listed: Vec<&str> = pools["pools"][0]["backends"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| b["state"] == "active")
        .map(|b| b["address"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![b.addr.to_string()]);

    // A failing lookup keeps the last answer: wait for two refreshes that failed.
    resolver.0.lock().unwrap().clear();
    resolver.wait_calls(2);
    assert_eq!(who(lb, 3).get("b"), Some(&3));
    running.shutdown();
}
