//! The command line: `check`, `version`, `run` with signals, `demo`.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use fulcrum_testkit::{get, Backend};

use crate::support::{bin, field, simple, Proc, TempDir};

#[test]
fn check_accepts_a_valid_file_and_prints_a_summary() {
    let be = Backend::start("be");
    let dir = TempDir::new("check-ok");
    let path = dir.write("fulcrum.toml", &simple(&[&be], ""));
    let out = Command::new(bin())
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("web") && text.contains(&be.addr.to_string()),
        "{text}"
    );
}

#[test]
fn check_reports_every_error_with_position_and_exits_1() {
    let dir = TempDir::new("check-bad");
    let path = dir.write(
        "fulcrum.toml",
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\nbogus = 1\n\
         [[listener.route]]\npool = \"nope\"\n\
         [pool.api]\nbalance = \"round-robbin\"\nbackends = [{ address = \"127.0.0.1:1\", weight = 0 }]\n",
    );
    let out = Command::new(bin())
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    let file = path.display().to_string();
    for (line, needle) in [
        (4, "bogus"),
        (6, "nope"),
        (8, "round-robbin"),
        (9, "weight"),
    ] {
        assert!(
            err.lines()
                .any(|l| l.starts_with(&format!("{file}:{line}:")) && l.contains(needle)),
            "missing error on line {line} about {needle}:\n{err}"
        );
    }
    assert!(
        err.contains("round_robin"),
        "should list the valid choices: {err}"
    );
}

