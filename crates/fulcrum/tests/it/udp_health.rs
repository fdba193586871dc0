//! UDP health checks end to end (issue 9): a pool whose backends are checked with
//! `udp_send` / `udp_expect` against UDP responders on both loopbacks. A backend turns healthy
//! on the expected replies, unhealthy within its thresholds once its responder falls silent,
//! and healthy again when it answers again; the other backend is untouched throughout. The
//! listener is an http one: a pool's backend health does not depend on the listener kind.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fulcrum_testkit::wait_until;

use crate::support::{backend_field, Lb};

/// A UDP service on its own thread: answers `ping` with `pong <n>` while `answering`, and
/// reads but ignores every datagram otherwise (silence, not a closed port).
struct Responder {
    addr: SocketAddr,
    answering: Arc<AtomicBool>,
    pings: Arc<AtomicUsize>,
    running: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Responder {
    fn start(bind: &str) -> Responder {
        let socket = UdpSocket::bind(bind).unwrap();
        // Short, so that the thread sees `running` turn false soon.
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let answering = Arc::new(AtomicBool::new(true));
        let pings = Arc::new(AtomicUsize::new(0));
        let running = Arc::new(AtomicBool::new(true));
        let thread = std::thread::spawn({
            let (answering, pings, running) = (answering.clone(), pings.clone(), running.clone());
            move || {
                let mut buf = [0u8; 1500];
                while running.load(Ordering::Relaxed) {
                    let Ok((n, from)) = socket.recv_from(&mut buf) else {
                        continue;
                    };
                    if &buf[..n] != b"ping" {
                        continue;
                    }
                    let seen = pings.fetch_add(1, Ordering::Relaxed) + 1;
                    if answering.load(Ordering::Relaxed) {
                        let _ = socket.send_to(format!("pong {seen}").as_bytes(), from);
                    }
                }
            }
        });
        Responder {
            addr,
            answering,
            pings,
            running,
            thread: Some(thread),
        }
    }

    fn answer(&self, on: bool) {
        self.answering.store(on, Ordering::Relaxed);
    }

    fn pings(&self) -> usize {
        self.pings.load(Ordering::Relaxed)
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.running.store(false, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const INTERVAL: Duration = Duration::from_millis(200);
const TIMEOUT: Duration = Duration::from_millis(100);
const HEALTHY_THRESHOLD: u32 = 2;
const UNHEALTHY_THRESHOLD: u32 = 2;

#[test]
fn udp_probe_health_follows_the_responder_on_both_loopbacks() {
    let v4 = Responder::start("127.0.0.1:0");
    let v6 = Responder::start("[::1]:0");
    let toml = format!(
        "[runtime]\nworkers = 1\n[access_log]\ntarget = \"off\"\n\
         [admin]\nbind = \"127.0.0.1:0\"\naudit_log = \"off\"\n\
         [[listener]]\nname = \"web\"\nbind = \"127.0.0.1:0\"\n\
         [[listener.route]]\npool = \"dns\"\n\
         [pool.dns]\nbackends = [{{ address = \"{}\" }}, {{ address = \"{}\" }}]\n\
         [pool.dns.outlier]\nconsecutive_failures = 0\n\
         [pool.dns.health]\nudp_send = \"ping\"\nudp_expect = \"pong \"\n\
         interval = \"{}ms\"\ntimeout = \"{}ms\"\n\
         healthy_threshold = {HEALTHY_THRESHOLD}\nunhealthy_threshold = {UNHEALTHY_THRESHOLD}\n",
        v4.addr,
        v6.addr,
        INTERVAL.as_millis(),
        TIMEOUT.as_millis(),
    );
    let lb = Lb::start(&toml);
    let admin = lb.admin();
    let health = |r: &Responder| backend_field(admin, "dns", &r.addr.to_string(), "health");

    for r in [&v4, &v6] {
        assert!(
            wait_until(Duration::from_secs(5), || health(r) == "healthy"),
            "{}: never healthy ({}, {} pings)",
            r.addr,
            health(r),
            r.pings()
        );
        // Healthy on UDP replies: the backend's port has no TCP listener to connect to.
        assert!(
            r.pings() >= HEALTHY_THRESHOLD as usize,
            "{} pings",
            r.pings()
        );
    }

    // Silence: every check now ends at its timeout. Unhealthy after `unhealthy_threshold`
    // failed checks, each starting at most 110 % of the interval after the previous one and
    // lasting the timeout; the slack covers polling the admin API on a loaded machine.
    v4.answer(false);
    let silent = Instant::now();
    let bound = (INTERVAL * 11 / 10 + TIMEOUT) * UNHEALTHY_THRESHOLD;
    let slack = Duration::from_secs(1);
    assert!(
        wait_until(bound + slack, || health(&v4) == "unhealthy"),
        "{}: not unhealthy within {:?} of falling silent ({})",
        v4.addr,
        bound + slack,
        health(&v4)
    );
    let took = silent.elapsed();
    // Not before the checks could have failed: the first failing probe may have been sent
    // just before the silence began, but each later one starts at least 90 % of the interval
    // after the previous check ended and lasts the whole timeout.
    let soonest = INTERVAL * 9 / 10 * (UNHEALTHY_THRESHOLD - 1) + TIMEOUT;
    assert!(took >= soonest, "unhealthy after only {took:?}");
    eprintln!("silent responder unhealthy after {took:?} (bound {bound:?} + {slack:?})");
    assert_eq!(health(&v6), "healthy", "the other backend changed too");
    assert_eq!(
        backend_field(admin, "dns", &v4.addr.to_string(), "effective_weight"),
        0,
        "unhealthy but still weighted"
    );

    // Answering again: healthy after `healthy_threshold` passed checks.
    v4.answer(true);
    assert!(
        wait_until(Duration::from_secs(5), || health(&v4) == "healthy"),
        "{}: never healthy again ({})",
        v4.addr,
        health(&v4)
    );
    assert_eq!(health(&v6), "healthy");
}
