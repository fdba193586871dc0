//! Item 6: the open-file limit. `fulcrum run` raises its soft limit to the hard one; out of
//! descriptors it keeps serving the connections it has, warns a bounded number of times, and
//! recovers once clients leave.

use std::net::TcpStream;
use std::time::{Duration, Instant};

use fulcrum_testkit::{wait_until, Backend, Client};

use super::{addresses, spawn, try_get};
use crate::support::{simple, TempDir};

/// The soft and hard "Max open files" of process `pid`.
fn nofile(pid: i32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let n: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (n[0], n[1])
}

/// Issue 7 item 6: started with a soft limit below the hard one, `fulcrum run` raises the
/// soft limit to the hard one.
#[test]
fn run_raises_the_open_file_soft_limit_to_the_hard_limit() {
    let be = Backend::start("be");
    let dir = TempDir::new("nofile-raise");
    let p = spawn(
        &dir.write("fulcrum.toml", &simple(&[&be], "")),
        Some((256, 4096)),
    );
    addresses(&p, &["web"]);
    assert_eq!(nofile(p.pid()), (4096, 4096));
}

/// Issue 7 item 6: with more clients than descriptors (soft = hard = 64), a connection that
/// was open keeps being served, the "accept failed" warning comes at most once per interval
/// (it came every 50 ms), and new clients are served again once the flood leaves.
#[test]
fn out_of_descriptors_open_connections_are_served_warnings_are_bounded_and_it_recovers() {
    let be = Backend::start("be");
    let dir = TempDir::new("nofile-flood");
    let cfg = simple(&[&be], "").replace("workers = 2", "workers = 1");
    let p = spawn(&dir.write("fulcrum.toml", &cfg), Some((64, 64)));
    let web = addresses(&p, &["web"])["web"];
    let mut kept = Client::http1(web);
    assert_eq!(kept.get("t", "/", &[]).unwrap().status, 200);

    // More clients than descriptors: the first few are accepted, the rest wait in the backlog.
    let flood: Vec<TcpStream> = (0..120).map(|_| TcpStream::connect(web).unwrap()).collect();
    let warning = |line: &str| line.contains("accept failed");
    let line = p
        .wait_for_line("accept failed", Duration::from_secs(10))
        .expect("never ran out of descriptors");
    assert!(line.contains("Too many open files"), "{line}");
    let mut warnings = 1;
    // Three seconds at the limit: the open connection is served throughout.
    let until = Instant::now() + Duration::from_secs(3);
    let mut served = 0;
    while Instant::now() < until {
        let r = kept.get("t", "/", &[]).unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        served += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    warnings += p.stderr_lines.try_iter().filter(|l| warning(l)).count();
    assert!(served >= 10, "{served}");
    assert!(
        warnings <= 2,
        "{warnings} accept warnings in about 3 s at the descriptor limit"
    );

    // The flood leaves: new clients are served again.
    drop(flood);
    assert!(
        wait_until(Duration::from_secs(10), || try_get(web, "/")
            .is_ok_and(|(code, _)| code == 200)),
        "not serving after the flood left: {:?}",
        try_get(web, "/")
    );
}
