//! The shell on real loopback sockets, without the rest of Fulcrum: loops built from a
//! snapshot made here, on a `LocalSet` as a worker runs them. What the end-to-end tests
//! cannot steer: which loop (worker) a client lands on.

use std::cell::RefCell;
use std::net::{SocketAddr, UdpSocket};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use fulcrum_config::model::{Engine, Limits, Outlier, Retry, Timeouts};
use fulcrum_dataplane::{BackendState, ListenerState, PoolShared, PoolSpec, PoolState};
use tokio::sync::{watch, Semaphore};

use super::{serve, FlowEnd, UdpLoop};

/// An echo backend on a thread: answers every datagram with its bytes.
fn echo() -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = s.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, peer)) = s.recv_from(&mut buf) {
            let _ = s.send_to(&buf[..n], peer);
        }
    });
    addr
}

fn state(backends: &[SocketAddr], max_flows: u32) -> Arc<ArcSwap<ListenerState>> {
    state_with(backends, max_flows, None)
}

fn state_with(
    backends: &[SocketAddr],
    max_flows: u32,
    proxy_protocol: Option<fulcrum_config::model::ProxyVersion>,
) -> Arc<ArcSwap<ListenerState>> {
    let spec = PoolSpec {
        name: "p".into(),
        balance: fulcrum_balance::Algorithm::RoundRobin,
        connect_timeout: Duration::from_secs(1),
        outlier: Outlier {
            consecutive_failures: 100,
            ..Outlier::default()
        },
        retry: Retry::default(),
        tls: None,
        proxy_protocol,
    };
    let states = backends.iter().map(|a| BackendState::new(*a, 1)).collect();
    let pool = Arc::new(PoolState::new(spec, states, PoolShared::new(), 2));
    Arc::new(ArcSwap::from_pointee(ListenerState {
        name: "u".into(),
        routes: fulcrum_route::RouteTable::new(Vec::new()),
        route_names: Vec::new(),
        timeouts: Timeouts::defaults_for(Some(fulcrum_config::model::Protocol::Udp)),
        limits: Limits {
            max_flows,
            ..Limits::default()
        },
        metrics: None,
        route_rules: Vec::new(),
        trusted_proxies: Box::new([]),
        proto: http::HeaderValue::from_static("http"),
        https_redirect: None,
        hsts: None,
        client_subject_header: None,
        client_san_header: None,
        passthrough: None,
        proxy_trusted: None,
        l4_pool: Some(pool),
        tls: None,
        engine: Engine::Auto,
        guards: Default::default(),
        conn_guards: Default::default(),
    }))
}

type Lines = Rc<RefCell<Vec<(SocketAddr, FlowEnd)>>>;

/// A loop on its own socket (a worker's), reporting ended flows into `lines`.
fn spawn_loop(
    worker: usize,
    state: &Arc<ArcSwap<ListenerState>>,
    limit: &Arc<Semaphore>,
    lines: &Lines,
    stop: watch::Receiver<bool>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    spawn_loop_on("127.0.0.1:0", worker, state, limit, lines, stop)
}

/// [`spawn_loop`] on a socket bound to `bind`.
fn spawn_loop_on(
    bind: &str,
    worker: usize,
    state: &Arc<ArcSwap<ListenerState>>,
    limit: &Arc<Semaphore>,
    lines: &Lines,
    stop: watch::Receiver<bool>,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let socket = fulcrum_net::bind_udp_one(bind.parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    let lines = lines.clone();
    let l = UdpLoop {
        worker,
        socket,
        state: state.clone(),
        limit: limit.clone(),
        on_end: Box::new(move |d| lines.borrow_mut().push((d.client, d.end))),
    };
    let mut stop = stop;
    let task = tokio::task::spawn_local(serve(l, async move {
        let _ = stop.wait_for(|s| *s).await;
    }));
    (addr, task)
}

/// One request and its reply from `listener`, within 5 s.
async fn ask(c: &tokio::net::UdpSocket, what: &[u8]) -> Vec<u8> {
    c.send(what).await.unwrap();
    let mut buf = [0u8; 2048];
    let n = tokio::time::timeout(Duration::from_secs(5), c.recv(&mut buf))
        .await
        .expect("no reply")
        .unwrap();
    buf[..n].to_vec()
}

async fn client(listener: SocketAddr) -> tokio::net::UdpSocket {
    let c = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    c.connect(listener).await.unwrap();
    c
}

fn local() -> (tokio::runtime::Runtime, tokio::task::LocalSet) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    (rt, tokio::task::LocalSet::new())
}