#[test]
fn config_path_comes_from_env_when_not_given() {
    let dir = TempDir::new("check-env");
    let path = dir.write(
        "other.toml",
        "[[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n",
    );
    let out = Command::new(bin())
        .arg("check")
        .env("FULCRUM_CONFIG", &path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn version_prints_the_version() {
    let out = Command::new(bin()).arg("version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

/// Issue 7 item 16: `fulcrum version` said `tls: no`. It names the protocols and the TLS
/// versions, and every TLS version it names is one an https listener completes a handshake in.
#[test]
fn version_names_protocols_and_tls_versions_that_really_work() {
    use fulcrum_testkit::tls::{client_config, handshake, rustls, Ca};
    let out = Command::new(bin()).arg("version").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!text.contains("tls: no"), "{text}");
    assert!(text.contains("protocols: http/1.1, h2, h2c;"), "{text}");
    let tls = text
        .split("tls: ")
        .nth(1)
        .unwrap_or_else(|| panic!("no tls section: {text}"));
    assert!(tls.contains("rustls, aws-lc-rs"), "{text}");
    let listed: Vec<&str> = tls.split(" (").next().unwrap().split(", ").collect();
    assert_eq!(listed, ["1.2", "1.3"], "{text}");

    let dir = TempDir::new("version-tls");
    let ca = Ca::new("version ca");
    let (cert, key) = ca.server(&["v.test"]).write(&dir.0, "v");
    let be = Backend::start("be");
    let cfg = simple(&[&be], "protocol = \"https\"").replace(
        "[[listener.route]]",
        &format!(
            "[[listener.tls.cert]]\ncert = '{}'\nkey = '{}'\n[[listener.route]]",
            cert.display(),
            key.display()
        ),
    );
    let lb = crate::support::Lb::start(&cfg);
    for v in listed {
        let version: &'static rustls::SupportedProtocolVersion = match v {
            "1.2" => &rustls::version::TLS12,
            "1.3" => &rustls::version::TLS13,
            other => panic!("unknown TLS version {other} in {text}"),
        };
        let client = std::sync::Arc::new(client_config(&ca.pem, &[version], &[], None));
        let seen = handshake(lb.addr(), client, "v.test")
            .unwrap_or_else(|e| panic!("TLS {v} is listed but fails: {e}"));
        assert_eq!(seen.version, Some(version.version), "TLS {v}");
    }
}

#[test]
fn run_serves_then_sigterm_finishes_in_flight_requests_and_exits_0() {
    let be = Backend::start("be");
    let dir = TempDir::new("run-term");
    let path = dir.write("fulcrum.toml", &simple(&[&be], ""));
    let mut p = Proc::run(&path);
    let line = p
        .wait_for_line("listening", Duration::from_secs(10))
        .expect("never listened");
    let addr: std::net::SocketAddr = field(&line, "address").unwrap().parse().unwrap();
    assert_eq!(get(addr, "/").status, 200);
    // A slow request in flight when SIGTERM arrives still gets its response.
    let slow = std::thread::spawn(move || get(addr, "/sleep/700"));
    assert!(fulcrum_testkit::wait_until(Duration::from_secs(5), || be
        .request_count()
        >= 2));
    p.signal("TERM");
    let r = slow.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "be");
    let st = p.wait_exit(Duration::from_secs(10)).expect("did not exit");
    assert!(st.success(), "{st:?}");
    // And it no longer accepts.
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn run_refuses_an_invalid_file() {
    let dir = TempDir::new("run-bad");
    let path = dir.write("fulcrum.toml", "[[listener]]\nname = 1\n");
    let out = Command::new(bin())
        .args(["run", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains(":2:"));
}

#[test]
fn demo_balances_over_three_backends() {
    let mut child = Command::new(bin())
        .args([
            "demo",
            "--bind",
            "127.0.0.1:0",
            "--admin-bind",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut lb = None;
    let mut admin = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(rest) = line.trim().strip_prefix("load balancer on http://") {
            lb = rest
                .split_whitespace()
                .next()
                .map(|s| s.parse::<std::net::SocketAddr>().unwrap());
        }
        if let Some(rest) = line.trim().strip_prefix("admin on http://") {
            admin = rest
                .split_whitespace()
                .next()
                .map(|s| s.parse::<std::net::SocketAddr>().unwrap());
        }
        if line.contains("Try this") {
            break;
        }
    }
    let (lb, admin) = (lb.expect("no lb address"), admin.expect("no admin address"));
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..6 {
        let r = get(lb, "/");
        assert_eq!(r.status, 200);
        seen.insert(r.text().split_whitespace().nth(2).unwrap().to_string());
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(get(admin, "/healthz").status, 200);
    assert_eq!(get(admin, "/ready").status, 200);
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success(), "kill -INT failed: {kill:?}");
    let st = child.wait().unwrap();
    assert!(st.success(), "{st:?}");
}

#[test]
fn workers_setting_starts_that_many_worker_threads() {
    let be = Backend::start("be");
    let dir = TempDir::new("workers");
    let cfg = simple(&[&be], "").replace("workers = 2", "workers = 3");
    let path = dir.write("fulcrum.toml", &cfg);
    let p = Proc::run(&path);
    p.wait_for_line("listening", Duration::from_secs(10))
        .expect("never listened");
    // Every worker was spawned before "listening"; each names itself as it starts.
    assert!(
        fulcrum_testkit::wait_until(Duration::from_secs(5), || worker_threads(p.pid()) >= 3),
        "only {} worker threads",
        worker_threads(p.pid())
    );
    assert_eq!(worker_threads(p.pid()), 3);
}

/// The CPUs the calling process may run on (its `sched_getaffinity` set, as `nproc` counts
/// it), from `/proc/self/status`'s `Cpus_allowed_list` (`0-3,8`).
fn allowed_cpus() -> Vec<usize> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim();
    let mut cpus = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => cpus.extend(a.parse::<usize>().unwrap()..=b.parse().unwrap()),
            None => cpus.push(part.parse().unwrap()),
        }
    }
    cpus
}

/// CPUs a cgroup v2 quota (`/sys/fs/cgroup/cpu.max`, "max 100000" or "150000 100000") lets
/// this process use, rounded up; `None` without a quota.
fn cpu_quota() -> Option<usize> {
    let text = std::fs::read_to_string("/sys/fs/cgroup/cpu.max").ok()?;
    let mut it = text.split_whitespace();
    let quota: u64 = it.next()?.parse().ok()?;
    let period: u64 = it.next()?.parse().ok()?;
    usize::try_from(quota.div_ceil(period.max(1))).ok()
}

/// Issue 7 item 25: `workers = 0` starts one worker per CPU the process may run on: as many
/// as this test may use (its affinity set, within a CPU quota if one is set), and one when
/// `taskset` narrows the process to a single CPU.
#[test]
fn workers_zero_starts_one_worker_per_allowed_cpu() {
    let be = Backend::start("be");
    let dir = TempDir::new("workers-zero");
    let cfg = simple(&[&be], "").replace("workers = 2", "workers = 0");
    let path = dir.write("fulcrum.toml", &cfg);
    let cpus = allowed_cpus();
    let one = cpus[0].to_string();
    let all = cpu_quota().map_or(cpus.len(), |q| q.clamp(1, cpus.len()));
    for (wrapper, want) in [(vec![], all), (vec!["taskset", "-c", one.as_str()], 1)] {
        let p = Proc::run_under(&wrapper, &path);
        let line = p
            .wait_for_line("listening", Duration::from_secs(10))
            .unwrap_or_else(|| panic!("never listened under {wrapper:?}"));
        let addr: std::net::SocketAddr = field(&line, "address").unwrap().parse().unwrap();
        assert_eq!(get(addr, "/").status, 200);
        assert!(
            fulcrum_testkit::wait_until(Duration::from_secs(5), || worker_threads(p.pid()) >= want),
            "{wrapper:?}: {} worker threads, want {want}",
            worker_threads(p.pid())
        );
        assert_eq!(
            worker_threads(p.pid()),
            want,
            "{wrapper:?} (allowed CPUs {cpus:?})"
        );
    }
}

/// Threads of process `pid` named `fulcrum-worker-*`.
fn worker_threads(pid: i32) -> usize {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("fulcrum-worker"))
        .count()
}