/// `max_flows` is the listener's, not each loop's: at the limit a new client on one loop
/// pushes out that loop's own least recently active flow, and the total stays at the limit.
#[test]
fn max_flows_holds_across_loops_and_each_loop_evicts_its_own() {
    let (rt, set) = local();
    set.block_on(&rt, async {
        let state = state(&[echo()], 4);
        let limit = Arc::new(Semaphore::new(4));
        let lines = Lines::default();
        let (stop_tx, stop) = watch::channel(false);
        let (a, ta) = spawn_loop(0, &state, &limit, &lines, stop.clone());
        let (b, tb) = spawn_loop(1, &state, &limit, &lines, stop);
        let mut on_a = Vec::new();
        for i in 0..3 {
            let c = client(a).await;
            assert_eq!(
                ask(&c, format!("a{i}").as_bytes()).await,
                format!("a{i}").as_bytes()
            );
            on_a.push(c);
        }
        let b0 = client(b).await;
        ask(&b0, b"b0").await;
        assert_eq!(limit.available_permits(), 0);
        // A new client on b: b's own (only) flow goes, none of a's.
        let b1 = client(b).await;
        ask(&b1, b"b1").await;
        assert_eq!(
            *lines.borrow(),
            [(b0.local_addr().unwrap(), FlowEnd::Evicted)]
        );
        // A new client on a: a's least recently active goes.
        let a3 = client(a).await;
        ask(&a3, b"a3").await;
        assert_eq!(
            lines.borrow().last(),
            Some(&(on_a[0].local_addr().unwrap(), FlowEnd::Evicted))
        );
        assert_eq!(limit.available_permits(), 0, "still four flows");
        // Stopping closes every flow, each reported once, and gives the permits back.
        stop_tx.send(true).unwrap();
        ta.await.unwrap();
        tb.await.unwrap();
        let stopped = lines
            .borrow()
            .iter()
            .filter(|(_, e)| *e == FlowEnd::Stopped)
            .count();
        assert_eq!(stopped, 4);
        assert_eq!(limit.available_permits(), 4);
    });
}

/// A backend port nobody listens on answers with ICMP port unreachable: the flow's socket
/// reports it, the flow ends as refused and the backend is charged with a failure.
#[test]
fn a_refused_backend_socket_ends_its_flow_and_counts_a_failure() {
    let (rt, set) = local();
    set.block_on(&rt, async {
        let dead = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let state = state(&[dead], 10);
        let limit = Arc::new(Semaphore::new(10));
        let lines = Lines::default();
        let (_stop_tx, stop) = watch::channel(false);
        let (l, _task) = spawn_loop(0, &state, &limit, &lines, stop);
        let c = client(l).await;
        c.send(b"anyone?").await.unwrap();
        let ended = async {
            while lines.borrow().is_empty() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(5), ended)
            .await
            .expect("the flow did not end");
        assert_eq!(
            *lines.borrow(),
            [(c.local_addr().unwrap(), FlowEnd::Refused)]
        );
        let pool = state.load_full().l4_pool.clone().unwrap();
        let stats = pool.backends[0].stats();
        assert_eq!((stats.requests, stats.failures), (1, 1));
        assert_eq!(limit.available_permits(), 10, "its permit came back");
    });
}

/// A listener bound to the wildcard answers each client from the address it sent to: a client
/// connected to 127.0.0.2 (a connected socket takes replies from that address only) gets its
/// echo.
#[test]
fn a_wildcard_listener_answers_from_the_address_the_client_sent_to() {
    let (rt, set) = local();
    set.block_on(&rt, async {
        let state = state(&[echo()], 10);
        let (_stop_tx, stop) = watch::channel(false);
        let limit = Arc::new(Semaphore::new(10));
        let (l, _task) = spawn_loop_on("0.0.0.0:0", 0, &state, &limit, &Lines::default(), stop);
        let port = l.port();
        for ip in ["127.0.0.2", "127.0.0.1"] {
            let c = client(SocketAddr::new(ip.parse().unwrap(), port)).await;
            assert_eq!(ask(&c, ip.as_bytes()).await, ip.as_bytes(), "sent to {ip}");
        }
    });
}

/// On a wildcard listener the PROXY v2 header of each datagram names the address the client
/// sent to, not `0.0.0.0`.
#[test]
fn a_wildcard_listener_names_the_address_sent_to_in_the_proxy_header() {
    let (rt, set) = local();
    set.block_on(&rt, async {
        let backend = UdpSocket::bind("127.0.0.1:0").unwrap();
        backend
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let state = state_with(
            &[backend.local_addr().unwrap()],
            10,
            Some(fulcrum_config::model::ProxyVersion::V2),
        );
        let (_stop_tx, stop) = watch::channel(false);
        let limit = Arc::new(Semaphore::new(10));
        let (l, _task) = spawn_loop_on("0.0.0.0:0", 0, &state, &limit, &Lines::default(), stop);
        let port = l.port();
        let to = SocketAddr::new("127.0.0.2".parse().unwrap(), port);
        let c = client(to).await;
        c.send(b"q").await.unwrap();
        let got = tokio::task::spawn_blocking(move || {
            let mut buf = [0u8; 512];
            let (n, _) = backend
                .recv_from(&mut buf)
                .expect("no datagram at the backend");
            buf[..n].to_vec()
        })
        .await
        .unwrap();
        let Ok(fulcrum_net::proxy_protocol::Parse::Complete { header, len }) =
            fulcrum_net::proxy_protocol::parse(&got)
        else {
            panic!("no PROXY header in {got:?}");
        };
        assert_eq!(header.source(), Some(c.local_addr().unwrap()));
        assert_eq!(header.destination(), Some(to));
        assert_eq!(&got[len..], b"q");
    });
}