#[test]
fn access_log_writes_one_json_object_per_request() {
    let be = Backend::start("be");
    let dir = TempDir::new("access-log");
    let log = dir.0.join("access.log");
    let cfg = simple(&[&be], "").replace(
        "target = \"off\"",
        &format!("target = \"{}\"", log.display()),
    );
    let path = dir.write("fulcrum.toml", &cfg);
    let p = Proc::run(&path);
    let line = p
        .wait_for_line("listening", Duration::from_secs(10))
        .expect("never listened");
    let addr: std::net::SocketAddr = field(&line, "address").unwrap().parse().unwrap();
    let mut cl = fulcrum_testkit::Client::http1(addr);
    cl.get("shop.example", "/a?x=1", &[("x-request-id", "log-1")])
        .unwrap();
    cl.get("shop.example", "/b", &[]).unwrap();
    assert!(fulcrum_testkit::wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&log)
            .map(|t| t.lines().count() >= 2)
            .unwrap_or(false)
    }));
    let text = std::fs::read_to_string(&log).unwrap();
    let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(first["listener"], "web");
    assert_eq!(first["pool"], "app");
    assert_eq!(first["backend"], be.addr.to_string());
    assert_eq!(first["method"], "GET");
    assert_eq!(first["host"], "shop.example");
    assert_eq!(first["path"], "/a");
    assert_eq!(first["status"], 200);
    assert_eq!(first["request_id"], "log-1");
    assert_eq!(first["bytes_out"], 2);
    assert_eq!(first["client"], "127.0.0.1");
}

/// The README's quick-start configuration stays valid.
#[test]
fn readme_quick_start_config_is_valid() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme.find("```toml\n").expect("README has a toml block") + 8;
    let len = readme[start..].find("```").unwrap();
    let toml = &readme[start..start + len];
    let env = |v: &str| (v == "FULCRUM_ADMIN_TOKEN").then(|| "t0ken".to_string());
    if let Err(e) = fulcrum_config::parse_str(toml, "README.md", &env) {
        panic!("README quick start is invalid:\n{e}");
    }
}
